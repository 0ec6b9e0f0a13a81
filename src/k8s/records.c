/* SPDX-License-Identifier: MIT */
/* records.c — the Kubernetes DNS specification: index → snapshot, and the answers read from it.
 *
 * cdns_k8s_build() turns the index into records for every zone of the plugin, following what
 * CoreDNS's kubernetes plugin answers (handler_test.go is the reference): service A/AAAA/SRV,
 * named-port SRV, headless endpoints, ExternalName CNAMEs, verified pods, PTRs, dns-version,
 * SOA/NS at each apex. CoreDNS computes answers per query; we compute the same RRsets once per
 * change, so the SRV weights (100 / records behind the name), the dashed endpoint names and
 * the port sentinel (-1: name but no SRV) are applied here.
 *
 * cdns_k8s_answer() is the other half: CoreDNS decides existence from the shape of the name
 * (svc/pod schema, at most port+protocol or endpoint below a service, pod sub-labels ignored,
 * underscores optional on SRV labels) rather than from a tree, so empty non-terminals the
 * store creates ("_tcp.svc.ns.svc.zone") must still answer NXDOMAIN. It reads the snapshot
 * with the store's lookup and writes with its put helpers: no allocation, any thread.
 *
 * cdns_k8s_build_next() is the watch's way in: after a first full build, each build redoes only
 * the objects touched since (groups.c says which names they wrote and who else writes those)
 * and hands the store an update of the previous snapshot. The same visitors write the records
 * either way, so an update answers exactly like a full build (tests/unit/k8s/test_incremental.c
 * holds the two side by side through random churn).
 *
 * Build runs on the main thread; the snapshot belongs to the caller.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cdns/k8s.h"
#include "k8s/k8s_internal.h"

#define SOA_TTL_CAP 300u
/* A private-use type (RFC 6895 §3.1) on "ns.svc.zone" / "ns.pod.zone" marking an exposed
 * namespace. NS glue may put names below a namespace that is not exposed (our own service in
 * kube-system), and those make the namespace name an empty non-terminal; the marker tells the
 * two apart. It is never written into an answer: queries for these names get NODATA. */
#define T_NS_MARK 65280u
/* The other private-use marker, on each name our own service's NS glue writes below a namespace
 * that is not exposed. Every other name with records below "ns.svc.zone" is written only for an
 * exposed namespace (a service's names, in full builds and updates alike), so an answer for a
 * name that has records and lacks this marker needs no lookup of the namespace; a marked name
 * takes the lookup and answers NXDOMAIN. Never written into an answer either. */
#define T_NS_GLUE 65281u
#define DNS_VERSION_TTL 28800u

/* ------------------------------------------------------------------ helpers */
static bool zone_is_reverse(const char *z)
{
    size_t n = strlen(z);
    static const char *const sfx[] = {"in-addr.arpa.", "ip6.arpa."};
    for (size_t i = 0; i < 2; i++) {
        size_t m = strlen(sfx[i]);
        if (n >= m && strcasecmp(z + n - m, sfx[i]) == 0 && (n == m || z[n - m - 1] == '.'))
            return true;
    }
    return false;
}

/* A label we may splice into a name: non-empty, short enough, no dot, escape or space. */
static bool valid_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CDNS_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' || c == '\\' || c <= ' ' || c >= 0x7f || c == '"' || c == '(' || c == ')' || c == ';')
            return false;
    }
    return true;
}

/* Formats a name and converts it to lowercase wire. */
__attribute__((format(printf, 3, 4))) static int mkname(uint8_t out[CDNS_DNAME_MAX], size_t *len, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text))
        return CDNS_ERANGE;
    size_t l;
    int rc = cdns_dname_from_str(text, NULL, out, &l);
    if (rc != CDNS_OK)
        return rc;
    cdns_dname_lower(out);
    if (len)
        *len = l;
    return CDNS_OK;
}

typedef struct ipaddr {
    int family; /* AF_INET, AF_INET6 or 0 when the text is no address */
    uint8_t a[16];
} ipaddr_t;

static ipaddr_t parse_ip(const char *s)
{
    ipaddr_t ip = {0};
    if (s && inet_pton(AF_INET, s, ip.a) == 1)
        ip.family = AF_INET;
    else if (s && inet_pton(AF_INET6, s, ip.a) == 1)
        ip.family = AF_INET6;
    return ip;
}

static bool ip_equal(const ipaddr_t *x, const ipaddr_t *y)
{
    return x->family && x->family == y->family && memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

/* The address as a 17-octet key (family, then the address): two keys are equal exactly when
 * the reverse names are. False when the text is no address. */
static bool addr_key(const char *ip, uint8_t key[17])
{
    ipaddr_t a = parse_ip(ip);
    key[0] = (uint8_t)(a.family == AF_INET ? 4 : 6);
    memcpy(key + 1, a.a, 16);
    return a.family != 0;
}

/* The address text with '.' or ':' turned into '-' (CoreDNS's dashed form). */
static void dashed(const char *ip, char out[64])
{
    size_t i = 0;
    for (; i < 62 && ip[i]; i++)
        out[i] = (ip[i] == '.' || ip[i] == ':') ? '-' : ip[i];
    out[i] = '\0';
}

const char *cdns_k8s_endpoint_name(const cdns_k8s_epaddr_t *a, bool endpoint_pod_names, char buf[64])
{
    if (a->hostname && *a->hostname)
        return a->hostname;
    /* CoreDNS ignores pod names that are too long to be a label. */
    if (endpoint_pod_names && a->pod && *a->pod && strlen(a->pod) < 64)
        return a->pod;
    dashed(a->ip, buf);
    size_t n = strlen(buf);
    /* "fd00::" would end in a hyphen; CoreDNS appends a zero to keep it a hostname. */
    if (strchr(a->ip, ':') && n > 0 && n < 63 && buf[n - 1] == '-') {
        buf[n] = '0';
        buf[n + 1] = '\0';
    }
    return buf;
}

/* ------------------------------------------------------------------- build */
typedef struct zinfo {
    const char *text; /* "cluster.local." */
    const char *sfx;  /* the text to append after "x.": "" for the root zone */
    uint8_t apex[CDNS_DNAME_MAX];
    size_t apex_len;
    bool reverse;
} zinfo_t;

/* One target behind a name: an address and a port, and the name SRV records point at. */
typedef struct entry {
    const char *ip;
    ipaddr_t addr;
    int32_t port;      /* -1: no SRV */
    const char *pname; /* port name, "" when none */
    const char *proto;
    const char *epname; /* endpoint name; NULL: the target is the service name itself */
} entry_t;

/* A name a PTR may point at, kept as references into the index (which outlives the build) so
 * that 60k candidates cost their 56 bytes and no copies: the reverse name and the target are
 * written again when the winners are emitted. */
typedef struct ptr_cand {
    const cdns_k8s_service_t *svc; /* ns and name: "first" is the first in the index's order */
    const char *ip;                /* the address as the index holds it */
    const char *hostname, *pod;    /* the endpoint's (target: its name); unused for a cluster IP */
    uint32_t seq;                  /* insertion order, for a stable order among the rest */
    uint8_t is_service;            /* a cluster IP: wins over endpoints, first one only */
    uint8_t key[17];               /* family, then the address: equal exactly when the reverse names are */
} ptr_cand_t;

/* How records reach the builder. A build without state (cdns_k8s_build) writes them all; a
 * build with state also records which group wrote each name (RECORD); regenerating a group
 * only for the names another group dirtied (FILTER) writes just the records at dirty names. */
typedef enum { EMIT_ALL = 0, EMIT_RECORD, EMIT_FILTER } emit_mode_t;

typedef struct bctx {
    const cdns_k8s_index_t *idx;
    const cdns_k8s_opts_t *o;
    cdns_builder_t *b;
    zinfo_t *zones;
    size_t nzones;
    const zinfo_t *primary;
    ipaddr_t *local;
    size_t nlocal;
    const cdns_k8s_service_t **own; /* services whose endpoints include a local address */
    size_t nown, own_cap;
    ptr_cand_t *ptrs;
    size_t nptrs, ptrs_cap;
    bool stream_ptrs;     /* a build without state: PTRs are written as met (cip settles winners) */
    struct cip_slot *cip; /* cluster IP → its service, open addressing, at most half full */
    size_t ncip, cip_slots;
    cdns_k8s_index_t *consume; /* a build that frees each service once its records are written */
    size_t released, trim_every;
    cdns_k8s_groups_t *groups; /* NULL: a build without state */
    emit_mode_t mode;
    uint32_t cur; /* the group being generated (RECORD, FILTER) */
    int err;      /* first hard error (out of memory) */
} bctx_t;

/* Whether a record at owner goes to the builder, recording who wrote it on the way. */
static bool take(bctx_t *c, const uint8_t *owner)
{
    if (c->mode == EMIT_ALL)
        return true;
    size_t len = cdns_dname_len(owner);
    if (c->mode == EMIT_FILTER) {
        const cdns_k8s__owner_t *o = cdns_k8s__owner_find(c->groups, owner, len);
        return o && cdns_k8s__owner_is_dirty(o);
    }
    int rc = cdns_k8s__member_add(c->groups, c->cur, owner, len);
    if (rc != CDNS_OK && !c->err)
        c->err = rc;
    return rc == CDNS_OK;
}

static void add_rr(bctx_t *c, const uint8_t *owner, uint16_t type, uint32_t ttl, const uint8_t *rd, size_t rdlen)
{
    if (!take(c, owner))
        return;
    int rc = cdns_builder_add(c->b, owner, type, ttl, rd, (uint16_t)rdlen);
    /* ERANGE: the owner lies in no declared zone (a PTR outside the reverse zones); EMALFORMED
     * cannot come from our rdata helpers. Only memory exhaustion fails the build. */
    if (rc == CDNS_ENOMEM && !c->err)
        c->err = rc;
}

static void add_name(bctx_t *c, const uint8_t *owner)
{
    if (!take(c, owner))
        return;
    int rc = cdns_builder_add_name(c->b, owner);
    if (rc == CDNS_ENOMEM && !c->err)
        c->err = rc;
}

static void add_addr(bctx_t *c, const uint8_t *owner, const ipaddr_t *ip, uint32_t ttl)
{
    if (ip->family == AF_INET)
        add_rr(c, owner, CDNS_T_A, ttl, ip->a, 4);
    else if (ip->family == AF_INET6)
        add_rr(c, owner, CDNS_T_AAAA, ttl, ip->a, 16);
}

static bool ns_exposed(const bctx_t *c, const char *ns)
{
    if (c->o->nnamespaces) {
        bool listed = false;
        for (size_t i = 0; i < c->o->nnamespaces && !listed; i++)
            listed = strcmp(c->o->namespaces[i], ns) == 0;
        if (!listed)
            return false;
    }
    const cdns_k8s_namespace_t *n = cdns_k8s_index_namespace(c->idx, ns);
    if (!n)
        return false;
    return cdns_k8s_selector_match(c->o->namespace_labels, &n->labels);
}

/* An address of our own service's NS glue at owner; below a namespace that is not exposed, the
 * name also gets T_NS_GLUE (the builder keeps one copy of a repeated record). */
static void add_glue(bctx_t *c, const uint8_t *owner, const ipaddr_t *ip, uint32_t ttl, bool exposed)
{
    static const uint8_t mark = 1;
    add_addr(c, owner, ip, ttl);
    if (!exposed)
        add_rr(c, owner, T_NS_GLUE, ttl, &mark, 1);
}

static bool in_reverse_zone(const bctx_t *c, const uint8_t *rev)
{
    for (size_t z = 0; z < c->nzones; z++)
        if (c->zones[z].reverse && cdns_dname_is_sub(rev, c->zones[z].apex))
            return true;
    return false;
}

/* The target of a candidate: the service's name for a cluster IP, else its endpoint's. */
static int ptr_target(const bctx_t *c, const ptr_cand_t *p, uint8_t target[CDNS_DNAME_MAX], size_t *tlen)
{
    const cdns_k8s_service_t *s = p->svc;
    if (p->is_service)
        return mkname(target, tlen, "%s.%s.svc.%s", s->name, s->ns, c->primary->sfx);
    char buf[64];
    cdns_k8s_epaddr_t a = {.ip = p->ip, .hostname = p->hostname, .pod = p->pod};
    const char *name = cdns_k8s_endpoint_name(&a, c->o->endpoint_pod_names, buf);
    if (!valid_label(name))
        return CDNS_EINVAL;
    return mkname(target, tlen, "%s.%s.%s.svc.%s", name, s->name, s->ns, c->primary->sfx);
}

/* A build without state knows every service before it writes a record, so it settles the
 * one contest reverse.go has up front: which service a cluster IP names (the first in the
 * index's order). Endpoint PTRs are then written as they are met, and no candidate is kept;
 * at 10k services that is 60k candidates fewer, on the scale envelope 260k. Builds with state
 * keep candidates (c->ptrs): an update meets only the services it regenerates. */
typedef struct cip_slot {
    const cdns_k8s_service_t *svc; /* NULL: empty */
    uint8_t key[17];               /* ptr_cand_t's key */
} cip_slot_t;

static size_t cip_home(const uint8_t key[17], size_t slots)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & (slots - 1);
}

