/* SPDX-License-Identifier: MIT */
/* msg.c — the response writer: header and question, records appended all-or-nothing under the
 * transport's size limit, owner-name compression, and the final header and OPT record.
 *
 * A cdns_msg_t and its buffer belong to one request (the slot's output buffer); nothing is
 * allocated. Compression uses the message's own table of offsets (question, remembered rdata
 * targets, owners written in full) and compares names in the buffer; there is no hashing,
 * because a response holds a handful of names and a short scan is cheaper than a table.
 */
#include "cdns/dns.h"

#include <assert.h>
#include <string.h>

#include "dns_internal.h"

#define OPT_RR_LEN 11  /* root owner, type, class, TTL, rdlen 0 */
#define PTR_MAX 0x3fff /* the largest offset a compression pointer can hold */
/* The largest header + question + OPT: a buffer smaller than this cannot hold any response. */
#define MSG_MIN_CAP (CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4 + OPT_RR_LEN)

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* The UDP response size: 512 without EDNS, else what the client offers (never below 512)
 * but no more than the buffer holds. */
static size_t udp_limit(const cdns_query_t *q, size_t cap)
{
    size_t lim = CDNS_UDP_MIN_SIZE;
    if (q->has_edns) {
        size_t client = q->edns_udp_size < cap ? q->edns_udp_size : cap;
        if (client > lim)
            lim = client;
    }
    return lim;
}

static void begin(cdns_msg_t *m, uint8_t *buf, size_t cap, size_t limit, uint16_t id, uint16_t flags,
                  const cdns_query_t *q)
{
    assert(cap >= MSG_MIN_CAP);
    m->buf = buf;
    m->cap = cap;
    m->limit = limit < cap ? limit : cap;
    m->count[0] = m->count[1] = m->count[2] = 0;
    m->flags = flags;
    m->rcode = CDNS_RCODE_NOERROR;
    m->truncated = false;
    m->edns = q->has_edns;
    m->edns_flags = q->edns_flags & CDNS_EDNS_DO;
    m->reserve = q->has_edns ? OPT_RR_LEN : 0;
    m->nnames = 0;
    m->zone_off = 0;
    m->zone_len = 0;
    m->last_an_type = 0;
    m->last_an_rdata = 0;
    m->raw = false;

    memset(buf, 0, CDNS_DNS_HDR_LEN);
    put16(buf, id);
    m->len = CDNS_DNS_HDR_LEN;
    if (q->has_question) {
        /* Copied as received so the answer's owner pointers carry the client's letter case
         * (0x20 randomisation, RFC 7766-era resolvers check it). */
        uint8_t *p = buf + CDNS_DNS_HDR_LEN;
        memcpy(p, q->qname, q->qname_len);
        p += q->qname_len;
        put16(p, q->qtype);
        put16(p + 2, q->qclass);
        m->len += (size_t)q->qname_len + 4;
        buf[5] = 1; /* QDCOUNT */
        m->name_off[m->nnames] = CDNS_MSG_QNAME_OFF;
        m->name_labels[m->nnames++] = q->qname_labels;
    }
}

void cdns_msg_begin(cdns_msg_t *m, uint8_t *buf, size_t cap, const cdns_query_t *q, bool tcp)
{
    size_t limit = tcp ? 65535 : udp_limit(q, cap);
    uint16_t flags = (uint16_t)(CDNS_F_QR | ((unsigned)(q->opcode & 0xf) << 11) | (q->flags & (CDNS_F_RD | CDNS_F_CD)));
    begin(m, buf, cap, limit, q->id, flags, q);
}

