/* SPDX-License-Identifier: MIT */
/* Unit tests of src/net: real workers serving a whoami pipeline on 127.0.0.1 (an ephemeral
 * port), exchanging real UDP and TCP packets: batches, pipelining, split queries, half-close,
 * bad frames, the idle timeout, the connection cap, bind errors and stop. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cdns/config.h"
#include "cdns/net.h"
#include "cdns/pipeline.h"
#include "check_main.h"

typedef struct fixture {
    cdns_corefile_t *cf;
    cdns_pipeline_t *p;
    cdns_net_t *net;
    uint16_t port;
} fixture_t;

static void fx_start(fixture_t *fx, const char *corefile, unsigned nworkers, unsigned idle_ms, unsigned max_conns)
{
    cdns_diag_t diag = {{0}};
    memset(fx, 0, sizeof(*fx));
    ck_assert_msg(cdns_corefile_parse(corefile, strlen(corefile), "Corefile", &fx->cf, &diag) == CDNS_OK, "%s",
                  diag.msg);
    /* default_port 0: listeners without a port get one from the kernel. */
    cdns_pipeline_opts_t po = {.default_port = 0, .nworkers = nworkers};
    ck_assert_msg(cdns_pipeline_new(fx->cf, &po, &fx->p, &diag) == CDNS_OK, "%s", diag.msg);
    cdns_net_opts_t no = {.nworkers = nworkers, .tcp_idle_ms = idle_ms, .tcp_max_conns = max_conns};
    ck_assert_msg(cdns_net_start(&no, &fx->p, &fx->net, &diag) == CDNS_OK, "%s", diag.msg);
    fx->port = cdns_net_port(fx->net, 0);
    ck_assert_uint_ne(fx->port, 0);
}

static void fx_stop(fixture_t *fx)
{
    cdns_net_stop(fx->net);
    cdns_pipeline_free(fx->p);
    cdns_corefile_free(fx->cf);
}

static const char *const WHOAMI = ". {\n    bind 127.0.0.1\n    whoami\n}\n";

/* A query for example.org. A with the given ID. */
static size_t make_query(uint8_t *buf, uint16_t id)
{
    static const uint8_t tail[] = {1,   0,   0,   1,   0, 0,   0,   0,   0, 0, 7, 'e', 'x', 'a',
                                   'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0,   1};
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    memcpy(buf + 2, tail, sizeof(tail));
    return 2 + sizeof(tail);
}

static void check_answer(const uint8_t *r, size_t len, uint16_t id)
{
    ck_assert_uint_ge(len, 12);
    ck_assert_uint_eq((unsigned)(r[0] << 8 | r[1]), id);
    ck_assert_msg(r[2] & 0x80, "QR not set");
    ck_assert_uint_eq(r[3] & 0x0f, 0);                    /* NOERROR */
    ck_assert_uint_eq((unsigned)(r[10] << 8 | r[11]), 2); /* whoami: A + SRV in additional */
}

static struct sockaddr_in server_addr(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    return sa;
}

static int udp_client(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    return fd;
}

static int tcp_client(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = server_addr(port);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Reads exactly n octets (or fails the test); returns 0 on EOF before any octet. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&pfd, 1, timeout_ms) == 1, "timed out reading");
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r == 0 && got == 0)
            return 0;
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Reads one framed response; returns its length, 0 on EOF. */
static size_t read_frame(int fd, uint8_t *buf, int timeout_ms)
{
    uint8_t hdr[2];
    if (read_full(fd, hdr, 2, timeout_ms) == 0)
        return 0;
    size_t len = (size_t)hdr[0] << 8 | hdr[1];
    ck_assert_int_eq(read_full(fd, buf, len, timeout_ms), (ssize_t)len);
    return len;
}

