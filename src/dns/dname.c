/* SPDX-License-Identifier: MIT */
/* dname.c — wire-format domain names: length, case folding, comparison, hashing, text
 * conversion and decompression out of a received packet.
 *
 * Every function works on caller-owned buffers and allocates nothing; all are reentrant and
 * may run on any thread. Inputs named "name" are trusted well-formed uncompressed wire names
 * (built by us); only cdns_dname_unpack() and cdns_dname_from_str() read untrusted input.
 */
#include "cdns/dns.h"

#include <string.h>

#include "dns_internal.h"

size_t cdns_dname_len(const uint8_t *name)
{
    const uint8_t *p = name;
    while (*p != 0)
        p += (size_t)*p + 1;
    return (size_t)(p - name) + 1;
}

int cdns_dname_labels(const uint8_t *name)
{
    int n = 0;
    for (const uint8_t *p = name; *p != 0; p += (size_t)*p + 1)
        n++;
    return n;
}

void cdns_dname_lower(uint8_t *name)
{
    size_t len = cdns_dname_len(name);
    for (size_t i = 0; i < len; i++)
        name[i] = fold(name[i]);
}

size_t cdns_dname_copy_lower(uint8_t *dst, const uint8_t *src)
{
    size_t len = cdns_dname_len(src);
    fold_copy(dst, src, len);
    return len;
}

bool cdns_dname_equal(const uint8_t *a, const uint8_t *b)
{
    /* Length octets compare equal under fold only when equal, so one folded compare per octet
     * covers both label lengths and letters; the walk stops at a's root label. */
    size_t i = 0;
    for (;;) {
        uint8_t l = a[i];
        if (b[i] != l)
            return false;
        if (l == 0)
            return true;
        size_t end = i + 1 + l;
        for (i++; i < end; i++)
            if (fold(a[i]) != fold(b[i]))
                return false;
    }
}

/* Whether the last tail octets of name (len octets, tail <= len) start a label: a suffix can
 * only match at the one boundary that leaves exactly that many octets. */
static bool tail_on_boundary(const uint8_t *name, size_t len, size_t tail)
{
    size_t off = len - tail, p = 0;
    while (p < off && name[p] != 0)
        p += (size_t)name[p] + 1;
    return p == off;
}

bool cdns_dname_is_sub(const uint8_t *name, const uint8_t *zone)
{
    size_t ln = cdns_dname_len(name);
    size_t lz = cdns_dname_len(zone);
    if (lz > ln || !tail_on_boundary(name, ln, lz))
        return false;
    /* Callers nearly always pass two lowercase names (lookup keys, configured zones), so the
     * plain compare settles most calls; folding is only needed when it fails. */
    const uint8_t *p = name + (ln - lz);
    return equal_folded(p, zone, lz, false, false) || equal_fold(p, zone, lz);
}

bool cdns_dname_has_suffix(const uint8_t *name, size_t len, const uint8_t *suffix, size_t slen)
{
    return slen <= len && memcmp(name + (len - slen), suffix, slen) == 0 && tail_on_boundary(name, len, slen);
}

bool cdns_dname_under_any(const uint8_t *name, size_t len, const uint8_t (*zones)[CDNS_DNAME_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cdns_dname_has_suffix(name, len, zones[i], cdns_dname_len(zones[i])))
            return true;
    return false;
}

uint64_t cdns_dname_hash64(const uint8_t *lower, size_t len)
{
    /* A word at a time: xor, multiply by an odd constant (a bijection), and fold the high half
     * down so that later words mix with every bit of earlier ones; murmur3's finaliser at the
     * end spreads all 64 bits, so that any of them (the store's tag and slot, the cache's
     * shard and index) are well mixed. The input is lowercase by contract (the store keys on
     * lowercase names), so unlike the functions above this one does not fold: folding doubled
     * its cost, and it runs two or three times per query. */
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t h = k ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        h = (h ^ load64(lower + i)) * k;
        h ^= h >> 32;
    }
    if (i < len) {
        uint64_t w = 0;
        if (len >= 8) {
            w = load64(lower + len - 8); /* overlaps the last full word; len is mixed in above */
        } else {
            for (size_t j = 0; j < len; j++)
                w = (w << 8) | lower[j];
        }
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    return cdns_hash_mix64(h);
}

uint32_t cdns_dname_hash(const uint8_t *lower, size_t len)
{
    return (uint32_t)cdns_dname_hash64(lower, len);
}

