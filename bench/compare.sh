#!/usr/bin/env bash
# compare.sh: historian vs VictoriaMetrics vs InfluxDB 1.x on the same plant
# data set, on 127.0.0.1 only. Prints one table (each figure for the three
# systems and the ratio ours/theirs) and writes a JSON summary.
#
#   bench/compare.sh --preset small            # ~1-2 minutes
#   bench/compare.sh --preset full             # 10,000 tags x 1 h = 36M samples, ~5 min
#
# Options: --preset small|full  --streams N (default 4)  --build DIR (default
# build)  --out FILE (JSON summary; default <build>/compare-<preset>.json)
# --keep (keep the temporary directory).
#
# Needs build/bench/historian-bench and build/server/historiand built
# (scripts/build.sh or cmake --build build --target historian-bench historiand).
# Installs victoria-metrics, influxdb, curl and jq from Debian if missing.
# Every server it starts is stopped on exit (trap), whatever happens.
set -euo pipefail

preset=small
streams=4
build=build
out=""
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --streams) streams="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$preset" in
  small) query_runs=30; influx_piece=10000; vm_piece=100000 ;;
  full) query_runs=20; influx_piece=10000; vm_piece=100000 ;;
  *) echo "compare.sh: --preset must be small or full" >&2; exit 2 ;;
esac
[[ -n "$out" ]] || out="$build/compare-$preset.json"

bench="$build/bench/historian-bench"
historiand="$build/server/historiand"
for bin in "$bench" "$historiand"; do
  if [[ ! -x "$bin" ]]; then
    echo "compare.sh: $bin missing; build it: cmake --build $build --target historian-bench historiand" >&2
    exit 1
  fi
done

# --- packages -----------------------------------------------------------------
missing=()
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
command -v influxd >/dev/null || missing+=(influxdb)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "compare.sh: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- servers we start, stopped on exit ---------------------------------------
work=$(mktemp -d /tmp/historian-compare.XXXXXX)
pids=()
stop_pid() {  # SIGTERM, wait up to 60 s, then SIGKILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  wait 2>/dev/null || true
  if [[ $keep -eq 0 ]]; then rm -rf "$work"; else echo "compare.sh: kept $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[compare] $*" >&2; }
free_port() {  # a port nobody listens on
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
wait_http() {  # URL, seconds
  for _ in $(seq $(($2 * 10))); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "compare.sh: $1 did not answer in $2 s" >&2
  return 1
}
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
calc() { awk "BEGIN {printf \"%.6f\", $1}"; }
# p50 and p99 (nearest rank) of the numbers on stdin, in ms (input: seconds).
percentiles() {
  sort -g | awk '{v[NR] = $1 * 1000} END {
    i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1;
    i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1;
    printf "%.3f %.3f\n", v[i50], v[i99] }'
}
# time_query RUNS curl-args...: one warm-up, then RUNS timed runs; prints p50 p99 ms.
time_query() {
  local runs=$1; shift
  local first
  first=$(curl -sf "$@" | head -c 300)
  if [[ -z "$first" || "$first" == *'"error"'* ]]; then
    echo "compare.sh: query failed: $* -> ${first:-no answer}" >&2
    return 1
  fi
  for _ in $(seq "$runs"); do curl -sf -o /dev/null -w '%{time_total}\n' "$@"; done | percentiles
}
# load_pieces URL PREFIX: POSTs every piece file, --streams in parallel, one
# curl process with keep-alive; prints the seconds taken. Fails on any non-2xx.
load_pieces() {
  local url=$1 prefix=$2 cfg="$work/curl.cfg" codes="$work/codes"
  : >"$cfg"
  local f sep=""
  for f in "$prefix".*; do
    printf '%surl = "%s"\ndata-binary = "@%s"\noutput = "/dev/null"\nsilent\nheader = "Expect:"\nwrite-out = "%%{http_code}\\n"\n' \
      "$sep" "$url" "$f" >>"$cfg"
    sep=$'next\n'
  done
  local t0 t1
  t0=$(now)
  curl -s --parallel --parallel-max "$streams" --parallel-immediate -K "$cfg" >"$codes" \
    2>"$work/curl.err"
  t1=$(now)
  if grep -qv '^2' "$codes"; then
    echo "compare.sh: some loads to $url failed: $(sort "$codes" | uniq -c | tr '\n' ' ')" >&2
    return 1
  fi
  calc "$t1 - $t0"
}
# Bytes allocated on disk (not apparent sizes: InfluxDB preallocates sparse
# series-file segments).
dir_bytes() { du -s -B1 "$@" | awk '{s += $1} END {print s}'; }

