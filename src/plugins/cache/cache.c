/* SPDX-License-Identifier: MIT */
/* cache — answers repeated questions from memory (CoreDNS's cache plugin).
 *
 * serve() (worker threads) looks the question up in the denial table, then the success table,
 * as CoreDNS does; a hit copies the stored sections into the response after the client's own
 * question (so compression pointers stay valid and the client's letter case and ID come back),
 * ages every TTL, and returns DONE without allocating or locking. A miss returns NEXT and
 * on_response() stores what the rest of the chain produced, TTLs capped as CoreDNS caps them.
 * Prefetch and serve_stale refreshes are background requests: preallocated per worker, run
 * through the rest of the chain with cdns_req_next(), stored by this plugin's own on_response,
 * never answered to anyone.
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define NBG 4      /* background refreshes in flight per worker and instance */
#define MAX_RRS 64 /* records examined for CoreDNS's "does it answer the question" */
#define NSERIES 8

typedef struct cache_ws cache_ws_t;

typedef struct bgreq {
    cdns_req_t req;
    uint8_t wire[CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4 + 11];
    uint8_t *out;
    bool busy;
    bool stale; /* a serve_stale refresh: keep the old entry unless the answer is usable */
    cdns_cslot_t *slot;
    cdns_cache_t *c;
    cache_ws_t *ws;
} bgreq_t;

struct cache_ws {
    cdns_cache_series_t series[NSERIES];
    unsigned nseries;
    bgreq_t bg[NBG];
    uint16_t next_id;
};

/* Response kinds, as CoreDNS's response.Typify. */
typedef enum { T_NOERROR, T_NAMEERROR, T_NODATA, T_DELEGATION, T_SERVERERROR, T_OTHER } rtype_t;

static const char *const kind_name[2] = {"success", "denial"};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Offset past a possibly compressed name, or 0 when it runs off the end. */
static size_t skip_name(const uint8_t *b, size_t len, size_t off)
{
    while (off < len) {
        uint8_t l = b[off];
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : 0;
        if (l & 0xc0)
            return 0;
        off += (size_t)l + 1;
        if (l == 0)
            return off <= len ? off : 0;
    }
    return 0;
}

static uint8_t query_bits(const cdns_query_t *q)
{
    return (uint8_t)(((q->edns_flags & CDNS_EDNS_DO) ? CDNS_CACHE_DO : 0) |
                     ((q->flags & CDNS_F_CD) ? CDNS_CACHE_CD : 0));
}

/* ---------------------------------------------------------------- metrics */
static cdns_metric_t *fam_entries, *fam_requests, *fam_hits, *fam_misses, *fam_prefetch, *fam_drops, *fam_stale,
    *fam_evictions;

static void families(void)
{
    static const char *const l4[] = {"server", "type", "zones", "view"};
    static const char *const l3[] = {"server", "zones", "view"};
    fam_entries = cdns_metric_register("coredns_cache_entries", "The number of elements in the cache.",
                                       CDNS_METRIC_GAUGE, l4, 4, NULL, 0);
    fam_requests = cdns_metric_register("coredns_cache_requests_total", "The count of cache requests.",
                                        CDNS_METRIC_COUNTER, l3, 3, NULL, 0);
    fam_hits = cdns_metric_register("coredns_cache_hits_total", "The count of cache hits.", CDNS_METRIC_COUNTER, l4, 4,
                                    NULL, 0);
    fam_misses =
        cdns_metric_register("coredns_cache_misses_total",
                             "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
                             CDNS_METRIC_COUNTER, l3, 3, NULL, 0);
    fam_prefetch = cdns_metric_register("coredns_cache_prefetch_total",
                                        "The number of times the cache has prefetched a cached item.",
                                        CDNS_METRIC_COUNTER, l3, 3, NULL, 0);
    fam_drops = cdns_metric_register("coredns_cache_drops_total",
                                     "The number responses that are not cached, because the reply is malformed.",
                                     CDNS_METRIC_COUNTER, l3, 3, NULL, 0);
    fam_stale = cdns_metric_register("coredns_cache_served_stale_total",
                                     "The number of requests served from stale cache entries.", CDNS_METRIC_COUNTER, l3,
                                     3, NULL, 0);
    fam_evictions = cdns_metric_register("coredns_cache_evictions_total", "The count of cache evictions.",
                                         CDNS_METRIC_COUNTER, l4, 4, NULL, 0);
}

