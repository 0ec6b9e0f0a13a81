/* SPDX-License-Identifier: MIT */
/* file — serves zones from RFC 1035 master files (CoreDNS's file plugin).
 *
 * The main thread parses the file with ldns (after expanding $INCLUDE itself: ldns 1.8 does not
 * implement it), turns every record into store rdata and commits one snapshot holding each
 * origin; a uv timer re-reads the file every `reload` interval and publishes a new snapshot
 * only when an SOA serial changed, keeping the old one when the file no longer parses. Workers
 * answer with cdns_store_answer_opts() from the snapshot they dereference: no lock, no
 * allocation. ldns never runs on the hot path.
 */
#include "file.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "plugins/file/ldns_api.h"

#define INCLUDE_DEPTH_MAX 8
#define DEFAULT_TTL_S 3600 /* miekg/dns's default when the file has no $TTL */

/* ------------------------------------------------------------ $INCLUDE expansion */
/* Where each line of the expanded text came from, to report errors against the real file. */
typedef struct src_line {
    const char *file; /* points into exp_t.files */
    int line;
} src_line_t;

typedef struct exp {
    char *text;
    size_t len, cap;
    src_line_t *map;
    size_t nlines, mapcap;
    char *files[INCLUDE_DEPTH_MAX + 32];
    size_t nfiles;
} exp_t;

static int emit(exp_t *e, const char *s, size_t n, const char *file, int line)
{
    if (e->len + n + 2 > e->cap) {
        size_t nc = (e->len + n + 2) * 2;
        char *t = realloc(e->text, nc);
        if (!t)
            return CDNS_ENOMEM;
        e->text = t;
        e->cap = nc;
    }
    if (e->nlines == e->mapcap) {
        size_t nc = e->mapcap ? e->mapcap * 2 : 256;
        src_line_t *m = realloc(e->map, nc * sizeof(*m));
        if (!m)
            return CDNS_ENOMEM;
        e->map = m;
        e->mapcap = nc;
    }
    /* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): text was grown above (cap >= len + n + 2). */
    memcpy(e->text + e->len, s, n);
    e->len += n;
    e->text[e->len++] = '\n';
    e->text[e->len] = '\0';
    e->map[e->nlines].file = file;
    e->map[e->nlines].line = line;
    e->nlines++;
    return CDNS_OK;
}

/* The first whitespace-separated token after the directive at p (skipping n octets). */
static size_t token(const char *p, size_t n, const char *end, const char **tok)
{
    p += n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    *tok = p;
    const char *q = p;
    while (q < end && *q != ' ' && *q != '\t' && *q != ';' && *q != '\r')
        q++;
    return (size_t)(q - p);
}

/* origin := tok made absolute against the current origin (RFC 1035 §5.1). */
static void resolve_origin(const char *tok, size_t n, const char *cur, char *out, size_t cap)
{
    if (n > 0 && tok[n - 1] == '.')
        snprintf(out, cap, "%.*s", (int)n, tok);
    else if (strcmp(cur, ".") == 0)
        snprintf(out, cap, "%.*s.", (int)n, tok);
    else
        snprintf(out, cap, "%.*s.%s", (int)n, tok, cur);
}

static bool directive(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(end - p) > n && strncasecmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\t');
}

/* ldns 1.8 reads a CAA value only as a quoted string, miekg/dns (and so CoreDNS) also bare:
 * "caa IN CAA 0 issue letsencrypt.org". Writes the line with such a value quoted into out and
 * returns true; false when the line is not a CAA record with a bare value. */
static bool quote_caa(const char *p, const char *end, char *out, size_t cap)
{
    const char *tok[16];
    size_t len[16], n = 0;
    for (const char *q = p; q < end && n < 16;) {
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= end || *q == ';')
            break;
        tok[n] = q;
        while (q < end && *q != ' ' && *q != '\t')
            q++;
        len[n] = (size_t)(q - tok[n]);
        n++;
    }
    for (size_t i = 0; i + 3 < n; i++) {
        /* The type, not an owner called "caa": the flags octet follows it. */
        if (len[i] != 3 || strncasecmp(tok[i], "CAA", 3) != 0 || strspn(tok[i + 1], "0123456789") != len[i + 1])
            continue;
        if (tok[i + 3][0] == '"' || tok[i + 3][0] == '(')
            return false;
        const char *vend = tok[i + 3] + len[i + 3];
        /* The value runs to the end of the line or a comment. */
        for (size_t j = i + 4; j < n && tok[j][0] != ';'; j++)
            vend = tok[j] + len[j];
        int w = snprintf(out, cap, "%.*s\"%.*s\"%.*s", (int)(tok[i + 3] - p), p, (int)(vend - tok[i + 3]), tok[i + 3],
                         (int)(end - vend), vend);
        return w > 0 && (size_t)w < cap && memchr(tok[i + 3], '"', (size_t)(vend - tok[i + 3])) == NULL;
    }
    return false;
}

