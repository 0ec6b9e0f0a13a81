/* SPDX-License-Identifier: MIT */
/* prometheus — enables metrics for its server block and the /metrics endpoint.
 *
 * As in CoreDNS, a server block's queries are counted (coredns_dns_*) only when the block has
 * this directive: the pipeline resolves the series handles of such blocks at set-up and counts
 * with per-worker adds (see pipeline.c). main reads the address through
 * cdns_services_collect() and serves the exposition from the http module. The plugin itself
 * never runs on a worker.
 */
#include <stdlib.h>

#include "plugins/ready/services_internal.h"

int cdns_prometheus__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

const cdns_plugin_api_t cdns_plugin_prometheus = {
    .name = "prometheus",
    .setup = cdns_prometheus__setup,
    .teardown = free,
    .flags = CDNS_PLUGIN_ONCE,
};
