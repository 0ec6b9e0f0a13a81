/* SPDX-License-Identifier: MIT */
/* answerprobe.c — the kubernetes answer path alone (no sockets, no kernel), timed with and
 * without the batch prefetch, in one process.
 *
 * Loads a cluster as the server does (probe_load.h), parses every query of a dnsperf query
 * file into packets, then answers them in batches of B (what one recvmmsg brings in), the way
 * the worker does: each batch is parsed, then "plain" answers each query in turn
 * (cdns_k8s_answer into a response buffer) and "prefetch" first hands the batch to
 * cdns_snapshot_prefetch, as the kubernetes plugin's prefetch hook does. The two alternate pass after pass
 * over the whole file, so a slow moment of this shared machine hits both; the figure is the
 * median wall time per query of each. User space only: what the prefetch buys or costs on the
 * worker's own share of a query, which the UDP path (the kernel's, the same for both) dilutes
 * in bench/run.py's answers per core. No routing, no plugin chain, no sockets.
 *
 *   build/bench/answerprobe bench/data/k10000/cluster.json bench/data/k10000/queries/internal-hit.txt [B] [PASSES]
 */
#include <stdlib.h>
#include <string.h>

#include "cdns/base.h"
#include "cdns/dns.h"
#include "probe_load.h"

#define LINE_MAX_ 512

static int type_code(const char *t)
{
    static const struct {
        const char *name;
        uint16_t code;
    } types[] = {{"A", CDNS_T_A},     {"AAAA", CDNS_T_AAAA}, {"SRV", CDNS_T_SRV}, {"PTR", CDNS_T_PTR},
                 {"TXT", CDNS_T_TXT}, {"SOA", CDNS_T_SOA},   {"NS", CDNS_T_NS},   {"CNAME", CDNS_T_CNAME}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i].name) == 0)
            return types[i].code;
    return -1;
}

/* The query packets of a file of "name TYPE" lines, back to back (what arrives on the socket;
 * read in order, so the CPU's own prefetcher keeps them coming); len[i] is packet i's length. */
typedef struct {
    uint8_t *wire;
    uint16_t *len;
    size_t n;
} queries_t;

static int read_queries(const char *path, queries_t *qs)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1024, used = 0, k = 0;
    enum { PKT_MAX = CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4 };
    qs->wire = malloc(cap * PKT_MAX);
    qs->len = malloc(cap * sizeof(*qs->len));
    char line[LINE_MAX_], name[LINE_MAX_], type[16];
    while (qs->wire && qs->len && fgets(line, sizeof(line), f)) {
        if (k == cap) {
            cap *= 2;
            uint8_t *w = realloc(qs->wire, cap * PKT_MAX);
            uint16_t *l = realloc(qs->len, cap * sizeof(*l));
            if (w)
                qs->wire = w;
            if (l)
                qs->len = l;
            if (!w || !l)
                break;
        }
        uint8_t *pkt = qs->wire + used;
        int code;
        size_t len;
        memset(pkt, 0, CDNS_DNS_HDR_LEN);
        if (sscanf(line, "%511s %15s", name, type) != 2 || (code = type_code(type)) < 0 ||
            cdns_dname_from_str(name, NULL, pkt + CDNS_DNS_HDR_LEN, &len) != CDNS_OK)
            continue;
        pkt[5] = 1; /* QDCOUNT */
        uint8_t *t = pkt + CDNS_DNS_HDR_LEN + len;
        t[0] = (uint8_t)(code >> 8);
        t[1] = (uint8_t)code;
        t[2] = 0;
        t[3] = CDNS_C_IN;
        qs->len[k++] = (uint16_t)(CDNS_DNS_HDR_LEN + len + 4);
        used += CDNS_DNS_HDR_LEN + len + 4;
    }
    fclose(f);
    qs->n = k;
    return k > 0 && qs->wire && qs->len ? 0 : -1;
}

