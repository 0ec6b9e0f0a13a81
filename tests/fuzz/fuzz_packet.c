/* SPDX-License-Identifier: MIT */
/* fuzz_packet.c — packet in → answer out without sockets: the query parser, the response
 * writer and the store's answer over a fixed snapshot. Checks that every answer fits its limit
 * and that a non-dropped packet gets a response that starts with the query's ID. */
#include <assert.h>
#include <string.h>

#include "cdns/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cdns_snapshot_t *snap;

static void add(cdns_builder_t *b, const char *owner, uint16_t type, const uint8_t *rd, uint16_t len)
{
    uint8_t name[CDNS_DNAME_MAX];
    size_t nlen;
    cdns_dname_from_str(owner, NULL, name, &nlen);
    cdns_builder_add(b, name, type, 5, rd, len);
}

static void build(void)
{
    cdns_builder_t *b = cdns_builder_new();
    uint8_t apex[CDNS_DNAME_MAX], mname[CDNS_DNAME_MAX], rname[CDNS_DNAME_MAX], rd[512], tgt[CDNS_DNAME_MAX];
    size_t len;
    cdns_dname_from_str("cluster.local.", NULL, apex, &len);
    cdns_builder_zone(b, apex);
    cdns_dname_from_str("ns.dns.cluster.local.", NULL, mname, &len);
    cdns_dname_from_str("hostmaster.cluster.local.", NULL, rname, &len);
    int n = cdns_rdata_soa(mname, rname, 1, 7200, 1800, 86400, 5, rd, sizeof(rd));
    add(b, "cluster.local.", CDNS_T_SOA, rd, (uint16_t)n);
    for (int i = 0; i < 80; i++) {
        uint8_t a[4] = {10, 0, (uint8_t)(i >> 8), (uint8_t)i};
        add(b, "hdls.ns.svc.cluster.local.", CDNS_T_A, a, 4);
    }
    cdns_dname_from_str("hdls.ns.svc.cluster.local.", NULL, tgt, &len);
    n = cdns_rdata_srv(0, 100, 80, tgt, rd, sizeof(rd));
    add(b, "_http._tcp.hdls.ns.svc.cluster.local.", CDNS_T_SRV, rd, (uint16_t)n);
    add(b, "alias.ns.svc.cluster.local.", CDNS_T_CNAME, tgt, (uint16_t)len);
    cdns_builder_commit(b, &snap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[65535];
    if (snap == NULL)
        build();
    cdns_query_t q;
    cdns_msg_t m;
    cdns_query_status_t st = cdns_query_parse(data, size, &q);
    if (st == CDNS_QUERY_DROP)
        return 0;
    for (int tcp = 0; tcp < 2; tcp++) {
        if (st != CDNS_QUERY_OK) {
            cdns_msg_begin_error(&m, out, sizeof(out), data, size, &q, CDNS_RCODE_FORMERR);
        } else {
            cdns_answer_info_t info;
            cdns_msg_begin(&m, out, sizeof(out), &q, tcp);
            cdns_store_answer(snap, &q, &m, &info);
        }
        size_t len = cdns_msg_finish(&m);
        assert(len >= 12 && len <= m.limit);
        assert(size < 2 || (out[0] == data[0] && out[1] == data[1]));
    }
    return 0;
}
