/* SPDX-License-Identifier: MIT */
/* test_dname.c — wire names: length, case, comparison, hash, text round trips (cross-checked
 * with ldns) and decompression with every rejection the parser relies on. */
#include "cdns/dns.h"
#include "check_main.h"

#include <ldns/ldns.h>
#include <string.h>

#define N(s) ((const uint8_t *)(s))

/* Wire name from text (absolute), failing the test on error. */
static size_t W(const char *text, uint8_t out[CDNS_DNAME_MAX])
{
    size_t len = 0;
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, out, &len), CDNS_OK);
    return len;
}

START_TEST(len_and_labels)
{
    ck_assert_uint_eq(cdns_dname_len(N("\3www\7example\3org")), 17);
    ck_assert_int_eq(cdns_dname_labels(N("\3www\7example\3org")), 3);
    ck_assert_uint_eq(cdns_dname_len(N("")), 1);
    ck_assert_int_eq(cdns_dname_labels(N("")), 0);
    ck_assert_uint_eq(cdns_dname_len(N("\1a")), 3);
}
END_TEST

START_TEST(lower_folds_ascii_only)
{
    /* '@' (0x40), '[' (0x5b), 0xc1 and the length octets must survive; A-Z fold. */
    uint8_t n[] = "\5AZaz@\3[\xc1Q\3COM";
    cdns_dname_lower(n);
    ck_assert_mem_eq(n, "\5azaz@\3[\xc1q\3com", 15);

    uint8_t dst[CDNS_DNAME_MAX];
    memset(dst, 0xee, sizeof(dst));
    ck_assert_uint_eq(cdns_dname_copy_lower(dst, N("\3WwW\7ExAmPlE\0")), 13);
    ck_assert_mem_eq(dst, "\3www\7example\0", 13);
    ck_assert_uint_eq(dst[13], 0xee); /* nothing written past the name */
}
END_TEST

START_TEST(equal)
{
    ck_assert(cdns_dname_equal(N("\3www\7Example\3ORG"), N("\3WWW\7example\3org")));
    ck_assert(cdns_dname_equal(N(""), N("")));
    ck_assert(!cdns_dname_equal(N("\3abc"), N("\3abd")));
    ck_assert(!cdns_dname_equal(N("\1a"), N("\1a\1b")));
    ck_assert(!cdns_dname_equal(N("\1a\1b"), N("\1a")));
    ck_assert(!cdns_dname_equal(N("\2ab"), N("\1a\1b")));
    ck_assert(!cdns_dname_equal(N("\1@"), N("\1`"))); /* 0x40 vs 0x60: not letters */
}
END_TEST

START_TEST(is_sub)
{
    const uint8_t *name = N("\3www\7example\3org");
    ck_assert(cdns_dname_is_sub(name, N("\7example\3org")));
    ck_assert(cdns_dname_is_sub(name, N("\3org")));
    ck_assert(cdns_dname_is_sub(name, N("")));
    ck_assert(cdns_dname_is_sub(name, name));
    ck_assert(cdns_dname_is_sub(name, N("\7EXAMPLE\3org")));
    ck_assert(!cdns_dname_is_sub(name, N("\6xample\3org"))); /* not on a label boundary */
    ck_assert(!cdns_dname_is_sub(name, N("\7example\3com")));
    ck_assert(!cdns_dname_is_sub(N("\7example\3org"), name));
    ck_assert(!cdns_dname_is_sub(N(""), N("\3org")));
    /* The last 8 octets equal the zone's, but inside a label: not a subdomain. */
    ck_assert(!cdns_dname_is_sub(N("\3\2ab\3org"), N("\2ab\3org")));
}
END_TEST

