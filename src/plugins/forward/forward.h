/* SPDX-License-Identifier: MIT */
/* forward.h — what setup.c, forward.c, health.c and stubdomains.c of the forward plugin share.
 *
 * A cdns_fwd_t is one `forward` directive: set up on the main thread, read-only afterwards except
 * for atomics (upstream fail counts, the concurrency count, the round-robin cursor) and the
 * RCU-published stub-domain rules. Its upstreams live as long as it does. Queries in flight live
 * in per-worker transport state (forward.c), created on the worker thread on first use and owned
 * by the worker, not by any one instance: a reload never has to reach into a worker loop.
 */
#ifndef CDNS_PLUGIN_FORWARD_H
#define CDNS_PLUGIN_FORWARD_H

#include <stdatomic.h>
#include <uv.h>

#include "cdns/metrics.h"
#include "cdns/plugin.h"

#define CDNS_FWD_MAX_UPSTREAMS 15 /* as CoreDNS */
#define CDNS_FWD_TIMEOUT_MS 5000  /* a query's whole budget (CoreDNS's defaultTimeout) */
#define CDNS_FWD_HC_TIMEOUT_MS 1000

typedef enum { CDNS_FWD_RANDOM = 0, CDNS_FWD_ROUND_ROBIN, CDNS_FWD_SEQUENTIAL } cdns_fwd_policy_t;

typedef struct cdns_fwd cdns_fwd_t;

/* One upstream address. */
typedef struct cdns_fwd_up {
    struct sockaddr_storage sa;
    socklen_t salen;
    char name[160];         /* "127.0.0.1:53": the `to` label and log text */
    _Atomic uint32_t fails; /* consecutive failed health checks (CoreDNS's Proxy.fails) */
    _Atomic bool kick;      /* a worker asks the main loop to start probing */
    cdns_fwd_t *f;          /* NULL for stub-domain upstreams: never health checked */
    /* metrics (NULL when the family could not be made) */
    cdns_series_t *m_requests;    /* coredns_forward_requests_total{to} */
    cdns_series_t *m_hc_fail;     /* coredns_proxy_healthcheck_failures_total{proxy_name,to} */
    cdns_series_t *m_hc_fail_old; /* coredns_forward_healthcheck_failures_total{to} */
    /* per rcode 0..5 (others are looked up when they happen) */
    cdns_series_t *m_dur[6];     /* coredns_proxy_request_duration_seconds{proxy_name,to,rcode} */
    cdns_series_t *m_dur_old[6]; /* coredns_forward_request_duration_seconds{to,rcode} */
    cdns_series_t *m_resp[6];    /* coredns_forward_responses_total{to,rcode} */
} cdns_fwd_up_t;

/* A set of upstreams a query may be sent to: the directive's TO list, or a stub domain's. */
typedef struct cdns_fwd_set {
    cdns_fwd_up_t *up;
    size_t nup;
} cdns_fwd_set_t;

/* Stub-domain rules read from a kube-dns ConfigMap directory (stubdomains.c). Immutable once
 * published; replaced whole. refs: the instance's own plus one per query in flight using it. */
typedef struct cdns_fwd_stubs {
    _Atomic unsigned long refs;
    size_t n;
    uint8_t (*zone)[CDNS_DNAME_MAX]; /* lowercase wire, longest first */
    cdns_fwd_set_t *sets;
    cdns_fwd_set_t upstream; /* upstreamNameservers (nup 0: use TO) */
    char *sig;               /* canonical text of the rules, to tell changes apart */
} cdns_fwd_stubs_t;

struct cdns_fwd {
    uint8_t from[CDNS_DNAME_MAX]; /* lowercase wire */
    uint8_t (*except)[CDNS_DNAME_MAX];
    size_t nexcept;
    cdns_fwd_set_t to;
    bool force_tcp, prefer_udp, failfast;
    uint64_t expire_ms;
    uint64_t read_timeout_ms;
    uint32_t max_fails;
    uint32_t max_connect_attempts; /* 0: no cap */
    uint64_t hc_ms;                /* 0: no health checking */
    bool hc_rd;
    uint8_t hc_domain[CDNS_DNAME_MAX];
    cdns_fwd_policy_t policy;
    long max_concurrent;                   /* 0: unlimited */
    uint32_t next_rcodes, failover_rcodes; /* bit per rcode 0..31 */
    bool next_on_nodata;
    struct sockaddr_storage source;
    bool has_source;
    _Atomic long concurrent;
    _Atomic unsigned rr;
    /* stub domains (kube-dns ConfigMap) */
    char *stub_dir;
    cdns_fwd_stubs_t *stubs; /* RCU-published; NULL when the directive has no stubdomains */
    uv_timer_t *stub_timer;  /* main loop; freed by its close callback */
    /* main loop: health checks (health.c); the handles live in hc, freed by their close callbacks */
    uv_loop_t *main_loop;
    struct cdns_fwd_hc *hc;
    bool started;
};

/* setup.c */
int cdns_fwd__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_fwd__teardown(void *inst);
/* Parses "IP", "IP:port", "[v6]:port", "dns://..." into an upstream. */
int cdns_fwd__parse_addr(const char *text, cdns_fwd_up_t *up);
/* Resolves metric series of an upstream (set-up, any thread). */
void cdns_fwd__up_metrics(cdns_fwd_up_t *up);

/* forward.c */
cdns_verdict_t cdns_fwd__serve(cdns_req_t *req, void *inst, void *ws);
/* Metrics the runtime updates (registered once). */
void cdns_fwd__metrics_init(void);
bool cdns_fwd__up_down(const cdns_fwd_t *f, const cdns_fwd_up_t *up);
void cdns_fwd__stubs_release(cdns_fwd_stubs_t *s);

/* health.c (main loop) */
int cdns_fwd__start(void *inst, uv_loop_t *loop);
void cdns_fwd__stop(void *inst);
/* Any thread: the upstream failed a query; probe it from the main loop. */
void cdns_fwd__kick(cdns_fwd_up_t *up);

/* stubdomains.c (main loop) */
int cdns_fwd__stubs_load(cdns_fwd_t *f, bool initial, char *why, size_t whylen);
void cdns_fwd__stubs_start(cdns_fwd_t *f, uv_loop_t *loop);
void cdns_fwd__stubs_stop(cdns_fwd_t *f);

#endif
