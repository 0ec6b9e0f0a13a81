/* SPDX-License-Identifier: MIT */
/* test_cache.c — the cache plugin through cdns_pipeline_serve(), with the kubernetes plugin (the
 * demo cluster) behind it and an injected clock: hits and misses, TTL decay, negative entries,
 * keepttl, the client's ID and letter case, DO in the key, disable, CoreDNS's set-up errors,
 * the sharded table (eviction bound, flush), and a hit path without malloc or mutex. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cdns/cache.h"
#include "cdns/config.h"
#include "cdns/metrics.h"
#include "cdns/pipeline.h"
#include "check_main.h"
#include "plugins/cache/cache.h"

/* ------------------------------------------------------ allocation counting */
#include "alloc_count.h"

/* ------------------------------------------------------------- the clock */
static uint64_t fake_ns = 1000000000000ULL;
static uint64_t fake_mono(void)
{
    return fake_ns;
}
static uint64_t fake_real(void)
{
    return 1700000000;
}
static void advance_s(unsigned s)
{
    fake_ns += (uint64_t)s * 1000000000ULL;
}

/* --------------------------------------------------------------- harness */
typedef struct env {
    cdns_corefile_t *cf;
    cdns_pipeline_t *pl;
    uv_loop_t loop;
} env_t;

static void env_up(env_t *e, const char *corefile)
{
    cdns_clock_set(fake_mono, fake_real);
    cdns_diag_t diag = {{0}};
    ck_assert_msg(cdns_corefile_parse(corefile, strlen(corefile), "tests/unit/Corefile", &e->cf, &diag) == CDNS_OK,
                  "%s", diag.msg);
    cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 1};
    ck_assert_msg(cdns_pipeline_new(e->cf, &o, &e->pl, &diag) == CDNS_OK, "%s", diag.msg);
    uv_loop_init(&e->loop);
    ck_assert_msg(cdns_pipeline_start(e->pl, &e->loop, &diag) == CDNS_OK, "%s", diag.msg);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void env_down(env_t *e)
{
    cdns_pipeline_stop(e->pl);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_loop_close(&e->loop);
    cdns_pipeline_free(e->pl);
    cdns_corefile_free(e->cf);
    cdns_clock_set(NULL, NULL);
}

typedef struct resp {
    cdns_verdict_t v;
    const char *by;
    unsigned rcode, flags, an, ns;
    uint32_t ttl; /* of the first record (answer, else authority) */
    uint8_t out[CDNS_REQ_OUT_CAP];
    size_t len;
} resp_t;

static resp_t R;
static uint8_t qpkt[512];

static size_t make_query(uint8_t *pkt, const char *name, uint16_t type, uint16_t id, bool edns, bool dnssec_ok)
{
    memset(pkt, 0, 12);
    pkt[0] = (uint8_t)(id >> 8);
    pkt[1] = (uint8_t)id;
    pkt[2] = 0x01;
    pkt[5] = 1;
    size_t len = 0;
    /* No Check assertion here: they allocate, and the no-allocation test calls this. */
    if (cdns_dname_from_str(name, NULL, pkt + 12, &len) != CDNS_OK)
        abort();
    size_t off = 12 + len;
    pkt[off++] = (uint8_t)(type >> 8);
    pkt[off++] = (uint8_t)type;
    pkt[off++] = 0;
    pkt[off++] = 1;
    if (edns) {
        pkt[11] = 1;
        uint8_t opt[] = {0, 0, 41, 0x10, 0, 0, 0, dnssec_ok ? 0x80 : 0, 0, 0, 0};
        memcpy(pkt + off, opt, sizeof(opt));
        off += sizeof(opt);
    }
    return off;
}

static size_t skip(const uint8_t *b, size_t off)
{
    while (b[off] && (b[off] & 0xc0) != 0xc0)
        off += (size_t)b[off] + 1;
    return off + ((b[off] & 0xc0) == 0xc0 ? 2 : 1);
}

