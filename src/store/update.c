/* SPDX-License-Identifier: MIT */
/* update.c — commits an update builder: the next snapshot of a lineage, made by copying only
 * what the change touches and sharing everything else with its base.
 *
 * Runs on the thread that owns the builder, while other threads may be reading the base (and
 * older snapshots of the lineage). It never writes memory a published snapshot can reach, with
 * one exception made safe by construction: new entries go into empty slots of the lineage's
 * name table, which readers of older snapshots skip (store_int.h). So, for the touched names:
 *   - node indices are stable along the lineage: a touched name keeps its index, a new name
 *     gets the next free one, a name that goes away becomes a dead node (its index and table
 *     entry stay, so that RRsets naming it keep naming it, and it revives if it comes back);
 *   - a page of nodes is copied the first time the commit changes one of its nodes (a page it
 *     made itself is written in place); untouched pages are shared, reference counted;
 *   - names, RRsets, targets and rdata of every node the commit rewrites go into one new chunk;
 *     each snapshot counts, per chunk, the nodes still pointing into it, and lists only chunks
 *     some node uses;
 *   - empty non-terminals follow their live children (meta.children): they appear and go as
 *     names below them do, exactly as a full build of the same content would have them.
 * The cost is that of the touched names plus the directory of page pointers and the chunk
 * list (copied, each entry's reference count raised). Small chunks are folded into the new one
 * a few at a time (evacuate) so that the list stays short.
 *
 * When the base is not the newest snapshot of its lineage, or garbage has piled up (table load,
 * dead nodes, unused chunk bytes, chunk count), the commit lays the whole content out afresh
 * instead (relayout: every live record of base goes through a full builder again, with the
 * change applied; a new lineage). That costs a full build's time, linear in the snapshot (see
 * the scale check of tests/unit/store/test_update.c), and is rare: the thresholds are shares
 * of the snapshot, so it takes changes of that order to reach them.
 */
#include <stdlib.h>
#include <string.h>

#include "store/builder_int.h"

/* Fresh layout when the lineage would pass tab->max_nodes indices (7/10 of the table's slots:
 * probes lengthen past it), when dead nodes grew by more than a quarter of the live ones since
 * the full build ... */
#define DEAD_SHARE 4u
/* ... when more than half of the chunk bytes are no node's any more, or the chunk list is long
 * (each commit copies it). */
#define CHUNKS_HARD 1024u
/* Past this many chunks a commit folds the smallest ones into its own, moving at most
 * EVACUATE_NODES nodes: each may cost a page copy (9 KiB), so this bounds the extra work near
 * a quarter of a millisecond. */
#define CHUNKS_SOFT 32u
#define EVACUATE_NODES 256u

typedef cdns_store__bnode_t bnode_t;
typedef cdns_store__brec_t brec_t;

/* One commit in progress. */
typedef struct upd {
    cdns_builder_t *b;
    const cdns_snapshot_t *base;
    cdns_snapshot_t *s; /* being made; its pages[] mixes base's pages and this commit's */
    uint64_t gen;
    uint32_t next; /* next free node index */
    cdns_store__chunk_t *chunk;
    uint8_t *names;     /* the chunk's copy of b->names */
    uint8_t *spill;     /* where evacuated nodes' names and data go next */
    uint32_t *list;     /* the chunk's node list (indices moved into it) */
    uint32_t nlist_max; /* room in list */
    uint32_t *tgt;      /* per record of b: the target's index */
    uint32_t *first;    /* per builder node: its first RRset in the chunk */
    uint16_t *nrrsets;  /* per builder node: its RRsets */
    uint32_t *evac;     /* chunk ids to evacuate */
    uint32_t nevac;
} upd_t;

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* An update's chunk is header | rrsets | targets | names | rdata | spill | tail, the tail
 * listing the nodes made to point into it, so that evacuate() finds those still there. A full
 * build's chunk has no tail: it is never evacuated (it goes with a relayout). */
typedef struct chunk_tail {
    uint32_t nlist;
    uint32_t list[];
} chunk_tail_t;

static chunk_tail_t *chunk_tail(const cdns_store__chunk_t *c)
{
    return c->tail_off ? (chunk_tail_t *)((uint8_t *)c + c->tail_off) : NULL;
}

