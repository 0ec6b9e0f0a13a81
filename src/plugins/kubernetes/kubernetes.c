/* SPDX-License-Identifier: MIT */
/* kubernetes — serves cluster names (CoreDNS's kubernetes plugin) from a cluster snapshot.
 *
 * Two sources, one publish path. With "objects PATH" the main thread loads a Kubernetes List
 * file and a uv_fs_poll reloads it on change, keeping the last good snapshot. Otherwise the
 * main loop runs the API client of src/k8s: one reflector (LIST then WATCH) per resource and
 * namespace feeding one index; changes arm a debounce timer, and the timer builds a snapshot
 * with cdns_k8s_build() and publishes it with cdns_rcu_swap() + cdns_rcu_synchronize(), so a
 * burst of events costs one build. Until every initial LIST is in (or startup_timeout passes)
 * nothing is published; until then names the snapshot lacks answer SERVFAIL, never NXDOMAIN.
 * Workers answer with cdns_k8s_answer() from the snapshot they dereference: no lock, no
 * allocation. All the DNS logic lives in src/k8s/records.c; this file is only the wiring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cdns/metrics.h"
#include "kubernetes.h"

#define SA_DIR_ENV "CLUSTERDNS_SERVICEACCOUNT_DIR"

#define POLL_INTERVAL_MS 1000

/* A load or build frees far more than it keeps (the file text, cJSON trees, the builder's
 * scratch, the previous snapshot and index), mostly in small chunks below the mmap threshold,
 * and glibc keeps freed heap mapped for reuse: RSS would stay at the peak of the last load.
 * Trimming after each one hands it back; it runs once per load or debounced build, never on
 * the query path. */
static void give_back_heap(void)
{
    malloc_trim(0);
}

/* Non-loopback interface addresses (CoreDNS's boundIPs without a bind directive). */
static int interface_ips(cdns_kube_t *k)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0)
        return CDNS_OK; /* no addresses: NS answers are empty, as in CoreDNS */
    size_t n = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        n++;
    int rc = CDNS_ENOMEM;
    k->local_ips = calloc(n ? n : 1, sizeof(char *));
    if (!k->local_ips)
        goto out;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        char buf[INET6_ADDRSTRLEN];
        if (i->ifa_addr->sa_family == AF_INET) {
            const struct in_addr *a = &((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
            if ((ntohl(a->s_addr) >> 24) == 127 || !inet_ntop(AF_INET, a, buf, sizeof(buf)))
                continue;
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const struct in6_addr *a = &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
            if (IN6_IS_ADDR_LOOPBACK(a) || !inet_ntop(AF_INET6, a, buf, sizeof(buf)))
                continue;
        } else {
            continue;
        }
        if (!(k->local_ips[k->nlocal_ips] = strdup(buf)))
            goto out;
        k->nlocal_ips++;
    }
    rc = CDNS_OK;
out:
    freeifaddrs(ifa);
    k->opts.local_ips = (const char *const *)k->local_ips;
    k->opts.nlocal_ips = k->nlocal_ips;
    return rc;
}

/* Reads, decodes and builds; on success publishes the new snapshot (and keeps the new index
 * when autopath may need it). */
