/* SPDX-License-Identifier: MIT */
/* test_watch.c — the reflector's pieces fed with canned bytes (the line splitter over arbitrary
 * chunk boundaries, event application, list pages with mark-and-sweep, selector formatting),
 * then the whole client + watch on a libuv loop against tests/integration/fake_apiserver.py:
 * list and watch, a 410 relist that drops what was deleted unseen, 500s and a broken stream,
 * the EndpointSlice → Endpoints fallback, 403 reporting, TLS with a token that rotates and a
 * wrong CA that is refused. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <curl/curl.h>

#include "check_main.h"
#include "k8s_helpers.h"

/* ------------------------------------------------------------ line splitter */
typedef struct lines_seen {
    char lines[16][128];
    size_t n;
    size_t stop_after; /* 0: never */
} lines_seen_t;

static bool collect(void *arg, char *line, size_t n)
{
    lines_seen_t *s = arg;
    ck_assert_uint_eq(strlen(line), n);
    if (s->n < 16)
        snprintf(s->lines[s->n], sizeof(s->lines[0]), "%s", line);
    s->n++;
    return !(s->stop_after && s->n >= s->stop_after);
}

START_TEST(test_lines_any_chunking)
{
    const char *stream = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n";
    size_t len = strlen(stream);
    /* Every chunk size from 1 byte to the whole stream gives the same three lines. */
    for (size_t chunk = 1; chunk <= len; chunk++) {
        cdns_k8s_lines_t l;
        cdns_k8s_lines_init(&l, 0);
        lines_seen_t s = {0};
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = off + chunk > len ? len - off : chunk;
            ck_assert_int_eq(cdns_k8s_lines_feed(&l, stream + off, n, collect, &s), CDNS_OK);
        }
        ck_assert_uint_eq(s.n, 3);
        ck_assert_str_eq(s.lines[0], "{\"a\":1}");
        ck_assert_str_eq(s.lines[1], "{\"b\":2}");
        ck_assert_str_eq(s.lines[2], "{\"c\":3}");
        cdns_k8s_lines_deinit(&l);
    }
}
END_TEST

START_TEST(test_lines_limits)
{
    cdns_k8s_lines_t l;
    cdns_k8s_lines_init(&l, 8);
    lines_seen_t s = {0};
    ck_assert_int_eq(cdns_k8s_lines_feed(&l, "1234\n", 5, collect, &s), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_lines_feed(&l, "12345", 5, collect, &s), CDNS_OK);
    ck_assert_int_eq(cdns_k8s_lines_feed(&l, "6789\n", 5, collect, &s), CDNS_ENOSPC);
    ck_assert_uint_eq(s.n, 1);
    /* A partial line stays until its end arrives; a stop from the callback is reported. */
    cdns_k8s_lines_reset(&l);
    s = (lines_seen_t){.stop_after = 1};
    ck_assert_int_eq(cdns_k8s_lines_feed(&l, "ab\ncd\n", 6, collect, &s), CDNS_ECANCELED);
    ck_assert_uint_eq(s.n, 1);
    cdns_k8s_lines_deinit(&l);
}
END_TEST

/* ------------------------------------------------------------------ events */
#define SVC_EV(type, name, ip, rv)                                                                                     \
    "{\"type\":\"" type "\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name     \
    "\",\"namespace\":\"default\",\"resourceVersion\":\"" rv "\"},\"spec\":{\"clusterIP\":\"" ip                       \
    "\",\"ports\":[{\"port\":80}]}}}"

static int apply(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *line, cdns_k8s_event_t *ev)
{
    return cdns_k8s_event_apply(idx, kind, line, strlen(line), ev);
}

