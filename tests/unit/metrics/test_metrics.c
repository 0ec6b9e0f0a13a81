/* SPDX-License-Identifier: MIT */
/* test_metrics.c — the registry, per-worker slots and the exact Prometheus text exposition. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/metrics.h"
#include "check_main.h"

static void setup(void)
{
    cdns_metrics_reset();
}

static char *render(void)
{
    char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(cdns_metrics_render(&out, &len), CDNS_OK);
    ck_assert_uint_eq(strlen(out), len);
    return out;
}

START_TEST(counter_exposition_exact)
{
    static const char *const labels[] = {"server", "zone"};
    cdns_metric_t *m = cdns_metric_register("coredns_dns_requests_total", "Counter of DNS requests made per zone.",
                                            CDNS_METRIC_COUNTER, labels, 2, NULL, 0);
    ck_assert_ptr_nonnull(m);
    const char *v1[] = {"dns://:53", "cluster.local."};
    const char *v2[] = {"dns://:53", "."};
    cdns_series_t *a = cdns_metric_series(m, v1);
    cdns_series_t *b = cdns_metric_series(m, v2);
    ck_assert_ptr_eq(cdns_metric_series(m, v1), a); /* same labels, same series */
    cdns_series_add(a, 0, 5);
    cdns_series_inc(a, 1);
    cdns_series_inc(a, 1);
    cdns_series_inc(b, 3);
    ck_assert(cdns_series_value(a) == 7);
    char *out = render();
    ck_assert_str_eq(out, "# HELP coredns_dns_requests_total Counter of DNS requests made per zone.\n"
                          "# TYPE coredns_dns_requests_total counter\n"
                          "coredns_dns_requests_total{server=\"dns://:53\",zone=\".\"} 1\n"
                          "coredns_dns_requests_total{server=\"dns://:53\",zone=\"cluster.local.\"} 7\n");
    free(out);
}
END_TEST

