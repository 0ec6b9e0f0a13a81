/* SPDX-License-Identifier: MIT */
/* test_builder.c — the store builder: dedup, TTLs, empty non-terminals, zones, targets, flags,
 * rdata checks and a large build. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check_main.h"
#include "store_helpers.h"

#include "store/store_int.h"

START_TEST(dedup_and_min_ttl)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_a(b, "web.default.svc.cluster.local", 30, "10.0.0.1");
    add_a(b, "web.default.svc.cluster.local", 30, "10.0.0.1");
    add_a(b, "web.default.svc.cluster.local", 20, "10.0.0.2");
    add_a(b, "WEB.Default.svc.cluster.local", 10, "10.0.0.1"); /* same record, owner case ignored */
    cdns_snapshot_t *s = commit(b);
    ck_assert_uint_eq(cdns_snapshot_records(s), 3); /* SOA + two A */
    const cdns_node_t *n = find(s, "web.default.svc.cluster.local");
    ck_assert_ptr_nonnull(n);
    const cdns_rrset_t *rs = cdns_node_rrset(n, CDNS_T_A);
    ck_assert_ptr_nonnull(rs);
    ck_assert_uint_eq(rs->count, 2);
    ck_assert_uint_eq(rs->ttl_s, 10);
    ck_assert_uint_eq(cdns_store__rrset_rdata_len(rs), 12);
    /* Canonical order: 10.0.0.1 before 10.0.0.2. */
    ck_assert_uint_eq(cdns_rrset_rdata(rs)[5], 1);
    ck_assert_uint_eq(cdns_rrset_rdata(rs)[11], 2);
    ck_assert_ptr_null(cdns_rrset_targets(rs));
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(empty_non_terminals)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_srv(b, "_http._tcp.web.default.svc.cluster.local", 30, 80, "web.default.svc.cluster.local");
    ck_assert_int_eq(cdns_builder_add_name(b, N("empty.cluster.local")), CDNS_OK);
    cdns_snapshot_t *s = commit(b);
    const char *ents[] = {"_tcp.web.default.svc.cluster.local", "web.default.svc.cluster.local",
                          "default.svc.cluster.local", "svc.cluster.local", "empty.cluster.local"};
    for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
        const cdns_node_t *n = find(s, ents[i]);
        ck_assert_msg(n != NULL, "%s missing", ents[i]);
        ck_assert_uint_eq(n->nrrsets, 0);
        ck_assert_uint_eq(n->zone, 0);
        ck_assert_mem_eq(n->name, N(ents[i]), n->name_len);
        ck_assert_uint_eq(n->labels, cdns_dname_labels(N(ents[i])));
    }
    ck_assert_ptr_null(find(s, "other.svc.cluster.local"));
    ck_assert_ptr_null(find(s, "local"));
    /* SRV target resolved to the (empty) node of its name. */
    const cdns_rrset_t *srv = cdns_node_rrset(find(s, "_http._tcp.web.default.svc.cluster.local"), CDNS_T_SRV);
    ck_assert_ptr_nonnull(srv);
    ck_assert_ptr_eq(cdns_snapshot_target(s, srv, 0), find(s, "web.default.svc.cluster.local"));
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(zone_rules)
{
    cdns_builder_t *b = cdns_builder_new();
    ck_assert_int_eq(cdns_builder_zone(b, N("cluster.local")), CDNS_OK);
    ck_assert_int_eq(cdns_builder_zone(b, N("cluster.local")), CDNS_OK); /* idempotent */
    uint8_t rd[4] = {1, 2, 3, 4};
    ck_assert_int_eq(cdns_builder_add(b, N("example.org"), CDNS_T_A, 5, rd, 4), CDNS_ERANGE);
    ck_assert_int_eq(cdns_builder_add_name(b, N("local")), CDNS_ERANGE);
    add_a(b, "a.svc.cluster.local", 5, "1.2.3.4");
    /* A zone where names already exist would orphan them. */
    ck_assert_int_eq(cdns_builder_zone(b, N("svc.cluster.local")), CDNS_EINVAL);
    /* Meta types, bad rdata. */
    ck_assert_int_eq(cdns_builder_add(b, N("a.cluster.local"), CDNS_T_ANY, 5, rd, 4), CDNS_EINVAL);
    ck_assert_int_eq(cdns_builder_add(b, N("a.cluster.local"), CDNS_T_A, 5, rd, 3), CDNS_EMALFORMED);
    uint8_t bad[] = {3, 'a', 'b'};
    ck_assert_int_eq(cdns_builder_add(b, N("a.cluster.local"), CDNS_T_CNAME, 5, bad, sizeof(bad)), CDNS_EMALFORMED);
    uint8_t trailing[] = {1, 'a', 0, 9};
    ck_assert_int_eq(cdns_builder_add(b, N("a.cluster.local"), CDNS_T_NS, 5, trailing, sizeof(trailing)),
                     CDNS_EMALFORMED);
    cdns_snapshot_t *s = commit(b);
    ck_assert_uint_eq(cdns_snapshot_nzones(s), 1);
    ck_assert_ptr_null(find(s, "a.cluster.local"));
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(zone_info_and_flags)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "example.org", 3600, 300);
    add_zone(b, "cluster.local", 5, 30);
    add_name_rr(b, "example.org", CDNS_T_NS, 3600, "ns1.example.org");
    add_name_rr(b, "sub.example.org", CDNS_T_NS, 3600, "ns1.sub.example.org");
    add_a(b, "ns1.sub.example.org", 3600, "192.0.2.53");
    add_a(b, "sub.example.org", 3600, "192.0.2.1"); /* occluded data, kept */
    cdns_snapshot_t *s = commit(b);
    ck_assert_uint_eq(cdns_snapshot_nzones(s), 2);
    const cdns_zone_t *z = cdns_snapshot_zone(s, 0);
    ck_assert_uint_eq(z->apex_len, cdns_dname_len(N("example.org")));
    ck_assert_mem_eq(z->apex, N("example.org"), z->apex_len);
    ck_assert_uint_eq(z->apex_labels, 2);
    ck_assert_ptr_eq(z->apex_node, find(s, "example.org"));
    ck_assert_ptr_nonnull(z->soa);
    ck_assert_uint_eq(z->neg_ttl_s, 300);
    ck_assert_uint_eq(cdns_snapshot_zone(s, 1)->neg_ttl_s, 5); /* min(TTL 5, MINIMUM 30) */
    ck_assert_ptr_null(cdns_snapshot_zone(s, 2));
    ck_assert_uint_eq(find(s, "example.org")->flags, CDNS_NODE_APEX);
    ck_assert_uint_eq(find(s, "sub.example.org")->flags, CDNS_NODE_DELEGATION);
    ck_assert_uint_eq(find(s, "ns1.sub.example.org")->flags, 0);
    /* RRsets sorted by type: A(1) < NS(2). */
    const cdns_node_t *sub = find(s, "sub.example.org");
    ck_assert_uint_eq(sub->nrrsets, 2);
    ck_assert_uint_eq(sub->rrsets[0].type, CDNS_T_A);
    ck_assert_uint_eq(sub->rrsets[1].type, CDNS_T_NS);
    ck_assert_ptr_eq(cdns_snapshot_target(s, cdns_node_rrset(sub, CDNS_T_NS), 0), find(s, "ns1.sub.example.org"));
    /* ns1.example.org does not exist: no target (a dead placeholder, not a node). */
    ck_assert_ptr_null(cdns_snapshot_target(s, cdns_node_rrset(find(s, "example.org"), CDNS_T_NS), 0));
    ck_assert_ptr_null(find(s, "ns1.example.org"));
    ck_assert_uint_eq(cdns_snapshot_nodes(s), 4); /* two apexes, sub and ns1.sub: the placeholder is not counted */
    ck_assert_ptr_null(cdns_node_rrset(sub, CDNS_T_AAAA));
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(nested_zones_any_order)
{
    cdns_builder_t *b = cdns_builder_new();
    /* The child first: the names between it and the parent still become ENTs of the parent. */
    add_zone(b, "10.0.in-addr.arpa", 5, 5);
    add_zone(b, "in-addr.arpa", 5, 5);
    add_name_rr(b, "1.2.10.0.in-addr.arpa", CDNS_T_PTR, 5, "Web.Default.svc.cluster.local");
    cdns_snapshot_t *s = commit(b);
    const cdns_node_t *mid = find(s, "0.in-addr.arpa");
    ck_assert_ptr_nonnull(mid);
    ck_assert_uint_eq(mid->zone, 1);
    ck_assert_uint_eq(find(s, "10.0.in-addr.arpa")->zone, 0);
    ck_assert_uint_eq(find(s, "2.10.0.in-addr.arpa")->zone, 0);
    /* Names inside rdata are lowercased. */
    const cdns_rrset_t *ptr = cdns_node_rrset(find(s, "1.2.10.0.in-addr.arpa"), CDNS_T_PTR);
    uint8_t buf[CDNS_STORE_RDATA_BUF];
    uint16_t len;
    const uint8_t *rd = cdns_snapshot_rdata(s, ptr, 0, buf, &len);
    ck_assert_uint_eq(len, cdns_dname_len(N("web.default.svc.cluster.local")));
    ck_assert_mem_eq(rd, N("web.default.svc.cluster.local"), len);
    ck_assert_ptr_null(cdns_snapshot_target(s, ptr, 0));
    cdns_snapshot_free(s);
}
END_TEST

