/* SPDX-License-Identifier: MIT */
/* watch.c — one reflector per watched resource: LIST into the index, then WATCH, forever.
 *
 * A LIST is paginated (limit/continue); each page is parsed, decoded into slim objects stamped
 * with the relist's generation and its JSON freed before the next page is asked for, so memory
 * holds one page of JSON at most. When the last page is in, objects of the resource that the
 * list did not contain are swept (mark and sweep: a relist never empties the index). Then a
 * WATCH from the list's resourceVersion with bookmarks: the chunked stream is split into lines,
 * each line parsed once and applied. A stream the server closes resumes from the last
 * resourceVersion; 410 Gone (status or ERROR event) relists; refused connections, 5xx, 429 and
 * stalls back off exponentially with jitter. Main thread only (the client's loop); the watch
 * writes to an index it does not own and reports through callbacks.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cdns/k8s.h"
#include "k8s/k8s_internal.h"

#define LINE_MAX_BYTES (16u << 20) /* one watch event; Kubernetes objects are at most ~1.5 MiB */
#define BODY_MAX_BYTES (512u << 20)
#define ERRBODY_MAX 2048
#define TRIGGER_ANNOTATION "endpoints.kubernetes.io/last-change-trigger-time"

/* ------------------------------------------------------------ line splitter */
void cdns_k8s_lines_init(cdns_k8s_lines_t *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max ? max : LINE_MAX_BYTES;
}

void cdns_k8s_lines_deinit(cdns_k8s_lines_t *l)
{
    free(l->buf);
    memset(l, 0, sizeof(*l));
}

void cdns_k8s_lines_reset(cdns_k8s_lines_t *l)
{
    l->len = 0;
    /* A huge event's buffer is not kept for the life of the watch. */
    if (l->cap > (1u << 20)) {
        free(l->buf);
        l->buf = NULL;
        l->cap = 0;
    }
}

static int lines_append(cdns_k8s_lines_t *l, const char *data, size_t n)
{
    if (l->len + n > l->max)
        return CDNS_ENOSPC;
    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < l->len + n + 1)
            cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b)
            return CDNS_ENOMEM;
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    l->buf[l->len] = '\0';
    return CDNS_OK;
}

int cdns_k8s_lines_feed(cdns_k8s_lines_t *l, const char *data, size_t len, bool (*fn)(void *arg, char *line, size_t n),
                        void *arg)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (!nl) {
            /* A partial line: keep it until the rest arrives in a later chunk. */
            int rc = lines_append(l, data, take);
            if (rc != CDNS_OK)
                l->len = 0;
            return rc;
        }
        /* Copied even when the whole line is in this chunk: the callback gets a writable,
         * NUL-terminated line, and a line split across chunks is handled the same way. */
        int rc = lines_append(l, data, take);
        if (rc != CDNS_OK) {
            l->len = 0;
            return rc;
        }
        char *line = l->buf;
        size_t n = l->len;
        while (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        l->len = 0;
        data += take + 1;
        len -= take + 1;
        if (n == 0)
            continue;
        if (!fn(arg, line, n))
            return CDNS_ECANCELED;
    }
    return CDNS_OK;
}

/* ----------------------------------------------------------------- events */
static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static void copy_trunc(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* RFC 3339 ("2024-05-01T10:00:00.123456Z", "...+02:00") → Unix ns; 0 when it does not parse. */
static uint64_t parse_rfc3339_ns(const char *s)
{
    struct tm tm = {0};
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &n) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + n;
    uint64_t frac = 0, scale = 1000000000u;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
            p++;
        }
    }
    long off = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return 0;
        off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != 'z') {
        return 0;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || t - off < 0)
        return 0;
    return (uint64_t)(t - off) * 1000000000u + frac;
}

static void event_ident(const cJSON *obj, cdns_k8s_event_t *ev)
{
    const cJSON *meta = jget(obj, "metadata");
    copy_trunc(ev->rv, sizeof(ev->rv), jstr(meta, "resourceVersion"));
    copy_trunc(ev->ns, sizeof(ev->ns), jstr(meta, "namespace"));
    copy_trunc(ev->name, sizeof(ev->name), jstr(meta, "name"));
    if (ev->kind == CDNS_K8S_ENDPOINTSLICE || ev->kind == CDNS_K8S_ENDPOINTS) {
        const char *svc = ev->kind == CDNS_K8S_ENDPOINTS ? jstr(meta, "name")
                                                         : jstr(jget(meta, "labels"), "kubernetes.io/service-name");
        copy_trunc(ev->service, sizeof(ev->service), svc);
        const char *tt = jstr(jget(meta, "annotations"), TRIGGER_ANNOTATION);
        ev->trigger_ns = tt ? parse_rfc3339_ns(tt) : 0;
    }
}

