/* SPDX-License-Identifier: MIT */
/* cache — what other plugins may ask of the cache plugin (src/plugins/cache).
 *
 * Forward's stub-domain reload calls cdns_cache_flush() when the upstreams of a domain change,
 * so answers that came from the old upstreams stop being served. Any thread; it takes each
 * shard's writer lock in turn, so workers keep answering from the other shards meanwhile.
 */
#ifndef CDNS_CACHE_H
#define CDNS_CACHE_H

/* Drops the cached answers (success and denial) for names at or below zone ("example.org.";
 * "." or NULL for everything) from every cache instance of every live pipeline. */
void cdns_cache_flush(const char *zone);

#endif
