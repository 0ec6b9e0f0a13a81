/* SPDX-License-Identifier: MIT */
/* log — one line per query in CoreDNS's Common Log Format, or a custom format.
 *
 * Runs in on_response (after the answer exists), on the worker thread, formatting into a stack
 * buffer and queuing it on the worker's log ring (ring.h): the worker never waits on stderr.
 * Per-name and per-class filters are decided before formatting, so filtered queries cost a
 * compare.
 */
#include "log.h"

#include "ring.h"

#include <stdio.h>
#include <string.h>

#define LINE_MAX_LEN 1024

static const char *rflags(uint16_t flags, char *buf)
{
    static const struct {
        uint16_t bit;
        const char *name;
    } bits[] = {{CDNS_F_QR, "qr"}, {CDNS_F_AA, "aa"}, {CDNS_F_TC, "tc"}, {CDNS_F_RD, "rd"},
                {CDNS_F_RA, "ra"}, {CDNS_F_AD, "ad"}, {CDNS_F_CD, "cd"}};
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bits); i++)
        if (flags & bits[i].bit)
            off += (size_t)sprintf(buf + off, "%s%s", off ? "," : "", bits[i].name);
    return buf;
}

static unsigned classify(uint16_t rcode)
{
    switch (rcode) {
    case CDNS_RCODE_NOERROR:
        return CDNS_LOG_CLASS_SUCCESS;
    case CDNS_RCODE_NXDOMAIN:
        return CDNS_LOG_CLASS_DENIAL;
    default:
        return CDNS_LOG_CLASS_ERROR;
    }
}

/* Appends the value of placeholder `key` (without braces). */
static size_t put(char *out, size_t cap, const char *key, size_t klen, const cdns_req_t *req)
{
    char tmp[CDNS_DNAME_MAX * 4 + 8], ip[64];
    const cdns_query_t *q = &req->q;
    const char *v = tmp;
    tmp[0] = '\0';
#define IS(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
    if (IS("type"))
        v = cdns_rrtype_name(q->qtype, tmp);
    else if (IS("class"))
        v = q->qclass == CDNS_C_IN ? "IN" : q->qclass == CDNS_C_CH ? "CH" : (sprintf(tmp, "CLASS%u", q->qclass), tmp);
    else if (IS("name"))
        cdns_dname_to_str(q->qname, tmp, sizeof(tmp));
    else if (IS("proto"))
        v = req->tcp ? "tcp" : "udp";
    else if (IS("remote") || IS("local")) {
        cdns_req_t view = *req;
        if (IS("local"))
            memcpy(&view.client, &req->local, sizeof(view.client));
        if (cdns_req_client_ip(&view, ip, sizeof(ip)) != CDNS_OK)
            strcpy(ip, "-");
        if (strchr(ip, ':') != NULL)
            snprintf(tmp, sizeof(tmp), "[%s]", ip);
        else
            v = ip;
    } else if (IS("port"))
        sprintf(tmp, "%u", cdns_req_client_port(req));
    else if (IS("size"))
        sprintf(tmp, "%zu", req->wire_len);
    else if (IS("rsize"))
        sprintf(tmp, "%zu", req->msg.len + (req->msg.edns ? 11u : 0u)); /* the OPT is added on finish */
    else if (IS("rcode"))
        v = cdns_rcode_name(req->msg.rcode);
    else if (IS(">rflags"))
        v = rflags((uint16_t)(req->msg.flags | CDNS_F_QR | (req->msg.truncated ? CDNS_F_TC : 0)), tmp);
    else if (IS(">bufsize"))
        sprintf(tmp, "%u", (unsigned)(q->has_edns && q->edns_udp_size > 512 ? q->edns_udp_size : 512));
    else if (IS(">do"))
        v = (q->has_edns && (q->edns_flags & CDNS_EDNS_DO)) ? "true" : "false";
    else if (IS(">id"))
        sprintf(tmp, "%u", q->id);
    else if (IS(">opcode"))
        sprintf(tmp, "%u", q->opcode);
    else if (IS("duration")) {
        uint64_t ns = cdns_clock_mono_ns() - req->start_ns;
        sprintf(tmp, "%llu.%09llus", (unsigned long long)(ns / 1000000000u), (unsigned long long)(ns % 1000000000u));
    } else
        v = "-";
#undef IS
    size_t n = strlen(v);
    if (n > cap)
        n = cap;
    memcpy(out, v, n);
    return n;
}

size_t cdns_log__format(const char *fmt, const cdns_req_t *req, char *out, size_t cap)
{
    size_t off = 0;
    while (*fmt && off + 1 < cap) {
        const char *close = *fmt == '{' ? strchr(fmt, '}') : NULL;
        if (close != NULL) {
            off += put(out + off, cap - 1 - off, fmt + 1, (size_t)(close - fmt - 1), req);
            fmt = close + 1;
        } else {
            out[off++] = *fmt++;
        }
    }
    out[off] = '\0';
    return off;
}

static int log_worker_init(void *inst, cdns_worker_t *w, void **ws)
{
    (void)inst;
    *ws = cdns_logring_attach(w->id);
    return CDNS_OK;
}

static void log_response(cdns_req_t *req, void *inst, void *ws)
{
    const cdns_log_conf_t *c = inst;
    if (req->out == NULL || req->msg.buf == NULL)
        return;
    for (size_t i = 0; i < c->nrules; i++) {
        const cdns_log_rule_t *r = &c->rules[i];
        if (!cdns_dname_is_sub(req->q.qname_lower, r->name))
            continue;
        if (!(r->classes & classify(req->msg.rcode)))
            return;
        char line[LINE_MAX_LEN];
        size_t n = cdns_log__format(r->format, req, line, sizeof(line));
        cdns_logring_put(ws, CDNS_LOG_INFO, NULL, 0, line, n);
        return;
    }
}

const cdns_plugin_api_t cdns_plugin_log = {
    .name = "log",
    .setup = cdns_log__setup,
    .teardown = cdns_log__teardown,
    .worker_init = log_worker_init,
    .on_response = log_response,
};