/* Names in SRV, MX, NS and PTR rdata that are nodes (live, or placeholders of absent names)
 * are stored as the node only; CNAME rdata and names outside every zone stay whole. Sorting and
 * deduplication still see the whole rdata, and cdns_snapshot_rdata gives it back. */
START_TEST(target_names_left_out)
{
    static const struct {
        const char *owner;
        uint16_t type;
        const char *target;
        int stored; /* rdlen as stored, -1: whole */
    } recs[] = {
        {"_http._tcp.web.ns.svc.cluster.local", CDNS_T_SRV, "web.ns.svc.cluster.local", 6},
        {"_http._tcp.web.ns.svc.cluster.local", CDNS_T_SRV, "pod-1.web.ns.svc.cluster.local", 6},
        {"_http._tcp.web.ns.svc.cluster.local", CDNS_T_SRV, "absent.ns.svc.cluster.local", 6},
        {"_http._tcp.web.ns.svc.cluster.local", CDNS_T_SRV, "ext.example.org", -1},
        {"1.0.0.10.in-addr.arpa", CDNS_T_PTR, "web.ns.svc.cluster.local", 0},
        {"2.0.0.10.in-addr.arpa", CDNS_T_PTR, "host.example.org", -1},
        {"mail.ns.svc.cluster.local", CDNS_T_MX, "web.ns.svc.cluster.local", 2},
        {"sub.cluster.local", CDNS_T_NS, "ns1.sub.cluster.local", 0},
        {"alias.ns.svc.cluster.local", CDNS_T_CNAME, "web.ns.svc.cluster.local", -1},
    };
    enum { NR = sizeof(recs) / sizeof(recs[0]) };
    uint8_t want[NR][CDNS_STORE_RDATA_BUF];
    uint16_t want_len[NR];
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "in-addr.arpa", 30, 5);
    add_a(b, "web.ns.svc.cluster.local", 30, "10.0.0.1");
    add_a(b, "pod-1.web.ns.svc.cluster.local", 30, "10.1.0.1");
    add_a(b, "ns1.sub.cluster.local", 30, "10.2.0.1");
    for (int i = 0; i < NR; i++) {
        const uint8_t *t = N(recs[i].target);
        size_t tl = cdns_dname_len(t);
        size_t off = 0;
        if (recs[i].type == CDNS_T_SRV) {
            ck_assert_int_eq(cdns_rdata_srv(1, 10, (uint16_t)(8000 + i), t, want[i], sizeof(want[i])), (int)(6 + tl));
            off = 6;
        } else if (recs[i].type == CDNS_T_MX) {
            want[i][0] = 0;
            want[i][1] = 10;
            off = 2;
        }
        memcpy(want[i] + off, t, tl);
        want_len[i] = (uint16_t)(off + tl);
        ck_assert_int_eq(cdns_builder_add(b, N(recs[i].owner), recs[i].type, 30, want[i], want_len[i]), CDNS_OK);
        /* Twice, the second in upper case: one record all the same. */
        uint8_t up[CDNS_STORE_RDATA_BUF];
        memcpy(up, want[i], want_len[i]);
        for (size_t k = off; k < want_len[i]; k++)
            if (up[k] >= 'a' && up[k] <= 'z')
                up[k] = (uint8_t)(up[k] - 'a' + 'A');
        ck_assert_int_eq(cdns_builder_add(b, N(recs[i].owner), recs[i].type, 30, up, want_len[i]), CDNS_OK);
    }
    /* Two SRV records that differ only in their in-zone target: the same stored octets, still
     * two records. */
    uint8_t rd[CDNS_STORE_RDATA_BUF];
    int n = cdns_rdata_srv(0, 0, 53, N("a.ns.svc.cluster.local"), rd, sizeof(rd));
    ck_assert_int_eq(cdns_builder_add(b, N("_dns._udp.ns.svc.cluster.local"), CDNS_T_SRV, 30, rd, (uint16_t)n),
                     CDNS_OK);
    n = cdns_rdata_srv(0, 0, 53, N("b.ns.svc.cluster.local"), rd, sizeof(rd));
    ck_assert_int_eq(cdns_builder_add(b, N("_dns._udp.ns.svc.cluster.local"), CDNS_T_SRV, 30, rd, (uint16_t)n),
                     CDNS_OK);
    cdns_snapshot_t *s = commit(b);
    ck_assert_uint_eq(cdns_snapshot_records(s), 2 + 3 + NR + 2);

    uint8_t buf[CDNS_STORE_RDATA_BUF];
    uint16_t len;
    for (int i = 0; i < NR; i++) {
        const cdns_rrset_t *rs = cdns_node_rrset(find(s, recs[i].owner), recs[i].type);
        ck_assert_ptr_nonnull(rs);
        ck_assert_ptr_nonnull(cdns_rrset_targets(rs));
        /* The record among rs's whose whole rdata is want[i]. */
        unsigned k = 0;
        const uint8_t *p = cdns_rrset_rdata(rs), *got = NULL;
        for (; k < rs->count; k++, p += 2 + (p[0] << 8 | p[1])) {
            got = cdns_snapshot_rdata(s, rs, k, buf, &len);
            ck_assert_ptr_nonnull(got);
            if (len == want_len[i] && memcmp(got, want[i], len) == 0)
                break;
        }
        ck_assert_msg(k < rs->count, "record %d missing", i);
        uint16_t stored = (uint16_t)(p[0] << 8 | p[1]);
        if (recs[i].stored < 0) {
            ck_assert_uint_eq(stored, want_len[i]);
            ck_assert_ptr_eq(got, p + 2); /* whole: read in place */
        } else {
            ck_assert_uint_eq(stored, (unsigned)recs[i].stored);
            ck_assert_ptr_eq(got, buf);
        }
        bool in_zone = recs[i].stored >= 0 || recs[i].type == CDNS_T_CNAME;
        ck_assert_uint_eq(cdns_rrset_targets(rs)[k] != CDNS_STORE_NO_TARGET, in_zone);
        ck_assert_ptr_null(cdns_snapshot_rdata(s, rs, rs->count, buf, &len));
    }
    const cdns_rrset_t *srv = cdns_node_rrset(find(s, "_http._tcp.web.ns.svc.cluster.local"), CDNS_T_SRV);
    ck_assert_uint_eq(srv->count, 4);
    ck_assert_uint_eq(cdns_store__rrset_rdata_len(srv), 3 * (2 + 6) + 2 + 6 + cdns_dname_len(N("ext.example.org")));
    const cdns_rrset_t *two = cdns_node_rrset(find(s, "_dns._udp.ns.svc.cluster.local"), CDNS_T_SRV);
    ck_assert_uint_eq(two->count, 2);
    ck_assert_uint_eq(cdns_store__rrset_rdata_len(two), 2 * (2 + 6));
    ck_assert_mem_eq(cdns_snapshot_rdata(s, two, 0, buf, &len) + 6, N("a.ns.svc.cluster.local"), len - 6);
    ck_assert_mem_eq(cdns_snapshot_rdata(s, two, 1, buf, &len) + 6, N("b.ns.svc.cluster.local"), len - 6);
    ck_assert_ptr_null(cdns_snapshot_rdata(NULL, two, 0, buf, &len));
    cdns_snapshot_free(s);
}
END_TEST

