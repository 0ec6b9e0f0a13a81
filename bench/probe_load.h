/* SPDX-License-Identifier: MIT */
/* probe_load.h — how the bench's probes (memprobe, answerprobe) load a cluster: as the server
 * does with bench/serve-clusterdns.sh's Corefile (an objects file read a window at a time into
 * the index, pods skipped since they are not verified; the index consumed by the build). */
#ifndef CDNS_BENCH_PROBE_LOAD_H
#define CDNS_BENCH_PROBE_LOAD_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "cdns/k8s.h"
#include "cdns/store.h"

/* The kubernetes stanza of bench/serve-clusterdns.sh's Corefile. */
static inline cdns_k8s_opts_t probe_opts(void)
{
    static const char *const zones[] = {"cluster.local.", "in-addr.arpa.", "ip6.arpa."};
    cdns_k8s_opts_t opts = {0};
    opts.zones = zones;
    opts.nzones = 3;
    opts.ttl_s = 5;
    opts.pods = CDNS_K8S_PODS_INSECURE;
    return opts;
}

/* Reads path (gen_cluster.py's cluster.json) into a new index in *idx; says why on stderr. */
static inline int probe_read(const char *path, cdns_k8s_index_t **idx, cdns_k8s_load_stats_t *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cdns_k8s_load_opts_t lo = {.skip = 1u << CDNS_K8S_POD};
    int rc = CDNS_EIO;
    if (fd >= 0 && (*idx = cdns_k8s_index_new()) != NULL)
        rc = cdns_k8s_index_load_fd(*idx, fd, &lo, st);
    if (fd >= 0)
        close(fd);
    if (rc != CDNS_OK)
        fprintf(stderr, "cannot load %s: %s\n", path, cdns_strerror(rc));
    return rc;
}

#endif
