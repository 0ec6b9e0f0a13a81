/* SPDX-License-Identifier: MIT */
/* errors — logs the errors plugins report (CoreDNS's errors), optionally consolidated.
 *
 * on_response runs on the worker thread: a request that failed carries req->error, formatted
 * as CoreDNS does ("2 name. A: reason") and queued on the worker's log ring (../log/ring.h).
 * Everything else happens on the log writer thread, through this instance's sink: matching
 * the reason against the consolidate patterns, counting, and logging "N errors like 'RE'
 * occurred in last D" once D has passed since the first match. The regexes therefore never
 * run on a worker. Setup and teardown run on the main thread.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/ring.h"
#include "cdns/plugin.h"

#define PFX "plugin/errors: "
#define REGEXP_MAX 10000 /* CoreDNS's limit */

typedef struct pattern {
    regex_t re;
    char *text;      /* the REGEXP as written, for the summary line */
    char period[64]; /* the DURATION as Go prints it ("30s", "1m0s") */
    uint64_t period_ms;
    cdns_log_level_t level;
    bool show_first;
    /* writer thread only */
    uint32_t count;
    uint64_t deadline_ms; /* when the summary is due (valid while count > 0) */
} pattern_t;

typedef struct errors_inst {
    cdns_logsink_t sink; /* first: the sink pointer is the instance */
    pattern_t *patterns;
    size_t npatterns;
} errors_inst_t;

/* ------------------------------------------------------------------ writer */
static void summary(pattern_t *p)
{
    if (p->count > 1 || !p->show_first)
        cdns_log(p->level, PFX "%u errors like '%s' occurred in last %s", p->count, p->text, p->period);
    p->count = 0;
}

/* aux is the offset of the reason inside text: the patterns match the error, not the name. */
static void sink_line(cdns_logsink_t *s, cdns_log_level_t level, const char *text, size_t len, size_t aux)
{
    errors_inst_t *e = (errors_inst_t *)s;
    char reason[CDNS_LOGRING_LINE_MAX + 1];
    size_t off = aux < len ? aux : len;
    memcpy(reason, text + off, len - off);
    reason[len - off] = '\0';
    for (size_t i = 0; i < e->npatterns; i++) {
        pattern_t *p = &e->patterns[i];
        if (regexec(&p->re, reason, 0, NULL, 0) != 0)
            continue;
        if (p->count++ == 0) {
            p->deadline_ms = cdns_clock_mono_ms() + p->period_ms;
            if (p->show_first)
                cdns_log(p->level, PFX "%.*s", (int)len, text);
        }
        return;
    }
    cdns_log(level, PFX "%.*s", (int)len, text);
}

static void sink_tick(cdns_logsink_t *s, uint64_t now_ms)
{
    errors_inst_t *e = (errors_inst_t *)s;
    for (size_t i = 0; i < e->npatterns; i++)
        if (e->patterns[i].count > 0 && now_ms >= e->patterns[i].deadline_ms)
            summary(&e->patterns[i]);
}

/* ------------------------------------------------------------------- setup */
/* Go's time.Duration.String() for whole milliseconds: "500ms", "30s", "1m0s", "1h30m0s". */
static void go_duration(uint64_t ms, char *out, size_t cap)
{
    if (ms < 1000) {
        snprintf(out, cap, "%llums", (unsigned long long)ms);
        return;
    }
    uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    char sec[24];
    if (frac) {
        snprintf(sec, sizeof(sec), "%llu.%03llu", (unsigned long long)s, (unsigned long long)frac);
        for (size_t n = strlen(sec); sec[n - 1] == '0'; n--)
            sec[n - 1] = '\0';
    } else {
        snprintf(sec, sizeof(sec), "%llu", (unsigned long long)s);
    }
    if (h)
        snprintf(out, cap, "%lluh%llum%ss", (unsigned long long)h, (unsigned long long)m, sec);
    else if (m)
        snprintf(out, cap, "%llum%ss", (unsigned long long)m, sec);
    else
        snprintf(out, cap, "%ss", sec);
}

static void errors_teardown(void *inst)
{
    errors_inst_t *e = inst;
    if (!e)
        return;
    cdns_logring_remove_sink(&e->sink);
    for (size_t i = 0; i < e->npatterns; i++) {
        /* As CoreDNS on shutdown: what was counted is reported, not lost. */
        if (e->patterns[i].count > 0)
            summary(&e->patterns[i]);
        regfree(&e->patterns[i].re);
        free(e->patterns[i].text);
    }
    free(e->patterns);
    free(e);
}