/* The request's receive time (its batch's, as udp.c stamps it); 0: not stamped. */
static uint64_t ask_start_ns;

static resp_t *ask_full(env_t *e, const char *name, uint16_t type, uint16_t id, bool edns, bool dnssec_ok)
{
    static cdns_req_t req;
    static cdns_worker_t w = {.id = 0};
    memset(&req, 0, sizeof(req));
    req.start_ns = ask_start_ns;
    req.client.ss_family = AF_INET;
    req.wire = qpkt;
    req.wire_len = make_query(qpkt, name, type, id, edns, dnssec_ok);
    req.out = R.out;
    req.worker = &w;
    R.v = cdns_pipeline_serve(e->pl, 0, &req);
    R.by = req.answered_by;
    R.len = req.out_len;
    R.flags = (unsigned)(R.out[2] << 8 | R.out[3]);
    R.rcode = R.out[3] & 0xf;
    R.an = (unsigned)(R.out[6] << 8 | R.out[7]);
    R.ns = (unsigned)(R.out[8] << 8 | R.out[9]);
    R.ttl = 0;
    if (R.an + R.ns > 0) {
        size_t off = skip(R.out, 12) + 4;
        off = skip(R.out, off);
        R.ttl = (uint32_t)R.out[off + 4] << 24 | (uint32_t)R.out[off + 5] << 16 | (uint32_t)R.out[off + 6] << 8 |
                R.out[off + 7];
    }
    return &R;
}

static resp_t *ask(env_t *e, const char *name, uint16_t type)
{
    return ask_full(e, name, type, 0x1234, false, false);
}

#define KUBE_BLOCK                                                                                                     \
    "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"                                                           \
    "        objects ../../zones/cluster.json\n"                                                                       \
    "        pods insecure\n"                                                                                          \
    "        ttl 20\n"                                                                                                 \
    "    }\n"

#define SVC "kubernetes.default.svc.cluster.local"

START_TEST(hit_miss_and_ttl_decay)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache 30\n" KUBE_BLOCK "}\n");
    resp_t *r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes");
    ck_assert_uint_eq(r->an, 1);
    ck_assert_uint_eq(r->ttl, 20);
    advance_s(7);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->rcode, 0);
    ck_assert_uint_eq(r->an, 1);
    ck_assert_uint_eq(r->ttl, 13);
    ck_assert_msg(r->flags & CDNS_F_AA, "CoreDNS sets AA on cached answers");
    advance_s(12);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->ttl, 1);
    advance_s(1);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes"); /* expired: asked again */
    ck_assert_uint_eq(r->ttl, 20);
    env_down(&e);
}
END_TEST

/* A hit ages the entry to the time its query's batch was received, not to a clock read per
 * query; a batch received before another worker stored the entry sees it whole, not expired. */
START_TEST(age_from_the_batch_time)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache 30\n" KUBE_BLOCK "}\n");
    ck_assert_str_eq(ask(&e, SVC, CDNS_T_A)->by, "kubernetes");
    ask_start_ns = fake_ns - 2000000000ULL;
    resp_t *r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->ttl, 20);
    advance_s(7);
    ask_start_ns = fake_ns - 3000000000ULL;
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->ttl, 16);
    ask_start_ns = 0;
    env_down(&e);
}
END_TEST

START_TEST(ttl_capped_by_cache_ttl_and_min)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache 10\n" KUBE_BLOCK "}\n");
    /* CoreDNS rewrites the TTLs of the response that is stored: 20 capped to 10. */
    resp_t *r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes");
    ck_assert_uint_eq(r->ttl, 10);
    advance_s(3);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->ttl, 7);
    env_down(&e);
    env_up(&e, "cluster.local:1053 {\n    cache {\n        success 2048 60 40\n    }\n" KUBE_BLOCK "}\n");
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_uint_eq(r->ttl, 40); /* MINTTL raises 20 to 40 */
    advance_s(30);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->ttl, 10);
    env_down(&e);
}
END_TEST