/* The slot of key, or the empty slot where it would go; NULL when there is no table. */
static cip_slot_t *cip_slot(const bctx_t *c, const uint8_t key[17])
{
    if (!c->cip_slots)
        return NULL;
    for (size_t i = cip_home(key, c->cip_slots);; i = (i + 1) & (c->cip_slots - 1)) {
        cip_slot_t *e = &c->cip[i];
        if (!e->svc || memcmp(e->key, key, 17) == 0)
            return e;
    }
}

static const cdns_k8s_service_t *cip_owner(const bctx_t *c, const uint8_t key[17])
{
    const cip_slot_t *e = cip_slot(c, key);
    return e ? e->svc : NULL;
}

/* Makes s the owner of key unless a service met earlier owns it. */
static int cip_claim(bctx_t *c, const uint8_t key[17], const cdns_k8s_service_t *s)
{
    if (cip_owner(c, key))
        return CDNS_OK;
    if (2 * (c->ncip + 1) > c->cip_slots) {
        cip_slot_t *old = c->cip;
        size_t nold = c->cip_slots;
        c->cip_slots = nold ? 2 * nold : 1024;
        if (!(c->cip = calloc(c->cip_slots, sizeof(*c->cip)))) {
            c->cip = old;
            c->cip_slots = nold;
            return CDNS_ENOMEM;
        }
        for (size_t i = 0; i < nold; i++)
            if (old[i].svc)
                *cip_slot(c, old[i].key) = old[i];
        free(old);
    }
    cip_slot_t *e = cip_slot(c, key);
    e->svc = s;
    memcpy(e->key, key, 17);
    c->ncip++;
    return CDNS_OK;
}

/* Address ip as a PTR candidate of service s (an endpoint's when ep is set), with its reverse
 * name and target; false when either cannot be written. */
static bool make_cand(const bctx_t *c, const cdns_k8s_service_t *s, const char *ip, const cdns_k8s_epaddr_t *ep,
                      ptr_cand_t *p, uint8_t rev[CDNS_DNAME_MAX], uint8_t target[CDNS_DNAME_MAX], size_t *tlen)
{
    size_t rlen;
    if (cdns_reverse_name(ip, rev, &rlen) != CDNS_OK)
        return false;
    *p = (ptr_cand_t){.svc = s, .ip = ip, .is_service = ep == NULL, .seq = (uint32_t)c->nptrs};
    if (ep) {
        p->hostname = ep->hostname;
        p->pod = ep->pod;
    }
    if (ptr_target(c, p, target, tlen) != CDNS_OK)
        return false;
    return addr_key(ip, p->key);
}

/* Records address ip as a PTR candidate of service s (an endpoint's when ep is set), or in a
 * build without state writes its PTR now when it wins its name. */
static int push_ptr(bctx_t *c, const cdns_k8s_service_t *s, const char *ip, const cdns_k8s_epaddr_t *ep)
{
    ptr_cand_t p;
    uint8_t rev[CDNS_DNAME_MAX], target[CDNS_DNAME_MAX];
    size_t tlen;
    if (!make_cand(c, s, ip, ep, &p, rev, target, &tlen))
        return CDNS_OK;
    if (c->stream_ptrs) {
        /* A cluster IP by the service that owns it; an address no service owns by every
         * endpoint holding it. */
        const cdns_k8s_service_t *owner = cip_owner(c, p.key);
        if ((p.is_service ? owner == s : owner == NULL) && in_reverse_zone(c, rev))
            add_rr(c, rev, CDNS_T_PTR, c->o->ttl_s, target, tlen);
        return c->err;
    }
    /* A candidate counts as writing its name even when another wins it: should the winner
     * go, the name is regenerated from every candidate left. */
    if (c->mode != EMIT_ALL && (!in_reverse_zone(c, rev) || !take(c, rev)))
        return c->err;
    if (c->nptrs == c->ptrs_cap) {
        size_t cap = c->ptrs_cap ? c->ptrs_cap * 2 : 64;
        ptr_cand_t *v = realloc(c->ptrs, cap * sizeof(*v));
        if (!v)
            return CDNS_ENOMEM;
        c->ptrs = v;
        c->ptrs_cap = cap;
    }
    c->ptrs[c->nptrs++] = p;
    return CDNS_OK;
}

/* SRV weight as CoreDNS computes it: every record behind the name counts (port -1 ones too),
 * each gets floor(100 / count), at least 1. */
static uint16_t srv_weight(size_t n)
{
    size_t w = n ? 100 / n : 100;
    return (uint16_t)(w ? w : 1);
}

/* The records of one name: an address per entry and an SRV per entry with a port. */
static void emit(bctx_t *c, const uint8_t *owner, const entry_t *const *e, size_t n, const char *base)
{
    if (n == 0)
        return;
    uint32_t ttl = c->o->ttl_s;
    uint16_t weight = srv_weight(n);
    for (size_t i = 0; i < n; i++) {
        add_addr(c, owner, &e[i]->addr, ttl);
        if (e[i]->port < 0)
            continue;
        uint8_t target[CDNS_DNAME_MAX], rd[CDNS_DNAME_MAX + 6];
        int rc = e[i]->epname ? mkname(target, NULL, "%s.%s", e[i]->epname, base) : mkname(target, NULL, "%s", base);
        if (rc != CDNS_OK)
            continue;
        int len = cdns_rdata_srv(0, weight, (uint16_t)e[i]->port, target, rd, sizeof(rd));
        if (len > 0)
            add_rr(c, owner, CDNS_T_SRV, ttl, rd, (size_t)len);
    }
}