/* Appends path's lines to e with every $INCLUDE replaced by the included file's lines between
 * "$ORIGIN" lines that give it its origin and restore ours afterwards. */
static int expand(exp_t *e, const char *path, const char *origin, int depth, char *err, size_t errlen)
{
    char *text = NULL, *dircopy = NULL;
    size_t len = 0;
    int rc = cdns_file_read(path, &text, &len);
    if (rc != CDNS_OK) {
        snprintf(err, errlen, "%s: %s", path, cdns_strerror(rc));
        return rc;
    }
    if (e->nfiles == CDNS_ARRAY_LEN(e->files) || !(e->files[e->nfiles] = strdup(path))) {
        free(text);
        snprintf(err, errlen, "%s: too many included files", path);
        return CDNS_ENOMEM;
    }
    const char *fname = e->files[e->nfiles++];
    char cur[CDNS_DNAME_MAX * 4 + 2];
    snprintf(cur, sizeof(cur), "%s", origin);
    int lineno = 0;
    for (const char *p = text, *end = text + len; p < end && rc == CDNS_OK;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        lineno++;
        const char *tok;
        size_t tn;
        if (directive(p, eol, "$ORIGIN")) {
            tn = token(p, 7, eol, &tok);
            char next[sizeof(cur)];
            resolve_origin(tok, tn, cur, next, sizeof(next));
            snprintf(cur, sizeof(cur), "%s", next);
            rc = emit(e, p, (size_t)(eol - p), fname, lineno);
        } else if (directive(p, eol, "$INCLUDE")) {
            tn = token(p, 8, eol, &tok);
            char inc[4096], incorigin[sizeof(cur)], line[sizeof(cur) + 16];
            if (tn == 0 || depth >= INCLUDE_DEPTH_MAX) {
                snprintf(err, errlen, "%s:%d: %s", fname, lineno,
                         tn == 0 ? "$INCLUDE needs a file name" : "$INCLUDE nested too deeply");
                rc = CDNS_EINVAL;
                break;
            }
            /* As miekg/dns: a relative name is relative to the including file's directory. */
            if (tok[0] == '/') {
                snprintf(inc, sizeof(inc), "%.*s", (int)tn, tok);
            } else {
                free(dircopy);
                if (!(dircopy = strdup(path))) {
                    rc = CDNS_ENOMEM;
                    break;
                }
                snprintf(inc, sizeof(inc), "%s/%.*s", dirname(dircopy), (int)tn, tok);
            }
            const char *otok;
            size_t on = token(tok, tn, eol, &otok);
            if (on > 0)
                resolve_origin(otok, on, cur, incorigin, sizeof(incorigin));
            else
                snprintf(incorigin, sizeof(incorigin), "%s", cur);
            snprintf(line, sizeof(line), "$ORIGIN %s", incorigin);
            if ((rc = emit(e, line, strlen(line), fname, lineno)) != CDNS_OK)
                break;
            if ((rc = expand(e, inc, incorigin, depth + 1, err, errlen)) != CDNS_OK) {
                if (rc != CDNS_EINVAL && rc != CDNS_ENOMEM) /* name the line that included it */
                    snprintf(err, errlen, "%s:%d: $INCLUDE %s: %s", fname, lineno, inc, cdns_strerror(rc));
                rc = CDNS_EINVAL;
                break;
            }
            snprintf(line, sizeof(line), "$ORIGIN %s", cur);
            rc = emit(e, line, strlen(line), fname, lineno);
        } else {
            char caa[1024];
            if (quote_caa(p, eol, caa, sizeof(caa)))
                rc = emit(e, caa, strlen(caa), fname, lineno);
            else
                rc = emit(e, p, (size_t)(eol - p), fname, lineno);
        }
        p = nl ? nl + 1 : end;
    }
    free(dircopy);
    free(text);
    return rc;
}

