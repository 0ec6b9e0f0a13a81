/* SPDX-License-Identifier: MIT */
/* config — the Corefile: lexer and parser into server blocks of directives.
 *
 * The grammar is CoreDNS's (Caddy's): server blocks with one or more keys, directives with
 * arguments, nested { } blocks, "quoted" and `backquoted` strings, # comments, {$ENV} and {%ENV%}
 * substitution, snippets "(name) { ... }" used with "import name", and "import PATH|GLOB" of
 * files relative to the importing file. The parser knows nothing of which directives exist;
 * pipeline setup checks names and arguments. Every token remembers its file and line so every
 * error reads "FILE:LINE: message".
 *
 * A parsed Corefile owns all its memory (one arena); free it with cdns_corefile_free(). Main
 * thread only.
 */
#ifndef CDNS_CONFIG_H
#define CDNS_CONFIG_H

#include "cdns/base.h"

typedef struct cdns_cf_token {
    const char *text; /* after quote removal and env substitution */
    const char *file; /* the file it came from */
    int line;
    bool quoted;
} cdns_cf_token_t;

/* A directive line: name, arguments and an optional { } block of lines of the same form
 * (a block line's "name" is its first token, e.g. "fallthrough" or "max_concurrent"). */
typedef struct cdns_cf_directive {
    const char *name;
    const char *file;
    int line;
    const cdns_cf_token_t *args;
    size_t nargs;
    const struct cdns_cf_directive *block; /* lines inside { }, NULL when there is no block */
    size_t nblock;
    bool has_block; /* "{ }" was present, even if empty */
} cdns_cf_directive_t;

/* A server block key such as "dns://cluster.local:1053", "." or "10.0.0.0/24". */
typedef struct cdns_cf_key {
    const char *text;   /* as written */
    const char *scheme; /* "dns" when absent; the parser rejects every other scheme */
    const char *zone;   /* normalized: lowercase, fully qualified ("cluster.local."), "." for the root;
                           a CIDR key becomes its reverse zone ("0.0.10.in-addr.arpa."); a CIDR off
                           the octet/nibble boundary becomes several keys with the same text, one
                           per reverse zone, as CoreDNS expands it ("10.0.0.0/23" -> 0.0.10... and
                           1.0.10.in-addr.arpa.) */
    int port;           /* 0 when absent (the server default, 53) */
    const char *file;
    int line;
} cdns_cf_key_t;

typedef struct cdns_cf_block {
    const cdns_cf_key_t *keys;
    size_t nkeys;
    const cdns_cf_directive_t *dirs;
    size_t ndirs;
    const char *file;
    int line;
} cdns_cf_block_t;

typedef struct cdns_corefile {
    const cdns_cf_block_t *blocks;
    size_t nblocks;
    const char *path; /* the top-level file */
    /* private */
    cdns_arena_t arena;
} cdns_corefile_t;

/* Reads and parses a Corefile. On error returns CDNS_EINVAL (or an I/O error) with diag set to
 * "FILE:LINE: message": unbalanced braces, an unknown snippet, an import that matches nothing
 * or recurses, a block without keys, a bad key (bad port, unsupported form), a missing file.
 * As in CoreDNS, an import glob with wildcards that matches no file only logs a warning; a
 * missing plain file or snippet name is an error. cdns_corefile_load() of a file that cannot
 * be read returns its errno (e.g. CDNS_ENOENT) with diag "PATH: reason". */
int cdns_corefile_load(const char *path, cdns_corefile_t **out, cdns_diag_t *diag);
/* The same from memory; filename is used in messages and to resolve relative imports. */
int cdns_corefile_parse(const char *text, size_t len, const char *filename, cdns_corefile_t **out, cdns_diag_t *diag);
void cdns_corefile_free(cdns_corefile_t *cf);

/* ----------------------------------------------------------- value helpers */
/* Go duration syntax as CoreDNS accepts it: "300ms", "5s", "1m30s", "2h", "1.5s", "10us", "0".
 * Units ns, us (µs), ms, s, m, h. Negative, empty or unit-less values are CDNS_EINVAL; more
 * than Go's int64 nanoseconds is CDNS_ERANGE. The _ms form truncates to milliseconds. */
int cdns_cf_parse_duration_ms(const char *text, uint64_t *ms);
int cdns_cf_parse_duration_ns(const char *text, uint64_t *ns);
/* Decimal unsigned integer within [min, max]: digits only (no sign, no spaces). CDNS_EINVAL for
 * anything else, CDNS_ERANGE when out of range. */
int cdns_cf_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out);
/* A zone argument as plugins take it ("cluster.local", "10.0.0.0/8", "."): normalized as in
 * cdns_cf_key_t.zone into out (NUL-terminated). */
int cdns_cf_normalize_zone(const char *text, char *out, size_t outlen);
/* The same for a zone argument that may name several zones (a CIDR off the octet/nibble
 * boundary, see cdns_cf_key_t.zone): cdns_cf_normalize_zone() refuses those with CDNS_EINVAL.
 * The array and the strings are allocated in a (typically the corefile's or the plugin's). */
int cdns_cf_expand_zone(cdns_arena_t *a, const char *text, const char ***zones, size_t *nzones);

#endif
