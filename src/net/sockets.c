/* SPDX-License-Identifier: MIT */
/* sockets.c — turning pipeline listeners into bound SO_REUSEPORT sockets.
 *
 * We create sockets ourselves because libuv 1.44 cannot set SO_REUSEPORT; the workers then hand
 * them to libuv. Main thread only (cdns_net_start). The caller owns the returned fds.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/net_internal.h"

static int ep_set(cdns_net_ep_t *ep, const cdns_listener_t *l, size_t li, int family, const char *host, bool v6only)
{
    memset(ep, 0, sizeof(*ep));
    ep->listener = li;
    snprintf(ep->addr, sizeof(ep->addr), "%s", l->addr);
    ep->cfg_port = l->port;
    ep->port = l->port;
    ep->v6only = v6only;

    struct addrinfo hints = {.ai_family = family, .ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL || res->ai_addrlen > sizeof(ep->sa))
        goto fail;
    memcpy(&ep->sa, res->ai_addr, res->ai_addrlen);
    ep->salen = res->ai_addrlen;
    freeaddrinfo(res);
    if (ep->sa.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ep->sa;
        s4->sin_port = htons(l->port);
        ep->wildcard = s4->sin_addr.s_addr == htonl(INADDR_ANY);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ep->sa;
        s6->sin6_port = htons(l->port);
        ep->wildcard = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
    }
    return CDNS_OK;
fail:
    if (res != NULL)
        freeaddrinfo(res);
    return CDNS_EINVAL;
}

int cdns_net__eps_for(const cdns_listener_t *l, size_t li, cdns_net_ep_t *out, size_t *n, cdns_diag_t *diag)
{
    *n = 0;
    if (l->addr[0] == '\0') {
        /* Every address: two sockets so that IPv4 clients appear as IPv4 (not ::ffff:a.b.c.d). */
        if (ep_set(&out[0], l, li, AF_INET, "0.0.0.0", false) != CDNS_OK ||
            ep_set(&out[1], l, li, AF_INET6, "::", true) != CDNS_OK)
            return cdns_diag_set(diag, NULL, 0, "listen :%u: cannot build wildcard addresses", l->port);
        *n = 2;
        return CDNS_OK;
    }
    /* An explicit "::" is dual-stack, as Go (CoreDNS) binds it; other IPv6 literals only IPv6. */
    bool any6 = strcmp(l->addr, "::") == 0 || strcmp(l->addr, "[::]") == 0;
    char host[64];
    snprintf(host, sizeof(host), "%s", l->addr);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    if (ep_set(&out[0], l, li, AF_UNSPEC, host, !any6) != CDNS_OK)
        return cdns_diag_set(diag, NULL, 0, "listen %s:%u: not an IP address", l->addr, l->port);
    *n = 1;
    return CDNS_OK;
}

void cdns_net__ep_format(const cdns_net_ep_t *ep, char *out, size_t len)
{
    if (ep->addr[0] == '\0')
        snprintf(out, len, ":%u", ep->port);
    else if (strchr(ep->addr, ':') != NULL && ep->addr[0] != '[')
        snprintf(out, len, "[%s]:%u", ep->addr, ep->port);
    else
        snprintf(out, len, "%s:%u", ep->addr, ep->port);
}

int cdns_net__socket_open(cdns_net_ep_t *ep, int type, int *fd_out)
{
    int one = 1, rc;
    int family = ep->sa.ss_family;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* SO_REUSEPORT gives every worker its own socket and lets the kernel spread datagrams and
     * connections over them by flow hash; SO_REUSEADDR lets a restart bind over TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail_errno;
    if (family == AF_INET6) {
        int v6only = ep->v6only ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
            goto fail_errno;
    }
    if (type == SOCK_DGRAM) {
        /* A queued query costs ~830 octets of buffer (skb overhead); the default ~200 KiB
         * would drop a burst of a few hundred while a worker is busy. But a queue is also a
         * delay: what waits longer than the client's timeout is answered for nobody, and a
         * worker held to a CPU quota (a pod's limit) drains slowly. 1 MiB (the kernel doubles
         * it: ~2,500 queries) is 10 ms of a worker at full speed and stays under a quarter of a
         * second at a fifth of a core; 4 MiB held ~10,000, and at 2x overload under a 20 % quota
         * a quarter of the answers went out after dnsperf's 0.25 s timeout (bench/RESULTS.md).
         * Best effort: FORCE needs CAP_NET_ADMIN, plain is capped by net.core.rmem_max. */
        int sz = 1 << 20;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    if (type == SOCK_DGRAM && ep->wildcard) {
        /* A wildcard socket must learn each datagram's destination address, both to tell the
         * pipeline (req->local) and to answer from that same address on multi-homed hosts. */
        if (family == AF_INET6) {
            if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
                goto fail_errno;
            if (!ep->v6only && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
                goto fail_errno;
        } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0) {
            goto fail_errno;
        }
    }
    if (bind(fd, (const struct sockaddr *)&ep->sa, ep->salen) < 0)
        goto fail_errno;
    if (type == SOCK_STREAM) {
        if (listen(fd, CDNS_NET_TCP_BACKLOG) < 0)
            goto fail_errno;
        /* One round trip fewer for clients that support it; failure is harmless. */
        int qlen = 256;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
    }
    if (ep->port == 0) {
        /* Port 0 (tests): the first socket picks the port, every later one binds the same. */
        struct sockaddr_storage ss = {0};
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
            goto fail_errno;
        /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): getsockname filled ss. */
        ep->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
        if (family == AF_INET)
            ((struct sockaddr_in *)&ep->sa)->sin_port = htons(ep->port);
        else
            ((struct sockaddr_in6 *)&ep->sa)->sin6_port = htons(ep->port);
    }
    *fd_out = fd;
    return CDNS_OK;
fail_errno:
    rc = -errno;
    close(fd);
    return rc;
}
