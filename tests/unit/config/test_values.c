/* SPDX-License-Identifier: MIT */
/* test_values.c — Go durations, bounded integers, key splitting and zone normalization
 * (names, CIDR reverse zones on and off the label boundary). */
#include "check_main.h"
#include "config/config_internal.h"

#include <string.h>

static uint64_t dur_ms(const char *s)
{
    uint64_t ms = 12345;
    int rc = cdns_cf_parse_duration_ms(s, &ms);
    ck_assert_msg(rc == CDNS_OK, "duration %s: %d", s, rc);
    return ms;
}

static uint64_t dur_ns(const char *s)
{
    uint64_t ns = 12345;
    int rc = cdns_cf_parse_duration_ns(s, &ns);
    ck_assert_msg(rc == CDNS_OK, "duration %s: %d", s, rc);
    return ns;
}

START_TEST(test_duration)
{
    ck_assert_uint_eq(dur_ms("300ms"), 300);
    ck_assert_uint_eq(dur_ms("5s"), 5000);
    ck_assert_uint_eq(dur_ms("1.5s"), 1500);
    ck_assert_uint_eq(dur_ms("1m30s"), 90000);
    ck_assert_uint_eq(dur_ms("2h"), 7200000);
    ck_assert_uint_eq(dur_ms("1h2m3s4ms"), 3723004);
    ck_assert_uint_eq(dur_ms("0"), 0);
    ck_assert_uint_eq(dur_ms("+0"), 0);
    ck_assert_uint_eq(dur_ms("0s"), 0);
    ck_assert_uint_eq(dur_ms("+5s"), 5000);
    ck_assert_uint_eq(dur_ms(".5s"), 500);
    ck_assert_uint_eq(dur_ms("5.s"), 5000);
    ck_assert_uint_eq(dur_ms("10us"), 0); /* truncated to milliseconds */
    ck_assert_uint_eq(dur_ns("10us"), 10000);
    ck_assert_uint_eq(dur_ns("10\xC2\xB5s"), 10000);
    ck_assert_uint_eq(dur_ns("10\xCE\xBCs"), 10000);
    ck_assert_uint_eq(dur_ns("7ns"), 7);
    ck_assert_uint_eq(dur_ns("1.000000001s"), 1000000001);
    ck_assert_uint_eq(dur_ns("0.1234567890123456789s"), 123456789);
    ck_assert_uint_eq(dur_ns("2562047h"), 2562047ull * 3600 * 1000000000ull);

    uint64_t v;
    const char *bad[] = {"",      "-5s", "5",   "s", "1.5", "5x",   "5 s", " 5s",  "5s ",
                         "1..5s", ".s",  "5sm", "+", "-0",  "1e3s", "5S",  "1h-1m"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_msg(cdns_cf_parse_duration_ms(bad[i], &v) == CDNS_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(cdns_cf_parse_duration_ms(NULL, &v), CDNS_EINVAL);
    ck_assert_int_eq(cdns_cf_parse_duration_ms("2562048h", &v), CDNS_ERANGE);
    ck_assert_int_eq(cdns_cf_parse_duration_ms("99999999999999999999s", &v), CDNS_ERANGE);
    ck_assert_int_eq(cdns_cf_parse_duration_ms("2562047h2562047h", &v), CDNS_ERANGE);
}
END_TEST

START_TEST(test_uint)
{
    uint64_t v = 0;
    ck_assert_int_eq(cdns_cf_parse_uint("30", 0, 100, &v), CDNS_OK);
    ck_assert_uint_eq(v, 30);
    ck_assert_int_eq(cdns_cf_parse_uint("0", 0, 0, &v), CDNS_OK);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(cdns_cf_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), CDNS_OK);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(cdns_cf_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), CDNS_ERANGE);
    ck_assert_int_eq(cdns_cf_parse_uint("101", 0, 100, &v), CDNS_ERANGE);
    ck_assert_int_eq(cdns_cf_parse_uint("4", 5, 100, &v), CDNS_ERANGE);
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.0"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_msg(cdns_cf_parse_uint(bad[i], 0, 100, &v) == CDNS_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(cdns_cf_parse_uint(NULL, 0, 100, &v), CDNS_EINVAL);
}
END_TEST

static void zone_is(const char *in, const char *want)
{
    char out[256];
    int rc = cdns_cf_normalize_zone(in, out, sizeof(out));
    ck_assert_msg(rc == CDNS_OK, "normalize %s: %d", in, rc);
    ck_assert_str_eq(out, want);
}

