/* SPDX-License-Identifier: MIT */
/* decode.c — Kubernetes API objects in JSON → the slim structs of k8s.h, and label selectors.
 *
 * Only the fields DNS needs are copied (CoreDNS's object/ package does the same for memory);
 * everything else in the document is ignored. Input comes from the API server or a file, so
 * nothing here asserts on it: a known kind missing its name is CDNS_EMALFORMED, an odd field
 * type is treated as absent. Main thread; every returned struct is malloc'd and owned by the
 * caller (cdns_k8s_object_free).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/k8s.h"

/* ------------------------------------------------------------------ helpers */
static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* strdup that keeps NULL as NULL; *fail is set when memory runs out. */
static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

static char *dup_or_empty(const char *s, bool *fail)
{
    return dup_or_null(s ? s : "", fail);
}

static void free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Copies the strings of a JSON array (non-strings and empty strings skipped). */
static int dup_str_array(const cJSON *arr, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return CDNS_OK;
    int cnt = cJSON_GetArraySize(arr);
    if (cnt <= 0)
        return CDNS_OK;
    char **v = calloc((size_t)cnt, sizeof(*v));
    if (!v)
        return CDNS_ENOMEM;
    size_t k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !it->valuestring || !it->valuestring[0])
            continue;
        if (!(v[k] = strdup(it->valuestring))) {
            free_strv(v, k);
            return CDNS_ENOMEM;
        }
        k++;
    }
    if (k == 0) {
        free(v);
        return CDNS_OK;
    }
    *out = v;
    *n = k;
    return CDNS_OK;
}

static void labels_free(cdns_k8s_labels_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int decode_labels(const cJSON *meta, cdns_k8s_labels_t *out)
{
    out->v = NULL;
    out->n = 0;
    const cJSON *labels = get(meta, "labels");
    if (!cJSON_IsObject(labels))
        return CDNS_OK;
    int cnt = cJSON_GetArraySize(labels);
    if (cnt <= 0)
        return CDNS_OK;
    out->v = calloc((size_t)cnt, sizeof(*out->v));
    if (!out->v)
        return CDNS_ENOMEM;
    const cJSON *it;
    cJSON_ArrayForEach(it, labels)
    {
        if (!it->string || !cJSON_IsString(it) || !it->valuestring)
            continue;
        cdns_k8s_label_t *l = &out->v[out->n];
        l->key = strdup(it->string);
        l->value = strdup(it->valuestring);
        out->n++;
        if (!l->key || !l->value) {
            labels_free(out);
            return CDNS_ENOMEM;
        }
    }
    return CDNS_OK;
}

const char *cdns_k8s_label(const cdns_k8s_labels_t *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].key, key) == 0)
            return l->v[i].value;
    return NULL;
}

static void ports_free(cdns_k8s_port_t *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].protocol);
    }
    free(p);
}

/* Ports of a Service or an EndpointSlice/subset. An empty list becomes one port -1, the
 * sentinel CoreDNS adds so that names still resolve while SRV records are left out. */
static int decode_ports(const cJSON *arr, cdns_k8s_port_t **out, size_t *n)
{
    int cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    size_t want = cnt > 0 ? (size_t)cnt : 1;
    cdns_k8s_port_t *p = calloc(want, sizeof(*p));
    if (!p)
        return CDNS_ENOMEM;
    bool fail = false;
    size_t k = 0;
    const cJSON *it;
    if (cnt > 0) {
        cJSON_ArrayForEach(it, arr)
        {
            if (!cJSON_IsObject(it))
                continue;
            const cJSON *port = get(it, "port");
            double v = cJSON_IsNumber(port) ? port->valuedouble : -1;
            p[k].port = (v >= 0 && v <= 65535) ? (int32_t)v : -1;
            p[k].name = dup_or_empty(get_str(it, "name"), &fail);
            p[k].protocol = dup_or_empty(get_str(it, "protocol"), &fail);
            k++;
        }
    }
    if (k == 0) {
        p[0].port = -1;
        p[0].name = dup_or_empty(NULL, &fail);
        p[0].protocol = dup_or_empty(NULL, &fail);
        k = 1;
    }
    if (fail) {
        ports_free(p, k);
        return CDNS_ENOMEM;
    }
    *out = p;
    *n = k;
    return CDNS_OK;
}

