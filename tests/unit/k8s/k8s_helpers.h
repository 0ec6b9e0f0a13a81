/* SPDX-License-Identifier: MIT */
/* k8s_helpers.h — fixtures for the k8s unit tests: loading the JSON fixtures and a query →
 * cdns_k8s_answer → ldns round trip that compares sections as sets of presentation-format
 * records (order-free, like CoreDNS's test.SortAndCheck). Header-only: each test is a runner. */
#ifndef CDNS_TEST_K8S_HELPERS_H
#define CDNS_TEST_K8S_HELPERS_H

#include <check.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdns/k8s.h"

#define K8S_DATA_DIR "tests/unit/k8s/data/"

static inline char *k8s_read_file(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), K8S_DATA_DIR "%s", name);
    char *text = NULL;
    ck_assert_msg(cdns_file_read(path, &text, len) == CDNS_OK, "cannot read %s (run from the repository root)", path);
    return text;
}

static inline cdns_k8s_index_t *k8s_load(const char *name)
{
    size_t len;
    char *text = k8s_read_file(name, &len);
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    ck_assert_ptr_nonnull(idx);
    cdns_k8s_load_stats_t st;
    ck_assert_int_eq(cdns_k8s_index_load_json(idx, text, len, &st), CDNS_OK);
    ck_assert_int_eq(st.malformed, 0);
    free(text);
    return idx;
}

/* Options as CoreDNS's handler tests set them: zone cluster.local., TTL 5, a fixed serial. */
static inline cdns_k8s_opts_t k8s_test_opts(void)
{
    static const char *const zones[] = {"cluster.local."};
    cdns_k8s_opts_t o = {0};
    o.zones = zones;
    o.nzones = 1;
    o.ttl_s = CDNS_K8S_DEFAULT_TTL;
    o.serial = 1499347823;
    return o;
}

static inline cdns_snapshot_t *k8s_build(const cdns_k8s_index_t *idx, const cdns_k8s_opts_t *o)
{
    cdns_snapshot_t *s = NULL;
    ck_assert_int_eq(cdns_k8s_build(idx, o, &s), CDNS_OK);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* One expected answer. Sections are NULL-terminated lists of records in presentation format. */
typedef struct k8s_case {
    const char *qname;
    uint16_t qtype;
    int rcode;
    const char *answer[8];
    const char *ns[4];
    const char *extra[8];
} k8s_case_t;

static inline int k8s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical text of a record: ldns's rendering, owner lowercased (we keep the query's case). */
static inline char *k8s_rr_text(const ldns_rr *rr)
{
    char *s = ldns_rr2str(rr);
    for (char *p = s; *p && *p != '\t'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static inline void k8s_check_section(const char *what, const char *qname, const ldns_rr_list *got,
                                     const char *const *want)
{
    size_t nwant = 0;
    while (want[nwant])
        nwant++;
    size_t ngot = got ? ldns_rr_list_rr_count(got) : 0;
    char **g = calloc(ngot + 1, sizeof(char *)), **w = calloc(nwant + 1, sizeof(char *));
    for (size_t i = 0; i < ngot; i++)
        g[i] = k8s_rr_text(ldns_rr_list_rr(got, i));
    for (size_t i = 0; i < nwant; i++) {
        ldns_rr *rr = NULL;
        ck_assert_msg(ldns_rr_new_frm_str(&rr, want[i], 0, NULL, NULL) == LDNS_STATUS_OK, "bad expected rr %s",
                      want[i]);
        w[i] = k8s_rr_text(rr);
        ldns_rr_free(rr);
    }
    qsort(g, ngot, sizeof(char *), k8s_cmp_str);
    qsort(w, nwant, sizeof(char *), k8s_cmp_str);
    char gs[4096] = "", ws[4096] = "";
    for (size_t i = 0; i < ngot; i++) {
        strncat(gs, g[i], sizeof(gs) - strlen(gs) - 2);
        strncat(gs, "\n", sizeof(gs) - strlen(gs) - 1);
    }
    for (size_t i = 0; i < nwant; i++) {
        strncat(ws, w[i], sizeof(ws) - strlen(ws) - 2);
        strncat(ws, "\n", sizeof(ws) - strlen(ws) - 1);
    }
    ck_assert_msg(strcmp(gs, ws) == 0, "%s %s section:\n got:\n%s want:\n%s", qname, what, gs, ws);
    for (size_t i = 0; i < ngot; i++)
        free(g[i]);
    for (size_t i = 0; i < nwant; i++)
        free(w[i]);
    free(g);
    free(w);
}

/* Runs one query through cdns_k8s_answer into out; returns the answer's length. */
static inline size_t k8s_answer_raw(const cdns_snapshot_t *s, const cdns_k8s_opts_t *o, const char *qname,
                                    uint16_t qtype, uint8_t *out, size_t cap, cdns_k8s_result_t *result)
{
    uint8_t qbuf[512] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t len;
    ck_assert_int_eq(cdns_dname_from_str(qname, NULL, qbuf + 12, &len), CDNS_OK);
    size_t qlen = 12 + len;
    qbuf[qlen++] = (uint8_t)(qtype >> 8);
    qbuf[qlen++] = (uint8_t)qtype;
    qbuf[qlen++] = 0;
    qbuf[qlen++] = 1;
    cdns_query_t q;
    ck_assert_int_eq(cdns_query_parse(qbuf, qlen, &q), CDNS_QUERY_OK);
    cdns_msg_t m;
    cdns_msg_begin(&m, out, cap, &q, true);
    *result = cdns_k8s_answer(s, o, &q, &m);
    return cdns_msg_finish(&m);
}

/* Runs one query through cdns_k8s_answer; returns the result and fills pkt (caller frees). */
static inline cdns_k8s_result_t k8s_query(const cdns_snapshot_t *s, const cdns_k8s_opts_t *o, const char *qname,
                                          uint16_t qtype, ldns_pkt **pkt)
{
    static uint8_t out[65535];
    cdns_k8s_result_t r;
    size_t olen = k8s_answer_raw(s, o, qname, qtype, out, sizeof(out), &r);
    ck_assert_int_eq(ldns_wire2pkt(pkt, out, olen), LDNS_STATUS_OK);
    return r;
}

static inline void k8s_check(const cdns_snapshot_t *s, const cdns_k8s_opts_t *o, const k8s_case_t *c)
{
    ldns_pkt *p = NULL;
    cdns_k8s_result_t r = k8s_query(s, o, c->qname, c->qtype, &p);
    ck_assert_msg(r != CDNS_K8S_NOTAUTH, "%s: not authoritative", c->qname);
    ck_assert_msg((int)ldns_pkt_get_rcode(p) == c->rcode, "%s type %u: rcode %d, want %d", c->qname, c->qtype,
                  (int)ldns_pkt_get_rcode(p), c->rcode);
    ck_assert_msg(ldns_pkt_aa(p), "%s: AA not set", c->qname);
    ck_assert_int_eq(r == CDNS_K8S_NXDOMAIN, c->rcode == 3);
    k8s_check_section("answer", c->qname, ldns_pkt_answer(p), c->answer);
    k8s_check_section("authority", c->qname, ldns_pkt_authority(p), c->ns);
    k8s_check_section("additional", c->qname, ldns_pkt_additional(p), c->extra);
    ldns_pkt_free(p);
}

static inline void k8s_check_all(const cdns_snapshot_t *s, const cdns_k8s_opts_t *o, const k8s_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        k8s_check(s, o, &cases[i]);
}

#endif
