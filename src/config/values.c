/* SPDX-License-Identifier: MIT */
/* values.c — Corefile value helpers: Go durations, bounded integers, server block keys and
 * zones (names and CIDR reverse zones, normalized as CoreDNS's plugin.SplitHostPort does).
 *
 * Pure functions, callable from any thread; arena-returning ones write into the caller's
 * arena.
 */
#include "config/config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- numbers */
int cdns_cf_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (text == NULL || *text == '\0')
        return CDNS_EINVAL;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return CDNS_EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CDNS_ERANGE;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return CDNS_ERANGE;
    *out = v;
    return CDNS_OK;
}

/* Go's time.ParseDuration grammar: [+]? (digits [. digits] unit)+, or a bare "0". Negative
 * durations make no sense in a Corefile, so "-" is rejected rather than parsed. The total is
 * capped at Go's int64 nanoseconds (about 292 years), like Go. */
int cdns_cf_parse_duration_ns(const char *text, uint64_t *ns)
{
    static const struct {
        const char *name;
        uint64_t ns;
    } units[] = {
        {"ns", 1ull},           {"us", 1000ull},      {"\xC2\xB5s", 1000ull}, /* U+00B5 micro sign */
        {"\xCE\xBCs", 1000ull},                                               /* U+03BC Greek small mu */
        {"ms", 1000000ull},     {"s", 1000000000ull}, {"m", 60ull * 1000000000ull}, {"h", 3600ull * 1000000000ull},
    };
    const uint64_t limit = (uint64_t)INT64_MAX;
    const char *p = text;
    uint64_t total = 0;

    if (p == NULL || *p == '\0')
        return CDNS_EINVAL;
    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return CDNS_OK;
    }
    if (*p == '\0')
        return CDNS_EINVAL;
    while (*p != '\0') {
        uint64_t whole = 0, frac = 0, scale = 1;
        bool digits = false, overflow = false;
        while (*p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (whole > (limit - d) / 10)
                overflow = true;
            else
                whole = whole * 10 + d;
            digits = true;
            p++;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                /* Digits past nanosecond-times-hours precision cannot change the result. */
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                digits = true;
                p++;
            }
        }
        if (!digits)
            return CDNS_EINVAL;
        size_t ulen = 0;
        while (p[ulen] != '\0' && p[ulen] != '.' && (p[ulen] < '0' || p[ulen] > '9'))
            ulen++;
        uint64_t unit = 0;
        for (size_t k = 0; k < CDNS_ARRAY_LEN(units); k++) {
            if (strlen(units[k].name) == ulen && memcmp(units[k].name, p, ulen) == 0) {
                unit = units[k].ns;
                break;
            }
        }
        if (unit == 0)
            return CDNS_EINVAL;
        p += ulen;
        if (overflow || (whole != 0 && whole > limit / unit))
            return CDNS_ERANGE;
        uint64_t v = whole * unit;
        /* frac < scale ≤ 1e18 and unit ≤ 3.6e12 would overflow, so divide in two steps. */
        long double f = (long double)frac * (long double)unit / (long double)scale;
        v += (uint64_t)f;
        if (v > limit || total > limit - v)
            return CDNS_ERANGE;
        total += v;
    }
    *ns = total;
    return CDNS_OK;
}

int cdns_cf_parse_duration_ms(const char *text, uint64_t *ms)
{
    uint64_t ns;
    int rc = cdns_cf_parse_duration_ns(text, &ns);
    if (rc != CDNS_OK)
        return rc;
    *ms = ns / 1000000u;
    return CDNS_OK;
}

/* ---------------------------------------------------------------- keys and zones */
static const char *const other_schemes[] = {"tls", "https", "https3", "grpc", "quic", "unix"};

