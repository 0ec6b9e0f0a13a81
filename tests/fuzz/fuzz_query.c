/* SPDX-License-Identifier: MIT */
/* fuzz_query.c — the query path end to end, packet in → answer out, without sockets: a fixed
 * Corefile (kubernetes over the committed cluster in tests/fuzz/data/cluster.json, loadbalance,
 * autopath, errors, whoami) set up and started as main() does, then cdns_pipeline_serve() for
 * each input over UDP and over TCP, as a worker thread calls it.
 *
 * Every response must fit the transport's limit, echo the query's ID with QR set, and parse
 * back with ldns (counts, compression pointers, rdata lengths). Packets the parser drops get
 * no response and every other packet gets one. Single-threaded: the fuzzer's thread is both
 * the main thread (setup) and the one worker; everything set up lives for the process.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ldns/ldns.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cdns/config.h"
#include "cdns/pipeline.h"
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Two kubernetes zones with different pod modes, so both the verified and the synthesized
 * (insecure) pod answers are reached; "." catches every other name with whoami. */
static const char corefile_fmt[] = "cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {\n"
                                   "    errors\n"
                                   "    loadbalance\n"
                                   "    autopath @kubernetes\n"
                                   "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                                   "        objects %s\n"
                                   "        pods verified\n"
                                   "        endpoint_pod_names\n"
                                   "        ttl 30\n"
                                   "    }\n"
                                   "}\n"
                                   "insecure.local:53 {\n"
                                   "    kubernetes insecure.local {\n"
                                   "        objects %s\n"
                                   "        pods insecure\n"
                                   "        fallthrough\n"
                                   "    }\n"
                                   "    whoami\n"
                                   "}\n"
                                   ".:53 {\n"
                                   "    whoami\n"
                                   "}\n";

static cdns_corefile_t *cf;
static cdns_pipeline_t *pl;
static uv_loop_t loop;
static uint8_t out[CDNS_REQ_OUT_CAP];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[PATH_MAX], text[4096];
    cdns_diag_t diag = {{0}};
    cdns_log_set_level(CDNS_LOG_ERROR);
    if (cdns_fuzz_data_path("cluster.json", path, sizeof(path)) != 0) {
        fprintf(stderr, "fuzz_query: cannot find tests/fuzz/data/cluster.json\n");
        abort();
    }
    int n = snprintf(text, sizeof(text), corefile_fmt, path, path);
    assert(n > 0 && (size_t)n < sizeof(text));
    cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 1};
    if (cdns_corefile_parse(text, (size_t)n, "/nonexistent-fuzz/Corefile", &cf, &diag) != CDNS_OK ||
        cdns_pipeline_new(cf, &o, &pl, &diag) != CDNS_OK || uv_loop_init(&loop) != 0 ||
        cdns_pipeline_start(pl, &loop, &diag) != CDNS_OK) {
        fprintf(stderr, "fuzz_query: setup failed: %s\n", diag.msg);
        abort();
    }
    /* One turn of the loop runs what start() scheduled at once (autopath's first table). */
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}

/* Prints the response ldns read, then aborts: the fuzzer's crash report shows what was wrong. */
static void fail(const char *why, ldns_pkt *p)
{
    fprintf(stderr, "fuzz_query: %s\n", why);
    if (p != NULL)
        ldns_pkt_print(stderr, p);
    abort();
}

static void check_response(const uint8_t *pkt, size_t size, const cdns_req_t *req, bool tcp)
{
    cdns_query_t q;
    cdns_query_status_t st = cdns_query_parse(pkt, size, &q);
    if (st == CDNS_QUERY_DROP) {
        /* QR=1 or no header: never answered (no reflection loops). */
        assert(req->out_len == 0);
        return;
    }
    assert(req->out_len >= CDNS_DNS_HDR_LEN);
    assert(req->out_len <= req->msg.limit);
    size_t udp_max = CDNS_UDP_MIN_SIZE;
    if (st == CDNS_QUERY_OK && q.has_edns && q.edns_udp_size > udp_max)
        udp_max = q.edns_udp_size;
    assert(req->out_len <= (tcp ? 65535u : udp_max));
    assert(out[0] == pkt[0] && out[1] == pkt[1]);
    assert(out[2] & 0x80);
    ldns_pkt *p = NULL;
    ldns_status ls = ldns_wire2pkt(&p, out, req->out_len);
    if (ls != LDNS_STATUS_OK)
        fail(ldns_get_errorstr_by_id(ls), NULL);
    /* An answered question comes back as asked (letter case included). */
    if (st == CDNS_QUERY_OK && ldns_pkt_qdcount(p) == 1) {
        if (req->out_len < CDNS_DNS_HDR_LEN + (size_t)q.question_len ||
            memcmp(out + CDNS_DNS_HDR_LEN, pkt + CDNS_DNS_HDR_LEN, q.question_len) != 0)
            fail("the question is not echoed as asked", p);
    }
    ldns_pkt_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdns_worker_t w = {.id = 0, .loop = NULL};
    static cdns_req_t req;
    for (int tcp = 0; tcp < 2; tcp++) {
        memset(&req, 0, sizeof(req));
        /* The client is pod web-0 of namespace default, so autopath applies its search path. */
        struct sockaddr_in *sin = (struct sockaddr_in *)&req.client;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(40000);
        inet_pton(AF_INET, "10.244.1.5", &sin->sin_addr);
        struct sockaddr_in *lin = (struct sockaddr_in *)&req.local;
        lin->sin_family = AF_INET;
        lin->sin_port = htons(53);
        inet_pton(AF_INET, "10.96.0.10", &lin->sin_addr);
        req.wire = data;
        req.wire_len = size;
        req.tcp = tcp != 0;
        req.worker = &w;
        req.out = out;
        /* Nothing in this chain parks a request (no forward): the answer is synchronous. */
        cdns_verdict_t v = cdns_pipeline_serve(pl, 0, &req);
        assert(v == CDNS_DONE);
        check_response(data, size, &req, tcp != 0);
    }
    return 0;
}
