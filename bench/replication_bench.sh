#!/usr/bin/env bash
# Replication catch-up and anti-entropy cost, with real nodes on loopback.
#   bench/replication_bench.sh [TAGS] [MINUTES]     (default 10000 tags, 10 min)
# 1. Node B is down (a partition) while a simulated plant of TAGS tags writes
#    MINUTES of 1 Hz data to node A through historian-gateway.
# 2. B starts; the time until B has applied A's whole log gives the
#    catch-up rate (samples/s).
# 3. `historian verify --peer` on A (digests of every tag and hour on both
#    nodes, compared) gives the cost of anti-entropy over that data.
set -euo pipefail
cd "$(dirname "$0")/.."
TAGS=${1:-10000}
MINUTES=${2:-10}
BIN=${BUILD_DIR:-build}
WORK=$(mktemp -d /tmp/historian-repl-bench-XXXXXX)
A=127.0.0.1:17800
B=127.0.0.1:17810
pids=()
cleanup() {
  rc=$?
  if [ $rc -ne 0 ]; then tail -n 5 "$WORK"/*.log >&2 || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
CLI="$BIN/client/historian"
start_node() {  # site listen peer_site peer_addr
  "$BIN/server/historiand" --site="$1" --data_dir="$WORK/$1" --listen="$2" --peers="$3=$4" \
    --metrics_listen= --anti_entropy_interval=0s >"$WORK/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do $CLI --server "$2" tags >/dev/null 2>&1 && return; sleep 0.05; done
  echo "node $1 did not start" >&2; exit 1
}
start_node us "$A" mx "$B"
t0=$(now)
"$BIN/client/historian-gateway" --server "$A" --queue_dir "$WORK/gw" --site us \
  --simulate-tags "$TAGS" --duration "${MINUTES}m" --fast --batch_max_samples 20000 \
  --status_interval 1h 2>"$WORK/gw.log"
t1=$(now)
samples=$((TAGS * MINUTES * 60))
printf 'load: %d samples into A in %.1f s (gateway, while B is down)\n' "$samples" \
  "$(echo "$t1 - $t0" | bc)"

start_node mx "$B" us "$A"
t2=$(now)
# Caught up when B has applied A's whole log and reports no lag.
for _ in $(seq 6000); do
  out=$($CLI --server "$B" --format table stats 2>/dev/null || true)
  line=$(echo "$out" | grep -E '^  us ' || true)
  applied=$(echo "$line" | sed -n 's/.*applied_sequence=\([0-9]*\).*/\1/p')
  head=$(echo "$line" | sed -n 's/.*peer_head_sequence=\([0-9]*\).*/\1/p')
  lag=$(echo "$line" | sed -n 's/.*lag_samples=\([0-9]*\).*/\1/p')
  if [ -n "$applied" ] && [ "$applied" = "$head" ] && [ "$head" != "0" ] && [ "$lag" = "0" ]; then
    break
  fi
  sleep 0.1
done
t3=$(now)
catchup=$(echo "$t3 - $t2" | bc)
printf 'catch-up: %d samples in %.2f s = %.2f M samples/s (throttle --replication_max_samples_per_sec=2000000)\n' \
  "$samples" "$catchup" "$(echo "$samples / $catchup / 1000000" | bc -l)"

t4=$(now)
$CLI --server "$A" verify --peer mx >"$WORK/verify.txt"
t5=$(now)
printf 'anti-entropy (verify, all time, %d tags, %d samples per side): %.2f s\n' "$TAGS" "$samples" \
  "$(echo "$t5 - $t4" | bc)"
grep -E "buckets_compared|buckets_differing" "$WORK/verify.txt"
