#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/run.py — clusterdns side by side with Knot DNS, NSD and the echo ceiling (`make bench`).

Generates a synthetic cluster with ../shared/bench-peers/gen_cluster.py (under bench/data/,
which git ignores), starts every server once on its own loopback port with the server pinned
to CPU 0, then runs dnsperf (pinned to CPU 1) on each mix, interleaving the servers run by run
so that a slow minute on this shared machine hits all of them alike. Prints, per server and
mix: median qps over the reps, server CPU share, answers per server-core, average and max
latency, lost queries, peak RSS and start-to-first-answer, plus the ratios the issue's targets
are stated in. Extra scenarios (full mode): two workers against one, 2x overload, memory and
load time at several cluster sizes.

The server-control helpers (start, probe, CPU and RSS accounting, dnsperf parsing) are
bench-peers/run_peer.py's, imported rather than copied. Only processes started here are
signalled, by PID.

  bench/run.py                  full run (make bench): 10k services / 50k pods, 5 reps x 10 s
  bench/run.py -q               quick: 1k services, 3 reps x 2 s, main table only (no cache-hit), < 2 min
  bench/run.py --only main      just the side-by-side table (or: twoworkers, overload, scale)
"""
import argparse
import importlib.util
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.environ.get("BENCH_PEERS", os.path.join(ROOT, "..", "shared", "bench-peers"))
DATA = os.path.join(HERE, "data")
CLUSTERDNS = os.environ.get("CLUSTERDNS", os.path.join(ROOT, "build", "clusterdns"))


def load_run_peer():
    path = os.path.join(PEERS_DIR, "run_peer.py")
    spec = importlib.util.spec_from_file_location("run_peer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rp = load_run_peer()


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data
def ensure_cluster(services, pods=None, extra=(), name=None):
    pods = pods if pods is not None else 5 * services
    name = name or "k%d" % services
    out = os.path.join(DATA, name)
    if not os.path.exists(os.path.join(out, "summary.json")):
        log("generating %s: %d services, %d pods" % (name, services, pods))
        subprocess.run([sys.executable, os.path.join(PEERS_DIR, "gen_cluster.py"), "--out", out,
                        "--services", str(services), "--pods", str(pods)] + list(extra),
                       check=True, stdout=subprocess.DEVNULL)
    return out


def zones_of(data):
    return sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".zone"))


# ---------------------------------------------------------------- servers
def server_cmd(kind, workdir, port, threads, data):
    q = shlex.quote
    if kind == "clusterdns":
        return "env CLUSTERDNS=%s %s/serve-clusterdns.sh %s 127.0.0.1 %d %d %s" % (
            q(CLUSTERDNS), q(HERE), q(workdir), port, threads, q(os.path.join(data, "cluster.json")))
    if kind == "echo":
        return "%s/peers/echo/serve.sh auth %s 127.0.0.1 %d 1" % (q(PEERS_DIR), q(workdir), port)
    return "%s/peers/%s/serve.sh auth %s 127.0.0.1 %d %d %s" % (
        q(PEERS_DIR), kind, q(workdir), port, threads, " ".join(q(z) for z in zones_of(data)))


def probe_of(data):
    try:
        with open(os.path.join(data, "summary.json")) as f:
            return json.load(f).get("probe", "kubernetes.default.svc.cluster.local A")
    except OSError:
        return "kubernetes.default.svc.cluster.local A"


class Peer:
    """One running server (run_peer.Server) with its name and port."""

    def __init__(self, kind, data, port, threads=1, cpus="0", tag=None):
        self.kind, self.port, self.threads = kind, port, threads
        self.name = tag or kind
        workdir = os.path.join(DATA, "work", "%s-%d-%d" % (self.name, os.getpid(), port))
        self.workdir = workdir
        self.srv = rp.Server(self.name, server_cmd(kind, workdir, port, threads, data), cpus, workdir,
                             "127.0.0.1", port, probe_of(data), kind != "echo", 600)
        self.startup = None

    def start(self):
        self.startup = self.srv.start()
        log("%s answers after %.2fs" % (self.name, self.startup))
        return self

    def stop(self):
        self.srv.stop()

    def mem(self):
        return rp.mem_kb(self.srv.pids())

    def log_text(self):
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def dnsperf(peer, qfile, clients, outstanding, duration, extra=(), client_cpus="1"):
    """One dnsperf run against peer; returns a dict of the run's figures."""
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(peer.port), "-d", qfile, "-c", str(clients),
            "-q", str(outstanding), "-l", str(duration), "-t", "2"] + list(extra)
    pids = peer.srv.pids()
    c0 = rp.cpu_ticks(pids)
    t0 = time.monotonic()
    text, ccpu = rp.run_client(argv, client_cpus)
    el = time.monotonic() - t0
    c1 = rp.cpu_ticks(peer.srv.pids())
    r = rp.parse_dnsperf(text)
    if "qps" not in r:
        log("could not parse dnsperf output:\n" + text[-1500:])
        return None
    srv_cpu = (c1 - c0) / rp.HZ
    hwm, rss, _ = peer.mem()
    return dict(qps=r["qps"], completed=r.get("completed", 0), lost=r.get("lost", 0),
                sent=r.get("sent", 0), avg_ms=r.get("avg", 0) * 1000, max_ms=r.get("max", 0) * 1000,
                srv_cpu=100.0 * srv_cpu / el, cli_cpu=100.0 * ccpu / el,
                per_core=(r.get("completed", 0) / srv_cpu) if srv_cpu > 0 else 0.0,
                hwm_mb=hwm / 1024, rss_mb=rss / 1024, rcodes=r.get("rcodes", ""))