/* Entries per distinct port name: "_name._proto.<base>" answers the subset with that port. */
static void emit_port_names(bctx_t *c, const entry_t *ents, size_t n, const char *base, const entry_t **scratch)
{
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = &ents[i];
        /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): entries below n are filled, names set. */
        if (!e->pname[0] || !e->proto[0] || !valid_label(e->pname) || !valid_label(e->proto))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcasecmp(ents[j].pname, e->pname) == 0 && strcasecmp(ents[j].proto, e->proto) == 0;
        if (seen)
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (strcasecmp(ents[j].pname, e->pname) == 0 && strcasecmp(ents[j].proto, e->proto) == 0)
                scratch[k++] = &ents[j];
        uint8_t owner[CDNS_DNAME_MAX];
        if (mkname(owner, NULL, "_%s._%s.%s", e->pname, e->proto, base) == CDNS_OK)
            emit(c, owner, scratch, k, base);
    }
}

static int cmp_epname(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    return strcasecmp(x->epname, y->epname);
}

typedef struct svc_work {
    const cdns_k8s_service_t *svc;
    cdns_k8s_epaddr_t *eps; /* served endpoint addresses (ready, or all when published) */
    size_t neps;
    char (*epnames)[64]; /* scratch for dashed names, per eps */
    entry_t *svc_ents;   /* behind the service name */
    size_t nsvc_ents;
    entry_t *ep_ents; /* behind the endpoint names, sorted by name */
    size_t nep_ents;
    const entry_t **scratch;
} svc_work_t;

static void svc_work_free(svc_work_t *w)
{
    free(w->eps);
    free(w->epnames);
    free(w->svc_ents);
    free(w->ep_ents);
    free(w->scratch);
}

static bool is_headless(const cdns_k8s_service_t *s)
{
    return s->ncluster_ips > 0 && strcmp(s->cluster_ips[0], "None") == 0;
}

/* Served addresses of a service: ready ones, or all when the service publishes not-ready
 * addresses. Returns CDNS_ENOMEM or CDNS_OK. */
static int served_endpoints(const bctx_t *c, const cdns_k8s_service_t *s, cdns_k8s_epaddr_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (c->o->noendpoints)
        return CDNS_OK;
    cdns_k8s_epaddr_t *v;
    size_t k;
    int rc = cdns_k8s_index_service_endpoints(c->idx, s->ns, s->name, c->o->labels, &v, &k);
    if (rc != CDNS_OK)
        return rc;
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if ((v[i].ready || s->publish_not_ready) && parse_ip(v[i].ip).family)
            v[u++] = v[i];
    if (u == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = u;
    return CDNS_OK;
}

static int prepare_service(bctx_t *c, svc_work_t *w)
{
    const cdns_k8s_service_t *s = w->svc;
    int rc = served_endpoints(c, s, &w->eps, &w->neps);
    if (rc != CDNS_OK)
        return rc;
    size_t nep_ents = 0;
    for (size_t i = 0; i < w->neps; i++)
        nep_ents += w->eps[i].nports;
    size_t nsvc_ents = is_headless(s) ? nep_ents : s->nports * s->ncluster_ips;
    w->epnames = calloc(w->neps ? w->neps : 1, sizeof(*w->epnames));
    w->ep_ents = calloc(nep_ents ? nep_ents : 1, sizeof(entry_t));
    w->svc_ents = calloc(nsvc_ents ? nsvc_ents : 1, sizeof(entry_t));
    w->scratch = calloc((nsvc_ents > nep_ents ? nsvc_ents : nep_ents) + 1, sizeof(entry_t *));
    if (!w->epnames || !w->ep_ents || !w->svc_ents || !w->scratch)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < w->neps; i++) {
        const cdns_k8s_epaddr_t *a = &w->eps[i];
        const char *name = cdns_k8s_endpoint_name(a, c->o->endpoint_pod_names, w->epnames[i]);
        if (!valid_label(name))
            continue;
        for (size_t p = 0; p < a->nports; p++) {
            w->ep_ents[w->nep_ents++] = (entry_t){
                .ip = a->ip,
                .addr = parse_ip(a->ip),
                .port = a->ports[p].port,
                .pname = a->ports[p].name,
                .proto = a->ports[p].protocol,
                .epname = name,
            };
        }
    }
    if (is_headless(s)) {
        memcpy(w->svc_ents, w->ep_ents, w->nep_ents * sizeof(entry_t));
        w->nsvc_ents = w->nep_ents;
    } else {
        for (size_t p = 0; p < s->nports; p++) {
            for (size_t i = 0; i < s->ncluster_ips; i++) {
                ipaddr_t ip = parse_ip(s->cluster_ips[i]);
                if (!ip.family)
                    continue;
                w->svc_ents[w->nsvc_ents++] = (entry_t){
                    .ip = s->cluster_ips[i],
                    .addr = ip,
                    .port = s->ports[p].port,
                    .pname = s->ports[p].name,
                    .proto = s->ports[p].protocol,
                    .epname = NULL,
                };
            }
        }
    }
    if (w->nep_ents > 1)
        qsort(w->ep_ents, w->nep_ents, sizeof(entry_t), cmp_epname);
    return CDNS_OK;
}

static void emit_service_zone(bctx_t *c, svc_work_t *w, const zinfo_t *z)
{
    const cdns_k8s_service_t *s = w->svc;
    char base[600];
    int n = snprintf(base, sizeof(base), "%s.%s.svc.%s", s->name, s->ns, z->sfx);
    if (n < 0 || (size_t)n >= sizeof(base))
        return;
    uint8_t owner[CDNS_DNAME_MAX];
    if (mkname(owner, NULL, "%s", base) != CDNS_OK)
        return;

    if (s->type == CDNS_K8S_SVC_EXTERNALNAME) {
        /* Only a name makes a CNAME; an address or nothing leaves the service unanswerable,
         * as in CoreDNS (its "host type" must be CNAME). */
        const char *ext = s->external_name;
        if (!ext || !*ext || parse_ip(ext).family)
            return;
        uint8_t target[CDNS_DNAME_MAX];
        size_t tlen;
        if (cdns_dname_from_str(ext, NULL, target, &tlen) != CDNS_OK)
            return;
        cdns_dname_lower(target);
        add_rr(c, owner, CDNS_T_CNAME, c->o->ttl_s, target, tlen);
        return;
    }

    for (size_t i = 0; i < w->nsvc_ents; i++)
        w->scratch[i] = &w->svc_ents[i];
    emit(c, owner, w->scratch, w->nsvc_ents, base);
    emit_port_names(c, w->svc_ents, w->nsvc_ents, base, w->scratch);

    /* Endpoint names exist below ClusterIP services too: CoreDNS answers any query with an
     * endpoint label from the endpoints, whatever the service type. */
    for (size_t i = 0; i < w->nep_ents;) {
        size_t j = i;
        /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): endpoint entries always have a name. */
        while (j < w->nep_ents && strcasecmp(w->ep_ents[j].epname, w->ep_ents[i].epname) == 0) {
            w->scratch[j - i] = &w->ep_ents[j];
            j++;
        }
        if (mkname(owner, NULL, "%s.%s", w->ep_ents[i].epname, base) == CDNS_OK)
            emit(c, owner, w->scratch, j - i, base);
        i = j;
    }
}

/* Whether the build looks at s at all: the labels selector and names that make labels. */
static bool service_taken(const bctx_t *c, const cdns_k8s_service_t *s)
{
    return cdns_k8s_selector_match(c->o->labels, &s->labels) && valid_label(s->name) && valid_label(s->ns);
}

/* Whether s's addresses name it in PTRs (CoreDNS checks namespaces for PTRs only when the
 * namespaces option is used). */
static bool service_has_ptrs(const bctx_t *c, const cdns_k8s_service_t *s)
{
    return c->primary && s->type != CDNS_K8S_SVC_EXTERNALNAME && (!c->o->nnamespaces || ns_exposed(c, s->ns));
}

static int collect_ptrs(bctx_t *c, const svc_work_t *w)
{
    const cdns_k8s_service_t *s = w->svc;
    if (!service_has_ptrs(c, s))
        return CDNS_OK;
    if (!is_headless(s)) {
        for (size_t i = 0; i < s->ncluster_ips; i++)
            if (push_ptr(c, s, s->cluster_ips[i], NULL) != CDNS_OK)
                return CDNS_ENOMEM;
    }
    for (size_t i = 0; i < w->neps; i++)
        if (push_ptr(c, s, w->eps[i].ip, &w->eps[i]) != CDNS_OK)
            return CDNS_ENOMEM;
    return CDNS_OK;
}

static bool is_local(const bctx_t *c, const char *ip)
{
    ipaddr_t a = parse_ip(ip);
    for (size_t i = 0; i < c->nlocal; i++)
        if (ip_equal(&a, &c->local[i]))
            return true;
    return false;
}

/* The pass before a build without state writes records: every cluster IP's owner, among the
 * services whose cluster IPs collect_ptrs would push. */
