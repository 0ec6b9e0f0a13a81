/* SPDX-License-Identifier: MIT */
/* snapshot.c — lookups in a committed snapshot, its accessors and its release.
 *
 * A snapshot never changes after commit, so every function here except cdns_snapshot_free may
 * run on any number of threads at once without locks, and none allocates. Returned pointers
 * live as long as the snapshot. Release drops the snapshot's references to the parts it shares
 * with the other snapshots of its lineage (store_int.h); the last one out frees each part.
 *
 * Nodes sit in an open-addressing table keyed by the lowercase wire name rather than in the
 * tree over reversed labels of DESIGN.md §1: exact lookups, which are nearly all lookups, cost
 * one probe and usually one name comparison; the zone of a name and its closest encloser are
 * found by probing its label suffixes longest first, which is cheap for names of a few labels
 * and needs no ordered structure since the store serves no NSEC chains. See the head of
 * builder.c for the layout and of update.c for how updates share it.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

cdns_store__page_t cdns_store__empty_page;

const cdns_node_t *cdns_store__lookup(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, uint32_t hash)
{
    uint32_t tag = CDNS_STORE__TAG(hash);
    uint32_t slots = s->table_slots;
    for (uint32_t i = cdns_store__slot(hash, slots);; i = i + 1 == slots ? 0 : i + 1) {
        uint32_t e = atomic_load_explicit(&s->table[i], memory_order_relaxed);
        if (!e)
            return NULL;
        if ((e >> CDNS_STORE__IDX_BITS) != tag)
            continue;
        /* Dead nodes, and indices that only newer snapshots of the lineage have, come with
         * name_len 0 (store_int.h): they never match, with no test of their own. */
        const cdns_node_t *n = cdns_store__node(s, (e & CDNS_STORE__IDX_MASK) - 1);
        if (n->name_len == len && memcmp(n->name, lower, len) == 0)
            return n;
    }
}

uint32_t cdns_store__find_index(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, uint32_t hash)
{
    uint32_t tag = CDNS_STORE__TAG(hash);
    uint32_t slots = s->table_slots;
    for (uint32_t i = cdns_store__slot(hash, slots);; i = i + 1 == slots ? 0 : i + 1) {
        uint32_t e = atomic_load_explicit(&s->table[i], memory_order_relaxed);
        if (!e)
            return CDNS_STORE__NONE;
        if ((e >> CDNS_STORE__IDX_BITS) != tag)
            continue;
        uint32_t idx = (e & CDNS_STORE__IDX_MASK) - 1;
        if (idx >= s->nnodes)
            continue;
        const cdns_node_t *n = cdns_store__node(s, idx);
        if (cdns_store__meta(s, idx)->name_len == len && memcmp(n->name, lower, len) == 0)
            return idx;
    }
}

int cdns_store__zone_of(const cdns_snapshot_t *s, const uint8_t *lower, size_t len)
{
    /* Longest suffix first: the first apex met is the deepest zone. Zones are few. */
    for (size_t pos = 0; pos < len;) {
        for (unsigned z = 0; z < s->nzones; z++)
            if (s->zones[z].apex_len == len - pos && memcmp(s->zones[z].apex, lower + pos, len - pos) == 0)
                return (int)z;
        if (lower[pos] == 0)
            break;
        pos += (size_t)lower[pos] + 1;
    }
    return -1;
}

const cdns_node_t *cdns_store__closest(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, size_t *off)
{
    if (!s || !lower || len == 0 || len > CDNS_DNAME_MAX)
        return NULL;
    size_t pos = 0;
    for (;;) {
        const cdns_node_t *n = cdns_store__lookup(s, lower + pos, len - pos, cdns_dname_hash(lower + pos, len - pos));
        if (n) {
            if (off)
                *off = pos;
            return n;
        }
        if (lower[pos] == 0)
            return NULL;
        pos += (size_t)lower[pos] + 1;
        if (pos >= len)
            return NULL; /* not a well-formed name of len octets */
    }
}

