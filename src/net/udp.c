/* SPDX-License-Identifier: MIT */
/* udp.c — the UDP fast path: recvmmsg a batch into request slots, serve, sendmmsg the answers.
 *
 * Each worker drives its own SO_REUSEPORT socket with a uv_poll handle rather than uv_udp_t:
 * libuv's UDP handle makes one recvmsg and one allocation callback per datagram, while here a
 * readable event costs one recvmmsg for up to CDNS_NET_BATCH datagrams and one sendmmsg for
 * their answers. Worker thread only. A slot belongs to the worker; while ASYNC it is lent to the
 * plugin, which gives it back through req->respond (udp_respond), on this thread.
 */
#include <string.h>
#include <unistd.h>

#include "net/net_internal.h"

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* req->local from the datagram's pktinfo (wildcard sockets) or the bound address. */
static void local_from_msg(cdns_net_slot_t *s, const cdns_net_ep_t *ep, struct msghdr *mh)
{
    s->ifindex = 0;
    memcpy(&s->req.local, &ep->sa, ep->salen);
    if (!ep->wildcard)
        return;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO && ep->sa.ss_family == AF_INET) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            ((struct sockaddr_in *)&s->req.local)->sin_addr = pi.ipi_addr;
            s->ifindex = pi.ipi_ifindex;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)&s->req.local;
            l6->sin6_addr = pi.ipi6_addr;
            l6->sin6_scope_id = IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ? (uint32_t)pi.ipi6_ifindex : 0;
            s->ifindex = (int)pi.ipi6_ifindex;
        }
    }
}

/* Fills mh's control part so the answer leaves from the address the query was sent to. */
static void ctrl_for_send(cdns_net_slot_t *s, const cdns_net_ep_t *ep, struct msghdr *mh)
{
    mh->msg_control = NULL;
    mh->msg_controllen = 0;
    if (!ep->wildcard)
        return;
    memset(s->ctrl.buf, 0, sizeof(s->ctrl.buf));
    mh->msg_control = s->ctrl.buf;
    struct cmsghdr *cm = (struct cmsghdr *)s->ctrl.buf;
    if (ep->sa.ss_family == AF_INET) {
        struct in_pktinfo pi = {0};
        /* ifindex 0: let routing pick the interface; spec_dst sets the source address. */
        pi.ipi_spec_dst = ((const struct sockaddr_in *)&s->req.local)->sin_addr;
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
    } else {
        struct in6_pktinfo pi = {0};
        pi.ipi6_addr = ((const struct sockaddr_in6 *)&s->req.local)->sin6_addr;
        pi.ipi6_ifindex = (unsigned)s->ifindex;
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
    }
}

static void send_one(cdns_net_slot_t *s)
{
    cdns_net_udp_t *u = s->udp;
    cdns_net_worker_t *w = s->w;
    if (u->fd < 0 || s->req.out_len == 0)
        return;
    struct iovec iov = {.iov_base = s->req.out, .iov_len = s->req.out_len};
    struct msghdr mh = {
        .msg_name = &s->req.client, .msg_namelen = sa_len(&s->req.client), .msg_iov = &iov, .msg_iovlen = 1};
    ctrl_for_send(s, u->ep, &mh);
    if (sendmsg(u->fd, &mh, MSG_DONTWAIT) < 0)
        CDNS_NET_INC(w, udp_dropped_send);
}

/* req->respond for UDP: an ASYNC request is complete. */
static void udp_respond(cdns_req_t *req)
{
    cdns_net_slot_t *s = req->net_data;
    if (s->state == CDNS_NET_SLOT_SERVING) {
        /* Completed before serve() even returned ASYNC: the batch loop sends it. */
        s->state = CDNS_NET_SLOT_RESPONDED;
        return;
    }
    send_one(s);
    cdns_net__slot_put(s->w, s);
}

/* Sends the queued answers; what the kernel will not take now is dropped (and counted), as
 * a DNS server under overload should rather than buffer. */
static void send_batch(cdns_net_worker_t *w, cdns_net_udp_t *u, unsigned ns)
{
    unsigned off = 0;
    while (off < ns) {
        int r = sendmmsg(u->fd, &w->smsg[off], ns - off, MSG_DONTWAIT);
        if (r > 0) {
            off += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            CDNS_NET_ADD(w, udp_dropped_send, ns - off);
            break;
        }
        /* The first message failed on its own (unreachable client, bad address): skip it. */
        CDNS_NET_INC(w, udp_dropped_send);
        off++;
    }
    for (unsigned i = 0; i < ns; i++)
        cdns_net__slot_put(w, w->sslot[i]);
}

