/* SPDX-License-Identifier: MIT */
/* forward.c — the forward plugin's query path: a parked request, an upstream query, a resume.
 *
 * Worker threads only. Each worker owns one fwd_w_t (made on first use, kept in the worker's
 * CDNS_WORKER_LOCAL_FORWARD slot, closed by net when the worker stops): 64 UDP sockets per address
 * family bound to ephemeral ports, one pipelined TCP connection per upstream, and a fixed pool of
 * pending queries, each with its own timer. serve() copies the client's query with a fresh random
 * ID, sends it on a randomly chosen socket and returns ASYNC; a reply is taken only if it comes
 * from the upstream's address and carries that ID and the same question, otherwise it is
 * ignored. The accepted reply becomes the response in raw mode (client's ID and question case).
 * Timeouts fail over to the next upstream by policy until the 5 s budget or the attempt cap is
 * spent, then SERVFAIL. Nothing is allocated per query; a parked request holds no snapshot.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "forward.h"

#define NSOCK 64      /* UDP sockets per family and worker: the source port is one of 64 at random */
#define NPEND 1024    /* queries in flight per worker (net has 256 slots; sub-queries add some) */
#define QCAP 4096     /* largest query forwarded: a question and an OPT record need far less */
#define RX_CAP 65536  /* receive buffer: the largest reply */
#define UDP_ROUNDS 32 /* datagrams read per readable event */

typedef struct fwd_w fwd_w_t;
typedef struct usock usock_t;
typedef struct tconn tconn_t;

typedef struct pend {
    cdns_req_t *req;
    cdns_fwd_t *f;
    fwd_w_t *fw;
    const cdns_fwd_set_t *set;
    cdns_fwd_stubs_t *stubs;  /* held reference when set comes from the stub rules */
    cdns_fwd_up_t *up;        /* the upstream of the attempt in flight */
    struct pend *next, *prev; /* on its socket's or connection's list while an attempt is in flight */
    usock_t *sock;
    tconn_t *conn;
    uv_timer_t timer;
    uv_write_t wr;
    uint64_t start_ns, attempt_ns, deadline_ms;
    uint32_t attempts, failovers;
    uint16_t id;
    uint8_t order[CDNS_FWD_MAX_UPSTREAMS];
    uint8_t next_i;  /* index into order of the next upstream to try */
    uint8_t skipped; /* consecutive upstreams skipped as down */
    bool in_use, in_serve, writing, done_in_serve, tcp_retry, counted;
    cdns_verdict_t verdict; /* for done_in_serve */
    uint8_t lenhdr[2];
    uint16_t qlen;
    uint8_t query[QCAP];
} pend_t;

struct usock {
    uv_poll_t poll;
    fwd_w_t *fw;
    int fd;
    pend_t *head;
};

struct tconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_timer_t idle;
    fwd_w_t *fw;
    tconn_t *next;
    struct sockaddr_storage sa;
    pend_t *head;
    uint8_t *rbuf;
    size_t rlen, rcap;
    int handles; /* open handles (tcp, idle) still to be closed */
    bool dead;   /* failed or closing: not reused */
};

struct fwd_w {
    uv_loop_t *loop;
    cdns_worker_t *w;
    usock_t s4[NSOCK], s6[NSOCK];
    bool s4_open, s6_open;
    pend_t *pend;
    pend_t *free;
    tconn_t *conns;
    int open_handles; /* fwd_w_t is freed when the last closes (after close()) */
    bool closing;
    uint8_t rnd[256];
    size_t rnd_pos;
    uint8_t rx[RX_CAP];
};

/* ------------------------------------------------------------------ metrics */
static cdns_metric_t *m_requests, *m_responses, *m_dur_old, *m_dur, *m_hc_fail, *m_hc_fail_old, *m_broken, *m_rejects;
static cdns_series_t *s_broken, *s_rejects;

