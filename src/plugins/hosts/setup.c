/* SPDX-License-Identifier: MIT */
/* setup.c — parses "hosts [FILE [ZONES...]] { INLINE; ttl; reload; no_reverse; fallthrough
 * [ZONES...]; fallthrough_unsupported }" as CoreDNS does, and loads the entries. Main thread;
 * the instance belongs to the pipeline and is freed by cdns_hosts__teardown().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hosts.h"

#define PFX "plugin/hosts: "
#define DEFAULT_TTL_S 3600u
#define DEFAULT_RELOAD_MS 5000u

void cdns_hosts__teardown(void *inst)
{
    cdns_hosts_t *h = inst;
    if (!h)
        return;
    free(h->path);
    free(h->inline_text);
    free(h->zone_wire);
    free(h->fall_wire);
    cdns_snapshot_free(h->snap);
    free(h);
}

static int zone_wire(const char *text, uint8_t *wire)
{
    char norm[CDNS_DNAME_MAX * 4 + 2];
    size_t len;
    if (cdns_cf_normalize_zone(text, norm, sizeof(norm)) != CDNS_OK ||
        cdns_dname_from_str(norm, NULL, wire, &len) != CDNS_OK)
        return CDNS_EINVAL;
    cdns_dname_lower(wire);
    return CDNS_OK;
}

/* Appends one inline entry (the block line's words joined by spaces) to h->inline_text. */
static int add_inline(cdns_hosts_t *h, const cdns_cf_directive_t *b)
{
    size_t old = h->inline_text ? strlen(h->inline_text) : 0, n = old + strlen(b->name) + 2;
    for (size_t i = 0; i < b->nargs; i++)
        n += strlen(b->args[i].text) + 1;
    char *t = realloc(h->inline_text, n);
    if (!t)
        return CDNS_ENOMEM;
    h->inline_text = t;
    size_t off = old;
    off += (size_t)snprintf(t + off, n - off, "%s", b->name);
    for (size_t i = 0; i < b->nargs; i++)
        off += (size_t)snprintf(t + off, n - off, " %s", b->args[i].text);
    snprintf(t + off, n - off, "\n");
    return CDNS_OK;
}

static int parse_block(const cdns_cf_directive_t *d, cdns_hosts_t *h, cdns_diag_t *diag)
{
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        int rc;
        if (strcmp(b->name, "fallthrough") == 0) {
            h->fall = true;
            free(h->fall_wire);
            h->nfall = 0;
            if (!(h->fall_wire = calloc(b->nargs ? b->nargs : 1, sizeof(*h->fall_wire))))
                return CDNS_ENOMEM;
            for (size_t j = 0; j < b->nargs; j++, h->nfall++)
                if (zone_wire(b->args[j].text, h->fall_wire[j]) != CDNS_OK)
                    return cdns_diag_set(diag, b->file, b->line, PFX "invalid fallthrough zone '%s'", b->args[j].text);
        } else if (strcmp(b->name, "fallthrough_unsupported") == 0) {
            if (b->nargs != 0)
                return cdns_diag_set(diag, b->file, b->line, PFX "Wrong argument count or unexpected line ending");
            h->fall_unsupported = true;
        } else if (strcmp(b->name, "no_reverse") == 0) {
            h->no_reverse = true;
        } else if (strcmp(b->name, "ttl") == 0) {
            uint64_t ttl;
            if (b->nargs < 1)
                return cdns_diag_set(diag, b->file, b->line, PFX "ttl needs a time in second");
            rc = cdns_cf_parse_uint(b->args[0].text, 0, UINT32_MAX, &ttl);
            if (rc == CDNS_EINVAL)
                return cdns_diag_set(diag, b->file, b->line, PFX "ttl needs a number of second");
            if (rc != CDNS_OK || ttl == 0 || ttl > 65535)
                return cdns_diag_set(diag, b->file, b->line, PFX "ttl provided is invalid");
            h->ttl_s = (uint32_t)ttl;
        } else if (strcmp(b->name, "reload") == 0) {
            if (b->nargs != 1)
                return cdns_diag_set(diag, b->file, b->line, PFX "reload needs a duration (zero seconds to disable)");
            if (cdns_cf_parse_duration_ms(b->args[0].text, &h->reload_ms) != CDNS_OK)
                return cdns_diag_set(diag, b->file, b->line, PFX "invalid duration for reload '%s'", b->args[0].text);
        } else if (!h->fall) {
            /* Anything else before fallthrough is a hosts line written in the Corefile. */
            if ((rc = add_inline(h, b)) != CDNS_OK)
                return rc;
        } else {
            return cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", b->name);
        }
    }
    if (h->fall_unsupported && !h->fall)
        return cdns_diag_set(diag, d->file, d->line, PFX "fallthrough_unsupported requires fallthrough");
    return CDNS_OK;
}

int cdns_hosts__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    int rc = CDNS_ENOMEM;
    cdns_hosts_t *h = calloc(1, sizeof(*h));
    if (!h)
        return CDNS_ENOMEM;
    h->ttl_s = DEFAULT_TTL_S;
    h->reload_ms = DEFAULT_RELOAD_MS;
    const char *p = d->nargs ? d->args[0].text : "/etc/hosts";
    size_t n = strlen(p) + (ctx->corefile_dir ? strlen(ctx->corefile_dir) : 0) + 2;
    if (!(h->path = malloc(n)))
        goto fail;
    if (p[0] == '/' || !ctx->corefile_dir || !ctx->corefile_dir[0])
        snprintf(h->path, n, "%s", p);
    else
        snprintf(h->path, n, "%s/%s", ctx->corefile_dir, p);
    struct stat st;
    if (stat(h->path, &st) != 0) {
        if (errno != ENOENT) {
            rc = cdns_diag_set(diag, d->file, d->line, PFX "unable to access hosts file '%s': %s", h->path,
                               strerror(errno));
            goto fail;
        }
        cdns_warn(PFX "File does not exist: %s", h->path);
    } else if (S_ISDIR(st.st_mode)) {
        cdns_warn(PFX "Hosts file \"%s\" is a directory", h->path);
    }

    size_t nz = d->nargs > 1 ? d->nargs - 1 : (ctx->nzones ? ctx->nzones : 1);
    if (!(h->zone_wire = calloc(nz, sizeof(*h->zone_wire))))
        goto fail;
    for (size_t i = 0; i < nz; i++, h->nzones++) {
        const char *z = d->nargs > 1 ? d->args[i + 1].text : (ctx->nzones ? ctx->zones[i] : ".");
        if (zone_wire(z, h->zone_wire[i]) != CDNS_OK) {
            rc = cdns_diag_set(diag, d->file, d->line, PFX "invalid zone '%s'", z);
            goto fail;
        }
    }
    if ((rc = parse_block(d, h, diag)) != CDNS_OK)
        goto fail;
    if ((rc = cdns_hosts__load(h, &h->snap)) != CDNS_OK) {
        rc = cdns_diag_set(diag, d->file, d->line, PFX "%s: %s", h->path, cdns_strerror(rc));
        goto fail;
    }
    *inst = h;
    return CDNS_OK;
fail:
    cdns_hosts__teardown(h);
    return rc;
}
