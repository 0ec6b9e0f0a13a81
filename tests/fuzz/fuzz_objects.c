/* SPDX-License-Identifier: MIT */
/* fuzz_objects.c — the objects-file loader of the kubernetes plugin (`objects PATH`): a
 * Kubernetes List in JSON → the index → records → a snapshot, then queries answered from that
 * snapshot with cdns_k8s_answer() for every service, endpoint and pod the index holds (A, AAAA,
 * SRV, PTR, ANY), each response checked against its limit.
 *
 * The first input byte chooses the record options (pods mode, endpoint_pod_names,
 * ignore_empty_service, noendpoints, a namespace filter); the rest is the file. Each input gets
 * a fresh index and snapshot, freed at the end.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ctx {
    const cdns_snapshot_t *snap;
    const cdns_k8s_opts_t *opts;
    const cdns_k8s_index_t *idx;
    unsigned queries;
} ctx_t;

static uint8_t out[65535];

/* Answers name/type (text; names that do not convert are skipped) and checks the response. */
static void ask(ctx_t *c, const char *name, uint16_t qtype)
{
    uint8_t pkt[CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4] = {0x12, 0x34, 0x01, 0x00, 0, 1};
    size_t nlen = 0;
    if (c->queries >= 2000 || cdns_dname_from_str(name, NULL, pkt + CDNS_DNS_HDR_LEN, &nlen) != CDNS_OK)
        return;
    c->queries++;
    size_t len = CDNS_DNS_HDR_LEN + nlen;
    pkt[len++] = (uint8_t)(qtype >> 8);
    pkt[len++] = (uint8_t)qtype;
    pkt[len++] = 0;
    pkt[len++] = CDNS_C_IN;
    cdns_query_t q;
    if (cdns_query_parse(pkt, len, &q) != CDNS_QUERY_OK)
        return;
    for (int tcp = 0; tcp < 2; tcp++) {
        cdns_msg_t m;
        cdns_msg_begin(&m, out, sizeof(out), &q, tcp != 0);
        cdns_k8s_result_t r = cdns_k8s_answer(c->snap, c->opts, &q, &m);
        assert(r >= CDNS_K8S_NOTAUTH && r <= CDNS_K8S_REFUSED);
        size_t n = cdns_msg_finish(&m);
        assert(n >= CDNS_DNS_HDR_LEN && n <= m.limit);
        assert(tcp || n <= CDNS_UDP_MIN_SIZE);
    }
}

static const uint16_t qtypes[] = {CDNS_T_A, CDNS_T_AAAA, CDNS_T_SRV, CDNS_T_ANY, CDNS_T_TXT};

static void ask_all(ctx_t *c, const char *name)
{
    for (size_t i = 0; i < sizeof(qtypes) / sizeof(qtypes[0]); i++)
        ask(c, name, qtypes[i]);
}

/* "10.0.0.1" → "1.0.0.10.in-addr.arpa."; IPv6 via the nibble form. Skips what is not an IP. */
static void ask_ptr(ctx_t *c, const char *ip)
{
    char name[128];
    unsigned a, b, d, e;
    if (sscanf(ip, "%u.%u.%u.%u", &a, &b, &d, &e) == 4) {
        snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa.", e, d, b, a);
        ask(c, name, CDNS_T_PTR);
    }
}

static bool visit_service(const cdns_k8s_object_t *o, void *arg)
{
    ctx_t *c = arg;
    const cdns_k8s_service_t *s = o->u.svc;
    char name[600];
    snprintf(name, sizeof(name), "%s.%s.svc.cluster.local.", s->name, s->ns);
    ask_all(c, name);
    for (size_t i = 0; i < s->nports; i++) {
        snprintf(name, sizeof(name), "_%s._%s.%s.%s.svc.cluster.local.", s->ports[i].name, s->ports[i].protocol,
                 s->name, s->ns);
        ask(c, name, CDNS_T_SRV);
    }
    for (size_t i = 0; i < s->ncluster_ips; i++)
        ask_ptr(c, s->cluster_ips[i]);
    cdns_k8s_epaddr_t *eps = NULL;
    size_t n = 0;
    if (cdns_k8s_index_service_endpoints(c->idx, s->ns, s->name, NULL, &eps, &n) == CDNS_OK) {
        for (size_t i = 0; i < n; i++) {
            char buf[64];
            snprintf(name, sizeof(name), "%s.%s.%s.svc.cluster.local.", cdns_k8s_endpoint_name(&eps[i], true, buf),
                     s->name, s->ns);
            ask_all(c, name);
            ask_ptr(c, eps[i].ip);
        }
        free(eps);
    }
    return true;
}

static bool visit_pod(const cdns_k8s_object_t *o, void *arg)
{
    ctx_t *c = arg;
    const cdns_k8s_pod_t *p = o->u.pod;
    for (size_t i = 0; i < p->nips; i++) {
        char name[600], dashed[64];
        size_t j = 0;
        for (const char *s = p->ips[i]; *s && j + 1 < sizeof(dashed); s++)
            dashed[j++] = (*s == '.' || *s == ':') ? '-' : *s;
        dashed[j] = '\0';
        snprintf(name, sizeof(name), "%s.%s.pod.cluster.local.", dashed, p->ns);
        ask_all(c, name);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const zones[] = {"cluster.local.", "in-addr.arpa.", "ip6.arpa."};
    static const char *const nsfilter[] = {"default", "kube-system"};
    static const char *const local[] = {"10.244.0.2"};
    uint8_t sel = data[0];
    cdns_k8s_opts_t opts = {
        .zones = zones,
        .nzones = 3,
        .ttl_s = (sel & 0x80) ? 0 : 30,
        .pods = (cdns_k8s_pods_t)((sel & 3) % 3),
        .endpoint_pod_names = (sel & 0x04) != 0,
        .noendpoints = (sel & 0x08) != 0,
        .ignore_empty_service = (sel & 0x10) != 0,
        .namespaces = nsfilter,
        .nnamespaces = (sel & 0x20) ? 2 : 0,
        .local_ips = local,
        .nlocal_ips = (sel & 0x40) ? 1 : 0,
        .serial = 1,
    };
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    assert(idx != NULL);
    cdns_k8s_load_stats_t st;
    cdns_snapshot_t *snap = NULL;
    if (cdns_k8s_index_load_json(idx, (const char *)data + 1, size - 1, &st) == CDNS_OK &&
        cdns_k8s_build(idx, &opts, &snap) == CDNS_OK) {
        ctx_t c = {.snap = snap, .opts = &opts, .idx = idx};
        ask_all(&c, "cluster.local.");
        ask(&c, "cluster.local.", CDNS_T_SOA);
        ask(&c, "cluster.local.", CDNS_T_NS);
        ask(&c, "ns.dns.cluster.local.", CDNS_T_A);
        ask(&c, "dns-version.cluster.local.", CDNS_T_TXT);
        cdns_k8s_index_each(idx, CDNS_K8S_SERVICE, visit_service, &c);
        cdns_k8s_index_each(idx, CDNS_K8S_POD, visit_pod, &c);
        cdns_snapshot_free(snap);
    }
    cdns_k8s_index_free(idx);
    return 0;
}
