/* SPDX-License-Identifier: MIT */
/* stubdomains.c — forward's `stubdomains DIR`: the kube-dns ConfigMap (stubDomains,
 * upstreamNameservers) read from a mounted directory and applied live.
 *
 * The main loop rereads the two files every STUB_POLL_MS (a ConfigMap volume changes by an
 * atomic symlink swap, which a timer and a reread see as well as any watch would). Valid rules
 * are built into a new immutable cdns_fwd_stubs_t, published with cdns_rcu_swap() and the old one
 * released after cdns_rcu_synchronize() (queries in flight hold their own reference). Answers
 * cached for a domain whose upstreams changed are flushed. A file that does not parse or does not
 * validate keeps the last good rules and is logged; a file that disappears reverts its part.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/cache.h"
#include "forward.h"

#define STUB_POLL_MS 2000
#define STUB_MAX_SERVERS 3 /* kube-dns allows three nameservers per domain, as resolv.conf does */

void cdns_fwd__stubs_release(cdns_fwd_stubs_t *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->sets[i].up);
    free(s->sets);
    free(s->zone);
    free(s->upstream.up);
    free(s->sig);
    free(s);
}

/* DNS-1123 subdomain, as kube-dns validates stubDomains keys. */
static bool dns1123_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        n--; /* a trailing dot is accepted and ignored */
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-'))
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return s[n - 1] != '-';
}

/* Reads a JSON list of "ip[:port]" into set. */
static int parse_servers(const cJSON *arr, cdns_fwd_set_t *set, const char *what, char *why, size_t whylen)
{
    if (!cJSON_IsArray(arr)) {
        snprintf(why, whylen, "%s: expected a list of addresses", what);
        return CDNS_EINVAL;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0 || n > STUB_MAX_SERVERS) {
        snprintf(why, whylen, "%s: between 1 and %d nameservers are allowed, got %d", what, STUB_MAX_SERVERS, n);
        return CDNS_EINVAL;
    }
    set->up = calloc((size_t)n, sizeof(cdns_fwd_up_t));
    if (set->up == NULL)
        return CDNS_ENOMEM;
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || cdns_fwd__parse_addr(it->valuestring, &set->up[set->nup]) != CDNS_OK) {
            snprintf(why, whylen, "%s: not an IP address or IP:port: %s", what,
                     cJSON_IsString(it) ? it->valuestring : "(not a string)");
            return CDNS_EINVAL;
        }
        cdns_fwd__up_metrics(&set->up[set->nup]);
        set->nup++;
    }
    return CDNS_OK;
}

/* Reads DIR/name: NULL text when the file is absent (the key was removed from the ConfigMap). */
static int read_key(const char *dir, const char *name, char **text)
{
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    *text = NULL;
    int rc = cdns_file_read(path, text, &len);
    if (rc == CDNS_ENOENT)
        return CDNS_OK;
    return rc;
}

static int zone_cmp(const void *a, const void *b)
{
    /* Longest zone first, so the first match is the most specific. */
    size_t la = cdns_dname_len(a), lb = cdns_dname_len(b);
    return la > lb ? -1 : la < lb;
}

