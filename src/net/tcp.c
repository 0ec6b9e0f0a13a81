/* SPDX-License-Identifier: MIT */
/* tcp.c — DNS over TCP: accept, 2-octet length framing, pipelining, limits, idle timeout.
 *
 * A connection (cdns_net_conn_t, one malloc each) belongs to its worker thread. Queries are
 * copied out of the connection's read buffer into request slots, so several can be in flight
 * at once and answers go out in the order they complete (RFC 7766 §6.2.1.1). An answer is
 * written straight from its slot's output buffer with uv_write (a 2-octet prefix kept in the
 * slot), so steady-state queries allocate nothing; the slot is freed when the write completes.
 *
 * Limits:
 *  - at most CDNS_NET_TCP_MAX_INFLIGHT queries per connection being served or written; above
 *    that the connection stops reading until answers drain;
 *  - at most opts.tcp_max_conns open connections per worker. When a new connection arrives at
 *    the cap we close the least recently active connection that has nothing in flight (like a
 *    server shedding idle keep-alives); when every connection is busy the new one is refused
 *    (accepted and closed at once). A fresh client thus always gets through while old clients
 *    merely sit idle, and busy clients are never cut off mid-answer;
 *  - opts.tcp_idle_ms after its last complete query (or its last answer, if that came later) a
 *    connection with nothing in flight is closed. One timer per worker serves every connection:
 *    connections are kept in activity order, so the sweep only looks at the oldest.
 * On EOF the connection stops reading, answers what it already received and then closes; on a
 * read error (reset) or a length prefix shorter than a DNS header it is closed at once.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "net/net_internal.h"

/* ------------------------------------------------------------ activity list */
static void list_unlink(cdns_net_worker_t *w, cdns_net_conn_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conn_head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        w->conn_tail = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(cdns_net_worker_t *w, cdns_net_conn_t *c)
{
    c->prev = w->conn_tail;
    c->next = NULL;
    if (w->conn_tail != NULL)
        w->conn_tail->next = c;
    else
        w->conn_head = c;
    w->conn_tail = c;
}

static void touch(cdns_net_conn_t *c)
{
    cdns_net_worker_t *w = c->w;
    c->last_ms = uv_now(&w->loop);
    if (c->linked && w->conn_tail != c) {
        list_unlink(w, c);
        list_append(w, c);
    }
}

/* The pending list: connections to pump from prepare/check (waiting for a slot, or whose
 * answers drained below the in-flight cap). Short, so removal is a scan. */
static void pending_add(cdns_net_conn_t *c)
{
    cdns_net_worker_t *w = c->w;
    if (c->starved)
        return;
    c->starved = true;
    c->next_starved = NULL;
    if (w->starved_tail != NULL)
        w->starved_tail->next_starved = c;
    else
        w->starved_head = c;
    w->starved_tail = c;
}

static void pending_remove(cdns_net_conn_t *c)
{
    cdns_net_worker_t *w = c->w;
    if (!c->starved)
        return;
    cdns_net_conn_t *prev = NULL;
    for (cdns_net_conn_t *x = w->starved_head; x != NULL; prev = x, x = x->next_starved) {
        if (x != c)
            continue;
        if (prev != NULL)
            prev->next_starved = c->next_starved;
        else
            w->starved_head = c->next_starved;
        if (w->starved_tail == c)
            w->starved_tail = prev;
        break;
    }
    c->starved = false;
    c->next_starved = NULL;
}

/* ------------------------------------------------------------- lifecycle */
static void conn_free(cdns_net_conn_t *c)
{
    if (c->rbuf != c->small)
        free(c->rbuf);
    free(c);
}

/* Frees c once libuv has closed it and no slot refers to it any more. */
static void maybe_free(cdns_net_conn_t *c)
{
    cdns_net_worker_t *w = c->w;
    if (!c->closed)
        return;
    if (c->inflight > 0) {
        /* A plugin still holds one of its requests: park it until that comes back. */
        if (!c->zombie) {
            c->zombie = true;
            c->prev = NULL;
            c->next = w->zombies;
            if (w->zombies != NULL)
                w->zombies->prev = c;
            w->zombies = c;
        }
        return;
    }
    if (c->zombie) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            w->zombies = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
    }
    conn_free(c);
}