static bool visit_cluster_ips(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    const cdns_k8s_service_t *s = o->u.svc;
    if (!service_taken(c, s) || !service_has_ptrs(c, s) || is_headless(s))
        return true;
    for (size_t i = 0; i < s->ncluster_ips; i++) {
        ptr_cand_t p;
        uint8_t rev[CDNS_DNAME_MAX], target[CDNS_DNAME_MAX];
        size_t tlen;
        int rc = make_cand(c, s, s->cluster_ips[i], NULL, &p, rev, target, &tlen) ? cip_claim(c, p.key, s) : CDNS_OK;
        if (rc != CDNS_OK) {
            c->err = rc;
            return false;
        }
    }
    return true;
}

static bool visit_service(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    const cdns_k8s_service_t *s = o->u.svc;
    if (!service_taken(c, s))
        return true;
    svc_work_t w = {.svc = s};
    int rc = prepare_service(c, &w);
    if (rc != CDNS_OK)
        goto out;
    /* Our own service, for the NS records: CoreDNS looks for the endpoints holding the
     * addresses it is bound to, in any namespace. Regenerating a group only for names other
     * groups dirtied leaves what it was (and the apex) alone. */
    cdns_k8s__group_t *gr = c->groups ? cdns_k8s__group(c->groups, c->cur) : NULL;
    for (size_t i = 0; i < w.neps && c->mode != EMIT_FILTER; i++) {
        if (is_local(c, w.eps[i].ip)) {
            if (c->nown == c->own_cap) {
                size_t cap = c->own_cap ? c->own_cap * 2 : 4;
                const cdns_k8s_service_t **v = realloc(c->own, cap * sizeof(*v));
                if (!v) {
                    rc = CDNS_ENOMEM;
                    goto out;
                }
                c->own = v;
                c->own_cap = cap;
            }
            c->own[c->nown++] = s;
            if (gr)
                gr->own = true;
            break;
        }
    }
    if ((rc = collect_ptrs(c, &w)) != CDNS_OK)
        goto out;
    if (!ns_exposed(c, s->ns))
        goto out;
    /* ignore empty_service: a ClusterIP service with no ready address is NXDOMAIN. */
    if (c->o->ignore_empty_service && s->type != CDNS_K8S_SVC_EXTERNALNAME && !is_headless(s) && w.neps == 0)
        goto out;
    for (size_t z = 0; z < c->nzones; z++)
        if (!c->zones[z].reverse)
            emit_service_zone(c, &w, &c->zones[z]);
out:
    svc_work_free(&w);
    if (rc != CDNS_OK && !c->err)
        c->err = rc;
    return c->err == CDNS_OK;
}

/* Owner of the cluster IPs a released service owned: endpoints met later still yield to it, and
 * no pointer to freed memory is kept. */
static const cdns_k8s_service_t released_service;

/* A consuming build frees each service with its endpoints once its records are written (our
 * own service stays: the apex records read it at the end). The objects were allocated in file
 * order and are visited in it, so freed memory forms whole pages, which a trim every 1/16 of
 * the services gives back: the index shrinks while the builder grows. */
static bool visit_service_consume(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    const cdns_k8s_service_t *s = o->u.svc;
    bool ok = visit_service(o, arg);
    if (!ok || (c->nown && c->own[c->nown - 1] == s))
        return ok;
    for (size_t i = 0; i < s->ncluster_ips; i++) {
        uint8_t key[17];
        cip_slot_t *e = addr_key(s->cluster_ips[i], key) ? cip_slot(c, key) : NULL;
        if (e && e->svc == s)
            e->svc = &released_service;
    }
    cdns_k8s_index_release_service(c->consume, s->ns, s->name);
    if (++c->released % c->trim_every == 0)
        malloc_trim(0);
    return true;
}

static bool visit_pod(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    const cdns_k8s_pod_t *p = o->u.pod;
    /* Terminating pods are dropped by CoreDNS's pod informer. */
    if (p->terminating || !valid_label(p->ns) || !cdns_k8s_selector_match(c->o->labels, &p->labels) ||
        !ns_exposed(c, p->ns))
        return true;
    for (size_t i = 0; i < p->nips; i++) {
        ipaddr_t ip = parse_ip(p->ips[i]);
        if (!ip.family)
            continue;
        char d[64];
        dashed(p->ips[i], d);
        for (size_t z = 0; z < c->nzones; z++) {
            if (c->zones[z].reverse)
                continue;
            uint8_t owner[CDNS_DNAME_MAX];
            if (mkname(owner, NULL, "%s.%s.pod.%s", d, p->ns, c->zones[z].sfx) == CDNS_OK)
                add_addr(c, owner, &ip, c->o->ttl_s);
        }
    }
    return c->err == CDNS_OK;
}

static bool visit_namespace(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    const cdns_k8s_namespace_t *n = o->u.ns;
    if (!valid_label(n->name) || !ns_exposed(c, n->name))
        return true;
    for (size_t z = 0; z < c->nzones; z++) {
        if (c->zones[z].reverse)
            continue;
        uint8_t owner[CDNS_DNAME_MAX];
        /* "ns.svc.zone" answers NODATA for an exposed namespace; so does "ns.pod.zone" unless
         * pods are disabled (then CoreDNS answers NXDOMAIN below pod.zone). */
        static const uint8_t mark = 1;
        if (mkname(owner, NULL, "%s.svc.%s", n->name, c->zones[z].sfx) == CDNS_OK)
            add_rr(c, owner, T_NS_MARK, c->o->ttl_s, &mark, 1);
        if (c->o->pods != CDNS_K8S_PODS_DISABLED &&
            mkname(owner, NULL, "%s.pod.%s", n->name, c->zones[z].sfx) == CDNS_OK)
            add_rr(c, owner, T_NS_MARK, c->o->ttl_s, &mark, 1);
    }
    return c->err == CDNS_OK;
}

/* strcmp of "ans/aname" with "bns/bname" without building them: the index's order, which
 * a full build visits services in and an update must agree with. */
static int cmp_index_key(const char *ans, const char *aname, const char *bns, const char *bname)
{
    const char *a[3] = {ans, "/", aname}, *b[3] = {bns, "/", bname};
    int i = 0, j = 0;
    const char *p = a[0], *q = b[0];
    for (;;) {
        while (!*p && i < 2)
            p = a[++i];
        while (!*q && j < 2)
            q = b[++j];
        if (*p != *q || !*p)
            return (unsigned char)*p - (unsigned char)*q;
        p++;
        q++;
    }
}

