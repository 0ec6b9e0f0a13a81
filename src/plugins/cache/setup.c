/* SPDX-License-Identifier: MIT */
/* setup.c — parses "cache [TTL] [ZONES...] { ... }" with CoreDNS's argument rules (plugin/cache
 * setup.go) and makes the two tables (success and denial). Main thread; the instance belongs to
 * the pipeline and is freed with cdns_cache__teardown(). Instances are kept on a process-wide
 * list so cdns_cache_flush() can reach every cache of every pipeline.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cdns/cache.h"

#define PFX "plugin/cache: "

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static cdns_cache_t *instances;

void cdns_cache__teardown(void *inst)
{
    cdns_cache_t *c = inst;
    if (c == NULL)
        return;
    pthread_mutex_lock(&list_lock);
    for (cdns_cache_t **p = &instances; *p; p = &(*p)->next_inst)
        if (*p == c) {
            *p = c->next_inst;
            break;
        }
    pthread_mutex_unlock(&list_lock);
    cdns_cache__table_deinit(&c->table[0]);
    cdns_cache__table_deinit(&c->table[1]);
    free(c->zones);
    free(c->zones_label);
    free(c->except[0]);
    free(c->except[1]);
    free(c);
}

void cdns_cache_flush(const char *zone)
{
    uint8_t wire[CDNS_DNAME_MAX];
    size_t len = 0;
    if (cdns_dname_from_str(zone ? zone : ".", NULL, wire, &len) != CDNS_OK)
        return;
    cdns_dname_lower(wire);
    pthread_mutex_lock(&list_lock);
    size_t n = 0;
    for (cdns_cache_t *c = instances; c; c = c->next_inst)
        n += cdns_cache__flush(&c->table[0], wire) + cdns_cache__flush(&c->table[1], wire);
    pthread_mutex_unlock(&list_lock);
    if (n)
        cdns_info("plugin/cache: flushed %zu entries at or below %s", n, zone ? zone : ".");
}

/* strconv.Atoi's syntax: an optional sign and decimal digits. */
static bool is_int(const char *s, long long *v)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '\0')
        return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    *v = strtoll(s, NULL, 10);
    return true;
}

static int int_arg(const cdns_cf_token_t *t, long long *v, cdns_diag_t *diag)
{
    if (!is_int(t->text, v))
        return cdns_diag_set(diag, t->file, t->line, PFX "strconv.Atoi: parsing \"%s\": invalid syntax", t->text);
    return CDNS_OK;
}

static int duration_arg(const cdns_cf_token_t *t, uint64_t *ms, cdns_diag_t *diag)
{
    if (t->text[0] == '-')
        return cdns_diag_set(diag, t->file, t->line, PFX "invalid negative duration '%s'", t->text);
    if (cdns_cf_parse_duration_ms(t->text, ms) != CDNS_OK)
        return cdns_diag_set(diag, t->file, t->line, PFX "time: invalid duration \"%s\"", t->text);
    return CDNS_OK;
}

static int zone_wire(const char *text, uint8_t out[CDNS_DNAME_MAX])
{
    char norm[CDNS_DNAME_MAX * 4 + 2];
    size_t len = 0;
    if (cdns_cf_normalize_zone(text, norm, sizeof(norm)) != CDNS_OK ||
        cdns_dname_from_str(norm, NULL, out, &len) != CDNS_OK)
        return CDNS_EINVAL;
    cdns_dname_lower(out);
    return CDNS_OK;
}