START_TEST(test_event_apply)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    cdns_k8s_event_t ev;
    ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE, SVC_EV("ADDED", "a", "10.0.0.1", "11"), &ev), CDNS_OK);
    ck_assert_int_eq(ev.type, CDNS_K8S_EV_ADDED);
    ck_assert(ev.changed);
    ck_assert_str_eq(ev.rv, "11");
    ck_assert_str_eq(ev.name, "a");
    ck_assert_str_eq(cdns_k8s_index_service(idx, "default", "a")->cluster_ips[0], "10.0.0.1");
    ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE, SVC_EV("MODIFIED", "a", "10.0.0.2", "12"), &ev), CDNS_OK);
    ck_assert_str_eq(cdns_k8s_index_service(idx, "default", "a")->cluster_ips[0], "10.0.0.2");
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 1);
    /* Bookmarks only move the resourceVersion. */
    ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE,
                           "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
                           "\"metadata\":{\"resourceVersion\":\"15\",\"creationTimestamp\":null}}}",
                           &ev),
                     CDNS_OK);
    ck_assert_int_eq(ev.type, CDNS_K8S_EV_BOOKMARK);
    ck_assert_str_eq(ev.rv, "15");
    ck_assert(!ev.changed);
    ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE, SVC_EV("DELETED", "a", "10.0.0.2", "16"), &ev), CDNS_OK);
    ck_assert(ev.changed);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 0);
    /* Deleting what is not there changes nothing. */
    ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE, SVC_EV("DELETED", "a", "10.0.0.2", "17"), &ev), CDNS_OK);
    ck_assert(!ev.changed);
    /* ERROR carries the Status code: 410 means relist. */
    ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE,
                           "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                           "\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":\"Expired\","
                           "\"code\":410}}",
                           &ev),
                     CDNS_OK);
    ck_assert_int_eq(ev.type, CDNS_K8S_EV_ERROR);
    ck_assert_int_eq(ev.code, 410);
    /* Malformed lines are reported and change nothing. */
    const char *bad[] = {
        "not json",
        "{\"type\":\"ADDED\"}",
        "{\"type\":\"WHAT\",\"object\":{}}",
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"x\"}}}",
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\",\"namespace\":\"x\"}",
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_int_eq(apply(idx, CDNS_K8S_SERVICE, bad[i], &ev), CDNS_EMALFORMED);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 0);
    cdns_k8s_index_free(idx);
}
END_TEST

START_TEST(test_event_endpointslice_trigger)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    cdns_k8s_event_t ev;
    const char *line =
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"web-x\",\"namespace\":"
        "\"default\",\"resourceVersion\":\"7\",\"labels\":{\"kubernetes.io/service-name\":\"web\"},\"annotations\":{"
        "\"endpoints.kubernetes.io/last-change-trigger-time\":\"2024-05-01T10:00:00.5Z\"}},"
        "\"endpoints\":[{\"addresses\":[\"10.1.0.1\"]}],\"ports\":[{\"port\":80}]}}";
    ck_assert_int_eq(apply(idx, CDNS_K8S_ENDPOINTSLICE, line, &ev), CDNS_OK);
    ck_assert_str_eq(ev.service, "web");
    ck_assert_uint_eq(ev.trigger_ns, 1714557600ull * 1000000000ull + 500000000ull);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_ENDPOINTSLICE), 1);
    cdns_k8s_index_free(idx);
}
END_TEST