# --- machine ------------------------------------------------------------------
load1=$(cut -d' ' -f1 /proc/loadavg)
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $load1"
compiling() {  # pgrep -x patterns must stay under 16 characters
  local p
  for p in cc1plus cc1 clang 'clang\+\+' ninja ld; do pgrep -x "$p" >/dev/null && return 0; done
  return 1
}
if awk -v l="$load1" 'BEGIN {exit !(l > 1.0)}' || compiling; then
  log "WARNING: the machine is busy (load $load1 or a compiler running): figures are unreliable"
fi

# --- historian ----------------------------------------------------------------
log "historian: historian-bench --preset $preset --streams $streams"
"$bench" --preset="$preset" --streams="$streams" --historiand="$historiand" \
  --work_dir="$work/historian" --json_out="$work/historian.json" >"$work/historian.txt"
cat "$work/historian.txt" >&2
hist=$(tail -n1 "$work/historian.json")

# --- the same data set for the others -----------------------------------------
log "emitting the data set (influx-lp, vm-jsonl)"
"$bench" --preset="$preset" --emit=query-spec --out="$work/spec.json"
"$bench" --preset="$preset" --emit=influx-lp --out="$work/lp" --piece_samples="$influx_piece"
"$bench" --preset="$preset" --emit=vm-jsonl --out="$work/vm" --piece_samples="$vm_piece"
spec=$(cat "$work/spec.json")
samples=$(jq -r .samples <<<"$spec")
one_tag=$(jq -r .one_tag <<<"$spec")
start_ms=$(jq -r .start_ms <<<"$spec")
end_ms=$(jq -r .end_ms <<<"$spec")
latest_ms=$(jq -r .latest_ms <<<"$spec")
start_ns=$(jq -r .start_ns <<<"$spec")
end_ns=$(jq -r .end_ns <<<"$spec")
ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
vm_regex=$(jq -r '.many_tags | join("|")' <<<"$spec")
influx_or=$(jq -r '[.many_tags[] | "\"tag\"='"'"'" + . + "'"'"'"] | join(" OR ")' <<<"$spec")

# --- VictoriaMetrics ------------------------------------------------------------
vm_port=$(free_port)
vm_url="http://127.0.0.1:$vm_port"
log "VictoriaMetrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null) on $vm_url"
victoria-metrics -storageDataPath="$work/vm-data" -retentionPeriod=100y \
  -httpListenAddr="127.0.0.1:$vm_port" -search.disableCache -loggerLevel=ERROR \
  >"$work/vm.log" 2>&1 &
vm_pid=$!
pids+=("$vm_pid")
wait_http "$vm_url/health" 60
vm_load_s=$(load_pieces "$vm_url/api/v1/import" "$work/vm")
log "VictoriaMetrics: loaded in $vm_load_s s; force_flush + force_merge"
curl -sf -o /dev/null "$vm_url/internal/force_flush"
partition=$(date -u -d "@$((start_ms / 1000))" +%Y_%m)
curl -sf -o /dev/null "$vm_url/internal/force_merge?partition_prefix=$partition"
# The merge runs in the background, in steps: wait until the data dir has
# not changed for three polls in a row (6 s).
prev=-1
stable=0
for _ in $(seq 120); do
  cur=$(dir_bytes "$work/vm-data")
  if [[ "$cur" == "$prev" ]]; then
    stable=$((stable + 1))
    ((stable >= 3)) && break
  else
    stable=0
  fi
  prev=$cur
  sleep 2
done
vm_count=$(curl -sf "$vm_url/api/v1/query" --data-urlencode 'query=sum(count_over_time(plant[1y]))' \
  --data-urlencode "time=$(ms_to_s "$latest_ms")" | jq -r '.data.result[0].value[1]')
log "VictoriaMetrics: $vm_count samples stored"
vm_bytes=$(dir_bytes "$work/vm-data")
log "VictoriaMetrics: queries ($query_runs runs each)"
vm_q_raw=$(time_query "$query_runs" -G "$vm_url/api/v1/export" \
  --data-urlencode "match[]=plant{tag=\"$one_tag\"}" \
  --data-urlencode "start=$(ms_to_s "$start_ms")" --data-urlencode "end=$(ms_to_s $((end_ms - 1)))")