static int cmp_ptr(const void *a, const void *b)
{
    const ptr_cand_t *x = a, *y = b;
    int r = memcmp(x->key, y->key, sizeof(x->key));
    if (r)
        return r;
    if (x->is_service != y->is_service)
        return x->is_service ? -1 : 1;
    if ((r = cmp_index_key(x->svc->ns, x->svc->name, y->svc->ns, y->svc->name)) != 0)
        return r;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* PTRs: a cluster IP names its (first) service only; otherwise every endpoint holding the
 * address gets one. Owners outside the configured reverse zones are dropped. */
static void emit_ptrs(bctx_t *c)
{
    if (c->nptrs > 1)
        qsort(c->ptrs, c->nptrs, sizeof(*c->ptrs), cmp_ptr);
    for (size_t i = 0; i < c->nptrs;) {
        size_t j = i;
        while (j < c->nptrs && memcmp(c->ptrs[j].key, c->ptrs[i].key, sizeof(c->ptrs[i].key)) == 0)
            j++;
        uint8_t rev[CDNS_DNAME_MAX], target[CDNS_DNAME_MAX];
        size_t rlen, tlen;
        if (cdns_reverse_name(c->ptrs[i].ip, rev, &rlen) == CDNS_OK && in_reverse_zone(c, rev)) {
            size_t end = c->ptrs[i].is_service ? i + 1 : j;
            for (size_t k = i; k < end; k++)
                if (ptr_target(c, &c->ptrs[k], target, &tlen) == CDNS_OK)
                    add_rr(c, rev, CDNS_T_PTR, c->o->ttl_s, target, tlen);
        }
        i = j;
    }
}

/* SOA, NS with its addresses, ns.dns and dns-version of one zone. */
static void emit_apex(bctx_t *c, const zinfo_t *z, uint32_t serial)
{
    uint32_t ttl = c->o->ttl_s;
    uint8_t mname[CDNS_DNAME_MAX], rname[CDNS_DNAME_MAX], rd[2 * CDNS_DNAME_MAX + 20];
    size_t mlen;
    if (mkname(mname, &mlen, "ns.dns.%s", z->sfx) != CDNS_OK || mkname(rname, NULL, "hostmaster.%s", z->sfx) != CDNS_OK)
        return;
    int len = cdns_rdata_soa(mname, rname, serial, 7200, 1800, 86400, ttl, rd, sizeof(rd));
    if (len > 0)
        add_rr(c, z->apex, CDNS_T_SOA, ttl < SOA_TTL_CAP ? ttl : SOA_TTL_CAP, rd, (size_t)len);

    uint8_t owner[CDNS_DNAME_MAX];
    if (mkname(owner, NULL, "dns-version.%s", z->sfx) == CDNS_OK) {
        len = cdns_rdata_txt(CDNS_K8S_DNS_VERSION, rd, sizeof(rd));
        if (len > 0)
            add_rr(c, owner, CDNS_T_TXT, DNS_VERSION_TTL, rd, (size_t)len);
    }
    add_name(c, mname);

    /* NS: our own service's names and addresses when its endpoints hold a local address,
     * else ns.dns.<zone> with the local addresses (CoreDNS's nsAddrs). ns.dns.<zone> answers
     * A/AAAA with every one of those addresses either way. */
    for (size_t i = 0; i < c->nown; i++) {
        const cdns_k8s_service_t *s = c->own[i];
        char base[600];
        int n = snprintf(base, sizeof(base), "%s.%s.svc.%s", s->name, s->ns, z->sfx);
        if (n < 0 || (size_t)n >= sizeof(base))
            continue;
        bool exposed = ns_exposed(c, s->ns);
        if (is_headless(s)) {
            cdns_k8s_epaddr_t *eps;
            size_t neps;
            if (served_endpoints(c, s, &eps, &neps) != CDNS_OK) {
                c->err = CDNS_ENOMEM;
                return;
            }
            for (size_t e = 0; e < neps; e++) {
                char buf[64];
                const char *name = cdns_k8s_endpoint_name(&eps[e], c->o->endpoint_pod_names, buf);
                ipaddr_t ip = parse_ip(eps[e].ip);
                if (!valid_label(name) || mkname(owner, &mlen, "%s.%s", name, base) != CDNS_OK)
                    continue;
                add_rr(c, z->apex, CDNS_T_NS, ttl, owner, mlen);
                add_glue(c, owner, &ip, ttl, exposed);
                add_addr(c, mname, &ip, ttl);
            }
            free(eps);
        } else {
            if (mkname(owner, &mlen, "%s", base) != CDNS_OK)
                continue;
            for (size_t k = 0; k < s->ncluster_ips; k++) {
                ipaddr_t ip = parse_ip(s->cluster_ips[k]);
                if (!ip.family)
                    continue;
                add_rr(c, z->apex, CDNS_T_NS, ttl, owner, mlen);
                add_glue(c, owner, &ip, ttl, exposed);
                add_addr(c, mname, &ip, ttl);
            }
        }
    }
    if (c->nown == 0) {
        if (mkname(mname, &mlen, "ns.dns.%s", z->sfx) != CDNS_OK)
            return;
        for (size_t i = 0; i < c->nlocal; i++) {
            add_rr(c, z->apex, CDNS_T_NS, ttl, mname, mlen);
            add_addr(c, mname, &c->local[i], ttl);
        }
    }
    if (!z->reverse) {
        if (mkname(owner, NULL, "svc.%s", z->sfx) == CDNS_OK)
            add_name(c, owner);
        if (mkname(owner, NULL, "pod.%s", z->sfx) == CDNS_OK)
            add_name(c, owner);
    }
}

/* The zones, local addresses and primary zone of opts; declares the zones when b is fresh. */
static int ctx_init(bctx_t *c, const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts, bool declare)
{
    c->idx = idx;
    c->o = opts;
    if (!opts->nzones)
        return CDNS_EINVAL;
    c->zones = calloc(opts->nzones, sizeof(*c->zones));
    c->local = calloc(opts->nlocal_ips ? opts->nlocal_ips : 1, sizeof(*c->local));
    if (!c->zones || !c->local)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < opts->nzones; i++) {
        zinfo_t *z = &c->zones[i];
        z->text = opts->zones[i];
        z->sfx = strcmp(z->text, ".") == 0 ? "" : z->text;
        z->reverse = zone_is_reverse(z->text);
        int rc = cdns_dname_from_str(z->text, NULL, z->apex, &z->apex_len);
        if (rc != CDNS_OK)
            return rc;
        cdns_dname_lower(z->apex);
        if (declare && (rc = cdns_builder_zone(c->b, z->apex)) != CDNS_OK)
            return rc;
        if (!z->reverse && !c->primary)
            c->primary = z;
    }
    c->nzones = opts->nzones;
    for (size_t i = 0; i < opts->nlocal_ips; i++) {
        ipaddr_t ip = parse_ip(opts->local_ips[i]);
        if (ip.family)
            c->local[c->nlocal++] = ip;
    }
    return CDNS_OK;
}

static void ctx_deinit(bctx_t *c)
{
    cdns_builder_free(c->b);
    free(c->ptrs);
    free(c->cip);
    free(c->own);
    free(c->local);
    free(c->zones);
}

/* PTRs and the apex records close every build; PTR candidates were filtered (and their names
 * recorded) when they were pushed, so they are all written here. */
static void finish(bctx_t *c)
{
    emit_mode_t mode = c->mode;
    c->mode = EMIT_ALL;
    if (!c->err)
        emit_ptrs(c);
    c->mode = mode;
    uint32_t serial = c->o->serial ? c->o->serial : (uint32_t)cdns_clock_real_s();
    for (size_t i = 0; i < c->nzones && !c->err; i++)
        emit_apex(c, &c->zones[i], serial);
}

/* Visitors of a build with state: each object is its own group. */
static bool visit_group(bctx_t *c, char kind, const char *ns, const char *name)
{
    int rc = cdns_k8s__group_get(c->groups, kind, ns, name, true, &c->cur);
    if (rc != CDNS_OK && rc != CDNS_ERANGE && !c->err)
        c->err = rc;
    return rc == CDNS_OK;
}

static bool visit_service_g(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    if (c->groups && !visit_group(c, CDNS_K8S__G_SERVICE, o->u.svc->ns, o->u.svc->name))
        return c->err == CDNS_OK;
    return visit_service(o, arg);
}

static bool visit_pod_g(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    if (c->groups && !visit_group(c, CDNS_K8S__G_POD, o->u.pod->ns, o->u.pod->name))
        return c->err == CDNS_OK;
    return visit_pod(o, arg);
}

static bool visit_namespace_g(const cdns_k8s_object_t *o, void *arg)
{
    bctx_t *c = arg;
    if (c->groups && !visit_group(c, CDNS_K8S__G_NAMESPACE, "", o->u.ns->name))
        return c->err == CDNS_OK;
    return visit_namespace(o, arg);
}

/* Everything from the index into a fresh builder; with groups, records who wrote what. With
 * consume (idx itself), each service goes with its endpoints once its records are in the
 * builder, and the rest of the index before the commit lays out the snapshot: the two largest
 * things a load makes are never held together. */
static int build_full(const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts, cdns_k8s_groups_t *groups,
                      cdns_k8s_index_t *consume, cdns_snapshot_t **out)
{
    *out = NULL;
    bctx_t c = {.groups = groups, .mode = groups ? EMIT_RECORD : EMIT_ALL};
    int rc = CDNS_ENOMEM;
    if (groups)
        cdns_k8s__groups_clear(groups);
    if (!(c.b = cdns_builder_new()) || (rc = ctx_init(&c, idx, opts, true)) != CDNS_OK)
        goto fail;
    /* Only a build with state is ever the base of an update (cdns_k8s_build_next). */
    if (!groups)
        cdns_builder_freeze(c.b);
    cdns_k8s_index_each(idx, CDNS_K8S_NAMESPACE, visit_namespace_g, &c);
    c.stream_ptrs = !groups;
    if (c.stream_ptrs && !c.err)
        cdns_k8s_index_each(idx, CDNS_K8S_SERVICE, visit_cluster_ips, &c);
    if (consume && !c.err) {
        c.consume = consume;
        c.trim_every = cdns_k8s_index_count(idx, CDNS_K8S_SERVICE) / 16;
        c.trim_every = c.trim_every < 256 ? 256 : c.trim_every;
        cdns_k8s_index_each_inserted(consume, CDNS_K8S_SERVICE, visit_service_consume, &c);
    } else if (!c.err) {
        cdns_k8s_index_each(idx, CDNS_K8S_SERVICE, visit_service_g, &c);
    }
    if (!c.err && opts->pods == CDNS_K8S_PODS_VERIFIED)
        cdns_k8s_index_each(idx, CDNS_K8S_POD, visit_pod_g, &c);
    if (groups && !c.err)
        visit_group(&c, CDNS_K8S__G_APEX, "", "");
    finish(&c);
    if ((rc = c.err) != CDNS_OK)
        goto fail;
    cdns_builder_t *b = c.b;
    c.b = NULL; /* commit frees the builder either way */
    if (consume) {
        ctx_deinit(&c); /* nothing of the index may be reached past here */
        memset(&c, 0, sizeof(c));
        cdns_k8s_index_free(consume);
        consume = NULL;
        /* Its small chunks sit below the builder's in the heap: without a trim the pages stay
         * resident under the snapshot about to be laid out. */
        malloc_trim(0);
    }
    rc = cdns_builder_commit(b, out);
fail:
    ctx_deinit(&c);
    cdns_k8s_index_free(consume);
    if (groups)
        cdns_k8s__clear_dirty(groups);
    return rc;
}

int cdns_k8s_build(const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts, cdns_snapshot_t **out)
{
    return build_full(idx, opts, NULL, NULL, out);
}

int cdns_k8s_build_consume(cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts, cdns_snapshot_t **out)
{
    return build_full(idx, opts, NULL, idx, out);
}

/* ------------------------------------------------------- incremental builds */
struct cdns_k8s_state {
    cdns_k8s_groups_t *groups;
    bool full_next;   /* nothing to update from, or a change touch cannot describe */
    bool uses_slices; /* the last build's cdns_k8s_index_uses_slices() */
    uint32_t *touched;
    size_t ntouched, touched_cap;
    char **namespaces; /* touched namespaces: every group in them is touched at build time */
    size_t nnamespaces, namespaces_cap;
};

cdns_k8s_state_t *cdns_k8s_state_new(void)
{
    cdns_k8s_state_t *st = calloc(1, sizeof(*st));
    if (st && !(st->groups = cdns_k8s__groups_new())) {
        free(st);
        return NULL;
    }
    if (st)
        st->full_next = true;
    return st;
}

