/* SPDX-License-Identifier: MIT */
/* process.c — the process_* metrics Prometheus' Go client exports, read from /proc on scrape.
 *
 * Each value is a gauge function called by the scraping thread; they only read /proc files and
 * getrlimit, so they are thread-safe. Names, help texts and types match client_golang's process
 * collector so the usual dashboards find them.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cdns/metrics.h"

/* Fields of /proc/self/stat we use (see proc(5)): utime 14, stime 15, starttime 22, vsize 23,
 * rss 24 (pages). The comm field may hold spaces and parentheses, so parsing starts after the
 * last ')'. */
typedef struct pstat {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
} pstat_t;

static int read_stat(pstat_t *st)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return CDNS_EIO;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return CDNS_EMALFORMED;
    /* After ") " comes field 3 (state). */
    int field = 3;
    p += 2;
    memset(st, 0, sizeof(*st));
    while (*p && field <= 24) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (field == 14)
            st->utime = v;
        else if (field == 15)
            st->stime = v;
        else if (field == 22)
            st->starttime = v;
        else if (field == 23)
            st->vsize = v;
        else if (field == 24)
            st->rss = (long long)v;
        p = strchr(p, ' ');
        if (p == NULL)
            break;
        p++;
        field++;
    }
    return field > 24 ? CDNS_OK : CDNS_EMALFORMED;
}

static double cpu_seconds(void *arg)
{
    CDNS_UNUSED(arg);
    pstat_t st;
    if (read_stat(&st) != CDNS_OK)
        return 0;
    return (double)(st.utime + st.stime) / (double)sysconf(_SC_CLK_TCK);
}

static double resident_bytes(void *arg)
{
    CDNS_UNUSED(arg);
    pstat_t st;
    if (read_stat(&st) != CDNS_OK)
        return 0;
    return (double)st.rss * (double)sysconf(_SC_PAGESIZE);
}

static double virtual_bytes(void *arg)
{
    CDNS_UNUSED(arg);
    pstat_t st;
    if (read_stat(&st) != CDNS_OK)
        return 0;
    return (double)st.vsize;
}

static double start_time(void *arg)
{
    CDNS_UNUSED(arg);
    pstat_t st;
    if (read_stat(&st) != CDNS_OK)
        return 0;
    /* starttime is in clock ticks since boot; btime in /proc/stat is the boot's wall time. */
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    unsigned long long btime = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    return (double)btime + (double)st.starttime / (double)sysconf(_SC_CLK_TCK);
}

static double open_fds(void *arg)
{
    CDNS_UNUSED(arg);
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    double n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double max_fds(void *arg)
{
    CDNS_UNUSED(arg);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    /* Unlimited is reported as the huge number it is, as Go's procfs does. */
    return (double)rl.rlim_cur;
}

void cdns_metrics_register_process(void)
{
    static const struct {
        const char *name, *help;
        cdns_metric_type_t type;
        cdns_metric_gauge_fn fn;
    } defs[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", CDNS_METRIC_COUNTER,
         cpu_seconds},
        {"process_max_fds", "Maximum number of open file descriptors.", CDNS_METRIC_GAUGE, max_fds},
        {"process_open_fds", "Number of open file descriptors.", CDNS_METRIC_GAUGE, open_fds},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", CDNS_METRIC_GAUGE, resident_bytes},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", CDNS_METRIC_GAUGE,
         start_time},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", CDNS_METRIC_GAUGE, virtual_bytes},
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(defs); i++) {
        cdns_metric_t *m = cdns_metric_register(defs[i].name, defs[i].help, defs[i].type, NULL, 0, NULL, 0);
        cdns_metric_gauge_func(m, NULL, defs[i].fn, NULL);
    }
}