void cdns_msg_begin_error(cdns_msg_t *m, uint8_t *buf, size_t cap, const uint8_t *pkt, size_t pkt_len,
                          const cdns_query_t *q, uint16_t rcode)
{
    /* The ID is taken from the packet when there is one, so that even a query the parser gave
     * up on early is answered under its own ID. */
    uint16_t id = pkt != NULL && pkt_len >= 2 ? (uint16_t)((pkt[0] << 8) | pkt[1]) : q->id;
    uint16_t flags = (uint16_t)(CDNS_F_QR | ((unsigned)(q->opcode & 0xf) << 11) | (q->flags & (CDNS_F_RD | CDNS_F_CD)));
    /* An error response is at most header, question and OPT, which fits in any UDP size. */
    begin(m, buf, cap, udp_limit(q, cap), id, flags, q);
    m->rcode = rcode;
}

/* Offset where the name starting at off really begins, following compression pointers. The
 * buffer is ours (every pointer in it was written by this module), so no checks are needed. */
static inline size_t deref(const uint8_t *buf, size_t off)
{
    while ((buf[off] & 0xc0) == 0xc0)
        off = ((size_t)(buf[off] & 0x3f) << 8) | buf[off + 1];
    return off;
}

static int buf_labels(const uint8_t *buf, size_t off)
{
    int n = 0;
    for (off = deref(buf, off); buf[off] != 0; off = deref(buf, off + buf[off] + 1))
        n++;
    return n;
}

/* Case-insensitive equality of the buffer's name at off with the wire name. */
static bool buf_name_equal(const uint8_t *buf, size_t off, const uint8_t *name)
{
    for (;;) {
        off = deref(buf, off);
        uint8_t l = *name;
        if (buf[off] != l)
            return false;
        if (l == 0)
            return true;
        if (!equal_fold(buf + off + 1, name + 1, l))
            return false;
        off += (size_t)l + 1;
        name += (size_t)l + 1;
    }
}

/* What name_labels holds for a remembered name until a lookup first needs its count: most
 * (a PTR's target, say) are never looked up, and counting means following pointers. */
#define LABELS_UNKNOWN 0xff

/* find_name with the label count of name already known (put_rr strips labels one by one).
 * Counts it finds for remembered names go into labels when the caller may write them (m's own
 * name_labels), else they are counted again next time. */
static uint16_t find(const cdns_msg_t *m, uint8_t *labels, const uint8_t *name, int want)
{
    if (want == 0)
        return 0; /* the root: one octet, never worth a two-octet pointer */
    /* Newest first: a name written later (an SRV target, a CNAME's target) carries the case the
     * answer gave it, and later records that repeat it should point there. */
    for (unsigned i = m->nnames; i-- > 0;) {
        size_t off = m->name_off[i];
        int have = m->name_labels[i];
        if (have == LABELS_UNKNOWN) {
            have = buf_labels(m->buf, off);
            if (labels != NULL)
                labels[i] = (uint8_t)have;
        }
        if (have < want)
            continue;
        /* Only the suffix with as many labels as name can be equal to it. */
        off = deref(m->buf, off);
        for (int skip = have - want; skip > 0; skip--)
            off = deref(m->buf, off + m->buf[off] + 1);
        if (off <= PTR_MAX && buf_name_equal(m->buf, off, name))
            return (uint16_t)off;
    }
    return 0;
}

uint16_t cdns_msg_find_name(const cdns_msg_t *m, const uint8_t *lower_name)
{
    return find(m, NULL, lower_name, cdns_dname_labels(lower_name));
}

void cdns_msg_remember_name(cdns_msg_t *m, uint16_t off)
{
    /* A full table only costs compression, never correctness. */
    if (off < CDNS_DNS_HDR_LEN || off > PTR_MAX || off >= m->len || m->nnames >= CDNS_MSG_MAX_NAMES)
        return;
    m->name_off[m->nnames] = off;
    m->name_labels[m->nnames++] = LABELS_UNKNOWN;
}