static double entries_fn(void *arg)
{
    return (double)cdns_cache__count(arg);
}

/* The handles for req's server label: found by pointer (the pipeline's listener string); made on
 * a worker's first query from that listener, the only time this path takes a lock. */
static cdns_cache_series_t *series_for(cdns_cache_t *c, cache_ws_t *ws, const cdns_req_t *req)
{
    const char *server = req->server ? req->server : "dns://:53";
    for (unsigned i = 0; i < ws->nseries; i++)
        if (ws->series[i].server == server)
            return &ws->series[i];
    cdns_cache_series_t *s = &ws->series[ws->nseries < NSERIES ? ws->nseries++ : NSERIES - 1];
    s->server = server;
    const char *v3[] = {server, c->zones_label, ""};
    s->requests = cdns_metric_series(fam_requests, v3);
    s->misses = cdns_metric_series(fam_misses, v3);
    s->prefetch = cdns_metric_series(fam_prefetch, v3);
    s->drops = cdns_metric_series(fam_drops, v3);
    s->stale = cdns_metric_series(fam_stale, v3);
    for (int k = 0; k < 2; k++) {
        const char *v4[] = {server, kind_name[k], c->zones_label, ""};
        s->hits[k] = cdns_metric_series(fam_hits, v4);
        s->evictions[k] = cdns_metric_series(fam_evictions, v4);
        cdns_metric_gauge_func(fam_entries, v4, entries_fn, &c->table[k]);
    }
    return s;
}

static void inc(cdns_series_t *s, const cdns_req_t *req)
{
    if (s != NULL)
        cdns_series_inc(s, req->worker ? req->worker->id : 0);
}

/* ------------------------------------------------------------------ lookup */
static int64_t remaining_s(const cdns_centry_t *e, uint64_t now_ms)
{
    /* now may precede stored_ms: a batch's time, read before another worker stored the entry. */
    uint64_t age_ms = now_ms > e->stored_ms ? now_ms - e->stored_ms : 0;
    return (int64_t)e->ttl_s - (int64_t)(age_ms / 1000);
}

static bool usable(const cdns_cache_t *c, const cdns_centry_t *e, uint64_t now_ms)
{
    int64_t ttl = remaining_s(e, now_ms);
    return ttl > 0 || (c->stale_ms > 0 && (uint64_t)(-ttl) * 1000 < c->stale_ms);
}

/* The plugin's name, which a cached answer puts in req->answered_by: the pipeline and
 * on_response know the answerer by this pointer. */
static const char plugin_name[] = "cache";

/* CoreDNS's getIfNotStale: denial first (but a cached SERVFAIL yields to a live positive
 * answer), then success. Fills *e and returns the kind, or -1. With out, the entry's sections
 * are copied there too (at most outcap octets; a larger entry is a miss), so that answering
 * needs no second lookup. */
static int find(cdns_cache_t *c, uint64_t key, const cdns_query_t *q, uint8_t bits, uint64_t now_ms, cdns_centry_t *e,
                cdns_cslot_t **slot, uint8_t *out, size_t outcap)
{
    cdns_centry_t pe;
    cdns_cslot_t *s = cdns_cache__get(&c->table[CDNS_CACHE_DENIAL], key, q, bits, e, out, outcap);
    if (s != NULL && usable(c, e, now_ms)) {
        if (e->rcode == CDNS_RCODE_SERVFAIL) {
            /* Looked at without copying, so that out keeps the denial's sections. */
            cdns_cslot_t *p = cdns_cache__get(&c->table[CDNS_CACHE_SUCCESS], key, q, bits, &pe, NULL, 0);
            if (p != NULL && usable(c, &pe, now_ms)) {
                if (out != NULL && cdns_cache__get(&c->table[CDNS_CACHE_SUCCESS], key, q, bits, &pe, out, outcap) != p)
                    return -1; /* replaced while copied: a miss */
                *e = pe;
                *slot = p;
                return CDNS_CACHE_SUCCESS;
            }
        }
        *slot = s;
        return CDNS_CACHE_DENIAL;
    }
    s = cdns_cache__get(&c->table[CDNS_CACHE_SUCCESS], key, q, bits, e, out, outcap);
    if (s != NULL && usable(c, e, now_ms)) {
        *slot = s;
        return CDNS_CACHE_SUCCESS;
    }
    return -1;
}

