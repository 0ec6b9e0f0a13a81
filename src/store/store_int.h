/* SPDX-License-Identifier: MIT */
/* store_int.h — what builder.c, update.c, snapshot.c and answer.c share about a snapshot's layout.
 *
 * Not part of the store's contract (include/cdns/store.h is): only src/store/ includes it.
 * A snapshot is made of parts that the snapshots of one lineage (a full build and the updates
 * derived from it one after the other) share, each reference counted with atomics so that any
 * snapshot may be freed first, on any thread:
 *   - pages of nodes (CDNS_STORE__PAGE_NODES each, reached through the snapshot's directory);
 *     an update copies the pages it changes and points at the others;
 *   - chunks holding the names, RRsets, targets and rdata the nodes point at: a full build
 *     makes one, each update one more for what it rewrote; an RRset reaches its rdata and
 *     targets by offsets from itself (cdns_rrset_t), so they always follow it in its chunk;
 *   - the name table, which only ever gains entries (see cdns_store__table_t).
 * The snapshot struct owns one block of its own (zones, directory, chunk list) and references
 * to the rest; cdns_snapshot_free() drops them.
 */
#ifndef CDNS_STORE_INT_H
#define CDNS_STORE_INT_H

#include <assert.h>
#include <stddef.h>
#include <stdatomic.h>
#include <string.h>

#include "cdns/store.h"

/* Hash table slots are u32: the low 24 bits are node index + 1 (0 marks an empty slot), the
 * high 8 bits are the low byte of the name's hash, so that a probe past a foreign entry rarely
 * has to touch that node's name (a cache miss). This caps a lineage at 2^24 - 1 node indices
 * (dead ones included). The home slot comes from the hash's high bits by multiply-shift, so the
 * tag and the slot use different bits and the table can have any size (no power-of-two waste). */
#define CDNS_STORE__IDX_BITS 24
#define CDNS_STORE__IDX_MASK ((1u << CDNS_STORE__IDX_BITS) - 1u)
#define CDNS_STORE__MAX_NODES (CDNS_STORE__IDX_MASK - 1u)
#define CDNS_STORE__TAG(h) ((h)&0xffu)

/* Nodes per page: a power of two, so that a node index splits into page and slot with a shift
 * and a mask. 256 keeps a page (nodes and their bookkeeping) near 9 KiB: small enough that an
 * update copying one per touched name stays cheap, big enough that the directory of a
 * 2.5-million-node snapshot (80 KiB of pointers) stays in L2. */
#define CDNS_STORE__PAGE_SHIFT 8
#define CDNS_STORE__PAGE_NODES (1u << CDNS_STORE__PAGE_SHIFT)
#define CDNS_STORE__PAGE_MASK (CDNS_STORE__PAGE_NODES - 1u)

/* A node index that names nothing (also CDNS_STORE_NO_TARGET in targets[]). */
#define CDNS_STORE__NONE UINT32_MAX

/* In cdns_node_t.flags, beside the public CDNS_NODE_* bits: the name does not exist in this
 * snapshot. Dead nodes keep their index, name and table entry (a target may refer to it, and
 * the name revives it should it come back); no lookup returns them. A dead node's name_len is
 * 0, so that the query path's length comparison rejects it with no test of its own; its real
 * length is meta.name_len. Its name bytes stay valid as long as the snapshot (they lie in a
 * chunk the node is counted in): RRsets naming it may have left the name out of their rdata
 * and read it here (cdns_store__rdata_name). */
#define CDNS_STORE__NODE_DEAD 0x8000u

/* What builders keep per node beside it; the query path never reads it. */
typedef struct cdns_store__meta {
    uint32_t children; /* live nodes one label below (an empty non-terminal lives while > 0) */
    uint32_t chunk;    /* id of the chunk holding the node's name, RRsets, targets and rdata */
    uint8_t flags;     /* CDNS_STORE__META_* */
    uint8_t name_len;  /* of the name, dead or alive */
} cdns_store__meta_t;

#define CDNS_STORE__META_EXPLICIT 0x1u /* cdns_builder_add_name: exists with no records or children */