/* -------------------------------------------------------------------- frees */
/* While an object is being decoded its strings and arrays are separate allocations (freed by
 * the *_free_parts below on failure); once decoded it is packed into one block (see pack
 * below), which is what every other module sees and what cdns_k8s_*_free frees. */
static void service_free_parts(cdns_k8s_service_t *s)
{
    if (!s)
        return;
    free(s->ns);
    free(s->name);
    free_strv(s->cluster_ips, s->ncluster_ips);
    free(s->external_name);
    ports_free(s->ports, s->nports);
    labels_free(&s->labels);
    free(s);
}

static void endpoint_deinit(cdns_k8s_endpoint_t *e)
{
    free_strv(e->addresses, e->naddresses);
    free(e->hostname);
    free(e->pod);
}

static void endpoints_free_parts(cdns_k8s_endpoints_t *e)
{
    if (!e)
        return;
    free(e->ns);
    free(e->name);
    free(e->service);
    for (size_t g = 0; g < e->ngroups; g++) {
        cdns_k8s_epgroup_t *gr = &e->groups[g];
        for (size_t i = 0; i < gr->nendpoints; i++)
            endpoint_deinit(&gr->endpoints[i]);
        free(gr->endpoints);
        ports_free(gr->ports, gr->nports);
    }
    free(e->groups);
    labels_free(&e->labels);
    free(e);
}

static void pod_free_parts(cdns_k8s_pod_t *p)
{
    if (!p)
        return;
    free(p->ns);
    free(p->name);
    free_strv(p->ips, p->nips);
    labels_free(&p->labels);
    free(p);
}

static void namespace_free_parts(cdns_k8s_namespace_t *n)
{
    if (!n)
        return;
    free(n->name);
    labels_free(&n->labels);
    free(n);
}

void cdns_k8s_service_free(cdns_k8s_service_t *s)
{
    free(s);
}

void cdns_k8s_endpoints_free(cdns_k8s_endpoints_t *e)
{
    free(e);
}

void cdns_k8s_pod_free(cdns_k8s_pod_t *p)
{
    free(p);
}

void cdns_k8s_namespace_free(cdns_k8s_namespace_t *n)
{
    free(n);
}

void cdns_k8s_object_free(cdns_k8s_object_t *o)
{
    if (!o)
        return;
    switch (o->kind) {
    case CDNS_K8S_SERVICE:
        cdns_k8s_service_free(o->u.svc);
        break;
    case CDNS_K8S_ENDPOINTSLICE:
    case CDNS_K8S_ENDPOINTS:
        cdns_k8s_endpoints_free(o->u.eps);
        break;
    case CDNS_K8S_POD:
        cdns_k8s_pod_free(o->u.pod);
        break;
    case CDNS_K8S_NAMESPACE:
        cdns_k8s_namespace_free(o->u.ns);
        break;
    case CDNS_K8S_NONE:
        break;
    }
    o->kind = CDNS_K8S_NONE;
    o->u.ptr = NULL;
}

/* ------------------------------------------------------------------ objects */
cdns_k8s_kind_t cdns_k8s_kind_from_name(const char *kind)
{
    if (!kind)
        return CDNS_K8S_NONE;
    if (strcmp(kind, "Service") == 0)
        return CDNS_K8S_SERVICE;
    if (strcmp(kind, "EndpointSlice") == 0)
        return CDNS_K8S_ENDPOINTSLICE;
    if (strcmp(kind, "Endpoints") == 0)
        return CDNS_K8S_ENDPOINTS;
    if (strcmp(kind, "Pod") == 0)
        return CDNS_K8S_POD;
    if (strcmp(kind, "Namespace") == 0)
        return CDNS_K8S_NAMESPACE;
    return CDNS_K8S_NONE;
}

/* metadata.namespace and metadata.name, both required (namespace not for Namespaces). */
static int decode_meta(const cJSON *obj, bool namespaced, const cJSON **meta, const char **ns, const char **name)
{
    *meta = get(obj, "metadata");
    *name = get_str(*meta, "name");
    *ns = get_str(*meta, "namespace");
    if (!*name || !**name)
        return CDNS_EMALFORMED;
    if (namespaced && (!*ns || !**ns))
        return CDNS_EMALFORMED;
    return CDNS_OK;
}

