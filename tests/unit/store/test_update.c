/* SPDX-License-Identifier: MIT */
/* test_update.c — update builders (cdns_builder_update): for any sequence of changes the result
 * answers exactly like a full build of the same content.
 *
 * A model (plain arrays: owner -> records, explicit-name flag) under three zones, one nested,
 * with deep names so that empty non-terminals come and go, records of every kind whose targets
 * are other names of the model (present, absent, appearing later, outside every zone). Each
 * step touches a few owners through an update builder from the previous snapshot; every few
 * steps the result is compared with a full build of the model: lookups, RRsets byte for byte,
 * targets by name, counts, zones, and the bytes cdns_store_answer writes; and with the model
 * itself, so that names the store leaves out of rdata (SRV, MX, NS, PTR naming a node, dead or
 * alive) are checked against the names added, not only against another snapshot that could
 * rebuild them the same wrong way: every record through cdns_snapshot_rdata, and the answers to
 * SRV, MX, NS and PTR queries decoded from the wire. Old snapshots are
 * kept a while, checked again against their own full builds after newer commits, and freed in
 * random order; some get an update from them when they are no longer the newest. The store's
 * internals (store_int.h) are checked for consistency after every commit. Then a scale check
 * prints commit times of small updates to a 500k-owner snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check_main.h"
#include "store_helpers.h"

#include "store/store_int.h"

/* Check's ck_assert_* records every assertion that passes (a write to its pipe); the millions
 * of comparisons here report only their failures. */
#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            ck_abort_msg(__VA_ARGS__);                                                                                 \
    } while (0)
#define EXPECT_EQ(a, b)                                                                                                \
    do {                                                                                                               \
        unsigned long long x_ = (unsigned long long)(a), y_ = (unsigned long long)(b);                                 \
        if (x_ != y_)                                                                                                  \
            ck_abort_msg("%s == %s: %llu vs %llu", #a, #b, x_, y_);                                                    \
    } while (0)
#define EXPECT_MEM(a, b, n) EXPECT(memcmp((a), (b), (n)) == 0, "%s and %s differ", #a, #b)

/* ------------------------------------------------------------------ model */
#define NZONES 3
static const char *const zone_names[NZONES] = {"cluster.local", "example.org", "sub.example.org"};

#define NPOOL 150  /* owners of the model (the first NZONES are the apexes) */
#define NABSENT 30 /* names inside the zones that never own anything: targets and queries */
#define MAXREC 6

typedef struct mrec {
    uint16_t type;
    uint16_t rdlen;
    uint32_t ttl;
    uint8_t rd[300];
} mrec_t;

typedef struct mname {
    int nrec;
    bool explicit_name;
    mrec_t rec[MAXREC];
} mname_t;

typedef struct model {
    mname_t n[NPOOL];
} model_t;

static char pool[NPOOL][160];
static char absent[NABSENT][160];
static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
    return cdns_test_rnd(&rng, n);
}

static void wire(const char *text, uint8_t *out, size_t *len)
{
    EXPECT_EQ(cdns_dname_from_str(text, NULL, out, len), CDNS_OK);
}

/* Deep names over a small alphabet, so that many share ancestors. */
static void random_name(char *out, size_t cap)
{
    static const char *const labels[] = {"a", "b", "c", "d", "_tcp", "_http", "x1", "x2", "ns"};
    int z = (int)rnd(NZONES);
    int depth = 1 + (int)rnd(4);
    size_t w = 0;
    if (rnd(12) == 0) {
        w += (size_t)snprintf(out + w, cap - w, "*.");
        depth--;
    }
    for (int i = 0; i < depth; i++)
        w += (size_t)snprintf(out + w, cap - w, "%s.", labels[rnd(sizeof(labels) / sizeof(labels[0]))]);
    snprintf(out + w, cap - w, "%s", zone_names[z]);
}

static bool taken(const char *name, int upto)
{
    for (int i = 0; i < upto; i++)
        if (strcmp(pool[i], name) == 0)
            return true;
    for (int i = 0; i < NABSENT; i++)
        if (strcmp(absent[i], name) == 0)
            return true;
    return false;
}

static void make_pool(void)
{
    memset(absent, 0, sizeof(absent));
    for (int i = 0; i < NZONES; i++)
        snprintf(pool[i], sizeof(pool[i]), "%s", zone_names[i]);
    for (int i = NZONES; i < NPOOL; i++)
        do
            random_name(pool[i], sizeof(pool[i]));
        while (taken(pool[i], i));
    for (int i = 0; i < NABSENT; i++) {
        char name[160];
        do
            random_name(name, sizeof(name));
        while (taken(name, NPOOL));
        snprintf(absent[i], sizeof(absent[i]), "%s", name);
    }
}

/* A target: mostly owners of the pool, some absent names, some outside every zone. */
static const char *random_target(void)
{
    uint32_t r = rnd(20);
    if (r < 14)
        return pool[rnd(NPOOL)];
    if (r < 18)
        return absent[rnd(NABSENT)];
    return r == 18 ? "www.elsewhere.net" : "A.Elsewhere.NET";
}

static void random_record(mrec_t *r, bool apex, int zone)
{
    static const uint32_t ttls[] = {5, 30, 60};
    r->ttl = ttls[rnd(3)];
    uint8_t name[CDNS_DNAME_MAX];
    size_t len;
    switch (rnd(apex ? 4 : 9)) {
    case 0:
        if (apex) {
            uint8_t mname[CDNS_DNAME_MAX], rname[CDNS_DNAME_MAX];
            char t[200];
            snprintf(t, sizeof(t), "ns.dns.%s", zone_names[zone]);
            wire(t, mname, &len);
            snprintf(t, sizeof(t), "hostmaster.%s", zone_names[zone]);
            wire(t, rname, &len);
            r->type = CDNS_T_SOA;
            r->rdlen = (uint16_t)cdns_rdata_soa(mname, rname, 1 + rnd(3), 7200, 1800, 86400, 1 + rnd(60), r->rd,
                                                sizeof(r->rd));
            break;
        }
        /* fall through */
    case 1:
        r->type = CDNS_T_A;
        r->rdlen = 4;
        r->rd[0] = 10;
        r->rd[1] = 0;
        r->rd[2] = 0;
        r->rd[3] = (uint8_t)rnd(6);
        break;
    case 2:
        r->type = CDNS_T_AAAA;
        r->rdlen = 16;
        memset(r->rd, 0, 16);
        r->rd[0] = 0xfd;
        r->rd[15] = (uint8_t)rnd(4);
        break;
    case 3:
        r->type = CDNS_T_NS;
        wire(random_target(), r->rd, &len);
        r->rdlen = (uint16_t)len;
        break;
    case 4:
        r->type = CDNS_T_TXT;
        r->rdlen = (uint16_t)cdns_rdata_txt(rnd(2) ? "hello" : "v=1 x", r->rd, sizeof(r->rd));
        break;
    case 5:
    case 6:
        r->type = CDNS_T_SRV;
        wire(random_target(), name, &len);
        r->rdlen = (uint16_t)cdns_rdata_srv((uint16_t)rnd(2), 10, (uint16_t)(80 + rnd(3)), name, r->rd, sizeof(r->rd));
        break;
    case 7:
        r->type = CDNS_T_CNAME;
        wire(random_target(), r->rd, &len);
        r->rdlen = (uint16_t)len;
        break;
    default:
        r->type = CDNS_T_PTR;
        wire(random_target(), r->rd, &len);
        r->rdlen = (uint16_t)len;
        break;
    }
}

static void random_content(mname_t *m, int idx)
{
    bool apex = idx < NZONES;
    m->nrec = (apex ? 1 : 0) + (int)rnd(MAXREC - 1);
    m->explicit_name = rnd(6) == 0;
    for (int i = 0; i < m->nrec; i++)
        random_record(&m->rec[i], apex, idx);
    /* Now and then a duplicate with another TTL: the RRset keeps the smallest. */
    if (m->nrec > 0 && m->nrec < MAXREC && rnd(4) == 0) {
        m->rec[m->nrec] = m->rec[0];
        m->rec[m->nrec].ttl = 1 + rnd(100);
        m->nrec++;
    }
}