typedef struct cdns_store__page {
    cdns_node_t nodes[CDNS_STORE__PAGE_NODES]; /* first: a node's address is page + 24 * slot */
    atomic_uint refs;                          /* snapshots whose directory points here */
    uint64_t gen; /* the commit that made it: only that commit writes it, the others copy it */
    cdns_store__meta_t meta[CDNS_STORE__PAGE_NODES]; /* last: a frozen snapshot's pages end before it */
} cdns_store__page_t;

/* Bytes of a page of a frozen snapshot (cdns_builder_freeze): no update metadata. */
#define CDNS_STORE__FROZEN_PAGE_BYTES offsetof(cdns_store__page_t, meta)

/* One allocation of names, RRsets, targets and rdata; the data follows the header. */
typedef struct cdns_store__chunk {
    atomic_uint refs; /* snapshots listing it */
    uint32_t id;      /* increasing along the lineage, so chunk lists stay sorted by id */
    uint32_t nodes;   /* nodes made to point into it: the reference for the garbage estimate */
    size_t bytes;     /* of the whole allocation */
    size_t tail_off;  /* update chunks: offset of the list of nodes made to point into it; 0: none */
} cdns_store__chunk_t;

/* A snapshot's use of a chunk. */
typedef struct cdns_store__chunkref {
    cdns_store__chunk_t *chunk;
    uint32_t nodes; /* nodes of this snapshot pointing into it (dead ones included) */
} cdns_store__chunkref_t;

/* The name table of a lineage. Entries are only ever added, into empty slots, and node indices
 * are never reused, so a slot an old snapshot's probe passed over stays occupied and an update
 * can add entries while readers of older snapshots probe the same table. An entry of an index
 * an older snapshot does not have leads it to a node with name_len 0, which matches nothing:
 * every directory has room for all max_nodes indices of the lineage, the entries past its own
 * pages pointing at cdns_store__empty_page, and its last page is zero past its last node
 * (updates copy that page before adding nodes to it). So probes need no bounds test.
 * Slots are atomics so that those concurrent stores and loads are well defined; relaxed order
 * suffices (a reader meets a new index only through a snapshot published after it). Only the
 * thread committing on the lineage touches used, next_id and head. */
typedef struct cdns_store__table {
    atomic_uint refs;   /* snapshots using it */
    uint32_t slots;     /* open addressing, linear probing; see CDNS_STORE__IDX_BITS */
    uint32_t used;      /* slots written: one per node index */
    uint32_t max_nodes; /* node indices the lineage may use: 7/10 of slots, past which probes grow */
    uint32_t next_id;   /* id of the next chunk of the lineage */
    uint64_t head;      /* gen of the newest snapshot of the lineage: the only valid update base */
    atomic_uint slot[]; /* the table */
} cdns_store__table_t;

static inline uint32_t cdns_store__max_nodes(uint32_t slots)
{
    uint64_t m = (uint64_t)slots * 7 / 10;
    return m < CDNS_STORE__MAX_NODES ? (uint32_t)m : CDNS_STORE__MAX_NODES;
}

/* Directory entries for max_nodes indices. */
static inline uint32_t cdns_store__dir_pages(uint32_t max_nodes)
{
    return (max_nodes + CDNS_STORE__PAGE_NODES - 1) / CDNS_STORE__PAGE_NODES;
}

/* A page of nodes that all have name_len 0, never written: the directory entries past a
 * snapshot's own pages. */
extern cdns_store__page_t cdns_store__empty_page;

struct cdns_snapshot {
    /* What the query path reads. */
    cdns_store__page_t **pages; /* directory: node i is pages[i >> SHIFT]->nodes[i & MASK] */
    const atomic_uint *table;   /* tab->slot */
    uint32_t table_slots;
    uint32_t nnodes; /* node indices in use, dead ones included */
    cdns_zone_t *zones;
    unsigned nzones;
    uint32_t *zone_deleg; /* per zone: delegation nodes in it (answers look for cuts when > 0) */
    /* Bookkeeping for accessors, updates and release. */
    uint32_t *zone_apex; /* per zone: node index of the apex */
    uint32_t npages;     /* pages holding its nodes (the directory has tab->max_nodes' worth) */
    uint32_t dir_pages;  /* directory entries */
    uint32_t nlive, ndead;
    uint32_t dead_floor; /* ndead right after the lineage's full build (target placeholders) */
    size_t nrecords;
    size_t memory;
    uint64_t gen; /* unique per commit */
    cdns_store__table_t *tab;
    cdns_store__chunkref_t *chunks; /* sorted by chunk id */
    uint32_t nchunks;
    void *block; /* this snapshot's own allocation: zones, zone_deleg, zone_apex, chunks, pages */
    bool frozen; /* no update metadata in its pages: never the base of an update */
};