range_args=(--data-urlencode "start=$(ms_to_s $((start_ms + 60000)))"
  --data-urlencode "end=$(ms_to_s "$end_ms")" --data-urlencode "step=60s")
vm_q_avg1=$(time_query "$query_runs" "$vm_url/api/v1/query_range" \
  --data-urlencode "query=avg_over_time(plant{tag=\"$one_tag\"}[1m])" "${range_args[@]}")
vm_q_avg100=$(time_query "$query_runs" "$vm_url/api/v1/query_range" \
  --data-urlencode "query=avg_over_time(plant{tag=~\"$vm_regex\"}[1m])" "${range_args[@]}")
vm_q_latest=$(time_query "$query_runs" "$vm_url/api/v1/query" \
  --data-urlencode "query=plant" --data-urlencode "time=$(ms_to_s "$latest_ms")")
vm_rss=$(peak_rss_kb "$vm_pid")
# Measured again after the queries: VictoriaMetrics' figure is the smaller
# one (its background merges may have gone on).
vm_bytes_end=$(dir_bytes "$work/vm-data")
((vm_bytes_end < vm_bytes)) && vm_bytes=$vm_bytes_end
log "VictoriaMetrics: $vm_bytes bytes on disk"
stop_pid "$vm_pid"

# --- InfluxDB 1.x ----------------------------------------------------------------
ix_port=$(free_port)
ix_rpc=$(free_port)
ix_url="http://127.0.0.1:$ix_port"
mkdir -p "$work/influx"
cat >"$work/influx.conf" <<EOF
reporting-enabled = false
bind-address = "127.0.0.1:$ix_rpc"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  query-log-enabled = false
  # Snapshot and fully compact soon after the load, so bytes/sample is TSM.
  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "10s"
[http]
  bind-address = "127.0.0.1:$ix_port"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
EOF
log "InfluxDB $(dpkg-query -W -f='${Version}' influxdb 2>/dev/null) on $ix_url"
influxd run -config "$work/influx.conf" >"$work/influx.log" 2>&1 &
ix_pid=$!
pids+=("$ix_pid")
wait_http "$ix_url/ping" 60
curl -sf -o /dev/null -XPOST "$ix_url/query" --data-urlencode "q=CREATE DATABASE bench"
ix_load_s=$(load_pieces "$ix_url/write?db=bench&precision=ms" "$work/lp")
log "InfluxDB: loaded in $ix_load_s s; waiting for the cache snapshot and full compaction"
sleep 15  # past compact-full-write-cold-duration
prev=-1
for _ in $(seq 90); do
  sleep 2
  cur=$(dir_bytes "$work/influx/data" "$work/influx/wal")
  wal=$(dir_bytes "$work/influx/wal")
  [[ "$cur" == "$prev" && "$wal" -lt 100000 ]] && break
  prev=$cur
done
ix_query() { time_query "$query_runs" -G "$ix_url/query" --data-urlencode "db=bench" \
  --data-urlencode "epoch=ms" --data-urlencode "q=$1"; }
ix_count=$(curl -sf -G "$ix_url/query" --data-urlencode "db=bench" \
  --data-urlencode "q=SELECT count(value), count(count), count(state) FROM plant" |
  jq -r '.results[0].series[0].values[0] | .[1] + .[2] + .[3]')
log "InfluxDB: $ix_count samples stored"
log "InfluxDB: queries ($query_runs runs each)"
trange="time >= $start_ns AND time < $end_ns"
ix_q_raw=$(ix_query "SELECT value FROM plant WHERE \"tag\"='$one_tag' AND $trange")
ix_q_avg1=$(ix_query "SELECT mean(value) FROM plant WHERE \"tag\"='$one_tag' AND $trange GROUP BY time(1m)")
ix_q_avg100=$(ix_query "SELECT mean(value) FROM plant WHERE ($influx_or) AND $trange GROUP BY time(1m), \"tag\"")
ix_q_latest=$(ix_query "SELECT last(*) FROM plant GROUP BY \"tag\"")
ix_rss=$(peak_rss_kb "$ix_pid")
stop_pid "$ix_pid"
ix_bytes=$(dir_bytes "$work/influx")