/* CAPACITY [TTL [MINTTL]] of "success" and "denial". */
static int parse_kind(cdns_cache_t *c, int k, const cdns_cf_directive_t *b, cdns_diag_t *diag)
{
    long long v = 0;
    if (b->nargs == 0 || b->nargs > 3)
        return cdns_diag_set(diag, b->file, b->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             b->name);
    if (int_arg(&b->args[0], &v, diag) != CDNS_OK)
        return CDNS_EINVAL;
    c->cap[k] = v > 0 ? (size_t)v : 0;
    if (b->nargs > 1) {
        if (int_arg(&b->args[1], &v, diag) != CDNS_OK)
            return CDNS_EINVAL;
        if (v <= 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "cache TTL can not be zero or negative: %lld", v);
        c->max_ttl[k] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    }
    if (b->nargs > 2) {
        if (int_arg(&b->args[2], &v, diag) != CDNS_OK)
            return CDNS_EINVAL;
        if (v < 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "cache min TTL can not be negative: %lld", v);
        c->min_ttl[k] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    }
    return CDNS_OK;
}

static int parse_prefetch(cdns_cache_t *c, const cdns_cf_directive_t *b, cdns_diag_t *diag)
{
    long long v = 0;
    if (b->nargs == 0 || b->nargs > 3)
        return cdns_diag_set(diag, b->file, b->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             b->name);
    if (int_arg(&b->args[0], &v, diag) != CDNS_OK)
        return CDNS_EINVAL;
    if (v < 0)
        return cdns_diag_set(diag, b->file, b->line, PFX "prefetch amount should be positive: %lld", v);
    c->prefetch = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    if (b->nargs > 1 && duration_arg(&b->args[1], &c->prefetch_window_ms, diag) != CDNS_OK)
        return CDNS_EINVAL;
    if (b->nargs > 2) {
        const char *pct = b->args[2].text;
        size_t n = strlen(pct);
        if (n == 0 || pct[n - 1] != '%')
            return cdns_diag_set(diag, b->file, b->line,
                                 PFX "last character of percentage should be `%%`, but is: '%c'", n ? pct[n - 1] : ' ');
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(n - 1), pct);
        if (!is_int(num, &v))
            return cdns_diag_set(diag, b->file, b->line, PFX "strconv.Atoi: parsing \"%s\": invalid syntax", num);
        if (v < 10 || v > 90)
            return cdns_diag_set(diag, b->file, b->line, PFX "percentage should fall in range [10, 90]: %lld", v);
        c->percentage = (uint32_t)v;
    }
    return CDNS_OK;
}

static int parse_stale_ttl(const cdns_cf_token_t *t, uint32_t *ttl, cdns_diag_t *diag)
{
    uint64_t ms = 0;
    if (duration_arg(t, &ms, diag) != CDNS_OK)
        return CDNS_EINVAL;
    if (ms % 1000)
        return cdns_diag_set(diag, t->file, t->line, PFX "serve_stale response TTL must be a whole number of seconds");
    if (ms / 1000 > UINT32_MAX)
        return cdns_diag_set(diag, t->file, t->line, PFX "serve_stale response TTL exceeds the DNS TTL range");
    *ttl = (uint32_t)(ms / 1000);
    return CDNS_OK;
}

/* serve_stale [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] |
 *                         verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]] */
