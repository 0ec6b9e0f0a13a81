/* SPDX-License-Identifier: MIT */
/* memprobe.c — where a cluster's memory and load time go, phase by phase, without a server.
 *
 * Reads an objects file (gen_cluster.py's cluster.json) the way the kubernetes plugin does
 * (read a window at a time and decode into the index, pods skipped; build the snapshot, the
 * index freed before the layout) and prints, per phase, the wall time, the heap in use
 * (mallinfo2: what the phase holds), the process RSS and its peak, and the same after
 * malloc_trim. Then the snapshot's own bytes, records and nodes, so bytes per record are the
 * store's and not the loader's.
 * Single-threaded bench tool; built by `make bench` (bench/run.py) against build/lib.
 *
 *   build/bench/memprobe bench/data/k10k/cluster.json
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_load.h"

static long rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0)
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

static void phase(const char *what, uint64_t t0)
{
    struct mallinfo2 mi = mallinfo2();
    printf("%-22s %8.0f ms  heap in use %8.1f MB  RSS %8.1f MB  peak %8.1f MB\n", what,
           (double)(cdns_clock_mono_ns() - t0) / 1e6, (double)mi.uordblks / 1048576.0,
           (double)rss_kb("VmRSS:") / 1024.0, (double)rss_kb("VmHWM:") / 1024.0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CLUSTER.json\n", argv[0]);
        return 2;
    }
    cdns_k8s_index_t *idx = NULL;
    cdns_snapshot_t *snap = NULL;
    int rc = 1;
    phase("start", cdns_clock_mono_ns());
    uint64_t t0 = cdns_clock_mono_ns();
    cdns_k8s_load_stats_t st;
    if (probe_read(argv[1], &idx, &st) != CDNS_OK)
        goto fail;
    phase("read + decode", t0);
    malloc_trim(0);
    phase("  trimmed", cdns_clock_mono_ns());
    t0 = cdns_clock_mono_ns();
    /* The index goes before the layout, as in the server. */
    cdns_k8s_opts_t opts = probe_opts();
    int brc = cdns_k8s_build_consume(idx, &opts, &snap);
    idx = NULL;
    if (brc != CDNS_OK) {
        fprintf(stderr, "cannot build\n");
        goto fail;
    }
    phase("build snapshot", t0);
    malloc_trim(0);
    phase("  trimmed", cdns_clock_mono_ns());
    size_t recs = cdns_snapshot_records(snap), mem = cdns_snapshot_memory(snap);
    printf("objects %zu  records %zu  nodes %zu\n", st.objects, recs, cdns_snapshot_nodes(snap));
    printf("snapshot %.1f MB (%.0f bytes/record, %.0f bytes/node)\n", (double)mem / 1048576.0,
           (double)mem / (double)recs, (double)mem / (double)cdns_snapshot_nodes(snap));
    rc = 0;
fail:
    cdns_k8s_index_free(idx);
    cdns_snapshot_free(snap);
    return rc;
}
