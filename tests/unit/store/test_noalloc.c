/* SPDX-License-Identifier: MIT */
/* test_noalloc.c — the answer path allocates nothing: 10,000 queries (hits, NXDOMAIN, NODATA,
 * SRV with additional data, CNAME chains, truncation, referrals) parsed, answered and
 * finished while every malloc/calloc/realloc/free of the answering thread is counted
 * (tests/unit/alloc_count.h says how). */
#include <stdlib.h>

#include "check_main.h"
#include "store_helpers.h"

#include "alloc_count.h"

static cdns_snapshot_t *build(void)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "in-addr.arpa", 30, 5);
    char owner[128], srv[160], ip[32], name[160];
    for (int i = 0; i < 200; i++) {
        snprintf(owner, sizeof(owner), "svc-%d.ns-%d.svc.cluster.local", i, i % 7);
        snprintf(srv, sizeof(srv), "_http._tcp.%s", owner);
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250);
        add_a(b, owner, 30, ip);
        add_srv(b, srv, 30, 80, owner);
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof(name), "pod-%d.%s", k, owner);
            snprintf(ip, sizeof(ip), "10.1.%d.%d", i % 250, k);
            add_a(b, name, 30, ip);
            add_srv(b, srv, 30, 80, name);
        }
        snprintf(name, sizeof(name), "alias-%d.ns-%d.svc.cluster.local", i, i % 7);
        add_name_rr(b, name, CDNS_T_CNAME, 30, i % 2 ? owner : "www.example.org");
    }
    for (int i = 0; i < 60; i++) {
        snprintf(ip, sizeof(ip), "10.2.0.%d", i);
        add_a(b, "big.ns-0.svc.cluster.local", 30, ip);
    }
    add_name_rr(b, "sub.cluster.local", CDNS_T_NS, 30, "ns1.sub.cluster.local");
    add_a(b, "ns1.sub.cluster.local", 30, "192.0.2.53");
    return commit(b);
}

START_TEST(answer_path_does_not_allocate)
{
    install_hooks();
    cdns_snapshot_t *s = build();
    enum { NQ = 10000 };
    static uint8_t pkts[NQ][300];
    static size_t lens[NQ];
    static const uint16_t types[] = {CDNS_T_A, CDNS_T_AAAA, CDNS_T_SRV, CDNS_T_TXT, CDNS_T_ANY};
    char name[200];
    for (int i = 0; i < NQ; i++) {
        int svc = i % 211; /* some beyond the 200 services: NXDOMAIN */
        switch (i % 6) {
        case 0:
            snprintf(name, sizeof(name), "SVC-%d.ns-%d.svc.cluster.local", svc, svc % 7);
            break;
        case 1:
            snprintf(name, sizeof(name), "_http._tcp.svc-%d.ns-%d.svc.cluster.local", svc, svc % 7);
            break;
        case 2:
            snprintf(name, sizeof(name), "alias-%d.ns-%d.svc.cluster.local", svc, svc % 7);
            break;
        case 3:
            snprintf(name, sizeof(name), "big.ns-0.svc.cluster.local");
            break;
        case 4:
            snprintf(name, sizeof(name), "x.sub.cluster.local");
            break;
        default:
            snprintf(name, sizeof(name), "svc-%d.ns-%d.svc.cluster.local.example.org", svc, svc % 7);
            break;
        }
        uint16_t type = i % 6 == 1 ? CDNS_T_SRV : types[(i / 6) % 5];
        lens[i] = make_query(pkts[i], name, type, (i / 6) % 3 == 0 ? 1232 : 0);
    }
    static uint8_t out[65535];
    unsigned kinds[5] = {0};
    unsigned tc = 0;
    cdns_query_t q;
    cdns_msg_t m;
    cdns_answer_info_t info;

    /* The counter itself works. */
    counting = 1;
    void *volatile probe = malloc(32);
    free(probe);
    counting = 0;
    ck_assert_uint_eq(allocs, 1);
    ck_assert_uint_eq(frees, 1);
    allocs = frees = 0;

    counting = 1;
    for (int i = 0; i < NQ; i++) {
        if (cdns_query_parse(pkts[i], lens[i], &q) != CDNS_QUERY_OK)
            break;
        cdns_msg_begin(&m, out, sizeof(out), &q, i % 5 == 4);
        cdns_store_answer(s, &q, &m, &info);
        tc += m.truncated;
        kinds[info.kind]++;
        cdns_msg_finish(&m);
    }
    counting = 0;
    ck_assert_uint_eq(allocs, 0);
    ck_assert_uint_eq(frees, 0);
    unsigned total = 0;
    for (int k = 0; k < 5; k++) {
        ck_assert_msg(kinds[k] > 0, "no answer of kind %d", k);
        total += kinds[k];
    }
    ck_assert_uint_eq(total, NQ);
    ck_assert_uint_gt(tc, 0);
    cdns_snapshot_free(s);
}
END_TEST

static Suite *noalloc_suite(void)
{
    Suite *s = suite_create("store_noalloc");
    TCase *tc = tcase_create("noalloc");
    tcase_add_test(tc, answer_path_does_not_allocate);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(noalloc_suite)