static cdns_store__chunkref_t *chunkref(cdns_snapshot_t *s, uint32_t id)
{
    uint32_t lo = 0, hi = s->nchunks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->chunks[mid].chunk->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &s->chunks[lo]; /* every node's chunk is listed */
}

/* The node idx of the snapshot being made, writable: copies its page on first write (a page
 * past base's is a copy of the empty page). */
static int wnode(upd_t *u, uint32_t idx, cdns_node_t **n, cdns_store__meta_t **m)
{
    cdns_store__page_t **pp = &u->s->pages[idx >> CDNS_STORE__PAGE_SHIFT];
    cdns_store__page_t *p = *pp;
    if (p->gen != u->gen) {
        cdns_store__page_t *np = malloc(sizeof(*np));
        if (!np)
            return CDNS_ENOMEM;
        /* Not refs: other threads may be changing the original's count right now. */
        memcpy(np->nodes, p->nodes, sizeof(np->nodes));
        memcpy(np->meta, p->meta, sizeof(np->meta));
        atomic_init(&np->refs, 1);
        np->gen = u->gen;
        *pp = p = np;
    }
    *n = &p->nodes[idx & CDNS_STORE__PAGE_MASK];
    *m = &p->meta[idx & CDNS_STORE__PAGE_MASK];
    return CDNS_OK;
}

/* Makes the node point into this commit's chunk (its name must be moved there too). */
static void move_to_chunk(upd_t *u, uint32_t idx, cdns_store__meta_t *m, bool was_listed)
{
    if (was_listed && m->chunk == u->chunk->id)
        return;
    if (was_listed)
        chunkref(u->s, m->chunk)->nodes--;
    m->chunk = u->chunk->id;
    u->s->chunks[u->s->nchunks - 1].nodes++;
    u->chunk->nodes++;
    /* nlist_max bounds what a commit can move (see its computation); were it short, the
     * chunk would only stay listed longer. */
    chunk_tail_t *t = chunk_tail(u->chunk);
    if (t->nlist < u->nlist_max)
        u->list[t->nlist++] = idx;
}

/* Index of the node of this name in the result: base's, or the one this commit gave it. */
static uint32_t index_of(const upd_t *u, const uint8_t *name, size_t len, uint32_t h)
{
    uint32_t idx = cdns_store__find_index(u->base, name, len, h);
    if (idx == CDNS_STORE__NONE) {
        int64_t j = cdns_store__find_bnode(u->b, name, len, h);
        if (j >= 0)
            idx = u->b->nodes[j].idx;
    }
    return idx;
}

/* Makes node idx (already rewritten into this commit's chunk) live or dead, and carries the
 * change up: a parent gains or loses a live child, and an empty non-terminal whose count
 * reaches zero dies (or, from zero, comes to life) in turn, its name pointing into its child's. */
static int set_live(upd_t *u, uint32_t idx, bool live)
{
    for (;;) {
        cdns_node_t *n, *pn;
        cdns_store__meta_t *m, *pm;
        int rc = wnode(u, idx, &n, &m);
        if (rc != CDNS_OK)
            return rc;
        if (live) {
            n->flags &= (uint16_t)~CDNS_STORE__NODE_DEAD;
            n->name_len = m->name_len;
            u->s->nlive++;
            u->s->ndead--;
        } else {
            n->flags |= CDNS_STORE__NODE_DEAD;
            n->name_len = 0;
            u->s->nlive--;
            u->s->ndead++;
        }
        /* Apexes never change state, so n has a parent in its own zone. */
        if (n->name[0] == 0)
            return CDNS_OK;
        size_t cut = (size_t)n->name[0] + 1;
        const uint8_t *pname = n->name + cut;
        size_t plen = m->name_len - cut;
        uint32_t p = index_of(u, pname, plen, cdns_dname_hash(pname, plen));
        if (p == CDNS_STORE__NONE)
            return CDNS_OK; /* cannot happen: commit gave every missing ancestor an index */
        uint16_t zone = n->zone;
        uint8_t labels = n->labels;
        rc = wnode(u, p, &pn, &pm);
        if (rc != CDNS_OK)
            return rc;
        bool parent_live = !(pn->flags & CDNS_STORE__NODE_DEAD);
        if (live) {
            pm->children++;
            if (parent_live)
                return CDNS_OK;
            /* An empty non-terminal comes to life (dead nodes have no records). */
            pn->rrsets = NULL;
            pn->nrrsets = 0;
            pn->zone = zone;
            pn->labels = (uint8_t)(labels - 1);
        } else {
            pm->children--;
            if (pm->children || pn->nrrsets || (pm->flags & CDNS_STORE__META_EXPLICIT) || (pn->flags & CDNS_NODE_APEX))
                return CDNS_OK;
        }
        /* Its name_len follows its state on the next round. */
        move_to_chunk(u, p, pm, true);
        pn->name = pname;
        idx = p;
    }
}

