/* SPDX-License-Identifier: MIT */
/* Unit tests of src/base: arena, diagnostics, clock injection, file reads. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cdns/base.h"
#include "check_main.h"

START_TEST(arena_alloc_aligned_and_reset)
{
    cdns_arena_t a;
    cdns_arena_init(&a, 64);
    char *p = cdns_arena_alloc(&a, 3);
    char *q = cdns_arena_alloc(&a, 5);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(((uintptr_t)q) % 8, 0);
    ck_assert_ptr_ne(p, q);
    /* Larger than a block: gets its own block, the current one stays in use. */
    char *big = cdns_arena_alloc(&a, 1000);
    ck_assert_ptr_nonnull(big);
    memset(big, 0xab, 1000);
    char *r = cdns_arena_alloc(&a, 8);
    ck_assert_ptr_eq(r, q + 8);
    char *s = cdns_arena_strdup(&a, "hello");
    ck_assert_str_eq(s, "hello");
    cdns_arena_reset(&a);
    char *again = cdns_arena_alloc(&a, 3);
    ck_assert_ptr_nonnull(again);
    cdns_arena_deinit(&a);
}
END_TEST

START_TEST(diag_formats_file_line)
{
    cdns_diag_t d;
    int rc = cdns_diag_set(&d, "Corefile", 7, "unknown directive '%s'", "foo");
    ck_assert_int_eq(rc, CDNS_EINVAL);
    ck_assert_str_eq(d.msg, "Corefile:7: unknown directive 'foo'");
    cdns_diag_set(&d, NULL, 0, "plain");
    ck_assert_str_eq(d.msg, "plain");
}
END_TEST

static uint64_t fake_ns;
static uint64_t fake_mono(void)
{
    return fake_ns;
}

START_TEST(clock_is_injectable)
{
    fake_ns = 5000000000u;
    cdns_clock_set(fake_mono, NULL);
    ck_assert_uint_eq(cdns_clock_mono_ms(), 5000);
    fake_ns += 1500000;
    ck_assert_uint_eq(cdns_clock_mono_ms(), 5001);
    cdns_clock_set(NULL, NULL);
    ck_assert_uint_ne(cdns_clock_mono_ns(), fake_ns);
}
END_TEST

START_TEST(dynlib_loads_or_says_why)
{
    char err[256] = "";
    double (*cosine)(double) = NULL, (*other)(double) = NULL, (*missing)(double) = NULL;
    const cdns_dynsym_t one[] = {{"cos", &cosine}};
    cdns_dynlib_t absent = {"libcdns-no-such-library.so.0", one, 1, false};
    ck_assert_int_eq(cdns_dynlib_load(&absent, err, sizeof(err)), CDNS_EIO);
    ck_assert_ptr_nonnull(strstr(err, "cannot load libcdns-no-such-library.so.0"));
    ck_assert_ptr_null(cosine);
    ck_assert(!absent.loaded);

    const cdns_dynsym_t two[] = {{"cos", &other}, {"cdns_no_such_function", &missing}};
    cdns_dynlib_t partial = {"libm.so.6", two, 2, false};
    ck_assert_int_eq(cdns_dynlib_load(&partial, err, sizeof(err)), CDNS_EIO);
    ck_assert_ptr_nonnull(strstr(err, "libm.so.6 has no cdns_no_such_function"));
    ck_assert_ptr_null(other); /* all or nothing */

    cdns_dynlib_t libm = {"libm.so.6", one, 1, false};
    ck_assert_int_eq(cdns_dynlib_load(&libm, err, sizeof(err)), CDNS_OK);
    ck_assert(libm.loaded);
    ck_assert_ptr_nonnull(cosine);
    ck_assert(cosine(0.0) == 1.0);
    cosine = NULL;
    ck_assert_int_eq(cdns_dynlib_load(&libm, err, sizeof(err)), CDNS_OK); /* once: nothing redone */
    ck_assert_ptr_null(cosine);
}
END_TEST

START_TEST(file_read_whole_and_missing)
{
    char path[] = "/tmp/cdns-base-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    char big[10000];
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(write(fd, big, sizeof(big)), (int)sizeof(big));
    close(fd);
    char *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(cdns_file_read(path, &buf, &len), CDNS_OK);
    ck_assert_uint_eq(len, sizeof(big));
    ck_assert_int_eq(buf[len], '\0');
    free(buf);
    unlink(path);
    ck_assert_int_eq(cdns_file_read(path, &buf, &len), CDNS_ENOENT);
}
END_TEST

static Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, arena_alloc_aligned_and_reset);
    tcase_add_test(tc, diag_formats_file_line);
    tcase_add_test(tc, clock_is_injectable);
    tcase_add_test(tc, file_read_whole_and_missing);
    tcase_add_test(tc, dynlib_loads_or_says_why);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(base_suite)
