/* SPDX-License-Identifier: MIT */
/* test_incremental.c — incremental builds (cdns_k8s_build_next) answer exactly like full ones.
 *
 * A small random cluster changes one watch event at a time, through the real event decoder
 * (cdns_k8s_event_apply) and the same touch the kubernetes plugin does per event. After every
 * few events the next snapshot is built incrementally from the previous one and, beside it, a
 * full build of the same index is made; then every name the cluster could produce (services,
 * named ports, endpoint names, pods, namespaces, reverse names, the apex) is asked with every
 * type and the two answers must be the same bytes, with the same record and name counts. The
 * address pools are small on purpose: cluster IPs and endpoint addresses collide, so PTR names
 * are shared between services (the first service wins a cluster IP), pods share addresses (as
 * hostNetwork pods do), and one endpoint address is ours (the apex NS records follow it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "k8s_helpers.h"

#define NNS 4
#define NSVC 14
#define NPOD 10
#define NADDR 10

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
    return cdns_test_rnd(&rng, n);
}

typedef struct world {
    cdns_k8s_index_t *idx;
    cdns_k8s_state_t *st;
    cdns_snapshot_t *snap;
    const cdns_k8s_opts_t *o;
    int svc_ns[NSVC]; /* the namespace each service lives in (fixed: names are per namespace) */
    int pod_ns[NPOD];
    unsigned updates, fulls;
} world_t;

static void apply(world_t *w, cdns_k8s_kind_t kind, const char *type, const char *obj)
{
    char line[8192];
    int n = snprintf(line, sizeof(line), "{\"type\":\"%s\",\"object\":%s}", type, obj);
    ck_assert(n > 0 && (size_t)n < sizeof(line));
    cdns_k8s_event_t ev;
    ck_assert_int_eq(cdns_k8s_event_apply(w->idx, kind, line, (size_t)n, &ev), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_state_touch_event(w->st, &ev), CDNS_OK);
}

static void change_namespace_to(world_t *w, const char *name, const char *env)
{
    char obj[512];
    snprintf(obj, sizeof(obj), "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\",\"labels\":{\"env\":\"%s\"}}}",
             name, env);
    apply(w, CDNS_K8S_NAMESPACE, "MODIFIED", obj);
}

static void change_namespace(world_t *w)
{
    char obj[512];
    int i = (int)rnd(NNS);
    snprintf(obj, sizeof(obj), "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ns%d\",\"labels\":{\"env\":\"%s\"}}}",
             i, rnd(2) ? "a" : "b");
    apply(w, CDNS_K8S_NAMESPACE, rnd(5) ? "MODIFIED" : "DELETED", obj);
}

static void change_service(world_t *w)
{
    int i = (int)rnd(NSVC);
    static const char *const ports_v[] = {
        "[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80}]",
        "[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80},{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53}]",
        "[{\"protocol\":\"TCP\",\"port\":8080}]",
        "[]",
    };
    char spec[512];
    uint32_t shape = rnd(6);
    uint32_t a = 1 + rnd(6), b = 1 + rnd(6);
    int t = (int)rnd(NSVC);
    if (shape == 0)
        snprintf(spec, sizeof(spec), "\"type\":\"ClusterIP\",\"clusterIP\":\"None\",\"clusterIPs\":[\"None\"]");
    else if (shape == 1)
        snprintf(spec, sizeof(spec),
                 "\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.0.%u\",\"clusterIPs\":[\"10.96.0.%u\",\"fd00::%u\"]", a,
                 a, b);
    else if (shape == 2 && rnd(2))
        snprintf(spec, sizeof(spec), "\"type\":\"ExternalName\",\"externalName\":\"svc%d.ns%d.svc.cluster.local\"", t,
                 w->svc_ns[t]);
    else if (shape == 2)
        snprintf(spec, sizeof(spec), "\"type\":\"ExternalName\",\"externalName\":\"www.example.com\"");
    else
        snprintf(spec, sizeof(spec),
                 "\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.0.%u\",\"clusterIPs\":[\"10.96.0.%u\"]", a, a);
    char obj[2048];
    snprintf(
        obj, sizeof(obj),
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"svc%d\",\"namespace\":\"ns%d\",\"labels\":{\"tier\":\"%s\"}},"
        "\"spec\":{%s,\"ports\":%s,\"publishNotReadyAddresses\":%s}}",
        i, w->svc_ns[i], rnd(4) ? "web" : "db", spec, ports_v[rnd(4)], rnd(4) ? "false" : "true");
    apply(w, CDNS_K8S_SERVICE, rnd(6) ? "MODIFIED" : "DELETED", obj);
}