/* ------------------------------------------------------ list mark and sweep */
START_TEST(test_list_sweep)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    char rv[64], *cont;
    cdns_k8s_load_stats_t st;
    const char *page1 = "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"100\",\"continue\":\"tok/1\"},"
                        "\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\"},\"spec\":{\"clusterIP\":"
                        "\"10.0.0.1\"}},{\"metadata\":{\"name\":\"b\",\"namespace\":\"n1\"},\"spec\":{}}]}";
    const char *page2 = "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"100\"},"
                        "\"items\":[{\"metadata\":{\"name\":\"c\",\"namespace\":\"n2\"},\"spec\":{}},"
                        "{\"metadata\":{\"namespace\":\"n2\"}}]}";
    uint64_t g1 = cdns_k8s_index_next_gen(idx);
    ck_assert_int_eq(cdns_k8s_list_apply(idx, CDNS_K8S_SERVICE, page1, strlen(page1), g1, rv, sizeof(rv), &cont, &st),
                     CDNS_OK);
    ck_assert_str_eq(rv, "100");
    ck_assert_str_eq(cont, "tok/1");
    free(cont);
    ck_assert_uint_eq(st.objects, 2);
    ck_assert_int_eq(cdns_k8s_list_apply(idx, CDNS_K8S_SERVICE, page2, strlen(page2), g1, rv, sizeof(rv), &cont, &st),
                     CDNS_OK);
    ck_assert_ptr_null(cont);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.malformed, 1);
    ck_assert_uint_eq(cdns_k8s_index_sweep(idx, CDNS_K8S_SERVICE, NULL, g1), 0);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 3);

    /* A relist that no longer has b: after its last page, b is swept and nothing else. */
    const char *relist = "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"200\"},\"items\":["
                         "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\"},\"spec\":{\"clusterIP\":\"10.0.0.9\"}},"
                         "{\"metadata\":{\"name\":\"c\",\"namespace\":\"n2\"},\"spec\":{}}]}";
    uint64_t g2 = cdns_k8s_index_next_gen(idx);
    ck_assert_int_eq(cdns_k8s_list_apply(idx, CDNS_K8S_SERVICE, relist, strlen(relist), g2, rv, sizeof(rv), &cont, &st),
                     CDNS_OK);
    /* Until the sweep, the old object still serves: nothing flickers during a relist. */
    ck_assert_ptr_nonnull(cdns_k8s_index_service(idx, "n1", "b"));
    ck_assert_str_eq(cdns_k8s_index_service(idx, "n1", "a")->cluster_ips[0], "10.0.0.9");
    ck_assert_uint_eq(cdns_k8s_index_sweep(idx, CDNS_K8S_SERVICE, NULL, g2), 1);
    ck_assert_ptr_null(cdns_k8s_index_service(idx, "n1", "b"));
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 2);

    /* A namespace-scoped sweep leaves other namespaces alone. */
    uint64_t g3 = cdns_k8s_index_next_gen(idx);
    ck_assert_uint_eq(cdns_k8s_index_sweep(idx, CDNS_K8S_SERVICE, "n2", g3), 1);
    ck_assert_ptr_nonnull(cdns_k8s_index_service(idx, "n1", "a"));
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 1);

    ck_assert_int_eq(cdns_k8s_list_apply(idx, CDNS_K8S_SERVICE, "[1]", 3, g3, rv, sizeof(rv), &cont, &st),
                     CDNS_EMALFORMED);
    cdns_k8s_index_free(idx);
}
END_TEST

START_TEST(test_slice_sweep_keeps_merge)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    char rv[64], *cont;
    const char *list =
        "{\"kind\":\"EndpointSliceList\",\"metadata\":{\"resourceVersion\":\"5\"},\"items\":["
        "{\"metadata\":{\"name\":\"s1\",\"namespace\":\"n\",\"labels\":{\"kubernetes.io/service-name\":\"h\"}},"
        "\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]}]},"
        "{\"metadata\":{\"name\":\"s2\",\"namespace\":\"n\",\"labels\":{\"kubernetes.io/service-name\":\"h\"}},"
        "\"endpoints\":[{\"addresses\":[\"10.0.0.2\"]},{\"addresses\":[\"10.0.0.1\"]}]}]}";
    uint64_t g = cdns_k8s_index_next_gen(idx);
    ck_assert_int_eq(
        cdns_k8s_list_apply(idx, CDNS_K8S_ENDPOINTSLICE, list, strlen(list), g, rv, sizeof(rv), &cont, NULL), CDNS_OK);
    cdns_k8s_epaddr_t *eps;
    size_t n;
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "h", NULL, &eps, &n), CDNS_OK);
    ck_assert_uint_eq(n, 2); /* 10.0.0.1 twice, once after merging */
    free(eps);
    const char *relist =
        "{\"kind\":\"EndpointSliceList\",\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["
        "{\"metadata\":{\"name\":\"s2\",\"namespace\":\"n\",\"labels\":{\"kubernetes.io/service-name\":\"h\"}},"
        "\"endpoints\":[{\"addresses\":[\"10.0.0.2\"]}]}]}";
    g = cdns_k8s_index_next_gen(idx);
    ck_assert_int_eq(
        cdns_k8s_list_apply(idx, CDNS_K8S_ENDPOINTSLICE, relist, strlen(relist), g, rv, sizeof(rv), &cont, NULL),
        CDNS_OK);
    ck_assert_uint_eq(cdns_k8s_index_sweep(idx, CDNS_K8S_ENDPOINTSLICE, NULL, g), 1);
    ck_assert_int_eq(cdns_k8s_index_service_endpoints(idx, "n", "h", NULL, &eps, &n), CDNS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(eps[0].ip, "10.0.0.2");
    free(eps);
    cdns_k8s_index_free(idx);
}
END_TEST

