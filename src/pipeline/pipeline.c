/* SPDX-License-Identifier: MIT */
/* pipeline.c — server blocks → listeners and chains; the per-query entry point.
 *
 * Built once on the main thread from a parsed Corefile and immutable afterwards. A listener is
 * an (address, port) pair; each has a small routing table of (zone → chain) built from every
 * server block that listens there. A chain holds one entry per directive of a block, ordered
 * by plugins.def. Workers call cdns_pipeline_serve() concurrently: it touches only the request
 * and read-only pipeline data, so it needs no lock, and it allocates nothing.
 */
#include "cdns/pipeline.h"

#include "pmetrics.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct entry {
    const cdns_plugin_api_t *api;
    void *inst;
    int order;                    /* index in plugins.def */
    int seq;                      /* position in the Corefile, to keep repeated directives in their order */
    const cdns_cf_directive_t *d; /* its directive (the Corefile outlives the pipeline) */
    bool lent;                    /* inst was carried over to a reloaded pipeline: not ours to stop or free */
    struct entry *from;           /* carried over from this entry of the old pipeline, until committed */
} entry_t;

/* A chain calls at most this many of its plugins' prefetch hooks, the first in chain order
 * (the kubernetes plugin is the only one with a hook so far). */
#define CHAIN_PREFETCH_MAX 4

struct cdns_chain {
    entry_t *entries;
    int n;
    int prefetch[CHAIN_PREFETCH_MAX]; /* entries with a prefetch hook, in chain order */
    int nprefetch;
    void **ws; /* per-worker plugin states: ws[worker * n + i] */
    unsigned nworkers;
    cdns_pipeline_t *owner; /* whose in-flight count a parked request holds */
    const cdns_cf_block_t *blk;
};

typedef struct route {
    uint8_t zone[CDNS_DNAME_MAX]; /* lowercase wire */
    uint8_t zone_len;
    const cdns_chain_t *chain;
    cdns_pmetrics_t *pm; /* coredns_dns_* series when the block has prometheus, else NULL */
} route_t;

typedef struct listener {
    cdns_listener_t pub;
    char server[96]; /* "dns://:53" */
    route_t *routes;
    size_t nroutes;
    uint8_t max_zone_len;     /* the longest zone of its routes: no longer suffix can match */
    cdns_pmetrics_t *dropped; /* zone "dropped": queries no zone took (when any block counts) */
} listener_t;

struct cdns_pipeline {
    cdns_chain_t *chains;
    size_t nchains;
    listener_t *listeners;
    cdns_listener_t *pub;
    size_t nlisteners;
    bool started;
    bool prefetch; /* some chain has a plugin with a prefetch hook */
    /* Requests parked (ASYNC) on this pipeline's chains. cdns_pipeline_free waits for zero, so a
     * reload that retires this pipeline never frees a chain a forward reply will resume. */
    _Atomic unsigned long inflight;
};

/* ------------------------------------------------------------------ set-up */
static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static listener_t *listener_get(cdns_pipeline_t *p, const char *addr, uint16_t port)
{
    for (size_t i = 0; i < p->nlisteners; i++)
        if (p->listeners[i].pub.port == port && strcmp(p->listeners[i].pub.addr, addr) == 0)
            return &p->listeners[i];
    listener_t *nl = realloc(p->listeners, (p->nlisteners + 1) * sizeof(*nl));
    if (nl == NULL)
        return NULL;
    p->listeners = nl;
    listener_t *l = &nl[p->nlisteners++];
    memset(l, 0, sizeof(*l));
    snprintf(l->pub.addr, sizeof(l->pub.addr), "%s", addr);
    l->pub.port = port;
    if (strchr(addr, ':') != NULL)
        snprintf(l->server, sizeof(l->server), "dns://[%s]:%u", addr, port);
    else
        snprintf(l->server, sizeof(l->server), "dns://%s:%u", addr, port);
    return l;
}

static void chain_deinit(cdns_chain_t *c)
{
    for (int i = c->n - 1; i >= 0; i--) {
        entry_t *e = &c->entries[i];
        for (unsigned w = 0; c->ws != NULL && w < c->nworkers; w++)
            if (e->api->worker_deinit != NULL)
                e->api->worker_deinit(e->inst, c->ws[w * (unsigned)c->n + (unsigned)i]);
        if (e->api->teardown != NULL && !e->lent)
            e->api->teardown(e->inst);
    }
    free(c->ws);
    free(c->entries);
}

