/* SPDX-License-Identifier: MIT */
/* test_msg_raw.c — the response writer's raw mode (an upstream's reply as the response) and the
 * reply matcher forward relies on for spoofing resistance. */
#include <check.h>
#include <string.h>

#include "cdns/dns.h"
#include "check_main.h"

/* A query for "ExAmple.ORG. A" with ID 0x1234, optionally with OPT (size 1232). */
static size_t make_query(uint8_t *b, bool edns)
{
    static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'E', 'x',
                                'A',  'm',  'p',  'l',  'e', 3, 'O', 'R', 'G', 0, 0, 1, 0, 1};
    memcpy(b, q, sizeof(q));
    size_t len = sizeof(q);
    if (edns) {
        b[11] = 1;
        const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
        memcpy(b + len, opt, sizeof(opt));
        len += sizeof(opt);
    }
    return len;
}

/* The upstream's reply to it: ID id, lowercase question, n A records, optional OPT. */
static size_t make_reply(uint8_t *b, uint16_t id, int n, bool edns)
{
    static const uint8_t h[] = {0,   0,   0x81, 0x80, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
                                'a', 'm', 'p',  'l',  'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1};
    memcpy(b, h, sizeof(h));
    b[0] = (uint8_t)(id >> 8);
    b[1] = (uint8_t)id;
    size_t len = sizeof(h);
    for (int i = 0; i < n; i++) {
        const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, (uint8_t)i};
        memcpy(b + len, rr, sizeof(rr));
        len += sizeof(rr);
    }
    b[7] = (uint8_t)n;
    if (edns) {
        b[11] = 1;
        const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
        memcpy(b + len, opt, sizeof(opt));
        len += sizeof(opt);
    }
    return len;
}

START_TEST(matches_only_the_right_reply)
{
    uint8_t qb[64], rb[512];
    cdns_query_t q;
    ck_assert_int_eq(cdns_query_parse(qb, make_query(qb, false), &q), CDNS_QUERY_OK);
    size_t rl = make_reply(rb, 0xbeef, 1, false);
    ck_assert(cdns_msg_reply_matches(rb, rl, 0xbeef, &q));
    ck_assert(!cdns_msg_reply_matches(rb, rl, 0xbeee, &q)); /* wrong ID */
    rb[2] &= 0x7f;                                          /* QR clear: a query, not a reply */
    ck_assert(!cdns_msg_reply_matches(rb, rl, 0xbeef, &q));
    rb[2] |= 0x80;
    rb[14] = 'y'; /* another name */
    ck_assert(!cdns_msg_reply_matches(rb, rl, 0xbeef, &q));
    rb[14] = 'x';
    rb[26] = 28; /* another type */
    ck_assert(!cdns_msg_reply_matches(rb, rl, 0xbeef, &q));
    rb[26] = 1;
    ck_assert(!cdns_msg_reply_matches(rb, 20, 0xbeef, &q)); /* cut short */
    ck_assert(cdns_msg_reply_matches(rb, rl, 0xbeef, &q));
}
END_TEST

START_TEST(raw_restores_id_and_case)
{
    uint8_t qb[64], rb[512], out[4096];
    cdns_query_t q;
    cdns_msg_t m;
    ck_assert_int_eq(cdns_query_parse(qb, make_query(qb, true), &q), CDNS_QUERY_OK);
    cdns_msg_begin(&m, out, sizeof(out), &q, false);
    size_t rl = make_reply(rb, 0xbeef, 2, true);
    ck_assert_int_eq(cdns_msg_set_raw(&m, rb, rl, &q), CDNS_OK);
    ck_assert_uint_eq(m.count[CDNS_SEC_ANSWER], 2);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_eq(len, rl);
    ck_assert_uint_eq(out[0], 0x12);
    ck_assert_uint_eq(out[1], 0x34);
    ck_assert_mem_eq(out + 12, "\7ExAmple\3ORG", 12);
    ck_assert_mem_eq(out + 2, rb + 2, 10);        /* flags and counts are the upstream's */
    ck_assert_mem_eq(out + 29, rb + 29, rl - 29); /* records and OPT as received */
}
END_TEST

START_TEST(raw_truncates_to_client_limit)
{
    uint8_t qb[64], rb[4096], out[4096];
    cdns_query_t q;
    cdns_msg_t m;
    ck_assert_int_eq(cdns_query_parse(qb, make_query(qb, false), &q), CDNS_QUERY_OK); /* 512 octets */
    cdns_msg_begin(&m, out, sizeof(out), &q, false);
    size_t rl = make_reply(rb, 0xbeef, 60, true); /* 29 + 60*16 + 11 */
    ck_assert_int_eq(cdns_msg_set_raw(&m, rb, rl, &q), CDNS_OK);
    size_t len = cdns_msg_finish(&m);
    ck_assert_uint_le(len, 512);
    ck_assert(out[2] & 0x02); /* TC */
    unsigned an = (unsigned)(out[6] << 8 | out[7]);
    ck_assert_uint_eq(an, (512 - 29 - 11) / 16); /* whole records that fit, OPT kept */
    ck_assert_uint_eq(out[11], 1);
    ck_assert_uint_eq(len, 29 + an * 16 + 11);
    ck_assert_uint_eq(out[len - 11 + 2], 41); /* the OPT record last */
    /* Over TCP nothing is cut. */
    cdns_msg_begin(&m, out, sizeof(out), &q, true);
    ck_assert_int_eq(cdns_msg_set_raw(&m, rb, rl, &q), CDNS_OK);
    ck_assert_uint_eq(cdns_msg_finish(&m), rl);
}
END_TEST

START_TEST(raw_too_big_for_buffer)
{
    uint8_t qb[64], rb[1024], out[300];
    cdns_query_t q;
    cdns_msg_t m;
    ck_assert_int_eq(cdns_query_parse(qb, make_query(qb, false), &q), CDNS_QUERY_OK);
    cdns_msg_begin(&m, out, sizeof(out), &q, false);
    ck_assert_int_eq(cdns_msg_set_raw(&m, rb, make_reply(rb, 1, 40, false), &q), CDNS_ENOSPC);
    ck_assert_int_eq(cdns_msg_set_raw(&m, rb, 5, &q), CDNS_EMALFORMED);
}
END_TEST

static Suite *raw_suite(void)
{
    Suite *s = suite_create("msg_raw");
    TCase *tc = tcase_create("raw");
    tcase_add_test(tc, matches_only_the_right_reply);
    tcase_add_test(tc, raw_restores_id_and_case);
    tcase_add_test(tc, raw_truncates_to_client_limit);
    tcase_add_test(tc, raw_too_big_for_buffer);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(raw_suite)
