/* SPDX-License-Identifier: MIT */
/* k8s_internal.h — what the files of src/k8s share beyond the public contract in k8s.h.
 * Main thread only, like the rest of the module.
 */
#ifndef CDNS_K8S_INTERNAL_H
#define CDNS_K8S_INTERNAL_H

#include "cdns/k8s.h"

/* The loop the client runs on; watches put their timers on it. */
uv_loop_t *cdns_k8s__client_loop(const cdns_k8s_client_t *c);

/* ------------------------------------------------------------------ groups.c */
/* Which groups (a service with its endpoints, a pod, a namespace, the apex records) wrote
 * which owner names in the last build, so a change rebuilds only the names it touches. */
typedef struct cdns_k8s_groups cdns_k8s_groups_t;
typedef struct cdns_k8s__owner cdns_k8s__owner_t;

#define CDNS_K8S__G_SERVICE 's'
#define CDNS_K8S__G_POD 'p'
#define CDNS_K8S__G_NAMESPACE 'n'
#define CDNS_K8S__G_APEX 'a'

typedef struct cdns_k8s__group {
    uint32_t id;
    uint32_t hash;
    char kind;    /* CDNS_K8S__G_* */
    bool touched; /* changed since the last build: regenerate it and record its names */
    bool context; /* writes a dirty name with a touched group: regenerate it for that name */
    bool own;     /* a service whose endpoints hold one of our addresses (apex NS records) */
    char *ns, *name;
    cdns_k8s__owner_t **owners; /* the names it wrote, each once */
    size_t nowners, owners_cap;
    char key[]; /* "k:ns/name" */
} cdns_k8s__group_t;

/* Grows *p (an array of elem-sized items, *cap of them) to hold at least need, doubling. */
int cdns_k8s__grow(void **p, size_t *cap, size_t need, size_t elem);
cdns_k8s_groups_t *cdns_k8s__groups_new(void);
void cdns_k8s__groups_free(cdns_k8s_groups_t *g);
void cdns_k8s__groups_clear(cdns_k8s_groups_t *g);
/* The id of group (kind, ns, name); created when absent and create is set, else CDNS_ENOENT. */
int cdns_k8s__group_get(cdns_k8s_groups_t *g, char kind, const char *ns, const char *name, bool create, uint32_t *id);
cdns_k8s__group_t *cdns_k8s__group(const cdns_k8s_groups_t *g, uint32_t id); /* NULL: free id */
size_t cdns_k8s__group_count(const cdns_k8s_groups_t *g);                    /* ids in use or free */
/* Forgets every name the group wrote, marking each dirty. */
int cdns_k8s__group_release(cdns_k8s_groups_t *g, uint32_t gid);
/* Frees a group that writes nothing (its id is reused). */
int cdns_k8s__group_drop_if_empty(cdns_k8s_groups_t *g, uint32_t gid);
/* Records that group gid wrote records at owner (lowercase wire) and marks the owner dirty. */
int cdns_k8s__member_add(cdns_k8s_groups_t *g, uint32_t gid, const uint8_t *name, size_t len);
cdns_k8s__owner_t *cdns_k8s__owner_find(const cdns_k8s_groups_t *g, const uint8_t *name, size_t len);
void cdns_k8s__owner_groups(const cdns_k8s__owner_t *o, const uint32_t **ids, size_t *n);
const uint8_t *cdns_k8s__owner_name(const cdns_k8s__owner_t *o, size_t *len);
bool cdns_k8s__owner_is_dirty(const cdns_k8s__owner_t *o);
size_t cdns_k8s__owner_count(const cdns_k8s_groups_t *g);
/* The owners marked dirty since the last clear; clearing frees owners no group writes. */
void cdns_k8s__dirty_owners(const cdns_k8s_groups_t *g, cdns_k8s__owner_t *const **v, size_t *n);
void cdns_k8s__clear_dirty(cdns_k8s_groups_t *g);

#endif
