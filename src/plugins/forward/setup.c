/* SPDX-License-Identifier: MIT */
/* setup.c — parses "forward FROM TO... { options }" as CoreDNS's plugin/forward does. Main thread.
 *
 * TO is IP[:port], dns://IP[:port] or a resolv.conf-style file (its nameserver lines). tls://,
 * https://, the tls options and hostnames are refused by name: this build has no DoT/DoH and
 * resolves nothing at start-up. The instance owns everything allocated here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forward.h"

#define ERR(line, ...) cdns_diag_set(diag, d->file, (line), "plugin/forward: " __VA_ARGS__)

int cdns_fwd__parse_addr(const char *text, cdns_fwd_up_t *up)
{
    char host[128];
    const char *t = text;
    if (strncmp(t, "dns://", 6) == 0)
        t += 6;
    unsigned long port = 53;
    const char *colon = NULL;
    if (t[0] == '[') {
        const char *end = strchr(t, ']');
        if (end == NULL || (size_t)(end - t - 1) >= sizeof(host))
            return CDNS_EINVAL;
        memcpy(host, t + 1, (size_t)(end - t - 1));
        host[end - t - 1] = '\0';
        if (end[1] == ':')
            colon = end + 1;
        else if (end[1] != '\0')
            return CDNS_EINVAL;
    } else {
        colon = strchr(t, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL; /* a bare IPv6 address */
        size_t hl = colon ? (size_t)(colon - t) : strlen(t);
        if (hl >= sizeof(host))
            return CDNS_EINVAL;
        memcpy(host, t, hl);
        host[hl] = '\0';
    }
    if (colon != NULL) {
        char *end = NULL;
        port = strtoul(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
            return CDNS_EINVAL;
    }
    memset(&up->sa, 0, sizeof(up->sa));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&up->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&up->sa;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        up->salen = sizeof(*s4);
        snprintf(up->name, sizeof(up->name), "%s:%lu", host, port);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        up->salen = sizeof(*s6);
        snprintf(up->name, sizeof(up->name), "[%s]:%lu", host, port);
    } else {
        return CDNS_EINVAL;
    }
    return CDNS_OK;
}

/* Adds the nameserver lines of a resolv.conf-style file. */
static int add_resolv(cdns_fwd_t *f, const char *path, const cdns_cf_directive_t *d, cdns_diag_t *diag)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return ERR(d->line, "cannot read %s: %s", path, strerror(errno));
    char line[512];
    int rc = CDNS_OK;
    while (fgets(line, sizeof(line), fp) != NULL) {
        char kw[32], addr[128];
        if (sscanf(line, "%31s %127s", kw, addr) != 2 || strcmp(kw, "nameserver") != 0)
            continue;
        if (f->to.nup >= CDNS_FWD_MAX_UPSTREAMS) {
            rc = ERR(d->line, "more than %d TOs configured: %zu", CDNS_FWD_MAX_UPSTREAMS, f->to.nup + 1);
            break;
        }
        cdns_fwd_up_t *up = &f->to.up[f->to.nup];
        /* A scoped address (fe80::1%eth0) keeps no zone here: loopback and global ones work. */
        char *pct = strchr(addr, '%');
        if (pct != NULL)
            *pct = '\0';
        if (cdns_fwd__parse_addr(addr, up) != CDNS_OK) {
            rc = ERR(d->line, "%s: not an IP address: %s", path, addr);
            break;
        }
        f->to.nup++;
    }
    fclose(fp);
    return rc;
}

