/* SPDX-License-Identifier: MIT */
/* http.c — /health, /ready and /metrics over libmicrohttpd, one daemon per distinct address.
 *
 * We create and bind each listening socket ourselves (SO_REUSEPORT, so a reload can bind the
 * new set while the old one still runs, and so bind errors read like CoreDNS's) and hand it to a
 * libmicrohttpd daemon running its own polling thread. Handlers read only the process-wide state
 * kept here (an atomic flag, a mutex-guarded "not ready" text) and the metrics registry. When
 * /health is served, a probe thread requests it once a second and records how long it took
 * (coredns_health_request_duration_seconds), as CoreDNS's health plugin does.
 * Ownership: cdns_http_t and its daemons belong to the main thread that built them.
 */
#include "cdns/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cdns/metrics.h"

#define MAX_ADDRS 16
#define PROBE_INTERVAL_MS 1000
#define PROBE_TIMEOUT_S 3

typedef struct http_addr {
    char text[128]; /* as given */
    unsigned paths;
    struct sockaddr_storage sa;
    socklen_t salen;
    uint16_t port; /* bound */
    struct MHD_Daemon *d;
} http_addr_t;

struct cdns_http {
    http_addr_t addrs[MAX_ADDRS];
    size_t n;
    /* the health self-probe */
    pthread_t probe;
    bool probe_started;
    pthread_mutex_t probe_mu;
    pthread_cond_t probe_cv;
    bool probe_stop;
    struct sockaddr_storage probe_sa;
    socklen_t probe_salen;
};

/* ------------------------------------------------------------ global state */
static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static bool state_ready;
static char state_notready[1024];
static atomic_bool state_shutting_down;

void cdns_http_set_ready(bool ready, const char *notready)
{
    pthread_mutex_lock(&state_mu);
    state_ready = ready;
    snprintf(state_notready, sizeof(state_notready), "%s", notready ? notready : "");
    pthread_mutex_unlock(&state_mu);
}

void cdns_http_set_shutting_down(void)
{
    atomic_store(&state_shutting_down, true);
}

/* ------------------------------------------------------------------ metrics */
static cdns_series_t *health_duration, *health_failures;

static void health_metrics_init(void)
{
    static const double slim[] = {0.00025, 0.0025, 0.025, 0.25, 2.5};
    cdns_metric_t *d = cdns_metric_register("coredns_health_request_duration_seconds",
                                            "Histogram of the time (in seconds) each request took.",
                                            CDNS_METRIC_HISTOGRAM, NULL, 0, slim, CDNS_ARRAY_LEN(slim));
    cdns_metric_t *f =
        cdns_metric_register("coredns_health_request_failures_total", "The number of times the health check failed.",
                             CDNS_METRIC_COUNTER, NULL, 0, NULL, 0);
    health_duration = cdns_metric_series(d, NULL);
    health_failures = cdns_metric_series(f, NULL);
}

/* ----------------------------------------------------------------- handlers */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body, size_t len,
                             bool owned)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve_ready(struct MHD_Connection *c)
{
    static const char *const text = "text/plain; charset=utf-8";
    if (atomic_load(&state_shutting_down))
        return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, (char *)"Shutting down", 13, false);
    char body[sizeof(state_notready)];
    pthread_mutex_lock(&state_mu);
    bool ok = state_ready;
    snprintf(body, sizeof(body), "%s", state_notready);
    pthread_mutex_unlock(&state_mu);
    if (ok)
        return reply(c, MHD_HTTP_OK, text, (char *)"OK", 2, false);
    return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, body, strlen(body), false);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c)
{
    char *out = NULL;
    size_t len = 0;
    if (cdns_metrics_render(&out, &len) != CDNS_OK)
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", (char *)"out of memory\n", 14,
                     false);
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out, len, true);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    CDNS_UNUSED(method);
    CDNS_UNUSED(version);
    CDNS_UNUSED(upload_data);
    CDNS_UNUSED(con_cls);
    const http_addr_t *a = cls;
    /* Bodies are not read: every endpoint answers as soon as the headers are in. */
    *upload_data_size = 0;
    if ((a->paths & CDNS_HTTP_HEALTH) && strcmp(url, "/health") == 0)
        return reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", (char *)"OK", 2, false);
    if ((a->paths & CDNS_HTTP_READY) && strcmp(url, "/ready") == 0)
        return serve_ready(c);
    if ((a->paths & CDNS_HTTP_METRICS) && strcmp(url, "/metrics") == 0)
        return serve_metrics(c);
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", (char *)"404 page not found\n", 19, false);
}

