#!/bin/bash
# SPDX-License-Identifier: MIT
# callgrind-cache.sh TAG [BINARY] [N]
# Instructions (and, with CGOPT=--cache-sim=yes, simulated cache misses) per forwarded query
# answered from the cache plugin: clusterdns (cache 3600 + forward) in front of a dnspython
# upstream on 127.0.0.1:5399 that answers every A question with one record, 2,000 names warmed
# into the cache, then N (50,000) hits at 4,000/s measured under callgrind. Prints the whole
# process's and cdns_pipeline_serve's instructions per query and the top functions.
# Loopback only; both processes are started here and killed by PID.
set -e
TAG=$1 BIN=${2:-$(cd "$(dirname "$0")/.." && pwd)/build/clusterdns} N=${3:-50000}
W=$(mktemp -d /tmp/cgcache.XXXXXX)
cat > "$W/up.py" <<'PY'
import socket, dns.message, dns.rrset
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5399))
while True:
    d, a = s.recvfrom(4096)
    q = dns.message.from_wire(d)
    r = dns.message.make_response(q)
    if q.question[0].rdtype == 1:
        r.answer.append(dns.rrset.from_text(q.question[0].name, 3600, "IN", "A", "10.9.8.7"))
    s.sendto(r.to_wire(), a)
PY
printf '.:5398 {\n    bind 127.0.0.1\n    cache 3600\n    forward . 127.0.0.1:5399 {\n        max_concurrent 100000\n    }\n}\n' > "$W/Corefile"
for i in $(seq 1 2000); do echo "h$i.example.com A"; done > "$W/hot.txt"
for i in $(seq 1 $(( (N + 1999) / 2000 ))); do cat "$W/hot.txt"; done | head -n "$N" > "$W/q.txt"
/usr/bin/python3 "$W/up.py" & UP=$!
CLUSTERDNS_USER=root valgrind --tool=callgrind ${CGOPT:-} --instr-atstart=no \
    --callgrind-out-file="$W/cg.%p" "$BIN" -conf "$W/Corefile" -workers 1 > "$W/log" 2>&1 & VP=$!
trap 'kill $VP $UP 2>/dev/null || true' EXIT
sleep 2
dnsperf -s 127.0.0.1 -p 5398 -d "$W/hot.txt" -n 1 -Q 2000 -t 5 > /dev/null   # warm the cache
callgrind_control -z $VP > /dev/null 2>&1
callgrind_control -i on $VP > /dev/null 2>&1
dnsperf -s 127.0.0.1 -p 5398 -d "$W/q.txt" -n 1 -c 1 -q 20 -Q 4000 -t 5 > "$W/perf.txt"
callgrind_control -i off $VP > /dev/null 2>&1
callgrind_control -d $VP > /dev/null 2>&1
sleep 1
kill $VP $UP; wait $VP $UP 2>/dev/null || true
trap - EXIT
DONE=$(awk '/Queries completed/ {print $3}' "$W/perf.txt")
F=$(ls -S "$W"/cg.* | head -1)
mkdir -p "$(dirname "$0")/data/callgrind"
cp "$F" "$(dirname "$0")/data/callgrind/cache-$TAG.out"
echo "$TAG: $DONE cache hits measured"
callgrind_annotate --inclusive=yes --threshold=100 "$F" | grep -E "PROGRAM TOTALS|:cdns_pipeline_serve " | head -2 |
    awk -v n="$DONE" '{x=$1; gsub(",", "", x); printf "%7.0f per query  %s\n", x / n, $0}'
callgrind_annotate --threshold=99 "$F" | grep -E "^\s*[0-9,]+ \(" | sed -n 2,16p |
    awk -v n="$DONE" '{x=$1; gsub(",", "", x); printf "%7.0f  %s\n", x / n, $0}'
rm -rf "$W"