static int parse_rcodes(const cdns_cf_directive_t *b, uint32_t *mask, bool allow_noerror, cdns_diag_t *diag)
{
    if (b->nargs == 0)
        return cdns_diag_set(diag, b->file, b->line, "plugin/forward: %s needs at least one RCODE", b->name);
    for (size_t i = 0; i < b->nargs; i++) {
        int code = -1;
        for (int c = 0; c < 24; c++) {
            const char *n = cdns_rcode_name((uint16_t)c);
            if (n != NULL && strcasecmp(n, b->args[i].text) == 0)
                code = c;
        }
        if (code < 0)
            return cdns_diag_set(diag, b->file, b->line, "plugin/forward: %s is not a valid rcode", b->args[i].text);
        if (code == CDNS_RCODE_NOERROR && !allow_noerror)
            return cdns_diag_set(diag, b->file, b->line, "plugin/forward: NOERROR cannot be a failover rcode");
        *mask |= 1u << code;
    }
    return CDNS_OK;
}

static int name_arg(const char *text, uint8_t out[CDNS_DNAME_MAX])
{
    char norm[CDNS_DNAME_MAX * 4 + 2];
    size_t len = 0;
    if (cdns_cf_normalize_zone(text, norm, sizeof(norm)) != CDNS_OK ||
        cdns_dname_from_str(norm, NULL, out, &len) != CDNS_OK)
        return CDNS_EINVAL;
    cdns_dname_lower(out);
    return CDNS_OK;
}

