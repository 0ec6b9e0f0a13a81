/* SPDX-License-Identifier: MIT */
/* answer.c — writes the authoritative answer to a query from a snapshot.
 *
 * Runs on worker threads against a published snapshot, with no lock and no allocation: every
 * RRset is already wire rdata and every name it needs next (CNAME, SRV, MX, NS targets) is
 * already resolved to a node index (cdns_store__target), so an answer is a few hash probes plus
 * copies into the caller's message. Names in rdata that are nodes of the snapshot are stored as
 * that index only and copied from the node (cdns_store__rdata_name). Nothing here keeps a
 * pointer past the call.
 *
 * Truncation follows RFC 2181 §9: an ANSWER or AUTHORITY RRset is written whole or not at all
 * and a missing one sets TC; ADDITIONAL data that does not fit is dropped without TC.
 */
#include <string.h>

#include "store/store_int.h"

#define CNAME_MAX_LINKS 8

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* SOA rdata with MNAME and RNAME below the zone in the question's case ("ns.dns.ClUsTeR.lOcAl.");
 * returns the new length, or 0 to keep the rdata as stored. */
static uint16_t soa_rdata(const cdns_msg_t *m, const uint8_t *rd, uint16_t rdlen, uint8_t *tmp)
{
    size_t mlen = cdns_dname_len(rd), rlen = cdns_dname_len(rd + mlen);
    if (mlen + rlen + 20 != rdlen)
        return 0;
    size_t n = cdns_msg_rdata_name(m, rd, true, tmp);
    n += cdns_msg_rdata_name(m, rd + mlen, true, tmp + n);
    memcpy(tmp + n, rd + mlen + rlen, 20);
    return (uint16_t)(n + 20);
}

int cdns_store_put_rrset(const cdns_snapshot_t *s, cdns_msg_t *m, cdns_section_t sec, uint16_t owner_off,
                         const uint8_t *owner, const cdns_rrset_t *rs)
{
    /* The writer copies the owner's labels even when it only needs the pointer: never NULL. */
    static const uint8_t root = 0;
    if (!owner)
        owner = &root;
    cdns_msg_mark_t mark = cdns_msg_mark(m);
    int toff = cdns_store__target_offset(rs->type);
    /* RFC 2782: SRV targets are never compressed; the types of RFC 1035 may be. */
    bool compress = rs->type != CDNS_T_SRV;
    const uint8_t *p = cdns_rrset_rdata(rs);
    for (uint16_t i = 0; i < rs->count; i++) {
        uint16_t rdlen = get16(p);
        const uint8_t *rd = p + 2;
        uint8_t tmp[2 * CDNS_DNAME_MAX + 20];
        uint16_t soalen = rs->type == CDNS_T_SOA ? soa_rdata(m, rd, rdlen, tmp) : 0;
        if (soalen) {
            rdlen = soalen;
            rd = tmp;
        } else if (toff >= 0 && (size_t)rdlen <= 6 + CDNS_DNAME_MAX) {
            /* The name, in the rdata or (left out of it) the target node's, takes the
             * question's letter case for the zone part. */
            const uint8_t *name = cdns_store__rdata_name(s, cdns_store__targets(rs), i, rd, rdlen, toff);
            /* toff is 0, 2 or 6: copies of a constant size are a move or two, where one of
             * a variable size becomes a byte loop. */
            if (toff == 6)
                memcpy(tmp, rd, 6);
            else if (toff == 2)
                memcpy(tmp, rd, 2);
            rdlen = (uint16_t)((size_t)toff + cdns_msg_rdata_name(m, name, compress, tmp + toff));
            rd = tmp;
        }
        int rc = cdns_msg_put_rr(m, sec, owner_off, owner, rs->type, CDNS_C_IN, rs->ttl_s, rd, rdlen);
        if (rc != CDNS_OK) {
            cdns_msg_rollback(m, mark);
            return rc;
        }
        /* The target names sit in the packet now: later owners (the CNAME's next link, the SRV
         * targets' addresses) can point at them instead of repeating them. */
        if (toff >= 0)
            cdns_msg_remember_name(m, (uint16_t)(m->len - rdlen + (size_t)toff));
        p += 2 + (size_t)get16(p);
    }
    return CDNS_OK;
}

