#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Soak under churn (issue 7, point 5): dnsperf at ~80 % of the measured maximum against clusterdns
while the fake API server (tests/integration/fake_apiserver.py) applies Service and EndpointSlice
changes (100 per second in all) and the Corefile is changed and reloaded every minute.

Phases, all against one server:
  1. max: dnsperf unthrottled for a few seconds -> max qps; the target rate is 80 % of it;
  2. baseline: the target rate for a third of the time, no churn;
  3. churn: the target rate for the rest, with API churn and a reload every `--reload` seconds
     (the Corefile's content changes, and SIGUSR1 is sent, so both reload paths run).
RSS and open descriptors are sampled every 2 s from /proc. Pass criteria (exit status 0):
  - no SERVFAIL under churn, and lost queries under churn at most the baseline's plus 0.1 %
    of the queries sent;
  - RSS after warm-up (30 % of the churn phase, at least 10 s) grows less than 5 % by the end;
  - open descriptors at the end within 4 of those after warm-up.
Prints a JSON summary (qps, loss, RSS start/end, fds) as its last line.

  CLUSTERDNS=build/clusterdns tests/soak/soak.py --seconds 600      (make soak)
  --objects-churn: rewrite an objects file 10x/s instead of the API server (fallback mode).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import fake_apiserver as fa  # noqa: E402

DATA = os.path.join(ROOT, "tests", "integration", "data", "fake_cluster.json")
BINARY = os.path.abspath(os.environ.get("CLUSTERDNS", os.path.join(ROOT, "build", "clusterdns")))
NAMES = [("web.prod.svc.cluster.local.", "A"), ("api.prod.svc.cluster.local.", "A"),
         ("db.prod.svc.cluster.local.", "A"), ("kubernetes.default.svc.cluster.local.", "A"),
         ("kube-dns.kube-system.svc.cluster.local.", "A"), ("lb.staging.svc.cluster.local.", "A"),
         ("web.staging.svc.cluster.local.", "A"), ("nope.prod.svc.cluster.local.", "A"),
         ("web.prod.svc.cluster.local.", "AAAA"), ("_http._tcp.web.prod.svc.cluster.local.", "SRV"),
         ("churn-1.default.svc.cluster.local.", "A"), ("churn-7.default.svc.cluster.local.", "A")]


def free_port():
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def corefile(port, upstream, gen, objects_file=None):
    src = ("objects %s" % objects_file) if objects_file else ("endpoint %s" % upstream)
    return """\
# generation %d
cluster.local:%d {
    bind 127.0.0.1
    errors
    reload 2s
    cache %d
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        %s
    }
}
""" % (gen, port, 5 + gen % 2, src)


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def dnsperf(port, qfile, seconds, rate=None, clients=8, threads=2):
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds), "-c", str(clients),
            "-T", str(threads), "-t", "2", "-q", "500"]
    if rate:
        args += ["-Q", str(int(rate))]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout

    def num(pat, default=0.0):
        m = re.search(pat, out)
        return float(m.group(1)) if m else default
    codes = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+) \([\d.]+%\)", out.split("Response codes:")[-1]
                                                    .splitlines()[0])) if "Response codes:" in out else {}
    return {"sent": int(num(r"Queries sent:\s+(\d+)")), "completed": int(num(r"Queries completed:\s+(\d+)")),
            "lost": int(num(r"Queries lost:\s+(\d+)")), "qps": num(r"Queries per second:\s+([\d.]+)"),
            "codes": codes, "raw": out}


