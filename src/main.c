/* SPDX-License-Identifier: MIT */
/* main.c — flags, signals, wiring and exit codes; no logic of its own.
 *
 *   clusterdns [-conf PATH] [-check] [-workers N] [-user NAME] [-version] [-plugins]
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
#include "cdns/http.h"
#include "cdns/metrics.h"
#include "cdns/net.h"
#include "cdns/pipeline.h"
#include "cdns/services.h"

#ifndef CDNS_VERSION
#define CDNS_VERSION "0.1.0"
#endif

typedef struct flags {
    const char *conf;
    bool check;
    unsigned workers;
    const char *user; /* who to become after binding, when started as root */
} flags_t;

static void usage(FILE *f)
{
    fprintf(f, "Usage: clusterdns [-conf PATH] [-check] [-workers N] [-user NAME] [-version] [-plugins]\n"
               "  -conf PATH    Corefile to load (default ./Corefile)\n"
               "  -check        parse and set up the configuration, report, and exit 0 or 1\n"
               "  -workers N    worker threads (default: one per CPU)\n"
               "  -user NAME    started as root: become NAME after binding, keeping only\n"
               "                CAP_NET_BIND_SERVICE (default $CLUSTERDNS_USER, else nobody;\n"
               "                -user root keeps root)\n"
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
        if (NAME("conf") || NAME("workers") || NAME("user")) {
            if (val == NULL) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "clusterdns: flag needs an argument: -%.*s\n", (int)nlen, a);
                    return 1;
                }
                val = argv[++i];
            }
            if (NAME("conf")) {
                f->conf = val;
            } else if (NAME("user")) {
                if (*val == '\0') {
                    fprintf(stderr, "clusterdns: invalid value \"\" for flag -user\n");
                    return 1;
                }
                f->user = val;
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

/* ------------------------------------------------------------ the server */
/* What runs once the Corefile is loaded: the pipeline net serves (the RCU slot), the HTTP
 * endpoints, and the timers that poll readiness and the Corefile. Main thread only. */
typedef struct app {
    const char *conf;
    uv_loop_t *loop;
    cdns_pipeline_opts_t popts;
    cdns_net_opts_t nopts;
    cdns_corefile_t *cf;
    cdns_pipeline_t *p; /* the slot net reads with cdns_rcu_deref */
    cdns_net_t *net;
    cdns_http_t *http;
    cdns_services_t svc;
    char *fingerprint; /* of the Corefile last loaded or tried */
    bool ready_latched;
    bool stopping;
    uv_timer_t ready_timer, reload_timer, lameduck_timer;
    uv_signal_t sigterm, sigint, sigusr1;
    cdns_series_t *reload_failed;
} app_t;

#define READY_POLL_MS 100

static void register_metrics(app_t *a, unsigned workers)
{
    static const char *const bl[] = {"version", "revision", "goversion"};
    static const char *const bv[] = {CDNS_VERSION, "", "gcc " __VERSION__};
    cdns_metrics_set_slots(workers);
    cdns_series_set(cdns_metric_series(cdns_metric_register("coredns_build_info",
                                                            "A metric with a constant '1' value labeled by version, "
                                                            "revision, and goversion from which CoreDNS was built.",
                                                            CDNS_METRIC_GAUGE, bl, 3, NULL, 0),
                                       bv),
                    1);
    /* C has no recovered panics; the series exists so alerts on it keep evaluating. */
    cdns_metric_series(cdns_metric_register("coredns_panics_total", "A metrics that counts the number of panics.",
                                            CDNS_METRIC_COUNTER, NULL, 0, NULL, 0),
                       NULL);
    a->reload_failed = cdns_metric_series(cdns_metric_register("coredns_reload_failed_total",
                                                               "Counter of the number of failed reload attempts.",
                                                               CDNS_METRIC_COUNTER, NULL, 0, NULL, 0),
                                          NULL);
    cdns_metrics_register_process();
}

/* The HTTP endpoints a pipeline's services ask for, bound and running when `start`, else only
 * described (for cdns_http_same); NULL with diag set on error, NULL without error when there are
 * none. */
static int http_for(const cdns_services_t *s, cdns_http_t **out, bool start, cdns_diag_t *diag)
{
    *out = NULL;
    if (s->nhealth + s->nready + s->nmetrics == 0)
        return CDNS_OK;
    cdns_http_t *h = cdns_http_new();
    if (h == NULL)
        return cdns_diag_set(diag, NULL, 0, "http: out of memory");
    int rc = CDNS_OK;
    for (size_t i = 0; rc == CDNS_OK && i < s->nhealth; i++)
        rc = cdns_http_add(h, s->health[i], CDNS_HTTP_HEALTH, diag);
    for (size_t i = 0; rc == CDNS_OK && i < s->nready; i++)
        rc = cdns_http_add(h, s->ready[i], CDNS_HTTP_READY, diag);
    for (size_t i = 0; rc == CDNS_OK && i < s->nmetrics; i++)
        rc = cdns_http_add(h, s->metrics[i], CDNS_HTTP_METRICS, diag);
    if (rc == CDNS_OK && start)
        rc = cdns_http_start(h, diag);
    if (rc != CDNS_OK) {
        cdns_http_free(h);
        return rc;
    }
    *out = h;
    return CDNS_OK;
}

static void check_ready(app_t *a)
{
    if (a->ready_latched && !a->svc.ready_continuously)
        return;
    char notready[512];
    bool ok = cdns_services_ready(a->p, notready, sizeof(notready));
    cdns_http_set_ready(ok, notready);
    /* As CoreDNS's default "until-ready": once every plugin was ready, it is not asked again. */
    a->ready_latched = ok;
}

static void on_ready_timer(uv_timer_t *t)
{
    check_ready(t->data);
}

static void on_reload_timer(uv_timer_t *t);

static void arm_timers(app_t *a)
{
    uv_timer_stop(&a->ready_timer);
    uv_timer_stop(&a->reload_timer);
    if (a->svc.nready > 0)
        uv_timer_start(&a->ready_timer, on_ready_timer, READY_POLL_MS, READY_POLL_MS);
    if (a->svc.reload)
        uv_timer_start(&a->reload_timer, on_reload_timer, a->svc.reload_ms, a->svc.reload_ms);
}

/* Builds, starts and publishes the Corefile's new configuration; on any error the old one keeps
 * serving untouched. */
static void reload(app_t *a, bool forced)
{
    cdns_diag_t diag = {{0}};
    cdns_corefile_t *cf = NULL;
    cdns_pipeline_t *np = NULL;
    cdns_http_t *nh = NULL;
    bool new_http = false;
    cdns_services_t svc;
    free(a->fingerprint);
    a->fingerprint = cdns_reload_fingerprint(a->conf);
    cdns_info("Reloading%s", forced ? " (SIGUSR1)" : "");
    if (cdns_corefile_load(a->conf, &cf, &diag) != CDNS_OK)
        goto fail;
    if (cdns_pipeline_new(cf, &a->popts, &np, &diag) != CDNS_OK)
        goto fail;
    cdns_services_collect(np, &svc);
    cdns_http_t *probe = NULL;
    if (http_for(&svc, &probe, false, &diag) != CDNS_OK)
        goto fail;
    /* Keep the old set when it is the same, so scrapes and probes in progress are not cut, and
     * without binding it again first: after dropping root, SO_REUSEPORT beside root's sockets
     * is refused (the kernel wants the same uid). A new set binds beside the old one. */
    if (cdns_http_same(probe, a->http)) {
        cdns_http_free(probe);
    } else {
        nh = probe;
        new_http = true;
        if (nh != NULL && cdns_http_start(nh, &diag) != CDNS_OK)
            goto fail;
    }
    size_t carried = cdns_pipeline_adopt(np, a->p);
    if (cdns_pipeline_start(np, a->loop, &diag) != CDNS_OK) {
        cdns_pipeline_adopt_undo(np);
        goto fail;
    }
    cdns_pipeline_t *old = a->p;
    if (cdns_pipeline_same_listeners(np, old)) {
        cdns_rcu_swap((void **)&a->p, np);
        cdns_rcu_synchronize();
    } else {
        /* Other addresses: net binds from the pipeline it starts with, so restart it. Queries
         * arriving in between find no socket; a listener change is rare and explicit. */
        cdns_net_stop(a->net);
        a->net = NULL;
        cdns_rcu_swap((void **)&a->p, np);
        cdns_rcu_synchronize();
        if (cdns_net_start(&a->nopts, &a->p, &a->net, &diag) != CDNS_OK) {
            cdns_diag_t again = {{0}};
            cdns_rcu_swap((void **)&a->p, old);
            cdns_rcu_synchronize();
            if (cdns_net_start(&a->nopts, &a->p, &a->net, &again) != CDNS_OK) {
                cdns_error("cannot listen again after a failed reload: %s", again.msg);
                exit(1);
            }
            cdns_pipeline_stop(np);
            cdns_pipeline_adopt_undo(np);
            goto fail;
        }
    }
    cdns_pipeline_adopt_commit(np);
    cdns_pipeline_free(old);
    cdns_corefile_free(a->cf);
    a->cf = cf;
    if (new_http) {
        cdns_http_free(a->http);
        a->http = nh;
    }
    a->svc = svc;
    a->ready_latched = false;
    cdns_pipeline_report_enabled(a->p);
    check_ready(a);
    arm_timers(a);
    cdns_info("Reloading complete%s", carried ? " (kept the running state of unchanged plugins)" : "");
    return;
fail:
    cdns_series_inc(a->reload_failed, 0);
    cdns_error("Restart failed: %s", diag.msg);
    cdns_http_free(nh);
    cdns_pipeline_free(np);
    cdns_corefile_free(cf);
}

static void on_reload_timer(uv_timer_t *t)
{
    app_t *a = t->data;
    char *fp = cdns_reload_fingerprint(a->conf);
    bool changed = fp != NULL && (a->fingerprint == NULL || strcmp(fp, a->fingerprint) != 0);
    free(fp);
    if (changed && !a->stopping)
        reload(a, false);
}

static void on_lameduck_done(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    app_t *a = h->data;
    if (signum == SIGUSR1) {
        if (!a->stopping)
            reload(a, true);
        return;
    }
    cdns_info("received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    if (a->stopping) {
        /* A second signal during lameduck: stop now. */
        uv_stop(h->loop);
        return;
    }
    a->stopping = true;
    uv_timer_stop(&a->reload_timer);
    uv_timer_stop(&a->ready_timer);
    /* /ready turns 503 at once so the pod leaves the Service; /health stays 200 and DNS keeps
     * answering for the lameduck period (CoreDNS's health lameduck). */
    cdns_http_set_shutting_down();
    if (a->svc.lameduck_ms > 0) {
        /* As Go prints a time.Duration: "5s", "1.5s", "500ms". */
        char dur[32];
        uint64_t ms = a->svc.lameduck_ms;
        if (ms % 1000 == 0)
            snprintf(dur, sizeof(dur), "%llus", (unsigned long long)(ms / 1000));
        else if (ms > 1000)
            snprintf(dur, sizeof(dur), "%gs", (double)ms / 1000.0);
        else
            snprintf(dur, sizeof(dur), "%llums", (unsigned long long)ms);
        cdns_info("plugin/health: Going into lameduck mode for %s", dur);
        uv_timer_start(&a->lameduck_timer, on_lameduck_done, a->svc.lameduck_ms, 0);
        return;
    }
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
    const char *env_user = getenv("CLUSTERDNS_USER");
    flags_t f = {.conf = "Corefile", .check = false, .workers = 0, .user = env_user && *env_user ? env_user : "nobody"};
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

    static app_t app;
    app_t *a = &app;
    a->conf = f.conf;
    a->loop = uv_default_loop();
    a->popts = popts;
    a->nopts = (cdns_net_opts_t){.nworkers = f.workers, .tcp_idle_ms = 10000, .tcp_max_conns = 1024};
    a->cf = cf;
    a->p = p;
    a->fingerprint = cdns_reload_fingerprint(f.conf);
    int rc = 1;
    register_metrics(a, f.workers);
    cdns_services_collect(a->p, &a->svc);
    /* Signals first: one that arrives while we start (a test's SIGUSR1 right after the first
     * answer) must be handled, not kill the process with its default action. */
    uv_signal_init(a->loop, &a->sigterm);
    uv_signal_init(a->loop, &a->sigint);
    uv_signal_init(a->loop, &a->sigusr1);
    a->sigterm.data = a->sigint.data = a->sigusr1.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    uv_signal_start(&a->sigusr1, on_signal, SIGUSR1);
    uv_timer_init(a->loop, &a->ready_timer);
    uv_timer_init(a->loop, &a->reload_timer);
    uv_timer_init(a->loop, &a->lameduck_timer);
    a->ready_timer.data = a->reload_timer.data = a->lameduck_timer.data = a;
    if (cdns_pipeline_start(a->p, a->loop, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        goto out;
    }
    if (cdns_net_start(&a->nopts, &a->p, &a->net, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        goto out;
    }
    if (http_for(&a->svc, &a->http, true, &diag) != CDNS_OK) {
        fprintf(stderr, "%s\n", diag.msg);
        goto out;
    }
    /* Every socket is bound and every file read once: root is not needed any more. */
    if (cdns_priv_drop(f.user, diag.msg, sizeof(diag.msg)) != CDNS_OK) {
        fprintf(stderr, "clusterdns: cannot drop privileges: %s\n", diag.msg);
        goto out;
    }
    cdns_pipeline_report_enabled(a->p);
    size_t nl;
    const cdns_listener_t *ls = cdns_pipeline_listeners(a->p, &nl);
    for (size_t i = 0; i < nl; i++)
        printf("%s:%u\n", ls[i].addr[0] ? ls[i].addr : "", ls[i].port);
    printf("clusterdns-%s\n", CDNS_VERSION);
    fflush(stdout);

    check_ready(a);
    arm_timers(a);
    uv_run(a->loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    /* Drain: net stops accepting, finishes queries in flight and closes TCP connections; the
     * HTTP endpoints go last so /health answers until DNS is down. */
    if (a->net != NULL)
        cdns_net_stop(a->net);
    cdns_http_free(a->http);
    cdns_pipeline_stop(a->p);
    uv_walk(a->loop, close_walk, NULL);
    uv_run(a->loop, UV_RUN_DEFAULT);
    uv_loop_close(a->loop);
    cdns_pipeline_free(a->p);
    cdns_corefile_free(a->cf);
    free(a->fingerprint);
    if (rc == 0)
        cdns_info("shut down cleanly");
    return rc;
}
