/* SPDX-License-Identifier: MIT */
/* plugin — the contract between the pipeline and every plugin, and the request they share.
 *
 * A plugin is a vtable (cdns_plugin_api_t). setup() parses its Corefile stanza on the main
 * thread and returns an instance; start()/stop() run background work on the main loop;
 * serve() runs on worker threads for every query routed to its server block, in the fixed
 * order of src/plugins/plugins.def (CoreDNS's plugin.cfg), never in Corefile order.
 *
 * serve() returns NEXT (not mine), DONE (the response is in req->msg) or ASYNC (the plugin keeps
 * the request and calls cdns_req_resume() later, on the same worker thread). on_response()
 * hooks run in reverse chain order once a response exists, so cache sees what forward wrote.
 * The request and its buffers belong to the worker; a plugin must not keep pointers into them
 * after DONE or after resuming.
 */
#ifndef CDNS_PLUGIN_H
#define CDNS_PLUGIN_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "cdns/base.h"
#include "cdns/config.h"
#include "cdns/dns.h"

typedef struct uv_loop_s uv_loop_t;
typedef struct cdns_chain cdns_chain_t;

typedef enum { CDNS_NEXT = 0, CDNS_DONE, CDNS_ASYNC } cdns_verdict_t;

/* Per-worker state a plugin creates lazily on the worker thread (from req->worker, whose loop
 * is the real one) and that outlives any one pipeline: forward's upstream sockets. Net calls
 * close(data) on the worker thread when the worker stops, before its loop is closed; close must
 * finish or abort whatever it still holds (parked requests) and close its handles. */
#define CDNS_WORKER_LOCALS 4
#define CDNS_WORKER_LOCAL_FORWARD 0
typedef struct cdns_worker_local {
    void *data;
    void (*close)(void *data);
} cdns_worker_local_t;

/* A worker thread as plugins see it. worker_init() runs on the main thread with a stand-in whose
 * loop is NULL; state that needs the loop is made on first use from req->worker. */
typedef struct cdns_worker {
    unsigned id;     /* 0 .. nworkers-1 */
    uv_loop_t *loop; /* the worker's loop (NULL in unit tests that call serve directly) */
    /* Set by net: makes the calling worker thread RCU-online. A plugin's own handles (forward's
     * sockets and timers) can fire while the thread is offline; cdns_req_resume() and
     * cdns_req_subquery() call it before touching the pipeline. NULL where there is no RCU. */
    void (*rcu_online)(struct cdns_worker *w);
    cdns_worker_local_t local[CDNS_WORKER_LOCALS];
} cdns_worker_t;

#define CDNS_REQ_OUT_CAP 65535
/* The most requests one prefetch() call is given (a receive batch of net is no larger). */
#define CDNS_PREFETCH_MAX 64u

/* One query in flight. Net fills the input part and the output buffer; the pipeline parses,
 * routes and finishes; plugins read q and write msg. */
typedef struct cdns_req {
    /* input (read-only for plugins) */
    const uint8_t *wire;
    size_t wire_len;
    cdns_query_t q;
    struct sockaddr_storage client;
    struct sockaddr_storage local;
    bool tcp;
    cdns_worker_t *worker;
    uint64_t start_ns;
    /* routing: the matched server-block zone (lowercase wire) and its port */
    const uint8_t *zone;
    uint8_t zone_len;
    uint16_t port;
    const char *server; /* "dns://:53" as CoreDNS labels metrics */
    /* output */
    cdns_msg_t msg;
    uint8_t *out;            /* net's buffer, CDNS_REQ_OUT_CAP octets */
    size_t out_len;          /* final length, 0 = send nothing */
    const char *answered_by; /* name of the plugin whose serve() returned DONE */
    const char *error;       /* set by a plugin that failed (SERVFAIL): logged by the errors plugin */
    /* private: the chain walk (pipeline) and the transport's completion (net) */
    const cdns_chain_t *chain_;
    int pos_;
    const void *listener_;   /* the listener it was routed on (sub-queries route there too) */
    struct cdns_req *super_; /* a sub-query: the request it serves (cdns_req_subquery) */
    size_t out_cap_;         /* octets at out; 0 = CDNS_REQ_OUT_CAP */
    uint8_t depth_;          /* sub-query nesting */
    bool parked_;            /* counted in its pipeline's in-flight requests */
    int base_;               /* on_response hooks run down to this entry (0; cache's background requests) */
    void (*respond)(struct cdns_req *req); /* called by cdns_req_resume() when an ASYNC request completes */
    void *net_data;
    /* cdns_pipeline_prefetch's parse and route, which cdns_pipeline_serve then takes over:
     * 0, or 1 + the cdns_query_status_t of the parse (net clears it for every datagram) */
    uint8_t parsed_;
    const void *route_;
} cdns_req_t;

/* Set-up context of one server block, passed to each directive's setup(). */
typedef struct cdns_setup_ctx {
    const cdns_cf_block_t *block;
    const char *const *zones; /* the block's zones, normalized ("cluster.local.") */
    size_t nzones;
    const char *corefile_dir; /* relative paths in arguments resolve here */
    /* Written by the bind plugin: addresses the block listens on (empty: every address). */
    const char *bind[16];
    size_t nbind;
} cdns_setup_ctx_t;