static int decode_service(const cJSON *obj, cdns_k8s_service_t **out)
{
    const cJSON *meta;
    const char *ns, *name;
    int rc = decode_meta(obj, true, &meta, &ns, &name);
    if (rc != CDNS_OK)
        return rc;
    const cJSON *spec = get(obj, "spec");
    cdns_k8s_service_t *s = calloc(1, sizeof(*s));
    if (!s)
        return CDNS_ENOMEM;
    bool fail = false;
    rc = CDNS_ENOMEM;
    s->ns = dup_or_null(ns, &fail);
    s->name = dup_or_null(name, &fail);
    if (fail)
        goto fail;
    const char *type = get_str(spec, "type");
    s->type = (type && strcmp(type, "ExternalName") == 0) ? CDNS_K8S_SVC_EXTERNALNAME : CDNS_K8S_SVC_CLUSTERIP;
    if (s->type == CDNS_K8S_SVC_EXTERNALNAME) {
        s->external_name = dup_or_null(get_str(spec, "externalName"), &fail);
    } else {
        if (dup_str_array(get(spec, "clusterIPs"), &s->cluster_ips, &s->ncluster_ips) != CDNS_OK)
            goto fail;
        const char *cip = get_str(spec, "clusterIP");
        if (s->ncluster_ips == 0 && cip && *cip) {
            s->cluster_ips = calloc(1, sizeof(char *));
            if (!s->cluster_ips)
                goto fail;
            s->cluster_ips[0] = dup_or_null(cip, &fail);
            s->ncluster_ips = 1;
        }
    }
    if (fail || decode_ports(get(spec, "ports"), &s->ports, &s->nports) != CDNS_OK)
        goto fail;
    s->publish_not_ready = cJSON_IsTrue(get(spec, "publishNotReadyAddresses"));
    if (decode_labels(meta, &s->labels) != CDNS_OK)
        goto fail;
    *out = s;
    return CDNS_OK;
fail:
    service_free_parts(s);
    return rc;
}

/* targetRef → pod name, when the target is a Pod (kind absent counts as Pod, as in old objects). */
static const char *target_pod(const cJSON *ep)
{
    const cJSON *ref = get(ep, "targetRef");
    const char *kind = get_str(ref, "kind");
    if (kind && strcmp(kind, "Pod") != 0)
        return NULL;
    const char *name = get_str(ref, "name");
    return name && *name ? name : NULL;
}

static int decode_slice(const cJSON *obj, cdns_k8s_endpoints_t **out)
{
    const cJSON *meta;
    const char *ns, *name;
    int rc = decode_meta(obj, true, &meta, &ns, &name);
    if (rc != CDNS_OK)
        return rc;
    cdns_k8s_endpoints_t *e = calloc(1, sizeof(*e));
    if (!e)
        return CDNS_ENOMEM;
    bool fail = false;
    rc = CDNS_ENOMEM;
    e->is_slice = true;
    e->ns = dup_or_null(ns, &fail);
    e->name = dup_or_null(name, &fail);
    if (fail || decode_labels(meta, &e->labels) != CDNS_OK)
        goto fail;
    /* A slice without the service-name label belongs to no service (CoreDNS indexes it under
     * an empty name, which no query reaches); keep it so the "slices exist" rule still sees it. */
    e->service = dup_or_empty(cdns_k8s_label(&e->labels, "kubernetes.io/service-name"), &fail);
    e->groups = calloc(1, sizeof(*e->groups));
    if (fail || !e->groups)
        goto fail;
    e->ngroups = 1;
    cdns_k8s_epgroup_t *g = &e->groups[0];
    if (decode_ports(get(obj, "ports"), &g->ports, &g->nports) != CDNS_OK)
        goto fail;
    const cJSON *eps = get(obj, "endpoints");
    int cnt = cJSON_IsArray(eps) ? cJSON_GetArraySize(eps) : 0;
    if (cnt > 0) {
        g->endpoints = calloc((size_t)cnt, sizeof(*g->endpoints));
        if (!g->endpoints)
            goto fail;
        const cJSON *it;
        cJSON_ArrayForEach(it, eps)
        {
            if (!cJSON_IsObject(it))
                continue;
            cdns_k8s_endpoint_t *ep = &g->endpoints[g->nendpoints];
            if (dup_str_array(get(it, "addresses"), &ep->addresses, &ep->naddresses) != CDNS_OK)
                goto fail;
            g->nendpoints++;
            /* conditions.ready: nil means ready (the API documents unknown as ready). */
            const cJSON *ready = get(get(it, "conditions"), "ready");
            ep->ready = !cJSON_IsFalse(ready);
            ep->hostname = dup_or_null(get_str(it, "hostname"), &fail);
            ep->pod = dup_or_null(target_pod(it), &fail);
            if (fail)
                goto fail;
        }
    }
    *out = e;
    return CDNS_OK;
fail:
    endpoints_free_parts(e);
    return rc;
}

