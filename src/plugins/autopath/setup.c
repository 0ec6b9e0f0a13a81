/* SPDX-License-Identifier: MIT */
/* setup.c — parses "autopath [ZONE...] RESOLV-CONF" as CoreDNS does (RESOLV-CONF is a file whose
 * "search" line gives the path, or @plugin: here only @kubernetes answers), and links the
 * instance to the block's kubernetes plugin once the whole block is set up. Main thread; the
 * instance belongs to the pipeline and is freed with cdns_ap__teardown().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autopath.h"

#define PFX "plugin/autopath: "

void cdns_ap__teardown(void *inst)
{
    cdns_ap_t *ap = inst;
    if (ap == NULL)
        return;
    cdns_ap__table_free(ap->table);
    free(ap->zones);
    free(ap->kzones);
    free(ap->plugin);
    free(ap);
}

bool cdns_ap__under(const cdns_ap_t *ap, const uint8_t *lower)
{
    for (size_t i = 0; i < ap->nzones; i++)
        if (cdns_dname_is_sub(lower, ap->zones[i]))
            return true;
    return false;
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

/* The "search" line of a resolv.conf (the last one wins, as in the resolver). */
static int read_resolv(cdns_ap_t *ap, const char *path, const cdns_cf_directive_t *d, cdns_diag_t *diag)
{
    char *text = NULL;
    size_t len = 0;
    int rc = path[0] ? cdns_file_read(path, &text, &len) : CDNS_ENOENT;
    if (rc != CDNS_OK)
        return cdns_diag_set(diag, d->file, d->line, PFX "failed to parse \"%s\": open %s: %s", path, path,
                             cdns_strerror(rc));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *s2 = NULL, *w = strtok_r(line, " \t\r", &s2);
        if (w == NULL || (strcmp(w, "search") != 0 && strcmp(w, "domain") != 0))
            continue;
        ap->nsearch = 0;
        while ((w = strtok_r(NULL, " \t\r", &s2)) != NULL && ap->nsearch < CDNS_AP_MAX_SEARCH)
            if (zone_wire(w, ap->search[ap->nsearch]) == CDNS_OK)
                ap->nsearch++;
    }
    free(text);
    return CDNS_OK;
}

int cdns_ap__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    int rc = CDNS_ENOMEM;
    cdns_ap_t *ap = calloc(1, sizeof(*ap));
    if (ap == NULL)
        return CDNS_ENOMEM;
    if (d->nargs < 1) {
        rc = cdns_diag_set(diag, d->file, d->line, PFX "no resolv-conf specified");
        goto fail;
    }
    if (d->has_block) {
        rc = cdns_diag_set(diag, d->file, d->line, PFX "takes no block");
        goto fail;
    }
    const char *resolv = d->args[d->nargs - 1].text;
    if (resolv[0] == '@') {
        if ((ap->plugin = strdup(resolv + 1)) == NULL)
            goto fail;
    } else {
        char path[4096];
        if (resolv[0] == '/' || ctx->corefile_dir == NULL)
            snprintf(path, sizeof(path), "%s", resolv);
        else
            snprintf(path, sizeof(path), "%s/%s", ctx->corefile_dir, resolv);
        if ((rc = read_resolv(ap, resolv[0] ? path : "", d, diag)) != CDNS_OK)
            goto fail;
        rc = CDNS_ENOMEM;
    }
    size_t nz = d->nargs > 1 ? d->nargs - 1 : ctx->nzones;
    if ((ap->zones = calloc(nz ? nz : 1, CDNS_DNAME_MAX)) == NULL)
        goto fail;
    for (size_t i = 0; i < nz; i++) {
        const char *z = d->nargs > 1 ? d->args[i].text : ctx->zones[i];
        if (zone_wire(z, ap->zones[i]) != CDNS_OK) {
            rc = cdns_diag_set(diag, d->file, d->line, PFX "invalid zone '%s'", z);
            goto fail;
        }
    }
    ap->nzones = nz;
    *inst = ap;
    return CDNS_OK;
fail:
    cdns_ap__teardown(ap);
    return rc;
}

int cdns_ap__link(void *inst, const cdns_chain_t *chain, cdns_diag_t *diag)
{
    cdns_ap_t *ap = inst;
    if (ap->plugin == NULL)
        return CDNS_OK;
    /* Only kubernetes gives a search path. CoreDNS ignores @plugin when the plugin is not in the
     * block and fails when it is but cannot; instances here may be NULL, so any other directive
     * name is refused outright. */
    if (strcmp(ap->plugin, "kubernetes") != 0) {
        if (cdns_plugin_find(ap->plugin) == NULL)
            return CDNS_OK;
        return cdns_diag_set(diag, NULL, 0, PFX "%s does not implement the AutoPather interface", ap->plugin);
    }
    void *other = cdns_chain_instance(chain, ap->plugin);
    if (other == NULL)
        return CDNS_OK; /* no kubernetes in the block: idle, as CoreDNS */
    const char *const *zones;
    size_t nz;
    const void *version;
    int rc = cdns_kube_autopath(other, &zones, &nz, NULL, NULL, &version);
    if (rc == CDNS_ENOENT) {
        /* CoreDNS's kubernetes answers autopath only with `pods verified`. */
        cdns_warn("plugin/autopath: the kubernetes plugin needs 'pods verified' for autopath; autopath is idle");
        return CDNS_OK;
    }
    if ((ap->kzones = calloc(nz ? nz : 1, CDNS_DNAME_MAX)) == NULL)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < nz; i++)
        if (zone_wire(zones[i], ap->kzones[i]) == CDNS_OK)
            ap->nkzones++;
    ap->kube = other;
    return CDNS_OK;
}