int cdns_msg_put_rr(cdns_msg_t *m, cdns_section_t sec, uint16_t owner_off, const uint8_t *owner, uint16_t type,
                    uint16_t rclass, uint32_t ttl_s, const uint8_t *rdata, uint16_t rdlen)
{
    /* Sections follow each other in the packet, so records must come in section order. */
    assert(sec <= CDNS_SEC_ADDITIONAL);
    assert(sec == CDNS_SEC_ADDITIONAL || m->count[CDNS_SEC_ADDITIONAL] == 0);
    assert(sec != CDNS_SEC_ANSWER || m->count[CDNS_SEC_AUTHORITY] == 0);
    size_t room = m->limit > m->len + m->reserve ? m->limit - m->len - m->reserve : 0;
    uint8_t *p = m->buf + m->len;
    size_t prefix = 0; /* octets of owner labels written before a pointer (or the root) */
    uint16_t ptr = owner_off;

    if (ptr == 0) {
        /* Longest suffix of the owner that is already in the packet; the labels before it
         * are written out, the rest is a pointer. */
        const uint8_t *s = owner;
        for (int want = cdns_dname_labels(owner); *s != 0; want--) {
            ptr = find(m, m->name_labels, s, want);
            if (ptr != 0)
                break;
            s += (size_t)*s + 1;
        }
        prefix = (size_t)(s - owner);
    } else {
        assert(owner_off >= CDNS_DNS_HDR_LEN && owner_off <= PTR_MAX);
    }

    size_t olen = prefix + (ptr != 0 ? 2 : 1);
    size_t need = olen + 10 + rdlen;
    if (need > room) {
        m->truncated = true;
        return CDNS_ENOSPC;
    }

    if (prefix > 0)
        memcpy(p, owner, prefix);
    if (ptr != 0)
        put16(p + prefix, (uint16_t)(0xc000u | ptr));
    else
        p[prefix] = 0;
    p += olen;
    /* Type, class and TTL as one big-endian word: the compiler makes that a byte swap and one
     * store, where three separate fields became a long chain of shifts. */
    put64(p, (uint64_t)type << 48 | (uint64_t)rclass << 32 | ttl_s);
    put16(p + 8, rdlen);
    copy_short(p + 10, rdata, rdlen);
    size_t start = m->len;
    m->len += need;
    m->count[sec]++;
    if (sec == CDNS_SEC_ANSWER) {
        m->last_an_type = type;
        m->last_an_rdata = (uint16_t)(start + olen + 10);
    }
    /* An owner written at least partly in full is a target for later owners and for names
     * below it (the SOA owner a second negative record shares, say). */
    if (prefix > 0 && start <= PTR_MAX)
        cdns_msg_remember_name(m, (uint16_t)start);
    return CDNS_OK;
}

cdns_msg_mark_t cdns_msg_mark(const cdns_msg_t *m)
{
    cdns_msg_mark_t mk = {
        .len = m->len, .nnames = m->nnames, .last_an_type = m->last_an_type, .last_an_rdata = m->last_an_rdata};
    memcpy(mk.count, m->count, sizeof(mk.count));
    return mk;
}

void cdns_msg_rollback(cdns_msg_t *m, cdns_msg_mark_t mark)
{
    /* truncated stays set: the records dropped here are the reason TC goes out. */
    m->len = mark.len;
    memcpy(m->count, mark.count, sizeof(m->count));
    m->nnames = mark.nnames;
    m->last_an_type = mark.last_an_type;
    m->last_an_rdata = mark.last_an_rdata;
}

void cdns_msg_set_rcode(cdns_msg_t *m, uint16_t rcode)
{
    m->rcode = rcode;
}

/* ---------------------------------------------------------------- raw mode */
static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* Offset just past the (possibly compressed) name at off, or 0 when it runs off the end. */
static size_t skip_name(const uint8_t *b, size_t len, size_t off)
{
    while (off < len) {
        uint8_t l = b[off];
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : 0;
        if (l & 0xc0)
            return 0;
        off += (size_t)l + 1;
        if (l == 0)
            return off;
    }
    return 0;
}

/* Offset just past the record at off, or 0 when it is cut short. */
static size_t skip_rr(const uint8_t *b, size_t len, size_t off, uint16_t *type)
{
    off = skip_name(b, len, off);
    if (off == 0 || off + 10 > len)
        return 0;
    *type = get16(b + off);
    size_t end = off + 10 + get16(b + off + 8);
    return end <= len ? end : 0;
}

