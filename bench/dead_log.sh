#!/usr/bin/env bash
# No dead log on disk (issue 16): the data dir right after `historian
# compact` and a clean stop (SIGTERM), against its quiet size (a restart,
# another compact and stop), with the stop times and what the data dir holds
# (WAL, SST, RocksDB info logs).
#   bench/dead_log.sh BUILD_DIR short   # 1,000 tags x 30 min, historian import-csv
#   bench/dead_log.sh BUILD_DIR full    # 10,000 tags x 1 h, historian-bench's loader
#   bench/dead_log.sh BUILD_DIR full nocompact   # load and stop only (historian-bench's
#                                                # "disk bytes after stop")
# The SST bytes per column family after the first stop are from `historian
# stats` at the restart (an open with no WAL to replay writes no SST).
# Run it through scripts/build-lock.sh. Needs BUILD_DIR/server/historiand,
# BUILD_DIR/client/historian and BUILD_DIR/bench/historian-bench.
set -euo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
SET=${2:-short}
FIRST_COMPACT=${3:-compact}
WORK=$(mktemp -d /tmp/dead-log-XXXXXX)
trap '[ $PID = 0 ] || kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA=$WORK/data
PID=0

start_node() {
  rm -f "$WORK/port"
  "$BUILD/server/historiand" --data_dir="$DATA" --listen=127.0.0.1:0 --port_file="$WORK/port" \
    >>"$WORK/node.log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do [ -s "$WORK/port" ] && break; sleep 0.1; done
  [ -s "$WORK/port" ] || { echo "historiand did not start; its log:" >&2; cat "$WORK/node.log" >&2; exit 1; }
  ADDR=127.0.0.1:$(cat "$WORK/port")
}
stop_node() {  # sets STOP_S: seconds from SIGTERM to exit (not in a subshell: wait)
  local t0 t1
  t0=$(date +%s.%N)
  kill -TERM $PID
  wait $PID
  t1=$(date +%s.%N)
  PID=0
  STOP_S=$(echo "$t1 - $t0" | bc)
}
# total, WAL (*.log), SST, RocksDB info logs (LOG*)
sizes() {
  local total wal sst info
  total=$(du -sb "$DATA" | cut -f1)
  wal=$(find "$DATA" -name '*.log' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  sst=$(find "$DATA" -name '*.sst' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  info=$(find "$DATA" -name 'LOG*' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  echo "$total bytes (WAL $wal, SST $sst, info logs $info)"
}

start_node
if [ "$SET" = short ]; then
  "$BUILD/bench/historian-bench" --tags=1000 --duration=30m --emit=influx-lp --out="$WORK/set.lp"
  # line protocol -> CSV: tag,time(ns),value,quality
  /usr/bin/python3 - "$WORK/set.lp" "$WORK/set.csv" <<'EOF'
import sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    out.write("tag,time,value,quality\n")
    for line in f:
        m, field, ts = line.rstrip("\n").split(" ")
        v = field.split("=", 1)[1]
        out.write("%s,%d,%s,0\n" % (m.split("tag=", 1)[1], int(ts) * 1000000,
                                    v[:-1] if v.endswith("i") else v))
EOF
  rm "$WORK/set.lp"
  t0=$(date +%s.%N)
  "$BUILD/client/historian" --server "$ADDR" import-csv "$WORK/set.csv" >/dev/null
  echo "import-csv: $(echo "$(date +%s.%N) - $t0" | bc) s"
else
  "$BUILD/bench/historian-bench" --preset=full --start_node=false --endpoint="$ADDR" \
    --replication=false --query_runs=1 --queries=latest_all 2>/dev/null | grep "ingest acked"
fi
[ "$FIRST_COMPACT" = nocompact ] || "$BUILD/client/historian" --server "$ADDR" compact >/dev/null
stop_node
echo "stop after load + $FIRST_COMPACT: $STOP_S s"
echo "after $FIRST_COMPACT + stop: $(sizes)"
after=$(du -sb "$DATA" | cut -f1)
start_node
"$BUILD/client/historian" --server "$ADDR" stats | grep -A6 "^cf " || true
"$BUILD/client/historian" --server "$ADDR" compact >/dev/null
stop_node
echo "stop (quiet): $STOP_S s"
echo "quiet: $(sizes)"
quiet=$(du -sb "$DATA" | cut -f1)
echo "ratio: $(echo "scale=3; $after / $quiet" | bc)"
