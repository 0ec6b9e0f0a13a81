/* SPDX-License-Identifier: MIT */
/* test_msg.c — the response writer: header and question, size limits per transport, owner
 * compression against the question and remembered names, all-or-nothing truncation,
 * rollback, OPT on finish and error responses. Every finished message is also read back
 * with ldns to prove it is well formed. */
#include "cdns/dns.h"
#include "check_main.h"

#include <ldns/ldns.h>
#include <string.h>
#include <strings.h>

#define N(s) ((const uint8_t *)(s))

static uint8_t qpkt[600];
static size_t qpkt_len;
static uint8_t out[70000];

/* Builds and parses a query; edns_size < 0 means no OPT. Returns the parse status. */
static cdns_query_status_t query_ex(cdns_query_t *q, uint16_t flags, const char *qname, uint16_t qtype, int edns_size,
                                    uint8_t edns_version, uint16_t edns_flags, int nopt)
{
    uint8_t *p = qpkt;
    size_t nlen;
    memset(p, 0, 12);
    p[0] = 0xab;
    p[1] = 0xcd;
    p[2] = (uint8_t)(flags >> 8);
    p[3] = (uint8_t)flags;
    p[5] = 1;
    p[11] = (uint8_t)(edns_size >= 0 ? nopt : 0);
    ck_assert_int_eq(cdns_dname_from_str(qname, NULL, p + 12, &nlen), CDNS_OK);
    size_t n = 12 + nlen;
    p[n++] = (uint8_t)(qtype >> 8);
    p[n++] = (uint8_t)qtype;
    p[n++] = 0;
    p[n++] = 1;
    for (int i = 0; edns_size >= 0 && i < nopt; i++) {
        const uint8_t o[11] = {0,
                               0,
                               41,
                               (uint8_t)(edns_size >> 8),
                               (uint8_t)edns_size,
                               0,
                               edns_version,
                               (uint8_t)(edns_flags >> 8),
                               (uint8_t)edns_flags,
                               0,
                               0};
        memcpy(p + n, o, 11);
        n += 11;
    }
    qpkt_len = n;
    return cdns_query_parse(qpkt, qpkt_len, q);
}

static void query(cdns_query_t *q, uint16_t flags, const char *qname, uint16_t qtype, int edns_size,
                  uint16_t edns_flags)
{
    ck_assert_int_eq(query_ex(q, flags, qname, qtype, edns_size, 0, edns_flags, 1), CDNS_QUERY_OK);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Parses a finished message with ldns (which must accept it); caller frees. */
static ldns_pkt *reparse(size_t len)
{
    ldns_pkt *lp = NULL;
    ldns_status st = ldns_wire2pkt(&lp, out, len);
    ck_assert_msg(st == LDNS_STATUS_OK, "ldns: %s", ldns_get_errorstr_by_id(st));
    return lp;
}

/* Owner of record i of an ldns section, as text. */
static void owner_is(ldns_rr_list *l, size_t i, const char *want)
{
    char *s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(l, i)));
    ck_assert_msg(strcasecmp(s, want) == 0, "owner %zu: %s, want %s", i, s, want);
    free(s);
}

START_TEST(begin_header_and_question)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, CDNS_F_RD | CDNS_F_CD | CDNS_F_AD, "www.Example.org.", CDNS_T_AAAA, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_uint_eq(m.len, 12 + 21);
    ck_assert_uint_eq(m.nnames, 1);
    ck_assert_uint_eq(m.name_off[0], CDNS_MSG_QNAME_OFF);
    ck_assert(!m.edns);
    ck_assert_uint_eq(m.reserve, 0);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, 33);
    ck_assert_uint_eq(rd16(out), 0xabcd);
    /* QR, RD and CD; AD, RA and AA are not copied or set. */
    ck_assert_uint_eq(rd16(out + 2), CDNS_F_QR | CDNS_F_RD | CDNS_F_CD);
    ck_assert_uint_eq(rd16(out + 4), 1);
    ck_assert_uint_eq(rd16(out + 6), 0);
    ck_assert_uint_eq(rd16(out + 8), 0);
    ck_assert_uint_eq(rd16(out + 10), 0);
    /* The question exactly as received, letter case included. */
    ck_assert_mem_eq(out + 12, qpkt + 12, 21);

    query(&q, 0, "a.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    cdns_msg_finish(&m);
    ck_assert_uint_eq(rd16(out + 2), CDNS_F_QR);
}
END_TEST