START_TEST(negative_entries)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache {\n        denial 2048 8\n    }\n" KUBE_BLOCK "}\n");
    resp_t *r = ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes");
    ck_assert_uint_eq(r->rcode, CDNS_RCODE_NXDOMAIN);
    ck_assert_uint_eq(r->ns, 1);
    ck_assert_uint_eq(r->ttl, 8); /* the SOA's TTL (20) capped by the denial TTL */
    advance_s(2);
    r = ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->rcode, CDNS_RCODE_NXDOMAIN);
    ck_assert_uint_eq(r->ns, 1);
    ck_assert_uint_eq(r->ttl, 6);
    /* NODATA: a name that exists, a type it lacks; keyed apart from the NXDOMAIN and the A. */
    r = ask(&e, SVC, CDNS_T_MX);
    ck_assert_str_eq(r->by, "kubernetes");
    ck_assert_uint_eq(r->rcode, 0);
    ck_assert_uint_eq(r->an, 0);
    r = ask(&e, SVC, CDNS_T_MX);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->an, 0);
    ck_assert_uint_eq(r->ns, 1);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes");
    ck_assert_uint_eq(r->an, 1);
    advance_s(7);
    r = ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes");
    env_down(&e);
}
END_TEST

START_TEST(keepttl_keeps_ttl)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache 30 {\n        keepttl\n    }\n" KUBE_BLOCK "}\n");
    ask(&e, SVC, CDNS_T_A);
    advance_s(15);
    resp_t *r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->ttl, 20);
    advance_s(5);
    r = ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(r->by, "kubernetes");
    env_down(&e);
}
END_TEST

START_TEST(id_and_case_from_client_do_in_key)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache\n" KUBE_BLOCK "}\n");
    ask_full(&e, SVC, CDNS_T_A, 1, false, false);
    resp_t *r = ask_full(&e, "KuBeRnEtEs.DEFAULT.svc.Cluster.Local", CDNS_T_A, 0xabcd, false, false);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->out[0], 0xab);
    ck_assert_uint_eq(r->out[1], 0xcd);
    size_t qlen = skip(qpkt, 12) - 12;
    ck_assert_msg(memcmp(r->out + 12, qpkt + 12, qlen) == 0, "question case not the client's");
    /* The answer's owner points at the question, so it carries the client's case too. */
    ck_assert_uint_eq(r->out[12 + qlen + 4], 0xc0);
    /* DO is part of the key: a DO query is a miss first. */
    r = ask_full(&e, SVC, CDNS_T_A, 2, true, true);
    ck_assert_str_eq(r->by, "kubernetes");
    r = ask_full(&e, SVC, CDNS_T_A, 3, true, true);
    ck_assert_str_eq(r->by, "cache");
    /* EDNS without DO shares the non-DO entry, and gets its OPT back. */
    r = ask_full(&e, SVC, CDNS_T_A, 4, true, false);
    ck_assert_str_eq(r->by, "cache");
    ck_assert_uint_eq(r->out[11], 1);
    env_down(&e);
}
END_TEST

START_TEST(disable_and_zones)
{
    env_t e;
    env_up(&e,
           "cluster.local:1053 {\n    cache {\n        disable success default.svc.cluster.local\n    }\n" KUBE_BLOCK
           "}\n");
    ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(ask(&e, SVC, CDNS_T_A)->by, "kubernetes");
    ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A);
    ck_assert_str_eq(ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A)->by, "cache");
    ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A);
    ck_assert_str_eq(ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A)->by, "cache");
    env_down(&e);
    /* Only the zones given. */
    env_up(&e, "cluster.local:1053 {\n    cache 30 kube-system.svc.cluster.local\n" KUBE_BLOCK "}\n");
    ask(&e, SVC, CDNS_T_A);
    ck_assert_str_eq(ask(&e, SVC, CDNS_T_A)->by, "kubernetes");
    ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A);
    ck_assert_str_eq(ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A)->by, "cache");
    env_down(&e);
}
END_TEST

