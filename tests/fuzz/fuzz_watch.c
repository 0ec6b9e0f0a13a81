/* SPDX-License-Identifier: MIT */
/* fuzz_watch.c — the watch stream as the API server sends it: bytes in chunks → lines →
 * JSON events → slim objects → the index, then the index → records → a snapshot, as the
 * kubernetes plugin's main thread does for every watch. No sockets: the stream is the input.
 *
 * The first input byte chooses the watched kind, the chunk size the stream is cut into
 * (so lines split across chunks are exercised) and whether the body is a LIST page instead
 * (cdns_k8s_list_apply plus a mark-and-sweep). Each input gets a fresh index, freed at the end,
 * so leaks and use-after-free in upsert/delete/sweep show up under ASan.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct feed {
    cdns_k8s_index_t *idx;
    cdns_k8s_kind_t kind;
    unsigned events;
} feed_t;

static size_t total(const cdns_k8s_index_t *idx)
{
    size_t n = 0;
    for (int k = CDNS_K8S_SERVICE; k <= CDNS_K8S_NAMESPACE; k++)
        n += cdns_k8s_index_count(idx, (cdns_k8s_kind_t)k);
    return n;
}

static bool on_line(void *arg, char *line, size_t n)
{
    feed_t *f = arg;
    cdns_k8s_event_t ev;
    assert(strlen(line) <= n);
    int rc = cdns_k8s_event_apply(f->idx, f->kind, line, n, &ev);
    /* The event's identity fields are for logs: always terminated, whatever the input. */
    assert(memchr(ev.rv, '\0', sizeof(ev.rv)) && memchr(ev.ns, '\0', sizeof(ev.ns)));
    assert(memchr(ev.name, '\0', sizeof(ev.name)) && memchr(ev.service, '\0', sizeof(ev.service)));
    /* The object is stored under its own kind, which need not be the watched one. */
    if (rc == CDNS_OK && ev.changed && ev.type != CDNS_K8S_EV_DELETED)
        assert(total(f->idx) > 0);
    assert(rc == CDNS_OK || !ev.changed);
    f->events++;
    return true;
}

static bool visit_service(const cdns_k8s_object_t *o, void *arg)
{
    const cdns_k8s_index_t *idx = arg;
    cdns_k8s_epaddr_t *eps = NULL;
    size_t n = 0;
    assert(o->kind == CDNS_K8S_SERVICE);
    if (cdns_k8s_index_service_endpoints(idx, o->u.svc->ns, o->u.svc->name, NULL, &eps, &n) == CDNS_OK) {
        for (size_t i = 0; i < n; i++) {
            char buf[64];
            assert(eps[i].ip != NULL);
            const char *name = cdns_k8s_endpoint_name(&eps[i], true, buf);
            assert(name != NULL);
        }
        free(eps);
    }
    return true;
}

static void build_records(const cdns_k8s_index_t *idx)
{
    static const char *const zones[] = {"cluster.local.", "in-addr.arpa.", "ip6.arpa."};
    cdns_k8s_opts_t o = {
        .zones = zones,
        .nzones = 3,
        .ttl_s = 5,
        .pods = CDNS_K8S_PODS_VERIFIED,
        .endpoint_pod_names = true,
        .serial = 1,
    };
    cdns_snapshot_t *s = NULL;
    if (cdns_k8s_build(idx, &o, &s) == CDNS_OK)
        cdns_snapshot_free(s);
    cdns_k8s_index_each(idx, CDNS_K8S_SERVICE, visit_service, (void *)idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const cdns_k8s_kind_t kinds[] = {CDNS_K8S_SERVICE, CDNS_K8S_ENDPOINTSLICE, CDNS_K8S_ENDPOINTS, CDNS_K8S_POD,
                                            CDNS_K8S_NAMESPACE};
    uint8_t sel = data[0];
    feed_t f = {.idx = cdns_k8s_index_new(), .kind = kinds[(sel & 7) % 5]};
    assert(f.idx != NULL);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    if (sel & 0x08) {
        /* A LIST page: stamped with a generation, then everything older is swept. */
        char rv[64], *cont = NULL;
        cdns_k8s_load_stats_t st;
        uint64_t gen = cdns_k8s_index_next_gen(f.idx);
        if (cdns_k8s_list_apply(f.idx, f.kind, body, len, gen, rv, sizeof(rv), &cont, &st) == CDNS_OK) {
            assert(memchr(rv, '\0', sizeof(rv)) != NULL);
            assert(st.objects + st.ignored + st.malformed <= len);
            free(cont);
            build_records(f.idx);
            cdns_k8s_index_sweep(f.idx, f.kind, NULL, cdns_k8s_index_next_gen(f.idx));
            assert(cdns_k8s_index_count(f.idx, f.kind) == 0);
        }
    } else {
        /* Chunks of 1, 2, 4 ... 128 octets or the whole stream, as a TCP stream may split it. */
        unsigned shift = (sel >> 4) & 0xf;
        size_t chunk = shift < 8 ? (size_t)1 << shift : len;
        cdns_k8s_lines_t l;
        cdns_k8s_lines_init(&l, 1u << 16);
        for (size_t off = 0; off < len;) {
            size_t n = len - off < chunk ? len - off : chunk;
            if (n == 0)
                break;
            int rc = cdns_k8s_lines_feed(&l, body + off, n, on_line, &f);
            assert(rc == CDNS_OK || rc == CDNS_ENOSPC);
            off += n;
        }
        cdns_k8s_lines_deinit(&l);
        build_records(f.idx);
    }
    cdns_k8s_index_free(f.idx);
    return 0;
}