/* Sets up one server block into chain c; fills ctx (zones, bind addresses). */
static int setup_block(const cdns_cf_block_t *blk, const char *dir, const cdns_pipeline_opts_t *opts, cdns_chain_t *c,
                       cdns_setup_ctx_t *ctx, const char **zones, cdns_diag_t *diag)
{
    memset(ctx, 0, sizeof(*ctx));
    for (size_t k = 0; k < blk->nkeys; k++) {
        const cdns_cf_key_t *key = &blk->keys[k];
        if (strcmp(key->scheme, "dns") != 0)
            return cdns_diag_set(diag, key->file, key->line, "scheme %s:// is not supported by this build",
                                 key->scheme);
        zones[k] = key->zone;
    }
    ctx->block = blk;
    ctx->zones = zones;
    ctx->nzones = blk->nkeys;
    ctx->corefile_dir = dir;
    c->blk = blk;

    c->entries = calloc(blk->ndirs ? blk->ndirs : 1, sizeof(entry_t));
    if (c->entries == NULL)
        return CDNS_ENOMEM;
    size_t nall = 0;
    const cdns_plugin_entry_t *all = cdns_plugins_all(&nall);
    for (size_t i = 0; i < blk->ndirs; i++) {
        const cdns_cf_directive_t *d = &blk->dirs[i];
        const cdns_plugin_entry_t *pe = cdns_plugin_find(d->name);
        if (pe == NULL)
            return cdns_diag_set(diag, d->file, d->line, "unknown directive '%s'", d->name);
        if (pe->api == NULL)
            return cdns_diag_set(diag, d->file, d->line, "directive '%s' is not supported by this build", d->name);
        if (pe->api->flags & CDNS_PLUGIN_ONCE) {
            for (int j = 0; j < c->n; j++)
                if (c->entries[j].api == pe->api)
                    return cdns_diag_set(diag, d->file, d->line,
                                         "plugin/%s: this plugin can only be used once per Server Block", d->name);
        }
        void *inst = NULL;
        int rc = pe->api->setup(ctx, d, &inst, diag);
        if (rc != CDNS_OK) {
            if (diag->msg[0] == '\0')
                cdns_diag_set(diag, d->file, d->line, "plugin/%s: %s", d->name, cdns_strerror(rc));
            return rc;
        }
        entry_t *e = &c->entries[c->n++];
        e->api = pe->api;
        e->inst = inst;
        e->order = (int)(pe - all);
        e->seq = (int)i;
        e->d = d;
    }
    qsort(c->entries, (size_t)c->n, sizeof(entry_t), entry_cmp);
    for (int i = 0; i < c->n && c->nprefetch < CHAIN_PREFETCH_MAX; i++)
        if (c->entries[i].api->prefetch != NULL)
            c->prefetch[c->nprefetch++] = i;
    /* Now that the whole block is set up, plugins that work with a sibling find it. */
    for (int i = 0; i < c->n; i++) {
        entry_t *e = &c->entries[i];
        if (e->api->link == NULL)
            continue;
        int rc = e->api->link(e->inst, c, diag);
        if (rc != CDNS_OK)
            return rc;
    }

    c->nworkers = opts->nworkers ? opts->nworkers : 1;
    c->ws = calloc((size_t)c->nworkers * (size_t)(c->n ? c->n : 1), sizeof(void *));
    if (c->ws == NULL)
        return CDNS_ENOMEM;
    for (unsigned w = 0; w < c->nworkers; w++) {
        cdns_worker_t wk = {.id = w, .loop = NULL};
        for (int i = 0; i < c->n; i++) {
            entry_t *e = &c->entries[i];
            if (e->api->worker_init == NULL)
                continue;
            int rc = e->api->worker_init(e->inst, &wk, &c->ws[w * (unsigned)c->n + (unsigned)i]);
            if (rc != CDNS_OK)
                return cdns_diag_set(diag, blk->file, blk->line, "plugin/%s: worker set-up failed: %s", e->api->name,
                                     cdns_strerror(rc));
        }
    }
    return CDNS_OK;
}

/* As CoreDNS: a block is counted when it has the prometheus directive; the zone label is the
 * route's zone (the longest of the block's zones that matches, which routing already chose). */
static int route_metrics(listener_t *l, route_t *rt, const char *zone)
{
    const cdns_chain_t *c = rt->chain;
    const char *names[64];
    bool on = false;
    int n = c->n < 64 ? c->n : 64;
    for (int i = 0; i < n; i++) {
        names[i] = c->entries[i].api->name;
        on |= strcmp(names[i], "prometheus") == 0;
    }
    if (!on)
        return CDNS_OK;
    if (l->dropped == NULL && (l->dropped = cdns_pipeline__metrics_new(l->server, "dropped", NULL, 0)) == NULL)
        return CDNS_ENOMEM;
    rt->pm = cdns_pipeline__metrics_new(l->server, zone, names, (size_t)n);
    return rt->pm != NULL ? CDNS_OK : CDNS_ENOMEM;
}

static int add_routes(cdns_pipeline_t *p, const cdns_cf_block_t *blk, const cdns_setup_ctx_t *ctx,
                      const cdns_chain_t *chain, uint16_t default_port, cdns_diag_t *diag)
{
    size_t naddr = ctx->nbind ? ctx->nbind : 1;
    for (size_t k = 0; k < blk->nkeys; k++) {
        const cdns_cf_key_t *key = &blk->keys[k];
        uint16_t port = key->port ? (uint16_t)key->port : default_port;
        uint8_t zone[CDNS_DNAME_MAX];
        size_t zlen = 0;
        if (cdns_dname_from_str(key->zone, NULL, zone, &zlen) != CDNS_OK)
            return cdns_diag_set(diag, key->file, key->line, "invalid zone '%s'", key->text);
        cdns_dname_lower(zone);
        for (size_t a = 0; a < naddr; a++) {
            const char *addr = ctx->nbind ? ctx->bind[a] : "";
            listener_t *l = listener_get(p, addr, port);
            if (l == NULL)
                return CDNS_ENOMEM;
            for (size_t r = 0; r < l->nroutes; r++)
                if (l->routes[r].zone_len == zlen && memcmp(l->routes[r].zone, zone, zlen) == 0)
                    return cdns_diag_set(diag, key->file, key->line, "cannot serve dns://%s:%u - it is already defined",
                                         key->zone, port);
            route_t *nr = realloc(l->routes, (l->nroutes + 1) * sizeof(route_t));
            if (nr == NULL)
                return CDNS_ENOMEM;
            l->routes = nr;
            route_t *rt = &nr[l->nroutes++];
            memcpy(rt->zone, zone, zlen);
            rt->zone_len = (uint8_t)zlen;
            if (rt->zone_len > l->max_zone_len)
                l->max_zone_len = rt->zone_len;
            rt->chain = chain;
            rt->pm = NULL;
            if (route_metrics(l, rt, key->zone) != CDNS_OK)
                return CDNS_ENOMEM;
        }
    }
    return CDNS_OK;
}