/* An endpoints object about to be replaced or deleted that belonged to another service than
 * the event names (relabelled, or a delete whose last state we missed): that service changes
 * too. */
static void note_old_service(const cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *ns, const char *name,
                             cdns_k8s_event_t *ev)
{
    const cdns_k8s_endpoints_t *prev = ns && name ? cdns_k8s_index_endpoints(idx, kind, ns, name) : NULL;
    if (prev && prev->service && strcmp(prev->service, ev->service) != 0)
        copy_trunc(ev->old_service, sizeof(ev->old_service), prev->service);
}

int cdns_k8s_event_apply(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *line, size_t len,
                         cdns_k8s_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    cJSON *root = cJSON_ParseWithLength(line, len);
    int rc = CDNS_EMALFORMED;
    const char *type = jstr(root, "type");
    const cJSON *obj = jget(root, "object");
    if (!type || !cJSON_IsObject(obj))
        goto out;
    if (strcmp(type, "ADDED") == 0)
        ev->type = CDNS_K8S_EV_ADDED;
    else if (strcmp(type, "MODIFIED") == 0)
        ev->type = CDNS_K8S_EV_MODIFIED;
    else if (strcmp(type, "DELETED") == 0)
        ev->type = CDNS_K8S_EV_DELETED;
    else if (strcmp(type, "BOOKMARK") == 0)
        ev->type = CDNS_K8S_EV_BOOKMARK;
    else if (strcmp(type, "ERROR") == 0)
        ev->type = CDNS_K8S_EV_ERROR;
    else
        goto out;
    if (ev->type == CDNS_K8S_EV_ERROR) {
        const cJSON *code = jget(obj, "code");
        ev->code = cJSON_IsNumber(code) ? (int)code->valuedouble : 0;
        copy_trunc(ev->name, sizeof(ev->name), jstr(obj, "reason"));
        rc = CDNS_OK;
        goto out;
    }
    event_ident(obj, ev);
    if (ev->type == CDNS_K8S_EV_BOOKMARK) {
        rc = CDNS_OK;
        goto out;
    }
    if (!ev->name[0] || (kind != CDNS_K8S_NAMESPACE && !ev->ns[0]))
        goto out;
    if (ev->type == CDNS_K8S_EV_DELETED) {
        /* The identity is all a delete needs; the full name (not the truncated copy) is read. */
        const cJSON *meta = jget(obj, "metadata");
        note_old_service(idx, kind, jstr(meta, "namespace"), jstr(meta, "name"), ev);
        ev->changed = cdns_k8s_index_delete(idx, kind, jstr(meta, "namespace"), jstr(meta, "name")) == CDNS_OK;
        rc = CDNS_OK;
        goto out;
    }
    cdns_k8s_object_t o;
    rc = cdns_k8s_decode(obj, kind, &o);
    if (rc != CDNS_OK)
        goto out;
    if (o.kind == CDNS_K8S_ENDPOINTSLICE || o.kind == CDNS_K8S_ENDPOINTS)
        note_old_service(idx, o.kind, o.u.eps->ns, o.u.eps->name, ev);
    if (o.kind != CDNS_K8S_NONE) {
        rc = cdns_k8s_index_upsert(idx, &o);
        ev->changed = rc == CDNS_OK;
    }
out:
    cJSON_Delete(root);
    return rc;
}

/* Typed lists ("ServiceList") name their items' kind only in the list's kind. */
static cdns_k8s_kind_t item_kind(const char *list_kind, cdns_k8s_kind_t dflt)
{
    char buf[64];
    size_t n = list_kind ? strlen(list_kind) : 0;
    if (n <= 4 || n - 4 >= sizeof(buf) || strcmp(list_kind + n - 4, "List") != 0)
        return dflt;
    memcpy(buf, list_kind, n - 4);
    buf[n - 4] = '\0';
    cdns_k8s_kind_t k = cdns_k8s_kind_from_name(buf);
    return k != CDNS_K8S_NONE ? k : dflt;
}