/* Offset of zone apex inside the question name when the name lies in the zone, else -1. */
static int apex_offset_in_qname(const cdns_zone_t *z, const cdns_query_t *q)
{
    if (!q->has_question || q->qname_len < z->apex_len)
        return -1;
    size_t want = (size_t)q->qname_len - z->apex_len;
    size_t pos = 0;
    while (pos < want && q->qname_lower[pos] != 0)
        pos += (size_t)q->qname_lower[pos] + 1;
    if (pos != want || memcmp(q->qname_lower + pos, z->apex, z->apex_len) != 0)
        return -1;
    return (int)pos;
}

void cdns_store_set_zone(cdns_msg_t *m, const cdns_zone_t *z, const cdns_query_t *q)
{
    int off = z ? apex_offset_in_qname(z, q) : -1;
    if (off >= 0)
        cdns_msg_set_zone(m, (uint16_t)(CDNS_MSG_QNAME_OFF + off), z->apex_len);
    else
        cdns_msg_set_zone(m, 0, 0);
}

void cdns_store_put_soa(const cdns_zone_t *z, const cdns_query_t *q, cdns_msg_t *m, cdns_section_t sec)
{
    if (!z || !z->soa || z->soa->count == 0)
        return;
    const uint8_t *rd = cdns_rrset_rdata(z->soa) + 2;
    uint16_t rdlen = get16(rd - 2);
    int off = apex_offset_in_qname(z, q);
    /* A pointer to the root label would be longer than the label itself. */
    uint16_t owner_off = (off >= 0 && z->apex_len > 1) ? (uint16_t)(CDNS_MSG_QNAME_OFF + off) : 0;
    /* MNAME and RNAME below the zone keep the question's case too ("ns.dns.ClUsTeR.lOcAl."). */
    uint8_t tmp[2 * CDNS_DNAME_MAX + 20];
    cdns_store_set_zone(m, z, q);
    uint16_t soalen = soa_rdata(m, rd, rdlen, tmp);
    if (soalen) {
        rd = tmp;
        rdlen = soalen;
    }
    cdns_msg_put_rr(m, sec, owner_off, z->apex, CDNS_T_SOA, CDNS_C_IN, z->neg_ttl_s, rd, rdlen);
}

/* A and AAAA of the in-snapshot targets of an SRV, MX or NS RRset, into ADDITIONAL. What does
 * not fit is left out and TC keeps the value it had (RFC 2181 §9). */
static void put_additional(const cdns_snapshot_t *s, cdns_msg_t *m, const cdns_rrset_t *rs)
{
    if (!rs->targets_off || (rs->type != CDNS_T_SRV && rs->type != CDNS_T_MX && rs->type != CDNS_T_NS))
        return;
    const uint32_t *targets = cdns_store__targets(rs);
    bool was_truncated = m->truncated;
    for (uint16_t i = 0; i < rs->count; i++) {
        const cdns_node_t *t = cdns_store__target_node(s, targets[i]);
        if (!t)
            continue;
        /* One index, one name: equal indices are the duplicates. */
        bool dup = false;
        for (uint16_t j = 0; j < i && !dup; j++)
            dup = targets[j] == targets[i];
        if (dup)
            continue;
        static const uint16_t types[2] = {CDNS_T_A, CDNS_T_AAAA};
        for (int k = 0; k < 2; k++) {
            const cdns_rrset_t *a = cdns_node_rrset(t, types[k]);
            if (a && cdns_store_put_rrset(s, m, CDNS_SEC_ADDITIONAL, 0, t->name, a) != CDNS_OK) {
                /* The rest would most likely not fit either: stop here. */
                m->truncated = was_truncated;
                return;
            }
        }
    }
}

/* The topmost delegation at or above the closest encloser ce (at offset ce_off in name) and
 * below the apex of z, or NULL. *cut_off receives its offset in name. */
static const cdns_node_t *find_cut(const cdns_snapshot_t *s, const uint8_t *name, size_t len, const cdns_node_t *ce,
                                   size_t ce_off, const cdns_zone_t *z, size_t *cut_off)
{
    if (!s->zone_deleg[ce->zone] || len < z->apex_len)
        return NULL;
    size_t apex_off = len - z->apex_len;
    uint8_t offs[128];
    int n = 0;
    for (size_t pos = 0; pos < apex_off && name[pos] != 0; pos += (size_t)name[pos] + 1)
        if (pos >= ce_off)
            offs[n++] = (uint8_t)pos;
    /* Nearest the apex first: a delegation hides everything below it, deeper cuts included. */
    for (int i = n - 1; i >= 0; i--) {
        size_t o = offs[i];
        const cdns_node_t *c =
            o == ce_off ? ce : cdns_store__lookup(s, name + o, len - o, cdns_dname_hash(name + o, len - o));
        if (c && (c->flags & CDNS_NODE_DELEGATION)) {
            *cut_off = o;
            return c;
        }
    }
    return NULL;
}