/* True when the peer closed (EOF or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) != 1)
        return false;
    uint8_t b;
    return recv(fd, &b, 1, 0) <= 0;
}

START_TEST(udp_single_query)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 2, 0, 0);
    int fd = udp_client();
    struct sockaddr_in sa = server_addr(fx.port);
    uint8_t q[64], r[512];
    size_t ql = make_query(q, 0x1234);
    ck_assert_int_eq(sendto(fd, q, ql, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)ql);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
    ssize_t n = recv(fd, r, sizeof(r), 0);
    check_answer(r, (size_t)n, 0x1234);
    close(fd);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.udp_received, 1);
    ck_assert_uint_eq(st.udp_dropped, 0);
    fx_stop(&fx);
}
END_TEST

START_TEST(udp_burst_all_answered)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 2, 0, 0);
    int fd = udp_client();
    struct sockaddr_in sa = server_addr(fx.port);
    enum { N = 500 };
    static bool seen[N];
    memset(seen, 0, sizeof(seen));
    uint8_t q[64], r[512];
    /* Rounds of 50 back-to-back datagrams: enough to fill recvmmsg batches, few enough to fit
     * a default-sized socket buffer where SO_RCVBUFFORCE is not allowed. */
    unsigned got = 0;
    for (uint16_t base = 0; base < N; base += 50) {
        for (uint16_t i = base; i < base + 50; i++) {
            size_t ql = make_query(q, i);
            ck_assert_int_eq(sendto(fd, q, ql, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)ql);
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        while (got < base + 50u && poll(&pfd, 1, 2000) == 1) {
            ssize_t n = recv(fd, r, sizeof(r), 0);
            ck_assert_int_ge(n, 12);
            uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
            ck_assert_uint_lt(id, N);
            ck_assert_msg(!seen[id], "answered twice");
            seen[id] = true;
            check_answer(r, (size_t)n, id);
            got++;
        }
    }
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_msg(got == N, "got %u of %u (server received %llu, dropped %llu)", got, (unsigned)N,
                  (unsigned long long)st.udp_received, (unsigned long long)st.udp_dropped);
    close(fd);
    fx_stop(&fx);
}
END_TEST

/* One query at a time, each waited for: every wakeup reads one datagram from the receive ring
 * and re-arms that entry. Far more queries than slots, so a slot the ring lost would show. */
static void udp_one_by_one(int fd, uint16_t first, unsigned n)
{
    uint8_t q[64], r[512];
    for (unsigned i = 0; i < n; i++) {
        uint16_t id = (uint16_t)(first + i);
        size_t ql = make_query(q, id);
        ck_assert_int_eq(send(fd, q, ql, 0), (ssize_t)ql);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&pfd, 1, 2000) == 1, "query %u unanswered", i);
        ssize_t len = recv(fd, r, sizeof(r), 0);
        check_answer(r, (size_t)len, id);
    }
}

static int udp_connected(uint16_t port)
{
    int fd = udp_client();
    struct sockaddr_in sa = server_addr(port);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

START_TEST(udp_ring_rearms_one_query_per_wakeup)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 0);
    int fd = udp_connected(fx.port);
    udp_one_by_one(fd, 0, 600);
    close(fd);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.udp_received, 600);
    ck_assert_uint_eq(st.udp_dropped, 0);
    fx_stop(&fx);
}
END_TEST

/* TCP and UDP share the worker's slots: with UDP's receive ring armed, as many TCP queries at
 * once as the worker has slots are all answered (those beyond the free list come out of the
 * ring; test_udp.c checks that part deterministically), and UDP answers afterwards. */
START_TEST(tcp_and_the_udp_ring_share_slots)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 0);
    int u = udp_connected(fx.port);
    udp_one_by_one(u, 0, 1);
    enum { CONNS = 8, PER = 32 }; /* 256 queries at once: every slot of the worker */
    int fds[CONNS];
    static uint8_t out[PER * 64];
    size_t off = 0;
    for (uint16_t i = 0; i < PER; i++) {
        size_t ql = make_query(out + off + 2, i);
        out[off] = 0;
        out[off + 1] = (uint8_t)ql;
        off += 2 + ql;
    }
    for (int c = 0; c < CONNS; c++)
        fds[c] = tcp_client(fx.port);
    for (int c = 0; c < CONNS; c++)
        ck_assert_int_eq(send(fds[c], out, off, 0), (ssize_t)off);
    uint8_t r[1024];
    for (int c = 0; c < CONNS; c++) {
        for (int i = 0; i < PER; i++) {
            size_t n = read_frame(fds[c], r, 2000);
            ck_assert_uint_gt(n, 0);
            check_answer(r, n, (uint16_t)(r[0] << 8 | r[1]));
        }
        close(fds[c]);
    }
    udp_one_by_one(u, 1, 100);
    close(u);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.tcp_queries, CONNS * PER);
    ck_assert_uint_eq(st.udp_received, 101);
    ck_assert_uint_eq(st.udp_dropped, 0);
    fx_stop(&fx);
}
END_TEST

