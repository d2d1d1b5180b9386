#!/usr/bin/env bash
# http_read_bench.sh: the HTTP API's raw read of one long real series
# (issue 16 follow-up), JSON and CSV, with the node's own time for the call.
#
#   scripts/build-lock.sh bash bench/http_read_bench.sh            # ~1 minute
#   scripts/build-lock.sh bash bench/http_read_bench.sh --perf     # + perf profile
#
# Loads /work/shared/real_data/nab (read in place through bench/nab_convert.py)
# into a fresh historiand as bench/compare.sh --preset nab does (import-csv,
# compact, stop, restart, compact), then reads the longest series
# (us.nab.machine_temperature_system_failure, 22,683 samples) over its whole
# range through /api/v1/read, --runs times per form:
#
#   json      the default (RFC 3339 times)       compare.sh's "raw" query
#   json_ms   time_format=epoch_ms
#   csv       format=csv (RFC 3339 times)
#   csv_ms    format=csv&time_format=epoch_ms
#
# and prints per form: bytes, curl's total time p50/p99 and the node's
# Server-Timing app;dur (query + rendering, without the socket) p50, in ms.
# Each answer is checked to hold every sample of the series.
#
# Options: --build DIR (default build)  --nab_dir DIR  --runs N (default 30)
#   --perf: also `perf record -g` the node during --runs JSON reads and print
#   the top of `perf report` (needs Debian's linux-perf and
#   kernel.perf_event_paranoid <= 1 or root)  --keep: keep the scratch dir
set -euo pipefail

build=build
nab_dir=/work/shared/real_data/nab
runs=30
do_perf=0
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --nab_dir) nab_dir="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --perf) do_perf=1; shift ;;
    --keep) keep=1; shift ;;
    *) echo "http_read_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
historiand="$build/server/historiand"
cli="$build/client/historian"
for bin in "$historiand" "$cli"; do
  [[ -x "$bin" ]] || { echo "http_read_bench.sh: $bin missing (cmake --build $build --target historiand historian)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/historian-httpread.XXXXXX)
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  if [[ $keep -eq 0 ]]; then rm -rf "$work"; else echo "http_read_bench.sh: kept $work" >&2; fi
}
trap cleanup EXIT
log() { echo "[http_read] $*" >&2; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
grpc_port=$(free_port)
http_port=$(free_port)
url="http://127.0.0.1:$http_port"
start_node() {
  "$historiand" --data_dir="$work/data" --site=us --listen="127.0.0.1:$grpc_port" \
    --metrics_listen= --http_listen="127.0.0.1:$http_port" >>"$work/node.log" 2>&1 &
  pid=$!
  for _ in $(seq 1200); do
    curl -sf -o /dev/null "$url/api/v1/node" && return 0
    sleep 0.1
  done
  echo "http_read_bench.sh: the node did not start; $work/node.log" >&2
  exit 1
}
stop_node() {
  kill -TERM "$pid"
  wait "$pid"
  pid=""
}
cli_run() { "$cli" --server "127.0.0.1:$grpc_port" --timeout 30m "$@"; }
# p50 and p99 (nearest rank) of the numbers on stdin, scaled by $1.
percentiles() {
  sort -g | awk -v k="$1" '{v[NR] = $1 * k} END {
    i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1;
    i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1;
    printf "%.2f %.2f", v[i50], v[i99] }'
}

log "converting $nab_dir"
/usr/bin/python3 "$(dirname "$0")/nab_convert.py" --nab_dir "$nab_dir" --out "$work" >/dev/null
spec=$(cat "$work/spec.json")
tag=$(jq -r .one_tag <<<"$spec")
want=$(jq -r .one_tag_samples <<<"$spec")
start_ns=$(($(jq -r .start_ms <<<"$spec") * 1000000))
end_ns=$(($(jq -r .end_ms <<<"$spec") * 1000000))

log "loading (import-csv, compact, stop, restart, compact)"
start_node
cli_run import-csv "$work/nab.csv" >"$work/import.txt" 2>&1
cli_run compact >/dev/null
stop_node
start_node
cli_run compact >/dev/null

base="$url/api/v1/read?tags=$tag&start_ns=$start_ns&end_ns=$end_ns&limit=1000000"
declare -A forms=([json]="" [json_ms]="&time_format=epoch_ms" [csv]="&format=csv"
  [csv_ms]="&format=csv&time_format=epoch_ms")

# Every sample, in every form.
for f in json json_ms; do
  got=$(curl -sf "$base${forms[$f]}" | jq '.series[0].samples | length')
  [[ "$got" == "$want" ]] || { echo "http_read_bench.sh: $f answered $got of $want samples" >&2; exit 1; }
done
for f in csv csv_ms; do
  got=$(($(curl -sf "$base${forms[$f]}" | wc -l) - 1))
  [[ "$got" == "$want" ]] || { echo "http_read_bench.sh: $f answered $got of $want rows" >&2; exit 1; }
done

load1=$(cut -d' ' -f1 /proc/loadavg)
log "$tag: $want samples; $runs runs per form (load average $load1)"
printf '%-8s %10s %18s %18s\n' form bytes "curl p50/p99 ms" "app;dur p50 ms"
for f in json json_ms csv csv_ms; do
  : >"$work/t.$f"
  : >"$work/d.$f"
  for _ in $(seq "$runs"); do
    curl -sf -o /dev/null -D "$work/h" -w '%{time_total} %{size_download}\n' "$base${forms[$f]}" >>"$work/t.$f"
    tr -d '\r' <"$work/h" | sed -n 's/^[Ss]erver-[Tt]iming: app;dur=//p' >>"$work/d.$f"
  done
  bytes=$(tail -n1 "$work/t.$f" | cut -d' ' -f2)
  printf '%-8s %10s %18s %18s\n' "$f" "$bytes" "$(cut -d' ' -f1 "$work/t.$f" | percentiles 1000)" \
    "$(percentiles 1 <"$work/d.$f" | cut -d' ' -f1)"
done

if [[ $do_perf -eq 1 ]]; then
  log "perf record -g on the node during $runs JSON reads"
  perf record -g -o "$work/perf.data" -p "$pid" >/dev/null 2>"$work/perf.err" &
  perf_pid=$!
  sleep 1
  for _ in $(seq "$runs"); do curl -sf -o /dev/null "$base"; done
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  perf report -i "$work/perf.data" --no-children --percent-limit 1.5 --stdio \
    --sort symbol -g none 2>/dev/null | sed "s/  *$//" | cut -c1-140 | grep -v '^#' | grep -v '^$' | head -40
  echo "--- inclusive (children) ---"
  perf report -i "$work/perf.data" --children --percent-limit 4 --stdio \
    --sort symbol -g none 2>/dev/null | sed "s/  *$//" | cut -c1-140 | grep -v '^#' | grep -v '^$' | head -40
fi