static void add_content(cdns_builder_t *b, int idx, const mname_t *m)
{
    uint8_t owner[CDNS_DNAME_MAX];
    size_t len;
    wire(pool[idx], owner, &len);
    for (int i = 0; i < m->nrec; i++)
        EXPECT_EQ(cdns_builder_add(b, owner, m->rec[i].type, m->rec[i].ttl, m->rec[i].rd, m->rec[i].rdlen), CDNS_OK);
    if (m->explicit_name)
        EXPECT_EQ(cdns_builder_add_name(b, owner), CDNS_OK);
}

static cdns_snapshot_t *full_build(const model_t *md)
{
    cdns_builder_t *b = cdns_builder_new();
    for (int z = 0; z < NZONES; z++)
        ck_assert_int_eq(cdns_builder_zone(b, N(zone_names[z])), CDNS_OK);
    /* In a shuffled order: the result must not depend on it. */
    int order[NPOOL];
    for (int i = 0; i < NPOOL; i++)
        order[i] = i;
    for (int i = NPOOL - 1; i > 0; i--) {
        int j = (int)rnd((uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < NPOOL; i++)
        add_content(b, order[i], &md->n[order[i]]);
    return commit(b);
}

/* ------------------------------------------------------------------ internal consistency */
/* The chunk of s that holds the bytes [p, p + len) past its header, or NULL. */
static const cdns_store__chunk_t *chunk_holding(const cdns_snapshot_t *s, const void *p, size_t len)
{
    uintptr_t a = (uintptr_t)p;
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const cdns_store__chunk_t *c = s->chunks[i].chunk;
        uintptr_t lo = (uintptr_t)c + sizeof(*c), hi = (uintptr_t)c + c->bytes;
        if (a >= lo && a <= hi && len <= hi - a)
            return c;
    }
    return NULL;
}

/* The RRsets of node n (its chunk: id) and what their offsets reach all lie in that chunk of s,
 * rdata and targets past the node's RRset array (RRsets come first in every layout, spilled
 * copies included), the rdata's records within it. An offset gone wrong, one relative to
 * where an RRset was copied from for instance, lands elsewhere; one that stays inside the
 * chunk by chance reads other bytes, which the comparisons with full builds and the model
 * catch. */
static void check_layout(const cdns_snapshot_t *s, const cdns_node_t *n, uint32_t id)
{
    const cdns_store__chunk_t *c = chunk_holding(s, n->rrsets, n->nrrsets * sizeof(cdns_rrset_t));
    EXPECT(c != NULL && c->id == id, "RRsets outside their node's chunk");
    uintptr_t set_end = (uintptr_t)(n->rrsets + n->nrrsets), end = (uintptr_t)c + c->bytes;
    for (uint16_t r = 0; r < n->nrrsets; r++) {
        const cdns_rrset_t *rs = &n->rrsets[r];
        const uint8_t *rd = cdns_rrset_rdata(rs);
        EXPECT((uintptr_t)rd >= set_end && (uintptr_t)rd < end, "rdata of type %u at offset %u", rs->type,
               rs->rdata_off);
        const uint8_t *p = rd;
        for (uint16_t k = 0; k < rs->count; k++) {
            EXPECT((uintptr_t)p + 2 <= end, "rdata of type %u runs past its chunk", rs->type);
            p += 2 + ((size_t)p[0] << 8 | p[1]);
            EXPECT((uintptr_t)p <= end, "rdata of type %u runs past its chunk", rs->type);
        }
        EXPECT_EQ(p - rd, cdns_store__rrset_rdata_len(rs));
        const uint32_t *t = cdns_rrset_targets(rs);
        EXPECT((cdns_store__target_offset(rs->type) >= 0) == (t != NULL), "targets of type %u", rs->type);
        if (t) {
            EXPECT((uintptr_t)t % sizeof(uint32_t) == 0, "targets of type %u misaligned", rs->type);
            EXPECT((uintptr_t)t >= set_end && (uintptr_t)(t + rs->count) <= end, "targets of type %u at offset %u",
                   rs->type, rs->targets_off);
            EXPECT((uintptr_t)(t + rs->count) <= (uintptr_t)rd || (uintptr_t)t >= (uintptr_t)p,
                   "targets of type %u overlap its rdata", rs->type);
        }
    }
}

static void check_internals(const cdns_snapshot_t *s)
{
    uint32_t live = 0, dead = 0;
    uint64_t chunk_nodes = 0;
    size_t records = 0;
    for (uint32_t i = 0; i < s->nchunks; i++) {
        EXPECT(s->chunks[i].nodes > 0, "a listed chunk no node uses");
        if (i)
            EXPECT(s->chunks[i - 1].chunk->id < s->chunks[i].chunk->id, "order");
        chunk_nodes += s->chunks[i].nodes;
    }
    EXPECT_EQ(chunk_nodes, s->nnodes);
    uint32_t *children = calloc(s->nnodes + 1, sizeof(*children));
    for (uint32_t i = 0; i < s->nnodes; i++) {
        const cdns_node_t *n = cdns_store__node(s, i);
        const cdns_store__meta_t *m = cdns_store__meta(s, i);
        /* Its chunk is listed, and the node is found by its name (dead or not). */
        uint32_t k = 0;
        while (k < s->nchunks && s->chunks[k].chunk->id != m->chunk)
            k++;
        EXPECT(k < s->nchunks, "order");
        EXPECT_EQ(cdns_store__find_index(s, n->name, m->name_len, cdns_dname_hash(n->name, m->name_len)), i);
        EXPECT_EQ(cdns_dname_len(n->name), m->name_len);
        if (n->flags & CDNS_STORE__NODE_DEAD) {
            dead++;
            EXPECT_EQ(n->name_len, 0);
            EXPECT_EQ(n->nrrsets, 0);
            EXPECT_EQ(m->children, 0);
            continue;
        }
        live++;
        EXPECT_EQ(n->name_len, m->name_len);
        if (n->nrrsets)
            check_layout(s, n, m->chunk);
        for (uint16_t r = 0; r < n->nrrsets; r++) {
            const cdns_rrset_t *rs = &n->rrsets[r];
            records += rs->count;
            /* A name is left out of rdata exactly when the store says so, and the one put back
             * is the name of the target's index (dead or alive). */
            int toff = cdns_store__target_offset(rs->type);
            const uint8_t *p = cdns_rrset_rdata(rs);
            for (uint16_t ri = 0; ri < rs->count; ri++) {
                size_t stored = (size_t)p[0] << 8 | p[1];
                if (toff >= 0) {
                    uint32_t t = cdns_rrset_targets(rs)[ri];
                    EXPECT((stored == (size_t)toff) == cdns_store__elides(rs->type, t), "elision of type %u", rs->type);
                    uint8_t buf[CDNS_STORE_RDATA_BUF];
                    uint16_t len;
                    const uint8_t *rd = cdns_snapshot_rdata(s, rs, ri, buf, &len);
                    const uint8_t *tn = rd + toff;
                    size_t tl = len - (size_t)toff;
                    EXPECT_EQ(cdns_dname_len(tn), tl);
                    EXPECT_EQ(cdns_store__find_index(s, tn, tl, cdns_dname_hash(tn, tl)), t);
                    if (t != CDNS_STORE_NO_TARGET)
                        EXPECT_EQ(cdns_store__meta(s, t)->name_len, tl);
                }
                p += 2 + stored;
            }
        }
        EXPECT(n->nrrsets || m->children || (m->flags & CDNS_STORE__META_EXPLICIT) || (n->flags & CDNS_NODE_APEX),
               "a live node with no reason to live");
        if (n->name_len > 1) {
            const uint8_t *p = n->name + n->name[0] + 1;
            size_t pl = n->name_len - n->name[0] - 1u;
            uint32_t pi = cdns_store__find_index(s, p, pl, cdns_dname_hash(p, pl));
            if (pi != CDNS_STORE__NONE && !(cdns_store__node(s, pi)->flags & CDNS_STORE__NODE_DEAD))
                children[pi]++;
            else
                EXPECT((n->flags & CDNS_NODE_APEX) && cdns_store__zone_of(s, p, pl) < 0,
                       "a live node without a live parent");
        }
    }
    for (uint32_t i = 0; i < s->nnodes; i++)
        EXPECT_EQ(cdns_store__meta(s, i)->children, children[i]);
    free(children);
    EXPECT_EQ(live, s->nlive);
    EXPECT_EQ(dead, s->ndead);
    EXPECT_EQ(records, s->nrecords);
}

/* ------------------------------------------------------------------ comparison */
static void same_node(const cdns_snapshot_t *a, const cdns_snapshot_t *b, const cdns_node_t *x, const cdns_node_t *y,
                      const char *name)
{
    EXPECT((x == NULL) == (y == NULL), "%s: exists in one snapshot only (update %d, full %d)", name, x != NULL,
           y != NULL);
    if (!x)
        return;
    EXPECT_EQ(x->name_len, y->name_len);
    EXPECT_MEM(x->name, y->name, x->name_len);
    EXPECT_EQ(x->labels, y->labels);
    EXPECT_EQ(x->zone, y->zone);
    EXPECT(x->flags == y->flags, "%s: flags %x vs %x", name, x->flags, y->flags);
    EXPECT(x->nrrsets == y->nrrsets, "%s: %u RRsets vs %u", name, x->nrrsets, y->nrrsets);
    for (uint16_t i = 0; i < x->nrrsets; i++) {
        const cdns_rrset_t *r = &x->rrsets[i], *q = &y->rrsets[i];
        EXPECT_EQ(r->type, q->type);
        EXPECT_EQ(r->count, q->count);
        EXPECT_EQ(r->ttl_s, q->ttl_s);
        EXPECT_EQ(cdns_store__rrset_rdata_len(r), cdns_store__rrset_rdata_len(q));
        EXPECT_MEM(cdns_rrset_rdata(r), cdns_rrset_rdata(q), cdns_store__rrset_rdata_len(r));
        for (uint16_t k = 0; k < r->count; k++) {
            uint8_t bx[CDNS_STORE_RDATA_BUF], by[CDNS_STORE_RDATA_BUF];
            uint16_t lx, ly;
            const uint8_t *dx = cdns_snapshot_rdata(a, r, k, bx, &lx), *dy = cdns_snapshot_rdata(b, q, k, by, &ly);
            EXPECT(dx && dy, "%s: record %u of type %u unreadable", name, k, r->type);
            EXPECT(lx == ly && memcmp(dx, dy, lx) == 0, "%s: rdata %u of type %u differs", name, k, r->type);
        }
        EXPECT((cdns_rrset_targets(r) == NULL) == (cdns_rrset_targets(q) == NULL), "%s: targets in one only", name);
        for (uint16_t k = 0; r->targets_off && k < r->count; k++) {
            const cdns_node_t *tx = cdns_snapshot_target(a, r, k), *ty = cdns_snapshot_target(b, q, k);
            EXPECT((tx == NULL) == (ty == NULL), "%s: target %u of type %u differs", name, k, r->type);
            if (tx) {
                EXPECT_EQ(tx->name_len, ty->name_len);
                EXPECT_MEM(tx->name, ty->name, tx->name_len);
            }
        }
    }
}

static void same_answer(const cdns_snapshot_t *a, const cdns_snapshot_t *b, const char *name, uint16_t type,
                        unsigned opts)
{
    uint8_t pkt[600];
    size_t plen = make_query(pkt, name, type, type == CDNS_T_SRV ? 0 : 1232);
    cdns_query_t q;
    EXPECT_EQ(cdns_query_parse(pkt, plen, &q), CDNS_QUERY_OK);
    static uint8_t out[2][4096];
    size_t olen[2];
    cdns_answer_info_t info[2];
    const cdns_snapshot_t *ss[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        cdns_msg_t m;
        cdns_msg_begin(&m, out[k], sizeof(out[k]), &q, false);
        cdns_store_answer_opts(ss[k], &q, &m, &info[k], opts);
        olen[k] = cdns_msg_finish(&m);
    }
    EXPECT(info[0].kind == info[1].kind, "%s/%u: answer kind %d vs %d", name, type, info[0].kind, info[1].kind);
    EXPECT(olen[0] == olen[1] && memcmp(out[0], out[1], olen[0]) == 0, "%s/%u: answers differ", name, type);
    EXPECT((info[0].cname_target == NULL) == (info[1].cname_target == NULL), "%s/%u: cname_target", name, type);
    if (info[0].cname_target)
        EXPECT_MEM(info[0].cname_target, info[1].cname_target, cdns_dname_len(info[0].cname_target));
}

static void compare_name(const cdns_snapshot_t *a, const cdns_snapshot_t *b, const char *name, bool answers)
{
    uint8_t w[CDNS_DNAME_MAX];
    size_t len;
    wire(name, w, &len);
    /* The batch prefetch on an updated lineage (dead nodes, indices only newer snapshots have)
     * reads only what is there (ASan). */
    cdns_query_t q = {.has_question = true, .qtype = CDNS_T_SRV, .qname_hash = cdns_dname_hash64(w, len)};
    const cdns_query_t *qs[] = {&q, &q};
    cdns_snapshot_prefetch(a, qs, 2);
    cdns_snapshot_prefetch(b, qs, 1);
    same_node(a, b, cdns_snapshot_find(a, w, len), cdns_snapshot_find(b, w, len), name);
    const cdns_zone_t *za = cdns_snapshot_find_zone(a, w, len), *zb = cdns_snapshot_find_zone(b, w, len);
    EXPECT((za == NULL) == (zb == NULL), "%s: zone in one only", name);
    if (za)
        EXPECT_EQ(za - cdns_snapshot_zone(a, 0), zb - cdns_snapshot_zone(b, 0));
    if (!answers)
        return;
    static const uint16_t types[] = {CDNS_T_A,   CDNS_T_AAAA, CDNS_T_SRV, CDNS_T_CNAME, CDNS_T_NS,
                                     CDNS_T_TXT, CDNS_T_PTR,  CDNS_T_SOA, CDNS_T_ANY,   CDNS_T_MX};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        same_answer(a, b, name, types[i], i % 2 ? CDNS_STORE_AUTH_NS : 0);
}

/* Every name of the model, its ancestors, absent names, names below existing ones (wildcards,
 * NXDOMAIN) and names outside every zone. */
static void compare(const cdns_snapshot_t *a, const cdns_snapshot_t *b, bool answers)
{
    EXPECT_EQ(cdns_snapshot_records(a), cdns_snapshot_records(b));
    EXPECT_EQ(cdns_snapshot_nodes(a), cdns_snapshot_nodes(b));
    EXPECT_EQ(cdns_snapshot_nzones(a), cdns_snapshot_nzones(b));
    for (unsigned z = 0; z < cdns_snapshot_nzones(a); z++) {
        const cdns_zone_t *x = cdns_snapshot_zone(a, z), *y = cdns_snapshot_zone(b, z);
        EXPECT_EQ(x->apex_len, y->apex_len);
        EXPECT_MEM(x->apex, y->apex, x->apex_len);
        EXPECT_EQ(x->apex_labels, y->apex_labels);
        EXPECT_EQ(x->neg_ttl_s, y->neg_ttl_s);
        EXPECT((x->soa == NULL) == (y->soa == NULL), "zone %u: SOA in one only", z);
        if (x->soa)
            EXPECT_MEM(cdns_rrset_rdata(x->soa), cdns_rrset_rdata(y->soa), cdns_store__rrset_rdata_len(x->soa));
        EXPECT_EQ(x->apex_node, cdns_snapshot_find(a, x->apex, x->apex_len));
        EXPECT_EQ(x->soa, cdns_node_rrset(x->apex_node, CDNS_T_SOA));
    }
    char name[200];
    for (int i = 0; i < NPOOL; i++) {
        compare_name(a, b, pool[i], answers);
        /* Ancestors (the empty non-terminals). */
        for (const char *p = strchr(pool[i], '.'); p; p = strchr(p + 1, '.'))
            compare_name(a, b, p + 1, answers && rnd(3) == 0);
        snprintf(name, sizeof(name), "q.%.150s", pool[i]);
        compare_name(a, b, name, answers && rnd(2) == 0);
    }
    for (int i = 0; i < NABSENT; i++)
        compare_name(a, b, absent[i], answers);
    compare_name(a, b, "www.elsewhere.net", answers);
    compare_name(a, b, "org", answers);
}

/* ------------------------------------------------------------------ against the model */
/* Records checked whose name the store left out and whose target node is dead, by type: the
 * run must meet such SRV and PTR records, in the store and in answers. */
static unsigned long dead_elided[256], dead_elided_answers[256];

/* A model record as the store keeps it: the names in its rdata lowercase. */
static uint16_t stored_form(const mrec_t *r, uint8_t *out)
{
    memcpy(out, r->rd, r->rdlen);
    int toff = cdns_store__target_offset(r->type);
    if (toff >= 0)
        cdns_dname_lower(out + toff);
    return r->rdlen;
}

/* Distinct records of the model name of this type (duplicates differ only in TTL). */
static int model_records(const mname_t *m, uint16_t type, uint8_t out[MAXREC][300], uint16_t *len)
{
    int n = 0;
    for (int i = 0; i < m->nrec; i++) {
        if (m->rec[i].type != type)
            continue;
        uint16_t l = stored_form(&m->rec[i], out[n]);
        bool dup = false;
        for (int j = 0; j < n && !dup; j++)
            dup = len[j] == l && memcmp(out[j], out[n], l) == 0;
        if (!dup)
            len[n++] = l;
    }
    return n;
}

/* Reads the records of this type that a response carries in ANSWER under the question's name,
 * names decompressed; returns how many (-1: malformed). */
static int decode_answer(const uint8_t *pkt, size_t plen, uint16_t type, uint8_t out[MAXREC][300], uint16_t *len)
{
    size_t pos = 12, nl;
    uint8_t qname[CDNS_DNAME_MAX], owner[CDNS_DNAME_MAX];
    if (plen < 12 || cdns_dname_unpack(pkt, plen, &pos, qname, &nl) != CDNS_OK)
        return -1;
    pos += 4;
    int ancount = pkt[6] << 8 | pkt[7], n = 0;
    int toff = cdns_store__target_offset(type);
    for (int i = 0; i < ancount; i++) {
        if (cdns_dname_unpack(pkt, plen, &pos, owner, &nl) != CDNS_OK || pos + 10 > plen)
            return -1;
        uint16_t t = (uint16_t)(pkt[pos] << 8 | pkt[pos + 1]);
        size_t rdlen = (size_t)pkt[pos + 8] << 8 | pkt[pos + 9];
        pos += 10;
        if (pos + rdlen > plen)
            return -1;
        size_t end = pos + rdlen;
        if (t == type && cdns_dname_equal(owner, qname)) {
            if (n == MAXREC)
                return -1;
            memcpy(out[n], pkt + pos, (size_t)toff);
            size_t np = pos + (size_t)toff;
            if (cdns_dname_unpack(pkt, plen, &np, out[n] + toff, &nl) != CDNS_OK || np != end)
                return -1;
            cdns_dname_lower(out[n] + toff);
            len[n++] = (uint16_t)((size_t)toff + nl);
        }
        pos = end;
    }
    return n;
}

static bool same_set(uint8_t a[MAXREC][300], const uint16_t *al, int na, uint8_t b[MAXREC][300], const uint16_t *bl,
                     int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++) {
        bool found = false;
        for (int j = 0; j < nb && !found; j++)
            found = al[i] == bl[j] && memcmp(a[i], b[j], al[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Every owner of the model holds exactly the model's records, read through
 * cdns_snapshot_rdata; SRV, MX, NS and PTR answers carry them on the wire. */
static void check_model(const cdns_snapshot_t *s, const model_t *md)
{
    static const uint16_t types[] = {CDNS_T_A,   CDNS_T_AAAA, CDNS_T_SRV, CDNS_T_NS,
                                     CDNS_T_TXT, CDNS_T_PTR,  CDNS_T_SOA, CDNS_T_CNAME};
    for (int i = 0; i < NPOOL; i++) {
        const mname_t *m = &md->n[i];
        const cdns_node_t *n = find(s, pool[i]);
        if (m->nrec == 0) {
            EXPECT(!n || n->nrrsets == 0, "%s: records the model does not have", pool[i]);
            continue;
        }
        EXPECT(n != NULL, "%s: missing", pool[i]);
        uint8_t want[MAXREC][300], got[MAXREC][300];
        uint16_t wl[MAXREC], gl[MAXREC];
        int nrs = 0;
        for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
            uint16_t type = types[ti];
            int nw = model_records(m, type, want, wl);
            const cdns_rrset_t *rs = cdns_node_rrset(n, type);
            EXPECT((nw > 0) == (rs != NULL), "%s: RRset of type %u in one only", pool[i], type);
            if (!rs)
                continue;
            nrs++;
            EXPECT(rs->count <= MAXREC, "%s: %u records", pool[i], rs->count);
            bool dead = false;
            for (uint16_t k = 0; k < rs->count; k++) {
                uint8_t buf[CDNS_STORE_RDATA_BUF];
                const uint8_t *rd = cdns_snapshot_rdata(s, rs, k, buf, &gl[k]);
                EXPECT(rd != NULL, "%s: record %u unreadable", pool[i], k);
                memcpy(got[k], rd, gl[k]);
                if (rd == buf && !cdns_snapshot_target(s, rs, k)) {
                    dead_elided[type & 0xff]++;
                    dead = true;
                }
            }
            EXPECT(same_set(want, wl, nw, got, gl, rs->count), "%s: records of type %u differ from the model", pool[i],
                   type);
            /* The answer on the wire, where the writer puts the left-out names back. */
            if (cdns_store__target_offset(type) < 0 || type == CDNS_T_CNAME)
                continue;
            uint8_t pkt[600];
            size_t plen = make_query(pkt, pool[i], type, 1232);
            cdns_query_t q;
            EXPECT_EQ(cdns_query_parse(pkt, plen, &q), CDNS_QUERY_OK);
            static uint8_t out[4096];
            cdns_msg_t msg;
            cdns_answer_info_t info;
            cdns_msg_begin(&msg, out, sizeof(out), &q, false);
            cdns_store_answer(s, &q, &msg, &info);
            size_t olen = cdns_msg_finish(&msg);
            if (info.kind != CDNS_ANSWER_DATA)
                continue; /* below a delegation: a referral */
            int na = decode_answer(out, olen, type, got, gl);
            EXPECT(same_set(want, wl, nw, got, gl, na), "%s: answer of type %u differs from the model", pool[i], type);
            if (dead)
                dead_elided_answers[type & 0xff]++;
        }
        EXPECT_EQ(nrs, n->nrrsets);
    }
}

/* ------------------------------------------------------------------ the randomized test */
typedef struct kept {
    cdns_snapshot_t *upd, *full; /* an update result and the full build of the same content */
    model_t *model;
} kept_t;

#define NKEPT 12

/* The owners the last apply_step touched. */
static int step_touched[5], nstep_touched;

/* Touches a few owners of the model through b, changing the model the same way. */
static void apply_step(cdns_builder_t *b, model_t *md)
{
    int *touched = step_touched;
    int n = nstep_touched = rnd(30) == 0 ? 0 : 1 + (int)rnd(4);
    for (int k = 0; k < n; k++) {
        int idx;
        bool dup;
        do {
            idx = rnd(8) == 0 ? (int)rnd(NZONES) : (int)rnd(NPOOL);
            dup = false;
            for (int j = 0; j < k; j++)
                dup |= touched[j] == idx;
        } while (dup);
        touched[k] = idx;
        mname_t *m = &md->n[idx];
        uint8_t owner[CDNS_DNAME_MAX];
        size_t len;
        wire(pool[idx], owner, &len);
        uint32_t action = rnd(10);
        if (action < 5) {
            random_content(m, idx);
        } else if (action < 7) {
            m->nrec = 0;
            m->explicit_name = false;
        } else if (action < 8) {
            m->nrec = 0;
            m->explicit_name = true;
        } /* else: the same content again */
        /* A remove beside records changes nothing: the builder's content is the union. */
        if (rnd(4) == 0 || (m->nrec == 0 && !m->explicit_name))
            ck_assert_int_eq(cdns_builder_remove(b, owner), CDNS_OK);
        add_content(b, idx, m);
    }
}

/* RRsets of owners the step did not touch that next holds elsewhere than base, next being an
 * update of base: those evacuate() copied into next's chunk. Each copy holds the same bytes as
 * its original, rdata and targets, read through its own offsets. Returns how many there are. */
static unsigned check_spilled(const cdns_snapshot_t *base, const cdns_snapshot_t *next)
{
    unsigned moved = 0;
    for (int i = 0; i < NPOOL; i++) {
        bool touched = false;
        for (int k = 0; k < nstep_touched; k++)
            touched |= step_touched[k] == i;
        const cdns_node_t *x = find(base, pool[i]), *y = find(next, pool[i]);
        if (touched || !x || !x->nrrsets || !y || y->rrsets == x->rrsets)
            continue;
        EXPECT(chunk_holding(base, y->rrsets, y->nrrsets * sizeof(cdns_rrset_t)) == NULL, "%s: moved within base",
               pool[i]);
        EXPECT_EQ(x->nrrsets, y->nrrsets);
        for (uint16_t r = 0; r < x->nrrsets; r++) {
            const cdns_rrset_t *a = &x->rrsets[r], *c = &y->rrsets[r];
            EXPECT_EQ(a->type, c->type);
            EXPECT_EQ(a->count, c->count);
            EXPECT_EQ(a->ttl_s, c->ttl_s);
            size_t len = cdns_store__rrset_rdata_len(a);
            EXPECT_EQ(cdns_store__rrset_rdata_len(c), len);
            EXPECT_MEM(cdns_rrset_rdata(a), cdns_rrset_rdata(c), len);
            EXPECT(cdns_rrset_rdata(a) != cdns_rrset_rdata(c), "%s: a copy shares its rdata", pool[i]);
            EXPECT((cdns_rrset_targets(a) == NULL) == (cdns_rrset_targets(c) == NULL), "%s: targets", pool[i]);
            if (cdns_rrset_targets(a))
                EXPECT_MEM(cdns_rrset_targets(a), cdns_rrset_targets(c), a->count * sizeof(uint32_t));
            moved++;
        }
    }
    return moved;
}

static void free_kept(kept_t *k)
{
    /* Either order: they share nothing, and an update result shares with its lineage. */
    if (rnd(2)) {
        cdns_snapshot_free(k->full);
        cdns_snapshot_free(k->upd);
    } else {
        cdns_snapshot_free(k->upd);
        cdns_snapshot_free(k->full);
    }
    free(k->model);
    *k = (kept_t){0};
}

static void run_model(uint64_t seed, int steps)
{
    rng = seed;
    memset(dead_elided, 0, sizeof(dead_elided));
    memset(dead_elided_answers, 0, sizeof(dead_elided_answers));
    make_pool();
    model_t *md = calloc(1, sizeof(*md));
    for (int i = 0; i < NPOOL; i++)
        if (i < NZONES || rnd(2))
            random_content(&md->n[i], i);
    cdns_snapshot_t *cur = full_build(md);
    bool cur_kept = false; /* cur is also in kept[] (which then owns it) */
    check_internals(cur);
    kept_t kept[NKEPT] = {{0}};
    int incremental = 0, relayouts = 0, stale = 0;
    unsigned spilled = 0, spill_steps = 0;
    for (int step = 0; step < steps; step++) {
        /* Now and then an update from a kept older snapshot rather than from the newest. */
        int from = -1;
        if (rnd(25) == 0)
            for (int k = 0; k < NKEPT && from < 0; k++)
                if (kept[k].upd && kept[k].upd != cur)
                    from = k;
        const cdns_snapshot_t *base = from >= 0 ? kept[from].upd : cur;
        model_t *bm = from >= 0 ? kept[from].model : md;
        cdns_builder_t *b = cdns_builder_update(base);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(cdns_builder_zone(b, N("cluster.local")), CDNS_EINVAL);
        uint8_t rd[4] = {1, 2, 3, 4};
        ck_assert_int_eq(cdns_builder_add(b, N("x.elsewhere.net"), CDNS_T_A, 5, rd, 4), CDNS_ERANGE);
        apply_step(b, bm);
        bool was_head = base->gen == base->tab->head;
        cdns_snapshot_t *next = NULL;
        ck_assert_int_eq(cdns_builder_commit(b, &next), CDNS_OK);
        check_internals(next);
        if (next->tab == base->tab) {
            incremental++;
            /* Spilled copies are checked against the model at once, not only when a later
             * step's comparison happens to meet them. */
            unsigned moved = check_spilled(base, next);
            if (moved) {
                spilled += moved;
                spill_steps++;
                check_model(next, bm);
            }
        } else {
            relayouts++;
        }
        if (from >= 0) {
            /* The result is right all the same; a stale base gets a lineage of its own. */
            if (!was_head) {
                stale++;
                ck_assert_ptr_ne(next->tab, base->tab);
            }
            cdns_snapshot_t *full = full_build(bm);
            compare(next, full, true);
            check_model(next, bm);
            cdns_snapshot_free(full);
            cdns_snapshot_free(next);
            free_kept(&kept[from]);
            continue;
        }
        bool next_kept = false;
        if (step % 4 == 0 || step == steps - 1) {
            cdns_snapshot_t *full = full_build(md);
            compare(next, full, true);
            check_model(next, md);
            check_model(full, md);
            /* An older pair, checked again after the commits since, then freed. */
            int slot = (int)rnd(NKEPT);
            if (kept[slot].upd && kept[slot].upd != cur) {
                compare(kept[slot].upd, kept[slot].full, rnd(4) == 0);
                check_model(kept[slot].upd, kept[slot].model);
                free_kept(&kept[slot]);
            }
            if (!kept[slot].upd && rnd(2)) {
                kept[slot].upd = next;
                kept[slot].full = full;
                kept[slot].model = malloc(sizeof(*md));
                memcpy(kept[slot].model, md, sizeof(*md));
                next_kept = true;
            } else {
                cdns_snapshot_free(full);
            }
        }
        /* cur is retired: freed now, while a newer snapshot shares its parts, or later if kept. */
        if (!cur_kept)
            cdns_snapshot_free(cur);
        cur = next;
        cur_kept = next_kept;
    }
    if (!cur_kept)
        cdns_snapshot_free(cur);
    for (int k = NKEPT - 1; k >= 0; k--) {
        if (kept[k].upd)
            compare(kept[k].upd, kept[k].full, false);
        free_kept(&kept[k]);
    }
    free(md);
    fprintf(stderr,
            "update model seed %llu: %d steps, %d incremental, %d relayouts (%d from stale bases), "
            "%u RRsets spilled in %u steps\n",
            (unsigned long long)seed, steps, incremental, relayouts, stale, spilled, spill_steps);
    ck_assert_int_gt(incremental, steps / 2);
    ck_assert_uint_gt(spill_steps, 0);
    ck_assert_int_gt(relayouts, 0);
    ck_assert_int_gt(stale, 0);
    /* Names left out of rdata whose target is dead were met, and answered. */
    fprintf(stderr, "  dead targets of left-out names checked: SRV %lu (%lu answers), PTR %lu (%lu answers)\n",
            dead_elided[CDNS_T_SRV], dead_elided_answers[CDNS_T_SRV], dead_elided[CDNS_T_PTR],
            dead_elided_answers[CDNS_T_PTR]);
    ck_assert_uint_gt(dead_elided_answers[CDNS_T_SRV], 0);
    ck_assert_uint_gt(dead_elided_answers[CDNS_T_PTR], 0);
}

/* Sanitized builds run ten times slower: fewer steps there. */
#if defined(__SANITIZE_ADDRESS__)
#define MODEL_STEPS 400
#else
#define MODEL_STEPS 1500
#endif

START_TEST(model_seed_1)
{
    run_model(0x9e3779b97f4a7c15ull, MODEL_STEPS);
}
END_TEST

START_TEST(model_seed_2)
{
    run_model(12345, MODEL_STEPS);
}
END_TEST

START_TEST(model_seed_3)
{
    run_model(0xdeadbeefcafeull, MODEL_STEPS);
}
END_TEST

/* ------------------------------------------------------------------ directed cases */
START_TEST(ent_lifetime_and_targets)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_srv(b, "_http._tcp.web.ns.svc.cluster.local", 30, 80, "web.ns.svc.cluster.local");
    add_srv(b, "_http._tcp.web.ns.svc.cluster.local", 30, 80, "later.ns.svc.cluster.local");
    cdns_snapshot_t *s0 = commit(b);
    const cdns_rrset_t *srv0 = cdns_node_rrset(find(s0, "_http._tcp.web.ns.svc.cluster.local"), CDNS_T_SRV);
    /* Records in canonical order: the shorter rdata ("web") first. */
    ck_assert_ptr_eq(cdns_snapshot_target(s0, srv0, 0), find(s0, "web.ns.svc.cluster.local"));
    ck_assert_ptr_null(cdns_snapshot_target(s0, srv0, 1)); /* later: not yet */
    ck_assert_uint_eq(cdns_snapshot_nodes(s0), 6);

    /* The target appears: the untouched SRV RRset now names it. */
    b = cdns_builder_update(s0);
    add_a(b, "later.ns.svc.cluster.local", 30, "10.0.0.9");
    cdns_snapshot_t *s1 = commit(b);
    const cdns_rrset_t *srv1 = cdns_node_rrset(find(s1, "_http._tcp.web.ns.svc.cluster.local"), CDNS_T_SRV);
    ck_assert_ptr_eq(srv1, srv0); /* shared, not copied */
    ck_assert_ptr_eq(cdns_snapshot_target(s1, srv1, 1), find(s1, "later.ns.svc.cluster.local"));
    ck_assert_ptr_null(cdns_snapshot_target(s0, srv0, 1)); /* the base is unchanged */
    ck_assert_ptr_null(find(s0, "later.ns.svc.cluster.local"));
    ck_assert_uint_eq(cdns_snapshot_nodes(s1), 7);

    /* The SRV goes, and the empty non-terminals that only it kept: _tcp.web and web (which
     * has no records); ns.svc stays for "later". */
    b = cdns_builder_update(s1);
    ck_assert_int_eq(cdns_builder_remove(b, N("_http._tcp.web.ns.svc.cluster.local")), CDNS_OK);
    ck_assert_int_eq(cdns_builder_remove(b, N("never.there.cluster.local")), CDNS_OK);
    ck_assert_int_eq(cdns_builder_remove(b, N("x.elsewhere.net")), CDNS_ERANGE);
    cdns_snapshot_t *s2 = commit(b);
    ck_assert_ptr_null(find(s2, "_http._tcp.web.ns.svc.cluster.local"));
    ck_assert_ptr_null(find(s2, "_tcp.web.ns.svc.cluster.local"));
    ck_assert_ptr_null(find(s2, "web.ns.svc.cluster.local"));
    ck_assert_ptr_nonnull(find(s2, "ns.svc.cluster.local"));
    ck_assert_ptr_null(find(s2, "never.there.cluster.local"));
    ck_assert_uint_eq(cdns_snapshot_nodes(s2), 4);

    /* An explicit name keeps existing with nothing below it; removing it takes it away. */
    b = cdns_builder_update(s2);
    ck_assert_int_eq(cdns_builder_add_name(b, N("e.f.g.cluster.local")), CDNS_OK);
    cdns_snapshot_t *s3 = commit(b);
    ck_assert_ptr_nonnull(find(s3, "e.f.g.cluster.local"));
    ck_assert_ptr_nonnull(find(s3, "g.cluster.local"));
    b = cdns_builder_update(s3);
    ck_assert_int_eq(cdns_builder_remove(b, N("E.F.G.cluster.local")), CDNS_OK);
    cdns_snapshot_t *s4 = commit(b);
    ck_assert_ptr_null(find(s4, "g.cluster.local"));
    ck_assert_uint_eq(cdns_snapshot_nodes(s4), 4);
    check_internals(s4);

    /* Freed out of order, the middle first. */
    cdns_snapshot_free(s2);
    cdns_snapshot_free(s0);
    cdns_snapshot_free(s4);
    cdns_snapshot_free(s1);
    cdns_snapshot_free(s3);
    ck_assert_ptr_null(cdns_builder_update(NULL));
    ck_assert_int_eq(cdns_builder_remove(NULL, N("a")), CDNS_EINVAL);
    b = cdns_builder_new();
    ck_assert_int_eq(cdns_builder_remove(b, N("a")), CDNS_EINVAL);
    cdns_builder_free(b);
}
END_TEST

/* Names left out of SRV, MX and PTR rdata are written from the target node: while it lives,
 * once an update kills it (the RRsets naming it untouched, shared with the base, which is
 * freed first), when it revives, and through a relayout from a base where it is dead. Each
 * answer is decoded from the wire and compared with the rdata added, in the question's case for
 * the zone part; answers before the kill and after the revival are the same bytes. */
typedef struct wire_answer {
    uint8_t pkt[1232];
    size_t len;
    cdns_answer_info_t info;
} wire_answer_t;

static void ask(const cdns_snapshot_t *s, const char *name, uint16_t type, wire_answer_t *a)
{
    uint8_t q[600];
    size_t qlen = make_query(q, name, type, 1232);
    cdns_query_t query;
    ck_assert_int_eq(cdns_query_parse(q, qlen, &query), CDNS_QUERY_OK);
    cdns_msg_t m;
    cdns_msg_begin(&m, a->pkt, sizeof(a->pkt), &query, false);
    cdns_store_answer(s, &query, &m, &a->info);
    a->len = cdns_msg_finish(&m);
}

/* The one record of type in the answer to name/type equals rdata with a name as given. */
static void expect_answer(const cdns_snapshot_t *s, const char *qname, uint16_t type, const uint8_t *fixed, size_t flen,
                          const char *target, wire_answer_t *a)
{
    ask(s, qname, type, a);
    ck_assert_int_eq(a->info.kind, CDNS_ANSWER_DATA);
    uint8_t got[MAXREC][300];
    uint16_t gl[MAXREC];
    ck_assert_int_eq(decode_answer(a->pkt, a->len, type, got, gl), 1);
    ck_assert_uint_eq((unsigned)(a->pkt[6] << 8 | a->pkt[7]), 1);
    /* decode_answer lowercases: read the one record again, the name's case kept. */
    size_t p = 12, nl;
    uint8_t name[CDNS_DNAME_MAX];
    ck_assert_int_eq(cdns_dname_unpack(a->pkt, a->len, &p, name, &nl), CDNS_OK); /* the question */
    p += 4;
    ck_assert_int_eq(cdns_dname_unpack(a->pkt, a->len, &p, name, &nl), CDNS_OK); /* the owner */
    p += 10;
    if (flen)
        ck_assert_mem_eq(a->pkt + p, fixed, flen);
    p += flen;
    ck_assert_int_eq(cdns_dname_unpack(a->pkt, a->len, &p, name, &nl), CDNS_OK);
    char text[CDNS_DNAME_MAX * 4];
    ck_assert_int_eq(cdns_dname_to_str(name, text, sizeof(text)), CDNS_OK);
    ck_assert_str_eq(text, target);
}

/* a, which has no additional data, carries the same question and ANSWER section as b: the
 * bytes after the header up to a's OPT record (11 octets, last). */
static void same_answer_section(const wire_answer_t *a, const wire_answer_t *b)
{
    ck_assert_uint_ge(b->len, a->len);
    ck_assert_mem_eq(a->pkt + 4, b->pkt + 4, 4); /* QDCOUNT, ANCOUNT */
    ck_assert_mem_eq(a->pkt + 12, b->pkt + 12, a->len - 12 - 11);
}

/* ADDITIONAL carries the A record of the target (1) or nothing (0). */
static void expect_additional(const wire_answer_t *a, int n)
{
    ck_assert_uint_eq((unsigned)(a->pkt[10] << 8 | a->pkt[11]), (unsigned)n + 1); /* and the OPT */
}

START_TEST(left_out_names_through_kill_and_revive)
{
    static const uint8_t srv_fixed[6] = {0, 1, 0, 10, 0x1f, 0x90}, mx_fixed[2] = {0, 10};
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "in-addr.arpa", 30, 5);
    uint8_t rd[300];
    const char *srv_owner = "_http._tcp.web.ns.svc.cluster.local";
    int n = cdns_rdata_srv(1, 10, 8080, N("ep.web.ns.svc.cluster.local"), rd, sizeof(rd));
    ck_assert_int_eq(cdns_builder_add(b, N(srv_owner), CDNS_T_SRV, 30, rd, (uint16_t)n), CDNS_OK);
    /* A target that is never there: a dead placeholder from the start. */
    n = cdns_rdata_srv(1, 10, 8080, N("gone.ns.svc.cluster.local"), rd, sizeof(rd));
    ck_assert_int_eq(cdns_builder_add(b, N("_http._tcp.gone.ns.svc.cluster.local"), CDNS_T_SRV, 30, rd, (uint16_t)n),
                     CDNS_OK);
    add_name_rr(b, "1.0.0.10.in-addr.arpa", CDNS_T_PTR, 30, "ep.web.ns.svc.cluster.local");
    /* A PTR naming a name of its own zone: compressed against the question. */
    add_name_rr(b, "2.0.0.10.in-addr.arpa", CDNS_T_PTR, 30, "host.10.in-addr.arpa");
    add_name_rr(b, "3.0.0.10.in-addr.arpa", CDNS_T_PTR, 30, "gone.ns.svc.cluster.local");
    memcpy(rd, mx_fixed, 2);
    memcpy(rd + 2, N("ep.web.ns.svc.cluster.local"), cdns_dname_len(N("ep.web.ns.svc.cluster.local")));
    ck_assert_int_eq(cdns_builder_add(b, N("ns.svc.cluster.local"), CDNS_T_MX, 30, rd,
                                      (uint16_t)(2 + cdns_dname_len(N("ep.web.ns.svc.cluster.local")))),
                     CDNS_OK);
    add_a(b, "ep.web.ns.svc.cluster.local", 30, "10.0.0.1");
    add_a(b, "host.10.in-addr.arpa", 30, "10.0.0.2");
    cdns_snapshot_t *s0 = commit(b);

    wire_answer_t srv0, srv, ptr0, ptr, mx0, mx, tmp;
    expect_answer(s0, srv_owner, CDNS_T_SRV, srv_fixed, 6, "ep.web.ns.svc.cluster.local.", &srv0);
    expect_additional(&srv0, 1);
    expect_answer(s0, "_HTTP._tcp.web.NS.svc.ClUsTeR.lOcAl", CDNS_T_SRV, srv_fixed, 6, "ep.web.ns.svc.ClUsTeR.lOcAl.",
                  &tmp);
    expect_answer(s0, "_http._tcp.gone.ns.svc.cluster.local", CDNS_T_SRV, srv_fixed, 6, "gone.ns.svc.cluster.local.",
                  &tmp);
    expect_additional(&tmp, 0);
    expect_answer(s0, "1.0.0.10.in-addr.arpa", CDNS_T_PTR, NULL, 0, "ep.web.ns.svc.cluster.local.", &ptr0);
    expect_answer(s0, "2.0.0.10.In-Addr.arpa", CDNS_T_PTR, NULL, 0, "host.10.In-Addr.arpa.", &tmp);
    expect_answer(s0, "3.0.0.10.in-addr.arpa", CDNS_T_PTR, NULL, 0, "gone.ns.svc.cluster.local.", &tmp);
    expect_answer(s0, "ns.svc.cluster.local", CDNS_T_MX, mx_fixed, 2, "ep.web.ns.svc.cluster.local.", &mx0);

    /* The targets go: ep.web dies (and host), the RRsets naming them are untouched. */
    b = cdns_builder_update(s0);
    ck_assert_int_eq(cdns_builder_remove(b, N("ep.web.ns.svc.cluster.local")), CDNS_OK);
    ck_assert_int_eq(cdns_builder_remove(b, N("host.10.in-addr.arpa")), CDNS_OK);
    /* A new SRV naming a name this commit kills, and one naming a name it brings in dead. */
    n = cdns_rdata_srv(1, 10, 8080, N("host.10.in-addr.arpa"), rd, sizeof(rd));
    ck_assert_int_eq(cdns_builder_add(b, N("_x._tcp.ns.svc.cluster.local"), CDNS_T_SRV, 30, rd, (uint16_t)n), CDNS_OK);
    n = cdns_rdata_srv(1, 10, 8080, N("new.ns.svc.cluster.local"), rd, sizeof(rd));
    ck_assert_int_eq(cdns_builder_add(b, N("_y._tcp.ns.svc.cluster.local"), CDNS_T_SRV, 30, rd, (uint16_t)n), CDNS_OK);
    cdns_snapshot_t *s1 = commit(b);
    ck_assert_ptr_eq(s1->tab, s0->tab); /* an update, not a relayout */
    ck_assert_ptr_null(find(s1, "ep.web.ns.svc.cluster.local"));
    ck_assert_ptr_eq(cdns_node_rrset(find(s1, srv_owner), CDNS_T_SRV),
                     cdns_node_rrset(find(s0, srv_owner), CDNS_T_SRV));
    cdns_snapshot_free(s0);
    check_internals(s1);
    expect_answer(s1, srv_owner, CDNS_T_SRV, srv_fixed, 6, "ep.web.ns.svc.cluster.local.", &srv);
    expect_additional(&srv, 0);
    same_answer_section(&srv, &srv0);
    expect_answer(s1, "1.0.0.10.in-addr.arpa", CDNS_T_PTR, NULL, 0, "ep.web.ns.svc.cluster.local.", &ptr);
    ck_assert_uint_eq(ptr.len, ptr0.len);
    ck_assert_mem_eq(ptr.pkt, ptr0.pkt, ptr.len);
    expect_answer(s1, "2.0.0.10.in-addr.arpa", CDNS_T_PTR, NULL, 0, "host.10.in-addr.arpa.", &tmp);
    expect_answer(s1, "ns.svc.cluster.local", CDNS_T_MX, mx_fixed, 2, "ep.web.ns.svc.cluster.local.", &mx);
    expect_additional(&mx, 0);
    same_answer_section(&mx, &mx0);
    expect_answer(s1, "_x._tcp.ns.svc.cluster.local", CDNS_T_SRV, srv_fixed, 6, "host.10.in-addr.arpa.", &tmp);
    expect_answer(s1, "_y._tcp.ns.svc.cluster.local", CDNS_T_SRV, srv_fixed, 6, "new.ns.svc.cluster.local.", &tmp);

    /* It comes back, and so does new: the same bytes as before the kill. */
    b = cdns_builder_update(s1);
    add_a(b, "ep.web.ns.svc.cluster.local", 30, "10.0.0.1");
    add_a(b, "new.ns.svc.cluster.local", 30, "10.0.0.3");
    cdns_snapshot_t *s2 = commit(b);
    ck_assert_ptr_eq(s2->tab, s1->tab);
    check_internals(s2);
    expect_answer(s2, srv_owner, CDNS_T_SRV, srv_fixed, 6, "ep.web.ns.svc.cluster.local.", &srv);
    ck_assert_uint_eq(srv.len, srv0.len);
    ck_assert_mem_eq(srv.pkt, srv0.pkt, srv.len);
    expect_answer(s2, "ns.svc.cluster.local", CDNS_T_MX, mx_fixed, 2, "ep.web.ns.svc.cluster.local.", &mx);
    ck_assert_uint_eq(mx.len, mx0.len);
    ck_assert_mem_eq(mx.pkt, mx0.pkt, mx.len);
    expect_answer(s2, "_y._tcp.ns.svc.cluster.local", CDNS_T_SRV, srv_fixed, 6, "new.ns.svc.cluster.local.", &tmp);
    expect_additional(&tmp, 1);

    /* From s1, no longer the newest: a relayout reads s1's records whole, ep.web dead there. */
    b = cdns_builder_update(s1);
    add_a(b, "other.ns.svc.cluster.local", 30, "10.0.0.4");
    cdns_snapshot_t *s3 = commit(b);
    ck_assert_ptr_ne(s3->tab, s1->tab);
    cdns_snapshot_free(s1);
    cdns_snapshot_free(s2);
    check_internals(s3);
    expect_answer(s3, srv_owner, CDNS_T_SRV, srv_fixed, 6, "ep.web.ns.svc.cluster.local.", &srv);
    expect_additional(&srv, 0);
    same_answer_section(&srv, &srv0);
    expect_answer(s3, "1.0.0.10.in-addr.arpa", CDNS_T_PTR, NULL, 0, "ep.web.ns.svc.cluster.local.", &ptr);
    ck_assert_mem_eq(ptr.pkt, ptr0.pkt, ptr.len);
    expect_answer(s3, "_x._tcp.ns.svc.cluster.local", CDNS_T_SRV, srv_fixed, 6, "host.10.in-addr.arpa.", &tmp);
    expect_answer(s3, "3.0.0.10.in-addr.arpa", CDNS_T_PTR, NULL, 0, "gone.ns.svc.cluster.local.", &tmp);
    cdns_snapshot_free(s3);
}
END_TEST

/* ------------------------------------------------------------------ scale */
static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Owners like the kubernetes plugin's: a service name with six A records (its endpoints) and,
 * for one service in four, an SRV name whose target is the service: nsvc * 1.25 owners, about
 * 5 * nsvc records. Then commits of 10 touched owners each (changed addresses, new services,
 * removed ones); prints median and max commit time. Not a timed assertion. */
static void scale(int nsvc, int commits)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    char owner[128], srv[160], ip[32];
    int bad = 0; /* checked once: a ck_assert per record would cost more than the build */
    for (int i = 0; i < nsvc; i++) {
        uint8_t w[CDNS_DNAME_MAX], rd[300];
        size_t len;
        snprintf(owner, sizeof(owner), "svc-%d.ns-%d.svc.cluster.local", i, i % 500);
        bad |= cdns_dname_from_str(owner, NULL, w, &len);
        for (uint8_t k = 0; k < 6; k++) { /* a service's endpoints */
            uint8_t a[4] = {(uint8_t)(10 + k), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
            bad |= cdns_builder_add(b, w, CDNS_T_A, 30, a, 4);
        }
        if (i % 4 == 0) {
            int n = cdns_rdata_srv(0, 100, 80, w, rd, sizeof(rd));
            snprintf(srv, sizeof(srv), "_http._tcp.%s", owner);
            bad |= cdns_dname_from_str(srv, NULL, w, &len);
            bad |= n < 0 ? n : cdns_builder_add(b, w, CDNS_T_SRV, 30, rd, (uint16_t)n);
        }
    }
    ck_assert_int_eq(bad, 0);
    cdns_snapshot_t *s = commit(b);
    double build_ms = ms_since(&t0);
    double *t = malloc((size_t)commits * sizeof(*t));
    rng = 77;
    int relayouts = 0;
    for (int c = 0; c < commits; c++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        b = cdns_builder_update(s);
        for (int k = 0; k < 10; k++) {
            int i = (int)rnd((uint32_t)nsvc + (uint32_t)nsvc / 10); /* some new */
            snprintf(owner, sizeof(owner), "svc-%d.ns-%d.svc.cluster.local", i, i % 500);
            snprintf(srv, sizeof(srv), "_http._tcp.%s", owner);
            if (rnd(5) == 0) {
                ck_assert_int_eq(cdns_builder_remove(b, N(owner)), CDNS_OK);
                ck_assert_int_eq(cdns_builder_remove(b, N(srv)), CDNS_OK);
                continue;
            }
            snprintf(ip, sizeof(ip), "10.200.%d.%d", c & 255, k);
            add_a(b, owner, 30, ip);
            add_srv(b, srv, 30, 80 + (uint16_t)k, owner);
        }
        cdns_snapshot_t *next = commit(b);
        t[c] = ms_since(&t0);
        relayouts += next->tab != s->tab;
        cdns_snapshot_free(s);
        s = next;
    }
    /* What the fallback costs at this size: an update from a base that is no longer the newest
     * lays everything out afresh. */
    b = cdns_builder_update(s);
    add_a(b, "svc-1.ns-1.svc.cluster.local", 30, "10.201.0.1");
    cdns_snapshot_t *newest = commit(b);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    b = cdns_builder_update(s);
    add_a(b, "svc-1.ns-1.svc.cluster.local", 30, "10.201.0.2");
    cdns_snapshot_t *stale = commit(b);
    double relayout_ms = ms_since(&t0);
    ck_assert_ptr_ne(stale->tab, s->tab);
    ck_assert_uint_eq(cdns_snapshot_records(stale), cdns_snapshot_records(newest));
    cdns_snapshot_free(newest);
    cdns_snapshot_free(stale);
    qsort(t, (size_t)commits, sizeof(*t), cmp_double);
    fprintf(stderr,
            "update scale: %d owners (%zu records, %zu nodes, build %.0f ms): %d commits of 10 owners, "
            "median %.3f ms, max %.3f ms, %d relayouts; a relayout (stale base) %.0f ms\n",
            nsvc + nsvc / 4, cdns_snapshot_records(s), cdns_snapshot_nodes(s), build_ms, commits, t[commits / 2],
            t[commits - 1], relayouts, relayout_ms);
    ck_assert_int_eq(relayouts, 0);
    free(t);
    cdns_snapshot_free(s);
}

START_TEST(scale_commit_time)
{
#if defined(__SANITIZE_ADDRESS__)
    scale(40000, 100); /* sanitized builds are ten times slower: a smaller one still checks it */
#else
    scale(40000, 100);
    scale(400000, 100);
#endif
}
END_TEST

static Suite *update_suite(void)
{
    Suite *s = suite_create("store_update");
    TCase *tc = tcase_create("update");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, ent_lifetime_and_targets);
    tcase_add_test(tc, left_out_names_through_kill_and_revive);
    tcase_add_test(tc, model_seed_1);
    tcase_add_test(tc, model_seed_2);
    tcase_add_test(tc, model_seed_3);
    tcase_add_test(tc, scale_commit_time);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(update_suite)
