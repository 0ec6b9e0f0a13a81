/* SPDX-License-Identifier: MIT */
/* Concurrency tests, written for `make tsan` (they pass under any build): what runs on several
 * threads at once, with real sockets on 127.0.0.1. Client threads query the workers while the
 * main thread publishes new pipelines with RCU (a reload), renders the metrics (a scrape) and
 * reads the net counters; and workers started and stopped again and again while a client sends.
 * Every answer a client gets must be complete and correct. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cdns/config.h"
#include "cdns/metrics.h"
#include "cdns/net.h"
#include "cdns/pipeline.h"
#include "cdns/plugin.h"
#include "check_main.h"

static const char *const COREFILE = ". {\n    bind 127.0.0.1\n    whoami\n}\n";

typedef struct client {
    uint16_t port;
    atomic_bool *stop;
    atomic_uint ok; /* read by the main thread while the client runs */
    unsigned bad;
} client_t;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t make_query(uint8_t *buf, uint16_t id)
{
    static const uint8_t tail[] = {1,   0,   0,   1,   0, 0,   0,   0,   0, 0, 7, 'e', 'x', 'a',
                                   'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0,   1};
    buf[0] = (uint8_t)(id >> 8);
    buf[1] = (uint8_t)id;
    memcpy(buf + 2, tail, sizeof(tail));
    return 2 + sizeof(tail);
}

/* One UDP query after another; an answer must carry the ID, QR, NOERROR and whoami's two
 * additional records. Timeouts are not counted as bad: a reload or stop may drop a datagram. */
static void *client_main(void *arg)
{
    client_t *c = arg;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    uint16_t id = (uint16_t)(uintptr_t)c;
    while (!atomic_load(c->stop)) {
        uint8_t q[64], r[512];
        size_t n = make_query(q, ++id);
        if (sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            continue;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        while (poll(&pfd, 1, 200) == 1) {
            ssize_t got = recv(fd, r, sizeof(r), 0);
            if (got < 12)
                break;
            if ((unsigned)(r[0] << 8 | r[1]) != id)
                continue; /* a late answer to an earlier query */
            bool good = (r[2] & 0x80) && (r[3] & 0x0f) == 0 && (unsigned)(r[10] << 8 | r[11]) == 2;
            if (good)
                c->ok++;
            else
                c->bad++;
            break;
        }
    }
    close(fd);
    return NULL;
}

typedef struct scraper {
    atomic_bool *stop;
    const cdns_net_t *net;
    unsigned renders;
} scraper_t;

/* What the HTTP thread does on a scrape: renders every series (summing the workers' slots). */
static void *scraper_main(void *arg)
{
    scraper_t *s = arg;
    while (!atomic_load(s->stop)) {
        char *text = NULL;
        size_t len = 0;
        if (cdns_metrics_render(&text, &len) == CDNS_OK)
            s->renders++;
        free(text);
        cdns_net_stats_t st;
        cdns_net_stats(s->net, &st);
        usleep(2000);
    }
    return NULL;
}

START_TEST(reload_and_scrape_under_load)
{
    cdns_diag_t diag = {{0}};
    cdns_corefile_t *cf = NULL;
    ck_assert_msg(cdns_corefile_parse(COREFILE, strlen(COREFILE), "Corefile", &cf, &diag) == CDNS_OK, "%s", diag.msg);
    cdns_metrics_set_slots(2);
    cdns_pipeline_opts_t po = {.default_port = 0, .nworkers = 2};
    cdns_pipeline_t *slot = NULL;
    ck_assert_msg(cdns_pipeline_new(cf, &po, &slot, &diag) == CDNS_OK, "%s", diag.msg);
    cdns_net_opts_t no = {.nworkers = 2, .tcp_idle_ms = 1000, .tcp_max_conns = 64};
    cdns_net_t *net = NULL;
    ck_assert_msg(cdns_net_start(&no, &slot, &net, &diag) == CDNS_OK, "%s", diag.msg);
    uint16_t port = cdns_net_port(net, 0);

    atomic_bool stop = false;
    client_t cl[3];
    pthread_t th[3], sth;
    for (int i = 0; i < 3; i++) {
        cl[i] = (client_t){.port = port, .stop = &stop};
        ck_assert_int_eq(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    scraper_t sc = {.stop = &stop, .net = net};
    ck_assert_int_eq(pthread_create(&sth, NULL, scraper_main, &sc), 0);

    /* Reloads: a new pipeline from the same Corefile (same listeners) swapped in under load,
     * the old one freed after every worker passed a quiescent point, as main.c does. */
    unsigned reloads = 0;
    uint64_t end = now_ms() + 1500;
    while (now_ms() < end) {
        cdns_pipeline_t *np = NULL;
        ck_assert_msg(cdns_pipeline_new(cf, &po, &np, &diag) == CDNS_OK, "%s", diag.msg);
        cdns_pipeline_t *old = cdns_rcu_swap((void **)&slot, np);
        cdns_rcu_synchronize();
        cdns_pipeline_free(old);
        reloads++;
        usleep(20000);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    pthread_join(sth, NULL);
    cdns_net_stop(net);
    cdns_pipeline_free(slot);
    cdns_corefile_free(cf);

    unsigned ok = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(cl[i].bad == 0, "client %d got %u bad answers", i, cl[i].bad);
        ok += atomic_load(&cl[i].ok);
    }
    ck_assert_msg(ok > 100, "only %u answers during %u reloads", ok, reloads);
    ck_assert_uint_gt(reloads, 10);
    ck_assert_uint_gt(sc.renders, 10);
}
END_TEST

START_TEST(workers_start_and_stop_under_load)
{
    cdns_diag_t diag = {{0}};
    cdns_corefile_t *cf = NULL;
    ck_assert_msg(cdns_corefile_parse(COREFILE, strlen(COREFILE), "Corefile", &cf, &diag) == CDNS_OK, "%s", diag.msg);
    cdns_pipeline_opts_t po = {.default_port = 0, .nworkers = 2};
    cdns_pipeline_t *slot = NULL;
    ck_assert_msg(cdns_pipeline_new(cf, &po, &slot, &diag) == CDNS_OK, "%s", diag.msg);
    cdns_net_opts_t no = {.nworkers = 2, .tcp_idle_ms = 1000, .tcp_max_conns = 64};
    cdns_net_t *net = NULL;
    ck_assert_msg(cdns_net_start(&no, &slot, &net, &diag) == CDNS_OK, "%s", diag.msg);
    uint16_t port = cdns_net_port(net, 0);
    cdns_net_stop(net);

    /* The same port every round (the pipeline keeps port 0, so pin it in a copy). */
    char text[128];
    snprintf(text, sizeof(text), ".:%u {\n    bind 127.0.0.1\n    whoami\n}\n", port);
    cdns_corefile_t *cf2 = NULL;
    ck_assert_msg(cdns_corefile_parse(text, strlen(text), "Corefile", &cf2, &diag) == CDNS_OK, "%s", diag.msg);
    cdns_pipeline_t *p2 = NULL;
    ck_assert_msg(cdns_pipeline_new(cf2, &po, &p2, &diag) == CDNS_OK, "%s", diag.msg);

    atomic_bool stop = false;
    client_t cl = {.port = port, .stop = &stop};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, client_main, &cl), 0);
    /* Each round serves until the client has had an answer from it (at most 5 s), then stops:
     * a fixed up-time would make the count depend on how fast a loaded (ASan) machine starts
     * threads, which is not what this checks. */
    unsigned answered_rounds = 0;
    for (int round = 0; round < 15; round++) {
        unsigned before = atomic_load(&cl.ok);
        ck_assert_msg(cdns_net_start(&no, &p2, &net, &diag) == CDNS_OK, "round %d: %s", round, diag.msg);
        uint64_t end = now_ms() + 5000;
        while (atomic_load(&cl.ok) == before && now_ms() < end)
            usleep(1000);
        answered_rounds += atomic_load(&cl.ok) != before;
        cdns_net_stop(net);
    }
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(cl.bad == 0, "%u bad answers", cl.bad);
    ck_assert_msg(answered_rounds == 15, "only %u of 15 start/stop rounds answered", answered_rounds);
    cdns_pipeline_free(p2);
    cdns_corefile_free(cf2);
    cdns_pipeline_free(slot);
    cdns_corefile_free(cf);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("net-concurrency");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reload_and_scrape_under_load);
    tcase_add_test(tc, workers_start_and_stop_under_load);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(concurrency_suite)