static int parse_consolidate(const cdns_cf_directive_t *b, pattern_t *p, cdns_diag_t *diag)
{
    if (b->nargs < 2 || b->nargs > 4)
        return cdns_diag_set(diag, b->file, b->line, PFX "consolidate needs DURATION REGEXP [LEVEL] [show_first]");
    if (cdns_cf_parse_duration_ms(b->args[0].text, &p->period_ms) != CDNS_OK || p->period_ms == 0)
        return cdns_diag_set(diag, b->file, b->line, PFX "invalid duration '%s'", b->args[0].text);
    go_duration(p->period_ms, p->period, sizeof(p->period));
    const char *re = b->args[1].text;
    if (strlen(re) > REGEXP_MAX)
        return cdns_diag_set(diag, b->file, b->line, PFX "regex length %zu exceeds maximum allowed %d", strlen(re),
                             REGEXP_MAX);
    p->level = CDNS_LOG_ERROR;
    for (size_t j = 2; j < b->nargs; j++) {
        const char *a = b->args[j].text;
        if (strcmp(a, "show_first") == 0)
            p->show_first = true;
        else if (j == 2 && strcmp(a, "warning") == 0)
            p->level = CDNS_LOG_WARN;
        else if (j == 2 && strcmp(a, "error") == 0)
            p->level = CDNS_LOG_ERROR;
        else if (j == 2 && strcmp(a, "info") == 0)
            p->level = CDNS_LOG_INFO;
        else if (j == 2 && strcmp(a, "debug") == 0)
            p->level = CDNS_LOG_DEBUG;
        else
            return cdns_diag_set(diag, b->file, b->line, PFX "unknown log level argument in consolidate: '%s'", a);
    }
    if (regcomp(&p->re, re, REG_EXTENDED | REG_NOSUB) != 0)
        return cdns_diag_set(diag, b->file, b->line, PFX "invalid regular expression '%s'", re);
    if (!(p->text = strdup(re))) {
        regfree(&p->re);
        return CDNS_ENOMEM;
    }
    return CDNS_OK;
}

static int errors_setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    (void)ctx;
    if (d->nargs > 0)
        return cdns_diag_set(diag, d->file, d->line, PFX "unexpected argument '%s'", d->args[0].text);
    errors_inst_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->patterns = calloc(d->nblock ? d->nblock : 1, sizeof(pattern_t)))) {
        free(e);
        return CDNS_ENOMEM;
    }
    e->sink.line = sink_line;
    e->sink.tick = sink_tick;
    for (size_t i = 0; i < d->nblock; i++) {
        const cdns_cf_directive_t *b = &d->block[i];
        int rc = CDNS_OK;
        if (strcmp(b->name, "stacktrace") == 0 && b->nargs == 0)
            continue;
        if (strcmp(b->name, "consolidate") == 0) {
            rc = parse_consolidate(b, &e->patterns[e->npatterns], diag);
            if (rc == CDNS_OK)
                e->npatterns++;
        } else {
            rc = cdns_diag_set(diag, b->file, b->line, PFX "unknown property '%s'", b->name);
        }
        if (rc != CDNS_OK) {
            errors_teardown(e);
            return rc;
        }
    }
    cdns_logring_add_sink(&e->sink);
    *inst = e;
    return CDNS_OK;
}

static int errors_worker_init(void *inst, cdns_worker_t *w, void **ws)
{
    (void)inst;
    *ws = cdns_logring_attach(w->id);
    return CDNS_OK;
}

static void errors_response(cdns_req_t *req, void *inst, void *ws)
{
    errors_inst_t *e = inst;
    if (req->error == NULL)
        return;
    char line[CDNS_LOGRING_LINE_MAX], type[16], name[CDNS_DNAME_MAX * 4 + 2];
    cdns_dname_to_str(req->q.qname, name, sizeof(name));
    int n = snprintf(line, sizeof(line), "%u %s %s: ", req->msg.rcode, name, cdns_rrtype_name(req->q.qtype, type));
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    size_t reason = (size_t)n;
    int m = snprintf(line + reason, sizeof(line) - reason, "%s", req->error);
    size_t len = reason + (m < 0 ? 0 : (size_t)m < sizeof(line) - reason ? (size_t)m : sizeof(line) - reason - 1);
    /* Without patterns nothing needs the writer's help: the line goes out as it is. */
    if (e->npatterns == 0) {
        char full[CDNS_LOGRING_LINE_MAX];
        int k = snprintf(full, sizeof(full), PFX "%.*s", (int)len, line);
        cdns_logring_put(ws, CDNS_LOG_ERROR, NULL, 0, full,
                         k < 0                      ? 0
                         : (size_t)k < sizeof(full) ? (size_t)k
                                                    : sizeof(full) - 1);
        return;
    }
    cdns_logring_put(ws, CDNS_LOG_ERROR, &e->sink, reason, line, len);
}

const cdns_plugin_api_t cdns_plugin_errors = {
    .name = "errors",
    .setup = errors_setup,
    .teardown = errors_teardown,
    .worker_init = errors_worker_init,
    .on_response = errors_response,
    .flags = CDNS_PLUGIN_ONCE,
};
