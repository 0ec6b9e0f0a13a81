/* SPDX-License-Identifier: MIT */
/* store_helpers.h — shared fixtures for the store unit tests: names from text, record adders,
 * and a query/answer round trip through the real parser and writer. Header-only (static
 * inline) because each test file is its own runner. */
#ifndef CDNS_TEST_STORE_HELPERS_H
#define CDNS_TEST_STORE_HELPERS_H

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cdns/store.h"

/* Wire name of text; eight rotating buffers so a call can take several names. */
static inline const uint8_t *N(const char *text)
{
    static uint8_t bufs[8][CDNS_DNAME_MAX];
    static unsigned next;
    uint8_t *b = bufs[next++ % 8];
    size_t len;
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, b, &len), CDNS_OK);
    return b;
}

static inline void add_a(cdns_builder_t *b, const char *owner, uint32_t ttl, const char *ip)
{
    uint8_t rd[4];
    ck_assert_int_eq(cdns_rdata_a(ip, rd), 4);
    ck_assert_int_eq(cdns_builder_add(b, N(owner), CDNS_T_A, ttl, rd, 4), CDNS_OK);
}

static inline void add_aaaa(cdns_builder_t *b, const char *owner, uint32_t ttl, const char *ip)
{
    uint8_t rd[16];
    ck_assert_int_eq(cdns_rdata_aaaa(ip, rd), 16);
    ck_assert_int_eq(cdns_builder_add(b, N(owner), CDNS_T_AAAA, ttl, rd, 16), CDNS_OK);
}

/* CNAME, NS, PTR: rdata is one name. */
static inline void add_name_rr(cdns_builder_t *b, const char *owner, uint16_t type, uint32_t ttl, const char *target)
{
    const uint8_t *t = N(target);
    ck_assert_int_eq(cdns_builder_add(b, N(owner), type, ttl, t, (uint16_t)cdns_dname_len(t)), CDNS_OK);
}

static inline void add_srv(cdns_builder_t *b, const char *owner, uint32_t ttl, uint16_t port, const char *target)
{
    uint8_t rd[300];
    int n = cdns_rdata_srv(0, 100, port, N(target), rd, sizeof(rd));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(cdns_builder_add(b, N(owner), CDNS_T_SRV, ttl, rd, (uint16_t)n), CDNS_OK);
}

/* Declares zone and gives it a SOA with TTL ttl and MINIMUM minimum. */
static inline void add_zone(cdns_builder_t *b, const char *zone, uint32_t ttl, uint32_t minimum)
{
    ck_assert_int_eq(cdns_builder_zone(b, N(zone)), CDNS_OK);
    uint8_t mname[CDNS_DNAME_MAX], rname[CDNS_DNAME_MAX], rd[600];
    size_t l;
    char text[300];
    snprintf(text, sizeof(text), "ns.dns.%s", zone);
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, mname, &l), CDNS_OK);
    snprintf(text, sizeof(text), "hostmaster.%s", zone);
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, rname, &l), CDNS_OK);
    int n = cdns_rdata_soa(mname, rname, 12345, 7200, 1800, 86400, minimum, rd, sizeof(rd));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(cdns_builder_add(b, N(zone), CDNS_T_SOA, ttl, rd, (uint16_t)n), CDNS_OK);
}

static inline cdns_snapshot_t *commit(cdns_builder_t *b)
{
    cdns_snapshot_t *s = NULL;
    ck_assert_int_eq(cdns_builder_commit(b, &s), CDNS_OK);
    ck_assert_ptr_nonnull(s);
    return s;
}

static inline const cdns_node_t *find(const cdns_snapshot_t *s, const char *name)
{
    const uint8_t *w = N(name);
    return cdns_snapshot_find(s, w, cdns_dname_len(w));
}

/* A query packet for name/type; edns_size 0 means no OPT record. Returns its length. */
static inline size_t make_query(uint8_t *pkt, const char *name, uint16_t type, uint16_t edns_size)
{
    uint8_t w[CDNS_DNAME_MAX];
    size_t l;
    ck_assert_int_eq(cdns_dname_from_str(name, NULL, w, &l), CDNS_OK);
    memset(pkt, 0, 12);
    pkt[0] = 0x12;
    pkt[1] = 0x34;
    pkt[2] = 0x01; /* RD */
    pkt[5] = 1;
    size_t p = 12;
    memcpy(pkt + p, w, l);
    p += l;
    pkt[p++] = (uint8_t)(type >> 8);
    pkt[p++] = (uint8_t)type;
    pkt[p++] = 0;
    pkt[p++] = 1;
    if (edns_size) {
        pkt[11] = 1;
        pkt[p++] = 0;
        pkt[p++] = 0;
        pkt[p++] = CDNS_T_OPT;
        pkt[p++] = (uint8_t)(edns_size >> 8);
        pkt[p++] = (uint8_t)edns_size;
        memset(pkt + p, 0, 6);
        p += 6;
    }
    return p;
}

#endif