static void exp_free(exp_t *e)
{
    free(e->text);
    free(e->map);
    for (size_t i = 0; i < e->nfiles; i++)
        free(e->files[i]);
}

/* ------------------------------------------------------------------ loading */
/* Types whose rdata names are targets the store resolves: it wants them lowercase. */
static bool lower_names(uint16_t type)
{
    switch (type) {
    case CDNS_T_NS:
    case CDNS_T_CNAME:
    case CDNS_T_SOA:
    case CDNS_T_PTR:
    case CDNS_T_MX:
    case CDNS_T_SRV:
        return true;
    default:
        return false;
    }
}

/* The uncompressed wire rdata of rr into out; returns its length or a negative error. */
static int rr_rdata(const ldns_rr *rr, uint8_t *out, size_t cap)
{
    size_t off = 0;
    bool lower = lower_names(ldns_rr_get_type(rr));
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        size_t n = ldns_rdf_size(rdf);
        if (off + n > cap)
            return CDNS_ERANGE;
        memcpy(out + off, ldns_rdf_data(rdf), n);
        if (lower && ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME)
            cdns_dname_lower(out + off);
        off += n;
    }
    return (int)off;
}

/* Adds one record to b (owners outside the zone are skipped: never answered from it). */
static int add_rr(cdns_builder_t *b, const ldns_rr *rr, const uint8_t *apex)
{
    uint8_t owner[CDNS_DNAME_MAX], rdata[65535];
    const ldns_rdf *o = ldns_rr_owner(rr);
    if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || ldns_rdf_size(o) > CDNS_DNAME_MAX)
        return CDNS_OK;
    memcpy(owner, ldns_rdf_data(o), ldns_rdf_size(o));
    cdns_dname_lower(owner);
    if (!cdns_dname_is_sub(owner, apex))
        return CDNS_OK;
    int rdlen = rr_rdata(rr, rdata, sizeof(rdata));
    if (rdlen < 0)
        return rdlen;
    return cdns_builder_add(b, owner, ldns_rr_get_type(rr), ldns_rr_ttl(rr), rdata, (uint16_t)rdlen);
}

/* Adds one origin's records from the expanded text to b. Record by record rather than with
 * ldns_zone_new_frm_fp_l(), which leaks what it read when a later line fails to parse. */
static int load_origin(cdns_builder_t *b, const exp_t *e, const char *origin, const uint8_t *apex, uint32_t *serial,
                       char *err, size_t errlen)
{
    int rc = CDNS_EINVAL;
    ldns_rdf *orig = ldns_dname_new_frm_str(origin);
    ldns_rdf *cur = orig ? ldns_rdf_clone(orig) : NULL, *prev = NULL;
    ldns_rr_list *rrs = ldns_rr_list_new();
    ldns_rr *soa = NULL;
    FILE *fp = fmemopen(e->text, e->len ? e->len : 1, "r");
    if (!orig || !cur || !rrs || !fp) {
        snprintf(err, errlen, "out of memory");
        rc = CDNS_ENOMEM;
        goto out;
    }
    uint32_t ttl = DEFAULT_TTL_S;
    int line = 0;
    while (!feof(fp)) {
        ldns_rr *rr = NULL;
        ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &cur, &prev, &line);
        if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL || st == LDNS_STATUS_SYNTAX_ORIGIN)
            continue;
        if (st != LDNS_STATUS_OK) {
            size_t i = line > 0 ? (size_t)line - 1 : 0;
            if (i >= e->nlines)
                i = e->nlines ? e->nlines - 1 : 0;
            /* NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): files[0] is set before any line is parsed. */
            snprintf(err, errlen, "%s:%d: %s", e->nlines ? e->map[i].file : e->files[0], e->nlines ? e->map[i].line : 0,
                     ldns_get_errorstr_by_id(st));
            goto out;
        }
        if (!soa && ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
            soa = rr;
        } else if (!ldns_rr_list_push_rr(rrs, rr)) {
            ldns_rr_free(rr);
            rc = CDNS_ENOMEM;
            goto out;
        }
    }
    if (!soa || ldns_dname_compare(ldns_rr_owner(soa), orig) != 0) {
        snprintf(err, errlen, "%s: has no SOA record for origin %s", e->files[0], origin);
        goto out;
    }
    *serial = ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
    if ((rc = add_rr(b, soa, apex)) != CDNS_OK)
        goto added;
    for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++)
        if ((rc = add_rr(b, ldns_rr_list_rr(rrs, i), apex)) != CDNS_OK)
            goto added;
    rc = CDNS_OK;
