/* SPDX-License-Identifier: MIT */
/* test_wire.c — the sticky cursor and cdns_query_parse() against crafted packets: every drop,
 * FORMERR, NOTIMP and BADVERS case, EDNS fields, and truncation at every length. */
#include "cdns/dns.h"
#include "check_main.h"

#include <ldns/ldns.h>
#include <string.h>

/* A packet under construction. */
typedef struct {
    uint8_t b[1024];
    size_t n;
} pkt_t;

static void u8(pkt_t *p, uint8_t v)
{
    p->b[p->n++] = v;
}

static void u16(pkt_t *p, uint16_t v)
{
    u8(p, (uint8_t)(v >> 8));
    u8(p, (uint8_t)v);
}

static void u32(pkt_t *p, uint32_t v)
{
    u16(p, (uint16_t)(v >> 16));
    u16(p, (uint16_t)v);
}

static void raw(pkt_t *p, const void *d, size_t n)
{
    if (n > 0)
        memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void hdr(pkt_t *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
    p->n = 0;
    u16(p, id);
    u16(p, flags);
    u16(p, qd);
    u16(p, an);
    u16(p, ns);
    u16(p, ar);
}

static void name(pkt_t *p, const char *text)
{
    uint8_t w[CDNS_DNAME_MAX];
    size_t len;
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, w, &len), CDNS_OK);
    raw(p, w, len);
}

static void question(pkt_t *p, const char *text, uint16_t qtype)
{
    name(p, text);
    u16(p, qtype);
    u16(p, CDNS_C_IN);
}

/* OPT with root owner; ttl = ext-rcode | version | flags. */
static void opt(pkt_t *p, uint16_t size, uint8_t version, uint16_t flags, const void *rdata, uint16_t rdlen)
{
    u8(p, 0);
    u16(p, CDNS_T_OPT);
    u16(p, size);
    u32(p, ((uint32_t)version << 16) | flags);
    u16(p, rdlen);
    raw(p, rdata, rdlen);
}

/* A plain query for www.Example.org A with RD, optionally with EDNS (4096, DO). */
static void basic(pkt_t *p, bool edns)
{
    hdr(p, 0xbeef, CDNS_F_RD, 1, 0, 0, edns ? 1 : 0);
    question(p, "www.Example.org.", CDNS_T_A);
    if (edns)
        opt(p, 4096, 0, CDNS_EDNS_DO, NULL, 0);
}

START_TEST(cursor_sticky)
{
    static const uint8_t d[] = {1, 2, 3, 4, 5, 6, 7};
    cdns_wire_t w;
    cdns_wire_init(&w, d, sizeof(d));
    ck_assert_uint_eq(cdns_wire_u8(&w), 1);
    ck_assert_uint_eq(cdns_wire_u16(&w), 0x0203);
    ck_assert_uint_eq(cdns_wire_left(&w), 4);
    ck_assert_uint_eq(cdns_wire_u32(&w), 0x04050607);
    ck_assert_int_eq(w.err, CDNS_OK);
    ck_assert_uint_eq(cdns_wire_left(&w), 0);
    ck_assert_uint_eq(cdns_wire_u8(&w), 0);
    ck_assert_int_eq(w.err, CDNS_EMALFORMED);

    /* After an overrun nothing reads, even what would fit. */
    cdns_wire_init(&w, d, sizeof(d));
    cdns_wire_skip(&w, 5);
    ck_assert_uint_eq(cdns_wire_u32(&w), 0);
    ck_assert_int_eq(w.err, CDNS_EMALFORMED);
    ck_assert_uint_eq(cdns_wire_u8(&w), 0);
    ck_assert_uint_eq(cdns_wire_u16(&w), 0);
    ck_assert_uint_eq(cdns_wire_left(&w), 0);

    cdns_wire_init(&w, d, sizeof(d));
    cdns_wire_skip(&w, 8);
    ck_assert_int_eq(w.err, CDNS_EMALFORMED);
    cdns_wire_init(&w, d, sizeof(d));
    cdns_wire_skip(&w, 7);
    ck_assert_int_eq(w.err, CDNS_OK);
    cdns_wire_skip(&w, SIZE_MAX); /* no wrap-around */
    ck_assert_int_eq(w.err, CDNS_EMALFORMED);
}
END_TEST