/* Adds the addresses of a core/v1 subset list ("addresses" or "notReadyAddresses"): each
 * address becomes one endpoint, as an EndpointSlice would hold it. */
static int add_v1_addresses(cdns_k8s_epgroup_t *g, const cJSON *arr, bool ready)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const char *ip = get_str(it, "ip");
        if (!ip || !*ip)
            continue;
        cdns_k8s_endpoint_t *ep = &g->endpoints[g->nendpoints];
        bool fail = false;
        ep->addresses = calloc(1, sizeof(char *));
        if (!ep->addresses)
            return CDNS_ENOMEM;
        g->nendpoints++;
        ep->addresses[0] = dup_or_null(ip, &fail);
        ep->naddresses = ep->addresses[0] ? 1 : 0;
        ep->ready = ready;
        ep->hostname = dup_or_null(get_str(it, "hostname"), &fail);
        ep->pod = dup_or_null(target_pod(it), &fail);
        if (fail)
            return CDNS_ENOMEM;
    }
    return CDNS_OK;
}

static int decode_v1_endpoints(const cJSON *obj, cdns_k8s_endpoints_t **out)
{
    const cJSON *meta;
    const char *ns, *name;
    int rc = decode_meta(obj, true, &meta, &ns, &name);
    if (rc != CDNS_OK)
        return rc;
    cdns_k8s_endpoints_t *e = calloc(1, sizeof(*e));
    if (!e)
        return CDNS_ENOMEM;
    bool fail = false;
    rc = CDNS_ENOMEM;
    e->ns = dup_or_null(ns, &fail);
    e->name = dup_or_null(name, &fail);
    e->service = dup_or_null(name, &fail); /* core/v1 Endpoints are named after their service */
    if (fail || decode_labels(meta, &e->labels) != CDNS_OK)
        goto fail;
    const cJSON *subsets = get(obj, "subsets");
    int cnt = cJSON_IsArray(subsets) ? cJSON_GetArraySize(subsets) : 0;
    if (cnt > 0) {
        e->groups = calloc((size_t)cnt, sizeof(*e->groups));
        if (!e->groups)
            goto fail;
        const cJSON *sub;
        cJSON_ArrayForEach(sub, subsets)
        {
            if (!cJSON_IsObject(sub))
                continue;
            cdns_k8s_epgroup_t *g = &e->groups[e->ngroups++];
            const cJSON *ready = get(sub, "addresses"), *notready = get(sub, "notReadyAddresses");
            int n1 = cJSON_IsArray(ready) ? cJSON_GetArraySize(ready) : 0;
            int n2 = cJSON_IsArray(notready) ? cJSON_GetArraySize(notready) : 0;
            if (decode_ports(get(sub, "ports"), &g->ports, &g->nports) != CDNS_OK)
                goto fail;
            if (n1 + n2 == 0)
                continue;
            g->endpoints = calloc((size_t)(n1 + n2), sizeof(*g->endpoints));
            if (!g->endpoints)
                goto fail;
            if ((n1 && add_v1_addresses(g, ready, true) != CDNS_OK) ||
                (n2 && add_v1_addresses(g, notready, false) != CDNS_OK))
                goto fail;
        }
    }
    *out = e;
    return CDNS_OK;
fail:
    endpoints_free_parts(e);
    return rc;
}