static int parse_block(cdns_fwd_t *f, const cdns_cf_directive_t *d, const char *dir, cdns_diag_t *diag)
{
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        const char *o = b->name;
        uint64_t v = 0;
        if (strcmp(o, "except") == 0) {
            if (b->nargs == 0)
                return ERR(b->line, "except needs at least one name");
            uint8_t(*ne)[CDNS_DNAME_MAX] = realloc(f->except, (f->nexcept + b->nargs) * sizeof(*ne));
            if (ne == NULL)
                return CDNS_ENOMEM;
            f->except = ne;
            for (size_t j = 0; j < b->nargs; j++)
                if (name_arg(b->args[j].text, f->except[f->nexcept++]) != CDNS_OK)
                    return ERR(b->line, "invalid name '%s'", b->args[j].text);
        } else if (strcmp(o, "force_tcp") == 0 || strcmp(o, "prefer_udp") == 0 ||
                   strcmp(o, "failfast_all_unhealthy_upstreams") == 0 || strcmp(o, "next_on_nodata") == 0) {
            if (b->nargs != 0)
                return ERR(b->line, "%s takes no arguments", o);
            if (o[0] == 'f' && o[1] == 'o')
                f->force_tcp = true;
            else if (o[0] == 'p')
                f->prefer_udp = true;
            else if (o[0] == 'f')
                f->failfast = true;
            else
                f->next_on_nodata = true;
        } else if (strcmp(o, "max_fails") == 0 || strcmp(o, "max_connect_attempts") == 0 ||
                   strcmp(o, "max_idle_conns") == 0) {
            if (b->nargs != 1 || cdns_cf_parse_uint(b->args[0].text, 0, UINT32_MAX, &v) != CDNS_OK)
                return ERR(b->line, "%s needs one non-negative integer", o);
            if (strcmp(o, "max_fails") == 0)
                f->max_fails = (uint32_t)v;
            else if (strcmp(o, "max_connect_attempts") == 0)
                f->max_connect_attempts = (uint32_t)v;
            /* max_idle_conns: one pipelined connection per upstream and worker is all we keep. */
        } else if (strcmp(o, "expire") == 0 || strcmp(o, "read_timeout") == 0 || strcmp(o, "max_age") == 0) {
            if (b->nargs != 1 || cdns_cf_parse_duration_ms(b->args[0].text, &v) != CDNS_OK)
                return ERR(b->line, "%s needs one duration, e.g. 10s", o);
            if (o[0] == 'e')
                f->expire_ms = v;
            else if (o[0] == 'r')
                f->read_timeout_ms = v ? v : 1;
        } else if (strcmp(o, "health_check") == 0) {
            if (b->nargs < 1 || cdns_cf_parse_duration_ms(b->args[0].text, &v) != CDNS_OK)
                return ERR(b->line, "health_check needs a duration, e.g. 0.5s");
            f->hc_ms = v;
            for (size_t j = 1; j < b->nargs; j++) {
                const char *a = b->args[j].text;
                if (strcmp(a, "no_rec") == 0) {
                    f->hc_rd = false;
                } else if (strcmp(a, "domain") == 0) {
                    if (j + 1 >= b->nargs)
                        return ERR(b->line, "health_check: domain needs a name");
                    if (name_arg(b->args[++j].text, f->hc_domain) != CDNS_OK)
                        return ERR(b->line, "health_check: invalid domain name %s", b->args[j].text);
                } else {
                    return ERR(b->line, "health_check: unknown option %s", a);
                }
            }
        } else if (strcmp(o, "policy") == 0) {
            if (b->nargs != 1)
                return ERR(b->line, "policy needs one of random, round_robin, sequential");
            const char *p = b->args[0].text;
            if (strcmp(p, "random") == 0)
                f->policy = CDNS_FWD_RANDOM;
            else if (strcmp(p, "round_robin") == 0)
                f->policy = CDNS_FWD_ROUND_ROBIN;
            else if (strcmp(p, "sequential") == 0)
                f->policy = CDNS_FWD_SEQUENTIAL;
            else
                return ERR(b->line, "unknown policy '%s'", p);
        } else if (strcmp(o, "max_concurrent") == 0) {
            if (b->nargs != 1 || cdns_cf_parse_uint(b->args[0].text, 0, INT32_MAX, &v) != CDNS_OK)
                return ERR(b->line, "max_concurrent needs one non-negative integer");
            f->max_concurrent = (long)v;
        } else if (strcmp(o, "next") == 0) {
            int rc = parse_rcodes(b, &f->next_rcodes, true, diag);
            if (rc != CDNS_OK)
                return rc;
        } else if (strcmp(o, "failover") == 0) {
            int rc = parse_rcodes(b, &f->failover_rcodes, false, diag);
            if (rc != CDNS_OK)
                return rc;
        } else if (strcmp(o, "source_address") == 0) {
            cdns_fwd_up_t tmp;
            if (b->nargs != 1 || cdns_fwd__parse_addr(b->args[0].text, &tmp) != CDNS_OK)
                return ERR(b->line, "source_address needs one IP address");
            f->source = tmp.sa;
            ((struct sockaddr_in *)&f->source)->sin_port = 0; /* same offset in sockaddr_in6 */
            f->has_source = true;
        } else if (strcmp(o, "stubdomains") == 0) {
            if (b->nargs != 1)
                return ERR(b->line, "stubdomains needs one directory");
            const char *p = b->args[0].text;
            size_t need = strlen(dir) + strlen(p) + 2;
            free(f->stub_dir);
            if ((f->stub_dir = malloc(need)) == NULL)
                return CDNS_ENOMEM;
            if (p[0] == '/')
                snprintf(f->stub_dir, need, "%s", p);
            else
                snprintf(f->stub_dir, need, "%s/%s", dir, p);
            struct stat st;
            if (stat(f->stub_dir, &st) != 0 || !S_ISDIR(st.st_mode))
                return ERR(b->line, "stubdomains: %s is not a directory", f->stub_dir);
        } else if (strcmp(o, "tls") == 0 || strcmp(o, "tls_servername") == 0 || strcmp(o, "doh_method") == 0) {
            return ERR(b->line, "%s is not supported by this build (no DNS-over-TLS/HTTPS)", o);
        } else if (strcmp(o, "resolver") == 0) {
            return ERR(b->line, "resolver is not supported by this build (TO must be addresses or files)");
        } else {
            return ERR(b->line, "unknown property '%s'", o);
        }
    }
    return CDNS_OK;
}

