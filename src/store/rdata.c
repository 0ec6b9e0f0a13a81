/* SPDX-License-Identifier: MIT */
/* rdata.c — helpers that turn text and numbers into the wire rdata a builder adds.
 *
 * Used by record producers (k8s records, the file and hosts plugins) on the thread that owns
 * the builder; they are reentrant, write only into caller buffers and allocate nothing.
 */
#include <arpa/inet.h>
#include <string.h>

#include "store/store_int.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Length of a wire name, 0 when it is not one (no compression, at most 255 octets). */
static size_t wire_name_len(const uint8_t *name)
{
    size_t pos = 0;
    while (name[pos]) {
        if (name[pos] > CDNS_LABEL_MAX)
            return 0;
        pos += (size_t)name[pos] + 1;
        if (pos >= CDNS_DNAME_MAX)
            return 0;
    }
    return pos + 1;
}

/* Copies a name lowercased (store rdata keeps names lowercase, see store.h). */
static void copy_lower(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
    }
}

int cdns_rdata_a(const char *ipv4_text, uint8_t out[4])
{
    if (!ipv4_text || inet_pton(AF_INET, ipv4_text, out) != 1)
        return CDNS_EINVAL;
    return 4;
}

int cdns_rdata_aaaa(const char *ipv6_text, uint8_t out[16])
{
    if (!ipv6_text || inet_pton(AF_INET6, ipv6_text, out) != 1)
        return CDNS_EINVAL;
    return 16;
}

int cdns_rdata_srv(uint16_t prio, uint16_t weight, uint16_t port, const uint8_t *target, uint8_t *out, size_t cap)
{
    if (!target || !out)
        return CDNS_EINVAL;
    size_t tl = wire_name_len(target);
    if (!tl)
        return CDNS_EMALFORMED;
    if (cap < 6 + tl)
        return CDNS_ENOSPC;
    put16(out, prio);
    put16(out + 2, weight);
    put16(out + 4, port);
    copy_lower(out + 6, target, tl);
    return (int)(6 + tl);
}

int cdns_rdata_soa(const uint8_t *mname, const uint8_t *rname, uint32_t serial, uint32_t refresh, uint32_t retry,
                   uint32_t expire, uint32_t minimum, uint8_t *out, size_t cap)
{
    if (!mname || !rname || !out)
        return CDNS_EINVAL;
    size_t ml = wire_name_len(mname), rl = wire_name_len(rname);
    if (!ml || !rl)
        return CDNS_EMALFORMED;
    if (cap < ml + rl + 20)
        return CDNS_ENOSPC;
    copy_lower(out, mname, ml);
    copy_lower(out + ml, rname, rl);
    uint8_t *p = out + ml + rl;
    put32(p, serial);
    put32(p + 4, refresh);
    put32(p + 8, retry);
    put32(p + 12, expire);
    put32(p + 16, minimum);
    return (int)(ml + rl + 20);
}

int cdns_rdata_txt(const char *text, uint8_t *out, size_t cap)
{
    if (!text || !out)
        return CDNS_EINVAL;
    size_t len = strlen(text);
    /* An empty text is one empty character-string: TXT rdata is never zero octets. */
    size_t nstr = len ? (len + 254) / 255 : 1;
    size_t need = len + nstr;
    if (need > UINT16_MAX)
        return CDNS_ERANGE;
    if (cap < need)
        return CDNS_ENOSPC;
    size_t w = 0;
    size_t left = len;
    const char *p = text;
    do {
        size_t chunk = left > 255 ? 255 : left;
        out[w++] = (uint8_t)chunk;
        memcpy(out + w, p, chunk);
        w += chunk;
        p += chunk;
        left -= chunk;
    } while (left);
    return (int)w;
}

static size_t put_label(uint8_t *out, size_t w, const char *s)
{
    size_t l = strlen(s);
    out[w] = (uint8_t)l;
    memcpy(out + w + 1, s, l);
    return w + 1 + l;
}

int cdns_reverse_name(const char *ip_text, uint8_t out[CDNS_DNAME_MAX], size_t *len)
{
    if (!ip_text || !out || !len)
        return CDNS_EINVAL;
    uint8_t a[16];
    size_t w = 0;
    if (inet_pton(AF_INET, ip_text, a) == 1) {
        /* d.c.b.a.in-addr.arpa: at most 4 * 4 + 14 octets. */
        for (int i = 3; i >= 0; i--) {
            char dec[4];
            int n = 0;
            unsigned v = a[i];
            if (v >= 100)
                dec[n++] = (char)('0' + v / 100);
            if (v >= 10)
                dec[n++] = (char)('0' + v / 10 % 10);
            dec[n++] = (char)('0' + v % 10);
            dec[n] = '\0';
            w = put_label(out, w, dec);
        }
        w = put_label(out, w, "in-addr");
    } else if (inet_pton(AF_INET6, ip_text, a) == 1) {
        /* 32 nibble labels, least significant first (RFC 3596 §2.5): 64 + 10 octets. */
        static const char hex[] = "0123456789abcdef";
        for (int i = 15; i >= 0; i--) {
            out[w++] = 1;
            out[w++] = (uint8_t)hex[a[i] & 0xf];
            out[w++] = 1;
            out[w++] = (uint8_t)hex[a[i] >> 4];
        }
        w = put_label(out, w, "ip6");
    } else {
        return CDNS_EINVAL;
    }
    w = put_label(out, w, "arpa");
    out[w++] = 0;
    *len = w;
    return CDNS_OK;
}
