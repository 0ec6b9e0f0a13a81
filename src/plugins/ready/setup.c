/* SPDX-License-Identifier: MIT */
/* setup.c — parses "ready [ADDRESS] { monitor until-ready|continuously }" as CoreDNS does.
 * Main thread; the instance is plain data owned by the pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services_internal.h"

#define PFX "plugin/ready: "

int cdns_ready__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

int cdns_ready__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    CDNS_UNUSED(ctx);
    char why[128];
    if (d->nargs > 1)
        return cdns_diag_set(diag, d->file, d->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             d->args[1].text);
    cdns_ready_inst_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return CDNS_ENOMEM;
    int rc = CDNS_EINVAL;
    snprintf(r->addr, sizeof(r->addr), ":8181");
    if (d->nargs == 1) {
        const cdns_cf_token_t *a = &d->args[0];
        if (!cdns_plugins__host_port_ok(a->text, why, sizeof(why)) || strlen(a->text) >= sizeof(r->addr)) {
            rc = cdns_diag_set(diag, a->file, a->line, PFX "%s", why);
            goto fail;
        }
        snprintf(r->addr, sizeof(r->addr), "%s", a->text);
    }
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "monitor") != 0) {
            rc = cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", b->name);
            goto fail;
        }
        if (b->nargs != 1) {
            rc = cdns_diag_set(diag, b->file, b->line,
                               PFX "Wrong argument count or unexpected line ending after 'monitor'");
            goto fail;
        }
        if (strcmp(b->args[0].text, "continuously") == 0) {
            r->continuously = true;
        } else if (strcmp(b->args[0].text, "until-ready") == 0) {
            r->continuously = false;
        } else {
            rc = cdns_diag_set(diag, b->file, b->line, PFX "monitor type '%s' not supported", b->args[0].text);
            goto fail;
        }
    }
    *inst = r;
    return CDNS_OK;
fail:
    free(r);
    return rc;
}
