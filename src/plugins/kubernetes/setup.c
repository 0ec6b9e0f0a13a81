/* SPDX-License-Identifier: MIT */
/* setup.c — parses "kubernetes [ZONES...] { ... }" as CoreDNS does, plus our own options
 * (objects PATH, watch_stall_timeout, debounce, list_page_size).
 *
 * Every option CoreDNS documents is accepted with CoreDNS's argument rules. Without "objects"
 * the plugin watches the API server (endpoint/tls, kubeconfig, or in-cluster). A kubeconfig is
 * read here too (as CoreDNS does, so -check reports a bad one); TLS files and the in-cluster
 * service account only when the server starts. Main thread; the instance is owned by the
 * pipeline and freed with cdns_kube__teardown().
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kubernetes.h"

#define PFX "kubernetes: "

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void cdns_kube__teardown(void *inst)
{
    cdns_kube_t *k = inst;
    if (!k)
        return;
    /* The pipeline retires an instance only after every worker has left it. */
    cdns_snapshot_free(k->snap);
    cdns_k8s_index_free(k->idx);
    cdns_k8s_state_free(k->state);
    free_strv(k->zones, k->nzones);
    free(k->zone_wire);
    free(k->fall_wire);
    free_strv(k->namespaces, k->nnamespaces);
    cdns_k8s_selector_deinit(&k->labels);
    cdns_k8s_selector_deinit(&k->namespace_labels);
    free(k->objects);
    free(k->endpoint);
    free(k->tls_cert);
    free(k->tls_key);
    free(k->tls_ca);
    free(k->kubeconfig);
    free(k->kube_context);
    free_strv(k->local_ips, k->nlocal_ips);
    free(k);
}

static bool zone_is_reverse(const char *z)
{
    size_t n = strlen(z);
    return (n >= 13 && strcmp(z + n - 13, "in-addr.arpa.") == 0) || (n >= 9 && strcmp(z + n - 9, "ip6.arpa.") == 0);
}

static int set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = strdup(src);
    return *dst ? CDNS_OK : CDNS_ENOMEM;
}

/* Joins the arguments with spaces, as CoreDNS does for selectors. */
static char *join_args(const cdns_cf_directive_t *b)
{
    size_t n = 1;
    for (size_t i = 0; i < b->nargs; i++)
        n += strlen(b->args[i].text) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < b->nargs; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, b->args[i].text);
    }
    return s;
}

static int parse_selector(const cdns_cf_directive_t *b, cdns_k8s_selector_t *sel, bool *has, cdns_diag_t *diag)
{
    if (b->nargs == 0)
        return cdns_diag_set(diag, b->file, b->line, PFX "%s needs a label selector", b->name);
    char *text = join_args(b);
    if (!text)
        return CDNS_ENOMEM;
    cdns_k8s_selector_deinit(sel);
    char err[160];
    int rc = cdns_k8s_selector_parse(text, sel, err, sizeof(err));
    if (rc == CDNS_EINVAL)
        cdns_diag_set(diag, b->file, b->line, PFX "unable to parse %s value: '%s': %s", b->name, text, err);
    free(text);
    *has = rc == CDNS_OK;
    return rc;
}

static int normalize(const char *text, char *out, size_t outlen, uint8_t wire[CDNS_DNAME_MAX])
{
    size_t len;
    if (cdns_cf_normalize_zone(text, out, outlen) != CDNS_OK || cdns_dname_from_str(out, NULL, wire, &len) != CDNS_OK)
        return CDNS_EINVAL;
    cdns_dname_lower(wire);
    return CDNS_OK;
}

static int parse_zones(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, cdns_kube_t *k, cdns_diag_t *diag)
{
    size_t n = d->nargs ? d->nargs : ctx->nzones;
    if (n == 0)
        return cdns_diag_set(diag, d->file, d->line, PFX "no zones: give ZONES or a server block key");
    k->zones = calloc(n, sizeof(char *));
    k->zone_wire = calloc(n, sizeof(*k->zone_wire));
    if (!k->zones || !k->zone_wire)
        return CDNS_ENOMEM;
    bool forward = false;
    for (size_t i = 0; i < n; i++) {
        const char *text = d->nargs ? d->args[i].text : ctx->zones[i];
        int line = d->nargs ? d->args[i].line : d->line;
        char norm[CDNS_DNAME_MAX * 4 + 2];
        if (normalize(text, norm, sizeof(norm), k->zone_wire[i]) != CDNS_OK)
            return cdns_diag_set(diag, d->file, line, PFX "invalid zone '%s'", text);
        if (!(k->zones[k->nzones] = strdup(norm)))
            return CDNS_ENOMEM;
        k->nzones++;
        forward = forward || !zone_is_reverse(norm);
    }
    if (!forward)
        return cdns_diag_set(diag, d->file, d->line, PFX "non-reverse zone name must be used");
    return CDNS_OK;
}

