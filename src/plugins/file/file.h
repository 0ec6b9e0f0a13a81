/* SPDX-License-Identifier: MIT */
/* file.h — the file plugin's instance, shared by setup.c (Corefile stanza) and file.c (zone
 * loading, reload and answers). Private to this directory.
 *
 * One instance serves one zone file under one or more origins; all of them live in one store
 * snapshot, published to workers with cdns_rcu_swap() and replaced whole on reload.
 */
#ifndef CDNS_PLUGIN_FILE_H
#define CDNS_PLUGIN_FILE_H

#include "cdns/plugin.h"
#include "cdns/store.h"

typedef struct uv_timer_s uv_timer_t;

typedef struct cdns_file {
    /* configuration (set up on the main thread, then read-only) */
    char *path;                           /* the zone file, resolved against the Corefile's directory */
    char **zones;                         /* origins, normalized text ("example.org.") */
    size_t nzones;                        /* at least one */
    uint8_t (*zone_wire)[CDNS_DNAME_MAX]; /* lowercase wire of each origin */
    uint64_t reload_ms;                   /* 0: never reload */
    bool fall;                            /* fallthrough given */
    uint8_t (*fall_wire)[CDNS_DNAME_MAX]; /* its zones (none: every zone) */
    size_t nfall;
    /* runtime (main thread) */
    uint32_t *serials; /* SOA serial per origin of the published snapshot */
    uv_timer_t *timer;
    /* published to workers */
    cdns_snapshot_t *snap; /* NULL until the file could be loaded: queries get SERVFAIL */
} cdns_file_t;

/* Parses the zone file once per origin into one snapshot. On error returns a CDNS_E* with
 * "FILE:LINE: message" (FILE being the zone file or an $INCLUDEd one) in err. serials (nzones
 * entries) receives each origin's SOA serial. Main thread. */
int cdns_file__load(const cdns_file_t *f, cdns_snapshot_t **out, uint32_t *serials, char *err, size_t errlen);
int cdns_file__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_file__teardown(void *inst);

#endif
