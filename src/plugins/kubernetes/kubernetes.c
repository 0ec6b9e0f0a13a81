/* SPDX-License-Identifier: MIT */
/* kubernetes — serves cluster names (CoreDNS's kubernetes plugin) from a cluster snapshot.
 *
 * The main thread loads the objects file (a Kubernetes List), builds a store snapshot with
 * cdns_k8s_build() and publishes it with cdns_rcu_swap(); a uv_fs_poll watches the file and
 * rebuilds on change, keeping the last good snapshot when the new file is unreadable. Workers
 * answer with cdns_k8s_answer() from the snapshot they dereference: no lock, no allocation.
 * All the DNS logic lives in src/k8s/records.c; this file is only the wiring.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "kubernetes.h"

#define POLL_INTERVAL_MS 1000

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

/* Reads, decodes and builds; on success publishes the new snapshot and keeps the new index. */
static int reload(cdns_kube_t *k, char *why, size_t whylen)
{
    char *text = NULL;
    size_t len = 0;
    cdns_k8s_index_t *idx = NULL;
    cdns_snapshot_t *snap = NULL;
    int rc = cdns_file_read(k->objects, &text, &len);
    if (rc != CDNS_OK) {
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
    rc = cdns_k8s_index_load_json(idx, text, len, &st);
    free(text);
    text = NULL;
    if (rc != CDNS_OK) {
        snprintf(why, whylen, "%s is not a Kubernetes object or List in JSON: %s", k->objects, cdns_strerror(rc));
        goto fail;
    }
    if ((rc = cdns_k8s_build(idx, &k->opts, &snap)) != CDNS_OK) {
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
    return CDNS_OK;
fail:
    free(text);
    cdns_k8s_index_free(idx);
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

static int kube_start(void *inst, uv_loop_t *loop)
{
    cdns_kube_t *k = inst;
    char why[512];
    if (!k->bound && interface_ips(k) != CDNS_OK)
        return CDNS_ENOMEM;
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
    if (!k->poll)
        return;
    uv_fs_poll_stop(k->poll);
    /* The handle outlives the instance until the loop runs its close callback. */
    uv_close((uv_handle_t *)k->poll, free_handle);
    k->poll = NULL;
}

static bool under_any(const uint8_t *name, const uint8_t (*zones)[CDNS_DNAME_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cdns_dname_is_sub(name, zones[i]))
            return true;
    return false;
}

static cdns_verdict_t kube_serve(cdns_req_t *req, void *inst, void *ws)
{
    (void)ws;
    cdns_kube_t *k = inst;
    const cdns_query_t *q = &req->q;
    if (!q->has_question || !under_any(q->qname_lower, (const uint8_t(*)[CDNS_DNAME_MAX])k->zone_wire, k->nzones))
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
        (k->nfall == 0 || under_any(q->qname_lower, (const uint8_t(*)[CDNS_DNAME_MAX])k->fall_wire, k->nfall))) {
        cdns_msg_rollback(m, mark);
        m->flags = flags;
        m->rcode = rcode;
        m->truncated = tc;
        return CDNS_NEXT;
    }
    req->answered_by = "kubernetes";
    return CDNS_DONE;
}

static bool kube_ready(const void *inst)
{
    const cdns_kube_t *k = inst;
    return cdns_rcu_deref((void *const *)&k->snap) != NULL;
}

const cdns_plugin_api_t cdns_plugin_kubernetes = {
    .name = "kubernetes",
    .setup = cdns_kube__setup,
    .teardown = cdns_kube__teardown,
    .start = kube_start,
    .stop = kube_stop,
    .serve = kube_serve,
    .ready = kube_ready,
    .flags = CDNS_PLUGIN_ONCE,
};
