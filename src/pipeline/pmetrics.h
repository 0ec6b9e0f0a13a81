/* SPDX-License-Identifier: MIT */
/* pmetrics.h — the request/response metrics of one (server, zone) route, private to pipeline/.
 *
 * Every series a query can touch is resolved when the pipeline is built (label values are all
 * known then: server, zone, proto, family, the bounded query types, rcodes and the chain's
 * plugins), so counting on a worker is a few index computations and relaxed adds.
 */
#ifndef CDNS_PIPELINE_PMETRICS_H
#define CDNS_PIPELINE_PMETRICS_H

#include "cdns/metrics.h"
#include "cdns/plugin.h"

typedef struct cdns_pmetrics cdns_pmetrics_t;

/* Series for server/zone; plugin label values are names[0..n-1] (indexed like the chain's
 * entries) and "" for answers no plugin wrote. The strings are borrowed (plugin api names). */
cdns_pmetrics_t *cdns_pipeline__metrics_new(const char *server, const char *zone, const char *const *names, size_t n);
void cdns_pipeline__metrics_free(cdns_pmetrics_t *pm);
/* Counts one finished request; plugin: index into names, or -1 when no plugin wrote it. Hot
 * path: no allocation, no lock. */
void cdns_pipeline__metrics_report(const cdns_pmetrics_t *pm, const cdns_req_t *req, int plugin);
/* Sets coredns_plugin_enabled{server, zone, view, name} = 1 for every plugin of the route. */
void cdns_pipeline__metrics_enabled(const cdns_pmetrics_t *pm);
/* Drops every coredns_plugin_enabled series (before setting those of a new pipeline). */
void cdns_pipeline__metrics_enabled_reset(void);

#endif
