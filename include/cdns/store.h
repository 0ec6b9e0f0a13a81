/* SPDX-License-Identifier: MIT */
/* store — immutable snapshots of authoritative data, their builder, and the answer routine.
 *
 * A snapshot holds one or more zones (apex names) and every node below them, keyed by the
 * lowercase wire name, each node carrying RRsets whose rdata is already in wire form. It is
 * built on one thread (begin/add/commit), then published and read by any number of threads
 * without locks; it is never modified after commit. Whoever publishes it frees it after every
 * reader has passed a quiescent point (see pipeline.h, cdns_rcu_*).
 *
 * A small change need not rebuild everything: an update builder (cdns_builder_update) derives
 * the next snapshot from the newest one, copying only what the change touches and sharing the
 * rest with it (reference counted, so the two may be freed in either order, on any thread).
 *
 * Answering (cdns_store_answer) is lookup + copy: no allocation, no lock.
 */
#ifndef CDNS_STORE_H
#define CDNS_STORE_H

#include "cdns/base.h"
#include "cdns/dns.h"

typedef struct cdns_node cdns_node_t;

/* One RRset. Its rdata holds count records, each [u16 rdlen, big endian][rdlen octets]; names
 * inside rdata are uncompressed lowercase wire. A record of a type that names another owner,
 * CNAME excepted (SRV, MX, NS, PTR), whose name is a node of the snapshot (targets[i] is not
 * CDNS_STORE_NO_TARGET) is stored without that name: its rdlen is the octets before the name
 * (6 for SRV, 2 for MX, 0 for NS and PTR) and the name is the target node's, which may be a
 * name that does not exist in this snapshot. So read these types' rdata through
 * cdns_snapshot_rdata(), or write them with cdns_store_put_rrset(); A, AAAA, TXT, SOA and CNAME
 * rdata is always whole.
 *
 * 16 bytes: snapshots hold hundreds of thousands of RRsets, so rdata and targets are reached
 * through offsets from the RRset's own address (read them with cdns_rrset_rdata() and
 * cdns_rrset_targets()), not through pointers. They always lie after the RRset in the same
 * block of the snapshot. An RRset is therefore only meaningful where the snapshot put it:
 * never copy one by value, pass pointers. */
typedef struct cdns_rrset {
    uint16_t type;
    uint16_t count;
    uint32_t ttl_s;
    uint32_t rdata_off; /* octets from this RRset to its rdata */
    /* For types whose rdata names another owner (CNAME, SRV, MX, NS, PTR): octets from this
     * RRset to its targets, one u32 per record, an opaque index of that name's node, read
     * through cdns_snapshot_target(). Two equal indices of one RRset name the same owner.
     * 0 when the type names nothing. */
    uint32_t targets_off;
} cdns_rrset_t;

_Static_assert(sizeof(cdns_rrset_t) == 16, "an RRset is 16 bytes: snapshots hold hundreds of thousands");

/* The rdata of rs (count records, see above). */
static inline const uint8_t *cdns_rrset_rdata(const cdns_rrset_t *rs)
{
    return (const uint8_t *)rs + rs->rdata_off;
}

/* The targets of rs, one per record, or NULL for a type that names nothing. */
static inline const uint32_t *cdns_rrset_targets(const cdns_rrset_t *rs)
{
    return rs->targets_off ? (const uint32_t *)(const void *)((const uint8_t *)rs + rs->targets_off) : NULL;
}

/* A targets[] entry whose name can never be a node (it lies in no zone of the snapshot). */
#define CDNS_STORE_NO_TARGET UINT32_MAX

#define CDNS_NODE_APEX 0x1u
#define CDNS_NODE_DELEGATION 0x2u /* has NS and is not an apex: answers are referrals */

struct cdns_node {
    const uint8_t *name;        /* lowercase wire */
    const cdns_rrset_t *rrsets; /* sorted by type */
    uint16_t nrrsets;           /* 0: an empty non-terminal or an explicitly empty name */
    uint16_t zone;              /* index into the snapshot's zones */
    uint16_t flags;             /* CDNS_NODE_* */
    uint8_t name_len;
    uint8_t labels;
};

typedef struct cdns_zone {
    const uint8_t *apex; /* lowercase wire */
    uint8_t apex_len;
    uint8_t apex_labels;
    const cdns_node_t *apex_node;
    const cdns_rrset_t *soa; /* NULL if the zone has no SOA (then no AUTHORITY on negatives) */
    uint32_t neg_ttl_s;      /* min(SOA TTL, SOA MINIMUM): TTL of the SOA in negative answers */
} cdns_zone_t;

typedef struct cdns_snapshot cdns_snapshot_t;

/* ------------------------------------------------------------------ lookup */
/* The zone whose apex is the longest suffix of name (lowercase wire), or NULL. */
const cdns_zone_t *cdns_snapshot_find_zone(const cdns_snapshot_t *s, const uint8_t *lower, size_t len);
/* The same zone, and in *node the node of exactly this name or NULL (what cdns_snapshot_find
 * would return): the walk for the zone starts with the whole name, so an existing name costs
 * one lookup for both. hash is cdns_dname_hash(lower, len), which a parsed query carries
 * (the low half of cdns_query_t.qname_hash). */
