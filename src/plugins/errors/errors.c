/* SPDX-License-Identifier: MIT */
/* errors — logs the errors plugins report (CoreDNS's errors), optionally consolidated.
 *
 * on_response runs on the worker thread; a request that failed carries req->error, logged as
 * CoreDNS does: "[ERROR] plugin/errors: 2 name. A: reason". Consolidation (issue 5) is parsed
 * and accepted; until it lands, every error is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "cdns/plugin.h"

static int errors_setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    (void)ctx;
    if (d->nargs > 0)
        return cdns_diag_set(diag, d->file, d->line, "plugin/errors: unexpected argument '%s'", d->args[0].text);
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        if (strcmp(b->name, "stacktrace") == 0 && b->nargs == 0)
            continue;
        if (strcmp(b->name, "consolidate") == 0) {
            uint64_t ms;
            if (b->nargs < 2 || b->nargs > 3)
                return cdns_diag_set(diag, b->file, b->line,
                                     "plugin/errors: consolidate needs DURATION REGEXP [LEVEL]");
            if (cdns_cf_parse_duration_ms(b->args[0].text, &ms) != CDNS_OK)
                return cdns_diag_set(diag, b->file, b->line, "plugin/errors: invalid duration '%s'", b->args[0].text);
            if (b->nargs == 3 && strcmp(b->args[2].text, "warning") != 0 && strcmp(b->args[2].text, "error") != 0 &&
                strcmp(b->args[2].text, "info") != 0 && strcmp(b->args[2].text, "debug") != 0)
                return cdns_diag_set(diag, b->file, b->line, "plugin/errors: unknown log level '%s'", b->args[2].text);
            continue;
        }
        return cdns_diag_set(diag, b->file, b->line, "plugin/errors: unknown property '%s'", b->name);
    }
    *inst = NULL;
    return CDNS_OK;
}

static void errors_response(cdns_req_t *req, void *inst, void *ws)
{
    (void)inst;
    (void)ws;
    if (req->error == NULL)
        return;
    char name[CDNS_DNAME_MAX * 4 + 2], type[16];
    cdns_dname_to_str(req->q.qname, name, sizeof(name));
    cdns_log(CDNS_LOG_ERROR, "plugin/errors: %u %s %s: %s", req->msg.rcode, name, cdns_rrtype_name(req->q.qtype, type),
             req->error);
}

const cdns_plugin_api_t cdns_plugin_errors = {
    .name = "errors",
    .setup = errors_setup,
    .on_response = errors_response,
    .flags = CDNS_PLUGIN_ONCE,
};