static int parse_fallthrough(const cdns_cf_directive_t *b, cdns_kube_t *k, cdns_diag_t *diag)
{
    free(k->fall_wire);
    k->fall_wire = NULL;
    k->nfall = 0;
    k->fall = true;
    if (b->nargs == 0)
        return CDNS_OK;
    k->fall_wire = calloc(b->nargs, sizeof(*k->fall_wire));
    if (!k->fall_wire)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < b->nargs; i++) {
        char norm[CDNS_DNAME_MAX * 4 + 2];
        if (normalize(b->args[i].text, norm, sizeof(norm), k->fall_wire[i]) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid fallthrough zone '%s'", b->args[i].text);
        k->nfall++;
    }
    return CDNS_OK;
}

static int parse_int(const cdns_cf_directive_t *b, uint64_t max, uint64_t *out, cdns_diag_t *diag)
{
    if (b->nargs != 1)
        return cdns_diag_set(diag, b->file, b->line, PFX "%s takes exactly one argument", b->name);
    if (cdns_cf_parse_uint(b->args[0].text, 0, max, out) != CDNS_OK)
        return cdns_diag_set(diag, b->file, b->line, PFX "invalid %s '%s'", b->name, b->args[0].text);
    return CDNS_OK;
}

static int parse_option(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *b, cdns_kube_t *k, cdns_diag_t *diag)
{
    const char *name = b->name;
    const cdns_cf_token_t *args = b->args;
    size_t nargs = b->nargs;
    uint64_t v;

    if (strcmp(name, "endpoint_pod_names") == 0 || strcmp(name, "noendpoints") == 0) {
        if (nargs)
            return cdns_diag_set(diag, b->file, b->line, PFX "%s takes no arguments", name);
        if (name[0] == 'e')
            k->opts.endpoint_pod_names = true;
        else
            k->opts.noendpoints = true;
        return CDNS_OK;
    }
    if (strcmp(name, "pods") == 0) {
        if (nargs != 1)
            return cdns_diag_set(diag, b->file, b->line, PFX "pods takes exactly one argument");
        if (strcmp(args[0].text, "disabled") == 0)
            k->opts.pods = CDNS_K8S_PODS_DISABLED;
        else if (strcmp(args[0].text, "insecure") == 0)
            k->opts.pods = CDNS_K8S_PODS_INSECURE;
        else if (strcmp(args[0].text, "verified") == 0)
            k->opts.pods = CDNS_K8S_PODS_VERIFIED;
        else
            return cdns_diag_set(diag, b->file, b->line,
                                 PFX "wrong value for pods: %s, must be one of: disabled, verified, insecure",
                                 args[0].text);
        return CDNS_OK;
    }
    if (strcmp(name, "namespaces") == 0) {
        if (nargs == 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "namespaces needs at least one namespace");
        char **nv = realloc(k->namespaces, (k->nnamespaces + nargs) * sizeof(char *));
        if (!nv)
            return CDNS_ENOMEM;
        k->namespaces = nv;
        for (size_t i = 0; i < nargs; i++) {
            if (!(k->namespaces[k->nnamespaces] = strdup(args[i].text)))
                return CDNS_ENOMEM;
            k->nnamespaces++;
        }
        return CDNS_OK;
    }
    if (strcmp(name, "endpoint") == 0) {
        if (nargs == 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "endpoint needs a URL");
        if (strncmp(args[0].text, "http://", 7) != 0 && strncmp(args[0].text, "https://", 8) != 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "endpoint '%s' is not an http(s) URL", args[0].text);
        if (nargs > 1)
            cdns_warn("plugin/kubernetes: multiple endpoints have been deprecated, only the first specified endpoint "
                      "'%s' is used",
                      args[0].text);
        return set_str(&k->endpoint, args[0].text);
    }
    if (strcmp(name, "tls") == 0) {
        if (nargs != 3)
            return cdns_diag_set(diag, b->file, b->line, PFX "tls takes exactly three arguments: CERT KEY CACERT");
        int rc = set_str(&k->tls_cert, args[0].text);
        if (rc == CDNS_OK)
            rc = set_str(&k->tls_key, args[1].text);
        if (rc == CDNS_OK)
            rc = set_str(&k->tls_ca, args[2].text);
        return rc;
    }
    if (strcmp(name, "kubeconfig") == 0) {
        if (nargs != 1 && nargs != 2)
            return cdns_diag_set(diag, b->file, b->line, PFX "kubeconfig takes KUBECONFIG [CONTEXT]");
        int rc = set_str(&k->kubeconfig, args[0].text);
        if (rc == CDNS_OK && nargs == 2)
            rc = set_str(&k->kube_context, args[1].text);
        return rc;
    }
    if (strcmp(name, "labels") == 0)
        return parse_selector(b, &k->labels, &k->has_labels, diag);
    if (strcmp(name, "namespace_labels") == 0)
        return parse_selector(b, &k->namespace_labels, &k->has_namespace_labels, diag);
    if (strcmp(name, "fallthrough") == 0)
        return parse_fallthrough(b, k, diag);
    if (strcmp(name, "ttl") == 0) {
        if (nargs == 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "ttl needs a value");
        if (cdns_cf_parse_uint(args[0].text, 0, UINT32_MAX, &v) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid ttl '%s'", args[0].text);
        if (v > 3600)
            return cdns_diag_set(diag, b->file, b->line, PFX "ttl must be in range [0, 3600]: %s", args[0].text);
        k->opts.ttl_s = (uint32_t)v;
        return CDNS_OK;
    }
    if (strcmp(name, "ignore") == 0) {
        /* CoreDNS accepts a bare "ignore" and does nothing with it. */
        if (nargs > 0 && strcmp(args[0].text, "empty_service") != 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "unable to parse ignore value: '%s'", args[0].text);
        if (nargs > 0)
            k->opts.ignore_empty_service = true;
        return CDNS_OK;
    }
    if (strcmp(name, "startup_timeout") == 0) {
        if (nargs == 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "startup_timeout needs a duration");
        if (cdns_cf_parse_duration_ms(args[0].text, &k->startup_timeout_ms) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "failed to parse startup_timeout: %s", args[0].text);
        return CDNS_OK;
    }
    if (strcmp(name, "apiserver_qps") == 0) {
        if (nargs != 1)
            return cdns_diag_set(diag, b->file, b->line, PFX "apiserver_qps takes exactly one argument");
        char *end;
        double q = strtod(args[0].text, &end);
        if (end == args[0].text || *end || q != q)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid apiserver_qps \"%s\"", args[0].text);
        if (q < 0)
            return cdns_diag_set(diag, b->file, b->line, PFX "apiserver_qps must be >= 0");
        return CDNS_OK;
    }
    if (strcmp(name, "apiserver_burst") == 0 || strcmp(name, "apiserver_max_inflight") == 0)
        return parse_int(b, INT32_MAX, &v, diag);
    if (strcmp(name, "watch_stall_timeout") == 0 || strcmp(name, "debounce") == 0) {
        uint64_t ms;
        if (nargs != 1)
            return cdns_diag_set(diag, b->file, b->line, PFX "%s takes exactly one duration", name);
        if (cdns_cf_parse_duration_ms(args[0].text, &ms) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "invalid %s '%s'", name, args[0].text);
        if (name[0] == 'w') {
            if (ms < 100)
                return cdns_diag_set(diag, b->file, b->line, PFX "watch_stall_timeout must be at least 100ms");
            k->stall_ms = ms;
        } else {
            if (ms > 60000)
                return cdns_diag_set(diag, b->file, b->line, PFX "debounce must be at most 1m");
            k->debounce_ms = ms;
        }
        return CDNS_OK;
    }
    if (strcmp(name, "list_page_size") == 0) {
        if (nargs != 1 || cdns_cf_parse_uint(args[0].text, 1, 100000, &v) != CDNS_OK)
            return cdns_diag_set(diag, b->file, b->line, PFX "list_page_size takes one integer in [1, 100000]");
        k->page_size = (unsigned)v;
        return CDNS_OK;
    }
    if (strcmp(name, "objects") == 0) {
        if (nargs != 1)
            return cdns_diag_set(diag, b->file, b->line, PFX "objects takes exactly one path");
        const char *p = args[0].text;
        if (p[0] == '/' || !ctx->corefile_dir || !ctx->corefile_dir[0]) {
            int rc = set_str(&k->objects, p);
            if (rc != CDNS_OK)
                return rc;
        } else {
            size_t n = strlen(ctx->corefile_dir) + strlen(p) + 2;
            free(k->objects);
            if (!(k->objects = malloc(n)))
                return CDNS_ENOMEM;
            snprintf(k->objects, n, "%s/%s", ctx->corefile_dir, p);
        }
        /* What -check accepts must start: a file that cannot be read is a set-up error. Its
         * content is checked when it is loaded (and on every change, keeping the last good). */
        if (access(k->objects, R_OK) != 0)
            return cdns_diag_set(diag, args[0].file, args[0].line, PFX "objects %s: %s", p, strerror(errno));
        return CDNS_OK;
    }
    if (strcmp(name, "multicluster") == 0 || strcmp(name, "zonal") == 0)
        return cdns_diag_set(diag, b->file, b->line, PFX "%s is not supported by this build", name);
    return cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", name);
}