/* --------------------------------------------------------------- addresses */
static int parse_addr(const char *text, struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
        return CDNS_EINVAL;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    const char *ps = colon + 1;
    char *end;
    unsigned long port = strtoul(ps, &end, 10);
    if (*ps == '\0' || *end != '\0' || port > 65535)
        return CDNS_EINVAL;
    size_t hl = strlen(host);
    bool bracketed = hl >= 2 && host[0] == '[' && host[hl - 1] == ']';
    if (bracketed) {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    } else if (strchr(host, ':') != NULL) {
        return CDNS_EINVAL; /* "too many colons", as Go's SplitHostPort says */
    }
    memset(sa, 0, sizeof(*sa));
    struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
    if (host[0] == '\0') {
        /* Every address: dual-stack IPv6 when the host has it (see open_listener). */
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        s6->sin6_port = htons((uint16_t)port);
        *salen = sizeof(*s6);
        return CDNS_OK;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *salen = sizeof(*s4);
        return CDNS_OK;
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *salen = sizeof(*s6);
        return CDNS_OK;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return CDNS_ENOENT;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    if (sa->ss_family == AF_INET)
        s4->sin_port = htons((uint16_t)port);
    else
        s6->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return CDNS_OK;
}

cdns_http_t *cdns_http_new(void)
{
    cdns_http_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    pthread_mutex_init(&h->probe_mu, NULL);
    pthread_cond_init(&h->probe_cv, NULL);
    return h;
}

int cdns_http_add(cdns_http_t *h, const char *addr, unsigned paths, cdns_diag_t *diag)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->addrs[i].text, addr) == 0) {
            h->addrs[i].paths |= paths;
            return CDNS_OK;
        }
    if (h->n == MAX_ADDRS)
        return cdns_diag_set(diag, NULL, 0, "http: more than %d addresses", MAX_ADDRS);
    http_addr_t *a = &h->addrs[h->n];
    memset(a, 0, sizeof(*a));
    if (strlen(addr) >= sizeof(a->text) || parse_addr(addr, &a->sa, &a->salen) != CDNS_OK)
        return cdns_diag_set(diag, NULL, 0, "address %s: not a valid host:port", addr);
    snprintf(a->text, sizeof(a->text), "%s", addr);
    a->paths = paths;
    h->n++;
    return CDNS_OK;
}

static int open_listener(http_addr_t *a, int *fd_out)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && errno == EAFNOSUPPORT && a->sa.ss_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a->sa)->sin6_addr)) {
        /* Every address on a host without IPv6: IPv4's every address. */
        uint16_t port = ((struct sockaddr_in6 *)&a->sa)->sin6_port;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
        memset(&a->sa, 0, sizeof(a->sa));
        s4->sin_family = AF_INET;
        s4->sin_port = port;
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
        a->salen = sizeof(*s4);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (a->sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a->sa)->sin6_addr))
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&a->sa, a->salen) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct sockaddr_storage got = {0};
    socklen_t gl = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
        /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): getsockname filled got. */
        a->port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                                 : ((struct sockaddr_in6 *)&got)->sin6_port);
    *fd_out = fd;
    return CDNS_OK;
}

/* ------------------------------------------------------------------- probe */
static bool probe_once(cdns_http_t *h)
{
    int fd = socket(h->probe_sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct timeval tv = {.tv_sec = PROBE_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    bool ok = false;
    static const char req[] = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    char buf[512];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&h->probe_sa, h->probe_salen) != 0 ||
        send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
        goto out;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof(buf) - 1)
            break;
    }
    buf[got] = '\0';
    ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0;
out:
    close(fd);
    return ok;
}