static void conn_closed_cb(uv_handle_t *h)
{
    cdns_net_conn_t *c = h->data;
    c->closed = true;
    maybe_free(c);
}

static void conn_close(cdns_net_conn_t *c)
{
    cdns_net_worker_t *w = c->w;
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    if (c->linked) {
        list_unlink(w, c);
        c->linked = false;
        w->nconns--;
        CDNS_NET_DEC(w, tcp_open);
    }
    pending_remove(c);
    /* Pending writes are cancelled: their callbacks give the slots back before conn_closed_cb. */
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static void pump(cdns_net_conn_t *c);

/* A slot of c has been given back (answer written, dropped, or the connection is closing). */
static void conn_release(cdns_net_conn_t *c)
{
    c->inflight--;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    if (c->inflight == 0)
        touch(c);
    /* Continue from prepare/check, never from inside a plugin that resumed us. */
    if (!c->in_pump)
        pending_add(c);
}

static void slot_done(cdns_net_slot_t *s)
{
    cdns_net_conn_t *c = s->conn;
    cdns_net__slot_put(s->w, s);
    conn_release(c);
}

/* ---------------------------------------------------------------- writes */
static void write_cb(uv_write_t *wr, int status)
{
    cdns_net_slot_t *s = wr->data;
    cdns_net_conn_t *c = s->conn;
    cdns_net__rcu_online(s->w);
    if (status < 0 && !c->closing)
        conn_close(c);
    slot_done(s);
}

static void send_answer(cdns_net_slot_t *s)
{
    cdns_net_conn_t *c = s->conn;
    if (s->req.out_len == 0 || s->req.out_len > 65535 || c->closing) {
        slot_done(s);
        return;
    }
    s->lenhdr[0] = (uint8_t)(s->req.out_len >> 8);
    s->lenhdr[1] = (uint8_t)s->req.out_len;
    uv_buf_t b[2] = {uv_buf_init((char *)s->lenhdr, 2), uv_buf_init((char *)s->req.out, (unsigned)s->req.out_len)};
    s->state = CDNS_NET_SLOT_WRITING;
    s->wr.data = s;
    if (uv_write(&s->wr, (uv_stream_t *)&c->tcp, b, 2, write_cb) != 0) {
        conn_close(c);
        slot_done(s);
    }
}

/* req->respond for TCP: an ASYNC request is complete. */
static void tcp_respond(cdns_req_t *req)
{
    cdns_net_slot_t *s = req->net_data;
    if (s->state == CDNS_NET_SLOT_SERVING) {
        s->state = CDNS_NET_SLOT_RESPONDED;
        return;
    }
    send_answer(s);
}

/* ----------------------------------------------------------------- reads */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cdns_net_conn_t *c = h->data;
    CDNS_UNUSED(suggested);
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void set_reading(cdns_net_conn_t *c, bool want);

/* Serves every complete query in the read buffer that the limits allow, then decides whether
 * to keep reading and whether the connection is finished. */
static void pump(cdns_net_conn_t *c)
{
    cdns_net_worker_t *w = c->w;
    if (c->closing)
        return;
    const cdns_pipeline_t *p = NULL;
    int li = -1;
    size_t pos = 0;
    c->in_pump = true;
    while (!c->closing && !w->stopping) {
        size_t avail = c->rlen - pos;
        if (avail < 2)
            break;
        size_t len = (size_t)c->rbuf[pos] << 8 | c->rbuf[pos + 1];
        if (len < CDNS_DNS_HDR_LEN) {
            CDNS_NET_INC(w, tcp_bad_frame);
            conn_close(c);
            break;
        }
        if (avail < 2 + len || c->inflight >= CDNS_NET_TCP_MAX_INFLIGHT)
            break;
        cdns_net_slot_t *s = cdns_net__slot_get(w);
        if (s == NULL) {
            pending_add(c);
            break;
        }
        if (p == NULL) {
            p = cdns_net__pipeline(w);
            li = p != NULL ? cdns_net__listener_index(p, c->ep, c->li) : -1;
            c->li = li;
        }
        memcpy(s->in, c->rbuf + pos + 2, len);
        pos += 2 + len;
        CDNS_NET_INC(w, tcp_queries);
        c->inflight++;
        touch(c);
        s->conn = c;
        cdns_net__req_prepare(s, len, true);
        memcpy(&s->req.client, &c->peer, sizeof(c->peer));
        memcpy(&s->req.local, &c->local, sizeof(c->local));
        s->req.start_ns = cdns_clock_mono_ns();
        s->req.respond = tcp_respond;
        if (p == NULL) {
            slot_done(s);
            continue;
        }
        s->state = CDNS_NET_SLOT_SERVING;
        cdns_verdict_t v = cdns_pipeline_serve(p, li, &s->req);
        if (v == CDNS_ASYNC && s->state != CDNS_NET_SLOT_RESPONDED) {
            s->state = CDNS_NET_SLOT_ASYNC;
            continue;
        }
        send_answer(s);
    }
    c->in_pump = false;
    if (c->closing)
        return;
    if (pos > 0) {
        /* Leftovers are at most one partial query plus ones held back by the limits. */
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    if (c->rlen >= 2 && c->rbuf == c->small) {
        size_t need = 2 + ((size_t)c->rbuf[0] << 8 | c->rbuf[1]);
        if (need > c->rcap) {
            /* A query larger than the first buffer: rare, so it pays one malloc. */
            uint8_t *big = malloc(2 + 65535);
            if (big == NULL) {
                conn_close(c);
                return;
            }
            memcpy(big, c->rbuf, c->rlen);
            c->rbuf = big;
            c->rcap = 2 + 65535;
        }
    }
    bool finished = c->eof || w->stopping;
    if (finished && c->inflight == 0 && !c->starved) {
        conn_close(c);
        return;
    }
    set_reading(c, !finished && c->inflight < CDNS_NET_TCP_MAX_INFLIGHT && !c->starved && c->rlen < c->rcap);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    cdns_net_conn_t *c = st->data;
    CDNS_UNUSED(buf);
    cdns_net__rcu_online(c->w);
    if (nread > 0) {
        c->rlen += (size_t)nread;
        pump(c);
    } else if (nread == UV_EOF) {
        /* Half-close: the client has sent everything; answer it and then close. */
        c->eof = true;
        set_reading(c, false);
        pump(c);
    } else if (nread < 0) {
        conn_close(c);
    }
}

static void set_reading(cdns_net_conn_t *c, bool want)
{
    if (want == c->reading || c->closing)
        return;
    if (want) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
            conn_close(c);
            return;
        }
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    c->reading = want;
}

void cdns_net__kick_starved(cdns_net_worker_t *w)
{
    while (w->starved_head != NULL && w->nfree > 0) {
        cdns_net_conn_t *c = w->starved_head;
        w->starved_head = c->next_starved;
        if (w->starved_head == NULL)
            w->starved_tail = NULL;
        c->starved = false;
        c->next_starved = NULL;
        pump(c);
    }
}

/* ------------------------------------------------------------ idle sweep */
void cdns_net__tcp_idle_cb(uv_timer_t *t)
{
    cdns_net_worker_t *w = t->data;
    cdns_net__rcu_online(w);
    uint64_t idle = w->net->opts.tcp_idle_ms;
    uint64_t now = uv_now(&w->loop);
    cdns_net_conn_t *c;
    while ((c = w->conn_head) != NULL && c->last_ms + idle <= now) {
        if (c->inflight > 0 || c->starved) {
            /* Busy is not idle: its window starts again when it goes quiet. */
            touch(c);
            continue;
        }
        CDNS_NET_INC(w, tcp_idle_closed);
        conn_close(c);
    }
    if (w->conn_head != NULL)
        uv_timer_start(t, cdns_net__tcp_idle_cb, w->conn_head->last_ms + idle - now, 0);
}

/* --------------------------------------------------------------- accepts */
static cdns_net_conn_t *oldest_idle(cdns_net_worker_t *w)
{
    for (cdns_net_conn_t *c = w->conn_head; c != NULL; c = c->next)
        if (c->inflight == 0 && !c->starved)
            return c;
    return NULL;
}

static void on_connection(uv_stream_t *server, int status)
{
    cdns_net_tcpl_t *l = server->data;
    cdns_net_worker_t *w = l->w;
    cdns_net__rcu_online(w);
    if (status < 0 || w->stopping)
        return;
    bool refuse = false;
    if (w->nconns >= w->net->opts.tcp_max_conns) {
        cdns_net_conn_t *victim = oldest_idle(w);
        if (victim != NULL) {
            CDNS_NET_INC(w, tcp_evicted);
            conn_close(victim);
        } else {
            refuse = true;
        }
    }
    cdns_net_conn_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        /* libuv stops polling the listener until we accept; retried on the next connection. */
        cdns_error("net: out of memory accepting a TCP connection");
        return;
    }
    memset(c, 0, offsetof(cdns_net_conn_t, small));
    c->w = w;
    c->ep = l->ep;
    c->li = -1;
    c->rbuf = c->small;
    c->rcap = sizeof(c->small);
    if (uv_tcp_init(&w->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || refuse) {
        if (refuse)
            CDNS_NET_INC(w, tcp_refused);
        conn_close(c);
        return;
    }
    int sl = sizeof(c->peer);
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &sl);
    sl = sizeof(c->local);
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&c->local, &sl);
    /* Each answer is one write; Nagle would hold a pipelined second answer for an ACK. */
    uv_tcp_nodelay(&c->tcp, 1);
    c->linked = true;
    c->last_ms = uv_now(&w->loop);
    list_append(w, c);
    w->nconns++;
    CDNS_NET_INC(w, tcp_accepted);
    CDNS_NET_INC(w, tcp_open);
    if (!uv_is_active((uv_handle_t *)&w->idle_timer))
        uv_timer_start(&w->idle_timer, cdns_net__tcp_idle_cb, w->net->opts.tcp_idle_ms, 0);
    set_reading(c, true);
}

