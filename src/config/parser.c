/* SPDX-License-Identifier: MIT */
/* parser.c — Corefile tokens to server blocks of directives (cdns_corefile_t).
 *
 * The grammar is Caddy v1's as CoreDNS uses it: a line of keys ("a b", "a, b", or keys over
 * several lines ending in commas), then a { } block of directive lines; a directive line may
 * open a nested block at its end. Snippets "(name) { ... }" are recorded as raw tokens and
 * replayed by "import name [args]". "import PATH|GLOB" reads files relative to the importing
 * file. Imports are a stack of token streams the parser reads through as if the tokens had
 * been spliced in (which is what Caddy does), so a stream on the stack is an import in
 * progress and a second entry for the same file or snippet is a cycle.
 *
 * Everything the result points to is in the corefile's arena; temporaries are malloc'd and
 * freed before returning. Main thread only.
 */
#include "config/config_internal.h"

#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bounds that keep hostile input from exhausting the stack or looping: CoreDNS allows 10000
 * imports in all; nobody nests blocks or imports 64 deep on purpose. */
#define MAX_IMPORTS 10000
#define MAX_IMPORT_DEPTH 64
#define MAX_NESTING 64

typedef struct snippet {
    const char *name;
    const cdns_config__tok_t *toks;
    size_t ntoks;
} snippet_t;

/* One token stream: the top-level file, an imported file (or the files of a glob, read one
 * after the other) or a replayed snippet. */
typedef struct src {
    const char *ident; /* what a cycle would repeat: realpath of the file, or "(name)" */
    const cdns_config__tok_t *toks;
    size_t ntoks, pos;
    int prev_end;       /* end line of the last token read from this stream, 0 before the first */
    const char **files; /* a glob's matches still to read, after the current one */
    size_t nfiles, ifile;
    const char **args; /* import arguments for {args[N]} */
    size_t nargs;
    bool is_import;
    const char *imp_file; /* where the import was written, for errors found while reading */
    int imp_line;
    const char *imp_pattern;
} src_t;

/* The next token, after {args[N]} and environment substitution. */
typedef struct look {
    const char *raw;  /* after {args[N]} only: what a snippet records */
    const char *text; /* after environment substitution too */
    const char *file;
    int line, end_line;
    bool quoted;
    bool bol; /* first token of its line */
} look_t;

typedef struct parser {
    cdns_arena_t *a;
    cdns_diag_t *diag;
    src_t stack[MAX_IMPORT_DEPTH];
    size_t depth;
    cdns_config__vec_t snippets; /* snippet_t */
    unsigned nimports;
    bool has_la, eof;
    look_t la;
} parser_t;

static int nomem(parser_t *p)
{
    cdns_diag_set(p->diag, NULL, 0, "out of memory");
    return CDNS_ENOMEM;
}

static bool is_open(const parser_t *p)
{
    return !p->eof && !p->la.quoted && strcmp(p->la.raw, "{") == 0;
}

static bool is_close(const parser_t *p)
{
    return !p->eof && !p->la.quoted && strcmp(p->la.raw, "}") == 0;
}

/* -------------------------------------------------------------- token streams */

/* Replaces {args[N]} by the Nth import argument (empty when there are fewer), as Caddy 2
 * does; CoreDNS's Caddy takes no arguments, so Corefiles it accepts never contain these. */
