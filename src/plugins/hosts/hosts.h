/* SPDX-License-Identifier: MIT */
/* hosts.h — the hosts plugin's instance, shared by setup.c (Corefile stanza) and hosts.c
 * (parsing, reload and answers). Private to this directory.
 *
 * The hosts file and the inline lines become one store snapshot (A/AAAA under each origin,
 * PTR under in-addr.arpa./ip6.arpa.), published to workers with cdns_rcu_swap().
 */
#ifndef CDNS_PLUGIN_HOSTS_H
#define CDNS_PLUGIN_HOSTS_H

#include <sys/types.h>

#include "cdns/plugin.h"
#include "cdns/store.h"

typedef struct uv_timer_s uv_timer_t;

typedef struct cdns_hosts {
    /* configuration (set up on the main thread, then read-only) */
    char *path;                           /* the hosts file (default /etc/hosts) */
    char *inline_text;                    /* inline entries, one per line (NULL: none) */
    uint8_t (*zone_wire)[CDNS_DNAME_MAX]; /* origins, lowercase wire */
    size_t nzones;
    uint32_t ttl_s;     /* of every record (default 3600) */
    uint64_t reload_ms; /* 0: never re-read the file */
    bool no_reverse;
    bool fall;                            /* fallthrough given */
    bool fall_unsupported;                /* fallthrough_unsupported */
    uint8_t (*fall_wire)[CDNS_DNAME_MAX]; /* fallthrough zones (none: every zone) */
    size_t nfall;
    /* runtime (main thread): what the published snapshot was built from */
    int64_t mtime_ns;
    off_t size;
    bool file_seen;
    uv_timer_t *timer;
    /* published to workers */
    cdns_snapshot_t *snap;
} cdns_hosts_t;

/* Reads the file (a missing file counts as empty) and the inline entries into a snapshot, and
 * records the file's mtime and size in h. Main thread. */
int cdns_hosts__load(cdns_hosts_t *h, cdns_snapshot_t **out);
int cdns_hosts__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_hosts__teardown(void *inst);

#endif
