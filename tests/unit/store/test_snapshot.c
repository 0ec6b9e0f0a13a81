/* SPDX-License-Identifier: MIT */
/* test_snapshot.c — lookups in a committed snapshot (exact, zone by longest suffix, RRset by
 * type), accessors, and the rdata helpers builders use (A/AAAA, SRV, SOA, TXT, reverse names). */
#include "check_main.h"
#include "store_helpers.h"

#include "store/store_int.h"

static cdns_snapshot_t *nested(void)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "local", 60, 60);
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "svc.cluster.local", 10, 10);
    add_a(b, "a.local", 60, "192.0.2.1");
    add_a(b, "web.default.svc.cluster.local", 10, "10.0.0.1");
    add_aaaa(b, "web.default.svc.cluster.local", 10, "fd00::1");
    add_a(b, "pod.cluster.local", 30, "10.1.0.1");
    return commit(b);
}

static unsigned zone_of(const cdns_snapshot_t *s, const char *name)
{
    const uint8_t *w = N(name);
    const cdns_zone_t *z = cdns_snapshot_find_zone(s, w, cdns_dname_len(w));
    if (!z)
        return 99;
    return (unsigned)(z - cdns_snapshot_zone(s, 0));
}

START_TEST(find_zone_deepest_wins)
{
    cdns_snapshot_t *s = nested();
    ck_assert_uint_eq(cdns_snapshot_nzones(s), 3);
    ck_assert_uint_eq(zone_of(s, "local"), 0);
    ck_assert_uint_eq(zone_of(s, "x.y.local"), 0);
    ck_assert_uint_eq(zone_of(s, "cluster.local"), 1);
    ck_assert_uint_eq(zone_of(s, "nope.pod.cluster.local"), 1);
    ck_assert_uint_eq(zone_of(s, "svc.cluster.local"), 2);
    ck_assert_uint_eq(zone_of(s, "web.default.svc.cluster.local"), 2);
    ck_assert_uint_eq(zone_of(s, "deep.er.web.default.svc.cluster.local"), 2);
    ck_assert_uint_eq(zone_of(s, "example.org"), 99);
    ck_assert_uint_eq(zone_of(s, "."), 99);
    /* Malformed lengths never read past the name. */
    ck_assert_ptr_null(cdns_snapshot_find_zone(s, N("local"), 0));
    ck_assert_ptr_null(cdns_snapshot_find_zone(NULL, N("local"), 7));
    cdns_snapshot_free(s);
}
END_TEST

/* cdns_snapshot_find_zone_node answers as find_zone and find do, for names that exist, names
 * that do not (where it compares apexes instead of walking suffixes), names whose tail only looks
 * like an apex inside a label, under a root zone, and with more zones than it compares. */
static void agree(const cdns_snapshot_t *s, const uint8_t *w, size_t len)
{
    /* The batch prefetch reads only what is there, for names that exist, that do not and that
     * have no records, of every type, and changes no answer below (ASan checks the reads). */
    static const uint16_t types[] = {CDNS_T_A, CDNS_T_SOA, CDNS_T_SRV, CDNS_T_TXT};
    cdns_query_t q[CDNS_ARRAY_LEN(types)];
    const cdns_query_t *qs[CDNS_ARRAY_LEN(types)];
    for (size_t t = 0; t < CDNS_ARRAY_LEN(types); t++) {
        q[t].has_question = t > 0;
        q[t].qname_hash = cdns_dname_hash64(w, len);
        q[t].qtype = types[t];
        qs[t] = &q[t];
    }
    cdns_snapshot_prefetch(s, qs, CDNS_ARRAY_LEN(types));
    cdns_snapshot_prefetch(NULL, qs, CDNS_ARRAY_LEN(types));
    const cdns_node_t *node = (const cdns_node_t *)1;
    const cdns_zone_t *z = cdns_snapshot_find_zone_node(s, w, len, cdns_dname_hash(w, len), &node);
    ck_assert_ptr_eq(z, cdns_snapshot_find_zone(s, w, len));
    ck_assert_ptr_eq(node, cdns_snapshot_find(s, w, len));
}

static void agree_all(const cdns_snapshot_t *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *w = N(names[i]);
        agree(s, w, cdns_dname_len(w));
    }
}

