/* SPDX-License-Identifier: MIT */
/* test_lexer.c — Corefile tokens: separators, quotes and escapes, comments, lines, and the
 * environment substitution the parser applies to every token. */
#include "check_main.h"
#include "config/config_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct lexed {
    cdns_arena_t a;
    cdns_config__tok_t *t;
    size_t n;
} lexed_t;

static void lex_ok(lexed_t *l, const char *text)
{
    cdns_diag_t d = {{0}};
    cdns_arena_init(&l->a, 0);
    int rc = cdns_config__lex(&l->a, text, strlen(text), "F", &l->t, &l->n, &d);
    ck_assert_msg(rc == CDNS_OK, "%s", d.msg);
}

static void lex_err(const char *text, size_t len, const char *want)
{
    cdns_arena_t a;
    cdns_diag_t d = {{0}};
    cdns_config__tok_t *t;
    size_t n;
    cdns_arena_init(&a, 0);
    ck_assert_int_eq(cdns_config__lex(&a, text, len, "F", &t, &n, &d), CDNS_EINVAL);
    ck_assert_str_eq(d.msg, want);
    cdns_arena_deinit(&a);
}

static void tok_is(const lexed_t *l, size_t i, const char *text, int line, bool quoted)
{
    ck_assert_uint_lt(i, l->n);
    ck_assert_str_eq(l->t[i].text, text);
    ck_assert_int_eq(l->t[i].line, line);
    ck_assert_int_eq(l->t[i].quoted, quoted);
    ck_assert_str_eq(l->t[i].file, "F");
}

START_TEST(test_words)
{
    lexed_t l;
    lex_ok(&l, "  .:53 {\r\n\tforward . 1.1.1.1\n}\n");
    ck_assert_uint_eq(l.n, 6);
    tok_is(&l, 0, ".:53", 1, false);
    tok_is(&l, 1, "{", 1, false);
    tok_is(&l, 2, "forward", 2, false);
    tok_is(&l, 4, "1.1.1.1", 2, false);
    tok_is(&l, 5, "}", 3, false);
    ck_assert_int_eq(l.t[5].end_line, 3);
    cdns_arena_deinit(&l.a);

    lex_ok(&l, "");
    ck_assert_uint_eq(l.n, 0);
    cdns_arena_deinit(&l.a);

    /* A byte order mark is dropped; no newline at the end is fine. */
    lex_ok(&l, "\xEF\xBB\xBF. {}");
    ck_assert_uint_eq(l.n, 2);
    tok_is(&l, 0, ".", 1, false);
    tok_is(&l, 1, "{}", 1, false);
    cdns_arena_deinit(&l.a);
}
END_TEST

START_TEST(test_comments)
{
    lexed_t l;
    lex_ok(&l, "# whole line\na # rest\nb#glued\n\"#q\" c\n");
    ck_assert_uint_eq(l.n, 4);
    tok_is(&l, 0, "a", 2, false);
    tok_is(&l, 1, "b", 3, false);
    tok_is(&l, 2, "#q", 4, true);
    tok_is(&l, 3, "c", 4, false);
    cdns_arena_deinit(&l.a);
}
END_TEST

START_TEST(test_quotes)
{
    lexed_t l;
    lex_ok(&l, "\"a b\" \"say \\\"hi\\\"\" \"back\\slash\" \"\" `raw \\\" x` a\"b\"\n"
               "\"two\nlines\" after\n`x\ny` z\n");
    ck_assert_uint_eq(l.n, 10);
    tok_is(&l, 0, "a b", 1, true);
    tok_is(&l, 1, "say \"hi\"", 1, true);
    tok_is(&l, 2, "back\\slash", 1, true);
    tok_is(&l, 3, "", 1, true);
    /* Backquotes have no escapes: the backslash and the double quote are kept. */
    tok_is(&l, 4, "raw \\\" x", 1, true);
    /* A quote inside a word is a character. */
    tok_is(&l, 5, "a\"b\"", 1, false);
    tok_is(&l, 6, "two\nlines", 2, true);
    ck_assert_int_eq(l.t[6].end_line, 3);
    tok_is(&l, 7, "after", 3, false);
    tok_is(&l, 8, "x\ny", 4, true);
    ck_assert_int_eq(l.t[8].end_line, 5);
    tok_is(&l, 9, "z", 5, false);
    cdns_arena_deinit(&l.a);

    /* A quote ends the token: "a"b is two tokens, as in Caddy. */
    lex_ok(&l, "\"a\"b");
    ck_assert_uint_eq(l.n, 2);
    tok_is(&l, 1, "b", 1, false);
    cdns_arena_deinit(&l.a);
}
END_TEST

START_TEST(test_errors)
{
    lex_err("a\n\"open\nstill open", 18, "F:2: unterminated quoted string");
    lex_err("a\n\n`open", 8, "F:3: unterminated quoted string");
    lex_err("\"ends in escape\\", 16, "F:1: unterminated quoted string");
    lex_err("a\nb\0c", 5, "F:2: unexpected NUL byte");
    lex_err("\"a\0\"", 4, "F:1: unexpected NUL byte");
}
END_TEST

START_TEST(test_env)
{
    cdns_arena_t a;
    cdns_arena_init(&a, 0);
    setenv("CDNS_LEX_A", "alpha", 1);
    setenv("CDNS_LEX_REF", "{$CDNS_LEX_A}", 1);
    unsetenv("CDNS_LEX_NONE");
    const char *plain = "no vars {here}";
    ck_assert_ptr_eq(cdns_config__expand_env(&a, plain), plain);
    ck_assert_str_eq(cdns_config__expand_env(&a, "{$CDNS_LEX_A}"), "alpha");
    ck_assert_str_eq(cdns_config__expand_env(&a, "x{%CDNS_LEX_A%}y{$CDNS_LEX_A}z"), "xalphayalphaz");
    ck_assert_str_eq(cdns_config__expand_env(&a, "[{$CDNS_LEX_NONE}]"), "[]");
    ck_assert_str_eq(cdns_config__expand_env(&a, "{%CDNS_LEX_NONE%}"), "");
    /* Values are not expanded again. */
    ck_assert_str_eq(cdns_config__expand_env(&a, "{$CDNS_LEX_REF}"), "{$CDNS_LEX_A}");
    /* Not references: empty names and unterminated ones stay as written. */
    ck_assert_str_eq(cdns_config__expand_env(&a, "{$}"), "{$}");
    ck_assert_str_eq(cdns_config__expand_env(&a, "{$CDNS_LEX_A"), "{$CDNS_LEX_A");
    ck_assert_str_eq(cdns_config__expand_env(&a, "{%CDNS_LEX_A}"), "{%CDNS_LEX_A}");
    cdns_arena_deinit(&a);
}
END_TEST

START_TEST(test_vec)
{
    cdns_config__vec_t v = {0};
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(cdns_config__vec_push(&v, &i, sizeof(i)), CDNS_OK);
    ck_assert_uint_eq(v.n, 100);
    ck_assert_int_eq(((int *)v.v)[99], 99);
    cdns_config__vec_free(&v);
    ck_assert_ptr_null(v.v);
    ck_assert_uint_eq(v.n, 0);
}
END_TEST

static Suite *lexer_suite(void)
{
    Suite *s = suite_create("config_lexer");
    TCase *tc = tcase_create("lexer");
    tcase_add_test(tc, test_words);
    tcase_add_test(tc, test_comments);
    tcase_add_test(tc, test_quotes);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_vec);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(lexer_suite)