int cdns_fwd__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    int rc = CDNS_OK;
    cdns_fwd_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return CDNS_ENOMEM;
    f->expire_ms = 10000;
    f->read_timeout_ms = 2000;
    f->max_fails = 2;
    f->hc_ms = 500;
    f->hc_rd = true;
    f->hc_domain[0] = 0;
    f->to.up = calloc(CDNS_FWD_MAX_UPSTREAMS, sizeof(cdns_fwd_up_t));
    if (f->to.up == NULL) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    if (d->nargs < 2) {
        rc = ERR(d->line, "Wrong argument count or unexpected line ending after '%s'",
                 d->nargs ? d->args[d->nargs - 1].text : "forward");
        goto fail;
    }
    if (name_arg(d->args[0].text, f->from) != CDNS_OK) {
        rc = ERR(d->line, "unable to normalize '%s'", d->args[0].text);
        goto fail;
    }
    if ((rc = parse_block(f, d, ctx->corefile_dir, diag)) != CDNS_OK)
        goto fail;
    for (size_t i = 1; i < d->nargs; i++) {
        const char *t = d->args[i].text;
        if (strncmp(t, "tls://", 6) == 0 || strncmp(t, "https://", 8) == 0) {
            rc = ERR(d->line, "'%.*s' is not supported by this build as a destination protocol in forward: %s",
                     (int)(strchr(t, ':') - t), t, t);
            goto fail;
        }
        if (strstr(t, "://") != NULL && strncmp(t, "dns://", 6) != 0) {
            rc = ERR(d->line, "'%.*s' is not supported as a destination protocol in forward: %s",
                     (int)(strstr(t, "://") - t), t, t);
            goto fail;
        }
        /* A path that names a file is a resolv.conf (CoreDNS tries the file first). */
        char path[4096];
        if (t[0] == '/' || t[0] == '.')
            snprintf(path, sizeof(path), "%s", t);
        else
            snprintf(path, sizeof(path), "%s/%s", ctx->corefile_dir, t);
        struct stat st;
        if (strncmp(t, "dns://", 6) != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if ((rc = add_resolv(f, path, d, diag)) != CDNS_OK)
                goto fail;
            continue;
        }
        if (f->to.nup >= CDNS_FWD_MAX_UPSTREAMS) {
            rc = ERR(d->line, "more than %d TOs configured: %zu", CDNS_FWD_MAX_UPSTREAMS, d->nargs - 1);
            goto fail;
        }
        if (cdns_fwd__parse_addr(t, &f->to.up[f->to.nup]) != CDNS_OK) {
            rc = ERR(d->line, "not an IP address or file: '%s' (hostnames are not supported by this build)", t);
            goto fail;
        }
        f->to.nup++;
    }
    if (f->to.nup == 0) {
        rc = ERR(d->line, "no nameservers found");
        goto fail;
    }
    cdns_fwd__metrics_init();
    for (size_t i = 0; i < f->to.nup; i++) {
        f->to.up[i].f = f;
        cdns_fwd__up_metrics(&f->to.up[i]);
    }
    if (f->stub_dir != NULL) {
        char why[512];
        if (cdns_fwd__stubs_load(f, true, why, sizeof(why)) != CDNS_OK) {
            rc = ERR(d->line, "stubdomains: %s", why);
            goto fail;
        }
    }
    *inst = f;
    return CDNS_OK;
fail:
    cdns_fwd__teardown(f);
    return rc;
}

void cdns_fwd__teardown(void *inst)
{
    cdns_fwd_t *f = inst;
    if (f == NULL)
        return;
    if (f->stubs != NULL)
        cdns_fwd__stubs_release(f->stubs);
    free(f->stub_dir);
    free(f->except);
    free(f->to.up);
    free(f);
}

const cdns_plugin_api_t cdns_plugin_forward = {
    .name = "forward",
    .setup = cdns_fwd__setup,
    .teardown = cdns_fwd__teardown,
    .start = cdns_fwd__start,
    .stop = cdns_fwd__stop,
    .serve = cdns_fwd__serve,
};