START_TEST(limits)
{
    static const struct {
        int edns; /* client size, -1 for none */
        size_t cap;
        bool tcp;
        size_t limit;
    } cases[] = {
        {-1, 4096, false, 512}, {4096, 1232, false, 1232},  {4096, 1500, false, 1500},    {100, 4096, false, 512},
        {0, 4096, false, 512},  {1232, 65535, false, 1232}, {600, 4096, false, 600},      {-1, 70000, true, 65535},
        {-1, 4096, true, 4096}, {1232, 70000, true, 65535}, {65535, 65535, false, 65535},
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(cases); i++) {
        cdns_query_t q;
        cdns_msg_t m;
        query(&q, 0, "a.", CDNS_T_A, cases[i].edns, 0);
        cdns_msg_begin(&m, out, cases[i].cap, &q, cases[i].tcp);
        ck_assert_msg(m.limit == cases[i].limit, "case %zu: limit %zu, want %zu", i, m.limit, cases[i].limit);
        ck_assert_uint_eq(m.reserve, cases[i].edns >= 0 ? 11 : 0);
        ck_assert(m.edns == (cases[i].edns >= 0));
    }
}
END_TEST

START_TEST(put_rr_pointer_owner)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, CDNS_F_RD, "www.Example.org.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, CDNS_T_A, CDNS_C_IN, 30, N("\1\2\3\4"), 4),
                     CDNS_OK);
    ck_assert_uint_eq(m.len, 33 + 2 + 10 + 4);
    ck_assert_mem_eq(out + 33, "\xc0\x0c\0\1\0\1\0\0\0\x1e\0\4\1\2\3\4", 16);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(rd16(out + 6), 1);

    ldns_pkt *lp = reparse(len);
    ck_assert_uint_eq(ldns_pkt_ancount(lp), 1);
    ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(lp), 0);
    char *owner = ldns_rdf2str(ldns_rr_owner(rr));
    ck_assert_str_eq(owner, "www.Example.org."); /* the client's case, via the pointer */
    free(owner);
    ck_assert_uint_eq(ldns_rr_ttl(rr), 30);
    ck_assert(ldns_pkt_qr(lp) && ldns_pkt_rd(lp) && !ldns_pkt_ra(lp) && !ldns_pkt_aa(lp));
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(find_name)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, 0, "www.Example.org.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\3www\7example\3org")), 12);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\7example\3org")), 16);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\3org")), 24);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\3com")), 0);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("")), 0);                       /* never the root */
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\1x\3www\7example\3org")), 0); /* longer */
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\2ww\7example\3org")), 0);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\6xample\3org")), 0); /* not at a label start */
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\6exampl\3org")), 0);
}
END_TEST