void cdns_fwd__metrics_init(void)
{
    static const char *to[] = {"to"}, *to_rcode[] = {"to", "rcode"}, *p_to[] = {"proxy_name", "to"},
                      *p_to_rcode[] = {"proxy_name", "to", "rcode"};
    const double *b = cdns_metrics_duration_buckets;
    size_t nb = cdns_metrics_duration_nbuckets;
    m_requests = cdns_metric_register("coredns_forward_requests_total", "Counter of requests made per upstream.",
                                      CDNS_METRIC_COUNTER, to, 1, NULL, 0);
    m_responses = cdns_metric_register("coredns_forward_responses_total", "Counter of responses received per upstream.",
                                       CDNS_METRIC_COUNTER, to_rcode, 2, NULL, 0);
    m_dur_old =
        cdns_metric_register("coredns_forward_request_duration_seconds", "Histogram of the time each request took.",
                             CDNS_METRIC_HISTOGRAM, to_rcode, 2, b, nb);
    m_dur = cdns_metric_register("coredns_proxy_request_duration_seconds", "Histogram of the time each request took.",
                                 CDNS_METRIC_HISTOGRAM, p_to_rcode, 3, b, nb);
    m_hc_fail =
        cdns_metric_register("coredns_proxy_healthcheck_failures_total",
                             "Counter of the number of failed healthchecks.", CDNS_METRIC_COUNTER, p_to, 2, NULL, 0);
    m_hc_fail_old =
        cdns_metric_register("coredns_forward_healthcheck_failures_total",
                             "Counter of the number of failed healthchecks.", CDNS_METRIC_COUNTER, to, 1, NULL, 0);
    m_broken = cdns_metric_register("coredns_forward_healthcheck_broken_total",
                                    "Counter of the number of complete failures of the healthchecks.",
                                    CDNS_METRIC_COUNTER, NULL, 0, NULL, 0);
    m_rejects = cdns_metric_register(
        "coredns_forward_max_concurrent_rejects_total",
        "Counter of the number of queries rejected because the concurrent queries were at maximum.",
        CDNS_METRIC_COUNTER, NULL, 0, NULL, 0);
    if (m_broken != NULL)
        s_broken = cdns_metric_series(m_broken, NULL);
    if (m_rejects != NULL)
        s_rejects = cdns_metric_series(m_rejects, NULL);
}

static const char *rcode_label(uint16_t rc, char buf[8])
{
    const char *n = cdns_rcode_name(rc);
    if (n != NULL)
        return n;
    snprintf(buf, 8, "%u", rc);
    return buf;
}

void cdns_fwd__up_metrics(cdns_fwd_up_t *up)
{
    const char *to[] = {up->name};
    const char *p_to[] = {"forward", up->name};
    up->m_requests = m_requests ? cdns_metric_series(m_requests, to) : NULL;
    up->m_hc_fail = m_hc_fail ? cdns_metric_series(m_hc_fail, p_to) : NULL;
    up->m_hc_fail_old = m_hc_fail_old ? cdns_metric_series(m_hc_fail_old, to) : NULL;
    for (uint16_t rc = 0; rc < 6; rc++) {
        char buf[8];
        const char *to_rc[] = {up->name, rcode_label(rc, buf)};
        const char *p_to_rc[] = {"forward", up->name, rcode_label(rc, buf)};
        up->m_resp[rc] = m_responses ? cdns_metric_series(m_responses, to_rc) : NULL;
        up->m_dur_old[rc] = m_dur_old ? cdns_metric_series(m_dur_old, to_rc) : NULL;
        up->m_dur[rc] = m_dur ? cdns_metric_series(m_dur, p_to_rc) : NULL;
    }
}

static void count_response(const pend_t *p, uint16_t rcode, unsigned wid)
{
    cdns_fwd_up_t *up = p->up;
    double secs = (double)(cdns_clock_mono_ns() - p->attempt_ns) / 1e9;
    cdns_series_t *resp = NULL, *dur = NULL, *dur_old = NULL;
    if (rcode < 6) {
        resp = up->m_resp[rcode];
        dur = up->m_dur[rcode];
        dur_old = up->m_dur_old[rcode];
    } else {
        /* Rare rcodes: the lookup takes the metrics lock, once per such reply. */
        char buf[8];
        const char *to_rc[] = {up->name, rcode_label(rcode, buf)};
        const char *p_to_rc[] = {"forward", up->name, rcode_label(rcode, buf)};
        resp = m_responses ? cdns_metric_series(m_responses, to_rc) : NULL;
        dur_old = m_dur_old ? cdns_metric_series(m_dur_old, to_rc) : NULL;
        dur = m_dur ? cdns_metric_series(m_dur, p_to_rc) : NULL;
    }
    if (resp)
        cdns_series_inc(resp, wid);
    if (dur)
        cdns_series_observe(dur, wid, secs);
    if (dur_old)
        cdns_series_observe(dur_old, wid, secs);
}

