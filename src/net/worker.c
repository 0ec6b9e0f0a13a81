/* SPDX-License-Identifier: MIT */
/* worker.c — net's worker threads: start and stop, one libuv loop each, request slots, RCU.
 *
 * cdns_net_start/stop/stats/port run on the main thread. The main thread binds every socket (so
 * bind errors come back synchronously in diag) and hands each worker its fds; from then on the
 * worker thread owns them, its loop, its slots and its connections, and nothing else touches
 * them. The only cross-thread traffic is uv_async_send (stop) and the relaxed stats counters.
 *
 * RCU (liburcu QSBR): a worker is online while it runs callbacks and offline while its loop
 * sleeps in epoll, so an idle worker never holds up cdns_rcu_synchronize(). libuv runs I/O
 * callbacks inside its poll phase, before check handles, so "online in check" alone would be
 * too late: every net callback starts with cdns_net__rcu_online(), which is a flag test when
 * the thread is already online.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "net/net_internal.h"

/* Slot buffers are laid out on 64 KiB strides: in, then out. */
#define SLOT_STRIDE ((size_t)65536)

/* ------------------------------------------------------------------- RCU */
void cdns_net__rcu_online(cdns_net_worker_t *w)
{
    if (!w->rcu_online) {
        rcu_thread_online();
        w->rcu_online = true;
    }
}

/* cdns_worker_t.rcu_online: what a plugin's own handle (forward's sockets) calls before it
 * walks the chain; the pub member sits inside the worker. */
static void pub_rcu_online(cdns_worker_t *pw)
{
    cdns_net__rcu_online((cdns_net_worker_t *)((char *)pw - offsetof(cdns_net_worker_t, pub)));
}

void cdns_net__rcu_quiescent(cdns_net_worker_t *w)
{
    if (w->rcu_online) {
        CDNS_RCU_TSAN_QUIESCENT();
        rcu_quiescent_state();
    }
}

static void prepare_cb(uv_prepare_t *h)
{
    cdns_net_worker_t *w = h->data;
    cdns_net__rcu_online(w);
    /* Connections that were waiting for a slot (or whose responses were written) continue
     * here rather than from inside a plugin's callback, so the chain is never re-entered. */
    cdns_net__kick_starved(w);
    /* Always offline here, even when the loop looks like it will not sleep: a worker that went
     * into epoll_wait online (uv_backend_timeout said 0 here, then the poll blocked anyway)
     * held every cdns_rcu_synchronize() until its next packet, so a reload or snapshot swap
     * on an idle server hung. An offline/online pair per loop iteration (not per query) is a
     * few atomic operations. */
    CDNS_RCU_TSAN_QUIESCENT();
    rcu_thread_offline();
    w->rcu_online = false;
}

static void check_cb(uv_check_t *h)
{
    cdns_net_worker_t *w = h->data;
    cdns_net__rcu_online(w);
    cdns_net__kick_starved(w);
}

/* ----------------------------------------------------------------- slots */
static int slots_init(cdns_net_worker_t *w)
{
    w->slots = calloc(CDNS_NET_SLOTS, sizeof(*w->slots));
    /* One big malloc: glibc serves it with mmap, so pages are only touched (and counted in RSS)
     * when a request actually uses them, and the LIFO free list keeps reusing the same ones. */
    w->bufs = malloc(CDNS_NET_SLOTS * 2 * SLOT_STRIDE);
    if (w->slots == NULL || w->bufs == NULL)
        return CDNS_ENOMEM;
    for (size_t i = CDNS_NET_SLOTS; i-- > 0;) {
        cdns_net_slot_t *s = &w->slots[i];
        s->w = w;
        s->in = w->bufs + i * 2 * SLOT_STRIDE;
        s->req.out = s->in + SLOT_STRIDE;
        s->req.net_data = s;
        s->next = w->free;
        w->free = s;
    }
    w->nfree = CDNS_NET_SLOTS;
    return CDNS_OK;
}