START_TEST(metrics_counted)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache\n" KUBE_BLOCK "}\n");
    ask(&e, SVC, CDNS_T_A);
    ask(&e, SVC, CDNS_T_A);
    ask(&e, SVC, CDNS_T_A);
    ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A);
    ask(&e, "nothere.default.svc.cluster.local", CDNS_T_A);
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(cdns_metrics_render(&text, &len), CDNS_OK);
    ck_assert_ptr_nonnull(strstr(text, "coredns_cache_requests_total{server=\"dns://:1053\",zones=\"cluster.local.\","
                                       "view=\"\"} 5"));
    ck_assert_ptr_nonnull(strstr(text, "coredns_cache_misses_total{server=\"dns://:1053\",zones=\"cluster.local.\","
                                       "view=\"\"} 2"));
    ck_assert_ptr_nonnull(strstr(text, "coredns_cache_hits_total{server=\"dns://:1053\",type=\"success\","
                                       "zones=\"cluster.local.\",view=\"\"} 2"));
    ck_assert_ptr_nonnull(strstr(text, "coredns_cache_hits_total{server=\"dns://:1053\",type=\"denial\","
                                       "zones=\"cluster.local.\",view=\"\"} 1"));
    ck_assert_ptr_nonnull(strstr(text, "coredns_cache_entries{server=\"dns://:1053\",type=\"success\","
                                       "zones=\"cluster.local.\",view=\"\"} 1"));
    free(text);
    env_down(&e);
}
END_TEST

START_TEST(hit_allocates_nothing)
{
    install_hooks();
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache {\n        prefetch 2 1m 10%\n        serve_stale\n    }\n" KUBE_BLOCK
               "}\n");
    static const char *const names[] = {SVC, "kube-dns.kube-system.svc.cluster.local",
                                        "nothere.default.svc.cluster.local"};
    unsigned long hits = 0;
    for (int round = 0; round < 2; round++) {
        counting = round;
        for (int i = 0; i < 1000; i++)
            for (size_t k = 0; k < CDNS_ARRAY_LEN(names); k++) {
                resp_t *r = ask(&e, names[k], CDNS_T_A);
                if (round == 1 && r->by != NULL && strcmp(r->by, "cache") == 0)
                    hits++;
            }
    }
    counting = 0;
    ck_assert_uint_eq(hits, 3000);
    ck_assert_msg(allocs == 0, "%lu allocations on the hit path", allocs);
    ck_assert_msg(locks == 0, "%lu mutex locks on the hit path", locks);
    env_down(&e);
}
END_TEST

