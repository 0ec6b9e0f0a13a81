/* SPDX-License-Identifier: MIT */
/* test_answer.c — cdns_store_answer end to end: a real query packet through the dns parser,
 * the answer into the dns writer, the response parsed back with ldns and checked section by
 * section (rcode, AA, TC, owners, TTLs, compression of the SOA owner). */
#include <ldns/ldns.h>
#include <stdlib.h>

#include "check_main.h"
#include "store_helpers.h"

static cdns_snapshot_t *snap;

static void setup(void)
{
    cdns_builder_t *b = cdns_builder_new();
    add_zone(b, "cluster.local", 30, 5);
    add_zone(b, "svc2.cluster.local", 30, 7);
    add_a(b, "web.default.svc.cluster.local", 10, "10.0.0.1");
    add_aaaa(b, "web.default.svc.cluster.local", 10, "fd00::1");
    add_a(b, "pod-1.web.default.svc.cluster.local", 10, "10.1.0.1");
    add_srv(b, "_http._tcp.web.default.svc.cluster.local", 10, 80, "web.default.svc.cluster.local");
    add_srv(b, "_http._tcp.web.default.svc.cluster.local", 10, 80, "pod-1.web.default.svc.cluster.local");
    add_srv(b, "_http._tcp.web.default.svc.cluster.local", 10, 80, "ext.example.org");
    add_name_rr(b, "alias.default.svc.cluster.local", CDNS_T_CNAME, 10, "web.default.svc.cluster.local");
    add_name_rr(b, "ext.default.svc.cluster.local", CDNS_T_CNAME, 10, "www.example.org");
    add_name_rr(b, "chain1.default.svc.cluster.local", CDNS_T_CNAME, 10, "chain2.default.svc.cluster.local");
    add_name_rr(b, "chain2.default.svc.cluster.local", CDNS_T_CNAME, 10, "web.default.svc.cluster.local");
    add_name_rr(b, "loop1.default.svc.cluster.local", CDNS_T_CNAME, 10, "loop2.default.svc.cluster.local");
    add_name_rr(b, "loop2.default.svc.cluster.local", CDNS_T_CNAME, 10, "loop1.default.svc.cluster.local");
    add_name_rr(b, "dangling.default.svc.cluster.local", CDNS_T_CNAME, 10, "nothere.default.svc.cluster.local");
    add_name_rr(b, "toent.default.svc.cluster.local", CDNS_T_CNAME, 10, "default.svc.cluster.local");
    add_name_rr(b, "tosub.default.svc.cluster.local", CDNS_T_CNAME, 10, "x.sub.cluster.local");
    add_name_rr(b, "tonest.default.svc.cluster.local", CDNS_T_CNAME, 10, "nx.svc2.cluster.local");
    char name[128], ip[32];
    for (int i = 0; i < 100; i++) {
        snprintf(ip, sizeof(ip), "10.2.0.%d", i);
        add_a(b, "big.default.svc.cluster.local", 10, ip);
    }
    /* 18 SRV records whose targets' addresses cannot all fit in 1232 octets. */
    for (int i = 0; i < 18; i++) {
        snprintf(name, sizeof(name), "target-%02d.many.default.svc.cluster.local", i);
        add_srv(b, "_x._tcp.many.default.svc.cluster.local", 10, 80, name);
        snprintf(ip, sizeof(ip), "10.3.0.%d", i);
        add_a(b, name, 10, ip);
        snprintf(ip, sizeof(ip), "fd00::3:%d", i);
        add_aaaa(b, name, 10, ip);
    }
    /* A delegation with glue. */
    add_name_rr(b, "sub.cluster.local", CDNS_T_NS, 300, "ns1.sub.cluster.local");
    add_name_rr(b, "sub.cluster.local", CDNS_T_NS, 300, "ns.elsewhere.org");
    add_a(b, "ns1.sub.cluster.local", 300, "192.0.2.53");
    add_a(b, "pod.svc2.cluster.local", 10, "10.9.0.1");
    snap = commit(b);
}

static void teardown(void)
{
    cdns_snapshot_free(snap);
    snap = NULL;
}

typedef struct resp {
    uint8_t raw[65535];
    size_t len;
    size_t qname_len;
    cdns_answer_info_t info;
    ldns_pkt *pkt;
} resp_t;

static resp_t R;

