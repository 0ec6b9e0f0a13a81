/* SPDX-License-Identifier: MIT */
/* builder.c — collects zones and records on one thread and freezes them into a snapshot.
 *
 * The builder is owned by the thread that created it (the main thread, which also owns the
 * Kubernetes index); nothing here is shared. It keeps names in one growable byte buffer, nodes
 * and records in growable arrays and an open-addressing name table; commit sorts the records,
 * drops duplicates and lays the snapshot out (store_int.h: pages of nodes, one chunk for names,
 * RRsets and rdata, the name table; names inside rdata that are nodes are left out of it, see
 * cdns_rrset_t), then frees the builder. An update builder collects the
 * same way, only the names it is given (no zones, no empty non-terminals); update.c commits it.
 *
 * Why a hash table and not the tree over reversed labels that DESIGN.md §1 describes: nearly
 * every query the store sees is an exact-name lookup (a service, an SRV name, a pod address),
 * and a hash probe with a tag byte answers that with one or two cache misses, where a tree
 * walks one node per label. The one thing a tree gives for free, the zone and closest
 * encloser of a name, we get by probing the name's label suffixes longest first (a cluster
 * name has 5-7 labels, so a miss costs a handful of probes). There are no wildcards or
 * canonical-order walks (NSEC) in this store that would need ordered keys. The builder API
 * (begin/add/commit) hides the choice, so a trie can replace it without touching callers.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/builder_int.h"

#define BN_APEX CDNS_STORE__BN_APEX
#define BN_EXPLICIT CDNS_STORE__BN_EXPLICIT
#define BN_DEAD CDNS_STORE__BN_DEAD
#define BN_TOUCHED CDNS_STORE__BN_TOUCHED
#define BN_DELEG CDNS_STORE__BN_DELEG
#define REF CDNS_STORE__BNAME_REF
#define REF_LEN CDNS_STORE__BNAME_REF_LEN

typedef cdns_store__bnode_t bnode_t;
typedef cdns_store__brec_t brec_t;

/* Grows *p (an array of elem-sized items with *cap of them) to hold at least need items. */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return CDNS_OK;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    if (ncap > SIZE_MAX / elem)
        return CDNS_ENOMEM;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return CDNS_ENOMEM;
    *p = np;
    *cap = ncap;
    return CDNS_OK;
}

/* Length of a wire name inside at most max octets, 0 when malformed (compression pointers,
 * bad label types, over 255 octets or running past max). Counts labels into *labels. */
static size_t name_len_bounded(const uint8_t *p, size_t max, int *labels)
{
    size_t pos = 0;
    int n = 0;
    for (;;) {
        if (pos >= max)
            return 0;
        uint8_t l = p[pos];
        if (l == 0)
            break;
        if (l > CDNS_LABEL_MAX)
            return 0;
        pos += (size_t)l + 1;
        n++;
    }
    pos++;
    if (pos > CDNS_DNAME_MAX)
        return 0;
    if (labels)
        *labels = n;
    return pos;
}

static void lower_bytes(uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (uint8_t)(p[i] + ('a' - 'A'));
}

/* Lowercases the labels of a validated wire name in place (length octets are < 64, so folding
 * every byte would also work, but this keeps the intent plain). */
static void lower_name(uint8_t *p)
{
    while (*p) {
        lower_bytes(p + 1, *p);
        p += *p + 1;
    }
}

/* ------------------------------------------------------------ stored names */

static uint32_t ref_node(const uint8_t *p)
{
    return (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Octets of the stored name p up to its end or its reference (p[return] is 0 or REF). */
static size_t literal_len(const uint8_t *p)
{
    size_t n = 0;
    while (p[n] != 0 && p[n] < REF)
        n += (size_t)p[n] + 1;
    return n;
}

const uint8_t *cdns_store__bname(const cdns_builder_t *b, uint32_t idx, uint8_t buf[CDNS_DNAME_MAX])
{
    const uint8_t *p = b->names + b->nodes[idx].name_off;
    size_t out = 0;
    for (;;) {
        size_t n = literal_len(p);
        if (p[n] == 0 && out == 0)
            return p; /* stored whole */
        memcpy(buf + out, p, n);
        out += n;
        if (p[n] == 0) {
            buf[out] = 0;
            return buf;
        }
        p = b->names + b->nodes[ref_node(p + n)].name_off;
    }
}

/* Whether the stored name p is the whole name name[0, len). */
static bool bname_equal(const cdns_builder_t *b, const uint8_t *p, const uint8_t *name, size_t len)
{
    for (;;) {
        size_t n = literal_len(p);
        if (p[n] == 0)
            return n + 1 == len && memcmp(p, name, len) == 0;
        if (n >= len || memcmp(p, name, n) != 0)
            return false;
        name += n;
        len -= n;
        const bnode_t *to = &b->nodes[ref_node(p + n)];
        if (to->name_len != len)
            return false;
        p = b->names + to->name_off;
    }
}

/* memcmp of the whole names of nodes x and y, of the same length, without writing them out. */
static int bname_cmp(const cdns_builder_t *b, uint32_t x, uint32_t y)
{
    const uint8_t *p = b->names + b->nodes[x].name_off, *q = b->names + b->nodes[y].name_off;
    size_t pn = literal_len(p), qn = literal_len(q);
    for (;;) {
        if (pn == 0 && qn == 0 && p[0] == REF && q[0] == REF && ref_node(p) == ref_node(q))
            return 0; /* the same rest */
        if (pn == 0 && p[0] == REF) {
            p = b->names + b->nodes[ref_node(p)].name_off;
            pn = literal_len(p);
            continue;
        }
        if (qn == 0 && q[0] == REF) {
            q = b->names + b->nodes[ref_node(q)].name_off;
            qn = literal_len(q);
            continue;
        }
        size_t m = pn < qn ? pn : qn;
        if (m == 0) /* one is at its end (the other too, being as long) */
            return (int)p[0] - (int)q[0];
        int r = memcmp(p, q, m);
        if (r)
            return r;
        p += m;
        q += m;
        pn -= m;
        qn -= m;
    }
}

/* Appends name[0, cut) and a reference to node `to` (a live node whose name is name + cut) to
 * b->names, or the whole name when there is no such node or the reference saves nothing; the
 * caller reserved len octets. Returns the stored name's offset. */
static uint32_t put_name(cdns_builder_t *b, const uint8_t *name, size_t len, size_t cut, int64_t to)
{
    uint32_t off = (uint32_t)b->names_len;
    uint8_t *w = b->names + off;
    if (to < 0 || len - cut <= REF_LEN) {
        memcpy(w, name, len);
        b->names_len += len;
        return off;
    }
    memcpy(w, name, cut);
    w[cut] = REF;
    w[cut + 1] = (uint8_t)(to >> 16);
    w[cut + 2] = (uint8_t)(to >> 8);
    w[cut + 3] = (uint8_t)to;
    b->names_len += cut + REF_LEN;
    return off;
}

/* The table's tag: the hash's top octet, which the home slot (from the low bits, and a table
 * has fewer than 2^24 slots) does not use. Node indices fit the other 24 bits (reserve_nodes). */
#define BTAG(h) ((h) >> CDNS_STORE__IDX_BITS)

int64_t cdns_store__find_bnode(const cdns_builder_t *b, const uint8_t *name, size_t len, uint32_t hash)
{
    if (!b->table_slots)
        return -1;
    size_t mask = b->table_slots - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        uint32_t e = b->table[i];
        if (!e)
            return -1;
        /* The tag spares loading the node of all but 1 in 256 foreign entries a probe passes. */
        if ((e >> CDNS_STORE__IDX_BITS) != BTAG(hash))
            continue;
        uint32_t idx = (e & CDNS_STORE__IDX_MASK) - 1;
        const bnode_t *n = &b->nodes[idx];
        if (n->hash == hash && n->name_len == len && bname_equal(b, b->names + n->name_off, name, len))
            return (int64_t)idx;
    }
}

static void table_put(uint32_t *table, size_t slots, uint32_t hash, uint32_t idx)
{
    size_t mask = slots - 1;
    size_t i = hash & mask;
    while (table[i])
        i = (i + 1) & mask;
    table[i] = BTAG(hash) << CDNS_STORE__IDX_BITS | (idx + 1);
}

/* Keeps the load factor at or under 3/4: the tag in each slot spares a node load for nearly
 * every foreign entry a probe passes, so the longer probes cost little, and a power of two
 * between 1/2 and 3/4 full no longer doubles (a load's table was 4 of its 18 MB at 10k
 * services; 4-byte slots halve what is left). */
static int table_reserve(cdns_builder_t *b, size_t nodes)
{
    if (nodes * 4 <= b->table_slots * 3)
        return CDNS_OK;
    size_t slots = b->table_slots ? b->table_slots : 1024;
    while (nodes * 4 > slots * 3)
        slots *= 2;
    uint32_t *t = calloc(slots, sizeof(*t));
    if (!t)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < b->nnodes; i++)
        table_put(t, slots, b->nodes[i].hash, (uint32_t)i);
    free(b->table);
    b->table = t;
    b->table_slots = slots;
    return CDNS_OK;
}