/* -------------------------------------------------------------- randomness */
/* A buffer of getrandom() output: IDs and socket choices an off-path attacker cannot predict,
 * at one syscall per 128 queries. */
static void rnd_bytes(fwd_w_t *fw, void *out, size_t n)
{
    if (fw->rnd_pos + n > sizeof(fw->rnd)) {
        size_t got = 0;
        while (got < sizeof(fw->rnd)) {
            ssize_t r = getrandom(fw->rnd + got, sizeof(fw->rnd) - got, 0);
            if (r > 0)
                got += (size_t)r;
            else if (errno != EINTR)
                abort(); /* no kernel randomness: refuse to send guessable queries */
        }
        fw->rnd_pos = 0;
    }
    memcpy(out, fw->rnd + fw->rnd_pos, n);
    fw->rnd_pos += n;
}

static unsigned rnd_below(fwd_w_t *fw, unsigned n)
{
    uint32_t v;
    rnd_bytes(fw, &v, sizeof(v));
    /* NOLINTNEXTLINE(clang-analyzer-core.DivideZero): callers pass nup, which setup keeps >= 1. */
    return (unsigned)(v % n);
}

/* ------------------------------------------------------------ per-worker */
static void fw_close(void *data);

static fwd_w_t *fw_get(cdns_worker_t *w)
{
    cdns_worker_local_t *l = &w->local[CDNS_WORKER_LOCAL_FORWARD];
    if (l->data != NULL)
        return l->data;
    fwd_w_t *fw = calloc(1, sizeof(*fw));
    pend_t *pend = calloc(NPEND, sizeof(pend_t));
    if (fw == NULL || pend == NULL) {
        free(fw);
        free(pend);
        return NULL;
    }
    fw->loop = w->loop;
    fw->w = w;
    fw->pend = pend;
    fw->rnd_pos = sizeof(fw->rnd);
    for (size_t i = NPEND; i-- > 0;) {
        uv_timer_init(fw->loop, &pend[i].timer);
        pend[i].timer.data = &pend[i];
        pend[i].fw = fw;
        pend[i].next = fw->free;
        fw->free = &pend[i];
        fw->open_handles++;
    }
    l->data = fw;
    l->close = fw_close;
    return fw;
}

static int usock_open(fwd_w_t *fw, usock_t *s, int family);
static void udp_cb(uv_poll_t *h, int status, int events);

static usock_t *usock_pick(fwd_w_t *fw, const cdns_fwd_t *f, int family)
{
    usock_t *arr = family == AF_INET6 ? fw->s6 : fw->s4;
    bool *open = family == AF_INET6 ? &fw->s6_open : &fw->s4_open;
    if (!*open) {
        for (size_t i = 0; i < NSOCK; i++)
            arr[i].fd = -1;
        *open = true;
    }
    usock_t *s = &arr[rnd_below(fw, NSOCK)];
    if (s->fd < 0) {
        const struct sockaddr_storage *src = f->has_source && f->source.ss_family == family ? &f->source : NULL;
        s->fw = fw;
        if (usock_open(fw, s, family) != CDNS_OK)
            return NULL;
        if (src != NULL)
            (void)bind(s->fd, (const struct sockaddr *)src,
                       family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    }
    return s;
}

static int usock_open(fwd_w_t *fw, usock_t *s, int family)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Bound on first send to an ephemeral port the kernel picks at random. */
    if (uv_poll_init(fw->loop, &s->poll, fd) != 0) {
        close(fd);
        return CDNS_EIO;
    }
    s->fd = fd;
    s->poll.data = s;
    fw->open_handles++;
    uv_poll_start(&s->poll, UV_READABLE, udp_cb);
    return CDNS_OK;
}

