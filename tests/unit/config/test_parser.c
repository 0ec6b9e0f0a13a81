/* SPDX-License-Identifier: MIT */
/* test_parser.c — Corefile grammar: server blocks, keys, nested blocks, snippets, imports, and
 * every error with its exact "FILE:LINE: message". Run from the repository root: imports are
 * resolved against tests/unit/config/data/. */
#include "check_main.h"
#include "cdns/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA "tests/unit/config/data"
#define MAIN DATA "/Corefile.mem" /* parsed from memory, but imports resolve next to it */

static cdns_corefile_t *parse_ok(const char *text)
{
    cdns_diag_t d = {{0}};
    cdns_corefile_t *cf = NULL;
    int rc = cdns_corefile_parse(text, strlen(text), MAIN, &cf, &d);
    ck_assert_msg(rc == CDNS_OK, "parse failed (%d): %s", rc, d.msg);
    ck_assert_ptr_nonnull(cf);
    return cf;
}

static void parse_err_file(const char *text, const char *file, const char *want)
{
    cdns_diag_t d = {{0}};
    cdns_corefile_t *cf = (cdns_corefile_t *)1;
    int rc = cdns_corefile_parse(text, strlen(text), file, &cf, &d);
    ck_assert_int_eq(rc, CDNS_EINVAL);
    ck_assert_ptr_null(cf);
    ck_assert_str_eq(d.msg, want);
}

static void parse_err(const char *text, const char *want)
{
    parse_err_file(text, MAIN, want);
}

static void check_dir(const cdns_cf_directive_t *d, const char *name, size_t nargs, int line)
{
    ck_assert_str_eq(d->name, name);
    ck_assert_uint_eq(d->nargs, nargs);
    ck_assert_int_eq(d->line, line);
}

static const char *arg(const cdns_cf_directive_t *d, size_t i)
{
    ck_assert_uint_lt(i, d->nargs);
    return d->args[i].text;
}

/* ------------------------------------------------------------------ kubeadm */

static const char kubeadm[] = ".:53 {\n"
                              "    errors\n"
                              "    health {\n"
                              "       lameduck 5s\n"
                              "    }\n"
                              "    ready\n"
                              "    kubernetes cluster.local in-addr.arpa ip6.arpa {\n"
                              "       pods insecure\n"
                              "       fallthrough in-addr.arpa ip6.arpa\n"
                              "       ttl 30\n"
                              "    }\n"
                              "    prometheus :9153\n"
                              "    forward . /etc/resolv.conf {\n"
                              "       max_concurrent 1000\n"
                              "    }\n"
                              "    cache 30\n"
                              "    loop\n"
                              "    reload\n"
                              "    loadbalance\n"
                              "}\n";

