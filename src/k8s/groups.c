/* SPDX-License-Identifier: MIT */
/* groups.c — who produced which name, so that a change rebuilds only the names it touches.
 *
 * A group is the unit the watch changes: one service (with its endpoints), one pod, one
 * namespace, or the apex records of the zones. Every owner name a build writes is recorded
 * with the groups that wrote records there, and every group with the names it wrote. When a
 * group changes, its old names become dirty and it is regenerated; a dirty name that other
 * groups also write (a PTR shared by endpoints of several services, the A record of a pod IP
 * that several hostNetwork pods share, our own service's name that the apex NS records also
 * point at) has those groups regenerated too, so the name's records are complete again. The
 * records themselves are not kept here: the snapshot has them, and regenerating a group costs
 * microseconds.
 *
 * Main thread only (the build's thread). Owners and groups are malloc'd one by one so that
 * pointers to them stay valid while the tables grow; groups are found by key, owners by name.
 */
#include <stdlib.h>
#include <string.h>

#include "k8s/k8s_internal.h"

struct cdns_k8s__owner {
    uint32_t hash;
    uint32_t ngroups, cap; /* cap 0: the one group sits in g1 */
    uint32_t g1;
    uint32_t *more;
    bool dirty;
    uint8_t len;
    uint8_t name[]; /* lowercase wire */
};

/* A table of pointers with linear probing and backward-shift deletion (no tombstones). */
typedef struct ptab {
    void **slots;
    size_t nslots, n;
} ptab_t;

struct cdns_k8s_groups {
    ptab_t owners;              /* cdns_k8s__owner_t * by name */
    ptab_t keys;                /* cdns_k8s__group_t * by key */
    cdns_k8s__group_t **groups; /* by id; NULL = free id */
    size_t ngroups, groups_cap;
    uint32_t *free_ids;
    size_t nfree, free_cap;
    cdns_k8s__owner_t **dirty; /* owners marked dirty since the last clear_dirty */
    size_t ndirty, dirty_cap;
};

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int cdns_k8s__grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return CDNS_OK;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return CDNS_ENOMEM;
    *p = np;
    *cap = ncap;
    return CDNS_OK;
}

/* ------------------------------------------------------------ pointer table */
typedef uint32_t (*hash_of_fn)(const void *e);

static uint32_t owner_hash(const void *e)
{
    return ((const cdns_k8s__owner_t *)e)->hash;
}

static uint32_t group_hash(const void *e)
{
    return ((const cdns_k8s__group_t *)e)->hash;
}

static int ptab_reserve(ptab_t *t, hash_of_fn hf)
{
    if ((t->n + 1) * 4 <= t->nslots * 3)
        return CDNS_OK;
    size_t ns = t->nslots ? t->nslots * 2 : 256;
    void **s = calloc(ns, sizeof(*s));
    if (!s)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < t->nslots; i++) {
        if (!t->slots[i])
            continue;
        size_t j = hf(t->slots[i]) & (ns - 1);
        while (s[j])
            j = (j + 1) & (ns - 1);
        s[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = s;
    t->nslots = ns;
    return CDNS_OK;
}

/* Removes the entry at slot i, moving later entries of the run back into the hole. */
static void ptab_remove_at(ptab_t *t, size_t i, hash_of_fn hf)
{
    size_t mask = t->nslots - 1;
    t->slots[i] = NULL;
    t->n--;
    for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        size_t home = hf(t->slots[j]) & mask;
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->slots[i] = t->slots[j];
        t->slots[j] = NULL;
        i = j;
    }
}

/* ------------------------------------------------------------------ owners */
static size_t owner_slot(const cdns_k8s_groups_t *g, const uint8_t *name, size_t len, uint32_t hash, bool *found)
{
    size_t mask = g->owners.nslots - 1;
    size_t j = hash & mask;
    for (; g->owners.slots[j]; j = (j + 1) & mask) {
        const cdns_k8s__owner_t *o = g->owners.slots[j];
        if (o->hash == hash && o->len == len && memcmp(o->name, name, len) == 0) {
            *found = true;
            return j;
        }
    }
    *found = false;
    return j;
}

cdns_k8s__owner_t *cdns_k8s__owner_find(const cdns_k8s_groups_t *g, const uint8_t *name, size_t len)
{
    if (!g->owners.nslots)
        return NULL;
    bool found;
    size_t j = owner_slot(g, name, len, cdns_dname_hash(name, len), &found);
    return found ? g->owners.slots[j] : NULL;
}

static uint32_t *owner_groups(cdns_k8s__owner_t *o)
{
    return o->cap ? o->more : &o->g1;
}

