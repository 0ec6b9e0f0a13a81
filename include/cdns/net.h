/* SPDX-License-Identifier: MIT */
/* net — worker threads, their UDP and TCP sockets and the per-worker request slots.
 *
 * Each worker thread owns a libuv loop, one SO_REUSEPORT UDP socket and one TCP listener per
 * listener of the pipeline, and a ring of preallocated request slots. Workers read the current
 * pipeline through an RCU-published pointer, so reload swaps it without stopping them.
 * cdns_net_* functions are called from the main thread.
 */
#ifndef CDNS_NET_H
#define CDNS_NET_H

#include "cdns/pipeline.h"

typedef struct cdns_net cdns_net_t;

typedef struct cdns_net_opts {
    unsigned nworkers;      /* worker threads (>= 1) */
    unsigned tcp_idle_ms;   /* close idle TCP connections after this (default 10000) */
    unsigned tcp_max_conns; /* per worker (default 1024) */
} cdns_net_opts_t;

/* Binds every listener of *pipeline_slot on every worker and starts the threads. Binding errors
 * ("listen udp 127.0.0.1:53: Permission denied") come back in diag. */
int cdns_net_start(const cdns_net_opts_t *opts, cdns_pipeline_t *const *pipeline_slot, cdns_net_t **out,
                   cdns_diag_t *diag);
/* Stops accepting, finishes in-flight requests, closes sockets and joins the threads. */
void cdns_net_stop(cdns_net_t *n);

/* Counters summed over the workers (relaxed reads: any thread, e.g. the metrics scrape). */
typedef struct cdns_net_stats {
    uint64_t udp_received;    /* datagrams read */
    uint64_t udp_dropped;     /* not answered: no free request slot, truncated on receive, send failed */
    uint64_t tcp_accepted;    /* connections accepted */
    uint64_t tcp_refused;     /* closed on accept: at tcp_max_conns and none idle to evict */
    uint64_t tcp_evicted;     /* idle connections closed to make room for a new one */
    uint64_t tcp_idle_closed; /* closed by tcp_idle_ms */
    uint64_t tcp_bad_frame;   /* closed for a length prefix below a DNS header */
    uint64_t tcp_queries;     /* framed queries read */
    uint64_t tcp_open;        /* connections open now */
} cdns_net_stats_t;
void cdns_net_stats(const cdns_net_t *n, cdns_net_stats_t *out);

/* The port bound for listener li of the start-time pipeline (differs from the configured one
 * only when that was 0: tests ask the kernel for a free port). 0 when li is out of range. */
uint16_t cdns_net_port(const cdns_net_t *n, size_t li);

#endif