int cdns_k8s_list_apply(cdns_k8s_index_t *idx, cdns_k8s_kind_t kind, const char *body, size_t len, uint64_t gen,
                        char *rv, size_t rvlen, char **cont, cdns_k8s_load_stats_t *stats)
{
    cdns_k8s_load_stats_t st = {0};
    *cont = NULL;
    if (rvlen)
        rv[0] = '\0';
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *items = jget(root, "items");
    if (!cJSON_IsObject(root) || (items && !cJSON_IsArray(items) && !cJSON_IsNull(items))) {
        cJSON_Delete(root);
        return CDNS_EMALFORMED;
    }
    const cJSON *meta = jget(root, "metadata");
    copy_trunc(rv, rvlen, jstr(meta, "resourceVersion"));
    const char *c = jstr(meta, "continue");
    int rc = CDNS_OK;
    if (c && *c && !(*cont = strdup(c)))
        rc = CDNS_ENOMEM;
    cdns_k8s_kind_t hint = item_kind(jstr(root, "kind"), kind);
    const cJSON *it;
    const cJSON *arr = cJSON_IsArray(items) ? items : NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (rc != CDNS_OK)
            break;
        cdns_k8s_object_t o;
        int drc = cdns_k8s_decode(it, hint, &o);
        if (drc == CDNS_ENOMEM) {
            rc = drc;
            break;
        }
        if (drc != CDNS_OK) {
            st.malformed++;
            continue;
        }
        if (o.kind == CDNS_K8S_NONE) {
            st.ignored++;
            continue;
        }
        if ((rc = cdns_k8s_index_upsert_gen(idx, &o, gen)) == CDNS_OK)
            st.objects++;
    }
    cJSON_Delete(root);
    if (stats)
        *stats = st;
    if (rc != CDNS_OK) {
        free(*cont);
        *cont = NULL;
    }
    return rc;
}

/* --------------------------------------------------------------- selectors */
int cdns_k8s_selector_format(const cdns_k8s_selector_t *sel, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
#define OUT(...)                                                                                                       \
    do {                                                                                                               \
        int w_ = snprintf(buf + off, len - off, __VA_ARGS__);                                                          \
        if (w_ < 0 || (size_t)w_ >= len - off)                                                                         \
            return CDNS_ENOSPC;                                                                                        \
        off += (size_t)w_;                                                                                             \
    } while (0)
    for (size_t i = 0; sel && i < sel->n; i++) {
        const cdns_k8s_sel_req_t *r = &sel->reqs[i];
        if (i)
            OUT(",");
        switch (r->op) {
        case CDNS_K8S_SEL_EQ:
            OUT("%s=%s", r->key, r->nvalues ? r->values[0] : "");
            break;
        case CDNS_K8S_SEL_NE:
            OUT("%s!=%s", r->key, r->nvalues ? r->values[0] : "");
            break;
        case CDNS_K8S_SEL_IN:
        case CDNS_K8S_SEL_NOTIN:
            OUT("%s %s (", r->key, r->op == CDNS_K8S_SEL_IN ? "in" : "notin");
            for (size_t j = 0; j < r->nvalues; j++)
                OUT("%s%s", j ? "," : "", r->values[j]);
            OUT(")");
            break;
        case CDNS_K8S_SEL_EXISTS:
            OUT("%s", r->key);
            break;
        case CDNS_K8S_SEL_NOTEXISTS:
            OUT("!%s", r->key);
            break;
        }
    }
#undef OUT
    return CDNS_OK;
}

/* ------------------------------------------------------------------ watch */
typedef enum { W_IDLE = 0, W_LIST, W_WATCH, W_WAIT } wstate_t;

struct cdns_k8s_watch {
    cdns_k8s_client_t *client;
    cdns_k8s_index_t *idx;
    cdns_k8s_kind_t kind;
    char *ns, *lsel, *fsel; /* URL-escaped selectors, or NULL */
    cdns_k8s_watch_opts_t o;
    cdns_k8s_watch_cbs_t cbs;
    void *arg;
    char base[512];     /* the collection's path, without the query */
    const char *plural; /* "services" */
    const char *group;  /* "" or "discovery.k8s.io" */
    char resource[64];  /* "services", "endpointslices.discovery.k8s.io" */
    wstate_t state;
    cdns_k8s_http_t *req;
    uv_timer_t *stall_timer, *retry_timer;
    /* LIST */
    uint64_t gen;
    char *cont;
    char *body; /* the current page, or a failed response's body */
    size_t blen, bcap;
    size_t listed; /* objects in the (re)list so far */
    /* WATCH */
    cdns_k8s_lines_t lines;
    char rv[64];
    bool need_relist, need_retry, healthy;
    uint64_t watch_start_ms;
    /* errors */
    unsigned attempts;
    bool next_is_list;
    bool synced, forbidden;
    uint64_t malformed, last_malformed_log_ms;
};

