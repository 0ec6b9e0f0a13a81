/* SPDX-License-Identifier: MIT */
/* setup.c — parses "reload [INTERVAL] [JITTER]" with CoreDNS's limits: INTERVAL at least 2s
 * (default 30s), JITTER 0 or at least 1s (default 15s) and at most half the interval; the
 * jitter is drawn once here, as CoreDNS does, so replicas spread their checks. Main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plugins/ready/services_internal.h"

#define PFX "plugin/reload: "
#define MIN_INTERVAL_MS 2000
#define MIN_JITTER_MS 1000
#define DEFAULT_INTERVAL_MS 30000
#define DEFAULT_JITTER_MS 15000

int cdns_reload__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

int cdns_reload__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    CDNS_UNUSED(ctx);
    if (d->nargs > 2)
        return cdns_diag_set(diag, d->file, d->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             d->args[2].text);
    if (d->nblock > 0)
        return cdns_diag_set(diag, d->block[0].file, d->block[0].line, PFX "unknown property '%s'", d->block[0].name);
    uint64_t interval = DEFAULT_INTERVAL_MS, jitter = DEFAULT_JITTER_MS;
    if (d->nargs > 0 && cdns_cf_parse_duration_ms(d->args[0].text, &interval) != CDNS_OK)
        return cdns_diag_set(diag, d->args[0].file, d->args[0].line, PFX "time: invalid duration \"%s\"",
                             d->args[0].text);
    if (interval < MIN_INTERVAL_MS)
        return cdns_diag_set(diag, d->file, d->line, PFX "interval value must be greater or equal to 2s");
    if (d->nargs > 1 && cdns_cf_parse_duration_ms(d->args[1].text, &jitter) != CDNS_OK)
        return cdns_diag_set(diag, d->args[1].file, d->args[1].line, PFX "time: invalid duration \"%s\"",
                             d->args[1].text);
    if (jitter != 0 && jitter < MIN_JITTER_MS)
        return cdns_diag_set(diag, d->file, d->line, PFX "jitter value must be 0 or greater or equal to 1s");
    if (jitter > interval / 2)
        jitter = interval / 2;
    cdns_reload_inst_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return CDNS_ENOMEM;
    r->jitter_ms = jitter;
    r->interval_ms = interval;
    if (jitter > 0) {
        /* Not for security: only to spread replicas that started together. */
        unsigned seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
        int64_t j = (int64_t)((uint64_t)rand_r(&seed) % jitter) - (int64_t)(jitter / 2);
        r->interval_ms = (uint64_t)((int64_t)interval + j);
    }
    *inst = r;
    return CDNS_OK;
}
