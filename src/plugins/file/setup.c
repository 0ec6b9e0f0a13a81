/* SPDX-License-Identifier: MIT */
/* setup.c — parses "file DBFILE [ZONES...] { reload DURATION; fallthrough [ZONES...] }" as
 * CoreDNS does, and loads the zone so that -check reports a bad file as FILE:LINE. Main thread;
 * the instance belongs to the pipeline and is freed by cdns_file__teardown().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"

#define PFX "plugin/file: "
#define DEFAULT_RELOAD_MS 60000u /* CoreDNS's one minute */

void cdns_file__teardown(void *inst)
{
    cdns_file_t *f = inst;
    if (!f)
        return;
    for (size_t i = 0; i < f->nzones; i++)
        free(f->zones[i]);
    free(f->zones);
    free(f->zone_wire);
    free(f->fall_wire);
    free(f->serials);
    free(f->path);
    cdns_snapshot_free(f->snap);
    free(f);
}

static int zone_wire(const char *text, char *norm, size_t normlen, uint8_t *wire)
{
    size_t len;
    if (cdns_cf_normalize_zone(text, norm, normlen) != CDNS_OK ||
        cdns_dname_from_str(norm, NULL, wire, &len) != CDNS_OK)
        return CDNS_EINVAL;
    cdns_dname_lower(wire);
    return CDNS_OK;
}

/* The origins: the arguments after DBFILE, else the server block's zones. Duplicates once. */
static int parse_zones(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, cdns_file_t *f, cdns_diag_t *diag)
{
    size_t n = d->nargs > 1 ? d->nargs - 1 : ctx->nzones;
    if (n == 0)
        n = 1;
    f->zones = calloc(n, sizeof(char *));
    f->zone_wire = calloc(n, sizeof(*f->zone_wire));
    f->serials = calloc(n, sizeof(uint32_t));
    if (!f->zones || !f->zone_wire || !f->serials)
        return CDNS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *z = d->nargs > 1 ? d->args[i + 1].text : (ctx->nzones ? ctx->zones[i] : ".");
        char norm[CDNS_DNAME_MAX * 4 + 2];
        if (zone_wire(z, norm, sizeof(norm), f->zone_wire[f->nzones]) != CDNS_OK)
            return cdns_diag_set(diag, d->file, d->line, PFX "invalid zone '%s'", z);
        bool dup = false;
        for (size_t j = 0; j < f->nzones && !dup; j++)
            dup = strcmp(f->zones[j], norm) == 0;
        if (dup)
            continue;
        if (!(f->zones[f->nzones] = strdup(norm)))
            return CDNS_ENOMEM;
        f->nzones++;
    }
    return CDNS_OK;
}

static int parse_block(const cdns_cf_directive_t *d, cdns_file_t *f, cdns_diag_t *diag)
{
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "reload") == 0) {
            if (b->nargs != 1)
                return cdns_diag_set(diag, b->file, b->line, PFX "reload duration value is expected");
            if (cdns_cf_parse_duration_ms(b->args[0].text, &f->reload_ms) != CDNS_OK)
                return cdns_diag_set(diag, b->file, b->line, PFX "invalid reload duration '%s'", b->args[0].text);
        } else if (strcmp(b->name, "fallthrough") == 0) {
            f->fall = true;
            free(f->fall_wire);
            f->nfall = 0;
            if (!(f->fall_wire = calloc(b->nargs ? b->nargs : 1, sizeof(*f->fall_wire))))
                return CDNS_ENOMEM;
            for (size_t j = 0; j < b->nargs; j++) {
                char norm[CDNS_DNAME_MAX * 4 + 2];
                if (zone_wire(b->args[j].text, norm, sizeof(norm), f->fall_wire[f->nfall]) != CDNS_OK)
                    return cdns_diag_set(diag, b->file, b->line, PFX "invalid fallthrough zone '%s'", b->args[j].text);
                f->nfall++;
            }
        } else if (strcmp(b->name, "upstream") == 0) {
            continue; /* accepted and ignored, as CoreDNS does since 1.7 */
        } else {
            return cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", b->name);
        }
    }
    return CDNS_OK;
}

int cdns_file__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    int rc = CDNS_ENOMEM;
    cdns_file_t *f = calloc(1, sizeof(*f));
    if (!f)
        return CDNS_ENOMEM;
    f->reload_ms = DEFAULT_RELOAD_MS;
    if (d->nargs == 0) {
        rc = cdns_diag_set(diag, d->file, d->line, PFX "Wrong argument count or unexpected line ending after 'file'");
        goto fail;
    }
    const char *p = d->args[0].text;
    size_t n = strlen(p) + (ctx->corefile_dir ? strlen(ctx->corefile_dir) : 0) + 2;
    if (!(f->path = malloc(n)))
        goto fail;
    if (p[0] == '/' || !ctx->corefile_dir || !ctx->corefile_dir[0])
        snprintf(f->path, n, "%s", p);
    else
        snprintf(f->path, n, "%s/%s", ctx->corefile_dir, p);
    if ((rc = parse_zones(ctx, d, f, diag)) != CDNS_OK || (rc = parse_block(d, f, diag)) != CDNS_OK)
        goto fail;

    char err[400];
    cdns_snapshot_t *snap = NULL;
    rc = cdns_file__load(f, &snap, f->serials, err, sizeof(err));
    if (rc == CDNS_ENOENT && f->reload_ms != 0) {
        /* As CoreDNS: a file that is not there yet is retried every reload interval; until
         * then its zones answer SERVFAIL. */
        cdns_warn(PFX "Failed to open \"%s\": trying again in %llums", f->path, (unsigned long long)f->reload_ms);
    } else if (rc != CDNS_OK) {
        rc = cdns_diag_set(diag, d->file, d->line, PFX "%s", err);
        goto fail;
    }
    f->snap = snap;
    *inst = f;
    return CDNS_OK;
fail:
    cdns_file__teardown(f);
    return rc;
}
