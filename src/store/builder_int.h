/* SPDX-License-Identifier: MIT */
/* builder_int.h — the builder's state, shared by builder.c (collecting, full commit) and
 * update.c (the commit of an update builder).
 *
 * Not part of the store's contract: only src/store/ includes it. A builder belongs to the
 * thread that made it; nothing here is shared with readers.
 */
#ifndef CDNS_STORE_BUILDER_INT_H
#define CDNS_STORE_BUILDER_INT_H

#include "store/store_int.h"

#define CDNS_STORE__BN_APEX 0x1u     /* a declared zone apex (full builds) */
#define CDNS_STORE__BN_EXPLICIT 0x2u /* given to cdns_builder_add_name */
#define CDNS_STORE__BN_DEAD 0x4u     /* a target's name that is no node: a dead placeholder */
#define CDNS_STORE__BN_TOUCHED 0x8u  /* update builders: given by the caller (else made by commit) */
#define CDNS_STORE__BN_DELEG 0x10u   /* full commits: NS below an apex (CDNS_NODE_DELEGATION) */

/* A name being built. Names of empty non-terminals point into their descendant's copy.
 *
 * b->names holds wire names that may end early in a reference to another node's name: where a
 * label's length octet would be, CDNS_STORE__BNAME_REF followed by a node index in 3 octets
 * (big-endian) stands for the rest of the name, that node's. A full build writes a new name as
 * its labels above the closest node that already exists and a reference to that node, so
 * "ep.svc.ns.svc.cluster.local" costs 3 + 4 octets once its service is a node (it was most of
 * the builder's names at scale). The referenced node always has the lower index (it existed
 * first). Update builders write only whole names. cdns_store__bname() gives the whole name. */
#define CDNS_STORE__BNAME_REF 0xC0u
#define CDNS_STORE__BNAME_REF_LEN 4u
typedef struct cdns_store__bnode {
    uint32_t name_off; /* into b->names (see above) */
    uint32_t hash;     /* cdns_dname_hash of the name */
    uint32_t children; /* full builds: live nodes one label below */
    uint32_t idx;      /* update builders: index of the node in the result, CDNS_STORE__NONE if none;
                          full commits: index of the node's first RRset */
    uint16_t zone;     /* index into the zones: the deepest zone holding the name */
    uint16_t nrrsets;  /* full commits: RRsets written for the node */
    uint8_t name_len;
    uint8_t labels;
    uint8_t flags; /* CDNS_STORE__BN_* */
} cdns_store__bnode_t;

/* One record as added (duplicates included until commit). Full builds intern the target name
 * of a record whose type names another owner (SRV, PTR, ...) as a node when it lies in a zone:
 * a dead placeholder until the name itself is added. When the layout will leave that name out
 * (cdns_store__elides), b->rdata holds only the octets before it, and rdlen still counts the
 * whole record, which is what sorting and the layout's sums see.
 *
 * 16 bytes: the type and the TTL are indices into the builder's tables of the few types and
 * TTLs in use (a load holds millions of records and a handful of each). Records of one node and
 * type have the same tix, so tix compares for equality; order and values come from the tables
 * (cdns_store__rec_type, cdns_store__rec_ttl). */
typedef struct cdns_store__brec {
    uint32_t node : 24; /* index into b->nodes (CDNS_STORE__MAX_NODES fits) */
    uint32_t tix : 8;   /* index into b->types */
    uint32_t rdata_off; /* into b->rdata */
    uint32_t target;    /* full builds: the target's node, CDNS_STORE__NONE if none (update builders: none) */
    uint16_t rdlen;
    uint16_t ttlx; /* index into b->ttls */
} cdns_store__brec_t;
_Static_assert(sizeof(cdns_store__brec_t) == 16, "a builder record is 16 bytes");

#define CDNS_STORE__MAX_TYPES 256u  /* distinct types in one builder (tix) */
#define CDNS_STORE__MAX_TTLS 65536u /* distinct TTLs in one builder (ttlx) */

struct cdns_builder {
    uint8_t *names;
    size_t names_len, names_cap;
    cdns_store__bnode_t *nodes;
    size_t nnodes, nodes_cap;
    uint32_t *table; /* BTAG(hash) << 24 | node index + 1, 0 = empty; linear probing from the low bits */
    size_t table_slots;
    cdns_store__brec_t *recs;
    size_t nrecs, recs_cap;
    uint8_t *rdata;
    size_t rdata_len, rdata_cap;
    uint32_t *zones; /* full builds: apex node index per zone */
    size_t nzones, zones_cap;
    uint16_t types[CDNS_STORE__MAX_TYPES]; /* the types in use, by tix */
    unsigned ntypes;
    uint32_t *ttls; /* the TTLs in use, by ttlx */
    size_t nttls, ttls_cap;
    uint32_t *ttl_slots; /* ttlx + 1 by TTL, 0 = empty; open addressing, at most half full */
    size_t ttl_nslots;
    uint8_t last_owner[CDNS_DNAME_MAX]; /* the owner of the last record added (lowercase), and */
    size_t last_len;                    /* its length (0: none) and */
    uint32_t last_idx;                  /* its node: records come grouped by owner */
    const cdns_snapshot_t *base;        /* update builders: the snapshot the change applies to */
    bool frozen;                        /* cdns_builder_freeze: the snapshot keeps no update metadata */
};