/* Chooses chunks to fold into this commit's: while the list is long, the ones with the fewest
 * nodes left, within EVACUATE_NODES nodes. Returns the nodes and name/data bytes to move. */
static int plan_evacuation(upd_t *u, size_t *bytes, size_t *nodes)
{
    const cdns_snapshot_t *base = u->base;
    *bytes = *nodes = 0;
    if (base->nchunks + 1 <= CHUNKS_SOFT)
        return CDNS_OK;
    u->evac = malloc(base->nchunks * sizeof(*u->evac));
    if (!u->evac)
        return CDNS_ENOMEM;
    uint32_t budget = EVACUATE_NODES;
    while (base->nchunks + 1 - u->nevac > CHUNKS_SOFT) {
        const cdns_store__chunkref_t *best = NULL;
        for (uint32_t i = 0; i < base->nchunks; i++) {
            const cdns_store__chunkref_t *r = &base->chunks[i];
            if (!chunk_tail(r->chunk) || (best && r->nodes >= best->nodes))
                continue;
            bool taken = false;
            for (uint32_t k = 0; k < u->nevac && !taken; k++)
                taken = u->evac[k] == r->chunk->id;
            if (!taken)
                best = r;
        }
        if (!best || best->nodes > budget)
            break;
        budget -= best->nodes;
        u->evac[u->nevac++] = best->chunk->id;
        /* What its nodes hold: names, RRsets, targets, rdata (aligned per node). */
        const chunk_tail_t *t = chunk_tail(best->chunk);
        for (uint32_t k = 0; k < t->nlist; k++) {
            uint32_t idx = t->list[k];
            if (cdns_store__meta(base, idx)->chunk != best->chunk->id)
                continue;
            const cdns_node_t *n = cdns_store__node(base, idx);
            size_t b = align8(cdns_store__meta(base, idx)->name_len) + n->nrrsets * sizeof(cdns_rrset_t);
            for (uint16_t r = 0; r < n->nrrsets; r++) {
                const cdns_rrset_t *rs = &n->rrsets[r];
                b += align8(cdns_store__rrset_rdata_len(rs)) +
                     (rs->targets_off ? align8(rs->count * sizeof(uint32_t)) : 0);
            }
            *bytes += b;
            (*nodes)++;
        }
    }
    return CDNS_OK;
}

/* Copies the nodes of the chosen chunks into this commit's chunk. */
static int evacuate(upd_t *u)
{
    for (uint32_t e = 0; e < u->nevac; e++) {
        const cdns_store__chunkref_t *r = chunkref(u->s, u->evac[e]);
        const chunk_tail_t *t = chunk_tail(r->chunk);
        uint32_t id = r->chunk->id;
        for (uint32_t k = 0; k < t->nlist; k++) {
            uint32_t idx = t->list[k];
            if (cdns_store__meta(u->base, idx)->chunk != id)
                continue;
            cdns_node_t *n;
            cdns_store__meta_t *m;
            int rc = wnode(u, idx, &n, &m);
            if (rc != CDNS_OK)
                return rc;
            move_to_chunk(u, idx, m, true);
            memcpy(u->spill, n->name, m->name_len);
            n->name = u->spill;
            u->spill += align8(m->name_len);
            if (!n->nrrsets)
                continue;
            /* The RRsets first, then each one's rdata and targets after them: an RRset reaches
             * those by offsets from itself, so the copy gets offsets of its own. */
            cdns_rrset_t *rrsets = (cdns_rrset_t *)u->spill;
            u->spill += n->nrrsets * sizeof(cdns_rrset_t);
            for (uint16_t i = 0; i < n->nrrsets; i++) {
                const cdns_rrset_t *old = &n->rrsets[i];
                cdns_rrset_t *rs = &rrsets[i];
                size_t rdata_len = cdns_store__rrset_rdata_len(old);
                const uint32_t *old_targets = cdns_rrset_targets(old);
                uint8_t *rdata = u->spill;
                memcpy(rdata, cdns_rrset_rdata(old), rdata_len);
                u->spill += align8(rdata_len);
                uint32_t *targets = NULL;
                if (old_targets) {
                    targets = (uint32_t *)(void *)u->spill;
                    memcpy(targets, old_targets, old->count * sizeof(uint32_t));
                    u->spill += align8(old->count * sizeof(uint32_t));
                }
                rs->type = old->type;
                rs->count = old->count;
                rs->ttl_s = old->ttl_s;
                cdns_store__rrset_point(rs, rdata, targets);
            }
            n->rrsets = rrsets;
        }
    }
    return CDNS_OK;
}

