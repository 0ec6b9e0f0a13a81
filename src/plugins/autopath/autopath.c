/* SPDX-License-Identifier: MIT */
/* autopath — walks a pod's DNS search path on the server (CoreDNS's autopath plugin).
 *
 * A query for "name.<ns>.svc.<zone>" from a pod of namespace ns is tried as name.<ns>.svc.<zone>,
 * name.svc.<zone>, name.<zone>, then name itself, through the rest of the chain
 * (cdns_req_next); the first candidate that is not NXDOMAIN is answered under the original
 * question with a CNAME to the candidate, as CoreDNS does, so an ndots:5 lookup of example.com
 * costs one round trip. The client's namespace comes from a pod-IP table the main thread builds
 * from the kubernetes plugin (`pods verified`) and publishes with RCU; workers read it without
 * locks. When the last candidate goes to an asynchronous plugin (forward), on_response does the
 * rewriting once the answer is back. Per-worker scratch space is made at worker_init.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "autopath.h"
#include "cdns/metrics.h"

#define REFRESH_MS 500

typedef struct podip {
    uint8_t fam; /* 4 or 6 */
    uint8_t addr[16];
    uint32_t ns; /* index into names */
} podip_t;

struct cdns_ap_table {
    podip_t *v;
    size_t n, cap;
    uint8_t (*ns)[CDNS_LABEL_MAX + 1]; /* namespace as one wire label */
    size_t nns, nscap;
};

typedef struct ap_ws {
    uint8_t scratch[CDNS_REQ_OUT_CAP];
    uint8_t qwire[1024]; /* the candidate's query, for plugins that forward the wire */
    const char *server;
    cdns_series_t *success;
} ap_ws_t;

static cdns_metric_t *fam_success;

static int cmp_ip(const podip_t *a, const podip_t *b)
{
    if (a->fam != b->fam)
        return a->fam < b->fam ? -1 : 1;
    return memcmp(a->addr, b->addr, 16);
}

static int podip_cmp(const void *a, const void *b)
{
    return cmp_ip(a, b);
}

void cdns_ap__table_free(cdns_ap_table_t *t)
{
    if (t == NULL)
        return;
    free(t->v);
    free(t->ns);
    free(t);
}

static bool parse_ip(const char *text, podip_t *p)
{
    memset(p, 0, sizeof(*p));
    if (inet_pton(AF_INET, text, p->addr) == 1) {
        p->fam = 4;
        return true;
    }
    if (inet_pton(AF_INET6, text, p->addr) == 1) {
        p->fam = 6;
        return true;
    }
    return false;
}

/* Adds every address of one pod (main thread, while building a table). */
static bool visit_pod(const cdns_k8s_object_t *o, void *arg)
{
    cdns_ap_table_t *t = arg;
    const cdns_k8s_pod_t *pod = o->u.pod;
    size_t nl = strlen(pod->ns);
    if (pod->terminating || nl == 0 || nl > CDNS_LABEL_MAX)
        return true;
    uint32_t nsi = (uint32_t)t->nns;
    if (t->nns == 0 || memcmp(t->ns[t->nns - 1] + 1, pod->ns, nl) != 0 || t->ns[t->nns - 1][0] != nl) {
        if (t->nns == t->nscap) {
            size_t nc = t->nscap ? t->nscap * 2 : 16;
            void *p = realloc(t->ns, nc * sizeof(*t->ns));
            if (p == NULL)
                return false;
            t->ns = p;
            t->nscap = nc;
        }
        t->ns[t->nns][0] = (uint8_t)nl;
        memcpy(t->ns[t->nns] + 1, pod->ns, nl);
        t->nns++;
    } else {
        nsi = (uint32_t)t->nns - 1;
    }
    for (size_t i = 0; i < pod->nips; i++) {
        podip_t p;
        if (!parse_ip(pod->ips[i], &p))
            continue;
        p.ns = nsi;
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 64;
            void *np = realloc(t->v, nc * sizeof(*t->v));
            if (np == NULL)
                return false;
            t->v = np;
            t->cap = nc;
        }
        t->v[t->n++] = p;
    }
    return true;
}