/* A full build stores a new name as its labels above the closest live node and a reference to
 * that node (builder_int.h): every name must come out whole in the snapshot, whatever order its
 * ancestors and the targets naming it arrived in. Covers a child after its parent, a chain of
 * references, SRV/PTR targets named before their owner (placeholders referring to a live
 * node), a placeholder below another placeholder brought alive with the absent names between
 * them, and an RRset ordered by target names that are stored by reference. */
START_TEST(names_stored_by_reference)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "in-addr.arpa", 30, 5);
    add_a(b, "web.ns.svc.cluster.local", 30, "10.0.0.1");
    char name[128], target[128];
    /* Targets first: ep-N do not exist yet (placeholders referring to web.ns...). */
    for (int i = 40; i-- > 0;) {
        snprintf(target, sizeof(target), "ep-%d.web.ns.svc.cluster.local", i);
        add_srv(b, "_http._tcp.web.ns.svc.cluster.local", 30, 80, target);
        snprintf(name, sizeof(name), "%d.0.0.10.in-addr.arpa", i + 1);
        add_name_rr(b, name, CDNS_T_PTR, 30, target);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "ep-%d.web.ns.svc.cluster.local", i);
        snprintf(target, sizeof(target), "10.0.0.%d", i + 1);
        add_a(b, name, 30, target);
        /* A chain: sub-N refers to ep-N, leaf to sub-N. */
        snprintf(name, sizeof(name), "leaf.sub-%d.ep-%d.web.ns.svc.cluster.local", i, i);
        add_a(b, name, 30, target);
    }
    /* A placeholder below a placeholder, both in a part of the zone with no live node but the
     * apex; then the deeper one, and later the upper one, become owners. */
    add_name_rr(b, "p.ns.svc.cluster.local", CDNS_T_CNAME, 30, "dead1.other.cluster.local");
    add_name_rr(b, "q.ns.svc.cluster.local", CDNS_T_CNAME, 30, "x.y.dead1.other.cluster.local");
    add_a(b, "x.y.dead1.other.cluster.local", 30, "10.9.0.1");
    add_a(b, "dead1.other.cluster.local", 30, "10.9.0.2");
    cdns_snapshot_t *s = commit(b);

    const char *whole[] = {"web.ns.svc.cluster.local",
                           "ns.svc.cluster.local",
                           "svc.cluster.local",
                           "_tcp.web.ns.svc.cluster.local",
                           "_http._tcp.web.ns.svc.cluster.local",
                           "x.y.dead1.other.cluster.local",
                           "y.dead1.other.cluster.local",
                           "dead1.other.cluster.local",
                           "other.cluster.local",
                           "0.0.10.in-addr.arpa"};
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        const cdns_node_t *n = find(s, whole[i]);
        ck_assert_msg(n != NULL, "%s missing", whole[i]);
        ck_assert_uint_eq(n->name_len, cdns_dname_len(N(whole[i])));
        ck_assert_mem_eq(n->name, N(whole[i]), n->name_len);
        ck_assert_uint_eq(n->labels, cdns_dname_labels(N(whole[i])));
    }
    ck_assert_ptr_nonnull(cdns_node_rrset(find(s, "x.y.dead1.other.cluster.local"), CDNS_T_A));
    ck_assert_ptr_nonnull(cdns_node_rrset(find(s, "dead1.other.cluster.local"), CDNS_T_A));
    ck_assert_ptr_null(cdns_node_rrset(find(s, "y.dead1.other.cluster.local"), CDNS_T_A));

    const cdns_rrset_t *srv = cdns_node_rrset(find(s, "_http._tcp.web.ns.svc.cluster.local"), CDNS_T_SRV);
    ck_assert_ptr_nonnull(srv);
    ck_assert_uint_eq(srv->count, 40);
    uint8_t buf[CDNS_STORE_RDATA_BUF], prev[CDNS_STORE_RDATA_BUF];
    uint16_t len, prev_len = 0;
    for (unsigned k = 0; k < srv->count; k++) {
        const uint8_t *rd = cdns_snapshot_rdata(s, srv, k, buf, &len);
        ck_assert_ptr_nonnull(rd);
        /* Canonical order of the whole rdata: same length first, then octets. */
        if (k > 0)
            ck_assert(prev_len < len || (prev_len == len && memcmp(prev, rd, len) < 0));
        memcpy(prev, rd, len);
        prev_len = len;
        const cdns_node_t *t = cdns_snapshot_target(s, srv, k);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->name_len, len - 6);
        ck_assert_mem_eq(t->name, rd + 6, t->name_len);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "ep-%d.web.ns.svc.cluster.local", i);
        const cdns_node_t *n = find(s, name);
        ck_assert_msg(n != NULL, "%s missing", name);
        ck_assert_mem_eq(n->name, N(name), n->name_len);
        ck_assert_ptr_nonnull(cdns_node_rrset(n, CDNS_T_A));
        snprintf(name, sizeof(name), "leaf.sub-%d.ep-%d.web.ns.svc.cluster.local", i, i);
        n = find(s, name);
        ck_assert_msg(n != NULL, "%s missing", name);
        ck_assert_uint_eq(n->name_len, cdns_dname_len(N(name)));
        ck_assert_mem_eq(n->name, N(name), n->name_len);
        snprintf(name, sizeof(name), "sub-%d.ep-%d.web.ns.svc.cluster.local", i, i);
        n = find(s, name);
        ck_assert_msg(n != NULL, "%s missing", name);
        ck_assert_mem_eq(n->name, N(name), n->name_len);
        snprintf(name, sizeof(name), "%d.0.0.10.in-addr.arpa", i + 1);
        const cdns_rrset_t *ptr = cdns_node_rrset(find(s, name), CDNS_T_PTR);
        ck_assert_ptr_nonnull(ptr);
        const uint8_t *rd = cdns_snapshot_rdata(s, ptr, 0, buf, &len);
        snprintf(target, sizeof(target), "ep-%d.web.ns.svc.cluster.local", i);
        ck_assert_uint_eq(len, cdns_dname_len(N(target)));
        ck_assert_mem_eq(rd, N(target), len);
    }
    cdns_snapshot_free(s);
}
END_TEST