START_TEST(test_selector_format)
{
    cdns_k8s_selector_t sel;
    char err[128], buf[256];
    ck_assert_int_eq(
        cdns_k8s_selector_parse("env in (qa, prod), app = web,!legacy,tier,x!=y,z notin (a)", &sel, err, sizeof(err)),
        CDNS_OK);
    ck_assert_int_eq(cdns_k8s_selector_format(&sel, buf, sizeof(buf)), CDNS_OK);
    ck_assert_str_eq(buf, "env in (qa,prod),app=web,!legacy,tier,x!=y,z notin (a)");
    ck_assert_int_eq(cdns_k8s_selector_format(&sel, buf, 10), CDNS_ENOSPC);
    cdns_k8s_selector_deinit(&sel);
}
END_TEST

/* --------------------------------------------------- against the fake server */
typedef struct fake {
    pid_t pid;
    char url[128];
} fake_t;

static void fake_start(fake_t *f, const char *const *extra)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        const char *argv[16] = {"/usr/bin/python3",
                                "tests/integration/fake_apiserver.py",
                                "--port",
                                "0",
                                "--objects",
                                K8S_DATA_DIR "watch_cluster.json",
                                "--bookmark-interval",
                                "0.2"};
        size_t n = 8;
        for (size_t i = 0; extra && extra[i] && n < 15; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), in));
    fclose(in);
    ck_assert_msg(sscanf(line, "listening on %127s", f->url) == 1, "fake said: %s", line);
}

