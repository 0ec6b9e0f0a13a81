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
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdns/k8s.h"
#include "cdns/store.h"

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
    /* As the server loads it (plugins/kubernetes): a window at a time, pods skipped since
     * the Corefile below does not verify them. */
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    cdns_k8s_load_stats_t st;
    cdns_k8s_load_opts_t lo = {.skip = 1u << CDNS_K8S_POD};
    if (fd < 0 || !(idx = cdns_k8s_index_new()) || cdns_k8s_index_load_fd(idx, fd, &lo, &st) != CDNS_OK) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    close(fd);
    phase("read + decode", t0);
    malloc_trim(0);
    phase("  trimmed", cdns_clock_mono_ns());
    t0 = cdns_clock_mono_ns();
    /* What bench/serve-clusterdns.sh's Corefile asks for; the index goes before the layout. */
    static const char *const zones[] = {"cluster.local.", "in-addr.arpa.", "ip6.arpa."};
    cdns_k8s_opts_t opts = {0};
    opts.zones = zones;
    opts.nzones = 3;
    opts.ttl_s = 5;
    opts.pods = CDNS_K8S_PODS_INSECURE;
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