/* has_suffix: is_sub for lowercase names of known lengths (sizeof counts the root octet). */
#define HS(name, suffix) cdns_dname_has_suffix(N(name), sizeof(name), N(suffix), sizeof(suffix))
START_TEST(has_suffix)
{
    ck_assert(HS("\3www\7example\3org", "\7example\3org"));
    ck_assert(HS("\3www\7example\3org", "\3www\7example\3org"));
    ck_assert(HS("\3www\7example\3org", ""));
    ck_assert(HS("", ""));
    ck_assert(!HS("\3www\7example\3org", "\6xample\3org"));
    ck_assert(!HS("\7example\3org", "\3www\7example\3org"));
    ck_assert(!HS("", "\3org"));
    ck_assert(!HS("\3\2ab\3org", "\2ab\3org"));              /* the tail lies inside the first label */
    ck_assert(!HS("\3www\7EXAMPLE\3org", "\7example\3org")); /* no folding: both lowercase */
}
END_TEST

/* under_any: the plugins' "is the question ours" test over their configured zones. */
START_TEST(under_any)
{
    static const uint8_t zones[2][CDNS_DNAME_MAX] = {"\7cluster\5local", "\7in-addr\4arpa"};
    const uint8_t *name = N("\3web\3svc\7cluster\5local");
    ck_assert(cdns_dname_under_any(name, cdns_dname_len(name), zones, 2));
    name = N("\0011\00210\7in-addr\4arpa");
    ck_assert(cdns_dname_under_any(name, cdns_dname_len(name), zones, 2));
    ck_assert(!cdns_dname_under_any(name, cdns_dname_len(name), zones, 1)); /* only the first zone */
    name = N("\3web\10xcluster\5local");
    ck_assert(!cdns_dname_under_any(name, cdns_dname_len(name), zones, 2)); /* a longer label */
    name = N("\11a\7cluster\5local"); /* one 9-octet label whose tail spells the zone's octets */
    ck_assert(!cdns_dname_under_any(name, cdns_dname_len(name), zones, 2));
    name = N("\5local");
    ck_assert(!cdns_dname_under_any(name, cdns_dname_len(name), zones, 2)); /* above the zone */
    ck_assert(!cdns_dname_under_any(name, cdns_dname_len(name), zones, 0));
    static const uint8_t root[1][CDNS_DNAME_MAX] = {""};
    ck_assert(cdns_dname_under_any(name, cdns_dname_len(name), root, 1));
}
END_TEST

START_TEST(hash)
{
    ck_assert_uint_eq(cdns_dname_hash(N("\3www\7example\3org"), 17), cdns_dname_hash(N("\3www\7example\3org"), 17));
    ck_assert_uint_ne(cdns_dname_hash(N("\3www\7example\3com"), 17), cdns_dname_hash(N("\3www\7example\3org"), 17));
    ck_assert_uint_ne(cdns_dname_hash(N(""), 1), cdns_dname_hash(N("\1a"), 3));
    /* Every length the word loop and both tails see: the hash depends on the octets only (not
     * on where they sit), and changing any one octet changes both the low byte (the store's tag)
     * and the high bits (its slot) nearly always. */
    uint8_t a[80], b[81];
    unsigned tag_same = 0, slot_same = 0, trials = 0;
    for (size_t len = 1; len <= sizeof(a); len++) {
        for (size_t i = 0; i < len; i++) {
            a[i] = (uint8_t)('a' + (i * 7 + len) % 26);
            b[i + 1] = a[i];
        }
        uint32_t h = cdns_dname_hash(a, len);
        ck_assert_uint_eq(h, cdns_dname_hash(b + 1, len));
        for (size_t i = 0; i < len; i++) {
            uint8_t keep = a[i];
            a[i] = (uint8_t)(keep ^ 0x01);
            uint32_t h2 = cdns_dname_hash(a, len);
            a[i] = keep;
            ck_assert_uint_ne(h, h2);
            tag_same += (h & 0xffu) == (h2 & 0xffu);
            slot_same += (h >> 24) == (h2 >> 24);
            trials++;
        }
    }
    ck_assert_uint_lt(tag_same * 64, trials); /* ~1/256 expected */
    ck_assert_uint_lt(slot_same * 64, trials);
}
END_TEST

/* The word-at-a-time folding and comparing against the octet-at-a-time definition, at every
 * length and alignment, on the octets around the letter ranges. */