/* A record keeps its type and TTL as indices into the builder's tables (builder_int.h): many
 * distinct TTLs (the table grows and rehashes), duplicates keeping the smallest, RRsets in type
 * order whatever order the types came in, and the tables' limits. */
START_TEST(type_and_ttl_tables)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "example.org", 300, 30);
    char name[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "h%d.example.org", i);
        add_a(b, name, (uint32_t)(100000 + 7 * i), "192.0.2.1");
        add_a(b, name, (uint32_t)(100000 + 7 * i + 3), "192.0.2.1"); /* the same record: smaller TTL wins */
        add_a(b, name, (uint32_t)(200000 + i), "192.0.2.2");         /* the RRset's TTL: the smaller */
    }
    /* Types in descending order on one owner, private-use types included. */
    uint8_t rd[4] = {1, 2, 3, 4};
    for (int t = 0; t < 200; t++)
        ck_assert_int_eq(cdns_builder_add(b, N("types.example.org"), (uint16_t)(65300 - t), 60, rd, 4), CDNS_OK);
    add_a(b, "types.example.org", 60, "192.0.2.9");
    cdns_snapshot_t *s = commit(b);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "h%d.example.org", i);
        const cdns_rrset_t *rs = cdns_node_rrset(find(s, name), CDNS_T_A);
        ck_assert_ptr_nonnull(rs);
        ck_assert_uint_eq(rs->count, 2);
        ck_assert_uint_eq(rs->ttl_s, (uint32_t)(100000 + 7 * i));
    }
    const cdns_node_t *n = find(s, "types.example.org");
    ck_assert_uint_eq(n->nrrsets, 201);
    for (unsigned k = 1; k < n->nrrsets; k++)
        ck_assert_uint_lt(n->rrsets[k - 1].type, n->rrsets[k].type);
    ck_assert_ptr_nonnull(cdns_node_rrset(n, 65300));
    ck_assert_ptr_nonnull(cdns_node_rrset(n, CDNS_T_A));
    cdns_snapshot_free(s);

    /* 256 types fit (SOA and A among them), the 257th does not; neither do 65,537 TTLs. */
    b = cdns_builder_new();
    add_zone(b, "example.org", 300, 30);
    add_a(b, "a.example.org", 60, "192.0.2.1");
    for (int t = 0; t < 254; t++)
        ck_assert_int_eq(cdns_builder_add(b, N("a.example.org"), (uint16_t)(1000 + t), 60, rd, 4), CDNS_OK);
    ck_assert_int_eq(cdns_builder_add(b, N("a.example.org"), 2000, 60, rd, 4), CDNS_ERANGE);
    ck_assert_int_eq(cdns_builder_add(b, N("a.example.org"), 1000, 61, rd, 4), CDNS_OK); /* a known type */
    for (uint32_t ttl = 0; ttl < 65536 - 3; ttl++)
        ck_assert_int_eq(cdns_builder_add(b, N("a.example.org"), CDNS_T_A, 1000000 + ttl, rd, 4), CDNS_OK);
    ck_assert_int_eq(cdns_builder_add(b, N("a.example.org"), CDNS_T_A, 7, rd, 4), CDNS_ERANGE);
    ck_assert_int_eq(cdns_builder_add(b, N("a.example.org"), CDNS_T_A, 61, rd, 4), CDNS_OK); /* a known TTL */
    s = commit(b);
    const cdns_rrset_t *rs = cdns_node_rrset(find(s, "a.example.org"), CDNS_T_A);
    ck_assert_uint_eq(rs->count, 2);
    ck_assert_uint_eq(rs->ttl_s, 60);
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(empty_and_null)
{
    cdns_snapshot_t *s = commit(cdns_builder_new());
    ck_assert_uint_eq(cdns_snapshot_nzones(s), 0);
    ck_assert_uint_eq(cdns_snapshot_records(s), 0);
    ck_assert_ptr_null(find(s, "a.b"));
    cdns_snapshot_free(s);
    cdns_snapshot_free(NULL);
    cdns_builder_free(NULL);
    ck_assert_int_eq(cdns_builder_commit(NULL, &s), CDNS_EINVAL);
    ck_assert_int_eq(cdns_builder_commit(cdns_builder_new(), NULL), CDNS_EINVAL);
}
END_TEST

