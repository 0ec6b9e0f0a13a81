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

/* The demo's pipeline (corefile_text), started on loop with its snapshot loaded. */
static cdns_pipeline_t *demo_up(cdns_corefile_t **cf, uv_loop_t *loop)
{
    cdns_diag_t diag = {{0}};
    /* The Corefile "lives" in tests/unit so the objects path reaches zones/. */
    ck_assert_int_eq(cdns_corefile_parse(corefile_text, strlen(corefile_text), "tests/unit/Corefile", cf, &diag),
                     CDNS_OK);
    cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 1};
    cdns_pipeline_t *pl = NULL;
    ck_assert_msg(cdns_pipeline_new(*cf, &o, &pl, &diag) == CDNS_OK, "%s", diag.msg);
    uv_loop_init(loop);
    ck_assert_msg(cdns_pipeline_start(pl, loop, &diag) == CDNS_OK, "%s", diag.msg);
    uv_run(loop, UV_RUN_NOWAIT);
    return pl;
}

static void demo_down(cdns_pipeline_t *pl, cdns_corefile_t *cf, uv_loop_t *loop)
{
    cdns_pipeline_stop(pl);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    cdns_pipeline_free(pl);
    cdns_corefile_free(cf);
}

START_TEST(pipeline_answers_without_malloc_or_lock)
{
    install_hooks();
    cdns_corefile_t *cf = NULL;
    uv_loop_t loop;
    cdns_pipeline_t *pl = demo_up(&cf, &loop);

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
    demo_down(pl, cf, &loop);
}
END_TEST

/* A worker hands a received batch to cdns_pipeline_prefetch (parse, route, the kubernetes
 * plugin's prefetch hook) before serving it: serving the batch after that must write, octet
 * for octet, what serving each query alone writes (the malformed, the dropped, the refused and
 * the unrouted ones included, and on a listener index that does not exist), and allocate
 * nothing. */
#define BATCH 20
START_TEST(batch_prefetch_answers_as_serve)
{
    static const struct {
        const char *name;
        uint16_t type;
    } qs[] = {
        {"kubernetes.default.svc.cluster.local", CDNS_T_A},
        {"_dns._udp.kube-dns.kube-system.svc.cluster.local", CDNS_T_SRV},
        {"KUBE-DNS.kube-system.svc.cluster.local", CDNS_T_SRV},
        {"web-0.nginx.default.svc.cluster.local", CDNS_T_A},
        {"nginx.default.svc.cluster.local", CDNS_T_AAAA},
        {"10-244-1-5.default.pod.cluster.local", CDNS_T_A},
        {"1.0.96.10.in-addr.arpa", CDNS_T_PTR},
        {"nothere.default.svc.cluster.local", CDNS_T_A},
        {"cluster.local", CDNS_T_SOA},
        {"example.com", CDNS_T_A},
        {"kubernetes.default.svc.cluster.local", CDNS_T_A},
    };
    install_hooks();
    cdns_corefile_t *cf = NULL;
    uv_loop_t loop;
    cdns_pipeline_t *pl = demo_up(&cf, &loop);
    static uint8_t pkts[BATCH][512], outs[2][BATCH][CDNS_REQ_OUT_CAP];
    static cdns_req_t reqs[BATCH];
    size_t lens[BATCH], n = 0;
    for (size_t k = 0; k < CDNS_ARRAY_LEN(qs); k++, n++)
        lens[n] = make_query(pkts[n], qs[k].name, qs[k].type, k % 2 == 0);
    /* Two questions (FORMERR), a response (dropped: nothing sent), class CH (REFUSED), an
     * UPDATE (NOTIMP), a header alone (dropped). */
    lens[n] = make_query(pkts[n], "kubernetes.default.svc.cluster.local", CDNS_T_A, false);
    pkts[n++][5] = 2;
    lens[n] = make_query(pkts[n], "kubernetes.default.svc.cluster.local", CDNS_T_A, false);
    pkts[n++][2] |= 0x80;
    lens[n] = make_query(pkts[n], "kubernetes.default.svc.cluster.local", CDNS_T_A, false);
    pkts[n][lens[n] - 1] = 3;
    n++;
    lens[n] = make_query(pkts[n], "kubernetes.default.svc.cluster.local", CDNS_T_A, false);
    pkts[n++][2] |= 5 << 3;
    lens[n] = 12;
    make_query(pkts[n++], "kubernetes.default.svc.cluster.local", CDNS_T_A, false);
    cdns_worker_t w = {.id = 0, .loop = NULL};
    cdns_req_t *batch[BATCH];
    size_t out_len[2][BATCH];
    unsigned long differ = 0;
    char first[160] = "";
    int lis[] = {-1, 7, 0}; /* 0, the one that answers, last: the checks after the loop read it */
    for (size_t l = 0; l < CDNS_ARRAY_LEN(lis); l++) {
        for (int round = 0; round < 3; round++) {
            /* 0: each alone, as TCP serves; 1 and 2: the batch, prefetched (2 counted). */
            counting = round == 2;
            for (size_t k = 0; k < n; k++) {
                cdns_req_t *r = &reqs[k];
                memset(r, 0, sizeof(*r));
                r->client.ss_family = AF_INET;
                r->wire = pkts[k];
                r->wire_len = lens[k];
                r->out = outs[round > 0][k];
                r->worker = &w;
                batch[k] = r;
                if (round == 0)
                    cdns_pipeline_serve(pl, lis[l], r);
            }
            if (round > 0) {
                cdns_pipeline_prefetch(pl, lis[l], batch, (unsigned)n);
                for (size_t k = 0; k < n; k++)
                    cdns_pipeline_serve(pl, lis[l], batch[k]);
            }
            for (size_t k = 0; k < n; k++)
                out_len[round > 0][k] = reqs[k].out_len;
            counting = 0;
            for (size_t k = 0; round > 0 && k < n; k++)
                if (out_len[0][k] != out_len[1][k] || memcmp(outs[0][k], outs[1][k], out_len[0][k]) != 0) {
                    if (differ++ == 0)
                        snprintf(first, sizeof(first), "listener %d, query %zu: %zu octets alone, %zu in a batch",
                                 lis[l], k, out_len[0][k], out_len[1][k]);
                }
        }
    }
    ck_assert_msg(differ == 0, "%lu answers differ, first: %s", differ, first);
    /* The batch really was answered: NOERROR with records, and nothing sent for the response. */
    ck_assert_uint_gt(out_len[1][0], 12);
    ck_assert_uint_eq(outs[1][0][3] & 0xf, CDNS_RCODE_NOERROR);
    ck_assert_uint_eq(out_len[1][CDNS_ARRAY_LEN(qs) + 1], 0);
    ck_assert_msg(allocs == 0, "%lu allocations on the batch path", allocs);
    ck_assert_msg(locks == 0, "%lu mutex locks on the batch path", locks);
    demo_down(pl, cf, &loop);
}
END_TEST

static Suite *noalloc_suite(void)
{
    Suite *s = suite_create("noalloc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pipeline_answers_without_malloc_or_lock);
    tcase_add_test(tc, batch_prefetch_answers_as_serve);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(noalloc_suite)
