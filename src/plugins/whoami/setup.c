/* SPDX-License-Identifier: MIT */
/* setup.c — the whoami directive takes no arguments and no block. Main thread. */
#include "cdns/plugin.h"

int cdns_whoami__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

int cdns_whoami__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    (void)ctx;
    if (d->nargs > 0)
        return cdns_diag_set(diag, d->args[0].file, d->args[0].line, "plugin/whoami: unexpected argument '%s'",
                             d->args[0].text);
    if (d->has_block)
        return cdns_diag_set(diag, d->file, d->line, "plugin/whoami: takes no block");
    *inst = NULL;
    return CDNS_OK;
}
