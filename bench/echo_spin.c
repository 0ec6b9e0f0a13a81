/* SPDX-License-Identifier: MIT */
/* echo_spin.c — a calibration server: the echo responder's kernel path plus a fixed amount of
 * user-space work per datagram.
 *
 *   echo_spin ADDR PORT SPIN_NS
 *
 * One thread, one socket; blocks in recvmmsg for the first datagram of a batch (up to 64), then
 * spins SPIN_NS nanoseconds per datagram on the monotonic clock (user time: no syscall, the
 * clock is the vDSO's), answers each query with its question and one A record (10.0.0.1, TTL
 * 5; an OPT record in the query is dropped from the answer), and sends the batch with one
 * sendmmsg. With SPIN_NS 0 it does what ../shared/bench-peers' echo responder does; with
 * SPIN_NS set to a server's user time per answer, it shows what that server could reach if its
 * kernel path cost what the echo's does, and how much of a cut in user time reaches answers per
 * core (bench/ab.py "echo:NS"). Loopback only, like the rest of bench/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define BUF 1232
#define HDR 12

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void spin(int64_t ns)
{
    if (ns <= 0)
        return;
    int64_t end = now_ns() + ns;
    while (now_ns() < end)
        ;
}

/* The answer to the query in p[0, len), written in place; 0 when it gets none. */
static size_t answer(uint8_t *p, size_t len)
{
    if (len < HDR + 5 || (p[2] & 0x80) || p[4] != 0 || p[5] != 1)
        return 0; /* short, a response, or not one question */
    size_t q = HDR;
    while (q < len && p[q] != 0 && (p[q] & 0xc0) == 0)
        q += (size_t)p[q] + 1;
    if (q >= len || p[q] != 0 || q + 5 > len)
        return 0;
    size_t out = q + 5; /* past the root label, QTYPE and QCLASS: OPT and the rest are dropped */
    static const uint8_t rr[] = {0xc0, HDR, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1};
    if (out + sizeof(rr) > BUF)
        return 0;
    memcpy(p + out, rr, sizeof(rr));
    p[2] = (uint8_t)((p[2] & 0x79) | 0x84); /* QR, AA; opcode and RD kept */
    p[3] = 0;
    p[6] = 0, p[7] = 1; /* ANCOUNT */
    p[8] = p[9] = 0;    /* NSCOUNT */
    p[10] = p[11] = 0;  /* ARCOUNT */
    return out + sizeof(rr);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ADDR PORT SPIN_NS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
        fprintf(stderr, "echo_spin: bad address %s\n", argv[1]);
        return 2;
    }
    int64_t spin_ns = atoll(argv[3]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1, rcvbuf = 1 << 20;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("echo_spin: socket");
        return 1;
    }
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    static uint8_t buf[BATCH][BUF];
    static struct sockaddr_in peer[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr in[BATCH], out[BATCH];
    unsigned long long served = 0;
    while (!stopping) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = BUF};
            in[i].msg_hdr = (struct msghdr){
                .msg_name = &peer[i], .msg_namelen = sizeof(peer[i]), .msg_iov = &iov[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        int m = 0;
        for (int i = 0; i < n; i++) {
            spin(spin_ns);
            size_t len = answer(buf[i], in[i].msg_len);
            if (len == 0)
                continue;
            iov[i].iov_len = len;
            out[m].msg_hdr = in[i].msg_hdr;
            out[m].msg_hdr.msg_iov = &iov[i];
            m++;
        }
        for (int off = 0; off < m;) {
            int s = sendmmsg(fd, out + off, (unsigned)(m - off), 0);
            if (s <= 0)
                break;
            off += s;
        }
        served += (unsigned long long)m;
    }
    fprintf(stderr, "echo_spin: %llu answers\n", served);
    return 0;
}