static void change_slice(world_t *w)
{
    int i = (int)rnd(NSVC);
    int part = (int)rnd(2);
    char eps[2048] = "";
    size_t off = 0;
    uint32_t n = rnd(4);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t a = 1 + rnd(NADDR);
        char host[64] = "";
        if (rnd(3) == 0)
            snprintf(host, sizeof(host), ",\"hostname\":\"web-%u\"", rnd(3));
        int m = snprintf(eps + off, sizeof(eps) - off,
                         "%s{\"addresses\":[\"10.244.0.%u\"],\"conditions\":{\"ready\":%s}%s,"
                         "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"pod%u\",\"namespace\":\"ns%d\"}}",
                         k ? "," : "", a, rnd(5) ? "true" : "false", host, rnd(NPOD), w->svc_ns[i]);
        off += (size_t)m;
    }
    /* Now and then a slice moves to another service of its namespace (a relabel): both
     * services must be rebuilt. */
    int owner = i, k = (int)rnd(NSVC);
    if (rnd(5) == 0 && w->svc_ns[k] == w->svc_ns[i])
        owner = k;
    char obj[4096];
    snprintf(obj, sizeof(obj),
             "{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\",\"addressType\":\"IPv4\","
             "\"metadata\":{\"name\":\"svc%d-%d\",\"namespace\":\"ns%d\",\"labels\":{\"kubernetes.io/"
             "service-name\":\"svc%d\",\"tier\":\"web\"}},\"endpoints\":[%s],\"ports\":[{\"name\":\"%s\","
             "\"protocol\":\"TCP\",\"port\":%u}]}",
             i, part, w->svc_ns[i], owner, eps, rnd(2) ? "http" : "", 80 + rnd(2));
    apply(w, CDNS_K8S_ENDPOINTSLICE, rnd(6) ? "MODIFIED" : "DELETED", obj);
}

static void change_pod(world_t *w)
{
    int i = (int)rnd(NPOD);
    char obj[1024];
    snprintf(
        obj, sizeof(obj),
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod%d\",\"namespace\":\"ns%d\",\"labels\":{\"tier\":\"web\"}%s},"
        "\"status\":{\"podIP\":\"10.244.0.%u\",\"podIPs\":[{\"ip\":\"10.244.0.%u\"}]}}",
        i, w->pod_ns[i], rnd(8) ? "" : ",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"", 1 + rnd(NADDR) / 2,
        1 + rnd(NADDR) / 2);
    apply(w, CDNS_K8S_POD, rnd(6) ? "MODIFIED" : "DELETED", obj);
}

/* ------------------------------------------------------------- comparison */
static void same_answer(const cdns_snapshot_t *inc, const cdns_snapshot_t *full, const cdns_k8s_opts_t *o,
                        const char *name, unsigned step)
{
    static const uint16_t types[] = {CDNS_T_A,   CDNS_T_AAAA, CDNS_T_SRV, CDNS_T_PTR,
                                     CDNS_T_TXT, CDNS_T_NS,   CDNS_T_SOA, CDNS_T_CNAME};
    static uint8_t a[65535], b[65535];
    for (size_t t = 0; t < CDNS_ARRAY_LEN(types); t++) {
        cdns_k8s_result_t ra, rb;
        size_t la = k8s_answer_raw(inc, o, name, types[t], a, sizeof(a), &ra);
        size_t lb = k8s_answer_raw(full, o, name, types[t], b, sizeof(b), &rb);
        if (ra != rb || la != lb || memcmp(a, b, la) != 0) {
            ldns_pkt *pa = NULL, *pb = NULL;
            ldns_wire2pkt(&pa, a, la);
            ldns_wire2pkt(&pb, b, lb);
            char *sa = pa ? ldns_pkt2str(pa) : NULL, *sb = pb ? ldns_pkt2str(pb) : NULL;
            ck_abort_msg("step %u: %s type %u differs (result %d vs %d)\nincremental:\n%s\nfull:\n%s", step, name,
                         types[t], ra, rb, sa ? sa : "?", sb ? sb : "?");
        }
    }
}

