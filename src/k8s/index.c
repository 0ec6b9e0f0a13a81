/* SPDX-License-Identifier: MIT */
/* index.c — the mutable set of Kubernetes objects DNS is built from.
 *
 * One hash map per kind keyed by "namespace/name" (a Namespace by its name), plus a secondary
 * map from "namespace/service" to the EndpointSlices that carry that service-name label, so a
 * build finds a service's slices without scanning. Upsert/delete keep both in step, which is
 * what a watch needs; a List load is a series of upserts. Main thread only; the index owns
 * every object in it.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdns/k8s.h"

/* --------------------------------------------------------------- hash map */
typedef struct hent {
    char *key;
    uint32_t hash;
    uint32_t seq; /* when the key was first stored: cdns_k8s_index_each_inserted's order */
    void *val;
    uint64_t gen; /* the relist that last stored it (cdns_k8s_index_upsert_gen) */
    struct hent *next;
} hent_t;

typedef struct hmap {
    hent_t **b;
    size_t nb;
    size_t n;
    uint32_t next_seq;
} hmap_t;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static hent_t *hmap_find(const hmap_t *m, const char *key)
{
    if (!m->nb)
        return NULL;
    uint32_t h = hash_str(key);
    for (hent_t *e = m->b[h & (m->nb - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static int hmap_grow(hmap_t *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    hent_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        hent_t *e = m->b[i];
        while (e) {
            hent_t *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return CDNS_OK;
}

/* Inserts key → val; an existing entry's value is replaced and returned in *old. */
static int hmap_put(hmap_t *m, const char *key, void *val, uint64_t gen, void **old)
{
    *old = NULL;
    hent_t *e = hmap_find(m, key);
    if (e) {
        *old = e->val;
        e->val = val;
        e->gen = gen;
        return CDNS_OK;
    }
    if (m->n + 1 > m->nb && hmap_grow(m) != CDNS_OK)
        return CDNS_ENOMEM;
    e = calloc(1, sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return CDNS_ENOMEM;
    }
    e->hash = hash_str(key);
    e->seq = m->next_seq++;
    e->val = val;
    e->gen = gen;
    e->next = m->b[e->hash & (m->nb - 1)];
    m->b[e->hash & (m->nb - 1)] = e;
    m->n++;
    return CDNS_OK;
}

/* Removes key and returns its value (NULL when absent). */
static void *hmap_del(hmap_t *m, const char *key)
{
    if (!m->nb)
        return NULL;
    uint32_t h = hash_str(key);
    for (hent_t **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
        hent_t *e = *pp;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            void *v = e->val;
            *pp = e->next;
            free(e->key);
            free(e);
            m->n--;
            return v;
        }
    }
    return NULL;
}

static void hmap_clear(hmap_t *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        hent_t *e = m->b[i];
        while (e) {
            hent_t *next = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->nb = 0;
    m->n = 0;
}

/* ------------------------------------------------------------------- index */
typedef struct slice_list {
    cdns_k8s_endpoints_t **v;
    size_t n, cap;
} slice_list_t;

struct cdns_k8s_index {
    hmap_t kinds[CDNS_K8S_NAMESPACE + 1]; /* by cdns_k8s_kind_t; [NONE] unused */
    hmap_t slices_by_svc;                 /* "ns/service" → slice_list_t */
    uint64_t last_gen;                    /* the last relist generation handed out */
    bool slices_pinned;                   /* a consuming build released slices: still "uses slices" */
};

static void free_svc(void *p)
{
    cdns_k8s_service_free(p);
}
static void free_eps(void *p)
{
    cdns_k8s_endpoints_free(p);
}
static void free_pod(void *p)
{
    cdns_k8s_pod_free(p);
}
static void free_ns(void *p)
{
    cdns_k8s_namespace_free(p);
}
static void free_list(void *p)
{
    slice_list_t *l = p;
    free(l->v);
    free(l);
}

static void (*const kind_free[])(void *) = {
    [CDNS_K8S_SERVICE] = free_svc, [CDNS_K8S_ENDPOINTSLICE] = free_eps, [CDNS_K8S_ENDPOINTS] = free_eps,
    [CDNS_K8S_POD] = free_pod,     [CDNS_K8S_NAMESPACE] = free_ns,
};

cdns_k8s_index_t *cdns_k8s_index_new(void)
{
    return calloc(1, sizeof(cdns_k8s_index_t));
}

void cdns_k8s_index_clear(cdns_k8s_index_t *idx)
{
    hmap_clear(&idx->slices_by_svc, free_list);
    for (int k = CDNS_K8S_SERVICE; k <= CDNS_K8S_NAMESPACE; k++)
        hmap_clear(&idx->kinds[k], kind_free[k]);
}

void cdns_k8s_index_free(cdns_k8s_index_t *idx)
{
    if (!idx)
        return;
    cdns_k8s_index_clear(idx);
    free(idx);
}

size_t cdns_k8s_index_count(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind)
{
    if (kind <= CDNS_K8S_NONE || kind > CDNS_K8S_NAMESPACE)
        return 0;
    return idx->kinds[kind].n;
}

bool cdns_k8s_index_uses_slices(const cdns_k8s_index_t *idx)
{
    return idx->kinds[CDNS_K8S_ENDPOINTSLICE].n > 0 || idx->slices_pinned;
}

/* "ns/name" into buf, or a malloc'd string when it does not fit (*heap set). */
static char *make_key(const char *ns, const char *name, char *buf, size_t len, bool *heap)
{
    *heap = false;
    size_t need = (ns ? strlen(ns) + 1 : 0) + strlen(name) + 1;
    char *k = buf;
    if (need > len) {
        if (!(k = malloc(need)))
            return NULL;
        *heap = true;
    }
    if (ns)
        snprintf(k, need, "%s/%s", ns, name);
    else
        snprintf(k, need, "%s", name);
    return k;
}

static int slice_link(cdns_k8s_index_t *idx, cdns_k8s_endpoints_t *e)
{
    char buf[256];
    bool heap;
    char *key = make_key(e->ns, e->service, buf, sizeof(buf), &heap);
    if (!key)
        return CDNS_ENOMEM;
    int rc = CDNS_ENOMEM;
    hent_t *h = hmap_find(&idx->slices_by_svc, key);
    slice_list_t *l = h ? h->val : NULL;
    if (!l) {
        void *old;
        if (!(l = calloc(1, sizeof(*l))))
            goto out;
        if (hmap_put(&idx->slices_by_svc, key, l, 0, &old) != CDNS_OK) {
            free(l);
            goto out;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        cdns_k8s_endpoints_t **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            goto out;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = e;
    rc = CDNS_OK;
out:
    if (heap)
        free(key);
    return rc;
}

static void slice_unlink(cdns_k8s_index_t *idx, const cdns_k8s_endpoints_t *e)
{
    char buf[256];
    bool heap;
    char *key = make_key(e->ns, e->service, buf, sizeof(buf), &heap);
    if (!key)
        return;
    hent_t *h = hmap_find(&idx->slices_by_svc, key);
    slice_list_t *l = h ? h->val : NULL;
    for (size_t i = 0; l && i < l->n; i++) {
        if (l->v[i] == e) {
            l->v[i] = l->v[--l->n];
            break;
        }
    }
    if (l && l->n == 0)
        free_list(hmap_del(&idx->slices_by_svc, key));
    if (heap)
        free(key);
}

static void obj_ident(const cdns_k8s_object_t *o, const char **ns, const char **name)
{
    switch (o->kind) {
    case CDNS_K8S_SERVICE:
        *ns = o->u.svc->ns;
        *name = o->u.svc->name;
        break;
    case CDNS_K8S_ENDPOINTSLICE:
    case CDNS_K8S_ENDPOINTS:
        *ns = o->u.eps->ns;
        *name = o->u.eps->name;
        break;
    case CDNS_K8S_POD:
        *ns = o->u.pod->ns;
        *name = o->u.pod->name;
        break;
    case CDNS_K8S_NAMESPACE:
        *ns = NULL;
        *name = o->u.ns->name;
        break;
    case CDNS_K8S_NONE:
        break;
    }
}

int cdns_k8s_index_upsert(cdns_k8s_index_t *idx, cdns_k8s_object_t *o)
{
    return cdns_k8s_index_upsert_gen(idx, o, 0);
}

int cdns_k8s_index_upsert_gen(cdns_k8s_index_t *idx, cdns_k8s_object_t *o, uint64_t gen)
{
    if (o->kind == CDNS_K8S_NONE)
        return CDNS_OK;
    const char *ns = NULL, *name = NULL;
    obj_ident(o, &ns, &name);
    if (!name)
        return CDNS_EINVAL; /* not an object of a kind this index keeps */
    char buf[256];
    bool heap;
    int rc = CDNS_ENOMEM;
    cdns_k8s_kind_t kind = o->kind;
    char *key = make_key(ns, name, buf, sizeof(buf), &heap);
    if (!key)
        goto fail;
    void *old = NULL;
    hent_t *prev = hmap_find(&idx->kinds[kind], key);
    if (kind == CDNS_K8S_ENDPOINTSLICE) {
        /* Link first so a failure leaves the old slice in place and the object freed. */
        if (slice_link(idx, o->u.eps) != CDNS_OK)
            goto fail;
        if (prev)
            slice_unlink(idx, prev->val);
    }
    if (hmap_put(&idx->kinds[kind], key, o->u.ptr, gen, &old) != CDNS_OK) {
        if (kind == CDNS_K8S_ENDPOINTSLICE) {
            slice_unlink(idx, o->u.eps);
            if (prev)
                slice_link(idx, prev->val); /* best effort: only fails when out of memory */
        }
        goto fail;
    }
    if (old)
        kind_free[kind](old);
    if (heap)
        free(key);
    o->kind = CDNS_K8S_NONE;
    o->u.ptr = NULL;
    return CDNS_OK;
fail:
    if (heap)
        free(key);
    cdns_k8s_object_free(o);
    return rc;
}

int cdns_k8s_index_delete(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns, const char *name)
{
    if (kind <= CDNS_K8S_NONE || kind > CDNS_K8S_NAMESPACE || !name)
        return CDNS_EINVAL;
    char buf[256];
    bool heap;
    char *key = make_key(kind == CDNS_K8S_NAMESPACE ? NULL : ns, name, buf, sizeof(buf), &heap);
    if (!key)
        return CDNS_ENOMEM;
    hent_t *h = hmap_find(&idx->kinds[kind], key);
    if (h && kind == CDNS_K8S_ENDPOINTSLICE)
        slice_unlink(idx, h->val);
    void *v = hmap_del(&idx->kinds[kind], key);
    if (heap)
        free(key);
    if (!v)
        return CDNS_ENOENT;
    kind_free[kind](v);
    return CDNS_OK;
}

uint64_t cdns_k8s_index_next_gen(cdns_k8s_index_t *idx)
{
    return ++idx->last_gen;
}

size_t cdns_k8s_index_sweep(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns, uint64_t gen)
{
    if (kind <= CDNS_K8S_NONE || kind > CDNS_K8S_NAMESPACE)
        return 0;
    hmap_t *m = &idx->kinds[kind];
    size_t nslen = ns ? strlen(ns) : 0, swept = 0;
    for (size_t i = 0; i < m->nb; i++) {
        hent_t **pp = &m->b[i];
        while (*pp) {
            hent_t *e = *pp;
            bool in_scope = !ns || (strncmp(e->key, ns, nslen) == 0 && e->key[nslen] == '/');
            if (!in_scope || e->gen == gen) {
                pp = &e->next;
                continue;
            }
            /* Unlinking in place keeps the sweep one pass and allocation-free. */
            *pp = e->next;
            m->n--;
            if (kind == CDNS_K8S_ENDPOINTSLICE)
                slice_unlink(idx, e->val);
            kind_free[kind](e->val);
            free(e->key);
            free(e);
            swept++;
        }
    }
    return swept;
}

/* The object of a namespaced kind stored under "ns/name", or NULL. */
static void *find_object(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns, const char *name)
{
    char buf[256];
    bool heap;
    char *key = make_key(ns, name, buf, sizeof(buf), &heap);
    if (!key)
        return NULL;
    hent_t *h = hmap_find(&idx->kinds[kind], key);
    if (heap)
        free(key);
    return h ? h->val : NULL;
}

const cdns_k8s_service_t *cdns_k8s_index_service(const cdns_k8s_index_t *idx, const char *ns, const char *name)
{
    return find_object(idx, CDNS_K8S_SERVICE, ns, name);
}

const cdns_k8s_pod_t *cdns_k8s_index_pod(const cdns_k8s_index_t *idx, const char *ns, const char *name)
{
    return find_object(idx, CDNS_K8S_POD, ns, name);
}

const cdns_k8s_endpoints_t *cdns_k8s_index_endpoints(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns,
                                                     const char *name)
{
    if (kind != CDNS_K8S_ENDPOINTSLICE && kind != CDNS_K8S_ENDPOINTS)
        return NULL;
    return find_object(idx, kind, ns, name);
}

const cdns_k8s_namespace_t *cdns_k8s_index_namespace(const cdns_k8s_index_t *idx, const char *name)
{
    hent_t *h = hmap_find(&idx->kinds[CDNS_K8S_NAMESPACE], name);
    return h ? h->val : NULL;
}

static int cmp_keys(const void *a, const void *b)
{
    const hent_t *x = *(const hent_t *const *)a, *y = *(const hent_t *const *)b;
    return strcmp(x->key, y->key);
}

static int cmp_seq(const void *a, const void *b)
{
    const hent_t *x = *(const hent_t *const *)a, *y = *(const hent_t *const *)b;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void each_in(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, int (*cmp)(const void *, const void *),
                    cdns_k8s_visit_fn fn, void *arg)
{
    if (kind <= CDNS_K8S_NONE || kind > CDNS_K8S_NAMESPACE)
        return;
    const hmap_t *m = &idx->kinds[kind];
    if (!m->n)
        return;
    hent_t **v = malloc(m->n * sizeof(*v));
    if (!v) {
        cdns_warn("plugin/kubernetes: out of memory while iterating the index");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < m->nb; i++)
        for (hent_t *e = m->b[i]; e; e = e->next)
            v[k++] = e;
    qsort(v, k, sizeof(*v), cmp);
    for (size_t i = 0; i < k; i++) {
        /* Read before the call: fn may release the object, and its entry with it. */
        cdns_k8s_object_t o = {.kind = kind, .u.ptr = v[i]->val};
        if (!fn(&o, arg))
            break;
    }
    free(v);
}

void cdns_k8s_index_each(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, cdns_k8s_visit_fn fn, void *arg)
{
    /* Sorting by key gives builds a stable order (namespace, then name), so two builds from the
     * same objects produce the same snapshot whatever order the events came in. */
    each_in(idx, kind, cmp_keys, fn, arg);
}

void cdns_k8s_index_each_inserted(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, cdns_k8s_visit_fn fn, void *arg)
{
    each_in(idx, kind, cmp_seq, fn, arg);
}

void cdns_k8s_index_release_service(cdns_k8s_index_t *idx, const char *ns, const char *name)
{
    char buf[256];
    bool heap;
    char *key = make_key(ns, name, buf, sizeof(buf), &heap);
    if (!key)
        return; /* out of memory: the objects are freed with the index instead */
    if (idx->kinds[CDNS_K8S_ENDPOINTSLICE].n)
        idx->slices_pinned = true;
    slice_list_t *l = hmap_del(&idx->slices_by_svc, key);
    for (size_t i = 0; l && i < l->n; i++) {
        char sbuf[256];
        bool sheap;
        char *skey = make_key(l->v[i]->ns, l->v[i]->name, sbuf, sizeof(sbuf), &sheap);
        void *v = skey ? hmap_del(&idx->kinds[CDNS_K8S_ENDPOINTSLICE], skey) : NULL;
        if (v)
            free_eps(v);
        if (sheap)
            free(skey);
    }
    if (l)
        free_list(l);
    void *v = hmap_del(&idx->kinds[CDNS_K8S_ENDPOINTS], key);
    if (v)
        free_eps(v);
    if ((v = hmap_del(&idx->kinds[CDNS_K8S_SERVICE], key)) != NULL)
        free_svc(v);
    if (heap)
        free(key);
}

/* ------------------------------------------------------- service endpoints */
static int cmp_str_null(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_ports(const cdns_k8s_epaddr_t *a, const cdns_k8s_epaddr_t *b)
{
    if (a->nports != b->nports)
        return a->nports < b->nports ? -1 : 1;
    for (size_t i = 0; i < a->nports; i++) {
        const cdns_k8s_port_t *p = &a->ports[i], *q = &b->ports[i];
        if (p->port != q->port)
            return p->port < q->port ? -1 : 1;
        int c = strcmp(p->name, q->name);
        if (!c)
            c = strcmp(p->protocol, q->protocol);
        if (c)
            return c;
    }
    return 0;
}

static int cmp_epaddr(const void *pa, const void *pb)
{
    const cdns_k8s_epaddr_t *a = pa, *b = pb;
    int c = strcmp(a->ip, b->ip);
    if (!c)
        c = cmp_str_null(a->hostname, b->hostname);
    if (!c)
        c = cmp_str_null(a->pod, b->pod);
    if (!c && a->ready != b->ready)
        c = a->ready ? -1 : 1;
    if (!c)
        c = cmp_ports(a, b);
    return c;
}

static size_t count_addrs(const cdns_k8s_endpoints_t *e)
{
    size_t n = 0;
    for (size_t g = 0; g < e->ngroups; g++)
        for (size_t i = 0; i < e->groups[g].nendpoints; i++)
            n += e->groups[g].endpoints[i].naddresses;
    return n;
}

static size_t add_addrs(const cdns_k8s_endpoints_t *e, cdns_k8s_epaddr_t *out)
{
    size_t k = 0;
    for (size_t g = 0; g < e->ngroups; g++) {
        const cdns_k8s_epgroup_t *gr = &e->groups[g];
        for (size_t i = 0; i < gr->nendpoints; i++) {
            const cdns_k8s_endpoint_t *ep = &gr->endpoints[i];
            for (size_t a = 0; a < ep->naddresses; a++) {
                out[k++] = (cdns_k8s_epaddr_t){
                    .ip = ep->addresses[a],
                    .hostname = ep->hostname,
                    .pod = ep->pod,
                    .ready = ep->ready,
                    .ports = gr->ports,
                    .nports = gr->nports,
                    .from = e,
                };
            }
        }
    }
    return k;
}

int cdns_k8s_index_service_endpoints(const cdns_k8s_index_t *idx, const char *ns, const char *name,
                                     const cdns_k8s_selector_t *sel, cdns_k8s_epaddr_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char buf[256];
    bool heap;
    char *key = make_key(ns, name, buf, sizeof(buf), &heap);
    if (!key)
        return CDNS_ENOMEM;
    /* CoreDNS >= 1.11 watches EndpointSlices only; core/v1 Endpoints serve clusters (and
     * snapshot files) that have no slices at all. */
    const cdns_k8s_endpoints_t *single = NULL;
    const cdns_k8s_endpoints_t *const *list = NULL;
    size_t nlist = 0;
    if (cdns_k8s_index_uses_slices(idx)) {
        hent_t *h = hmap_find(&idx->slices_by_svc, key);
        if (h) {
            const slice_list_t *l = h->val;
            list = (const cdns_k8s_endpoints_t *const *)l->v;
            nlist = l->n;
        }
    } else {
        hent_t *h = hmap_find(&idx->kinds[CDNS_K8S_ENDPOINTS], key);
        if (h) {
            single = h->val;
            list = &single;
            nlist = 1;
        }
    }
    if (heap)
        free(key);
    size_t total = 0;
    for (size_t i = 0; i < nlist; i++)
        if (cdns_k8s_selector_match(sel, &list[i]->labels))
            total += count_addrs(list[i]);
    if (total == 0)
        return CDNS_OK;
    cdns_k8s_epaddr_t *v = malloc(total * sizeof(*v));
    if (!v)
        return CDNS_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nlist; i++)
        if (cdns_k8s_selector_match(sel, &list[i]->labels))
            k += add_addrs(list[i], v + k);
    /* Slices overlap while a rollout moves endpoints between them: drop exact duplicates. */
    qsort(v, k, sizeof(*v), cmp_epaddr);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || cmp_epaddr(&v[u - 1], &v[i]) != 0)
            v[u++] = v[i];
    *out = v;
    *n = u;
    return CDNS_OK;
}

/* --------------------------------------------------------------- List load */
/* A List is loaded without ever holding its whole text or tree: a cluster's List is tens of
 * megabytes of JSON, and cJSON spends about seven bytes of heap per byte of it. A small scanner
 * walks the top-level object and the "items" array through a window of the document (a file is
 * read a window at a time); cJSON parses one item at a time, the item is decoded into its slim
 * struct and its tree freed at once. Every value is still checked by cJSON itself, so the same
 * documents are accepted as when the whole text was one cJSON_ParseWithLength (including
 * whatever follows the root object, which cJSON ignores). */

/* Typed lists name their items' kind only in the list's kind ("ServiceList"). */
static cdns_k8s_kind_t list_item_kind(const char *list_kind)
{
    if (!list_kind)
        return CDNS_K8S_NONE;
    size_t n = strlen(list_kind);
    if (n <= 4 || strcmp(list_kind + n - 4, "List") != 0)
        return CDNS_K8S_NONE;
    char buf[64];
    if (n - 4 >= sizeof(buf))
        return CDNS_K8S_NONE;
    memcpy(buf, list_kind, n - 4);
    buf[n - 4] = '\0';
    return cdns_k8s_kind_from_name(buf);
}

/* The window: [base, end) is the part of the document at offset base_off that is in memory.
 * A refill keeps everything from mark on (the start of the member or item being scanned) and
 * reads behind it, moving the kept bytes to the front of the buffer or doubling the buffer when
 * they fill it; so one value is always contiguous, and pointers into the window are only held
 * across a refill as offsets from mark. A document in memory is one window with eof set. */
typedef struct scan {
    const char *base;
    const char *p;
    const char *end;
    const char *mark;
    size_t base_off;
    bool eof;     /* end is the end of the document */
    bool hit_end; /* the last failure was the window running out, not the text being wrong */
    int fd;       /* the document's source when it is read a window at a time, else -1 */
    char *buf;
    size_t cap;
    int io_err;      /* a read failed: -errno */
    const char *err; /* why the document was rejected; NULL while it is fine */
    size_t err_off;  /* where, from the document's start */
} scan_t;

static int scan_fail(scan_t *s, const char *at, const char *why)
{
    if (!s->err) {
        s->err = why;
        s->err_off = s->base_off + (size_t)(at - s->base);
    }
    s->hit_end = false;
    return CDNS_EMALFORMED;
}

/* A failure because the window ended: final only once the document has. */
static int scan_fail_end(scan_t *s, const char *at, const char *why)
{
    scan_fail(s, at, why);
    s->hit_end = true;
    return CDNS_EMALFORMED;
}

/* Reads more of the document into the window (see scan_t). 1: it grew; 0: the document has
 * ended; < 0: the read failed or memory ran out (io_err is set, and eof, so scans end). */
static int scan_more(scan_t *s)
{
    if (s->eof)
        return 0;
    const char *keep = s->mark;
    size_t kept = (size_t)(s->end - keep), shift = (size_t)(keep - s->base), p_off = (size_t)(s->p - keep);
    if (shift)
        memmove(s->buf, keep, kept);
    if (kept == s->cap) {
        char *nb = s->cap && s->cap <= SIZE_MAX / 2 ? realloc(s->buf, s->cap * 2) : NULL;
        if (!nb) {
            s->io_err = CDNS_ENOMEM;
            s->eof = true;
            return CDNS_ENOMEM;
        }
        s->buf = nb;
        s->cap *= 2;
    }
    ssize_t r;
    do
        r = read(s->fd, s->buf + kept, s->cap - kept);
    while (r < 0 && errno == EINTR);
    s->base = s->buf;
    s->base_off += shift;
    s->mark = s->buf;
    s->p = s->buf + p_off;
    s->end = s->buf + kept + (r > 0 ? (size_t)r : 0);
    if (r <= 0) {
        s->eof = true;
        if (r < 0)
            s->io_err = -errno;
        return r < 0 ? s->io_err : 0;
    }
    return 1;
}

/* cJSON's whitespace: every byte up to and including the space. */
static void scan_ws(scan_t *s)
{
    while (s->p < s->end && (unsigned char)*s->p <= 32)
        s->p++;
}

/* Whitespace across refills: afterwards s->p < s->end unless the document has ended. */
static void scan_ws_more(scan_t *s)
{
    for (;;) {
        scan_ws(s);
        if (s->p < s->end)
            return;
        s->mark = s->p; /* nothing before the next token is needed */
        if (scan_more(s) <= 0)
            return;
    }
}

/* Skips a string whose opening quote is at s->p; leaves s->p after the closing quote. Sets
 * *escaped when the string holds a backslash, so callers know its bytes are not its value. */
static int scan_string(scan_t *s, bool *escaped)
{
    const char *start = s->p;
    bool esc = false;
    s->p++;
    for (;;) {
        while (s->p < s->end && *s->p != '"' && *s->p != '\\')
            s->p++;
        if (s->p >= s->end)
            return scan_fail_end(s, start, "unterminated string");
        if (*s->p == '"')
            break;
        /* A backslash escapes exactly the next byte for the purpose of finding the end; cJSON
         * judges the escape itself when the value is parsed. */
        esc = true;
        if (s->end - s->p < 2)
            return scan_fail_end(s, start, "unterminated string");
        s->p += 2;
    }
    s->p++;
    if (escaped)
        *escaped = esc;
    return CDNS_OK;
}

/* Finds the end of the value at s->p without building it, iteratively so hostile nesting cannot
 * exhaust the stack. depth is how many containers already enclose the value: the whole document
 * is held to cJSON's nesting limit, as it was when cJSON parsed it in one piece, even though
 * each piece is later parsed on its own. A bit per level remembers which bracket closes it. */
static int scan_value(scan_t *s, unsigned depth)
{
    uint64_t closer[(CJSON_NESTING_LIMIT + 63) / 64] = {0}; /* bit set: the level is an array */
    unsigned d = 0;
    do {
        scan_ws(s);
        if (s->p >= s->end)
            return scan_fail_end(s, s->p, "truncated document");
        char c = *s->p;
        if (c == '"') {
            if (scan_string(s, NULL) != CDNS_OK)
                return CDNS_EMALFORMED;
        } else if (c == '{' || c == '[') {
            if (depth + d >= CJSON_NESTING_LIMIT)
                return scan_fail(s, s->p, "nested too deeply");
            if (c == '[')
                closer[d / 64] |= (uint64_t)1 << (d % 64);
            else
                closer[d / 64] &= ~((uint64_t)1 << (d % 64));
            d++;
            s->p++;
        } else if (c == '}' || c == ']') {
            if (d == 0)
                return scan_fail(s, s->p, "unexpected closing bracket");
            bool is_array = (closer[(d - 1) / 64] >> ((d - 1) % 64)) & 1;
            if (is_array != (c == ']'))
                return scan_fail(s, s->p, "mismatched bracket");
            d--;
            s->p++;
        } else if (c == ',' || c == ':') {
            if (d == 0)
                return scan_fail(s, s->p, "expected a value");
            s->p++; /* the grammar between them is cJSON's to check */
        } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
            /* A number or literal runs to the next delimiter; cJSON checks its spelling. */
            while (s->p < s->end && (unsigned char)*s->p > 32 && *s->p != ',' && *s->p != ':' && *s->p != ']' &&
                   *s->p != '}' && *s->p != '[' && *s->p != '{' && *s->p != '"')
                s->p++;
        } else {
            return scan_fail(s, s->p, "unexpected character");
        }
    } while (d > 0);
    return CDNS_OK;
}

/* After a scan from mark + from: whether to scan again with more of the document in the
 * window. A failure at the window's end, or a value ending exactly there (a number may go on),
 * is only final once the document has ended. */
static bool scan_again(scan_t *s, int rc, size_t from)
{
    bool cut = rc != CDNS_OK ? s->hit_end : s->p >= s->end;
    if (!cut || s->eof)
        return false;
    s->err = NULL;
    if (scan_more(s) < 0)
        return false;
    s->p = s->mark + from;
    return true;
}

/* scan_value and scan_string over the window; the value starts at s->p, at or after mark. */
static int scan_value_w(scan_t *s, unsigned depth)
{
    size_t from = (size_t)(s->p - s->mark);
    int rc;
    do {
        s->hit_end = false;
        rc = scan_value(s, depth);
    } while (scan_again(s, rc, from));
    return rc;
}

static int scan_string_w(scan_t *s, bool *escaped)
{
    size_t from = (size_t)(s->p - s->mark);
    int rc;
    do {
        s->hit_end = false;
        rc = scan_string(s, escaped);
    } while (scan_again(s, rc, from));
    return rc;
}

/* Parses exactly [from, to) as one JSON value; NULL (and the reason noted) when cJSON rejects
 * it or stops short of to. */
static cJSON *scan_parse(scan_t *s, const char *from, const char *to)
{
    const char *stop = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(from, (size_t)(to - from), &stop, false);
    if (j && stop == to)
        return j;
    /* A value that parses but stops short was followed by something cJSON would have refused
     * in place (as "truex"); otherwise cJSON says where it gave up. */
    const char *at = j ? stop : cJSON_GetErrorPtr();
    cJSON_Delete(j);
    scan_fail(s, at && at >= from && at <= to ? at : from, "invalid JSON value");
    return NULL;
}

/* Decoded items wait here until the whole array has proved valid, so a malformed document
 * leaves the index untouched; they are the index's objects-to-be, not a copy of them. */
typedef struct pending {
    cdns_k8s_object_t *v;
    size_t n, cap;
} pending_t;

/* Upserted entries are already NONE (upsert takes them), so this frees only the rest. */
static void pending_free(pending_t *pd)
{
    for (size_t i = 0; i < pd->n; i++)
        cdns_k8s_object_free(&pd->v[i]);
    free(pd->v);
    memset(pd, 0, sizeof(*pd));
}

static int pending_push(pending_t *pd, const cdns_k8s_object_t *o)
{
    if (pd->n == pd->cap) {
        size_t cap = pd->cap ? pd->cap * 2 : 256;
        cdns_k8s_object_t *v = realloc(pd->v, cap * sizeof(*v));
        if (!v)
            return CDNS_ENOMEM;
        pd->v = v;
        pd->cap = cap;
    }
    pd->v[pd->n++] = *o;
    return CDNS_OK;
}

/* One pass over a document. */
typedef struct load {
    scan_t s;
    pending_t pd;
    cdns_k8s_load_stats_t st;
    unsigned skip;        /* bits (1u << kind) of kinds counted as ignored */
    bool has_items;       /* a member named "items" exists (of any type) */
    bool loaded_items;    /* the first "items" member was an array, and its items are in pd */
    cdns_k8s_kind_t hint; /* from the first "kind" member */
    bool has_kind;
    cdns_k8s_kind_t items_hint; /* the hint the items were decoded with (kind may follow items) */
} load_t;

static int decode_one(load_t *ld, const cJSON *item, cdns_k8s_kind_t hint)
{
    cdns_k8s_object_t o;
    int rc = cdns_k8s_decode(item, hint, &o);
    if (rc == CDNS_ENOMEM)
        return rc;
    if (rc != CDNS_OK) {
        ld->st.malformed++;
        return CDNS_OK;
    }
    if (o.kind == CDNS_K8S_NONE || (ld->skip & (1u << o.kind))) {
        cdns_k8s_object_free(&o);
        ld->st.ignored++;
        return CDNS_OK;
    }
    if ((rc = pending_push(&ld->pd, &o)) != CDNS_OK)
        cdns_k8s_object_free(&o);
    return rc;
}

/* The items array whose '[' is at s->p: each item delimited, parsed and decoded in turn. */
static int decode_items(load_t *ld)
{
    scan_t *s = &ld->s;
    ld->items_hint = ld->hint;
    s->p++;
    s->mark = s->p;
    scan_ws_more(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return CDNS_OK;
    }
    for (;;) {
        s->mark = s->p;
        scan_ws_more(s);
        const char *from = s->p;
        s->mark = from;
        if (scan_value_w(s, 2) != CDNS_OK)
            return CDNS_EMALFORMED;
        from = s->mark; /* the window may have moved */
        cJSON *item = scan_parse(s, from, s->p);
        if (!item)
            return CDNS_EMALFORMED;
        int rc = decode_one(ld, item, ld->items_hint);
        cJSON_Delete(item);
        if (rc != CDNS_OK)
            return rc;
        s->mark = s->p;
        scan_ws_more(s);
        if (s->p >= s->end)
            return scan_fail(s, s->p, "truncated items");
        if (*s->p == ']') {
            s->p++;
            return CDNS_OK;
        }
        if (*s->p != ',')
            return scan_fail(s, s->p, "expected ',' or ']' between items");
        s->p++;
    }
}

/* Walks the root object's members once, checking every member except the items array with
 * cJSON (they are small: apiVersion, kind, metadata) and decoding the first "items" array item
 * by item. */
static int scan_root(load_t *ld)
{
    scan_t *s = &ld->s;
    s->mark = s->p;
    while (s->end - s->p < 3 && scan_more(s) > 0)
        ;
    /* cJSON skips a UTF-8 byte order mark at the start of the text. */
    if (s->end - s->p >= 3 && memcmp(s->p, "\xEF\xBB\xBF", 3) == 0)
        s->p += 3;
    scan_ws_more(s);
    if (s->p >= s->end)
        return scan_fail(s, s->p, "empty document");
    if (*s->p != '{')
        return scan_fail(s, s->p, "not a JSON object");
    s->p++;
    s->mark = s->p;
    scan_ws_more(s);
    if (s->p < s->end && *s->p == '}')
        return CDNS_OK;
    for (;;) {
        s->mark = s->p;
        scan_ws_more(s);
        if (s->p >= s->end)
            return scan_fail(s, s->p, "truncated document");
        if (*s->p != '"')
            return scan_fail(s, s->p, "expected a member name");
        s->mark = s->p;
        bool escaped = false;
        if (scan_string_w(s, &escaped) != CDNS_OK)
            return CDNS_EMALFORMED;
        const char *key = s->mark, *key_end = s->p;
        /* Names are compared as cJSON would, decoded: "\u0069tems" is "items". */
        bool is_items = false, is_kind = false;
        if (escaped) {
            cJSON *k = scan_parse(s, key, key_end);
            if (!k)
                return CDNS_EMALFORMED;
            is_items = strcmp(k->valuestring, "items") == 0;
            is_kind = strcmp(k->valuestring, "kind") == 0;
            cJSON_Delete(k);
        } else {
            size_t n = (size_t)(key_end - key) - 2;
            is_items = n == 5 && memcmp(key + 1, "items", 5) == 0;
            is_kind = n == 4 && memcmp(key + 1, "kind", 4) == 0;
        }
        s->mark = s->p;
        scan_ws_more(s);
        if (s->p >= s->end || *s->p != ':')
            return scan_fail(s, s->p, s->p >= s->end ? "truncated document" : "expected ':'");
        s->p++;
        s->mark = s->p;
        scan_ws_more(s);
        if (is_items && !ld->has_items && s->p < s->end && *s->p == '[') {
            int rc = decode_items(ld);
            if (rc != CDNS_OK)
                return rc;
            ld->loaded_items = true;
        } else {
            s->mark = s->p;
            if (scan_value_w(s, 1) != CDNS_OK)
                return CDNS_EMALFORMED;
            cJSON *j = scan_parse(s, s->mark, s->p);
            if (!j)
                return CDNS_EMALFORMED;
            if (is_kind && !ld->has_kind)
                ld->hint = list_item_kind(cJSON_IsString(j) ? j->valuestring : NULL);
            cJSON_Delete(j);
        }
        ld->has_items |= is_items;
        ld->has_kind |= is_kind;
        s->mark = s->p;
        scan_ws_more(s);
        if (s->p >= s->end)
            return scan_fail(s, s->p, "truncated document");
        if (*s->p == '}')
            return CDNS_OK; /* what follows the root is ignored, as cJSON_ParseWithLength does */
        if (*s->p != ',')
            return scan_fail(s, s->p, "expected ',' or '}'");
        s->p++;
    }
}

/* No items array: the document is one object, small enough to parse whole. */
static int load_single(load_t *ld, const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return CDNS_EMALFORMED;
    }
    int rc = decode_one(ld, root, CDNS_K8S_NONE);
    cJSON_Delete(root);
    return rc;
}

/* One pass from the start of the document; force_hint, when set, is the list's kind learnt by
 * an earlier pass that met it only after the items. */
static int load_pass(load_t *ld, const char *text, size_t len, cdns_k8s_kind_t force_hint)
{
    scan_t *s = &ld->s;
    if (s->fd >= 0) {
        if (lseek(s->fd, 0, SEEK_SET) != 0)
            return -errno;
        s->base = s->p = s->end = s->mark = s->buf;
        s->base_off = 0;
        s->eof = false;
    } else {
        s->base = s->p = s->mark = text;
        s->end = text + len;
        s->eof = true;
    }
    s->err = NULL;
    pending_free(&ld->pd);
    ld->st = (cdns_k8s_load_stats_t){0};
    ld->has_items = ld->loaded_items = ld->has_kind = false;
    ld->hint = force_hint;
    int rc = scan_root(ld);
    if (s->io_err)
        return s->io_err;
    if (rc != CDNS_OK || ld->loaded_items)
        return rc;
    if (s->fd < 0)
        return load_single(ld, text, len);
    /* A lone object in a file: read it whole. */
    char *whole = NULL;
    size_t n = 0;
    if (lseek(s->fd, 0, SEEK_SET) != 0)
        return -errno;
    if ((rc = cdns_fd_read(s->fd, &whole, &n)) != CDNS_OK)
        return rc;
    rc = load_single(ld, whole, n);
    free(whole);
    return rc;
}

static int load_doc(cdns_k8s_index_t *idx, load_t *ld, const char *text, size_t len, cdns_k8s_load_stats_t *stats)
{
    int rc = load_pass(ld, text, len, CDNS_K8S_NONE);
    /* The list's kind came after its items ("kubectl get -o json" sorts members): the items
     * that had no kind of their own need it, so the document is read again knowing it. */
    if (rc == CDNS_OK && ld->loaded_items && ld->hint != ld->items_hint)
        rc = load_pass(ld, text, len, ld->hint);
    for (size_t i = 0; i < ld->pd.n && rc == CDNS_OK; i++)
        if ((rc = cdns_k8s_index_upsert(idx, &ld->pd.v[i])) == CDNS_OK)
            ld->st.objects++;
    pending_free(&ld->pd);
    if (rc == CDNS_EMALFORMED) {
        /* As when one cJSON parse refused the document: nothing counted, nothing stored. */
        ld->st = (cdns_k8s_load_stats_t){0};
        if (ld->s.err)
            cdns_warn("k8s: malformed JSON at byte %zu: %s", ld->s.err_off, ld->s.err);
    }
    if (stats)
        *stats = ld->st;
    return rc;
}

int cdns_k8s_index_load_json(cdns_k8s_index_t *idx, const char *text, size_t len, cdns_k8s_load_stats_t *stats)
{
    load_t ld = {.s = {.fd = -1}};
    return load_doc(idx, &ld, text, len, stats);
}

int cdns_k8s_index_load_fd(cdns_k8s_index_t *idx, int fd, const cdns_k8s_load_opts_t *opts,
                           cdns_k8s_load_stats_t *stats)
{
    size_t window = opts && opts->window ? opts->window : CDNS_K8S_LOAD_WINDOW;
    load_t ld = {.s = {.fd = fd, .cap = window}, .skip = opts ? opts->skip : 0};
    if (!(ld.s.buf = malloc(window)))
        return CDNS_ENOMEM;
    int rc = load_doc(idx, &ld, NULL, 0, stats);
    free(ld.s.buf);
    return rc;
}