int cdns_config__split_key(const char *text, char *scheme, size_t schemelen, char *host, size_t hostlen, int *port,
                           const char **why)
{
    const char *rest = text;
    const char *sep = strstr(text, "://");
    size_t slen;

    *port = 0;
    if (sep != NULL) {
        slen = (size_t)(sep - text);
        if (slen == 0 || slen >= schemelen) {
            *why = "unsupported scheme";
            return CDNS_EINVAL;
        }
        for (size_t k = 0; k < slen; k++)
            scheme[k] = (char)tolower((unsigned char)text[k]);
        scheme[slen] = '\0';
        rest = sep + 3;
        if (strcmp(scheme, "dns") != 0) {
            *why = "unsupported scheme";
            return CDNS_EINVAL;
        }
    } else {
        if (schemelen < 4) {
            *why = "unsupported scheme";
            return CDNS_EINVAL;
        }
        memcpy(scheme, "dns", 4);
    }

    /* The port is after the last colon, except inside an IPv6 CIDR: there a port colon can
     * only follow the "/mask" (CoreDNS: "our reverse syntax always needs a /mask before the
     * port"). */
    size_t len = strlen(rest);
    const char *colon = strrchr(rest, ':');
    const char *slash = strrchr(rest, '/');
    if (colon != NULL && slash != NULL && colon < slash)
        colon = NULL;
    if (colon != NULL) {
        const char *ps = colon + 1;
        uint64_t v;
        if (cdns_cf_parse_uint(ps, 1, 65535, &v) != CDNS_OK) {
            *why = "invalid port";
            return CDNS_EINVAL;
        }
        *port = (int)v;
        len = (size_t)(colon - rest);
    }
    if (len == 0 || len >= hostlen) {
        *why = "invalid zone";
        return CDNS_EINVAL;
    }
    memcpy(host, rest, len);
    host[len] = '\0';
    return CDNS_OK;
}

/* Lowercases a domain name and makes it fully qualified; checks label and name lengths. The
 * character set is what zone names and RFC 2317 classless names ("0/25.2.0.192.in-addr.arpa")
 * use; anything else is far more likely a typo than a zone. */
static int name_normalize(const char *in, char *out, size_t outlen)
{
    size_t len = strlen(in);
    if (len == 0)
        return CDNS_EINVAL;
    if (strcmp(in, ".") == 0) {
        if (outlen < 2)
            return CDNS_ENOSPC;
        memcpy(out, ".", 2);
        return CDNS_OK;
    }
    bool fq = in[len - 1] == '.';
    size_t total = fq ? len : len + 1;
    if (total > 254)
        return CDNS_EINVAL;
    if (total + 1 > outlen)
        return CDNS_ENOSPC;
    size_t label = 0;
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)in[k];
        if (c == '.') {
            if (label == 0)
                return CDNS_EINVAL;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_' || c == '/') {
            if (++label > 63)
                return CDNS_EINVAL;
        } else {
            return CDNS_EINVAL;
        }
        out[k] = (char)tolower(c);
    }
    if (!fq)
        out[len++] = '.';
    out[len] = '\0';
    return CDNS_OK;
}

/* A string shaped like "address/mask" is meant as a CIDR, so a bad one is an error rather
 * than a strange zone name. */
static bool looks_like_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0')
        return false;
    for (const char *p = slash + 1; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return false;
    bool v6 = memchr(s, ':', (size_t)(slash - s)) != NULL;
    for (const char *p = s; p < slash; p++) {
        bool ok =
            v6 ? (isxdigit((unsigned char)*p) || *p == ':' || *p == '.') : ((*p >= '0' && *p <= '9') || *p == '.');
        if (!ok)
            return false;
    }
    return true;
}

/* Writes the reverse zone of the first `prefix` bits of addr (a prefix on a label boundary). */
static void reverse_name(const unsigned char *addr, bool v6, unsigned prefix, char *out)
{
    size_t n = 0;
    if (v6) {
        for (int k = (int)(prefix / 4) - 1; k >= 0; k--) {
            unsigned nib = (k % 2 == 0) ? (addr[k / 2] >> 4) : (addr[k / 2] & 0xF);
            n += (size_t)sprintf(out + n, "%x.", nib);
        }
        strcpy(out + n, "ip6.arpa.");
    } else {
        for (int k = (int)(prefix / 8) - 1; k >= 0; k--)
            n += (size_t)sprintf(out + n, "%u.", addr[k]);
        strcpy(out + n, "in-addr.arpa.");
    }
}