/* CoreDNS's setup_test.go cases, as Corefile errors. */
START_TEST(setup_errors)
{
    static const struct {
        const char *stanza;
        bool ok;
    } cases[] = {
        {"cache", true},
        {"cache 10", true},
        {"cache 10 example.nl", true},
        {"cache example.nl", true},
        {"cache {\n success 10\n }", true},
        {"cache {\n success 2000 300 10\n denial 2000 600 5\n }", true},
        {"cache {\n prefetch 10\n }", true},
        {"cache {\n prefetch 10 2h\n }", true},
        {"cache {\n prefetch 10 2h 30%\n }", true},
        {"cache {\n serve_stale\n }", true},
        {"cache {\n serve_stale 20m\n }", true},
        {"cache {\n serve_stale 1h immediate\n }", true},
        {"cache {\n serve_stale 1h verify\n }", true},
        {"cache {\n serve_stale 1h verify 100ms 30s 30s\n }", true},
        {"cache {\n serve_stale 1h immediate 30s 30s\n }", true},
        {"cache {\n servfail 0\n }", true},
        {"cache {\n servfail 5m\n }", true},
        {"cache {\n disable success\n }", true},
        {"cache {\n disable denial example.com example.org\n }", true},
        {"cache {\n keepttl\n }", true},
        {"cache 0", false},
        {"cache -1", false},
        {"cache 1 {\n success\n }", false},
        {"cache {\n success 10 0\n }", false},
        {"cache {\n denial 10 -1\n }", false},
        {"cache {\n success 10 10 -1\n }", false},
        {"cache {\n success abc\n }", false},
        {"cache {\n prefetch\n }", false},
        {"cache {\n prefetch -1\n }", false},
        {"cache {\n prefetch 10 2h 30\n }", false},
        {"cache {\n prefetch 10 2h 5%\n }", false},
        {"cache {\n prefetch 10 2h 95%\n }", false},
        {"cache {\n prefetch 10 2x\n }", false},
        {"cache {\n serve_stale -20m\n }", false},
        {"cache {\n serve_stale 1h what\n }", false},
        {"cache {\n serve_stale 1h immediate 1500ms\n }", false},
        {"cache {\n servfail\n }", false},
        {"cache {\n servfail 6m\n }", false},
        {"cache {\n servfail -1s\n }", false},
        {"cache {\n disable\n }", false},
        {"cache {\n disable what\n }", false},
        {"cache {\n keepttl x\n }", false},
        {"cache {\n unknown\n }", false},
        {"cache {\n serve_stale_policy prefer_positive\n }", false},
        {"cache\n    cache", false},
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(cases); i++) {
        char text[512];
        snprintf(text, sizeof(text), ". {\n    %s\n    whoami\n}\n", cases[i].stanza);
        cdns_diag_t diag = {{0}};
        cdns_corefile_t *cf = NULL;
        ck_assert_int_eq(cdns_corefile_parse(text, strlen(text), "Corefile", &cf, &diag), CDNS_OK);
        cdns_pipeline_opts_t o = {.default_port = 53, .nworkers = 1};
        cdns_pipeline_t *pl = NULL;
        int rc = cdns_pipeline_new(cf, &o, &pl, &diag);
        ck_assert_msg((rc == CDNS_OK) == cases[i].ok, "%s: rc %d %s", cases[i].stanza, rc, diag.msg);
        if (!cases[i].ok)
            ck_assert_msg(strstr(diag.msg, "cache") != NULL, "%s: %s", cases[i].stanza, diag.msg);
        cdns_pipeline_free(pl);
        cdns_corefile_free(cf);
    }
}
END_TEST

/* ------------------------------------------------------------ the table */
static cdns_query_t tq(const char *name, uint16_t type)
{
    cdns_query_t q;
    memset(&q, 0, sizeof(q));
    size_t len = 0;
    cdns_dname_from_str(name, NULL, q.qname, &len);
    q.qname_len = (uint8_t)len;
    cdns_dname_copy_lower(q.qname_lower, q.qname);
    q.qname_hash = cdns_dname_hash64(q.qname_lower, len); /* as cdns_query_parse leaves it */
    q.qtype = type;
    q.qclass = CDNS_C_IN;
    return q;
}

static void tput(cdns_ctable_t *t, const cdns_query_t *q, size_t dlen, bool *evicted)
{
    static uint8_t data[CDNS_CACHE_LARGE + 1];
    memset(data, 0x5a, sizeof(data));
    cdns_centry_t e = {.key = cdns_cache__key(q, 0),
                       .ttl_s = 30,
                       .qtype = q->qtype,
                       .qclass = q->qclass,
                       .data_len = (uint16_t)dlen,
                       .qname_len = q->qname_len};
    ck_assert_int_eq(cdns_cache__put(t, &e, q->qname_lower, data, evicted), dlen > CDNS_CACHE_LARGE ? CDNS_ERANGE : 0);
}