const cdns_zone_t *cdns_snapshot_find_zone(const cdns_snapshot_t *s, const uint8_t *lower, size_t len)
{
    /* Every apex is a node and every node lies in the deepest zone holding it, so the closest
     * existing suffix carries the answer: a deeper zone would have put its apex in between. */
    const cdns_node_t *n = cdns_store__closest(s, lower, len, NULL);
    return n ? &s->zones[n->zone] : NULL;
}

/* A snapshot with at most this many zones finds the zone of a missing name by comparing apexes. */
#define ZONE_SCAN_MAX 16u

/* The deepest zone whose apex is the name's tail on a label boundary: what the walk over the
 * name's suffixes finds (apexes are nodes, and a node lies in the deepest zone holding it),
 * without hashing and probing every suffix of a name that is not there. */
static const cdns_zone_t *zone_by_apex(const cdns_snapshot_t *s, const uint8_t *lower, size_t len)
{
    const cdns_zone_t *best = NULL;
    for (unsigned i = 0; i < s->nzones; i++) {
        const cdns_zone_t *z = &s->zones[i];
        if ((!best || z->apex_len > best->apex_len) && cdns_dname_has_suffix(lower, len, z->apex, z->apex_len))
            best = z;
    }
    return best;
}

const cdns_zone_t *cdns_snapshot_find_zone_node(const cdns_snapshot_t *s, const uint8_t *lower, size_t len,
                                                uint32_t hash, const cdns_node_t **node)
{
    *node = NULL;
    if (!s || !lower || len == 0 || len > CDNS_DNAME_MAX)
        return NULL;
    const cdns_node_t *n = cdns_store__lookup(s, lower, len, hash);
    if (n) {
        *node = n;
        return &s->zones[n->zone];
    }
    /* Most missing names are a search path's guesses, several labels longer than anything in
     * the zone: a few compares settle their zone where the walk would probe each suffix. */
    if (s->nzones <= ZONE_SCAN_MAX)
        return zone_by_apex(s, lower, len);
    if (lower[0] == 0 || (size_t)lower[0] + 1 >= len)
        return NULL;
    size_t skip = (size_t)lower[0] + 1;
    n = cdns_store__closest(s, lower + skip, len - skip, NULL);
    return n ? &s->zones[n->zone] : NULL;
}