/* Writes the entry of kind k into req->msg (begun, holding only the question) with every TTL
 * set to ttl, cutting it to whole records under the client's size limit. With loaded, find()
 * already copied that entry's sections after the question; without, they are copied here. False
 * when the entry changed under us (a writer replaced it): the caller treats that as a miss. */
static bool put_answer(cdns_cache_t *c, int k, uint64_t key, cdns_req_t *req, uint8_t bits, uint32_t ttl,
                       const cdns_centry_t *loaded)
{
    cdns_msg_t *m = &req->msg;
    size_t base = m->len;
    cdns_centry_t e;
    if (loaded != NULL)
        e = *loaded;
    else if (cdns_cache__get(&c->table[k], key, &req->q, bits, &e, m->buf + base, m->cap - base) == NULL)
        return false;
    size_t limit = m->limit > m->reserve ? m->limit - m->reserve : 0;
    size_t off = base, end = base + e.data_len;
    unsigned total = (unsigned)e.count[0] + e.count[1] + e.count[2], kept = 0;
    for (; kept < total; kept++) {
        size_t o = skip_name(m->buf, end, off);
        if (o == 0 || o + 10 > end)
            return false; /* cannot happen: it was checked when stored */
        size_t rend = o + 10 + get16(m->buf + o + 8);
        if (rend > end)
            return false;
        if (rend > limit) {
            m->truncated = true;
            break;
        }
        put32(m->buf + o + 4, ttl);
        off = rend;
    }
    unsigned left = kept;
    for (int s = 0; s < 3; s++) {
        m->count[s] = (uint16_t)(left < e.count[s] ? left : e.count[s]);
        left -= m->count[s];
    }
    m->len = off;
    /* As CoreDNS's item.toMsg: authoritative, RA and AD as the upstream said (AD only when the
     * client asked with DO or AD), the stored rcode. */
    m->flags |= CDNS_F_AA;
    m->flags |= e.flags & CDNS_F_RA;
    if ((e.flags & CDNS_F_AD) && ((bits & CDNS_CACHE_DO) || (req->q.flags & CDNS_F_AD)))
        m->flags |= CDNS_F_AD;
    cdns_msg_set_rcode(m, e.rcode);
    req->answered_by = plugin_name;
    return true;
}

/* ------------------------------------------------------------- background */
static void bg_release(bgreq_t *bg)
{
    if (bg->slot != NULL)
        atomic_store_explicit(&bg->slot->refreshing, 0, memory_order_relaxed);
    bg->slot = NULL;
    bg->busy = false;
}

static void bg_done(cdns_req_t *req)
{
    bg_release(req->net_data);
}

static void cache_response(cdns_req_t *req, void *inst, void *wsp);

/* Sends the question of req through the rest of the chain in the background (CoreDNS's
 * prefetch goroutine); the answer only refreshes the cache. */
