/* SPDX-License-Identifier: MIT */
/* ring.c — per-worker rings of log lines and the writer thread that drains them.
 *
 * Each ring is single-producer (its worker) / single-consumer (whoever holds drain_lock: the
 * writer thread, a flush at exit, or the main thread removing a sink). The producer touches
 * only its slot and two atomics, so a worker never waits on stderr, a pipe reader or a lock.
 * Rings, the writer thread and its state live for the whole process.
 */
#include "ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING_SLOTS 512u /* a power of two */
#define MAX_RINGS 256u
#define WRITER_PERIOD_MS 10u
#define BATCH_MAX 65536u

typedef struct slot {
    cdns_log_level_t level;
    cdns_logsink_t *sink;
    size_t aux;
    uint16_t len;
    char text[CDNS_LOGRING_LINE_MAX];
} slot_t;

struct cdns_logring {
    _Atomic uint32_t head; /* next slot the producer writes */
    _Atomic uint32_t tail; /* next slot the consumer reads */
    _Atomic uint64_t dropped;
    slot_t slots[RING_SLOTS];
};

static cdns_logring_t *_Atomic rings[MAX_RINGS];
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t writer_once = PTHREAD_ONCE_INIT;
static cdns_logsink_t *sinks; /* under drain_lock */
static uint64_t dropped_reported;

static const char *const level_names[] = {"[DEBUG] ", "[INFO] ", "[WARNING] ", "[ERROR] "};

static void write_all(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, buf, n);
        if (w <= 0)
            return;
        buf += w;
        n -= (size_t)w;
    }
}

/* Appends "[LEVEL] text\n" to the batch, writing the batch out when it would overflow. */
static void batch_line(char *batch, size_t *blen, cdns_log_level_t level, const char *text, size_t len)
{
    const char *ln = level_names[level];
    size_t need = strlen(ln) + len + 1;
    if (*blen + need > BATCH_MAX) {
        write_all(batch, *blen);
        *blen = 0;
    }
    memcpy(batch + *blen, ln, strlen(ln));
    *blen += strlen(ln);
    memcpy(batch + *blen, text, len);
    *blen += len;
    batch[(*blen)++] = '\n';
}

/* Caller holds drain_lock. */
static void drain_locked(void)
{
    static char batch[BATCH_MAX];
    size_t blen = 0;
    uint64_t dropped = 0;
    for (unsigned i = 0; i < MAX_RINGS; i++) {
        cdns_logring_t *r = atomic_load_explicit(&rings[i], memory_order_acquire);
        if (!r)
            continue;
        dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
        uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        for (; tail != head; tail++) {
            slot_t *s = &r->slots[tail & (RING_SLOTS - 1)];
            if (s->sink)
                s->sink->line(s->sink, s->level, s->text, s->len, s->aux);
            else
                batch_line(batch, &blen, s->level, s->text, s->len);
        }
        atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    if (dropped > dropped_reported) {
        char msg[128];
        int n = snprintf(msg, sizeof(msg), "plugin/log: %llu log lines dropped: the writer could not keep up",
                         (unsigned long long)(dropped - dropped_reported));
        batch_line(batch, &blen, CDNS_LOG_WARN, msg, (size_t)n);
        dropped_reported = dropped;
    }
    if (blen)
        write_all(batch, blen);
}

static void *writer(void *arg)
{
    (void)arg;
    const struct timespec period = {0, WRITER_PERIOD_MS * 1000000L};
    for (;;) {
        nanosleep(&period, NULL);
        pthread_mutex_lock(&drain_lock);
        drain_locked();
        uint64_t now = cdns_clock_mono_ms();
        for (cdns_logsink_t *s = sinks; s; s = s->next_)
            if (s->tick)
                s->tick(s, now);
        pthread_mutex_unlock(&drain_lock);
    }
    return NULL;
}

void cdns_logring_flush(void)
{
    pthread_mutex_lock(&drain_lock);
    drain_locked();
    pthread_mutex_unlock(&drain_lock);
}

static void start_writer(void)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, writer, NULL) != 0)
        cdns_warn("plugin/log: cannot start the log writer thread; lines are written at exit");
    pthread_attr_destroy(&a);
    atexit(cdns_logring_flush);
}

cdns_logring_t *cdns_logring_attach(unsigned worker_id)
{
    if (worker_id >= MAX_RINGS)
        return NULL;
    pthread_once(&writer_once, start_writer);
    cdns_logring_t *r = atomic_load_explicit(&rings[worker_id], memory_order_acquire);
    if (r)
        return r;
    /* Set-up runs on the main thread only, so there is no race between two creators. */
    if (!(r = calloc(1, sizeof(*r))))
        return NULL;
    atomic_store_explicit(&rings[worker_id], r, memory_order_release);
    return r;
}

void cdns_logring_put(cdns_logring_t *r, cdns_log_level_t level, cdns_logsink_t *sink, size_t aux, const char *text,
                      size_t len)
{
    if (!cdns_log_enabled(level))
        return;
    if (len > CDNS_LOGRING_LINE_MAX)
        len = CDNS_LOGRING_LINE_MAX;
    if (!r) {
        if (sink) {
            pthread_mutex_lock(&drain_lock);
            sink->line(sink, level, text, len, aux);
            pthread_mutex_unlock(&drain_lock);
        } else {
            cdns_log(level, "%.*s", (int)len, text);
        }
        return;
    }
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head - tail >= RING_SLOTS) {
        atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
        return;
    }
    slot_t *s = &r->slots[head & (RING_SLOTS - 1)];
    s->level = level;
    s->sink = sink;
    s->aux = aux;
    s->len = (uint16_t)len;
    memcpy(s->text, text, len);
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

void cdns_logring_add_sink(cdns_logsink_t *s)
{
    pthread_mutex_lock(&drain_lock);
    s->next_ = sinks;
    sinks = s;
    pthread_mutex_unlock(&drain_lock);
}

void cdns_logring_remove_sink(cdns_logsink_t *s)
{
    pthread_mutex_lock(&drain_lock);
    drain_locked();
    for (cdns_logsink_t **p = &sinks; *p; p = &(*p)->next_) {
        if (*p == s) {
            *p = s->next_;
            break;
        }
    }
    pthread_mutex_unlock(&drain_lock);
}

uint64_t cdns_logring_dropped(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < MAX_RINGS; i++) {
        cdns_logring_t *r = atomic_load_explicit(&rings[i], memory_order_acquire);
        if (r)
            n += atomic_load_explicit(&r->dropped, memory_order_relaxed);
    }
    return n;
}
