#!/usr/bin/env bash
# Issue 16: bytes of the real NAB series on disk, by column family. Imports
# each file of the NAB set as one tag (its own timestamps) with
# `historian import-csv`, then `historian compact`, a restart, another
# compact, `historian stats` (SST bytes per column family) and a SIGTERM
# stop, and prints `du -sb` of the data dir.
#
#   bench/nab_rollups.sh BIN_DIR WORK_DIR [PORT]
# BIN_DIR holds server/historiand and client/historian (a build dir).
set -euo pipefail
bin=$1
work=$2
port=${3:-7491}
nab=${NAB_DIR:-/work/shared/real_data/nab}
rm -rf "$work"
mkdir -p "$work"
csv=$work/nab.csv
/usr/bin/python3 - "$nab" "$csv" <<'PY'
import csv, os, sys
root, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    f.write("tag,time,value\n")
    for d in sorted(os.listdir(root)):
        p = os.path.join(root, d)
        if not os.path.isdir(p):
            continue
        for name in sorted(os.listdir(p)):
            if not name.endswith(".csv"):
                continue
            tag = "nab." + d + "." + name[:-4]
            with open(os.path.join(p, name)) as src:
                r = csv.reader(src)
                next(r)
                for ts, v in r:
                    f.write("%s,%sZ,%s\n" % (tag, ts.replace(" ", "T"), v))
PY
data=$work/data
start() {
  "$bin/server/historiand" --data_dir="$data" --listen=127.0.0.1:$port >"$work/node.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    "$bin/client/historian" --server 127.0.0.1:$port stats >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "node did not start" >&2
  exit 1
}
stop() {
  kill -TERM "$pid"
  wait "$pid" || true
}
cli() { "$bin/client/historian" --server 127.0.0.1:$port --timeout 600s "$@"; }
start
cli import-csv "$csv" >/dev/null
cli compact >/dev/null
stop
start
cli compact >/dev/null
cli --format json stats >"$work/stats.json"
stop
echo "rows $(($(wc -l <"$csv") - 1))"
/usr/bin/python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("column_families", "columnFamilies"):
                return v
            r = find(v)
            if r is not None:
                return r
    elif isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None:
                return r
for cf in find(s) or []:
    print("cf", cf.get("name"), {k: v for k, v in cf.items() if k != "name"})
PY
echo "du_bytes $(du -sb "$data" | cut -f1)"