START_TEST(compress_owner_against_question)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, 0, "www.Example.org.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    static const uint8_t soa[] = "\1a\0\1b\0\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5";
    /* Equal to the question (any case): a pointer to 12. */
    size_t at = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 0, N("\3WWW\7example\3org"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_mem_eq(out + at, "\xc0\x0c\0\1", 4);
    at = m.len;
    /* The zone apex: just a pointer to offset 16 inside the question. */
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_AUTHORITY, 0, N("\7example\3org"), CDNS_T_SOA, CDNS_C_IN, 60, soa,
                                     sizeof(soa) - 1),
                     CDNS_OK);
    ck_assert_mem_eq(out + at, "\xc0\x10\0\6", 4);
    /* A sibling: its own first label, then a pointer to example.org. */
    at = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\3foo\7example\3org"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_mem_eq(out + at, "\3foo\xc0\x10\0\1", 8);
    /* Nothing in common: written in full, and remembered for later owners. */
    size_t other = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\5other\3net"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_mem_eq(out + other, "\5other\3net\0\0\1", 13);
    at = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\1x\5other\3net"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_mem_eq(out + at, "\1x", 2);
    ck_assert_uint_eq(rd16(out + at + 2), 0xc000 | other);
    /* A name found through a remembered owner that itself ends in a pointer. */
    at = m.len;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\3bar\3foo\7example\3org"), CDNS_T_A, CDNS_C_IN, 1,
                                     N("\1\2\3\4"), 4),
                     CDNS_OK);
    ck_assert_mem_eq(out + at, "\3bar", 4);
    ck_assert_uint_eq(rd16(out + at + 4), 0xc000 | (33 + 2 + 10 + sizeof(soa) - 1 + 16));
    /* The root stays one octet. */
    at = m.len;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N(""), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
                     CDNS_OK);
    ck_assert_mem_eq(out + at, "\0\0\1", 3);

    size_t len = cdns_msg_finish(&m);
    ldns_pkt *lp = reparse(len);
    ck_assert_uint_eq(ldns_pkt_ancount(lp), 1);
    ck_assert_uint_eq(ldns_pkt_nscount(lp), 1);
    ck_assert_uint_eq(ldns_pkt_arcount(lp), 5);
    owner_is(ldns_pkt_authority(lp), 0, "example.org.");
    owner_is(ldns_pkt_answer(lp), 0, "www.example.org.");
    owner_is(ldns_pkt_additional(lp), 0, "foo.example.org.");
    owner_is(ldns_pkt_additional(lp), 1, "other.net.");
    owner_is(ldns_pkt_additional(lp), 2, "x.other.net.");
    owner_is(ldns_pkt_additional(lp), 3, "bar.foo.example.org.");
    owner_is(ldns_pkt_additional(lp), 4, ".");
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(remember_rdata_target)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, 0, "web.default.svc.cluster.local.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    static const uint8_t target[] = "\6target\3svc\7cluster\5local";
    size_t rdata_off = m.len + 2 + 10;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, CDNS_T_CNAME, CDNS_C_IN, 5, target, sizeof(target)),
                     CDNS_OK);
    cdns_msg_remember_name(&m, (uint16_t)rdata_off);
    ck_assert_uint_eq(cdns_msg_find_name(&m, target), rdata_off);
    size_t at = m.len;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 0, target, CDNS_T_A, CDNS_C_IN, 5, N("\12\0\0\1"), 4),
                     CDNS_OK);
    ck_assert_uint_eq(m.len - at, 2 + 10 + 4);
    ck_assert_uint_eq(rd16(out + at), 0xc000 | rdata_off);
    /* svc.cluster.local: the question has it (offset 12+4+8) and so does the target; either
     * pointer is right, and it must be a bare pointer. */
    at = m.len;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\3svc\7cluster\5local"), CDNS_T_A, CDNS_C_IN, 5,
                                     N("\12\0\0\2"), 4),
                     CDNS_OK);
    ck_assert_uint_eq(m.len - at, 2 + 10 + 4);
    /* Offsets that cannot be pointed to are ignored. */
    uint8_t before = m.nnames;
    cdns_msg_remember_name(&m, 5);
    cdns_msg_remember_name(&m, (uint16_t)m.len);
    ck_assert_uint_eq(m.nnames, before);

    size_t len = cdns_msg_finish(&m);
    ldns_pkt *lp = reparse(len);
    owner_is(ldns_pkt_answer(lp), 1, "target.svc.cluster.local.");
    owner_is(ldns_pkt_additional(lp), 0, "svc.cluster.local.");
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(truncation_all_or_nothing)
{
    cdns_query_t q;
    cdns_msg_t m;
    uint8_t txt[100];
    memset(txt, 'x', sizeof(txt));
    txt[0] = 99;
    query(&q, 0, "www.example.org.", CDNS_T_TXT, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_uint_eq(m.limit, 512);
    int i;
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, 65280, CDNS_C_IN, 1, txt, 100), CDNS_OK);
    ck_assert_uint_eq(m.len, 33 + 4 * 112);
    ck_assert(!m.truncated);
    /* The fifth does not fit: nothing of it is written. */
    memset(out + m.len, 0xaa, 200);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, 65280, CDNS_C_IN, 1, txt, 100), CDNS_ENOSPC);
    ck_assert(m.truncated);
    ck_assert_uint_eq(m.len, 33 + 4 * 112);
    ck_assert_uint_eq(m.count[CDNS_SEC_ANSWER], 4);
    for (int j = 0; j < 200; j++)
        ck_assert_uint_eq(out[m.len + (size_t)j], 0xaa);
    /* Neither is a full-name owner that does not fit, nor is it remembered. */
    uint8_t names = m.nnames;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\5other\3net"), 65280, CDNS_C_IN, 1, txt, 100),
                     CDNS_ENOSPC);
    ck_assert_uint_eq(m.nnames, names);
    ck_assert_uint_eq(out[m.len], 0xaa);
    /* 512 - 481 = 31: a record of exactly 31 octets fits, one of 32 does not. */
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 12, NULL, 65280, CDNS_C_IN, 1, txt, 20), CDNS_ENOSPC);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 12, NULL, 65280, CDNS_C_IN, 1, txt, 19), CDNS_OK);
    ck_assert_uint_eq(m.len, 512);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, 512);
    ck_assert(rd16(out + 2) & CDNS_F_TC);
    ck_assert_uint_eq(rd16(out + 6), 4);
    ck_assert_uint_eq(rd16(out + 10), 1);
    ldns_pkt *lp = reparse(len);
    ck_assert(ldns_pkt_tc(lp));
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(truncation_reserves_opt)
{
    cdns_query_t q;
    cdns_msg_t m;
    uint8_t txt[100];
    memset(txt, 'y', sizeof(txt));
    txt[0] = 99;
    query(&q, 0, "www.example.org.", CDNS_T_TXT, 1232, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_uint_eq(m.limit, 1232);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, 65280, CDNS_C_IN, 1, txt, 100), CDNS_OK);
    ck_assert_uint_eq(m.len, 33 + 10 * 112); /* 1153 */
    /* 1232 - 11 (OPT) - 1153 = 68 octets are left: rdata 56 fits exactly, 57 would not. */
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, 65280, CDNS_C_IN, 1, txt, 57), CDNS_ENOSPC);
    ck_assert(m.truncated);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, 65280, CDNS_C_IN, 1, txt, 56), CDNS_OK);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, CDNS_T_A, CDNS_C_IN, 1, NULL, 0), CDNS_ENOSPC);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, 1232);
    ldns_pkt *lp = reparse(len);
    ck_assert(ldns_pkt_tc(lp));
    ck_assert_uint_eq(ldns_pkt_ancount(lp), 11);
    ck_assert_uint_eq(ldns_pkt_edns_udp_size(lp), CDNS_EDNS_SIZE);
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(tcp_large_and_far_offsets)
{
    cdns_query_t q;
    cdns_msg_t m;
    static uint8_t big[1000];
    memset(big, 'z', sizeof(big));
    query(&q, 0, "www.example.org.", CDNS_T_A, 1232, 0);
    cdns_msg_begin(&m, out, sizeof(out), &q, true);
    ck_assert_uint_eq(m.limit, 65535);
    while (m.len <= 0x4000)
        ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, 65280, CDNS_C_IN, 1, big, sizeof(big)),
                         CDNS_OK);
    /* An owner written beyond 0x3fff cannot be pointed to, so the next is written in full. */
    size_t first = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\5other\3net"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\5other\3net")), 0);
    size_t second = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\5other\3net"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_mem_eq(out + second, out + first, 11);
    /* Pointers to the question still work from far away. */
    size_t at = m.len;
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 0, N("\3org"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
                     CDNS_OK);
    ck_assert_uint_eq(rd16(out + at), 0xc000 | 24);
    while (cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 12, NULL, 65280, CDNS_C_IN, 1, big, sizeof(big)) == CDNS_OK)
        ;
    ck_assert(m.truncated);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_le(len, 65535);
    ck_assert_uint_gt(len, 65535 - 1012 - 11);
    ldns_pkt *lp = reparse(len);
    owner_is(ldns_pkt_additional(lp), 1, "other.net.");
    owner_is(ldns_pkt_additional(lp), 2, "org.");
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(mark_rollback)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, 0, "www.example.org.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, 12, NULL, CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4), CDNS_OK);
    cdns_msg_mark_t mk = cdns_msg_mark(&m);
    size_t len0 = m.len;
    ck_assert_int_eq(
        cdns_msg_put_rr(&m, CDNS_SEC_AUTHORITY, 0, N("\5other\3net"), CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
        CDNS_OK);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, 12, NULL, CDNS_T_A, CDNS_C_IN, 1, N("\1\2\3\4"), 4),
                     CDNS_OK);
    ck_assert_uint_ne(cdns_msg_find_name(&m, N("\5other\3net")), 0);
    m.truncated = true;
    cdns_msg_rollback(&m, mk);
    ck_assert_uint_eq(m.len, len0);
    ck_assert_uint_eq(m.count[CDNS_SEC_ANSWER], 1);
    ck_assert_uint_eq(m.count[CDNS_SEC_AUTHORITY], 0);
    ck_assert_uint_eq(m.count[CDNS_SEC_ADDITIONAL], 0);
    ck_assert_uint_eq(m.nnames, 1);
    /* A name in the rolled-back part must not be pointed to again. */
    ck_assert_uint_eq(cdns_msg_find_name(&m, N("\5other\3net")), 0);
    ck_assert(m.truncated);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, len0);
    ck_assert_uint_eq(rd16(out + 6), 1);
    ck_assert_uint_eq(rd16(out + 8), 0);
    ck_assert_uint_eq(rd16(out + 10), 0);
    ldns_pkt_free(reparse(len));
}
END_TEST