/* A wildcard socket learns each datagram's destination (IP_PKTINFO in the ring entry's control
 * buffer) and answers from it: a connected client only accepts an answer from 127.0.0.1. */
START_TEST(udp_wildcard_answers_from_the_address_asked)
{
    fixture_t fx;
    fx_start(&fx, ". {\n    whoami\n}\n", 1, 0, 0);
    int fd = udp_connected(fx.port);
    udp_one_by_one(fd, 0, 200);
    close(fd);
    fx_stop(&fx);
}
END_TEST

START_TEST(udp_garbage_dropped_or_formerr)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 0);
    int fd = udp_client();
    struct sockaddr_in sa = server_addr(fx.port);
    /* Shorter than a header: dropped; then a good query still works. */
    uint8_t junk[5] = {1, 2, 3, 4, 5}, q[64], r[512];
    sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&sa, sizeof(sa));
    size_t ql = make_query(q, 7);
    sendto(fd, q, ql, 0, (struct sockaddr *)&sa, sizeof(sa));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
    ssize_t n = recv(fd, r, sizeof(r), 0);
    check_answer(r, (size_t)n, 7);
    close(fd);
    fx_stop(&fx);
}
END_TEST

START_TEST(tcp_pipelined_in_one_write)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 2, 0, 0);
    int fd = tcp_client(fx.port);
    enum { N = 100 };
    static uint8_t out[N * 64];
    size_t off = 0;
    for (uint16_t i = 0; i < N; i++) {
        size_t ql = make_query(out + off + 2, i);
        out[off] = 0;
        out[off + 1] = (uint8_t)ql;
        off += 2 + ql;
    }
    ck_assert_int_eq(send(fd, out, off, 0), (ssize_t)off);
    bool seen[N] = {false};
    uint8_t r[1024];
    for (int i = 0; i < N; i++) {
        size_t n = read_frame(fd, r, 2000);
        ck_assert_uint_gt(n, 0);
        uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
        ck_assert_uint_lt(id, N);
        ck_assert(!seen[id]);
        seen[id] = true;
        check_answer(r, n, id);
    }
    close(fd);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.tcp_queries, N);
    ck_assert_uint_eq(st.tcp_accepted, 1);
    fx_stop(&fx);
}
END_TEST

START_TEST(tcp_query_split_over_reads)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 0);
    int fd = tcp_client(fx.port);
    uint8_t buf[64], r[1024];
    size_t ql = make_query(buf + 2, 42);
    buf[0] = 0;
    buf[1] = (uint8_t)ql;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
    for (size_t i = 0; i < ql + 2; i++) {
        ck_assert_int_eq(send(fd, buf + i, 1, 0), 1);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    size_t n = read_frame(fd, r, 2000);
    check_answer(r, n, 42);
    close(fd);
    fx_stop(&fx);
}
END_TEST

START_TEST(tcp_half_close_answers_then_closes)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 0);
    int fd = tcp_client(fx.port);
    uint8_t out[256], r[1024];
    size_t off = 0;
    for (uint16_t i = 0; i < 3; i++) {
        size_t ql = make_query(out + off + 2, (uint16_t)(100 + i));
        out[off] = 0;
        out[off + 1] = (uint8_t)ql;
        off += 2 + ql;
    }
    ck_assert_int_eq(send(fd, out, off, 0), (ssize_t)off);
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 3; i++) {
        size_t n = read_frame(fd, r, 2000);
        ck_assert_uint_gt(n, 0);
    }
    ck_assert(closed_within(fd, 2000));
    close(fd);
    fx_stop(&fx);
}
END_TEST

START_TEST(tcp_short_length_closes)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 0);
    int fd = tcp_client(fx.port);
    uint8_t bad[7] = {0, 5, 1, 2, 3, 4, 5};
    send(fd, bad, sizeof(bad), 0);
    ck_assert(closed_within(fd, 2000));
    close(fd);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.tcp_bad_frame, 1);
    fx_stop(&fx);
}
END_TEST

START_TEST(tcp_idle_timeout)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 200, 0);
    int fd = tcp_client(fx.port);
    uint8_t buf[64], r[1024];
    /* A query resets the window; the connection then closes ~200 ms after it. */
    size_t ql = make_query(buf + 2, 9);
    buf[0] = 0;
    buf[1] = (uint8_t)ql;
    send(fd, buf, ql + 2, 0);
    check_answer(r, read_frame(fd, r, 2000), 9);
    ck_assert(!closed_within(fd, 100));
    ck_assert(closed_within(fd, 1000));
    close(fd);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.tcp_idle_closed, 1);
    ck_assert_uint_eq(st.tcp_open, 0);
    fx_stop(&fx);
}
END_TEST