int cdns_pipeline_new(const cdns_corefile_t *cf, const cdns_pipeline_opts_t *opts, cdns_pipeline_t **out,
                      cdns_diag_t *diag)
{
    diag->msg[0] = '\0';
    cdns_pipeline_t *p = calloc(1, sizeof(*p));
    char *pathcopy = strdup(cf->path ? cf->path : "Corefile");
    if (p == NULL || pathcopy == NULL) {
        free(p);
        free(pathcopy);
        return CDNS_ENOMEM;
    }
    const char *dir = dirname(pathcopy);
    int rc = CDNS_OK;
    if (cf->nblocks == 0) {
        rc = cdns_diag_set(diag, cf->path, 1, "no server blocks");
        goto fail;
    }
    p->chains = calloc(cf->nblocks, sizeof(cdns_chain_t));
    if (p->chains == NULL) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    for (size_t b = 0; b < cf->nblocks; b++) {
        const cdns_cf_block_t *blk = &cf->blocks[b];
        const char **zones = calloc(blk->nkeys ? blk->nkeys : 1, sizeof(char *));
        if (zones == NULL) {
            rc = CDNS_ENOMEM;
            goto fail;
        }
        cdns_setup_ctx_t ctx;
        p->nchains++;
        p->chains[b].owner = p;
        rc = setup_block(blk, dir, opts, &p->chains[b], &ctx, zones, diag);
        if (rc == CDNS_OK)
            rc = add_routes(p, blk, &ctx, &p->chains[b], opts->default_port ? opts->default_port : 53, diag);
        free(zones);
        if (rc != CDNS_OK)
            goto fail;
        p->prefetch = p->prefetch || p->chains[b].nprefetch > 0;
    }
    p->pub = calloc(p->nlisteners ? p->nlisteners : 1, sizeof(cdns_listener_t));
    if (p->pub == NULL) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < p->nlisteners; i++)
        p->pub[i] = p->listeners[i].pub;
    free(pathcopy);
    *out = p;
    return CDNS_OK;
fail:
    if (rc == CDNS_ENOMEM && diag->msg[0] == '\0')
        cdns_diag_set(diag, cf->path, 0, "out of memory");
    free(pathcopy);
    cdns_pipeline_free(p);
    return rc;
}

/* How long cdns_pipeline_free waits for parked requests: longer than forward's 5 s deadline. */
#define FREE_WAIT_MS 10000

