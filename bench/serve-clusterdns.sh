#!/bin/bash
# SPDX-License-Identifier: MIT
# serve-clusterdns.sh WORKDIR ADDR PORT THREADS OBJECTS [TTL]
# Serves a generated cluster (gen_cluster.py's cluster.json) from build/clusterdns in the
# foreground, the way bench-peers/run_peer.py runs every peer: writes WORKDIR/Corefile with the
# kubernetes plugin reading OBJECTS (pods insecure, the zone file's TTL, 5 s by default) and
# execs the server with -workers THREADS. CLUSTERDNS overrides the binary (e.g. build-asan/).
set -e
W=$1 ADDR=$2 PORT=$3 THREADS=$4 OBJECTS=$5 TTL=${6:-5}
here=$(cd "$(dirname "$0")" && pwd)
bin=${CLUSTERDNS:-$here/../build/clusterdns}
mkdir -p "$W"
cat > "$W/Corefile" <<CONF
.:$PORT {
    bind $ADDR
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        objects $(realpath "$OBJECTS")
        pods insecure
        ttl $TTL
    }
}
CONF
exec ${CLUSTERDNS_WRAP:-} "$bin" -conf "$W/Corefile" -workers "$THREADS"