static void compare(world_t *w, unsigned step)
{
    cdns_snapshot_t *full = NULL;
    ck_assert_int_eq(cdns_k8s_build(w->idx, w->o, &full), CDNS_OK);
    char name[256];
    static const char *const fixed[] = {
        "cluster.local.",        "svc.cluster.local.",         "pod.cluster.local.",
        "ns.dns.cluster.local.", "dns-version.cluster.local.", "in-addr.arpa.",
        "0.96.10.in-addr.arpa.", "9.0.96.10.in-addr.arpa.",    "www.example.com.",
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(fixed); i++)
        same_answer(w->snap, full, w->o, fixed[i], step);
    for (int ns = 0; ns < NNS; ns++) {
        snprintf(name, sizeof(name), "ns%d.svc.cluster.local.", ns);
        same_answer(w->snap, full, w->o, name, step);
        snprintf(name, sizeof(name), "ns%d.pod.cluster.local.", ns);
        same_answer(w->snap, full, w->o, name, step);
        for (int a = 1; a <= NADDR; a++) {
            snprintf(name, sizeof(name), "10-244-0-%d.ns%d.pod.cluster.local.", a, ns);
            same_answer(w->snap, full, w->o, name, step);
        }
    }
    for (int i = 0; i < NSVC; i++) {
        char base[128];
        snprintf(base, sizeof(base), "svc%d.ns%d.svc.cluster.local.", i, w->svc_ns[i]);
        same_answer(w->snap, full, w->o, base, step);
        static const char *const pre[] = {"_http._tcp.", "_dns._udp.", "_tcp.", "_udp.", "web-0.",     "web-1.",
                                          "web-2.",      "pod1.",      "pod3.", "x.",    "_http._udp."};
        for (size_t p = 0; p < CDNS_ARRAY_LEN(pre); p++) {
            snprintf(name, sizeof(name), "%s%s", pre[p], base);
            same_answer(w->snap, full, w->o, name, step);
        }
        for (int a = 1; a <= NADDR; a++) {
            snprintf(name, sizeof(name), "10-244-0-%d.%s", a, base);
            same_answer(w->snap, full, w->o, name, step);
        }
    }
    for (int a = 1; a <= NADDR; a++) {
        snprintf(name, sizeof(name), "%d.0.244.10.in-addr.arpa.", a);
        same_answer(w->snap, full, w->o, name, step);
        snprintf(name, sizeof(name), "%d.0.96.10.in-addr.arpa.", a);
        same_answer(w->snap, full, w->o, name, step);
        snprintf(name, sizeof(name), "%x.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", a);
        same_answer(w->snap, full, w->o, name, step);
    }
    /* Counts last: a differing answer above names the culprit. */
    ck_assert_msg(cdns_snapshot_records(w->snap) == cdns_snapshot_records(full), "step %u: %zu records, full %zu", step,
                  cdns_snapshot_records(w->snap), cdns_snapshot_records(full));
    ck_assert_msg(cdns_snapshot_nodes(w->snap) == cdns_snapshot_nodes(full), "step %u: %zu names, full %zu", step,
                  cdns_snapshot_nodes(w->snap), cdns_snapshot_nodes(full));
    cdns_snapshot_free(full);
}

static void next(world_t *w)
{
    cdns_snapshot_t *s = NULL;
    bool full = false;
    ck_assert_int_eq(cdns_k8s_build_next(w->st, w->idx, w->o, w->snap, &s, &full), CDNS_OK);
    ck_assert_ptr_nonnull(s);
    if (full)
        w->fulls++;
    else
        w->updates++;
    /* The previous snapshot may go before or after its successor's own use; free it now. */
    cdns_snapshot_free(w->snap);
    w->snap = s;
}