static void forget_touches(cdns_k8s_state_t *st)
{
    for (size_t i = 0; i < st->ntouched; i++) {
        cdns_k8s__group_t *g = cdns_k8s__group(st->groups, st->touched[i]);
        if (g)
            g->touched = false;
    }
    st->ntouched = 0;
    for (size_t i = 0; i < st->nnamespaces; i++)
        free(st->namespaces[i]);
    st->nnamespaces = 0;
}

void cdns_k8s_state_free(cdns_k8s_state_t *st)
{
    if (!st)
        return;
    forget_touches(st);
    cdns_k8s__groups_free(st->groups);
    free(st->touched);
    free(st->namespaces);
    free(st);
}

void cdns_k8s_state_touch_all(cdns_k8s_state_t *st)
{
    st->full_next = true;
}

static int touch_group(cdns_k8s_state_t *st, char kind, const char *ns, const char *name)
{
    uint32_t id;
    int rc = cdns_k8s__group_get(st->groups, kind, ns, name, true, &id);
    if (rc == CDNS_ERANGE)
        return CDNS_OK; /* names that long make no records */
    if (rc == CDNS_OK)
        rc = cdns_k8s__grow((void **)&st->touched, &st->touched_cap, st->ntouched + 1, sizeof(*st->touched));
    if (rc != CDNS_OK)
        return rc;
    cdns_k8s__group_t *g = cdns_k8s__group(st->groups, id);
    if (!g->touched) {
        g->touched = true;
        st->touched[st->ntouched++] = id;
    }
    return CDNS_OK;
}

int cdns_k8s_state_touch(cdns_k8s_state_t *st, cdns_k8s_kind_t kind, const char *ns, const char *name)
{
    if (st->full_next)
        return CDNS_OK;
    int rc = CDNS_OK;
    ns = ns ? ns : "";
    switch (kind) {
    case CDNS_K8S_SERVICE:
    case CDNS_K8S_ENDPOINTSLICE:
    case CDNS_K8S_ENDPOINTS:
        if (name && *name)
            rc = touch_group(st, CDNS_K8S__G_SERVICE, ns, name);
        break;
    case CDNS_K8S_POD:
        rc = touch_group(st, CDNS_K8S__G_POD, ns, name ? name : "");
        break;
    case CDNS_K8S_NAMESPACE:
        rc = touch_group(st, CDNS_K8S__G_NAMESPACE, "", name ? name : "");
        if (rc == CDNS_OK)
            rc = cdns_k8s__grow((void **)&st->namespaces, &st->namespaces_cap, st->nnamespaces + 1,
                                sizeof(*st->namespaces));
        if (rc == CDNS_OK && !(st->namespaces[st->nnamespaces] = strdup(name ? name : "")))
            rc = CDNS_ENOMEM;
        if (rc == CDNS_OK)
            st->nnamespaces++;
        break;
    default:
        st->full_next = true;
        break;
    }
    if (rc != CDNS_OK)
        st->full_next = true; /* a touch we could not note: rebuild everything rather than miss it */
    return rc;
}

int cdns_k8s_state_touch_event(cdns_k8s_state_t *st, const cdns_k8s_event_t *ev)
{
    if (!ev) {
        cdns_k8s_state_touch_all(st);
        return CDNS_OK;
    }
    if (ev->type == CDNS_K8S_EV_BOOKMARK || ev->type == CDNS_K8S_EV_ERROR)
        return CDNS_OK;
    bool eps = ev->kind == CDNS_K8S_ENDPOINTSLICE || ev->kind == CDNS_K8S_ENDPOINTS;
    int rc = CDNS_OK;
    if (eps && ev->old_service[0])
        rc = cdns_k8s_state_touch(st, ev->kind, ev->ns, ev->old_service);
    int rc2 = cdns_k8s_state_touch(st, ev->kind, ev->ns, eps ? ev->service : ev->name);
    return rc != CDNS_OK ? rc : rc2;
}

/* Writes group g's records (all of them when RECORD, those at dirty names when FILTER). */
static void regenerate(bctx_t *c, cdns_k8s__group_t *g)
{
    c->cur = g->id;
    cdns_k8s_object_t o = {.kind = CDNS_K8S_NONE};
    switch (g->kind) {
    case CDNS_K8S__G_SERVICE:
        if (c->mode == EMIT_RECORD)
            g->own = false; /* visit_service sets it again if it still holds */
        if ((o.u.svc = (cdns_k8s_service_t *)cdns_k8s_index_service(c->idx, g->ns, g->name)) != NULL)
            visit_service(&o, c);
        break;
    case CDNS_K8S__G_POD:
        if (c->o->pods == CDNS_K8S_PODS_VERIFIED &&
            (o.u.pod = (cdns_k8s_pod_t *)cdns_k8s_index_pod(c->idx, g->ns, g->name)) != NULL)
            visit_pod(&o, c);
        break;
    case CDNS_K8S__G_NAMESPACE:
        if ((o.u.ns = (cdns_k8s_namespace_t *)cdns_k8s_index_namespace(c->idx, g->name)) != NULL)
            visit_namespace(&o, c);
        break;
    default:
        break; /* the apex is written by finish() */
    }
}

typedef struct ns_touch {
    cdns_k8s_state_t *st;
    const char *ns;
    int rc;
} ns_touch_t;

static bool touch_in_ns(const cdns_k8s_object_t *o, void *arg)
{
    ns_touch_t *nt = arg;
    bool svc = o->kind == CDNS_K8S_SERVICE;
    const char *ns = svc ? o->u.svc->ns : o->u.pod->ns;
    const char *name = svc ? o->u.svc->name : o->u.pod->name;
    if (strcmp(ns, nt->ns) == 0)
        nt->rc = touch_group(nt->st, svc ? CDNS_K8S__G_SERVICE : CDNS_K8S__G_POD, ns, name);
    return nt->rc == CDNS_OK;
}

static int build_update(cdns_k8s_state_t *st, const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts,
                        const cdns_snapshot_t *prev, cdns_snapshot_t **out)
{
    cdns_k8s_groups_t *gs = st->groups;
    bctx_t c = {.groups = gs, .mode = EMIT_RECORD};
    uint32_t *ctxv = NULL;
    size_t nctx = 0, ctx_cap = 0;
    int rc = CDNS_ENOMEM;
    if (!(c.b = cdns_builder_update(prev)) || (rc = ctx_init(&c, idx, opts, false)) != CDNS_OK)
        goto fail;

    /* A namespace's exposure decides every service and pod in it (rare: a full pass over
     * the index per touched namespace). */
    for (size_t i = 0; i < st->nnamespaces; i++) {
        ns_touch_t nt = {.st = st, .ns = st->namespaces[i]};
        cdns_k8s_index_each(idx, CDNS_K8S_SERVICE, touch_in_ns, &nt);
        if (opts->pods == CDNS_K8S_PODS_VERIFIED && nt.rc == CDNS_OK)
            cdns_k8s_index_each(idx, CDNS_K8S_POD, touch_in_ns, &nt);
        if ((rc = nt.rc) != CDNS_OK)
            goto fail;
    }
    /* The apex (SOA serial, our own service's NS records) is rewritten every time. */
    if ((rc = touch_group(st, CDNS_K8S__G_APEX, "", "")) != CDNS_OK)
        goto fail;

    /* What the touched groups wrote is dirty; then they write again, recording anew. */
    for (size_t i = 0; i < st->ntouched; i++)
        if ((rc = cdns_k8s__group_release(gs, st->touched[i])) != CDNS_OK)
            goto fail;
    for (size_t i = 0; i < st->ntouched && !c.err; i++) {
        cdns_k8s__group_t *g = cdns_k8s__group(gs, st->touched[i]);
        if (g->kind != CDNS_K8S__G_APEX)
            regenerate(&c, g);
    }
    /* The apex names our own services: every one of them, not just those regenerated. */
    c.nown = 0;
    for (size_t id = 0; id < cdns_k8s__group_count(gs) && !c.err; id++) {
        cdns_k8s__group_t *g = cdns_k8s__group(gs, (uint32_t)id);
        const cdns_k8s_service_t *s = g && g->own ? cdns_k8s_index_service(idx, g->ns, g->name) : NULL;
        if (!s)
            continue;
        if ((rc = cdns_k8s__grow((void **)&c.own, &c.own_cap, c.nown + 1, sizeof(*c.own))) != CDNS_OK)
            goto fail;
        c.own[c.nown++] = s;
    }
    /* Other groups writing at a dirty name write it again, for that name only. */
    cdns_k8s__owner_t *const *dirty;
    size_t ndirty;
    cdns_k8s__dirty_owners(gs, &dirty, &ndirty);
    for (size_t i = 0; i < ndirty; i++) {
        const uint32_t *ids;
        size_t n;
        cdns_k8s__owner_groups(dirty[i], &ids, &n);
        for (size_t k = 0; k < n; k++) {
            cdns_k8s__group_t *g = cdns_k8s__group(gs, ids[k]);
            if (g->touched || g->context)
                continue;
            if ((rc = cdns_k8s__grow((void **)&ctxv, &ctx_cap, nctx + 1, sizeof(*ctxv))) != CDNS_OK)
                goto fail;
            g->context = true;
            ctxv[nctx++] = g->id;
        }
    }
    c.mode = EMIT_FILTER;
    for (size_t i = 0; i < nctx && !c.err; i++)
        regenerate(&c, cdns_k8s__group(gs, ctxv[i]));
    c.mode = EMIT_RECORD;
    if (!c.err && (rc = cdns_k8s__group_get(gs, CDNS_K8S__G_APEX, "", "", false, &c.cur)) != CDNS_OK)
        goto fail;
    finish(&c);
    if ((rc = c.err) != CDNS_OK)
        goto fail;
    /* Every dirty name is replaced by what was written for it, nothing when nothing was. */
    cdns_k8s__dirty_owners(gs, &dirty, &ndirty);
    for (size_t i = 0; i < ndirty; i++) {
        size_t len;
        const uint8_t *name = cdns_k8s__owner_name(dirty[i], &len);
        rc = cdns_builder_remove(c.b, name);
        if (rc != CDNS_OK && rc != CDNS_ERANGE)
            goto fail;
    }
    rc = cdns_builder_commit(c.b, out);
    c.b = NULL;
    if (rc != CDNS_OK)
        goto fail;
    for (size_t i = 0; i < nctx; i++)
        cdns_k8s__group(gs, ctxv[i])->context = false;
    for (size_t i = 0; i < st->ntouched; i++) {
        cdns_k8s__group_t *g = cdns_k8s__group(gs, st->touched[i]);
        g->touched = false;
        cdns_k8s__group_drop_if_empty(gs, g->id); /* deleted, or writes nothing: its id is reused */
    }
    st->ntouched = 0;
    cdns_k8s__clear_dirty(gs);
    free(ctxv);
    ctx_deinit(&c);
    forget_touches(st);
    return CDNS_OK;
fail:
    free(ctxv);
    ctx_deinit(&c);
    st->full_next = true; /* the recorded names no longer match any snapshot */
    return rc;
}

