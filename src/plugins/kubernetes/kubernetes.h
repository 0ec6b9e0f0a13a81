/* SPDX-License-Identifier: MIT */
/* kubernetes.h — the plugin instance shared by setup.c (Corefile stanza) and kubernetes.c
 * (runtime). Private to this directory.
 */
#ifndef CDNS_PLUGIN_KUBERNETES_H
#define CDNS_PLUGIN_KUBERNETES_H

#include "cdns/k8s.h"
#include "cdns/plugin.h"

typedef struct uv_fs_poll_s uv_fs_poll_t;

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
    char *endpoint, *tls_cert, *tls_key, *tls_ca, *kubeconfig, *kube_context; /* API access (not used yet) */
    uint64_t startup_timeout_ms;
    char **local_ips; /* from bind at setup, else the interfaces at start */
    bool bound;       /* a bind directive chose them (even if none is usable) */
    size_t nlocal_ips;
    cdns_k8s_opts_t opts; /* points into the fields above */
    /* runtime (main thread) */
    cdns_k8s_index_t *idx;
    uv_fs_poll_t *poll;
    /* published to workers with cdns_rcu_swap */
    cdns_snapshot_t *snap;
} cdns_kube_t;

int cdns_kube__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_kube__teardown(void *inst);

#endif
