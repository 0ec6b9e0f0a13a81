/* SPDX-License-Identifier: MIT */
/* reload — reloads a changed Corefile (CoreDNS's reload plugin).
 *
 * The plugin serves no queries. main arms a timer with the interval from
 * cdns_services_collect() and compares cdns_reload_fingerprint() of the Corefile with the one
 * it last loaded; on a change (or SIGUSR1) it builds a new pipeline and swaps it in. The
 * fingerprint covers imported files too, since it is taken over the parsed tokens. Main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/ready/services_internal.h"

int cdns_reload__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

typedef cdns_strbuf_t sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n)
{
    cdns_strbuf_put(b, s, n);
}

/* Tokens are separated by a byte no Corefile token holds unquoted (US, 0x1f), so two different
 * token lists never serialize to the same text. */
static void put_tok(sbuf_t *b, const char *s)
{
    put(b, s, strlen(s));
    put(b, "\x1f", 1);
}

static void put_dirs(sbuf_t *b, const cdns_cf_directive_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put_tok(b, d[i].name);
        for (size_t a = 0; a < d[i].nargs; a++)
            put_tok(b, d[i].args[a].text);
        if (d[i].has_block) {
            put_tok(b, "{");
            put_dirs(b, d[i].block, d[i].nblock);
            put_tok(b, "}");
        }
        put(b, "\n", 1);
    }
}

char *cdns_reload_fingerprint(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (cdns_file_read(path, &text, &len) != CDNS_OK)
        return NULL;
    sbuf_t b = {0};
    put(&b, text, len);
    free(text);
    put(&b, "\x1e", 1);
    cdns_corefile_t *cf = NULL;
    cdns_diag_t diag;
    if (cdns_corefile_load(path, &cf, &diag) == CDNS_OK) {
        for (size_t i = 0; i < cf->nblocks; i++) {
            const cdns_cf_block_t *blk = &cf->blocks[i];
            for (size_t k = 0; k < blk->nkeys; k++)
                put_tok(&b, blk->keys[k].text);
            put_tok(&b, "{");
            put_dirs(&b, blk->dirs, blk->ndirs);
            put_tok(&b, "}");
        }
        cdns_corefile_free(cf);
    } else {
        /* The error text changes when the broken import does. */
        put(&b, diag.msg, strlen(diag.msg));
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

const cdns_plugin_api_t cdns_plugin_reload = {
    .name = "reload",
    .setup = cdns_reload__setup,
    .teardown = free,
    .flags = CDNS_PLUGIN_ONCE,
};
