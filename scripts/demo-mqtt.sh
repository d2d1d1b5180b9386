#!/usr/bin/env bash
# The MQTT leg of the demo (called by scripts/demo.sh, or alone with US and
# MX nodes already running): mosquitto on a free port, Sparkplug B edge nodes
# (historian-sparkplug-sim) publishing a plant, the gateway recording it as a
# Sparkplug primary host into the US node, and the data read at MX after
# replication.
#   BIN=build US=127.0.0.1:17400 MX=127.0.0.1:17410 scripts/demo-mqtt.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build}
US=${US:?US node address}
MX=${MX:?MX node address}
CLI=$BIN/client/historian
GATEWAY=$BIN/client/historian-gateway
SIM=$BIN/client/historian-sparkplug-sim
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
WORK=$(mktemp -d /tmp/historian-demo-mqtt-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A free port: nothing accepts a connection on it.
port=
for p in $(shuf -i 20000-60000 -n 50); do
  if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port for mosquitto"; exit 1; }

step "MQTT: mosquitto on 127.0.0.1:$port, the gateway as Sparkplug B primary host 'demo-host' into US"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\n' \
  "$port" "$WORK" >"$WORK/mosquitto.conf"
# As root, mosquitto would drop to its own user, which cannot write in $WORK.
[ "$(id -u)" != 0 ] || echo "user root" >>"$WORK/mosquitto.conf"
$MOSQUITTO -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
$GATEWAY --mqtt "tcp://127.0.0.1:$port" --site us --sparkplug_host_id demo-host \
  --server "$US,$MX" --queue_dir "$WORK/gw-mqtt" --status_interval 2s 2>"$WORK/gw-mqtt.log" &
gw=$!
pids+=($gw)
for _ in $(seq 100); do
  mosquitto_sub -p "$port" -t spBv1.0/STATE/demo-host -C 1 -W 1 2>/dev/null | grep -q '"online":true' && break
done
echo "STATE: $(mosquitto_sub -p "$port" -t spBv1.0/STATE/demo-host -C 1 -W 2)"

step "Edge nodes edge1, edge2 (group plant1): presses, ovens, counters, conveyors, 5 DDATA/s per device for 6 s"
$SIM --mqtt "tcp://127.0.0.1:$port" --group plant1 --nodes 2 --devices 4 --rate 5 --duration 6s \
  --host_id demo-host

step "Waiting until MX holds the Sparkplug tags recorded at US (replication)"
n=0
for _ in $(seq 300); do
  n=$($CLI --server "$MX" tags 'us.plant1.*' --format csv 2>/dev/null | tail -n +2 | wc -l)
  [ "$n" -ge 26 ] && break
  sleep 0.2
done
echo "MX knows $n us.plant1.* tags"
$CLI --server "$MX" --format table tags 'us.plant1.edge1.oven1.*'
step "At MX: raw samples of us.plant1.edge1.oven1.Zone1/Temp"
$CLI --server "$MX" --format table query 'us.plant1.edge1.oven1.Zone1/Temp' --from -1m --to +1m --limit 6
step "At MX: latest of edge1's press: the edge nodes have stopped (NDEATH), so Bad 0x808A0000 'not connected'"
$CLI --server "$MX" --format table latest 'us.plant1.edge1.press1.*'

kill -TERM "$gw"
wait "$gw" || true
tail -n 3 "$WORK/gw-mqtt.log"
echo "STATE after the gateway stopped: $(mosquitto_sub -p "$port" -t spBv1.0/STATE/demo-host -C 1 -W 2)"
