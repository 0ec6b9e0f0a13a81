/* SPDX-License-Identifier: MIT */
/* Unit tests of src/pipeline with the small plugins: routing by longest zone, REFUSED for
 * unserved names and non-IN classes, FORMERR/NOTIMP/BADVERS, SERVFAIL at the end of the chain,
 * chain order by plugins.def, whoami's answer, loadbalance's shuffle, log's format, and the
 * Corefile errors the pipeline reports (unknown/unsupported directive, duplicate zone). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cdns/config.h"
#include "cdns/pipeline.h"
#include "check_main.h"

size_t cdns_log__format(const char *fmt, const cdns_req_t *req, char *out, size_t cap);

static cdns_corefile_t *cf;
static cdns_pipeline_t *pl;
static uint8_t outbuf[CDNS_REQ_OUT_CAP];

static int build(const char *text, cdns_diag_t *diag)
{
    memset(diag, 0, sizeof(*diag));
    cf = NULL;
    pl = NULL;
    int rc = cdns_corefile_parse(text, strlen(text), "Corefile", &cf, diag);
    if (rc != CDNS_OK)
        return rc;
    cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 2};
    return cdns_pipeline_new(cf, &o, &pl, diag);
}

static void teardown(void)
{
    cdns_pipeline_free(pl);
    cdns_corefile_free(cf);
    pl = NULL;
    cf = NULL;
}

/* A query packet for name (text) and type; returns its length. */
static size_t make_query(uint8_t *pkt, const char *name, uint16_t type, uint16_t qclass, uint16_t flags)
{
    memset(pkt, 0, 12);
    pkt[0] = 0x12;
    pkt[1] = 0x34;
    pkt[2] = (uint8_t)(flags >> 8);
    pkt[3] = (uint8_t)flags;
    pkt[5] = 1;
    size_t len = 0;
    ck_assert_int_eq(cdns_dname_from_str(name, NULL, pkt + 12, &len), CDNS_OK);
    size_t off = 12 + len;
    pkt[off++] = (uint8_t)(type >> 8);
    pkt[off++] = (uint8_t)type;
    pkt[off++] = (uint8_t)(qclass >> 8);
    pkt[off++] = (uint8_t)qclass;
    return off;
}

static cdns_req_t *serve(const uint8_t *pkt, size_t len, int li)
{
    static cdns_req_t req;
    static cdns_worker_t w = {.id = 1, .loop = NULL};
    memset(&req, 0, sizeof(req));
    struct sockaddr_in *sin = (struct sockaddr_in *)&req.client;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(40000);
    inet_pton(AF_INET, "10.1.2.3", &sin->sin_addr);
    req.wire = pkt;
    req.wire_len = len;
    req.out = outbuf;
    req.worker = &w;
    ck_assert_int_eq(cdns_pipeline_serve(pl, li, &req), CDNS_DONE);
    return &req;
}

static unsigned rcode_of(const cdns_req_t *r)
{
    ck_assert_uint_ge(r->out_len, 12);
    return r->out[3] & 0xf;
}

static unsigned count(const cdns_req_t *r, int sec)
{
    return (unsigned)(r->out[6 + 2 * sec] << 8 | r->out[7 + 2 * sec]);
}

START_TEST(routes_longest_zone_and_refuses_others)
{
    cdns_diag_t d;
    ck_assert_int_eq(build("example.org:1053 {\n whoami\n}\nsub.example.org:1053 {\n log\n}\n", &d), CDNS_OK);
    size_t n;
    const cdns_listener_t *ls = cdns_pipeline_listeners(pl, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ls[0].port, 1053);
    uint8_t pkt[512];
    /* example.org → whoami answers */
    cdns_req_t *r = serve(pkt, make_query(pkt, "www.Example.org", CDNS_T_A, CDNS_C_IN, CDNS_F_RD), 0);
    ck_assert_uint_eq(rcode_of(r), CDNS_RCODE_NOERROR);
    ck_assert_str_eq(r->answered_by, "whoami");
    ck_assert_uint_eq(count(r, 2), 2); /* A + SRV in ADDITIONAL */
    ck_assert(r->out[2] & 0x04);       /* AA */
    ck_assert(r->out[2] & 0x01);       /* RD copied */
    /* sub.example.org routes to the longer zone, whose chain has only log: SERVFAIL */
    r = serve(pkt, make_query(pkt, "a.sub.example.org", CDNS_T_A, CDNS_C_IN, 0), 0);
    ck_assert_uint_eq(rcode_of(r), CDNS_RCODE_SERVFAIL);
    ck_assert_str_eq(r->error, "no next plugin found");
    /* another name: REFUSED, question echoed */
    r = serve(pkt, make_query(pkt, "example.com", CDNS_T_A, CDNS_C_IN, 0), 0);
    ck_assert_uint_eq(rcode_of(r), CDNS_RCODE_REFUSED);
    ck_assert_uint_eq(r->out[5], 1); /* QDCOUNT: the question is echoed */
    /* class CH: REFUSED as CoreDNS without the chaos plugin */
    r = serve(pkt, make_query(pkt, "www.example.org", CDNS_T_A, CDNS_C_CH, 0), 0);
    ck_assert_uint_eq(rcode_of(r), CDNS_RCODE_REFUSED);
    teardown();
}
END_TEST