static int reload(cdns_kube_t *k, char *why, size_t whylen)
{
    cdns_k8s_index_t *idx = NULL;
    cdns_snapshot_t *snap = NULL;
    int rc;
    int fd = open(k->objects, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        snprintf(why, whylen, "cannot read %s: %s", k->objects, cdns_strerror(rc));
        goto fail;
    }
    if (!(idx = cdns_k8s_index_new())) {
        rc = CDNS_ENOMEM;
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    cdns_k8s_load_stats_t st;
    uint64_t t0 = cdns_clock_mono_ns();
    /* The file is read a window at a time, and pods are kept only when a record needs them
     * (pods verified): most of a cluster's objects are pods. */
    cdns_k8s_load_opts_t lo = {.skip = k->opts.pods == CDNS_K8S_PODS_VERIFIED ? 0 : 1u << CDNS_K8S_POD};
    rc = cdns_k8s_index_load_fd(idx, fd, &lo, &st);
    close(fd);
    fd = -1;
    if (rc != CDNS_OK) {
        if (rc == CDNS_EMALFORMED)
            snprintf(why, whylen, "%s is not a Kubernetes object or List in JSON: %s", k->objects, cdns_strerror(rc));
        else
            snprintf(why, whylen, "cannot read %s: %s", k->objects, cdns_strerror(rc));
        goto fail;
    }
    /* The next change of the file is loaded whole, so the objects are needed after the build
     * only by autopath, which reads the pods (and needs pods verified); otherwise the index
     * goes as soon as the build has its records, before the snapshot is laid out. */
    bool keep = k->opts.pods == CDNS_K8S_PODS_VERIFIED;
    rc = keep ? cdns_k8s_build(idx, &k->opts, &snap) : cdns_k8s_build_consume(idx, &k->opts, &snap);
    if (!keep)
        idx = NULL;
    if (rc != CDNS_OK) {
        snprintf(why, whylen, "building records from %s: %s", k->objects, cdns_strerror(rc));
        goto fail;
    }
    uint64_t ms = (cdns_clock_mono_ns() - t0) / 1000000u;
    if (st.malformed)
        cdns_warn("plugin/kubernetes: %s: skipped %zu malformed objects", k->objects, st.malformed);
    cdns_info("plugin/kubernetes: loaded %zu objects from %s (%zu records) in %llu ms", st.objects, k->objects,
              cdns_snapshot_records(snap), (unsigned long long)ms);
    cdns_snapshot_t *old = cdns_rcu_swap((void **)&k->snap, snap);
    if (old) {
        cdns_rcu_synchronize();
        cdns_snapshot_free(old);
    }
    cdns_k8s_index_free(k->idx);
    k->idx = idx;
    __atomic_store_n(&k->synced, true, __ATOMIC_RELEASE); /* a loaded file is the whole cluster */
    give_back_heap();
    return CDNS_OK;
fail:
    if (fd >= 0)
        close(fd);
    cdns_k8s_index_free(idx);
    give_back_heap(); /* a failed load of a big file leaves as much garbage as a good one */
    return rc;
}

static void on_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    (void)prev;
    (void)curr;
    cdns_kube_t *k = h->data;
    char why[512];
    if (status < 0) {
        cdns_warn("plugin/kubernetes: %s: %s; keeping the last good snapshot", k->objects, uv_strerror(status));
        return;
    }
    if (reload(k, why, sizeof(why)) != CDNS_OK)
        cdns_warn("plugin/kubernetes: %s; keeping the last good snapshot", why);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* ---------------------------------------------------------------- API mode */
static bool load_synced(const cdns_kube_t *k)
{
    return __atomic_load_n(&k->synced, __ATOMIC_ACQUIRE);
}

static bool all_listed(const cdns_kube_t *k)
{
    for (size_t i = 0; i < k->nwatches; i++)
        if (!cdns_k8s_watch_synced(k->watches[i]))
            return false;
    return true;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Event-to-publish latency, as CoreDNS's dns_programming_duration_seconds: from the endpoints
 * controller's last-change-trigger-time when the object carries it (cluster_ip,
 * headless_with_selector), else from when the event arrived (headless_without_selector for
 * hand-made endpoints of headless services; cluster_ip otherwise). */
static void observe_samples(cdns_kube_t *k)
{
    uint64_t wall = wall_ns(), mono = cdns_clock_mono_ns();
    for (size_t i = 0; k->m_prog && i < k->nsamples; i++) {
        const cdns_kube_sample_t *sm = &k->samples[i];
        const cdns_k8s_service_t *svc = cdns_k8s_index_service(k->idx, sm->ns, sm->service);
        if (!svc)
            continue;
        bool headless = svc->ncluster_ips > 0 && strcmp(svc->cluster_ips[0], "None") == 0;
        const char *kind = !headless ? "cluster_ip" : sm->wall ? "headless_with_selector" : "headless_without_selector";
        uint64_t now = sm->wall ? wall : mono;
        if (now < sm->t_ns)
            continue; /* clock skew between the control plane and this node */
        const char *lv[] = {kind};
        cdns_series_t *ser = cdns_metric_series(k->m_prog, lv);
        if (ser)
            cdns_series_observe(ser, 0, (double)(now - sm->t_ns) / 1e9);
    }
    k->nsamples = 0;
}

/* The old snapshot is reclaimed on a libuv threadpool thread: cdns_rcu_synchronize() waits for
 * every worker to pass a quiescent point, and the watches on the main loop must not wait with
 * it (a worker busy with a slow request would delay every API event behind it). */
typedef struct reclaim {
    uv_work_t req;
    cdns_snapshot_t *old;
    bool trim; /* after a full build: the heap holds a whole build's scratch */
} reclaim_t;

static void reclaim_work(uv_work_t *r)
{
    reclaim_t *x = r->data;
    cdns_rcu_synchronize();
    cdns_snapshot_free(x->old);
    /* The build's scratch and the old snapshot. An update frees little, and malloc_trim walks
     * the whole heap holding the arena lock the main thread allocates from: not after those. */
    if (x->trim)
        give_back_heap();
}

static void reclaim_done(uv_work_t *r, int status)
{
    (void)status;
    free(r->data);
}

static void reclaim(cdns_kube_t *k, cdns_snapshot_t *old, bool trim)
{
    reclaim_t *x = old ? malloc(sizeof(*x)) : NULL;
    if (x) {
        x->old = old;
        x->trim = trim;
        x->req.data = x;
        if (uv_queue_work(k->loop, &x->req, reclaim_work, reclaim_done) == 0)
            return;
        free(x);
    }
    if (old) {
        cdns_rcu_synchronize();
        cdns_snapshot_free(old);
    }
    give_back_heap(); /* first publish (nothing to reclaim) or no threadpool: trim here */
}

static void publish(cdns_kube_t *k)
{
    cdns_snapshot_t *snap = NULL;
    uint64_t t0 = cdns_clock_mono_ns();
    bool full = true;
    int rc = cdns_k8s_build_next(k->state, k->idx, &k->opts, k->snap, &snap, &full);
    if (rc != CDNS_OK) {
        /* The previous snapshot keeps serving; the next change tries again. */
        cdns_error("plugin/kubernetes: building records: %s; keeping the previous snapshot", cdns_strerror(rc));
        return;
    }
    uint64_t t1 = cdns_clock_mono_ns();
    if (k->m_build) {
        const char *lv[] = {full ? "full" : "update"};
        cdns_series_t *ser = cdns_metric_series(k->m_build, lv);
        if (ser)
            cdns_series_observe(ser, 0, (double)(t1 - t0) / 1e9);
    }
    reclaim(k, cdns_rcu_swap((void **)&k->snap, snap), full);
    k->dirty = false;
    observe_samples(k);
    cdns_debug("plugin/kubernetes: published %zu records (%zu services), %s in %.1f ms", cdns_snapshot_records(snap),
               cdns_k8s_index_count(k->idx, CDNS_K8S_SERVICE), full ? "full build" : "update", (double)(t1 - t0) / 1e6);
    if (!load_synced(k) && all_listed(k)) {
        __atomic_store_n(&k->synced, true, __ATOMIC_RELEASE);
        cdns_info("plugin/kubernetes: synced with %s in %llu ms: %zu services, %zu endpoint objects, %zu pods, %zu "
                  "namespaces",
                  cdns_k8s_client_server(k->client), (unsigned long long)((t1 - k->start_ns) / 1000000u),
                  cdns_k8s_index_count(k->idx, CDNS_K8S_SERVICE),
                  cdns_k8s_index_count(k->idx, CDNS_K8S_ENDPOINTSLICE) +
                      cdns_k8s_index_count(k->idx, CDNS_K8S_ENDPOINTS),
                  cdns_k8s_index_count(k->idx, CDNS_K8S_POD), cdns_k8s_index_count(k->idx, CDNS_K8S_NAMESPACE));
    }
}

static void on_debounce(uv_timer_t *t)
{
    cdns_kube_t *k = t->data;
    if (k->dirty)
        publish(k);
}

static void on_changed(void *arg, cdns_k8s_watch_t *w, const cdns_k8s_event_t *ev)
{
    (void)w;
    cdns_kube_t *k = arg;
    k->dirty = true;
    /* What the next build must redo: the object's group, or everything after a (re)list. */
    cdns_k8s_state_touch_event(k->state, ev);
    if (ev && (ev->kind == CDNS_K8S_ENDPOINTSLICE || ev->kind == CDNS_K8S_ENDPOINTS) && ev->service[0] &&
        k->nsamples < CDNS_KUBE_MAX_SAMPLES) {
        cdns_kube_sample_t *sm = &k->samples[k->nsamples++];
        sm->wall = ev->trigger_ns != 0;
        sm->t_ns = sm->wall ? ev->trigger_ns : cdns_clock_mono_ns();
        snprintf(sm->ns, sizeof(sm->ns), "%s", ev->ns);
        snprintf(sm->service, sizeof(sm->service), "%s", ev->service);
    }
    /* The first event of a burst arms the timer; the rest ride along in the same build. */
    if (k->publishing && !uv_is_active((uv_handle_t *)k->debounce))
        uv_timer_start(k->debounce, on_debounce, k->debounce_ms, 0);
}

static void on_listed(void *arg, cdns_k8s_watch_t *w)
{
    (void)w;
    cdns_kube_t *k = arg;
    if (k->publishing || !all_listed(k))
        return;
    /* Every initial LIST is in: publish now rather than after the debounce, so ready flips
     * as early as it can. */
    k->publishing = true;
    uv_timer_stop(k->startup);
    uv_timer_stop(k->debounce);
    publish(k);
}

static void on_forbidden(void *arg, cdns_k8s_watch_t *w, bool forbidden)
{
    cdns_kube_t *k = arg;
    if (!k->m_forbidden)
        return;
    const char *lv[] = {cdns_k8s_watch_resource(w)};
    cdns_series_t *s = cdns_metric_series(k->m_forbidden, lv);
    if (s)
        cdns_series_set(s, forbidden ? 1 : 0);
}

static void on_startup_timeout(uv_timer_t *t)
{
    cdns_kube_t *k = t->data;
    if (k->publishing)
        return;
    char waiting[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < k->nwatches; i++) {
        if (cdns_k8s_watch_synced(k->watches[i]) || off >= sizeof(waiting))
            continue;
        int n = snprintf(waiting + off, sizeof(waiting) - off, "%s%s", off ? ", " : "",
                         cdns_k8s_watch_resource(k->watches[i]));
        off += n > 0 ? (size_t)n : 0;
    }
    /* CoreDNS's behaviour: start serving what there is; names not found stay SERVFAIL and
     * /ready stays false until the lists complete. */
    cdns_warn("plugin/kubernetes: starting server with unsynced Kubernetes API after %llu ms (still waiting for: %s)",
              (unsigned long long)k->startup_timeout_ms, waiting);
    k->publishing = true;
    publish(k);
}

static void register_metrics(cdns_kube_t *k)
{
    static const char *const kind_label[] = {"service_kind"};
    static const char *const res_label[] = {"resource"};
    double buckets[20];
    for (size_t i = 0; i < 20; i++)
        buckets[i] = 0.001 * (double)(1u << i); /* 1 ms .. ~9 min, CoreDNS's ExponentialBuckets(0.001, 2, 20) */
    k->m_prog = cdns_metric_register("coredns_kubernetes_dns_programming_duration_seconds",
                                     "Histogram of the time (in seconds) it took to program a dns instance.",
                                     CDNS_METRIC_HISTOGRAM, kind_label, 1, buckets, 20);
    k->m_forbidden = cdns_metric_register("clusterdns_kubernetes_api_forbidden",
                                          "1 while the API server answers 403 Forbidden to listing or watching the "
                                          "resource (a missing RBAC rule), else 0.",
                                          CDNS_METRIC_GAUGE, res_label, 1, NULL, 0);
    static const char *const build_label[] = {"kind"};
    k->m_build = cdns_metric_register("clusterdns_kubernetes_snapshot_build_seconds",
                                      "Time to build the next snapshot from the watched objects, by kind: full (first "
                                      "sync, relist) or update (only the names of what changed).",
                                      CDNS_METRIC_HISTOGRAM, build_label, 1, buckets, 20);
}

/* Where the API server is: kubeconfig, else endpoint (+ tls), else in-cluster (CoreDNS's order). */
static int api_conn(const cdns_kube_t *k, cdns_k8s_conn_t *conn, char *err, size_t errlen)
{
    memset(conn, 0, sizeof(*conn));
    if (k->kubeconfig)
        return cdns_k8s_kubeconfig_load(k->kubeconfig, k->kube_context, conn, err, errlen);
    if (!k->endpoint)
        return cdns_k8s_conn_incluster(getenv(SA_DIR_ENV), conn, err, errlen);
    if (!(conn->server = strdup(k->endpoint)))
        return CDNS_ENOMEM;
    size_t n = strlen(conn->server);
    while (n > 0 && conn->server[n - 1] == '/')
        conn->server[--n] = '\0';
    if (k->tls_cert && (!(conn->cert_file = strdup(k->tls_cert)) || !(conn->key_file = strdup(k->tls_key)) ||
                        !(conn->ca_file = strdup(k->tls_ca)))) {
        cdns_k8s_conn_deinit(conn);
        return CDNS_ENOMEM;
    }
    return CDNS_OK;
}

static int add_watch(cdns_kube_t *k, cdns_k8s_kind_t kind, const char *ns, const char *lsel, const char *fsel)
{
    cdns_k8s_watch_opts_t o = {
        .kind = kind,
        .ns = ns,
        .label_selector = lsel,
        .field_selector = fsel,
        .limit = k->page_size,
        .stall_ms = k->stall_ms,
        .backoff_min_ms = 250,
        .backoff_max_ms = 5000,
        .slice_fallback = true,
    };
    static const cdns_k8s_watch_cbs_t cbs = {on_changed, on_listed, on_forbidden};
    cdns_k8s_watch_t *w;
    int rc = cdns_k8s_watch_new(k->client, k->idx, &o, &cbs, k, &w);
    if (rc != CDNS_OK)
        return rc;
    k->watches[k->nwatches++] = w;
    on_forbidden(k, w, false); /* the gauge exists (0) from the start */
    return CDNS_OK;
}

/* Services and EndpointSlices (unless noendpoints) per exposed namespace; Pods when a mode
 * needs them; Namespaces always (CoreDNS does too: a namespace is exposed only while its
 * object exists), filtered by namespace_labels on the server. */
static int api_watches(cdns_kube_t *k)
{
    char lsel[1024] = "", nsel[1024] = "";
    if (k->has_labels && cdns_k8s_selector_format(&k->labels, lsel, sizeof(lsel)) != CDNS_OK)
        return CDNS_EINVAL;
    if (k->has_namespace_labels && cdns_k8s_selector_format(&k->namespace_labels, nsel, sizeof(nsel)) != CDNS_OK)
        return CDNS_EINVAL;
    bool pods = k->opts.pods == CDNS_K8S_PODS_VERIFIED || k->opts.endpoint_pod_names;
    size_t nscopes = k->nnamespaces ? k->nnamespaces : 1;
    k->watches = calloc(nscopes * 3 + 1, sizeof(*k->watches));
    if (!k->watches)
        return CDNS_ENOMEM;
    int rc = CDNS_OK;
    for (size_t i = 0; rc == CDNS_OK && i < nscopes; i++) {
        const char *ns = k->nnamespaces ? k->namespaces[i] : NULL;
        rc = add_watch(k, CDNS_K8S_SERVICE, ns, lsel[0] ? lsel : NULL, NULL);
        if (rc == CDNS_OK && !k->opts.noendpoints)
            rc = add_watch(k, CDNS_K8S_ENDPOINTSLICE, ns, lsel[0] ? lsel : NULL, NULL);
        if (rc == CDNS_OK && pods)
            rc = add_watch(k, CDNS_K8S_POD, ns, lsel[0] ? lsel : NULL,
                           "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown");
    }
    if (rc == CDNS_OK)
        rc = add_watch(k, CDNS_K8S_NAMESPACE, NULL, nsel[0] ? nsel : NULL, NULL);
    return rc;
}

static void api_stop(cdns_kube_t *k)
{
    for (size_t i = 0; i < k->nwatches; i++)
        cdns_k8s_watch_free(k->watches[i]);
    free(k->watches);
    k->watches = NULL;
    k->nwatches = 0;
    cdns_k8s_client_free(k->client);
    k->client = NULL;
    if (k->debounce) {
        uv_timer_stop(k->debounce);
        uv_close((uv_handle_t *)k->debounce, free_handle);
        k->debounce = NULL;
    }
    if (k->startup) {
        uv_timer_stop(k->startup);
        uv_close((uv_handle_t *)k->startup, free_handle);
        k->startup = NULL;
    }
}

static int api_start(cdns_kube_t *k, uv_loop_t *loop)
{
    char err[512];
    cdns_k8s_conn_t conn;
    int rc = api_conn(k, &conn, err, sizeof(err));
    if (rc != CDNS_OK) {
        cdns_error("plugin/kubernetes: %s", rc == CDNS_ENOMEM ? "out of memory" : err);
        return rc;
    }
    register_metrics(k);
    k->loop = loop;
    k->start_ns = cdns_clock_mono_ns();
    rc = CDNS_ENOMEM;
    if (!(k->idx = cdns_k8s_index_new()) || !(k->state = cdns_k8s_state_new()) ||
        !(k->debounce = calloc(1, sizeof(uv_timer_t))) || !(k->startup = calloc(1, sizeof(uv_timer_t))))
        goto fail;
    uv_timer_init(loop, k->debounce);
    uv_timer_init(loop, k->startup);
    k->debounce->data = k->startup->data = k;
    if ((rc = cdns_k8s_client_new(loop, &conn, &k->client, err, sizeof(err))) != CDNS_OK) {
        cdns_error("plugin/kubernetes: %s", err);
        goto fail;
    }
    if ((rc = api_watches(k)) != CDNS_OK)
        goto fail;
    cdns_info("plugin/kubernetes: watching %s (%zu resources)", conn.server, k->nwatches);
    cdns_k8s_conn_deinit(&conn);
    for (size_t i = 0; i < k->nwatches; i++)
        cdns_k8s_watch_start(k->watches[i]);
    uv_timer_start(k->startup, on_startup_timeout, k->startup_timeout_ms, 0);
    return CDNS_OK;
fail:
    cdns_k8s_conn_deinit(&conn);
    api_stop(k);
    return rc;
}

static int kube_start(void *inst, uv_loop_t *loop)
{
    cdns_kube_t *k = inst;
    char why[512];
    if (!k->bound && interface_ips(k) != CDNS_OK)
        return CDNS_ENOMEM;
    if (!k->objects)
        return api_start(k, loop);
    int rc = reload(k, why, sizeof(why));
    if (rc != CDNS_OK) {
        cdns_error("plugin/kubernetes: %s", why);
        return rc;
    }
    /* uv_fs_poll compares stat results (mtime, size, inode ...), so an editor's
     * write-and-rename and a ConfigMap's symlink swap are both seen. */
    k->poll = malloc(sizeof(*k->poll));
    if (!k->poll)
        return CDNS_ENOMEM;
    uv_fs_poll_init(loop, k->poll);
    k->poll->data = k;
    int e = uv_fs_poll_start(k->poll, on_poll, k->objects, POLL_INTERVAL_MS);
    if (e != 0) {
        cdns_warn("plugin/kubernetes: cannot watch %s: %s; changes will not be picked up", k->objects, uv_strerror(e));
        uv_close((uv_handle_t *)k->poll, free_handle);
        k->poll = NULL;
    }
    return CDNS_OK;
}

static void kube_stop(void *inst)
{
    cdns_kube_t *k = inst;
    api_stop(k);
    if (!k->poll)
        return;
    uv_fs_poll_stop(k->poll);
    /* The handle outlives the instance until the loop runs its close callback. */
    uv_close((uv_handle_t *)k->poll, free_handle);
    k->poll = NULL;
}

static cdns_verdict_t kube_serve(cdns_req_t *req, void *inst, void *ws)
{
    (void)ws;
    cdns_kube_t *k = inst;
    const cdns_query_t *q = &req->q;
    if (!q->has_question ||
        !cdns_dname_under_any(q->qname_lower, q->qname_len, (const uint8_t(*)[CDNS_DNAME_MAX])k->zone_wire, k->nzones))
        return CDNS_NEXT;
    cdns_msg_t *m = &req->msg;
    const cdns_snapshot_t *s = cdns_rcu_deref((void *const *)&k->snap);
    if (!s) {
        /* Not loaded yet: CoreDNS answers SERVFAIL before its caches have synced. */
        cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL);
        req->answered_by = "kubernetes";
        return CDNS_DONE;
    }
    cdns_msg_mark_t mark = cdns_msg_mark(m);
    uint16_t flags = m->flags, rcode = m->rcode;
    bool tc = m->truncated;
    cdns_k8s_result_t r = cdns_k8s_answer(s, &k->opts, q, m);
    if (r == CDNS_K8S_NOTAUTH)
        return CDNS_NEXT;
    if (r == CDNS_K8S_NXDOMAIN && k->fall &&
        (k->nfall == 0 || cdns_dname_under_any(q->qname_lower, q->qname_len,
                                               (const uint8_t(*)[CDNS_DNAME_MAX])k->fall_wire, k->nfall))) {
        cdns_msg_rollback(m, mark);
        m->flags = flags;
        m->rcode = rcode;
        m->truncated = tc;
        return CDNS_NEXT;
    }
    /* A name we may simply not have synced yet: SERVFAIL (with the SOA, as CoreDNS's
     * BackendError writes it), which resolvers do not cache as a negative answer. */
    if (r == CDNS_K8S_NXDOMAIN && !load_synced(k))
        cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL);
    req->answered_by = "kubernetes";
    /* An ExternalName's CNAME to a name outside the snapshot: its records come through the chain
     * (forward, cache), as CoreDNS's plugin/pkg/upstream does. May park the request (ASYNC). */
    if (r == CDNS_K8S_ANSWERED)
        return cdns_req_chase_cname(req);
    return CDNS_DONE;
}