/* ----------------------------------------------------------- the attempt */
static void attempt(pend_t *p);
static void conn_idle(tconn_t *c, uint64_t expire_ms);

static void fw_handle_closed(fwd_w_t *fw)
{
    if (--fw->open_handles == 0 && fw->closing) {
        free(fw->pend);
        free(fw);
    }
}

static void unlink_pend(pend_t *p)
{
    pend_t **head = p->sock ? &p->sock->head : p->conn ? &p->conn->head : NULL;
    if (head == NULL)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        *head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->next = p->prev = NULL;
    tconn_t *c = p->conn;
    p->sock = NULL;
    p->conn = NULL;
    if (c != NULL && c->head == NULL && !c->dead)
        conn_idle(c, p->f->expire_ms);
}

static void link_pend(pend_t **head, pend_t *p)
{
    p->prev = NULL;
    p->next = *head;
    if (*head)
        (*head)->prev = p;
    *head = p;
}

static void pend_free(pend_t *p)
{
    p->in_use = false;
    if (p->writing)
        return; /* the write callback frees it: libuv still reads p->query */
    fwd_w_t *fw = p->fw;
    p->next = fw->free;
    fw->free = p;
}

/* Ends the query: the verdict goes to the pipeline (or back to serve() when still inside it). */
static void finish(pend_t *p, cdns_verdict_t v)
{
    uv_timer_stop(&p->timer);
    unlink_pend(p);
    cdns_req_t *req = p->req;
    cdns_fwd_t *f = p->f;
    if (p->counted)
        atomic_fetch_sub_explicit(&f->concurrent, 1, memory_order_relaxed);
    if (p->stubs != NULL)
        cdns_fwd__stubs_release(p->stubs);
    p->stubs = NULL;
    bool in_serve = p->in_serve;
    if (in_serve) {
        p->done_in_serve = true;
        p->verdict = v;
        return; /* serve() frees it */
    }
    pend_free(p);
    cdns_req_resume(req, v);
}

static void fail_servfail(pend_t *p, const char *why)
{
    cdns_msg_t *m = &p->req->msg;
    m->flags &= (uint16_t)~CDNS_F_AA;
    cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL);
    p->req->error = why;
    finish(p, CDNS_DONE);
}

/* An attempt failed without a usable reply (timeout, connection error): kick the health check
 * and go on with the next upstream. */
static void attempt_failed(pend_t *p)
{
    uv_timer_stop(&p->timer);
    unlink_pend(p);
    if (p->up != NULL && p->f->max_fails != 0)
        cdns_fwd__kick(p->up);
    attempt(p);
}

static void timeout_cb(uv_timer_t *t)
{
    pend_t *p = t->data;
    if (p->in_use)
        attempt_failed(p);
}

static bool is_nodata(const uint8_t *b, size_t len)
{
    return len >= CDNS_DNS_HDR_LEN && (b[3] & 0x0f) == 0 && b[6] == 0 && b[7] == 0;
}

static void send_udp(pend_t *p);
static int send_tcp(pend_t *p);

/* A reply that matched. */
static void on_reply(pend_t *p, const uint8_t *buf, size_t len, bool via_tcp)
{
    uv_timer_stop(&p->timer);
    unlink_pend(p);
    cdns_fwd_t *f = p->f;
    uint16_t flags = (uint16_t)((buf[2] << 8) | buf[3]);
    uint16_t rcode = flags & 0x000f;
    count_response(p, rcode, p->fw->w->id);
    if ((flags & CDNS_F_TC) && !via_tcp) {
        /* Truncated over UDP: ask the same upstream again over TCP. */
        p->tcp_retry = true;
        p->attempt_ns = cdns_clock_mono_ns();
        if (send_tcp(p) != CDNS_OK)
            attempt_failed(p);
        return;
    }
    if ((f->failover_rcodes & (1u << rcode)) && p->failovers + 1 < p->set->nup) {
        p->failovers++;
        attempt(p);
        return;
    }
    if ((f->next_rcodes & (1u << rcode)) || (f->next_on_nodata && is_nodata(buf, len))) {
        finish(p, CDNS_NEXT);
        return;
    }
    if (cdns_msg_set_raw(&p->req->msg, buf, len, &p->req->q) != CDNS_OK) {
        fail_servfail(p, "forward: reply does not fit");
        return;
    }
    finish(p, CDNS_DONE);
}