void cdns_pipeline_free(cdns_pipeline_t *p)
{
    if (p == NULL)
        return;
    /* Called after cdns_rcu_synchronize(): no new request can reach this pipeline, but parked
     * ones (forward waiting on an upstream) still walk its chains when they resume. Every parked
     * request ends by its plugin's own timeout or when net stops the worker, so this is bounded. */
    unsigned long left = 0;
    for (int i = 0; (left = atomic_load(&p->inflight)) != 0 && i < FREE_WAIT_MS; i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    if (left != 0)
        cdns_warn("pipeline: freeing with %lu requests still parked", left);
    if (p->started)
        cdns_pipeline_stop(p);
    for (size_t i = 0; i < p->nchains; i++)
        chain_deinit(&p->chains[i]);
    free(p->chains);
    for (size_t i = 0; i < p->nlisteners; i++) {
        for (size_t r = 0; r < p->listeners[i].nroutes; r++)
            cdns_pipeline__metrics_free(p->listeners[i].routes[r].pm);
        cdns_pipeline__metrics_free(p->listeners[i].dropped);
        free(p->listeners[i].routes);
    }
    free(p->listeners);
    free(p->pub);
    free(p);
}

int cdns_pipeline_start(cdns_pipeline_t *p, uv_loop_t *main_loop, cdns_diag_t *diag)
{
    for (size_t c = 0; c < p->nchains; c++) {
        cdns_chain_t *ch = &p->chains[c];
        for (int i = 0; i < ch->n; i++) {
            entry_t *e = &ch->entries[i];
            if (e->api->start == NULL || e->from != NULL)
                continue; /* carried over: already running */
            int rc = e->api->start(e->inst, main_loop);
            if (rc != CDNS_OK) {
                if (diag->msg[0] == '\0')
                    cdns_diag_set(diag, NULL, 0, "plugin/%s: %s", e->api->name, cdns_strerror(rc));
                p->started = true;
                cdns_pipeline_stop(p);
                return rc;
            }
        }
    }
    p->started = true;
    return CDNS_OK;
}

void cdns_pipeline_stop(cdns_pipeline_t *p)
{
    if (!p->started)
        return;
    for (size_t c = 0; c < p->nchains; c++) {
        cdns_chain_t *ch = &p->chains[c];
        for (int i = ch->n - 1; i >= 0; i--)
            if (ch->entries[i].api->stop != NULL && !ch->entries[i].lent && ch->entries[i].from == NULL)
                ch->entries[i].api->stop(ch->entries[i].inst);
    }
    p->started = false;
}

const cdns_listener_t *cdns_pipeline_listeners(const cdns_pipeline_t *p, size_t *n)
{
    *n = p->nlisteners;
    return p->pub;
}

int cdns_pipeline_listener_index(const cdns_pipeline_t *p, const char *addr, uint16_t port)
{
    for (size_t i = 0; i < p->nlisteners; i++)
        if (p->listeners[i].pub.port == port && strcmp(p->listeners[i].pub.addr, addr) == 0)
            return (int)i;
    return -1;
}

bool cdns_pipeline_ready(const cdns_pipeline_t *p, char *notready, size_t len)
{
    bool ok = true;
    size_t off = 0;
    if (len)
        notready[0] = '\0';
    for (size_t c = 0; c < p->nchains; c++) {
        const cdns_chain_t *ch = &p->chains[c];
        for (int i = 0; i < ch->n; i++) {
            const entry_t *e = &ch->entries[i];
            if (e->api->ready == NULL || e->api->ready(e->inst))
                continue;
            ok = false;
            if (off < len) {
                int w = snprintf(notready + off, len - off, "%s%s", off ? "," : "", e->api->name);
                off += w > 0 ? (size_t)w : 0;
            }
        }
    }
    return ok;
}

/* ---------------------------------------------------------------- hot path */
/* The longest zone of the listener that is a suffix of the query name, walking the name's
 * label boundaries from the left: at most 127 steps, each a few compares. Suffixes longer than
 * every zone are stepped over without looking at the routes: with the usual ".:53" block the
 * only route is the root, and the walk is all there is. */
static const route_t *route_find(const listener_t *l, const cdns_query_t *q)
{
    const uint8_t *name = q->qname_lower;
    size_t off = 0, len = q->qname_len;
    for (;;) {
        size_t rest = len - off;
        for (size_t r = 0; rest <= l->max_zone_len && r < l->nroutes; r++) {
            const route_t *rt = &l->routes[r];
            if (rt->zone_len == rest && memcmp(rt->zone, name + off, rest) == 0)
                return rt;
        }
        if (name[off] == 0)
            return NULL;
        off += (size_t)name[off] + 1;
    }
}

static void *wstate(const cdns_req_t *req, int i)
{
    const cdns_chain_t *c = req->chain_;
    unsigned w = req->worker ? req->worker->id : 0;
    if (w >= c->nworkers)
        w = 0;
    return c->ws[w * (unsigned)c->n + (unsigned)i];
}

static size_t out_cap(const cdns_req_t *req)
{
    return req->out_cap_ ? req->out_cap_ : CDNS_REQ_OUT_CAP;
}

/* Writes an answer with only the question and rcode (REFUSED, SERVFAIL ...). */
static void answer_rcode(cdns_req_t *req, uint16_t rcode)
{
    cdns_msg_begin(&req->msg, req->out, out_cap(req), &req->q, req->tcp);
    cdns_msg_set_rcode(&req->msg, rcode);
    req->out_len = cdns_msg_finish(&req->msg);
}

/* RFC 8482 over UDP: an ANY answer keeps only its first RRset (as Knot does), so ANY cannot
 * be used to amplify; TCP gets everything. The records kept come first in the packet, so every
 * compression pointer in them still points at something kept. */
static void minimal_any(cdns_req_t *req)
{
    cdns_msg_t *m = &req->msg;
    if (req->tcp || req->q.qtype != CDNS_T_ANY || m->raw || m->count[CDNS_SEC_ANSWER] < 2)
        return;
    uint8_t first[CDNS_DNAME_MAX], name[CDNS_DNAME_MAX];
    size_t pos = CDNS_DNS_HDR_LEN + (size_t)req->q.qname_len + 4, flen = 0, nlen = 0;
    uint16_t ftype = 0, kept = 0;
    for (unsigned i = 0; i < m->count[CDNS_SEC_ANSWER]; i++) {
        size_t start = pos;
        int rc = cdns_dname_unpack(m->buf, m->len, &pos, i == 0 ? first : name, i == 0 ? &flen : &nlen);
        if (rc != CDNS_OK || pos + 10 > m->len)
            return; /* not our own writing after all: leave it alone */
        uint16_t type = (uint16_t)((m->buf[pos] << 8) | m->buf[pos + 1]);
        if (i == 0)
            ftype = type;
        else if (type != ftype || nlen != flen || !cdns_dname_equal(name, first)) {
            pos = start;
            break;
        }
        kept++;
        pos += 10 + (size_t)((m->buf[pos + 8] << 8) | m->buf[pos + 9]);
    }
    m->len = pos;
    m->count[CDNS_SEC_ANSWER] = kept;
    m->count[CDNS_SEC_AUTHORITY] = 0;
    m->count[CDNS_SEC_ADDITIONAL] = 0;
}

/* Runs the on_response hooks from entry `last` back to the first, then finishes the message. */
static void complete(cdns_req_t *req, int last)
{
    const cdns_chain_t *c = req->chain_;
    for (int i = last; i >= req->base_; i--)
        if (c->entries[i].api->on_response != NULL)
            c->entries[i].api->on_response(req, c->entries[i].inst, wstate(req, i));
    if (req->super_ == NULL && req->q.qtype == CDNS_T_ANY)
        minimal_any(req);
    req->out_len = cdns_msg_finish(&req->msg);
    /* req->zone points into its route (routes never move once built): the route's series. */
    const route_t *rt = req->zone ? (const route_t *)(const void *)(req->zone - offsetof(route_t, zone)) : NULL;
    if (rt != NULL && rt->pm != NULL && req->super_ == NULL) {
        int by = -1;
        for (int i = 0; req->answered_by != NULL && i < c->n && by < 0; i++)
            if (c->entries[i].api->name == req->answered_by)
                by = i;
        cdns_pipeline__metrics_report(rt->pm, req, by);
    }
}

/* Walks the chain from req->pos_. */
static cdns_verdict_t run(cdns_req_t *req)
{
    const cdns_chain_t *c = req->chain_;
    cdns_msg_mark_t empty = cdns_msg_mark(&req->msg);
    int i;
    for (i = req->pos_; i < c->n; i++) {
        const entry_t *e = &c->entries[i];
        if (e->api->serve == NULL)
            continue;
        /* A plugin learns its place from pos_ (cdns_req_next runs what follows it); on ASYNC
         * pos_ names the plugin that parked, which may be a later one it delegated to. */
        req->pos_ = i;
        cdns_verdict_t v = e->api->serve(req, e->inst, wstate(req, i));
        if (v == CDNS_DONE) {
            req->answered_by = e->api->name;
            break;
        }
        if (v == CDNS_ASYNC) {
            if (!req->parked_) {
                req->parked_ = true;
                atomic_fetch_add_explicit(&c->owner->inflight, 1, memory_order_relaxed);
            }
            return CDNS_ASYNC;
        }
    }
    if (i == c->n) {
        /* Every plugin passed: as CoreDNS's "no next plugin found", a SERVFAIL. */
        cdns_msg_rollback(&req->msg, empty);
        req->msg.flags &= (uint16_t) ~(CDNS_F_AA);
        cdns_msg_set_rcode(&req->msg, CDNS_RCODE_SERVFAIL);
        req->error = "no next plugin found";
        i = c->n - 1;
    }
    complete(req, i);
    return CDNS_DONE;
}

/* The route of a parsed query on listener l, or NULL: as CoreDNS, only class IN is served (no
 * chaos plugin in this build). */
static const route_t *route_of(const listener_t *l, const cdns_query_t *q)
{
    return q->qclass == CDNS_C_IN ? route_find(l, q) : NULL;
}

/* Walks the chain of route rt (route_of) for a parsed query on listener l. */
static cdns_verdict_t route_and_run(const listener_t *l, const route_t *rt, cdns_req_t *req)
{
    req->server = l->server;
    req->port = l->pub.port;
    req->listener_ = l;
    if (rt == NULL) {
        answer_rcode(req, CDNS_RCODE_REFUSED);
        if (l->dropped != NULL && req->super_ == NULL)
            cdns_pipeline__metrics_report(l->dropped, req, -1);
        return CDNS_DONE;
    }
    req->zone = rt->zone;
    req->zone_len = rt->zone_len;
    req->chain_ = rt->chain;
    req->pos_ = 0;
    req->base_ = 0;
    cdns_msg_begin(&req->msg, req->out, out_cap(req), &req->q, req->tcp);
    return run(req);
}

cdns_verdict_t cdns_pipeline_serve(const cdns_pipeline_t *p, int li, cdns_req_t *req)
{
    req->out_len = 0;
    req->answered_by = NULL;
    req->error = NULL;
    req->chain_ = NULL;
    req->parked_ = false;
    bool parsed = req->parsed_ != 0;
    cdns_query_status_t st =
        parsed ? (cdns_query_status_t)(req->parsed_ - 1) : cdns_query_parse(req->wire, req->wire_len, &req->q);
    req->parsed_ = 0;
    if (st != CDNS_QUERY_OK) {
        uint16_t rcode = CDNS_RCODE_FORMERR;
        if (st == CDNS_QUERY_DROP)
            return CDNS_DONE;
        if (st == CDNS_QUERY_NOTIMP)
            rcode = CDNS_RCODE_NOTIMP;
        else if (st == CDNS_QUERY_BADVERS)
            rcode = CDNS_RCODE_BADVERS;
        cdns_msg_begin_error(&req->msg, req->out, out_cap(req), req->wire, req->wire_len, &req->q, rcode);
        req->out_len = cdns_msg_finish(&req->msg);
        return CDNS_DONE;
    }
    if (li < 0 || (size_t)li >= p->nlisteners) {
        answer_rcode(req, CDNS_RCODE_REFUSED);
        return CDNS_DONE;
    }
    const listener_t *l = &p->listeners[li];
    return route_and_run(l, parsed ? req->route_ : route_of(l, &req->q), req);
}

bool cdns_pipeline_prefetches(const cdns_pipeline_t *p)
{
    return p->prefetch;
}

/* The chain cdns_pipeline_prefetch routed req to, or NULL. */
static const cdns_chain_t *prefetch_chain(const cdns_req_t *req)
{
    const route_t *rt = req->route_;
    return rt != NULL ? rt->chain : NULL;
}

void cdns_pipeline_prefetch(const cdns_pipeline_t *p, int li, cdns_req_t *const *reqs, unsigned n)
{
    const listener_t *l = li >= 0 && (size_t)li < p->nlisteners ? &p->listeners[li] : NULL;
    for (unsigned i = 0; i < n; i++) {
        cdns_req_t *req = reqs[i];
        cdns_query_status_t st = cdns_query_parse(req->wire, req->wire_len, &req->q);
        req->parsed_ = (uint8_t)(1 + st);
        req->route_ = st == CDNS_QUERY_OK && l != NULL ? route_of(l, &req->q) : NULL;
    }
    /* Each run of requests routed to one chain (usually the whole batch) in one call per hook. */
    for (unsigned i = 0; i < n;) {
        const cdns_chain_t *c = prefetch_chain(reqs[i]);
        unsigned end = i + 1;
        while (end < n && end - i < CDNS_PREFETCH_MAX && prefetch_chain(reqs[end]) == c)
            end++;
        for (int k = 0; c != NULL && k < c->nprefetch; k++) {
            const entry_t *e = &c->entries[c->prefetch[k]];
            e->api->prefetch(reqs + i, end - i, e->inst);
        }
        i = end;
    }
}

cdns_verdict_t cdns_req_next(cdns_req_t *req)
{
    const cdns_chain_t *c = req->chain_;
    int self = req->pos_;
    for (int i = self + 1; i < c->n; i++) {
        const entry_t *e = &c->entries[i];
        if (e->api->serve == NULL)
            continue;
        req->pos_ = i;
        cdns_verdict_t v = e->api->serve(req, e->inst, wstate(req, i));
        if (v == CDNS_ASYNC)
            return CDNS_ASYNC;
        if (v == CDNS_DONE) {
            for (int j = i; j > self; j--)
                if (c->entries[j].api->on_response != NULL)
                    c->entries[j].api->on_response(req, c->entries[j].inst, wstate(req, j));
            req->pos_ = self;
            return CDNS_DONE;
        }
    }
    req->pos_ = self;
    return CDNS_NEXT;
}

void *cdns_chain_instance(const cdns_chain_t *c, const char *name)
{
    for (int i = 0; c != NULL && i < c->n; i++)
        if (strcmp(c->entries[i].api->name, name) == 0)
            return c->entries[i].inst;
    return NULL;
}

void cdns_req_resume(cdns_req_t *req, cdns_verdict_t v)
{
    /* Called from a plugin's own handle, which may fire while the worker is RCU-offline; the
     * rest of the chain may dereference snapshots. */
    if (req->worker != NULL && req->worker->rcu_online != NULL)
        req->worker->rcu_online(req->worker);
    if (v == CDNS_NEXT) {
        req->pos_++;
        if (run(req) == CDNS_ASYNC)
            return;
    } else {
        req->answered_by = req->chain_->entries[req->pos_].api->name;
        complete(req, req->pos_);
    }
    /* respond() hands the slot back to net: read what the count needs first and release it
     * after, so the pipeline outlives everything that ran on it. */
    cdns_pipeline_t *owner = req->parked_ ? req->chain_->owner : NULL;
    req->parked_ = false;
    if (req->respond != NULL)
        req->respond(req);
    if (owner != NULL)
        atomic_fetch_sub_explicit(&owner->inflight, 1, memory_order_release);
}

/* ------------------------------------------------------------- sub-queries */
/* A sub-query's request with its own small buffers, recycled through a per-thread free list:
 * after the first ExternalName chase on a worker, chasing allocates nothing. */
#define SUB_OUT_CAP 16384
#define SUB_MAX_DEPTH 4
typedef struct subreq {
    cdns_req_t req; /* first member: a cdns_req_t * is a subreq_t * */
    struct subreq *next;
    bool serving; /* inside route_and_run: a completion then is the caller's to handle */
    bool done;
    uint8_t wire[CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4 + 11];
    uint8_t out[SUB_OUT_CAP];
} subreq_t;

static _Thread_local subreq_t *sub_free;

static subreq_t *sub_get(void)
{
    subreq_t *s = sub_free;
    if (s != NULL) {
        sub_free = s->next;
        return s;
    }
    return calloc(1, sizeof(subreq_t));
}

static void sub_put(subreq_t *s)
{
    s->next = sub_free;
    sub_free = s;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Copies the ANSWER records of the sub-query's response into the parent's message, names in
 * rdata decompressed (they are written again against the parent's packet). */
static void sub_append(cdns_req_t *parent, const cdns_req_t *sub)
{
    cdns_msg_t *m = &parent->msg;
    const uint8_t *b = sub->out;
    size_t len = sub->out_len, pos = CDNS_DNS_HDR_LEN, nlen = 0;
    if (len < CDNS_DNS_HDR_LEN || m->raw || m->count[CDNS_SEC_AUTHORITY] || m->count[CDNS_SEC_ADDITIONAL])
        return;
    uint8_t name[CDNS_DNAME_MAX], owner[CDNS_DNAME_MAX], rdata[CDNS_DNAME_MAX + 6];
    /* As CoreDNS's backend lookup: a truncated sub-answer makes the whole answer truncated. */
    if (rd16(b + 2) & CDNS_F_TC)
        m->truncated = true;
    for (unsigned i = 0; i < rd16(b + 4); i++) {
        if (cdns_dname_unpack(b, len, &pos, name, &nlen) != CDNS_OK || pos + 4 > len)
            return;
        pos += 4;
    }
    for (unsigned i = 0, an = rd16(b + 6); i < an; i++) {
        size_t olen = 0;
        if (cdns_dname_unpack(b, len, &pos, owner, &olen) != CDNS_OK || pos + 10 > len)
            return;
        uint16_t type = rd16(b + pos), rclass = rd16(b + pos + 2), rdlen = rd16(b + pos + 8);
        uint32_t ttl = ((uint32_t)rd16(b + pos + 4) << 16) | rd16(b + pos + 6);
        size_t rpos = pos + 10;
        pos = rpos + rdlen;
        if (pos > len)
            return;
        const uint8_t *rd = b + rpos;
        int fixed = cdns_rdata_name_offset(type);
        if (fixed >= 0) {
            size_t npos = rpos + (size_t)fixed;
            if ((size_t)fixed > rdlen || cdns_dname_unpack(b, len, &npos, name, &nlen) != CDNS_OK)
                return;
            memcpy(rdata, rd, (size_t)fixed);
            memcpy(rdata + fixed, name, nlen);
            rd = rdata;
            rdlen = (uint16_t)((size_t)fixed + nlen);
        }
        if (cdns_msg_put_rr(m, CDNS_SEC_ANSWER, 0, owner, type, rclass, ttl, rd, rdlen) != CDNS_OK)
            return;
    }
}

static void sub_respond(cdns_req_t *r)
{
    subreq_t *s = (subreq_t *)r;
    if (s->serving) {
        s->done = true;
        return;
    }
    cdns_req_t *parent = r->super_;
    sub_append(parent, r);
    sub_put(s);
    cdns_req_resume(parent, CDNS_DONE);
}

cdns_verdict_t cdns_req_subquery(cdns_req_t *req, const uint8_t *name, uint16_t qtype)
{
    if (req->depth_ >= SUB_MAX_DEPTH || req->listener_ == NULL)
        return CDNS_DONE;
    if (req->worker != NULL && req->worker->rcu_online != NULL)
        req->worker->rcu_online(req->worker);
    subreq_t *s = sub_get();
    if (s == NULL)
        return CDNS_DONE;
    /* The query: RD as the client asked, EDNS so a forwarded answer may exceed 512 octets. */
    uint8_t *w = s->wire;
    size_t nlen = cdns_dname_len(name);
    memset(w, 0, CDNS_DNS_HDR_LEN);
    w[2] = (uint8_t)((req->q.flags & CDNS_F_RD) >> 8);
    w[5] = 1;  /* QDCOUNT */
    w[11] = 1; /* ARCOUNT: the OPT record */
    memcpy(w + CDNS_DNS_HDR_LEN, name, nlen);
    /* QTYPE, QCLASS IN, then OPT: root owner, type 41, our UDP size, TTL 0, no rdata. */
    uint8_t tail[15] = {0};
    tail[0] = (uint8_t)(qtype >> 8);
    tail[1] = (uint8_t)qtype;
    tail[3] = CDNS_C_IN;
    tail[6] = CDNS_T_OPT;
    tail[7] = CDNS_EDNS_SIZE >> 8;
    tail[8] = CDNS_EDNS_SIZE & 0xff;
    memcpy(w + CDNS_DNS_HDR_LEN + nlen, tail, sizeof(tail));
    cdns_req_t *r = &s->req;
    r->wire = w;
    r->wire_len = CDNS_DNS_HDR_LEN + nlen + sizeof(tail);
    r->client = req->client;
    r->local = req->local;
    r->tcp = false;
    r->worker = req->worker;
    r->start_ns = req->start_ns;
    r->out = s->out;
    r->out_cap_ = SUB_OUT_CAP;
    r->out_len = 0;
    r->respond = sub_respond;
    r->net_data = NULL;
    r->super_ = req;
    r->depth_ = (uint8_t)(req->depth_ + 1);
    r->answered_by = NULL;
    r->error = NULL;
    r->chain_ = NULL;
    r->parked_ = false;
    s->serving = true;
    s->done = false;
    cdns_verdict_t v = CDNS_DONE;
    if (cdns_query_parse(r->wire, r->wire_len, &r->q) == CDNS_QUERY_OK)
        v = route_and_run(req->listener_, route_of(req->listener_, &r->q), r);
    s->serving = false;
    if (v == CDNS_ASYNC && !s->done)
        return CDNS_ASYNC;
    sub_append(req, r);
    sub_put(s);
    return CDNS_DONE;
}

cdns_verdict_t cdns_req_chase_cname(cdns_req_t *req)
{
    const cdns_msg_t *m = &req->msg;
    uint16_t qt = req->q.qtype;
    if (m->raw || m->count[CDNS_SEC_ANSWER] == 0 || m->rcode != CDNS_RCODE_NOERROR || qt == CDNS_T_CNAME ||
        qt == CDNS_T_ANY || m->count[CDNS_SEC_AUTHORITY] || m->count[CDNS_SEC_ADDITIONAL])
        return CDNS_DONE;
    /* The writer remembers the last ANSWER record, so only an answer that ends in a CNAME costs
     * the one unpack of its target. */
    if (m->last_an_type != CDNS_T_CNAME || m->last_an_rdata == 0 || m->last_an_rdata >= m->len)
        return CDNS_DONE;
    size_t pos = m->last_an_rdata, nlen = 0;
    uint8_t name[CDNS_DNAME_MAX];
    if (cdns_dname_unpack(m->buf, m->len, &pos, name, &nlen) != CDNS_OK)
        return CDNS_DONE;
    return cdns_req_subquery(req, name, qt);
}

/* ----------------------------------------------------------------- helpers */
int cdns_req_client_ip(const cdns_req_t *req, char *out, size_t outlen)
{
    const struct sockaddr *sa = (const struct sockaddr *)&req->client;
    const void *src = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                                : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return CDNS_EINVAL;
    return inet_ntop(sa->sa_family, src, out, (socklen_t)outlen) ? CDNS_OK : CDNS_ENOSPC;
}

uint16_t cdns_req_client_port(const cdns_req_t *req)
{
    const struct sockaddr *sa = (const struct sockaddr *)&req->client;
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    return 0;
}

/* ------------------------------------------------------------------ reload */
static bool dirs_equal(const cdns_cf_directive_t *a, const cdns_cf_directive_t *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nargs != b->nargs || a->has_block != b->has_block || a->nblock != b->nblock)
        return false;
    for (size_t i = 0; i < a->nargs; i++)
        if (strcmp(a->args[i].text, b->args[i].text) != 0)
            return false;
    for (size_t i = 0; i < a->nblock; i++)
        if (!dirs_equal(&a->block[i], &b->block[i]))
            return false;
    return true;
}

/* Same keys and same bind directives: what a plugin sees of its block besides its own stanza. */
static bool blocks_alike(const cdns_cf_block_t *a, const cdns_cf_block_t *b)
{
    if (a->nkeys != b->nkeys)
        return false;
    for (size_t k = 0; k < a->nkeys; k++)
        if (strcmp(a->keys[k].text, b->keys[k].text) != 0)
            return false;
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->ndirs && strcmp(a->dirs[i].name, "bind") != 0)
            i++;
        while (j < b->ndirs && strcmp(b->dirs[j].name, "bind") != 0)
            j++;
        if (i == a->ndirs || j == b->ndirs)
            return i == a->ndirs && j == b->ndirs;
        if (!dirs_equal(&a->dirs[i++], &b->dirs[j++]))
            return false;
    }
}