static int decode_pod(const cJSON *obj, cdns_k8s_pod_t **out)
{
    const cJSON *meta;
    const char *ns, *name;
    int rc = decode_meta(obj, true, &meta, &ns, &name);
    if (rc != CDNS_OK)
        return rc;
    cdns_k8s_pod_t *p = calloc(1, sizeof(*p));
    if (!p)
        return CDNS_ENOMEM;
    bool fail = false;
    rc = CDNS_ENOMEM;
    p->ns = dup_or_null(ns, &fail);
    p->name = dup_or_null(name, &fail);
    if (fail || decode_labels(meta, &p->labels) != CDNS_OK)
        goto fail;
    const cJSON *status = get(obj, "status");
    const cJSON *ips = get(status, "podIPs");
    if (cJSON_IsArray(ips) && cJSON_GetArraySize(ips) > 0) {
        p->ips = calloc((size_t)cJSON_GetArraySize(ips), sizeof(char *));
        if (!p->ips)
            goto fail;
        const cJSON *it;
        cJSON_ArrayForEach(it, ips)
        {
            const char *ip = get_str(it, "ip");
            if (!ip || !*ip)
                continue;
            if (!(p->ips[p->nips] = strdup(ip)))
                goto fail;
            p->nips++;
        }
    }
    const char *ip = get_str(status, "podIP");
    if (p->nips == 0 && ip && *ip) {
        free(p->ips);
        p->ips = calloc(1, sizeof(char *));
        if (!p->ips || !(p->ips[0] = strdup(ip)))
            goto fail;
        p->nips = 1;
    }
    const cJSON *del = get(meta, "deletionTimestamp");
    p->terminating = del && !cJSON_IsNull(del);
    *out = p;
    return CDNS_OK;
fail:
    pod_free_parts(p);
    return rc;
}

static int decode_namespace(const cJSON *obj, cdns_k8s_namespace_t **out)
{
    const cJSON *meta;
    const char *ns, *name;
    int rc = decode_meta(obj, false, &meta, &ns, &name);
    if (rc != CDNS_OK)
        return rc;
    cdns_k8s_namespace_t *n = calloc(1, sizeof(*n));
    if (!n)
        return CDNS_ENOMEM;
    if (!(n->name = strdup(name)) || decode_labels(meta, &n->labels) != CDNS_OK) {
        namespace_free_parts(n);
        return CDNS_ENOMEM;
    }
    *out = n;
    return CDNS_OK;
}

/* ---------------------------------------------------------------------- pack */
/* A decoded object is a dozen to a few hundred small allocations (each string, each array);
 * malloc's per-chunk overhead and rounding about doubled an index. Packing copies it into one
 * block: the same walk runs twice, first with no block to measure it, then to fill it, so the
 * two can never disagree about the layout. */
typedef struct pk {
    uint8_t *base; /* NULL while measuring */
    size_t off;
} pk_t;

static void *pk_take(pk_t *k, size_t n, size_t align)
{
    k->off = (k->off + align - 1) / align * align;
    void *p = k->base ? k->base + k->off : NULL;
    k->off += n;
    return p;
}