START_TEST(finish_opt_rcode_flags)
{
    cdns_query_t q;
    cdns_msg_t m;
    query(&q, CDNS_F_RD, "a.", CDNS_T_A, 4096, CDNS_EDNS_DO | 0x0001);
    cdns_msg_begin(&m, out, 4096, &q, false);
    m.flags |= CDNS_F_AA | CDNS_F_RA;
    cdns_msg_set_rcode(&m, CDNS_RCODE_NXDOMAIN);
    size_t at = m.len;
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, at + 11);
    ck_assert_uint_eq(rd16(out + 2), CDNS_F_QR | CDNS_F_AA | CDNS_F_RD | CDNS_F_RA | CDNS_RCODE_NXDOMAIN);
    ck_assert_uint_eq(rd16(out + 10), 1);
    /* Root, OPT, 1232, ext-rcode 0, version 0, DO only (other flag bits are not echoed), rdlen 0. */
    ck_assert_mem_eq(out + at, "\0\0\x29\x04\xd0\0\0\x80\0\0\0", 11);
    ldns_pkt *lp = reparse(len);
    ck_assert(ldns_pkt_aa(lp) && ldns_pkt_ra(lp) && ldns_pkt_edns_do(lp));
    ck_assert_int_eq(ldns_pkt_get_rcode(lp), LDNS_RCODE_NXDOMAIN);
    ldns_pkt_free(lp);

    /* Without DO in the query, none in the response. */
    query(&q, 0, "a.", CDNS_T_A, 512, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    at = m.len;
    cdns_msg_finish(&m);
    ck_assert_mem_eq(out + at, "\0\0\x29\x04\xd0\0\0\0\0\0\0", 11);
}
END_TEST