/* 100k services as the kubernetes plugin would add them: an A record, an SRV record (its
 * target the service name) and a PTR per service, ~300k records. */
START_TEST(large_build)
{
    enum { NSVC = 100000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "in-addr.arpa", 30, 5);
    for (int i = 0; i < NSVC; i++) {
        char owner[128], srv[160], ip[32];
        snprintf(owner, sizeof(owner), "svc-%d.ns-%d.svc.cluster.local", i, i % 500);
        snprintf(srv, sizeof(srv), "_http._tcp.%s", owner);
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        add_a(b, owner, 30, ip);
        add_srv(b, srv, 30, 80, owner);
        uint8_t rev[CDNS_DNAME_MAX];
        size_t rl;
        ck_assert_int_eq(cdns_reverse_name(ip, rev, &rl), CDNS_OK);
        const uint8_t *t = N(owner);
        ck_assert_int_eq(cdns_builder_add(b, rev, CDNS_T_PTR, 30, t, (uint16_t)cdns_dname_len(t)), CDNS_OK);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double add_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cdns_snapshot_t *s = commit(b);
    struct timespec t2;
    clock_gettime(CLOCK_MONOTONIC, &t2);
    double commit_ms = (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6;
    size_t recs = cdns_snapshot_records(s);
    ck_assert_uint_eq(recs, 3 * NSVC + 2);
    size_t mem = cdns_snapshot_memory(s);
    fprintf(stderr, "large_build: %zu records, %zu nodes, %zu bytes (%.1f bytes/record), add %.0f ms, commit %.0f ms\n",
            recs, cdns_snapshot_nodes(s), mem, (double)mem / (double)recs, add_ms, commit_ms);
    for (int i = 0; i < NSVC; i += 997) {
        char owner[160];
        snprintf(owner, sizeof(owner), "_http._tcp.svc-%d.ns-%d.svc.cluster.local", i, i % 500);
        const cdns_node_t *n = find(s, owner);
        ck_assert_ptr_nonnull(n);
        const cdns_rrset_t *rs = cdns_node_rrset(n, CDNS_T_SRV);
        ck_assert_ptr_nonnull(cdns_snapshot_target(s, rs, 0));
        ck_assert_ptr_nonnull(cdns_node_rrset(cdns_snapshot_target(s, rs, 0), CDNS_T_A));
        ck_assert_ptr_nonnull(find(s, owner + 11)); /* _tcp.svc-... */
    }
    cdns_snapshot_free(s);
}
END_TEST

static cdns_snapshot_t *small_cluster(bool frozen)
{
    cdns_builder_t *b = cdns_builder_new();
    if (frozen)
        cdns_builder_freeze(b);
    add_zone(b, "cluster.local", 30, 5);
    for (int i = 0; i < 1000; i++) {
        char owner[128], srv[160], ip[32];
        snprintf(owner, sizeof(owner), "svc-%d.ns-%d.svc.cluster.local", i, i % 7);
        snprintf(srv, sizeof(srv), "_http._tcp.%s", owner);
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i >> 8, i & 255);
        add_a(b, owner, 30, ip);
        add_srv(b, srv, 30, 80, owner);
    }
    return commit(b);
}

/* A frozen snapshot (only ever replaced whole) answers the same without update metadata, and
 * no update may start from it. ASan catches a layout that still writes the metadata. */
START_TEST(frozen_snapshot)
{
    cdns_snapshot_t *s = small_cluster(false), *f = small_cluster(true);
    ck_assert_uint_eq(cdns_snapshot_records(f), cdns_snapshot_records(s));
    ck_assert_uint_eq(cdns_snapshot_nodes(f), cdns_snapshot_nodes(s));
    ck_assert_uint_eq(cdns_snapshot_memory(s) - cdns_snapshot_memory(f),
                      (size_t)s->npages * CDNS_STORE__PAGE_NODES * sizeof(cdns_store__meta_t));
    for (int i = 0; i < 1000; i += 37) {
        char owner[160];
        snprintf(owner, sizeof(owner), "_http._tcp.svc-%d.ns-%d.svc.cluster.local", i, i % 7);
        const cdns_node_t *n = find(f, owner);
        ck_assert_ptr_nonnull(n);
        const cdns_rrset_t *rs = cdns_node_rrset(n, CDNS_T_SRV);
        ck_assert_ptr_nonnull(rs);
        ck_assert_ptr_eq(cdns_snapshot_target(f, rs, 0), find(f, owner + 11));
        ck_assert_ptr_nonnull(find(f, owner + 6)); /* _tcp.svc-...: an empty non-terminal */
    }
    ck_assert_ptr_null(find(f, "svc-1000.ns-6.svc.cluster.local"));
    ck_assert_ptr_null(cdns_builder_update(f));
    cdns_builder_t *u = cdns_builder_update(s);
    ck_assert_ptr_nonnull(u);
    cdns_builder_free(u);
    cdns_snapshot_free(s);
    cdns_snapshot_free(f);
}
END_TEST

static Suite *builder_suite(void)
{
    Suite *s = suite_create("store_builder");
    TCase *tc = tcase_create("builder");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dedup_and_min_ttl);
    tcase_add_test(tc, frozen_snapshot);
    tcase_add_test(tc, empty_non_terminals);
    tcase_add_test(tc, zone_rules);
    tcase_add_test(tc, zone_info_and_flags);
    tcase_add_test(tc, nested_zones_any_order);
    tcase_add_test(tc, target_names_left_out);
    tcase_add_test(tc, names_stored_by_reference);
    tcase_add_test(tc, type_and_ttl_tables);
    tcase_add_test(tc, empty_and_null);
    tcase_add_test(tc, large_build);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(builder_suite)