static int parse_stale(cdns_cache_t *c, const cdns_cf_directive_t *b, cdns_diag_t *diag)
{
    if (b->nargs > 5)
        return cdns_diag_set(diag, b->file, b->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             b->name);
    c->stale_ms = 3600 * 1000;
    c->stale_ttl_s = 0;
    c->recheck_ms = 0;
    c->verify = false;
    c->verify_timeout_ms = 0;
    if (b->nargs > 0 && duration_arg(&b->args[0], &c->stale_ms, diag) != CDNS_OK)
        return CDNS_EINVAL;
    if (b->nargs > 1) {
        const char *mode = b->args[1].text;
        if (strcasecmp(mode, "immediate") != 0 && strcasecmp(mode, "verify") != 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid value for serve_stale refresh mode: %s", mode);
        c->verify = strcasecmp(mode, "verify") == 0;
    }
    size_t i = 2;
    if (c->verify && b->nargs > i) {
        if (b->args[i].text[0] == '-')
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid negative timeout for serve_stale verify");
        if (cdns_cf_parse_duration_ms(b->args[i].text, &c->verify_timeout_ms) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid serve_stale verify timeout: %s", b->args[i].text);
        i++;
    } else if (!c->verify && b->nargs > 4) {
        return cdns_diag_set(diag, b->file, b->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             b->args[4].text);
    }
    if (b->nargs > i && parse_stale_ttl(&b->args[i], &c->stale_ttl_s, diag) != CDNS_OK)
        return CDNS_EINVAL;
    i++;
    if (b->nargs > i) {
        if (duration_arg(&b->args[i], &c->recheck_ms, diag) != CDNS_OK)
            return CDNS_EINVAL;
        if (c->recheck_ms > 5 * 60 * 1000)
            return cdns_diag_set(diag, b->file, b->line, PFX "serve_stale failure recheck can not exceed 5m");
    }
    return CDNS_OK;
}

static int parse_disable(cdns_cache_t *c, const cdns_cf_directive_t *b, cdns_diag_t *diag)
{
    if (b->nargs < 1)
        return cdns_diag_set(diag, b->file, b->line, PFX "Wrong argument count or unexpected line ending after '%s'",
                             b->name);
    int k;
    if (strcmp(b->args[0].text, "success") == 0)
        k = CDNS_CACHE_SUCCESS;
    else if (strcmp(b->args[0].text, "denial") == 0)
        k = CDNS_CACHE_DENIAL;
    else
        return cdns_diag_set(diag, b->file, b->line, PFX "cache type for disable must be \"success\" or \"denial\"");
    size_t n = b->nargs > 1 ? b->nargs - 1 : 1;
    free(c->except[k]);
    c->except[k] = calloc(n, CDNS_DNAME_MAX);
    if (c->except[k] == NULL)
        return CDNS_ENOMEM;
    c->nexcept[k] = n;
    if (b->nargs == 1)
        return zone_wire(".", c->except[k][0]);
    for (size_t i = 1; i < b->nargs; i++)
        if (zone_wire(b->args[i].text, c->except[k][i - 1]) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid disabled zone: %s", b->args[i].text);
    return CDNS_OK;
}

static int parse_block(cdns_cache_t *c, const cdns_cf_directive_t *d, cdns_diag_t *diag)
{
    bool stale = false, policy = false;
    for (size_t j = 0; j < d->nblock; j++) {
        const cdns_cf_directive_t *b = &d->block[j];
        int rc = CDNS_OK;
        if (strcmp(b->name, "success") == 0) {
            rc = parse_kind(c, CDNS_CACHE_SUCCESS, b, diag);
        } else if (strcmp(b->name, "denial") == 0) {
            rc = parse_kind(c, CDNS_CACHE_DENIAL, b, diag);
        } else if (strcmp(b->name, "prefetch") == 0) {
            rc = parse_prefetch(c, b, diag);
        } else if (strcmp(b->name, "serve_stale") == 0) {
            stale = true;
            rc = parse_stale(c, b, diag);
        } else if (strcmp(b->name, "serve_stale_policy") == 0) {
            if (policy)
                return cdns_diag_set(diag, b->file, b->line, PFX "serve_stale_policy can only be specified once");
            /* Every path below returns (prefer_positive is not supported), so a second
             * serve_stale_policy is never reached: no need to record the first. */
            if (b->nargs != 1)
                return cdns_diag_set(diag, b->file, b->line,
                                     PFX "Wrong argument count or unexpected line ending after '%s'", b->name);
            if (strcasecmp(b->args[0].text, "prefer_positive") != 0)
                return cdns_diag_set(diag, b->file, b->line, PFX "invalid serve_stale_policy: %s", b->args[0].text);
            return cdns_diag_set(diag, b->file, b->line,
                                 PFX "serve_stale_policy prefer_positive is not supported by this build");
        } else if (strcmp(b->name, "servfail") == 0) {
            uint64_t ms = 0;
            if (b->nargs != 1)
                return cdns_diag_set(diag, b->file, b->line,
                                     PFX "Wrong argument count or unexpected line ending after '%s'", b->name);
            if (b->args[0].text[0] == '-')
                return cdns_diag_set(diag, b->file, b->line, PFX "invalid negative ttl for servfail");
            if ((rc = duration_arg(&b->args[0], &ms, diag)) != CDNS_OK)
                return rc;
            if (ms > 5 * 60 * 1000)
                return cdns_diag_set(diag, b->file, b->line,
                                     PFX "caching SERVFAIL responses over 5 minutes is not permitted");
            c->fail_ttl = (uint32_t)(ms / 1000);
        } else if (strcmp(b->name, "disable") == 0) {
            rc = parse_disable(c, b, diag);
        } else if (strcmp(b->name, "keepttl") == 0) {
            if (b->nargs != 0)
                return cdns_diag_set(diag, b->file, b->line,
                                     PFX "Wrong argument count or unexpected line ending after '%s'", b->name);
            c->keepttl = true;
        } else {
            return cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", b->name);
        }
        if (rc != CDNS_OK)
            return rc;
    }
    if (policy && !stale)
        return cdns_diag_set(diag, d->file, d->line, PFX "serve_stale_policy requires serve_stale");
    return CDNS_OK;
}

int cdns_cache__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    int rc = CDNS_ENOMEM;
    cdns_cache_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CDNS_ENOMEM;
    /* CoreDNS's defaults: 3600 s for answers, 1800 s for denials, 5 s minimum and SERVFAIL. */
    c->max_ttl[CDNS_CACHE_SUCCESS] = 3600;
    c->max_ttl[CDNS_CACHE_DENIAL] = 1800;
    c->min_ttl[0] = c->min_ttl[1] = 5;
    c->fail_ttl = 5;
    c->cap[0] = c->cap[1] = CDNS_CACHE_DEFAULT_CAP;
    c->prefetch_window_ms = 60 * 1000;
    c->percentage = 10;

    size_t a = 0;
    long long v = 0;
    if (d->nargs > 0 && is_int(d->args[0].text, &v)) {
        if (v <= 0) {
            rc = cdns_diag_set(diag, d->file, d->line, PFX "cache TTL can not be zero or negative: %lld", v);
            goto fail;
        }
        c->max_ttl[0] = c->max_ttl[1] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        a = 1;
    }
    /* Zones: the arguments, else the server block's. */
    size_t nz = d->nargs > a ? d->nargs - a : ctx->nzones;
    c->zones = calloc(nz ? nz : 1, CDNS_DNAME_MAX);
    size_t lablen = 1;
    for (size_t i = 0; i < nz; i++)
        lablen += strlen(d->nargs > a ? d->args[a + i].text : ctx->zones[i]) + 2;
    c->zones_label = calloc(1, lablen);
    if (c->zones == NULL || c->zones_label == NULL)
        goto fail;
    for (size_t i = 0; i < nz; i++) {
        const char *z = d->nargs > a ? d->args[a + i].text : ctx->zones[i];
        char norm[CDNS_DNAME_MAX * 4 + 2];
        if (cdns_cf_normalize_zone(z, norm, sizeof(norm)) != CDNS_OK || zone_wire(norm, c->zones[i]) != CDNS_OK) {
            rc = cdns_diag_set(diag, d->file, d->line, PFX "invalid zone '%s'", z);
            goto fail;
        }
        if (i)
            strcat(c->zones_label, ",");
        strcat(c->zones_label, norm);
    }
    c->nzones = nz;
    if ((rc = parse_block(c, d, diag)) != CDNS_OK)
        goto fail;
    rc = CDNS_ENOMEM;
    for (int k = 0; k < 2; k++)
        if (cdns_cache__table_init(&c->table[k],
                                   c->cap[k] < 4 * CDNS_CACHE_SHARDS ? 4 * CDNS_CACHE_SHARDS : c->cap[k]) != CDNS_OK)
            goto fail;
    pthread_mutex_lock(&list_lock);
    c->next_inst = instances;
    instances = c;
    pthread_mutex_unlock(&list_lock);
    *inst = c;
    return CDNS_OK;
fail:
    cdns_cache__teardown(c);
    return rc;
}