START_TEST(find_zone_node_agrees)
{
    static const char *const names[] = {
        "local",
        "x.y.local",
        "a.local",
        "cluster.local",
        "nope.pod.cluster.local",
        "pod.cluster.local",
        "svc.cluster.local",
        "web.default.svc.cluster.local",
        "deep.er.web.default.svc.cluster.local",
        "default.svc.cluster.local",
        "example.org",
        ".",
        "svc.cluster.local.svc.cluster.local",
    };
    cdns_snapshot_t *s = nested();
    agree_all(s, names, CDNS_ARRAY_LEN(names));
    /* One label "x\5local" and the root: its last seven octets spell the apex "local". */
    static const uint8_t fake[] = {7, 'x', 5, 'l', 'o', 'c', 'a', 'l', 0};
    agree(s, fake, sizeof(fake));
    ck_assert_ptr_null(cdns_snapshot_find_zone(s, fake, sizeof(fake)));
    static const uint8_t fake2[] = {1,   'a', 9, 'x', 7,   'c', 'l', 'u', 's', 't',
                                    'e', 'r', 5, 'l', 'o', 'c', 'a', 'l', 0};
    agree(s, fake2, sizeof(fake2));
    cdns_snapshot_free(s);

    cdns_builder_t *b = cdns_builder_new();
    /* The deeper zone declared first: the deepest apex wins, not the last one compared. */
    add_zone(b, "cluster.local", 30, 5);
    ck_assert_int_eq(cdns_builder_zone(b, N(".")), CDNS_OK); /* no SOA: add_zone would write "ns.." */
    add_a(b, "web.cluster.local", 10, "10.0.0.1");
    add_a(b, "host.example", 10, "10.0.0.2");
    s = commit(b);
    static const char *const rooted[] = {
        ".",     "example",           "host.example",        "a.b.c.d", "cluster.local",
        "local", "web.cluster.local", "no.web.cluster.local"};
    agree_all(s, rooted, CDNS_ARRAY_LEN(rooted));
    ck_assert_uint_eq(zone_of(s, "a.b.c.d"), 1);
    cdns_snapshot_free(s);

    b = cdns_builder_new();
    char zn[32], nm[64];
    for (int i = 0; i < 20; i++) {
        snprintf(zn, sizeof(zn), "z%d.test", i);
        add_zone(b, zn, 60, 60);
        snprintf(nm, sizeof(nm), "www.z%d.test", i);
        add_a(b, nm, 10, "10.0.0.3");
    }
    s = commit(b);
    static const char *const many[] = {"z3.test", "www.z7.test", "a.b.www.z19.test", "nope.z0.test",
                                       "test",    "z20.test",    "x.z11.test"};
    agree_all(s, many, CDNS_ARRAY_LEN(many));
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(find_exact)
{
    cdns_snapshot_t *s = nested();
    const cdns_node_t *n = find(s, "web.default.svc.cluster.local");
    ck_assert_ptr_nonnull(n);
    ck_assert_uint_eq(n->nrrsets, 2);
    ck_assert_uint_eq(cdns_node_rrset(n, CDNS_T_A)->count, 1);
    ck_assert_uint_eq(cdns_store__rrset_rdata_len(cdns_node_rrset(n, CDNS_T_AAAA)), 18);
    ck_assert_ptr_null(cdns_node_rrset(n, CDNS_T_TXT));
    ck_assert_ptr_null(cdns_node_rrset(n, CDNS_T_NS));
    ck_assert_ptr_null(cdns_node_rrset(NULL, CDNS_T_A));
    ck_assert_ptr_nonnull(find(s, "default.svc.cluster.local"));
    ck_assert_ptr_null(find(s, "web2.default.svc.cluster.local"));
    ck_assert_ptr_null(find(s, "eb.default.svc.cluster.local"));
    /* Keys are lowercase: an uppercase key is a different (absent) key. */
    static const uint8_t upper[] = {3, 'W', 'E', 'B', 7,   'd', 'e', 'f', 'a', 'u', 'l', 't', 3,   's', 'v', 'c',
                                    7, 'c', 'l', 'u', 's', 't', 'e', 'r', 5,   'l', 'o', 'c', 'a', 'l', 0};
    ck_assert_ptr_null(cdns_snapshot_find(s, upper, sizeof(upper)));
    ck_assert_uint_eq(find(s, "svc.cluster.local")->flags, CDNS_NODE_APEX);
    ck_assert_uint_eq(cdns_snapshot_records(s), 7);
    ck_assert_uint_gt(cdns_snapshot_memory(s), 0);
    ck_assert_uint_eq(cdns_snapshot_nodes(s), 7); /* 3 apexes, a, web, default, pod */
    cdns_snapshot_free(s);
}
END_TEST

/* Many names hashing into a small table still resolve (probe chains, wrap-around). */
START_TEST(many_names)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "z", 5, 5);
    char name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "n%d.z", i);
        add_a(b, name, 5, "1.1.1.1");
    }
    cdns_snapshot_t *s = commit(b);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "n%d.z", i);
        const cdns_node_t *n = find(s, name);
        ck_assert_ptr_nonnull(n);
        ck_assert_mem_eq(n->name, N(name), n->name_len);
        snprintf(name, sizeof(name), "m%d.z", i);
        ck_assert_ptr_null(find(s, name));
    }
    cdns_snapshot_free(s);
}
END_TEST