static bool needs_relayout(const cdns_snapshot_t *base)
{
    if (base->gen != base->tab->head)
        return true; /* not the newest of its lineage: the indices past its own are taken */
    if (base->nchunks >= CHUNKS_HARD)
        return true;
    if (base->ndead > base->dead_floor && base->ndead - base->dead_floor > base->nlive / DEAD_SHARE + 16)
        return true;
    size_t total = 0, garbage = 0;
    for (uint32_t i = 0; i < base->nchunks; i++) {
        const cdns_store__chunk_t *c = base->chunks[i].chunk;
        total += c->bytes;
        if (c->nodes)
            garbage += (size_t)((double)c->bytes * (double)(c->nodes - base->chunks[i].nodes) / (double)c->nodes);
    }
    return garbage > total / 2;
}

/* A full build of base's live content with the change applied: every record goes through the
 * builder again, so this costs what a full build of the snapshot costs. */
static int relayout(cdns_builder_t *b, cdns_snapshot_t **out)
{
    const cdns_snapshot_t *base = b->base;
    int rc = CDNS_OK;
    cdns_builder_t *f = cdns_builder_new();
    if (!f) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    for (unsigned z = 0; z < base->nzones && rc == CDNS_OK; z++)
        rc = cdns_builder_zone(f, base->zones[z].apex);
    for (uint32_t i = 0; i < base->nnodes && rc == CDNS_OK; i++) {
        const cdns_node_t *n = cdns_store__node(base, i);
        if (n->flags & CDNS_STORE__NODE_DEAD)
            continue;
        int64_t j = cdns_store__find_bnode(b, n->name, n->name_len, cdns_dname_hash(n->name, n->name_len));
        if (j >= 0 && (b->nodes[j].flags & CDNS_STORE__BN_TOUCHED))
            continue;
        if (cdns_store__meta(base, i)->flags & CDNS_STORE__META_EXPLICIT)
            rc = cdns_builder_add_name(f, n->name);
        for (uint16_t r = 0; r < n->nrrsets && rc == CDNS_OK; r++) {
            const cdns_rrset_t *rs = &n->rrsets[r];
            const uint8_t *p = cdns_rrset_rdata(rs);
            for (uint16_t k = 0; k < rs->count && rc == CDNS_OK; k++) {
                /* Whole rdata: names left out of it come back from base's target nodes. */
                uint8_t buf[CDNS_STORE_RDATA_BUF];
                uint16_t rdlen;
                const uint8_t *rd = cdns_store__full_rdata(base, rs, k, p, buf, &rdlen);
                rc = cdns_builder_add(f, n->name, rs->type, rs->ttl_s, rd, rdlen);
                p += 2 + (size_t)get16(p);
            }
        }
    }
    for (size_t j = 0; j < b->nnodes && rc == CDNS_OK; j++)
        if ((b->nodes[j].flags & CDNS_STORE__BN_TOUCHED) && (b->nodes[j].flags & CDNS_STORE__BN_EXPLICIT))
            rc = cdns_builder_add_name(f, b->names + b->nodes[j].name_off);
    for (size_t i = 0; i < b->nrecs && rc == CDNS_OK; i++) {
        const brec_t *r = &b->recs[i];
        rc = cdns_builder_add(f, b->names + b->nodes[r->node].name_off, cdns_store__rec_type(b, r),
                              cdns_store__rec_ttl(b, r), b->rdata + r->rdata_off, r->rdlen);
    }
    if (rc != CDNS_OK)
        goto fail;
    cdns_builder_free(b);
    return cdns_builder_commit(f, out);

fail:
    cdns_builder_free(f);
    cdns_builder_free(b);
    return rc;
}

