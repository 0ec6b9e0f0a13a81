/* SPDX-License-Identifier: MIT */
/* services — what the process-level plugins (health, ready, prometheus, reload) ask of main.
 *
 * These directives configure things outside the query path: HTTP endpoints, the lameduck
 * period and Corefile polling. Their instances live in a pipeline like any other plugin's;
 * main reads them through cdns_services_collect() after building a pipeline and starts, keeps
 * or replaces the HTTP servers and the reload timer accordingly. Main thread only.
 */
#ifndef CDNS_SERVICES_H
#define CDNS_SERVICES_H

#include "cdns/pipeline.h"

#define CDNS_SERVICES_MAX_ADDRS 8
#define CDNS_SERVICES_ADDR_LEN 128

typedef struct cdns_services {
    char health[CDNS_SERVICES_MAX_ADDRS][CDNS_SERVICES_ADDR_LEN]; /* distinct addresses, default ":8080" */
    size_t nhealth;
    uint64_t lameduck_ms;                                        /* the longest lameduck of any health directive */
    char ready[CDNS_SERVICES_MAX_ADDRS][CDNS_SERVICES_ADDR_LEN]; /* default ":8181" */
    size_t nready;
    bool ready_continuously; /* monitor continuously: keep asking plugins after they were ready */
    char metrics[CDNS_SERVICES_MAX_ADDRS][CDNS_SERVICES_ADDR_LEN]; /* default "localhost:9153" */
    size_t nmetrics;
    bool reload;        /* a reload directive is present */
    uint64_t reload_ms; /* interval with the jitter applied (CoreDNS draws it at set-up) */
    uint64_t reload_jitter_ms;
} cdns_services_t;

/* Collects every health, ready, prometheus and reload directive of p. */
void cdns_services_collect(const cdns_pipeline_t *p, cdns_services_t *out);
/* Readiness as the ready plugin reports it: every plugin with a ready() hook in a server block
 * that has "ready" is asked; false with their names, sorted, unique and comma separated, in
 * notready when any is not ready. True (and "") when no block has "ready". */
bool cdns_services_ready(const cdns_pipeline_t *p, char *notready, size_t len);

/* The Corefile fingerprint reload compares: the top file's bytes plus every token of the
 * parsed Corefile (so a change in an imported file counts), as a malloc'd string (caller
 * frees); NULL when the file cannot be read. */
char *cdns_reload_fingerprint(const char *path);

#endif