START_TEST(parse_plain)
{
    pkt_t p;
    cdns_query_t q;
    basic(&p, false);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert_uint_eq(q.id, 0xbeef);
    ck_assert_uint_eq(q.flags, CDNS_F_RD);
    ck_assert_uint_eq(q.opcode, 0);
    ck_assert(q.has_question);
    ck_assert_uint_eq(q.qname_len, 17);
    ck_assert_mem_eq(q.qname, "\3www\7Example\3org", 17);
    ck_assert_mem_eq(q.qname_lower, "\3www\7example\3org", 17);
    ck_assert_uint_eq(q.qname_labels, 3);
    ck_assert_uint_eq(q.question_len, 21);
    ck_assert_uint_eq(q.qtype, CDNS_T_A);
    ck_assert_uint_eq(q.qclass, CDNS_C_IN);
    ck_assert(!q.has_edns);
    /* The store's key comes hashed with the question, from the lowercase name. */
    ck_assert_uint_eq(q.qname_hash, cdns_dname_hash64((const uint8_t *)"\3www\7example\3org", 17));
    ck_assert_uint_eq((uint32_t)q.qname_hash, cdns_dname_hash((const uint8_t *)"\3www\7example\3org", 17));

    /* ldns agrees the crafted packet is a well-formed query. */
    ldns_pkt *lp = NULL;
    ck_assert_int_eq(ldns_wire2pkt(&lp, p.b, p.n), LDNS_STATUS_OK);
    ldns_pkt_free(lp);
}
END_TEST

START_TEST(parse_root_query)
{
    pkt_t p;
    cdns_query_t q;
    hdr(&p, 1, 0, 1, 0, 0, 0);
    question(&p, ".", CDNS_T_NS);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert_uint_eq(q.qname_len, 1);
    ck_assert_uint_eq(q.qname_labels, 0);
    ck_assert_uint_eq(q.question_len, 5);
}
END_TEST

START_TEST(parse_edns)
{
    pkt_t p;
    cdns_query_t q;
    /* A cookie and an unknown option are framed correctly and ignored. */
    static const uint8_t opts[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0xfd, 0xe9, 0, 0};
    hdr(&p, 7, 0, 1, 0, 0, 1);
    question(&p, "a.b.", CDNS_T_AAAA);
    opt(&p, 4096, 0, CDNS_EDNS_DO | 0x0001, opts, sizeof(opts));
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert(q.has_edns);
    ck_assert_uint_eq(q.edns_udp_size, 4096);
    ck_assert_uint_eq(q.edns_version, 0);
    ck_assert_uint_eq(q.edns_flags, CDNS_EDNS_DO | 0x0001);

    /* A size below 512 is reported as received; the writer applies the floor. */
    hdr(&p, 7, 0, 1, 0, 0, 1);
    question(&p, "a.b.", CDNS_T_A);
    opt(&p, 100, 0, 0, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert_uint_eq(q.edns_udp_size, 100);
    ck_assert_uint_eq(q.edns_flags, 0);
}
END_TEST

START_TEST(parse_edns_bad_options)
{
    pkt_t p;
    cdns_query_t q;
    /* An option claiming more octets than the rdata holds. */
    static const uint8_t over[] = {0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8};
    hdr(&p, 7, 0, 1, 0, 0, 1);
    question(&p, "a.b.", CDNS_T_A);
    opt(&p, 1232, 0, 0, over, sizeof(over));
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    /* Rdata that ends inside an option header. */
    static const uint8_t partial[] = {0, 10, 0};
    hdr(&p, 7, 0, 1, 0, 0, 1);
    question(&p, "a.b.", CDNS_T_A);
    opt(&p, 1232, 0, 0, partial, sizeof(partial));
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
}
END_TEST

START_TEST(drop)
{
    pkt_t p;
    cdns_query_t q;
    basic(&p, false);
    for (size_t n = 0; n < 12; n++)
        ck_assert_int_eq(cdns_query_parse(p.b, n, &q), CDNS_QUERY_DROP);
    hdr(&p, 1, CDNS_F_QR | CDNS_F_RD, 1, 0, 0, 0);
    question(&p, "x.", CDNS_T_A);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_DROP);
    /* A response is dropped even when it is otherwise broken. */
    hdr(&p, 1, CDNS_F_QR, 0, 5, 0, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_DROP);
}
END_TEST