static char *pk_str(pk_t *k, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = pk_take(k, n, 1);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char **pk_strv(pk_t *k, char *const *v, size_t n)
{
    if (!v)
        return NULL;
    char **d = pk_take(k, n * sizeof(char *), _Alignof(char *));
    for (size_t i = 0; i < n; i++) {
        char *c = pk_str(k, v[i]);
        if (d)
            d[i] = c;
    }
    return d;
}

static cdns_k8s_port_t *pk_ports(pk_t *k, const cdns_k8s_port_t *p, size_t n)
{
    if (!p)
        return NULL;
    cdns_k8s_port_t *d = pk_take(k, n * sizeof(*d), _Alignof(cdns_k8s_port_t));
    for (size_t i = 0; i < n; i++) {
        char *name = pk_str(k, p[i].name), *proto = pk_str(k, p[i].protocol);
        if (d)
            d[i] = (cdns_k8s_port_t){.name = name, .protocol = proto, .port = p[i].port};
    }
    return d;
}

static cdns_k8s_labels_t pk_labels(pk_t *k, const cdns_k8s_labels_t *l)
{
    cdns_k8s_labels_t out = {.v = NULL, .n = l->n};
    if (!l->v)
        return out;
    out.v = pk_take(k, l->n * sizeof(*out.v), _Alignof(cdns_k8s_label_t));
    for (size_t i = 0; i < l->n; i++) {
        char *key = pk_str(k, l->v[i].key), *value = pk_str(k, l->v[i].value);
        if (out.v)
            out.v[i] = (cdns_k8s_label_t){.key = key, .value = value};
    }
    return out;
}

static void *pk_service(pk_t *k, const cdns_k8s_service_t *s)
{
    cdns_k8s_service_t *d = pk_take(k, sizeof(*d), _Alignof(cdns_k8s_service_t));
    cdns_k8s_service_t v = *s;
    v.ns = pk_str(k, s->ns);
    v.name = pk_str(k, s->name);
    v.cluster_ips = pk_strv(k, s->cluster_ips, s->ncluster_ips);
    v.external_name = pk_str(k, s->external_name);
    v.ports = pk_ports(k, s->ports, s->nports);
    v.labels = pk_labels(k, &s->labels);
    if (d)
        *d = v;
    return d;
}

static void *pk_endpoints(pk_t *k, const cdns_k8s_endpoints_t *e)
{
    cdns_k8s_endpoints_t *d = pk_take(k, sizeof(*d), _Alignof(cdns_k8s_endpoints_t));
    cdns_k8s_endpoints_t v = *e;
    v.ns = pk_str(k, e->ns);
    v.name = pk_str(k, e->name);
    v.service = pk_str(k, e->service);
    v.labels = pk_labels(k, &e->labels);
    v.groups = e->groups ? pk_take(k, e->ngroups * sizeof(*v.groups), _Alignof(cdns_k8s_epgroup_t)) : NULL;
    for (size_t g = 0; g < e->ngroups; g++) {
        const cdns_k8s_epgroup_t *sg = &e->groups[g];
        cdns_k8s_epgroup_t dg = *sg;
        dg.ports = pk_ports(k, sg->ports, sg->nports);
        dg.endpoints =
            sg->endpoints ? pk_take(k, sg->nendpoints * sizeof(*dg.endpoints), _Alignof(cdns_k8s_endpoint_t)) : NULL;
        for (size_t i = 0; i < sg->nendpoints; i++) {
            const cdns_k8s_endpoint_t *se = &sg->endpoints[i];
            cdns_k8s_endpoint_t de = *se;
            de.addresses = pk_strv(k, se->addresses, se->naddresses);
            de.hostname = pk_str(k, se->hostname);
            de.pod = pk_str(k, se->pod);
            if (dg.endpoints)
                dg.endpoints[i] = de;
        }
        if (v.groups)
            v.groups[g] = dg;
    }
    if (d)
        *d = v;
    return d;
}

static void *pk_pod(pk_t *k, const cdns_k8s_pod_t *p)
{
    cdns_k8s_pod_t *d = pk_take(k, sizeof(*d), _Alignof(cdns_k8s_pod_t));
    cdns_k8s_pod_t v = *p;
    v.ns = pk_str(k, p->ns);
    v.name = pk_str(k, p->name);
    v.ips = pk_strv(k, p->ips, p->nips);
    v.labels = pk_labels(k, &p->labels);
    if (d)
        *d = v;
    return d;
}

static void *pk_namespace(pk_t *k, const cdns_k8s_namespace_t *n)
{
    cdns_k8s_namespace_t *d = pk_take(k, sizeof(*d), _Alignof(cdns_k8s_namespace_t));
    cdns_k8s_namespace_t v = *n;
    v.name = pk_str(k, n->name);
    v.labels = pk_labels(k, &n->labels);
    if (d)
        *d = v;
    return d;
}

static void *pk_object(pk_t *k, const cdns_k8s_object_t *o)
{
    switch (o->kind) {
    case CDNS_K8S_SERVICE:
        return pk_service(k, o->u.svc);
    case CDNS_K8S_ENDPOINTSLICE:
    case CDNS_K8S_ENDPOINTS:
        return pk_endpoints(k, o->u.eps);
    case CDNS_K8S_POD:
        return pk_pod(k, o->u.pod);
    case CDNS_K8S_NAMESPACE:
        return pk_namespace(k, o->u.ns);
    case CDNS_K8S_NONE:
        break;
    }
    return NULL;
}

static void free_parts(cdns_k8s_object_t *o)
{
    switch (o->kind) {
    case CDNS_K8S_SERVICE:
        service_free_parts(o->u.svc);
        break;
    case CDNS_K8S_ENDPOINTSLICE:
    case CDNS_K8S_ENDPOINTS:
        endpoints_free_parts(o->u.eps);
        break;
    case CDNS_K8S_POD:
        pod_free_parts(o->u.pod);
        break;
    case CDNS_K8S_NAMESPACE:
        namespace_free_parts(o->u.ns);
        break;
    case CDNS_K8S_NONE:
        break;
    }
}

/* Replaces the decoded object with its packed copy (the parts are freed either way). */
static int pack(cdns_k8s_object_t *o)
{
    pk_t k = {NULL, 0};
    pk_object(&k, o);
    pk_t fill = {malloc(k.off), 0};
    void *packed = fill.base ? pk_object(&fill, o) : NULL;
    free_parts(o);
    o->u.ptr = packed;
    if (!packed) {
        o->kind = CDNS_K8S_NONE;
        return CDNS_ENOMEM;
    }
    return CDNS_OK;
}

int cdns_k8s_decode(const cJSON *json, cdns_k8s_kind_t kind_hint, cdns_k8s_object_t *out)
{
    out->kind = CDNS_K8S_NONE;
    out->u.ptr = NULL;
    if (!cJSON_IsObject(json))
        return CDNS_EMALFORMED;
    const char *kname = get_str(json, "kind");
    cdns_k8s_kind_t kind = kname ? cdns_k8s_kind_from_name(kname) : kind_hint;
    int rc = CDNS_OK;
    switch (kind) {
    case CDNS_K8S_SERVICE:
        rc = decode_service(json, &out->u.svc);
        break;
    case CDNS_K8S_ENDPOINTSLICE:
        rc = decode_slice(json, &out->u.eps);
        break;
    case CDNS_K8S_ENDPOINTS:
        rc = decode_v1_endpoints(json, &out->u.eps);
        break;
    case CDNS_K8S_POD:
        rc = decode_pod(json, &out->u.pod);
        break;
    case CDNS_K8S_NAMESPACE:
        rc = decode_namespace(json, &out->u.ns);
        break;
    case CDNS_K8S_NONE:
        return CDNS_OK;
    }
    if (rc != CDNS_OK) {
        out->u.ptr = NULL;
        return rc;
    }
    out->kind = kind;
    return pack(out);
}

/* ----------------------------------------------------------------- selector */
static void sel_req_deinit(cdns_k8s_sel_req_t *r)
{
    free(r->key);
    free_strv(r->values, r->nvalues);
}

void cdns_k8s_selector_deinit(cdns_k8s_selector_t *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++)
        sel_req_deinit(&sel->reqs[i]);
    free(sel->reqs);
    sel->reqs = NULL;
    sel->n = 0;
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '/';
}