static bool sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* Finds the query a reply answers: same ID, sent to the address it came from, same question. */
static pend_t *match(pend_t *head, const uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
    if (len < CDNS_DNS_HDR_LEN)
        return NULL;
    uint16_t id = (uint16_t)((buf[0] << 8) | buf[1]);
    for (pend_t *p = head; p != NULL; p = p->next)
        if (p->id == id && (from == NULL || sa_equal(from, &p->up->sa)) &&
            cdns_msg_reply_matches(buf, len, id, &p->req->q))
            return p;
    return NULL;
}

static void udp_cb(uv_poll_t *h, int status, int events)
{
    usock_t *s = h->data;
    fwd_w_t *fw = s->fw;
    CDNS_UNUSED(events);
    if (status < 0)
        return;
    for (int i = 0; i < UDP_ROUNDS && s->fd >= 0; i++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(s->fd, fw->rx, sizeof(fw->rx), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN, or an ICMP error we have no use for */
        }
        pend_t *p = match(s->head, fw->rx, (size_t)n, &from);
        if (p == NULL)
            continue; /* spoofed, late or stray: ignored, the real answer may still come */
        on_reply(p, fw->rx, (size_t)n, false);
    }
}

static void send_udp(pend_t *p)
{
    fwd_w_t *fw = p->fw;
    int family = p->up->sa.ss_family;
    usock_t *s = usock_pick(fw, p->f, family);
    if (s == NULL) {
        attempt_failed(p);
        return;
    }
    /* A fresh ID that no other query on this socket uses. */
    for (int tries = 0;; tries++) {
        rnd_bytes(fw, &p->id, sizeof(p->id));
        pend_t *q = s->head;
        while (q != NULL && q->id != p->id)
            q = q->next;
        if (q == NULL || tries > 8)
            break;
    }
    p->query[0] = (uint8_t)(p->id >> 8);
    p->query[1] = (uint8_t)p->id;
    ssize_t r;
    do
        r = sendto(s->fd, p->query, p->qlen, MSG_DONTWAIT, (const struct sockaddr *)&p->up->sa, p->up->salen);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        attempt_failed(p);
        return;
    }
    p->sock = s;
    link_pend(&s->head, p);
}

/* ------------------------------------------------------------------- TCP */
static void conn_handle_closed(uv_handle_t *h)
{
    tconn_t *c = h->data;
    fwd_w_t *fw = c->fw;
    if (--c->handles == 0) {
        free(c->rbuf);
        free(c);
    }
    fw_handle_closed(fw);
}

