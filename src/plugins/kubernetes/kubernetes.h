/* SPDX-License-Identifier: MIT */
/* kubernetes.h — the plugin instance shared by setup.c (Corefile stanza) and kubernetes.c
 * (runtime). Private to this directory.
 */
#ifndef CDNS_PLUGIN_KUBERNETES_H
#define CDNS_PLUGIN_KUBERNETES_H

#include "cdns/k8s.h"
#include "cdns/plugin.h"

typedef struct uv_fs_poll_s uv_fs_poll_t;
typedef struct uv_timer_s uv_timer_t;
typedef struct cdns_metric cdns_metric_t;
typedef struct cdns_series cdns_series_t;

/* One event waiting for the next publish, for the programming-latency histogram. */
typedef struct cdns_kube_sample {
    uint64_t t_ns; /* when the change was triggered: Unix ns (trigger annotation) or mono ns */
    bool wall;     /* t_ns is wall-clock time */
    char ns[64], service[64];
} cdns_kube_sample_t;

#define CDNS_KUBE_MAX_SAMPLES 256

typedef struct cdns_kube {
    /* configuration (main thread writes at setup, then read-only) */
    char **zones; /* normalized text, owned */
    size_t nzones;
    uint8_t (*zone_wire)[CDNS_DNAME_MAX]; /* lowercase wire of each zone, for routing */
    bool fall;                            /* fallthrough given */
    uint8_t (*fall_wire)[CDNS_DNAME_MAX]; /* its zones (none: every zone) */
    size_t nfall;
    char **namespaces;
    size_t nnamespaces;
    cdns_k8s_selector_t labels, namespace_labels;
    bool has_labels, has_namespace_labels;
    char *objects; /* path of the List JSON file, absolute or Corefile-relative resolved */
    char *endpoint, *tls_cert, *tls_key, *tls_ca, *kubeconfig, *kube_context; /* API access */
    uint64_t startup_timeout_ms;
    uint64_t stall_ms;    /* watch_stall_timeout */
    uint64_t debounce_ms; /* debounce */
    unsigned page_size;   /* list_page_size */
    char **local_ips;     /* from bind at setup, else the interfaces at start */
    bool bound;           /* a bind directive chose them (even if none is usable) */
    size_t nlocal_ips;
    cdns_k8s_opts_t opts; /* points into the fields above */
    /* runtime (main thread) */
    cdns_k8s_index_t *idx;
    cdns_k8s_state_t *state; /* API mode: what the last build wrote, for incremental builds */
    uv_fs_poll_t *poll;
    /* API mode (main thread) */
    uv_loop_t *loop;
    cdns_k8s_client_t *client;
    cdns_k8s_watch_t **watches;
    size_t nwatches;
    uv_timer_t *debounce, *startup;
    uint64_t start_ns;
    bool publishing; /* initial lists done, or startup_timeout passed */
    bool dirty;      /* the index changed since the last build */
    cdns_kube_sample_t samples[CDNS_KUBE_MAX_SAMPLES];
    size_t nsamples;
    cdns_metric_t *m_prog, *m_forbidden, *m_build;
    /* read by workers and the HTTP thread (atomics) */
    bool synced; /* every initial LIST applied and published */
    /* published to workers with cdns_rcu_swap */
    cdns_snapshot_t *snap;
} cdns_kube_t;

int cdns_kube__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_kube__teardown(void *inst);

#endif
