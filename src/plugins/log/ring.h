/* SPDX-License-Identifier: MIT */
/* ring.h — query-time logging that never blocks a worker: a ring of formatted lines per worker
 * thread, drained to stderr by one writer thread. Shared by the log and errors plugins.
 *
 * A worker formats a line into its own single-producer ring (no lock, no allocation, no
 * syscall); when the ring is full the line is dropped and counted. The writer thread wakes
 * every few milliseconds, writes what the rings hold in batches and reports drops. Lines that
 * carry a "sink" (the errors plugin's consolidation) are handed to that sink on the writer
 * thread instead of being written. Rings live for the process; remaining lines are flushed at
 * exit and whenever a sink is removed.
 */
#ifndef CDNS_PLUGIN_LOG_RING_H
#define CDNS_PLUGIN_LOG_RING_H

#include "cdns/plugin.h"

#define CDNS_LOGRING_LINE_MAX 1000 /* octets of one line; longer lines are cut */

typedef struct cdns_logring cdns_logring_t;

/* Receives, on the writer thread, the lines queued with its pointer; tick() runs on every
 * writer pass (for time-based work such as consolidation), under the same lock. */
typedef struct cdns_logsink {
    void (*line)(struct cdns_logsink *s, cdns_log_level_t level, const char *text, size_t len, size_t aux);
    void (*tick)(struct cdns_logsink *s, uint64_t now_ms);
    struct cdns_logsink *next_; /* private: the writer's list */
} cdns_logsink_t;

/* The ring of worker id (created on first use, main thread at set-up; starts the writer). */
cdns_logring_t *cdns_logring_attach(unsigned worker_id);
/* Queues a line at level (plain text without "[LEVEL] " and newline). sink NULL: written to
 * stderr; else given to sink->line with aux. Worker thread that owns the ring only. A NULL
 * ring writes directly (tests that call plugins without workers). */
void cdns_logring_put(cdns_logring_t *r, cdns_log_level_t level, cdns_logsink_t *sink, size_t aux, const char *text,
                      size_t len);
/* Registers / removes a sink (main thread). Removing drains every ring first, so no queued
 * line refers to the sink afterwards. */
void cdns_logring_add_sink(cdns_logsink_t *s);
void cdns_logring_remove_sink(cdns_logsink_t *s);
/* Writes everything queued now (any thread; used at exit and by tests). */
void cdns_logring_flush(void);
/* Lines dropped because a ring was full, since the start. */
uint64_t cdns_logring_dropped(void);

#endif