def med(rows, key):
    v = [r[key] for r in rows if r is not None and r.get(key) is not None]
    return statistics.median(v) if v else float("nan")


# ---------------------------------------------------------------- scenarios
def scenario_main(a, data, tsv):
    """The side-by-side table: every server started once, runs interleaved."""
    mixes = [m for m in a.mixes.split(",") if m]
    if "cache-hit" in mixes:
        mixes.remove("cache-hit")  # scenario_cache_hit runs it, through bench/forward_bench.py
    kinds = a.servers.split(",")
    peers, port, groups = [], a.port, []
    try:
        for k in kinds:
            peers.append(Peer(k, data, port).start())
            port += 1
            if a.main_cap_pct:
                # Every server the bottleneck at the same CPU budget, dnsperf with room to spare:
                # answers per core then compare saturated servers, not partly idle ones.
                groups.append(cpu_cgroup(peers[-1].srv.pids(), a.main_cap_pct, k))
        if a.check:
            for p in peers:
                if p.kind == "echo":
                    continue
                for m in mixes:
                    n, bad, _ = rp.check_answers("127.0.0.1", p.port, qfile(data, m), zones_of(data), a.check)
                    log("check %s %s: %d/%d answers differ from the zone files" % (p.name, m, len(bad), n))
        res = {}
        c, q = (int(x) for x in a.conc.split("x"))
        for rep in range(1, a.reps + 1):
            for m in mixes:
                for p in peers:
                    r = dnsperf(p, qfile(data, m), c, q, a.duration)
                    res.setdefault((p.name, m), []).append(r)
                    if r:
                        tsv.write("\t".join(str(x) for x in (
                            time.strftime("%H:%M:%S"), "main", p.name, m, rep, "%.0f" % r["qps"],
                            "%.1f" % r["srv_cpu"], "%.0f" % r["per_core"], "%.3f" % r["avg_ms"],
                            "%.1f" % r["max_ms"], r["lost"], "%.1f" % r["hwm_mb"])) + "\n")
                        tsv.flush()
                        log("rep %d %-12s %-13s %8.0f qps  srv %5.1f%%  %8.0f /core  lost %d" % (
                            rep, p.name, m, r["qps"], r["srv_cpu"], r["per_core"], r["lost"]))
        mem = {p.name: p.mem() for p in peers}
        loadms = {p.name: load_ms(p.log_text()) for p in peers}
    finally:
        for p in peers:
            p.stop()
        for cg in groups:
            cgroup_remove(cg)
    rows = []
    for m in mixes:
        for p in peers:
            rs = res.get((p.name, m), [])
            rows.append(dict(server=p.name, mix=m, n=len([r for r in rs if r]), qps=med(rs, "qps"),
                             srv_cpu=med(rs, "srv_cpu"), per_core=med(rs, "per_core"),
                             avg_ms=med(rs, "avg_ms"), max_ms=max([r["max_ms"] for r in rs if r] or [0]),
                             lost=sum(r["lost"] for r in rs if r), sent=sum(r["sent"] for r in rs if r),
                             hwm_mb=mem[p.name][0] / 1024, startup=p.startup, load_ms=loadms[p.name]))
    return rows