const cdns_zone_t *cdns_snapshot_find_zone_node(const cdns_snapshot_t *s, const uint8_t *lower, size_t len,
                                                uint32_t hash, const cdns_node_t **node);
/* The most queries one cdns_snapshot_prefetch call takes. */
#define CDNS_SNAPSHOT_PREFETCH_MAX 64u
/* Starts loading into the CPU cache what answering each of n parsed queries (at most
 * CDNS_SNAPSHOT_PREFETCH_MAX; the rest are ignored) will read: the name's table slot, then the
 * node it names, then that node's name and RRsets, then the rdata of its RRset of the query's
 * type, each stage issued for the whole batch before the next reads what the previous one
 * fetched. So the batch's cache misses overlap instead of each query waiting on its own in
 * turn. Only hints: it changes nothing, and a slot that holds another name prefetches a node
 * the lookup will not use. NULL s or queries without a question do nothing. No allocation,
 * no lock. */
void cdns_snapshot_prefetch(const cdns_snapshot_t *s, const cdns_query_t *const *qs, unsigned n);
/* The node of exactly this name, or NULL. */
const cdns_node_t *cdns_snapshot_find(const cdns_snapshot_t *s, const uint8_t *lower, size_t len);
/* The node's RRset of this type, or NULL. */
const cdns_rrset_t *cdns_node_rrset(const cdns_node_t *n, uint16_t type);
/* The node that record i of rs (an RRset of s) names, or NULL when that name is no node of s
 * (nothing there, or no targets for this type). No allocation, no lock. */
const cdns_node_t *cdns_snapshot_target(const cdns_snapshot_t *s, const cdns_rrset_t *rs, unsigned i);
/* The whole rdata of record i of rs (an RRset of s), names put back: a pointer into s, or into
 * buf when the record was stored without its name; *len receives its length. NULL when i is
 * out of range. Walks the records before i. No allocation, no lock. */
#define CDNS_STORE_RDATA_BUF (6 + CDNS_DNAME_MAX)
const uint8_t *cdns_snapshot_rdata(const cdns_snapshot_t *s, const cdns_rrset_t *rs, unsigned i,
                                   uint8_t buf[CDNS_STORE_RDATA_BUF], uint16_t *len);
const cdns_zone_t *cdns_snapshot_zone(const cdns_snapshot_t *s, unsigned idx);
unsigned cdns_snapshot_nzones(const cdns_snapshot_t *s);
/* Number of records (not RRsets) and bytes held, for logs, metrics and bench. The bytes are
 * everything the snapshot reaches, parts it shares with other snapshots of its lineage counted
 * in full (so the sum over live snapshots overstates what they hold together). */
size_t cdns_snapshot_records(const cdns_snapshot_t *s);
size_t cdns_snapshot_memory(const cdns_snapshot_t *s);
/* Number of nodes (owners and empty non-terminals), for the same uses. */
size_t cdns_snapshot_nodes(const cdns_snapshot_t *s);
/* Whether s was committed by a frozen builder (cdns_builder_freeze): no update starts from it. */
bool cdns_snapshot_frozen(const cdns_snapshot_t *s);
/* Frees a snapshot (NULL is a no-op). Only after no reader can still hold it. Snapshots that
 * share parts (an update and its base) may be freed in any order, on any threads. */
void cdns_snapshot_free(cdns_snapshot_t *s);

/* ----------------------------------------------------------------- builder */
typedef struct cdns_builder cdns_builder_t;

cdns_builder_t *cdns_builder_new(void);
/* A builder deriving a new snapshot from base (NULL if base is NULL or memory runs out). Every
 * name given to it through add, add_name or remove ("touched") ends up with exactly the
 * records added for it here, as in a full build; every other name keeps base's records. A
 * touched name left with no records and no add_name goes away, unless a name below it still
 * exists (then it stays an empty non-terminal); empty non-terminals appear and go as names
 * below them do. The result answers exactly like a full build of the same final content.
 * Zones are base's (cdns_builder_zone is CDNS_EINVAL). base must stay valid until commit or
 * free, and is never modified: readers may use it meanwhile. Commit costs about what the
 * touched names hold when base is the newest snapshot derived from its full build (its
 * lineage); from an older one, or once enough garbage has gathered, it lays everything out
 * afresh (a full build's cost, same result). Commits of one lineage must not run at once. */
cdns_builder_t *cdns_builder_update(const cdns_snapshot_t *base);
/* Declares that the snapshot a fresh builder commits will never be the base of an update
 * (cdns_builder_update then refuses it): it is laid out without the metadata updates need,
 * 12 bytes per name less. For snapshots that are only ever replaced whole. */
