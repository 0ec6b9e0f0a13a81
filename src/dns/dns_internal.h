/* SPDX-License-Identifier: MIT */
/* dns_internal.h — what the files of src/dns share beyond the public contract in dns.h: ASCII
 * case folding an octet or a word at a time, used by dname.c (compare, copy, hash) and msg.c
 * (compression lookups). Pure functions on caller-owned memory; any thread.
 */
#ifndef CDNS_DNS_INTERNAL_H
#define CDNS_DNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ASCII-only lowercase without a branch or a table. A wire name's length octets are at most
 * 63, below 'A', so folding every octet of a name (length octets included) is safe: the loops
 * need not know where labels start. */
static inline uint8_t fold(uint8_t c)
{
    return (uint8_t)(c + (((unsigned)c - 'A' < 26u) << 5));
}

/* Eight octets at a time: the query path folds, compares and hashes names of 20 to 60 octets a
 * few times per query, and a word at a time costs about a sixth of an octet at a time. Words are
 * loaded with memcpy (any alignment, one mov) in host order: they are only compared and mixed,
 * never interpreted. */
#define ONES 0x0101010101010101ull

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void store64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

/* fold() on each octet of x. For octets below 0x80, adding 0x80 - 'A' sets bit 7 exactly when
 * the octet is at least 'A', adding 0x80 - 'Z' - 1 exactly when it is above 'Z'; neither sum
 * carries into the next octet. Octets with bit 7 set are never letters. */
static inline uint64_t fold64(uint64_t x)
{
    uint64_t low7 = x & (0x7fu * ONES);
    uint64_t ge_a = low7 + (0x80u - 'A') * ONES;
    uint64_t gt_z = low7 + (0x80u - 'Z' - 1u) * ONES;
    uint64_t upper = ge_a & ~gt_z & ~x & (0x80u * ONES);
    return x | (upper >> 2); /* 0x80 >> 2 is the 0x20 that makes a letter lowercase */
}

/* memcpy of n octets between buffers that do not overlap, without the call for the short
 * rdata most records carry (4 for A, 16 for AAAA): two overlapping moves cover 4 to 16. */
static inline void copy_short(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t head = load64(src), tail = load64(src + n - 8);
        store64(dst, head);
        store64(dst + n - 8, tail);
    } else if (n >= 4 && n < 8) {
        uint32_t head, tail;
        memcpy(&head, src, 4);
        memcpy(&tail, src + n - 4, 4);
        memcpy(dst, &head, 4);
        memcpy(dst + n - 4, &tail, 4);
    } else if (n > 0) {
        memcpy(dst, src, n);
    }
}

/* fold() on each of the n octets of src, into dst. */
static inline void fold_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        store64(dst + i, fold64(load64(src + i)));
    if (i < n && n >= 8) {
        /* Refolds a few octets already written, reading and writing only inside the n. */
        store64(dst + n - 8, fold64(load64(src + n - 8)));
        return;
    }
    for (; i < n; i++)
        dst[i] = fold(src[i]);
}

static inline uint64_t fold64_if(uint64_t x, bool f)
{
    return f ? fold64(x) : x;
}

/* Equality of n octets of a and b, each folded first when its flag says so. The flags are
 * constants at every call and the function is always inlined, so each caller gets its own copy
 * without the tests (left to itself, the compiler shares one copy that tests them on every
 * word). Reads only those n octets of each: past a word, the last (overlapping) word or
 * half-word covers the tail, which is harmless, as octets compared twice compare equal twice.
 * Zero-extended half-words fold like words (a zero is no letter). */
__attribute__((always_inline)) static inline bool equal_folded(const uint8_t *a, const uint8_t *b, size_t n,
                                                               bool fold_a, bool fold_b)
{
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            if (fold64_if(load64(a + i), fold_a) != fold64_if(load64(b + i), fold_b))
                return false;
        return i == n || fold64_if(load64(a + n - 8), fold_a) == fold64_if(load64(b + n - 8), fold_b);
    }
    if (n >= 4)
        return fold64_if(load32(a), fold_a) == fold64_if(load32(b), fold_b) &&
               fold64_if(load32(a + n - 4), fold_a) == fold64_if(load32(b + n - 4), fold_b);
    for (size_t i = 0; i < n; i++)
        if ((fold_a ? fold(a[i]) : a[i]) != (fold_b ? fold(b[i]) : b[i]))
            return false;
    return true;
}

/* Case-insensitive equality of n octets. */
static inline bool equal_fold(const uint8_t *a, const uint8_t *b, size_t n)
{
    return equal_folded(a, b, n, true, true);
}

#endif
