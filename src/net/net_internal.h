/* SPDX-License-Identifier: MIT */
/* net_internal.h — what worker.c, udp.c, tcp.c and sockets.c share; nothing here is public.
 *
 * Ownership: cdns_net_t (main thread) owns the worker array and the endpoint list. Each worker
 * owns, from the moment its thread starts, its loop, its sockets (fds created by the main thread
 * in cdns_net_start and handed over), its request slots and its TCP connections. Everything in a
 * worker is touched only by that worker's thread, except `stats` (relaxed atomics read on
 * scrape) and `wake` (uv_async_send from the main thread).
 */
#ifndef CDNS_NET_INTERNAL_H
#define CDNS_NET_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <uv.h>

#include "cdns/net.h"

/* Datagrams per recvmmsg/sendmmsg call, and calls per readable event: a readable socket is
 * drained up to BATCH * ROUNDS datagrams before the loop looks at its other handles, which keeps
 * TCP and timers responsive under a UDP flood. */
#define CDNS_NET_BATCH 64
#define CDNS_NET_UDP_ROUNDS 4
/* Request slots per worker (UDP and TCP share them). Each slot has a 64 KiB input and a 64 KiB
 * output buffer; they are one malloc per worker, touched page by page only as used, and the
 * LIFO free list keeps reusing the same few slots, so the resident cost is small. */
#define CDNS_NET_SLOTS 256
#define CDNS_NET_IN_CAP 65535
/* Queries of one TCP connection being served or written at once; above it we stop reading. */
#define CDNS_NET_TCP_MAX_INFLIGHT 32
#define CDNS_NET_TCP_RBUF 4096 /* first read buffer of a connection; grows to 2 + 65535 */
#define CDNS_NET_TCP_BACKLOG 1024
/* How long cdns_net_stop waits for requests in flight before closing everything. */
#define CDNS_NET_DRAIN_MS 2000

typedef struct cdns_net_worker cdns_net_worker_t;
typedef struct cdns_net_conn cdns_net_conn_t;

/* One address this process binds, for one pipeline listener (a listener "" has two). */
typedef struct cdns_net_ep {
    size_t listener;   /* index in the start-time pipeline's listeners */
    char addr[64];     /* the listener's addr as configured ("" = every address) */
    uint16_t cfg_port; /* the listener's port as configured (0 = ephemeral) */
    uint16_t port;     /* the port actually bound */
    bool wildcard;     /* bound to 0.0.0.0 or :: : per-datagram local address */
    bool v6only;
    struct sockaddr_storage sa; /* bind address (port filled after the first bind) */
    socklen_t salen;
} cdns_net_ep_t;

typedef enum {
    CDNS_NET_SLOT_FREE = 0,
    CDNS_NET_SLOT_SERVING,   /* inside cdns_pipeline_serve */
    CDNS_NET_SLOT_RESPONDED, /* respond() ran before serve returned ASYNC */
    CDNS_NET_SLOT_ASYNC,     /* owned by a plugin until respond() */
    CDNS_NET_SLOT_WRITING,   /* TCP: uv_write in progress from the slot's buffer */
} cdns_net_slot_state_t;

typedef struct cdns_net_udp cdns_net_udp_t;

/* A request slot: the request plus everything needed to answer it without allocating. */
typedef struct cdns_net_slot {
    cdns_req_t req;             /* first member: a cdns_req_t * is a slot * */
    struct cdns_net_slot *next; /* free list */
    cdns_net_worker_t *w;
    cdns_net_udp_t *udp;   /* UDP: the socket it came in on (NULL for TCP) */
    cdns_net_conn_t *conn; /* TCP: its connection */
    uint8_t *in;           /* CDNS_NET_IN_CAP octets: the query */
    uint8_t state;         /* cdns_net_slot_state_t */
    uint8_t lenhdr[2];     /* TCP: the response's length prefix */
    int ifindex;           /* UDP on a wildcard socket: the interface it arrived on */
    uv_write_t wr;
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
    } ctrl; /* UDP: received pktinfo, then the one we send with */
} cdns_net_slot_t;

