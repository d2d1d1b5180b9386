#!/usr/bin/env bash
# Site cluster ingest (issue 20, bench/README.md "Site cluster: client-routed
# ingest"): the same data set loaded by historian-bench's Writer with
# route_to_owners into (a) a 3-node cluster (one etcd, 3 historiand, cluster
# init with 256 shards) and (b) one plain node, on this machine. Prints both
# JSON lines, then for each the nodes' CPU seconds when the bench exited and once
# they are idle again (the sealing a node put off past its last ack counts
# too), and their seal counts (bench/README.md, "Work a node puts off past
# its last ack"). Usage:
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
TICK=$(getconf CLK_TCK)
cpu_ticks() {  # cpu_ticks PID...: their user+system CPU in clock ticks
  local total=0 p f
  for p in "$@"; do read -r -a f <"/proc/$p/stat"; total=$((total + f[13] + f[14])); done
  echo "$total"
}
seconds() { awk -v t="$1" -v k="$TICK" 'BEGIN { printf "%.2f", t / k }'; }
# node_work LABEL BEFORE PIDS...: CPU since BEFORE at the last ack and once the
# pids use under 5 ticks in a second (their seal passes done), and the seals.
node_work() {
  local label=$1 before=$2; shift 2
  local at_ack prev cur waited=0
  at_ack=$(cpu_ticks "$@"); prev=$at_ack
  while sleep 1; do
    cur=$(cpu_ticks "$@"); waited=$((waited + 1))
    ((cur - prev < 5)) && break
    prev=$cur
  done
  echo "$label: nodes' CPU s: $(seconds $((at_ack - before))) when the bench exited," \
    "$(seconds $((cur - before))) once idle (${waited} s later)"
}
seals() {  # seals ADDR...: chunks_sealed summed over the nodes
  local total=0 a n
  for a in "$@"; do
    n=$("$B/client/historian" --server="$a" stats | awk '/^chunks_sealed:/ { print $2 }')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}
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
PIDS=()
for i in 0 1 2; do
  P+=("$(port)")
  "$B/server/historiand" --data_dir="$W/n$i" --listen="127.0.0.1:${P[$i]}" \
    --metrics_listen=127.0.0.1:0 --site=us --cluster_etcd="127.0.0.1:$EC" >"$W/n$i.log" 2>&1 &
  PIDS+=($!)
done
members() { [ "$(/usr/bin/etcdctl --endpoints="127.0.0.1:$EC" get --prefix --keys-only /historian/us/members/ | grep -c members)" = 3 ]; }
wait_until 60 members
"$B/client/historian" --server="127.0.0.1:${P[0]}" cluster init --shards=256 >&2
sleep 2  # every node sees the placement through its etcd watch (well under 1 s)
echo "# 3-node cluster, writer routed to owners (endpoint node 0)" >&2
BEFORE=$(cpu_ticks "${PIDS[@]}")
"$B/bench/historian-bench" --start_node=false --endpoint="127.0.0.1:${P[0]}" \
  --ingest_client=writer --route_to_owners=true --replication=false --query_runs=1 "$@" \
  --json_out="$W/cluster.json" 2>&1 | tee "$W/cluster.txt" >&2 || true
CLUSTER_WORK=$(node_work cluster "$BEFORE" "${PIDS[@]}")
CLUSTER_SEALS=$(seals "${P[@]/#/127.0.0.1:}")
# Queries after the load need query fan-out (cluster-query); without it the
# bench stops at its first query; the ingest line is what is measured here.
for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
S=$(port)
"$B/server/historiand" --data_dir="$W/single" --listen="127.0.0.1:$S" --metrics_listen=127.0.0.1:0 \
  >"$W/single.log" 2>&1 &
SINGLE_PID=$!
wait_until 30 "$B/client/historian" --server="127.0.0.1:$S" tags
echo "# one node, same writer options" >&2
BEFORE=$(cpu_ticks "$SINGLE_PID")
"$B/bench/historian-bench" --start_node=false --endpoint="127.0.0.1:$S" \
  --ingest_client=writer --route_to_owners=true --replication=false --query_runs=1 "$@" \
  --json_out="$W/single.json" 2>&1 | tee "$W/single.txt" >&2 || true
SINGLE_WORK=$(node_work single "$BEFORE" "$SINGLE_PID")
SINGLE_SEALS=$(seals "127.0.0.1:$S")
echo "cluster: $(grep -h 'acked .* samples in' "$W/cluster.txt")"
echo "single:  $(grep -h 'acked .* samples in' "$W/single.txt")"
echo "$CLUSTER_WORK; $CLUSTER_SEALS seals"
echo "$SINGLE_WORK; $SINGLE_SEALS seals"