/* What cdns_k8s_answer's first lookup, of the whole name, will read: fetched for the batch. */
static void kube_prefetch(cdns_req_t *const *reqs, unsigned n, void *inst)
{
    const cdns_kube_t *k = inst;
    const cdns_query_t *qs[CDNS_PREFETCH_MAX];
    if (n > CDNS_PREFETCH_MAX)
        n = CDNS_PREFETCH_MAX;
    for (unsigned i = 0; i < n; i++)
        qs[i] = &reqs[i]->q;
    cdns_snapshot_prefetch(cdns_rcu_deref((void *const *)&k->snap), qs, n);
}

static bool kube_ready(const void *inst)
{
    const cdns_kube_t *k = inst;
    if (!k->objects)
        return load_synced(k);
    return cdns_rcu_deref((void *const *)&k->snap) != NULL;
}

const cdns_plugin_api_t cdns_plugin_kubernetes = {
    .name = "kubernetes",
    .setup = cdns_kube__setup,
    .teardown = cdns_kube__teardown,
    .start = kube_start,
    .stop = kube_stop,
    .serve = kube_serve,
    .prefetch = kube_prefetch,
    .ready = kube_ready,
    /* An unchanged stanza keeps its instance across a Corefile reload: no relist. */
    .flags = CDNS_PLUGIN_ONCE | CDNS_PLUGIN_CARRY_OVER,
};

/* For autopath (main thread): the index is main-thread only, so pods are read here and autopath
 * publishes its own client-IP table to its workers. The snapshot pointer serves as the version:
 * it changes whenever a new index has been built into records. */
int cdns_kube_autopath(void *inst, const char *const **zones, size_t *nzones, cdns_k8s_visit_fn fn, void *arg,
                       const void **version)
{
    cdns_kube_t *k = inst;
    *zones = (const char *const *)k->zones;
    *nzones = k->nzones;
    *version = cdns_rcu_deref((void *const *)&k->snap);
    if (k->opts.pods != CDNS_K8S_PODS_VERIFIED)
        return CDNS_ENOENT;
    if (k->idx != NULL && fn != NULL)
        cdns_k8s_index_each(k->idx, CDNS_K8S_POD, fn, arg);
    return CDNS_OK;
}