START_TEST(test_kubeadm)
{
    cdns_corefile_t *cf = parse_ok(kubeadm);
    ck_assert_str_eq(cf->path, MAIN);
    ck_assert_uint_eq(cf->nblocks, 1);
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_int_eq(b->line, 1);
    ck_assert_str_eq(b->file, MAIN);
    ck_assert_uint_eq(b->nkeys, 1);
    ck_assert_str_eq(b->keys[0].text, ".:53");
    ck_assert_str_eq(b->keys[0].scheme, "dns");
    ck_assert_str_eq(b->keys[0].zone, ".");
    ck_assert_int_eq(b->keys[0].port, 53);
    ck_assert_int_eq(b->keys[0].line, 1);

    ck_assert_uint_eq(b->ndirs, 10);
    const cdns_cf_directive_t *d = b->dirs;
    check_dir(&d[0], "errors", 0, 2);
    ck_assert(!d[0].has_block);
    ck_assert_ptr_null(d[0].block);

    check_dir(&d[1], "health", 0, 3);
    ck_assert(d[1].has_block);
    ck_assert_uint_eq(d[1].nblock, 1);
    check_dir(&d[1].block[0], "lameduck", 1, 4);
    ck_assert_str_eq(arg(&d[1].block[0], 0), "5s");

    check_dir(&d[2], "ready", 0, 6);

    check_dir(&d[3], "kubernetes", 3, 7);
    ck_assert_str_eq(arg(&d[3], 0), "cluster.local");
    ck_assert_str_eq(arg(&d[3], 1), "in-addr.arpa");
    ck_assert_str_eq(arg(&d[3], 2), "ip6.arpa");
    ck_assert_int_eq(d[3].args[2].line, 7);
    ck_assert_str_eq(d[3].args[2].file, MAIN);
    ck_assert(!d[3].args[2].quoted);
    ck_assert_uint_eq(d[3].nblock, 3);
    check_dir(&d[3].block[0], "pods", 1, 8);
    ck_assert_str_eq(arg(&d[3].block[0], 0), "insecure");
    check_dir(&d[3].block[1], "fallthrough", 2, 9);
    ck_assert_str_eq(arg(&d[3].block[1], 1), "ip6.arpa");
    check_dir(&d[3].block[2], "ttl", 1, 10);
    ck_assert_str_eq(arg(&d[3].block[2], 0), "30");

    check_dir(&d[4], "prometheus", 1, 12);
    ck_assert_str_eq(arg(&d[4], 0), ":9153");
    check_dir(&d[5], "forward", 2, 13);
    ck_assert_str_eq(arg(&d[5], 0), ".");
    ck_assert_str_eq(arg(&d[5], 1), "/etc/resolv.conf");
    ck_assert_uint_eq(d[5].nblock, 1);
    check_dir(&d[5].block[0], "max_concurrent", 1, 14);
    ck_assert_str_eq(arg(&d[5].block[0], 0), "1000");
    check_dir(&d[6], "cache", 1, 16);
    check_dir(&d[7], "loop", 0, 17);
    check_dir(&d[8], "reload", 0, 18);
    check_dir(&d[9], "loadbalance", 0, 19);
    ck_assert(!d[9].has_block);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_load_file)
{
    cdns_diag_t d = {{0}};
    cdns_corefile_t *cf = NULL;
    int rc = cdns_corefile_load(DATA "/Corefile", &cf, &d);
    ck_assert_msg(rc == CDNS_OK, "%s", d.msg);
    ck_assert_str_eq(cf->path, DATA "/Corefile");
    ck_assert_uint_eq(cf->nblocks, 1);
    ck_assert_uint_eq(cf->blocks[0].ndirs, 2);
    check_dir(&cf->blocks[0].dirs[0], "prometheus", 1, 1);
    ck_assert_str_eq(cf->blocks[0].dirs[0].file, DATA "/common.conf");
    cdns_corefile_free(cf);

    rc = cdns_corefile_load(DATA "/no-such-Corefile", &cf, &d);
    ck_assert_int_eq(rc, CDNS_ENOENT);
    ck_assert_ptr_null(cf);
    ck_assert_str_eq(d.msg, DATA "/no-such-Corefile: No such file or directory");
    cdns_corefile_free(NULL);
}
END_TEST

START_TEST(test_empty)
{
    cdns_corefile_t *cf = parse_ok("");
    ck_assert_uint_eq(cf->nblocks, 0);
    cdns_corefile_free(cf);
    cf = parse_ok("# only a comment\n\n   \n");
    ck_assert_uint_eq(cf->nblocks, 0);
    cdns_corefile_free(cf);
}
END_TEST

/* ------------------------------------------------------------------ keys */