START_TEST(escaping_and_order)
{
    static const char *const labels[] = {"v"};
    cdns_metric_t *z =
        cdns_metric_register("zz_gauge", "Help with \\ and\nnewline.", CDNS_METRIC_GAUGE, labels, 1, NULL, 0);
    cdns_metric_t *a = cdns_metric_register("aa_total", "First.", CDNS_METRIC_COUNTER, NULL, 0, NULL, 0);
    const char *v[] = {"a\"b\\c\nd"};
    cdns_series_set(cdns_metric_series(z, v), 1.5);
    cdns_metric_series(a, NULL);
    /* A family without series is not exposed. */
    cdns_metric_register("mm_unused", "Unused.", CDNS_METRIC_COUNTER, NULL, 0, NULL, 0);
    char *out = render();
    ck_assert_str_eq(out, "# HELP aa_total First.\n"
                          "# TYPE aa_total counter\n"
                          "aa_total 0\n"
                          "# HELP zz_gauge Help with \\\\ and\\nnewline.\n"
                          "# TYPE zz_gauge gauge\n"
                          "zz_gauge{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    free(out);
}
END_TEST

START_TEST(histogram_buckets)
{
    static const char *const labels[] = {"zone"};
    static const double buckets[] = {0.5, 1, 2.5};
    cdns_metric_t *h = cdns_metric_register("x_seconds", "Durations.", CDNS_METRIC_HISTOGRAM, labels, 1, buckets, 3);
    const char *v[] = {"."};
    cdns_series_t *s = cdns_metric_series(h, v);
    cdns_series_observe(s, 0, 0.25); /* le 0.5 */
    cdns_series_observe(s, 1, 0.5);  /* le 0.5: bounds are inclusive */
    cdns_series_observe(s, 0, 2);    /* le 2.5 */
    cdns_series_observe(s, 2, 10);   /* +Inf only */
    ck_assert(cdns_series_value(s) == 4);
    char *out = render();
    ck_assert_str_eq(out, "# HELP x_seconds Durations.\n"
                          "# TYPE x_seconds histogram\n"
                          "x_seconds_bucket{zone=\".\",le=\"0.5\"} 2\n"
                          "x_seconds_bucket{zone=\".\",le=\"1\"} 2\n"
                          "x_seconds_bucket{zone=\".\",le=\"2.5\"} 3\n"
                          "x_seconds_bucket{zone=\".\",le=\"+Inf\"} 4\n"
                          "x_seconds_sum{zone=\".\"} 12.75\n"
                          "x_seconds_count{zone=\".\"} 4\n");
    free(out);
}
END_TEST

START_TEST(coredns_buckets)
{
    ck_assert_uint_eq(cdns_metrics_duration_nbuckets, 16);
    ck_assert(cdns_metrics_duration_buckets[0] == 0.00025);
    ck_assert(cdns_metrics_duration_buckets[15] == 8.192);
    ck_assert_uint_eq(cdns_metrics_size_nbuckets, 14);
    char t[64];
    cdns_metrics_format_value(0.00025, t, sizeof(t));
    ck_assert_str_eq(t, "0.00025");
    cdns_metrics_format_value(16e3, t, sizeof(t));
    ck_assert_str_eq(t, "16000");
    cdns_metrics_format_value(0.1 + 0.2, t, sizeof(t));
    ck_assert_str_eq(t, "0.30000000000000004");
}
END_TEST

START_TEST(hidden_until_used)
{
    static const char *const labels[] = {"rcode"};
    cdns_metric_t *m = cdns_metric_register("r_total", "R.", CDNS_METRIC_COUNTER, labels, 1, NULL, 0);
    const char *nx[] = {"NXDOMAIN"}, *ok[] = {"NOERROR"};
    cdns_series_t *a = cdns_metric_series_hidden(m, nx);
    cdns_metric_series_hidden(m, ok);
    char *out = render();
    ck_assert_str_eq(out, "");
    free(out);
    cdns_series_inc(a, 0);
    out = render();
    ck_assert_str_eq(out, "# HELP r_total R.\n# TYPE r_total counter\nr_total{rcode=\"NXDOMAIN\"} 1\n");
    free(out);
    cdns_metric_clear(m);
    out = render();
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

typedef struct hammer {
    cdns_series_t *c, *h;
    unsigned worker;
} hammer_t;

#define ROUNDS 200000

static void *hammer_main(void *arg)
{
    hammer_t *t = arg;
    for (int i = 0; i < ROUNDS; i++) {
        cdns_series_inc(t->c, t->worker);
        cdns_series_observe(t->h, t->worker, 1.0);
    }
    return NULL;
}

START_TEST(workers_sum)
{
    cdns_metrics_set_slots(4);
    cdns_metric_t *c = cdns_metric_register("c_total", "C.", CDNS_METRIC_COUNTER, NULL, 0, NULL, 0);
    static const double b[] = {0.5, 2};
    cdns_metric_t *h = cdns_metric_register("h_seconds", "H.", CDNS_METRIC_HISTOGRAM, NULL, 0, b, 2);
    cdns_series_t *cs = cdns_metric_series(c, NULL), *hs = cdns_metric_series(h, NULL);
    /* Six threads on four slots: two share the last slot with workers 3 (ids past the end). */
    pthread_t th[6];
    hammer_t args[6];
    for (unsigned i = 0; i < 6; i++) {
        args[i] = (hammer_t){cs, hs, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer_main, &args[i]), 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    ck_assert(cdns_series_value(cs) == 6.0 * ROUNDS);
    ck_assert(cdns_series_value(hs) == 6.0 * ROUNDS);
    char *out = render();
    ck_assert_ptr_nonnull(strstr(out, "c_total 1200000\n"));
    ck_assert_ptr_nonnull(strstr(out, "h_seconds_bucket{le=\"0.5\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(out, "h_seconds_bucket{le=\"2\"} 1200000\n"));
    ck_assert_ptr_nonnull(strstr(out, "h_seconds_sum 1200000\n"));
    ck_assert_ptr_nonnull(strstr(out, "h_seconds_count 1200000\n"));
    free(out);
}
END_TEST

START_TEST(process_metrics)
{
    cdns_metrics_register_process();
    char *out = render();
    /* A leading newline skips the HELP and TYPE lines: only the sample line matches. */
    static const char *const names[] = {"\nprocess_cpu_seconds_total ",  "\nprocess_max_fds ",
                                        "\nprocess_open_fds ",           "\nprocess_resident_memory_bytes ",
                                        "\nprocess_start_time_seconds ", "\nprocess_virtual_memory_bytes "};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(names); i++) {
        const char *p = strstr(out, names[i]);
        ck_assert_msg(p != NULL, "missing %s", names[i]);
        double v = strtod(p + strlen(names[i]), NULL);
        if (strstr(names[i], "cpu") == NULL)
            ck_assert_msg(v > 0, "%s is %g", names[i], v);
    }
    ck_assert_ptr_nonnull(strstr(out, "# TYPE process_cpu_seconds_total counter\n"));
    free(out);
}
END_TEST

START_TEST(register_twice_same_family)
{
    static const char *const l[] = {"a"};
    cdns_metric_t *m1 = cdns_metric_register("same_total", "S.", CDNS_METRIC_COUNTER, l, 1, NULL, 0);
    cdns_metric_t *m2 = cdns_metric_register("same_total", "S.", CDNS_METRIC_COUNTER, l, 1, NULL, 0);
    ck_assert_ptr_eq(m1, m2);
    ck_assert_ptr_null(
        cdns_metric_register("too_many", "T.", CDNS_METRIC_COUNTER, l, CDNS_METRICS_MAX_LABELS + 1, NULL, 0));
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, counter_exposition_exact);
    tcase_add_test(tc, escaping_and_order);
    tcase_add_test(tc, histogram_buckets);
    tcase_add_test(tc, coredns_buckets);
    tcase_add_test(tc, hidden_until_used);
    tcase_add_test(tc, workers_sum);
    tcase_add_test(tc, process_metrics);
    tcase_add_test(tc, register_twice_same_family);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(metrics_suite)