/* Asks name/type; edns 0 = plain UDP (512), 1 = TCP, otherwise an EDNS size. */
static ldns_pkt *ask(const char *name, uint16_t type, unsigned edns)
{
    uint8_t pkt[512];
    bool tcp = edns == 1;
    size_t plen = make_query(pkt, name, type, (uint16_t)(tcp ? 0 : edns));
    cdns_query_t q;
    ck_assert_int_eq(cdns_query_parse(pkt, plen, &q), CDNS_QUERY_OK);
    cdns_msg_t m;
    cdns_msg_begin(&m, R.raw, sizeof(R.raw), &q, tcp);
    cdns_store_answer(snap, &q, &m, &R.info);
    R.len = cdns_msg_finish(&m);
    R.qname_len = q.qname_len;
    if (R.pkt)
        ldns_pkt_free(R.pkt);
    R.pkt = NULL;
    ck_assert_int_eq(ldns_wire2pkt(&R.pkt, R.raw, R.len), LDNS_STATUS_OK);
    return R.pkt;
}

static void free_resp(void)
{
    if (R.pkt)
        ldns_pkt_free(R.pkt);
    R.pkt = NULL;
}

static char *owner_str(const ldns_rr *rr)
{
    static char buf[300];
    char *s = ldns_rdf2str(ldns_rr_owner(rr));
    snprintf(buf, sizeof(buf), "%s", s);
    free(s);
    return buf;
}

static const ldns_rr *sec_rr(ldns_rr_list *l, size_t i)
{
    ck_assert_uint_gt(ldns_rr_list_rr_count(l), i);
    return ldns_rr_list_rr(l, i);
}

/* Offset of the first AUTHORITY record when the answer section is empty. */
static size_t first_rr_off(void)
{
    return 12 + R.qname_len + 4;
}