bool cdns_msg_reply_matches(const uint8_t *r, size_t len, uint16_t id, const cdns_query_t *q)
{
    if (len < CDNS_DNS_HDR_LEN || get16(r) != id || !(get16(r + 2) & CDNS_F_QR) ||
        CDNS_F_OPCODE(get16(r + 2)) != CDNS_OPCODE_QUERY || get16(r + 4) != 1 || !q->has_question)
        return false;
    /* The question is written uncompressed by every server we know; a pointer there is refused
     * rather than followed. */
    size_t off = CDNS_DNS_HDR_LEN, qoff = 0;
    for (;;) {
        if (off >= len || qoff >= q->qname_len)
            return false;
        uint8_t l = r[off];
        if (l != q->qname[qoff] || (l & 0xc0))
            return false;
        if (l == 0)
            break;
        if (off + 1 + l > len)
            return false;
        for (size_t i = 1; i <= l; i++)
            if (fold(r[off + i]) != fold(q->qname[qoff + i]))
                return false;
        off += (size_t)l + 1;
        qoff += (size_t)l + 1;
    }
    off++;
    return off + 4 <= len && get16(r + off) == q->qtype && get16(r + off + 2) == q->qclass;
}

int cdns_msg_set_raw(cdns_msg_t *m, const uint8_t *reply, size_t len, const cdns_query_t *q)
{
    if (len > m->cap)
        return CDNS_ENOSPC;
    if (len < CDNS_DNS_HDR_LEN)
        return CDNS_EMALFORMED;
    memcpy(m->buf, reply, len);
    put16(m->buf, q->id);
    /* Same length and same letters ignoring case (checked by reply_matches): the client's
     * octets go back, so a 0x20-randomising resolver sees its own question. */
    if (q->has_question && get16(reply + 4) == 1 && len >= CDNS_DNS_HDR_LEN + (size_t)q->qname_len)
        memcpy(m->buf + CDNS_DNS_HDR_LEN, q->qname, q->qname_len);
    m->len = len;
    m->raw = true;
    m->flags = get16(reply + 2);
    m->rcode = m->flags & 0x000fu;
    m->count[CDNS_SEC_ANSWER] = get16(reply + 6);
    m->count[CDNS_SEC_AUTHORITY] = get16(reply + 8);
    m->count[CDNS_SEC_ADDITIONAL] = get16(reply + 10);
    m->truncated = (m->flags & CDNS_F_TC) != 0;
    m->nnames = 0;
    return CDNS_OK;
}

/* Cuts a raw message that exceeds the limit to the whole records that fit, keeping the OPT
 * record (so EDNS survives) and setting TC, as miekg/dns's Msg.Truncate does for CoreDNS. */
