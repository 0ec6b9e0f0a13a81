/* SPDX-License-Identifier: MIT */
/* main.c — flags, signals, wiring and exit codes; no logic of its own.
 *
 *   clusterdns [-conf PATH] [-check] [-workers N] [-version] [-plugins]
 *
 * The main thread owns the libuv loop that runs plugins' background work (file reloads, the
 * Kubernetes client); worker threads (net/) serve queries.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "cdns/config.h"
#include "cdns/net.h"
#include "cdns/pipeline.h"

#ifndef CDNS_VERSION
#define CDNS_VERSION "0.1.0"
#endif

typedef struct flags {
    const char *conf;
    bool check;
    unsigned workers;
} flags_t;

static void usage(FILE *f)
{
    fprintf(f, "Usage: clusterdns [-conf PATH] [-check] [-workers N] [-version] [-plugins]\n"
               "  -conf PATH    Corefile to load (default ./Corefile)\n"
               "  -check        parse and set up the configuration, report, and exit 0 or 1\n"
               "  -workers N    worker threads (default: one per CPU)\n"
               "  -version      print the version and exit\n"
               "  -plugins      list the Corefile directives this build supports and exit\n");
}

/* Go's flag syntax, as CoreDNS takes it: -name, --name, -name=value, -name value. */
static int parse_flags(int argc, char **argv, flags_t *f)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            fprintf(stderr, "clusterdns: unexpected argument '%s'\n", a);
            return 1;
        }
        a += a[1] == '-' ? 2 : 1;
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = eq ? eq + 1 : NULL;
#define NAME(s) (nlen == sizeof(s) - 1 && strncmp(a, s, nlen) == 0)
        if (NAME("conf") || NAME("workers")) {
            if (val == NULL) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "clusterdns: flag needs an argument: -%.*s\n", (int)nlen, a);
                    return 1;
                }
                val = argv[++i];
            }
            if (NAME("conf")) {
                f->conf = val;
            } else {
                char *end;
                unsigned long n = strtoul(val, &end, 10);
                if (*val == '\0' || *end != '\0' || n == 0 || n > 256) {
                    fprintf(stderr, "clusterdns: invalid value \"%s\" for flag -workers: want 1..256\n", val);
                    return 1;
                }
                f->workers = (unsigned)n;
            }
        } else if (NAME("check")) {
            f->check = true;
        } else if (NAME("version")) {
            printf("clusterdns-%s\n", CDNS_VERSION);
            exit(0);
        } else if (NAME("plugins")) {
            size_t n;
            const cdns_plugin_entry_t *all = cdns_plugins_all(&n);
            printf("Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n");
            for (size_t k = 0; k < n; k++)
                if (all[k].api != NULL)
                    printf("  dns.%s\n", all[k].name);
            exit(0);
        } else if (NAME("h") || NAME("help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "clusterdns: flag provided but not defined: -%.*s\n", (int)nlen, a);
            usage(stderr);
            return 1;
        }
#undef NAME
    }
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    cdns_info("received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_stop(h->loop);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    flags_t f = {.conf = "Corefile", .check = false, .workers = 0};
    if (parse_flags(argc, argv, &f) != 0)
        return 1;
    if (f.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        f.workers = n > 0 ? (unsigned)n : 1;
    }
    signal(SIGPIPE, SIG_IGN);

    cdns_diag_t diag = {{0}};
    cdns_corefile_t *cf = NULL;
    if (cdns_corefile_load(f.conf, &cf, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        return 1;
    }
    cdns_pipeline_opts_t popts = {.default_port = 53, .nworkers = f.workers};
    cdns_pipeline_t *p = NULL;
    if (cdns_pipeline_new(cf, &popts, &p, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        cdns_corefile_free(cf);
        return 1;
    }
    if (f.check) {
        size_t nl;
        const cdns_listener_t *ls = cdns_pipeline_listeners(p, &nl);
        printf("%s: OK (%zu server block%s", f.conf, cf->nblocks, cf->nblocks == 1 ? "" : "s");
        for (size_t i = 0; i < nl; i++)
            printf("%s %s:%u", i ? "," : "; listening on", ls[i].addr[0] ? ls[i].addr : "*", ls[i].port);
        printf(")\n");
        cdns_pipeline_free(p);
        cdns_corefile_free(cf);
        return 0;
    }

    uv_loop_t *loop = uv_default_loop();
    int rc = 1;
    cdns_net_t *net = NULL;
    if (cdns_pipeline_start(p, loop, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        goto out;
    }
    cdns_net_opts_t nopts = {.nworkers = f.workers, .tcp_idle_ms = 10000, .tcp_max_conns = 1024};
    if (cdns_net_start(&nopts, &p, &net, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        goto out;
    }
    size_t nl;
    const cdns_listener_t *ls = cdns_pipeline_listeners(p, &nl);
    for (size_t i = 0; i < nl; i++)
        printf("%s:%u\n", ls[i].addr[0] ? ls[i].addr : "", ls[i].port);
    printf("clusterdns-%s\n", CDNS_VERSION);
    fflush(stdout);

    uv_signal_t sigterm, sigint;
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (net != NULL)
        cdns_net_stop(net);
    cdns_pipeline_stop(p);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    cdns_pipeline_free(p);
    cdns_corefile_free(cf);
    return rc;
}