added:
    if (rc != CDNS_OK)
        snprintf(err, errlen, "%s: origin %s: %s", e->files[0], origin, cdns_strerror(rc));
out:
    if (fp)
        fclose(fp);
    ldns_rr_free(soa);
    ldns_rr_list_deep_free(rrs);
    ldns_rdf_deep_free(orig);
    ldns_rdf_deep_free(cur);
    ldns_rdf_deep_free(prev);
    return rc;
}

/* Index of origins sorted by depth: the builder wants a zone declared before names under it,
 * and a parent origin's records must not land in a child's zone before the child exists. */
static size_t depth_order(const cdns_file_t *f, size_t *order)
{
    for (size_t i = 0; i < f->nzones; i++)
        order[i] = i;
    for (size_t i = 1; i < f->nzones; i++)
        for (size_t j = i;
             j > 0 && cdns_dname_labels(f->zone_wire[order[j]]) < cdns_dname_labels(f->zone_wire[order[j - 1]]); j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    return f->nzones;
}

int cdns_file__load(const cdns_file_t *f, cdns_snapshot_t **out, uint32_t *serials, char *err, size_t errlen)
{
    int rc = cdns_file__ldns_load(err, errlen);
    if (rc != CDNS_OK)
        return rc;
    rc = CDNS_ENOMEM;
    cdns_builder_t *b = cdns_builder_new();
    size_t *order = calloc(f->nzones, sizeof(size_t));
    exp_t *exps = calloc(f->nzones, sizeof(exp_t));
    if (!b || !order || !exps) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    depth_order(f, order);
    /* Every zone is declared first, so each record lands in the deepest origin holding it. */
    for (size_t k = 0; k < f->nzones; k++) {
        if ((rc = cdns_builder_zone(b, f->zone_wire[order[k]])) != CDNS_OK) {
            snprintf(err, errlen, "origin %s: %s", f->zones[order[k]], cdns_strerror(rc));
            goto fail;
        }
    }
    for (size_t k = 0; k < f->nzones; k++) {
        size_t i = order[k];
        if ((rc = expand(&exps[i], f->path, f->zones[i], 0, err, errlen)) != CDNS_OK)
            goto fail;
        if ((rc = load_origin(b, &exps[i], f->zones[i], f->zone_wire[i], &serials[i], err, errlen)) != CDNS_OK)
            goto fail;
    }
    rc = cdns_builder_commit(b, out);
    b = NULL;
    if (rc != CDNS_OK)
        snprintf(err, errlen, "%s: %s", f->path, cdns_strerror(rc));
fail:
    cdns_builder_free(b);
    for (size_t i = 0; exps && i < f->nzones; i++)
        exp_free(&exps[i]);
    free(exps);
    free(order);
    return rc;
}

/* ------------------------------------------------------------------- reload */
static void publish(cdns_file_t *f, cdns_snapshot_t *snap)
{
    cdns_snapshot_t *old = cdns_rcu_swap((void **)&f->snap, snap);
    if (old) {
        cdns_rcu_synchronize();
        cdns_snapshot_free(old);
    }
}

static void on_tick(uv_timer_t *t)
{
    cdns_file_t *f = t->data;
    char err[512];
    cdns_snapshot_t *snap = NULL;
    uint32_t *serials = calloc(f->nzones, sizeof(uint32_t));
    if (!serials)
        return;
    if (cdns_file__load(f, &snap, serials, err, sizeof(err)) != CDNS_OK) {
        /* As CoreDNS: the zone keeps serving what it had. */
        cdns_error("plugin/file: Parsing zone \"%s\": %s", f->zones[0], err);
        free(serials);
        return;
    }
    bool loaded = cdns_rcu_deref((void *const *)&f->snap) != NULL;
    if (loaded && memcmp(serials, f->serials, f->nzones * sizeof(uint32_t)) == 0) {
        cdns_snapshot_free(snap); /* no change in SOA serial */
        free(serials);
        return;
    }
    publish(f, snap);
    memcpy(f->serials, serials, f->nzones * sizeof(uint32_t));
    free(serials);
    for (size_t i = 0; i < f->nzones; i++)
        cdns_info("plugin/file: Successfully reloaded zone \"%s\" in \"%s\" with %u SOA serial", f->zones[i], f->path,
                  f->serials[i]);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static int file_start(void *inst, uv_loop_t *loop)
{
    cdns_file_t *f = inst;
    if (f->reload_ms == 0)
        return CDNS_OK;
    if (!(f->timer = malloc(sizeof(*f->timer))))
        return CDNS_ENOMEM;
    uv_timer_init(loop, f->timer);
    f->timer->data = f;
    uv_timer_start(f->timer, on_tick, f->reload_ms, f->reload_ms);
    return CDNS_OK;
}

static void file_stop(void *inst)
{
    cdns_file_t *f = inst;
    if (!f->timer)
        return;
    uv_timer_stop(f->timer);
    /* The handle outlives the instance until the loop runs its close callback. */
    uv_close((uv_handle_t *)f->timer, free_handle);
    f->timer = NULL;
}

/* ------------------------------------------------------------------ answers */
static cdns_verdict_t file_serve(cdns_req_t *req, void *inst, void *ws)
{
    (void)ws;
    const cdns_file_t *f = inst;
    const cdns_query_t *q = &req->q;
    if (!q->has_question ||
        !cdns_dname_under_any(q->qname_lower, q->qname_len, (const uint8_t(*)[CDNS_DNAME_MAX])f->zone_wire, f->nzones))
        return CDNS_NEXT;
    cdns_msg_t *m = &req->msg;
    const cdns_snapshot_t *s = cdns_rcu_deref((void *const *)&f->snap);
    if (!s) {
        cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL); /* the file could not be read yet */
        return CDNS_DONE;
    }
    if (q->qtype == CDNS_T_AXFR || q->qtype == CDNS_T_IXFR) {
        cdns_msg_set_rcode(m, CDNS_RCODE_REFUSED); /* no transfer plugin in this build */
        return CDNS_DONE;
    }
    cdns_msg_mark_t mark = cdns_msg_mark(m);
    uint16_t flags = m->flags, rcode = m->rcode;
    bool tc = m->truncated;
    cdns_answer_info_t info;
    cdns_store_answer_opts(s, q, m, &info, CDNS_STORE_AUTH_NS);
    if (info.kind == CDNS_ANSWER_NOTAUTH)
        return CDNS_NEXT;
    /* CoreDNS falls through on NXDOMAIN and on empty non-terminals (which it answers NOERROR
     * with no data), never on NODATA of a name that holds records. */
    bool ent = false;
    if (info.kind == CDNS_ANSWER_NODATA) {
        const cdns_node_t *n = cdns_snapshot_find(s, q->qname_lower, q->qname_len);
        ent = n && n->nrrsets == 0;
    }
    if (f->fall && (info.kind == CDNS_ANSWER_NXDOMAIN || ent) &&
        (f->nfall == 0 || cdns_dname_under_any(q->qname_lower, q->qname_len,
                                               (const uint8_t(*)[CDNS_DNAME_MAX])f->fall_wire, f->nfall))) {
        cdns_msg_rollback(m, mark);
        m->flags = flags;
        m->rcode = rcode;
        m->truncated = tc;
        return CDNS_NEXT;
    }
    /* A CNAME leaving the zone: CoreDNS asks its upstream and, when that fails, answers
     * SERVFAIL with the CNAME (RFC 6604 §3). This build has no upstream lookup here. */
    if (info.cname_target)
        cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL);
    return CDNS_DONE;
}

const cdns_plugin_api_t cdns_plugin_file = {
    .name = "file",
    .setup = cdns_file__setup,
    .teardown = cdns_file__teardown,
    .start = file_start,
    .stop = file_stop,
    .serve = file_serve,
};