static void relink(cdns_chain_t *c)
{
    cdns_diag_t diag;
    for (int i = 0; i < c->n; i++)
        if (c->entries[i].api->link != NULL && c->entries[i].api->link(c->entries[i].inst, c, &diag) != CDNS_OK)
            cdns_warn("pipeline: plugin/%s: re-linking after reload: %s", c->entries[i].api->name, diag.msg);
}

static entry_t *find_same(cdns_pipeline_t *op, const cdns_chain_t *nc, const entry_t *ne)
{
    for (size_t c = 0; c < op->nchains; c++) {
        cdns_chain_t *oc = &op->chains[c];
        if (oc->blk == NULL || nc->blk == NULL || !blocks_alike(oc->blk, nc->blk))
            continue;
        for (int i = 0; i < oc->n; i++) {
            entry_t *oe = &oc->entries[i];
            if (oe->api == ne->api && !oe->lent && oe->d != NULL && ne->d != NULL && dirs_equal(oe->d, ne->d))
                return oe;
        }
    }
    return NULL;
}

size_t cdns_pipeline_adopt(cdns_pipeline_t *np, cdns_pipeline_t *op)
{
    size_t n = 0;
    for (size_t c = 0; op != NULL && c < np->nchains; c++) {
        cdns_chain_t *ch = &np->chains[c];
        bool changed = false;
        for (int i = 0; i < ch->n; i++) {
            entry_t *e = &ch->entries[i];
            if (!(e->api->flags & CDNS_PLUGIN_CARRY_OVER))
                continue;
            entry_t *oe = find_same(op, ch, e);
            if (oe == NULL)
                continue;
            /* The fresh instance was never started: drop it and take the running one. */
            for (unsigned w = 0; w < ch->nworkers; w++) {
                void **ws = &ch->ws[w * (unsigned)ch->n + (unsigned)i];
                if (e->api->worker_deinit != NULL)
                    e->api->worker_deinit(e->inst, *ws);
                *ws = NULL;
            }
            if (e->api->teardown != NULL)
                e->api->teardown(e->inst);
            e->inst = oe->inst;
            e->from = oe;
            oe->lent = true;
            for (unsigned w = 0; w < ch->nworkers; w++) {
                cdns_worker_t wk = {.id = w, .loop = NULL};
                if (e->api->worker_init != NULL &&
                    e->api->worker_init(e->inst, &wk, &ch->ws[w * (unsigned)ch->n + (unsigned)i]) != CDNS_OK)
                    cdns_warn("pipeline: plugin/%s: worker set-up failed after reload", e->api->name);
            }
            changed = true;
            n++;
        }
        if (changed)
            relink(ch);
    }
    return n;
}