/* Appends a node whose name already sits in b->names at name_off (room reserved by caller). */
static uint32_t push_node(cdns_builder_t *b, uint32_t name_off, size_t len, uint32_t hash, int labels, uint16_t zone)
{
    uint32_t idx = (uint32_t)b->nnodes++;
    bnode_t *n = &b->nodes[idx];
    n->name_off = name_off;
    n->hash = hash;
    n->zone = zone;
    n->name_len = (uint8_t)len;
    n->labels = (uint8_t)labels;
    n->flags = 0;
    n->children = 0;
    n->idx = CDNS_STORE__NONE;
    n->nrrsets = 0;
    table_put(b->table, b->table_slots, hash, idx);
    return idx;
}

/* Room for `extra` more nodes and `bytes` more name octets. */
static int reserve_nodes(cdns_builder_t *b, size_t extra, size_t bytes)
{
    if (b->nnodes + extra > CDNS_STORE__MAX_NODES || b->names_len + bytes > UINT32_MAX)
        return CDNS_ERANGE; /* the snapshot's table addresses nodes with 24 bits */
    int rc = grow((void **)&b->nodes, &b->nodes_cap, b->nnodes + extra, sizeof(*b->nodes));
    if (rc == CDNS_OK)
        rc = grow((void **)&b->names, &b->names_cap, b->names_len + bytes, 1);
    if (rc == CDNS_OK)
        rc = table_reserve(b, b->nnodes + extra);
    return rc;
}

int cdns_store__add_node(cdns_builder_t *b, const uint8_t *name, size_t len, uint32_t hash, int labels, uint16_t zone,
                         uint32_t *out)
{
    int rc = reserve_nodes(b, 1, len);
    if (rc != CDNS_OK)
        return rc;
    uint32_t off = (uint32_t)b->names_len;
    memcpy(b->names + off, name, len);
    b->names_len += len;
    *out = push_node(b, off, len, hash, labels, zone);
    return CDNS_OK;
}

int cdns_store__add_bnode(cdns_builder_t *b, uint32_t name_off, size_t len, uint32_t hash, int labels, uint16_t zone,
                          uint32_t *out)
{
    int rc = reserve_nodes(b, 1, 0);
    if (rc == CDNS_OK)
        *out = push_node(b, name_off, len, hash, labels, zone);
    return rc;
}

/* Label offsets of a validated name, root label included last; returns the count. */
static int label_offsets(const uint8_t *name, uint8_t offs[128])
{
    int n = 0;
    size_t pos = 0;
    for (;;) {
        offs[n++] = (uint8_t)pos;
        if (!name[pos])
            return n;
        pos += (size_t)name[pos] + 1;
    }
}

/* The node of a name given to an update builder: only the names given are kept (commit works
 * out the empty non-terminals against the base), each in the deepest zone of the base. */
static int touch(cdns_builder_t *b, const uint8_t *name, size_t len, int labels, uint32_t *out)
{
    uint32_t h = cdns_dname_hash(name, len);
    int64_t found = cdns_store__find_bnode(b, name, len, h);
    uint32_t idx = (uint32_t)found;
    if (found < 0) {
        int z = cdns_store__zone_of(b->base, name, len);
        if (z < 0)
            return CDNS_ERANGE;
        int rc = cdns_store__add_node(b, name, len, h, labels, (uint16_t)z, &idx);
        if (rc != CDNS_OK)
            return rc;
    }
    b->nodes[idx].flags |= BN_TOUCHED;
    *out = idx;
    return CDNS_OK;
}

/* Finds or creates the node of a lowercase name lying in a declared zone, creating the empty
 * non-terminals between it and the closest live ancestor, which decides its zone (apexes are
 * always nodes, so the first ancestor found lies in the deepest zone holding the name). A dead
 * placeholder on the way (a target named before its owner was added) comes alive in place,
 * keeping its index. Each node made live counts as a live child of the one above it. */