/* Builds rules from the directory; the canonical text of what was read goes to sig. */
static int build(const cdns_fwd_t *f, cdns_fwd_stubs_t **out, char *why, size_t whylen)
{
    char *stub_text = NULL, *up_text = NULL;
    cJSON *stub = NULL, *ups = NULL;
    cdns_fwd_stubs_t *s = calloc(1, sizeof(*s));
    int rc = CDNS_ENOMEM;
    if (s == NULL)
        goto fail;
    atomic_init(&s->refs, 1);
    if ((rc = read_key(f->stub_dir, "stubDomains", &stub_text)) != CDNS_OK ||
        (rc = read_key(f->stub_dir, "upstreamNameservers", &up_text)) != CDNS_OK) {
        snprintf(why, whylen, "cannot read %s: %s", f->stub_dir, cdns_strerror(rc));
        goto fail;
    }
    if (stub_text != NULL && (stub = cJSON_Parse(stub_text)) == NULL) {
        snprintf(why, whylen, "stubDomains: invalid JSON");
        rc = CDNS_EINVAL;
        goto fail;
    }
    if (up_text != NULL && (ups = cJSON_Parse(up_text)) == NULL) {
        snprintf(why, whylen, "upstreamNameservers: invalid JSON");
        rc = CDNS_EINVAL;
        goto fail;
    }
    if (stub != NULL && !cJSON_IsObject(stub)) {
        snprintf(why, whylen, "stubDomains: expected a map of domain to a list of addresses");
        rc = CDNS_EINVAL;
        goto fail;
    }
    size_t n = stub != NULL ? (size_t)cJSON_GetArraySize(stub) : 0;
    s->zone = calloc(n ? n : 1, sizeof(*s->zone));
    s->sets = calloc(n ? n : 1, sizeof(*s->sets));
    if (s->zone == NULL || s->sets == NULL) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, stub)
    {
        size_t len = 0;
        if (!dns1123_subdomain(it->string) || cdns_dname_from_str(it->string, NULL, s->zone[s->n], &len) != CDNS_OK) {
            snprintf(why, whylen, "stubDomains: invalid domain name '%s' (not a DNS-1123 subdomain)", it->string);
            rc = CDNS_EINVAL;
            goto fail;
        }
        cdns_dname_lower(s->zone[s->n]);
        char what[300];
        snprintf(what, sizeof(what), "stubDomains[%s]", it->string);
        s->n++; /* counted before parsing so a failure frees what was allocated */
        if ((rc = parse_servers(it, &s->sets[s->n - 1], what, why, whylen)) != CDNS_OK)
            goto fail;
    }
    if (ups != NULL && (rc = parse_servers(ups, &s->upstream, "upstreamNameservers", why, whylen)) != CDNS_OK)
        goto fail;
    /* Sorting zones must move their sets along: sort an index, then permute. */
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = i + 1; j < s->n; j++)
            if (zone_cmp(s->zone[i], s->zone[j]) > 0) {
                uint8_t tz[CDNS_DNAME_MAX];
                memcpy(tz, s->zone[i], sizeof(tz));
                memcpy(s->zone[i], s->zone[j], sizeof(tz));
                memcpy(s->zone[j], tz, sizeof(tz));
                cdns_fwd_set_t ts = s->sets[i];
                s->sets[i] = s->sets[j];
                s->sets[j] = ts;
            }
    /* The signature: every rule as text, so a change of any server is seen. */
    size_t cap = 64 + (stub_text ? strlen(stub_text) : 0) + (up_text ? strlen(up_text) : 0);
    char *sig = cJSON_PrintUnformatted(stub ? stub : ups);
    char *sig2 = ups != NULL && stub != NULL ? cJSON_PrintUnformatted(ups) : NULL;
    s->sig = malloc(cap + (sig ? strlen(sig) : 0) + (sig2 ? strlen(sig2) : 0));
    if (s->sig != NULL)
        sprintf(s->sig, "%s|%s|%s", stub ? "s" : "-", sig ? sig : "", sig2 ? sig2 : (ups && !stub ? "u" : ""));
    free(sig);
    free(sig2);
    if (s->sig == NULL) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    cJSON_Delete(stub);
    cJSON_Delete(ups);
    free(stub_text);
    free(up_text);
    *out = s;
    return CDNS_OK;
fail:
    cJSON_Delete(stub);
    cJSON_Delete(ups);
    free(stub_text);
    free(up_text);
    if (s != NULL)
        cdns_fwd__stubs_release(s);
    return rc;
}

/* The zone's servers as text, or "" when the rules have no such zone. */
static void servers_of(const cdns_fwd_stubs_t *s, const uint8_t *zone, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        if (!cdns_dname_equal(s->zone[i], zone))
            continue;
        size_t off = 0;
        for (size_t k = 0; k < s->sets[i].nup && off < len; k++)
            off += (size_t)snprintf(out + off, len - off, "%s,", s->sets[i].up[k].name);
    }
}