START_TEST(fold_words)
{
    static const uint8_t edge[] = {'@',  'A',  'M',  'Z',  '[',  '`',  'a',  'z', '{', 0x00,
                                   0x3f, 0x7f, 0x80, 0xc1, 0xda, 0xe1, 0xff, '-', '_', '0'};
    uint8_t src[300], dst[300], low[300];
    for (size_t len = 1; len <= 64; len++) {
        for (size_t align = 0; align < 8; align++) {
            uint8_t *s = src + align + 1, *d = dst + align + 1;
            /* One label of len - 2 octets, or a single root octet. */
            s[0] = (uint8_t)(len >= 2 ? len - 2 : 0);
            for (size_t i = 1; i + 1 < len; i++)
                s[i] = edge[(i * 5 + len + align) % sizeof(edge)];
            if (len >= 2)
                s[len - 1] = 0;
            memset(dst, 0xAA, sizeof(dst));
            size_t n = cdns_dname_len(s);
            ck_assert_uint_eq(cdns_dname_copy_lower(d, s), n);
            for (size_t i = 0; i < n; i++) {
                uint8_t c = s[i];
                low[i] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                ck_assert_uint_eq(d[i], low[i]);
            }
            ck_assert_uint_eq(d[n], 0xAA); /* nothing written past the name */
            ck_assert_uint_eq(d[-1], 0xAA);
            ck_assert(cdns_dname_is_sub(s, low));
            ck_assert(cdns_dname_is_sub(low, s));
            if (n > 2) {
                low[n - 2] ^= 0x40; /* a different last octet (never a case change) */
                ck_assert(!cdns_dname_is_sub(s, low));
            }
        }
    }
}
END_TEST

