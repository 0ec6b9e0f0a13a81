/* SPDX-License-Identifier: MIT */
/* metrics.c — the family/series registry, per-worker slots and the Prometheus text exposition.
 *
 * Families and series are created under one mutex (set-up, the main thread, the scrape) and
 * never move until cdns_metrics_reset(). Each series owns an array of cache-line-aligned slots,
 * one per worker, so workers never share a line on the hot path: an update is one relaxed
 * atomic add into the caller's slot. The scrape (the HTTP thread) sums the slots with relaxed
 * loads under the mutex, so it sees each counter at some recent value, never a torn one.
 */
#include "cdns/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE 64

const double cdns_metrics_duration_buckets[] = {0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032,
                                                0.064,   0.128,  0.256, 0.512, 1.024, 2.048, 4.096, 8.192};
const size_t cdns_metrics_duration_nbuckets = CDNS_ARRAY_LEN(cdns_metrics_duration_buckets);
const double cdns_metrics_size_buckets[] = {0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3};
const size_t cdns_metrics_size_nbuckets = CDNS_ARRAY_LEN(cdns_metrics_size_buckets);

/* One worker's part of a series. Counters and gauges use v[0]; histograms use v[0..nb] for the
 * buckets (v[nb] is +Inf), v[nb+1] for the count and v[nb+2] for the sum's double bits. */
typedef struct slot {
    _Atomic uint64_t v[1]; /* really `stride` octets: see series_new */
} slot_t;

struct cdns_series {
    cdns_series_t *next;
    cdns_metric_t *m;
    char **values;
    bool hidden;                 /* not rendered until non-zero (cdns_metric_series_hidden) */
    _Atomic uint64_t gauge_bits; /* cdns_series_set */
    cdns_metric_gauge_fn fn;
    void *fn_arg;
    uint8_t *slots; /* nslots * stride octets, LINE-aligned */
};

struct cdns_metric {
    cdns_metric_t *next;
    char *name, *help;
    cdns_metric_type_t type;
    char **labels;
    size_t nlabels;
    double buckets[CDNS_METRICS_MAX_BUCKETS];
    size_t nbuckets;
    size_t stride; /* octets per slot, a multiple of LINE */
    cdns_series_t *series;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static cdns_metric_t *families;
static unsigned nslots = CDNS_METRICS_MAX_WORKERS;

void cdns_metrics_set_slots(unsigned n)
{
    pthread_mutex_lock(&mu);
    if (families == NULL)
        nslots = n == 0 ? 1 : n > CDNS_METRICS_MAX_WORKERS ? CDNS_METRICS_MAX_WORKERS : n;
    pthread_mutex_unlock(&mu);
}

static _Atomic uint64_t *cell(const cdns_series_t *s, unsigned worker, size_t i)
{
    if (worker >= nslots)
        worker = nslots - 1;
    return &((slot_t *)(s->slots + (size_t)worker * s->m->stride))->v[i];
}

/* ---------------------------------------------------------------- registry */
static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

static void series_free(cdns_series_t *s)
{
    if (s == NULL)
        return;
    strv_free(s->values, s->m->nlabels);
    free(s->slots);
    free(s);
}

static void metric_free(cdns_metric_t *m)
{
    while (m->series != NULL) {
        cdns_series_t *s = m->series;
        m->series = s->next;
        series_free(s);
    }
    free(m->name);
    free(m->help);
    strv_free(m->labels, m->nlabels);
    free(m);
}

cdns_metric_t *cdns_metric_register(const char *name, const char *help, cdns_metric_type_t type,
                                    const char *const *label_names, size_t nlabels, const double *buckets,
                                    size_t nbuckets)
{
    if (nlabels > CDNS_METRICS_MAX_LABELS || nbuckets > CDNS_METRICS_MAX_BUCKETS)
        return NULL;
    pthread_mutex_lock(&mu);
    cdns_metric_t *m = families;
    while (m != NULL && strcmp(m->name, name) != 0)
        m = m->next;
    if (m != NULL)
        goto out;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto out;
    m->name = xstrdup(name);
    m->help = xstrdup(help);
    m->type = type;
    m->labels = calloc(nlabels ? nlabels : 1, sizeof(char *));
    bool ok = m->name && m->help && m->labels;
    for (size_t i = 0; ok && i < nlabels; i++) {
        m->labels[i] = xstrdup(label_names[i]);
        ok = m->labels[i] != NULL;
        m->nlabels = i + 1;
    }
    if (!ok) {
        metric_free(m);
        m = NULL;
        goto out;
    }
    if (type == CDNS_METRIC_HISTOGRAM) {
        memcpy(m->buckets, buckets, nbuckets * sizeof(double));
        m->nbuckets = nbuckets;
    }
    size_t cells = type == CDNS_METRIC_HISTOGRAM ? nbuckets + 3 : 1;
    m->stride = (cells * sizeof(uint64_t) + LINE - 1) / LINE * LINE;
    /* Keep the registration order: the exposition sorts by name anyway. */
    cdns_metric_t **tail = &families;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = m;
out:
    pthread_mutex_unlock(&mu);
    return m;
}

static bool values_equal(const cdns_metric_t *m, char *const *a, const char *const *b)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(a[i], b[i] ? b[i] : "") != 0)
            return false;
    return true;
}

