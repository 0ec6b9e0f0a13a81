/* SPDX-License-Identifier: MIT */
/* fuzz_upstream.c — an upstream's reply as forward hands it on: reply matching, raw mode
 * (cdns_msg_set_raw, truncation to the client's limit in cdns_msg_finish), then the cache
 * plugin storing it (its on_response: record walk, response typing, TTL rewrite, insert) and
 * answering the same question from the table (its serve: lookup, TTL aging, cut to the limit).
 *
 * The input is the first byte (the client's transport, EDNS size, DO and CD bits) and the reply.
 * The client's query is built from the reply's own question so that matching can succeed.
 * Every response must fit its limit and carry the client's ID; when the reply is well formed
 * (ldns parses it and every record keeps to its RDLENGTH), so must be what we send on: we cut
 * and rewrite TTLs, but never corrupt. The cache instance comes from
 * the plugin registry and a parsed Corefile, as the pipeline makes it; it is emptied before
 * each input so that runs do not depend on each other.
 */
#include <assert.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/cache.h"
#include "cdns/config.h"
#include "cdns/plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const cdns_plugin_api_t *cache_api;
static void *cache_inst, *cache_ws;
static cdns_corefile_t *cf;
static cdns_worker_t worker = {.id = 0, .loop = NULL};
static uint8_t out[CDNS_REQ_OUT_CAP];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char text[] = ". {\n    cache 3600 {\n        success 2048\n        denial 1024 60\n    }\n}\n";
    static const char *const zones[] = {"."};
    cdns_diag_t diag = {{0}};
    cdns_log_set_level(CDNS_LOG_ERROR);
    const cdns_plugin_entry_t *e = cdns_plugin_find("cache");
    if (e == NULL || e->api == NULL ||
        cdns_corefile_parse(text, sizeof(text) - 1, "/nonexistent-fuzz/Corefile", &cf, &diag) != CDNS_OK) {
        fprintf(stderr, "fuzz_upstream: no cache plugin or bad Corefile: %s\n", diag.msg);
        abort();
    }
    cache_api = e->api;
    cdns_setup_ctx_t ctx = {.block = &cf->blocks[0], .zones = zones, .nzones = 1, .corefile_dir = "/nonexistent-fuzz"};
    if (cache_api->setup(&ctx, &cf->blocks[0].dirs[0], &cache_inst, &diag) != CDNS_OK ||
        cache_api->worker_init(cache_inst, &worker, &cache_ws) != CDNS_OK) {
        fprintf(stderr, "fuzz_upstream: cache setup failed: %s\n", diag.msg);
        abort();
    }
    return 0;
}

/* The client's query for the reply's question (or example.org A when the reply has none). */
static size_t make_query(const uint8_t *reply, size_t len, uint8_t sel, uint8_t *pkt)
{
    static const uint16_t sizes[] = {512, 1232, 1400, 4096, 600, 65535, 100, 1024};
    uint8_t name[CDNS_DNAME_MAX];
    size_t pos = CDNS_DNS_HDR_LEN, nlen = 0;
    uint16_t qtype = CDNS_T_A, qclass = CDNS_C_IN;
    if (len >= CDNS_DNS_HDR_LEN && cdns_dname_unpack(reply, len, &pos, name, &nlen) == CDNS_OK && pos + 4 <= len) {
        qtype = (uint16_t)(reply[pos] << 8 | reply[pos + 1]);
        qclass = (uint16_t)(reply[pos + 2] << 8 | reply[pos + 3]);
    } else {
        cdns_dname_from_str("example.org.", NULL, name, &nlen);
    }
    memset(pkt, 0, CDNS_DNS_HDR_LEN);
    if (len >= 2)
        memcpy(pkt, reply, 2);
    pkt[2] = 0x01;                       /* RD */
    pkt[3] = (sel & 0x40) ? 0x10 : 0x00; /* CD */
    pkt[5] = 1;
    size_t off = CDNS_DNS_HDR_LEN;
    memcpy(pkt + off, name, nlen);
    off += nlen;
    pkt[off++] = (uint8_t)(qtype >> 8);
    pkt[off++] = (uint8_t)qtype;
    pkt[off++] = (uint8_t)(qclass >> 8);
    pkt[off++] = (uint8_t)qclass;
    if (sel & 0x04) {
        uint16_t sz = sizes[(sel >> 3) & 7];
        pkt[11] = 1;
        uint8_t opt[11] = {0, 0, 41, (uint8_t)(sz >> 8), (uint8_t)sz, 0, 0, (sel & 0x02) ? 0x80 : 0, 0, 0, 0};
        memcpy(pkt + off, opt, sizeof(opt));
        off += sizeof(opt);
    }
    return off;
}