START_TEST(notimp)
{
    pkt_t p;
    cdns_query_t q;
    /* UPDATE (5) with a zone section: NOTIMP, question echoed, opcode kept. */
    hdr(&p, 9, 5 << 11, 1, 0, 3, 0);
    question(&p, "Example.org.", CDNS_T_SOA);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_NOTIMP);
    ck_assert_uint_eq(q.opcode, 5);
    ck_assert_uint_eq(q.id, 9);
    ck_assert(q.has_question);
    ck_assert_mem_eq(q.qname, "\7Example\3org", 13);
    /* QDCOUNT 0 is NOTIMP too, not FORMERR (as Knot and NSD answer). */
    hdr(&p, 9, 2 << 11, 0, 0, 0, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_NOTIMP);
    ck_assert(!q.has_question);
    ck_assert_uint_eq(q.opcode, 2);
    /* A question that does not parse is simply not echoed. */
    hdr(&p, 9, 4 << 11, 1, 0, 0, 0);
    raw(&p, "\5ab", 3);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_NOTIMP);
    ck_assert(!q.has_question);
}
END_TEST

START_TEST(formerr_qdcount)
{
    pkt_t p;
    cdns_query_t q;
    hdr(&p, 3, 0, 0, 0, 0, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(!q.has_question);
    ck_assert_uint_eq(q.id, 3);
    hdr(&p, 3, 0, 2, 0, 0, 0);
    question(&p, "a.", CDNS_T_A);
    question(&p, "b.", CDNS_T_A);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(!q.has_question);
}
END_TEST

START_TEST(formerr_answer_authority)
{
    pkt_t p;
    cdns_query_t q;
    /* An OPT in the answer section. */
    hdr(&p, 3, 0, 1, 1, 0, 0);
    question(&p, "a.", CDNS_T_A);
    opt(&p, 1232, 0, 0, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(q.has_question); /* the error response echoes it */
    ck_assert(!q.has_edns);
    /* And in the authority section. */
    hdr(&p, 3, 0, 1, 0, 1, 0);
    question(&p, "a.", CDNS_T_A);
    opt(&p, 1232, 0, 0, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    /* An ordinary record in the answer section. */
    hdr(&p, 3, 0, 1, 1, 0, 0);
    question(&p, "a.", CDNS_T_A);
    raw(&p, "\xc0\x0c\0\1\0\1\0\0\0\1\0\4\1\2\3\4", 16);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
}
END_TEST

START_TEST(formerr_opt)
{
    pkt_t p;
    cdns_query_t q;
    /* Two OPT records. */
    hdr(&p, 3, 0, 1, 0, 0, 2);
    question(&p, "a.", CDNS_T_A);
    opt(&p, 1232, 0, 0, NULL, 0);
    opt(&p, 1232, 0, 0, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(q.has_edns); /* the first was read: the FORMERR carries an OPT */
    /* OPT not owned by the root. */
    hdr(&p, 3, 0, 1, 0, 0, 1);
    question(&p, "a.", CDNS_T_A);
    name(&p, "x.");
    p.n--; /* the opt() helper writes its own root owner: replace it */
    opt(&p, 1232, 0, 0, NULL, 0);
    ck_assert_int_eq(p.b[p.n - 11 - 2], 1);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    /* ARCOUNT claims a record that is not there. */
    hdr(&p, 3, 0, 1, 0, 0, 2);
    question(&p, "a.", CDNS_T_A);
    opt(&p, 1232, 0, 0, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    /* OPT rdlen beyond the packet. */
    hdr(&p, 3, 0, 1, 0, 0, 1);
    question(&p, "a.", CDNS_T_A);
    opt(&p, 1232, 0, 0, NULL, 0);
    p.b[p.n - 1] = 4;
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
}
END_TEST

START_TEST(opt_owner_compressed_to_root)
{
    pkt_t p;
    cdns_query_t q;
    /* The OPT owner as a pointer to the question's root label is still the root. */
    hdr(&p, 3, 0, 1, 0, 0, 1);
    question(&p, "a.", CDNS_T_A);
    u16(&p, 0xc000 | 14);
    u16(&p, CDNS_T_OPT);
    u16(&p, 1400);
    u32(&p, 0);
    u16(&p, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert(q.has_edns);
    ck_assert_uint_eq(q.edns_udp_size, 1400);
}
END_TEST

START_TEST(other_additional_records)
{
    pkt_t p;
    cdns_query_t q;
    /* A TSIG-like record owned by the compressed qname, then OPT: skipped, OPT still found. */
    hdr(&p, 3, 0, 1, 0, 0, 2);
    question(&p, "key.example.", CDNS_T_A);
    u16(&p, 0xc00c);
    u16(&p, 250);
    u16(&p, CDNS_C_ANY);
    u32(&p, 0);
    u16(&p, 3);
    raw(&p, "abc", 3);
    opt(&p, 2048, 0, 0, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert(q.has_edns);
    ck_assert_uint_eq(q.edns_udp_size, 2048);
    /* The same record with a looping owner. */
    hdr(&p, 3, 0, 1, 0, 0, 1);
    question(&p, "key.example.", CDNS_T_A);
    u16(&p, (uint16_t)(0xc000 | p.n));
    u16(&p, 250);
    u16(&p, CDNS_C_ANY);
    u32(&p, 0);
    u16(&p, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
}
END_TEST

START_TEST(badvers)
{
    pkt_t p;
    cdns_query_t q;
    hdr(&p, 0x1234, CDNS_F_RD, 1, 0, 0, 1);
    question(&p, "svc.cluster.local.", CDNS_T_SRV);
    opt(&p, 1500, 1, CDNS_EDNS_DO, NULL, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_BADVERS);
    /* q is complete so the BADVERS response can echo everything. */
    ck_assert(q.has_question);
    ck_assert_uint_eq(q.qtype, CDNS_T_SRV);
    ck_assert_uint_eq(q.qname_labels, 3);
    ck_assert(q.has_edns);
    ck_assert_uint_eq(q.edns_version, 1);
    ck_assert_uint_eq(q.edns_udp_size, 1500);
    ck_assert_uint_eq(q.edns_flags, CDNS_EDNS_DO);
    /* Version 255 likewise; a malformed packet is FORMERR whatever its version. */
    p.b[p.n - 11 + 6] = 255;
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_BADVERS);
    ck_assert_uint_eq(q.edns_version, 255);
    p.b[p.n++] = 0;
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
}
END_TEST

START_TEST(formerr_trailing)
{
    pkt_t p;
    cdns_query_t q;
    basic(&p, false);
    u8(&p, 0);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(q.has_question);
    basic(&p, true);
    raw(&p, "junk", 4);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(q.has_edns);
}
END_TEST

START_TEST(formerr_bad_qname)
{
    pkt_t p;
    cdns_query_t q;
    /* A question name pointing at itself. */
    hdr(&p, 3, 0, 1, 0, 0, 0);
    raw(&p, "\1a\xc0\x0c\0\1\0\1", 8);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(!q.has_question);
    /* A pointer forward to a valid name. */
    hdr(&p, 3, 0, 1, 0, 0, 0);
    raw(&p, "\xc0\x12\0\1\0\1\1a\0", 9);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(!q.has_question);
    /* A pointer into the header. */
    hdr(&p, 3, 0, 1, 0, 0, 0);
    raw(&p, "\xc0\x05\0\1\0\1", 6);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    ck_assert(!q.has_question);
    /* 256 octets. */
    hdr(&p, 3, 0, 1, 0, 0, 0);
    for (int i = 0; i < 4; i++) {
        u8(&p, 63);
        for (int j = 0; j < 63; j++)
            u8(&p, 'a');
    }
    u8(&p, 0);
    u16(&p, 1);
    u16(&p, 1);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
    /* Extended label type. */
    hdr(&p, 3, 0, 1, 0, 0, 0);
    raw(&p, "\x41\0\0\1\0\1", 6);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_FORMERR);
}
END_TEST

START_TEST(parse_255_octet_qname)
{
    pkt_t p;
    cdns_query_t q;
    hdr(&p, 3, 0, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++) {
        u8(&p, 63);
        for (int j = 0; j < 63; j++)
            u8(&p, 'A');
    }
    u8(&p, 61);
    for (int j = 0; j < 61; j++)
        u8(&p, 'b');
    u8(&p, 0);
    u16(&p, 1);
    u16(&p, 1);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    ck_assert_uint_eq(q.qname_len, 255);
    ck_assert_uint_eq(q.qname_labels, 4);
    ck_assert_uint_eq(q.qname_lower[1], 'a');
    ck_assert_uint_eq(q.qname[1], 'A');
}
END_TEST

/* Every prefix of a valid EDNS query is rejected (DROP under 12 octets, FORMERR from there). */
START_TEST(every_truncation)
{
    pkt_t p;
    cdns_query_t q;
    static const uint8_t opts[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    hdr(&p, 7, 0, 1, 0, 0, 1);
    question(&p, "www.example.org.", CDNS_T_A);
    opt(&p, 1232, 0, 0, opts, sizeof(opts));
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    for (size_t n = 0; n < p.n; n++) {
        cdns_query_status_t st = cdns_query_parse(p.b, n, &q);
        ck_assert_int_eq(st, n < 12 ? CDNS_QUERY_DROP : CDNS_QUERY_FORMERR);
    }
}
END_TEST

/* Random garbage must never crash or read out of bounds (run under ASan). */
START_TEST(garbage)
{
    uint32_t x = 12345;
    uint8_t buf[300];
    cdns_query_t q;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 12 + (size_t)(iter % 200);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        buf[2] &= 0x07; /* a query, opcode 0, so the whole parser runs */
        buf[4] = 0;
        buf[5] = 1;
        buf[6] = buf[7] = buf[8] = buf[9] = 0;
        buf[10] = 0;
        buf[11] &= 3;
        cdns_query_status_t st = cdns_query_parse(buf, n, &q);
        ck_assert(st == CDNS_QUERY_OK || st == CDNS_QUERY_FORMERR || st == CDNS_QUERY_BADVERS);
        if (st == CDNS_QUERY_OK)
            ck_assert_uint_le(q.qname_len, CDNS_DNAME_MAX);
    }
}
END_TEST

/* The parser takes uncompressed question names on a fast path of its own; whatever the octets,
 * it must agree with cdns_dname_unpack() on acceptance, name, length and labels. */
START_TEST(question_matches_unpack)
{
    uint32_t seed = 12345;
    for (int t = 0; t < 20000; t++) {
        pkt_t p = {.n = 0};
        hdr(&p, 1, 0, 1, 0, 0, 0);
        size_t start = p.n;
        int nl = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        for (int i = 0; i < nl && p.n < 300; i++) {
            uint32_t r = (seed = seed * 1103515245u + 12345u) >> 16;
            uint8_t l = (uint8_t)(r % 100 < 90 ? r % 40 : (r % 100 < 95 ? 60 + r % 8 : r & 0xff));
            u8(&p, l);
            for (uint8_t k = 0; k < l && p.n < 1000; k++)
                u8(&p, (uint8_t)("aZ-09_"[(r + k) % 6]));
        }
        u8(&p, 0);
        u16(&p, CDNS_T_A);
        u16(&p, CDNS_C_IN);
        /* Cut some packets short, anywhere in the name. */
        uint32_t r = (seed = seed * 1103515245u + 12345u) >> 16;
        if (r % 4 == 0)
            p.n = start + r % (p.n - start + 1);
        cdns_query_t q;
        cdns_query_status_t st = cdns_query_parse(p.b, p.n, &q);
        uint8_t ref[CDNS_DNAME_MAX];
        size_t pos = start, rlen;
        bool ok = cdns_dname_unpack(p.b, p.n, &pos, ref, &rlen) == CDNS_OK && pos + 4 <= p.n;
        ck_assert_int_eq(q.has_question, ok);
        if (ok) {
            ck_assert_int_eq(st, pos + 4 == p.n ? CDNS_QUERY_OK : CDNS_QUERY_FORMERR);
            ck_assert_uint_eq(q.qname_len, rlen);
            ck_assert_mem_eq(q.qname, ref, rlen);
            ck_assert_int_eq(q.qname_labels, cdns_dname_labels(ref));
            uint8_t low[CDNS_DNAME_MAX];
            cdns_dname_copy_lower(low, ref);
            ck_assert_mem_eq(q.qname_lower, low, rlen);
            ck_assert_uint_eq(q.qname_hash, cdns_dname_hash64(low, rlen));
        } else {
            ck_assert_int_eq(st, CDNS_QUERY_FORMERR);
        }
    }
}
END_TEST

/* A plugin that rewrites the question (autopath) gets every derived field redone, the hash the
 * kubernetes plugin looks the name up by included; type, class, id and EDNS stay. */
START_TEST(set_name_redoes_the_derived_fields)
{
    pkt_t p;
    cdns_query_t q;
    basic(&p, true);
    ck_assert_int_eq(cdns_query_parse(p.b, p.n, &q), CDNS_QUERY_OK);
    static const uint8_t name[] = "\3Web\7Default\3SVC\7cluster\5local";
    cdns_query_set_name(&q, name, sizeof(name));
    ck_assert_uint_eq(q.qname_len, sizeof(name));
    ck_assert_mem_eq(q.qname, name, sizeof(name));
    ck_assert_mem_eq(q.qname_lower, "\3web\7default\3svc\7cluster\5local", sizeof(name));
    ck_assert_uint_eq(q.qname_labels, 5);
    ck_assert_uint_eq(q.question_len, sizeof(name) + 4);
    ck_assert_uint_eq(q.qname_hash, cdns_dname_hash64(q.qname_lower, sizeof(name)));
    ck_assert_uint_eq(q.id, 0xbeef);
    ck_assert_uint_eq(q.qtype, CDNS_T_A);
    ck_assert(q.has_edns);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("dns/wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cursor_sticky);
    tcase_add_test(tc, parse_plain);
    tcase_add_test(tc, parse_root_query);
    tcase_add_test(tc, parse_edns);
    tcase_add_test(tc, parse_edns_bad_options);
    tcase_add_test(tc, drop);
    tcase_add_test(tc, notimp);
    tcase_add_test(tc, formerr_qdcount);
    tcase_add_test(tc, formerr_answer_authority);
    tcase_add_test(tc, formerr_opt);
    tcase_add_test(tc, opt_owner_compressed_to_root);
    tcase_add_test(tc, other_additional_records);
    tcase_add_test(tc, badvers);
    tcase_add_test(tc, formerr_trailing);
    tcase_add_test(tc, formerr_bad_qname);
    tcase_add_test(tc, parse_255_octet_qname);
    tcase_add_test(tc, every_truncation);
    tcase_add_test(tc, garbage);
    tcase_add_test(tc, question_matches_unpack);
    tcase_add_test(tc, set_name_redoes_the_derived_fields);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(wire_suite)