/* Takes c out of use; its queries in flight fail over. */
static void conn_kill(tconn_t *c)
{
    if (c->dead)
        return;
    c->dead = true;
    fwd_w_t *fw = c->fw;
    for (tconn_t **pp = &fw->conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    while (c->head != NULL) {
        pend_t *p = c->head;
        unlink_pend(p);
        if (!fw->closing)
            attempt_failed(p);
    }
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void idle_cb(uv_timer_t *t)
{
    tconn_t *c = t->data;
    if (c->head == NULL)
        conn_kill(c); /* expire: unused this long */
}

static void conn_idle(tconn_t *c, uint64_t expire_ms)
{
    uv_timer_start(&c->idle, idle_cb, expire_ms ? expire_ms : 1, 0);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    tconn_t *c = h->data;
    CDNS_UNUSED(hint);
    if (c->rcap - c->rlen < 4096 && c->rcap < 2 + 65535 + 4096) {
        size_t ncap = c->rcap ? c->rcap * 2 : 8192;
        if (ncap > 2 + 65535 + 4096)
            ncap = 2 + 65535 + 4096;
        uint8_t *nb = realloc(c->rbuf, ncap);
        if (nb != NULL) {
            c->rbuf = nb;
            c->rcap = ncap;
        }
    }
    buf->base = (char *)c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    tconn_t *c = st->data;
    CDNS_UNUSED(buf);
    if (n < 0) {
        conn_kill(c);
        return;
    }
    c->rlen += (size_t)n;
    size_t off = 0;
    while (c->rlen - off >= 2) {
        size_t flen = ((size_t)c->rbuf[off] << 8) | c->rbuf[off + 1];
        if (c->rlen - off - 2 < flen)
            break;
        const uint8_t *msg = c->rbuf + off + 2;
        pend_t *p = match(c->head, msg, flen, NULL);
        if (p != NULL)
            on_reply(p, msg, flen, true);
        off += 2 + flen;
        if (c->dead)
            return;
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    if (c->rlen == c->rcap)
        conn_kill(c); /* a frame larger than any DNS message */
}

static void conn_connected(uv_connect_t *req, int status)
{
    tconn_t *c = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_kill(c);
        return;
    }
    if (!c->dead)
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static tconn_t *conn_get(fwd_w_t *fw, const cdns_fwd_t *f, const cdns_fwd_up_t *up)
{
    for (tconn_t *c = fw->conns; c != NULL; c = c->next)
        if (!c->dead && sa_equal(&c->sa, &up->sa))
            return c;
    tconn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->fw = fw;
    c->sa = up->sa;
    uv_tcp_init(fw->loop, &c->tcp);
    uv_timer_init(fw->loop, &c->idle);
    c->tcp.data = c->idle.data = c->connect.data = c;
    c->handles = 2;
    fw->open_handles += 2;
    c->next = fw->conns;
    fw->conns = c;
    if (f->has_source && f->source.ss_family == up->sa.ss_family)
        uv_tcp_bind(&c->tcp, (const struct sockaddr *)&f->source, 0);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&up->sa, conn_connected) != 0) {
        conn_kill(c);
        return NULL;
    }
    return c;
}

static void write_cb(uv_write_t *wr, int status)
{
    pend_t *p = wr->data;
    p->writing = false;
    if (!p->in_use) {
        pend_free(p); /* finished while the write was queued: now it may be reused */
        return;
    }
    if (status < 0 && p->conn != NULL)
        conn_kill(p->conn);
}

static int send_tcp(pend_t *p)
{
    fwd_w_t *fw = p->fw;
    if (p->writing)
        return CDNS_EIO; /* the previous write still holds the buffer */
    tconn_t *c = conn_get(fw, p->f, p->up);
    if (c == NULL)
        return CDNS_EIO;
    for (int tries = 0;; tries++) {
        rnd_bytes(fw, &p->id, sizeof(p->id));
        pend_t *q = c->head;
        while (q != NULL && q->id != p->id)
            q = q->next;
        if (q == NULL || tries > 8)
            break;
    }
    p->query[0] = (uint8_t)(p->id >> 8);
    p->query[1] = (uint8_t)p->id;
    p->lenhdr[0] = (uint8_t)(p->qlen >> 8);
    p->lenhdr[1] = (uint8_t)p->qlen;
    uv_buf_t bufs[2] = {uv_buf_init((char *)p->lenhdr, 2), uv_buf_init((char *)p->query, p->qlen)};
    p->wr.data = p;
    if (uv_write(&p->wr, (uv_stream_t *)&c->tcp, bufs, 2, write_cb) != 0)
        return CDNS_EIO;
    p->writing = true;
    uv_timer_stop(&c->idle);
    p->conn = c;
    link_pend(&c->head, p);
    uv_timer_start(&p->timer, timeout_cb, p->f->read_timeout_ms, 0);
    return CDNS_OK;
}

/* ----------------------------------------------------------------- policy */
bool cdns_fwd__up_down(const cdns_fwd_t *f, const cdns_fwd_up_t *up)
{
    /* CoreDNS's Proxy.Down: more failed health checks in a row than max_fails. */
    if (f->max_fails == 0 || up->f == NULL)
        return false;
    return atomic_load_explicit(&up->fails, memory_order_relaxed) > f->max_fails;
}

static void order_init(pend_t *p)
{
    size_t n = p->set->nup;
    for (size_t i = 0; i < n; i++)
        p->order[i] = (uint8_t)i;
    switch (p->f->policy) {
    case CDNS_FWD_RANDOM:
        for (size_t i = n; i > 1; i--) {
            size_t j = rnd_below(p->fw, (unsigned)i);
            uint8_t t = p->order[i - 1];
            p->order[i - 1] = p->order[j];
            p->order[j] = t;
        }
        break;
    case CDNS_FWD_ROUND_ROBIN: {
        /* NOLINTNEXTLINE(clang-analyzer-core.DivideZero): setup refuses a forward without upstreams. */
        unsigned start = atomic_fetch_add_explicit(&p->f->rr, 1, memory_order_relaxed) % (unsigned)n;
        for (size_t i = 0; i < n; i++)
            p->order[i] = (uint8_t)((start + i) % n);
        break;
    }
    case CDNS_FWD_SEQUENTIAL:
        break;
    }
}

/* Starts the next attempt, or ends the query when the budget is spent. */
static void attempt(pend_t *p)
{
    cdns_fwd_t *f = p->f;
    fwd_w_t *fw = p->fw;
    size_t n = p->set->nup;
    uint32_t cap = f->max_connect_attempts ? f->max_connect_attempts : (uint32_t)(2 * n);
    for (;;) {
        uint64_t now = uv_now(fw->loop);
        if (fw->closing || now >= p->deadline_ms || p->attempts >= cap) {
            fail_servfail(p, "forward: no upstream answered");
            return;
        }
        if (p->next_i >= n)
            p->next_i = 0;
        cdns_fwd_up_t *up = &p->set->up[p->order[p->next_i++]];
        if (cdns_fwd__up_down(f, up)) {
            if (++p->skipped < n)
                continue;
            /* Every upstream is down: health checking itself is probably broken, so one is
             * tried at random rather than failing closed (unless told to fail fast). */
            if (s_broken)
                cdns_series_inc(s_broken, fw->w->id);
            if (f->failfast) {
                fail_servfail(p, "forward: no healthy upstream");
                return;
            }
            up = &p->set->up[rnd_below(fw, (unsigned)n)];
        }
        p->skipped = 0;
        p->up = up;
        p->attempts++;
        p->attempt_ns = cdns_clock_mono_ns();
        if (up->m_requests)
            cdns_series_inc(up->m_requests, fw->w->id);
        bool tcp = f->force_tcp || (p->req->tcp && !f->prefer_udp);
        uint64_t left = p->deadline_ms - now;
        uint64_t tmo = f->read_timeout_ms < left ? f->read_timeout_ms : left;
        if (tcp) {
            if (send_tcp(p) != CDNS_OK) {
                if (f->max_fails != 0)
                    cdns_fwd__kick(up);
                continue;
            }
            uv_timer_start(&p->timer, timeout_cb, tmo, 0);
            return;
        }
        send_udp(p);
        if (p->sock == NULL)
            return; /* send_udp failed over itself (attempt_failed ran) */
        uv_timer_start(&p->timer, timeout_cb, tmo, 0);
        return;
    }
}

/* ------------------------------------------------------------------ serve */
static bool match_name(const cdns_fwd_t *f, const uint8_t *qname)
{
    if (!cdns_dname_is_sub(qname, f->from))
        return false;
    if (cdns_dname_equal(qname, f->from))
        return true;
    for (size_t i = 0; i < f->nexcept; i++)
        if (cdns_dname_is_sub(qname, f->except[i]))
            return false;
    return true;
}

cdns_verdict_t cdns_fwd__serve(cdns_req_t *req, void *inst, void *ws)
{
    cdns_fwd_t *f = inst;
    CDNS_UNUSED(ws);
    const cdns_query_t *q = &req->q;
    if (!q->has_question || !match_name(f, q->qname_lower))
        return CDNS_NEXT;
    cdns_msg_t *m = &req->msg;
    if (f->max_concurrent > 0) {
        long now = atomic_fetch_add_explicit(&f->concurrent, 1, memory_order_relaxed) + 1;
        if (now > f->max_concurrent) {
            atomic_fetch_sub_explicit(&f->concurrent, 1, memory_order_relaxed);
            if (s_rejects)
                cdns_series_inc(s_rejects, req->worker ? req->worker->id : 0);
            cdns_msg_set_rcode(m, CDNS_RCODE_REFUSED);
            req->error = "forward: concurrent queries exceeded maximum";
            return CDNS_DONE;
        }
    }
    fwd_w_t *fw = req->worker != NULL && req->worker->loop != NULL ? fw_get(req->worker) : NULL;
    pend_t *p = fw != NULL && !fw->closing ? fw->free : NULL;
    if (p == NULL || req->wire_len > QCAP || req->wire_len < CDNS_DNS_HDR_LEN) {
        if (f->max_concurrent > 0)
            atomic_fetch_sub_explicit(&f->concurrent, 1, memory_order_relaxed);
        cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL);
        req->error = p == NULL ? "forward: too many queries in flight" : "forward: query too large";
        return CDNS_DONE;
    }
    fw->free = p->next;
    p->next = p->prev = NULL;
    p->in_use = true;
    p->in_serve = true;
    p->done_in_serve = false;
    p->req = req;
    p->f = f;
    p->counted = f->max_concurrent > 0;
    p->sock = NULL;
    p->conn = NULL;
    p->up = NULL;
    p->attempts = p->failovers = 0;
    p->next_i = p->skipped = 0;
    p->tcp_retry = false;
    p->stubs = NULL;
    p->set = &f->to;
    if (f->stub_dir != NULL) {
        /* The stub rules in force now; the query keeps them alive until it ends. */
        cdns_fwd_stubs_t *st = cdns_rcu_deref((void *const *)&f->stubs);
        if (st != NULL) {
            const cdns_fwd_set_t *set = NULL;
            for (size_t i = 0; i < st->n && set == NULL; i++)
                if (cdns_dname_is_sub(q->qname_lower, st->zone[i]))
                    set = &st->sets[i];
            if (set == NULL && st->upstream.nup > 0)
                set = &st->upstream;
            if (set != NULL) {
                atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
                p->stubs = st;
                p->set = set;
            }
        }
    }
    memcpy(p->query, req->wire, req->wire_len);
    p->qlen = (uint16_t)req->wire_len;
    p->start_ns = cdns_clock_mono_ns();
    p->deadline_ms = uv_now(fw->loop) + CDNS_FWD_TIMEOUT_MS;
    order_init(p);
    attempt(p);
    p->in_serve = false;
    if (p->done_in_serve) {
        cdns_verdict_t v = p->verdict;
        pend_free(p);
        return v;
    }
    return CDNS_ASYNC;
}