static int intern(cdns_builder_t *b, const uint8_t *name, size_t len, int labels, uint32_t *out)
{
    if (b->base)
        return touch(b, name, len, labels, out);
    uint32_t h0 = cdns_dname_hash(name, len);
    int64_t have[128];
    have[0] = cdns_store__find_bnode(b, name, len, h0);
    if (have[0] >= 0 && !(b->nodes[have[0]].flags & BN_DEAD)) {
        *out = (uint32_t)have[0];
        return CDNS_OK;
    }
    uint8_t offs[128];
    uint32_t hashes[128];
    int n = label_offsets(name, offs);
    hashes[0] = h0;
    size_t missing = have[0] < 0;
    int k; /* the first live ancestor is the suffix at offs[k] */
    for (k = 1; k < n; k++) {
        hashes[k] = cdns_dname_hash(name + offs[k], len - offs[k]);
        have[k] = cdns_store__find_bnode(b, name + offs[k], len - offs[k], hashes[k]);
        if (have[k] >= 0 && !(b->nodes[have[k]].flags & BN_DEAD))
            break;
        missing += have[k] < 0;
    }
    if (k >= n)
        return CDNS_ERANGE;
    int rc = reserve_nodes(b, missing, have[0] < 0 ? len : 0);
    if (rc != CDNS_OK)
        return rc;
    /* Names of nodes made here point into the copy of the deepest one, which refers to the live
     * ancestor for the rest: every one of them lies above it (a placeholder's name refers to a
     * live node too, and the first live suffix is at or below that one). */
    uint32_t base = have[0] >= 0 ? b->nodes[have[0]].name_off : put_name(b, name, len, offs[k], have[k]);
    uint16_t zone = b->nodes[have[k]].zone;
    for (int i = 0; i < k; i++) {
        uint32_t idx;
        if (have[i] < 0) {
            idx = push_node(b, base + offs[i], len - offs[i], hashes[i], labels - i, zone);
        } else {
            idx = (uint32_t)have[i];
            b->nodes[idx].flags &= (uint8_t)~BN_DEAD;
        }
        if (i == 0)
            *out = idx;
        else
            b->nodes[idx].children = 1;
    }
    b->nodes[have[k]].children++;
    return CDNS_OK;
}

/* The node of a record's target name (lowercase, whole): the name's own when it has one, dead
 * or alive, else a new dead placeholder when the name lies in a zone (one of its suffixes is a
 * node: every node lies in a zone and every apex is a node), else CDNS_STORE__NONE. A
 * placeholder makes no ancestors; intern() gives it them if the name is added later. */
static int target_node(cdns_builder_t *b, const uint8_t *name, size_t len, uint32_t *out)
{
    uint32_t h = cdns_dname_hash(name, len);
    int64_t found = cdns_store__find_bnode(b, name, len, h);
    *out = CDNS_STORE__NONE;
    if (found >= 0) {
        *out = (uint32_t)found;
        return CDNS_OK;
    }
    /* anc, the closest node, gives the zone; live, the closest live node, the rest of the name
     * (only live nodes are referred to: intern() relies on it). */
    int64_t anc = -1, live = -1;
    size_t cut = 0;
    int labels = 0;
    for (size_t pos = 0; name[pos] != 0;) {
        pos += (size_t)name[pos] + 1;
        labels++;
        if (live >= 0)
            continue;
        int64_t a = cdns_store__find_bnode(b, name + pos, len - pos, cdns_dname_hash(name + pos, len - pos));
        if (a >= 0 && anc < 0)
            anc = a;
        if (a >= 0 && !(b->nodes[a].flags & BN_DEAD)) {
            live = a;
            cut = pos;
        }
    }
    if (anc < 0)
        return CDNS_OK;
    int rc = reserve_nodes(b, 1, len);
    if (rc != CDNS_OK)
        return rc;
    uint32_t idx = push_node(b, put_name(b, name, len, cut, live), len, h, labels, b->nodes[anc].zone);
    b->nodes[idx].flags |= BN_DEAD;
    *out = idx;
    return CDNS_OK;
}

/* Validates and lowercases a name into buf. */
static int take_name(const uint8_t *name, uint8_t buf[CDNS_DNAME_MAX], size_t *len, int *labels)
{
    if (!name)
        return CDNS_EINVAL;
    size_t l = name_len_bounded(name, CDNS_DNAME_MAX, labels);
    if (!l)
        return CDNS_EMALFORMED;
    memcpy(buf, name, l);
    lower_bytes(buf, l);
    *len = l;
    return CDNS_OK;
}

cdns_builder_t *cdns_builder_new(void)
{
    return calloc(1, sizeof(cdns_builder_t));
}

cdns_builder_t *cdns_builder_update(const cdns_snapshot_t *base)
{
    if (!base || base->frozen)
        return NULL;
    cdns_builder_t *b = calloc(1, sizeof(cdns_builder_t));
    if (b)
        b->base = base;
    return b;
}

void cdns_builder_freeze(cdns_builder_t *b)
{
    if (b && !b->base)
        b->frozen = true;
}

void cdns_builder_free(cdns_builder_t *b)
{
    if (!b)
        return;
    free(b->names);
    free(b->nodes);
    free(b->table);
    free(b->recs);
    free(b->rdata);
    free(b->zones);
    free(b->ttls);
    free(b->ttl_slots);
    free(b);
}

int cdns_builder_zone(cdns_builder_t *b, const uint8_t *apex)
{
    uint8_t name[CDNS_DNAME_MAX];
    size_t len;
    int labels;
    if (!b || b->base)
        return CDNS_EINVAL; /* an update keeps its base's zones */
    int rc = take_name(apex, name, &len, &labels);
    if (rc != CDNS_OK)
        return rc;
    uint32_t h = cdns_dname_hash(name, len);
    int64_t found = cdns_store__find_bnode(b, name, len, h);
    if (found >= 0) {
        /* Declaring a zone twice is harmless; declaring one where names already exist would
         * leave the names below it in the parent zone, so the contract forbids it. */
        return (b->nodes[found].flags & BN_APEX) ? CDNS_OK : CDNS_EINVAL;
    }
    if (b->nzones >= UINT16_MAX)
        return CDNS_ERANGE;
    rc = grow((void **)&b->zones, &b->zones_cap, b->nzones + 1, sizeof(*b->zones));
    /* Ancestors up to an enclosing zone become empty non-terminals at commit, once every zone
     * is known, so zones may be declared in any order among themselves. */
    uint32_t idx;
    if (rc == CDNS_OK)
        rc = cdns_store__add_node(b, name, len, h, labels, (uint16_t)b->nzones, &idx);
    if (rc != CDNS_OK)
        return rc;
    b->nodes[idx].flags |= BN_APEX;
    b->zones[b->nzones++] = idx;
    return CDNS_OK;
}