START_TEST(test_normalize_zone)
{
    zone_is(".", ".");
    zone_is("cluster.local", "cluster.local.");
    zone_is("Cluster.Local.", "cluster.local.");
    zone_is("example.org:53", "example.org.");
    zone_is("dns://example.org", "example.org.");
    zone_is("in-addr.arpa", "in-addr.arpa.");
    zone_is("10.0.0.0/8", "10.in-addr.arpa.");
    zone_is("10.0.0.0/24", "0.0.10.in-addr.arpa.");
    zone_is("10.1.2.3/24", "2.1.10.in-addr.arpa."); /* host bits cleared */
    zone_is("192.168.1.7/32", "7.1.168.192.in-addr.arpa.");
    zone_is("0.0.0.0/0", "in-addr.arpa.");
    zone_is("2001:db8::/32", "8.b.d.0.1.0.0.2.ip6.arpa.");
    zone_is("2001:db8:abcd::/48", "d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa.");
    zone_is("fd00::/8", "d.f.ip6.arpa.");
    zone_is("fd00::/8:53", "d.f.ip6.arpa.");
    zone_is("_tcp.example", "_tcp.example.");

    char small[8];
    ck_assert_int_eq(cdns_cf_normalize_zone("example.org", small, sizeof(small)), CDNS_ENOSPC);
    char out[256];
    const char *bad[] = {"",         "a..b", ".a",      "a b",        "ex(ample)",  "10.0.0.0/33",
                         "10.0.0/8", "::/0", "::1/128", "0::/8",      "fd00::/129", "foo://x",
                         "x:",       "x:0",  "x:abc",   "10.0.0.0/23"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_msg(cdns_cf_normalize_zone(bad[i], out, sizeof(out)) == CDNS_EINVAL, "accepted '%s'", bad[i]);

    /* Label and name lengths. */
    char name[300];
    memset(name, 'a', 63);
    strcpy(name + 63, ".org");
    ck_assert_int_eq(cdns_cf_normalize_zone(name, out, sizeof(out)), CDNS_OK);
    memset(name, 'a', 64);
    strcpy(name + 64, ".org");
    ck_assert_int_eq(cdns_cf_normalize_zone(name, out, sizeof(out)), CDNS_EINVAL);
    for (int i = 0; i < 4; i++)
        memset(name + i * 64, i == 3 ? 'b' : 'a', 63), name[i * 64 + 63] = '.';
    name[253] = '\0'; /* 253 characters + the final dot: the longest name */
    ck_assert_int_eq(cdns_cf_normalize_zone(name, out, sizeof(out)), CDNS_OK);
    name[253] = 'b';
    name[254] = '\0';
    ck_assert_int_eq(cdns_cf_normalize_zone(name, out, sizeof(out)), CDNS_EINVAL);
}
END_TEST

START_TEST(test_expand_zone)
{
    cdns_arena_t a;
    const char **z;
    size_t n;
    cdns_arena_init(&a, 0);
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "10.0.0.0/22", &z, &n), CDNS_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(z[0], "0.0.10.in-addr.arpa.");
    ck_assert_str_eq(z[3], "3.0.10.in-addr.arpa.");
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "10.0.0.0/9", &z, &n), CDNS_OK);
    ck_assert_uint_eq(n, 128);
    ck_assert_str_eq(z[0], "0.10.in-addr.arpa.");
    ck_assert_str_eq(z[127], "127.10.in-addr.arpa.");
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "10.128.0.0/9", &z, &n), CDNS_OK);
    ck_assert_str_eq(z[0], "128.10.in-addr.arpa.");
    ck_assert_str_eq(z[127], "255.10.in-addr.arpa.");
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "10.0.0.0/27", &z, &n), CDNS_OK);
    ck_assert_uint_eq(n, 32);
    ck_assert_str_eq(z[0], "0.0.0.10.in-addr.arpa.");
    ck_assert_str_eq(z[31], "31.0.0.10.in-addr.arpa.");
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "fd00::/6", &z, &n), CDNS_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(z[0], "c.f.ip6.arpa.");
    ck_assert_str_eq(z[3], "f.f.ip6.arpa.");
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "example.org", &z, &n), CDNS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(z[0], "example.org.");
    ck_assert_int_eq(cdns_cf_expand_zone(&a, "bad..zone", &z, &n), CDNS_EINVAL);
    cdns_arena_deinit(&a);
}
END_TEST

START_TEST(test_split_key)
{
    char scheme[16], host[256];
    int port = -1;
    const char *why = NULL;
    ck_assert_int_eq(
        cdns_config__split_key("DNS://Example.org:1053", scheme, sizeof(scheme), host, sizeof(host), &port, &why),
        CDNS_OK);
    ck_assert_str_eq(scheme, "dns");
    ck_assert_str_eq(host, "Example.org");
    ck_assert_int_eq(port, 1053);
    ck_assert_int_eq(cdns_config__split_key(".", scheme, sizeof(scheme), host, sizeof(host), &port, &why), CDNS_OK);
    ck_assert_str_eq(scheme, "dns");
    ck_assert_int_eq(port, 0);
    ck_assert_int_eq(cdns_config__split_key("tls://.:853", scheme, sizeof(scheme), host, sizeof(host), &port, &why),
                     CDNS_EINVAL);
    ck_assert_str_eq(why, "unsupported scheme");
    ck_assert_int_eq(cdns_config__split_key("://x", scheme, sizeof(scheme), host, sizeof(host), &port, &why),
                     CDNS_EINVAL);
    ck_assert_int_eq(cdns_config__split_key(".:65536", scheme, sizeof(scheme), host, sizeof(host), &port, &why),
                     CDNS_EINVAL);
    ck_assert_str_eq(why, "invalid port");
    ck_assert_int_eq(cdns_config__split_key(".:65535", scheme, sizeof(scheme), host, sizeof(host), &port, &why),
                     CDNS_OK);
    ck_assert_int_eq(port, 65535);
}
END_TEST

static Suite *values_suite(void)
{
    Suite *s = suite_create("config_values");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_uint);
    tcase_add_test(tc, test_normalize_zone);
    tcase_add_test(tc, test_expand_zone);
    tcase_add_test(tc, test_split_key);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(values_suite)