static inline uint16_t cdns_store__rec_type(const cdns_builder_t *b, const cdns_store__brec_t *r)
{
    return b->types[r->tix];
}

static inline uint32_t cdns_store__rec_ttl(const cdns_builder_t *b, const cdns_store__brec_t *r)
{
    return b->ttls[r->ttlx];
}

/* Whether two records of one builder belong to the same RRset (same node and type). */
static inline bool cdns_store__same_rrset(const cdns_store__brec_t *a, const cdns_store__brec_t *b)
{
    return a->node == b->node && a->tix == b->tix;
}

/* What the records of a builder need in a snapshot once sorted and deduplicated. */
typedef struct cdns_store__counts {
    size_t nrecs;       /* records left in b->recs */
    size_t nrrsets;     /* RRsets they form */
    size_t ntargets;    /* records of types naming another owner */
    size_t rdata_bytes; /* rdata with the length prefixes, names included (see elided_bytes) */
} cdns_store__counts_t;

/* The whole name of node idx: in b->names when it is stored whole, else written into buf. */
const uint8_t *cdns_store__bname(const cdns_builder_t *b, uint32_t idx, uint8_t buf[CDNS_DNAME_MAX]);

/* The target name of a record as added (whole): false for types that name no owner. Reads the
 * interned node's name (through buf) when b->rdata holds only the octets before it. */
static inline bool cdns_store__rec_target(const cdns_builder_t *b, const cdns_store__brec_t *r,
                                          uint8_t buf[CDNS_DNAME_MAX], const uint8_t **name, size_t *len)
{
    uint16_t type = cdns_store__rec_type(b, r);
    int toff = cdns_store__target_offset(type);
    if (toff < 0)
        return false;
    if (cdns_store__elides(type, r->target)) {
        *name = cdns_store__bname(b, r->target, buf);
        *len = b->nodes[r->target].name_len;
        return true;
    }
    *name = b->rdata + r->rdata_off + toff;
    *len = r->rdlen - (size_t)toff;
    return true;
}

/* Index of the builder node of this name, or -1. */
int64_t cdns_store__find_bnode(const cdns_builder_t *b, const uint8_t *name, size_t len, uint32_t hash);
/* Appends a node for a name that is already in b->names at name_off (CDNS_ERANGE past the
 * node cap, CDNS_ENOMEM). */
int cdns_store__add_bnode(cdns_builder_t *b, uint32_t name_off, size_t len, uint32_t hash, int labels, uint16_t zone,
                          uint32_t *out);
/* Appends a node for a name not yet in b->names: room for both, the copy, the node. */
int cdns_store__add_node(cdns_builder_t *b, const uint8_t *name, size_t len, uint32_t hash, int labels, uint16_t zone,
                         uint32_t *out);
/* Sorts the records (node, type, rdata) and drops duplicates, keeping the smallest TTL. */
int cdns_store__sort_dedup(cdns_builder_t *b, cdns_store__counts_t *c);
/* Fills rs from recs[0..n), the sorted records of one RRset, writing its rdata at *rdp, which
 * it advances. targets: the records' target node indices, already in place in the chunk (NULL
 * for types naming nothing); records cdns_store__elides() are written without their name. The
 * rdata and targets must lie after rs in its chunk (cdns_store__rrset_point). */
void cdns_store__fill_rrset(cdns_rrset_t *rs, const cdns_builder_t *b, const cdns_store__brec_t *recs, size_t n,
                            const uint32_t *targets, uint8_t **rdp);
/* Octets a record with this target saves by leaving its name out (cdns_store__elides). */
static inline size_t cdns_store__elided_bytes(const cdns_builder_t *b, const cdns_store__brec_t *r, uint32_t target)
{
    uint16_t type = cdns_store__rec_type(b, r);
    return cdns_store__elides(type, target) ? r->rdlen - (size_t)cdns_store__target_offset(type) : 0;
}
/* Points each zone of s at its apex node (s->zone_apex) and fills in its SOA fields. */
void cdns_store__fill_zones(cdns_snapshot_t *s);
/* The commit of an update builder (b->base set): frees b. */
int cdns_store__update_commit(cdns_builder_t *b, cdns_snapshot_t **out);

#endif
