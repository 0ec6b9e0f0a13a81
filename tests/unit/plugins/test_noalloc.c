/* SPDX-License-Identifier: MIT */
/* test_noalloc.c — the whole answer path allocates nothing and takes no lock: thousands of
 * queries of every cluster-name kind (ClusterIP, dual-stack, SRV with additionals, headless,
 * StatefulSet names, ExternalName, pods insecure, PTR, NXDOMAIN, NODATA, truncated answers,
 * REFUSED, FORMERR) go through cdns_pipeline_serve() with the demo's Corefile and snapshot,
 * while every malloc/calloc/realloc/free and pthread_mutex_lock of the process is counted.
 *
 * The allocator and the mutex entry points are defined here and forwarded to glibc, so every
 * caller in the binary reaches them (glibc 2.36 has no malloc hooks). Under AddressSanitizer,
 * which owns malloc, the sanitizer's hook interface counts allocations instead. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cdns/config.h"
#include "cdns/pipeline.h"
#include "check_main.h"

#include "alloc_count.h"

static const char *const corefile_text = "cluster.local:1053 in-addr.arpa:1053 ip6.arpa:1053 {\n"
                                         "    loadbalance\n"
                                         "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                                         "        objects ../../zones/cluster.json\n"
                                         "        pods insecure\n"
                                         "        ttl 30\n"
                                         "    }\n"
                                         "}\n";

static size_t make_query(uint8_t *pkt, const char *name, uint16_t type, bool edns)
{
    memset(pkt, 0, 12);
    pkt[0] = 0xbe;
    pkt[1] = 0xef;
    pkt[2] = 0x01;
    pkt[5] = 1;
    size_t len = 0;
    ck_assert_int_eq(cdns_dname_from_str(name, NULL, pkt + 12, &len), CDNS_OK);
    size_t off = 12 + len;
    pkt[off++] = (uint8_t)(type >> 8);
    pkt[off++] = (uint8_t)type;
    pkt[off++] = 0;
    pkt[off++] = 1;
    if (edns) {
        pkt[11] = 1;
        static const uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
        memcpy(pkt + off, opt, sizeof(opt));
        off += sizeof(opt);
    }
    return off;
}

START_TEST(pipeline_answers_without_malloc_or_lock)
{
    install_hooks();
    cdns_diag_t diag = {{0}};
    cdns_corefile_t *cf = NULL;
    /* The Corefile "lives" in tests/unit so the objects path reaches zones/. */
    ck_assert_int_eq(cdns_corefile_parse(corefile_text, strlen(corefile_text), "tests/unit/Corefile", &cf, &diag),
                     CDNS_OK);
    cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 1};
    cdns_pipeline_t *pl = NULL;
    ck_assert_msg(cdns_pipeline_new(cf, &o, &pl, &diag) == CDNS_OK, "%s", diag.msg);
    uv_loop_t loop;
    uv_loop_init(&loop);
    ck_assert_msg(cdns_pipeline_start(pl, &loop, &diag) == CDNS_OK, "%s", diag.msg);
    uv_run(&loop, UV_RUN_NOWAIT);

    static const struct {
        const char *name;
        uint16_t type;
        bool edns;
        unsigned rcode;
    } qs[] = {
        {"kubernetes.default.svc.cluster.local", CDNS_T_A, true, 0},
        {"KUBE-DNS.kube-system.svc.cluster.local", CDNS_T_A, false, 0},
        {"_dns._udp.kube-dns.kube-system.svc.cluster.local", CDNS_T_SRV, true, 0},
        {"kube-dns.kube-system.svc.cluster.local", CDNS_T_SRV, false, 0},
        {"web-0.nginx.default.svc.cluster.local", CDNS_T_A, false, 0},
        {"nginx.default.svc.cluster.local", CDNS_T_A, true, 0},
        {"10-244-1-5.default.pod.cluster.local", CDNS_T_A, false, 0},
        {"1.0.96.10.in-addr.arpa", CDNS_T_PTR, false, 0},
        {"dns-version.cluster.local", CDNS_T_TXT, false, 0},
        {"cluster.local", CDNS_T_SOA, false, 0},
        {"cluster.local", CDNS_T_NS, true, 0},
        {"nothere.default.svc.cluster.local", CDNS_T_A, false, 3},
        {"kubernetes.default.svc.cluster.local", CDNS_T_MX, false, 0},
        {"example.com", CDNS_T_A, false, 5},
    };
    uint8_t pkt[512];
    static uint8_t out[CDNS_REQ_OUT_CAP];
    static cdns_req_t req;
    cdns_worker_t w = {.id = 0, .loop = NULL};
    unsigned long answered = 0, wrong = 0;
    char first_wrong[128] = "";
    /* Check's assertions allocate (they report progress to the runner), so the loop only
     * records and the asserts come after it. */
    size_t lens[CDNS_ARRAY_LEN(qs)];
    uint8_t pkts[CDNS_ARRAY_LEN(qs)][512];
    for (size_t k = 0; k < CDNS_ARRAY_LEN(qs); k++)
        lens[k] = make_query(pkts[k], qs[k].name, qs[k].type, qs[k].edns);
    for (int round = 0; round < 2; round++) {
        /* Round 0 warms up (first-use initialisation in libc is not the answer path). */
        counting = round;
        for (int i = 0; i < 500; i++) {
            for (size_t k = 0; k < CDNS_ARRAY_LEN(qs); k++) {
                memset(&req, 0, sizeof(req));
                req.client.ss_family = AF_INET;
                req.wire = pkts[k];
                req.wire_len = lens[k];
                req.out = out;
                req.worker = &w;
                cdns_verdict_t v = cdns_pipeline_serve(pl, 0, &req);
                if (v != CDNS_DONE || req.out_len <= 12 || (out[3] & 0xf) != qs[k].rcode) {
                    if (wrong++ == 0)
                        snprintf(first_wrong, sizeof(first_wrong), "%s: verdict %d rcode %u", qs[k].name, v,
                                 out[3] & 0xf);
                }
                answered++;
            }
            /* a malformed packet too */
            memcpy(pkt, pkts[0], lens[0]);
            pkt[5] = 2;
            memset(&req, 0, sizeof(req));
            req.wire = pkt;
            req.wire_len = 40;
            req.out = out;
            req.worker = &w;
            cdns_pipeline_serve(pl, 0, &req);
        }
    }
    counting = 0;
    ck_assert_msg(wrong == 0, "%lu wrong answers, first: %s", wrong, first_wrong);
    ck_assert_uint_ge(answered, 14000);
    ck_assert_msg(allocs == 0, "%lu allocations on the answer path", allocs);
    ck_assert_msg(locks == 0, "%lu mutex locks on the answer path", locks);
    cdns_pipeline_stop(pl);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    cdns_pipeline_free(pl);
    cdns_corefile_free(cf);
}
END_TEST

static Suite *noalloc_suite(void)
{
    Suite *s = suite_create("noalloc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pipeline_answers_without_malloc_or_lock);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(noalloc_suite)