cdns_net_slot_t *cdns_net__slot_get(cdns_net_worker_t *w)
{
    cdns_net_slot_t *s = w->free;
    if (s != NULL)
        w->free = s->next;
    else if ((s = cdns_net__ring_take(w)) == NULL)
        return NULL;
    w->nfree--;
    s->next = NULL;
    return s;
}

void cdns_net__slot_put(cdns_net_worker_t *w, cdns_net_slot_t *s)
{
    s->state = CDNS_NET_SLOT_FREE;
    s->udp = NULL;
    s->conn = NULL;
    s->next = w->free;
    w->free = s;
    w->nfree++;
}

void cdns_net__req_prepare(cdns_net_slot_t *s, size_t wire_len, bool tcp)
{
    /* Only the fields net owns or the pipeline reads before writing; q and msg are filled by
     * the pipeline (parse, msg_begin), so a full memset of the request is not needed. */
    cdns_req_t *r = &s->req;
    r->wire = s->in;
    r->wire_len = wire_len;
    r->tcp = tcp;
    r->worker = &s->w->pub;
    r->zone = NULL;
    r->zone_len = 0;
    r->server = NULL;
    r->out_len = 0;
    r->answered_by = NULL;
    r->chain_ = NULL;
    r->pos_ = 0;
    r->net_data = s;
    r->parsed_ = 0;
}

const cdns_pipeline_t *cdns_net__pipeline(const cdns_net_worker_t *w)
{
    return cdns_rcu_deref((void *const *)w->net->pipeline_slot);
}

int cdns_net__listener_index(const cdns_pipeline_t *p, const cdns_net_ep_t *ep, int cached)
{
    /* Reload may publish a pipeline whose listeners are in another order, so the cached index
     * is checked against the address it stands for (a few compares) instead of trusted. */
    size_t n = 0;
    const cdns_listener_t *ls = cdns_pipeline_listeners(p, &n);
    if (cached >= 0 && (size_t)cached < n && ls[cached].port == ep->cfg_port && strcmp(ls[cached].addr, ep->addr) == 0)
        return cached;
    return cdns_pipeline_listener_index(p, ep->addr, ep->cfg_port);
}