/* RFC 4592: the node "*.<ce>" that answers for names below the closest encloser ce, or NULL. */
static const cdns_node_t *wildcard_of(const cdns_snapshot_t *s, const cdns_node_t *ce)
{
    uint8_t w[CDNS_DNAME_MAX];
    size_t len = (size_t)ce->name_len + 2;
    if (len > CDNS_DNAME_MAX)
        return NULL;
    w[0] = 1;
    w[1] = '*';
    memcpy(w + 2, ce->name, ce->name_len);
    return cdns_store__lookup(s, w, len, cdns_dname_hash(w, len));
}

static void referral(const cdns_snapshot_t *s, cdns_msg_t *m, const cdns_node_t *cut, size_t cut_off,
                     cdns_answer_info_t *info)
{
    /* Not authoritative below a cut: AA stays clear. */
    info->kind = CDNS_ANSWER_REFERRAL;
    const cdns_rrset_t *ns = cdns_node_rrset(cut, CDNS_T_NS);
    if (cdns_store_put_rrset(s, m, CDNS_SEC_AUTHORITY, (uint16_t)(CDNS_MSG_QNAME_OFF + cut_off), NULL, ns) != CDNS_OK)
        return;
    put_additional(s, m, ns);
}

static void negative(const cdns_zone_t *z, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info,
                     bool nxdomain)
{
    info->kind = nxdomain ? CDNS_ANSWER_NXDOMAIN : CDNS_ANSWER_NODATA;
    if (nxdomain)
        cdns_msg_set_rcode(m, CDNS_RCODE_NXDOMAIN);
    cdns_store_put_soa(z, q, m, CDNS_SEC_AUTHORITY);
}

/* Follows the CNAME at node n (already known to lack qtype), writing each link and then the
 * data, the negative answer, or the name to chase outside the snapshot. */
static void chase(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info,
                  const cdns_node_t *n, const cdns_rrset_t *cname, const cdns_rrset_t **extra)
{
    const cdns_node_t *seen[CNAME_MAX_LINKS + 1];
    int nseen = 0;
    uint16_t owner_off = CDNS_MSG_QNAME_OFF;
    const uint8_t *owner = NULL;
    info->kind = CDNS_ANSWER_DATA;
    seen[nseen++] = n;
    for (int links = 1;; links++) {
        if (cdns_store_put_rrset(s, m, CDNS_SEC_ANSWER, owner_off, owner, cname) != CDNS_OK)
            return; /* TC: the client retries over TCP */
        /* A CNAME RRset has one record; should a builder have given it more, the first wins.
         * CNAME rdata always keeps its name (cdns_store__elides). */
        const uint8_t *tname = cdns_rrset_rdata(cname) + 2;
        size_t tlen = get16(tname - 2);
        const cdns_node_t *const t0 = cdns_store__target(s, cname, 0);
        const cdns_node_t *t = t0;
        size_t ce_off = 0;
        const cdns_node_t *ce = t ? t : cdns_store__closest(s, tname, tlen, &ce_off);
        if (!ce) {
            info->cname_target = tname; /* outside every zone here: the caller chases it */
            return;
        }
        const cdns_zone_t *tz = &s->zones[ce->zone];
        size_t cut_off;
        if (find_cut(s, tname, tlen, ce, ce_off, tz, &cut_off)) {
            info->cname_target = tname; /* delegated away: not ours to answer */
            return;
        }
        if (!t && !(t = wildcard_of(s, ce))) {
            negative(tz, q, m, info, true); /* RFC 6604: the rcode speaks of the last name */
            return;
        }
        for (int i = 0; i < nseen; i++)
            if (seen[i] == t)
                return; /* a loop: what is written is the whole answer */
        if (links >= CNAME_MAX_LINKS)
            return;
        seen[nseen++] = t;
        /* A name synthesized from a wildcard (RFC 4592) keeps the name that was asked for. */
        const uint8_t *tname_owner = t0 ? t->name : tname;
        const cdns_rrset_t *rs = cdns_node_rrset(t, q->qtype);
        if (rs) {
            if (cdns_store_put_rrset(s, m, CDNS_SEC_ANSWER, 0, tname_owner, rs) == CDNS_OK)
                *extra = rs;
            return;
        }
        cname = cdns_node_rrset(t, CDNS_T_CNAME);
        if (!cname) {
            negative(tz, q, m, info, false);
            return;
        }
        owner_off = 0;
        owner = tname_owner;
    }
}

