/* SPDX-License-Identifier: MIT */
/* store_int.h — what builder.c, snapshot.c and answer.c share about a snapshot's layout.
 *
 * Not part of the store's contract (include/cdns/store.h is): only src/store/ includes it.
 * A snapshot is one struct plus one malloc'd block holding every array it points to; the
 * snapshot owns the block and cdns_snapshot_free() releases both.
 */
#ifndef CDNS_STORE_INT_H
#define CDNS_STORE_INT_H

#include "cdns/store.h"

/* Hash table slots are u32: the low 24 bits are node index + 1 (0 marks an empty slot), the
 * high 8 bits are the low byte of the name's hash, so that a probe past a foreign entry rarely
 * has to touch that node's name (a cache miss). This caps a snapshot at 2^24 - 1 nodes. The
 * home slot comes from the hash's high bits by multiply-shift, so the tag and the slot use
 * different bits and the table can have any size (no power-of-two waste). */
#define CDNS_STORE__IDX_BITS 24
#define CDNS_STORE__IDX_MASK ((1u << CDNS_STORE__IDX_BITS) - 1u)
#define CDNS_STORE__MAX_NODES (CDNS_STORE__IDX_MASK - 1u)
#define CDNS_STORE__TAG(h) ((h)&0xffu)

static inline uint32_t cdns_store__slot(uint32_t hash, uint32_t slots)
{
    return (uint32_t)(((uint64_t)hash * slots) >> 32);
}

struct cdns_snapshot {
    cdns_zone_t *zones;
    unsigned nzones;
    cdns_node_t *nodes;
    uint32_t nnodes;
    uint32_t *table; /* open addressing, linear probing; see CDNS_STORE__IDX_BITS */
    uint32_t table_slots;
    uint8_t *zone_deleg; /* per zone: 1 when some node of the zone is a delegation */
    size_t nrecords;
    size_t memory; /* bytes of the block plus this struct */
    void *block;   /* the one allocation everything above points into */
};

/* Slot probe for an exact lowercase wire name with a precomputed hash; NULL when absent. */
const cdns_node_t *cdns_store__lookup(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, uint32_t hash);
/* The node of the longest existing suffix of name (the closest encloser, or the name itself);
 * *off receives the offset of that suffix within name. NULL when no suffix exists. */
const cdns_node_t *cdns_store__closest(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, size_t *off);

#endif