static cdns_series_t *series_get(cdns_metric_t *m, const char *const *label_values, bool hidden)
{
    if (m == NULL)
        return NULL;
    pthread_mutex_lock(&mu);
    cdns_series_t *s = m->series;
    while (s != NULL && !values_equal(m, s->values, label_values))
        s = s->next;
    if (s != NULL) {
        /* Asked for visibly once: visible from now on. */
        if (!hidden)
            s->hidden = false;
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out;
    s->m = m;
    s->hidden = hidden;
    s->values = calloc(m->nlabels ? m->nlabels : 1, sizeof(char *));
    s->slots = aligned_alloc(LINE, nslots * m->stride);
    bool ok = s->values != NULL && s->slots != NULL;
    for (size_t i = 0; ok && i < m->nlabels; i++)
        ok = (s->values[i] = xstrdup(label_values[i])) != NULL;
    if (!ok) {
        series_free(s);
        s = NULL;
        goto out;
    }
    memset(s->slots, 0, nslots * m->stride);
    s->next = m->series;
    m->series = s;
out:
    pthread_mutex_unlock(&mu);
    return s;
}

cdns_series_t *cdns_metric_series(cdns_metric_t *m, const char *const *label_values)
{
    return series_get(m, label_values, false);
}

cdns_series_t *cdns_metric_series_hidden(cdns_metric_t *m, const char *const *label_values)
{
    return series_get(m, label_values, true);
}

void cdns_metric_gauge_func(cdns_metric_t *m, const char *const *label_values, cdns_metric_gauge_fn fn, void *arg)
{
    cdns_series_t *s = series_get(m, label_values, false);
    if (s == NULL)
        return;
    pthread_mutex_lock(&mu);
    s->fn = fn;
    s->fn_arg = arg;
    pthread_mutex_unlock(&mu);
}

void cdns_metric_clear(cdns_metric_t *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&mu);
    while (m->series != NULL) {
        cdns_series_t *s = m->series;
        m->series = s->next;
        series_free(s);
    }
    pthread_mutex_unlock(&mu);
}

void cdns_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    while (families != NULL) {
        cdns_metric_t *m = families;
        families = m->next;
        metric_free(m);
    }
    nslots = CDNS_METRICS_MAX_WORKERS;
    pthread_mutex_unlock(&mu);
}

/* ---------------------------------------------------------------- hot path */
void cdns_series_add(cdns_series_t *s, unsigned worker, uint64_t n)
{
    if (s == NULL)
        return;
    /* A slot may be shared (the main thread uses 0, workers past nslots the last one), so this
     * is a real atomic add; on the owner's own line it costs no more than a plain increment. */
    atomic_fetch_add_explicit(cell(s, worker, 0), n, memory_order_relaxed);
}