START_TEST(error_formerr_no_question)
{
    cdns_query_t q;
    cdns_msg_t m;
    /* QDCOUNT 0, with RD. */
    uint8_t pkt[12] = {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(cdns_query_parse(pkt, sizeof(pkt), &q), CDNS_QUERY_FORMERR);
    cdns_msg_begin_error(&m, out, 4096, pkt, sizeof(pkt), &q, CDNS_RCODE_FORMERR);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, 12);
    ck_assert_uint_eq(rd16(out), 0x1234);
    ck_assert_uint_eq(rd16(out + 2), CDNS_F_QR | CDNS_F_RD | CDNS_RCODE_FORMERR);
    ck_assert_uint_eq(rd16(out + 4), 0);
    ck_assert_uint_eq(rd16(out + 10), 0);
    ldns_pkt_free(reparse(len));
}
END_TEST

START_TEST(error_formerr_with_question_and_edns)
{
    cdns_query_t q;
    cdns_msg_t m;
    /* Two OPTs: FORMERR, but the question and the first OPT were read. */
    ck_assert_int_eq(query_ex(&q, 0, "Dup.Example.", CDNS_T_A, 1232, 0, CDNS_EDNS_DO, 2), CDNS_QUERY_FORMERR);
    cdns_msg_begin_error(&m, out, 4096, qpkt, qpkt_len, &q, CDNS_RCODE_FORMERR);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, 12 + q.question_len + 11);
    ck_assert_uint_eq(rd16(out + 4), 1);
    ck_assert_uint_eq(rd16(out + 10), 1);
    ck_assert_mem_eq(out + 12, qpkt + 12, q.question_len);
    ck_assert_uint_eq(rd16(out + 2) & 0xf, CDNS_RCODE_FORMERR);
    ldns_pkt *lp = reparse(len);
    ck_assert(ldns_pkt_edns_do(lp));
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(error_badvers)
{
    cdns_query_t q;
    cdns_msg_t m;
    ck_assert_int_eq(query_ex(&q, CDNS_F_RD, "v.example.", CDNS_T_A, 4096, 1, CDNS_EDNS_DO, 1), CDNS_QUERY_BADVERS);
    cdns_msg_begin_error(&m, out, 4096, qpkt, qpkt_len, &q, CDNS_RCODE_BADVERS);
    size_t at = m.len;
    size_t len = cdns_msg_finish(&m);
    /* BADVERS is 16: 0 in the header's four bits, 1 in OPT's extended rcode; version 0. */
    ck_assert_uint_eq(rd16(out + 2), CDNS_F_QR | CDNS_F_RD);
    ck_assert_mem_eq(out + at, "\0\0\x29\x04\xd0\x01\0\x80\0\0\0", 11);
    ck_assert_uint_eq(rd16(out + 4), 1);
    ldns_pkt *lp = reparse(len);
    ck_assert_uint_eq(ldns_pkt_edns_extended_rcode(lp), 1);
    ck_assert_uint_eq(ldns_pkt_edns_version(lp), 0);
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(error_notimp)
{
    cdns_query_t q;
    cdns_msg_t m;
    ck_assert_int_eq(query_ex(&q, 5 << 11, "zone.example.", CDNS_T_SOA, -1, 0, 0, 0), CDNS_QUERY_NOTIMP);
    cdns_msg_begin_error(&m, out, 4096, qpkt, qpkt_len, &q, CDNS_RCODE_NOTIMP);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(CDNS_F_OPCODE(rd16(out + 2)), 5);
    ck_assert_uint_eq(rd16(out + 2), CDNS_F_QR | (5 << 11) | CDNS_RCODE_NOTIMP);
    ck_assert_uint_eq(rd16(out + 4), 1);
    ck_assert_uint_eq(len, 12 + q.question_len);
    /* Without the packet, the ID comes from q. */
    cdns_msg_begin_error(&m, out, 4096, NULL, 0, &q, CDNS_RCODE_NOTIMP);
    cdns_msg_finish(&m);
    ck_assert_uint_eq(rd16(out), 0xabcd);
}
END_TEST

START_TEST(names)
{
    char buf[16];
    uint16_t t;
    ck_assert_str_eq(cdns_rrtype_name(CDNS_T_AAAA, buf), "AAAA");
    ck_assert_str_eq(cdns_rrtype_name(CDNS_T_CAA, buf), "CAA");
    ck_assert_str_eq(cdns_rrtype_name(123, buf), "TYPE123");
    ck_assert_str_eq(cdns_rrtype_name(65535, buf), "TYPE65535");
    ck_assert_int_eq(cdns_rrtype_from_name("srv", &t), CDNS_OK);
    ck_assert_uint_eq(t, CDNS_T_SRV);
    ck_assert_int_eq(cdns_rrtype_from_name("AXFR", &t), CDNS_OK);
    ck_assert_uint_eq(t, CDNS_T_AXFR);
    ck_assert_int_eq(cdns_rrtype_from_name("TYPE123", &t), CDNS_OK);
    ck_assert_uint_eq(t, 123);
    ck_assert_int_eq(cdns_rrtype_from_name("type1", &t), CDNS_OK);
    ck_assert_uint_eq(t, 1);
    ck_assert_int_eq(cdns_rrtype_from_name("TYPE65536", &t), CDNS_EINVAL);
    ck_assert_int_eq(cdns_rrtype_from_name("TYPE", &t), CDNS_EINVAL);
    ck_assert_int_eq(cdns_rrtype_from_name("TYPE1x", &t), CDNS_EINVAL);
    ck_assert_int_eq(cdns_rrtype_from_name("BOGUS", &t), CDNS_EINVAL);
    /* Every named type reads back to itself. */
    for (unsigned v = 0; v < 65536; v += (v < 300 ? 1 : 997)) {
        const char *s = cdns_rrtype_name((uint16_t)v, buf);
        ck_assert_int_eq(cdns_rrtype_from_name(s, &t), CDNS_OK);
        ck_assert_uint_eq(t, v);
    }
    ck_assert_str_eq(cdns_rcode_name(CDNS_RCODE_NOERROR), "NOERROR");
    ck_assert_str_eq(cdns_rcode_name(CDNS_RCODE_NXDOMAIN), "NXDOMAIN");
    ck_assert_str_eq(cdns_rcode_name(CDNS_RCODE_REFUSED), "REFUSED");
    ck_assert_str_eq(cdns_rcode_name(CDNS_RCODE_BADVERS), "BADVERS");
    ck_assert_str_eq(cdns_rcode_name(4000), "UNKNOWN");
}
END_TEST

/* The writer remembers the last ANSWER record's type and rdata offset (cdns_req_chase_cname reads
 * them instead of re-parsing), and a rollback restores them. */
START_TEST(last_answer_record)
{
    cdns_query_t q;
    cdns_msg_t m;
    static const uint8_t a[4] = {10, 0, 0, 1};
    static const uint8_t target[] = {3, 'e', 'x', 't', 4, 't', 'e', 's', 't', 0};
    query(&q, 0, "svc.example.", CDNS_T_A, -1, 0);
    cdns_msg_begin(&m, out, 4096, &q, false);
    ck_assert_uint_eq(m.last_an_type, 0);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, CDNS_T_A, CDNS_C_IN, 5, a, 4),
                     CDNS_OK);
    ck_assert_uint_eq(m.last_an_type, CDNS_T_A);
    ck_assert_uint_eq(m.last_an_rdata, m.len - 4);
    cdns_msg_mark_t mk = cdns_msg_mark(&m);
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, CDNS_T_CNAME, CDNS_C_IN, 5, target,
                                     sizeof(target)),
                     CDNS_OK);
    ck_assert_uint_eq(m.last_an_type, CDNS_T_CNAME);
    ck_assert_mem_eq(out + m.last_an_rdata, target, sizeof(target));
    cdns_msg_rollback(&m, mk);
    ck_assert_uint_eq(m.last_an_type, CDNS_T_A);
    ck_assert_uint_eq(m.last_an_rdata, m.len - 4);
    /* Records in other sections leave it alone. */
    ck_assert_int_eq(cdns_msg_put_rr(&m, CDNS_SEC_ADDITIONAL, CDNS_MSG_QNAME_OFF, NULL, CDNS_T_CNAME, CDNS_C_IN, 5,
                                     target, sizeof(target)),
                     CDNS_OK);
    ck_assert_uint_eq(m.last_an_type, CDNS_T_A);
}
END_TEST

static Suite *msg_suite(void)
{
    Suite *s = suite_create("dns/msg");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, begin_header_and_question);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, put_rr_pointer_owner);
    tcase_add_test(tc, find_name);
    tcase_add_test(tc, compress_owner_against_question);
    tcase_add_test(tc, remember_rdata_target);
    tcase_add_test(tc, truncation_all_or_nothing);
    tcase_add_test(tc, truncation_reserves_opt);
    tcase_add_test(tc, tcp_large_and_far_offsets);
    tcase_add_test(tc, mark_rollback);
    tcase_add_test(tc, finish_opt_rcode_flags);
    tcase_add_test(tc, error_formerr_no_question);
    tcase_add_test(tc, error_formerr_with_question_and_edns);
    tcase_add_test(tc, error_badvers);
    tcase_add_test(tc, error_notimp);
    tcase_add_test(tc, names);
    tcase_add_test(tc, last_answer_record);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(msg_suite)
