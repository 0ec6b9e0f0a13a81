#!/bin/sh
# SPDX-License-Identifier: MIT
# cap.sh CGROUP CMD [ARGS...]: joins the cgroup v1 cpu group CGROUP (made by forward_bench.py
# --cap-pct), then execs CMD, which and whose children stay capped.
set -e
cg=$1
shift
echo $$ > "$cg/cgroup.procs"
exec "$@"
