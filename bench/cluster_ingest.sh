#!/usr/bin/env bash
# Site cluster ingest (issue 20, bench/README.md "Site cluster: client-routed
# ingest"): the same data set loaded by historian-bench's Writer with
# route_to_owners into (a) a 3-node cluster (one etcd, 3 historiand, cluster
# init with 256 shards) and (b) one plain node, on this machine. Prints both
# JSON lines. Usage:
#   bench/cluster_ingest.sh [BUILD_DIR] [historian-bench flags...]
# e.g. bench/cluster_ingest.sh build --tags=1000 --duration=30m --streams=4
set -euo pipefail
B=${1:-build}
shift || true
W=$(mktemp -d /tmp/cluster-bench.XXXXXX)
cleanup() {
  for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_until() {  # wait_until SECONDS CMD...
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > end)); then echo "timed out: $*" >&2; return 1; fi
    sleep 0.2
  done
}
EC=$(port); EP=$(port)
/usr/bin/etcd --name=bench --data-dir="$W/etcd" \
  --listen-client-urls="http://127.0.0.1:$EC" --advertise-client-urls="http://127.0.0.1:$EC" \
  --listen-peer-urls="http://127.0.0.1:$EP" --initial-advertise-peer-urls="http://127.0.0.1:$EP" \
  --initial-cluster="bench=http://127.0.0.1:$EP" --log-level=warn >"$W/etcd.log" 2>&1 &
wait_until 30 /usr/bin/etcdctl --endpoints="127.0.0.1:$EC" endpoint health
P=()
for i in 0 1 2; do
  P+=("$(port)")
  "$B/server/historiand" --data_dir="$W/n$i" --listen="127.0.0.1:${P[$i]}" \
    --metrics_listen=127.0.0.1:0 --site=us --cluster_etcd="127.0.0.1:$EC" >"$W/n$i.log" 2>&1 &
done
members() { [ "$(/usr/bin/etcdctl --endpoints="127.0.0.1:$EC" get --prefix --keys-only /historian/us/members/ | grep -c members)" = 3 ]; }
wait_until 60 members
"$B/client/historian" --server="127.0.0.1:${P[0]}" cluster init --shards=256 >&2
sleep 2  # every node sees the placement through its etcd watch (well under 1 s)
echo "# 3-node cluster, writer routed to owners (endpoint node 0)" >&2
"$B/bench/historian-bench" --start_node=false --endpoint="127.0.0.1:${P[0]}" \
  --ingest_client=writer --route_to_owners=true --replication=false --query_runs=1 "$@" \
  --json_out="$W/cluster.json" 2>&1 | tee "$W/cluster.txt" >&2 || true
# Queries after the load need query fan-out (cluster-query); without it the
# bench stops at its first query; the ingest line is what is measured here.
for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
S=$(port)
"$B/server/historiand" --data_dir="$W/single" --listen="127.0.0.1:$S" --metrics_listen=127.0.0.1:0 \
  >"$W/single.log" 2>&1 &
wait_until 30 "$B/client/historian" --server="127.0.0.1:$S" tags
echo "# one node, same writer options" >&2
"$B/bench/historian-bench" --start_node=false --endpoint="127.0.0.1:$S" \
  --ingest_client=writer --route_to_owners=true --replication=false --query_runs=1 "$@" \
  --json_out="$W/single.json" 2>&1 | tee "$W/single.txt" >&2 || true
echo "cluster: $(grep -h 'acked .* samples in' "$W/cluster.txt")"
echo "single:  $(grep -h 'acked .* samples in' "$W/single.txt")"