START_TEST(test_keys_multiple)
{
    cdns_corefile_t *cf = parse_ok("cluster.local:1053 Example.ORG:1053 {\n  whoami\n}\n"
                                   "a.example, b.example,\n  c.example {\n}\n"
                                   "x.example,y.example\n{\n log\n}\n");
    ck_assert_uint_eq(cf->nblocks, 3);
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_uint_eq(b->nkeys, 2);
    ck_assert_str_eq(b->keys[0].zone, "cluster.local.");
    ck_assert_int_eq(b->keys[0].port, 1053);
    ck_assert_str_eq(b->keys[1].text, "Example.ORG:1053");
    ck_assert_str_eq(b->keys[1].zone, "example.org.");
    ck_assert_int_eq(b->keys[1].port, 1053);

    b = &cf->blocks[1];
    ck_assert_int_eq(b->line, 4);
    ck_assert_uint_eq(b->nkeys, 3);
    ck_assert_str_eq(b->keys[0].zone, "a.example.");
    ck_assert_str_eq(b->keys[1].zone, "b.example.");
    ck_assert_str_eq(b->keys[2].zone, "c.example.");
    ck_assert_int_eq(b->keys[2].line, 5);
    ck_assert_int_eq(b->keys[2].port, 0);
    ck_assert_uint_eq(b->ndirs, 0);

    b = &cf->blocks[2];
    ck_assert_uint_eq(b->nkeys, 2);
    ck_assert_str_eq(b->keys[0].zone, "x.example.");
    ck_assert_str_eq(b->keys[1].zone, "y.example.");
    ck_assert_uint_eq(b->ndirs, 1);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_keys_forms)
{
    cdns_corefile_t *cf = parse_ok("dns://.:53 example.org. dns://Foo.Example 10.0.0.0/24 10.1.2.3/8:1053 "
                                   "2001:db8::/32 fd00::/64:5353 0/25.2.0.192.in-addr.arpa {\n}\n");
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_uint_eq(b->nkeys, 8);
    ck_assert_str_eq(b->keys[0].text, "dns://.:53");
    ck_assert_str_eq(b->keys[0].scheme, "dns");
    ck_assert_str_eq(b->keys[0].zone, ".");
    ck_assert_int_eq(b->keys[0].port, 53);
    ck_assert_str_eq(b->keys[1].zone, "example.org.");
    ck_assert_int_eq(b->keys[1].port, 0);
    ck_assert_str_eq(b->keys[2].zone, "foo.example.");
    ck_assert_str_eq(b->keys[3].zone, "0.0.10.in-addr.arpa.");
    ck_assert_str_eq(b->keys[4].zone, "10.in-addr.arpa.");
    ck_assert_int_eq(b->keys[4].port, 1053);
    ck_assert_str_eq(b->keys[5].zone, "8.b.d.0.1.0.0.2.ip6.arpa.");
    ck_assert_int_eq(b->keys[5].port, 0);
    ck_assert_str_eq(b->keys[6].zone, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
    ck_assert_int_eq(b->keys[6].port, 5353);
    /* RFC 2317 classless names are names, not CIDRs. */
    ck_assert_str_eq(b->keys[7].zone, "0/25.2.0.192.in-addr.arpa.");
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_keys_cidr_split)
{
    /* Off the octet boundary, CoreDNS serves every reverse zone one boundary down. */
    cdns_corefile_t *cf = parse_ok("10.0.0.0/23:53 fd00::/63 {\n  whoami\n}\n");
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_uint_eq(b->nkeys, 4);
    ck_assert_str_eq(b->keys[0].zone, "0.0.10.in-addr.arpa.");
    ck_assert_str_eq(b->keys[1].zone, "1.0.10.in-addr.arpa.");
    ck_assert_str_eq(b->keys[1].text, "10.0.0.0/23:53");
    ck_assert_int_eq(b->keys[1].port, 53);
    ck_assert_str_eq(b->keys[2].zone, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
    ck_assert_str_eq(b->keys[3].zone, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.");
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_keys_errors)
{
    parse_err("tls://.:853 {\n}\n", MAIN ":1: scheme tls is not supported by this build");
    parse_err(".:53 https://.:443 {\n}\n", MAIN ":1: scheme https is not supported by this build");
    parse_err("\n\ngrpc://. {\n}\n", MAIN ":3: scheme grpc is not supported by this build");
    parse_err("quic://.:853 {\n}\n", MAIN ":1: scheme quic is not supported by this build");
    parse_err(".:abc {\n}\n", MAIN ":1: invalid port in server block key '.:abc'");
    parse_err(".:70000 {\n}\n", MAIN ":1: invalid port in server block key '.:70000'");
    parse_err(".: {\n}\n", MAIN ":1: invalid port in server block key '.:'");
    parse_err(".:0 {\n}\n", MAIN ":1: invalid port in server block key '.:0'");
    parse_err(":53 {\n}\n", MAIN ":1: invalid zone in server block key ':53'");
    parse_err("a..b {\n}\n", MAIN ":1: invalid zone in server block key 'a..b'");
    parse_err("10.0.0.0/33 {\n}\n", MAIN ":1: invalid CIDR in server block key '10.0.0.0/33'");
    parse_err("10.0.0/8 {\n}\n", MAIN ":1: invalid CIDR in server block key '10.0.0/8'");
    parse_err("a.example,\n", MAIN ":1: expected another server block key after ','");
    parse_err("a.example, {\n}\n", MAIN ":1: expected another server block key after ',', found '{'");
    parse_err("{\n  log\n}\n", MAIN ":1: server block without keys before '{'");
    parse_err("\"\" {\n}\n", MAIN ":1: server block without keys");
    parse_err("a.example }\n", MAIN ":1: unexpected '}'");
}
END_TEST

/* ------------------------------------------------------------------ blocks */

START_TEST(test_nested_blocks)
{
    cdns_corefile_t *cf = parse_ok("example.org {\n"
                                   "  a 1 {\n"
                                   "    b 2 {\n"
                                   "      c 3 {\n"
                                   "        d\n"
                                   "      }\n"
                                   "    }\n"
                                   "    e { }\n"
                                   "    f {\n"
                                   "    }\n"
                                   "  }\n"
                                   "  g\n"
                                   "}\n");
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_uint_eq(b->ndirs, 2);
    const cdns_cf_directive_t *a = &b->dirs[0];
    check_dir(a, "a", 1, 2);
    ck_assert_uint_eq(a->nblock, 3);
    const cdns_cf_directive_t *bb = &a->block[0];
    check_dir(bb, "b", 1, 3);
    check_dir(&bb->block[0], "c", 1, 4);
    check_dir(&bb->block[0].block[0], "d", 0, 5);
    check_dir(&a->block[1], "e", 0, 8);
    ck_assert(a->block[1].has_block);
    ck_assert_uint_eq(a->block[1].nblock, 0);
    ck_assert_ptr_null(a->block[1].block);
    check_dir(&a->block[2], "f", 0, 9);
    ck_assert(a->block[2].has_block);
    ck_assert_uint_eq(a->block[2].nblock, 0);
    check_dir(&b->dirs[1], "g", 0, 12);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_empty_blocks)
{
    cdns_corefile_t *cf = parse_ok(". { }\nexample.org {\n}\n");
    ck_assert_uint_eq(cf->nblocks, 2);
    ck_assert_uint_eq(cf->blocks[0].ndirs, 0);
    ck_assert_uint_eq(cf->blocks[1].ndirs, 0);
    ck_assert_int_eq(cf->blocks[1].line, 2);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_braceless)
{
    /* A file with a single server block may leave out the braces (Caddy). */
    cdns_corefile_t *cf = parse_ok("example.org:1053\nwhoami\nforward . 1.1.1.1 {\n  max_fails 2\n}\nlog\n");
    ck_assert_uint_eq(cf->nblocks, 1);
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_str_eq(b->keys[0].zone, "example.org.");
    ck_assert_uint_eq(b->ndirs, 3);
    check_dir(&b->dirs[0], "whoami", 0, 2);
    check_dir(&b->dirs[1], "forward", 2, 3);
    check_dir(&b->dirs[1].block[0], "max_fails", 1, 4);
    check_dir(&b->dirs[2], "log", 0, 6);
    cdns_corefile_free(cf);

    /* Keys alone are an empty server block. */
    cf = parse_ok(".:1053\n");
    ck_assert_uint_eq(cf->nblocks, 1);
    ck_assert_uint_eq(cf->blocks[0].ndirs, 0);
    cdns_corefile_free(cf);

    parse_err("example.org\nwhoami\n}\n", MAIN ":3: unexpected '}'");
}
END_TEST

START_TEST(test_brace_errors)
{
    parse_err(". {\n  whoami\n}\n}\n", MAIN ":4: unexpected '}'");
    parse_err("}\n", MAIN ":1: unexpected '}'");
    parse_err(". {\n  whoami\n", MAIN ":1: unmatched '{'");
    parse_err(". {\n  health {\n    lameduck 5s\n}\n", MAIN ":1: unmatched '{'");
    parse_err(". {\n  forward . 1.1.1.1 {\n    a {\n  }\n}\n", MAIN ":1: unmatched '{'");
    parse_err(". {\n  forward . 1.1.1.1 {\n    a {\n  }\n", MAIN ":2: unmatched '{'");
    parse_err(". { whoami }\n", MAIN ":1: unexpected 'whoami' after '{' (a brace must end its line)");
    parse_err(". {\n  health { lameduck 5s }\n}\n",
              MAIN ":2: unexpected 'lameduck' after '{' (a brace must end its line)");
    parse_err(". {\n  health {\n    lameduck 5s }\n}\n", MAIN ":3: unexpected '}' (a closing brace must start a line)");
    parse_err(". {\n  whoami\n} log\n", MAIN ":3: unexpected 'log' after '}' (a brace must end its line)");
    parse_err(". {\n  health\n  {\n  }\n}\n",
              MAIN ":3: unexpected '{' (a block opens at the end of its directive's line)");
}
END_TEST

START_TEST(test_outside_block)
{
    parse_err(". {\n  whoami\n}\nlog\n", MAIN ":4: directive 'log' outside any server block");
    parse_err("a.example {\n}\nb.example\nwhoami\n", MAIN ":3: directive 'b.example' outside any server block");
}
END_TEST

START_TEST(test_nesting_limit)
{
    char text[4096] = ". {\n";
    for (int i = 0; i < 70; i++)
        strcat(text, "a {\n");
    parse_err(text, MAIN ":65: blocks nested more than 64 deep");
}
END_TEST

/* ------------------------------------------------------------------ tokens */

START_TEST(test_quotes_and_comments)
{
    cdns_corefile_t *cf = parse_ok("# leading comment\n"
                                   ". { # after the brace\n"
                                   "  rewrite name \"a b\" `c \"d\" e` # trailing\n"
                                   "  template IN A \"multi\n"
                                   "line\" next\n"
                                   "  answer \"{{ .Name }} 60 IN A 1.2.3.4\"\n"
                                   "  say \"#not a comment\" x#comment\n"
                                   "  quoted \"{\" \"}\"\n"
                                   "}\n");
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_uint_eq(b->ndirs, 5);
    const cdns_cf_directive_t *d = b->dirs;
    check_dir(&d[0], "rewrite", 3, 3);
    ck_assert_str_eq(arg(&d[0], 1), "a b");
    ck_assert(d[0].args[1].quoted);
    ck_assert(!d[0].args[0].quoted);
    ck_assert_str_eq(arg(&d[0], 2), "c \"d\" e");
    ck_assert(d[0].args[2].quoted);
    /* A token spanning lines keeps its first line; the line after it is still the same
     * directive ("next"), as in Caddy. */
    check_dir(&d[1], "template", 4, 4);
    ck_assert_str_eq(arg(&d[1], 2), "multi\nline");
    ck_assert_str_eq(arg(&d[1], 3), "next");
    ck_assert_int_eq(d[1].args[3].line, 5);
    check_dir(&d[2], "answer", 1, 6);
    ck_assert_str_eq(arg(&d[2], 0), "{{ .Name }} 60 IN A 1.2.3.4");
    check_dir(&d[3], "say", 2, 7);
    ck_assert_str_eq(arg(&d[3], 0), "#not a comment");
    ck_assert_str_eq(arg(&d[3], 1), "x");
    /* Quoted braces are text, never block delimiters. */
    check_dir(&d[4], "quoted", 2, 8);
    ck_assert_str_eq(arg(&d[4], 0), "{");
    ck_assert(!d[4].has_block);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_quote_errors)
{
    parse_err(". {\n  log \"abc\n}\n", MAIN ":2: unterminated quoted string");
    parse_err(". {\n  log `abc\n}\n", MAIN ":2: unterminated quoted string");
}
END_TEST

START_TEST(test_env)
{
    setenv("CDNS_TEST_ZONE", "Example.ORG", 1);
    setenv("CDNS_TEST_PORT", "1053", 1);
    setenv("CDNS_TEST_UPSTREAM", "9.9.9.9", 1);
    unsetenv("CDNS_TEST_MISSING");
    cdns_corefile_t *cf = parse_ok("{$CDNS_TEST_ZONE}:{%CDNS_TEST_PORT%} {\n"
                                   "  forward . {$CDNS_TEST_UPSTREAM} \"{%CDNS_TEST_UPSTREAM%}:53\"\n"
                                   "  log x{$CDNS_TEST_MISSING}y {$CDNS_TEST_MISSING}\n"
                                   "}\n");
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_str_eq(b->keys[0].text, "Example.ORG:1053");
    ck_assert_str_eq(b->keys[0].zone, "example.org.");
    ck_assert_int_eq(b->keys[0].port, 1053);
    ck_assert_str_eq(arg(&b->dirs[0], 1), "9.9.9.9");
    ck_assert_str_eq(arg(&b->dirs[0], 2), "9.9.9.9:53");
    /* A missing variable is the empty string, as in Caddy; the token stays. */
    ck_assert_uint_eq(b->dirs[1].nargs, 2);
    ck_assert_str_eq(arg(&b->dirs[1], 0), "xy");
    ck_assert_str_eq(arg(&b->dirs[1], 1), "");
    cdns_corefile_free(cf);
}
END_TEST

/* ------------------------------------------------------------------ snippets */

START_TEST(test_snippets)
{
    cdns_corefile_t *cf = parse_ok("(common) {\n"
                                   "    errors\n"
                                   "    cache 30 {\n"
                                   "        success 100\n"
                                   "    }\n"
                                   "}\n"
                                   "(up) {\n"
                                   "    forward . {args[0]} {args[1]}\n"
                                   "}\n"
                                   "(empty) { }\n"
                                   "(blk) {\n"
                                   "  zone.example {\n"
                                   "    import common\n"
                                   "  }\n"
                                   "}\n"
                                   ".:53 {\n"
                                   "    import common\n"
                                   "    import up 1.1.1.1 8.8.8.8\n"
                                   "    import empty\n"
                                   "    log\n"
                                   "}\n"
                                   "import blk\n");
    ck_assert_uint_eq(cf->nblocks, 2);
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_str_eq(b->keys[0].zone, ".");
    ck_assert_int_eq(b->line, 16);
    ck_assert_uint_eq(b->ndirs, 4);
    /* Snippet lines keep the file and line where the snippet was written. */
    check_dir(&b->dirs[0], "errors", 0, 2);
    check_dir(&b->dirs[1], "cache", 1, 3);
    check_dir(&b->dirs[1].block[0], "success", 1, 4);
    check_dir(&b->dirs[2], "forward", 3, 8);
    ck_assert_str_eq(arg(&b->dirs[2], 1), "1.1.1.1");
    ck_assert_str_eq(arg(&b->dirs[2], 2), "8.8.8.8");
    check_dir(&b->dirs[3], "log", 0, 20);

    /* A snippet imported at the top level brings whole server blocks. */
    b = &cf->blocks[1];
    ck_assert_str_eq(b->keys[0].zone, "zone.example.");
    ck_assert_uint_eq(b->ndirs, 2);
    check_dir(&b->dirs[0], "errors", 0, 2);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_snippet_errors)
{
    parse_err(". {\n  import nope\n}\n", MAIN ":2: import nope: no such file or snippet");
    /* Snippets must be defined before use, as in Caddy. */
    parse_err(". {\n  import later\n}\n(later) {\n  log\n}\n", MAIN ":2: import later: no such file or snippet");
    parse_err("(a) {\n  log\n}\n(a) {\n  log\n}\n", MAIN ":4: redeclaration of snippet a");
    parse_err("(a) {\n  import a\n}\n. {\n  import a\n}\n", MAIN ":2: import cycle: snippet a imports itself");
    parse_err("(a) {\n  import b\n}\n(b) {\n  import a\n}\n. {\n  import a\n}\n",
              MAIN ":5: import cycle: snippet a imports itself");
    parse_err("(a) {\n  log\n", MAIN ":1: unmatched '{'");
    parse_err("(a)\nlog\n", MAIN ":1: snippet (a) must be followed by '{'");
    parse_err("(a) { log }\n", MAIN ":1: unexpected 'log' after '{' (a brace must end its line)");
    parse_err(". {\n  import\n}\n", MAIN ":2: import: missing file, glob or snippet name");
    parse_err(". {\n  import \"\"\n}\n", MAIN ":2: import: empty file, glob or snippet name");
}
END_TEST

/* ------------------------------------------------------------------ file imports */

START_TEST(test_import_file)
{
    cdns_corefile_t *cf =
        parse_ok(". {\n  import common.conf\n  import sub/nested.conf\n  log\n}\nimport blocks.conf\n");
    ck_assert_uint_eq(cf->nblocks, 2);
    const cdns_cf_block_t *b = &cf->blocks[0];
    ck_assert_uint_eq(b->ndirs, 6);
    check_dir(&b->dirs[0], "prometheus", 1, 1);
    ck_assert_str_eq(b->dirs[0].file, DATA "/common.conf");
    ck_assert_str_eq(b->dirs[0].args[0].file, DATA "/common.conf");
    check_dir(&b->dirs[1], "errors", 0, 2);
    /* sub/nested.conf imports ../common.conf relative to its own directory. */
    check_dir(&b->dirs[2], "prometheus", 1, 1);
    ck_assert_str_eq(b->dirs[2].file, DATA "/sub/../common.conf");
    check_dir(&b->dirs[4], "cache", 1, 3);
    ck_assert_str_eq(b->dirs[4].file, DATA "/sub/nested.conf");
    check_dir(&b->dirs[5], "log", 0, 4);
    ck_assert_str_eq(b->dirs[5].file, MAIN);

    b = &cf->blocks[1];
    ck_assert_str_eq(b->keys[0].zone, "example.org.");
    ck_assert_str_eq(b->file, DATA "/blocks.conf");
    check_dir(&b->dirs[0], "whoami", 0, 2);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_import_args_file)
{
    cdns_corefile_t *cf = parse_ok(". {\n  import args.conf 1.1.1.1 500\n}\n");
    const cdns_cf_directive_t *d = &cf->blocks[0].dirs[0];
    check_dir(d, "forward", 2, 1);
    ck_assert_str_eq(arg(d, 1), "1.1.1.1");
    ck_assert_str_eq(arg(&d->block[0], 0), "500");
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_import_glob)
{
    cdns_corefile_t *cf = parse_ok("import conf.d/*.conf\n. {\n  import empty.d/*.conf\n  whoami\n}\n");
    ck_assert_uint_eq(cf->nblocks, 3);
    ck_assert_str_eq(cf->blocks[0].keys[0].zone, "a.example.");
    ck_assert_str_eq(cf->blocks[0].file, DATA "/conf.d/10-a.conf");
    check_dir(&cf->blocks[0].dirs[0], "log", 0, 2);
    ck_assert_str_eq(cf->blocks[1].keys[0].zone, "b.example.");
    check_dir(&cf->blocks[1].dirs[0], "errors", 0, 2);
    /* An empty glob only warns (CoreDNS's import README: "an empty glob pattern is not an
     * error"). */
    ck_assert_uint_eq(cf->blocks[2].ndirs, 1);
    check_dir(&cf->blocks[2].dirs[0], "whoami", 0, 4);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_import_absolute)
{
    char cwd[4096], text[8192];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(text, sizeof(text), ". {\n  import %s/" DATA "/common.conf\n}\n", cwd);
    cdns_corefile_t *cf = parse_ok(text);
    ck_assert_uint_eq(cf->blocks[0].ndirs, 2);
    cdns_corefile_free(cf);
}
END_TEST

START_TEST(test_import_errors)
{
    parse_err(". {\n  import missing.conf\n}\n", MAIN ":2: import missing.conf: no such file or snippet");
    parse_err("\n. {\n  import conf.d\n}\n", MAIN ":3: import conf.d: " DATA "/conf.d is a directory");
    parse_err(". {\n  import self.conf\n}\n", DATA "/self.conf:1: import cycle: " DATA "/self.conf imports itself");
    parse_err(". {\n  import cycle_a.conf\n}\n",
              DATA "/cycle_b.conf:2: import cycle: " DATA "/cycle_a.conf imports itself");
    /* A Corefile importing itself (here, the file named as the top-level one). */
    parse_err_file(". {\n  import Corefile\n}\n", DATA "/Corefile",
                   DATA "/Corefile:2: import cycle: " DATA "/Corefile imports itself");
    /* Errors inside imported files name that file and line. */
    parse_err("import bad_brace.conf\n", DATA "/bad_brace.conf:4: unexpected '}'");
    /* A brace closed inside an imported file closes the importer's block (tokens are spliced). */
    parse_err(". {\n  import bad_brace.conf\n}\n", MAIN ":3: unexpected '}'");
    parse_err(". {\n  import open.conf\n", DATA "/open.conf:1: unmatched '{'");
}
END_TEST

START_TEST(test_import_open_across_files)
{
    /* open.conf leaves "health {" open and this file closes it: the tokens read as if spliced
     * in, as Caddy does. */
    cdns_corefile_t *cf = parse_ok(". {\n  import open.conf\n    lameduck 5s\n  }\n}\n");
    const cdns_cf_directive_t *d = &cf->blocks[0].dirs[0];
    check_dir(d, "health", 0, 1);
    ck_assert_uint_eq(d->nblock, 1);
    check_dir(&d->block[0], "lameduck", 1, 3);
    cdns_corefile_free(cf);
}
END_TEST

static Suite *parser_suite(void)
{
    Suite *s = suite_create("config_parser");
    TCase *tc = tcase_create("parser");
    tcase_add_test(tc, test_kubeadm);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_keys_multiple);
    tcase_add_test(tc, test_keys_forms);
    tcase_add_test(tc, test_keys_cidr_split);
    tcase_add_test(tc, test_keys_errors);
    tcase_add_test(tc, test_nested_blocks);
    tcase_add_test(tc, test_empty_blocks);
    tcase_add_test(tc, test_braceless);
    tcase_add_test(tc, test_brace_errors);
    tcase_add_test(tc, test_outside_block);
    tcase_add_test(tc, test_nesting_limit);
    tcase_add_test(tc, test_quotes_and_comments);
    tcase_add_test(tc, test_quote_errors);
    tcase_add_test(tc, test_env);
    tcase_add_test(tc, test_snippets);
    tcase_add_test(tc, test_snippet_errors);
    tcase_add_test(tc, test_import_file);
    tcase_add_test(tc, test_import_args_file);
    tcase_add_test(tc, test_import_glob);
    tcase_add_test(tc, test_import_absolute);
    tcase_add_test(tc, test_import_errors);
    tcase_add_test(tc, test_import_open_across_files);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(parser_suite)