#define BATCH_MAX CDNS_SNAPSHOT_PREFETCH_MAX

/* One pass over every query, in batches of b: parse the batch (as cdns_pipeline_prefetch does),
 * then with prefetch run its steps across the batch, then answer each. Returns nanoseconds per
 * query, and adds every response's length to *sum (both variants must write the same). */
static double pass(const cdns_snapshot_t *s, const cdns_k8s_opts_t *opts, const queries_t *qs, size_t b, bool prefetch,
                   uint64_t *sum)
{
    static uint8_t out[65535];
    static cdns_query_t q[BATCH_MAX];
    static const cdns_query_t *qp[BATCH_MAX];
    cdns_msg_t m;
    const uint8_t *w = qs->wire;
    uint64_t t0 = cdns_clock_mono_ns();
    for (size_t at = 0; at < qs->n; at += b) {
        size_t nb = at + b < qs->n ? b : qs->n - at;
        for (size_t i = 0; i < nb; i++) {
            (void)cdns_query_parse(w, qs->len[at + i], &q[i]);
            qp[i] = &q[i];
            w += qs->len[at + i];
        }
        if (prefetch)
            cdns_snapshot_prefetch(s, qp, (unsigned)nb);
        for (size_t i = 0; i < nb; i++) {
            cdns_msg_begin(&m, out, sizeof(out), &q[i], false);
            (void)cdns_k8s_answer(s, opts, &q[i], &m);
            *sum += cdns_msg_finish(&m);
        }
    }
    return (double)(cdns_clock_mono_ns() - t0) / (double)qs->n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s CLUSTER.json QUERIES.txt [BATCH] [PASSES]\n", argv[0]);
        return 2;
    }
    size_t b = argc > 3 ? strtoul(argv[3], NULL, 10) : 16, passes = argc > 4 ? strtoul(argv[4], NULL, 10) : 11;
    if (b == 0 || b > BATCH_MAX || passes == 0 || passes > 101) {
        fprintf(stderr, "BATCH must be 1..%d and PASSES 1..101\n", BATCH_MAX);
        return 2;
    }
    cdns_k8s_index_t *idx = NULL;
    cdns_snapshot_t *snap = NULL;
    cdns_k8s_load_stats_t st;
    cdns_k8s_opts_t opts = probe_opts();
    queries_t qs = {0};
    int rc = 1;
    if (probe_read(argv[1], &idx, &st) != CDNS_OK)
        goto out;
    int brc = cdns_k8s_build_consume(idx, &opts, &snap);
    idx = NULL;
    if (brc != CDNS_OK || read_queries(argv[2], &qs) != 0) {
        fprintf(stderr, "cannot build the snapshot or read queries\n");
        goto out;
    }
    double t[2][101];
    uint64_t sum[2] = {0, 0};
    (void)pass(snap, &opts, &qs, b, false, &sum[0]); /* warm-up, not counted */
    sum[0] = 0;
    for (size_t p = 0; p < passes; p++)
        for (int k = 0; k < 2; k++) {
            int v = (p & 1) ? 1 - k : k; /* which goes first alternates */
            t[v][p] = pass(snap, &opts, &qs, b, v == 1, &sum[v]);
        }
    for (int v = 0; v < 2; v++)
        qsort(t[v], passes, sizeof(double), cmp_double);
    printf("%zu queries, batch %zu, %zu passes each: plain %.1f ns/query, prefetch %.1f ns/query (%.2fx)%s\n", qs.n, b,
           passes, t[0][passes / 2], t[1][passes / 2], t[0][passes / 2] / t[1][passes / 2],
           sum[0] == sum[1] ? "" : "  RESPONSES DIFFER");
    rc = sum[0] == sum[1] ? 0 : 1;
out:
    free(qs.wire);
    free(qs.len);
    cdns_k8s_index_free(idx);
    cdns_snapshot_free(snap);
    return rc;
}