void cdns_series_inc(cdns_series_t *s, unsigned worker)
{
    cdns_series_add(s, worker, 1);
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void cdns_series_observe(cdns_series_t *s, unsigned worker, double value)
{
    if (s == NULL || s->m->type != CDNS_METRIC_HISTOGRAM)
        return;
    const cdns_metric_t *m = s->m;
    size_t b = 0;
    while (b < m->nbuckets && value > m->buckets[b])
        b++;
    /* Buckets are stored non-cumulative (one add per observation) and summed on scrape. */
    atomic_fetch_add_explicit(cell(s, worker, b), 1, memory_order_relaxed);
    atomic_fetch_add_explicit(cell(s, worker, m->nbuckets + 1), 1, memory_order_relaxed);
    _Atomic uint64_t *sum = cell(s, worker, m->nbuckets + 2);
    uint64_t old = atomic_load_explicit(sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(sum, &old, dbits(bitsd(old) + value), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void cdns_series_set(cdns_series_t *s, double value)
{
    if (s != NULL)
        atomic_store_explicit(&s->gauge_bits, dbits(value), memory_order_relaxed);
}

static uint64_t sum_cell(const cdns_series_t *s, size_t i)
{
    uint64_t t = 0;
    for (unsigned w = 0; w < nslots; w++)
        t += atomic_load_explicit(cell(s, w, i), memory_order_relaxed);
    return t;
}

static double sum_double(const cdns_series_t *s, size_t i)
{
    double t = 0;
    for (unsigned w = 0; w < nslots; w++)
        t += bitsd(atomic_load_explicit(cell(s, w, i), memory_order_relaxed));
    return t;
}

static double value_of(const cdns_series_t *s)
{
    if (s->fn != NULL)
        return s->fn(s->fn_arg);
    switch (s->m->type) {
    case CDNS_METRIC_GAUGE:
        /* Adds to a gauge (up and down, wrapping in two's complement) come on top of set(). */
        return bitsd(atomic_load_explicit(&s->gauge_bits, memory_order_relaxed)) + (double)(int64_t)sum_cell(s, 0);
    case CDNS_METRIC_HISTOGRAM:
        return (double)sum_cell(s, s->m->nbuckets + 1);
    default:
        return (double)sum_cell(s, 0);
    }
}

double cdns_series_value(const cdns_series_t *s)
{
    if (s == NULL)
        return 0;
    pthread_mutex_lock(&mu);
    double v = value_of(s);
    pthread_mutex_unlock(&mu);
    return v;
}

/* --------------------------------------------------------------- rendering */
typedef cdns_strbuf_t buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    cdns_strbuf_put(b, s, n);
}

static void puts_(buf_t *b, const char *s)
{
    cdns_strbuf_puts(b, s);
}

static void put_escaped(buf_t *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '\n')
            puts_(b, "\\n");
        else if (quote && *s == '"')
            puts_(b, "\\\"");
        else
            put(b, s, 1);
    }
}

/* Numbers as Go's strconv.FormatFloat(v, 'g', -1, 64) prints them for the values we have:
 * integers in plain digits, otherwise the shortest text that reads back to the same double. */
int cdns_metrics_format_value(double v, char *out, size_t len)
{
    if (isnan(v))
        return snprintf(out, len, "NaN");
    if (isinf(v))
        return snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 1e21)
        return snprintf(out, len, "%.0f", v);
    for (int prec = 1; prec <= 17; prec++) {
        int n = snprintf(out, len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return n;
    }
    return snprintf(out, len, "%.17g", v);
}

static void put_value(buf_t *b, double v)
{
    char tmp[64];
    cdns_metrics_format_value(v, tmp, sizeof(tmp));
    puts_(b, tmp);
}

static void put_labels(buf_t *b, const cdns_metric_t *m, const cdns_series_t *s, const char *le)
{
    if (m->nlabels == 0 && le == NULL)
        return;
    puts_(b, "{");
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i)
            puts_(b, ",");
        puts_(b, m->labels[i]);
        puts_(b, "=\"");
        put_escaped(b, s->values[i], true);
        puts_(b, "\"");
    }
    if (le != NULL) {
        if (m->nlabels)
            puts_(b, ",");
        puts_(b, "le=\"");
        puts_(b, le);
        puts_(b, "\"");
    }
    puts_(b, "}");
}

static bool series_visible(const cdns_series_t *s)
{
    return !s->hidden || s->fn != NULL || value_of(s) != 0;
}