static void begin_list(cdns_k8s_watch_t *w);
static void begin_watch(cdns_k8s_watch_t *w);

static void set_kind(cdns_k8s_watch_t *w, cdns_k8s_kind_t kind)
{
    const char *prefix = "/api/v1";
    w->group = "";
    switch (kind) {
    case CDNS_K8S_SERVICE:
        w->plural = "services";
        break;
    case CDNS_K8S_ENDPOINTSLICE:
        prefix = "/apis/discovery.k8s.io/v1";
        w->group = "discovery.k8s.io";
        w->plural = "endpointslices";
        break;
    case CDNS_K8S_ENDPOINTS:
        w->plural = "endpoints";
        break;
    case CDNS_K8S_POD:
        w->plural = "pods";
        break;
    case CDNS_K8S_NAMESPACE:
    case CDNS_K8S_NONE:
        w->plural = "namespaces";
        break;
    }
    w->kind = kind;
    if (w->ns && kind != CDNS_K8S_NAMESPACE)
        snprintf(w->base, sizeof(w->base), "%s/namespaces/%s/%s", prefix, w->ns, w->plural);
    else
        snprintf(w->base, sizeof(w->base), "%s/%s", prefix, w->plural);
    snprintf(w->resource, sizeof(w->resource), "%s%s%s", w->plural, w->group[0] ? "." : "", w->group);
}

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static char *url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(strlen(s) * 3 + 1), *p = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

static uint64_t now_ms(void)
{
    return cdns_clock_mono_ms();
}

static void arm_stall(cdns_k8s_watch_t *w);

static void free_timer(uv_handle_t *h)
{
    free(h);
}

/* The Status message of a failed response (for logs; it never carries credentials). */
static void status_message(const cdns_k8s_watch_t *w, char *out, size_t len)
{
    out[0] = '\0';
    if (!w->body || !w->blen)
        return;
    cJSON *root = cJSON_ParseWithLength(w->body, w->blen);
    const char *m = jstr(root, "message");
    if (m)
        snprintf(out, len, "%s", m);
    cJSON_Delete(root);
}

static void body_reset(cdns_k8s_watch_t *w)
{
    free(w->body);
    w->body = NULL;
    w->blen = w->bcap = 0;
}

static bool body_append(cdns_k8s_watch_t *w, const char *data, size_t n, size_t max)
{
    if (w->blen + n > max)
        return false;
    if (w->blen + n + 1 > w->bcap) {
        size_t cap = w->bcap ? w->bcap : 16384;
        while (cap < w->blen + n + 1)
            cap *= 2;
        char *b = realloc(w->body, cap);
        if (!b)
            return false;
        w->body = b;
        w->bcap = cap;
    }
    memcpy(w->body + w->blen, data, n);
    w->blen += n;
    w->body[w->blen] = '\0';
    return true;
}

static void on_retry(uv_timer_t *t)
{
    cdns_k8s_watch_t *w = t->data;
    if (w->next_is_list)
        begin_list(w);
    else
        begin_watch(w);
}

/* Exponential backoff with "equal jitter": half the step fixed, half random, so a fleet of
 * servers restarted together does not hammer a recovering API server in lockstep. The first
 * retry after a healthy period is immediate. */
static uint64_t backoff_ms(cdns_k8s_watch_t *w)
{
    if (w->attempts == 0)
        return 0;
    uint64_t step = w->o.backoff_min_ms;
    for (unsigned i = 1; i < w->attempts && step < w->o.backoff_max_ms; i++)
        step *= 2;
    if (step > w->o.backoff_max_ms)
        step = w->o.backoff_max_ms;
    return step / 2 + (uint64_t)rand() % (step / 2 + 1);
}

