/* SPDX-License-Identifier: MIT */
/* cache.h — the cache plugin's instance and its sharded answer table. Private to this directory.
 *
 * A table is CDNS_CACHE_SHARDS shards of preallocated fixed-size slots in two size classes
 * (small answers and an overflow class), so storing never allocates and a hit only copies. A
 * slot is guarded by a sequence counter (a seqlock): workers read without any lock and retry as
 * a miss when a writer got in between; writers (on_response, flush) take the shard's mutex, so
 * two workers contend only when they store into the same one of 256 shards at the same time.
 * Tables are made at setup (main thread) and live as long as the instance.
 */
#ifndef CDNS_PLUGIN_CACHE_H
#define CDNS_PLUGIN_CACHE_H

#include <pthread.h>
#include <stdatomic.h>

#include "cdns/metrics.h"
#include "cdns/plugin.h"

#define CDNS_CACHE_SHARDS 256
#define CDNS_CACHE_SMALL 512  /* data octets of a small slot: most answers */
#define CDNS_CACHE_LARGE 4096 /* the overflow class; larger answers are not cached */
#define CDNS_CACHE_DEFAULT_CAP 10000
#define CDNS_CACHE_MIN_CAP 1024 /* as CoreDNS: smaller capacities are raised to this */

enum { CDNS_CACHE_DO = 1, CDNS_CACHE_CD = 2 };
typedef enum { CDNS_CACHE_SUCCESS = 0, CDNS_CACHE_DENIAL = 1 } cdns_cache_kind_t;

/* What a slot holds besides the data: copied word by word under the slot's sequence counter. */
typedef struct cdns_centry {
    uint64_t key;
    uint64_t stored_ms; /* monotonic clock when stored */
    uint32_t ttl_s;     /* the TTL it was stored with (CoreDNS's origTTL) */
    uint16_t qtype, qclass;
    uint16_t flags; /* the response's header flags (AD, RA are served back) */
    uint16_t rcode;
    uint16_t count[3];
    uint16_t data_len; /* octets of answer, authority and additional after the question */
    uint8_t qname_len;
    uint8_t bits; /* CDNS_CACHE_DO | CDNS_CACHE_CD of the query */
    uint8_t pad[2];
} cdns_centry_t;

typedef struct cdns_cslot {
    _Atomic uint32_t seq;        /* odd while a writer is in it */
    _Atomic uint32_t hits;       /* prefetch popularity (CoreDNS's freq) */
    _Atomic uint64_t last_ms;    /* time of the last hit */
    _Atomic uint64_t retry_ms;   /* serve_stale: no refresh before this after a failed one */
    _Atomic uint32_t refreshing; /* a background refresh is in flight */
    uint32_t pad;
    _Atomic uint64_t words[]; /* cdns_centry_t, then the lowercase qname, then the sections */
} cdns_cslot_t;

typedef struct cdns_cshard {
    pthread_mutex_t lock;   /* writers only */
    _Atomic uint64_t *keys; /* key of each slot (0: free): small slots first, then large */
    _Atomic uint32_t *idx;  /* the shard's index: isize entries, see store.c */
    _Atomic uint32_t count; /* slots in use */
    uint32_t tombs;         /* removed entries left in idx, under lock */
    uint64_t rng;           /* eviction choice, under lock */
    char pad[64 - sizeof(pthread_mutex_t) % 64];
} cdns_cshard_t;

typedef struct cdns_ctable {
    cdns_cshard_t *shards;
    uint8_t *mem[2];   /* slots of each class, shard after shard */
    size_t stride[2];  /* bytes per slot */
    uint32_t nslot[2]; /* slots per shard and class */
    uint32_t isize;    /* index entries per shard: a power of two, at least twice the slots */
    _Atomic uint64_t *keymem;
    _Atomic uint32_t *idxmem;
} cdns_ctable_t;

int cdns_cache__table_init(cdns_ctable_t *t, size_t capacity);
void cdns_cache__table_deinit(cdns_ctable_t *t);
/* Finds key for q's name/type/class and bits. Copies the header into *e and, when out is not
 * NULL, the sections into out (at most outcap octets). Returns the slot, or NULL on a miss, a
 * mismatch, a too-small out, or when a writer changed the slot or the index meanwhile.
 * Lock-free; a few probes of the shard's index, whatever the capacity. */
cdns_cslot_t *cdns_cache__get(cdns_ctable_t *t, uint64_t key, const cdns_query_t *q, uint8_t bits, cdns_centry_t *e,
                              uint8_t *out, size_t outcap);
/* Stores an entry (header, lowercase qname, sections). *evicted when a live entry made room.
 * CDNS_ERANGE when it is larger than the largest slot. Takes the shard's lock. */
int cdns_cache__put(cdns_ctable_t *t, const cdns_centry_t *e, const uint8_t *qname, const uint8_t *data, bool *evicted);
/* Drops every entry whose name is at or below zone (lowercase wire); returns how many. */
size_t cdns_cache__flush(cdns_ctable_t *t, const uint8_t *zone);
size_t cdns_cache__count(const cdns_ctable_t *t);

/* Metric handles of one server label, resolved on a worker's first query from that server. */
typedef struct cdns_cache_series {
    const char *server;
    cdns_series_t *requests, *misses, *hits[2], *prefetch, *drops, *stale, *evictions[2];
} cdns_cache_series_t;

typedef struct cdns_cache {
    /* configuration (setup, then read-only) */
    uint8_t (*zones)[CDNS_DNAME_MAX]; /* lowercase wire */
    size_t nzones;
    char *zones_label;                    /* "example.org.,cluster.local." */
    uint8_t (*except[2])[CDNS_DNAME_MAX]; /* disable success / denial zones */
    size_t nexcept[2];
    uint32_t max_ttl[2], min_ttl[2]; /* seconds, per kind */
    size_t cap[2];
    uint32_t fail_ttl; /* SERVFAIL caching, seconds (0: off) */
    uint32_t prefetch; /* AMOUNT; 0: off */
    uint64_t prefetch_window_ms;
    uint32_t percentage;
    uint64_t stale_ms; /* serve_stale DURATION; 0: off */
    bool verify;
    uint64_t verify_timeout_ms;
    uint32_t stale_ttl_s;
    uint64_t recheck_ms;
    bool keepttl;
    /* state */
    cdns_ctable_t table[2];
    struct cdns_cache *next_inst; /* the process-wide list cdns_cache_flush walks */
} cdns_cache_t;

int cdns_cache__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_cache__teardown(void *inst);
/* A 64-bit hash of DO, CD, type, class and the lowercase name (what CoreDNS's key covers),
 * from the name's hash the parse left in q (qname_hash). Never 0. Its low byte picks the shard, its high half the index
 * slot; a hit still compares the whole question, so two questions of one key only evict each other. */
uint64_t cdns_cache__key(const cdns_query_t *q, uint8_t bits);

#endif
