#!/usr/bin/env bash
# rss_owners.sh: where historiand's memory goes at its peak during a
# historian-bench load (issue 16, "Peak RSS beyond the heads"). Starts one
# node with /metrics, loads the preset into it (historian-bench
# --start_node=false, then Admin.Compact and the queries), and samples every
# 0.2 s the node's VmRSS (/proc/PID/status) and historian_memory_bytes{owner}
# and historian_malloc_bytes{kind} (/metrics). Prints the sample at the
# highest VmRSS (owner -> MB, and what no owner explains), VmHWM, and the
# ingest rate.
#
#   bench/rss_owners.sh --preset full                      # ~2 minutes
#   bench/rss_owners.sh --preset full --historiand B -- --memtable_budget_bytes=67108864
#   MALLOC_ARENA_MAX=2 bench/rss_owners.sh --preset full   # env goes to the node
#   --samples FILE keeps every sample (rss_kb owner=bytes ...), --label names the run.
#
# Run it through scripts/build-lock.sh on the shared machine.
set -euo pipefail

preset=full
build=build
historiand=""
label=""
samples_out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --historiand) historiand="$2"; shift 2 ;;
    --label) label="$2"; shift 2 ;;
    --samples) samples_out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "rss_owners.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$historiand" ]] || historiand="$build/server/historiand"
bench="$build/bench/historian-bench"
work=$(mktemp -d /tmp/rss-owners.XXXXXX)
node_pid=""
sampler_pid=""
cleanup() {
  [[ -n "$sampler_pid" ]] && kill "$sampler_pid" 2>/dev/null || true
  if [[ -n "$node_pid" ]]; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$historiand" --data_dir="$work/data" --site=us --listen=127.0.0.1:0 \
  --port_file="$work/port" --metrics_listen=127.0.0.1:0 --metrics_port_file="$work/mport" \
  "$@" >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 600); do
  [[ -s "$work/port" && -s "$work/mport" ]] && break
  sleep 0.1
done
port=$(cat "$work/port")
mport=$(cat "$work/mport")

# One line per sample: rss_kb owner=bytes ...
sample() {
  while kill -0 "$node_pid" 2>/dev/null; do
    local rss
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$node_pid/status" 2>/dev/null || echo 0)
    local m
    m=$(curl -s --max-time 1 "http://127.0.0.1:$mport/metrics" |
      awk '/^historian_memory_bytes\{owner="/ || /^historian_malloc_bytes\{kind="/ {
             match($0, /"[^"]*"/); k = substr($0, RSTART + 1, RLENGTH - 2);
             if ($0 ~ /^historian_malloc/) k = "malloc_" k;
             printf "%s=%s ", k, $2 }' || true)
    echo "$rss $m"
    sleep 0.2
  done
}
sample >"$work/samples" &
sampler_pid=$!

"$bench" --preset="$preset" --start_node=false --endpoint="127.0.0.1:$port" \
  --node_pid="$node_pid" --node_data_dir="$work/data" --replication=false --query_runs=3 \
  --json_out="$work/bench.json" >"$work/bench.txt" 2>&1 || { cat "$work/bench.txt"; exit 1; }
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$node_pid/status")
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=""
ingest=$(jq -r '.ingest_samples_per_s' <"$work/bench.json")
[[ -n "$samples_out" ]] && cp "$work/samples" "$samples_out"

sort -n -k1,1 "$work/samples" | tail -n1 | awk -v hwm="$hwm" -v ingest="$ingest" -v label="$label" '
  { printf "%s peak: VmHWM %.0f MB, sampled VmRSS %.0f MB, ingest %.2fM samples/s\n",
           label, hwm / 1024, $1 / 1024, ingest / 1e6;
    known = 0;
    for (i = 2; i <= NF; i++) {
      split($i, kv, "=");
      printf "  %-22s %8.1f MB\n", kv[1], kv[2] / 1048576;
      if (kv[1] !~ /^malloc_/ && kv[1] != "block_cache_pinned") known += kv[2];
    }
    printf "  %-22s %8.1f MB\n", "rss - owners", $1 / 1024 - known / 1048576 }'
