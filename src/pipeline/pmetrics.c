/* SPDX-License-Identifier: MIT */
/* pmetrics.c — coredns_dns_* for one route: set-up resolves every series, workers add.
 *
 * Names, labels and buckets follow CoreDNS's plugin/metrics/vars: requests_total{server, zone,
 * view, proto, family, type} with type one of the monitored types or "other",
 * request_duration_seconds{server, zone, view}, request_size_bytes and response_size_bytes
 * {server, zone, view, proto}, do_requests_total{server, zone, view}, responses_total{server,
 * zone, view, rcode, plugin}. view is always "" (no view plugin). Built on the main thread;
 * report() runs on workers and only reads the handle arrays.
 */
#include "pmetrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* CoreDNS's monitorType, in its order; index NTYPES-1 is "other". */
static const struct {
    uint16_t type;
    const char *name;
} types[] = {
    {CDNS_T_AAAA, "AAAA"}, {CDNS_T_A, "A"},       {CDNS_T_CNAME, "CNAME"}, {CDNS_T_DNSKEY, "DNSKEY"},
    {CDNS_T_DS, "DS"},     {CDNS_T_MX, "MX"},     {50, "NSEC3"},           {CDNS_T_NSEC, "NSEC"},
    {CDNS_T_NS, "NS"},     {CDNS_T_PTR, "PTR"},   {CDNS_T_RRSIG, "RRSIG"}, {CDNS_T_SOA, "SOA"},
    {CDNS_T_SRV, "SRV"},   {CDNS_T_TXT, "TXT"},   {65, "HTTPS"},           {64, "SVCB"},
    {CDNS_T_IXFR, "IXFR"}, {CDNS_T_AXFR, "AXFR"}, {CDNS_T_ANY, "ANY"},
};
#define NTYPES (CDNS_ARRAY_LEN(types) + 1)

/* miekg/dns RcodeToString; 16 is BADSIG there (BADVERS shares the code). */
static const char *const rcodes[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",   "REFUSED",
                                     "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",  "RCODE11",
                                     "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADSIG",   "BADKEY",
                                     "BADTIME",  "BADMODE", "BADNAME",  "BADALG",   "BADTRUNC", "BADCOOKIE"};
#define NRCODES CDNS_ARRAY_LEN(rcodes)

struct cdns_pmetrics {
    char *server, *zone;
    const char **names; /* owned array, borrowed strings */
    size_t nnames;
    cdns_series_t *requests[2][2][NTYPES]; /* [tcp][ipv6][type] */
    cdns_series_t *do_requests;
    cdns_series_t *duration;
    cdns_series_t *req_size[2], *resp_size[2]; /* [tcp] */
    cdns_series_t **responses;                 /* [rcode * (nnames + 1) + plugin], plugin nnames = "" */
    uint8_t type_index[256];                   /* qtype (< 256) → index in types, NTYPES-1 = other */
};

static cdns_metric_t *fam(const char *name, const char *help, cdns_metric_type_t t, const char *const *labels, size_t n,
                          const double *b, size_t nb)
{
    return cdns_metric_register(name, help, t, labels, n, b, nb);
}

