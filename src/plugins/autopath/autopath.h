/* SPDX-License-Identifier: MIT */
/* autopath.h — the autopath instance shared by setup.c and autopath.c. Private to this directory.
 */
#ifndef CDNS_PLUGIN_AUTOPATH_H
#define CDNS_PLUGIN_AUTOPATH_H

#include "cdns/k8s.h"
#include "cdns/plugin.h"

#define CDNS_AP_MAX_SEARCH 8

typedef struct uv_timer_s uv_timer_t;
typedef struct cdns_ap_table cdns_ap_table_t;

typedef struct cdns_ap {
    /* configuration (main thread at setup and link, then read-only) */
    uint8_t (*zones)[CDNS_DNAME_MAX]; /* lowercase wire: names autopath handles */
    size_t nzones;
    char *plugin;                                       /* "@kubernetes" without the @, or NULL */
    uint8_t search[CDNS_AP_MAX_SEARCH][CDNS_DNAME_MAX]; /* a resolv.conf's search list */
    size_t nsearch;
    void *kube;                        /* the kubernetes instance of the block (link) */
    uint8_t (*kzones)[CDNS_DNAME_MAX]; /* its zones, lowercase wire */
    size_t nkzones;
    /* main thread */
    uv_timer_t *timer;
    const void *version;
    /* published to workers */
    cdns_ap_table_t *table;
    int pos; /* this plugin's place in the chain (the same for every request) */
} cdns_ap_t;

int cdns_ap__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
int cdns_ap__link(void *inst, const cdns_chain_t *chain, cdns_diag_t *diag);
void cdns_ap__teardown(void *inst);
void cdns_ap__table_free(cdns_ap_table_t *t);
bool cdns_ap__under(const cdns_ap_t *ap, const uint8_t *lower);

#endif