def objects_churn(path, stop, base):
    """Fallback churn without the API server: rewrite the objects file 10 times a second, each
    time with 10 services changed (100 changes/s)."""
    i = 0
    while not stop.is_set():
        items = list(base["items"])
        for k in range(10):
            n = (i * 10 + k) % 200
            items.append(fa.service("churn-%d" % n, "default", cluster_ip="10.%d.%d.%d" % (200, n // 256, n % 256)))
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
        os.rename(tmp, path)
        i += 1
        stop.wait(0.1)


def run(seconds, reload_s, use_objects, workdir, log=print, rss_slack_kb=0, check_rss=True):
    """One soak; returns the summary (its "problems" list is empty when it passed). rss_slack_kb:
    growth below this many KiB passes whatever the percentage (short runs); check_rss False
    under ASan, whose quarantine makes RSS meaningless."""
    port = free_port()
    fake = None
    objects_file = None
    if use_objects:
        objects_file = os.path.join(workdir, "cluster.json")
        shutil.copy(DATA, objects_file)
    else:
        fake = fa.FakeAPIServer(objects=DATA, bookmark_interval=1.0).start()
    cf = os.path.join(workdir, "Corefile")
    gen = 0
    with open(cf, "w") as f:
        f.write(corefile(port, fake.url if fake else None, gen, objects_file))
    qfile = os.path.join(workdir, "queries.txt")
    with open(qfile, "w") as f:
        f.write("".join("%s %s\n" % nt for nt in NAMES))
    logpath = os.path.join(workdir, "clusterdns.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env.setdefault("CLUSTERDNS_USER", "root")
    logf = open(logpath, "w")
    proc = subprocess.Popen([BINARY, "-conf", cf], stdout=logf, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    logf.close()
    stop = threading.Event()
    churns = []
    try:
        end = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError("clusterdns exited:\n" + open(logpath).read())
            r = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "-p", str(port), "@127.0.0.1",
                                "web.prod.svc.cluster.local."], capture_output=True, text=True)
            if r.stdout.strip():
                break
            if time.monotonic() > end:
                raise RuntimeError("no answer from clusterdns:\n" + open(logpath).read())
            time.sleep(0.2)

        mx = dnsperf(port, qfile, 5, clients=16)
        rate = max(1000, int(mx["qps"] * 0.8))
        log("max %.0f qps; soak at %d qps for %d s" % (mx["qps"], rate, seconds))
        base_s = max(10, seconds // 3)
        churn_s = max(20, seconds - base_s)

        baseline = dnsperf(port, qfile, base_s, rate=rate)
        log("baseline: %s" % {k: v for k, v in baseline.items() if k != "raw"})

        samples = []
        sampler_stop = threading.Event()

        def sampler():
            while not sampler_stop.is_set():
                try:
                    samples.append((time.monotonic(),) + proc_sample(proc.pid))
                except OSError:
                    return
                sampler_stop.wait(2.0)
        if fake:
            churns.append(fake.churn(rate=50, resource="services", namespace="default", keep=100))
            churns.append(fake.churn(rate=50, resource="endpointslices", namespace="default", keep=100))
        else:
            base = json.load(open(DATA))
            t = threading.Thread(target=objects_churn, args=(objects_file, stop, base), daemon=True)
            t.start()
        time.sleep(1.0)   # churn running before the first sample: warm-up includes its steady state
        st = threading.Thread(target=sampler, daemon=True)
        st.start()
        reloads = 0

        def reloader():
            nonlocal gen, reloads
            while not stop.wait(reload_s):
                gen += 1
                with open(cf, "w") as f:
                    f.write(corefile(port, fake.url if fake else None, gen, objects_file))
                if gen % 2 == 0:
                    proc.send_signal(signal.SIGUSR1)
                reloads += 1
        rt = threading.Thread(target=reloader, daemon=True)
        rt.start()
        churned = dnsperf(port, qfile, churn_s, rate=rate)
        stop.set()
        changes = sum(c.stop() for c in churns) if churns else int(churn_s * 100)
        sampler_stop.set()
        st.join(5)
        rt.join(5)
        log("churn: %s" % {k: v for k, v in churned.items() if k != "raw"})
        assert proc.poll() is None, "clusterdns died under churn:\n" + open(logpath).read()[-4000:]
        text = open(logpath, errors="replace").read()
        completed_reloads = text.count("Reloading complete")
        failed_reloads = text.count("Restart failed")
        # Warm-up: the first 30 % of the churn phase (the index, caches and malloc arenas grow to
        # their steady size under churn); growth is measured from there to the end.
        t_warm = samples[0][0] + max(10.0, 0.3 * churn_s)
        warm = [s for s in samples if s[0] >= t_warm] or samples[-1:]
        rss0, fd0 = warm[0][1], warm[0][2]
        rss1, fd1 = samples[-1][1], samples[-1][2]
        summary = {
            "max_qps": round(mx["qps"]), "target_qps": rate,
            "baseline": {"seconds": base_s, "qps": round(baseline["qps"]), "sent": baseline["sent"],
                         "lost": baseline["lost"], "codes": baseline["codes"]},
            "churn": {"seconds": churn_s, "qps": round(churned["qps"]), "sent": churned["sent"],
                      "lost": churned["lost"], "codes": churned["codes"], "api_changes": changes,
                      "mode": "objects-file" if use_objects else "api-server",
                      "reloads": reloads, "reloads_completed": completed_reloads,
                      "reloads_failed": failed_reloads},
            "rss_kb": {"first": samples[0][1], "start": rss0, "end": rss1, "max": max(s[1] for s in samples),
                       "growth_pct": round(100.0 * (rss1 - rss0) / rss0, 2)},
            "rss_trace_kb": [s[1] for s in samples[::15]],
            "fds": {"start": fd0, "end": fd1, "min": min(s[2] for s in samples), "max": max(s[2] for s in samples)},
        }
        problems = []
        if churned["codes"].get("SERVFAIL", 0):
            problems.append("SERVFAIL under churn: %d" % churned["codes"]["SERVFAIL"])
        if churned["lost"] > baseline["lost"] + max(1, churned["sent"] // 1000):
            problems.append("lost %d under churn vs %d without" % (churned["lost"], baseline["lost"]))
        if check_rss and summary["rss_kb"]["growth_pct"] >= 5.0 and rss1 - rss0 > rss_slack_kb:
            problems.append("RSS grew %.1f %%" % summary["rss_kb"]["growth_pct"])
        if abs(fd1 - fd0) > 4:
            problems.append("open fds %d -> %d" % (fd0, fd1))
        if reloads and completed_reloads < reloads // 2:
            problems.append("only %d of %d reloads completed" % (completed_reloads, reloads))
        if failed_reloads:
            problems.append("%d reloads failed" % failed_reloads)
        summary["problems"] = problems
        return summary
    finally:
        stop.set()
        for c in churns:
            c.stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if fake:
            fake.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--reload", type=float, default=60.0, help="seconds between Corefile reloads")
    ap.add_argument("--objects-churn", action="store_true", help="churn an objects file, not the API")
    a = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="cdns-soak-")
    try:
        s = run(a.seconds, a.reload, a.objects_churn, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(s))
    return 1 if s["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