static inline cdns_node_t *cdns_store__node(const cdns_snapshot_t *s, uint32_t idx)
{
    return &s->pages[idx >> CDNS_STORE__PAGE_SHIFT]->nodes[idx & CDNS_STORE__PAGE_MASK];
}

/* Update metadata of a node; never of a frozen snapshot's (its pages end before it). */
static inline cdns_store__meta_t *cdns_store__meta(const cdns_snapshot_t *s, uint32_t idx)
{
    return &s->pages[idx >> CDNS_STORE__PAGE_SHIFT]->meta[idx & CDNS_STORE__PAGE_MASK];
}

static inline uint32_t cdns_store__slot(uint32_t hash, uint32_t slots)
{
    return (uint32_t)(((uint64_t)hash * slots) >> 32);
}

/* Offset of the name inside rdata of a type that names another owner (its target), -1 for
 * the others. */
static inline int cdns_store__target_offset(uint16_t type)
{
    return cdns_rdata_name_offset(type);
}

/* The targets of rs, which has some (targets_off != 0): cdns_rrset_targets() without the test,
 * for the answer path, whose callers know the type. */
static inline const uint32_t *cdns_store__targets(const cdns_rrset_t *rs)
{
    return (const uint32_t *)(const void *)((const uint8_t *)rs + rs->targets_off);
}

/* Octets of rs's rdata as stored, length prefixes included: a walk over its count records (the
 * RRset keeps no length; copies and memory estimates need it, the answer path does not). */
static inline size_t cdns_store__rrset_rdata_len(const cdns_rrset_t *rs)
{
    const uint8_t *rd = cdns_rrset_rdata(rs), *p = rd;
    for (uint16_t i = 0; i < rs->count; i++)
        p += 2 + ((size_t)p[0] << 8 | p[1]);
    return (size_t)(p - rd);
}

/* Points rs at its rdata and targets (NULL: none). Both must lie after rs in the block that
 * holds it, less than 4 GiB away: every commit lays a chunk out RRsets first and caps it at
 * UINT32_MAX octets (CDNS_STORE__CHUNK_MAX), so any offset inside it fits. */
#define CDNS_STORE__CHUNK_MAX ((size_t)UINT32_MAX)
static inline void cdns_store__rrset_point(cdns_rrset_t *rs, const uint8_t *rdata, const uint32_t *targets)
{
    const uint8_t *self = (const uint8_t *)rs;
    assert(rdata >= self + sizeof(*rs) && (size_t)(rdata - self) <= CDNS_STORE__CHUNK_MAX);
    rs->rdata_off = (uint32_t)(rdata - self);
    rs->targets_off = 0;
    if (targets) {
        const uint8_t *t = (const uint8_t *)targets;
        assert(t >= self + sizeof(*rs) && (size_t)(t - self) <= CDNS_STORE__CHUNK_MAX);
        rs->targets_off = (uint32_t)(t - self);
    }
}

/* Whether a record of this type whose name is node index target is stored without the name
 * (its rdlen is then the target offset: the name is that node's). Nearly all SRV and PTR rdata
 * is the name, and the snapshot already holds every name in a zone as a node. CNAME keeps its
 * name: answer.c's chase() and k8s's chase read it in place, and CNAMEs are few. */
static inline bool cdns_store__elides(uint16_t type, uint32_t target)
{
    return target != CDNS_STORE__NONE && type != CDNS_T_CNAME && cdns_store__target_offset(type) >= 0;
}