int cdns_config__host_zones(cdns_arena_t *a, const char *host, const char ***zones, size_t *nzones, const char **why)
{
    char buf[256];
    const char **arr;

    if (!looks_like_cidr(host)) {
        if (name_normalize(host, buf, sizeof(buf)) != CDNS_OK) {
            *why = "invalid zone";
            return CDNS_EINVAL;
        }
        arr = cdns_arena_alloc(a, sizeof(*arr));
        if (arr == NULL || (arr[0] = cdns_arena_strdup(a, buf)) == NULL)
            return CDNS_ENOMEM;
        *zones = arr;
        *nzones = 1;
        return CDNS_OK;
    }

    *why = "invalid CIDR";
    const char *slash = strchr(host, '/');
    size_t alen = (size_t)(slash - host);
    char abuf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16] = {0};
    uint64_t mask;
    bool v6 = memchr(host, ':', alen) != NULL;
    /* CoreDNS refuses these IPv6 spellings as zones ("invalid CIDR"), so do we. */
    if (alen == 0 || alen >= sizeof(abuf) || host[0] == ':' || (v6 && host[0] == '0'))
        return CDNS_EINVAL;
    memcpy(abuf, host, alen);
    abuf[alen] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, abuf, addr) != 1)
        return CDNS_EINVAL;
    unsigned bits = v6 ? 128 : 32, step = v6 ? 4 : 8;
    if (cdns_cf_parse_uint(slash + 1, 0, bits, &mask) != CDNS_OK)
        return CDNS_EINVAL;
    unsigned prefix = (unsigned)mask;

    /* Clear host bits, as Go's net.ParseCIDR returns the network. */
    for (unsigned b = prefix; b < bits; b++)
        addr[b / 8] &= (unsigned char)~(0x80u >> (b % 8));

    /* A prefix off the label boundary is covered by the 2^k zones one boundary further down
     * (CoreDNS's cidr.Split): 10.0.0.0/23 -> 0.0.10... and 1.0.10.in-addr.arpa. The varying
     * bits all fall in the last label, so each subnet only differs there. */
    unsigned rounded = (prefix + step - 1) / step * step;
    size_t count = (size_t)1 << (rounded - prefix);
    arr = cdns_arena_alloc(a, count * sizeof(*arr));
    if (arr == NULL)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        unsigned char sub[16];
        memcpy(sub, addr, sizeof(sub));
        if (count > 1) {
            unsigned shift = rounded - 1; /* index of the last bit of the rounded prefix */
            for (unsigned b = 0; b < rounded - prefix; b++) {
                unsigned bit = shift - b;
                if ((i >> b) & 1u)
                    sub[bit / 8] |= (unsigned char)(0x80u >> (bit % 8));
            }
        }
        reverse_name(sub, v6, rounded, buf);
        if ((arr[i] = cdns_arena_strdup(a, buf)) == NULL)
            return CDNS_ENOMEM;
    }
    *zones = arr;
    *nzones = count;
    return CDNS_OK;
}

int cdns_cf_expand_zone(cdns_arena_t *a, const char *text, const char ***zones, size_t *nzones)
{
    char scheme[16], host[256];
    const char *why = NULL;
    int port;
    /* Plugins take zones as CoreDNS's NormalizeExact does: a known transport prefix and a port
     * are tolerated and dropped. */
    const char *t = text;
    const char *sep = strstr(text, "://");
    if (sep != NULL) {
        size_t slen = (size_t)(sep - text);
        bool known = slen == 3 && strncmp(text, "dns", 3) == 0;
        for (size_t k = 0; k < CDNS_ARRAY_LEN(other_schemes); k++)
            if (strlen(other_schemes[k]) == slen && strncmp(text, other_schemes[k], slen) == 0)
                known = true;
        if (!known)
            return CDNS_EINVAL;
        t = sep + 3;
    }
    int rc = cdns_config__split_key(t, scheme, sizeof(scheme), host, sizeof(host), &port, &why);
    if (rc != CDNS_OK)
        return rc;
    return cdns_config__host_zones(a, host, zones, nzones, &why);
}

int cdns_cf_normalize_zone(const char *text, char *out, size_t outlen)
{
    cdns_arena_t a;
    const char **zones;
    size_t n;
    int rc;

    cdns_arena_init(&a, 1024);
    rc = cdns_cf_expand_zone(&a, text, &zones, &n);
    if (rc != CDNS_OK)
        goto done;
    /* A CIDR off the label boundary names several zones; the caller wants one. */
    if (n != 1) {
        rc = CDNS_EINVAL;
        goto done;
    }
    if (strlen(zones[0]) + 1 > outlen) {
        rc = CDNS_ENOSPC;
        goto done;
    }
    strcpy(out, zones[0]);
done:
    cdns_arena_deinit(&a);
    return rc;
}