int cdns_dname_from_str(const char *text, const uint8_t *origin, uint8_t out[CDNS_DNAME_MAX], size_t *len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0; /* write position in out */

    if (s[0] == '.' && s[1] == '\0') {
        out[0] = 0;
        *len = 1;
        return CDNS_OK;
    }
    if (s[0] == '\0')
        return CDNS_EMALFORMED;

    bool absolute = false;
    while (*s != '\0') {
        size_t lpos = o++; /* the length octet of this label */
        size_t llen = 0;
        /* out holds CDNS_DNAME_MAX octets and the name needs a root octet after this label. */
        while (*s != '\0' && *s != '.') {
            unsigned c = *s++;
            if (c == '\\') {
                if (*s == '\0')
                    return CDNS_EMALFORMED;
                if (s[0] >= '0' && s[0] <= '9') {
                    if (!(s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'))
                        return CDNS_EMALFORMED;
                    c = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
                    if (c > 255)
                        return CDNS_EMALFORMED;
                    s += 3;
                } else {
                    c = *s++;
                }
            }
            if (++llen > CDNS_LABEL_MAX || o >= CDNS_DNAME_MAX - 1)
                return CDNS_EMALFORMED;
            out[o++] = (uint8_t)c;
        }
        if (llen == 0)
            return CDNS_EMALFORMED; /* "a..b", ".a" or a lone "\" label */
        out[lpos] = (uint8_t)llen;
        if (*s == '.') {
            s++;
            if (*s == '\0')
                absolute = true;
        }
    }

    if (!absolute && origin != NULL) {
        size_t olen = cdns_dname_len(origin);
        if (o + olen > CDNS_DNAME_MAX)
            return CDNS_EMALFORMED;
        memcpy(out + o, origin, olen);
        o += olen;
    } else {
        out[o++] = 0; /* room was kept for it above */
    }
    *len = o;
    return CDNS_OK;
}

int cdns_dname_to_str(const uint8_t *name, char *out, size_t outlen)
{
    size_t o = 0;
    const uint8_t *p = name;

    if (*p == 0) {
        if (outlen < 2)
            return CDNS_ENOSPC;
        out[0] = '.';
        out[1] = '\0';
        return CDNS_OK;
    }
    while (*p != 0) {
        uint8_t l = *p++;
        for (const uint8_t *end = p + l; p < end; p++) {
            uint8_t c = *p;
            if (c <= 0x20 || c >= 0x7f) {
                if (o + 4 > outlen)
                    return CDNS_ENOSPC;
                out[o++] = '\\';
                out[o++] = (char)('0' + c / 100);
                out[o++] = (char)('0' + c / 10 % 10);
                out[o++] = (char)('0' + c % 10);
                continue;
            }
            /* The characters a master file would read specially, escaped as BIND does with
             * its master-file style, so the text reads back to the same name. */
            switch (c) {
            case '.':
            case ';':
            case '\\':
            case '(':
            case ')':
            case '"':
            case '@':
            case '$':
                if (o + 2 > outlen)
                    return CDNS_ENOSPC;
                out[o++] = '\\';
                out[o++] = (char)c;
                break;
            default:
                if (o + 1 > outlen)
                    return CDNS_ENOSPC;
                out[o++] = (char)c;
            }
        }
        if (o + 1 > outlen)
            return CDNS_ENOSPC;
        out[o++] = '.';
    }
    if (o + 1 > outlen)
        return CDNS_ENOSPC;
    out[o] = '\0';
    return CDNS_OK;
}

int cdns_dname_unpack(const uint8_t *pkt, size_t pkt_len, size_t *pos, uint8_t out[CDNS_DNAME_MAX], size_t *out_len)
{
    size_t p = *pos;
    size_t o = 0;
    size_t end = 0; /* where *pos goes: past the first pointer, or past the root label */
    bool jumped = false;
    /* Every pointer must point below the lowest offset read so far. Since reading continues
     * upwards from a target, the targets strictly decrease: no loop can form, and a pointer
     * never points forward (or at itself). */
    size_t floor = p;

    for (;;) {
        if (p >= pkt_len)
            return CDNS_EMALFORMED;
        uint8_t l = pkt[p];
        if (l == 0) {
            if (o + 1 > CDNS_DNAME_MAX)
                return CDNS_EMALFORMED;
            out[o++] = 0;
            if (!jumped)
                end = p + 1;
            break;
        }
        switch (l & 0xc0) {
        case 0x00:
            if (p + 1 + l > pkt_len || o + 1 + l + 1 > CDNS_DNAME_MAX)
                return CDNS_EMALFORMED; /* truncated label, or no room left for the root */
            if (l < 16 && p + 16 <= pkt_len && o + 16 <= CDNS_DNAME_MAX) {
                /* Most labels are short: two word moves instead of a call to memcpy. The octets
                 * past this label land in out where the next label or nothing goes. */
                store64(out + o, load64(pkt + p));
                store64(out + o + 8, load64(pkt + p + 8));
            } else {
                memcpy(out + o, pkt + p, (size_t)l + 1);
            }
            o += (size_t)l + 1;
            p += (size_t)l + 1;
            break;
        case 0xc0: {
            if (p + 2 > pkt_len)
                return CDNS_EMALFORMED;
            size_t target = ((size_t)(l & 0x3f) << 8) | pkt[p + 1];
            if (target < CDNS_DNS_HDR_LEN || target >= floor)
                return CDNS_EMALFORMED;
            if (!jumped)
                end = p + 2;
            jumped = true;
            floor = target;
            p = target;
            break;
        }
        default:
            return CDNS_EMALFORMED; /* 0x40 (extended) and 0x80 (reserved) label types */
        }
    }
    *pos = end;
    *out_len = o;
    return CDNS_OK;
}
