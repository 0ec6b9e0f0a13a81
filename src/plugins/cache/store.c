/* SPDX-License-Identifier: MIT */
/* store.c — the cache's sharded table of preallocated slots, read without locks.
 *
 * Readers (workers, on every cached query) follow the seqlock protocol: load the slot's
 * sequence (acquire), copy with relaxed atomic word loads, fence, load it again; an odd or
 * changed sequence means a writer was there and the read counts as a miss. Writers (workers in
 * on_response, the main thread in flush) hold the shard's mutex. The copies use relaxed atomic
 * words rather than memcpy so the race the protocol tolerates is not undefined behaviour.
 * Eviction is random within a shard, as CoreDNS's plugin/pkg/cache does. The slot and key
 * arrays are anonymous mappings owned by the table (see pages_new for why not calloc).
 *
 * Each shard has an index so that a lookup does not scan the shard's keys (a hit used to
 * compare half of them and a miss all, three times per cached answer: 550 instructions at the
 * default capacity, ten times that at 100,000): open addressing with linear probing, isize
 * entries for at most isize/2 slots, each entry 0 (never used: a probe stops), IDX_GONE (an
 * entry removed: a probe goes on) or a slot number + 1 in the low IDX_SLOT_BITS beside the top
 * bits of the key, so that a probe past another key's entry touches neither its slot nor its
 * key (each a cache miss; the hit itself then reads one slot, header, name and sections in
 * consecutive words). Slots stay where they are; only
 * writers, under the shard's lock, change the index: an entry when a key takes a slot, a
 * removal mark when it leaves it, and a rebuild from the keys when removal marks fill a
 * quarter of the index. A reader probes with relaxed loads and trusts nothing it finds: the
 * entry's tag, then the slot's whole key and question read under its seqlock, must match, so
 * a reader racing a writer or a rebuild can only miss, never answer wrongly. The keys array
 * stays the writers' view of the slots (free ones, the same question, rebuilds).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cache.h"

#define HDR_WORDS (sizeof(cdns_centry_t) / 8)
#define QNAME_WORDS 32 /* 256 octets reserved for the name; the sections follow the name */
#define DATA_OFF ((HDR_WORDS + QNAME_WORDS) * 8)
#define IDX_GONE UINT32_MAX
#define IDX_SLOT_BITS 20
#define IDX_SLOT_MASK ((1u << IDX_SLOT_BITS) - 1u)
#define IDX_MAX_PER 900000u /* small slots per shard: with the large ones, under IDX_SLOT_MASK */

/* Words from the start of an entry to its sections: right after the name. */
static size_t data_words(size_t qname_len)
{
    return HDR_WORDS + (qname_len + 7) / 8;
}

static uint32_t idx_tag(uint64_t key)
{
    return (uint32_t)(key >> (64 - (32 - IDX_SLOT_BITS))) << IDX_SLOT_BITS;
}

_Static_assert(sizeof(cdns_centry_t) % 8 == 0, "entry header is whole words");

/* The slot and key arrays (about 13 MB per table at the default capacity) are mapped here rather
 * than calloc'd, because a table is mostly never touched and its pages must stay unresident
 * until a slot is used. calloc gives that only while glibc serves the request with mmap, and
 * glibc raises its mmap threshold to the size of any mapped chunk that is freed: once a reload
 * had freed the previous instance's tables, the next ones came from the heap, calloc zeroed
 * reused heap with memset, and every page became resident (the soak's RSS stepped from 14 to
 * 35 MB at the fourth reload). A private anonymous mapping is zero-filled on first touch and
 * goes back to the system at munmap, whatever malloc's state. */
static void *pages_new(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void pages_free(void *p, size_t len)
{
    if (p != NULL)
        munmap(p, len);
}

static size_t keys_len(const cdns_ctable_t *t)
{
    return (size_t)CDNS_CACHE_SHARDS * (t->nslot[0] + t->nslot[1]) * sizeof(*t->keymem);
}

static size_t idx_len(const cdns_ctable_t *t)
{
    return (size_t)CDNS_CACHE_SHARDS * t->isize * sizeof(*t->idxmem);
}

static size_t mem_len(const cdns_ctable_t *t, unsigned c)
{
    return (size_t)CDNS_CACHE_SHARDS * t->nslot[c] * t->stride[c];
}

static cdns_cslot_t *slot_at(const cdns_ctable_t *t, unsigned shard, uint32_t idx)
{
    unsigned c = idx < t->nslot[0] ? 0 : 1;
    uint32_t i = c ? idx - t->nslot[0] : idx;
    return (cdns_cslot_t *)(void *)(t->mem[c] + ((size_t)shard * t->nslot[c] + i) * t->stride[c]);
}

static void load_bytes(uint8_t *dst, const _Atomic uint64_t *src, size_t n)
{
    size_t i = 0;
    for (; n >= 8; i++, n -= 8) {
        uint64_t w = atomic_load_explicit(&src[i], memory_order_relaxed);
        memcpy(dst + i * 8, &w, 8);
    }
    if (n) {
        uint64_t w = atomic_load_explicit(&src[i], memory_order_relaxed);
        memcpy(dst + i * 8, &w, n);
    }
}

static void store_bytes(_Atomic uint64_t *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; n >= 8; i++, n -= 8) {
        uint64_t w;
        memcpy(&w, src + i * 8, 8);
        atomic_store_explicit(&dst[i], w, memory_order_relaxed);
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, src + i * 8, n);
        atomic_store_explicit(&dst[i], w, memory_order_relaxed);
    }
}

