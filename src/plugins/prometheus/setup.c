/* SPDX-License-Identifier: MIT */
/* setup.c — parses "prometheus [ADDRESS] { runtime_metrics }" as CoreDNS does.
 *
 * runtime_metrics (Go runtime internals) has no meaning here and is accepted as a no-op so
 * CoreDNS Corefiles load; tls is refused by name, this build has no TLS for /metrics.
 * Main thread; the instance is plain data owned by the pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/ready/services_internal.h"

#define PFX "plugin/prometheus: "

int cdns_prometheus__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

int cdns_prometheus__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    CDNS_UNUSED(ctx);
    char why[128];
    if (d->nargs > 1)
        return cdns_diag_set(diag, d->file, d->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             d->args[1].text);
    cdns_prometheus_inst_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return CDNS_ENOMEM;
    int rc = CDNS_EINVAL;
    snprintf(m->addr, sizeof(m->addr), "localhost:9153");
    if (d->nargs == 1) {
        const cdns_cf_token_t *a = &d->args[0];
        if (!cdns_plugins__host_port_ok(a->text, why, sizeof(why)) || strlen(a->text) >= sizeof(m->addr)) {
            rc = cdns_diag_set(diag, a->file, a->line, PFX "%s", why);
            goto fail;
        }
        snprintf(m->addr, sizeof(m->addr), "%s", a->text);
    }
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "runtime_metrics") == 0) {
            if (b->nargs != 0) {
                rc = cdns_diag_set(diag, b->file, b->line,
                                   PFX "Wrong argument count or unexpected line ending after 'runtime_metrics'");
                goto fail;
            }
        } else if (strcmp(b->name, "tls") == 0) {
            rc = cdns_diag_set(diag, b->file, b->line, PFX "tls is not supported by this build");
            goto fail;
        } else {
            rc = cdns_diag_set(diag, b->file, b->line, PFX "unknown option: %s", b->name);
            goto fail;
        }
    }
    *inst = m;
    return CDNS_OK;
fail:
    free(m);
    return rc;
}