static void bg_start(cdns_cache_t *c, cache_ws_t *ws, cdns_req_t *req, cdns_cslot_t *slot, bool stale,
                     cdns_cache_series_t *se)
{
    bgreq_t *bg = NULL;
    for (unsigned i = 0; ws != NULL && i < NBG; i++)
        if (!ws->bg[i].busy && ws->bg[i].out != NULL) {
            bg = &ws->bg[i];
            break;
        }
    if (bg == NULL) {
        atomic_store_explicit(&slot->refreshing, 0, memory_order_relaxed);
        return;
    }
    const cdns_query_t *q = &req->q;
    uint8_t *w = bg->wire;
    uint16_t id = ++ws->next_id;
    /* RD and CD as the client asked; AD set, as CoreDNS's refresh requests do. */
    uint16_t flags = (uint16_t)((q->flags & (CDNS_F_RD | CDNS_F_CD)) | CDNS_F_AD);
    memset(w, 0, CDNS_DNS_HDR_LEN);
    w[0] = (uint8_t)(id >> 8);
    w[1] = (uint8_t)id;
    w[2] = (uint8_t)(flags >> 8);
    w[3] = (uint8_t)flags;
    w[5] = 1;
    size_t off = CDNS_DNS_HDR_LEN;
    memcpy(w + off, q->qname_lower, q->qname_len);
    off += q->qname_len;
    w[off++] = (uint8_t)(q->qtype >> 8);
    w[off++] = (uint8_t)q->qtype;
    w[off++] = (uint8_t)(q->qclass >> 8);
    w[off++] = (uint8_t)q->qclass;
    if (q->has_edns) {
        static const uint8_t opt[] = {0, 0, 41, (CDNS_EDNS_SIZE >> 8) & 0xff, CDNS_EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0};
        w[11] = 1;
        memcpy(w + off, opt, sizeof(opt));
        if (q->edns_flags & CDNS_EDNS_DO)
            w[off + 7] = 0x80;
        off += sizeof(opt);
    }
    cdns_req_t *r = &bg->req;
    memset(r, 0, sizeof(*r));
    if (cdns_query_parse(w, off, &r->q) != CDNS_QUERY_OK) {
        atomic_store_explicit(&slot->refreshing, 0, memory_order_relaxed);
        return;
    }
    r->wire = w;
    r->wire_len = off;
    r->local = req->local;
    r->worker = req->worker;
    r->start_ns = cdns_clock_mono_ns();
    r->zone = req->zone;
    r->zone_len = req->zone_len;
    r->port = req->port;
    r->server = req->server;
    r->out = bg->out;
    r->chain_ = req->chain_;
    r->listener_ = req->listener_;
    r->pos_ = req->pos_;
    r->base_ = req->pos_; /* on resume, hooks stop at this plugin: nobody else sees it */
    r->respond = bg_done;
    r->net_data = bg;
    cdns_msg_begin(&r->msg, bg->out, CDNS_REQ_OUT_CAP, &r->q, false);
    bg->busy = true;
    bg->stale = stale;
    bg->slot = slot;
    inc(se->prefetch, req);
    cdns_verdict_t v = cdns_req_next(r);
    if (v == CDNS_ASYNC)
        return;
    if (v == CDNS_DONE)
        cache_response(r, c, ws);
    bg_release(bg);
}

