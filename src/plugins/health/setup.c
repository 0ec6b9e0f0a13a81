/* SPDX-License-Identifier: MIT */
/* setup.c — parses "health [ADDRESS] { lameduck DURATION }" with CoreDNS's argument rules.
 * Main thread; the instance is plain data owned by the pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/ready/services_internal.h"

#define PFX "plugin/health: "

int cdns_health__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

int cdns_health__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    CDNS_UNUSED(ctx);
    char why[128];
    if (d->nargs > 1)
        return cdns_diag_set(diag, d->file, d->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             d->args[1].text);
    cdns_health_inst_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return CDNS_ENOMEM;
    int rc = CDNS_EINVAL;
    /* An empty address means the default, as CoreDNS fills it in at start-up. */
    snprintf(h->addr, sizeof(h->addr), ":8080");
    if (d->nargs == 1) {
        const cdns_cf_token_t *a = &d->args[0];
        if (!cdns_plugins__host_port_ok(a->text, why, sizeof(why)) || strlen(a->text) >= sizeof(h->addr)) {
            rc = cdns_diag_set(diag, a->file, a->line, PFX "%s", why);
            goto fail;
        }
        snprintf(h->addr, sizeof(h->addr), "%s", a->text);
    }
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "lameduck") != 0) {
            rc = cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", b->name);
            goto fail;
        }
        if (b->nargs != 1) {
            rc = cdns_diag_set(diag, b->file, b->line,
                               PFX "Wrong argument count or unexpected line ending after 'lameduck'");
            goto fail;
        }
        if (cdns_cf_parse_duration_ms(b->args[0].text, &h->lameduck_ms) != CDNS_OK) {
            rc = cdns_diag_set(diag, b->file, b->line,
                               PFX "unable to parse lameduck duration value: '%s' : time: invalid duration \"%s\"",
                               b->args[0].text, b->args[0].text);
            goto fail;
        }
    }
    *inst = h;
    return CDNS_OK;
fail:
    free(h);
    return rc;
}
