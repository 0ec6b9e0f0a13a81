/* SPDX-License-Identifier: MIT */
/* http — the HTTP endpoints: /health, /ready and /metrics (libmicrohttpd).
 *
 * A cdns_http_t is a set of listening addresses, each serving the union of the paths asked for
 * it (health on :8080, ready on :8181 and metrics on :9153 may share an address or not). Each
 * address runs one libmicrohttpd daemon with its own thread; the handlers read only the
 * process-wide state below (atomics and a mutex-guarded text) and the metrics registry, never
 * the pipeline. Sockets use SO_REUSEPORT so a reload can bind a new set before the old one is
 * freed. Build, start and free on the main thread; the state setters may be called from any.
 */
#ifndef CDNS_HTTP_H
#define CDNS_HTTP_H

#include "cdns/base.h"

#define CDNS_HTTP_HEALTH 0x1u  /* GET /health: 200 "OK" */
#define CDNS_HTTP_READY 0x2u   /* GET /ready: 200 "OK" or 503 and why */
#define CDNS_HTTP_METRICS 0x4u /* GET /metrics: the Prometheus text exposition */

typedef struct cdns_http cdns_http_t;

cdns_http_t *cdns_http_new(void);
/* Adds paths to serve on addr ("host:port", ":port", "[::1]:port"; "localhost" is 127.0.0.1,
 * an empty host every address). The same address given twice serves the union of paths.
 * CDNS_EINVAL with diag set for an address that does not parse. */
int cdns_http_add(cdns_http_t *h, const char *addr, unsigned paths, cdns_diag_t *diag);
/* Binds and starts every address. On error nothing is left running; diag says which address. */
int cdns_http_start(cdns_http_t *h, cdns_diag_t *diag);
/* Stops every daemon (waits for their threads) and frees h. NULL is a no-op. */
void cdns_http_free(cdns_http_t *h);
/* True when a and b serve the same paths on the same addresses (a reload can keep a). */
bool cdns_http_same(const cdns_http_t *a, const cdns_http_t *b);
/* The port bound for addr (as given to cdns_http_add), 0 if none: for ":0" in tests. */
uint16_t cdns_http_port(const cdns_http_t *h, const char *addr);

/* ------------------------------------------------- process-wide state (any thread) */
/* What /ready reports: ready, or the names of the plugins not ready (comma separated, as
 * CoreDNS prints them). Initially not ready with an empty list. */
void cdns_http_set_ready(bool ready, const char *notready);
/* From now on /ready answers 503 "Shutting down" (the lameduck period); /health stays 200. */
void cdns_http_set_shutting_down(void);

#endif
