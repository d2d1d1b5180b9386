#!/bin/bash
# Loads the 31 NAB series (/work/shared/real_data/nab, or $NAB) into a fresh
# node, one tag per file with its own timestamps (`historian import-csv`),
# then `historian compact`, restart, compact, SIGTERM, and prints the quiet
# data dir size (du -sb), bytes/point and the chunks CF's estimated keys.
# Usage: bench/nab_quiet.sh BUILD_DIR [extra historiand flags...]
# Run it through scripts/build-lock.sh (the machine is shared).
set -euo pipefail
build=$(cd "$1" && pwd); shift
nab=${NAB:-/work/shared/real_data/nab}
work=$(mktemp -d /tmp/nab_quiet.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
csv=$work/nab.csv
echo "tag,time,value" > "$csv"
points=0
while IFS= read -r f; do
  tag="nab.$(basename "$(dirname "$f")").$(basename "$f" .csv)"
  # "2015-09-01 13:45:00" -> RFC 3339 UTC.
  n=$(tail -n +2 "$f" | awk -F, -v t="$tag" 'NF>=2 {sub(" ","T",$1); print t "," $1 "Z," $2; n++} END {print n > "/dev/stderr"}' 2>&1 >>"$csv")
  points=$((points + n))
done < <(find "$nab" -name '*.csv' | sort)
port=$((20000 + RANDOM % 20000))
start() {
  "$build/server/historiand" --data_dir="$work/data" --listen=127.0.0.1:$port \
    --metrics_listen=127.0.0.1:0 "$@" >>"$work/node.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    "$build/client/historian" --server 127.0.0.1:$port stats >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cat "$work/node.log"; exit 1
}
cli() { "$build/client/historian" --server 127.0.0.1:$port --timeout 10m "$@"; }
start "$@"
cli import-csv "$csv" >/dev/null
cli compact >/dev/null
kill -TERM $pid; wait $pid || true
start "$@"
cli compact >/dev/null
cli --format json stats > "$work/stats.json"
kill -TERM $pid; wait $pid || true
bytes=$(du -sb "$work/data" | cut -f1)
/usr/bin/python3 - "$work/stats.json" "$bytes" "$points" <<'PY'
import json, sys
st = json.load(open(sys.argv[1])); b = int(sys.argv[2]); n = int(sys.argv[3])
cfs = {c["name"]: c for c in st.get("column_families", st.get("columnFamilies", []))}
print(f"points {n} data_dir_bytes {b} bytes/point {b/n:.3f}")
for name, c in cfs.items():
    print(f"  cf {name}: sst {c.get('sst_bytes', c.get('sstBytes'))} keys~{c.get('estimated_keys', c.get('estimatedKeys'))}")
ch = cfs.get("chunks", {})
k = int(ch.get("estimated_keys", ch.get("estimatedKeys", 0)) or 0)
if k: print(f"chunks~{k} samples/chunk~{n/k:.1f}")
PY
