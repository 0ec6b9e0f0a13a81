/* SPDX-License-Identifier: MIT */
/* pipeline — server blocks turned into listeners and plugin chains; the query entry point.
 *
 * cdns_pipeline_new() sets up every directive of every server block (main thread) and
 * groups blocks into listeners by (address, port). cdns_pipeline_serve() is the hot path: it
 * parses the query, answers FORMERR/NOTIMP/BADVERS/REFUSED itself, routes by the longest
 * matching zone of the listener, walks the chain and finishes the message. It allocates
 * nothing and takes no lock. A pipeline is immutable once built; reload builds a new one and
 * publishes it with cdns_rcu_swap().
 */
#ifndef CDNS_PIPELINE_H
#define CDNS_PIPELINE_H

#include "cdns/config.h"
#include "cdns/plugin.h"

typedef struct cdns_pipeline cdns_pipeline_t;

/* One address and port to bind (UDP and TCP). addr is "" for every address. */
typedef struct cdns_listener {
    char addr[64];
    uint16_t port;
} cdns_listener_t;

typedef struct cdns_pipeline_opts {
    uint16_t default_port; /* for keys without a port (53) */
    unsigned nworkers;     /* worker states to create per plugin instance */
} cdns_pipeline_opts_t;

/* Sets up every block. Errors: "FILE:LINE: message" in diag (unknown directive, directive not
 * supported by this build, plugin used twice where it may not, duplicate zone/port, a plugin's
 * own argument errors). */
int cdns_pipeline_new(const cdns_corefile_t *cf, const cdns_pipeline_opts_t *opts, cdns_pipeline_t **out,
                      cdns_diag_t *diag);
void cdns_pipeline_free(cdns_pipeline_t *p);
/* Starts/stops the plugins' background work on the main loop. */
int cdns_pipeline_start(cdns_pipeline_t *p, uv_loop_t *main_loop, cdns_diag_t *diag);
void cdns_pipeline_stop(cdns_pipeline_t *p);

const cdns_listener_t *cdns_pipeline_listeners(const cdns_pipeline_t *p, size_t *n);
/* Index of the listener for this local address and port, or -1. */
int cdns_pipeline_listener_index(const cdns_pipeline_t *p, const char *addr, uint16_t port);

/* Serves one request that arrived on listener li. Net has filled wire, wire_len, client, tcp,
 * worker, out and respond. Returns DONE (req->out_len octets to send; 0 = drop) or ASYNC (the
 * response comes through req->respond). */
cdns_verdict_t cdns_pipeline_serve(const cdns_pipeline_t *p, int li, cdns_req_t *req);
/* For a batch of n requests that arrived on listener li, prepared as for cdns_pipeline_serve
 * and with parsed_ cleared: parses and routes each (cdns_pipeline_serve then takes both over
 * instead of doing them again) and hands each run of consecutive requests routed to one chain
 * to the prefetch hooks of that chain's plugins. Then serve them, each with
 * cdns_pipeline_serve(p, li, req), before the pipeline can change. No allocation, no lock. */
void cdns_pipeline_prefetch(const cdns_pipeline_t *p, int li, cdns_req_t *const *reqs, unsigned n);
/* Whether any plugin of p has a prefetch hook: without one cdns_pipeline_prefetch would only
 * parse and route ahead of cdns_pipeline_serve, which does both itself, so a worker skips it. */
bool cdns_pipeline_prefetches(const cdns_pipeline_t *p);

/* True when every plugin that reports readiness is ready; otherwise the names of the others,
 * comma separated, in notready. */
bool cdns_pipeline_ready(const cdns_pipeline_t *p, char *notready, size_t len);

/* Calls fn for every plugin instance, block by block in chain order (block: index of its server
 * block in the Corefile). Main thread. */
typedef void (*cdns_pipeline_visit_fn)(size_t block, const cdns_plugin_api_t *api, void *inst, void *arg);
void cdns_pipeline_each(const cdns_pipeline_t *p, cdns_pipeline_visit_fn fn, void *arg);

/* Sets coredns_plugin_enabled for p's counted blocks (dropping the series of any earlier
 * pipeline): call once p is the pipeline being served. */
void cdns_pipeline_report_enabled(const cdns_pipeline_t *p);
/* True when a and b have the same listeners (address and port), in any order. */
bool cdns_pipeline_same_listeners(const cdns_pipeline_t *a, const cdns_pipeline_t *b);

/* Reload (main thread). Before starting a new pipeline np built while op serves, adopt moves
 * into np the running instances of op whose plugins have CDNS_PLUGIN_CARRY_OVER and whose
 * configuration did not change (np's fresh ones are torn down); cdns_pipeline_start(np) then
 * skips them. Returns how many were carried over. Once np is published, commit; if np is
 * abandoned instead, undo (before freeing np) hands them back to op. Both Corefiles must stay
 * loaded until then. */
size_t cdns_pipeline_adopt(cdns_pipeline_t *np, cdns_pipeline_t *op);
void cdns_pipeline_adopt_commit(cdns_pipeline_t *np);
void cdns_pipeline_adopt_undo(cdns_pipeline_t *np);

#endif