/* ------------------------------------------------------------------- serve */
static cdns_verdict_t cache_serve(cdns_req_t *req, void *inst, void *wsp)
{
    cdns_cache_t *c = inst;
    cache_ws_t *ws = wsp;
    const cdns_query_t *q = &req->q;
    if (!q->has_question ||
        !cdns_dname_under_any(q->qname_lower, q->qname_len, (const uint8_t(*)[CDNS_DNAME_MAX])c->zones, c->nzones))
        return CDNS_NEXT;
    cdns_cache_series_t *se = ws ? series_for(c, ws, req) : NULL;
    static cdns_cache_series_t none;
    if (se == NULL)
        se = &none;
    uint8_t bits = query_bits(q);
    uint64_t key = cdns_cache__key(q, bits);
    /* The time the query's batch was received (same clock), rather than a clock read per query. */
    uint64_t now = req->start_ns ? req->start_ns / 1000000u : cdns_clock_mono_ms();
    inc(se->requests, req);
    cdns_centry_t e;
    cdns_cslot_t *slot = NULL;
    cdns_msg_t *m = &req->msg;
    int k = find(c, key, q, bits, now, &e, &slot, m->buf + m->len, m->cap - m->len);
    if (k < 0) {
        inc(se->misses, req);
        return CDNS_NEXT;
    }
    inc(se->hits[k], req);
    int64_t ttl = remaining_s(&e, now);
    bool stale = ttl <= 0;
    if (stale && c->verify) {
        /* verify: this request asks the rest of the chain first; on_response falls back to the
         * stale entry when that fails. Within a failure-recheck period, or while another
         * request verifies, the stale entry is served at once. */
        bool recent = c->recheck_ms && now < atomic_load_explicit(&slot->retry_ms, memory_order_relaxed);
        if (!recent) {
            uint32_t zero = 0;
            if (!c->recheck_ms || atomic_compare_exchange_strong(&slot->refreshing, &zero, 1))
                return CDNS_NEXT;
        }
    }
    uint32_t out_ttl = c->keepttl ? e.ttl_s : (uint32_t)(stale ? 0 : ttl);
    if (stale && c->stale_ttl_s)
        out_ttl = c->stale_ttl_s;
    cdns_msg_mark_t mark = cdns_msg_mark(&req->msg);
    if (!put_answer(c, k, key, req, bits, out_ttl, &e)) {
        cdns_msg_rollback(&req->msg, mark);
        req->msg.truncated = false;
        return CDNS_NEXT;
    }
    if (stale) {
        inc(se->stale, req);
        bool recent = c->recheck_ms && now < atomic_load_explicit(&slot->retry_ms, memory_order_relaxed);
        uint32_t zero = 0;
        if (!c->verify && !recent && atomic_compare_exchange_strong(&slot->refreshing, &zero, 1))
            bg_start(c, ws, req, slot, true, se);
    } else if (c->prefetch > 0) {
        /* CoreDNS's freq: hits counted with no gap longer than the window. */
        uint64_t last = atomic_load_explicit(&slot->last_ms, memory_order_relaxed);
        uint32_t hits;
        if (last == 0 || (now > last && now - last > c->prefetch_window_ms)) {
            hits = 1;
            atomic_store_explicit(&slot->hits, 1, memory_order_relaxed);
        } else {
            hits = atomic_fetch_add_explicit(&slot->hits, 1, memory_order_relaxed) + 1;
        }
        atomic_store_explicit(&slot->last_ms, now, memory_order_relaxed);
        uint64_t threshold = ((uint64_t)c->percentage * e.ttl_s + 99) / 100;
        uint32_t zero = 0;
        if (hits >= c->prefetch && (uint64_t)ttl <= threshold &&
            atomic_compare_exchange_strong(&slot->refreshing, &zero, 1))
            bg_start(c, ws, req, slot, false, se);
    }
    return CDNS_DONE;
}

/* ------------------------------------------------------------ on_response */
typedef struct rrref {
    size_t owner;
    size_t rdata;
    uint16_t type, rclass;
} rrref_t;

static bool name_at_eq(const uint8_t *b, size_t len, size_t off, const uint8_t *lower)
{
    uint8_t n[CDNS_DNAME_MAX];
    size_t nl = 0, p = off;
    if (cdns_dname_unpack(b, len, &p, n, &nl) != CDNS_OK)
        return false;
    return cdns_dname_equal(n, lower);
}

/* CoreDNS's answersQuestion: the answer holds the asked type at the name the CNAME chain from
 * the question ends at (ANY: anything at the name; CNAME: a single target). */
static bool answers_question(const uint8_t *b, size_t len, const rrref_t *rr, size_t n, const cdns_query_t *q)
{
    uint8_t name[CDNS_DNAME_MAX];
    memcpy(name, q->qname_lower, q->qname_len);
    for (int hop = 0; hop <= (int)n; hop++) {
        uint8_t target[CDNS_DNAME_MAX];
        size_t tl = 0;
        bool have = false;
        for (size_t i = 0; i < n; i++) {
            if (q->qtype == CDNS_T_ANY && name_at_eq(b, len, rr[i].owner, name))
                return true;
            if (rr[i].type != CDNS_T_CNAME || !name_at_eq(b, len, rr[i].owner, name))
                continue;
            uint8_t t[CDNS_DNAME_MAX];
            size_t p = rr[i].rdata, l = 0;
            if (cdns_dname_unpack(b, len, &p, t, &l) != CDNS_OK)
                return false;
            if (have && !cdns_dname_equal(t, target))
                return false; /* two different targets: not canonical */
            memcpy(target, t, l);
            tl = l;
            have = true;
        }
        if (q->qtype == CDNS_T_ANY)
            return false;
        if (q->qtype == CDNS_T_CNAME)
            return have;
        if (!have)
            break;
        memcpy(name, target, tl);
        cdns_dname_lower(name);
    }
    for (size_t i = 0; i < n; i++)
        if (rr[i].type == q->qtype && name_at_eq(b, len, rr[i].owner, name))
            return true;
    return false;
}