int cdns_builder_add_name(cdns_builder_t *b, const uint8_t *owner)
{
    uint8_t name[CDNS_DNAME_MAX];
    size_t len;
    int labels;
    int rc = take_name(owner, name, &len, &labels);
    if (rc != CDNS_OK)
        return rc;
    uint32_t idx;
    rc = intern(b, name, len, labels, &idx);
    if (rc == CDNS_OK)
        b->nodes[idx].flags |= BN_EXPLICIT;
    return rc;
}

int cdns_builder_remove(cdns_builder_t *b, const uint8_t *owner)
{
    uint8_t name[CDNS_DNAME_MAX];
    size_t len;
    int labels;
    if (!b || !b->base)
        return CDNS_EINVAL;
    int rc = take_name(owner, name, &len, &labels);
    if (rc != CDNS_OK)
        return rc;
    uint32_t idx;
    return touch(b, name, len, labels, &idx);
}

/* Checks the names inside rdata of the types whose rdata we interpret. */
static int check_rdata(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
    size_t l1, l2;
    switch (type) {
    case CDNS_T_A:
        return rdlen == 4 ? CDNS_OK : CDNS_EMALFORMED;
    case CDNS_T_AAAA:
        return rdlen == 16 ? CDNS_OK : CDNS_EMALFORMED;
    case CDNS_T_SOA:
        l1 = name_len_bounded(rdata, rdlen, NULL);
        if (!l1)
            return CDNS_EMALFORMED;
        l2 = name_len_bounded(rdata + l1, rdlen - l1, NULL);
        return (l2 && l1 + l2 + 20 == rdlen) ? CDNS_OK : CDNS_EMALFORMED;
    default:
        break;
    }
    int off = cdns_store__target_offset(type);
    if (off < 0)
        return CDNS_OK;
    if (rdlen <= off)
        return CDNS_EMALFORMED;
    l1 = name_len_bounded(rdata + off, rdlen - (size_t)off, NULL);
    return (l1 && (size_t)off + l1 == rdlen) ? CDNS_OK : CDNS_EMALFORMED;
}

/* The index of type in b->types, added if new (CDNS_ERANGE past CDNS_STORE__MAX_TYPES). */
static int type_index(cdns_builder_t *b, uint16_t type, uint8_t *out)
{
    for (unsigned i = 0; i < b->ntypes; i++) {
        if (b->types[i] == type) {
            *out = (uint8_t)i;
            return CDNS_OK;
        }
    }
    if (b->ntypes == CDNS_STORE__MAX_TYPES)
        return CDNS_ERANGE;
    b->types[b->ntypes] = type;
    *out = (uint8_t)b->ntypes++;
    return CDNS_OK;
}

/* Where a probe for ttl starts in a table of nslots (a power of two). */
static size_t ttl_home(uint32_t ttl, size_t nslots)
{
    return (size_t)((ttl * 0x9E3779B1u) >> 7) & (nslots - 1);
}

/* Puts TTL number k (ttl) into a table of nslots with room for it. */
static void ttl_put(uint32_t *slots, size_t nslots, uint32_t ttl, size_t k)
{
    size_t i = ttl_home(ttl, nslots);
    while (slots[i])
        i = (i + 1) & (nslots - 1);
    slots[i] = (uint32_t)k + 1;
}

/* The index of ttl in b->ttls, added if new (CDNS_ERANGE past CDNS_STORE__MAX_TTLS). A load
 * has a handful, so the last one added answers nearly every call. */
static int ttl_index(cdns_builder_t *b, uint32_t ttl, uint16_t *out)
{
    if (b->nttls && b->ttls[b->nttls - 1] == ttl) {
        *out = (uint16_t)(b->nttls - 1);
        return CDNS_OK;
    }
    for (size_t i = b->ttl_nslots ? ttl_home(ttl, b->ttl_nslots) : 0; b->ttl_nslots && b->ttl_slots[i];
         i = (i + 1) & (b->ttl_nslots - 1)) {
        uint32_t e = b->ttl_slots[i];
        if (b->ttls[e - 1] == ttl) {
            *out = (uint16_t)(e - 1);
            return CDNS_OK;
        }
    }
    if (b->nttls == CDNS_STORE__MAX_TTLS)
        return CDNS_ERANGE;
    int rc = grow((void **)&b->ttls, &b->ttls_cap, b->nttls + 1, sizeof(*b->ttls));
    if (rc != CDNS_OK)
        return rc;
    if ((b->nttls + 1) * 2 > b->ttl_nslots) {
        size_t n = b->ttl_nslots ? b->ttl_nslots * 2 : 64;
        uint32_t *t = calloc(n, sizeof(*t));
        if (!t)
            return CDNS_ENOMEM;
        for (size_t k = 0; k < b->nttls; k++)
            ttl_put(t, n, b->ttls[k], k);
        free(b->ttl_slots);
        b->ttl_slots = t;
        b->ttl_nslots = n;
    }
    ttl_put(b->ttl_slots, b->ttl_nslots, ttl, b->nttls);
    b->ttls[b->nttls] = ttl;
    *out = (uint16_t)b->nttls++;
    return CDNS_OK;
}