/* The apex NS RRset of the answering zone in AUTHORITY, as CoreDNS's file plugin adds to
 * positive answers. Optional data: when it does not fit it is left out without TC. */
static void put_auth_ns(const cdns_snapshot_t *s, const cdns_zone_t *z, const cdns_query_t *q, cdns_msg_t *m)
{
    const cdns_rrset_t *ns = z ? cdns_node_rrset(z->apex_node, CDNS_T_NS) : NULL;
    if (!ns || m->truncated)
        return;
    int off = apex_offset_in_qname(z, q);
    uint16_t owner_off = (off >= 0 && z->apex_len > 1) ? (uint16_t)(CDNS_MSG_QNAME_OFF + off) : 0;
    cdns_store_put_rrset(s, m, CDNS_SEC_AUTHORITY, owner_off, z->apex, ns);
    m->truncated = false;
}

static void answer(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info,
                   const cdns_rrset_t **extra);

void cdns_store_answer(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info)
{
    cdns_store_answer_opts(s, q, m, info, 0);
}

void cdns_store_answer_opts(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info,
                            unsigned opts)
{
    const cdns_rrset_t *extra = NULL;
    answer(s, q, m, info, &extra);
    /* Sections are written in order: AUTHORITY (when asked for) before the ADDITIONAL data of
     * the final RRset. The apex NS query carries its NS in ANSWER already. */
    bool apex_ns = q->qtype == CDNS_T_NS && info->zone && q->qname_len == info->zone->apex_len;
    if ((opts & CDNS_STORE_AUTH_NS) && info->kind == CDNS_ANSWER_DATA && !apex_ns)
        put_auth_ns(s, info->zone, q, m);
    if (extra)
        put_additional(s, m, extra);
}

static void answer(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info,
                   const cdns_rrset_t **extra)
{
    info->kind = CDNS_ANSWER_NOTAUTH;
    info->zone = NULL;
    info->cname_target = NULL;
    if (!s || !q->has_question)
        return;
    size_t off = 0;
    const cdns_node_t *n = cdns_store__closest(s, q->qname_lower, q->qname_len, &off);
    if (!n)
        return;
    const cdns_zone_t *z = &s->zones[n->zone];
    info->zone = z;
    cdns_store_set_zone(m, z, q);

    size_t cut_off;
    const cdns_node_t *cut = find_cut(s, q->qname_lower, q->qname_len, n, off, z, &cut_off);
    if (cut) {
        referral(s, m, cut, cut_off, info);
        return;
    }
    m->flags |= CDNS_F_AA;
    if (off != 0) {
        /* RFC 4592: a name that does not exist is synthesized from the wildcard child of its
         * closest encloser, when there is one; its records take the question's name. */
        const cdns_node_t *wc = wildcard_of(s, n);
        if (!wc) {
            negative(z, q, m, info, true);
            return;
        }
        n = wc;
    }

    if (q->qtype == CDNS_T_ANY) {
        if (n->nrrsets == 0) {
            negative(z, q, m, info, false);
            return;
        }
        info->kind = CDNS_ANSWER_DATA;
        for (uint16_t i = 0; i < n->nrrsets; i++)
            if (cdns_store_put_rrset(s, m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, &n->rrsets[i]) != CDNS_OK)
                return;
        return;
    }
    const cdns_rrset_t *rs = cdns_node_rrset(n, q->qtype);
    if (rs) {
        info->kind = CDNS_ANSWER_DATA;
        if (cdns_store_put_rrset(s, m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, rs) == CDNS_OK)
            *extra = rs;
        return;
    }
    const cdns_rrset_t *cname = cdns_node_rrset(n, CDNS_T_CNAME);
    if (cname) {
        chase(s, q, m, info, n, cname, extra);
        return;
    }
    negative(z, q, m, info, false);
}
