#!/usr/bin/env bash
# Sparkplug B ingest benchmark (bench/README.md, "Sparkplug"): one mosquitto,
# one historian-gateway --mqtt, one historiand, all on this machine.
#  1. Throughput: historian-sparkplug-sim publishes MESSAGES QoS 0 DDATA of
#     100 Double metrics (10 devices) as fast as it can; we time until the
#     gateway has recorded them (in its batcher/disk queue) and until the node
#     has acknowledged them, and the gateway's CPU time (utime+stime).
#  2. Latency at 50,000 metrics/s (10 devices x 100 metrics x 50 Hz): publish
#     -> readable at the node (Latest), by bench/sparkplug_latency_probe.
# Usage: bench/sparkplug_bench.sh [BUILD_DIR]   (MESSAGES=50000 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build}
MESSAGES=${MESSAGES:-50000}
LAT_SECONDS=${LAT_SECONDS:-20}
BATCH_DELAY=${BATCH_DELAY:-1s}
# One fdatasync per batch, on the MQTT callback thread: bigger batches, fewer.
BATCH_MAX=${BATCH_MAX:-20000}
WORK=$(mktemp -d /tmp/historian-spbench-XXXXXX)
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
  for p in $(shuf -i 20000-60000 -n 100); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status() { grep -o " $1=[0-9]*" "$WORK/gw.log" | tail -n1 | cut -d= -f2; }
now() { date +%s.%N; }

NODE_PORT=$(free_port); MQ_PORT=$(free_port); METRICS_PORT=$(free_port)
"$BIN/server/historiand" --site=bench --data_dir="$WORK/node" --listen="127.0.0.1:$NODE_PORT" \
  --metrics_listen="127.0.0.1:$METRICS_PORT" >"$WORK/node.log" 2>&1 &
pids+=($!)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' \
  "$MQ_PORT" >"$WORK/mosquitto.conf"
$MOSQUITTO -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
pids+=($!)
wait_port "$NODE_PORT"; wait_port "$MQ_PORT"
"$BIN/client/historian-gateway" --mqtt "tcp://127.0.0.1:$MQ_PORT" --site b --sparkplug_host_id bench \
  --server "127.0.0.1:$NODE_PORT" --queue_dir "$WORK/q" --status_interval 200ms \
  --batch_max_delay "$BATCH_DELAY" --batch_max_samples "$BATCH_MAX" 2>"$WORK/gw.log" &
GW=$!
pids+=($GW)
for _ in $(seq 200); do [ -n "$(status messages)" ] && [ "$(grep -c 'mqtt: connected' "$WORK/gw.log")" -ge 1 ] && break; sleep 0.05; done
TICK=$(getconf CLK_TCK)

echo "== throughput: $MESSAGES QoS 0 DDATA x 100 metrics, as fast as the simulator publishes (--batch_max_samples $BATCH_MAX)"
total=$((MESSAGES * 100))
cpu0=$(cpu_ticks "$GW"); m0=$(status metrics); a0=$(status acked_samples)
t0=$(now)
"$BIN/client/historian-sparkplug-sim" --mqtt "tcp://127.0.0.1:$MQ_PORT" --group bench --devices 10 \
  --metrics_per_device 100 --rate 0 --messages "$MESSAGES" --qos 0 2>"$WORK/sim.log" ||
  { cat "$WORK/sim.log"; exit 1; }
t_pub=$(now)
# Recorded: the gateway's metric count stops growing (QoS 0 may be dropped by
# the broker if the gateway falls behind; then fewer than published arrive).
last=-1
while true; do
  m=$(status metrics)
  if [ "$((m - m0))" -ge "$total" ]; then break; fi
  if [ "$m" = "$last" ]; then sleep 1; [ "$(status metrics)" = "$m" ] && break; fi
  last=$m; sleep 0.05
done
t_rec=$(now)
rec=$(( $(status metrics) - m0 ))
# Acknowledged: the disk queue is empty again.
while [ "$(status queue_samples)" != 0 ]; do sleep 0.05; done
t_ack=$(now)
cpu1=$(cpu_ticks "$GW")
tail -n1 "$WORK/sim.log"
awk -v t0="$t0" -v tp="$t_pub" -v tr="$t_rec" -v ta="$t_ack" -v n="$total" -v rec="$rec" \
  -v c="$((cpu1 - cpu0))" -v hz="$TICK" 'BEGIN {
  printf "published %d metrics in %.2f s (%.0f/s)\n", n, tp - t0, n / (tp - t0);
  printf "recorded by the gateway: %d (%.2f%%) in %.2f s: %.0f metrics/s\n", rec, 100 * rec / n, tr - t0, rec / (tr - t0);
  printf "acked by the node (queue empty): %.2f s after the first publish: %.0f metrics/s end to end\n", ta - t0, rec / (ta - t0);
  printf "gateway CPU: %.2f s = %.2f us per metric\n", c / hz, 1e6 * c / hz / rec }'

echo "== latency at 50,000 metrics/s (10 devices x 100 metrics x 50 Hz), ${LAT_SECONDS}s, --batch_max_delay $BATCH_DELAY"
cpu0=$(cpu_ticks "$GW"); m0=$(status metrics)
"$BIN/client/historian-sparkplug-sim" --mqtt "tcp://127.0.0.1:$MQ_PORT" --group lat --devices 10 \
  --metrics_per_device 100 --rate 50 --duration "$((LAT_SECONDS + 4))s" --qos 0 2>"$WORK/sim2.log" &
SIM=$!
pids+=($SIM)
sleep 2
"$BIN/bench/sparkplug_latency_probe" --server "127.0.0.1:$NODE_PORT" --tag b.lat.edge1.dev1.v0 \
  --duration "${LAT_SECONDS}s"
wait "$SIM" || true
cpu1=$(cpu_ticks "$GW"); m1=$(status metrics)
tail -n1 "$WORK/sim2.log"
awk -v c="$((cpu1 - cpu0))" -v hz="$TICK" -v n="$((m1 - m0))" 'BEGIN {
  printf "gateway CPU at 50k metrics/s: %.2f s for %d metrics = %.2f us per metric\n", c / hz, n, 1e6 * c / hz / n }'
