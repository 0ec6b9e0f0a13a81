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

#include <arpa/inet.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    const cdns_plugin_api_t *api;
    void *inst;
    int order; /* index in plugins.def */
    int seq;   /* position in the Corefile, to keep repeated directives in their order */
} entry_t;

struct cdns_chain {
    entry_t *entries;
    int n;
    void **ws; /* per-worker plugin states: ws[worker * n + i] */
    unsigned nworkers;
};

typedef struct route {
    uint8_t zone[CDNS_DNAME_MAX]; /* lowercase wire */
    uint8_t zone_len;
    const cdns_chain_t *chain;
} route_t;

typedef struct listener {
    cdns_listener_t pub;
    char server[96]; /* "dns://:53" */
    route_t *routes;
    size_t nroutes;
} listener_t;

struct cdns_pipeline {
    cdns_chain_t *chains;
    size_t nchains;
    listener_t *listeners;
    cdns_listener_t *pub;
    size_t nlisteners;
    bool started;
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
        if (e->api->teardown != NULL)
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
    }
    qsort(c->entries, (size_t)c->n, sizeof(entry_t), entry_cmp);

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
            rt->chain = chain;
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
        rc = setup_block(blk, dir, opts, &p->chains[b], &ctx, zones, diag);
        if (rc == CDNS_OK)
            rc = add_routes(p, blk, &ctx, &p->chains[b], opts->default_port ? opts->default_port : 53, diag);
        free(zones);
        if (rc != CDNS_OK)
            goto fail;
    }
    p->pub = calloc(p->nlisteners, sizeof(cdns_listener_t));
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

void cdns_pipeline_free(cdns_pipeline_t *p)
{
    if (p == NULL)
        return;
    if (p->started)
        cdns_pipeline_stop(p);
    for (size_t i = 0; i < p->nchains; i++)
        chain_deinit(&p->chains[i]);
    free(p->chains);
    for (size_t i = 0; i < p->nlisteners; i++)
        free(p->listeners[i].routes);
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
            if (e->api->start == NULL)
                continue;
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
            if (ch->entries[i].api->stop != NULL)
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
 * label boundaries from the left: at most 127 steps, each a few compares. */
static const route_t *route_find(const listener_t *l, const cdns_query_t *q)
{
    const uint8_t *name = q->qname_lower;
    size_t off = 0, len = q->qname_len;
    for (;;) {
        size_t rest = len - off;
        for (size_t r = 0; r < l->nroutes; r++) {
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

/* Writes an answer with only the question and rcode (REFUSED, SERVFAIL ...). */
static void answer_rcode(cdns_req_t *req, uint16_t rcode)
{
    cdns_msg_begin(&req->msg, req->out, CDNS_REQ_OUT_CAP, &req->q, req->tcp);
    cdns_msg_set_rcode(&req->msg, rcode);
    req->out_len = cdns_msg_finish(&req->msg);
}

/* Runs the on_response hooks from entry `last` back to the first, then finishes the message. */
static void complete(cdns_req_t *req, int last)
{
    const cdns_chain_t *c = req->chain_;
    for (int i = last; i >= 0; i--)
        if (c->entries[i].api->on_response != NULL)
            c->entries[i].api->on_response(req, c->entries[i].inst, wstate(req, i));
    req->out_len = cdns_msg_finish(&req->msg);
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
        cdns_verdict_t v = e->api->serve(req, e->inst, wstate(req, i));
        if (v == CDNS_DONE) {
            req->answered_by = e->api->name;
            break;
        }
        if (v == CDNS_ASYNC) {
            req->pos_ = i;
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

cdns_verdict_t cdns_pipeline_serve(const cdns_pipeline_t *p, int li, cdns_req_t *req)
{
    req->out_len = 0;
    req->answered_by = NULL;
    req->error = NULL;
    req->chain_ = NULL;
    cdns_query_status_t st = cdns_query_parse(req->wire, req->wire_len, &req->q);
    if (st != CDNS_QUERY_OK) {
        uint16_t rcode = CDNS_RCODE_FORMERR;
        if (st == CDNS_QUERY_DROP)
            return CDNS_DONE;
        if (st == CDNS_QUERY_NOTIMP)
            rcode = CDNS_RCODE_NOTIMP;
        else if (st == CDNS_QUERY_BADVERS)
            rcode = CDNS_RCODE_BADVERS;
        cdns_msg_begin_error(&req->msg, req->out, CDNS_REQ_OUT_CAP, req->wire, req->wire_len, &req->q, rcode);
        req->out_len = cdns_msg_finish(&req->msg);
        return CDNS_DONE;
    }
    if (li < 0 || (size_t)li >= p->nlisteners) {
        answer_rcode(req, CDNS_RCODE_REFUSED);
        return CDNS_DONE;
    }
    const listener_t *l = &p->listeners[li];
    req->server = l->server;
    req->port = l->pub.port;
    /* As CoreDNS: only class IN is served (no chaos plugin in this build). */
    const route_t *rt = req->q.qclass == CDNS_C_IN ? route_find(l, &req->q) : NULL;
    if (rt == NULL) {
        answer_rcode(req, CDNS_RCODE_REFUSED);
        return CDNS_DONE;
    }
    req->zone = rt->zone;
    req->zone_len = rt->zone_len;
    req->chain_ = rt->chain;
    req->pos_ = 0;
    cdns_msg_begin(&req->msg, req->out, CDNS_REQ_OUT_CAP, &req->q, req->tcp);
    return run(req);
}

void cdns_req_resume(cdns_req_t *req, cdns_verdict_t v)
{
    if (v == CDNS_NEXT) {
        req->pos_++;
        if (run(req) == CDNS_ASYNC)
            return;
    } else {
        req->answered_by = req->chain_->entries[req->pos_].api->name;
        complete(req, req->pos_);
    }
    if (req->respond != NULL)
        req->respond(req);
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
