/* SPDX-License-Identifier: MIT */
/* base.c — error text, logging, diagnostics, the injectable clock and whole-file reads.
 *
 * Any thread may call these. A log line is formatted into a stack buffer and written with one
 * write(2), so concurrent lines never interleave and logging never allocates.
 */
#include "cdns/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *cdns_strerror(int err)
{
    switch (err) {
    case CDNS_OK:
        return "ok";
    case CDNS_EMALFORMED:
        return "malformed input";
    case CDNS_ENOSPC:
        return "no space left in buffer";
    default:
        return strerror(err < 0 ? -err : err);
    }
}

/* ------------------------------------------------------------------ logging */
static _Atomic int log_level = -1;

static int level_from_env(void)
{
    const char *e = getenv("CDNS_LOG_LEVEL");
    if (e == NULL)
        return CDNS_LOG_INFO;
    if (strcasecmp(e, "debug") == 0)
        return CDNS_LOG_DEBUG;
    if (strcasecmp(e, "warn") == 0 || strcasecmp(e, "warning") == 0)
        return CDNS_LOG_WARN;
    if (strcasecmp(e, "error") == 0)
        return CDNS_LOG_ERROR;
    return CDNS_LOG_INFO;
}

void cdns_log_set_level(cdns_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

bool cdns_log_enabled(cdns_log_level_t level)
{
    int cur = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (cur < 0) {
        cur = level_from_env();
        atomic_store_explicit(&log_level, cur, memory_order_relaxed);
    }
    return (int)level >= cur;
}

void cdns_logv(cdns_log_level_t level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"[DEBUG] ", "[INFO] ", "[WARNING] ", "[ERROR] "};
    if (!cdns_log_enabled(level))
        return;
    char line[2048];
    size_t n = strlen(names[level]);
    memcpy(line, names[level], n);
    int w = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    if (w < 0)
        return;
    n += (size_t)w < sizeof(line) - n - 1 ? (size_t)w : sizeof(line) - n - 2;
    line[n++] = '\n';
    ssize_t r = write(STDERR_FILENO, line, n);
    (void)r;
}

void cdns_log(cdns_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cdns_logv(level, fmt, ap);
    va_end(ap);
}

int cdns_diag_set(cdns_diag_t *d, const char *file, int line, const char *fmt, ...)
{
    if (d == NULL)
        return CDNS_EINVAL;
    size_t off = 0;
    if (file != NULL) {
        int w = snprintf(d->msg, sizeof(d->msg), "%s:%d: ", file, line);
        off = w > 0 && (size_t)w < sizeof(d->msg) ? (size_t)w : 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg + off, sizeof(d->msg) - off, fmt, ap);
    va_end(ap);
    return CDNS_EINVAL;
}

/* -------------------------------------------------------------------- clock */
static uint64_t sys_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sys_real_s(void)
{
    return (uint64_t)time(NULL);
}

static cdns_clock_fn mono_fn = sys_mono_ns;
static cdns_clock_fn real_fn = sys_real_s;

void cdns_clock_set(cdns_clock_fn mono_ns, cdns_clock_fn real_s)
{
    mono_fn = mono_ns ? mono_ns : sys_mono_ns;
    real_fn = real_s ? real_s : sys_real_s;
}

uint64_t cdns_clock_mono_ns(void)
{
    return mono_fn();
}

uint64_t cdns_clock_mono_ms(void)
{
    return mono_fn() / 1000000u;
}

uint64_t cdns_clock_real_s(void)
{
    return real_fn();
}

/* ------------------------------------------------------------------- strbuf */
void cdns_strbuf_put(cdns_strbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): p was allocated above (cap > len + n). */
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cdns_strbuf_puts(cdns_strbuf_t *b, const char *s)
{
    cdns_strbuf_put(b, s, strlen(s));
}

/* -------------------------------------------------------------------- files */
int cdns_fd_read(int fd, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return CDNS_ENOMEM;
    for (;;) {
        if (cap - n < 2) {
            char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                free(buf);
                return CDNS_ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            free(buf);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return CDNS_OK;
}

int cdns_file_read(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = cdns_fd_read(fd, out, len);
    close(fd);
    return rc;
}