START_TEST(tcp_cap_evicts_oldest_idle)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 1, 0, 3);
    int fds[4];
    uint8_t buf[64], r[1024];
    for (int i = 0; i < 3; i++) {
        fds[i] = tcp_client(fx.port);
        /* One exchange each, so the worker has accepted them in order. */
        size_t ql = make_query(buf + 2, (uint16_t)i);
        buf[0] = 0;
        buf[1] = (uint8_t)ql;
        send(fds[i], buf, ql + 2, 0);
        check_answer(r, read_frame(fds[i], r, 2000), (uint16_t)i);
    }
    fds[3] = tcp_client(fx.port);
    size_t ql = make_query(buf + 2, 3);
    buf[0] = 0;
    buf[1] = (uint8_t)ql;
    send(fds[3], buf, ql + 2, 0);
    check_answer(r, read_frame(fds[3], r, 2000), 3);
    ck_assert(closed_within(fds[0], 1000));
    ck_assert(!closed_within(fds[1], 50));
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    cdns_net_stats_t st;
    cdns_net_stats(fx.net, &st);
    ck_assert_uint_eq(st.tcp_evicted, 1);
    fx_stop(&fx);
}
END_TEST

START_TEST(stop_with_open_connections)
{
    fixture_t fx;
    fx_start(&fx, WHOAMI, 2, 0, 0);
    int fds[10];
    for (int i = 0; i < 10; i++)
        fds[i] = tcp_client(fx.port);
    fx_stop(&fx);
    for (int i = 0; i < 10; i++) {
        ck_assert(closed_within(fds[i], 1000));
        close(fds[i]);
    }
}
END_TEST

START_TEST(bind_error_reported)
{
    /* A plain (non-SO_REUSEPORT) socket holds the port, so our bind must fail. */
    int hold = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = server_addr(0);
    ck_assert_int_eq(bind(hold, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(hold, (struct sockaddr *)&sa, &sl);
    char corefile[128];
    snprintf(corefile, sizeof(corefile), ".:%u {\n    bind 127.0.0.1\n    whoami\n}\n", ntohs(sa.sin_port));
    cdns_diag_t diag = {{0}};
    cdns_corefile_t *cf = NULL;
    cdns_pipeline_t *p = NULL;
    cdns_net_t *net = NULL;
    ck_assert_int_eq(cdns_corefile_parse(corefile, strlen(corefile), "Corefile", &cf, &diag), CDNS_OK);
    cdns_pipeline_opts_t po = {.default_port = 53, .nworkers = 2};
    ck_assert_int_eq(cdns_pipeline_new(cf, &po, &p, &diag), CDNS_OK);
    cdns_net_opts_t no = {.nworkers = 2};
    ck_assert_int_ne(cdns_net_start(&no, &p, &net, &diag), CDNS_OK);
    ck_assert_ptr_null(net);
    char want[96];
    snprintf(want, sizeof(want), "listen udp 127.0.0.1:%u: Address already in use", ntohs(sa.sin_port));
    ck_assert_str_eq(diag.msg, want);
    cdns_pipeline_free(p);
    cdns_corefile_free(cf);
    close(hold);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, udp_single_query);
    tcase_add_test(tc, udp_burst_all_answered);
    tcase_add_test(tc, udp_ring_rearms_one_query_per_wakeup);
    tcase_add_test(tc, tcp_and_the_udp_ring_share_slots);
    tcase_add_test(tc, udp_wildcard_answers_from_the_address_asked);
    tcase_add_test(tc, udp_garbage_dropped_or_formerr);
    tcase_add_test(tc, tcp_pipelined_in_one_write);
    tcase_add_test(tc, tcp_query_split_over_reads);
    tcase_add_test(tc, tcp_half_close_answers_then_closes);
    tcase_add_test(tc, tcp_short_length_closes);
    tcase_add_test(tc, tcp_idle_timeout);
    tcase_add_test(tc, tcp_cap_evicts_oldest_idle);
    tcase_add_test(tc, stop_with_open_connections);
    tcase_add_test(tc, bind_error_reported);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(net_suite)