int cdns_net__tcp_listen(cdns_net_worker_t *w, cdns_net_tcpl_t *l, const cdns_net_ep_t *ep, int fd)
{
    l->w = w;
    l->ep = ep;
    int rc = uv_tcp_init(&w->loop, &l->tcp);
    if (rc != 0)
        return rc;
    l->open = true;
    l->tcp.data = l;
    if ((rc = uv_tcp_open(&l->tcp, fd)) != 0)
        return rc;
    l->fd = -1; /* libuv owns it now */
    return uv_listen((uv_stream_t *)&l->tcp, CDNS_NET_TCP_BACKLOG, on_connection);
}

/* ------------------------------------------------------------------ stop */
void cdns_net__tcp_drain(cdns_net_worker_t *w)
{
    cdns_net_conn_t *next;
    for (cdns_net_conn_t *c = w->conn_head; c != NULL; c = next) {
        next = c->next;
        set_reading(c, false);
        if (c->inflight == 0)
            conn_close(c);
    }
}

void cdns_net__tcp_close_all(cdns_net_worker_t *w)
{
    while (w->conn_head != NULL)
        conn_close(w->conn_head);
}

void cdns_net__tcp_free_all(cdns_net_worker_t *w)
{
    /* The loop has ended: whatever plugins still hold will never come back. */
    while (w->zombies != NULL) {
        cdns_net_conn_t *c = w->zombies;
        w->zombies = c->next;
        conn_free(c);
    }
}