static bool question_matches(const cdns_msg_t *m, const cdns_query_t *q)
{
    size_t qo = CDNS_DNS_HDR_LEN;
    if (m->len < qo + q->question_len || get16(m->buf + 4) != 1)
        return false;
    uint8_t n[CDNS_DNAME_MAX];
    memcpy(n, m->buf + qo, q->qname_len);
    if (n[q->qname_len - 1] != 0 || cdns_dname_len(n) != q->qname_len)
        return false;
    return cdns_dname_equal(n, q->qname_lower) && get16(m->buf + qo + q->qname_len) == q->qtype &&
           get16(m->buf + qo + q->qname_len + 2) == q->qclass;
}

static bool is_refreshed(uint16_t rcode, rtype_t t, bool truncated)
{
    return !truncated && t != T_OTHER && (rcode == CDNS_RCODE_NOERROR || rcode == CDNS_RCODE_NXDOMAIN);
}

/* verify mode: the chain did not give a usable answer, so the stale entry is served instead.
 * Returns true when it was. */
static bool serve_stale_instead(cdns_cache_t *c, cdns_req_t *req, cache_ws_t *ws)
{
    const cdns_query_t *q = &req->q;
    uint8_t bits = query_bits(q);
    uint64_t key = cdns_cache__key(q, bits);
    uint64_t now = cdns_clock_mono_ms();
    cdns_centry_t e;
    cdns_cslot_t *slot = NULL;
    int k = find(c, key, q, bits, now, &e, &slot, NULL, 0);
    if (k < 0)
        return false;
    if (c->recheck_ms) {
        atomic_store_explicit(&slot->retry_ms, now + c->recheck_ms, memory_order_relaxed);
        atomic_store_explicit(&slot->refreshing, 0, memory_order_relaxed);
    }
    int64_t ttl = remaining_s(&e, now);
    uint32_t out_ttl = c->keepttl ? e.ttl_s : ttl > 0 ? (uint32_t)ttl : 0;
    if (ttl <= 0 && c->stale_ttl_s)
        out_ttl = c->stale_ttl_s;
    cdns_msg_begin(&req->msg, req->out, CDNS_REQ_OUT_CAP, q, req->tcp);
    if (!put_answer(c, k, key, req, bits, out_ttl, NULL))
        return false;
    req->error = NULL;
    if (ws != NULL && ttl <= 0)
        inc(series_for(c, ws, req)->stale, req);
    return true;
}