static void retry_later(cdns_k8s_watch_t *w, bool list, unsigned retry_after_s)
{
    w->state = W_WAIT;
    w->next_is_list = list;
    uint64_t d = backoff_ms(w);
    if (retry_after_s && d < retry_after_s * 1000ull)
        d = retry_after_s * 1000ull;
    w->attempts++;
    uv_timer_stop(w->stall_timer);
    uv_timer_start(w->retry_timer, on_retry, d, 0);
}

static void report_forbidden(cdns_k8s_watch_t *w, const char *verb)
{
    if (w->forbidden)
        return;
    w->forbidden = true;
    char msg[512];
    status_message(w, msg, sizeof(msg));
    cdns_error("plugin/kubernetes: 403 Forbidden: cannot %s %s%s%s (%s). The ClusterRole bound to this server's "
               "service account needs the rule {apiGroups: [\"%s\"], resources: [\"%s\"], verbs: [\"list\", "
               "\"watch\"]}%s",
               verb, w->resource, w->ns ? " in namespace " : " at the cluster scope", w->ns ? w->ns : "",
               msg[0] ? msg : "no message", w->group, w->plural,
               w->kind == CDNS_K8S_ENDPOINTSLICE
                   ? "; EndpointSlices replaced Endpoints, so RBAC written for older DNS servers lacks it"
                   : "");
    if (w->cbs.forbidden)
        w->cbs.forbidden(w->arg, w, true);
}

static void clear_forbidden(cdns_k8s_watch_t *w)
{
    if (!w->forbidden)
        return;
    w->forbidden = false;
    cdns_info("plugin/kubernetes: %s readable again", w->resource);
    if (w->cbs.forbidden)
        w->cbs.forbidden(w->arg, w, false);
}

/* A non-200 answer to a LIST or WATCH request. */
static void http_error(cdns_k8s_watch_t *w, bool list, long status, unsigned retry_after)
{
    char msg[512];
    if (status == 403) {
        report_forbidden(w, list ? "list" : "watch");
        retry_later(w, list, retry_after);
        return;
    }
    status_message(w, msg, sizeof(msg));
    if (status == 401)
        cdns_error("plugin/kubernetes: 401 Unauthorized from %s for %s: check the token or client certificate (%s)",
                   cdns_k8s_client_server(w->client), w->resource, msg);
    else
        cdns_warn("plugin/kubernetes: %s %s: HTTP %ld%s%s; retrying", list ? "list" : "watch", w->resource, status,
                  msg[0] ? ": " : "", msg);
    retry_later(w, list, retry_after);
}

/* ------------------------------------------------------------------- LIST */
static bool list_on_data(void *arg, long status, const char *data, size_t len)
{
    cdns_k8s_watch_t *w = arg;
    arm_stall(w);
    (void)status;
    if (!body_append(w, data, len, status == 200 ? BODY_MAX_BYTES : ERRBODY_MAX)) {
        if (status != 200)
            return true; /* an error body only feeds a log line */
        cdns_error("plugin/kubernetes: list %s: a page larger than %u bytes; lower the page size", w->resource,
                   BODY_MAX_BYTES);
        return false;
    }
    return true;
}

static void list_page(cdns_k8s_watch_t *w);

static void list_done(cdns_k8s_watch_t *w)
{
    size_t swept = cdns_k8s_index_sweep(w->idx, w->kind, w->ns, w->gen);
    bool first = !w->synced;
    w->synced = true;
    w->attempts = 0;
    clear_forbidden(w);
    if (first)
        cdns_info("plugin/kubernetes: listed %zu %s%s%s at resourceVersion %s", w->listed, w->resource,
                  w->ns ? " in " : "", w->ns ? w->ns : "", w->rv);
    else
        cdns_info("plugin/kubernetes: relisted %zu %s at resourceVersion %s (%zu gone)", w->listed, w->resource, w->rv,
                  swept);
    if (w->cbs.listed)
        w->cbs.listed(w->arg, w);
    if (w->cbs.changed)
        w->cbs.changed(w->arg, w, NULL);
    begin_watch(w);
}

