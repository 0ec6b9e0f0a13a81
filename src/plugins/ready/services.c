/* SPDX-License-Identifier: MIT */
/* services.c — reads the health, ready, prometheus and reload instances of a pipeline for main,
 * and computes readiness as CoreDNS's ready plugin reports it.
 *
 * Main thread only: it walks a pipeline main owns and calls plugins' ready() hooks, which read
 * atomically published state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services_internal.h"

bool cdns_plugins__host_port_ok(const char *addr, char *why, size_t len)
{
    /* Go's net.SplitHostPort: the port follows the last colon; a host with colons must be in
     * brackets. */
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        snprintf(why, len, "address %s: missing port in address", addr);
        return false;
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL) {
            snprintf(why, len, "address %s: missing ']' in address", addr);
            return false;
        }
        if (close + 1 != colon) {
            snprintf(why, len, "address %s: %s", addr,
                     close[1] == '\0' ? "missing port in address" : "too many colons in address");
            return false;
        }
        return true;
    }
    if (memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
        snprintf(why, len, "address %s: too many colons in address", addr);
        return false;
    }
    return true;
}

static void add_addr(char (*list)[CDNS_SERVICES_ADDR_LEN], size_t *n, const char *addr)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], addr) == 0)
            return;
    if (*n < CDNS_SERVICES_MAX_ADDRS)
        snprintf(list[(*n)++], CDNS_SERVICES_ADDR_LEN, "%s", addr);
}

static void collect_one(size_t block, const cdns_plugin_api_t *api, void *inst, void *arg)
{
    CDNS_UNUSED(block);
    cdns_services_t *s = arg;
    if (api == &cdns_plugin_health) {
        const cdns_health_inst_t *h = inst;
        add_addr(s->health, &s->nhealth, h->addr);
        if (h->lameduck_ms > s->lameduck_ms)
            s->lameduck_ms = h->lameduck_ms;
    } else if (api == &cdns_plugin_ready) {
        const cdns_ready_inst_t *r = inst;
        add_addr(s->ready, &s->nready, r->addr);
        s->ready_continuously |= r->continuously;
    } else if (api == &cdns_plugin_prometheus) {
        add_addr(s->metrics, &s->nmetrics, ((const cdns_prometheus_inst_t *)inst)->addr);
    } else if (api == &cdns_plugin_reload) {
        const cdns_reload_inst_t *r = inst;
        /* Several blocks may say reload: the shortest interval wins. */
        if (!s->reload || r->interval_ms < s->reload_ms) {
            s->reload_ms = r->interval_ms;
            s->reload_jitter_ms = r->jitter_ms;
        }
        s->reload = true;
    }
}

void cdns_services_collect(const cdns_pipeline_t *p, cdns_services_t *out)
{
    memset(out, 0, sizeof(*out));
    cdns_pipeline_each(p, collect_one, out);
}

/* ---------------------------------------------------------------- readiness */
typedef struct ready_walk {
    bool *has_ready; /* per block */
    size_t nblocks;
    const char *names[64]; /* not ready, unique */
    size_t nnames;
} ready_walk_t;

static void mark_ready_blocks(size_t block, const cdns_plugin_api_t *api, void *inst, void *arg)
{
    CDNS_UNUSED(inst);
    ready_walk_t *w = arg;
    if (api == &cdns_plugin_ready && block < w->nblocks)
        w->has_ready[block] = true;
}

static void ask_ready(size_t block, const cdns_plugin_api_t *api, void *inst, void *arg)
{
    ready_walk_t *w = arg;
    if (block >= w->nblocks || !w->has_ready[block] || api->ready == NULL || api->ready(inst))
        return;
    for (size_t i = 0; i < w->nnames; i++)
        if (strcmp(w->names[i], api->name) == 0)
            return;
    if (w->nnames < CDNS_ARRAY_LEN(w->names))
        w->names[w->nnames++] = api->name;
}

static void count_blocks(size_t block, const cdns_plugin_api_t *api, void *inst, void *arg)
{
    CDNS_UNUSED(api);
    CDNS_UNUSED(inst);
    size_t *n = arg;
    if (block + 1 > *n)
        *n = block + 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool cdns_services_ready(const cdns_pipeline_t *p, char *notready, size_t len)
{
    ready_walk_t w = {0};
    if (len)
        notready[0] = '\0';
    cdns_pipeline_each(p, count_blocks, &w.nblocks);
    w.has_ready = calloc(w.nblocks ? w.nblocks : 1, sizeof(bool));
    if (w.has_ready == NULL) {
        snprintf(notready, len, "out of memory");
        return false;
    }
    cdns_pipeline_each(p, mark_ready_blocks, &w);
    cdns_pipeline_each(p, ask_ready, &w);
    free(w.has_ready);
    qsort(w.names, w.nnames, sizeof(w.names[0]), cmp_str);
    size_t off = 0;
    for (size_t i = 0; i < w.nnames && off < len; i++) {
        int n = snprintf(notready + off, len - off, "%s%s", i ? "," : "", w.names[i]);
        off += n > 0 ? (size_t)n : 0;
    }
    return w.nnames == 0;
}
