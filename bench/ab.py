#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/ab.py — two (or more) builds of clusterdns side by side: answers per server-core.

Each binary serves the same generated cluster (bench/serve-clusterdns.sh, one worker) pinned to
CPU 0, optionally capped at --cap-pct of it by a cgroup v1 cpu quota (run.py's helper); dnsperf
on CPU 1 drives them in turn, alternating binary by binary for --reps rounds, so that a slow
minute of this shared machine hits all of them alike. Per run and as medians: answers per
server-core (answered queries / server CPU seconds from /proc), qps, and the user and system CPU
per answer (tick-sampled by the kernel: compare medians, not single runs). For before/after
comparisons of one change, where run.py's full table would take too long and its peers are not
needed.

  bench/ab.py /tmp/cdns-before build/clusterdns --mix internal-hit --reps 6 --cap-pct 50

A binary given as "echo:NS" is bench/echo_spin.c instead: the echo responder's kernel path plus
NS nanoseconds of user-space work per answer. Beside a build, a few of them show what its user
time per answer costs in answers per core, and how much of a cut would reach that figure:

  bench/ab.py echo:0 echo:300 echo:600 echo:900 build/clusterdns --reps 4 --cap-pct 50
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py: ensure_cluster, qfile, cpu_cgroup, cgroup_remove)

TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """(user, system) CPU seconds of pid, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TCK, int(fields[12]) / TCK


def answers(port):
    r = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "-p", str(port),
                        "kubernetes.default.svc.cluster.local"], capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.startswith("10.")  # the demo's ClusterIP range


def build_echo_spin():
    """bench/echo_spin.c into build/bench/echo_spin (rebuilt when the source is newer)."""
    src = os.path.join(bench.HERE, "echo_spin.c")
    out = os.path.join(os.path.dirname(bench.CLUSTERDNS), "bench", "echo_spin")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src], check=True)
    return out


def start(spec, work, port, data):
    """A build of clusterdns serving data/cluster.json, or for "echo:NS" the calibration
    responder spinning NS nanoseconds per answer; pinned to CPU 0, its output into work/log."""
    if spec.startswith("echo:"):
        argv, env = [build_echo_spin(), "127.0.0.1", str(port), spec[5:]], None
    else:
        argv = ["bash", os.path.join(bench.HERE, "serve-clusterdns.sh"), work, "127.0.0.1", str(port), "1",
                os.path.join(data, "cluster.json")]
        env = dict(os.environ, CLUSTERDNS=os.path.abspath(spec))
    with open(os.path.join(work, "log"), "w") as log:
        return subprocess.Popen(["taskset", "-c", "0"] + argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--mix", default="internal-hit")
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conc", default="20x400", help="dnsperf CLIENTSxOUTSTANDING")
    ap.add_argument("--cap-pct", type=int, default=0, help="cap every server at this %% of CPU 0 (0: none)")
    ap.add_argument("--port", type=int, default=5600)
    a = ap.parse_args()
    data = bench.ensure_cluster(a.services)
    clients, outstanding = a.conc.split("x")
    servers, groups = [], []
    try:
        for i, b in enumerate(a.binaries):
            port = a.port + i
            work = "/tmp/cdns-ab-%d-%d" % (os.getpid(), i)
            os.makedirs(work, exist_ok=True)
            p = start(b, work, port, data)
            servers.append((b, p, port))
            if a.cap_pct:
                groups.append(bench.cpu_cgroup([p.pid], a.cap_pct, "ab%d" % i))
        for b, p, port in servers:
            for _ in range(200):
                if answers(port):
                    break
                time.sleep(0.2)
            else:
                sys.exit("%s does not answer on port %d (its log: /tmp/cdns-ab-%d-*/log)" % (b, port, os.getpid()))
        res = {b: [] for b in a.binaries}
        for rep in range(a.reps):
            for b, p, port in servers:
                u0, s0 = cpu_s(p.pid)
                out = subprocess.run(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d",
                                      bench.qfile(data, a.mix), "-c", clients, "-q", outstanding, "-l",
                                      str(a.duration)], capture_output=True, text=True).stdout
                u1, s1 = cpu_s(p.pid)
                done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
                if done == 0:
                    sys.exit("dnsperf got no answers from %s:\n%s" % (b, out))
                qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
                cpu = (u1 - u0) + (s1 - s0)
                row = (done / cpu, qps, (u1 - u0) / done * 1e6, (s1 - s0) / done * 1e6)
                res[b].append(row)
                print("%-28s rep %d: %8.0f answers/core %8.0f qps  user %.3f us  sys %.3f us per answer" % (
                    b, rep, *row), flush=True)
        for b in a.binaries:
            med = [sorted(r[k] for r in res[b])[len(res[b]) // 2] for k in range(4)]
            print("%-28s median: %8.0f answers/core %8.0f qps  user %.3f us  sys %.3f us per answer" % (b, *med))
    finally:
        for b, p, port in servers:
            p.send_signal(signal.SIGTERM)  # serve-clusterdns.sh execs the server: p is it
            p.wait()
        time.sleep(0.3)
        for cg in groups:
            bench.cgroup_remove(cg)
        for i in range(len(servers)):
            shutil.rmtree("/tmp/cdns-ab-%d-%d" % (os.getpid(), i), ignore_errors=True)


if __name__ == "__main__":
    main()