/* ------------------------------------------------------------------ close */
static void pend_timer_closed(uv_handle_t *h)
{
    pend_t *p = h->data;
    fw_handle_closed(p->fw);
}

static void usock_closed(uv_handle_t *h)
{
    usock_t *s = h->data;
    close(s->fd);
    s->fd = -1;
    fw_handle_closed(s->fw);
}

/* The worker is stopping (net, on the worker thread): answer what is parked with SERVFAIL and
 * close every handle; the last close callback frees the state. */
static void fw_close(void *data)
{
    fwd_w_t *fw = data;
    fw->closing = true;
    fw->w->local[CDNS_WORKER_LOCAL_FORWARD].data = NULL;
    for (size_t i = 0; i < NPEND; i++) {
        pend_t *p = &fw->pend[i];
        if (p->in_use && !p->in_serve)
            fail_servfail(p, "forward: shutting down");
    }
    while (fw->conns != NULL)
        conn_kill(fw->conns);
    for (size_t i = 0; i < NSOCK; i++) {
        if (fw->s4_open && fw->s4[i].fd >= 0)
            uv_close((uv_handle_t *)&fw->s4[i].poll, usock_closed);
        if (fw->s6_open && fw->s6[i].fd >= 0)
            uv_close((uv_handle_t *)&fw->s6[i].poll, usock_closed);
    }
    for (size_t i = 0; i < NPEND; i++)
        uv_close((uv_handle_t *)&fw->pend[i].timer, pend_timer_closed);
}