uint64_t cdns_cache__key(const cdns_query_t *q, uint8_t bits)
{
    /* The name comes hashed with the query (qname_hash); the question's other fields are mixed
     * into it here (xor, multiply by an odd constant, the finaliser), so that every bit of the
     * key, the shard's low byte and the index's high half alike, depends on all of them. */
    uint64_t rest = (uint64_t)(bits & (CDNS_CACHE_DO | CDNS_CACHE_CD)) << 32 | (uint64_t)q->qtype << 16 | q->qclass;
    uint64_t h = cdns_hash_mix64((q->qname_hash ^ rest) * 0x9e3779b97f4a7c15ull);
    return h ? h : 1;
}

/* ------------------------------------------------------------------ index */
static uint32_t idx_home(const cdns_ctable_t *t, uint64_t key)
{
    return (uint32_t)(key >> 32) & (t->isize - 1); /* the shard came from the low byte */
}

/* Under the lock: key now occupies slot i. */
static void idx_add(const cdns_ctable_t *t, cdns_cshard_t *sh, uint64_t key, uint32_t i)
{
    uint32_t mask = t->isize - 1;
    for (uint32_t h = idx_home(t, key);; h = (h + 1) & mask) {
        uint32_t v = atomic_load_explicit(&sh->idx[h], memory_order_relaxed);
        if (v == 0 || v == IDX_GONE) {
            /* Never full: at most isize/2 slots, and rebuilds keep removal marks under isize/4. */
            sh->tombs -= v == IDX_GONE;
            atomic_store_explicit(&sh->idx[h], idx_tag(key) | (i + 1), memory_order_release);
            return;
        }
    }
}

static void idx_rebuild(const cdns_ctable_t *t, cdns_cshard_t *sh)
{
    for (uint32_t h = 0; h < t->isize; h++)
        atomic_store_explicit(&sh->idx[h], 0, memory_order_relaxed);
    sh->tombs = 0;
    uint32_t n = t->nslot[0] + t->nslot[1];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t k = atomic_load_explicit(&sh->keys[i], memory_order_relaxed);
        if (k != 0)
            idx_add(t, sh, k, i);
    }
}

/* Under the lock: key leaves slot i. */
static void idx_remove(const cdns_ctable_t *t, cdns_cshard_t *sh, uint64_t key, uint32_t i)
{
    uint32_t mask = t->isize - 1;
    for (uint32_t h = idx_home(t, key), j = 0; j <= mask; h = (h + 1) & mask, j++) {
        uint32_t v = atomic_load_explicit(&sh->idx[h], memory_order_relaxed);
        if (v == 0)
            break; /* cannot happen: every key in a slot has its entry */
        if (v != IDX_GONE && (v & IDX_SLOT_MASK) == i + 1) {
            atomic_store_explicit(&sh->idx[h], IDX_GONE, memory_order_relaxed);
            if (++sh->tombs > t->isize / 4)
                idx_rebuild(t, sh);
            return;
        }
    }
}

/* Under the lock: slot i's key leaves it, first from the keys (a rebuild inside idx_remove
 * reads them), then from the index. */
static void key_leave(const cdns_ctable_t *t, cdns_cshard_t *sh, uint32_t i)
{
    uint64_t k = atomic_load_explicit(&sh->keys[i], memory_order_relaxed);
    atomic_store_explicit(&sh->keys[i], 0, memory_order_relaxed);
    idx_remove(t, sh, k, i);
}