static size_t raw_truncate(cdns_msg_t *m)
{
    uint8_t *b = m->buf;
    size_t len = m->len, off = CDNS_DNS_HDR_LEN;
    unsigned qd = get16(b + 4), total = (unsigned)get16(b + 6) + get16(b + 8) + get16(b + 10);
    for (unsigned i = 0; i < qd && off != 0; i++) {
        off = skip_name(b, len, off);
        off = off != 0 && off + 4 <= len ? off + 4 : 0;
    }
    if (off == 0)
        off = CDNS_DNS_HDR_LEN, qd = 0;
    /* Find the OPT record first: it is moved to just after the last record kept. */
    size_t opt_off = 0, opt_len = 0, pos = off;
    for (unsigned i = 0; i < total && pos != 0; i++) {
        uint16_t type = 0;
        size_t end = skip_rr(b, len, pos, &type);
        if (end != 0 && type == CDNS_T_OPT && i >= (unsigned)get16(b + 6) + get16(b + 8)) {
            opt_off = pos;
            opt_len = end - pos;
        }
        pos = end;
    }
    uint8_t opt[512];
    if (opt_len > sizeof(opt))
        opt_len = 0;
    if (opt_len)
        memcpy(opt, b + opt_off, opt_len);
    size_t budget = m->limit > opt_len ? m->limit - opt_len : 0;
    unsigned kept[3] = {0, 0, 0};
    unsigned sec_end[3] = {get16(b + 6), (unsigned)get16(b + 6) + get16(b + 8), total};
    pos = off;
    for (unsigned i = 0; i < total; i++) {
        uint16_t type = 0;
        size_t end = skip_rr(b, len, pos, &type);
        if (end == 0 || end > budget || type == CDNS_T_OPT)
            break;
        kept[i < sec_end[0] ? 0 : i < sec_end[1] ? 1 : 2]++;
        pos = end;
    }
    if (pos > budget)
        pos = off;
    if (opt_len)
        memcpy(b + pos, opt, opt_len);
    put16(b + 2, (uint16_t)(get16(b + 2) | CDNS_F_TC));
    put16(b + 4, (uint16_t)qd);
    put16(b + 6, (uint16_t)kept[0]);
    put16(b + 8, (uint16_t)kept[1]);
    put16(b + 10, (uint16_t)(kept[2] + (opt_len ? 1 : 0)));
    m->truncated = true;
    m->len = pos + opt_len;
    return m->len;
}

size_t cdns_msg_finish(cdns_msg_t *m)
{
    uint8_t *b = m->buf;
    if (m->raw) {
        /* Only the size can change: everything else is the upstream's answer. */
        if (m->len > m->limit)
            return raw_truncate(m);
        return m->len;
    }
    uint16_t flags = (uint16_t)((m->flags & ~0x000fu) | (m->rcode & 0x000fu));
    if (m->truncated)
        flags |= CDNS_F_TC;
    put16(b + 2, flags);
    put16(b + 6, m->count[CDNS_SEC_ANSWER]);
    put16(b + 8, m->count[CDNS_SEC_AUTHORITY]);
    put16(b + 10, (uint16_t)(m->count[CDNS_SEC_ADDITIONAL] + (m->edns ? 1 : 0)));
    if (m->edns) {
        /* The room was reserved at begin, so this always fits. */
        assert(m->len + OPT_RR_LEN <= m->cap);
        uint8_t *p = b + m->len;
        p[0] = 0;
        put16(p + 1, CDNS_T_OPT);
        put16(p + 3, CDNS_EDNS_SIZE);
        put32(p + 5, ((uint32_t)(m->rcode >> 4) << 24) | (m->edns_flags & CDNS_EDNS_DO)); /* version 0 */
        put16(p + 9, 0);
        m->len += OPT_RR_LEN;
    }
    return m->len;
}

void cdns_msg_set_zone(cdns_msg_t *m, uint16_t zone_off, uint8_t zone_len)
{
    m->zone_off = zone_off;
    m->zone_len = zone_len;
}

size_t cdns_msg_rdata_name(const cdns_msg_t *m, const uint8_t *name, bool compress, uint8_t *out)
{
    size_t len = cdns_dname_len(name);
    if (m->zone_off != 0 && m->zone_len > 1 && len >= m->zone_len) {
        /* Walk label boundaries to the suffix as long as the zone. */
        size_t want = len - m->zone_len, pos = 0;
        while (pos < want)
            pos += (size_t)name[pos] + 1;
        const uint8_t *zq = m->buf + m->zone_off;
        if (pos == want && equal_folded(zq, name + pos, m->zone_len, true, false)) {
            memcpy(out, name, pos);
            if (compress && m->zone_off <= PTR_MAX) {
                out[pos] = (uint8_t)(0xc0 | (m->zone_off >> 8));
                out[pos + 1] = (uint8_t)m->zone_off;
                return pos + 2;
            }
            memcpy(out + pos, zq, m->zone_len);
            return len;
        }
    }
    memcpy(out, name, len);
    return len;
}
