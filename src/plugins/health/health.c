/* SPDX-License-Identifier: MIT */
/* health — the /health endpoint (CoreDNS's health plugin) and the lameduck period.
 *
 * The plugin serves no queries: main reads its address and lameduck through
 * cdns_services_collect() and the http module answers 200 "OK" for as long as the process
 * runs, including during lameduck. Nothing here runs on a worker.
 */
#include <stdlib.h>

#include "plugins/ready/services_internal.h"

int cdns_health__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

const cdns_plugin_api_t cdns_plugin_health = {
    .name = "health",
    .setup = cdns_health__setup,
    .teardown = free,
};