START_TEST(table_bounded_random_eviction_and_flush)
{
    cdns_ctable_t t;
    ck_assert_int_eq(cdns_cache__table_init(&t, 1024), CDNS_OK); /* 4 small + 1 large per shard */
    unsigned evictions = 0;
    for (int i = 0; i < 5000; i++) {
        char name[64];
        snprintf(name, sizeof(name), "n%d.example.org", i);
        cdns_query_t q = tq(name, CDNS_T_A);
        bool ev = false;
        tput(&t, &q, 100, &ev);
        evictions += ev;
    }
    ck_assert_uint_le(cdns_cache__count(&t), 1024);
    ck_assert_uint_ge(cdns_cache__count(&t), 900);
    ck_assert_uint_eq(evictions + cdns_cache__count(&t), 5000);
    /* The most recent insert is there; a replaced key is not counted twice. */
    cdns_query_t q = tq("n4999.example.org", CDNS_T_A);
    cdns_centry_t e;
    uint8_t out[CDNS_CACHE_LARGE];
    ck_assert_ptr_nonnull(cdns_cache__get(&t, cdns_cache__key(&q, 0), &q, 0, &e, out, sizeof(out)));
    ck_assert_uint_eq(e.data_len, 100);
    ck_assert_uint_eq(out[99], 0x5a);
    /* A different type or DO bit misses. */
    ck_assert_ptr_null(cdns_cache__get(&t, cdns_cache__key(&q, 0), &q, CDNS_CACHE_DO, &e, NULL, 0));
    /* Large answers go to the overflow class; too large ones are refused. */
    cdns_query_t big = tq("big.other.net", CDNS_T_TXT);
    bool ev;
    tput(&t, &big, 3000, &ev);
    tput(&t, &big, CDNS_CACHE_LARGE + 1, &ev);
    ck_assert_ptr_nonnull(cdns_cache__get(&t, cdns_cache__key(&big, 0), &big, 0, &e, out, sizeof(out)));
    ck_assert_uint_eq(e.data_len, 3000);
    /* flush below a zone */
    size_t before = cdns_cache__count(&t);
    uint8_t zone[CDNS_DNAME_MAX];
    size_t zl;
    cdns_dname_from_str("example.org.", NULL, zone, &zl);
    size_t dropped = cdns_cache__flush(&t, zone);
    ck_assert_uint_eq(dropped + 1, before);
    ck_assert_uint_eq(cdns_cache__count(&t), 1);
    ck_assert_ptr_null(cdns_cache__get(&t, cdns_cache__key(&q, 0), &q, 0, &e, NULL, 0));
    cdns_cache__table_deinit(&t);
}
END_TEST

/* The shards' index under churn: evictions, questions moving between the size classes and
 * flushes. Every entry the table counts is found (an index that lost one would miss it), with
 * the size it was last stored with. */
START_TEST(index_finds_every_stored_entry)
{
    cdns_ctable_t t;
    ck_assert_int_eq(cdns_cache__table_init(&t, 1024), CDNS_OK);
    enum { NAMES = 3000 };
    static uint16_t last[NAMES];
    memset(last, 0, sizeof(last));
    uint64_t x = 88172645463325252ULL;
    uint8_t zone[CDNS_DNAME_MAX];
    size_t zl;
    cdns_dname_from_str("b.example.org.", NULL, zone, &zl);
    for (int op = 0; op < 40000; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned i = (unsigned)(x % NAMES);
        char name[64];
        snprintf(name, sizeof(name), "n%u.%c.example.org", i, i % 2 ? 'a' : 'b');
        cdns_query_t q = tq(name, CDNS_T_A);
        size_t dlen = (x >> 20) % 3 == 0 ? 1000 : 100; /* the large class now and then */
        bool ev;
        tput(&t, &q, dlen, &ev);
        last[i] = (uint16_t)dlen;
        if (op % 9000 == 8999)
            cdns_cache__flush(&t, zone);
    }
    size_t found = 0;
    for (unsigned i = 0; i < NAMES; i++) {
        char name[64];
        snprintf(name, sizeof(name), "n%u.%c.example.org", i, i % 2 ? 'a' : 'b');
        cdns_query_t q = tq(name, CDNS_T_A);
        cdns_centry_t e;
        if (cdns_cache__get(&t, cdns_cache__key(&q, 0), &q, 0, &e, NULL, 0) == NULL)
            continue;
        found++;
        ck_assert_uint_eq(e.data_len, last[i]);
    }
    ck_assert_uint_gt(found, 900);
    ck_assert_uint_eq(found, cdns_cache__count(&t));
    cdns_cache__table_deinit(&t);
}
END_TEST