void cdns_pipeline_adopt_commit(cdns_pipeline_t *np)
{
    for (size_t c = 0; c < np->nchains; c++)
        for (int i = 0; i < np->chains[c].n; i++)
            np->chains[c].entries[i].from = NULL;
}

void cdns_pipeline_adopt_undo(cdns_pipeline_t *np)
{
    for (size_t c = 0; c < np->nchains; c++)
        for (int i = 0; i < np->chains[c].n; i++) {
            entry_t *e = &np->chains[c].entries[i];
            if (e->from == NULL)
                continue;
            e->from->lent = false;
            e->from = NULL;
            e->lent = true;
        }
}

void cdns_pipeline_each(const cdns_pipeline_t *p, cdns_pipeline_visit_fn fn, void *arg)
{
    for (size_t c = 0; c < p->nchains; c++)
        for (int i = 0; i < p->chains[c].n; i++)
            fn(c, p->chains[c].entries[i].api, p->chains[c].entries[i].inst, arg);
}

void cdns_pipeline_report_enabled(const cdns_pipeline_t *p)
{
    cdns_pipeline__metrics_enabled_reset();
    for (size_t i = 0; i < p->nlisteners; i++)
        for (size_t r = 0; r < p->listeners[i].nroutes; r++)
            if (p->listeners[i].routes[r].pm != NULL)
                cdns_pipeline__metrics_enabled(p->listeners[i].routes[r].pm);
}

bool cdns_pipeline_same_listeners(const cdns_pipeline_t *a, const cdns_pipeline_t *b)
{
    if (a->nlisteners != b->nlisteners)
        return false;
    for (size_t i = 0; i < a->nlisteners; i++)
        if (cdns_pipeline_listener_index(b, a->pub[i].addr, a->pub[i].port) < 0)
            return false;
    return true;
}
