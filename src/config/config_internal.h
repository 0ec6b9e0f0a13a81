/* SPDX-License-Identifier: MIT */
/* config_internal.h — what lexer.c, parser.c and values.c share, and what their tests reach.
 *
 * The lexer turns one file's bytes into tokens allocated in the Corefile's arena; the parser
 * groups tokens into server blocks; values.c holds the key and zone normalization the parser
 * and plugins share. Main thread only, like the rest of the module.
 */
#ifndef CDNS_CONFIG_INTERNAL_H
#define CDNS_CONFIG_INTERNAL_H

#include "cdns/config.h"

/* A raw token: quotes removed and \" resolved, no substitution yet. */
typedef struct cdns_config__tok {
    const char *text; /* NUL-terminated, in the arena */
    const char *file;
    int line;     /* line the token starts on */
    int end_line; /* line it ends on: a quoted token may span lines */
    bool quoted;  /* "..." or `...`: never a brace, never the import keyword */
} cdns_config__tok_t;

/* A growable malloc'd array for temporaries; the parser copies results into the arena. */
typedef struct cdns_config__vec {
    void *v;
    size_t n, cap;
} cdns_config__vec_t;

int cdns_config__vec_push(cdns_config__vec_t *vec, const void *elem, size_t size);
void cdns_config__vec_free(cdns_config__vec_t *vec);

/* Splits text into tokens (arena-allocated array and strings). file is stored in each token
 * as given. Errors: CDNS_EINVAL with diag "FILE:LINE: unterminated quoted string" (the line
 * the quote opened on) or a NUL byte; CDNS_ENOMEM. */
int cdns_config__lex(cdns_arena_t *a, const char *text, size_t len, const char *file, cdns_config__tok_t **toks,
                     size_t *ntoks, cdns_diag_t *diag);

/* Replaces {$NAME} and {%NAME%} by the environment variable (empty when unset), in one pass:
 * a value is never expanded again. Returns text itself when there is nothing to replace, an
 * arena copy otherwise, NULL when out of memory. */
const char *cdns_config__expand_env(cdns_arena_t *a, const char *text);

/* Key "[scheme://]host[:port]" split and checked. On failure returns CDNS_EINVAL and *why says
 * what is wrong ("invalid port", "invalid zone", "invalid CIDR", "unsupported scheme"). The
 * scheme is written into scheme (lowercase, "dns" when absent), port is 0 when absent. */
int cdns_config__split_key(const char *text, char *scheme, size_t schemelen, char *host, size_t hostlen, int *port,
                           const char **why);

/* A host (no scheme, no port) as zones: one normalized name, or for a CIDR the reverse zones
 * covering it (several when the prefix is not on an octet / nibble boundary, as CoreDNS). The
 * array and strings are in the arena. CDNS_EINVAL with *why set when invalid. */
int cdns_config__host_zones(cdns_arena_t *a, const char *host, const char ***zones, size_t *nzones, const char **why);

#endif