START_TEST(malformed_and_opcodes)
{
    cdns_diag_t d;
    ck_assert_int_eq(build(".:53 {\n whoami\n}\n", &d), CDNS_OK);
    uint8_t pkt[512];
    size_t len = make_query(pkt, "example.org", CDNS_T_A, CDNS_C_IN, 0);
    /* QR=1 is never answered */
    pkt[2] |= 0x80;
    ck_assert_uint_eq(serve(pkt, len, 0)->out_len, 0);
    /* opcode 2 (STATUS) → NOTIMP */
    len = make_query(pkt, "example.org", CDNS_T_A, CDNS_C_IN, 2u << 11);
    ck_assert_uint_eq(rcode_of(serve(pkt, len, 0)), CDNS_RCODE_NOTIMP);
    /* QDCOUNT 0 → FORMERR */
    len = make_query(pkt, "example.org", CDNS_T_A, CDNS_C_IN, 0);
    pkt[5] = 0;
    ck_assert_uint_eq(rcode_of(serve(pkt, 12, 0)), CDNS_RCODE_FORMERR);
    /* shorter than a header: dropped */
    ck_assert_uint_eq(serve(pkt, 5, 0)->out_len, 0);
    teardown();
}
END_TEST

START_TEST(setup_errors_name_the_place)
{
    cdns_diag_t d;
    ck_assert_int_eq(build(".:53 {\n whoami\n foo bar\n}\n", &d), CDNS_EINVAL);
    ck_assert_str_eq(d.msg, "Corefile:3: unknown directive 'foo'");
    teardown();
    ck_assert_int_eq(build(".:53 {\n rewrite name a b\n}\n", &d), CDNS_EINVAL);
    ck_assert_str_eq(d.msg, "Corefile:2: directive 'rewrite' is not supported by this build");
    teardown();
    ck_assert_int_eq(build(".:53 {\n whoami\n}\n.:53 {\n whoami\n}\n", &d), CDNS_EINVAL);
    ck_assert_msg(strstr(d.msg, "Corefile:4: cannot serve dns://.:53 - it is already defined") != NULL, "%s", d.msg);
    teardown();
    ck_assert_int_eq(build(".:53 {\n whoami\n whoami\n}\n", &d), CDNS_EINVAL);
    ck_assert_msg(strstr(d.msg, "Corefile:3:") == d.msg, "%s", d.msg);
    teardown();
    ck_assert_int_eq(build(".:53 {\n bind 127.0.0.1 eth0\n whoami\n}\n", &d), CDNS_EINVAL);
    ck_assert_msg(strstr(d.msg, "Corefile:2: plugin/bind: not a valid IP address: 'eth0'") == d.msg, "%s", d.msg);
    teardown();
}
END_TEST

START_TEST(bind_makes_listeners)
{
    cdns_diag_t d;
    ck_assert_int_eq(build(".:1053 {\n bind 127.0.0.1 ::1\n whoami\n}\nexample.org:1054 {\n whoami\n}\n", &d), CDNS_OK);
    size_t n;
    const cdns_listener_t *ls = cdns_pipeline_listeners(pl, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(ls[0].addr, "127.0.0.1");
    ck_assert_str_eq(ls[1].addr, "::1");
    ck_assert_str_eq(ls[2].addr, "");
    ck_assert_int_eq(cdns_pipeline_listener_index(pl, "::1", 1053), 1);
    ck_assert_int_eq(cdns_pipeline_listener_index(pl, "", 1053), -1);
    teardown();
}
END_TEST

START_TEST(log_common_format)
{
    cdns_diag_t d;
    ck_assert_int_eq(build(".:53 {\n whoami\n}\n", &d), CDNS_OK);
    uint8_t pkt[512];
    cdns_req_t *r = serve(pkt, make_query(pkt, "Who.Example.org", CDNS_T_AAAA, CDNS_C_IN, CDNS_F_RD), 0);
    char line[512];
    cdns_log__format("{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} "
                     "{>rflags} {rsize}",
                     r, line, sizeof(line));
    char want[256];
    snprintf(want, sizeof(want),
             "10.1.2.3:40000 - 4660 \"AAAA IN Who.Example.org. udp 33 false 512\" NOERROR qr,aa,rd %zu", r->out_len);
    ck_assert_str_eq(line, want);
    teardown();
}
END_TEST

static Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, routes_longest_zone_and_refuses_others);
    tcase_add_test(tc, malformed_and_opcodes);
    tcase_add_test(tc, setup_errors_name_the_place);
    tcase_add_test(tc, bind_makes_listeners);
    tcase_add_test(tc, log_common_format);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(pipeline_suite)