static bool is_value_char(char c)
{
    return is_key_char(c) && c != '/';
}

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* A run of chars accepted by ok(), copied; NULL (and *p unmoved) when it is empty and !allow_empty. */
static char *take_token(const char **p, bool (*ok)(char), bool allow_empty, bool *oom)
{
    const char *s = *p;
    while (ok(**p))
        (*p)++;
    size_t n = (size_t)(*p - s);
    if (n == 0 && !allow_empty)
        return NULL;
    char *t = strndup(s, n);
    if (!t)
        *oom = true;
    return t;
}

static int push_value(cdns_k8s_sel_req_t *r, char *v)
{
    char **nv = realloc(r->values, (r->nvalues + 1) * sizeof(*nv));
    if (!nv) {
        free(v);
        return CDNS_ENOMEM;
    }
    r->values = nv;
    r->values[r->nvalues++] = v;
    return CDNS_OK;
}

static bool word_at(const char *p, const char *w)
{
    size_t n = strlen(w);
    return strncmp(p, w, n) == 0 && (p[n] == ' ' || p[n] == '\t' || p[n] == '(');
}

int cdns_k8s_selector_parse(const char *text, cdns_k8s_selector_t *sel, char *err, size_t errlen)
{
    sel->reqs = NULL;
    sel->n = 0;
    const char *p = text;
    bool oom = false;
    const char *why = NULL;
    cdns_k8s_sel_req_t r = {0};
    skip_ws(&p);
    if (!*p) {
        why = "empty selector";
        goto fail;
    }
    for (;;) {
        memset(&r, 0, sizeof(r));
        skip_ws(&p);
        bool negate = false;
        if (*p == '!') {
            negate = true;
            p++;
            skip_ws(&p);
        }
        if (!(r.key = take_token(&p, is_key_char, false, &oom))) {
            why = oom ? "out of memory" : "expected a label key";
            goto fail;
        }
        skip_ws(&p);
        if (negate) {
            r.op = CDNS_K8S_SEL_NOTEXISTS;
        } else if (*p == ',' || *p == '\0') {
            r.op = CDNS_K8S_SEL_EXISTS;
        } else if (p[0] == '!' && p[1] == '=') {
            r.op = CDNS_K8S_SEL_NE;
            p += 2;
        } else if (p[0] == '=' && p[1] == '=') {
            r.op = CDNS_K8S_SEL_EQ;
            p += 2;
        } else if (p[0] == '=') {
            r.op = CDNS_K8S_SEL_EQ;
            p += 1;
        } else if (word_at(p, "in")) {
            r.op = CDNS_K8S_SEL_IN;
            p += 2;
        } else if (word_at(p, "notin")) {
            r.op = CDNS_K8S_SEL_NOTIN;
            p += 5;
        } else {
            why = "expected one of '=', '==', '!=', 'in', 'notin', ',' after a key";
            goto fail;
        }
        if (r.op == CDNS_K8S_SEL_EQ || r.op == CDNS_K8S_SEL_NE) {
            skip_ws(&p);
            char *v = take_token(&p, is_value_char, true, &oom);
            if (!v || push_value(&r, v) != CDNS_OK) {
                why = "out of memory";
                oom = true;
                goto fail;
            }
        } else if (r.op == CDNS_K8S_SEL_IN || r.op == CDNS_K8S_SEL_NOTIN) {
            skip_ws(&p);
            if (*p != '(') {
                why = "expected '(' after in/notin";
                goto fail;
            }
            p++;
            for (;;) {
                skip_ws(&p);
                /* Kubernetes rejects empty sets and empty members: "in ()" selects nothing useful. */
                char *v = take_token(&p, is_value_char, false, &oom);
                if (!v) {
                    why = oom ? "out of memory" : "expected a value in the set";
                    goto fail;
                }
                if (push_value(&r, v) != CDNS_OK) {
                    why = "out of memory";
                    oom = true;
                    goto fail;
                }
                skip_ws(&p);
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p == ')') {
                    p++;
                    break;
                }
                why = "expected ',' or ')' in a value set";
                goto fail;
            }
        }
        cdns_k8s_sel_req_t *nr = realloc(sel->reqs, (sel->n + 1) * sizeof(*nr));
        if (!nr) {
            why = "out of memory";
            oom = true;
            goto fail;
        }
        sel->reqs = nr;
        sel->reqs[sel->n++] = r;
        memset(&r, 0, sizeof(r));
        skip_ws(&p);
        if (*p == '\0')
            break;
        if (*p != ',') {
            why = "expected ',' between requirements";
            goto fail;
        }
        p++;
    }
    return CDNS_OK;