/* The name inside record i of an RRset of s whose targets are tgt (the record's rdata at rd,
 * rdlen octets as stored; toff the target offset of the RRset's type, >= 0). A stored rdlen
 * equal to toff cannot be a whole record (a name has at least the root label): the name was
 * left out and is the target node's. That node may be dead in s, but it keeps its name
 * (CDNS_STORE__NODE_DEAD), and the name of an index never changes along a lineage, so it is the
 * one the record was added with. No bounds test: an RRset names only indices of the snapshot
 * that holds it. The caller passes the targets array, so that a loop over records finds it
 * once (cdns_store__targets). */
static inline const uint8_t *cdns_store__rdata_name(const cdns_snapshot_t *s, const uint32_t *tgt, unsigned i,
                                                    const uint8_t *rd, size_t rdlen, int toff)
{
    return rdlen == (size_t)toff ? cdns_store__node(s, tgt[i])->name : rd + toff;
}

/* The whole rdata of record i of rs, whose length prefix is at p: a pointer into the snapshot
 * or, for a record stored without its name, into buf (6 + CDNS_DNAME_MAX octets), where it is
 * put back together. *len receives its length. */
static inline const uint8_t *cdns_store__full_rdata(const cdns_snapshot_t *s, const cdns_rrset_t *rs, unsigned i,
                                                    const uint8_t *p, uint8_t *buf, uint16_t *len)
{
    size_t rdlen = (size_t)p[0] << 8 | p[1];
    int toff = cdns_store__target_offset(rs->type);
    if (toff < 0 || rdlen != (size_t)toff) {
        *len = (uint16_t)rdlen;
        return p + 2;
    }
    const uint8_t *name = cdns_store__rdata_name(s, cdns_store__targets(rs), i, p + 2, rdlen, toff);
    size_t nlen = cdns_dname_len(name);
    memcpy(buf, p + 2, rdlen);
    memcpy(buf + rdlen, name, nlen);
    *len = (uint16_t)(rdlen + nlen);
    return buf;
}

/* The live node of s that a targets entry names, or NULL. */
static inline const cdns_node_t *cdns_store__target_node(const cdns_snapshot_t *s, uint32_t idx)
{
    /* Indices past nnodes cannot occur but for CDNS_STORE_NO_TARGET: an RRset only names
     * indices of the commit that wrote it, and later snapshots have more. */
    if (idx >= s->nnodes)
        return NULL;
    const cdns_node_t *n = cdns_store__node(s, idx);
    return n->name_len ? n : NULL; /* 0: dead */
}

/* cdns_snapshot_target() for the answer path, inlined: rs has targets. */
static inline const cdns_node_t *cdns_store__target(const cdns_snapshot_t *s, const cdns_rrset_t *rs, unsigned i)
{
    return cdns_store__target_node(s, cdns_store__targets(rs)[i]);
}

/* Slot probe for an exact lowercase wire name with a precomputed hash; NULL when absent. */
const cdns_node_t *cdns_store__lookup(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, uint32_t hash);
/* The index of the node of this name, dead or alive, or CDNS_STORE__NONE. */
uint32_t cdns_store__find_index(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, uint32_t hash);
/* The node of the longest existing suffix of name (the closest encloser, or the name itself);
 * *off receives the offset of that suffix within name. NULL when no suffix exists. */
const cdns_node_t *cdns_store__closest(const cdns_snapshot_t *s, const uint8_t *lower, size_t len, size_t *off);
/* The deepest zone of s whose apex is name or a suffix of it, or -1. */
int cdns_store__zone_of(const cdns_snapshot_t *s, const uint8_t *lower, size_t len);

/* Reference counting of the shared parts (refs starts at 1 for the maker). */
void cdns_store__page_unref(cdns_store__page_t *p);
void cdns_store__chunk_unref(cdns_store__chunk_t *c);
void cdns_store__table_unref(cdns_store__table_t *t);
/* A fresh commit generation (process-wide, never 0). */
uint64_t cdns_store__next_gen(void);
/* The bytes a snapshot reaches (its own block, pages, chunks, table), for s->memory. */
size_t cdns_store__memory(const cdns_snapshot_t *s);

#endif