START_TEST(from_str_basic)
{
    uint8_t out[CDNS_DNAME_MAX];
    size_t len;
    ck_assert_int_eq(cdns_dname_from_str("www.Example.org.", NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 17);
    ck_assert_mem_eq(out, "\3www\7Example\3org", 17);
    /* Without an origin a relative name is absolute. */
    ck_assert_int_eq(cdns_dname_from_str("www.Example.org", NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 17);
    ck_assert_mem_eq(out, "\3www\7Example\3org", 17);
    ck_assert_int_eq(cdns_dname_from_str(".", NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(out[0], 0);
}
END_TEST

START_TEST(from_str_origin)
{
    uint8_t out[CDNS_DNAME_MAX];
    size_t len;
    const uint8_t *origin = N("\7cluster\5local");
    ck_assert_int_eq(cdns_dname_from_str("web.default.svc", origin, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 31);
    ck_assert_mem_eq(out, "\3web\7default\3svc\7cluster\5local", 31);
    /* An absolute name ignores the origin. */
    ck_assert_int_eq(cdns_dname_from_str("web.", origin, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert_mem_eq(out, "\3web", 5);
    /* Completing with the origin may not exceed 255 octets. */
    char text[300];
    memset(text, 'a', 63);
    text[63] = '.';
    memset(text + 64, 'b', 63);
    text[127] = '.';
    memset(text + 128, 'c', 63);
    text[191] = '\0';
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 193);
    uint8_t origin2[CDNS_DNAME_MAX];
    origin2[0] = 61;
    memset(origin2 + 1, 'd', 61);
    origin2[62] = 0;
    ck_assert_int_eq(cdns_dname_from_str(text, origin2, out, &len), CDNS_OK); /* 192 + 63 = 255 */
    ck_assert_uint_eq(len, 255);
    ck_assert_mem_eq(out + 192, origin2, 63);
    origin2[0] = 62;
    origin2[62] = 'd';
    origin2[63] = 0;
    ck_assert_int_eq(cdns_dname_from_str(text, origin2, out, &len), CDNS_EMALFORMED);
}
END_TEST

START_TEST(from_str_escapes)
{
    uint8_t out[CDNS_DNAME_MAX];
    size_t len;
    ck_assert_int_eq(cdns_dname_from_str("a\\.b.c.", NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(out, "\3a.b\1c", 7);
    ck_assert_int_eq(cdns_dname_from_str("\\065bc.", NULL, out, &len), CDNS_OK);
    ck_assert_mem_eq(out, "\3Abc", 5);
    ck_assert_int_eq(cdns_dname_from_str("a\\000b\\255.", NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 6);
    ck_assert_mem_eq(out, "\4a\0b\xff\0", 6);
    ck_assert_int_eq(cdns_dname_from_str("a\\\\b\\ c.", NULL, out, &len), CDNS_OK);
    ck_assert_mem_eq(out, "\5a\\b c", 7);
}
END_TEST

START_TEST(from_str_rejects)
{
    uint8_t out[CDNS_DNAME_MAX];
    size_t len;
    const char *bad[] = {"", "a..b", ".a", "..", "a.b..", "\\256.", "\\12.", "\\1", "abc\\", "\\"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_msg(cdns_dname_from_str(bad[i], NULL, out, &len) == CDNS_EMALFORMED, "accepted '%s'", bad[i]);

    char label[80];
    memset(label, 'x', 63);
    strcpy(label + 63, ".");
    ck_assert_int_eq(cdns_dname_from_str(label, NULL, out, &len), CDNS_OK);
    memset(label, 'x', 64);
    strcpy(label + 64, ".");
    ck_assert_int_eq(cdns_dname_from_str(label, NULL, out, &len), CDNS_EMALFORMED);

    /* 255 octets is the most; 256 must fail without writing past out. */
    char text[600];
    size_t t = 0;
    for (int i = 0; i < 3; i++) {
        memset(text + t, 'a' + i, 63);
        t += 63;
        text[t++] = '.';
    }
    memset(text + t, 'z', 61);
    t += 61;
    strcpy(text + t, ".");
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, out, &len), CDNS_OK);
    ck_assert_uint_eq(len, 255);
    text[t] = 'z';
    strcpy(text + t + 1, ".");
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, out, &len), CDNS_EMALFORMED);
    /* The same through escapes (each \DDD is one octet). */
    t -= 61;
    for (int i = 0; i < 62; i++) {
        memcpy(text + t, "\\122", 4);
        t += 4;
    }
    strcpy(text + t, ".");
    ck_assert_int_eq(cdns_dname_from_str(text, NULL, out, &len), CDNS_EMALFORMED);
}
END_TEST

START_TEST(to_str)
{
    char buf[1100];
    ck_assert_int_eq(cdns_dname_to_str(N(""), buf, sizeof(buf)), CDNS_OK);
    ck_assert_str_eq(buf, ".");
    ck_assert_int_eq(cdns_dname_to_str(N("\3www\7Example\3org"), buf, sizeof(buf)), CDNS_OK);
    ck_assert_str_eq(buf, "www.Example.org.");
    ck_assert_int_eq(cdns_dname_to_str(N("\3a.b\4x y\"\2\0\xff\4;\\@$\2()"), buf, sizeof(buf)), CDNS_OK);
    ck_assert_str_eq(buf, "a\\.b.x\\032y\\\".\\000\\255.\\;\\\\\\@\\$.\\(\\).");
    ck_assert_int_eq(cdns_dname_to_str(N("\1\x7f\1\x1f\1~\1!"), buf, sizeof(buf)), CDNS_OK);
    ck_assert_str_eq(buf, "\\127.\\031.~.!.");
}
END_TEST

START_TEST(to_str_enospc)
{
    /* "www.example.org." needs 17 octets with the NUL: every shorter buffer must fail. */
    char buf[64];
    for (size_t n = 0; n < 17; n++)
        ck_assert_int_eq(cdns_dname_to_str(N("\3www\7example\3org"), buf, n), CDNS_ENOSPC);
    ck_assert_int_eq(cdns_dname_to_str(N("\3www\7example\3org"), buf, 17), CDNS_OK);
    ck_assert_str_eq(buf, "www.example.org.");
    ck_assert_int_eq(cdns_dname_to_str(N(""), buf, 1), CDNS_ENOSPC);
    /* An escape that does not fit whole. */
    ck_assert_int_eq(cdns_dname_to_str(N("\1\xff"), buf, 5), CDNS_ENOSPC);
    ck_assert_int_eq(cdns_dname_to_str(N("\1\xff"), buf, 6), CDNS_OK);
    ck_assert_int_eq(cdns_dname_to_str(N("\1."), buf, 3), CDNS_ENOSPC);
    ck_assert_int_eq(cdns_dname_to_str(N("\1."), buf, 4), CDNS_OK);
}
END_TEST

/* Every octet value, through to_str and back, and through ldns's reader of our text. */
START_TEST(round_trip_all_octets)
{
    for (unsigned base = 0; base < 256; base += 63) {
        uint8_t name[CDNS_DNAME_MAX];
        unsigned n = 256 - base < 63 ? 256 - base : 63;
        name[0] = (uint8_t)n;
        for (unsigned i = 0; i < n; i++)
            name[1 + i] = (uint8_t)(base + i);
        name[1 + n] = 1; /* a second label so the separator is exercised too */
        name[2 + n] = (uint8_t)(255 - base);
        name[3 + n] = 0;
        size_t o = 4 + n;

        char text[1100];
        ck_assert_int_eq(cdns_dname_to_str(name, text, sizeof(text)), CDNS_OK);
        uint8_t back[CDNS_DNAME_MAX];
        size_t blen;
        ck_assert_int_eq(cdns_dname_from_str(text, NULL, back, &blen), CDNS_OK);
        ck_assert_uint_eq(blen, o);
        ck_assert_mem_eq(back, name, o);

        ldns_rdf *rdf = ldns_dname_new_frm_str(text);
        ck_assert_ptr_nonnull(rdf);
        ck_assert_uint_eq(ldns_rdf_size(rdf), o);
        ck_assert_mem_eq(ldns_rdf_data(rdf), name, o);
        ldns_rdf_deep_free(rdf);
    }
}
END_TEST

START_TEST(from_str_matches_ldns)
{
    const char *texts[] = {"www.example.org.", "a\\.b.c.", "\\065\\066.x.", "_http._tcp.svc.cluster.local.",
                           "a\\\\b.c\\;d.",    "x\\ y."};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(texts); i++) {
        uint8_t w[CDNS_DNAME_MAX];
        size_t len = W(texts[i], w);
        ldns_rdf *rdf = ldns_dname_new_frm_str(texts[i]);
        ck_assert_ptr_nonnull(rdf);
        ck_assert_uint_eq(ldns_rdf_size(rdf), len);
        ck_assert_mem_eq(ldns_rdf_data(rdf), w, len);
        ldns_rdf_deep_free(rdf);
    }
}
END_TEST

/* ------------------------------------------------------------------ unpack */

/* A packet with a zero header and the given body at offset 12. */
static size_t mkpkt(uint8_t *pkt, const void *body, size_t n)
{
    memset(pkt, 0, 12);
    memcpy(pkt + 12, body, n);
    return 12 + n;
}

static int unpack_at(const uint8_t *pkt, size_t len, size_t pos, uint8_t *out, size_t *out_len, size_t *end)
{
    size_t p = pos;
    int ret = cdns_dname_unpack(pkt, len, &p, out, out_len);
    *end = p;
    return ret;
}

START_TEST(unpack_plain_and_compressed)
{
    uint8_t pkt[512], out[CDNS_DNAME_MAX];
    size_t olen, end;
    /* 12: www.Example.org  29: mail -> 16 (example.org)  36: b -> 29 (chain) */
    static const uint8_t body[] = "\3www\7Example\3org\0"
                                  "\4mail\xc0\x10"
                                  "\1b\xc0\x1d";
    size_t len = mkpkt(pkt, body, sizeof(body) - 1);

    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_OK);
    ck_assert_uint_eq(olen, 17);
    ck_assert_mem_eq(out, "\3www\7Example\3org", 17); /* case kept */
    ck_assert_uint_eq(end, 29);

    ck_assert_int_eq(unpack_at(pkt, len, 29, out, &olen, &end), CDNS_OK);
    ck_assert_uint_eq(olen, 18);
    ck_assert_mem_eq(out, "\4mail\7Example\3org", 18);
    ck_assert_uint_eq(end, 36); /* just past the pointer, not where it led */

    ck_assert_int_eq(unpack_at(pkt, len, 36, out, &olen, &end), CDNS_OK);
    ck_assert_mem_eq(out, "\1b\4mail\7Example\3org", 20);
    ck_assert_uint_eq(end, 40);

    /* A pointer straight to the root label of the question. */
    static const uint8_t body2[] = "\3www\0\xc0\x10";
    len = mkpkt(pkt, body2, sizeof(body2) - 1);
    ck_assert_int_eq(unpack_at(pkt, len, 17, out, &olen, &end), CDNS_OK);
    ck_assert_uint_eq(olen, 1);
    ck_assert_uint_eq(end, 19);
}
END_TEST

START_TEST(unpack_rejects_loops)
{
    uint8_t pkt[512], out[CDNS_DNAME_MAX];
    size_t olen, end;
    /* 12: "a" then a pointer at 14 back to 12: each pointer is backward, yet it loops. */
    size_t len = mkpkt(pkt, "\1a\xc0\x0c", 4);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    ck_assert_int_eq(unpack_at(pkt, len, 14, out, &olen, &end), CDNS_EMALFORMED);
    /* A pointer to itself. */
    len = mkpkt(pkt, "\xc0\x0c", 2);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    /* Two names pointing at each other: 12 -> 16 is forward, 16 -> 12 backward. */
    len = mkpkt(pkt, "\1x\xc0\x10\1y\xc0\x0c", 8);
    ck_assert_int_eq(unpack_at(pkt, len, 16, out, &olen, &end), CDNS_EMALFORMED);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    /* A pointer back into the name's own first label (13 < 16, so backward): rejected too,
     * since no encoder points into the name it is writing and each such jump is a step of a
     * potential loop. Only targets below every offset read so far are accepted. */
    len = mkpkt(pkt, "\3\1q\0\xc0\x0d", 6);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    /* A long loop is rejected at once, not after 255 octets of repetitions. */
    len = mkpkt(pkt, "\1a\1b\1c\xc0\x0e", 8);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
}
END_TEST

START_TEST(unpack_rejects_forward_and_header_pointers)
{
    uint8_t pkt[512], out[CDNS_DNAME_MAX];
    size_t olen, end;
    /* 12: pointer forward to a valid name at 14. */
    size_t len = mkpkt(pkt, "\xc0\x0e\3www\0", 7);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    ck_assert_int_eq(unpack_at(pkt, len, 14, out, &olen, &end), CDNS_OK); /* the target itself is fine */
    /* Into the header, even where the header happens to hold a valid-looking name. */
    for (uint8_t t = 0; t < 12; t++) {
        uint8_t body[2] = {0xc0, t};
        len = mkpkt(pkt, body, 2);
        pkt[t] = 0; /* a root label at the target */
        ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    }
}
END_TEST

START_TEST(unpack_rejects_label_types)
{
    uint8_t pkt[512], out[CDNS_DNAME_MAX];
    size_t olen, end;
    size_t len = mkpkt(pkt, "\x41\0\0", 3);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    len = mkpkt(pkt, "\x81\0\0", 3);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
    len = mkpkt(pkt, "\1a\x40", 3);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_EMALFORMED);
}
END_TEST

START_TEST(unpack_rejects_truncation)
{
    uint8_t pkt[512], out[CDNS_DNAME_MAX];
    size_t olen, end;
    size_t len = mkpkt(pkt, "\3www\0", 5);
    for (size_t cut = 12; cut < len; cut++)
        ck_assert_int_eq(unpack_at(pkt, cut, 12, out, &olen, &end), CDNS_EMALFORMED);
    ck_assert_int_eq(unpack_at(pkt, len, 12, out, &olen, &end), CDNS_OK);
    len = mkpkt(pkt, "\0\xc0\x0c", 3);
    ck_assert_int_eq(unpack_at(pkt, len - 1, 13, out, &olen, &end), CDNS_EMALFORMED); /* half a pointer */
    ck_assert_int_eq(unpack_at(pkt, len, 13, out, &olen, &end), CDNS_OK);
    ck_assert_int_eq(unpack_at(pkt, len, len, out, &olen, &end), CDNS_EMALFORMED);
}
END_TEST

START_TEST(unpack_length_limit)
{
    uint8_t pkt[1024], out[CDNS_DNAME_MAX];
    size_t olen, end;
    uint8_t name[300];
    /* Uncompressed: 255 octets pass, 256 fail. */
    for (int extra = 0; extra < 2; extra++) {
        size_t o = 0;
        for (int l = 0; l < 3; l++) {
            name[o++] = 63;
            memset(name + o, 'a', 63);
            o += 63;
        }
        name[o++] = (uint8_t)(61 + extra);
        memset(name + o, 'b', (size_t)(61 + extra));
        o += (size_t)(61 + extra);
        name[o++] = 0;
        size_t len = mkpkt(pkt, name, o);
        int ret = unpack_at(pkt, len, 12, out, &olen, &end);
        if (extra == 0) {
            ck_assert_int_eq(ret, CDNS_OK);
            ck_assert_uint_eq(olen, 255);
            ck_assert_mem_eq(out, name, 255);
        } else {
            ck_assert_int_eq(ret, CDNS_EMALFORMED);
        }
    }
    /* Compressed: 200 octets at 12, then 63+1 more octets pointing at it: 264 > 255. */
    size_t o = 0;
    for (int l = 0; l < 3; l++) {
        name[o++] = 63;
        memset(name + o, 'c', 63);
        o += 63;
    }
    name[o++] = 6;
    memcpy(name + o, "dddddd", 6);
    o += 6;
    name[o++] = 0; /* 200 octets */
    ck_assert_uint_eq(o, 200);
    size_t second = 12 + o;
    name[o++] = 63;
    memset(name + o, 'e', 63);
    o += 63;
    name[o++] = 0xc0;
    name[o++] = 12;
    size_t len = mkpkt(pkt, name, o);
    ck_assert_int_eq(unpack_at(pkt, len, second, out, &olen, &end), CDNS_EMALFORMED);
    /* With a 54-octet label it is exactly 255 and fine. */
    pkt[second] = 54;
    memmove(pkt + second + 1 + 54, pkt + second + 1 + 63, 2);
    ck_assert_int_eq(unpack_at(pkt, second + 1 + 54 + 2, second, out, &olen, &end), CDNS_OK);
    ck_assert_uint_eq(olen, 255);
}
END_TEST

static Suite *dname_suite(void)
{
    Suite *s = suite_create("dns/dname");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, len_and_labels);
    tcase_add_test(tc, lower_folds_ascii_only);
    tcase_add_test(tc, equal);
    tcase_add_test(tc, is_sub);
    tcase_add_test(tc, has_suffix);
    tcase_add_test(tc, under_any);
    tcase_add_test(tc, hash);
    tcase_add_test(tc, fold_words);
    tcase_add_test(tc, from_str_basic);
    tcase_add_test(tc, from_str_origin);
    tcase_add_test(tc, from_str_escapes);
    tcase_add_test(tc, from_str_rejects);
    tcase_add_test(tc, to_str);
    tcase_add_test(tc, to_str_enospc);
    tcase_add_test(tc, round_trip_all_octets);
    tcase_add_test(tc, from_str_matches_ldns);
    tcase_add_test(tc, unpack_plain_and_compressed);
    tcase_add_test(tc, unpack_rejects_loops);
    tcase_add_test(tc, unpack_rejects_forward_and_header_pointers);
    tcase_add_test(tc, unpack_rejects_label_types);
    tcase_add_test(tc, unpack_rejects_truncation);
    tcase_add_test(tc, unpack_length_limit);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(dname_suite)
