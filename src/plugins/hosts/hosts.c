/* SPDX-License-Identifier: MIT */
/* hosts — answers A, AAAA and PTR from an /etc/hosts style file and inline entries (CoreDNS's
 * hosts plugin).
 *
 * The main thread parses the file and the inline lines into a store snapshot and, every
 * `reload` interval, re-reads the file when its mtime or size changed, publishing a new
 * snapshot with one pointer swap. Workers look names up in the snapshot they dereference: no
 * lock, no allocation. A name asked for without records gets SERVFAIL (a hosts file has no
 * SOA to deny with), or goes to the next plugin with fallthrough, as in CoreDNS.
 */
#include "hosts.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

/* ------------------------------------------------------------------ parsing */
/* One "ADDRESS NAME [NAME...]" line (comment already cut); malformed lines are skipped, as
 * CoreDNS does, so a hosts file never fails to load. */
static int add_line(cdns_builder_t *b, const cdns_hosts_t *h, char *line)
{
    char *save = NULL, *addr = strtok_r(line, " \t\r", &save);
    if (!addr)
        return CDNS_OK;
    char *pct = strchr(addr, '%'); /* an IPv6 zone index is not part of the address */
    if (pct)
        *pct = '\0';
    uint8_t ip[16];
    uint16_t type = CDNS_T_A;
    uint16_t iplen = 4;
    if (inet_pton(AF_INET, addr, ip) != 1) {
        if (inet_pton(AF_INET6, addr, ip) != 1)
            return CDNS_OK;
        type = CDNS_T_AAAA;
        iplen = 16;
        /* Go's To4(): an IPv4-mapped address is an IPv4 address. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(ip, mapped, sizeof(mapped)) == 0) {
            memmove(ip, ip + 12, 4);
            type = CDNS_T_A;
            iplen = 4;
        }
    }
    char canon[INET6_ADDRSTRLEN];
    inet_ntop(iplen == 4 ? AF_INET : AF_INET6, ip, canon, sizeof(canon));
    for (char *name = strtok_r(NULL, " \t\r", &save); name; name = strtok_r(NULL, " \t\r", &save)) {
        uint8_t owner[CDNS_DNAME_MAX];
        size_t olen;
        if (cdns_dname_from_str(name, NULL, owner, &olen) != CDNS_OK)
            continue;
        cdns_dname_lower(owner);
        if (!cdns_dname_under_any(owner, olen, (const uint8_t(*)[CDNS_DNAME_MAX])h->zone_wire, h->nzones))
            continue;
        int rc = cdns_builder_add(b, owner, type, h->ttl_s, ip, iplen);
        if (rc != CDNS_OK && rc != CDNS_ERANGE)
            return rc;
        bool wildcard = owner[0] == 1 && owner[1] == '*';
        if (h->no_reverse || wildcard)
            continue;
        uint8_t rev[CDNS_DNAME_MAX];
        size_t rlen;
        if (cdns_reverse_name(canon, rev, &rlen) != CDNS_OK)
            continue;
        rc = cdns_builder_add(b, rev, CDNS_T_PTR, h->ttl_s, owner, (uint16_t)olen);
        if (rc != CDNS_OK && rc != CDNS_ERANGE)
            return rc;
    }
    return CDNS_OK;
}

static int add_text(cdns_builder_t *b, const cdns_hosts_t *h, char *text)
{
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        char *hash = strchr(p, '#');
        if (hash)
            *hash = '\0';
        int rc = add_line(b, h, p);
        if (rc != CDNS_OK)
            return rc;
        p = nl ? nl + 1 : NULL;
    }
    return CDNS_OK;
}

int cdns_hosts__load(cdns_hosts_t *h, cdns_snapshot_t **out)
{
    static const char *const reverse[] = {"in-addr.arpa.", "ip6.arpa."};
    char *text = NULL, *inl = NULL;
    size_t len = 0;
    int rc = CDNS_ENOMEM;
    cdns_builder_t *b = cdns_builder_new();
    if (!b)
        goto fail;
    for (size_t i = 0; i < h->nzones; i++)
        if ((rc = cdns_builder_zone(b, h->zone_wire[i])) != CDNS_OK && rc != CDNS_EEXIST)
            goto fail;
    for (size_t i = 0; i < CDNS_ARRAY_LEN(reverse) && !h->no_reverse; i++) {
        uint8_t z[CDNS_DNAME_MAX];
        size_t zl;
        cdns_dname_from_str(reverse[i], NULL, z, &zl);
        bool have = false;
        for (size_t j = 0; j < h->nzones && !have; j++)
            have = cdns_dname_equal(h->zone_wire[j], z);
        if (!have && (rc = cdns_builder_zone(b, z)) != CDNS_OK && rc != CDNS_EEXIST)
            goto fail;
    }
    struct stat st;
    h->file_seen = stat(h->path, &st) == 0;
    if (h->file_seen) {
        h->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        h->size = st.st_size;
        if (cdns_file_read(h->path, &text, &len) == CDNS_OK && (rc = add_text(b, h, text)) != CDNS_OK)
            goto fail;
    }
    if (h->inline_text) {
        if (!(inl = strdup(h->inline_text))) {
            rc = CDNS_ENOMEM;
            goto fail;
        }
        if ((rc = add_text(b, h, inl)) != CDNS_OK)
            goto fail;
    }
    rc = cdns_builder_commit(b, out);
    b = NULL;
fail:
    cdns_builder_free(b);
    free(text);
    free(inl);
    return rc;
}

/* ------------------------------------------------------------------- reload */
static void on_tick(uv_timer_t *t)
{
    cdns_hosts_t *h = t->data;
    struct stat st;
    /* As CoreDNS: a file that went away leaves what was read from it in place. */
    if (stat(h->path, &st) != 0)
        return;
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (h->file_seen && mtime == h->mtime_ns && st.st_size == h->size)
        return;
    cdns_snapshot_t *snap = NULL;
    int rc = cdns_hosts__load(h, &snap);
    if (rc != CDNS_OK) {
        cdns_error("plugin/hosts: reading %s: %s", h->path, cdns_strerror(rc));
        return;
    }
    cdns_debug("plugin/hosts: Parsed hosts file into %zu entries", cdns_snapshot_records(snap));
    cdns_snapshot_t *old = cdns_rcu_swap((void **)&h->snap, snap);
    if (old) {
        cdns_rcu_synchronize();
        cdns_snapshot_free(old);
    }
}

static void free_handle(uv_handle_t *hd)
{
    free(hd);
}

static int hosts_start(void *inst, uv_loop_t *loop)
{
    cdns_hosts_t *h = inst;
    if (h->reload_ms == 0)
        return CDNS_OK;
    if (!(h->timer = malloc(sizeof(*h->timer))))
        return CDNS_ENOMEM;
    uv_timer_init(loop, h->timer);
    h->timer->data = h;
    uv_timer_start(h->timer, on_tick, h->reload_ms, h->reload_ms);
    return CDNS_OK;
}

static void hosts_stop(void *inst)
{
    cdns_hosts_t *h = inst;
    if (!h->timer)
        return;
    uv_timer_stop(h->timer);
    uv_close((uv_handle_t *)h->timer, free_handle);
    h->timer = NULL;
}

/* ------------------------------------------------------------------ answers */
/* The records of one family for the name: its own, else those of "*.<parent>". */
static const cdns_rrset_t *family(const cdns_snapshot_t *s, const cdns_query_t *q, uint16_t type)
{
    const cdns_rrset_t *rs = cdns_node_rrset(cdns_snapshot_find(s, q->qname_lower, q->qname_len), type);
    if (rs || q->qname_len < 2)
        return rs;
    uint8_t w[CDNS_DNAME_MAX];
    size_t skip = (size_t)q->qname_lower[0] + 1, len = q->qname_len - skip + 2;
    if (len > CDNS_DNAME_MAX)
        return NULL;
    w[0] = 1;
    w[1] = '*';
    memcpy(w + 2, q->qname_lower + skip, q->qname_len - skip);
    return cdns_node_rrset(cdns_snapshot_find(s, w, len), type);
}

static bool falls(const cdns_hosts_t *h, const cdns_query_t *q)
{
    return h->fall && (h->nfall == 0 || cdns_dname_under_any(q->qname_lower, q->qname_len,
                                                             (const uint8_t(*)[CDNS_DNAME_MAX])h->fall_wire, h->nfall));
}

static cdns_verdict_t hosts_serve(cdns_req_t *req, void *inst, void *ws)
{
    (void)ws;
    const cdns_hosts_t *h = inst;
    const cdns_query_t *q = &req->q;
    if (!q->has_question)
        return CDNS_NEXT;
    const cdns_snapshot_t *s = cdns_rcu_deref((void *const *)&h->snap);
    bool ours =
        cdns_dname_under_any(q->qname_lower, q->qname_len, (const uint8_t(*)[CDNS_DNAME_MAX])h->zone_wire, h->nzones);
    const cdns_rrset_t *rs = NULL;
    /* PTR names need no origin: any address of the file answers. */
    if (q->qtype == CDNS_T_PTR) {
        rs = cdns_node_rrset(cdns_snapshot_find(s, q->qname_lower, q->qname_len), CDNS_T_PTR);
        if (!rs)
            return CDNS_NEXT;
    } else if (!ours) {
        return CDNS_NEXT;
    } else if (q->qtype == CDNS_T_A || q->qtype == CDNS_T_AAAA) {
        rs = family(s, q, q->qtype);
    } else if (h->fall_unsupported && falls(h, q)) {
        return CDNS_NEXT;
    }
    cdns_msg_t *m = &req->msg;
    if (!rs && !family(s, q, CDNS_T_A) && !family(s, q, CDNS_T_AAAA)) {
        if (falls(h, q))
            return CDNS_NEXT;
        /* There is no SOA to deny the name with: CoreDNS answers SERVFAIL. */
        cdns_msg_set_rcode(m, CDNS_RCODE_SERVFAIL);
        return CDNS_DONE;
    }
    m->flags |= CDNS_F_AA;
    if (rs)
        cdns_store_put_rrset(s, m, CDNS_SEC_ANSWER, CDNS_MSG_QNAME_OFF, NULL, rs);
    return CDNS_DONE;
}

const cdns_plugin_api_t cdns_plugin_hosts = {
    .name = "hosts",
    .setup = cdns_hosts__setup,
    .teardown = cdns_hosts__teardown,
    .start = hosts_start,
    .stop = hosts_stop,
    .serve = hosts_serve,
    .flags = CDNS_PLUGIN_ONCE,
};