static const char *subst_args(parser_t *p, const src_t *s, const char *text)
{
    if (strstr(text, "{args[") == NULL)
        return text;
    cdns_config__vec_t out = {0};
    const char *q = text;
    const char *res = NULL;
    while (*q != '\0') {
        if (strncmp(q, "{args[", 6) == 0) {
            const char *d = q + 6;
            size_t idx = 0;
            bool num = false;
            while (*d >= '0' && *d <= '9' && idx < 1000) {
                idx = idx * 10 + (size_t)(*d - '0');
                d++;
                num = true;
            }
            if (num && d[0] == ']' && d[1] == '}') {
                const char *v = idx < s->nargs ? s->args[idx] : "";
                for (; *v != '\0'; v++)
                    if (cdns_config__vec_push(&out, v, 1) != CDNS_OK)
                        goto done;
                q = d + 2;
                continue;
            }
        }
        if (cdns_config__vec_push(&out, q, 1) != CDNS_OK)
            goto done;
        q++;
    }
    char *r = cdns_arena_alloc(p->a, out.n + 1);
    if (r != NULL) {
        if (out.n)
            memcpy(r, out.v, out.n);
        r[out.n] = '\0';
    }
    res = r;
done:
    cdns_config__vec_free(&out);
    return res;
}

static int load_file(parser_t *p, src_t *s, const char *path)
{
    char real[PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int rc;

    const char *ident = realpath(path, real) != NULL ? real : path;
    for (size_t k = 0; k < p->depth; k++) {
        if (&p->stack[k] != s && p->stack[k].ident != NULL && strcmp(p->stack[k].ident, ident) == 0)
            return cdns_diag_set(p->diag, s->imp_file, s->imp_line, "import cycle: %s imports itself", path);
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cdns_diag_set(p->diag, s->imp_file, s->imp_line, "import %s: %s is a directory", s->imp_pattern, path);
    rc = cdns_file_read(path, &buf, &len);
    if (rc != CDNS_OK) {
        cdns_diag_set(p->diag, s->imp_file, s->imp_line, "import %s: %s: %s", s->imp_pattern, path, cdns_strerror(rc));
        return rc == CDNS_ENOMEM ? rc : CDNS_EINVAL;
    }
    s->ident = cdns_arena_strdup(p->a, ident);
    const char *file = cdns_arena_strdup(p->a, path);
    if (s->ident == NULL || file == NULL) {
        free(buf);
        return nomem(p);
    }
    cdns_config__tok_t *toks = NULL;
    rc = cdns_config__lex(p->a, buf, len, file, &toks, &s->ntoks, p->diag);
    free(buf);
    if (rc != CDNS_OK)
        return rc;
    s->toks = toks;
    s->pos = 0;
    s->prev_end = 0;
    return CDNS_OK;
}

/* Makes sure p->la holds the next token, popping finished streams; sets p->eof at the end. */
static int fill(parser_t *p)
{
    if (p->has_la || p->eof)
        return CDNS_OK;
    while (p->depth > 0) {
        src_t *s = &p->stack[p->depth - 1];
        if (s->pos < s->ntoks) {
            const cdns_config__tok_t *t = &s->toks[s->pos++];
            look_t *la = &p->la;
            la->bol = t->line > s->prev_end;
            s->prev_end = t->end_line;
            la->raw = s->is_import ? subst_args(p, s, t->text) : t->text;
            if (la->raw == NULL)
                return nomem(p);
            la->text = cdns_config__expand_env(p->a, la->raw);
            if (la->text == NULL)
                return nomem(p);
            la->file = t->file;
            la->line = t->line;
            la->end_line = t->end_line;
            la->quoted = t->quoted;
            p->has_la = true;
            return CDNS_OK;
        }
        if (s->ifile < s->nfiles) {
            int rc = load_file(p, s, s->files[s->ifile++]);
            if (rc != CDNS_OK)
                return rc;
            continue;
        }
        p->depth--;
    }
    p->eof = true;
    return CDNS_OK;
}

static void consume(parser_t *p)
{
    p->has_la = false;
}

static const snippet_t *find_snippet(const parser_t *p, const char *name)
{
    const snippet_t *sn = p->snippets.v;
    for (size_t k = 0; k < p->snippets.n; k++)
        if (strcmp(sn[k].name, name) == 0)
            return &sn[k];
    return NULL;
}

/* Handles "import PATTERN [ARGS...]", the current token being "import" at the start of a line:
 * pushes the snippet's or the files' tokens so the next fill() reads them. */
static int do_import(parser_t *p)
{
    const char *ifile = p->la.file;
    int iline = p->la.line;
    cdns_config__vec_t args = {0};
    char *path = NULL;
    glob_t g;
    bool globbed = false;
    int rc;

    consume(p);
    /* The arguments are the rest of the import's line, all in the stream the import came
     * from. Peek there instead of filling the lookahead: a lookahead taken from beyond the line
     * would sit in front of the tokens this import is about to push. */
    for (;;) {
        const src_t *top = &p->stack[p->depth - 1];
        if (top->pos >= top->ntoks || top->toks[top->pos].line > top->prev_end)
            break;
        if ((rc = fill(p)) != CDNS_OK)
            goto fail;
        if (cdns_config__vec_push(&args, &p->la.text, sizeof(p->la.text)) != CDNS_OK) {
            rc = nomem(p);
            goto fail;
        }
        consume(p);
    }
    if (args.n == 0) {
        rc = cdns_diag_set(p->diag, ifile, iline, "import: missing file, glob or snippet name");
        goto fail;
    }
    const char **argv = args.v;
    const char *pattern = argv[0];
    if (*pattern == '\0') {
        rc = cdns_diag_set(p->diag, ifile, iline, "import: empty file, glob or snippet name");
        goto fail;
    }
    if (++p->nimports > MAX_IMPORTS) {
        rc = cdns_diag_set(p->diag, ifile, iline, "import: more than %d imports", MAX_IMPORTS);
        goto fail;
    }
    if (p->depth >= MAX_IMPORT_DEPTH) {
        rc = cdns_diag_set(p->diag, ifile, iline, "import %s: imports nested more than %d deep", pattern,
                           MAX_IMPORT_DEPTH);
        goto fail;
    }

    src_t s = {.imp_file = ifile, .imp_line = iline, .imp_pattern = pattern, .is_import = true};
    s.nargs = args.n - 1;
    if (s.nargs > 0) {
        s.args = cdns_arena_memdup(p->a, argv + 1, s.nargs * sizeof(*argv));
        if (s.args == NULL) {
            rc = nomem(p);
            goto fail;
        }
    }

    const snippet_t *sn = find_snippet(p, pattern);
    if (sn != NULL) {
        char ident[300];
        snprintf(ident, sizeof(ident), "(%s)", pattern);
        for (size_t k = 0; k < p->depth; k++) {
            if (p->stack[k].ident != NULL && strcmp(p->stack[k].ident, ident) == 0) {
                rc = cdns_diag_set(p->diag, ifile, iline, "import cycle: snippet %s imports itself", pattern);
                goto fail;
            }
        }
        s.ident = cdns_arena_strdup(p->a, ident);
        if (s.ident == NULL) {
            rc = nomem(p);
            goto fail;
        }
        s.toks = sn->toks;
        s.ntoks = sn->ntoks;
        p->stack[p->depth++] = s;
        rc = CDNS_OK;
        goto done;
    }

    /* Relative to the directory of the file the import is written in (Caddy issue #867), so a
     * Corefile works wherever it is started from. */
    const char *slash = strrchr(ifile, '/');
    if (pattern[0] == '/' || slash == NULL) {
        path = strdup(pattern);
    } else {
        int dlen = (int)(slash - ifile);
        if (asprintf(&path, "%.*s/%s", dlen, ifile, pattern) < 0)
            path = NULL;
    }
    if (path == NULL) {
        rc = nomem(p);
        goto fail;
    }

    if (strpbrk(pattern, "*?[") == NULL) {
        struct stat st;
        if (stat(path, &st) != 0) {
            rc = cdns_diag_set(p->diag, ifile, iline, "import %s: no such file or snippet", pattern);
            goto fail;
        }
        s.files = cdns_arena_alloc(p->a, sizeof(*s.files));
        if (s.files == NULL || (s.files[0] = cdns_arena_strdup(p->a, path)) == NULL) {
            rc = nomem(p);
            goto fail;
        }
        s.nfiles = 1;
    } else {
        int grc = glob(path, 0, NULL, &g);
        if (grc == GLOB_NOMATCH) {
            /* CoreDNS: "an empty glob pattern is not an error" (plugin/import/README.md); it
             * only warns, so a conf.d/ directory may be empty. */
            cdns_warn("%s:%d: no files matching import glob pattern %s", ifile, iline, pattern);
            rc = CDNS_OK;
            goto done;
        }
        if (grc != 0) {
            rc = grc == GLOB_NOSPACE ? nomem(p)
                                     : cdns_diag_set(p->diag, ifile, iline, "import %s: glob failed", pattern);
            goto fail;
        }
        globbed = true;
        s.files = cdns_arena_alloc(p->a, g.gl_pathc * sizeof(*s.files));
        if (s.files == NULL) {
            rc = nomem(p);
            goto fail;
        }
        for (size_t k = 0; k < g.gl_pathc; k++) {
            if ((s.files[k] = cdns_arena_strdup(p->a, g.gl_pathv[k])) == NULL) {
                rc = nomem(p);
                goto fail;
            }
        }
        s.nfiles = g.gl_pathc;
    }
    p->stack[p->depth++] = s;
    rc = CDNS_OK;
    goto done;

fail:
done:
    if (globbed)
        globfree(&g);
    free(path);
    cdns_config__vec_free(&args);
    return rc;
}

/* Loads the token that starts the next line of the grammar (a key line or a directive line),
 * expanding any imports on the way. */
static int fill_head(parser_t *p)
{
    for (;;) {
        int rc = fill(p);
        if (rc != CDNS_OK || p->eof)
            return rc;
        if (!p->la.bol || p->la.quoted || strcmp(p->la.raw, "import") != 0)
            return CDNS_OK;
        if ((rc = do_import(p)) != CDNS_OK)
            return rc;
    }
}

/* After a brace, the line must end: "{" because Caddy's block detection only sees a brace at
 * the end of a line, "}" because anything after it would silently join the enclosing line. */
static int expect_eol(parser_t *p, const char *brace)
{
    int rc = fill(p);
    if (rc != CDNS_OK)
        return rc;
    if (!p->eof && !p->la.bol)
        return cdns_diag_set(p->diag, p->la.file, p->la.line, "unexpected '%s' after '%s' (a brace must end its line)",
                             p->la.text, brace);
    return CDNS_OK;
}

/* ------------------------------------------------------------------ grammar */

static int parse_lines(parser_t *p, bool braced, const char *ofile, int oline, int nest,
                       const cdns_cf_directive_t **out, size_t *nout);

/* The current token starts a directive line: name, arguments, and maybe "{" ... "}". */
static int parse_directive(parser_t *p, int nest, cdns_cf_directive_t *d)
{
    cdns_config__vec_t args = {0};
    int rc;

    d->name = p->la.text;
    d->file = p->la.file;
    d->line = p->la.line;
    consume(p);
    for (;;) {
        if ((rc = fill(p)) != CDNS_OK)
            goto fail;
        if (p->eof || p->la.bol)
            break;
        if (is_open(p)) {
            const char *ofile = p->la.file;
            int oline = p->la.line;
            consume(p);
            d->has_block = true;
            if ((rc = fill(p)) != CDNS_OK)
                goto fail;
            if (!p->eof && !p->la.bol && is_close(p)) {
                /* "name { }" on one line: an empty block, which Caddy's NextBlock accepts. */
                consume(p);
                rc = expect_eol(p, "}");
                if (rc != CDNS_OK)
                    goto fail;
                break;
            }
            if (!p->eof && !p->la.bol) {
                rc = cdns_diag_set(p->diag, p->la.file, p->la.line,
                                   "unexpected '%s' after '{' (a brace must end its line)", p->la.text);
                goto fail;
            }
            rc = parse_lines(p, true, ofile, oline, nest + 1, &d->block, &d->nblock);
            if (rc != CDNS_OK)
                goto fail;
            break;
        }
        if (is_close(p)) {
            rc = cdns_diag_set(p->diag, p->la.file, p->la.line, "unexpected '}' (a closing brace must start a line)");
            goto fail;
        }
        cdns_cf_token_t t = {.text = p->la.text, .file = p->la.file, .line = p->la.line, .quoted = p->la.quoted};
        if (cdns_config__vec_push(&args, &t, sizeof(t)) != CDNS_OK) {
            rc = nomem(p);
            goto fail;
        }
        consume(p);
    }
    if (args.n > 0) {
        d->args = cdns_arena_memdup(p->a, args.v, args.n * sizeof(cdns_cf_token_t));
        if (d->args == NULL) {
            rc = nomem(p);
            goto fail;
        }
        d->nargs = args.n;
    }
    rc = CDNS_OK;
fail:
    cdns_config__vec_free(&args);
    return rc;
}

/* Directive lines up to the "}" matching the brace at ofile:oline, or to the end of input
 * when !braced (the single server block of a file written without braces). */
static int parse_lines(parser_t *p, bool braced, const char *ofile, int oline, int nest,
                       const cdns_cf_directive_t **out, size_t *nout)
{
    cdns_config__vec_t dirs = {0};
    int rc;

    if (nest > MAX_NESTING) {
        rc = cdns_diag_set(p->diag, ofile, oline, "blocks nested more than %d deep", MAX_NESTING);
        goto fail;
    }
    for (;;) {
        if ((rc = fill_head(p)) != CDNS_OK)
            goto fail;
        if (p->eof) {
            if (braced) {
                rc = cdns_diag_set(p->diag, ofile, oline, "unmatched '{'");
                goto fail;
            }
            break;
        }
        if (is_close(p)) {
            if (!braced) {
                rc = cdns_diag_set(p->diag, p->la.file, p->la.line, "unexpected '}'");
                goto fail;
            }
            consume(p);
            if ((rc = expect_eol(p, "}")) != CDNS_OK)
                goto fail;
            break;
        }
        if (is_open(p)) {
            rc = cdns_diag_set(p->diag, p->la.file, p->la.line,
                               "unexpected '{' (a block opens at the end of its directive's line)");
            goto fail;
        }
        cdns_cf_directive_t d = {0};
        if ((rc = parse_directive(p, nest, &d)) != CDNS_OK)
            goto fail;
        if (cdns_config__vec_push(&dirs, &d, sizeof(d)) != CDNS_OK) {
            rc = nomem(p);
            goto fail;
        }
    }
    *out = NULL;
    *nout = dirs.n;
    if (dirs.n > 0) {
        *out = cdns_arena_memdup(p->a, dirs.v, dirs.n * sizeof(cdns_cf_directive_t));
        if (*out == NULL) {
            rc = nomem(p);
            goto fail;
        }
    }
    rc = CDNS_OK;
fail:
    cdns_config__vec_free(&dirs);
    return rc;
}

/* Turns one key as written into one or more cdns_cf_key_t (a CIDR may expand to several). */
static int add_key(parser_t *p, const char *text, const char *file, int line, cdns_config__vec_t *keys)
{
    char scheme[16], host[256];
    const char *why = NULL;
    const char **zones;
    size_t nzones;
    int port;
    int rc = cdns_config__split_key(text, scheme, sizeof(scheme), host, sizeof(host), &port, &why);
    if (rc == CDNS_OK)
        rc = cdns_config__host_zones(p->a, host, &zones, &nzones, &why);
    if (rc == CDNS_ENOMEM)
        return nomem(p);
    if (rc != CDNS_OK) {
        if (strcmp(why, "unsupported scheme") == 0) {
            const char *sep = strstr(text, "://");
            return cdns_diag_set(p->diag, file, line, "scheme %.*s is not supported by this build",
                                 (int)(sep ? sep - text : 0), text);
        }
        return cdns_diag_set(p->diag, file, line, "%s in server block key '%s'", why, text);
    }
    const char *ktext = cdns_arena_strdup(p->a, text);
    const char *kscheme = cdns_arena_strdup(p->a, scheme);
    if (ktext == NULL || kscheme == NULL)
        return nomem(p);
    for (size_t k = 0; k < nzones; k++) {
        cdns_cf_key_t key = {
            .text = ktext, .scheme = kscheme, .zone = zones[k], .port = port, .file = file, .line = line};
        if (cdns_config__vec_push(keys, &key, sizeof(key)) != CDNS_OK)
            return nomem(p);
    }
    return CDNS_OK;
}

/* The key line of a block: tokens to the end of the line, where a trailing comma carries the
 * list over to the next line. A "{" ends the keys even on the next line, as in Caddy. */
static int parse_keys(parser_t *p, cdns_config__vec_t *keys, const char **first_raw)
{
    bool expecting = false;
    const char *lfile; /* of the line being read: set first thing in the loop */
    int lline;
    int rc;

    *first_raw = p->la.text;
    for (;;) {
        /* Commas separate keys inside a token too ("a,b"), and empty pieces are dropped. */
        const char *t = p->la.text;
        size_t tlen = strlen(t);
        lfile = p->la.file;
        lline = p->la.line;
        expecting = tlen > 0 && t[tlen - 1] == ',';
        const char *q = t;
        while (*q != '\0') {
            size_t n = strcspn(q, ",");
            if (n > 0) {
                char piece[512];
                if (n >= sizeof(piece))
                    return cdns_diag_set(p->diag, lfile, lline, "server block key too long");
                memcpy(piece, q, n);
                piece[n] = '\0';
                if ((rc = add_key(p, piece, lfile, lline, keys)) != CDNS_OK)
                    return rc;
            }
            q += n;
            if (*q == ',')
                q++;
        }
        consume(p);
        if ((rc = fill(p)) != CDNS_OK)
            return rc;
        if (p->eof) {
            if (expecting)
                return cdns_diag_set(p->diag, lfile, lline, "expected another server block key after ','");
            return CDNS_OK;
        }
        if (is_open(p)) {
            if (expecting)
                return cdns_diag_set(p->diag, p->la.file, p->la.line,
                                     "expected another server block key after ',', found '{'");
            return CDNS_OK;
        }
        if (is_close(p))
            return cdns_diag_set(p->diag, p->la.file, p->la.line, "unexpected '}'");
        if (!expecting && p->la.bol)
            return CDNS_OK;
    }
}

/* "(name) { ... }": records the body's tokens, unexpanded, for later imports. */
static int parse_snippet(parser_t *p, const char *raw, const char *ofile, int oline)
{
    cdns_config__vec_t toks = {0};
    size_t nlen = strlen(raw) - 2;
    int depth = 1;
    int rc;

    char *name = cdns_arena_alloc(p->a, nlen + 1);
    if (name == NULL)
        return nomem(p);
    memcpy(name, raw + 1, nlen);
    name[nlen] = '\0';
    if (find_snippet(p, name) != NULL)
        return cdns_diag_set(p->diag, ofile, oline, "redeclaration of snippet %s", name);
    for (;;) {
        if ((rc = fill(p)) != CDNS_OK)
            goto fail;
        if (p->eof) {
            rc = cdns_diag_set(p->diag, ofile, oline, "unmatched '{'");
            goto fail;
        }
        if (is_open(p))
            depth++;
        if (is_close(p) && --depth == 0) {
            consume(p);
            if ((rc = expect_eol(p, "}")) != CDNS_OK)
                goto fail;
            break;
        }
        cdns_config__tok_t t = {.text = p->la.raw,
                                .file = p->la.file,
                                .line = p->la.line,
                                .end_line = p->la.end_line,
                                .quoted = p->la.quoted};
        if (cdns_config__vec_push(&toks, &t, sizeof(t)) != CDNS_OK) {
            rc = nomem(p);
            goto fail;
        }
        consume(p);
    }
    snippet_t sn = {.name = name, .ntoks = toks.n};
    if (toks.n > 0) {
        sn.toks = cdns_arena_memdup(p->a, toks.v, toks.n * sizeof(cdns_config__tok_t));
        if (sn.toks == NULL) {
            rc = nomem(p);
            goto fail;
        }
    }
    if (cdns_config__vec_push(&p->snippets, &sn, sizeof(sn)) != CDNS_OK) {
        rc = nomem(p);
        goto fail;
    }
    rc = CDNS_OK;
fail:
    cdns_config__vec_free(&toks);
    return rc;
}

static int parse_all(parser_t *p, cdns_config__vec_t *blocks)
{
    cdns_config__vec_t keys = {0};
    int rc;

    for (;;) {
        if ((rc = fill_head(p)) != CDNS_OK)
            goto fail;
        if (p->eof)
            break;
        if (is_close(p)) {
            rc = cdns_diag_set(p->diag, p->la.file, p->la.line, "unexpected '}'");
            goto fail;
        }
        if (is_open(p)) {
            rc = cdns_diag_set(p->diag, p->la.file, p->la.line, "server block without keys before '{'");
            goto fail;
        }

        cdns_cf_block_t b = {.file = p->la.file, .line = p->la.line};
        const char *first_raw;
        keys.n = 0;
        /* A snippet header is one unquoted "(name)" token followed by "{"; check before the
         * key parser, which would reject the parentheses. */
        size_t rlen = strlen(p->la.raw);
        if (!p->la.quoted && rlen > 2 && p->la.raw[0] == '(' && p->la.raw[rlen - 1] == ')') {
            const char *raw = p->la.raw;
            const char *sfile = p->la.file;
            int sline = p->la.line;
            consume(p);
            if ((rc = fill(p)) != CDNS_OK)
                goto fail;
            if (!is_open(p)) {
                rc = cdns_diag_set(p->diag, sfile, sline, "snippet %s must be followed by '{'", raw);
                goto fail;
            }
            const char *ofile = p->la.file;
            int oline = p->la.line;
            consume(p);
            if ((rc = fill(p)) != CDNS_OK)
                goto fail;
            if (!p->eof && !p->la.bol && !is_close(p)) {
                rc = cdns_diag_set(p->diag, p->la.file, p->la.line,
                                   "unexpected '%s' after '{' (a brace must end its line)", p->la.text);
                goto fail;
            }
            if ((rc = parse_snippet(p, raw, ofile, oline)) != CDNS_OK)
                goto fail;
            continue;
        }
        if ((rc = parse_keys(p, &keys, &first_raw)) != CDNS_OK)
            goto fail;
        if (keys.n == 0) {
            rc = cdns_diag_set(p->diag, b.file, b.line, "server block without keys");
            goto fail;
        }
        if (is_open(p)) {
            const char *ofile = p->la.file;
            int oline = p->la.line;
            consume(p);
            if ((rc = fill(p)) != CDNS_OK)
                goto fail;
            if (!p->eof && !p->la.bol && is_close(p)) {
                consume(p);
                if ((rc = expect_eol(p, "}")) != CDNS_OK)
                    goto fail;
            } else if (!p->eof && !p->la.bol) {
                rc = cdns_diag_set(p->diag, p->la.file, p->la.line,
                                   "unexpected '%s' after '{' (a brace must end its line)", p->la.text);
                goto fail;
            } else if ((rc = parse_lines(p, true, ofile, oline, 1, &b.dirs, &b.ndirs)) != CDNS_OK) {
                goto fail;
            }
        } else if (blocks->n > 0) {
            /* Caddy would read the line as the keys of another, empty server block; what was
             * meant is nearly always a directive that slipped out of its block. */
            rc = cdns_diag_set(p->diag, b.file, b.line, "directive '%s' outside any server block", first_raw);
            goto fail;
        } else if ((rc = parse_lines(p, false, b.file, b.line, 1, &b.dirs, &b.ndirs)) != CDNS_OK) {
            /* Without a brace, the first block runs to the end of the file (Caddy allows this
             * when a file has a single server block). */
            goto fail;
        }
        b.keys = cdns_arena_memdup(p->a, keys.v, keys.n * sizeof(cdns_cf_key_t));
        if (b.keys == NULL) {
            rc = nomem(p);
            goto fail;
        }
        b.nkeys = keys.n;
        if (cdns_config__vec_push(blocks, &b, sizeof(b)) != CDNS_OK) {
            rc = nomem(p);
            goto fail;
        }
    }
    rc = CDNS_OK;
fail:
    cdns_config__vec_free(&keys);
    return rc;
}

/* ------------------------------------------------------------------ public */

int cdns_corefile_parse(const char *text, size_t len, const char *filename, cdns_corefile_t **out, cdns_diag_t *diag)
{
    parser_t p = {.diag = diag};
    cdns_config__vec_t blocks = {0};
    cdns_corefile_t *cf = calloc(1, sizeof(*cf));
    char real[PATH_MAX];
    int rc;

    *out = NULL;
    if (cf == NULL)
        return nomem(&p);
    cdns_arena_init(&cf->arena, 16384);
    p.a = &cf->arena;
    if (filename == NULL)
        filename = "Corefile";
    cf->path = cdns_arena_strdup(p.a, filename);
    if (cf->path == NULL) {
        rc = nomem(&p);
        goto fail;
    }

    src_t *top = &p.stack[p.depth++];
    top->ident = cdns_arena_strdup(p.a, realpath(filename, real) != NULL ? real : filename);
    if (top->ident == NULL) {
        rc = nomem(&p);
        goto fail;
    }
    cdns_config__tok_t *toks = NULL;
    if ((rc = cdns_config__lex(p.a, text, len, cf->path, &toks, &top->ntoks, diag)) != CDNS_OK)
        goto fail;
    top->toks = toks;
    if ((rc = parse_all(&p, &blocks)) != CDNS_OK)
        goto fail;
    cf->nblocks = blocks.n;
    if (blocks.n > 0) {
        cf->blocks = cdns_arena_memdup(p.a, blocks.v, blocks.n * sizeof(cdns_cf_block_t));
        if (cf->blocks == NULL) {
            rc = nomem(&p);
            goto fail;
        }
    }
    cdns_config__vec_free(&blocks);
    cdns_config__vec_free(&p.snippets);
    *out = cf;
    return CDNS_OK;

fail:
    cdns_config__vec_free(&blocks);
    cdns_config__vec_free(&p.snippets);
    cdns_corefile_free(cf);
    return rc;
}

int cdns_corefile_load(const char *path, cdns_corefile_t **out, cdns_diag_t *diag)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = cdns_file_read(path, &buf, &len);

    *out = NULL;
    if (rc != CDNS_OK) {
        cdns_diag_set(diag, NULL, 0, "%s: %s", path, cdns_strerror(rc));
        return rc;
    }
    rc = cdns_corefile_parse(buf, len, path, out, diag);
    free(buf);
    return rc;
}

void cdns_corefile_free(cdns_corefile_t *cf)
{
    if (cf == NULL)
        return;
    cdns_arena_deinit(&cf->arena);
    free(cf);
}