# --- the table -------------------------------------------------------------------
h() { jq -r ".$1" <<<"$hist"; }
vm_ingest=$(calc "$samples / $vm_load_s")
ix_ingest=$(calc "$samples / $ix_load_s")
rows=(
  "ingest acked samples/s (higher better)|$(h ingest_samples_per_s)|$vm_ingest|$ix_ingest"
  "bytes/sample on disk|$(h bytes_per_sample)|$(calc "$vm_bytes / $samples")|$(calc "$ix_bytes / $samples")"
  "raw 1 tag 1 h p50 ms|$(h q_raw_1tag_p50_ms)|${vm_q_raw% *}|${ix_q_raw% *}"
  "raw 1 tag 1 h p99 ms|$(h q_raw_1tag_p99_ms)|${vm_q_raw#* }|${ix_q_raw#* }"
  "avg 1m 1 tag 1 h p50 ms|$(h q_avg_1tag_p50_ms)|${vm_q_avg1% *}|${ix_q_avg1% *}"
  "avg 1m 1 tag 1 h p99 ms|$(h q_avg_1tag_p99_ms)|${vm_q_avg1#* }|${ix_q_avg1#* }"
  "avg 1m 100 tags 1 h p50 ms|$(h q_avg_100tags_p50_ms)|${vm_q_avg100% *}|${ix_q_avg100% *}"
  "avg 1m 100 tags 1 h p99 ms|$(h q_avg_100tags_p99_ms)|${vm_q_avg100#* }|${ix_q_avg100#* }"
  "latest all tags p50 ms|$(h q_latest_all_p50_ms)|${vm_q_latest% *}|${ix_q_latest% *}"
  "latest all tags p99 ms|$(h q_latest_all_p99_ms)|${vm_q_latest#* }|${ix_q_latest#* }"
  "peak RSS MiB|$(calc "$(h peak_rss_kb) / 1024")|$(calc "$vm_rss / 1024")|$(calc "$ix_rss / 1024")"
  "replication lag p50 ms|$(h repl_lag_p50_ms)|n/a|n/a"
  "replication lag p99 ms|$(h repl_lag_p99_ms)|n/a|n/a"
)
{
  echo
  echo "preset $preset: $(h tags) tags, $samples samples, $streams streams/connections;" \
    "$(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load at start $load1"
  printf '| %-38s | %12s | %12s | %12s | %9s | %9s |\n' figure historian VictoriaM InfluxDB "ours/VM" "ours/Infl"
  printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "$(printf -- '-%.0s' {1..14})" \
    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..11})" \
    "$(printf -- '-%.0s' {1..11})"
  for row in "${rows[@]}"; do
    IFS='|' read -r name ours vm ix <<<"$row"
    awk -v n="$name" -v o="$ours" -v v="$vm" -v i="$ix" 'function f(x) {
        if (x == "n/a") return x; if (x + 0 >= 1000) return sprintf("%.0f", x); return sprintf("%.3f", x) }
      function r(a, b) { if (b == "n/a" || b + 0 == 0) return "n/a"; return sprintf("%.2f", a / b) }
      BEGIN { printf "| %-38s | %12s | %12s | %12s | %9s | %9s |\n", n, f(o), f(v), f(i), r(o, v), r(o, i) }'
  done
  echo "stored: historian $(h samples_acked) acked; VictoriaMetrics $vm_count; InfluxDB $ix_count"
} | tee "$work/table.txt"

jq -n --argjson historian "$hist" --arg preset "$preset" --arg date "$(date -u +%FT%TZ)" \
  --argjson samples "$samples" --arg load "$load1" \
  --argjson vm "{\"ingest_samples_per_s\":$vm_ingest,\"load_seconds\":$vm_load_s,\"disk_bytes\":$vm_bytes,\"peak_rss_kb\":$vm_rss,\"q_raw_1tag_ms\":[${vm_q_raw/ /,}],\"q_avg_1tag_ms\":[${vm_q_avg1/ /,}],\"q_avg_100tags_ms\":[${vm_q_avg100/ /,}],\"q_latest_all_ms\":[${vm_q_latest/ /,}]}" \
  --argjson influx "{\"ingest_samples_per_s\":$ix_ingest,\"load_seconds\":$ix_load_s,\"disk_bytes\":$ix_bytes,\"peak_rss_kb\":$ix_rss,\"q_raw_1tag_ms\":[${ix_q_raw/ /,}],\"q_avg_1tag_ms\":[${ix_q_avg1/ /,}],\"q_avg_100tags_ms\":[${ix_q_avg100/ /,}],\"q_latest_all_ms\":[${ix_q_latest/ /,}]}" \
  '{preset: $preset, date: $date, samples: $samples, load_at_start: $load, historian: $historian, victoriametrics: $vm, influxdb: $influx}' \
  >"$out"
log "JSON summary: $out"
