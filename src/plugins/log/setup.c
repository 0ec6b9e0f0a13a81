/* SPDX-License-Identifier: MIT */
/* setup.c — parses "log [NAMES...] [FORMAT] { class CLASSES... }" as CoreDNS does. Main thread. */
#include <stdlib.h>
#include <string.h>

#include "log.h"

int cdns_log__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    unsigned classes = 0;
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "class") != 0)
            return cdns_diag_set(diag, b->file, b->line, "plugin/log: unknown property '%s'", b->name);
        if (b->nargs == 0)
            return cdns_diag_set(diag, b->file, b->line,
                                 "plugin/log: class needs at least one of all, denial, error, success");
        for (size_t j = 0; j < b->nargs; j++) {
            const char *c = b->args[j].text;
            if (strcmp(c, "all") == 0)
                classes |= CDNS_LOG_CLASS_ALL;
            else if (strcmp(c, "denial") == 0)
                classes |= CDNS_LOG_CLASS_DENIAL;
            else if (strcmp(c, "error") == 0)
                classes |= CDNS_LOG_CLASS_ERROR;
            else if (strcmp(c, "success") == 0)
                classes |= CDNS_LOG_CLASS_SUCCESS;
            else
                return cdns_diag_set(diag, b->file, b->line, "plugin/log: invalid class '%s'", c);
        }
    }
    if (classes == 0)
        classes = CDNS_LOG_CLASS_ALL;

    /* Arguments: names, then optionally a format (the last argument when it contains '{'). */
    size_t nnames = d->nargs;
    const char *format = CDNS_LOG_COMMON;
    if (d->nargs > 0 && strchr(d->args[d->nargs - 1].text, '{') != NULL) {
        nnames--;
        format = d->args[d->nargs - 1].text;
        if (strcmp(format, "{common}") == 0)
            format = CDNS_LOG_COMMON;
        else if (strcmp(format, "{combined}") == 0)
            format = CDNS_LOG_COMMON " {>opcode}";
    }
    cdns_log_conf_t *c = calloc(1, sizeof(*c));
    size_t nrules = nnames ? nnames : (ctx->nzones ? ctx->nzones : 1);
    if (c == NULL || (c->rules = calloc(nrules, sizeof(cdns_log_rule_t))) == NULL) {
        free(c);
        return CDNS_ENOMEM;
    }
    for (size_t i = 0; i < nrules; i++) {
        const char *name = nnames ? d->args[i].text : (ctx->nzones ? ctx->zones[i] : ".");
        char norm[CDNS_DNAME_MAX * 4 + 2];
        size_t len;
        if (cdns_cf_normalize_zone(name, norm, sizeof(norm)) != CDNS_OK ||
            cdns_dname_from_str(norm, NULL, c->rules[i].name, &len) != CDNS_OK) {
            cdns_log__teardown(c);
            return cdns_diag_set(diag, d->file, d->line, "plugin/log: invalid name '%s'", name);
        }
        cdns_dname_lower(c->rules[i].name);
        c->rules[i].format = format;
        c->rules[i].classes = classes;
    }
    c->nrules = nrules;
    *inst = c;
    return CDNS_OK;
}

void cdns_log__teardown(void *inst)
{
    cdns_log_conf_t *c = inst;
    if (c == NULL)
        return;
    free(c->rules);
    free(c);
}