fail:
    sel_req_deinit(&r);
    cdns_k8s_selector_deinit(sel);
    if (err && errlen)
        snprintf(err, errlen, "%s at offset %zu", why ? why : "invalid selector", (size_t)(p - text));
    return oom ? CDNS_ENOMEM : CDNS_EINVAL;
}

bool cdns_k8s_selector_match(const cdns_k8s_selector_t *sel, const cdns_k8s_labels_t *labels)
{
    if (!sel)
        return true;
    for (size_t i = 0; i < sel->n; i++) {
        const cdns_k8s_sel_req_t *r = &sel->reqs[i];
        const char *v = cdns_k8s_label(labels, r->key);
        bool in = false;
        for (size_t j = 0; v && j < r->nvalues; j++)
            if (strcmp(v, r->values[j]) == 0)
                in = true;
        switch (r->op) {
        case CDNS_K8S_SEL_EQ:
        case CDNS_K8S_SEL_IN:
            if (!in)
                return false;
            break;
        case CDNS_K8S_SEL_NE:
        case CDNS_K8S_SEL_NOTIN:
            if (in)
                return false;
            break;
        case CDNS_K8S_SEL_EXISTS:
            if (!v)
                return false;
            break;
        case CDNS_K8S_SEL_NOTEXISTS:
            if (v)
                return false;
            break;
        }
    }
    return true;
}