int cdns_builder_add(cdns_builder_t *b, const uint8_t *owner, uint16_t type, uint32_t ttl_s, const uint8_t *rdata,
                     uint16_t rdlen)
{
    /* Meta types and the OPT pseudo-record can never be data. */
    if (type == 0 || type == CDNS_T_OPT || type == CDNS_T_ANY || type == CDNS_T_AXFR || type == CDNS_T_IXFR)
        return CDNS_EINVAL;
    if (rdlen && !rdata)
        return CDNS_EINVAL;
    int rc = check_rdata(type, rdata, rdlen);
    if (rc != CDNS_OK)
        return rc;
    uint8_t name[CDNS_DNAME_MAX];
    size_t len;
    int labels;
    rc = take_name(owner, name, &len, &labels);
    if (rc != CDNS_OK)
        return rc;
    if (b->rdata_len + rdlen > UINT32_MAX)
        return CDNS_ENOMEM;
    uint8_t tix;
    uint16_t ttlx;
    if ((rc = type_index(b, type, &tix)) != CDNS_OK || (rc = ttl_index(b, ttl_s, &ttlx)) != CDNS_OK)
        return rc;
    rc = grow((void **)&b->recs, &b->recs_cap, b->nrecs + 1, sizeof(*b->recs));
    if (rc == CDNS_OK)
        rc = grow((void **)&b->rdata, &b->rdata_cap, b->rdata_len + rdlen, 1);
    /* A node's index never changes and intern() returns live nodes only, so the owner of the
     * previous record (a service's A records, its SRV records...) needs no second lookup. */
    uint32_t idx = b->last_idx;
    if (rc == CDNS_OK && (len != b->last_len || memcmp(name, b->last_owner, len) != 0)) {
        rc = intern(b, name, len, labels, &idx);
        if (rc == CDNS_OK) {
            memcpy(b->last_owner, name, len);
            b->last_len = len;
            b->last_idx = idx;
        }
    }
    if (rc != CDNS_OK)
        return rc;
    uint8_t *copy = b->rdata + b->rdata_len;
    if (rdlen)
        memcpy(copy, rdata, rdlen);
    /* The contract keeps names inside rdata lowercase: targets are looked up by them. */
    uint32_t target = CDNS_STORE__NONE;
    int toff = cdns_store__target_offset(type);
    if (toff >= 0) {
        lower_name(copy + toff);
        if (!b->base && (rc = target_node(b, copy + toff, rdlen - (size_t)toff, &target)) != CDNS_OK)
            return rc;
    } else if (type == CDNS_T_SOA) {
        lower_name(copy);
        lower_name(copy + name_len_bounded(copy, rdlen, NULL));
    }
    brec_t *r = &b->recs[b->nrecs++];
    r->node = idx;
    r->tix = tix;
    r->ttlx = ttlx;
    r->rdata_off = (uint32_t)b->rdata_len;
    r->target = target;
    r->rdlen = rdlen;
    /* A name the layout leaves out is kept once, as its node's (cdns_store__rec_target). */
    b->rdata_len += cdns_store__elides(type, target) ? (size_t)toff : rdlen;
    return CDNS_OK;
}

/* ------------------------------------------------------------------ commit */

/* Order: node, type, then rdata (shorter first, then octets, a target name as if written out),
 * so duplicates are adjacent and each RRset comes out in one deterministic order whatever order
 * the watch delivered, the same whether the names were interned (full builds) or not. */
static int cmp_rec(const void *pa, const void *pb, void *ctx)
{
    const brec_t *a = pa, *b = pb;
    const cdns_builder_t *bl = ctx;
    if (a->node != b->node)
        return a->node < b->node ? -1 : 1;
    uint16_t type = cdns_store__rec_type(bl, a);
    if (a->tix != b->tix)
        return type < cdns_store__rec_type(bl, b) ? -1 : 1;
    if (a->rdlen != b->rdlen)
        return a->rdlen < b->rdlen ? -1 : 1;
    if (!a->rdlen)
        return 0;
    const uint8_t *ra = bl->rdata + a->rdata_off, *rb = bl->rdata + b->rdata_off;
    int toff = cdns_store__target_offset(type);
    if (toff < 0)
        return memcmp(ra, rb, a->rdlen);
    int r = memcmp(ra, rb, (size_t)toff);
    if (r || (a->target == b->target && a->target != CDNS_STORE__NONE))
        return r;
    if (cdns_store__elides(type, a->target) && cdns_store__elides(type, b->target))
        return bname_cmp(bl, a->target, b->target); /* la == lb: same rdlen and offset */
    uint8_t ba[CDNS_DNAME_MAX], bb[CDNS_DNAME_MAX];
    const uint8_t *na, *nb;
    size_t la, lb;
    if (!cdns_store__rec_target(bl, a, ba, &na, &la) || !cdns_store__rec_target(bl, b, bb, &nb, &lb))
        return 0;              /* not reached: the type names an owner */
    return memcmp(na, nb, la); /* la == lb: same rdlen and offset */
}

/* Records by node with a counting sort (linear: the node indices are dense), then each node's
 * few records by type and rdata; a general sort of 300k records costs several times more. The
 * records are permuted in place (each one taken to its node's next free place, the one there
 * carried on), so the sort needs no second array of records: 24 MB on the scale envelope. */
static int sort_records(cdns_builder_t *b)
{
    size_t n = b->nrecs, nn = b->nnodes;
    if (n < 2)
        return CDNS_OK;
    uint32_t *head = calloc(nn + 1, sizeof(*head)), *end = malloc((nn ? nn : 1) * sizeof(*end));
    if (!head || !end) {
        free(head);
        free(end);
        return CDNS_ENOMEM;
    }
    brec_t *sorted = b->recs;
    for (size_t i = 0; i < n; i++)
        head[sorted[i].node + 1]++;
    for (size_t i = 1; i <= nn; i++)
        head[i] += head[i - 1];
    for (size_t i = 0; i < nn; i++)
        end[i] = head[i + 1];
    for (uint32_t nd = 0; nd < nn; nd++) {
        while (head[nd] < end[nd]) {
            brec_t r = sorted[head[nd]];
            while (r.node != nd) {
                brec_t displaced = sorted[head[r.node]];
                sorted[head[r.node]++] = r;
                r = displaced;
            }
            sorted[head[nd]++] = r;
        }
    }
    free(head);
    free(end);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        /* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult): the counting sort wrote all n. */
        while (j < n && sorted[j].node == sorted[i].node)
            j++;
        if (j - i > 16) {
            qsort_r(sorted + i, j - i, sizeof(*sorted), cmp_rec, b);
        } else {
            for (size_t k = i + 1; k < j; k++) {
                brec_t r = sorted[k];
                size_t m = k;
                for (; m > i && cmp_rec(&sorted[m - 1], &r, b) > 0; m--)
                    sorted[m] = sorted[m - 1];
                sorted[m] = r;
            }
        }
        i = j;
    }
    return CDNS_OK;
}

int cdns_store__sort_dedup(cdns_builder_t *b, cdns_store__counts_t *c)
{
    int rc = sort_records(b);
    if (rc != CDNS_OK)
        return rc;
    size_t w = 0, run = 0;
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < b->nrecs; i++) {
        brec_t *r = &b->recs[i];
        if (w > 0 && cmp_rec(&b->recs[w - 1], r, b) == 0) {
            if (cdns_store__rec_ttl(b, r) < cdns_store__rec_ttl(b, &b->recs[w - 1]))
                b->recs[w - 1].ttlx = r->ttlx;
            continue;
        }
        if (w == 0 || !cdns_store__same_rrset(&b->recs[w - 1], r)) {
            c->nrrsets++;
            run = 0;
        }
        if (++run > UINT16_MAX)
            return CDNS_ERANGE; /* an RRset's count is 16 bits on the wire */
        if (cdns_store__target_offset(cdns_store__rec_type(b, r)) >= 0)
            c->ntargets++;
        c->rdata_bytes += 2 + (size_t)r->rdlen;
        b->recs[w++] = *r;
    }
    b->nrecs = c->nrecs = w;
    return CDNS_OK;
}

