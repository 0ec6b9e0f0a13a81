/* SPDX-License-Identifier: MIT */
/* loop — detects a forwarding loop at start-up and halts, as CoreDNS's loop plugin does.
 *
 * start() (main loop) sends "<random>.<random>.<zone> HINFO" to this server's own address,
 * retrying every second for up to 30 s until it gets any reply; two seconds after that reply the
 * plugin disables itself. serve() (workers) counts the probe name: seeing it more than twice means
 * a forward sent it back to us (the systemd-resolved 127.0.0.53 trap), and the process exits 1
 * with an error naming the address the looping query came from. The instance owns its handles,
 * which are allocated apart and freed by their close callbacks.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

#include "cdns/plugin.h"

#define LOOP_TRY_MS 30000
#define LOOP_RETRY_MS 1000
#define LOOP_DISABLE_MS 2000

typedef struct loop_io {
    uv_timer_t timer;
    uv_poll_t poll;
    int fd;
    bool poll_open;
    bool poll_closing; /* poll's memory is busy until its close callback */
    int handles;
    struct loop_inst *l;
} loop_io_t;

typedef struct loop_inst {
    char zone[CDNS_DNAME_MAX * 4 + 2]; /* text, for the message */
    char qname_text[CDNS_DNAME_MAX * 4 + 2];
    uint8_t qname[CDNS_DNAME_MAX]; /* lowercase wire */
    char addr[64];                 /* where we listen (the probe's destination) */
    uint16_t port;
    _Atomic int seen;
    _Atomic bool off;
    uint64_t deadline_ms;
    bool answered;
    loop_io_t *io;
} loop_inst_t;

static uint64_t rand62(void)
{
    uint64_t v = 0;
    while (getrandom(&v, sizeof(v), 0) < 0 && errno == EINTR)
        ;
    return v & ((UINT64_C(1) << 62) - 1);
}

static int loop_setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    if (d->nargs != 0 || d->nblock != 0)
        return cdns_diag_set(diag, d->file, d->line, "plugin/loop: Wrong argument count or unexpected line ending");
    loop_inst_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return CDNS_ENOMEM;
    /* Only the block's first zone is probed, as in CoreDNS. */
    const char *zone = ctx->nzones ? ctx->zones[0] : ".";
    snprintf(l->zone, sizeof(l->zone), "%s", zone);
    snprintf(l->qname_text, sizeof(l->qname_text), "%" PRIu64 ".%" PRIu64 ".%s", rand62(), rand62(),
             strcmp(zone, ".") == 0 ? "" : zone);
    size_t len = 0;
    if (cdns_dname_from_str(l->qname_text, NULL, l->qname, &len) != CDNS_OK) {
        free(l);
        return cdns_diag_set(diag, d->file, d->line, "plugin/loop: zone %s too long for the probe name", zone);
    }
    cdns_dname_lower(l->qname);
    const cdns_cf_key_t *key = ctx->block->nkeys ? &ctx->block->keys[0] : NULL;
    l->port = key && key->port ? (uint16_t)key->port : 53;
    snprintf(l->addr, sizeof(l->addr), "%s", ctx->nbind ? ctx->bind[0] : "127.0.0.1");
    *inst = l;
    return CDNS_OK;
}

static void io_closed(uv_handle_t *h)
{
    loop_io_t *io = h->data;
    if (h == (uv_handle_t *)&io->poll)
        io->poll_closing = false;
    if (--io->handles == 0)
        free(io);
}

static void io_stop_poll(loop_io_t *io)
{
    if (io->poll_open) {
        uv_poll_stop(&io->poll);
        uv_close((uv_handle_t *)&io->poll, io_closed);
        io->poll_open = false;
        io->poll_closing = true;
    }
    if (io->fd >= 0) {
        close(io->fd);
        io->fd = -1;
    }
}

static void send_probe(loop_io_t *io);

static void on_timer(uv_timer_t *t)
{
    loop_io_t *io = t->data;
    loop_inst_t *l = io->l;
    if (l->answered || uv_now(t->loop) >= l->deadline_ms) {
        /* Two seconds after the probe came back (or after giving up): stop counting, so a
         * later HINFO for that name can never kill the server. */
        atomic_store(&l->off, true);
        io_stop_poll(io);
        uv_timer_stop(t);
        return;
    }
    send_probe(io);
}