/* Gives an index to every name the result needs a node for: touched names that will exist,
 * the missing ancestors of those (future empty non-terminals), and target names inside the
 * zones (dead placeholders until they exist). Base's names keep theirs. */
static int assign_indices(upd_t *u)
{
    cdns_builder_t *b = u->b;
    size_t ntouched = b->nnodes;
    for (size_t i = 0; i < ntouched; i++) {
        bnode_t *bn = &b->nodes[i];
        bn->idx = cdns_store__find_index(u->base, b->names + bn->name_off, bn->name_len, bn->hash);
        bool live = u->nrrsets[i] || (bn->flags & CDNS_STORE__BN_EXPLICIT);
        if (bn->idx == CDNS_STORE__NONE && live)
            bn->idx = u->next++;
    }
    for (size_t i = 0; i < ntouched; i++) {
        const bnode_t bn = b->nodes[i]; /* a copy: adding nodes below may move the array */
        bool live = u->nrrsets[i] || (bn.flags & CDNS_STORE__BN_EXPLICIT);
        if (!live || (bn.idx < u->base->nnodes && !(cdns_store__node(u->base, bn.idx)->flags & CDNS_STORE__NODE_DEAD)))
            continue; /* base's live names have live ancestors */
        int labels = bn.labels;
        /* Up to the first live name of base (at the latest the zone's apex). */
        for (size_t pos = (size_t)b->names[bn.name_off] + 1; pos < bn.name_len;) {
            const uint8_t *name = b->names + bn.name_off + pos;
            size_t len = bn.name_len - pos;
            uint32_t h = cdns_dname_hash(name, len);
            labels--;
            uint32_t idx = cdns_store__find_index(u->base, name, len, h);
            if (idx != CDNS_STORE__NONE && !(cdns_store__node(u->base, idx)->flags & CDNS_STORE__NODE_DEAD))
                break;
            if (idx == CDNS_STORE__NONE) {
                int64_t j = cdns_store__find_bnode(b, name, len, h);
                if (j < 0) {
                    uint32_t k;
                    int rc = cdns_store__add_bnode(b, bn.name_off + (uint32_t)pos, len, h, labels, bn.zone, &k);
                    if (rc != CDNS_OK)
                        return rc;
                    j = k;
                }
                if (b->nodes[j].idx == CDNS_STORE__NONE)
                    b->nodes[j].idx = u->next++;
            }
            pos += (size_t)name[0] + 1;
        }
    }
    /* Targets. */
    for (size_t i = 0; i < b->nrecs; i++) {
        const brec_t *r = &b->recs[i];
        uint8_t buf[CDNS_DNAME_MAX];
        const uint8_t *tn;
        size_t tl;
        if (!cdns_store__rec_target(b, r, buf, &tn, &tl))
            continue;
        uint32_t h = cdns_dname_hash(tn, tl);
        uint32_t idx = cdns_store__find_index(u->base, tn, tl, h);
        if (idx == CDNS_STORE__NONE) {
            int64_t j = cdns_store__find_bnode(b, tn, tl, h);
            int z = j >= 0 ? 0 : cdns_store__zone_of(u->base, tn, tl);
            if (j < 0 && z >= 0) {
                uint32_t k;
                int rc = cdns_store__add_node(b, tn, tl, h, (int)cdns_dname_labels(tn), (uint16_t)z, &k);
                if (rc != CDNS_OK)
                    return rc;
                j = k;
            }
            if (j >= 0) {
                if (b->nodes[j].idx == CDNS_STORE__NONE)
                    b->nodes[j].idx = u->next++;
                idx = b->nodes[j].idx;
            }
        }
        u->tgt[i] = idx; /* CDNS_STORE__NONE is CDNS_STORE_NO_TARGET */
    }
    return CDNS_OK;
}

/* Frees what a failed commit made; nothing shared was changed. */
static void abandon(upd_t *u)
{
    cdns_snapshot_t *s = u->s;
    if (s) {
        for (uint32_t i = 0; s->pages && i < s->npages; i++)
            if (s->pages[i] && s->pages[i]->gen == u->gen)
                free(s->pages[i]);
        free(s->block);
        free(s);
    }
    free(u->chunk);
    free(u->tgt);
    free(u->first);
    free(u->nrrsets);
    free(u->evac);
}

