#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/callgrind.py — instructions per answered query, server side, under valgrind --tool=callgrind.

The server (clusterdns, or knotd/nsd/echo for reference, measured the same way) starts under
callgrind with instrumentation off, loads its data, and answers a probe; then it is switched
on (callgrind_control -i on), dnsperf sends exactly N queries of a mix at a rate the valgrinded
server keeps up with, and the counters are dumped (callgrind_control -d) before the server is
stopped. Instructions over the window divided by the answered queries is the figure: the whole
process (every thread, event loop, syscall wrappers), nothing of the load. Repeatable to a few
per cent: valgrind counts instructions, not time.

  bench/callgrind.py --server clusterdns --mix internal-hit -n 100000
  bench/callgrind.py --server knot --mix internal-hit -n 100000 --annotate 25

Output: one line per server/mix ("Ir/query") and, with --annotate, callgrind_annotate's top
functions (exclusive) into bench/data/callgrind/<server>-<mix>.txt.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py: server commands, run_peer helpers)

rp = bench.rp


def total_ir(path):
    """The dump's "totals:" line (its "summary:" stays 0 after -i on/off)."""
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    return None


def valgrind_pid(peer):
    for p in peer.srv.pids():
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if b"callgrind" in f.read():
                    return p
        except OSError:
            pass
    return None


def measure(a, kind, mix):
    data = bench.ensure_cluster(a.services)
    outdir = os.path.join(bench.DATA, "callgrind")
    os.makedirs(outdir, exist_ok=True)
    qsrc = bench.qfile(data, mix)
    qf = os.path.join(outdir, "%s-%d.txt" % (mix, a.n))
    if not os.path.exists(qf):
        with open(qsrc) as f, open(qf, "w") as o:
            lines = f.readlines()
            for i in range(a.n):
                o.write(lines[i % len(lines)])
    tag = kind + (("-" + a.tag) if a.tag else "")
    dtag = tag + "-" + mix
    for old in glob.glob(os.path.join(outdir, "cg-%s.*" % dtag)):
        os.unlink(old)
    cgout = os.path.join(outdir, "cg-%s.%%p" % dtag)
    vg = "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s" % cgout
    # Started as root, the server becomes nobody after binding; callgrind_control (vgdb) then
    # never gets through to it and waits forever. Measured as root, it keeps root.
    set_user = kind == "clusterdns" and "CLUSTERDNS_USER" not in os.environ
    if set_user:
        os.environ["CLUSTERDNS_USER"] = "root"
    if kind == "clusterdns":
        os.environ["CLUSTERDNS_WRAP"] = vg
    peer = bench.Peer(kind, data, a.port)
    if kind != "clusterdns":
        # The peers' serve.sh scripts exec the daemon: run a copy that execs it under valgrind.
        script = peer.srv.cmd.split()[0]
        wrapped = os.path.join(outdir, "serve-%s.sh" % kind)
        with open(script) as f, open(wrapped, "w") as o:
            body = f.read().replace('$(dirname "$0")', os.path.dirname(script))
            o.write(re.sub(r"^exec (\S+)", r"exec " + vg + r" \1", body, flags=re.M))
        os.chmod(wrapped, 0o755)
        peer.srv.cmd = peer.srv.cmd.replace(script, wrapped, 1)
    try:
        peer.start()
        vpid = valgrind_pid(peer) or peer.srv.proc.pid
        time.sleep(0.5)
        subprocess.run(["callgrind_control", "-z", str(vpid)], capture_output=True)
        subprocess.run(["callgrind_control", "-i", "on", str(vpid)], check=True, capture_output=True)
        text, _ = rp.run_client(["dnsperf", "-s", "127.0.0.1", "-p", str(peer.port), "-d", qf, "-n", "1",
                                 "-c", "1", "-q", "20", "-Q", str(a.rate), "-t", "5"], "1")
        r = rp.parse_dnsperf(text)
        subprocess.run(["callgrind_control", "-i", "off", str(vpid)], capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(vpid)], check=True, capture_output=True)
        time.sleep(1)
    finally:
        peer.stop()
        os.environ.pop("CLUSTERDNS_WRAP", None)
        if set_user:
            os.environ.pop("CLUSTERDNS_USER", None)
    dumps = sorted(glob.glob(os.path.join(outdir, "cg-%s.*" % dtag)))
    best = None
    for d in dumps:
        ir = total_ir(d)
        if ir is not None and (best is None or ir > best[1]):
            best = (d, ir)
    if not best:
        sys.exit("no callgrind dump for %s" % kind)
    done = r.get("completed", 0)
    per = best[1] / done if done else float("nan")
    # The query work proper, without the event loop and the receive/send batch around it:
    # what one query costs whatever the batching (clusterdns only; its entry point is named).
    inc = ""
    if kind == "clusterdns":
        txt = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", best[0]],
                             capture_output=True, text=True).stdout
        m = re.search(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*:cdns_pipeline_serve ", txt, re.M)
        if m and done:
            inc = ", cdns_pipeline_serve inclusive %.0f Ir/query" % (int(m.group(1).replace(",", "")) / done)
    print("%-11s %-13s %d queries answered (%d lost): %.0f Ir/query%s (%s)" % (
        tag, mix, done, r.get("lost", 0), per, inc, best[0]), flush=True)
    if a.annotate:
        txt = subprocess.run(["callgrind_annotate", "--threshold=99", best[0]], capture_output=True,
                             text=True).stdout
        ann = os.path.join(outdir, "%s-%s.txt" % (tag, mix))
        with open(ann, "w") as f:
            f.write("# %.0f Ir/query over %d answered queries\n" % (per, done))
            f.write(txt)
        lines = [ln for ln in txt.splitlines() if re.match(r"^\s*[\d,]+ \(", ln)]
        for ln in lines[:a.annotate]:
            m = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", ln)
            if m:
                print("   %7.0f Ir/q %5s%%  %s" % (int(m.group(1).replace(",", "")) / done, m.group(2),
                                                 m.group(3)[:110]))
    return per


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="clusterdns", help="comma list: clusterdns,knot,nsd,echo")
    ap.add_argument("--mix", default="internal-hit", help="comma list of mixes")
    ap.add_argument("-n", type=int, default=100000, help="queries per measurement")
    ap.add_argument("--rate", type=int, default=4000, help="dnsperf -Q under valgrind")
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--port", type=int, default=5390)
    ap.add_argument("--tag", default="", help="suffix for the output files (e.g. before/after)")
    ap.add_argument("--annotate", type=int, default=0, metavar="K", help="print the top K functions")
    a = ap.parse_args()
    for kind in a.server.split(","):
        for mix in a.mix.split(","):
            measure(a, kind, mix)


if __name__ == "__main__":
    main()