/* Addresses from a bind directive set up before us (non-loopback, as CoreDNS keeps them). */
static int copy_bind(const cdns_setup_ctx_t *ctx, cdns_kube_t *k)
{
    if (ctx->nbind == 0)
        return CDNS_OK;
    k->bound = true;
    k->local_ips = calloc(ctx->nbind, sizeof(char *));
    if (!k->local_ips)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < ctx->nbind && i < CDNS_ARRAY_LEN(ctx->bind); i++) {
        uint8_t a[16];
        const char *s = ctx->bind[i];
        bool v4 = inet_pton(AF_INET, s, a) == 1;
        if (!v4 && inet_pton(AF_INET6, s, a) != 1)
            continue;
        if ((v4 && a[0] == 127) || (!v4 && strcmp(s, "::1") == 0))
            continue;
        if (!(k->local_ips[k->nlocal_ips] = strdup(s)))
            return CDNS_ENOMEM;
        k->nlocal_ips++;
    }
    return CDNS_OK;
}

int cdns_kube__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    cdns_kube_t *k = calloc(1, sizeof(*k));
    if (!k)
        return CDNS_ENOMEM;
    k->opts.ttl_s = CDNS_K8S_DEFAULT_TTL;
    k->startup_timeout_ms = 5000;
    k->stall_ms = 90000;
    k->debounce_ms = 100;
    k->page_size = 500;
    int rc = parse_zones(ctx, d, k, diag);
    for (size_t i = 0; rc == CDNS_OK && i < d->nblock; i++)
        rc = parse_option(ctx, &d->block[i], k, diag);
    if (rc != CDNS_OK)
        goto fail;
    if (k->nnamespaces && k->has_namespace_labels) {
        rc = cdns_diag_set(diag, d->file, d->line, PFX "namespaces and namespace_labels cannot both be set");
        goto fail;
    }
    if (k->kubeconfig && !k->objects) {
        /* As CoreDNS, which builds its client at set-up: -check catches a kubeconfig that is
         * missing or lacks the context. It is read again at start (it may have changed). */
        cdns_k8s_conn_t conn;
        char err[512];
        rc = cdns_k8s_kubeconfig_load(k->kubeconfig, k->kube_context, &conn, err, sizeof(err));
        if (rc == CDNS_EINVAL)
            rc = cdns_diag_set(diag, d->file, d->line, PFX "%s", err);
        if (rc != CDNS_OK)
            goto fail;
        cdns_k8s_conn_deinit(&conn);
    }
    if ((rc = copy_bind(ctx, k)) != CDNS_OK)
        goto fail;
    k->opts.zones = (const char *const *)k->zones;
    k->opts.nzones = k->nzones;
    k->opts.namespaces = (const char *const *)k->namespaces;
    k->opts.nnamespaces = k->nnamespaces;
    k->opts.labels = k->has_labels ? &k->labels : NULL;
    k->opts.namespace_labels = k->has_namespace_labels ? &k->namespace_labels : NULL;
    k->opts.local_ips = (const char *const *)k->local_ips;
    k->opts.nlocal_ips = k->nlocal_ips;
    *inst = k;
    return CDNS_OK;
fail:
    cdns_kube__teardown(k);
    return rc;
}