struct cdns_net_udp {
    uv_poll_t poll;
    cdns_net_worker_t *w;
    const cdns_net_ep_t *ep;
    int fd;    /* -1 once closed */
    int li;    /* listener index in the pipeline last seen */
    bool open; /* poll handle initialized (must be uv_close'd) */
};

typedef struct cdns_net_tcpl {
    uv_tcp_t tcp;
    cdns_net_worker_t *w;
    const cdns_net_ep_t *ep;
    int fd;    /* owned by libuv after uv_tcp_open; -1 before */
    bool open; /* handle initialized (must be uv_close'd) */
} cdns_net_tcpl_t;

struct cdns_net_conn {
    uv_tcp_t tcp;
    cdns_net_worker_t *w;
    const cdns_net_ep_t *ep;
    cdns_net_conn_t *prev, *next;  /* the activity list (least recently active first) or zombies */
    cdns_net_conn_t *next_starved; /* the pending list: to pump from prepare/check */
    uint64_t last_ms;              /* loop time of the last complete query */
    struct sockaddr_storage peer, local;
    uint8_t *rbuf;     /* small[] or a malloc'd 2 + 65535 */
    size_t rcap, rlen; /* capacity, octets held (from rbuf[0]) */
    unsigned inflight; /* slots held: serving, ASYNC or being written */
    int li;
    bool reading, eof, closing, closed, starved, in_pump;
    bool linked; /* on the activity list (open, not closing) */
    bool zombie; /* on the zombie list (closed, a plugin holds a slot) */
    uint8_t small[CDNS_NET_TCP_RBUF];
};

/* Per-worker counters: one writer (the worker), read with relaxed loads on scrape. */
typedef struct cdns_net_wstats {
    _Atomic uint64_t udp_received, udp_dropped_noslot, udp_dropped_send, udp_dropped_trunc;
    _Atomic uint64_t tcp_accepted, tcp_refused, tcp_evicted, tcp_idle_closed, tcp_bad_frame;
    _Atomic uint64_t tcp_queries;
    _Atomic uint64_t tcp_open; /* a gauge: incremented and decremented by the worker */
} cdns_net_wstats_t;

#define CDNS_NET_INC(w, field)                                                                                         \
    atomic_store_explicit(&(w)->stats.field, atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + 1,        \
                          memory_order_relaxed)
#define CDNS_NET_DEC(w, field)                                                                                         \
    atomic_store_explicit(&(w)->stats.field, atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) - 1,        \
                          memory_order_relaxed)
#define CDNS_NET_ADD(w, field, n)                                                                                      \
    atomic_store_explicit(&(w)->stats.field, atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + (n),      \
                          memory_order_relaxed)

struct cdns_net_worker {
    cdns_net_t *net;
    cdns_worker_t pub; /* what plugins see: id and loop */
    pthread_t thread;
    bool thread_started;
    sem_t started; /* posted once the loop and handles are set up (or failed) */
    int start_rc;
    uv_loop_t loop;
    uv_async_t wake;        /* main → worker: stop */
    uv_prepare_t prepare;   /* RCU offline before blocking */
    uv_check_t check;       /* RCU online after waking */
    uv_timer_t idle_timer;  /* TCP idle sweep */
    uv_timer_t drain_timer; /* stop: waits for requests in flight */
    uint64_t drain_deadline_ms;
    bool rcu_online;
    bool stopping;
    bool closing_all;
    /* slots */
    cdns_net_slot_t *slots;
    uint8_t *bufs; /* CDNS_NET_SLOTS * (in + out) */
    cdns_net_slot_t *free;
    unsigned nfree; /* idle slots: on the free list or armed in the receive ring */
    /* sockets: one UDP socket and one TCP listener per endpoint */
    cdns_net_udp_t *udp;
    cdns_net_tcpl_t *tcpl;
    size_t nsock;
    /* TCP connections */
    cdns_net_conn_t *conn_head, *conn_tail; /* open connections, least recently active first */
    unsigned nconns;                        /* open (not closing) connections */
    cdns_net_conn_t *starved_head, *starved_tail;
    cdns_net_conn_t *zombies; /* closed but a plugin still holds one of their slots */
    /* the UDP receive ring (udp.c): entries [0, narmed) hold an idle slot, ready for recvmmsg */
    struct mmsghdr rmsg[CDNS_NET_BATCH];
    struct iovec riov[CDNS_NET_BATCH];
    cdns_net_slot_t *rslot[CDNS_NET_BATCH];
    unsigned narmed;
    unsigned ring_busy;               /* entries [0, ring_busy) are the batch being served: not idle */
    cdns_req_t *breq[CDNS_NET_BATCH]; /* the batch's requests, for cdns_pipeline_prefetch */
    /* send batch scratch */
    struct mmsghdr smsg[CDNS_NET_BATCH];
    struct iovec siov[CDNS_NET_BATCH];
    cdns_net_slot_t *sslot[CDNS_NET_BATCH];
    cdns_net_wstats_t stats;
};

