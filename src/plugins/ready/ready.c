/* SPDX-License-Identifier: MIT */
/* ready — the /ready endpoint (CoreDNS's ready plugin).
 *
 * The plugin serves no queries. main polls cdns_services_ready() (services.c) on its loop and
 * hands the result to the http module, which answers 200 "OK" or 503 with the names of the
 * plugins not ready; during lameduck it answers 503 "Shutting down".
 */
#include <stdlib.h>

#include "services_internal.h"

int cdns_ready__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

const cdns_plugin_api_t cdns_plugin_ready = {
    .name = "ready",
    .setup = cdns_ready__setup,
    .teardown = free,
    .flags = CDNS_PLUGIN_ONCE,
};