START_TEST(reverse_names)
{
    uint8_t out[CDNS_DNAME_MAX];
    size_t len;
    char text[CDNS_DNAME_MAX * 4];
    ck_assert_int_eq(cdns_reverse_name("10.96.0.10", out, &len), CDNS_OK);
    ck_assert_int_eq(cdns_dname_to_str(out, text, sizeof(text)), CDNS_OK);
    ck_assert_str_eq(text, "10.0.96.10.in-addr.arpa.");
    ck_assert_uint_eq(len, cdns_dname_len(out));
    ck_assert_int_eq(cdns_reverse_name("0.0.0.0", out, &len), CDNS_OK);
    ck_assert_int_eq(cdns_dname_to_str(out, text, sizeof(text)), CDNS_OK);
    ck_assert_str_eq(text, "0.0.0.0.in-addr.arpa.");
    ck_assert_int_eq(cdns_reverse_name("2001:db8::567:89ab", out, &len), CDNS_OK);
    ck_assert_int_eq(cdns_dname_to_str(out, text, sizeof(text)), CDNS_OK);
    ck_assert_str_eq(text, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
    ck_assert_uint_eq(len, 64 + 5 + 4 + 1);
    ck_assert_int_eq(cdns_reverse_name("FD00::A", out, &len), CDNS_OK);
    ck_assert_int_eq(cdns_dname_to_str(out, text, sizeof(text)), CDNS_OK);
    ck_assert_str_eq(text, "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
    ck_assert_int_eq(cdns_reverse_name("10.96.0", out, &len), CDNS_EINVAL);
    ck_assert_int_eq(cdns_reverse_name("web", out, &len), CDNS_EINVAL);
}
END_TEST

START_TEST(rdata_helpers)
{
    uint8_t out[1024];
    ck_assert_int_eq(cdns_rdata_a("10.0.0.1", out), 4);
    ck_assert_uint_eq(out[0], 10);
    ck_assert_uint_eq(out[3], 1);
    ck_assert_int_eq(cdns_rdata_a("10.0.0.256", out), CDNS_EINVAL);
    ck_assert_int_eq(cdns_rdata_a("::1", out), CDNS_EINVAL);
    ck_assert_int_eq(cdns_rdata_aaaa("::1", out), 16);
    ck_assert_uint_eq(out[15], 1);
    ck_assert_int_eq(cdns_rdata_aaaa("10.0.0.1", out), CDNS_EINVAL);

    const uint8_t *t = N("Web.default.svc");
    int n = cdns_rdata_srv(10, 20, 443, t, out, sizeof(out));
    ck_assert_int_eq(n, 6 + 17);
    static const uint8_t srv_head[] = {0, 10, 0, 20, 1, 187};
    ck_assert_mem_eq(out, srv_head, 6);
    ck_assert_mem_eq(out + 6, N("web.default.svc"), 17); /* lowercased */
    ck_assert_int_eq(cdns_rdata_srv(10, 20, 443, t, out, 22), CDNS_ENOSPC);

    n = cdns_rdata_soa(N("ns.dns.cluster.local"), N("hostmaster.cluster.local"), 1, 2, 3, 4, 5, out, sizeof(out));
    ck_assert_int_eq(n, 22 + 26 + 20);
    ck_assert_uint_eq(out[n - 1], 5);
    ck_assert_uint_eq(out[n - 17], 1);
    ck_assert_int_eq(cdns_rdata_soa(N("a"), N("b"), 1, 2, 3, 4, 5, out, 25), CDNS_ENOSPC);

    ck_assert_int_eq(cdns_rdata_txt("", out, sizeof(out)), 1);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_int_eq(cdns_rdata_txt("hello", out, sizeof(out)), 6);
    ck_assert_uint_eq(out[0], 5);
    char big[601];
    memset(big, 'x', 600);
    big[600] = '\0';
    ck_assert_int_eq(cdns_rdata_txt(big, out, sizeof(out)), 603);
    ck_assert_uint_eq(out[0], 255);
    ck_assert_uint_eq(out[256], 255);
    ck_assert_uint_eq(out[512], 90);
    ck_assert_int_eq(cdns_rdata_txt(big, out, 602), CDNS_ENOSPC);
    big[255] = '\0';
    ck_assert_int_eq(cdns_rdata_txt(big, out, sizeof(out)), 256);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("store_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, find_zone_deepest_wins);
    tcase_add_test(tc, find_zone_node_agrees);
    tcase_add_test(tc, find_exact);
    tcase_add_test(tc, many_names);
    tcase_add_test(tc, reverse_names);
    tcase_add_test(tc, rdata_helpers);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(snapshot_suite)