int cdns_store__update_commit(cdns_builder_t *b, cdns_snapshot_t **out)
{
    const cdns_snapshot_t *base = b->base;
    upd_t u = {.b = b, .base = base, .next = base->nnodes};
    int rc = CDNS_OK;
    if (needs_relayout(base))
        return relayout(b, out);
    cdns_store__counts_t cnt;
    rc = cdns_store__sort_dedup(b, &cnt);
    if (rc != CDNS_OK)
        goto fail;
    size_t ntouched = b->nnodes;
    u.tgt = malloc((cnt.nrecs ? cnt.nrecs : 1) * sizeof(*u.tgt));
    u.first = calloc(ntouched ? ntouched : 1, sizeof(*u.first));
    u.nrrsets = calloc(ntouched ? ntouched : 1, sizeof(*u.nrrsets));
    if (!u.tgt || !u.first || !u.nrrsets) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    /* RRsets per touched name, in record order (name, then type). */
    size_t k = 0;
    for (size_t i = 0; i < cnt.nrecs; k++) {
        size_t j = i + 1;
        while (j < cnt.nrecs && cdns_store__same_rrset(&b->recs[i], &b->recs[j]))
            j++;
        uint32_t nd = b->recs[i].node;
        if (!u.nrrsets[nd])
            u.first[nd] = (uint32_t)k;
        if (u.nrrsets[nd] == UINT16_MAX) {
            rc = CDNS_ERANGE;
            goto fail;
        }
        u.nrrsets[nd]++;
        i = j;
    }
    rc = assign_indices(&u);
    if (rc != CDNS_OK)
        goto fail;
    uint32_t added = u.next - base->nnodes;
    if (u.next > base->tab->max_nodes) {
        abandon(&u);
        return relayout(b, out);
    }
    size_t evac_bytes, evac_nodes;
    rc = plan_evacuation(&u, &evac_bytes, &evac_nodes);
    if (rc != CDNS_OK)
        goto fail;
    /* Names that are nodes of the result are left out of rdata (cdns_store__elides). */
    for (size_t i = 0; i < cnt.nrecs; i++)
        if (cdns_store__target_offset(cdns_store__rec_type(b, &b->recs[i])) >= 0)
            cnt.rdata_bytes -= cdns_store__elided_bytes(b, &b->recs[i], u.tgt[i]);

    /* The chunk: header | rrsets | targets | names | rdata | spill (evacuated) | list. Every
     * node it receives is a touched name, one of its ancestors, a placeholder or an evacuee:
     * nodes of b plus their labels' worth of ancestors bound the list. */
    size_t max_list = evac_nodes;
    for (size_t i = 0; i < b->nnodes; i++)
        max_list += 1u + b->nodes[i].labels;
    size_t o_rrsets = align8(sizeof(cdns_store__chunk_t));
    size_t o_targets = align8(o_rrsets + cnt.nrrsets * sizeof(cdns_rrset_t));
    size_t o_names = o_targets + cnt.ntargets * sizeof(uint32_t);
    size_t o_rdata = o_names + b->names_len;
    size_t o_spill = align8(o_rdata + cnt.rdata_bytes);
    size_t o_tail = align8(o_spill + evac_bytes);
    size_t chunk_bytes = o_tail + sizeof(chunk_tail_t) + max_list * sizeof(uint32_t);
    /* RRsets, new and evacuated, precede their rdata and targets, and the cap keeps the
     * offsets between them within 32 bits (cdns_rrset_t). */
    if (chunk_bytes > CDNS_STORE__CHUNK_MAX) {
        rc = CDNS_ERANGE;
        goto fail;
    }
    u.chunk = calloc(1, chunk_bytes);
    if (!u.chunk) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    atomic_init(&u.chunk->refs, 1);
    u.chunk->bytes = chunk_bytes;
    u.chunk->tail_off = o_tail;
    u.chunk->id = base->tab->next_id;
    uint8_t *cb = (uint8_t *)u.chunk;
    cdns_rrset_t *rrsets = (cdns_rrset_t *)(cb + o_rrsets);
    uint32_t *targets = (uint32_t *)(cb + o_targets);
    u.names = cb + o_names;
    if (b->names_len)
        memcpy(u.names, b->names, b->names_len);
    uint8_t *rdp = cb + o_rdata;
    u.spill = cb + o_spill;
    u.list = chunk_tail(u.chunk)->list;
    u.nlist_max = (uint32_t)max_list;

    /* The snapshot and its own block: zones | pages | chunk list | zone_deleg | zone_apex. */
    uint32_t npages = (u.next + CDNS_STORE__PAGE_NODES - 1) / CDNS_STORE__PAGE_NODES;
    uint32_t maxchunks = base->nchunks + 1;
    size_t o_pages = align8(base->nzones * sizeof(cdns_zone_t));
    size_t o_chunks = o_pages + base->dir_pages * sizeof(cdns_store__page_t *);
    size_t o_deleg = o_chunks + maxchunks * sizeof(cdns_store__chunkref_t);
    size_t o_apex = o_deleg + base->nzones * sizeof(uint32_t);
    size_t own_bytes = o_apex + base->nzones * sizeof(uint32_t);
    cdns_snapshot_t *s = u.s = calloc(1, sizeof(*s));
    uint8_t *own = s ? calloc(1, own_bytes) : NULL;
    if (!own) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    u.gen = cdns_store__next_gen();
    s->block = own;
    s->gen = u.gen;
    s->zones = (cdns_zone_t *)own;
    s->nzones = base->nzones;
    memcpy(s->zones, base->zones, base->nzones * sizeof(cdns_zone_t));
    s->pages = (cdns_store__page_t **)(own + o_pages);
    s->npages = npages;
    s->dir_pages = base->dir_pages;
    memcpy(s->pages, base->pages, base->dir_pages * sizeof(cdns_store__page_t *));
    s->chunks = (cdns_store__chunkref_t *)(own + o_chunks);
    memcpy(s->chunks, base->chunks, base->nchunks * sizeof(cdns_store__chunkref_t));
    s->chunks[base->nchunks].chunk = u.chunk;
    s->chunks[base->nchunks].nodes = 0;
    s->nchunks = maxchunks;
    s->zone_deleg = (uint32_t *)(own + o_deleg);
    memcpy(s->zone_deleg, base->zone_deleg, base->nzones * sizeof(uint32_t));
    s->zone_apex = (uint32_t *)(own + o_apex);
    memcpy(s->zone_apex, base->zone_apex, base->nzones * sizeof(uint32_t));
    s->nnodes = u.next;
    s->nlive = base->nlive;
    s->ndead = base->ndead;
    s->dead_floor = base->dead_floor;
    s->nrecords = base->nrecords;

    rc = evacuate(&u);
    if (rc != CDNS_OK)
        goto fail;

    /* New indices first, as dead nodes; the touched names and their ancestors then come to
     * life through set_live like any other. */
    for (size_t i = 0; i < b->nnodes; i++) {
        const bnode_t *bn = &b->nodes[i];
        if (bn->idx == CDNS_STORE__NONE || bn->idx < base->nnodes)
            continue;
        cdns_node_t *n;
        cdns_store__meta_t *m;
        rc = wnode(&u, bn->idx, &n, &m);
        if (rc != CDNS_OK)
            goto fail;
        n->name = u.names + bn->name_off;
        n->name_len = 0; /* dead: see CDNS_STORE__NODE_DEAD */
        n->labels = bn->labels;
        n->zone = bn->zone;
        n->flags = CDNS_STORE__NODE_DEAD;
        n->rrsets = NULL;
        n->nrrsets = 0;
        m->children = 0;
        m->flags = 0;
        m->name_len = bn->name_len;
        move_to_chunk(&u, bn->idx, m, false);
        s->ndead++;
    }

    /* RRsets of the touched names. */
    size_t t = 0;
    k = 0;
    for (size_t i = 0; i < cnt.nrecs;) {
        size_t j = i + 1;
        while (j < cnt.nrecs && cdns_store__same_rrset(&b->recs[i], &b->recs[j]))
            j++;
        cdns_rrset_t *rs = &rrsets[k++];
        uint32_t *rt = NULL;
        if (cdns_store__target_offset(cdns_store__rec_type(b, &b->recs[i])) >= 0) {
            rt = &targets[t];
            for (size_t m = i; m < j; m++)
                targets[t++] = u.tgt[m];
        }
        cdns_store__fill_rrset(rs, b, &b->recs[i], j - i, rt, &rdp);
        i = j;
    }

    /* The touched names themselves. */
    for (size_t i = 0; i < ntouched; i++) {
        const bnode_t *bn = &b->nodes[i];
        if (bn->idx == CDNS_STORE__NONE)
            continue; /* removed, and not there to begin with */
        const cdns_node_t *old = cdns_store__node(s, bn->idx);
        bool was_live = !(old->flags & CDNS_STORE__NODE_DEAD);
        uint16_t apex = old->flags & CDNS_NODE_APEX;
        size_t old_recs = 0;
        for (uint16_t r = 0; was_live && r < old->nrrsets; r++)
            old_recs += old->rrsets[r].count;
        if (old->flags & CDNS_NODE_DELEGATION)
            s->zone_deleg[old->zone]--;
        cdns_node_t *n;
        cdns_store__meta_t *m;
        rc = wnode(&u, bn->idx, &n, &m);
        if (rc != CDNS_OK)
            goto fail;
        move_to_chunk(&u, bn->idx, m, true);
        n->name = u.names + bn->name_off;
        n->zone = bn->zone;
        n->nrrsets = u.nrrsets[i];
        n->rrsets = n->nrrsets ? &rrsets[u.first[i]] : NULL;
        n->flags = (uint16_t)(apex | (n->flags & CDNS_STORE__NODE_DEAD));
        size_t new_recs = 0;
        for (uint16_t r = 0; r < n->nrrsets; r++)
            new_recs += n->rrsets[r].count;
        if (!apex && cdns_node_rrset(n, CDNS_T_NS)) {
            n->flags |= CDNS_NODE_DELEGATION;
            s->zone_deleg[n->zone]++;
        }
        s->nrecords = s->nrecords - old_recs + new_recs;
        m->flags = (bn->flags & CDNS_STORE__BN_EXPLICIT) ? CDNS_STORE__META_EXPLICIT : 0;
        bool live = n->nrrsets || m->flags || apex || m->children;
        if (live != was_live) {
            rc = set_live(&u, bn->idx, live);
            if (rc != CDNS_OK)
                goto fail;
        }
    }

    /* Nothing can fail from here on: publish into the shared parts. */
    cdns_store__fill_zones(s);
    uint32_t w = 0;
    for (uint32_t i = 0; i < s->nchunks; i++) {
        cdns_store__chunkref_t r = s->chunks[i];
        if (!r.nodes) {
            if (r.chunk == u.chunk)
                free(u.chunk); /* nothing went into it: a removal of names that were not there */
            continue;
        }
        if (r.chunk != u.chunk)
            atomic_fetch_add_explicit(&r.chunk->refs, 1, memory_order_relaxed);
        s->chunks[w++] = r;
    }
    s->nchunks = w;
    u.chunk = NULL;
    for (uint32_t i = 0; i < s->npages; i++)
        if (s->pages[i]->gen != u.gen)
            atomic_fetch_add_explicit(&s->pages[i]->refs, 1, memory_order_relaxed);
    cdns_store__table_t *wtab = base->tab;
    for (size_t i = 0; i < b->nnodes; i++) {
        const bnode_t *bn = &b->nodes[i];
        if (bn->idx == CDNS_STORE__NONE || bn->idx < base->nnodes)
            continue;
        uint32_t slot = cdns_store__slot(bn->hash, wtab->slots);
        while (atomic_load_explicit(&wtab->slot[slot], memory_order_relaxed))
            slot = slot + 1 == wtab->slots ? 0 : slot + 1;
        atomic_store_explicit(&wtab->slot[slot], (CDNS_STORE__TAG(bn->hash) << CDNS_STORE__IDX_BITS) | (bn->idx + 1),
                              memory_order_relaxed);
    }
    wtab->used += added;
    wtab->next_id++;
    wtab->head = u.gen;
    atomic_fetch_add_explicit(&wtab->refs, 1, memory_order_relaxed);
    s->tab = wtab;
    s->table = wtab->slot;
    s->table_slots = wtab->slots;
    s->memory = cdns_store__memory(s);
    u.s = NULL;
    abandon(&u);
    cdns_builder_free(b);
    *out = s;
    return CDNS_OK;

fail:
    abandon(&u);
    cdns_builder_free(b);
    return rc;
}
