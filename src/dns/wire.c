/* SPDX-License-Identifier: MIT */
/* wire.c — the bounded read cursor and the query parser.
 *
 * cdns_query_parse() reads header, question and the additional section of a received packet in
 * place and fills a caller-owned cdns_query_t (the request slot's). It decides what kind of
 * response the packet gets (none, FORMERR, NOTIMP, BADVERS or a real answer) and never
 * allocates. Reentrant; any thread.
 */
#include <string.h>

#include "cdns/dns.h"
#include "dns_internal.h"

void cdns_wire_init(cdns_wire_t *w, const uint8_t *base, size_t len)
{
    w->base = base;
    w->len = len;
    w->pos = 0;
    w->err = CDNS_OK;
}

/* True when n more octets can be read; otherwise latches the error. Once err is set every
 * later read fails here too, so callers check err once at the end. */
static inline bool avail(cdns_wire_t *w, size_t n)
{
    if (w->err == CDNS_OK && w->len - w->pos >= n)
        return true;
    w->err = CDNS_EMALFORMED;
    return false;
}

uint8_t cdns_wire_u8(cdns_wire_t *w)
{
    if (!avail(w, 1))
        return 0;
    return w->base[w->pos++];
}

uint16_t cdns_wire_u16(cdns_wire_t *w)
{
    if (!avail(w, 2))
        return 0;
    const uint8_t *p = w->base + w->pos;
    w->pos += 2;
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t cdns_wire_u32(cdns_wire_t *w)
{
    if (!avail(w, 4))
        return 0;
    const uint8_t *p = w->base + w->pos;
    w->pos += 4;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void cdns_wire_skip(cdns_wire_t *w, size_t n)
{
    if (avail(w, n))
        w->pos += n;
}

size_t cdns_wire_left(const cdns_wire_t *w)
{
    return w->err == CDNS_OK ? w->len - w->pos : 0;
}

/* Reads a (possibly compressed) name at the cursor into out. */
static int read_name(cdns_wire_t *w, uint8_t out[CDNS_DNAME_MAX], size_t *out_len)
{
    if (w->err != CDNS_OK)
        return w->err;
    int ret = cdns_dname_unpack(w->base, w->len, &w->pos, out, out_len);
    if (ret != CDNS_OK)
        w->err = ret;
    return ret;
}

/* The question name of nearly every query is uncompressed (nothing precedes it to point to):
 * one walk checks its labels and counts them, one memcpy takes it. Returns false, having
 * consumed nothing, for anything else (a pointer, a bad label type, truncation, overlength),
 * which read_name then judges. */
static bool read_plain_name(cdns_wire_t *w, cdns_query_t *q, size_t *nlen)
{
    if (w->err != CDNS_OK)
        return false;
    const uint8_t *p = w->base + w->pos;
    size_t left = w->len - w->pos, o = 0;
    /* The root octet at o ends a name of o + 1 octets: one bound covers both the packet's end
     * and the longest name, checked once per label. */
    size_t lim = left < CDNS_DNAME_MAX ? left : CDNS_DNAME_MAX;
    unsigned labels = 0;
    for (;;) {
        if (o >= lim)
            return false;
        uint8_t l = p[o];
        if (l == 0)
            break;
        if (l > CDNS_LABEL_MAX)
            return false;
        o += (size_t)l + 1;
        labels++;
    }
    memcpy(q->qname, p, o + 1);
    w->pos += o + 1;
    *nlen = o + 1;
    q->qname_labels = (uint8_t)labels;
    return true;
}

/* The fields derived from q->qname (nlen octets): the lowercase key and its hash. */
static void derive_key(cdns_query_t *q, size_t nlen)
{
    fold_copy(q->qname_lower, q->qname, nlen);
    q->qname_len = (uint8_t)nlen;
    q->qname_hash = cdns_dname_hash64(q->qname_lower, nlen);
}

/* Reads the question into q; on success sets has_question and the derived fields. */
static int read_question(cdns_wire_t *w, cdns_query_t *q)
{
    size_t start = w->pos, nlen;
    if (!read_plain_name(w, q, &nlen)) {
        if (read_name(w, q->qname, &nlen) != CDNS_OK)
            return CDNS_EMALFORMED;
        q->qname_labels = (uint8_t)cdns_dname_labels(q->qname);
    }
    q->qtype = cdns_wire_u16(w);
    q->qclass = cdns_wire_u16(w);
    if (w->err != CDNS_OK)
        return CDNS_EMALFORMED;
    /* The length is known by now: folding needs no walk of its own. */
    derive_key(q, nlen);
    q->question_len = (uint16_t)(w->pos - start);
    q->has_question = true;
    return CDNS_OK;
}

/* Reads the OPT record's fields and checks its options are well framed (contents ignored:
 * unknown options must be, and we act on none yet). */
static int read_opt(cdns_wire_t *w, cdns_query_t *q, uint16_t rclass, uint32_t ttl, uint16_t rdlen)
{
    q->has_edns = true;
    q->edns_udp_size = rclass;
    q->edns_version = (uint8_t)(ttl >> 16);
    q->edns_flags = (uint16_t)ttl;
    size_t end = w->pos + rdlen;
    while (w->pos < end) {
        if (end - w->pos < 4)
            return CDNS_EMALFORMED;
        (void)cdns_wire_u16(w); /* option code */
        uint16_t olen = cdns_wire_u16(w);
        if (end - w->pos < olen)
            return CDNS_EMALFORMED;
        w->pos += olen;
    }
    return CDNS_OK;
}

cdns_query_status_t cdns_query_parse(const uint8_t *pkt, size_t len, cdns_query_t *q)
{
    /* Only the scalars are reset: the name buffers are written before they are ever valid,
     * and clearing 510 octets per query would be wasted work. */
    q->id = 0;
    q->flags = 0;
    q->qtype = 0;
    q->qclass = 0;
    q->opcode = 0;
    q->has_question = false;
    q->qname_len = 0;
    q->qname_labels = 0;
    q->question_len = 0;
    q->qname_hash = 0;
    q->has_edns = false;
    q->edns_version = 0;
    q->edns_udp_size = 0;
    q->edns_flags = 0;

    if (len < CDNS_DNS_HDR_LEN)
        return CDNS_QUERY_DROP;

    cdns_wire_t w;
    cdns_wire_init(&w, pkt, len);
    q->id = cdns_wire_u16(&w);
    q->flags = cdns_wire_u16(&w);
    uint16_t qdcount = cdns_wire_u16(&w);
    uint16_t ancount = cdns_wire_u16(&w);
    uint16_t nscount = cdns_wire_u16(&w);
    uint16_t arcount = cdns_wire_u16(&w);
    q->opcode = (uint8_t)CDNS_F_OPCODE(q->flags);

    /* Answering a response could start a loop between two servers. */
    if (q->flags & CDNS_F_QR)
        return CDNS_QUERY_DROP;
    if (q->opcode != CDNS_OPCODE_QUERY) {
        /* The question is echoed when it reads; other opcodes give the sections other
         * meanings, so nothing past it is examined. NOTIMP is the answer either way. */
        if (qdcount == 1)
            (void)read_question(&w, q);
        return CDNS_QUERY_NOTIMP;
    }
    if (qdcount != 1)
        return CDNS_QUERY_FORMERR;
    if (read_question(&w, q) != CDNS_OK)
        return CDNS_QUERY_FORMERR;
    /* A query carries nothing in these sections; an OPT there is misplaced as well. */
    if (ancount != 0 || nscount != 0)
        return CDNS_QUERY_FORMERR;

    uint8_t owner[CDNS_DNAME_MAX];
    for (uint16_t i = 0; i < arcount; i++) {
        size_t olen;
        if (read_name(&w, owner, &olen) != CDNS_OK)
            return CDNS_QUERY_FORMERR;
        uint16_t type = cdns_wire_u16(&w);
        uint16_t rclass = cdns_wire_u16(&w);
        uint32_t ttl = cdns_wire_u32(&w);
        uint16_t rdlen = cdns_wire_u16(&w);
        if (w.err != CDNS_OK || cdns_wire_left(&w) < rdlen)
            return CDNS_QUERY_FORMERR;
        if (type == CDNS_T_OPT) {
            /* RFC 6891 §6.1.1: one OPT at most, owned by the root. */
            if (q->has_edns || olen != 1)
                return CDNS_QUERY_FORMERR;
            if (read_opt(&w, q, rclass, ttl, rdlen) != CDNS_OK)
                return CDNS_QUERY_FORMERR;
        } else {
            cdns_wire_skip(&w, rdlen); /* TSIG and friends: not ours to check */
        }
    }
    if (w.err != CDNS_OK || cdns_wire_left(&w) != 0)
        return CDNS_QUERY_FORMERR;
    /* Checked last so that q is complete: the BADVERS response echoes question and OPT. */
    if (q->has_edns && q->edns_version > 0)
        return CDNS_QUERY_BADVERS;
    return CDNS_QUERY_OK;
}

void cdns_query_set_name(cdns_query_t *q, const uint8_t *name, size_t len)
{
    memcpy(q->qname, name, len);
    derive_key(q, len);
    q->qname_labels = (uint8_t)cdns_dname_labels(name);
    q->question_len = (uint16_t)(len + 4);
}