static void cache_response(cdns_req_t *req, void *inst, void *wsp)
{
    cdns_cache_t *c = inst;
    cache_ws_t *ws = wsp;
    const cdns_query_t *q = &req->q;
    cdns_msg_t *m = &req->msg;
    if (req->answered_by == plugin_name)
        return; /* our own answer */
    if (!q->has_question ||
        !cdns_dname_under_any(q->qname_lower, q->qname_len, (const uint8_t(*)[CDNS_DNAME_MAX])c->zones, c->nzones))
        return;
    bgreq_t *bg = req->respond == bg_done ? req->net_data : NULL;
    if (!question_matches(m, q)) {
        if (ws != NULL)
            inc(series_for(c, ws, req)->drops, req);
        return;
    }
    /* Walk the records: kinds, the smallest TTL, the TTL fields to rewrite. */
    uint8_t *b = m->buf;
    size_t len = m->len, off = CDNS_DNS_HDR_LEN + q->question_len, data_end = off;
    unsigned cnt[3] = {m->count[0], m->count[1], m->count[2]};
    unsigned total = cnt[0] + cnt[1] + cnt[2];
    size_t ttl_at[256];
    rrref_t ans[MAX_RRS];
    size_t nans = 0, nttl = 0;
    bool soa = false, opt_last = true, ok = true, many = false;
    unsigned nsrr = 0, opt_seen = 0;
    uint32_t minttl = UINT32_MAX;
    for (unsigned i = 0; i < total; i++) {
        size_t o = skip_name(b, len, off);
        if (o == 0 || o + 10 > len || o + 10 + get16(b + o + 8) > len) {
            ok = false;
            break;
        }
        uint16_t type = get16(b + o);
        size_t rend = o + 10 + get16(b + o + 8);
        if (type == CDNS_T_OPT) {
            opt_seen++;
            off = rend;
            continue;
        }
        if (opt_seen)
            opt_last = false;
        uint32_t t = get32(b + o + 4);
        if (t < minttl)
            minttl = t;
        if (nttl < CDNS_ARRAY_LEN(ttl_at))
            ttl_at[nttl++] = o + 4;
        else
            many = true;
        if (i < cnt[0]) {
            if (nans < MAX_RRS)
                ans[nans++] = (rrref_t){off, o + 10, type, get16(b + o + 2)};
            else
                many = true;
        } else if (i < cnt[0] + cnt[1]) {
            if (type == CDNS_T_SOA)
                soa = true;
            if (type == CDNS_T_NS)
                nsrr++;
        }
        off = rend;
        data_end = rend;
    }
    if (!ok)
        return;
    uint16_t rcode = m->rcode & 0xf;
    uint16_t flags = m->raw ? get16(b + 2) : m->flags;
    rtype_t t;
    if (CDNS_F_OPCODE(flags) != CDNS_OPCODE_QUERY || q->qtype == CDNS_T_AXFR || q->qtype == CDNS_T_IXFR)
        return; /* CoreDNS's Meta and Update: never cached, left alone */
    bool nodata = cnt[0] > 0 && !many && !answers_question(b, len, ans, nans, q);
    if (cnt[0] > 0 && rcode == CDNS_RCODE_NOERROR)
        t = T_NOERROR;
    else if (cnt[0] > 0 && rcode == CDNS_RCODE_NXDOMAIN)
        t = T_OTHER;
    else if (soa && rcode == CDNS_RCODE_NOERROR)
        t = T_NODATA;
    else if (rcode == CDNS_RCODE_NXDOMAIN)
        t = T_NAMEERROR;
    else if (rcode == CDNS_RCODE_SERVFAIL || rcode == CDNS_RCODE_NOTIMP)
        t = T_SERVERERROR;
    else if (nsrr > 0 && rcode == CDNS_RCODE_NOERROR)
        t = T_DELEGATION;
    else if (rcode == CDNS_RCODE_NOERROR)
        t = T_NOERROR;
    else
        t = T_OTHER;
    if (t == T_NOERROR && soa && nodata)
        t = T_NODATA;

    if (bg != NULL && bg->stale && !is_refreshed(rcode, t, m->truncated)) {
        if (c->recheck_ms && bg->slot != NULL)
            atomic_store_explicit(&bg->slot->retry_ms, cdns_clock_mono_ms() + c->recheck_ms, memory_order_relaxed);
        return; /* a failed refresh leaves the stale entry as it was */
    }
    if (bg == NULL && c->stale_ms && c->verify && !is_refreshed(rcode, t, m->truncated) &&
        serve_stale_instead(c, req, ws))
        return;

    /* The duration, as CoreDNS's WriteMsg: the smallest TTL (5 s when there is nothing to take
     * it from, or for kinds other than answers and denials) between the kind's MINTTL and TTL. */
    int k = (t == T_NAMEERROR || t == T_NODATA || t == T_SERVERERROR) ? CDNS_CACHE_DENIAL : CDNS_CACHE_SUCCESS;
    uint32_t dur;
    if (t == T_SERVERERROR) {
        dur = c->fail_ttl;
    } else {
        uint32_t msg_ttl = 5;
        if ((t == T_NOERROR || t == T_NAMEERROR || t == T_NODATA) && nttl > 0)
            msg_ttl = minttl < c->max_ttl[k] ? minttl : c->max_ttl[k];
        dur = msg_ttl < c->min_ttl[k] ? c->min_ttl[k] : msg_ttl;
        if (dur > c->max_ttl[k])
            dur = c->max_ttl[k];
    }
    /* CoreDNS sends every record with that TTL, even on the miss that stores it. */
    if (!many)
        for (size_t i = 0; i < nttl; i++)
            put32(b + ttl_at[i], dur);
    bool dnssec_ok = (q->edns_flags & CDNS_EDNS_DO) != 0;
    if (!dnssec_ok && !(q->flags & CDNS_F_AD)) {
        if (m->raw)
            b[3] &= (uint8_t)~CDNS_F_AD;
        m->flags &= (uint16_t)~CDNS_F_AD;
    }

    bool cacheable = !m->truncated && t != T_OTHER && !(t == T_NAMEERROR && !soa) &&
                     !(t == T_NOERROR && !soa && nodata) && dur > 0 && !many && opt_last && opt_seen <= 1;
    if (!cacheable ||
        (c->nexcept[k] && cdns_dname_under_any(q->qname_lower, q->qname_len,
                                               (const uint8_t(*)[CDNS_DNAME_MAX])c->except[k], c->nexcept[k])))
        return;
    size_t data_off = CDNS_DNS_HDR_LEN + q->question_len;
    if (data_end - data_off > CDNS_CACHE_LARGE)
        return;
    uint8_t bits = query_bits(q);
    cdns_centry_t e = {
        .key = cdns_cache__key(q, bits),
        .stored_ms = cdns_clock_mono_ms(),
        .ttl_s = dur,
        .qtype = q->qtype,
        .qclass = q->qclass,
        .flags = flags,
        .rcode = rcode,
        .count = {(uint16_t)cnt[0], (uint16_t)cnt[1], (uint16_t)(cnt[2] - opt_seen)},
        .data_len = (uint16_t)(data_end - data_off),
        .qname_len = q->qname_len,
        .bits = bits,
    };
    bool evicted = false;
    if (cdns_cache__put(&c->table[k], &e, q->qname_lower, b + data_off, &evicted) == CDNS_OK && evicted && ws)
        inc(series_for(c, ws, req)->evictions[k], req);
}