int cdns_cache__table_init(cdns_ctable_t *t, size_t capacity)
{
    memset(t, 0, sizeof(*t));
    uint32_t per = (uint32_t)(capacity / CDNS_CACHE_SHARDS);
    if (per == 0)
        per = 1;
    if (per > IDX_MAX_PER)
        per = IDX_MAX_PER; /* 230 million entries, far past any memory: the index's slot field */
    /* One large slot for every eight small ones: big answers (DNSSEC, long TXT, many
     * addresses) are the exception, and they cost eight times the memory. */
    t->nslot[0] = per;
    t->nslot[1] = per / 8 ? per / 8 : 1;
    /* Slots start on cache lines (the mappings are page-aligned): a small answer's hit then
     * reads three lines, the slot's counters and header, the name, the sections. */
    t->stride[0] = (sizeof(cdns_cslot_t) + DATA_OFF + CDNS_CACHE_SMALL + 63) & ~(size_t)63;
    t->stride[1] = (sizeof(cdns_cslot_t) + DATA_OFF + CDNS_CACHE_LARGE + 63) & ~(size_t)63;
    uint32_t n = t->nslot[0] + t->nslot[1];
    t->isize = 4;
    while (t->isize < 2 * n)
        t->isize *= 2;
    t->shards = calloc(CDNS_CACHE_SHARDS, sizeof(cdns_cshard_t));
    t->keymem = pages_new(keys_len(t));
    t->idxmem = pages_new(idx_len(t));
    t->mem[0] = pages_new(mem_len(t, 0));
    t->mem[1] = pages_new(mem_len(t, 1));
    if (!t->shards || !t->keymem || !t->idxmem || !t->mem[0] || !t->mem[1])
        goto fail;
    for (unsigned s = 0; s < CDNS_CACHE_SHARDS; s++) {
        cdns_cshard_t *sh = &t->shards[s];
        pthread_mutex_init(&sh->lock, NULL);
        sh->keys = t->keymem + (size_t)s * n;
        sh->idx = t->idxmem + (size_t)s * t->isize;
        sh->rng = 0x9E3779B97F4A7C15ULL * (s + 1);
    }
    return CDNS_OK;
fail:
    cdns_cache__table_deinit(t);
    return CDNS_ENOMEM;
}

void cdns_cache__table_deinit(cdns_ctable_t *t)
{
    if (t->shards)
        for (unsigned s = 0; s < CDNS_CACHE_SHARDS; s++)
            pthread_mutex_destroy(&t->shards[s].lock);
    free(t->shards);
    pages_free(t->keymem, keys_len(t));
    pages_free(t->idxmem, idx_len(t));
    pages_free(t->mem[0], mem_len(t, 0));
    pages_free(t->mem[1], mem_len(t, 1));
    memset(t, 0, sizeof(*t));
}

cdns_cslot_t *cdns_cache__get(cdns_ctable_t *t, uint64_t key, const cdns_query_t *q, uint8_t bits, cdns_centry_t *e,
                              uint8_t *out, size_t outcap)
{
    unsigned shard = (unsigned)(key % CDNS_CACHE_SHARDS);
    const cdns_cshard_t *sh = &t->shards[shard];
    uint32_t n = t->nslot[0] + t->nslot[1], mask = t->isize - 1, tag = idx_tag(key);
    for (uint32_t h = idx_home(t, key), j = 0; j <= mask; h = (h + 1) & mask, j++) {
        uint32_t v = atomic_load_explicit(&sh->idx[h], memory_order_relaxed);
        if (v == 0)
            return NULL;
        uint32_t i = (v & IDX_SLOT_MASK) - 1;
        if (v == IDX_GONE || (v & ~IDX_SLOT_MASK) != tag || i >= n)
            continue;
        cdns_cslot_t *s = slot_at(t, shard, i);
        uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq & 1)
            return NULL;
        load_bytes((uint8_t *)e, s->words, sizeof(*e));
        uint8_t name[QNAME_WORDS * 8];
        bool ok = e->key == key && e->qtype == q->qtype && e->qclass == q->qclass && e->bits == bits &&
                  e->qname_len == q->qname_len;
        if (ok) {
            load_bytes(name, s->words + HDR_WORDS, e->qname_len);
            ok = memcmp(name, q->qname_lower, e->qname_len) == 0;
        }
        if (ok && out != NULL) {
            ok = e->data_len <= outcap;
            if (ok)
                load_bytes(out, s->words + data_words(e->qname_len), e->data_len);
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq)
            return NULL;
        return ok ? s : NULL;
    }
    return NULL;
}

