/* SPDX-License-Identifier: MIT */
/* bind — restricts the addresses a server block listens on (CoreDNS's bind).
 *
 * It has no runtime part: setup records the addresses in the block's set-up context and the
 * pipeline turns them into listeners. Main thread only.
 */
#include <arpa/inet.h>
#include <string.h>

#include "cdns/plugin.h"

static bool is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool listed(const cdns_cf_directive_t *except, const char *addr)
{
    for (size_t i = 0; except != NULL && i < except->nargs; i++)
        if (strcmp(except->args[i].text, addr) == 0)
            return true;
    return false;
}

static int bind_setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    const cdns_cf_directive_t *except = NULL;
    if (d->nargs == 0)
        return cdns_diag_set(diag, d->file, d->line, "plugin/bind: at least one address or interface is required");
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "except") != 0 || b->nargs == 0)
            return cdns_diag_set(diag, b->file, b->line, "plugin/bind: unknown property '%s'", b->name);
        for (size_t j = 0; j < b->nargs; j++)
            if (!is_ip(b->args[j].text))
                return cdns_diag_set(diag, b->file, b->line, "plugin/bind: not a valid IP address: '%s'",
                                     b->args[j].text);
        except = b;
    }
    for (size_t i = 0; i < d->nargs; i++) {
        const char *a = d->args[i].text;
        /* Interface names need a lookup of the host's addresses; this build takes literals only. */
        if (!is_ip(a))
            return cdns_diag_set(diag, d->args[i].file, d->args[i].line,
                                 "plugin/bind: not a valid IP address: '%s' (interface names are not supported by this "
                                 "build)",
                                 a);
        if (listed(except, a))
            continue;
        bool dup = false;
        for (size_t j = 0; j < ctx->nbind; j++)
            dup |= strcmp(ctx->bind[j], a) == 0;
        if (dup)
            continue;
        if (ctx->nbind == CDNS_ARRAY_LEN(ctx->bind))
            return cdns_diag_set(diag, d->file, d->line, "plugin/bind: too many addresses");
        ctx->bind[ctx->nbind++] = a; /* the Corefile outlives the pipeline's set-up */
    }
    *inst = NULL;
    return CDNS_OK;
}

const cdns_plugin_api_t cdns_plugin_bind = {
    .name = "bind",
    .setup = bind_setup,
};
