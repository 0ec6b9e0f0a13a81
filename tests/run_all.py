#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The test driver behind `make test` / `make asan`: unit runners, fuzz-corpus replay, then the
integration suite against the binary of the same build. Prints one summary line at the end:
"total: N passed, N failed"."""
import argparse
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_units(build):
    passed = failed = 0
    bins = sorted(p for p in glob.glob(os.path.join(ROOT, build, "unit", "**", "test_*"), recursive=True)
                  if os.access(p, os.X_OK) and not p.endswith(".d"))
    for b in bins:
        r = subprocess.run([b], cwd=ROOT, capture_output=True, text=True)
        out = r.stdout + r.stderr
        m = re.search(r"(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)", out)
        name = os.path.relpath(b, os.path.join(ROOT, build, "unit"))
        if m:
            n, f, e = int(m.group(2)), int(m.group(3)), int(m.group(4))
            passed += n - f - e
            failed += f + e
        else:
            failed += 1
        if r.returncode != 0:
            if not m or (int(m.group(3)) + int(m.group(4))) == 0:
                failed += 1
            sys.stdout.write(out)
        print("unit %-28s %s" % (name, m.group(0) if m else "CRASHED (exit %d)" % r.returncode))
    return passed, failed


def run_fuzz_replay(build):
    passed = failed = 0
    for b in sorted(p for p in glob.glob(os.path.join(ROOT, build, "fuzz", "replay_*")) if not p.endswith(".d")):
        target = os.path.basename(b)[len("replay_"):]
        corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", target)
        files = sorted(glob.glob(os.path.join(corpus, "*")))
        r = subprocess.run([b] + files, cwd=ROOT, capture_output=True, text=True)
        ok = r.returncode == 0
        passed += ok
        failed += not ok
        print("fuzz-replay %-20s %d inputs %s" % (target, len(files), "ok" if ok else "FAILED"))
        if not ok:
            sys.stdout.write(r.stdout + r.stderr)
    return passed, failed


def run_integration(build):
    env = dict(os.environ, CLUSTERDNS=os.path.join(ROOT, build, "clusterdns"))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        os.path.join(ROOT, "tests", "integration")], cwd=ROOT, env=env, capture_output=True,
                       text=True)
    sys.stdout.write(r.stdout[-20000:] + r.stderr[-5000:])
    tail = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    p = int(m.group(1)) if (m := re.search(r"(\d+) passed", tail)) else 0
    f = int(m.group(1)) if (m := re.search(r"(\d+) failed", tail)) else 0
    f += int(m.group(1)) if (m := re.search(r"(\d+) error", tail)) else 0
    if r.returncode not in (0, 5) and f == 0:
        f = 1
    return p, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--skip-integration", action="store_true")
    a = ap.parse_args()
    total_p = total_f = 0
    for step in (run_units, run_fuzz_replay) + (() if a.skip_integration else (run_integration,)):
        p, f = step(a.build)
        total_p += p
        total_f += f
    print("total: %d passed, %d failed" % (total_p, total_f))
    return 0 if total_f == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