static int mark_dirty(cdns_k8s_groups_t *g, cdns_k8s__owner_t *o)
{
    if (o->dirty)
        return CDNS_OK;
    int rc = cdns_k8s__grow((void **)&g->dirty, &g->dirty_cap, g->ndirty + 1, sizeof(*g->dirty));
    if (rc != CDNS_OK)
        return rc;
    o->dirty = true;
    g->dirty[g->ndirty++] = o;
    return CDNS_OK;
}

int cdns_k8s__member_add(cdns_k8s_groups_t *g, uint32_t gid, const uint8_t *name, size_t len)
{
    cdns_k8s__group_t *gr = g->groups[gid];
    int rc = ptab_reserve(&g->owners, owner_hash);
    if (rc != CDNS_OK)
        return rc;
    uint32_t hash = cdns_dname_hash(name, len);
    bool found;
    size_t j = owner_slot(g, name, len, hash, &found);
    cdns_k8s__owner_t *o;
    if (found) {
        o = g->owners.slots[j];
        uint32_t *v = owner_groups(o);
        /* A group writes several records at most of its names: it is usually the last one. */
        for (uint32_t i = o->ngroups; i-- > 0;)
            if (v[i] == gid)
                return mark_dirty(g, o);
    } else {
        o = calloc(1, sizeof(*o) + len);
        if (!o)
            return CDNS_ENOMEM;
        o->hash = hash;
        o->len = (uint8_t)len;
        memcpy(o->name, name, len);
        g->owners.slots[j] = o;
        g->owners.n++;
    }
    if ((rc = cdns_k8s__grow((void **)&gr->owners, &gr->owners_cap, gr->nowners + 1, sizeof(*gr->owners))) != CDNS_OK)
        return rc;
    if (o->ngroups == 0 && !o->cap) {
        o->g1 = gid;
    } else {
        if (!o->cap) {
            uint32_t *v = malloc(4 * sizeof(*v));
            if (!v)
                return CDNS_ENOMEM;
            v[0] = o->g1;
            o->more = v;
            o->cap = 4;
        } else if (o->ngroups == o->cap) {
            uint32_t *v = realloc(o->more, (size_t)o->cap * 2 * sizeof(*v));
            if (!v)
                return CDNS_ENOMEM;
            o->more = v;
            o->cap *= 2;
        }
        o->more[o->ngroups] = gid;
    }
    o->ngroups++;
    gr->owners[gr->nowners++] = o;
    return mark_dirty(g, o);
}

void cdns_k8s__owner_groups(const cdns_k8s__owner_t *o, const uint32_t **ids, size_t *n)
{
    *ids = o->cap ? o->more : &o->g1;
    *n = o->ngroups;
}

const uint8_t *cdns_k8s__owner_name(const cdns_k8s__owner_t *o, size_t *len)
{
    *len = o->len;
    return o->name;
}

bool cdns_k8s__owner_is_dirty(const cdns_k8s__owner_t *o)
{
    return o->dirty;
}

static void owner_drop_group(cdns_k8s__owner_t *o, uint32_t gid)
{
    uint32_t *v = owner_groups(o);
    for (uint32_t i = 0; i < o->ngroups; i++) {
        if (v[i] == gid) {
            v[i] = v[--o->ngroups];
            return;
        }
    }
}

/* ------------------------------------------------------------------ groups */
static int make_key(char kind, const char *ns, const char *name, char *buf, size_t len)
{
    size_t a = strlen(ns), b = strlen(name);
    if (a + b + 4 > len)
        return CDNS_ERANGE;
    buf[0] = kind;
    buf[1] = ':';
    memcpy(buf + 2, ns, a);
    buf[2 + a] = '/';
    memcpy(buf + 3 + a, name, b + 1);
    return CDNS_OK;
}

static size_t group_slot(const cdns_k8s_groups_t *g, const char *key, uint32_t hash, bool *found)
{
    size_t mask = g->keys.nslots - 1;
    size_t j = hash & mask;
    for (; g->keys.slots[j]; j = (j + 1) & mask) {
        const cdns_k8s__group_t *gr = g->keys.slots[j];
        if (gr->hash == hash && strcmp(gr->key, key) == 0) {
            *found = true;
            return j;
        }
    }
    *found = false;
    return j;
}