/* Main thread: rebuilds the table when the kubernetes plugin's pods changed. */
static void refresh(cdns_ap_t *ap)
{
    const char *const *zones;
    size_t nz;
    const void *version = NULL;
    if (cdns_kube_autopath(ap->kube, &zones, &nz, NULL, NULL, &version) != CDNS_OK || version == ap->version)
        return;
    cdns_ap_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return;
    cdns_kube_autopath(ap->kube, &zones, &nz, visit_pod, t, &version);
    qsort(t->v, t->n, sizeof(*t->v), podip_cmp);
    cdns_debug("plugin/autopath: %zu pod addresses in %zu namespaces", t->n, t->nns);
    ap->version = version;
    cdns_ap_table_t *old = cdns_rcu_swap((void **)&ap->table, t);
    if (old != NULL) {
        cdns_rcu_synchronize();
        cdns_ap__table_free(old);
    }
}

static void on_timer(uv_timer_t *h)
{
    refresh(h->data);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int ap_start(void *inst, uv_loop_t *loop)
{
    cdns_ap_t *ap = inst;
    if (ap->kube == NULL)
        return CDNS_OK;
    refresh(ap);
    ap->timer = malloc(sizeof(*ap->timer));
    if (ap->timer == NULL)
        return CDNS_ENOMEM;
    uv_timer_init(loop, ap->timer);
    ap->timer->data = ap;
    /* Due at once: the kubernetes plugin starts after this one and loads its pods first. */
    uv_timer_start(ap->timer, on_timer, 0, REFRESH_MS);
    return CDNS_OK;
}

static void ap_stop(void *inst)
{
    cdns_ap_t *ap = inst;
    if (ap->timer == NULL)
        return;
    uv_timer_stop(ap->timer);
    uv_close((uv_handle_t *)ap->timer, free_handle);
    ap->timer = NULL;
}

/* The namespace label of the pod with the client's address, or NULL. */
static const uint8_t *client_ns(const cdns_ap_table_t *t, const cdns_req_t *req)
{
    podip_t key;
    memset(&key, 0, sizeof(key));
    const struct sockaddr *sa = (const struct sockaddr *)&req->client;
    if (sa->sa_family == AF_INET) {
        key.fam = 4;
        memcpy(key.addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            key.fam = 4;
            memcpy(key.addr, a6->s6_addr + 12, 4);
        } else {
            key.fam = 6;
            memcpy(key.addr, a6->s6_addr, 16);
        }
    } else {
        return NULL;
    }
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_ip(&t->v[mid], &key);
        if (c == 0)
            return t->ns[t->v[mid].ns];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* True when req->q is no longer the question the client sent (this plugin rewrote it). */
static bool rewritten(const cdns_req_t *req)
{
    const uint8_t *w = req->wire + CDNS_DNS_HDR_LEN;
    size_t left = req->wire_len > CDNS_DNS_HDR_LEN ? req->wire_len - CDNS_DNS_HDR_LEN : 0;
    return left < req->q.qname_len || memcmp(w, req->q.qname, req->q.qname_len) != 0;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads a name at *off of pkt into out (case kept) and moves *off past it. */
static bool name_at(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out, size_t *olen)
{
    return cdns_dname_unpack(pkt, len, off, out, olen) == CDNS_OK;
}

/* rdata with every name decompressed, for the types whose rdata holds names. */
static bool expand_rdata(const uint8_t *pkt, size_t len, size_t off, uint16_t type, uint16_t rdlen, uint8_t *out,
                         size_t *olen)
{
    size_t end = off + rdlen, fixed = 0, names = 0, n = 0, l = 0;
    switch (type) {
    case CDNS_T_CNAME:
    case CDNS_T_NS:
    case CDNS_T_PTR:
        names = 1;
        break;
    case CDNS_T_MX:
        fixed = 2;
        names = 1;
        break;
    case CDNS_T_SRV:
        fixed = 6;
        names = 1;
        break;
    case CDNS_T_SOA:
        names = 2;
        break;
    default:
        if (rdlen > 1024)
            return false;
        memcpy(out, pkt + off, rdlen);
        *olen = rdlen;
        return true;
    }
    if (off + fixed > end)
        return false;
    memcpy(out, pkt + off, fixed);
    n = fixed;
    off += fixed;
    for (size_t i = 0; i < names; i++) {
        if (!name_at(pkt, len, &off, out + n, &l))
            return false;
        n += l;
    }
    if (off > end || end - off > 64)
        return false;
    memcpy(out + n, pkt + off, end - off); /* SOA's five numbers */
    *olen = n + (end - off);
    return true;
}

/* Rebuilds req->msg for the client's own question from the candidate's response in m (copied to
 * scratch first): a CNAME from the original name to the first answer owner that differs from it
 * (CoreDNS's cnamer), then every record, names decompressed. */
static void cname_back(cdns_req_t *req, ap_ws_t *ws)
{
    cdns_msg_t *m = &req->msg;
    size_t len = m->len;
    memcpy(ws->scratch, m->buf, len);
    const uint8_t *pkt = ws->scratch;
    unsigned cnt[3] = {m->count[0], m->count[1], m->count[2]};
    uint16_t flags = m->raw ? get16(pkt + 2) : m->flags;
    uint16_t rcode = m->raw ? (uint16_t)(get16(pkt + 2) & 0xf) : m->rcode;
    size_t off = CDNS_DNS_HDR_LEN + req->q.question_len;
    cdns_query_parse(req->wire, req->wire_len, &req->q);
    cdns_msg_begin(m, req->out, CDNS_REQ_OUT_CAP, &req->q, req->tcp);
    bool cname_done = false;
    for (int sec = 0; sec < 3; sec++)
        for (unsigned i = 0; i < cnt[sec]; i++) {
            uint8_t owner[CDNS_DNAME_MAX], rdata[1024 + 2 * CDNS_DNAME_MAX];
            size_t ol = 0, rl = 0;
            if (!name_at(pkt, len, &off, owner, &ol) || off + 10 > len)
                goto out;
            uint16_t type = get16(pkt + off), rclass = get16(pkt + off + 2), rdlen = get16(pkt + off + 8);
            uint32_t ttl = (uint32_t)get16(pkt + off + 4) << 16 | get16(pkt + off + 6);
            off += 10;
            if (off + rdlen > len || !expand_rdata(pkt, len, off, type, rdlen, rdata, &rl))
                goto out;
            off += rdlen;
            if (type == CDNS_T_OPT)
                continue;
            if (sec == 0 && !cname_done && !cdns_dname_equal(owner, req->q.qname_lower)) {
                cdns_msg_put_rr(m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, CDNS_T_CNAME, CDNS_C_IN, ttl, owner,
                                (uint16_t)ol);
                cname_done = true;
            }
            if (sec == 0 && cdns_dname_equal(owner, req->q.qname_lower))
                cname_done = true;
            if (cdns_msg_put_rr(m, (cdns_section_t)sec, 0, owner, type, rclass, ttl, rdata, (uint16_t)rl) != CDNS_OK)
                goto out;
        }
out:
    m->flags =
        (uint16_t)((m->flags & (CDNS_F_QR | CDNS_F_RD | CDNS_F_CD)) | (flags & (CDNS_F_AA | CDNS_F_RA | CDNS_F_AD)));
    cdns_msg_set_rcode(m, rcode);
}

static uint16_t msg_rcode(const cdns_msg_t *m)
{
    return m->raw ? (uint16_t)(m->buf[3] & 0xf) : (uint16_t)(m->rcode & 0xf);
}

static void count_success(cdns_req_t *req, ap_ws_t *ws)
{
    const char *server = req->server ? req->server : "dns://:53";
    if (ws->server != server) {
        const char *v[] = {server};
        ws->success = cdns_metric_series(fam_success, v);
        ws->server = server;
    }
    if (ws->success)
        cdns_series_inc(ws->success, req->worker ? req->worker->id : 0);
}

/* Runs the original question through the rest of the chain: the answer the client would have
 * had without autopath (CoreDNS writes its first reply when every candidate failed). */
static cdns_verdict_t original(cdns_req_t *req)
{
    cdns_query_parse(req->wire, req->wire_len, &req->q);
    cdns_msg_begin(&req->msg, req->out, CDNS_REQ_OUT_CAP, &req->q, req->tcp);
    return cdns_req_next(req);
}

static cdns_verdict_t ap_serve(cdns_req_t *req, void *inst, void *wsp)
{
    cdns_ap_t *ap = inst;
    ap_ws_t *ws = wsp;
    const cdns_query_t *q = &req->q;
    if (!q->has_question || (ap->kube == NULL && ap->nsearch == 0) || !cdns_ap__under(ap, q->qname_lower))
        return CDNS_NEXT;
    /* The search path: from the client's pod (ns.svc.zone svc.zone zone, zone being the
     * kubernetes zone the name is in), or the resolv.conf file's; the root last. */
    uint8_t cand[CDNS_AP_MAX_SEARCH + 1][CDNS_DNAME_MAX];
    size_t clen[CDNS_AP_MAX_SEARCH + 1], nc = 0;
    if (ap->kube != NULL) {
        const cdns_ap_table_t *t = cdns_rcu_deref((void *const *)&ap->table);
        const uint8_t *ns = t ? client_ns(t, req) : NULL;
        if (ns == NULL)
            return CDNS_NEXT;
        const uint8_t *zone = NULL;
        size_t zlen = 0;
        for (size_t i = 0; i < ap->nkzones; i++)
            if (cdns_dname_is_sub(q->qname_lower, ap->kzones[i]) && cdns_dname_len(ap->kzones[i]) > zlen) {
                zone = ap->kzones[i];
                zlen = cdns_dname_len(zone);
            }
        size_t nsl = (size_t)ns[0] + 1;
        if (zone == NULL || nsl + 4 + zlen > CDNS_DNAME_MAX)
            return CDNS_NEXT;
        static const uint8_t svc_label[] = {3, 's', 'v', 'c'};
        memcpy(cand[0], ns, nsl);
        memcpy(cand[0] + nsl, svc_label, 4);
        memcpy(cand[0] + nsl + 4, zone, zlen);
        clen[0] = nsl + 4 + zlen;
        memcpy(cand[1], svc_label, 4);
        memcpy(cand[1] + 4, zone, zlen);
        clen[1] = 4 + zlen;
        memcpy(cand[2], zone, zlen);
        clen[2] = zlen;
        nc = 3;
    } else {
        for (size_t i = 0; i < ap->nsearch; i++) {
            clen[nc] = cdns_dname_len(ap->search[i]);
            memcpy(cand[nc], ap->search[i], clen[nc]);
            nc++;
        }
    }
    cand[nc][0] = 0;
    clen[nc++] = 1;
    if (q->qname_len <= clen[0] || !cdns_dname_is_sub(q->qname_lower, cand[0]))
        return CDNS_NEXT;
    ap->pos = req->pos_;
    size_t q0_len = q->qname_len;
    size_t blen = q->qname_len - clen[0]; /* the labels before the first search domain */
    uint8_t base[CDNS_DNAME_MAX];
    memcpy(base, q->qname, q0_len);
    for (size_t i = 0; i < nc; i++) {
        uint8_t name[CDNS_DNAME_MAX];
        if (blen + clen[i] > CDNS_DNAME_MAX)
            continue;
        memcpy(name, base, blen);
        /* The first candidate is the name as asked, letter case included: its answer goes back
         * as it is, and a client that randomises case (0x20) checks its question octet by octet. */
        memcpy(name + blen, i == 0 ? base + blen : cand[i], clen[i]);
        cdns_query_set_name(&req->q, name, blen + clen[i]);
        cdns_msg_begin(&req->msg, req->out, CDNS_REQ_OUT_CAP, &req->q, req->tcp);
        /* forward sends req->wire as it is (copying it before serve returns): show it the
         * candidate's question, with the client's header and EDNS. */
        const uint8_t *wire = req->wire;
        size_t wire_len = req->wire_len, rest = CDNS_DNS_HDR_LEN + q0_len;
        size_t nlen = blen + clen[i];
        if (wire_len >= rest && CDNS_DNS_HDR_LEN + nlen + (wire_len - rest) <= sizeof(ws->qwire)) {
            uint8_t *w = ws->qwire;
            memcpy(w, wire, CDNS_DNS_HDR_LEN);
            memcpy(w + CDNS_DNS_HDR_LEN, name, nlen);
            memcpy(w + CDNS_DNS_HDR_LEN + nlen, wire + rest, wire_len - rest); /* type, class, OPT */
            req->wire = w;
            req->wire_len = CDNS_DNS_HDR_LEN + nlen + (wire_len - rest);
        }
        cdns_verdict_t v = cdns_req_next(req);
        req->wire = wire;
        req->wire_len = wire_len;
        if (v == CDNS_ASYNC)
            return CDNS_ASYNC; /* on_response finishes the rewrite */
        if (v != CDNS_DONE)
            continue;
        uint16_t rc = msg_rcode(&req->msg);
        if (rc == CDNS_RCODE_NXDOMAIN || rc == CDNS_RCODE_SERVFAIL || rc == CDNS_RCODE_REFUSED ||
            rc == CDNS_RCODE_FORMERR || rc == CDNS_RCODE_NOTIMP)
            continue;
        if (i == 0)
            cdns_query_parse(req->wire, req->wire_len, &req->q); /* the question as asked: kept */
        else
            cname_back(req, ws);
        count_success(req, ws);
        return CDNS_DONE;
    }
    return original(req);
}

/* An answer to a candidate that went through an asynchronous plugin comes back here. */
static void ap_response(cdns_req_t *req, void *inst, void *wsp)
{
    cdns_ap_t *ap = inst;
    ap_ws_t *ws = wsp;
    if (!req->q.has_question || !rewritten(req))
        return;
    uint16_t rc = msg_rcode(&req->msg);
    if (rc == CDNS_RCODE_NXDOMAIN || rc == CDNS_RCODE_SERVFAIL || rc == CDNS_RCODE_REFUSED) {
        int saved = req->pos_;
        req->pos_ = ap->pos;
        /* Every candidate failed: the first reply, from the synchronous plugins before it. */
        if (original(req) != CDNS_DONE) {
            cdns_query_parse(req->wire, req->wire_len, &req->q);
            cdns_msg_begin(&req->msg, req->out, CDNS_REQ_OUT_CAP, &req->q, req->tcp);
            cdns_msg_set_rcode(&req->msg, rc);
        }
        req->pos_ = saved;
        return;
    }
    cname_back(req, ws);
    count_success(req, ws);
}

static int ap_worker_init(void *inst, cdns_worker_t *w, void **wsp)
{
    (void)inst;
    (void)w;
    if (fam_success == NULL) {
        static const char *const l[] = {"server"};
        fam_success = cdns_metric_register("coredns_autopath_success_total", "Counter of requests that did autopath.",
                                           CDNS_METRIC_COUNTER, l, 1, NULL, 0);
    }
    ap_ws_t *ws = calloc(1, sizeof(*ws));
    if (ws == NULL)
        return CDNS_ENOMEM;
    *wsp = ws;
    return CDNS_OK;
}

static void ap_worker_deinit(void *inst, void *wsp)
{
    (void)inst;
    free(wsp);
}

const cdns_plugin_api_t cdns_plugin_autopath = {
    .name = "autopath",
    .setup = cdns_ap__setup,
    .teardown = cdns_ap__teardown,
    .link = cdns_ap__link,
    .start = ap_start,
    .stop = ap_stop,
    .worker_init = ap_worker_init,
    .worker_deinit = ap_worker_deinit,
    .serve = ap_serve,
    .on_response = ap_response,
    .flags = CDNS_PLUGIN_ONCE,
};
