/* SPDX-License-Identifier: MIT */
/* Unit tests of src/plugins/autopath through the pipeline, with a resolv.conf search path and
 * the hosts plugin answering the candidates: the question comes back exactly as the client
 * wrote it (letter case included, as 0x20-randomising resolvers require) whether the first
 * candidate answers or a later one does (then with a CNAME to it). Found by fuzz_query. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdns/config.h"
#include "cdns/pipeline.h"
#include "check_main.h"

static cdns_corefile_t *cf;
static cdns_pipeline_t *pl;
static uint8_t outbuf[CDNS_REQ_OUT_CAP];
static char resolv[64];

static void build(void)
{
    char text[1024];
    cdns_diag_t diag = {{0}};
    snprintf(resolv, sizeof(resolv), "/tmp/cdns-test-autopath-XXXXXX");
    int fd = mkstemp(resolv);
    ck_assert_int_ge(fd, 0);
    static const char rc[] = "search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n";
    ck_assert_int_eq(write(fd, rc, sizeof(rc) - 1), (ssize_t)(sizeof(rc) - 1));
    close(fd);
    int n = snprintf(text, sizeof(text),
                     "cluster.local:53 {\n"
                     "    autopath %s\n"
                     "    hosts {\n"
                     "        10.96.0.1 kubernetes.default.svc.cluster.local\n"
                     "        10.0.0.9 web.cluster.local\n"
                     "    }\n"
                     "}\n",
                     resolv);
    ck_assert_int_eq(cdns_corefile_parse(text, (size_t)n, "Corefile", &cf, &diag), CDNS_OK);
    cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 1};
    int err = cdns_pipeline_new(cf, &o, &pl, &diag);
    unlink(resolv); /* read at setup: gone before any assertion can end the test */
    ck_assert_msg(err == CDNS_OK, "%s", diag.msg);
}

static void teardown(void)
{
    cdns_pipeline_free(pl);
    cdns_corefile_free(cf);
    pl = NULL;
    cf = NULL;
}

static size_t make_query(uint8_t *pkt, const char *name, uint16_t type)
{
    memset(pkt, 0, 12);
    pkt[0] = 0xab;
    pkt[1] = 0xcd;
    pkt[2] = 0x01; /* RD */
    pkt[5] = 1;
    size_t len = 0;
    ck_assert_int_eq(cdns_dname_from_str(name, NULL, pkt + 12, &len), CDNS_OK);
    size_t off = 12 + len;
    pkt[off++] = (uint8_t)(type >> 8);
    pkt[off++] = (uint8_t)type;
    pkt[off++] = 0;
    pkt[off++] = CDNS_C_IN;
    return off;
}

static cdns_req_t *serve(const uint8_t *pkt, size_t len)
{
    static cdns_req_t req;
    static cdns_worker_t w = {.id = 0, .loop = NULL};
    memset(&req, 0, sizeof(req));
    struct sockaddr_in *sin = (struct sockaddr_in *)&req.client;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(40000);
    inet_pton(AF_INET, "10.244.1.5", &sin->sin_addr);
    req.wire = pkt;
    req.wire_len = len;
    req.out = outbuf;
    req.worker = &w;
    ck_assert_int_eq(cdns_pipeline_serve(pl, 0, &req), CDNS_DONE);
    ck_assert_uint_ge(req.out_len, len);
    return &req;
}

static unsigned ancount(const cdns_req_t *r)
{
    return (unsigned)(r->out[6] << 8 | r->out[7]);
}

START_TEST(first_candidate_keeps_the_question_as_asked)
{
    build();
    uint8_t pkt[512];
    size_t len = make_query(pkt, "KuBeRnEtEs.Default.SVC.Cluster.Local.", CDNS_T_A);
    cdns_req_t *r = serve(pkt, len);
    ck_assert_uint_eq(r->out[3] & 0xf, CDNS_RCODE_NOERROR);
    ck_assert_uint_eq(ancount(r), 1);
    /* The whole question section, octet for octet. */
    ck_assert_mem_eq(r->out + 12, pkt + 12, len - 12);
    teardown();
}
END_TEST

START_TEST(later_candidate_answers_under_the_question_as_asked)
{
    build();
    uint8_t pkt[512];
    size_t len = make_query(pkt, "WeB.DeFault.Svc.Cluster.Local.", CDNS_T_A);
    cdns_req_t *r = serve(pkt, len);
    ck_assert_uint_eq(r->out[3] & 0xf, CDNS_RCODE_NOERROR);
    ck_assert_mem_eq(r->out + 12, pkt + 12, len - 12);
    /* CNAME to web.cluster.local, then its A record. */
    ck_assert_uint_eq(ancount(r), 2);
    size_t off = len;
    ck_assert_uint_eq(r->out[off], 0xc0); /* owner: pointer to the question */
    ck_assert_uint_eq(r->out[off + 2] << 8 | r->out[off + 3], CDNS_T_CNAME);
    teardown();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("autopath");
    TCase *tc = tcase_create("case");
    tcase_add_test(tc, first_candidate_keeps_the_question_as_asked);
    tcase_add_test(tc, later_candidate_answers_under_the_question_as_asked);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(suite)