int cdns_k8s_build_next(cdns_k8s_state_t *st, const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *opts,
                        const cdns_snapshot_t *prev, cdns_snapshot_t **out, bool *full)
{
    bool slices = cdns_k8s_index_uses_slices(idx);
    /* Past a sixteenth of the groups a full build is cheaper: an update regenerates each touched
     * group and patches its names (about 0.2 ms a group at 10k services, where a full build
     * takes 0.6 s), so 5,000 changed slices cost 0.9 s as an update. */
    size_t ngroups = cdns_k8s__group_count(st->groups);
    bool go_full = st->full_next || !prev || cdns_snapshot_frozen(prev) || slices != st->uses_slices ||
                   st->ntouched + st->nnamespaces * 64 > (ngroups / 16 > 256 ? ngroups / 16 : 256);
    *full = go_full;
    int rc;
    if (go_full) {
        forget_touches(st);
        rc = build_full(idx, opts, st->groups, NULL, out);
        st->full_next = rc != CDNS_OK;
    } else {
        rc = build_update(st, idx, opts, prev, out);
    }
    if (rc == CDNS_OK) {
        st->uses_slices = slices;
    } else {
        /* Who wrote what is gone with the failed build: only a full build can start over. */
        cdns_k8s__groups_clear(st->groups);
        st->full_next = true;
    }
    return rc;
}

/* ------------------------------------------------------------------ answer */
typedef struct actx {
    const cdns_snapshot_t *s;
    const cdns_zone_t *z;
    const cdns_query_t *q;
    cdns_msg_t *m;
} actx_t;

static cdns_k8s_result_t put_negative(actx_t *a, uint16_t rcode)
{
    cdns_msg_set_rcode(a->m, rcode);
    cdns_store_put_soa(a->z, a->q, a->m, CDNS_SEC_AUTHORITY);
    return rcode == CDNS_RCODE_NXDOMAIN ? CDNS_K8S_NXDOMAIN : CDNS_K8S_ANSWERED;
}

static cdns_k8s_result_t nodata(actx_t *a)
{
    return put_negative(a, CDNS_RCODE_NOERROR);
}

static cdns_k8s_result_t nxdomain(actx_t *a)
{
    return put_negative(a, CDNS_RCODE_NXDOMAIN);
}

/* Addresses of the names an RRset points at (SRV targets, NS hosts), each name once. Extra
 * records that do not fit are dropped without setting TC, as CoreDNS's truncation drops the
 * additional section first. */
static void put_glue(actx_t *a, const cdns_rrset_t *rs)
{
    const uint32_t *targets = cdns_rrset_targets(rs);
    if (!targets)
        return;
    for (uint16_t i = 0; i < rs->count; i++) {
        const cdns_node_t *t = cdns_snapshot_target(a->s, rs, i);
        if (!t)
            continue;
        /* Targets are node indices: equal indices, same name. */
        bool seen = false;
        for (uint16_t j = 0; j < i && !seen; j++)
            seen = targets[j] == targets[i];
        if (seen)
            continue;
        static const uint16_t types[2] = {CDNS_T_A, CDNS_T_AAAA};
        for (int k = 0; k < 2; k++) {
            const cdns_rrset_t *g = cdns_node_rrset(t, types[k]);
            if (!g)
                continue;
            cdns_msg_mark_t mark = cdns_msg_mark(a->m);
            bool tc = a->m->truncated;
            if (cdns_store_put_rrset(a->s, a->m, CDNS_SEC_ADDITIONAL, 0, t->name, g) != CDNS_OK) {
                cdns_msg_rollback(a->m, mark);
                a->m->truncated = tc;
                return;
            }
        }
    }
}

/* The CNAME target (rdata after the length prefix of the only record: the store keeps CNAME
 * rdata whole, see cdns_rrset_t). */
static const uint8_t *cname_target(const cdns_rrset_t *rs)
{
    return rs->count ? cdns_rrset_rdata(rs) + 2 : NULL;
}

#define MAX_CHAIN 8

/* A/AAAA/TXT on an ExternalName: CoreDNS follows targets inside the zone itself and answers
 * nothing when they lead nowhere; targets outside are for the client's resolver. */
