/* SPDX-License-Identifier: MIT */
/* health.c — forward's health checks, on the main loop, as CoreDNS's plugin/pkg/proxy does them.
 *
 * A query that fails on an upstream (timeout, connection error) kicks a probe of it from the
 * worker (cdns_fwd__kick: a flag and uv_async_send, under a mutex so stop() can close the async
 * handle safely). The main loop then sends `<domain> IN NS` (RD unless no_rec) every health_check
 * interval until one gets any response: each failure adds one to the upstream's fail count, a
 * success resets it and ends the probing. An upstream is down while its count exceeds max_fails.
 * Main thread only, except cdns_fwd__kick. The handles live in a block of their own that the
 * last close callback frees, so stop() never has to run the loop.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "forward.h"

typedef struct hc_up {
    uv_timer_t timer;   /* every health_check interval while probing */
    uv_timer_t timeout; /* one probe's deadline */
    uv_poll_t poll;
    int fd;
    uint16_t id;
    bool poll_open, inflight, probing;
    bool poll_closing; /* the poll handle's memory is in use until its close callback */
    cdns_fwd_up_t *up;
    struct cdns_fwd_hc *blk;
} hc_up_t;

typedef struct cdns_fwd_hc {
    uv_async_t kick;
    cdns_fwd_t *f;
    int handles; /* open handles; the block is freed when the last closes */
    size_t n;
    hc_up_t ups[];
} hc_block_t;

static pthread_mutex_t kick_mu = PTHREAD_MUTEX_INITIALIZER;

void cdns_fwd__kick(cdns_fwd_up_t *up)
{
    cdns_fwd_t *f = up->f;
    if (f == NULL || f->hc_ms == 0 || f->max_fails == 0)
        return;
    if (atomic_exchange(&up->kick, true))
        return; /* already asked */
    pthread_mutex_lock(&kick_mu);
    if (f->started && f->hc != NULL)
        uv_async_send(&f->hc->kick);
    pthread_mutex_unlock(&kick_mu);
}

static void handle_closed(uv_handle_t *h)
{
    hc_block_t *b = h->data;
    if (--b->handles == 0)
        free(b);
}

static void poll_closed(uv_handle_t *h)
{
    hc_up_t *u = h->data;
    hc_block_t *b = u->blk;
    u->poll_closing = false;
    if (--b->handles == 0)
        free(b);
}

static void probe_end(hc_up_t *u)
{
    uv_timer_stop(&u->timeout);
    if (u->poll_open) {
        uv_poll_stop(&u->poll);
        uv_close((uv_handle_t *)&u->poll, poll_closed);
        u->poll_open = false;
        u->poll_closing = true;
    }
    if (u->fd >= 0) {
        /* uv_poll never owns the fd, and it is stopped: closing it now is fine. */
        close(u->fd);
        u->fd = -1;
    }
    u->inflight = false;
}

static void probe_done(hc_up_t *u, bool ok)
{
    probe_end(u);
    cdns_fwd_up_t *up = u->up;
    if (ok) {
        atomic_store(&up->fails, 0);
        u->probing = false;
        uv_timer_stop(&u->timer);
        return;
    }
    uint32_t fails = atomic_fetch_add(&up->fails, 1) + 1;
    if (up->m_hc_fail)
        cdns_series_inc(up->m_hc_fail, 0);
    if (up->m_hc_fail_old)
        cdns_series_inc(up->m_hc_fail_old, 0);
    if (fails == up->f->max_fails + 1)
        cdns_warn("plugin/forward: upstream %s is down after %u failed health checks", up->name, fails);
}

static void hc_read(uv_poll_t *h, int status, int events)
{
    hc_up_t *u = h->data;
    CDNS_UNUSED(events);
    if (!u->inflight)
        return;
    uint8_t buf[512];
    ssize_t n = status < 0 ? -1 : recv(u->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        probe_done(u, false); /* ECONNREFUSED: nobody listens there */
        return;
    }
    /* Any response counts (REFUSED, SERVFAIL ...): the upstream is alive. */
    if (n >= CDNS_DNS_HDR_LEN && ((buf[0] << 8) | buf[1]) == u->id && (buf[2] & 0x80))
        probe_done(u, true);
}

static void hc_timeout_cb(uv_timer_t *t)
{
    hc_up_t *u = t->data;
    if (u->inflight)
        probe_done(u, false);
}