void cdns_builder_freeze(cdns_builder_t *b);
/* Declares a zone apex (lowercase wire). Zones must be declared before names under them. */
int cdns_builder_zone(cdns_builder_t *b, const uint8_t *apex);
/* Adds one record. owner is lowercase wire and must lie in a declared zone (else CDNS_ERANGE;
 * the deepest declared zone containing it owns it). Identical records (same owner, type and
 * rdata) are added once. The RRset TTL is the smallest TTL given for it. Names between the
 * owner and its apex become empty non-terminals. One builder holds at most 256 distinct types
 * and 65,536 distinct TTLs (CDNS_ERANGE past them). */
int cdns_builder_add(cdns_builder_t *b, const uint8_t *owner, uint16_t type, uint32_t ttl_s, const uint8_t *rdata,
                     uint16_t rdlen);
/* Makes a name exist with no records (answers NODATA rather than NXDOMAIN). */
int cdns_builder_add_name(cdns_builder_t *b, const uint8_t *owner);
/* Update builders only (else CDNS_EINVAL): touches owner without adding anything, so that
 * unless records or add_name come for it too, it loses base's records and goes away. */
int cdns_builder_remove(cdns_builder_t *b, const uint8_t *owner);
/* Freezes everything into a snapshot (resolving rdata targets) and frees the builder, whether
 * it succeeds or not. An update builder's snapshot is a new one; its base stays as it was. */
int cdns_builder_commit(cdns_builder_t *b, cdns_snapshot_t **out);
void cdns_builder_free(cdns_builder_t *b);

/* Rdata helpers for builders (write into out, return the rdata length or a negative error). */
int cdns_rdata_a(const char *ipv4_text, uint8_t out[4]);
int cdns_rdata_aaaa(const char *ipv6_text, uint8_t out[16]);
int cdns_rdata_srv(uint16_t prio, uint16_t weight, uint16_t port, const uint8_t *target, uint8_t *out, size_t cap);
int cdns_rdata_soa(const uint8_t *mname, const uint8_t *rname, uint32_t serial, uint32_t refresh, uint32_t retry,
                   uint32_t expire, uint32_t minimum, uint8_t *out, size_t cap);
int cdns_rdata_txt(const char *text, uint8_t *out, size_t cap); /* one character-string per 255 octets */
/* The reverse name (in-addr.arpa / ip6.arpa, lowercase wire) of an address in text form. */
int cdns_reverse_name(const char *ip_text, uint8_t out[CDNS_DNAME_MAX], size_t *len);

/* ------------------------------------------------------------------ answer */
typedef enum {
    CDNS_ANSWER_NOTAUTH = 0, /* no zone of this snapshot holds the name: nothing written */
    CDNS_ANSWER_DATA,        /* NOERROR with records */
    CDNS_ANSWER_NODATA,      /* NOERROR, no records of the type, SOA in AUTHORITY */
    CDNS_ANSWER_NXDOMAIN,    /* NXDOMAIN, SOA in AUTHORITY */
    CDNS_ANSWER_REFERRAL,    /* below a delegation: NS in AUTHORITY, glue in ADDITIONAL */
} cdns_answer_kind_t;

typedef struct cdns_answer_info {
    cdns_answer_kind_t kind;
    const cdns_zone_t *zone;
    /* When the answer ends in a CNAME whose target lies outside this snapshot: that target
     * (lowercase wire, pointing into the snapshot) for the caller to chase elsewhere. */
    const uint8_t *cname_target;
} cdns_answer_info_t;

/* Answers q from s into m (which cdns_msg_begin started): exact match, in-snapshot CNAME chase
 * (at most 8 links), SRV/MX/NS targets' A and AAAA in ADDITIONAL, SOA in AUTHORITY on negative
 * answers with the zone owner compressed against the question, AA set. Does not set the rcode
 * on NOTAUTH. No allocation, no lock. */
void cdns_store_answer(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info);
/* The same with options. Names below a closest encloser that has a "*" child are answered
 * from it (RFC 4592) in both forms. */
#define CDNS_STORE_AUTH_NS 0x1u /* positive answers carry the zone's apex NS in AUTHORITY (CoreDNS's file) */
void cdns_store_answer_opts(const cdns_snapshot_t *s, const cdns_query_t *q, cdns_msg_t *m, cdns_answer_info_t *info,
                            unsigned opts);
/* Tells the writer where zone z sits in the question, so names below it inside rdata are
 * written with the client's letter case (CoreDNS's behaviour). */
void cdns_store_set_zone(cdns_msg_t *m, const cdns_zone_t *z, const cdns_query_t *q);
/* Writes the negative answer of zone z (SOA in AUTHORITY, owner compressed against qname). */
void cdns_store_put_soa(const cdns_zone_t *z, const cdns_query_t *q, cdns_msg_t *m, cdns_section_t sec);
/* Writes one RRset of s under the given owner (pointer offset or full name). All-or-nothing.
 * s is the snapshot rs belongs to: names left out of rdata come from its nodes. */
int cdns_store_put_rrset(const cdns_snapshot_t *s, cdns_msg_t *m, cdns_section_t sec, uint16_t owner_off,
                         const uint8_t *owner, const cdns_rrset_t *rs);

#endif
