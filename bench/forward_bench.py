#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Forwarding throughput: clusterdns's forward (and forward+cache) beside Unbound and dnsmasq.

Every forwarder sends to the same loopback upstream, knotd serving example.com (from
../shared/bench-peers/gen_external.py). Two mixes:

  fwd-miss   unique names under a wildcard: every query goes upstream (forward's own speed);
             each run starts the forwarder fresh so no answer is cached.
  fwd-hit    a hot set of 2000 names after a warm-up: a caching forwarder answers from cache.
             clusterdns needs the cache plugin for this; without it the line is skipped.

Usage (from the checkout):
    python3 bench/forward_bench.py [--reps 3] [--duration 10] [--conc 10x100] [--cap-pct N] [--out bench/data/fwd.tsv]

--cap-pct N caps every forwarder at N % of one core (a cgroup v1 cpu quota joined by bench/cap.sh
before the forwarder starts). One dnsperf on one core cannot saturate a fast forwarder, so
without a cap "answers per server-core" is extrapolated from a partly idle server; with one,
every forwarder is the bottleneck and its answers per core are measured.
Then summarize: python3 ../shared/bench-peers/summarize.py bench/data/fwd.tsv
Only loopback is used: the upstream and every forwarder listen on 127.0.0.1.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench-peers"))
BINARY = os.environ.get("CLUSTERDNS", os.path.join(ROOT, "build", "clusterdns"))


def has_plugin(name):
    out = subprocess.run([BINARY, "-plugins"], capture_output=True, text=True).stdout
    # "-plugins" prints CoreDNS's list: "  dns.cache"
    return any(line.strip() in (name, "dns." + name) for line in out.splitlines())


def serve_script(workdir, cache):
    """A --server-cmd script: writes the Corefile for {addr} {port} {upaddr} {upport}, runs clusterdns."""
    path = os.path.join(workdir, "serve-clusterdns-fwd%s.sh" % ("-cache" if cache else ""))
    with open(path, "w") as f:
        f.write("""#!/bin/bash
# usage: %s WORKDIR ADDR PORT THREADS UPADDR UPPORT
set -e
W=$1 ADDR=$2 PORT=$3 THREADS=$4 UPADDR=$5 UPPORT=$6
mkdir -p "$W"
cat > "$W/Corefile" <<CF
.:$PORT {
    bind $ADDR
    %sforward . $UPADDR:$UPPORT {
        max_concurrent 100000
    }
}
CF
exec %s -conf "$W/Corefile" -workers "$THREADS"
""" % (os.path.basename(path), "cache 3600\n    " if cache else "", BINARY))
    os.chmod(path, 0o755)
    return path


def cap_cgroup(pct):
    """A cgroup v1 cpu group allowing pct % of one core; bench/cap.sh makes a forwarder join it."""
    cg = "/sys/fs/cgroup/cpu/fwdbench-%d" % os.getpid()
    os.makedirs(cg, exist_ok=True)
    with open(os.path.join(cg, "cpu.cfs_period_us"), "w") as f:
        f.write("100000")
    with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
        f.write(str(1000 * pct))
    return cg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "data", "ext"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conc", default="10x100")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mixes", default="fwd-miss,fwd-hit")
    ap.add_argument("--peers", default="clusterdns,unbound,dnsmasq")
    ap.add_argument("--out", default=os.path.join(HERE, "data", "forward.tsv"))
    ap.add_argument("--cap-pct", type=int, default=0, help="cap each forwarder at this %% of a core (0: no cap)")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.data, "example.com.zone")):
        subprocess.run([sys.executable, os.path.join(PEERS, "gen_external.py"), "--out", a.data], check=True)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    work = tempfile.mkdtemp(prefix="fwdbench-")
    cache = has_plugin("cache")
    runner = os.path.join(PEERS, "run_peer.py")
    first = True
    cg = cap_cgroup(a.cap_pct) if a.cap_pct else None
    wrap = "%s %s " % (os.path.join(HERE, "cap.sh"), cg) if cg else ""
    for rep in range(a.reps):  # interleaved: the machine is shared, compare within one run
        for mix in a.mixes.split(","):
            for peer in a.peers.split(","):
                cmd = [sys.executable, runner, "--mode", "fwd", "--upstream", "knot", "--upstream-data", a.data,
                       "--mix", mix, "--reps", "1", "--rep-base", str(rep), "--duration", str(a.duration),
                       "--conc", a.conc, "--threads", str(a.threads), "--out", a.out]
                if not first:
                    cmd.append("--no-header")
                if mix == "fwd-miss":
                    cmd.append("--fresh-per-run")
                else:
                    cmd += ["--warmup", "5"]
                if peer == "clusterdns":
                    if mix == "fwd-hit" and not cache:
                        print("# clusterdns fwd-hit skipped: this build has no cache plugin", file=sys.stderr)
                        continue
                    script = serve_script(work, cache and mix == "fwd-hit")
                    cmd += ["--name", "clusterdns" + ("+cache" if mix == "fwd-hit" else ""), "--server-cmd",
                            wrap + script + " {workdir} {addr} {port} {threads} {upaddr} {upport}",
                            "--probe", "host-1.example.com A"]
                elif cg:
                    # run_peer.py's own template for the peer, behind the cgroup wrapper.
                    cmd += ["--name", peer, "--server-cmd", wrap + "{bench}/peers/%s/serve.sh {mode} {workdir} "
                            "{addr} {port} {threads} {modeargs}" % peer]
                else:
                    cmd += ["--peer", peer]
                subprocess.run(cmd, check=False)
                first = False
    if cg:
        try:
            os.rmdir(cg)
        except OSError as e:
            print("cannot remove %s: %s" % (cg, e), file=sys.stderr)
    print("results in", a.out)


if __name__ == "__main__":
    main()