/* ------------------------------------------------------------------ stop */
static void walk_close(uv_handle_t *h, void *arg)
{
    CDNS_UNUSED(arg);
    /* Plugins' per-worker handles are closed too: the loop is going away with this thread. */
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void close_all(cdns_net_worker_t *w)
{
    if (w->closing_all)
        return;
    w->closing_all = true;
    for (size_t i = 0; i < w->nsock; i++) {
        cdns_net__udp_close(&w->udp[i]);
        cdns_net_tcpl_t *l = &w->tcpl[i];
        if (l->open && !uv_is_closing((uv_handle_t *)&l->tcp))
            uv_close((uv_handle_t *)&l->tcp, NULL);
        if (l->fd >= 0) {
            close(l->fd);
            l->fd = -1;
        }
    }
    cdns_net__tcp_close_all(w);
    /* Plugins' per-worker state first, so it can answer what it still holds and close its own
     * handles with its own callbacks; the walk then closes anything left. */
    for (size_t i = 0; i < CDNS_WORKER_LOCALS; i++) {
        cdns_worker_local_t *l = &w->pub.local[i];
        if (l->close != NULL) {
            void (*fn)(void *) = l->close;
            l->close = NULL;
            fn(l->data);
        }
    }
    uv_walk(&w->loop, walk_close, NULL);
}

static void drain_cb(uv_timer_t *t)
{
    cdns_net_worker_t *w = t->data;
    cdns_net__rcu_online(w);
    if (w->nfree == CDNS_NET_SLOTS || uv_now(&w->loop) >= w->drain_deadline_ms) {
        if (w->nfree != CDNS_NET_SLOTS)
            cdns_warn("net: worker %u: closing with %u requests still in flight", w->pub.id, CDNS_NET_SLOTS - w->nfree);
        uv_timer_stop(t);
        close_all(w);
    }
}

static void wake_cb(uv_async_t *a)
{
    cdns_net_worker_t *w = a->data;
    cdns_net__rcu_online(w);
    if (w->stopping)
        return;
    w->stopping = true;
    /* Stop taking new work; UDP fds stay open so ASYNC requests can still be answered. */
    for (size_t i = 0; i < w->nsock; i++) {
        cdns_net__udp_stop(&w->udp[i]);
        cdns_net_tcpl_t *l = &w->tcpl[i];
        if (l->open && !uv_is_closing((uv_handle_t *)&l->tcp))
            uv_close((uv_handle_t *)&l->tcp, NULL);
    }
    cdns_net__tcp_drain(w);
    w->drain_deadline_ms = uv_now(&w->loop) + CDNS_NET_DRAIN_MS;
    uv_timer_start(&w->drain_timer, drain_cb, 0, 10);
}

/* ---------------------------------------------------------------- thread */
static int worker_setup(cdns_net_worker_t *w)
{
    int rc;
    w->wake.data = w->prepare.data = w->check.data = w->idle_timer.data = w->drain_timer.data = w;
    if ((rc = uv_async_init(&w->loop, &w->wake, wake_cb)) != 0 || (rc = uv_prepare_init(&w->loop, &w->prepare)) != 0 ||
        (rc = uv_check_init(&w->loop, &w->check)) != 0 || (rc = uv_timer_init(&w->loop, &w->idle_timer)) != 0 ||
        (rc = uv_timer_init(&w->loop, &w->drain_timer)) != 0)
        return rc;
    uv_prepare_start(&w->prepare, prepare_cb);
    uv_check_start(&w->check, check_cb);
    /* These must not keep the loop alive on their own once the sockets are closed. */
    uv_unref((uv_handle_t *)&w->prepare);
    uv_unref((uv_handle_t *)&w->check);
    for (size_t i = 0; i < w->nsock; i++) {
        const cdns_net_ep_t *ep = &w->net->eps[i];
        if (w->udp[i].fd >= 0 && (rc = cdns_net__udp_init(w, &w->udp[i], ep, w->udp[i].fd)) != 0)
            return rc;
        if (w->tcpl[i].fd >= 0 && (rc = cdns_net__tcp_listen(w, &w->tcpl[i], ep, w->tcpl[i].fd)) != 0)
            return rc;
    }
    return CDNS_OK;
}

static void *worker_main(void *arg)
{
    cdns_net_worker_t *w = arg;
    rcu_register_thread();
    w->rcu_online = true;

    int rc = uv_loop_init(&w->loop);
    if (rc != 0) {
        for (size_t i = 0; i < w->nsock; i++) {
            if (w->udp[i].fd >= 0)
                close(w->udp[i].fd);
            if (w->tcpl[i].fd >= 0)
                close(w->tcpl[i].fd);
            w->udp[i].fd = w->tcpl[i].fd = -1;
        }
        w->start_rc = rc;
        sem_post(&w->started);
        goto out;
    }
    w->pub.loop = &w->loop;
    rc = worker_setup(w);
    w->start_rc = rc;
    sem_post(&w->started);
    if (rc == CDNS_OK)
        uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Normally close_all already ran (stop); after a failed setup it closes what was opened. */
    close_all(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    cdns_net__tcp_free_all(w);
    if (uv_loop_close(&w->loop) != 0)
        cdns_warn("net: worker %u: loop still has handles at exit", w->pub.id);
    w->pub.loop = NULL;
out:
    rcu_unregister_thread();
    return NULL;
}

/* ------------------------------------------------------------ main thread */
static void net_free(cdns_net_t *n)
{
    if (n == NULL)
        return;
    for (unsigned i = 0; n->workers != NULL && i < n->nworkers; i++) {
        cdns_net_worker_t *w = &n->workers[i];
        for (size_t k = 0; !w->thread_started && k < w->nsock; k++) {
            /* Never handed over: still ours to close. */
            if (w->udp != NULL && w->udp[k].fd >= 0)
                close(w->udp[k].fd);
            if (w->tcpl != NULL && w->tcpl[k].fd >= 0)
                close(w->tcpl[k].fd);
        }
        sem_destroy(&w->started);
        free(w->udp);
        free(w->tcpl);
        free(w->slots);
        free(w->bufs);
    }
    free(n->workers);
    free(n->eps);
    free(n);
}

/* Stops and joins every started worker (each one closes its own sockets). */
static void workers_join(cdns_net_t *n)
{
    for (unsigned i = 0; i < n->nworkers; i++) {
        cdns_net_worker_t *w = &n->workers[i];
        if (w->thread_started && w->start_rc == CDNS_OK)
            uv_async_send(&w->wake);
    }
    for (unsigned i = 0; i < n->nworkers; i++) {
        cdns_net_worker_t *w = &n->workers[i];
        if (w->thread_started) {
            pthread_join(w->thread, NULL);
            w->thread_started = false;
            /* Its fds are closed; make sure net_free does not close them again. */
            for (size_t k = 0; k < w->nsock; k++)
                w->udp[k].fd = w->tcpl[k].fd = -1;
        }
    }
}

/* Binds one socket of every endpoint for every worker. */
static int bind_all(cdns_net_t *n, cdns_diag_t *diag)
{
    for (size_t e = 0; e < n->neps; e++) {
        cdns_net_ep_t *ep = &n->eps[e];
        for (int t = 0; t < 2; t++) {
            int type = t == 0 ? SOCK_DGRAM : SOCK_STREAM;
            for (unsigned i = 0; i < n->nworkers; i++) {
                cdns_net_worker_t *w = &n->workers[i];
                int fd = -1;
                int rc = cdns_net__socket_open(ep, type, &fd);
                if (rc == -EAFNOSUPPORT && ep->addr[0] == '\0' && ep->sa.ss_family == AF_INET6) {
                    /* "Every address" on a host without IPv6: IPv4 alone is still every address. */
                    cdns_debug("net: no IPv6 on this host, listening on IPv4 only for :%u", ep->port);
                    break;
                }
                if (rc != CDNS_OK) {
                    char where[96];
                    cdns_net__ep_format(ep, where, sizeof(where));
                    return cdns_diag_set(diag, NULL, 0, "listen %s %s: %s", type == SOCK_DGRAM ? "udp" : "tcp", where,
                                         strerror(-rc));
                }
                if (type == SOCK_DGRAM)
                    w->udp[e].fd = fd;
                else
                    w->tcpl[e].fd = fd;
                /* Port 0: siblings (the other family of "") take the port just picked. */
                for (size_t s = 0; s < n->neps; s++) {
                    cdns_net_ep_t *o = &n->eps[s];
                    if (o->listener == ep->listener && o->port == 0) {
                        o->port = ep->port;
                        if (o->sa.ss_family == AF_INET)
                            ((struct sockaddr_in *)&o->sa)->sin_port = htons(ep->port);
                        else
                            ((struct sockaddr_in6 *)&o->sa)->sin6_port = htons(ep->port);
                    }
                }
            }
        }
    }
    return CDNS_OK;
}

int cdns_net_start(const cdns_net_opts_t *opts, cdns_pipeline_t *const *pipeline_slot, cdns_net_t **out,
                   cdns_diag_t *diag)
{
    int rc = CDNS_ENOMEM;
    *out = NULL;
    cdns_net_t *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return cdns_diag_set(diag, NULL, 0, "net: out of memory");
    n->opts = *opts;
    if (n->opts.nworkers == 0)
        n->opts.nworkers = 1;
    if (n->opts.tcp_idle_ms == 0)
        n->opts.tcp_idle_ms = 10000;
    if (n->opts.tcp_max_conns == 0)
        n->opts.tcp_max_conns = 1024;
    n->pipeline_slot = pipeline_slot;

    /* The main thread is the only writer of the slot, so a plain read is current. */
    const cdns_pipeline_t *p = pipeline_slot != NULL ? *pipeline_slot : NULL;
    if (p == NULL) {
        rc = cdns_diag_set(diag, NULL, 0, "net: no pipeline to serve");
        goto fail;
    }
    size_t nl = 0;
    const cdns_listener_t *ls = cdns_pipeline_listeners(p, &nl);
    n->eps = calloc(nl * 2 + 1, sizeof(*n->eps));
    if (n->eps == NULL)
        goto fail_nomem;
    for (size_t i = 0; i < nl; i++) {
        size_t k = 0;
        if ((rc = cdns_net__eps_for(&ls[i], i, &n->eps[n->neps], &k, diag)) != CDNS_OK)
            goto fail;
        n->neps += k;
    }

    n->nworkers = n->opts.nworkers;
    n->workers = calloc(n->nworkers, sizeof(*n->workers));
    if (n->workers == NULL)
        goto fail_nomem;
    for (unsigned i = 0; i < n->nworkers; i++) {
        cdns_net_worker_t *w = &n->workers[i];
        w->net = n;
        w->pub.id = i;
        w->pub.rcu_online = pub_rcu_online;
        w->nsock = n->neps;
        sem_init(&w->started, 0, 0);
        w->udp = calloc(n->neps + 1, sizeof(*w->udp));
        w->tcpl = calloc(n->neps + 1, sizeof(*w->tcpl));
        if (w->udp == NULL || w->tcpl == NULL)
            goto fail_nomem;
        for (size_t k = 0; k < n->neps; k++)
            w->udp[k].fd = w->tcpl[k].fd = -1;
        if (slots_init(w) != CDNS_OK)
            goto fail_nomem;
    }
    if ((rc = bind_all(n, diag)) != CDNS_OK)
        goto fail;

    /* Workers take no signals: the main loop handles them, and a SIGPIPE from writing to a
     * reset connection must not kill the process (libuv writes with write(2)). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < n->nworkers; i++) {
        cdns_net_worker_t *w = &n->workers[i];
        int prc = pthread_create(&w->thread, NULL, worker_main, w);
        if (prc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            rc = cdns_diag_set(diag, NULL, 0, "net: cannot start worker %u: %s", i, strerror(prc));
            goto fail_threads;
        }
        w->thread_started = true;
        char name[16];
        snprintf(name, sizeof(name), "cdns-w%u", i % 100000u);
        pthread_setname_np(w->thread, name);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    rc = CDNS_OK;
    for (unsigned i = 0; i < n->nworkers; i++) {
        cdns_net_worker_t *w = &n->workers[i];
        while (sem_wait(&w->started) != 0)
            ;
        if (w->start_rc != 0 && rc == CDNS_OK)
            rc = cdns_diag_set(diag, NULL, 0, "net: worker %u: %s", i, uv_strerror(w->start_rc));
    }
    if (rc != CDNS_OK)
        goto fail_threads_started;
    *out = n;
    return CDNS_OK;

fail_threads:
    for (unsigned i = 0; i < n->nworkers; i++)
        if (n->workers[i].thread_started)
            while (sem_wait(&n->workers[i].started) != 0)
                ;
fail_threads_started:
    workers_join(n);
    net_free(n);
    return rc;
fail_nomem:
    rc = cdns_diag_set(diag, NULL, 0, "net: out of memory");
fail:
    net_free(n);
    return rc;
}

void cdns_net_stop(cdns_net_t *n)
{
    if (n == NULL)
        return;
    workers_join(n);
    net_free(n);
}

void cdns_net_stats(const cdns_net_t *n, cdns_net_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; n != NULL && i < n->nworkers; i++) {
        const cdns_net_wstats_t *s = &n->workers[i].stats;
#define LD(f) atomic_load_explicit(&s->f, memory_order_relaxed)
        out->udp_received += LD(udp_received);
        out->udp_dropped += LD(udp_dropped_noslot) + LD(udp_dropped_send) + LD(udp_dropped_trunc);
        out->tcp_accepted += LD(tcp_accepted);
        out->tcp_refused += LD(tcp_refused);
        out->tcp_evicted += LD(tcp_evicted);
        out->tcp_idle_closed += LD(tcp_idle_closed);
        out->tcp_bad_frame += LD(tcp_bad_frame);
        out->tcp_queries += LD(tcp_queries);
        out->tcp_open += LD(tcp_open);
#undef LD
    }
}

uint16_t cdns_net_port(const cdns_net_t *n, size_t li)
{
    for (size_t e = 0; n != NULL && e < n->neps; e++)
        if (n->eps[e].listener == li)
            return n->eps[e].port;
    return 0;
}