static void list_on_done(void *arg, int result, long status, const char *why)
{
    cdns_k8s_watch_t *w = arg;
    unsigned retry_after = cdns_k8s_http_retry_after(w->req);
    w->req = NULL;
    uv_timer_stop(w->stall_timer);
    if (result != CDNS_OK) {
        cdns_warn("plugin/kubernetes: list %s from %s: %s; retrying", w->resource, cdns_k8s_client_server(w->client),
                  why);
        body_reset(w);
        retry_later(w, true, 0);
        return;
    }
    if (status == 404 && w->kind == CDNS_K8S_ENDPOINTSLICE && w->o.slice_fallback) {
        cdns_warn("plugin/kubernetes: the API server does not serve discovery.k8s.io/v1 EndpointSlices (404); "
                  "watching core/v1 Endpoints instead");
        body_reset(w);
        set_kind(w, CDNS_K8S_ENDPOINTS);
        begin_list(w);
        return;
    }
    if (status == 410) {
        /* The continue token outlived the server's history: start the list again. */
        cdns_info("plugin/kubernetes: list %s: continue token expired; listing again", w->resource);
        body_reset(w);
        begin_list(w);
        return;
    }
    if (status != 200) {
        http_error(w, true, status, retry_after);
        body_reset(w);
        return;
    }
    char *cont = NULL;
    char rv[64];
    cdns_k8s_load_stats_t st;
    int rc = cdns_k8s_list_apply(w->idx, w->kind, w->body, w->blen, w->gen, rv, sizeof(rv), &cont, &st);
    /* The page's JSON goes before the next page is asked for: memory holds one page at most. */
    body_reset(w);
    if (rc != CDNS_OK) {
        cdns_warn("plugin/kubernetes: list %s: %s; retrying", w->resource,
                  rc == CDNS_EMALFORMED ? "the answer is not a list in JSON" : cdns_strerror(rc));
        retry_later(w, true, 0);
        return;
    }
    if (st.malformed)
        cdns_warn("plugin/kubernetes: list %s: skipped %zu malformed objects", w->resource, st.malformed);
    w->listed += st.objects;
    free(w->cont);
    w->cont = cont;
    if (cont) {
        list_page(w);
        return;
    }
    copy_trunc(w->rv, sizeof(w->rv), rv);
    list_done(w);
}

static void start_request(cdns_k8s_watch_t *w, const char *path, const cdns_k8s_http_cbs_t *cbs, bool list)
{
    int rc = cdns_k8s_client_get(w->client, path, cbs, w, &w->req);
    if (rc != CDNS_OK) {
        cdns_warn("plugin/kubernetes: cannot start a request for %s: %s", w->resource, cdns_strerror(rc));
        retry_later(w, list, 0);
        return;
    }
    arm_stall(w);
}

/* "&labelSelector=...&fieldSelector=..." */
static void selectors(const cdns_k8s_watch_t *w, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", w->lsel ? "&labelSelector=" : "", w->lsel ? w->lsel : "",
             w->fsel ? "&fieldSelector=" : "", w->fsel ? w->fsel : "");
}

static void list_page(cdns_k8s_watch_t *w)
{
    static const cdns_k8s_http_cbs_t cbs = {list_on_data, list_on_done};
    char sel[1024];
    selectors(w, sel, sizeof(sel));
    char *cont = w->cont ? url_escape(w->cont) : NULL;
    size_t n = strlen(w->base) + strlen(sel) + (cont ? strlen(cont) : 0) + 64;
    char *path = malloc(n);
    if (!path || (w->cont && !cont)) {
        free(path);
        free(cont);
        retry_later(w, true, 0);
        return;
    }
    snprintf(path, n, "%s?limit=%u%s%s%s", w->base, w->o.limit, cont ? "&continue=" : "", cont ? cont : "", sel);
    w->state = W_LIST;
    body_reset(w);
    start_request(w, path, &cbs, true);
    free(path);
    free(cont);
}

static void begin_list(cdns_k8s_watch_t *w)
{
    /* A fresh generation: objects the new list does not restamp are swept when it completes. */
    w->gen = cdns_k8s_index_next_gen(w->idx);
    w->listed = 0;
    free(w->cont);
    w->cont = NULL;
    list_page(w);
}

