#!/usr/bin/env bash
# The twin-plant demo: installs dependencies, builds, then runs a US node and
# an MX node on loopback that replicate to each other, a simulated gateway at
# each plant streaming its telemetry to its own site (failing over to the
# twin), and queries at each site that show both plants' data; then the MQTT
# leg (scripts/demo-mqtt.sh): Sparkplug B edge nodes on mosquitto, recorded
# by the gateway into US, read at MX.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BIN=${BUILD_DIR:-build}
HISTORIAND=$BIN/server/historiand
CLI=$BIN/client/historian
GATEWAY=$BIN/client/historian-gateway
WORK=$(mktemp -d /tmp/historian-demo-XXXXXX)
US_PORT=${US_PORT:-17400}
MX_PORT=${MX_PORT:-17410}
US=127.0.0.1:$US_PORT
MX=127.0.0.1:$MX_PORT
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the US node ($US) and the MX node ($MX), each a peer of the other"
$HISTORIAND --site=us --data_dir="$WORK/us" --listen="$US" --peers="mx=$MX" \
  --metrics_listen=127.0.0.1:$((US_PORT + 1)) --http_listen=127.0.0.1:$((US_PORT + 2)) \
  --twin_map=us.=mx. >"$WORK/us.log" 2>&1 &
pids+=($!)
$HISTORIAND --site=mx --data_dir="$WORK/mx" --listen="$MX" --peers="us=$US" \
  --metrics_listen=127.0.0.1:$((MX_PORT + 1)) --http_listen=127.0.0.1:$((MX_PORT + 2)) \
  --twin_map=mx.=us. >"$WORK/mx.log" 2>&1 &
pids+=($!)
for addr in "$US" "$MX"; do
  for _ in $(seq 100); do $CLI --server "$addr" tags >/dev/null 2>&1 && break; sleep 0.1; done
done
head -n1 "$WORK/us.log" "$WORK/mx.log"

step "Gateways: 40 simulated tags per plant, 10 minutes of 1 Hz telemetry each"
$GATEWAY --server "$US,$MX" --queue_dir="$WORK/gw-us" --site us --simulate-tags 40 \
  --duration 10m --fast --status_interval 2s 2>"$WORK/gw-us.log" &
gw_us=$!
$GATEWAY --server "$MX,$US" --queue_dir="$WORK/gw-mx" --site mx --simulate-tags 40 \
  --duration 10m --fast --status_interval 2s 2>"$WORK/gw-mx.log" &
gw_mx=$!
wait $gw_us && wait $gw_mx
tail -n1 "$WORK/gw-us.log" "$WORK/gw-mx.log"

step "Waiting until each site holds the other plant's data (replication)"
for _ in $(seq 300); do
  a=$($CLI --server "$US" tags 'mx.*' --format csv 2>/dev/null | tail -n +2 | wc -l)
  b=$($CLI --server "$MX" tags 'us.*' --format csv 2>/dev/null | tail -n +2 | wc -l)
  [ "$a" -ge 40 ] && [ "$b" -ge 40 ] && break
  sleep 0.2
done
echo "US site knows $a MX tags; MX site knows $b US tags"

first_tag() { $CLI --server "$1" tags "$2" --format csv | sed -n 2p | cut -d, -f1; }
US_TAG=$(first_tag "$US" 'us.*temp*' || true)
[ -n "$US_TAG" ] || US_TAG=$(first_tag "$US" 'us.*')
MX_TAG=$(first_tag "$MX" 'mx.*temp*' || true)
[ -n "$MX_TAG" ] || MX_TAG=$(first_tag "$MX" 'mx.*')

step "At the US site: latest values of the MX plant"
$CLI --server "$US" --format table latest 'mx.*' | head -n 8

# The simulated plants start now and run 10 minutes of plant time ahead.
step "At the MX site: 1-minute time-weighted averages of $US_TAG (a US tag)"
$CLI --server "$MX" --format table query "$US_TAG" --from -1m --to +11m \
  --agg time_weighted_avg,min,max --step 1m | head -n 8

step "At the US site: raw samples of $MX_TAG (an MX tag)"
$CLI --server "$US" --format table query "$MX_TAG" --from -1m --to +11m --limit 5

if $CLI stats --help >/dev/null 2>&1; then
  step "Replication status at the US site"
  $CLI --server "$US" --format table stats
