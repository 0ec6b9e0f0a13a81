/* SPDX-License-Identifier: MIT */
/* snapshot.c — lookups in a committed snapshot, its accessors and its release.
 *
 * A snapshot never changes after commit, so every function here except cdns_snapshot_free may
 * run on any number of threads at once without locks, and none allocates. Returned pointers
 * live as long as the snapshot.
 *
 * Nodes sit in an open-addressing table keyed by the lowercase wire name rather than in the
 * tree over reversed labels of DESIGN.md §1: exact lookups, which are nearly all lookups, cost
 * one probe and usually one name comparison; the zone of a name and its closest encloser are
 * found by probing its label suffixes longest first, which is cheap for names of a few labels
 * and needs no ordered structure since the store serves no wildcards or NSEC chains. See the
 * head of builder.c for the layout.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

const cdns_node_t *cdns_store__lookup(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, uint32_t hash)
{
    uint32_t tag = CDNS_STORE__TAG(hash);
    uint32_t slots = s->table_slots;
    for (uint32_t i = cdns_store__slot(hash, slots);; i = i + 1 == slots ? 0 : i + 1) {
        uint32_t e = s->table[i];
        if (!e)
            return NULL;
        if ((e >> CDNS_STORE__IDX_BITS) != tag)
            continue;
        const cdns_node_t *n = &s->nodes[(e & CDNS_STORE__IDX_MASK) - 1];
        if (n->name_len == len && memcmp(n->name, lower, len) == 0)
            return n;
    }
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
    return s ? s->nnodes : 0;
}

size_t cdns_snapshot_memory(const cdns_snapshot_t *s)
{
    return s ? s->memory : 0;
}

void cdns_snapshot_free(cdns_snapshot_t *s)
{
    if (!s)
        return;
    free(s->block);
    free(s);
}