static ldns_status parse(const uint8_t *wire, size_t len)
{
    ldns_pkt *p = NULL;
    ldns_status st = ldns_wire2pkt(&p, wire, len);
    ldns_pkt_free(p);
    return st;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* True when every record is of a type whose rdata format is checked here (A, AAAA, CNAME, NS,
 * PTR, MX, SRV, SOA, TXT, OPT) and fills its RDLENGTH exactly, and nothing trails the last
 * record. ldns alone is laxer (it reads a name in rdata past RDLENGTH, or stops short of it and
 * reads the rest as the next record), so a reply is "well formed" for the differential check
 * below only when both agree. */
static bool strict_ok(const uint8_t *b, size_t len)
{
    uint8_t name[CDNS_DNAME_MAX];
    size_t off = CDNS_DNS_HDR_LEN, nl;
    if (len < CDNS_DNS_HDR_LEN)
        return false;
    for (unsigned i = 0; i < get16(b + 4); i++) {
        if (cdns_dname_unpack(b, len, &off, name, &nl) != CDNS_OK || off + 4 > len)
            return false;
        off += 4;
    }
    unsigned total = (unsigned)get16(b + 6) + get16(b + 8) + get16(b + 10);
    for (unsigned i = 0; i < total; i++) {
        if (cdns_dname_unpack(b, len, &off, name, &nl) != CDNS_OK || off + 10 > len)
            return false;
        uint16_t type = get16(b + off);
        size_t rd = off + 10, end = rd + get16(b + off + 8);
        if (end > len)
            return false;
        size_t fixed = 0, names = 0, tail = 0;
        switch (type) {
        case CDNS_T_CNAME:
        case CDNS_T_NS:
        case CDNS_T_PTR:
            names = 1;
            break;
        case CDNS_T_MX:
            fixed = 2, names = 1;
            break;
        case CDNS_T_SRV:
            fixed = 6, names = 1;
            break;
        case CDNS_T_SOA:
            names = 2, tail = 20;
            break;
        case CDNS_T_A:
        case CDNS_T_AAAA:
            if (end - rd != (type == CDNS_T_A ? 4u : 16u))
                return false;
            break;
        case CDNS_T_TXT:
            for (size_t p = rd; p < end; p += 1 + (size_t)b[p])
                if (p + 1 + b[p] > end)
                    return false;
            break;
        case CDNS_T_OPT:
            break;
        default:
            return false; /* a format this check does not know: no verdict */
        }
        if (names) {
            size_t p = rd + fixed;
            for (size_t k = 0; k < names; k++)
                if (p > end || cdns_dname_unpack(b, end, &p, name, &nl) != CDNS_OK)
                    return false;
            if (p + tail != end)
                return false;
        }
        off = end;
    }
    return off == len;
}

static bool parses(const uint8_t *wire, size_t len)
{
    return strict_ok(wire, len) && parse(wire, len) == LDNS_STATUS_OK;
}

static void check_sent(const cdns_req_t *req, size_t n, bool reply_parses, const char *stage)
{
    assert(n >= CDNS_DNS_HDR_LEN && n <= req->msg.limit);
    assert(req->tcp || n <= 65535);
    assert(((uint16_t)(out[0] << 8 | out[1])) == req->q.id);
    ldns_status st = LDNS_STATUS_ERR;
    if (reply_parses && (!strict_ok(out, n) || (st = parse(out, n)) != LDNS_STATUS_OK)) {
        fprintf(stderr, "fuzz_upstream: %s: a reply ldns parses was sent on broken (%zu of limit %zu octets): %s\n",
                stage, n, req->msg.limit, ldns_get_errorstr_by_id(st));
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%02x%s", out[i], i % 32 == 31 ? "\n" : "");
        fprintf(stderr, "\n");
        abort();
    }
}

static void init_req(cdns_req_t *req, const cdns_query_t *q, bool tcp)
{
    memset(req, 0, sizeof(*req));
    req->q = *q;
    req->tcp = tcp;
    req->worker = &worker;
    req->out = out;
    req->server = "dns://:53";
    cdns_msg_begin(&req->msg, out, sizeof(out), q, tcp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cdns_req_t req;
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *reply = data + 1;
    size_t len = size - 1;
    bool tcp = (sel & 0x01) != 0;
    uint8_t pkt[CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4 + 11];
    cdns_query_t q;
    if (cdns_query_parse(pkt, make_query(reply, len, sel, pkt), &q) != CDNS_QUERY_OK)
        return 0;
    uint16_t id = (uint16_t)(pkt[0] << 8 | pkt[1]);
    if (!cdns_msg_reply_matches(reply, len, id, &q))
        return 0; /* forward drops it and keeps waiting */
    bool reply_parses = parses(reply, len);
    cdns_cache_flush(NULL);

    /* A miss: forward's reply becomes the response, the cache stores it on the way out. */
    init_req(&req, &q, tcp);
    if (cdns_msg_set_raw(&req.msg, reply, len, &q) != CDNS_OK)
        return 0;
    req.answered_by = "forward";
    cache_api->on_response(&req, cache_inst, cache_ws);
    check_sent(&req, cdns_msg_finish(&req.msg), reply_parses, "forwarded");

    /* The same question again, over both transports: answered from the table if it was kept. */
    for (int t = 0; t < 2; t++) {
        init_req(&req, &q, t != 0);
        req.answered_by = NULL;
        if (cache_api->serve(&req, cache_inst, cache_ws) != CDNS_DONE)
            continue;
        assert(strcmp(req.answered_by, "cache") == 0);
        cache_api->on_response(&req, cache_inst, cache_ws); /* its own answer: left alone */
        check_sent(&req, cdns_msg_finish(&req.msg), reply_parses, t ? "cached, TCP" : "cached, UDP");
    }
    return 0;
}
