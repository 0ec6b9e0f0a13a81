/* SPDX-License-Identifier: MIT */
/* metrics — counters, gauges and histograms kept per worker and summed on scrape; the
 * Prometheus text exposition.
 *
 * A metric family (name, help, type, label names) is registered once; a series (one set of
 * label values) is looked up or created off the hot path (set-up, main thread, or any thread:
 * creation takes a lock) and then updated from any thread without a lock: each series holds one
 * cache-line-aligned slot per worker (index = worker id; CDNS_METRICS_MAX_WORKERS slots), and
 * updates are relaxed atomic adds to the caller's own slot. Rendering sums the slots with relaxed
 * loads. Names and labels follow CoreDNS's so dashboards keep working.
 *
 * Families and series live until cdns_metrics_reset() (tests) or process exit: a reload re-uses
 * the series of the same labels, so counters never go backwards.
 */
#ifndef CDNS_METRICS_H
#define CDNS_METRICS_H

#include "cdns/base.h"

#define CDNS_METRICS_MAX_WORKERS 64 /* slots per series; workers past it share the last slot */
#define CDNS_METRICS_MAX_LABELS 8
#define CDNS_METRICS_MAX_BUCKETS 24

typedef enum { CDNS_METRIC_COUNTER = 0, CDNS_METRIC_GAUGE, CDNS_METRIC_HISTOGRAM } cdns_metric_type_t;

typedef struct cdns_metric cdns_metric_t;
typedef struct cdns_series cdns_series_t;

/* Registers a family (or returns the existing one of that name: same type and labels expected).
 * buckets: upper bounds for histograms (ascending, +Inf implied); NULL for other types. */
cdns_metric_t *cdns_metric_register(const char *name, const char *help, cdns_metric_type_t type,
                                    const char *const *label_names, size_t nlabels, const double *buckets,
                                    size_t nbuckets);
/* The series with these label values (as many as the family's labels), created when missing.
 * NULL only when out of memory. Not for the hot path: resolve handles at set-up. */
cdns_series_t *cdns_metric_series(cdns_metric_t *m, const char *const *label_values);

/* Hot path: lock-free, no allocation. worker: the calling worker's id (0 for the main thread). */
void cdns_series_add(cdns_series_t *s, unsigned worker, uint64_t n);
void cdns_series_inc(cdns_series_t *s, unsigned worker);
void cdns_series_observe(cdns_series_t *s, unsigned worker, double value);
/* Gauges: set from one thread (the owner), read on scrape. */
void cdns_series_set(cdns_series_t *s, double value);
/* The current total of a counter (sum over workers) or a gauge's value; a histogram's count. */
double cdns_series_value(const cdns_series_t *s);

/* A gauge computed at scrape time (process metrics, cache sizes). Called from the scraping
 * thread; must be thread-safe. Also usable on a counter family whose total lives elsewhere
 * (process_cpu_seconds_total). */
typedef double (*cdns_metric_gauge_fn)(void *arg);
void cdns_metric_gauge_func(cdns_metric_t *m, const char *const *label_values, cdns_metric_gauge_fn fn, void *arg);

/* Renders every family in the Prometheus text format (version 0.0.4) into a malloc'd buffer
 * (caller frees). */
int cdns_metrics_render(char **out, size_t *len);

/* CoreDNS's default duration buckets (plugin/pkg/metrics: 0.00025 .. 8.192 s) and size buckets. */
extern const double cdns_metrics_duration_buckets[];
extern const size_t cdns_metrics_duration_nbuckets;
extern const double cdns_metrics_size_buckets[];
extern const size_t cdns_metrics_size_nbuckets;

/* Drops every family (tests only; no series may be in use). */
void cdns_metrics_reset(void);

/* ------------------------------------------------------------- additions */
/* Slots per series (the number of workers, at most CDNS_METRICS_MAX_WORKERS). Only before the
 * first family is registered (later calls are ignored); main calls it with -workers. */
void cdns_metrics_set_slots(unsigned n);
/* As cdns_metric_series, but the series is left out of the exposition until its value is
 * non-zero: for handles resolved ahead of time for every label value that may occur (rcodes,
 * query types), so the output lists only what happened, as Go's client does. */
cdns_series_t *cdns_metric_series_hidden(cdns_metric_t *m, const char *const *label_values);
/* Drops every series of a family (gauges re-set from scratch, e.g. coredns_plugin_enabled on
 * reload). Only for families whose series no other code holds. */
void cdns_metric_clear(cdns_metric_t *m);
/* A sample value as the exposition writes it ("7", "0.00025", "+Inf"). */
int cdns_metrics_format_value(double v, char *out, size_t len);
/* Registers process_* (resident and virtual memory, CPU seconds, open and max fds, start time)
 * read from /proc at scrape time. Idempotent. */
void cdns_metrics_register_process(void);

#endif