static void render_series(buf_t *b, const cdns_metric_t *m, const cdns_series_t *s)
{
    if (m->type != CDNS_METRIC_HISTOGRAM) {
        puts_(b, m->name);
        put_labels(b, m, s, NULL);
        puts_(b, " ");
        put_value(b, value_of(s));
        puts_(b, "\n");
        return;
    }
    uint64_t cum = 0;
    char le[64];
    for (size_t i = 0; i <= m->nbuckets; i++) {
        cum += sum_cell(s, i);
        if (i < m->nbuckets)
            cdns_metrics_format_value(m->buckets[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        puts_(b, m->name);
        puts_(b, "_bucket");
        put_labels(b, m, s, le);
        puts_(b, " ");
        put_value(b, (double)cum);
        puts_(b, "\n");
    }
    puts_(b, m->name);
    puts_(b, "_sum");
    put_labels(b, m, s, NULL);
    puts_(b, " ");
    put_value(b, sum_double(s, m->nbuckets + 2));
    puts_(b, "\n");
    puts_(b, m->name);
    puts_(b, "_count");
    put_labels(b, m, s, NULL);
    puts_(b, " ");
    /* The count is the +Inf bucket, read once above; reading the count cells again could see a
     * later value and break the invariant count == +Inf that parsers check. */
    put_value(b, (double)cum);
    puts_(b, "\n");
}

static int cmp_metric(const void *a, const void *b)
{
    return strcmp((*(cdns_metric_t *const *)a)->name, (*(cdns_metric_t *const *)b)->name);
}

static int cmp_series(const void *a, const void *b)
{
    const cdns_series_t *x = *(cdns_series_t *const *)a, *y = *(cdns_series_t *const *)b;
    for (size_t i = 0; i < x->m->nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static const char *type_name(cdns_metric_type_t t)
{
    return t == CDNS_METRIC_COUNTER ? "counter" : t == CDNS_METRIC_GAUGE ? "gauge" : "histogram";
}

int cdns_metrics_render(char **out, size_t *len)
{
    buf_t b = {0};
    int rc = CDNS_OK;
    cdns_metric_t **fams = NULL;
    cdns_series_t **ser = NULL;
    pthread_mutex_lock(&mu);
    size_t nf = 0;
    for (cdns_metric_t *m = families; m != NULL; m = m->next)
        nf++;
    fams = calloc(nf ? nf : 1, sizeof(*fams));
    if (fams == NULL) {
        rc = CDNS_ENOMEM;
        goto out;
    }
    nf = 0;
    for (cdns_metric_t *m = families; m != NULL; m = m->next)
        fams[nf++] = m;
    qsort(fams, nf, sizeof(*fams), cmp_metric);
    for (size_t f = 0; f < nf; f++) {
        const cdns_metric_t *m = fams[f];
        size_t ns = 0;
        for (cdns_series_t *s = m->series; s != NULL; s = s->next)
            ns++;
        cdns_series_t **nser = realloc(ser, (ns ? ns : 1) * sizeof(*ser));
        if (nser == NULL) {
            rc = CDNS_ENOMEM;
            goto out;
        }
        ser = nser;
        size_t nv = 0;
        for (cdns_series_t *s = m->series; s != NULL; s = s->next)
            if (series_visible(s))
                ser[nv++] = s;
        /* As Go's client: a family without series is not exposed at all. */
        if (nv == 0)
            continue;
        qsort(ser, nv, sizeof(*ser), cmp_series);
        puts_(&b, "# HELP ");
        puts_(&b, m->name);
        puts_(&b, " ");
        put_escaped(&b, m->help, false);
        puts_(&b, "\n# TYPE ");
        puts_(&b, m->name);
        puts_(&b, " ");
        puts_(&b, type_name(m->type));
        puts_(&b, "\n");
        for (size_t i = 0; i < nv; i++)
            render_series(&b, m, ser[i]);
    }
    if (b.oom)
        rc = CDNS_ENOMEM;
out:
    pthread_mutex_unlock(&mu);
    free(fams);
    free(ser);
    if (rc != CDNS_OK) {
        free(b.p);
        return rc;
    }
    if (b.p == NULL)
        b.p = calloc(1, 1);
    if (b.p == NULL)
        return CDNS_ENOMEM;
    *out = b.p;
    *len = b.len;
    return CDNS_OK;
}