cdns_pmetrics_t *cdns_pipeline__metrics_new(const char *server, const char *zone, const char *const *names, size_t n)
{
    static const char *const l_req[] = {"server", "zone", "view", "proto", "family", "type"};
    static const char *const l_szv[] = {"server", "zone", "view"};
    static const char *const l_size[] = {"server", "zone", "view", "proto"};
    static const char *const l_resp[] = {"server", "zone", "view", "rcode", "plugin"};
    cdns_metric_t *m_req =
        fam("coredns_dns_requests_total", "Counter of DNS requests made per zone, protocol and family.",
            CDNS_METRIC_COUNTER, l_req, 6, NULL, 0);
    cdns_metric_t *m_do = fam("coredns_dns_do_requests_total", "Counter of DNS requests with DO bit set per zone.",
                              CDNS_METRIC_COUNTER, l_szv, 3, NULL, 0);
    cdns_metric_t *m_dur =
        fam("coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) each request took per zone.",
            CDNS_METRIC_HISTOGRAM, l_szv, 3, cdns_metrics_duration_buckets, cdns_metrics_duration_nbuckets);
    cdns_metric_t *m_rqs = fam("coredns_dns_request_size_bytes",
                               "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
                               CDNS_METRIC_HISTOGRAM, l_size, 4, cdns_metrics_size_buckets, cdns_metrics_size_nbuckets);
    cdns_metric_t *m_rss = fam("coredns_dns_response_size_bytes", "Size of the returned response in bytes.",
                               CDNS_METRIC_HISTOGRAM, l_size, 4, cdns_metrics_size_buckets, cdns_metrics_size_nbuckets);
    cdns_metric_t *m_rc = fam("coredns_dns_responses_total", "Counter of response status codes.", CDNS_METRIC_COUNTER,
                              l_resp, 5, NULL, 0);
    cdns_pmetrics_t *pm = calloc(1, sizeof(*pm));
    if (pm == NULL)
        return NULL;
    pm->server = strdup(server);
    pm->zone = strdup(zone);
    pm->names = calloc(n ? n : 1, sizeof(char *));
    if (pm->names != NULL && n > 0)
        memcpy(pm->names, names, n * sizeof(char *));
    pm->nnames = n;
    pm->responses = calloc(NRCODES * (n + 1), sizeof(cdns_series_t *));
    if (pm->server == NULL || pm->zone == NULL || pm->names == NULL || pm->responses == NULL)
        goto fail;
    memset(pm->type_index, NTYPES - 1, sizeof(pm->type_index));
    for (size_t t = 0; t < CDNS_ARRAY_LEN(types); t++)
        pm->type_index[types[t].type & 0xff] = (uint8_t)t;
    static const char *const protos[] = {"udp", "tcp"}, *const fams[] = {"1", "2"};
    for (int p = 0; p < 2; p++) {
        for (int f = 0; f < 2; f++)
            for (size_t t = 0; t < NTYPES; t++) {
                const char *v[] = {server, zone, "", protos[p], fams[f], t + 1 < NTYPES ? types[t].name : "other"};
                /* Hidden until used: the exposition lists what was asked, as Go's client does. */
                if ((pm->requests[p][f][t] = cdns_metric_series_hidden(m_req, v)) == NULL)
                    goto fail;
            }
        const char *v[] = {server, zone, "", protos[p]};
        if ((pm->req_size[p] = cdns_metric_series_hidden(m_rqs, v)) == NULL ||
            (pm->resp_size[p] = cdns_metric_series_hidden(m_rss, v)) == NULL)
            goto fail;
    }
    const char *v3[] = {server, zone, ""};
    if ((pm->do_requests = cdns_metric_series_hidden(m_do, v3)) == NULL ||
        (pm->duration = cdns_metric_series_hidden(m_dur, v3)) == NULL)
        goto fail;
    for (size_t r = 0; r < NRCODES; r++)
        for (size_t i = 0; i <= n; i++) {
            const char *v[] = {server, zone, "", rcodes[r], i < n ? names[i] : ""};
            if ((pm->responses[r * (n + 1) + i] = cdns_metric_series_hidden(m_rc, v)) == NULL)
                goto fail;
        }
    return pm;
fail:
    cdns_pipeline__metrics_free(pm);
    return NULL;
}

void cdns_pipeline__metrics_free(cdns_pmetrics_t *pm)
{
    if (pm == NULL)
        return;
    /* The series stay registered: a reload re-uses them, so counters never go backwards. */
    free(pm->server);
    free(pm->zone);
    free(pm->responses);
    free(pm->names);
    free(pm);
}

void cdns_pipeline__metrics_report(const cdns_pmetrics_t *pm, const cdns_req_t *req, int plugin)
{
    unsigned w = req->worker != NULL ? req->worker->id : 0;
    int tcp = req->tcp ? 1 : 0;
    int v6 = req->client.ss_family == AF_INET6 ? 1 : 0;
    uint16_t qt = req->q.qtype;
    size_t ti = qt < 256 ? pm->type_index[qt] : NTYPES - 1;
    cdns_series_inc(pm->requests[tcp][v6][ti], w);
    if (req->q.has_edns && (req->q.edns_flags & CDNS_EDNS_DO))
        cdns_series_inc(pm->do_requests, w);
    uint64_t now = cdns_clock_mono_ns();
    if (req->start_ns != 0 && now > req->start_ns)
        cdns_series_observe(pm->duration, w, (double)(now - req->start_ns) / 1e9);
    else
        cdns_series_observe(pm->duration, w, 0);
    cdns_series_observe(pm->req_size[tcp], w, (double)req->wire_len);
    cdns_series_observe(pm->resp_size[tcp], w, (double)req->out_len);
    uint16_t rc = req->msg.rcode;
    size_t pi = plugin >= 0 && (size_t)plugin < pm->nnames ? (size_t)plugin : pm->nnames;
    if (rc < NRCODES)
        cdns_series_inc(pm->responses[rc * (pm->nnames + 1) + pi], w);
}

static cdns_metric_t *enabled_family(void)
{
    static const char *const labels[] = {"server", "zone", "view", "name"};
    return cdns_metric_register("coredns_plugin_enabled",
                                "A metric that indicates whether a plugin is enabled on per server and zone basis.",
                                CDNS_METRIC_GAUGE, labels, 4, NULL, 0);
}

void cdns_pipeline__metrics_enabled_reset(void)
{
    /* As CoreDNS on reload (PluginEnabled.Reset()): only the new configuration's plugins. */
    cdns_metric_clear(enabled_family());
}

void cdns_pipeline__metrics_enabled(const cdns_pmetrics_t *pm)
{
    cdns_metric_t *m = enabled_family();
    for (size_t i = 0; i < pm->nnames; i++) {
        /* As CoreDNS: only plugins in the query chain; bind, health, ready and reload are not. */
        static const char *const skip[] = {"bind", "health", "ready", "reload"};
        bool handler = true;
        for (size_t k = 0; k < CDNS_ARRAY_LEN(skip); k++)
            handler &= strcmp(pm->names[i], skip[k]) != 0;
        if (!handler)
            continue;
        const char *v[] = {pm->server, pm->zone, "", pm->names[i]};
        cdns_series_set(cdns_metric_series(m, v), 1);
    }
}
