/* SPDX-License-Identifier: MIT */
/* loadbalance — randomizes the order of A and AAAA records in the answer (CoreDNS's
 * loadbalance round_robin).
 *
 * It works on the finished wire answer in on_response. Only the rdata of adjacent records that
 * share type and owner bytes is permuted: address rdata holds no names, so no compression
 * pointer elsewhere in the message can refer into it, and the message length never changes.
 * The random state is per worker; nothing is allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "cdns/plugin.h"

typedef struct lb_state {
    uint64_t rng;
} lb_state_t;

static uint64_t next_rand(lb_state_t *s)
{
    /* xorshift64*: plenty for shuffling, and cheap. */
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Skips a (possibly compressed) owner name; returns the offset after it, or 0 if malformed. */
static size_t skip_name(const uint8_t *p, size_t len, size_t off)
{
    while (off < len) {
        uint8_t l = p[off];
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : 0;
        if (l & 0xc0)
            return 0;
        off += (size_t)l + 1;
        if (l == 0)
            return off <= len ? off : 0;
    }
    return 0;
}

typedef struct rr_span {
    size_t owner; /* offset of the owner */
    size_t rdata; /* offset of the rdata */
    uint16_t type;
    uint16_t rdlen;
} rr_span_t;

static void shuffle(uint8_t *buf, const rr_span_t *run, size_t n, lb_state_t *s)
{
    uint8_t tmp[16];
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand(s) % (i + 1));
        if (i == j)
            continue;
        size_t w = run[i].rdlen;
        memcpy(tmp, buf + run[i].rdata, w);
        memcpy(buf + run[i].rdata, buf + run[j].rdata, w);
        memcpy(buf + run[j].rdata, tmp, w);
    }
}

static bool same_owner(const uint8_t *buf, const rr_span_t *a, const rr_span_t *b)
{
    size_t la = a->rdata - 10 - a->owner, lb = b->rdata - 10 - b->owner;
    return la == lb && memcmp(buf + a->owner, buf + b->owner, la) == 0;
}

static void lb_response(cdns_req_t *req, void *inst, void *ws)
{
    (void)inst;
    lb_state_t *s = ws;
    cdns_msg_t *m = &req->msg;
    if (s == NULL || m->count[CDNS_SEC_ANSWER] < 2)
        return;
    uint8_t *buf = m->buf;
    size_t len = m->len, off = CDNS_DNS_HDR_LEN + req->q.question_len;
    rr_span_t run[64], head = {0}; /* head: the first record of the current run */
    size_t nrun = 0;
    for (unsigned i = 0; i <= m->count[CDNS_SEC_ANSWER]; i++) {
        rr_span_t cur = {0};
        bool have = false;
        if (i < m->count[CDNS_SEC_ANSWER]) {
            size_t o = skip_name(buf, len, off);
            if (o == 0 || o + 10 > len)
                return;
            cur.owner = off;
            cur.type = (uint16_t)(buf[o] << 8 | buf[o + 1]);
            cur.rdlen = (uint16_t)(buf[o + 8] << 8 | buf[o + 9]);
            cur.rdata = o + 10;
            if (cur.rdata + cur.rdlen > len)
                return;
            off = cur.rdata + cur.rdlen;
            have = (cur.type == CDNS_T_A && cur.rdlen == 4) || (cur.type == CDNS_T_AAAA && cur.rdlen == 16);
        }
        bool extends =
            have && nrun > 0 && nrun < CDNS_ARRAY_LEN(run) && head.type == cur.type && same_owner(buf, &head, &cur);
        if (extends) {
            run[nrun++] = cur;
            continue;
        }
        if (nrun > 1)
            shuffle(buf, run, nrun, s);
        nrun = 0;
        if (have) {
            head = cur;
            run[nrun++] = cur;
        }
    }
}

static int lb_setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag)
{
    (void)ctx;
    if (d->nargs > 1 || (d->nargs == 1 && strcmp(d->args[0].text, "round_robin") != 0)) {
        if (d->nargs >= 1 && strcmp(d->args[0].text, "weighted") == 0)
            return cdns_diag_set(diag, d->file, d->line,
                                 "plugin/loadbalance: policy 'weighted' is not supported by this build");
        return cdns_diag_set(diag, d->file, d->line, "plugin/loadbalance: unknown policy '%s'", d->args[0].text);
    }
    if (d->has_block)
        return cdns_diag_set(diag, d->file, d->line, "plugin/loadbalance: takes no block");
    *inst = NULL;
    return CDNS_OK;
}

static int lb_worker_init(void *inst, cdns_worker_t *w, void **ws)
{
    (void)inst;
    lb_state_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return CDNS_ENOMEM;
    s->rng = (cdns_clock_mono_ns() ^ ((uint64_t)(w->id + 1) * 0x9E3779B97F4A7C15ULL)) | 1u;
    *ws = s;
    return CDNS_OK;
}

static void lb_worker_deinit(void *inst, void *ws)
{
    (void)inst;
    free(ws);
}

const cdns_plugin_api_t cdns_plugin_loadbalance = {
    .name = "loadbalance",
    .setup = lb_setup,
    .worker_init = lb_worker_init,
    .worker_deinit = lb_worker_deinit,
    .on_response = lb_response,
    .flags = CDNS_PLUGIN_ONCE,
};