struct cdns_net {
    cdns_net_opts_t opts;
    cdns_pipeline_t *const *pipeline_slot;
    cdns_net_ep_t *eps;
    size_t neps;
    cdns_net_worker_t *workers;
    unsigned nworkers;
};

/* worker.c */
void cdns_net__rcu_online(cdns_net_worker_t *w);
cdns_net_slot_t *cdns_net__slot_get(cdns_net_worker_t *w);
void cdns_net__slot_put(cdns_net_worker_t *w, cdns_net_slot_t *s);
/* The pipeline to serve with (read once per batch) and the listener index for ep in it. */
const cdns_pipeline_t *cdns_net__pipeline(const cdns_net_worker_t *w);
int cdns_net__listener_index(const cdns_pipeline_t *p, const cdns_net_ep_t *ep, int cached);
/* Resets the fields of a request net owns before it is served. */
void cdns_net__req_prepare(cdns_net_slot_t *s, size_t wire_len, bool tcp);
/* Gives waiting TCP connections the slots freed since the last call. */
void cdns_net__kick_starved(cdns_net_worker_t *w);

/* Reports a quiescent state after a batch (nothing from the batch is referenced any more). */
void cdns_net__rcu_quiescent(cdns_net_worker_t *w);

/* udp.c */
int cdns_net__udp_init(cdns_net_worker_t *w, cdns_net_udp_t *u, const cdns_net_ep_t *ep, int fd);
void cdns_net__udp_stop(cdns_net_udp_t *u);
void cdns_net__udp_close(cdns_net_udp_t *u);
/* An idle slot out of the receive ring, for when the free list is empty; NULL if none. */
cdns_net_slot_t *cdns_net__ring_take(cdns_net_worker_t *w);

/* tcp.c */
int cdns_net__tcp_listen(cdns_net_worker_t *w, cdns_net_tcpl_t *l, const cdns_net_ep_t *ep, int fd);
void cdns_net__tcp_drain(cdns_net_worker_t *w);
void cdns_net__tcp_close_all(cdns_net_worker_t *w);
void cdns_net__tcp_free_all(cdns_net_worker_t *w);
void cdns_net__tcp_idle_cb(uv_timer_t *t);
/* A slot's connection may continue: called after a TCP slot is freed outside the pump. */
void cdns_net__conn_released(cdns_net_conn_t *c);

/* sockets.c */
/* Endpoints for listener li ("" → 0.0.0.0 and ::, "::" → dual-stack, a literal → itself). */
int cdns_net__eps_for(const cdns_listener_t *l, size_t li, cdns_net_ep_t *out, size_t *n, cdns_diag_t *diag);
/* A bound, nonblocking SO_REUSEPORT socket (SOCK_DGRAM or SOCK_STREAM, listening); -errno on failure. */
int cdns_net__socket_open(cdns_net_ep_t *ep, int type, int *fd_out);
/* "127.0.0.1:53", "[::1]:53", ":53" for messages. */
void cdns_net__ep_format(const cdns_net_ep_t *ep, char *out, size_t len);

#endif