void cdns_snapshot_prefetch(const cdns_snapshot_t *s, const cdns_query_t *const *qs, unsigned n)
{
    if (!s)
        return;
    if (n > CDNS_SNAPSHOT_PREFETCH_MAX)
        n = CDNS_SNAPSHOT_PREFETCH_MAX;
    const atomic_uint *slot[CDNS_SNAPSHOT_PREFETCH_MAX];
    const cdns_node_t *node[CDNS_SNAPSHOT_PREFETCH_MAX];
    for (unsigned i = 0; i < n; i++) {
        slot[i] = qs[i]->has_question ? &s->table[cdns_store__slot((uint32_t)qs[i]->qname_hash, s->table_slots)] : NULL;
        if (slot[i])
            __builtin_prefetch(slot[i]);
    }
    /* The home slot only: a name that probed further is rare at the table's load factor, and a
     * hint that misses costs a load, not a wrong answer. */
    for (unsigned i = 0; i < n; i++) {
        node[i] = NULL;
        if (!slot[i])
            continue;
        uint32_t e = atomic_load_explicit(slot[i], memory_order_relaxed);
        uint32_t idx = (e & CDNS_STORE__IDX_MASK) - 1;
        /* Past nnodes: an index only a newer snapshot of the lineage has. */
        if (e && (e >> CDNS_STORE__IDX_BITS) == CDNS_STORE__TAG((uint32_t)qs[i]->qname_hash) && idx < s->nnodes) {
            node[i] = cdns_store__node(s, idx);
            __builtin_prefetch(node[i]);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        if (node[i] && node[i]->name_len && node[i]->rrsets) { /* alive, with records */
            __builtin_prefetch(node[i]->name);
            __builtin_prefetch(node[i]->rrsets);
        } else {
            node[i] = NULL;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        const cdns_rrset_t *rs = node[i] ? cdns_node_rrset(node[i], qs[i]->qtype) : NULL;
        if (rs)
            __builtin_prefetch(cdns_rrset_rdata(rs));
    }
}

const cdns_node_t *cdns_snapshot_find(const cdns_snapshot_t *s, const uint8_t *lower, size_t len)
{
    if (!s || !lower || len == 0 || len > CDNS_DNAME_MAX)
        return NULL;
    return cdns_store__lookup(s, lower, len, cdns_dname_hash(lower, len));
}

const cdns_rrset_t *cdns_node_rrset(const cdns_node_t *n, uint16_t type)
{
    if (!n)
        return NULL;
    /* Nodes hold a handful of RRsets: a linear scan over the sorted array beats bisection. */
    for (uint16_t i = 0; i < n->nrrsets; i++) {
        if (n->rrsets[i].type == type)
            return &n->rrsets[i];
        if (n->rrsets[i].type > type)
            break;
    }
    return NULL;
}

const cdns_node_t *cdns_snapshot_target(const cdns_snapshot_t *s, const cdns_rrset_t *rs, unsigned i)
{
    if (!s || !rs || !rs->targets_off || i >= rs->count)
        return NULL;
    return cdns_store__target(s, rs, i);
}

const uint8_t *cdns_snapshot_rdata(const cdns_snapshot_t *s, const cdns_rrset_t *rs, unsigned i,
                                   uint8_t buf[CDNS_STORE_RDATA_BUF], uint16_t *len)
{
    if (!s || !rs || i >= rs->count || !buf || !len)
        return NULL;
    const uint8_t *p = cdns_rrset_rdata(rs);
    for (unsigned k = 0; k < i; k++)
        p += 2 + ((size_t)p[0] << 8 | p[1]);
    return cdns_store__full_rdata(s, rs, i, p, buf, len);
}

const cdns_zone_t *cdns_snapshot_zone(const cdns_snapshot_t *s, unsigned idx)
{
    return (s && idx < s->nzones) ? &s->zones[idx] : NULL;
}

unsigned cdns_snapshot_nzones(const cdns_snapshot_t *s)
{
    return s ? s->nzones : 0;
}

size_t cdns_snapshot_records(const cdns_snapshot_t *s)
{
    return s ? s->nrecords : 0;
}

size_t cdns_snapshot_nodes(const cdns_snapshot_t *s)
{
    return s ? s->nlive : 0;
}

bool cdns_snapshot_frozen(const cdns_snapshot_t *s)
{
    return s && s->frozen;
}

size_t cdns_snapshot_memory(const cdns_snapshot_t *s)
{
    return s ? s->memory : 0;
}

size_t cdns_store__memory(const cdns_snapshot_t *s)
{
    size_t page = s->frozen ? CDNS_STORE__FROZEN_PAGE_BYTES : sizeof(cdns_store__page_t);
    size_t m = sizeof(*s) + (size_t)s->npages * page;
    m += s->nzones * (sizeof(cdns_zone_t) + 2 * sizeof(uint32_t)) + s->nchunks * sizeof(cdns_store__chunkref_t);
    m += s->dir_pages * sizeof(cdns_store__page_t *);
    m += sizeof(cdns_store__table_t) + (size_t)s->table_slots * sizeof(atomic_uint);
    for (uint32_t i = 0; i < s->nchunks; i++)
        m += s->chunks[i].chunk->bytes;
    return m;
}

uint64_t cdns_store__next_gen(void)
{
    static atomic_uint_fast64_t next = 1;
    return atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
}

/* The last snapshot to drop a part frees it; acq_rel so that whatever any snapshot's thread
 * did with the part happens before the free. */
void cdns_store__page_unref(cdns_store__page_t *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

void cdns_store__chunk_unref(cdns_store__chunk_t *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

void cdns_store__table_unref(cdns_store__table_t *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        free(t);
}

void cdns_snapshot_free(cdns_snapshot_t *s)
{
    if (!s)
        return;
    if (s->pages)
        for (uint32_t i = 0; i < s->npages; i++)
            cdns_store__page_unref(s->pages[i]);
    if (s->chunks)
        for (uint32_t i = 0; i < s->nchunks; i++)
            cdns_store__chunk_unref(s->chunks[i].chunk);
    cdns_store__table_unref(s->tab);
    free(s->block);
    free(s);
}