static void fake_stop(fake_t *f)
{
    kill(f->pid, SIGTERM);
    waitpid(f->pid, NULL, 0);
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* One control request to the fake (http or https without verification: it is the test's own). */
static void fake_ctl(const fake_t *f, const char *method, const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->url, path);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    ck_assert_msg(code == 200 || code == 201, "%s %s: %ld", method, path, code);
    curl_easy_cleanup(e);
}

typedef struct harness {
    uv_loop_t loop;
    uv_timer_t tick;
    cdns_k8s_client_t *client;
    cdns_k8s_index_t *idx;
    cdns_k8s_watch_t *w;
    int changed, listed, forbidden_on, forbidden_off;
} harness_t;

static void h_changed(void *arg, cdns_k8s_watch_t *w, const cdns_k8s_event_t *ev)
{
    (void)w;
    (void)ev;
    ((harness_t *)arg)->changed++;
}
static void h_listed(void *arg, cdns_k8s_watch_t *w)
{
    (void)w;
    ((harness_t *)arg)->listed++;
}
static void h_forbidden(void *arg, cdns_k8s_watch_t *w, bool on)
{
    (void)w;
    harness_t *h = arg;
    if (on)
        h->forbidden_on++;
    else
        h->forbidden_off++;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void h_init(harness_t *h, const cdns_k8s_conn_t *conn, cdns_k8s_kind_t kind, const char *ns)
{
    memset(h, 0, sizeof(*h));
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    uv_timer_init(&h->loop, &h->tick);
    uv_timer_start(&h->tick, on_tick, 10, 10);
    char err[256];
    ck_assert_int_eq(cdns_k8s_client_new(&h->loop, conn, &h->client, err, sizeof(err)), CDNS_OK);
    h->idx = cdns_k8s_index_new();
    cdns_k8s_watch_opts_t o = {.kind = kind,
                               .ns = ns,
                               .limit = 1, /* every object its own page: pagination is exercised */
                               .timeout_s = 2,
                               .stall_ms = 2000,
                               .backoff_min_ms = 50,
                               .backoff_max_ms = 200,
                               .slice_fallback = true};
    static const cdns_k8s_watch_cbs_t cbs = {h_changed, h_listed, h_forbidden};
    ck_assert_int_eq(cdns_k8s_watch_new(h->client, h->idx, &o, &cbs, h, &h->w), CDNS_OK);
    cdns_k8s_watch_start(h->w);
}

static void h_deinit(harness_t *h)
{
    cdns_k8s_watch_free(h->w);
    cdns_k8s_client_free(h->client);
    uv_close((uv_handle_t *)&h->tick, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    /* Every handle the client and the watch opened is closed: nothing leaks past free. */
    ck_assert_int_eq(uv_loop_close(&h->loop), 0);
    cdns_k8s_index_free(h->idx);
}

/* Runs the loop until cond holds, for at most ms. */
#define RUN_UNTIL(h, cond, ms)                                                                                         \
    do {                                                                                                               \
        uint64_t end_ = cdns_clock_mono_ms() + (ms);                                                                   \
        while (!(cond) && cdns_clock_mono_ms() < end_)                                                                 \
            uv_run(&(h)->loop, UV_RUN_ONCE);                                                                           \
        ck_assert_msg((cond), "timed out waiting for: %s", #cond);                                                     \
    } while (0)

static const char *SVC_X = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"x\",\"namespace\":"
                           "\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.99\",\"ports\":[{\"port\":80}]}}";

START_TEST(test_fake_list_watch)
{
    fake_t f;
    fake_start(&f, NULL);
    cdns_k8s_conn_t conn = {.server = f.url};
    harness_t h;
    h_init(&h, &conn, CDNS_K8S_SERVICE, NULL);
    RUN_UNTIL(&h, cdns_k8s_watch_synced(h.w), 5000);
    ck_assert_uint_eq(cdns_k8s_index_count(h.idx, CDNS_K8S_SERVICE), 3);
    ck_assert_str_eq(cdns_k8s_watch_resource(h.w), "services");

    fake_ctl(&f, "POST", "/_fake/objects", SVC_X);
    RUN_UNTIL(&h, cdns_k8s_index_service(h.idx, "default", "x") != NULL, 3000);
    fake_ctl(&f, "DELETE", "/_fake/objects/services/default/web", NULL);
    RUN_UNTIL(&h, cdns_k8s_index_service(h.idx, "default", "web") == NULL, 3000);

    /* The stream ends at timeoutSeconds (2 s) and a broken stream (mid-line) resumes from the
     * last resourceVersion: events after either still arrive, without a relist. */
    int listed = h.listed;
    uint64_t until = cdns_clock_mono_ms() + 2500;
    RUN_UNTIL(&h, cdns_clock_mono_ms() >= until, 3000);
    fake_ctl(&f, "POST", "/_fake/drop?mode=mid_line", NULL);
    fake_ctl(&f, "DELETE", "/_fake/objects/services/default/x", NULL);
    RUN_UNTIL(&h, cdns_k8s_index_service(h.idx, "default", "x") == NULL, 3000);
    ck_assert_int_eq(h.listed, listed);

    /* 500s on the next requests: backoff, then it recovers. */
    fake_ctl(&f, "POST", "/_fake/fail?resource=services&n=2&code=500", NULL);
    fake_ctl(&f, "POST", "/_fake/drop?mode=abrupt", NULL);
    fake_ctl(&f, "POST", "/_fake/objects", SVC_X);
    RUN_UNTIL(&h, cdns_k8s_index_service(h.idx, "default", "x") != NULL, 5000);

    /* 410 relist: stall the stream, delete a service (the event is held back), expire the
     * watch. The relist must drop the service it never saw deleted and keep the others. */
    fake_ctl(&f, "POST", "/_fake/stall?resource=services", NULL);
    fake_ctl(&f, "DELETE", "/_fake/objects/services/other/api", NULL);
    fake_ctl(&f, "POST", "/_fake/drop?mode=expired", NULL);
    fake_ctl(&f, "POST", "/_fake/unstall", NULL);
    RUN_UNTIL(&h, h.listed > listed, 5000);
    ck_assert_ptr_null(cdns_k8s_index_service(h.idx, "other", "api"));
    ck_assert_ptr_nonnull(cdns_k8s_index_service(h.idx, "default", "db"));
    ck_assert_ptr_nonnull(cdns_k8s_index_service(h.idx, "default", "x"));
    h_deinit(&h);
    fake_stop(&f);
}
END_TEST

START_TEST(test_fake_slice_fallback_and_forbidden)
{
    fake_t f;
    fake_start(&f, NULL);
    fake_ctl(&f, "POST", "/_fake/absent?resource=endpointslices", NULL);
    cdns_k8s_conn_t conn = {.server = f.url};
    harness_t h;
    h_init(&h, &conn, CDNS_K8S_ENDPOINTSLICE, "default");
    RUN_UNTIL(&h, cdns_k8s_watch_synced(h.w), 5000);
    ck_assert_int_eq(cdns_k8s_watch_kind(h.w), CDNS_K8S_ENDPOINTS);
    ck_assert_uint_eq(cdns_k8s_index_count(h.idx, CDNS_K8S_ENDPOINTS), 1);
    ck_assert_uint_eq(cdns_k8s_index_count(h.idx, CDNS_K8S_ENDPOINTSLICE), 0);
    h_deinit(&h);

    fake_ctl(&f, "POST", "/_fake/forbid?resource=services&verbs=list,watch", NULL);
    h_init(&h, &conn, CDNS_K8S_SERVICE, NULL);
    RUN_UNTIL(&h, h.forbidden_on == 1, 3000);
    ck_assert(!cdns_k8s_watch_synced(h.w));
    uint64_t until = cdns_clock_mono_ms() + 400;
    RUN_UNTIL(&h, cdns_clock_mono_ms() >= until, 1000);
    ck_assert_int_eq(h.forbidden_on, 1); /* reported once, however often it is retried */
    fake_ctl(&f, "POST", "/_fake/allow", NULL);
    RUN_UNTIL(&h, cdns_k8s_watch_synced(h.w), 3000);
    ck_assert_int_eq(h.forbidden_off, 1);
    h_deinit(&h);
    fake_stop(&f);
}
END_TEST

START_TEST(test_fake_tls_token)
{
    char dir[] = "/tmp/cdns-tls-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char srv_tok[256], our_tok[256], ca[256], wrong_ca[256], cmd[600];
    snprintf(srv_tok, sizeof(srv_tok), "%s/server-token", dir);
    snprintf(our_tok, sizeof(our_tok), "%s/token", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(wrong_ca, sizeof(wrong_ca), "%s/client.crt", dir);
    FILE *t = fopen(srv_tok, "w");
    fputs("first-token\n", t);
    fclose(t);
    t = fopen(our_tok, "w");
    fputs("first-token\n", t);
    fclose(t);
    fake_t f;
    const char *extra[] = {"--tls-dir", dir, "--token-file", srv_tok, NULL};
    fake_start(&f, extra);
    ck_assert_msg(strncmp(f.url, "https://", 8) == 0, "%s", f.url);

    cdns_k8s_conn_t conn = {.server = f.url, .ca_file = ca, .token_file = our_tok};
    harness_t h;
    h_init(&h, &conn, CDNS_K8S_SERVICE, NULL);
    RUN_UNTIL(&h, cdns_k8s_watch_synced(h.w), 5000);

    /* Rotation: both sides switch tokens; the next connection uses the new one. */
    t = fopen(srv_tok, "w");
    fputs("second-token\n", t);
    fclose(t);
    t = fopen(our_tok, "w");
    fputs("second-token\n", t);
    fclose(t);
    fake_ctl(&f, "POST", "/_fake/drop?mode=clean", NULL);
    fake_ctl(&f, "POST", "/_fake/objects", SVC_X);
    RUN_UNTIL(&h, cdns_k8s_index_service(h.idx, "default", "x") != NULL, 5000);
    h_deinit(&h);

    /* A CA that did not sign the server's certificate: never synced. */
    conn.ca_file = wrong_ca;
    h_init(&h, &conn, CDNS_K8S_SERVICE, NULL);
    uint64_t until = cdns_clock_mono_ms() + 1000;
    RUN_UNTIL(&h, cdns_clock_mono_ms() >= until, 2000);
    ck_assert(!cdns_k8s_watch_synced(h.w));
    ck_assert_uint_eq(cdns_k8s_index_count(h.idx, CDNS_K8S_SERVICE), 0);
    h_deinit(&h);
    fake_stop(&f);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *watch_suite(void)
{
    Suite *s = suite_create("k8s_watch");
    TCase *tc = tcase_create("pieces");
    tcase_add_test(tc, test_lines_any_chunking);
    tcase_add_test(tc, test_lines_limits);
    tcase_add_test(tc, test_event_apply);
    tcase_add_test(tc, test_event_endpointslice_trigger);
    tcase_add_test(tc, test_list_sweep);
    tcase_add_test(tc, test_slice_sweep_keeps_merge);
    tcase_add_test(tc, test_selector_format);
    suite_add_tcase(s, tc);
    TCase *fk = tcase_create("fake_apiserver");
    tcase_set_timeout(fk, 60);
    tcase_add_test(fk, test_fake_list_watch);
    tcase_add_test(fk, test_fake_slice_fallback_and_forbidden);
    tcase_add_test(fk, test_fake_tls_token);
    suite_add_tcase(s, fk);
    return s;
}

CDNS_TEST_MAIN(watch_suite)