static void slot_write(cdns_cslot_t *s, const cdns_centry_t *e, const uint8_t *qname, const uint8_t *data)
{
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    if (e != NULL) {
        store_bytes(s->words, (const uint8_t *)e, sizeof(*e));
        store_bytes(s->words + HDR_WORDS, qname, e->qname_len);
        store_bytes(s->words + data_words(e->qname_len), data, e->data_len);
    } else {
        atomic_store_explicit(&s->words[0], 0, memory_order_relaxed); /* key 0: matches nothing */
    }
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

int cdns_cache__put(cdns_ctable_t *t, const cdns_centry_t *e, const uint8_t *qname, const uint8_t *data, bool *evicted)
{
    *evicted = false;
    unsigned c;
    if (e->data_len <= CDNS_CACHE_SMALL)
        c = 0;
    else if (e->data_len <= CDNS_CACHE_LARGE)
        c = 1;
    else
        return CDNS_ERANGE;
    unsigned shard = (unsigned)(e->key % CDNS_CACHE_SHARDS);
    cdns_cshard_t *sh = &t->shards[shard];
    uint32_t lo = c ? t->nslot[0] : 0, hi = c ? t->nslot[0] + t->nslot[1] : t->nslot[0];
    uint32_t n = t->nslot[0] + t->nslot[1];
    pthread_mutex_lock(&sh->lock);
    int64_t at = -1, free_at = -1;
    bool same = false;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t k = atomic_load_explicit(&sh->keys[i], memory_order_relaxed);
        if (k == e->key) {
            if (i >= lo && i < hi) {
                at = i;
                same = true;
            } else {
                /* The same question in the other size class: retire that copy. */
                slot_write(slot_at(t, shard, i), NULL, NULL, NULL);
                key_leave(t, sh, i);
                atomic_fetch_sub_explicit(&sh->count, 1, memory_order_relaxed);
            }
        } else if (k == 0 && free_at < 0 && i >= lo && i < hi) {
            free_at = i;
        }
    }
    if (at < 0 && free_at >= 0) {
        at = free_at;
        atomic_fetch_add_explicit(&sh->count, 1, memory_order_relaxed);
    }
    if (at < 0) {
        uint64_t x = sh->rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        sh->rng = x;
        /* NOLINTNEXTLINE(clang-analyzer-core.DivideZero): table_init gives each size class >= 1 slot. */
        at = lo + (int64_t)((x * 0x2545F4914F6CDD1DULL) >> 33) % (hi - lo);
        *evicted = true;
        key_leave(t, sh, (uint32_t)at);
    }
    cdns_cslot_t *s = slot_at(t, shard, (uint32_t)at);
    slot_write(s, e, qname, data);
    if (!same) {
        /* A new question starts without popularity; a refresh keeps it (CoreDNS's Reset). */
        atomic_store_explicit(&s->hits, 0, memory_order_relaxed);
        atomic_store_explicit(&s->last_ms, 0, memory_order_relaxed);
        atomic_store_explicit(&s->retry_ms, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&sh->keys[at], e->key, memory_order_release);
    if (!same)
        idx_add(t, sh, e->key, (uint32_t)at);
    pthread_mutex_unlock(&sh->lock);
    return CDNS_OK;
}

size_t cdns_cache__flush(cdns_ctable_t *t, const uint8_t *zone)
{
    size_t dropped = 0;
    uint32_t n = t->nslot[0] + t->nslot[1];
    for (unsigned shard = 0; shard < CDNS_CACHE_SHARDS; shard++) {
        cdns_cshard_t *sh = &t->shards[shard];
        pthread_mutex_lock(&sh->lock);
        for (uint32_t i = 0; i < n; i++) {
            if (atomic_load_explicit(&sh->keys[i], memory_order_relaxed) == 0)
                continue;
            cdns_cslot_t *s = slot_at(t, shard, i);
            cdns_centry_t e;
            uint8_t name[QNAME_WORDS * 8];
            /* Under the lock nothing writes the slot, so plain reads are consistent. */
            load_bytes((uint8_t *)&e, s->words, sizeof(e));
            load_bytes(name, s->words + HDR_WORDS, e.qname_len);
            if (e.qname_len == 0 || !cdns_dname_is_sub(name, zone))
                continue;
            slot_write(s, NULL, NULL, NULL);
            key_leave(t, sh, i);
            atomic_fetch_sub_explicit(&sh->count, 1, memory_order_relaxed);
            dropped++;
        }
        pthread_mutex_unlock(&sh->lock);
    }
    return dropped;
}

size_t cdns_cache__count(const cdns_ctable_t *t)
{
    size_t n = 0;
    for (unsigned s = 0; t->shards && s < CDNS_CACHE_SHARDS; s++)
        n += atomic_load_explicit(&t->shards[s].count, memory_order_relaxed);
    return n;
}
