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

/* A worker thread as plugins see it. */
typedef struct cdns_worker {
    unsigned id;     /* 0 .. nworkers-1 */
    uv_loop_t *loop; /* the worker's loop (NULL in unit tests that call serve directly) */
} cdns_worker_t;

#define CDNS_REQ_OUT_CAP 65535

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
    void (*respond)(struct cdns_req *req); /* called by cdns_req_resume() when an ASYNC request completes */
    void *net_data;
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
    void (*on_response)(cdns_req_t *req, void *inst, void *wstate);
    bool (*ready)(const void *inst);
    unsigned flags; /* CDNS_PLUGIN_* */
} cdns_plugin_api_t;

#define CDNS_PLUGIN_ONCE 0x1u /* at most once per server block */

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

/* -------------------------------------------------------- RCU for plugins */
/* Snapshots and pipelines are published with one pointer swap and freed after every worker
 * has passed a quiescent point (liburcu QSBR; workers report from their loops). */
void *cdns_rcu_deref(void *const *slot);
void *cdns_rcu_swap(void **slot, void *newp); /* returns the old pointer */
void cdns_rcu_synchronize(void);              /* main thread: wait for every worker */

/* Client address as text ("10.0.0.1") and port, for logs and whoami. */
int cdns_req_client_ip(const cdns_req_t *req, char *out, size_t outlen);
uint16_t cdns_req_client_port(const cdns_req_t *req);

#endif