START_TEST(exact_answer_keeps_case)
{
    ldns_pkt *p = ask("Web.Default.SVC.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_ptr_eq(R.info.zone, cdns_snapshot_zone(snap, 0));
    ck_assert(ldns_pkt_aa(p));
    ck_assert(!ldns_pkt_tc(p));
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
    const ldns_rr *rr = sec_rr(ldns_pkt_answer(p), 0);
    ck_assert_str_eq(owner_str(rr), "Web.Default.SVC.cluster.local.");
    ck_assert_uint_eq(ldns_rr_ttl(rr), 10);
    ck_assert_int_eq(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    /* The owner is a pointer to the question. */
    ck_assert_uint_eq(R.raw[first_rr_off()], 0xc0);
    ck_assert_uint_eq(R.raw[first_rr_off() + 1], 12);
    free_resp();
}
END_TEST

START_TEST(ent_is_nodata)
{
    ldns_pkt *p = ask("default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NODATA);
    ck_assert(ldns_pkt_aa(p));
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
    const ldns_rr *soa = sec_rr(ldns_pkt_authority(p), 0);
    ck_assert_int_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
    ck_assert_str_eq(owner_str(soa), "cluster.local.");
    ck_assert_uint_eq(ldns_rr_ttl(soa), 5); /* min(SOA TTL 30, MINIMUM 5) */
    /* An existing name without the type is NODATA too. */
    p = ask("web.default.svc.cluster.local", CDNS_T_TXT, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NODATA);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
    free_resp();
}
END_TEST

START_TEST(nxdomain_soa_compressed)
{
    ldns_pkt *p = ask("Nope.Default.svc.Cluster.Local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NXDOMAIN);
    ck_assert(ldns_pkt_aa(p));
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
    const ldns_rr *soa = sec_rr(ldns_pkt_authority(p), 0);
    ck_assert_int_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
    ck_assert_uint_eq(ldns_rr_ttl(soa), 5);
    ck_assert_str_eq(owner_str(soa), "Cluster.Local."); /* points into the question */
    size_t off = first_rr_off();
    size_t apex_len = cdns_dname_len(N("cluster.local"));
    ck_assert_uint_eq(R.raw[off], 0xc0);
    ck_assert_uint_eq(R.raw[off + 1], 12 + R.qname_len - apex_len);
    free_resp();
}
END_TEST

START_TEST(notauth_writes_nothing)
{
    ldns_pkt *p = ask("www.example.org", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NOTAUTH);
    ck_assert_ptr_null(R.info.zone);
    ck_assert(!ldns_pkt_aa(p));
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    ck_assert_uint_eq(ldns_pkt_ancount(p) + ldns_pkt_nscount(p) + ldns_pkt_arcount(p), 0);
    ck_assert_uint_eq(R.len, 12 + R.qname_len + 4);
    free_resp();
}
END_TEST

START_TEST(cname_in_snapshot)
{
    ldns_pkt *p = ask("Alias.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_ptr_null(R.info.cname_target);
    ck_assert(ldns_pkt_aa(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
    const ldns_rr *c = sec_rr(ldns_pkt_answer(p), 0);
    ck_assert_int_eq(ldns_rr_get_type(c), LDNS_RR_TYPE_CNAME);
    ck_assert_str_eq(owner_str(c), "Alias.default.svc.cluster.local.");
    const ldns_rr *a = sec_rr(ldns_pkt_answer(p), 1);
    ck_assert_int_eq(ldns_rr_get_type(a), LDNS_RR_TYPE_A);
    ck_assert_str_eq(owner_str(a), "web.default.svc.cluster.local.");

    /* Two links. */
    p = ask("chain1.default.svc.cluster.local", CDNS_T_AAAA, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 3);
    ck_assert_str_eq(owner_str(sec_rr(ldns_pkt_answer(p), 1)), "chain2.default.svc.cluster.local.");
    ck_assert_int_eq(ldns_rr_get_type(sec_rr(ldns_pkt_answer(p), 2)), LDNS_RR_TYPE_AAAA);

    /* Asking for the CNAME itself does not chase. */
    p = ask("alias.default.svc.cluster.local", CDNS_T_CNAME, 0);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);

    /* The target exists without the type: NODATA after the CNAME. */
    p = ask("toent.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NODATA);
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 1);

    /* The target is in our zone and does not exist: NXDOMAIN (RFC 6604). */
    p = ask("dangling.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NXDOMAIN);
    ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 1);

    /* Into a nested zone: that zone's SOA, written with its full (compressed) name. */
    p = ask("tonest.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NXDOMAIN);
    const ldns_rr *soa = sec_rr(ldns_pkt_authority(p), 0);
    ck_assert_str_eq(owner_str(soa), "svc2.cluster.local.");
    ck_assert_uint_eq(ldns_rr_ttl(soa), 7);
    free_resp();
}
END_TEST

START_TEST(cname_out_of_snapshot)
{
    ldns_pkt *p = ask("ext.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_ptr_nonnull(R.info.cname_target);
    ck_assert_mem_eq(R.info.cname_target, N("www.example.org"), cdns_dname_len(N("www.example.org")));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
    /* Below a delegation of ours: also for the caller to chase. */
    p = ask("tosub.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_ptr_nonnull(R.info.cname_target);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    free_resp();
}
END_TEST

START_TEST(cname_loop_terminates)
{
    ldns_pkt *p = ask("loop1.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_ptr_null(R.info.cname_target);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
    free_resp();
}
END_TEST

START_TEST(srv_additional)
{
    ldns_pkt *p = ask("_http._tcp.web.default.svc.cluster.local", CDNS_T_SRV, 1232);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert(!ldns_pkt_tc(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 3);
    /* ext.example.org is not ours; web has A and AAAA, pod-1 has A. */
    ldns_rr_list *ad = ldns_pkt_additional(p);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ad), 3);
    int a = 0, aaaa = 0;
    for (size_t i = 0; i < 3; i++) {
        const ldns_rr *rr = ldns_rr_list_rr(ad, i);
        a += ldns_rr_get_type(rr) == LDNS_RR_TYPE_A;
        aaaa += ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA;
        const char *o = owner_str(rr);
        ck_assert(strcmp(o, "web.default.svc.cluster.local.") == 0 ||
                  strcmp(o, "pod-1.web.default.svc.cluster.local.") == 0);
    }
    ck_assert_int_eq(a, 2);
    ck_assert_int_eq(aaaa, 1);
    free_resp();
}
END_TEST

START_TEST(tc_all_or_nothing)
{
    /* 100 A records need 1600 octets: over 512 none goes in and TC is set. */
    ldns_pkt *p = ask("big.default.svc.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert(ldns_pkt_tc(p));
    ck_assert(ldns_pkt_aa(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
    ck_assert_uint_le(R.len, 512);
    /* Over TCP it all fits. */
    p = ask("big.default.svc.cluster.local", CDNS_T_A, 1);
    ck_assert(!ldns_pkt_tc(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 100);
    /* ANY: the RRsets that fit, whole. */
    p = ask("big.default.svc.cluster.local", CDNS_T_ANY, 0);
    ck_assert(ldns_pkt_tc(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
    free_resp();
}
END_TEST

START_TEST(additional_omitted_without_tc)
{
    ldns_pkt *p = ask("_x._tcp.many.default.svc.cluster.local", CDNS_T_SRV, 1232);
    ck_assert(!ldns_pkt_tc(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 18);
    size_t ar = ldns_rr_list_rr_count(ldns_pkt_additional(p));
    ck_assert_uint_gt(ar, 0);
    ck_assert_uint_lt(ar, 36);
    ck_assert_uint_le(R.len, 1232);
    /* Under 512 octets without EDNS: the SRV RRset itself does not fit, TC. */
    p = ask("_x._tcp.many.default.svc.cluster.local", CDNS_T_SRV, 0);
    ck_assert(ldns_pkt_tc(p));
    ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
    ck_assert_uint_eq(ldns_pkt_arcount(p), 0);
    /* Over TCP, everything. */
    p = ask("_x._tcp.many.default.svc.cluster.local", CDNS_T_SRV, 1);
    ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_additional(p)), 36);
    free_resp();
}
END_TEST

START_TEST(delegation_referral)
{
    const char *names[] = {"www.sub.cluster.local", "sub.cluster.local", "a.b.sub.cluster.local"};
    for (size_t i = 0; i < 3; i++) {
        ldns_pkt *p = ask(names[i], i == 1 ? CDNS_T_DS : CDNS_T_A, 0);
        ck_assert_int_eq(R.info.kind, CDNS_ANSWER_REFERRAL);
        ck_assert(!ldns_pkt_aa(p));
        ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
        ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
        ck_assert_uint_eq(ldns_pkt_nscount(p), 2);
        const ldns_rr *ns = sec_rr(ldns_pkt_authority(p), 0);
        ck_assert_int_eq(ldns_rr_get_type(ns), LDNS_RR_TYPE_NS);
        ck_assert_str_eq(owner_str(ns), "sub.cluster.local.");
        ck_assert_uint_eq(ldns_pkt_arcount(p), 1);
        const ldns_rr *glue = sec_rr(ldns_pkt_additional(p), 0);
        ck_assert_int_eq(ldns_rr_get_type(glue), LDNS_RR_TYPE_A);
        ck_assert_str_eq(owner_str(glue), "ns1.sub.cluster.local.");
    }
    /* The glue name itself is below the cut: a referral too. */
    ask("ns1.sub.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_REFERRAL);
    free_resp();
}
END_TEST

START_TEST(nested_zone_wins)
{
    ldns_pkt *p = ask("nx.svc2.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NXDOMAIN);
    ck_assert_ptr_eq(R.info.zone, cdns_snapshot_zone(snap, 1));
    const ldns_rr *soa = sec_rr(ldns_pkt_authority(p), 0);
    ck_assert_str_eq(owner_str(soa), "svc2.cluster.local.");
    ck_assert_uint_eq(ldns_rr_ttl(soa), 7);
    p = ask("pod.svc2.cluster.local", CDNS_T_A, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    /* The apex answers its SOA. */
    p = ask("svc2.cluster.local", CDNS_T_SOA, 0);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
    ck_assert_uint_eq(ldns_rr_ttl(sec_rr(ldns_pkt_answer(p), 0)), 30);
    free_resp();
}
END_TEST

START_TEST(any_answers_all)
{
    ldns_pkt *p = ask("web.default.svc.cluster.local", CDNS_T_ANY, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_DATA);
    ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
    p = ask("default.svc.cluster.local", CDNS_T_ANY, 0);
    ck_assert_int_eq(R.info.kind, CDNS_ANSWER_NODATA);
    free_resp();
}
END_TEST

START_TEST(put_rrset_rolls_back)
{
    uint8_t pkt[512], buf[512];
    size_t plen = make_query(pkt, "big.default.svc.cluster.local", CDNS_T_A, 0);
    cdns_query_t q;
    ck_assert_int_eq(cdns_query_parse(pkt, plen, &q), CDNS_QUERY_OK);
    cdns_msg_t m;
    cdns_msg_begin(&m, buf, sizeof(buf), &q, false);
    size_t before = m.len;
    const cdns_rrset_t *rs = cdns_node_rrset(find(snap, "big.default.svc.cluster.local"), CDNS_T_A);
    ck_assert_int_eq(cdns_store_put_rrset(snap, &m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, rs), CDNS_ENOSPC);
    ck_assert_uint_eq(m.len, before);
    ck_assert_uint_eq(m.count[CDNS_SEC_ANSWER], 0);
    ck_assert(m.truncated);
}
END_TEST

static Suite *answer_suite(void)
{
    Suite *s = suite_create("store_answer");
    TCase *tc = tcase_create("answer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, exact_answer_keeps_case);
    tcase_add_test(tc, ent_is_nodata);
    tcase_add_test(tc, nxdomain_soa_compressed);
    tcase_add_test(tc, notauth_writes_nothing);
    tcase_add_test(tc, cname_in_snapshot);
    tcase_add_test(tc, cname_out_of_snapshot);
    tcase_add_test(tc, cname_loop_terminates);
    tcase_add_test(tc, srv_additional);
    tcase_add_test(tc, tc_all_or_nothing);
    tcase_add_test(tc, additional_omitted_without_tc);
    tcase_add_test(tc, delegation_referral);
    tcase_add_test(tc, nested_zone_wins);
    tcase_add_test(tc, any_answers_all);
    tcase_add_test(tc, put_rrset_rolls_back);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(answer_suite)