/* No free slot: read and discard a batch so the level-triggered poll does not spin. Runs only
 * with the receive ring empty, so overwriting its headers loses nothing. */
static void discard_batch(cdns_net_worker_t *w, cdns_net_udp_t *u)
{
    for (unsigned i = 0; i < CDNS_NET_BATCH; i++) {
        w->riov[i].iov_base = NULL;
        w->riov[i].iov_len = 0;
        memset(&w->rmsg[i].msg_hdr, 0, sizeof(w->rmsg[i].msg_hdr));
        w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
        w->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    int r = recvmmsg(u->fd, w->rmsg, CDNS_NET_BATCH, MSG_DONTWAIT, NULL);
    if (r > 0) {
        CDNS_NET_ADD(w, udp_received, (unsigned)r);
        CDNS_NET_ADD(w, udp_dropped_noslot, (unsigned)r);
    }
}

/* ------------------------------------------------------------ receive ring */
/* The receive ring: entries [0, narmed) of rmsg/riov/rslot hold an idle slot each, with a
 * header that stays valid across wakeups, so a wakeup that reads one datagram re-arms one
 * entry instead of taking, preparing and giving back a whole batch. The kernel writes only the
 * entries it fills (Knot's udp_recvmmsg relies on the same), and those are the only ones
 * re-armed. The ring is the worker's, shared by its UDP sockets, which it serves one at a time:
 * every entry carries a control buffer, and a socket without IP_PKTINFO simply leaves it
 * empty. Armed slots still count as free (nfree); TCP takes them when the free list is empty
 * (cdns_net__ring_take), so the ring never holds back slots another request needs. */
static void ring_arm(cdns_net_worker_t *w, unsigned i, cdns_net_slot_t *s)
{
    w->rslot[i] = s;
    w->riov[i].iov_base = s->in;
    w->riov[i].iov_len = CDNS_NET_IN_CAP;
    struct msghdr *mh = &w->rmsg[i].msg_hdr;
    mh->msg_name = &s->req.client;
    mh->msg_namelen = sizeof(s->req.client);
    mh->msg_iov = &w->riov[i];
    mh->msg_iovlen = 1;
    mh->msg_control = s->ctrl.buf;
    mh->msg_controllen = sizeof(s->ctrl.buf);
    mh->msg_flags = 0;
}

/* Off the free list into the ring: the slot stays counted in nfree. */
static cdns_net_slot_t *free_pop(cdns_net_worker_t *w)
{
    cdns_net_slot_t *s = w->free;
    w->free = s->next;
    s->next = NULL;
    return s;
}

/* Arms the empty entries at the end of the ring from the free list. */
static void ring_fill(cdns_net_worker_t *w)
{
    while (w->narmed < CDNS_NET_BATCH && w->free != NULL)
        ring_arm(w, w->narmed++, free_pop(w));
}

/* Entries [0, got) were read into and their slots served: arm them again, from the free list
 * (where the batch's slots have just gone back) or, when it is empty, with entries moved down
 * from the end, so the armed ones stay contiguous. */
static void ring_refill(cdns_net_worker_t *w, unsigned got)
{
    unsigned i = 0;
    for (; i < got && w->free != NULL; i++)
        ring_arm(w, i, free_pop(w));
    for (; i < got; i++) {
        if (w->narmed <= got) {
            w->narmed = i;
            return;
        }
        w->narmed--;
        ring_arm(w, i, w->rslot[w->narmed]);
    }
}

cdns_net_slot_t *cdns_net__ring_take(cdns_net_worker_t *w)
{
    /* Entries below ring_busy hold the datagrams of the batch being served. */
    if (w->narmed <= w->ring_busy)
        return NULL;
    return w->rslot[--w->narmed];
}

/* One recvmmsg, serve, sendmmsg. Returns the number of datagrams read. */
static int udp_batch(cdns_net_worker_t *w, cdns_net_udp_t *u)
{
    const cdns_net_ep_t *ep = u->ep;
    if (w->narmed < CDNS_NET_BATCH)
        ring_fill(w);
    if (w->narmed == 0) {
        discard_batch(w, u);
        return 0;
    }
    int r;
    do
        r = recvmmsg(u->fd, w->rmsg, w->narmed, MSG_DONTWAIT, NULL);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return 0;
    unsigned got = (unsigned)r;
    CDNS_NET_ADD(w, udp_received, got);
    w->nfree -= got;
    w->ring_busy = got;

    /* One pipeline and one timestamp per batch: every datagram in it was already waiting. */
    const cdns_pipeline_t *p = cdns_net__pipeline(w);
    int li = p != NULL ? cdns_net__listener_index(p, ep, u->li) : -1;
    u->li = li;
    uint64_t now = cdns_clock_mono_ns();
    unsigned ns = 0, nreq = 0;
    for (unsigned i = 0; i < got; i++) {
        cdns_net_slot_t *s = w->rslot[i];
        struct msghdr *mh = &w->rmsg[i].msg_hdr;
        if (p == NULL || (mh->msg_flags & MSG_TRUNC) != 0) {
            /* Larger than any DNS message may be: not a query we can answer. */
            CDNS_NET_INC(w, udp_dropped_trunc);
            cdns_net__slot_put(w, s);
            continue;
        }
        cdns_net__req_prepare(s, w->rmsg[i].msg_len, false);
        s->udp = u;
        s->req.start_ns = now;
        s->req.respond = udp_respond;
        local_from_msg(s, ep, mh);
        w->breq[nreq++] = &s->req;
    }
    /* Parse and route the whole batch first, and let the plugins start loading what each
     * query will read: the snapshot lookups' cache misses overlap instead of following one
     * another (about a fifth of the worker's time on a 10k-service cluster). */
    if (nreq > 0 && cdns_pipeline_prefetches(p))
        cdns_pipeline_prefetch(p, li, w->breq, nreq);
    for (unsigned i = 0; i < nreq; i++) {
        cdns_net_slot_t *s = (cdns_net_slot_t *)(void *)w->breq[i];
        s->state = CDNS_NET_SLOT_SERVING;
        cdns_verdict_t v = cdns_pipeline_serve(p, li, &s->req);
        if (v == CDNS_ASYNC && s->state != CDNS_NET_SLOT_RESPONDED) {
            s->state = CDNS_NET_SLOT_ASYNC;
            continue;
        }
        if (s->req.out_len == 0) {
            cdns_net__slot_put(w, s);
            continue;
        }
        w->sslot[ns] = s;
        w->siov[ns].iov_base = s->req.out;
        w->siov[ns].iov_len = s->req.out_len;
        struct msghdr *sh = &w->smsg[ns].msg_hdr;
        sh->msg_name = &s->req.client;
        sh->msg_namelen = sa_len(&s->req.client);
        sh->msg_iov = &w->siov[ns];
        sh->msg_iovlen = 1;
        sh->msg_flags = 0;
        ctrl_for_send(s, ep, sh);
        ns++;
    }
    if (ns > 0)
        send_batch(w, u, ns);
    ring_refill(w, got);
    w->ring_busy = 0;
    cdns_net__rcu_quiescent(w);
    return (int)got;
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    cdns_net_udp_t *u = h->data;
    cdns_net_worker_t *w = u->w;
    CDNS_UNUSED(events);
    cdns_net__rcu_online(w);
    if (status < 0 || u->fd < 0)
        return;
    for (int round = 0; round < CDNS_NET_UDP_ROUNDS; round++)
        if (udp_batch(w, u) < CDNS_NET_BATCH)
            break;
}

int cdns_net__udp_init(cdns_net_worker_t *w, cdns_net_udp_t *u, const cdns_net_ep_t *ep, int fd)
{
    u->w = w;
    u->ep = ep;
    u->fd = fd;
    u->li = -1;
    int rc = uv_poll_init(&w->loop, &u->poll, fd);
    if (rc != 0)
        return rc;
    u->open = true;
    u->poll.data = u;
    return uv_poll_start(&u->poll, UV_READABLE, poll_cb);
}

void cdns_net__udp_stop(cdns_net_udp_t *u)
{
    if (u->open && !uv_is_closing((uv_handle_t *)&u->poll))
        uv_poll_stop(&u->poll);
}

static void udp_closed_cb(uv_handle_t *h)
{
    cdns_net_udp_t *u = h->data;
    /* uv_poll never owns the fd: it is ours to close, after libuv has let go of it. */
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}

void cdns_net__udp_close(cdns_net_udp_t *u)
{
    if (u->open) {
        if (!uv_is_closing((uv_handle_t *)&u->poll))
            uv_close((uv_handle_t *)&u->poll, udp_closed_cb);
        return;
    }
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
}
