/* SPDX-License-Identifier: MIT */
/* services_internal.h — the instances of health, ready, prometheus and reload, shared by their
 * setup.c files and services.c (which reads them for main). Private to src/plugins.
 */
#ifndef CDNS_PLUGINS_SERVICES_INTERNAL_H
#define CDNS_PLUGINS_SERVICES_INTERNAL_H

#include "cdns/plugin.h"
#include "cdns/services.h"

typedef struct cdns_health_inst {
    char addr[CDNS_SERVICES_ADDR_LEN];
    uint64_t lameduck_ms;
} cdns_health_inst_t;

typedef struct cdns_ready_inst {
    char addr[CDNS_SERVICES_ADDR_LEN];
    bool continuously;
} cdns_ready_inst_t;

typedef struct cdns_prometheus_inst {
    char addr[CDNS_SERVICES_ADDR_LEN];
} cdns_prometheus_inst_t;

typedef struct cdns_reload_inst {
    uint64_t interval_ms; /* jitter applied */
    uint64_t jitter_ms;
} cdns_reload_inst_t;

extern const cdns_plugin_api_t cdns_plugin_health, cdns_plugin_ready, cdns_plugin_prometheus, cdns_plugin_reload;

/* Checks "host:port" as Go's net.SplitHostPort does; on failure writes Go's reason into why. */
bool cdns_plugins__host_port_ok(const char *addr, char *why, size_t len);

#endif