typedef struct cdns_plugin_api {
    const char *name; /* the Corefile directive */
    int (*setup)(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
    void (*teardown)(void *inst);
    /* Background work on the main loop (file reloads, API watches), after the whole pipeline set up. */
    int (*start)(void *inst, uv_loop_t *main_loop);
    void (*stop)(void *inst);
    int (*worker_init)(void *inst, cdns_worker_t *w, void **wstate);
    void (*worker_deinit)(void *inst, void *wstate);
    cdns_verdict_t (*serve)(cdns_req_t *req, void *inst, void *wstate);
    /* Optional, on the worker: before serving a batch of received queries, the worker hands
     * them to prefetch(), each run of consecutive ones routed to this block in one call (n at
     * most CDNS_PREFETCH_MAX, each parsed). A plugin may start loading into the CPU cache what
     * its serve() will read for them, so that the batch's cache misses overlap instead of each
     * query waiting on its own in turn. Only hints: it must not write anything a later serve()
     * or another worker reads. */
    void (*prefetch)(cdns_req_t *const *reqs, unsigned n, void *inst);
    void (*on_response)(cdns_req_t *req, void *inst, void *wstate);
    bool (*ready)(const void *inst);
    /* After every directive of the block is set up (main thread): find sibling instances with
     * cdns_chain_instance() (autopath finds kubernetes). Errors go to diag as setup's do. */
    int (*link)(void *inst, const cdns_chain_t *chain, cdns_diag_t *diag);
    unsigned flags; /* CDNS_PLUGIN_* */
} cdns_plugin_api_t;

#define CDNS_PLUGIN_ONCE 0x1u /* at most once per server block */
/* On reload, when the directive, its block's keys and its block's bind directives are unchanged,
 * the new pipeline takes over the running instance as is (its snapshot, watches, pollers)
 * instead of setting up and starting a fresh one: the kubernetes plugin does not relist. Such an
 * instance is briefly served by both pipelines and must be safe for that (workers only read
 * what it publishes with RCU). */
#define CDNS_PLUGIN_CARRY_OVER 0x2u

/* The registry: every directive CoreDNS knows, in chain order; api NULL for those this build
 * does not support (rejected by name at setup). */
typedef struct cdns_plugin_entry {
    const char *name;
    const cdns_plugin_api_t *api;
} cdns_plugin_entry_t;

const cdns_plugin_entry_t *cdns_plugins_all(size_t *n);
/* The entry of a directive, or NULL when CoreDNS has no such directive. */
const cdns_plugin_entry_t *cdns_plugin_find(const char *name);

/* Continues an ASYNC request (on its worker thread): runs the remaining chain if the plugin
 * asked for NEXT by setting req->pos_ (see pipeline.c), the on_response hooks, finishes the
 * message and calls req->respond. */
void cdns_req_resume(cdns_req_t *req, cdns_verdict_t v);

/* From inside serve(): runs the plugins after the calling one on req as it stands (the caller
 * may have changed req->q and restarted req->msg), then the on_response hooks of those that
 * ran, back to just after the caller. DONE: a response is in req->msg, not yet finished (pos_
 * is the caller's again). NEXT: none answered. ASYNC: a later plugin parked req; the caller's
 * serve() must return ASYNC, and on resume the hooks run from that plugin down, the caller's
 * own on_response included. As CoreDNS's plugin.NextOrFailure (autopath, cache). */
cdns_verdict_t cdns_req_next(cdns_req_t *req);
/* The instance of the directive name in a chain, or NULL (for link()). */
void *cdns_chain_instance(const cdns_chain_t *chain, const char *name);

/* Serves a sub-query for name (wire, any case) and qtype through the chain of the listener req
 * came in on, as CoreDNS's plugin/pkg/upstream does for ExternalName targets, and appends the
 * sub-answer's ANSWER records after what req->msg already holds (the CNAME). Returns DONE when
 * that is finished, or ASYNC: req is then parked and resumed with DONE once the sub-query is
 * answered (the caller's serve() must return ASYNC). Nesting is limited (a CNAME loop through
 * the chain ends with what was written so far). Worker thread only. */
cdns_verdict_t cdns_req_subquery(cdns_req_t *req, const uint8_t *name, uint16_t qtype);
/* When req->msg's ANSWER ends with a CNAME whose target has no record after it and qtype is
 * neither CNAME nor ANY, chases the target with cdns_req_subquery(); otherwise DONE. */
cdns_verdict_t cdns_req_chase_cname(cdns_req_t *req);

/* -------------------------------------------------------- RCU for plugins */
/* Snapshots and pipelines are published with one pointer swap and freed after every worker
 * has passed a quiescent point (liburcu QSBR; workers report from their loops). */
void *cdns_rcu_deref(void *const *slot);
void *cdns_rcu_swap(void **slot, void *newp); /* returns the old pointer */
void cdns_rcu_synchronize(void);              /* main thread: wait for every worker */
/* ThreadSanitizer cannot see liburcu's grace periods (the library is not instrumented): a
 * worker marks each quiescent point with CDNS_RCU_TSAN_QUIESCENT() and cdns_rcu_synchronize()
 * acquires them, so freeing after a grace period is not reported against the readers before
 * it. Expands to nothing outside TSan builds. */
#if defined(__SANITIZE_THREAD__)
void __tsan_release(void *addr);
void __tsan_acquire(void *addr);
extern char cdns_rcu_tsan_token;
#define CDNS_RCU_TSAN_QUIESCENT() __tsan_release(&cdns_rcu_tsan_token)
#else
#define CDNS_RCU_TSAN_QUIESCENT() ((void)0)
#endif

/* Client address as text ("10.0.0.1") and port, for logs and whoami. */
int cdns_req_client_ip(const cdns_req_t *req, char *out, size_t outlen);
uint16_t cdns_req_client_port(const cdns_req_t *req);

#endif