def qfile(data, mix):
    return os.path.join(data, "queries", mix + ".txt")


def load_ms(text):
    m = re.findall(r"in (\d+) ms", text)
    return int(m[-1]) if m else None


def forward_skip_reason():
    try:
        out = subprocess.run([CLUSTERDNS, "-plugins"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    have = set(x.strip().removeprefix("dns.") for x in out.split())
    if not {"forward", "cache"} <= have:
        return "cache-hit: skipped until `%s -plugins` lists forward and cache" % CLUSTERDNS
    if subprocess.run(["which", "unbound"], capture_output=True).returncode != 0:
        return "cache-hit: skipped, unbound is not installed (apt-get install unbound)"
    return None


def scenario_cache_hit(a):
    """The forward cache-hit mix beside Unbound, by bench/forward_bench.py (its fwd-hit mix:
    every forwarder in front of the same loopback knotd, warmed up, servers interleaved, each
    capped at --fwd-cap-pct of a core so that the forwarder, not dnsperf, is the bottleneck)."""
    why = forward_skip_reason()
    if why:
        log(why)
        return ["Forward cache-hit: " + why.split(": ", 1)[1] + ".", ""]
    tsv = os.path.join(DATA, "forward-%s.tsv" % time.strftime("%Y%m%d-%H%M%S"))
    rc = subprocess.run([sys.executable, os.path.join(HERE, "forward_bench.py"), "--mixes", "fwd-hit",
                         "--reps", str(a.reps), "--duration", str(a.duration), "--peers",
                         "clusterdns,unbound,dnsmasq", "--cap-pct", str(a.fwd_cap_pct), "--out", tsv]).returncode
    if rc != 0 or not os.path.exists(tsv):
        return ["Forward cache-hit: bench/forward_bench.py failed (exit %d)." % rc, ""]
    md = subprocess.run([sys.executable, os.path.join(PEERS_DIR, "summarize.py"), tsv, "--by", "peer,mix,threads"],
                        capture_output=True, text=True).stdout
    return ["Forward cache-hit (bench/forward_bench.py fwd-hit, knotd upstream on loopback):", "", md.rstrip(), ""]


def scenario_twoworkers(a, data, tsv):
    """1 worker vs 2 workers, server and dnsperf sharing both cores (no pinning apart)."""
    c, q = (int(x) for x in a.conc.split("x"))
    qf = qfile(data, "internal-hit")
    res = {}
    for rep in range(1, a.reps + 1):
        for tag, threads, scpus, ccpus in (("1w-pinned", 1, "0", "1"), ("1w-shared", 1, "0,1", "0,1"),
                                           ("2w-shared", 2, "0,1", "0,1")):
            p = Peer("clusterdns", data, a.port, threads, scpus, tag)
            try:
                p.start()
                r = dnsperf(p, qf, c, q, a.duration, client_cpus=ccpus)
            finally:
                p.stop()
            res.setdefault(tag, []).append(r)
            if r:
                log("rep %d %s %8.0f qps srv %5.1f%% cli %5.1f%%" % (rep, tag, r["qps"], r["srv_cpu"], r["cli_cpu"]))
                tsv.write("%s\ttwoworkers\t%s\tinternal-hit\t%d\t%.0f\t%.1f\t%.0f\t%.3f\t%.1f\t%d\t%.1f\n" % (
                    time.strftime("%H:%M:%S"), tag, rep, r["qps"], r["srv_cpu"], r["per_core"], r["avg_ms"],
                    r["max_ms"], r["lost"], r["hwm_mb"]))
    return {k: dict(qps=med(v, "qps"), srv_cpu=med(v, "srv_cpu"), cli_cpu=med(v, "cli_cpu"),
                    per_core=med(v, "per_core"), lost=sum(r["lost"] for r in v if r)) for k, v in res.items()}


def cpu_cgroup(pids, quota_pct, tag=""):
    """Caps pids at quota_pct of one core with a cgroup v1 cpu controller (one group per tag);
    returns its path or None (no writable cgroup). The caller removes it with cgroup_remove once
    the pids are gone."""
    cg = "/sys/fs/cgroup/cpu/cdnsbench-%d%s" % (os.getpid(), "-" + tag if tag else "")
    try:
        os.makedirs(cg, exist_ok=True)
        with open(os.path.join(cg, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(1000 * quota_pct)))
        for p in pids:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(p))
        return cg
    except OSError as e:
        log("no cpu cgroup (%s): overload without a CPU cap" % e)
        return None


def cgroup_remove(cg):
    if cg:
        try:
            os.rmdir(cg)
        except OSError as e:
            log("cannot remove %s: %s" % (cg, e))


def scenario_overload(a, data, tsv, kind="clusterdns"):
    """Offered load at 2x the measured maximum: answered qps and RSS must stay put.

    One dnsperf on one core cannot offer twice what a server answers from another core, so the
    server is capped at --cap-pct of a core (cgroup cpu quota): its maximum is measured under the cap
    with the main table's dnsperf settings, then dnsperf offers twice that (-Q) with enough
    queries outstanding, and the answered rate is compared with the maximum. A quota that small
    makes any one run's rate move by a third, so after one calibration run (which sets -Q) the
    maximum and the overload runs alternate rep by rep and their medians are compared; answers per
    server-core, which the quota's jitter does not move, are compared too."""
    qf = qfile(data, "internal-hit")
    p = Peer(kind, data, a.port)
    out, cg = {}, None
    try:
        p.start()
        cg = cpu_cgroup(p.srv.pids(), a.cap_pct)
        c, q = (int(x) for x in a.conc.split("x"))
        base = [dnsperf(p, qf, c, q, a.duration)]
        cal = med(base, "qps")
        log("overload: max under the cap %.0f qps (calibration)" % cal)
        rss0 = p.mem()[1] / 1024
        outstanding = min(65000, int(cal * 0.8))
        rs = []
        for _ in range(a.reps):
            base.append(dnsperf(p, qf, c, q, a.duration))
            # Lost queries free their dnsperf slot only at the timeout: offering max more per
            # second than is answered needs max x timeout queries outstanding, plus the answered
            # ones queued in the server's socket buffer (0.6 x max with -t 0.5 reached only 1.6x).
            r = dnsperf(p, qf, c, outstanding, a.duration, extra=["-Q", str(int(2 * cal)), "-t", "0.25"])
            rs.append(r)
            if r:
                log("overload: max %.0f qps; sent %.0f/s answered %.0f qps lost %d rss %.1f MB" % (
                    base[-1]["qps"] if base[-1] else float("nan"), r["sent"] / a.duration, r["qps"], r["lost"],
                    r["rss_mb"]))
                tsv.write("%s\toverload\t%s\tinternal-hit\t0\t%.0f\t%.1f\t%.0f\t%.3f\t%.1f\t%d\t%.1f\n" % (
                    time.strftime("%H:%M:%S"), kind, r["qps"], r["srv_cpu"], r["per_core"], r["avg_ms"], r["max_ms"],
                    r["lost"], r["hwm_mb"]))
        out = dict(max_qps=med(base, "qps"), capped=cg is not None, conc="-c %d -q %d -t 0.25" % (c, outstanding),
                   offered=med([dict(x=r["sent"] / a.duration) for r in rs if r], "x"),
                   qps=med(rs, "qps"), lost=sum(r["lost"] for r in rs if r), sent=sum(r["sent"] for r in rs if r),
                   max_per_core=med(base, "per_core"), per_core=med(rs, "per_core"),
                   rss0_mb=rss0, rss1_mb=p.mem()[1] / 1024, hwm_mb=p.mem()[0] / 1024)
    finally:
        p.stop()
        cgroup_remove(cg)
    return out


def scenario_scale(a, sizes):
    """Load time and memory per cluster size: clusterdns (and knotd for reference)."""
    rows = []
    for (name, services, pods, extra) in sizes:
        data = ensure_cluster(services, pods, extra, name)
        with open(os.path.join(data, "summary.json")) as f:
            recs = json.load(f)["records_total"]
        for kind in (["clusterdns", "knot"] if services <= 10000 else ["clusterdns"]):
            p = Peer(kind, data, a.port)
            try:
                p.start()
                time.sleep(0.5)
                hwm, rss, _ = p.mem()
                rows.append(dict(cluster=name, services=services, pods=pods, records=recs, server=kind,
                                 startup=p.startup, load_ms=load_ms(p.log_text()) if kind == "clusterdns" else None,
                                 hwm_mb=hwm / 1024, rss_mb=rss / 1024, bytes_per_rec=rss * 1024 / recs))
                log("scale %s %s: start %.2fs rss %.1f MB hwm %.1f MB" % (name, kind, p.startup, rss / 1024, hwm / 1024))
            finally:
                p.stop()
    return rows


def build_probe(name):
    """bench/<name>.c (memprobe, answerprobe) against build/lib (the Makefile's one bench rule
    builds the server and its libraries)."""
    out = os.path.join(os.path.dirname(CLUSTERDNS), "bench", name)
    srcs = [os.path.join(HERE, name + ".c"), os.path.join(HERE, "probe_load.h")]
    lib = os.path.join(os.path.dirname(CLUSTERDNS), "lib")
    libs = [os.path.join(lib, "lib%s.a" % m) for m in ("base", "dns", "store", "k8s")]
    if os.path.exists(out) and all(os.path.getmtime(out) >= os.path.getmtime(x) for x in srcs + libs):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    pc = lambda *a: subprocess.run(["pkg-config"] + list(a), capture_output=True, text=True).stdout.split()
    argv = (["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-Wall", "-Wextra", "-Werror",
             "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "src")] + pc("--cflags", "libcjson")
            + ["-o", out, srcs[0], "-Wl,--start-group"] + libs + ["-Wl,--end-group"]
            + pc("--libs", "libcjson", "libuv") + ["-lpthread", "-lm", "-ldl"])
    if subprocess.run(argv).returncode != 0:
        log("%s did not build; its table is skipped" % name)
        return None
    return out


# ---------------------------------------------------------------- report
def fmt_main(rows, ref="knot", ceil="echo"):
    out = ["| server | mix | qps (median) | server CPU %% | answers / server-core | vs %s | vs %s | avg ms | max ms "
           "| lost | peak RSS MB | start-to-first-answer s |" % (ref, ceil),
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by = {(r["server"], r["mix"]): r for r in rows}
    for r in rows:
        rk, ce = by.get((ref, r["mix"])), by.get((ceil, r["mix"]))
        out.append("| %s | %s | %.0f | %.0f | %.0f | %s | %s | %.3f | %.1f | %d / %d | %.1f | %.2f |" % (
            r["server"], r["mix"], r["qps"], r["srv_cpu"], r["per_core"],
            "%.2f" % (r["per_core"] / rk["per_core"]) if rk and rk["per_core"] else "",
            "%.2f" % (r["per_core"] / ce["per_core"]) if ce and ce["per_core"] else "",
            r["avg_ms"], r["max_ms"], r["lost"], r["sent"], r["hwm_mb"], r["startup"] or 0))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-q", "--quick", action="store_true", help="1k services, 3 reps x 2 s, main table only")
    ap.add_argument("--services", type=int, help="cluster size (pods: 5 per service)")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--duration", type=int)
    ap.add_argument("--conc", default="20x200", help="dnsperf CLIENTSxOUTSTANDING")
    ap.add_argument("--mixes", default="internal-hit,ndots-search,ptr,cache-hit")
    ap.add_argument("--servers", default="clusterdns,knot,nsd,echo")
    ap.add_argument("--only", help="comma list of: main,cache-hit,twoworkers,overload,scale")
    ap.add_argument("--check", type=int, default=0, metavar="N", help="compare N answers per mix with the zone")
    ap.add_argument("--cap-pct", type=int, default=20, help="overload: the server's CPU cap, %% of a core")
    ap.add_argument("--main-cap-pct", type=int, default=0,
                    help="main table: cap every server at this %% of a core (cgroup cpu quota; 0: none)")
    ap.add_argument("--fwd-cap-pct", type=int, default=50,
                    help="cache-hit: every forwarder's CPU cap, %% of a core (one dnsperf cannot saturate them; 0: none)")
    ap.add_argument("--port", type=int, default=5340)
    ap.add_argument("--out", help="write the markdown report here too")
    a = ap.parse_args()
    a.services = a.services or (1000 if a.quick else 10000)
    a.reps = a.reps or 3
    a.duration = a.duration or (2 if a.quick else 10)
    only = set((a.only or ("main" if a.quick else "main,twoworkers,overload,scale")).split(","))
    if not os.access(CLUSTERDNS, os.X_OK):
        sys.exit("no %s: run make first" % CLUSTERDNS)
    os.makedirs(os.path.join(DATA, "work"), exist_ok=True)
    os.environ.setdefault("BENCH_WORK", os.path.join(DATA, "work"))
    t0 = time.monotonic()
    data = ensure_cluster(a.services)
    with open(os.path.join(data, "summary.json")) as f:
        summ = json.load(f)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tsv = open(os.path.join(DATA, "results-%s.tsv" % stamp), "w")
    tsv.write("time\tscenario\tserver\tmix\trep\tqps\tsrv_cpu_pct\tper_core\tavg_ms\tmax_ms\tlost\thwm_mb\n")
    cmd = "bench/run.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    rep = ["## Run %s: `%s`" % (time.strftime("%Y-%m-%d %H:%M"), cmd.strip()), "",
           "Cluster: %d services, %d pods, %d records; 1 server thread on CPU 0%s, dnsperf -c %s -q %s on CPU 1, "
           "%d reps x %d s, servers interleaved run by run. clusterdns %s." % (
               a.services, summ["pods"], summ["records_total"],
               " (each server capped at %d %% of it)" % a.main_cap_pct if a.main_cap_pct else "",
               *a.conc.split("x"), a.reps, a.duration,
               subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                              text=True).stdout.strip()), ""]
    if "main" in only:
        rows = scenario_main(a, data, tsv)
        rep += [fmt_main(rows), ""]
        for r in rows:
            if r["server"] == "clusterdns" and r["load_ms"] is not None:
                rep.append("clusterdns built its snapshot from cluster.json in %d ms." % r["load_ms"])
                break
        by = {(r["server"], r["mix"]): r for r in rows}
        if ("clusterdns", "internal-hit") in by:
            cd = by[("clusterdns", "internal-hit")]
            recs = summ["records_total"]
            rep.append("clusterdns peak RSS %.1f MB for %d records: %.0f bytes per record (whole process)." % (
                cd["hwm_mb"], recs, cd["hwm_mb"] * 1048576 / recs))
        rep.append("")
        probe = build_probe("answerprobe")
        if probe:
            rep += ["The kubernetes answer path alone, in user space, with and without the batch prefetch "
                    "(bench/answerprobe.c, batches of 16, on CPU 0):", "", "```"]
            for mix in a.mixes.split(","):
                qf = qfile(data, mix)
                if mix == "cache-hit" or not os.path.exists(qf):
                    continue
                r = subprocess.run(["taskset", "-c", "0", probe, os.path.join(data, "cluster.json"), qf, "16",
                                    "5" if a.quick else "11"], capture_output=True, text=True)
                rep.append("%-13s %s" % (mix, (r.stdout or r.stderr).strip()))
            rep += ["```", ""]
    # Quick mode leaves it out: forward_bench.py's warm-ups alone would break the two minutes.
    if "cache-hit" in a.mixes.split(",") and ("cache-hit" in only or ("main" in only and not a.quick)):
        rep += scenario_cache_hit(a)
    if "twoworkers" in only:
        tw = scenario_twoworkers(a, data, tsv)
        rep += ["Two workers (internal-hit, medians):", "",
                "| setup | qps | server CPU % | dnsperf CPU % | lost |", "|---|---:|---:|---:|---:|"]
        for k, v in tw.items():
            rep.append("| %s | %.0f | %.0f | %.0f | %d |" % (k, v["qps"], v["srv_cpu"], v["cli_cpu"], v["lost"]))
        rep.append("")
    if "overload" in only:
        for kind in ("clusterdns", "knot"):
            ov = scenario_overload(a, data, tsv, kind)
            if ov:
                rep += ["Overload, %s (internal-hit%s): max %.0f qps; dnsperf %s -Q 2x max offered %.0f/s, answered "
                        "%.0f qps (%.0f %% of max; runs alternating, medians), lost %d of %d; answers per server-core "
                        "%.0f against %.0f at max (%.0f %%); RSS %.1f MB before, %.1f MB after (peak %.1f)." % (
                            kind, ", server capped at %d %% of a core by a cgroup cpu quota" % a.cap_pct if ov["capped"] else
                            ", no CPU cap: dnsperf may not reach 2x", ov["max_qps"], ov["conc"], ov["offered"],
                            ov["qps"], 100 * ov["qps"] / ov["max_qps"], ov["lost"], ov["sent"], ov["per_core"],
                            ov["max_per_core"], 100 * ov["per_core"] / ov["max_per_core"], ov["rss0_mb"],
                            ov["rss1_mb"], ov["hwm_mb"]), ""]
    if "scale" in only:
        sizes = [("k1000", 1000, 5000, ()), ("k10000", 10000, 50000, ()), ("k100000", 100000, 500000, ()),
                 ("envelope", 10000, 150000, ("--pods-per-headless", "250", "--headless-frac", "0.04"))]
        sc = scenario_scale(a, sizes)
        rep += ["Scale (objects load; RSS after load):", "",
                "| cluster | services | pods | records | server | start-to-first-answer s | build ms | RSS MB "
                "| peak RSS MB | bytes / record |", "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for r in sc:
            rep.append("| %s | %d | %d | %d | %s | %.2f | %s | %.1f | %.1f | %.0f |" % (
                r["cluster"], r["services"], r["pods"], r["records"], r["server"], r["startup"],
                r["load_ms"] if r["load_ms"] is not None else "", r["rss_mb"], r["hwm_mb"], r["bytes_per_rec"]))
        rep.append("")
        probe = build_probe("memprobe")
        if probe:
            rep += ["Phases of an objects load (bench/memprobe.c: heap in use and RSS after each phase):", ""]
            for (name, *_rest) in sizes:
                out = subprocess.run([probe, os.path.join(DATA, name, "cluster.json")], capture_output=True,
                                     text=True).stdout
                rep += ["`%s`:" % name, "", "```", out.rstrip(), "```", ""]
    tsv.close()
    rep.append("Total %.0f s; raw runs in bench/data/%s." % (time.monotonic() - t0, os.path.basename(tsv.name)))
    text = "\n".join(rep)
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write(text + "\n\n")


if __name__ == "__main__":
    main()
