/* SPDX-License-Identifier: MIT */
/* fuzz_data.h — finds the committed fixtures of tests/fuzz/data/ for targets that need a file
 * (the cluster the query target serves). The fuzz binaries (build-fuzz/bin/) and the replay
 * binaries (build/fuzz/) both sit two directories below the checkout, and both are normally
 * run from the checkout itself, so either the source path or the binary's path leads there.
 */
#ifndef CDNS_FUZZ_DATA_H
#define CDNS_FUZZ_DATA_H

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Absolute path of tests/fuzz/data/<name> into out; 0, or -1 when it is nowhere to be found. */
static inline int cdns_fuzz_data_path(const char *name, char *out, size_t outlen)
{
    char src[PATH_MAX], exe[PATH_MAX], cand[2 * PATH_MAX + 64], real[PATH_MAX];
    snprintf(src, sizeof(src), "%s", __FILE__);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *tries[2] = {dirname(src), n > 0 ? dirname(exe) : NULL};
    for (int i = 0; i < 2; i++) {
        if (tries[i] == NULL)
            continue;
        snprintf(cand, sizeof(cand), i == 0 ? "%s/data/%s" : "%s/../../tests/fuzz/data/%s", tries[i], name);
        if (realpath(cand, real) != NULL && access(real, R_OK) == 0 && strlen(real) < outlen) {
            memcpy(out, real, strlen(real) + 1);
            return 0;
        }
    }
    return -1;
}

#endif