static void *probe_main(void *arg)
{
    cdns_http_t *h = arg;
    pthread_mutex_lock(&h->probe_mu);
    while (!h->probe_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += PROBE_INTERVAL_MS / 1000;
        pthread_cond_timedwait(&h->probe_cv, &h->probe_mu, &ts);
        if (h->probe_stop)
            break;
        pthread_mutex_unlock(&h->probe_mu);
        uint64_t t0 = cdns_clock_mono_ns();
        bool ok = probe_once(h);
        double s = (double)(cdns_clock_mono_ns() - t0) / 1e9;
        cdns_series_observe(health_duration, 0, s);
        if (!ok) {
            cdns_series_inc(health_failures, 0);
            cdns_warn("plugin/health: Local health request failed");
        } else if (s > 1.0) {
            cdns_warn("plugin/health: Local health request took more than 1s: %.3fs", s);
        }
        pthread_mutex_lock(&h->probe_mu);
    }
    pthread_mutex_unlock(&h->probe_mu);
    return NULL;
}

static void probe_start(cdns_http_t *h, const http_addr_t *a)
{
    h->probe_sa = a->sa;
    h->probe_salen = a->salen;
    /* Every address: probe over loopback, as CoreDNS polls "localhost". */
    if (a->sa.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a->sa)->sin6_addr)) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&h->probe_sa;
        memset(&h->probe_sa, 0, sizeof(h->probe_sa));
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        h->probe_salen = sizeof(*s4);
    } else if (a->sa.ss_family == AF_INET && ((struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY)) {
        ((struct sockaddr_in *)&h->probe_sa)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    if (h->probe_sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&h->probe_sa)->sin_port = htons(a->port);
    else
        ((struct sockaddr_in6 *)&h->probe_sa)->sin6_port = htons(a->port);
    health_metrics_init();
    h->probe_stop = false;
    h->probe_started = pthread_create(&h->probe, NULL, probe_main, h) == 0;
}

/* -------------------------------------------------------------- lifecycle */
static void stop_all(cdns_http_t *h)
{
    if (h->probe_started) {
        pthread_mutex_lock(&h->probe_mu);
        h->probe_stop = true;
        pthread_cond_signal(&h->probe_cv);
        pthread_mutex_unlock(&h->probe_mu);
        pthread_join(h->probe, NULL);
        h->probe_started = false;
    }
    for (size_t i = 0; i < h->n; i++) {
        if (h->addrs[i].d != NULL)
            MHD_stop_daemon(h->addrs[i].d); /* closes the listening socket too */
        h->addrs[i].d = NULL;
    }
}

int cdns_http_start(cdns_http_t *h, cdns_diag_t *diag)
{
    const http_addr_t *health = NULL;
    for (size_t i = 0; i < h->n; i++) {
        http_addr_t *a = &h->addrs[i];
        int fd = -1;
        int rc = open_listener(a, &fd);
        if (rc != CDNS_OK) {
            stop_all(h);
            return cdns_diag_set(diag, NULL, 0, "listen tcp %s: %s", a->text, strerror(-rc));
        }
        a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY, 0, NULL, NULL, on_request,
                                a, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)5,
                                MHD_OPTION_END);
        if (a->d == NULL) {
            close(fd);
            stop_all(h);
            return cdns_diag_set(diag, NULL, 0, "http %s: cannot start the server", a->text);
        }
        if ((a->paths & CDNS_HTTP_HEALTH) && health == NULL)
            health = a;
    }
    if (health != NULL)
        probe_start(h, health);
    return CDNS_OK;
}

void cdns_http_free(cdns_http_t *h)
{
    if (h == NULL)
        return;
    stop_all(h);
    pthread_mutex_destroy(&h->probe_mu);
    pthread_cond_destroy(&h->probe_cv);
    free(h);
}

bool cdns_http_same(const cdns_http_t *a, const cdns_http_t *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        size_t j = 0;
        while (j < b->n && strcmp(a->addrs[i].text, b->addrs[j].text) != 0)
            j++;
        if (j == b->n || a->addrs[i].paths != b->addrs[j].paths)
            return false;
    }
    return true;
}

uint16_t cdns_http_port(const cdns_http_t *h, const char *addr)
{
    for (size_t i = 0; h != NULL && i < h->n; i++)
        if (strcmp(h->addrs[i].text, addr) == 0)
            return h->addrs[i].port;
    return 0;
}