fi
if $CLI verify --help >/dev/null 2>&1; then
  step "Digest comparison US vs MX (0 differing buckets when converged)"
  for _ in $(seq 100); do
    out=$($CLI --server "$US" verify --peer mx 2>&1 || true)
    echo "$out" | grep -qiE 'differing[^0-9]*0\b' && break
    sleep 0.2
  done
  echo "$out"
fi
step "Twin deviation alarm: the US press 1 oil temperature drifts from its MX twin"
# One sample a second from now: the MX twin steady at 80, the US line at 80
# and, from second 10, at 92. The rule lives at US (its home site) and
# compares each US sample with the twin's newest sample (docs/events.md); it
# sees the samples applied after it is made.
T0=$(($(date +%s) * 1000000000))
series() { # TAG FIRST LAST VALUE_BEFORE_10 VALUE_FROM_10
  echo tag,time,value
  for i in $(seq "$2" "$3"); do
    v=$4; [ "$i" -ge 10 ] && v=$5
    echo "$1,$((T0 + i * 1000000000)),$v"
  done
}
wait_samples() { # SERVER TAG N: until SERVER holds N samples of TAG from T0 on
  for _ in $(seq 100); do
    n=$($CLI --server "$1" --format csv query "$2" --from "${T0}ns" --to +1m 2>/dev/null |
      tail -n +2 | wc -l)
    [ "$n" -ge "$3" ] && return 0
    sleep 0.1
  done
}
$CLI --server "$MX" write mx.press1.oil_temp 80 --time "${T0}ns" >/dev/null
$CLI --server "$US" write us.press1.oil_temp 80 --time "${T0}ns" >/dev/null
wait_samples "$US" mx.press1.oil_temp 1  # the twin tag is known at US
echo "+ historian rule add press1_oil_drift --kind twin_deviation --tag us.press1.oil_temp --limit 5 --duration 2s --home_site us"
$CLI --server "$US" rule add press1_oil_drift --kind twin_deviation --tag us.press1.oil_temp \
  --limit 5 --duration 2s --home_site us
series mx.press1.oil_temp 1 10 80 80 | $CLI --server "$MX" import-csv - >/dev/null
wait_samples "$US" mx.press1.oil_temp 11
series us.press1.oil_temp 1 14 80 92 | $CLI --server "$US" import-csv - >/dev/null
echo "+ historian events --active   (at the MX site: raised at US, replicated)"
for _ in $(seq 100); do
  ev=$($CLI --server "$MX" events --active --glob 'us.press1.*' 2>/dev/null | tail -n +2)
  [ -n "$ev" ] && break
  sleep 0.1
done
$CLI --server "$MX" events --active --glob 'us.press1.*'
EVENT_ID=$(echo "$ev" | head -n1 | cut -f1)
echo "+ historian ack $EVENT_ID --comment 'MX maintenance checking press 1'   (at the MX site)"
$CLI --server "$MX" ack "$EVENT_ID" --comment "MX maintenance checking press 1"
echo "+ historian events   (at the US site: the ack made at MX)"
for _ in $(seq 100); do
  $CLI --server "$US" events --glob 'us.press1.*' 2>/dev/null | grep -q acked && break
  sleep 0.1
done
$CLI --server "$US" events --glob 'us.press1.*'

step "The HTTP API and the trend page (twin toggle: the same asset at the other plant)"
US_HTTP=http://127.0.0.1:$((US_PORT + 2))
# The simulated plant time runs from now to 10 minutes ahead.
NOW_MS=$(date +%s%3N)
echo "trend page, US site:  $US_HTTP/?tags=$US_TAG,$MX_TAG&start=$((NOW_MS - 60000))&end=$((NOW_MS + 660000))"
echo "trend page, MX site:  http://127.0.0.1:$((MX_PORT + 2))/"
echo "JSON:  curl '$US_HTTP/api/v1/latest?glob=mx.*'"
if command -v curl >/dev/null; then
  curl -s "$US_HTTP/api/v1/aggregate?tags=$US_TAG&start=-1m&end=%2B11m&step=5m&functions=avg,max&format=csv"
fi
BIN="$BIN" US="$US" MX="$MX" bash scripts/demo-mqtt.sh

if [ -n "${DEMO_KEEP:-}" ]; then
  step "DEMO_KEEP is set: the nodes keep running until Ctrl-C"
  wait "${pids[0]}" || true
fi
step "Demo finished; stopping the nodes"