START_TEST(flush_hook_reaches_instances)
{
    env_t e;
    env_up(&e, "cluster.local:1053 {\n    cache\n" KUBE_BLOCK "}\n");
    ask(&e, SVC, CDNS_T_A);
    ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A);
    cdns_cache_flush("default.svc.cluster.local.");
    ck_assert_str_eq(ask(&e, SVC, CDNS_T_A)->by, "kubernetes");
    ck_assert_str_eq(ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A)->by, "cache");
    cdns_cache_flush(NULL);
    ck_assert_str_eq(ask(&e, "kube-dns.kube-system.svc.cluster.local", CDNS_T_A)->by, "kubernetes");
    env_down(&e);
}
END_TEST

/* Readers on several threads while a writer keeps replacing the same entries: a reader sees a
 * whole entry or a miss, never a torn one. */
static cdns_ctable_t shared;
static volatile int stop_flag;
static void *reader(void *arg)
{
    unsigned long *torn = arg;
    cdns_query_t q = tq("race.example.org", CDNS_T_A);
    uint64_t key = cdns_cache__key(&q, 0);
    uint8_t out[CDNS_CACHE_LARGE];
    while (!stop_flag) {
        cdns_centry_t e;
        if (cdns_cache__get(&shared, key, &q, 0, &e, out, sizeof(out)) == NULL)
            continue;
        for (size_t i = 1; i < e.data_len; i++)
            if (out[i] != out[0]) {
                (*torn)++;
                break;
            }
        if (e.data_len != (size_t)out[0] * 2)
            (*torn)++;
    }
    return NULL;
}

START_TEST(seqlock_readers_never_see_torn_entries)
{
    ck_assert_int_eq(cdns_cache__table_init(&shared, 1024), CDNS_OK);
    unsigned long torn[2] = {0, 0};
    pthread_t th[2];
    stop_flag = 0;
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &torn[i]);
    cdns_query_t q = tq("race.example.org", CDNS_T_A);
    uint8_t data[512];
    for (int n = 0; n < 200000; n++) {
        uint8_t v = (uint8_t)(1 + n % 200);
        memset(data, v, sizeof(data));
        cdns_centry_t e = {.key = cdns_cache__key(&q, 0),
                           .qtype = CDNS_T_A,
                           .qclass = CDNS_C_IN,
                           .data_len = (uint16_t)(v * 2),
                           .qname_len = q.qname_len};
        bool ev;
        cdns_cache__put(&shared, &e, q.qname_lower, data, &ev);
    }
    stop_flag = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(torn[0] + torn[1], 0);
    cdns_cache__table_deinit(&shared);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hit_miss_and_ttl_decay);
    tcase_add_test(tc, age_from_the_batch_time);
    tcase_add_test(tc, ttl_capped_by_cache_ttl_and_min);
    tcase_add_test(tc, negative_entries);
    tcase_add_test(tc, keepttl_keeps_ttl);
    tcase_add_test(tc, id_and_case_from_client_do_in_key);
    tcase_add_test(tc, disable_and_zones);
    tcase_add_test(tc, metrics_counted);
    tcase_add_test(tc, hit_allocates_nothing);
    tcase_add_test(tc, setup_errors);
    tcase_add_test(tc, table_bounded_random_eviction_and_flush);
    tcase_add_test(tc, index_finds_every_stored_entry);
    tcase_add_test(tc, flush_hook_reaches_instances);
    tcase_add_test(tc, seqlock_readers_never_see_torn_entries);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(cache_suite)