static cdns_k8s_result_t chase(actx_t *a, const cdns_node_t *start, uint16_t qtype)
{
    const cdns_rrset_t *chain[MAX_CHAIN];
    const uint8_t *owners[MAX_CHAIN];
    size_t n = 0;
    const cdns_node_t *cur = start;
    const cdns_rrset_t *final = NULL;
    const cdns_node_t *final_node = NULL;
    for (;;) {
        const cdns_rrset_t *cn = cdns_node_rrset(cur, CDNS_T_CNAME);
        if (!cn)
            break;
        if (n == MAX_CHAIN)
            return nodata(a);
        chain[n] = cn;
        owners[n] = cur == start ? NULL : cur->name;
        n++;
        const uint8_t *t = cname_target(cn);
        if (!t)
            return nodata(a);
        if (!cdns_dname_is_sub(t, a->z->apex))
            break; /* leaves the zone: the CNAMEs are the answer */
        const cdns_node_t *next = cdns_snapshot_find(a->s, t, cdns_dname_len(t));
        if (!next || next == start || cdns_dname_equal(t, a->q->qname_lower))
            return nodata(a);
        cur = next;
        if (!cdns_node_rrset(cur, CDNS_T_CNAME)) {
            final = cdns_node_rrset(cur, qtype);
            final_node = cur;
            if (!final)
                return nodata(a);
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        cdns_store_put_rrset(a->s, a->m, CDNS_SEC_ANSWER, owners[i] ? 0 : CDNS_MSG_QNAME_OFF, owners[i], chain[i]);
    if (final)
        cdns_store_put_rrset(a->s, a->m, CDNS_SEC_ANSWER, 0, final_node->name, final);
    cdns_msg_set_rcode(a->m, CDNS_RCODE_NOERROR);
    return CDNS_K8S_ANSWERED;
}

/* Answers qtype from an existing node, owner = the question (which may differ from the node's
 * name when CoreDNS reads the name loosely). */
static cdns_k8s_result_t answer_node(actx_t *a, const cdns_node_t *node, uint16_t qtype)
{
    if (cdns_node_rrset(node, CDNS_T_CNAME) && qtype != CDNS_T_CNAME) {
        if (qtype == CDNS_T_A || qtype == CDNS_T_AAAA || qtype == CDNS_T_TXT)
            return chase(a, node, qtype);
        return nodata(a); /* CoreDNS drops ExternalNames from SRV and answers nothing else */
    }
    const cdns_rrset_t *rs = cdns_node_rrset(node, qtype);
    if (!rs)
        return nodata(a);
    cdns_store_put_rrset(a->s, a->m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, rs);
    if (qtype == CDNS_T_SRV || qtype == CDNS_T_NS)
        put_glue(a, rs);
    cdns_msg_set_rcode(a->m, CDNS_RCODE_NOERROR);
    return CDNS_K8S_ANSWERED;
}

/* Like answer_node, but the node must hold data: an empty non-terminal the store made between
 * real names ("_tcp.svc.ns.svc.zone") does not exist for CoreDNS. */
static cdns_k8s_result_t answer_existing(actx_t *a, const cdns_node_t *node, uint16_t qtype)
{
    if (!node || node->nrrsets == 0)
        return nxdomain(a);
    return answer_node(a, node, qtype);
}

/* Every answer asks whether its zone is a reverse one. Both reverse trees end in "arpa", so a
 * compare of the apex's last six octets (its length is known) settles it for a forward zone
 * without walking the apex. */
static bool apex_is_reverse(const cdns_zone_t *z)
{
    static const uint8_t arpa[] = "\4arpa", in_addr[] = "\7in-addr\4arpa", ip6[] = "\3ip6\4arpa";
    if (z->apex_labels < 2 || z->apex_len < sizeof(ip6) ||
        memcmp(z->apex + z->apex_len - sizeof(arpa), arpa, sizeof(arpa)) != 0)
        return false;
    return cdns_dname_has_suffix(z->apex, z->apex_len, in_addr, sizeof(in_addr)) ||
           cdns_dname_has_suffix(z->apex, z->apex_len, ip6, sizeof(ip6));
}

/* Whether label l (lowercase) is s. A loop rather than memcmp: s is a constant of a few
 * octets, so this unrolls into a few compares where memcmp would be a call. */
static bool label_is(const uint8_t *l, const char *s)
{
    size_t n = strlen(s);
    if (l[0] != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (l[1 + i] != (uint8_t)s[i])
            return false;
    return true;
}

/* The address a pod label stands for ("1-2-3-4", "fd00--1"), as CoreDNS reads it. */
static int pod_label_ip(const uint8_t *l, ipaddr_t *ip)
{
    char text[CDNS_LABEL_MAX + 1];
    size_t n = l[0];
    memcpy(text, l + 1, n);
    text[n] = '\0';
    size_t dashes = 0;
    for (size_t i = 0; i < n; i++)
        dashes += text[i] == '-';
    bool v4 = dashes == 3 && !strstr(text, "--");
    for (size_t i = 0; i < n; i++)
        if (text[i] == '-')
            text[i] = v4 ? '.' : ':';
    memset(ip, 0, sizeof(*ip));
    if (v4 && inet_pton(AF_INET, text, ip->a) == 1) {
        ip->family = AF_INET;
    } else if (!v4 && inet_pton(AF_INET6, text, ip->a) == 1) {
        ip->family = AF_INET6;
        /* Go's net.IP treats a v4-mapped address as IPv4, so CoreDNS answers A for it. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(ip->a, mapped, 12) == 0) {
            memmove(ip->a, ip->a + 12, 4);
            ip->family = AF_INET;
        }
    } else {
        return CDNS_EINVAL;
    }
    return CDNS_OK;
}

/* The node a name of rel labels below a forward zone's apex names in "svc": the name itself
 * for "svc.ns.svc.zone" and "endpoint.svc.ns.svc.zone", the underscored form for
 * "port.proto.svc.ns.svc.zone" (CoreDNS strips a leading underscore if there is one, so
 * "http.tcp" and "_http._tcp" are the same name), and NULL for any other depth. node is the
 * query name's own, already looked up; at[] as in cdns_k8s_answer. */
static const cdns_node_t *service_node(const cdns_snapshot_t *s, const cdns_query_t *q, const size_t *at, int rel,
                                       const cdns_node_t *node)
{
    if (rel == 3 || rel == 4)
        return node;
    if (rel != 5)
        return NULL;
    const uint8_t *qn = q->qname_lower;
    if (qn[at[4] + 1] == '_' && qn[at[3] + 1] == '_')
        return node; /* already the underscored form: the name that was looked up */
    uint8_t name[CDNS_DNAME_MAX + 2];
    size_t w = 0;
    for (int i = 4; i >= 3; i--) {
        const uint8_t *l = qn + at[i];
        bool us = l[0] > 0 && l[1] == '_';
        size_t len = l[0] + (us ? 0 : 1);
        if (len > CDNS_LABEL_MAX)
            return NULL;
        name[w++] = (uint8_t)len;
        if (!us)
            name[w++] = '_';
        memcpy(name + w, l + 1, l[0]);
        w += l[0];
    }
    size_t rest = q->qname_len - at[2];
    if (w + rest > CDNS_DNAME_MAX)
        return NULL;
    memcpy(name + w, qn + at[2], rest);
    return cdns_snapshot_find(s, name, w + rest);
}

cdns_k8s_result_t cdns_k8s_answer(const cdns_snapshot_t *s, const cdns_k8s_opts_t *opts, const cdns_query_t *q,
                                  cdns_msg_t *m)
{
    if (!s || !q->has_question)
        return CDNS_K8S_NOTAUTH;
    const uint8_t *qn = q->qname_lower;
    const cdns_node_t *node;
    const cdns_zone_t *z = cdns_snapshot_find_zone_node(s, qn, q->qname_len, (uint32_t)q->qname_hash, &node);
    if (!z)
        return CDNS_K8S_NOTAUTH;
    uint16_t qtype = q->qtype;
    if (qtype == CDNS_T_AXFR || qtype == CDNS_T_IXFR) {
        cdns_msg_set_rcode(m, CDNS_RCODE_REFUSED);
        return CDNS_K8S_REFUSED;
    }
    actx_t a = {.s = s, .z = z, .q = q, .m = m};
    m->flags |= CDNS_F_AA;

    /* Where each label of the name starts, counted from the zone: qn + at[0] is the label right
     * under the apex, qn + at[rel - 1] the name's first. Filled from the root side in the one
     * walk, so no second pass turns left-to-right offsets around. */
    int rel = (int)q->qname_labels - (int)z->apex_labels;
    size_t from_root[CDNS_DNAME_MAX / 2 + 1];
    size_t k = q->qname_labels;
    for (size_t p = 0; qn[p] && k > 0; p += (size_t)qn[p] + 1)
        from_root[--k] = p;
    if (rel < 0 || k != 0) {
        /* Cannot happen for a parsed query in this zone; keeps the reads below in bounds. */
        cdns_store_set_zone(m, z, q);
        return nodata(&a);
    }
    /* The zone's apex is the name's suffix of apex_labels labels (the walk that found the zone
     * went through it), so it starts where that label does; the root starts at the last octet. */
    cdns_msg_set_zone(
        m, (uint16_t)(CDNS_MSG_QNAME_OFF + (z->apex_labels ? from_root[z->apex_labels - 1] : q->qname_len - 1u)),
        z->apex_len);
    const size_t *at = from_root + z->apex_labels;

    if (rel == 0) {
        if (qtype == CDNS_T_SOA || qtype == CDNS_T_NS)
            return answer_node(&a, z->apex_node, qtype);
        return nodata(&a);
    }
    /* CoreDNS answers SOA only at the apex and never looks the name up otherwise. */
    if (qtype == CDNS_T_SOA)
        return nodata(&a);
    if (rel == 1 && label_is(qn + at[0], "dns-version")) {
        if (qtype == CDNS_T_TXT && node)
            return answer_node(&a, node, qtype);
        return nxdomain(&a);
    }
    if (rel == 2 && label_is(qn + at[0], "dns") && label_is(qn + at[1], "ns")) {
        if (qtype == CDNS_T_TXT || qtype == CDNS_T_PTR || !node)
            return nxdomain(&a);
        return answer_node(&a, node, qtype);
    }
    if (apex_is_reverse(z)) {
        if (qtype != CDNS_T_PTR || !node || !cdns_node_rrset(node, CDNS_T_PTR))
            return nxdomain(&a);
        return answer_node(&a, node, qtype);
    }
    bool is_svc = label_is(qn + at[0], "svc"), is_pod = label_is(qn + at[0], "pod");
    if (!is_svc && !is_pod)
        return nxdomain(&a);
    if (rel == 1)
        return nodata(&a);
    /* A service's name with records proves its namespace exposed (see T_NS_GLUE). A node's
     * RRsets are sorted by type, and the marker is the largest type ever written: it is last. */
    const cdns_node_t *svc_node = is_svc && rel >= 3 ? service_node(s, q, at, rel, node) : NULL;
    if (svc_node && svc_node->nrrsets && svc_node->rrsets[svc_node->nrrsets - 1].type != T_NS_GLUE)
        return answer_node(&a, svc_node, qtype);
    /* The namespace must be exposed: its "ns.svc.zone" / "ns.pod.zone" name has the marker. */
    const cdns_node_t *ns_node = cdns_snapshot_find(s, qn + at[1], q->qname_len - at[1]);
    if (!ns_node || !cdns_node_rrset(ns_node, T_NS_MARK))
        return nxdomain(&a);
    if (rel == 2)
        return nodata(&a);
    if (is_svc)
        return answer_existing(&a, svc_node, qtype);

    /* Pods: "ip.ns.pod.zone"; CoreDNS reads only the label in the service position, so one
     * or two labels in front of it are ignored. */
    if (rel > 5 || opts->pods == CDNS_K8S_PODS_DISABLED)
        return nxdomain(&a);
    const uint8_t *pod_label = qn + at[2];
    if (opts->pods == CDNS_K8S_PODS_VERIFIED)
        return answer_existing(&a, cdns_snapshot_find(s, pod_label, q->qname_len - at[2]), qtype);
    ipaddr_t ip;
    if (pod_label_ip(pod_label, &ip) != CDNS_OK)
        return nxdomain(&a);
    uint16_t want = ip.family == AF_INET ? CDNS_T_A : CDNS_T_AAAA;
    if (qtype != want)
        return nodata(&a);
    cdns_msg_put_rr(m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, want, CDNS_C_IN, opts->ttl_s, ip.a,
                    ip.family == AF_INET ? 4 : 16);
    cdns_msg_set_rcode(m, CDNS_RCODE_NOERROR);
    return CDNS_K8S_ANSWERED;
}