static void on_reply(uv_poll_t *h, int status, int events)
{
    loop_io_t *io = h->data;
    CDNS_UNUSED(events);
    uint8_t buf[512];
    ssize_t n = status < 0 ? -1 : recv(io->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EINTR))
        return;
    io_stop_poll(io);
    if (n < CDNS_DNS_HDR_LEN)
        return; /* not up yet: the timer sends again */
    io->l->answered = true;
    uv_timer_start(&io->timer, on_timer, LOOP_DISABLE_MS, 0);
}

static void send_probe(loop_io_t *io)
{
    loop_inst_t *l = io->l;
    io_stop_poll(io);
    if (io->poll_closing)
        return; /* its memory is free again next iteration; the timer sends then */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl = 0;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    const char *a = l->addr[0] ? l->addr : "127.0.0.1";
    if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(l->port);
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(l->port);
        sl = sizeof(*s6);
    } else {
        return;
    }
    uint8_t q[CDNS_DNS_HDR_LEN + CDNS_DNAME_MAX + 4];
    uint16_t id = (uint16_t)rand62();
    memset(q, 0, CDNS_DNS_HDR_LEN);
    q[0] = (uint8_t)(id >> 8);
    q[1] = (uint8_t)id;
    q[2] = 0x01; /* RD, as miekg/dns's SetQuestion */
    q[5] = 1;
    size_t nl = cdns_dname_len(l->qname);
    memcpy(q + CDNS_DNS_HDR_LEN, l->qname, nl);
    uint8_t *p = q + CDNS_DNS_HDR_LEN + nl;
    p[0] = 0;
    p[1] = CDNS_T_HINFO;
    p[2] = 0;
    p[3] = CDNS_C_IN;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) != 0 || uv_poll_init(io->timer.loop, &io->poll, fd) != 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    io->fd = fd;
    io->poll_open = true;
    io->poll.data = io;
    io->handles++;
    uv_poll_start(&io->poll, UV_READABLE, on_reply);
    (void)send(fd, q, CDNS_DNS_HDR_LEN + nl + 4, 0);
}

static int loop_start(void *inst, uv_loop_t *loop)
{
    loop_inst_t *l = inst;
    loop_io_t *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return CDNS_ENOMEM;
    io->l = l;
    io->fd = -1;
    uv_timer_init(loop, &io->timer);
    io->timer.data = io;
    io->handles = 1;
    l->io = io;
    l->deadline_ms = uv_now(loop) + LOOP_TRY_MS;
    /* Not from inside start: the workers may not serve yet. The timer's first run sends. */
    uv_timer_start(&io->timer, on_timer, 0, LOOP_RETRY_MS);
    return CDNS_OK;
}

static void loop_stop(void *inst)
{
    loop_inst_t *l = inst;
    loop_io_t *io = l->io;
    if (io == NULL)
        return;
    l->io = NULL;
    io_stop_poll(io);
    uv_close((uv_handle_t *)&io->timer, io_closed);
}

static void loop_teardown(void *inst)
{
    free(inst);
}

static cdns_verdict_t loop_serve(cdns_req_t *req, void *inst, void *ws)
{
    loop_inst_t *l = inst;
    CDNS_UNUSED(ws);
    if (req->q.qtype != CDNS_T_HINFO || atomic_load_explicit(&l->off, memory_order_relaxed) ||
        !cdns_dname_equal(req->q.qname_lower, l->qname))
        return CDNS_NEXT;
    if (atomic_fetch_add(&l->seen, 1) + 1 > 2) {
        char from[INET6_ADDRSTRLEN + 8] = "?";
        cdns_req_client_ip(req, from, sizeof(from));
        cdns_error("plugin/loop: Loop (%s:%u -> %s:%u) detected for zone \"%s\", see "
                   "https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO %s\"",
                   from, cdns_req_client_port(req), l->addr, l->port, l->zone, l->qname_text);
        cdns_error("plugin/loop: a forward in zone \"%s\" sends queries back to this server: check every forward TO "
                   "(and any resolv.conf it reads, e.g. one naming systemd-resolved's 127.0.0.53) for local or "
                   "looping upstreams; in Kubernetes point the kubelet's resolvConf at the real resolv.conf",
                   l->zone);
        _exit(1);
    }
    return CDNS_NEXT;
}

const cdns_plugin_api_t cdns_plugin_loop = {
    .name = "loop",
    .setup = loop_setup,
    .teardown = loop_teardown,
    .start = loop_start,
    .stop = loop_stop,
    .serve = loop_serve,
    .flags = CDNS_PLUGIN_ONCE,
};