/* ------------------------------------------------------------------ WATCH */
static bool on_line(void *arg, char *line, size_t n)
{
    cdns_k8s_watch_t *w = arg;
    cdns_k8s_event_t ev;
    int rc = cdns_k8s_event_apply(w->idx, w->kind, line, n, &ev);
    if (rc == CDNS_ENOMEM) {
        cdns_error("plugin/kubernetes: out of memory applying a %s event; relisting", w->resource);
        w->need_relist = true;
        return false;
    }
    if (rc != CDNS_OK) {
        w->malformed++;
        /* At most one line a second, so a server sending garbage cannot flood the log. */
        if (now_ms() - w->last_malformed_log_ms >= 1000) {
            w->last_malformed_log_ms = now_ms();
            cdns_warn("plugin/kubernetes: watch %s: skipping a malformed event (%zu bytes; %llu so far)", w->resource,
                      n, (unsigned long long)w->malformed);
        }
        return true;
    }
    if (ev.type == CDNS_K8S_EV_ERROR) {
        if (ev.code == 410) {
            cdns_info("plugin/kubernetes: watch %s: resourceVersion %s expired (410 %s); relisting", w->resource, w->rv,
                      ev.name[0] ? ev.name : "Gone");
            w->need_relist = true;
        } else {
            cdns_warn("plugin/kubernetes: watch %s: ERROR event %d %s; reconnecting", w->resource, ev.code, ev.name);
            w->need_retry = true;
        }
        return false;
    }
    if (ev.rv[0])
        copy_trunc(w->rv, sizeof(w->rv), ev.rv);
    w->healthy = true;
    w->attempts = 0;
    if (ev.changed && w->cbs.changed)
        w->cbs.changed(w->arg, w, &ev);
    return true;
}

static bool watch_on_data(void *arg, long status, const char *data, size_t len)
{
    cdns_k8s_watch_t *w = arg;
    arm_stall(w);
    if (status != 200) {
        body_append(w, data, len, ERRBODY_MAX);
        return true;
    }
    int rc = cdns_k8s_lines_feed(&w->lines, data, len, on_line, w);
    if (rc == CDNS_ENOSPC || rc == CDNS_ENOMEM) {
        cdns_error("plugin/kubernetes: watch %s: an event larger than %u bytes (or out of memory); relisting",
                   w->resource, LINE_MAX_BYTES);
        w->need_relist = true;
        return false;
    }
    return rc == CDNS_OK;
}

static void watch_on_done(void *arg, int result, long status, const char *why)
{
    cdns_k8s_watch_t *w = arg;
    unsigned retry_after = cdns_k8s_http_retry_after(w->req);
    w->req = NULL;
    uv_timer_stop(w->stall_timer);
    /* Up for a while: the next failure is retried at once, not after the previous backoff. */
    if (w->healthy || now_ms() - w->watch_start_ms >= 1000)
        w->attempts = 0;
    if (w->need_relist || status == 410) {
        body_reset(w);
        begin_list(w);
        return;
    }
    if (w->need_retry) {
        body_reset(w);
        retry_later(w, false, retry_after ? retry_after : 1);
        return;
    }
    if (status != 200 && status != 0) {
        http_error(w, false, status, retry_after);
        body_reset(w);
        return;
    }
    clear_forbidden(w);
    if (result == CDNS_OK) {
        /* The server ended the stream (timeoutSeconds): resume from the last resourceVersion. */
        cdns_debug("plugin/kubernetes: watch %s closed at resourceVersion %s; resuming", w->resource, w->rv);
        begin_watch(w);
        return;
    }
    cdns_warn("plugin/kubernetes: watch %s from %s broke: %s; resuming from resourceVersion %s", w->resource,
              cdns_k8s_client_server(w->client), why, w->rv);
    retry_later(w, false, 0);
}

static void begin_watch(cdns_k8s_watch_t *w)
{
    static const cdns_k8s_http_cbs_t cbs = {watch_on_data, watch_on_done};
    char sel[1024], path[2048];
    selectors(w, sel, sizeof(sel));
    unsigned timeout = w->o.timeout_s ? w->o.timeout_s : 300 + (unsigned)(rand() % 301);
    char *rv = url_escape(w->rv);
    if (!rv) {
        retry_later(w, false, 0);
        return;
    }
    int n = snprintf(path, sizeof(path), "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u%s",
                     w->base, rv, timeout, sel);
    free(rv);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        cdns_error("plugin/kubernetes: watch %s: request path too long", w->resource);
        retry_later(w, false, 0);
        return;
    }
    w->state = W_WATCH;
    w->need_relist = w->need_retry = w->healthy = false;
    w->watch_start_ms = now_ms();
    cdns_k8s_lines_reset(&w->lines);
    body_reset(w);
    start_request(w, path, &cbs, false);
}