/* Flushes cached answers of every domain whose upstreams differ between old and new. */
static void flush_changed(const cdns_fwd_stubs_t *old, const cdns_fwd_stubs_t *nw, const uint8_t *from)
{
    char a[512], b[512], name[CDNS_DNAME_MAX * 4 + 2];
    const cdns_fwd_stubs_t *both[2] = {old, nw};
    for (int w = 0; w < 2; w++) {
        const cdns_fwd_stubs_t *s = both[w];
        for (size_t i = 0; s != NULL && i < s->n; i++) {
            servers_of(old, s->zone[i], a, sizeof(a));
            servers_of(nw, s->zone[i], b, sizeof(b));
            if (strcmp(a, b) != 0 && cdns_dname_to_str(s->zone[i], name, sizeof(name)) == CDNS_OK) {
                cdns_info("plugin/forward: stubdomains: %s now goes to %s", name, b[0] ? b : "the default upstreams");
                cdns_cache_flush(name);
            }
        }
    }
    /* upstreamNameservers changes where everything else goes. */
    const char *o = old && old->upstream.nup ? old->upstream.up[0].name : "";
    const char *n = nw && nw->upstream.nup ? nw->upstream.up[0].name : "";
    bool changed = (old ? old->upstream.nup : 0) != (nw ? nw->upstream.nup : 0) || strcmp(o, n) != 0;
    for (size_t k = 1; !changed && nw && k < nw->upstream.nup; k++)
        changed = strcmp(old->upstream.up[k].name, nw->upstream.up[k].name) != 0;
    if (changed && cdns_dname_to_str(from, name, sizeof(name)) == CDNS_OK) {
        cdns_info("plugin/forward: stubdomains: upstreamNameservers changed");
        cdns_cache_flush(name);
    }
}

int cdns_fwd__stubs_load(cdns_fwd_t *f, bool initial, char *why, size_t whylen)
{
    cdns_fwd_stubs_t *s = NULL;
    int rc = build(f, &s, why, whylen);
    if (rc != CDNS_OK)
        return rc;
    cdns_fwd_stubs_t *cur = f->stubs;
    if (cur != NULL && strcmp(cur->sig, s->sig) == 0) {
        cdns_fwd__stubs_release(s);
        return CDNS_OK;
    }
    if (!initial)
        flush_changed(cur, s, f->from);
    cdns_info("plugin/forward: stubdomains: %zu stub domains, %zu upstream nameservers from %s", s->n, s->upstream.nup,
              f->stub_dir);
    cdns_fwd_stubs_t *old = cdns_rcu_swap((void **)&f->stubs, s);
    if (old != NULL) {
        if (!initial)
            cdns_rcu_synchronize();
        cdns_fwd__stubs_release(old);
    }
    return CDNS_OK;
}

static void stub_tick(uv_timer_t *t)
{
    cdns_fwd_t *f = t->data;
    char why[512];
    if (cdns_fwd__stubs_load(f, false, why, sizeof(why)) != CDNS_OK)
        cdns_warn("plugin/forward: stubdomains: %s; keeping the last good rules", why);
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

void cdns_fwd__stubs_start(cdns_fwd_t *f, uv_loop_t *loop)
{
    f->stub_timer = malloc(sizeof(*f->stub_timer));
    if (f->stub_timer == NULL) {
        cdns_warn("plugin/forward: stubdomains: out of memory; %s will not be reread", f->stub_dir);
        return;
    }
    uv_timer_init(loop, f->stub_timer);
    f->stub_timer->data = f;
    uv_timer_start(f->stub_timer, stub_tick, STUB_POLL_MS, STUB_POLL_MS);
}

void cdns_fwd__stubs_stop(cdns_fwd_t *f)
{
    if (f->stub_timer == NULL)
        return;
    uv_close((uv_handle_t *)f->stub_timer, timer_closed);
    f->stub_timer = NULL;
}