static void probe(hc_up_t *u)
{
    cdns_fwd_up_t *up = u->up;
    cdns_fwd_t *f = up->f;
    if (u->inflight || u->poll_closing)
        return; /* the next tick probes */
    uint8_t q[CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4];
    uint16_t id = 0;
    while (getrandom(&id, sizeof(id), 0) < 0 && errno == EINTR)
        ;
    memset(q, 0, CDNS_DNS_HDR_LEN);
    q[0] = (uint8_t)(id >> 8);
    q[1] = (uint8_t)id;
    q[2] = f->hc_rd ? 0x01 : 0x00;
    q[5] = 1;
    size_t nl = cdns_dname_len(f->hc_domain);
    memcpy(q + CDNS_DNS_HDR_LEN, f->hc_domain, nl);
    uint8_t *p = q + CDNS_DNS_HDR_LEN + nl;
    p[0] = 0;
    p[1] = CDNS_T_NS;
    p[2] = 0;
    p[3] = CDNS_C_IN;
    size_t qlen = CDNS_DNS_HDR_LEN + nl + 4;
    u->inflight = true;
    u->id = id;
    /* A connected socket: only the upstream's replies reach it, and a closed port shows up as
     * ECONNREFUSED at once instead of a timeout. */
    int fd = socket(up->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&up->sa, up->salen) != 0 ||
        uv_poll_init(f->main_loop, &u->poll, fd) != 0) {
        if (fd >= 0)
            close(fd);
        probe_done(u, false);
        return;
    }
    u->fd = fd;
    u->poll_open = true;
    u->poll.data = u;
    u->blk->handles++;
    uv_poll_start(&u->poll, UV_READABLE, hc_read);
    uv_timer_start(&u->timeout, hc_timeout_cb, CDNS_FWD_HC_TIMEOUT_MS, 0);
    if (send(fd, q, qlen, 0) < 0)
        probe_done(u, false);
}

static void hc_tick(uv_timer_t *t)
{
    hc_up_t *u = (hc_up_t *)((char *)t - offsetof(hc_up_t, timer));
    probe(u);
}

static void kick_cb(uv_async_t *a)
{
    hc_block_t *b = a->data;
    for (size_t i = 0; i < b->n; i++) {
        hc_up_t *u = &b->ups[i];
        if (!atomic_exchange(&u->up->kick, false) || u->probing)
            continue;
        u->probing = true;
        uv_timer_start(&u->timer, hc_tick, 0, b->f->hc_ms);
    }
}

int cdns_fwd__start(void *inst, uv_loop_t *loop)
{
    cdns_fwd_t *f = inst;
    f->main_loop = loop;
    if (f->hc_ms != 0 && f->max_fails != 0) {
        hc_block_t *b = calloc(1, sizeof(*b) + f->to.nup * sizeof(hc_up_t));
        if (b == NULL || uv_async_init(loop, &b->kick, kick_cb) != 0) {
            free(b);
            return CDNS_ENOMEM;
        }
        b->f = f;
        b->n = f->to.nup;
        b->kick.data = b;
        b->handles = 1;
        for (size_t i = 0; i < b->n; i++) {
            hc_up_t *u = &b->ups[i];
            u->up = &f->to.up[i];
            u->blk = b;
            u->fd = -1;
            uv_timer_init(loop, &u->timer);
            uv_timer_init(loop, &u->timeout);
            u->timer.data = u->timeout.data = u;
            b->handles += 2;
        }
        f->hc = b;
    }
    pthread_mutex_lock(&kick_mu);
    f->started = true;
    pthread_mutex_unlock(&kick_mu);
    if (f->stub_dir != NULL)
        cdns_fwd__stubs_start(f, loop);
    return CDNS_OK;
}

void cdns_fwd__stop(void *inst)
{
    cdns_fwd_t *f = inst;
    if (!f->started)
        return;
    pthread_mutex_lock(&kick_mu);
    f->started = false;
    hc_block_t *b = f->hc;
    f->hc = NULL;
    pthread_mutex_unlock(&kick_mu);
    if (f->stub_dir != NULL)
        cdns_fwd__stubs_stop(f);
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++) {
        hc_up_t *u = &b->ups[i];
        probe_end(u);
        u->timer.data = u->timeout.data = b;
        uv_close((uv_handle_t *)&u->timer, handle_closed);
        uv_close((uv_handle_t *)&u->timeout, handle_closed);
    }
    uv_close((uv_handle_t *)&b->kick, handle_closed);
}