/* ------------------------------------------------------------------ stall */
static void on_stall(uv_timer_t *t)
{
    cdns_k8s_watch_t *w = t->data;
    if (!w->req)
        return;
    bool list = w->state == W_LIST;
    cdns_warn("plugin/kubernetes: %s %s: no data from the API server for %llu ms; reconnecting",
              list ? "list" : "watch", w->resource, (unsigned long long)w->o.stall_ms);
    cdns_k8s_http_cancel(w->req);
    w->req = NULL;
    body_reset(w);
    /* A stalled LIST starts over (its pages are one consistent snapshot); a stalled WATCH
     * resumes from the last resourceVersion it saw. */
    retry_later(w, list, 0);
}

static void arm_stall(cdns_k8s_watch_t *w)
{
    uv_timer_start(w->stall_timer, on_stall, w->o.stall_ms, 0);
}

/* ------------------------------------------------------------- lifecycle */
static int dup_escaped(char **dst, const char *s)
{
    if (!s || !*s)
        return CDNS_OK;
    *dst = url_escape(s);
    return *dst ? CDNS_OK : CDNS_ENOMEM;
}

int cdns_k8s_watch_new(cdns_k8s_client_t *client, cdns_k8s_index_t *idx, const cdns_k8s_watch_opts_t *opts,
                       const cdns_k8s_watch_cbs_t *cbs, void *arg, cdns_k8s_watch_t **out)
{
    *out = NULL;
    cdns_k8s_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return CDNS_ENOMEM;
    w->client = client;
    w->idx = idx;
    w->o = *opts;
    w->o.ns = w->o.label_selector = w->o.field_selector = NULL;
    if (!w->o.limit)
        w->o.limit = 500;
    if (!w->o.stall_ms)
        w->o.stall_ms = 90000;
    if (!w->o.backoff_min_ms)
        w->o.backoff_min_ms = 250;
    if (!w->o.backoff_max_ms)
        w->o.backoff_max_ms = 10000;
    if (w->o.backoff_max_ms < w->o.backoff_min_ms)
        w->o.backoff_max_ms = w->o.backoff_min_ms;
    w->cbs = *cbs;
    w->arg = arg;
    int rc = CDNS_ENOMEM;
    if (opts->ns && !(w->ns = strdup(opts->ns)))
        goto fail;
    if (dup_escaped(&w->lsel, opts->label_selector) != CDNS_OK ||
        dup_escaped(&w->fsel, opts->field_selector) != CDNS_OK)
        goto fail;
    uv_loop_t *loop = cdns_k8s__client_loop(client);
    if (!(w->stall_timer = calloc(1, sizeof(uv_timer_t))) || !(w->retry_timer = calloc(1, sizeof(uv_timer_t))))
        goto fail;
    uv_timer_init(loop, w->stall_timer);
    uv_timer_init(loop, w->retry_timer);
    w->stall_timer->data = w->retry_timer->data = w;
    cdns_k8s_lines_init(&w->lines, LINE_MAX_BYTES);
    set_kind(w, opts->kind);
    *out = w;
    return CDNS_OK;
fail:
    free(w->ns);
    free(w->lsel);
    free(w->fsel);
    free(w->stall_timer);
    free(w->retry_timer);
    free(w);
    return rc;
}

void cdns_k8s_watch_start(cdns_k8s_watch_t *w)
{
    if (w->state == W_IDLE)
        begin_list(w);
}

void cdns_k8s_watch_free(cdns_k8s_watch_t *w)
{
    if (!w)
        return;
    cdns_k8s_http_cancel(w->req);
    uv_timer_stop(w->stall_timer);
    uv_timer_stop(w->retry_timer);
    uv_close((uv_handle_t *)w->stall_timer, free_timer);
    uv_close((uv_handle_t *)w->retry_timer, free_timer);
    cdns_k8s_lines_deinit(&w->lines);
    free(w->body);
    free(w->cont);
    free(w->ns);
    free(w->lsel);
    free(w->fsel);
    free(w);
}

bool cdns_k8s_watch_synced(const cdns_k8s_watch_t *w)
{
    return w->synced;
}

const char *cdns_k8s_watch_resource(const cdns_k8s_watch_t *w)
{
    return w->resource;
}

cdns_k8s_kind_t cdns_k8s_watch_kind(const cdns_k8s_watch_t *w)
{
    return w->kind;
}

const char *cdns_k8s_watch_rv(const cdns_k8s_watch_t *w)
{
    return w->rv;
}
