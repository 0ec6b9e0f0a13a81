/* SPDX-License-Identifier: MIT */
/* lexer.c — Corefile bytes to tokens, as Caddy's (v1) lexer splits them.
 *
 * Tokens are separated by white space. A token that starts with " runs to the next unescaped "
 * (only \" is an escape; any other backslash is kept), one that starts with ` runs to the next
 * ` with no escapes; both may span lines. An unquoted # starts a comment to the end of the line,
 * even in the middle of a word, as in Caddy. Environment substitution is the parser's job, so a
 * token keeps {$VAR} verbatim here. Tokens and their text live in the caller's arena. Main
 * thread only.
 */
#include "config/config_internal.h"

#include <stdlib.h>
#include <string.h>

int cdns_config__vec_push(cdns_config__vec_t *vec, const void *elem, size_t size)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 8;
        void *nv = realloc(vec->v, cap * size);
        if (nv == NULL)
            return CDNS_ENOMEM;
        vec->v = nv;
        vec->cap = cap;
    }
    memcpy((char *)vec->v + vec->n * size, elem, size);
    vec->n++;
    return CDNS_OK;
}

void cdns_config__vec_free(cdns_config__vec_t *vec)
{
    free(vec->v);
    vec->v = NULL;
    vec->n = vec->cap = 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int cdns_config__lex(cdns_arena_t *a, const char *text, size_t len, const char *file, cdns_config__tok_t **toks,
                     size_t *ntoks, cdns_diag_t *diag)
{
    cdns_config__vec_t vec = {0};
    /* Quoted text only shrinks when escapes are resolved, so one buffer of the input's size
     * holds any token while it is assembled. */
    char *buf = malloc(len + 1);
    int rc = CDNS_ENOMEM;
    int line = 1;
    size_t i = 0;

    if (buf == NULL)
        goto fail;
    /* A byte order mark is an editor artefact, not a token (Caddy drops it too). */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        char c = text[i];
        if (c == '\n') {
            line++;
            i++;
            continue;
        }
        if (is_space(c)) {
            i++;
            continue;
        }
        if (c == '#') {
            while (i < len && text[i] != '\n')
                i++;
            continue;
        }
        if (c == '\0') {
            rc = cdns_diag_set(diag, file, line, "unexpected NUL byte");
            goto fail;
        }

        cdns_config__tok_t t = {.file = file, .line = line};
        size_t n = 0;
        if (c == '"' || c == '`') {
            char q = c;
            bool closed = false;
            i++;
            while (i < len) {
                char ch = text[i];
                if (ch == '\0')
                    break;
                if (q == '"' && ch == '\\' && i + 1 < len) {
                    char nx = text[i + 1];
                    /* Only a quote is escaped; "\n" stays two characters, as in Caddy. */
                    if (nx != '"')
                        buf[n++] = '\\';
                    if (nx == '\n')
                        line++;
                    buf[n++] = nx;
                    i += 2;
                    continue;
                }
                if (ch == q) {
                    closed = true;
                    i++;
                    break;
                }
                if (ch == '\n')
                    line++;
                buf[n++] = ch;
                i++;
            }
            if (!closed) {
                if (i < len && text[i] == '\0')
                    rc = cdns_diag_set(diag, file, line, "unexpected NUL byte");
                else
                    rc = cdns_diag_set(diag, file, t.line, "unterminated quoted string");
                goto fail;
            }
            t.quoted = true;
        } else {
            while (i < len && !is_space(text[i]) && text[i] != '#' && text[i] != '\0')
                buf[n++] = text[i++];
        }
        t.end_line = line;
        char *s = cdns_arena_memdup(a, buf, n + 1);
        if (s == NULL)
            goto nomem;
        s[n] = '\0';
        t.text = s;
        if (cdns_config__vec_push(&vec, &t, sizeof(t)) != CDNS_OK)
            goto nomem;
    }

    *toks = cdns_arena_memdup(a, vec.v, vec.n * sizeof(cdns_config__tok_t));
    if (*toks == NULL)
        goto nomem;
    *ntoks = vec.n;
    free(buf);
    cdns_config__vec_free(&vec);
    return CDNS_OK;

nomem:
    rc = CDNS_ENOMEM;
    cdns_diag_set(diag, file, line, "out of memory");
fail:
    free(buf);
    cdns_config__vec_free(&vec);
    return rc;
}

/* Appends s[0..n) to the growing output, which lives in a malloc'd vec until done. */
static int out_put(cdns_config__vec_t *out, const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (cdns_config__vec_push(out, &s[k], 1) != CDNS_OK)
            return CDNS_ENOMEM;
    return CDNS_OK;
}

const char *cdns_config__expand_env(cdns_arena_t *a, const char *text)
{
    if (strstr(text, "{$") == NULL && strstr(text, "{%") == NULL)
        return text;

    cdns_config__vec_t out = {0};
    const char *p = text;
    const char *res = NULL;
    while (*p != '\0') {
        const char *end = NULL;
        size_t skip = 0;
        if (p[0] == '{' && p[1] == '$') {
            end = strchr(p + 2, '}');
            skip = 1;
        } else if (p[0] == '{' && p[1] == '%') {
            end = strstr(p + 2, "%}");
            skip = 2;
        }
        /* An empty name ("{$}") is not a reference: Caddy leaves it as written. */
        if (end != NULL && end > p + 2) {
            size_t nlen = (size_t)(end - (p + 2));
            char name[256];
            const char *val = NULL;
            if (nlen < sizeof(name)) {
                memcpy(name, p + 2, nlen);
                name[nlen] = '\0';
                val = getenv(name);
            }
            if (val != NULL && out_put(&out, val, strlen(val)) != CDNS_OK)
                goto done;
            p = end + skip;
            continue;
        }
        if (out_put(&out, p, 1) != CDNS_OK)
            goto done;
        p++;
    }
    char *s = cdns_arena_alloc(a, out.n + 1);
    if (s != NULL) {
        if (out.n)
            memcpy(s, out.v, out.n);
        s[out.n] = '\0';
    }
    res = s;
done:
    cdns_config__vec_free(&out);
    return res;
}