/* ------------------------------------------------------------------ wiring */
static int cache_worker_init(void *inst, cdns_worker_t *w, void **wsp)
{
    (void)w;
    cdns_cache_t *c = inst;
    cache_ws_t *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return CDNS_ENOMEM;
    if (fam_entries == NULL)
        families();
    /* Buffers for background refreshes are made now so that a hit never allocates. */
    if (c->prefetch > 0 || c->stale_ms > 0)
        for (unsigned i = 0; i < NBG; i++) {
            ws->bg[i].out = malloc(CDNS_REQ_OUT_CAP);
            if (ws->bg[i].out == NULL)
                goto fail;
            ws->bg[i].c = c;
            ws->bg[i].ws = ws;
        }
    *wsp = ws;
    return CDNS_OK;
fail:
    for (unsigned i = 0; i < NBG; i++)
        free(ws->bg[i].out);
    free(ws);
    return CDNS_ENOMEM;
}

static void cache_worker_deinit(void *inst, void *wsp)
{
    (void)inst;
    cache_ws_t *ws = wsp;
    if (ws == NULL)
        return;
    /* A background request still parked in a later plugin is finished by that plugin's own
     * shutdown before the pipeline is freed; its buffer goes with the worker state. */
    for (unsigned i = 0; i < NBG; i++)
        free(ws->bg[i].out);
    free(ws);
}

const cdns_plugin_api_t cdns_plugin_cache = {
    .name = plugin_name,
    .setup = cdns_cache__setup,
    .teardown = cdns_cache__teardown,
    .worker_init = cache_worker_init,
    .worker_deinit = cache_worker_deinit,
    .serve = cache_serve,
    .on_response = cache_response,
    .flags = CDNS_PLUGIN_ONCE,
};