void cdns_store__fill_rrset(cdns_rrset_t *rs, const cdns_builder_t *b, const brec_t *recs, size_t n,
                            const uint32_t *targets, uint8_t **rdp)
{
    uint8_t *p = *rdp;
    rs->type = cdns_store__rec_type(b, &recs[0]);
    rs->count = (uint16_t)n;
    rs->ttl_s = UINT32_MAX;
    cdns_store__rrset_point(rs, p, targets);
    for (size_t m = 0; m < n; m++) {
        const brec_t *r = &recs[m];
        if (cdns_store__rec_ttl(b, r) < rs->ttl_s)
            rs->ttl_s = cdns_store__rec_ttl(b, r);
        /* Sorting and deduplication saw the whole rdata; only the layout leaves the name out. */
        size_t rdlen = r->rdlen - (targets ? cdns_store__elided_bytes(b, r, targets[m]) : 0);
        p[0] = (uint8_t)(rdlen >> 8);
        p[1] = (uint8_t)rdlen;
        if (rdlen)
            memcpy(p + 2, b->rdata + r->rdata_off, rdlen);
        p += 2 + rdlen;
    }
    *rdp = p;
}

/* Makes the names between each apex and the zone enclosing it exist, so that a query for such
 * a name (in the parent zone) is NODATA, not NXDOMAIN; the apex is a live child of the name
 * above it. */
static int link_apexes(cdns_builder_t *b)
{
    for (size_t z = 0; z < b->nzones; z++) {
        uint8_t name[CDNS_DNAME_MAX] = {0};
        const bnode_t *apex = &b->nodes[b->zones[z]];
        size_t len = apex->name_len;
        const uint8_t *whole = cdns_store__bname(b, b->zones[z], name);
        if (whole != name)
            memcpy(name, whole, len); /* intern() may move b->names */
        if (len == 1)
            continue;
        size_t off = (size_t)name[0] + 1;
        int labels = apex->labels - 1;
        /* intern() fails with ERANGE when no zone encloses the name: then nothing is needed. */
        uint32_t idx;
        int rc = intern(b, name + off, len - off, labels, &idx);
        if (rc == CDNS_OK)
            b->nodes[idx].children++;
        else if (rc != CDNS_ERANGE)
            return rc;
    }
    return CDNS_OK;
}

/* Gives every target name that lies in a zone but is no node a dead placeholder node, so that
 * an update adding the name later gives old RRsets pointing at it their target (store_int.h).
 * Until then the placeholder answers as a missing name. Records added to a full builder got
 * theirs at add (target_node); this catches any left, so that every record of a type naming
 * another owner holds its target's node index (CDNS_STORE_NO_TARGET outside every zone). Adds
 * what leaving those names out of rdata saves to *saved. Returns in *dead how many nodes are
 * placeholders. */
static int add_placeholders(cdns_builder_t *b, size_t *dead, size_t *saved)
{
    *dead = *saved = 0;
    for (size_t i = 0; i < b->nrecs; i++) {
        brec_t *r = &b->recs[i];
        uint8_t buf[CDNS_DNAME_MAX];
        const uint8_t *tn;
        size_t tl;
        if (!cdns_store__rec_target(b, r, buf, &tn, &tl))
            continue;
        if (r->target == CDNS_STORE__NONE) {
            int rc = target_node(b, tn, tl, &r->target);
            if (rc != CDNS_OK)
                return rc;
        }
        *saved += cdns_store__elided_bytes(b, r, r->target);
    }
    for (size_t i = 0; i < b->nnodes; i++)
        *dead += (b->nodes[i].flags & BN_DEAD) != 0;
    return CDNS_OK;
}

/* Gives the kernel back the whole pages of buf[0, done) past the mark `gone` (a previous
 * return), once a MiB more has been read; returns the new mark. For a buffer read once, front to
 * back, while something else grows: only pages wholly inside the buffer go (the allocator keeps
 * its headers outside it), and a page given back reads as zeros, which the reader never sees.
 * A failed madvise leaves the pages where they were. */
static size_t release_read(void *buf, size_t done, size_t gone)
{
    if (done - gone < (1u << 20))
        return gone;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)buf + gone + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)buf + done) & ~(page - 1);
    if (hi <= lo)
        return gone;
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    return hi - (uintptr_t)buf;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decides where each node's name goes in the snapshot's name area: names are placed longest
 * first, and every ancestor not yet placed points into its descendant's copy (an empty
 * non-terminal "_tcp.svc.ns.svc.cluster.local" costs no bytes beside "_http._tcp.svc..."). */
static int place_names(const cdns_builder_t *b, uint32_t *pos, size_t *total)
{
    size_t n = b->nnodes;
    uint32_t count[CDNS_DNAME_MAX + 1] = {0};
    uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
    if (!order)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        count[b->nodes[i].name_len]++;
    /* Counting sort, longest first. */
    uint32_t start = 0;
    for (int l = CDNS_DNAME_MAX; l >= 0; l--) {
        uint32_t c = count[l];
        count[l] = start;
        start += c;
    }
    for (size_t i = 0; i < n; i++)
        order[count[b->nodes[i].name_len]++] = (uint32_t)i;
    for (size_t i = 0; i < n; i++)
        pos[i] = UINT32_MAX;
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t i = order[k];
        if (pos[i] != UINT32_MAX)
            continue;
        const bnode_t *nd = &b->nodes[i];
        uint8_t buf[CDNS_DNAME_MAX];
        const uint8_t *name = cdns_store__bname(b, i, buf);
        pos[i] = (uint32_t)used;
        size_t off = 0;
        while (name[off]) {
            off += (size_t)name[off] + 1;
            size_t l = nd->name_len - off;
            int64_t a = cdns_store__find_bnode(b, name + off, l, cdns_dname_hash(name + off, l));
            if (a < 0)
                continue; /* above every zone, or between a nested apex and nothing */
            if (pos[a] != UINT32_MAX)
                break; /* placed earlier, and so are all of its ancestors */
            pos[a] = (uint32_t)(used + off);
        }
        used += nd->name_len;
    }
    free(order);
    *total = used;
    return CDNS_OK;
}