int cdns_k8s__group_get(cdns_k8s_groups_t *g, char kind, const char *ns, const char *name, bool create, uint32_t *id)
{
    char key[600];
    int rc = make_key(kind, ns, name, key, sizeof(key));
    if (rc != CDNS_OK)
        return rc;
    if ((rc = ptab_reserve(&g->keys, group_hash)) != CDNS_OK)
        return rc;
    uint32_t hash = hash_key(key);
    bool found;
    size_t j = group_slot(g, key, hash, &found);
    if (found) {
        *id = ((cdns_k8s__group_t *)g->keys.slots[j])->id;
        return CDNS_OK;
    }
    if (!create)
        return CDNS_ENOENT;
    size_t klen = strlen(key);
    cdns_k8s__group_t *gr = calloc(1, sizeof(*gr) + klen + 1);
    if (!gr)
        return CDNS_ENOMEM;
    memcpy(gr->key, key, klen + 1);
    gr->hash = hash;
    gr->kind = kind;
    /* The key is "k:ns/name": ns and name point into a second copy split at the slash. */
    gr->ns = strdup(ns);
    gr->name = strdup(name);
    if (!gr->ns || !gr->name) {
        free(gr->ns);
        free(gr->name);
        free(gr);
        return CDNS_ENOMEM;
    }
    if (g->nfree) {
        gr->id = g->free_ids[--g->nfree];
    } else {
        if ((rc = cdns_k8s__grow((void **)&g->groups, &g->groups_cap, g->ngroups + 1, sizeof(*g->groups))) != CDNS_OK) {
            free(gr->ns);
            free(gr->name);
            free(gr);
            return rc;
        }
        gr->id = (uint32_t)g->ngroups++;
    }
    g->groups[gr->id] = gr;
    g->keys.slots[j] = gr;
    g->keys.n++;
    *id = gr->id;
    return CDNS_OK;
}

cdns_k8s__group_t *cdns_k8s__group(const cdns_k8s_groups_t *g, uint32_t id)
{
    return id < g->ngroups ? g->groups[id] : NULL;
}

size_t cdns_k8s__group_count(const cdns_k8s_groups_t *g)
{
    return g->ngroups;
}

int cdns_k8s__group_release(cdns_k8s_groups_t *g, uint32_t gid)
{
    cdns_k8s__group_t *gr = g->groups[gid];
    for (size_t i = 0; i < gr->nowners; i++) {
        cdns_k8s__owner_t *o = gr->owners[i];
        owner_drop_group(o, gid);
        int rc = mark_dirty(g, o);
        if (rc != CDNS_OK)
            return rc;
    }
    gr->nowners = 0;
    return CDNS_OK;
}

static void group_free(cdns_k8s__group_t *gr)
{
    if (!gr)
        return;
    free(gr->owners);
    free(gr->ns);
    free(gr->name);
    free(gr);
}

int cdns_k8s__group_drop_if_empty(cdns_k8s_groups_t *g, uint32_t gid)
{
    cdns_k8s__group_t *gr = g->groups[gid];
    if (!gr || gr->nowners || gr->own)
        return CDNS_OK;
    int rc = cdns_k8s__grow((void **)&g->free_ids, &g->free_cap, g->nfree + 1, sizeof(*g->free_ids));
    if (rc != CDNS_OK)
        return rc; /* keeping an empty group costs memory, nothing else */
    bool found;
    size_t j = group_slot(g, gr->key, gr->hash, &found);
    if (found)
        ptab_remove_at(&g->keys, j, group_hash);
    g->groups[gid] = NULL;
    g->free_ids[g->nfree++] = gid;
    group_free(gr);
    return CDNS_OK;
}

void cdns_k8s__dirty_owners(const cdns_k8s_groups_t *g, cdns_k8s__owner_t *const **v, size_t *n)
{
    *v = g->dirty;
    *n = g->ndirty;
}

void cdns_k8s__clear_dirty(cdns_k8s_groups_t *g)
{
    /* Owners no group writes any more go now; the snapshot has already lost them. */
    for (size_t i = 0; i < g->ndirty; i++) {
        cdns_k8s__owner_t *o = g->dirty[i];
        o->dirty = false;
        if (o->ngroups)
            continue;
        bool found;
        size_t j = owner_slot(g, o->name, o->len, o->hash, &found);
        if (found)
            ptab_remove_at(&g->owners, j, owner_hash);
        free(o->more);
        free(o);
    }
    g->ndirty = 0;
}

/* ---------------------------------------------------------------- lifetime */
cdns_k8s_groups_t *cdns_k8s__groups_new(void)
{
    return calloc(1, sizeof(cdns_k8s_groups_t));
}

void cdns_k8s__groups_clear(cdns_k8s_groups_t *g)
{
    for (size_t i = 0; i < g->owners.nslots; i++) {
        cdns_k8s__owner_t *o = g->owners.slots[i];
        if (o) {
            free(o->more);
            free(o);
        }
    }
    for (size_t i = 0; i < g->ngroups; i++)
        group_free(g->groups[i]);
    free(g->owners.slots);
    free(g->keys.slots);
    free(g->groups);
    free(g->free_ids);
    free(g->dirty);
    memset(g, 0, sizeof(*g));
}

void cdns_k8s__groups_free(cdns_k8s_groups_t *g)
{
    if (!g)
        return;
    cdns_k8s__groups_clear(g);
    free(g);
}

size_t cdns_k8s__owner_count(const cdns_k8s_groups_t *g)
{
    return g->owners.n;
}