static void run(const cdns_k8s_opts_t *o, uint64_t seed, unsigned steps)
{
    rng = seed;
    world_t w = {.o = o};
    w.idx = cdns_k8s_index_new();
    w.st = cdns_k8s_state_new();
    ck_assert_ptr_nonnull(w.idx);
    ck_assert_ptr_nonnull(w.st);
    for (int i = 0; i < NSVC; i++)
        w.svc_ns[i] = (int)rnd(NNS);
    for (int i = 0; i < NPOD; i++)
        w.pod_ns[i] = (int)rnd(NNS);
    /* A start: every namespace, some services. */
    for (int i = 0; i < NNS; i++) {
        char obj[256];
        snprintf(obj, sizeof(obj),
                 "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ns%d\",\"labels\":{\"env\":\"a\"}}}", i);
        apply(&w, CDNS_K8S_NAMESPACE, "ADDED", obj);
    }
    for (int i = 0; i < 10; i++)
        change_service(&w);
    next(&w);
    compare(&w, 0);
    for (unsigned step = 1; step <= steps; step++) {
        unsigned n = 1 + rnd(4);
        for (unsigned k = 0; k < n; k++) {
            uint32_t r = rnd(20);
            if (r == 0)
                change_namespace(&w);
            else if (r < 7)
                change_service(&w);
            else if (r < 15)
                change_slice(&w);
            else
                change_pod(&w);
        }
        next(&w);
        compare(&w, step);
    }
    /* The point of it all: most builds were updates, not full builds. */
    ck_assert_msg(w.updates > w.fulls * 4, "updates %u, full builds %u", w.updates, w.fulls);
    cdns_snapshot_free(w.snap);
    cdns_k8s_state_free(w.st);
    cdns_k8s_index_free(w.idx);
}

static const char *const all_zones[] = {"cluster.local.", "in-addr.arpa.", "ip6.arpa."};
static const char *const local_ip[] = {"10.244.0.3"};

START_TEST(test_matches_full_default)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    o.zones = all_zones;
    o.nzones = 3;
    o.pods = CDNS_K8S_PODS_VERIFIED;
    o.local_ips = local_ip;
    o.nlocal_ips = 1;
    run(&o, 0x9e3779b97f4a7c15ull + (uint64_t)_i, 200);
}
END_TEST

START_TEST(test_matches_full_options)
{
    static cdns_k8s_selector_t nsl, lab;
    char err[128];
    ck_assert_int_eq(cdns_k8s_selector_parse("env=a", &nsl, err, sizeof(err)), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_selector_parse("tier=web", &lab, err, sizeof(err)), CDNS_OK);
    static const char *const nss[] = {"ns0", "ns1", "ns2"};
    cdns_k8s_opts_t o = k8s_test_opts();
    o.zones = all_zones;
    o.nzones = 3;
    o.pods = _i ? CDNS_K8S_PODS_INSECURE : CDNS_K8S_PODS_VERIFIED;
    o.endpoint_pod_names = true;
    o.ignore_empty_service = true;
    o.namespaces = nss;
    o.nnamespaces = _i ? 3 : 0;
    o.namespace_labels = &nsl;
    o.labels = _i ? &lab : NULL;
    o.local_ips = local_ip;
    o.nlocal_ips = 1;
    run(&o, 0xdeadbeefcafef00dull + (uint64_t)_i, 200);
    cdns_k8s_selector_deinit(&nsl);
    cdns_k8s_selector_deinit(&lab);
}
END_TEST

/* The previous snapshot may be one no update can start from (a stateless, frozen build): the
 * next build is then full, and so is the one after any failed build. */
START_TEST(test_frozen_prev_goes_full)
{
    cdns_k8s_opts_t o = k8s_test_opts();
    world_t w = {.o = &o};
    w.idx = k8s_load("handler.json");
    w.st = cdns_k8s_state_new();
    cdns_snapshot_t *frozen = NULL, *s = NULL;
    bool full = false;
    ck_assert_int_eq(cdns_k8s_build(w.idx, &o, &frozen), CDNS_OK);
    ck_assert(cdns_snapshot_frozen(frozen));
    ck_assert_int_eq(cdns_k8s_build_next(w.st, w.idx, &o, NULL, &s, &full), CDNS_OK);
    ck_assert(full);
    ck_assert(!cdns_snapshot_frozen(s));
    cdns_snapshot_free(s);
    change_namespace_to(&w, "testns", "b");
    ck_assert_int_eq(cdns_k8s_build_next(w.st, w.idx, &o, frozen, &s, &full), CDNS_OK);
    ck_assert(full);
    ck_assert_uint_eq(cdns_snapshot_records(s), cdns_snapshot_records(frozen));
    cdns_snapshot_free(s);
    cdns_snapshot_free(frozen);
    cdns_k8s_state_free(w.st);
    cdns_k8s_index_free(w.idx);
}
END_TEST

static Suite *incremental_suite(void)
{
    Suite *s = suite_create("k8s_incremental");
    TCase *tc = tcase_create("matches_full");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_matches_full_default, 0, 3);
    tcase_add_loop_test(tc, test_matches_full_options, 0, 2);
    tcase_add_test(tc, test_frozen_prev_goes_full);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(incremental_suite)