void cdns_store__fill_zones(cdns_snapshot_t *s)
{
    for (unsigned z = 0; z < s->nzones; z++) {
        cdns_zone_t *zone = &s->zones[z];
        const cdns_node_t *apex = cdns_store__node(s, s->zone_apex[z]);
        zone->apex = apex->name;
        zone->apex_len = apex->name_len;
        zone->apex_labels = apex->labels;
        zone->apex_node = apex;
        zone->soa = cdns_node_rrset(apex, CDNS_T_SOA);
        zone->neg_ttl_s = 0;
        if (zone->soa) {
            /* SOA MINIMUM is the last four octets of the first record (RFC 2308 §5). */
            const uint8_t *rd = cdns_rrset_rdata(zone->soa);
            size_t rdlen = (size_t)rd[0] << 8 | rd[1];
            uint32_t minimum = get_u32(rd + 2 + rdlen - 4);
            zone->neg_ttl_s = minimum < zone->soa->ttl_s ? minimum : zone->soa->ttl_s;
        }
    }
}

/* Commit of a full build: a fresh lineage (table, chunk 0, pages) holding everything. */
static int full_commit(cdns_builder_t *b, cdns_snapshot_t **out)
{
    int rc = CDNS_OK;
    uint32_t *pos = NULL;
    cdns_snapshot_t *s = NULL;
    rc = link_apexes(b);
    if (rc != CDNS_OK)
        goto fail;

    /* Sort, drop duplicates (keeping the smaller TTL), count what the layout needs. */
    cdns_store__counts_t cnt;
    rc = cdns_store__sort_dedup(b, &cnt);
    if (rc != CDNS_OK)
        goto fail;
    size_t nplaceholders, elided;
    rc = add_placeholders(b, &nplaceholders, &elided);
    if (rc != CDNS_OK)
        goto fail;
    cnt.rdata_bytes -= elided;

    size_t nnodes = b->nnodes;
    pos = malloc((nnodes ? nnodes : 1) * sizeof(*pos));
    if (!pos) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    size_t names_bytes;
    rc = place_names(b, pos, &names_bytes);
    if (rc != CDNS_OK)
        goto fail;
    /* Names are placed and no lookup by name follows (the layout below reads each node's
     * hash, not the table): the builder's table goes before the snapshot is allocated. */
    free(b->table);
    b->table = NULL;
    b->table_slots = 0;

    /* Load at most 1/2 after a full build: updates add entries until 0.7 (update.c), and the
     * tags keep probes past foreign entries cheap. Any size works since slots are picked by
     * multiply-shift, not by a power-of-two mask. */
    size_t slots = 2 * nnodes + 64;
    size_t npages = (nnodes + CDNS_STORE__PAGE_NODES - 1) / CDNS_STORE__PAGE_NODES;
    uint32_t max_nodes = cdns_store__max_nodes((uint32_t)slots);
    size_t dir_pages = cdns_store__dir_pages(max_nodes);

    /* The chunk: header | rrsets | targets | names | rdata. RRsets come first because they
     * reach their targets and rdata by unsigned offsets from themselves (cdns_rrset_t), and the
     * cap keeps every such offset within 32 bits. */
    size_t o_rrsets = align8(sizeof(cdns_store__chunk_t));
    size_t o_targets = align8(o_rrsets + cnt.nrrsets * sizeof(cdns_rrset_t));
    size_t o_names = o_targets + cnt.ntargets * sizeof(uint32_t);
    size_t o_rdata = o_names + names_bytes;
    size_t chunk_bytes = o_rdata + cnt.rdata_bytes;
    if (chunk_bytes > CDNS_STORE__CHUNK_MAX) {
        rc = CDNS_ERANGE;
        goto fail;
    }
    /* The snapshot's own block: zones | pages | chunk list | zone_deleg | zone_apex. */
    size_t o_pages = align8(b->nzones * sizeof(cdns_zone_t));
    size_t o_chunks = o_pages + dir_pages * sizeof(cdns_store__page_t *);
    size_t o_deleg = o_chunks + sizeof(cdns_store__chunkref_t);
    size_t o_apex = o_deleg + b->nzones * sizeof(uint32_t);
    size_t own_bytes = o_apex + b->nzones * sizeof(uint32_t);

    s = calloc(1, sizeof(*s));
    uint8_t *own = s ? calloc(1, own_bytes) : NULL;
    if (!own) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    s->block = own;
    s->zones = (cdns_zone_t *)own;
    s->nzones = (unsigned)b->nzones;
    s->pages = (cdns_store__page_t **)(own + o_pages);
    s->chunks = (cdns_store__chunkref_t *)(own + o_chunks);
    s->zone_deleg = (uint32_t *)(own + o_deleg);
    s->zone_apex = (uint32_t *)(own + o_apex);
    s->gen = cdns_store__next_gen();
    s->frozen = b->frozen;
    cdns_store__chunk_t *chunk = calloc(1, chunk_bytes);
    if (!chunk) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    atomic_init(&chunk->refs, 1);
    chunk->id = 0;
    chunk->nodes = (uint32_t)nnodes;
    chunk->bytes = chunk_bytes;
    s->chunks[0].chunk = chunk;
    s->chunks[0].nodes = (uint32_t)nnodes;
    s->nchunks = 1;
    s->nnodes = (uint32_t)nnodes;
    s->nlive = (uint32_t)(nnodes - nplaceholders);
    s->ndead = s->dead_floor = (uint32_t)nplaceholders;
    s->nrecords = cnt.nrecs;
    uint8_t *base = (uint8_t *)chunk;
    cdns_rrset_t *rrsets = (cdns_rrset_t *)(base + o_rrsets);
    uint32_t *targets = (uint32_t *)(base + o_targets);
    uint8_t *names = base + o_names;
    uint8_t *rdp = base + o_rdata;

    /* Each part of the builder goes as soon as the snapshot holds what it carried, the largest
     * first, so a load's peak stays near the larger of builder and snapshot, not their sum.
     * RRsets, their rdata and targets, in record order (node, then type); the records are read
     * once, front to back, and their pages are given back behind the reader. */
    size_t k = 0, t = 0, gone = 0;
    for (size_t i = 0; i < cnt.nrecs;) {
        size_t j = i + 1;
        while (j < cnt.nrecs && cdns_store__same_rrset(&b->recs[i], &b->recs[j]))
            j++;
        const brec_t *r0 = &b->recs[i];
        bnode_t *bn = &b->nodes[r0->node];
        if (!bn->nrrsets)
            bn->idx = (uint32_t)k; /* the node's first RRset; the rest follow it */
        cdns_rrset_t *rs = &rrsets[k++];
        if (bn->nrrsets == UINT16_MAX) {
            rc = CDNS_ERANGE;
            goto fail;
        }
        bn->nrrsets++;
        uint32_t *rt = NULL;
        uint16_t type = cdns_store__rec_type(b, r0);
        if (cdns_store__target_offset(type) >= 0) {
            rt = &targets[t];
            for (size_t m = i; m < j; m++)
                targets[t++] = b->recs[m].target;
        }
        cdns_store__fill_rrset(rs, b, r0, j - i, rt, &rdp);
        if (type == CDNS_T_NS && !(bn->flags & BN_APEX)) {
            bn->flags |= BN_DELEG;
            s->zone_deleg[bn->zone]++;
        }
        i = j;
        gone = release_read(b->recs, i * sizeof(*b->recs), gone);
    }
    free(b->recs);
    free(b->rdata);
    b->recs = NULL;
    b->rdata = NULL;
    b->nrecs = b->recs_cap = b->rdata_len = b->rdata_cap = 0;

    /* Names: ancestors get their bytes from their descendant's copy, which carries the same
     * octets at the same place, so writing every node's name is idempotent. Nodes come nearly
     * in the order their names were appended, so the builder's copy is read almost front to
     * back: below the lowest offset any later node reads (low[], when there is room for it)
     * its pages are given back during the copy. A stored name's reference is to a node with a
     * lower index, already written out whole: its snapshot copy gives the rest (the same
     * octets, and often the same place, hence memmove). */
    uint32_t *low = malloc((nnodes ? nnodes : 1) * sizeof(*low));
    for (size_t i = nnodes; low && i-- > 0;)
        low[i] = i + 1 < nnodes && low[i + 1] < b->nodes[i].name_off ? low[i + 1] : b->nodes[i].name_off;
    size_t names_gone = 0;
    for (size_t i = 0; i < nnodes; i++) {
        const uint8_t *p = b->names + b->nodes[i].name_off;
        size_t lit = literal_len(p);
        if (p[lit] == 0) {
            memcpy(names + pos[i], p, lit + 1);
        } else {
            uint32_t to = ref_node(p + lit);
            memcpy(names + pos[i], p, lit);
            memmove(names + pos[i] + lit, names + pos[to], b->nodes[to].name_len);
        }
        if (low && i + 1 < nnodes)
            names_gone = release_read(b->names, low[i + 1], names_gone);
    }
    free(low);
    free(b->names);
    b->names = NULL;
    b->names_len = b->names_cap = 0;

    /* The name table and the pages of nodes, now that records and names have made room. */
    s->tab = calloc(1, sizeof(cdns_store__table_t) + slots * sizeof(atomic_uint));
    if (!s->tab) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    atomic_init(&s->tab->refs, 1);
    s->tab->slots = (uint32_t)slots;
    s->tab->used = (uint32_t)nnodes;
    s->tab->max_nodes = max_nodes;
    s->tab->next_id = 1;
    s->tab->head = s->gen;
    s->table = s->tab->slot;
    s->table_slots = (uint32_t)slots;
    s->dir_pages = (uint32_t)dir_pages;
    for (size_t i = npages; i < dir_pages; i++)
        s->pages[i] = &cdns_store__empty_page;

    /* Nodes and the table; each page of nodes is allocated as the nodes reach it, and the
     * builder's nodes (read once, in order) are given back behind. */
    size_t nodes_gone = 0;
    for (size_t i = 0; i < nnodes; i++) {
        if ((i & CDNS_STORE__PAGE_MASK) == 0) {
            /* calloc: the slots past the last node of the last page stay zero and unread. */
            cdns_store__page_t *pg = calloc(1, b->frozen ? CDNS_STORE__FROZEN_PAGE_BYTES : sizeof(*pg));
            if (!pg) {
                rc = CDNS_ENOMEM;
                goto fail;
            }
            atomic_init(&pg->refs, 1);
            pg->gen = s->gen;
            s->pages[s->npages++] = pg;
            nodes_gone = release_read(b->nodes, i * sizeof(*b->nodes), nodes_gone);
        }
        const bnode_t *bn = &b->nodes[i];
        cdns_node_t *n = cdns_store__node(s, (uint32_t)i);
        n->name = names + pos[i];
        n->name_len = bn->name_len;
        n->labels = bn->labels;
        n->zone = bn->zone;
        n->flags = (uint16_t)(((bn->flags & BN_APEX) ? CDNS_NODE_APEX : 0) |
                              ((bn->flags & BN_DELEG) ? CDNS_NODE_DELEGATION : 0));
        n->rrsets = bn->nrrsets ? &rrsets[bn->idx] : NULL;
        n->nrrsets = bn->nrrsets;
        if (!b->frozen) {
            cdns_store__meta_t *meta = cdns_store__meta(s, (uint32_t)i);
            meta->children = bn->children;
            meta->chunk = 0;
            meta->flags = (bn->flags & BN_EXPLICIT) ? CDNS_STORE__META_EXPLICIT : 0;
            meta->name_len = bn->name_len;
        }
        if (bn->flags & BN_DEAD) {
            n->flags = CDNS_STORE__NODE_DEAD;
            n->name_len = 0; /* see CDNS_STORE__NODE_DEAD */
        }
        uint32_t slot = cdns_store__slot(bn->hash, (uint32_t)slots);
        while (atomic_load_explicit(&s->tab->slot[slot], memory_order_relaxed))
            slot = slot + 1 == slots ? 0 : slot + 1;
        atomic_store_explicit(&s->tab->slot[slot],
                              (CDNS_STORE__TAG(bn->hash) << CDNS_STORE__IDX_BITS) | (uint32_t)(i + 1),
                              memory_order_relaxed);
    }
    free(b->nodes);
    free(pos);
    b->nodes = NULL;
    pos = NULL;
    b->nnodes = b->nodes_cap = 0;

    for (size_t z = 0; z < b->nzones; z++)
        s->zone_apex[z] = b->zones[z];
    cdns_store__fill_zones(s);
    s->memory = cdns_store__memory(s);

    free(pos);
    cdns_builder_free(b);
    *out = s;
    return CDNS_OK;

fail:
    free(pos);
    cdns_snapshot_free(s);
    cdns_builder_free(b);
    return rc;
}

int cdns_builder_commit(cdns_builder_t *b, cdns_snapshot_t **out)
{
    if (!b || !out) {
        cdns_builder_free(b);
        return CDNS_EINVAL;
    }
    *out = NULL;
    return b->base ? cdns_store__update_commit(b, out) : full_commit(b, out);
}
