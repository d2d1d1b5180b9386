#!/usr/bin/env bash
# compare.sh: historian vs VictoriaMetrics vs InfluxDB 1.x on the same data
# set, on 127.0.0.1 only. Prints one markdown table (each figure for the three
# systems and the ratio ours/theirs), the data set's entropy floor
# (bench/entropy_floor) and issue 16's density goal, and writes a JSON
# summary and the table as markdown.
#
#   bench/compare.sh --preset small            # 1,000 tags x 10 min, ~1-2 minutes
#   bench/compare.sh --preset short            # 1,000 tags x 30 min (issue 16's short set)
#   bench/compare.sh --preset full             # 10,000 tags x 1 h = 36M samples, ~5 min
#   bench/compare.sh --preset nab              # the 31 real NAB series, ~2 minutes
#   bench/compare.sh --preset nab --historian-only   # ours only (no VM/InfluxDB)
#   bench/compare_all.sh                       # short, nab and full; all tables
#
# Plant presets (small, short, full): historian-bench loads its own node over
# gRPC and measures it (bytes after load, SIGTERM, restart, Admin.Compact,
# queries, SIGTERM); the same samples are emitted for the others
# (historian-bench --emit=influx-lp|vm-jsonl).
# nab: bench/nab_convert.py reads /work/shared/real_data/nab at run time into
# the scratch dir (one tag per file, its own timestamps, full-precision
# values); ours loads it with `historian import-csv`, then `historian
# compact` and SIGTERM ("after compact+stop"), then a restart, `historian
# compact`, the queries over HTTP and SIGTERM (the bytes figure); the others
# through their HTTP import APIs. VictoriaMetrics is measured after
# /internal/force_flush + /internal/force_merge (and again after its queries,
# the smaller figure); InfluxDB after its cache snapshot and full compaction
# and a stop. Bytes of each whole data dir, two ways: the sizes of its regular
# files ("files": issue 16's goal is read on these) and `du` (allocated
# blocks; VictoriaMetrics' many small directories count there).
#
# Options: --preset small|short|full|nab  --streams N (default 4)  --build DIR
# (default build)  --out FILE (JSON summary; default <build>/compare-<preset>.json;
# the markdown table goes next to it, .md)  --nab_dir DIR  --historian-only
# --keep (keep the temporary directory).
#
# With build/bench/dir_breakdown built, the table ends with where our data
# dir's bytes go (per column family and file kind).
# Needs build/bench/historian-bench, build/bench/entropy_floor,
# build/server/historiand and (nab) build/client/historian built:
#   cmake --build build --target historian-bench entropy_floor historiand historian
# Installs victoria-metrics, influxdb, curl and jq from Debian if missing.
# Every server it starts is stopped on exit (trap), whatever happens.
set -euo pipefail

preset=small
streams=4
build=build
out=""
keep=0
only_ours=0
nab_dir=/work/shared/real_data/nab
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --streams) streams="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --nab_dir) nab_dir="$2"; shift 2 ;;
    --historian-only) only_ours=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# floor_args: bench/entropy_floor's flags for the same data set.
case "$preset" in
  small) query_runs=30; influx_piece=10000; vm_piece=100000
    floor_args=(--sets=plant --tags=1000 --duration=10m) ;;
  short) query_runs=30; influx_piece=10000; vm_piece=100000; floor_args=(--sets=short) ;;
  full) query_runs=20; influx_piece=10000; vm_piece=100000; floor_args=(--sets=full) ;;
  nab) query_runs=30; influx_piece=10000; vm_piece=10000
    floor_args=(--sets=nab "--nab_dir=$nab_dir") ;;
  *) echo "compare.sh: --preset must be small, short, full or nab" >&2; exit 2 ;;
esac
[[ -n "$out" ]] || out="$build/compare-$preset.json"
md_out="${out%.json}.md"

bench="$build/bench/historian-bench"
historiand="$build/server/historiand"
floor_tool="$build/bench/entropy_floor"
cli="$build/client/historian"
# Optional: the per-component breakdown of our data dir under the table.
breakdown_tool="$build/bench/dir_breakdown"
ours_dir=""
for bin in "$bench" "$historiand" "$floor_tool" "$cli"; do
  if [[ ! -x "$bin" ]]; then
    echo "compare.sh: $bin missing; build it: cmake --build $build --target historian-bench entropy_floor historiand historian" >&2
    exit 1
  fi
done

# --- packages -----------------------------------------------------------------
missing=()
if [[ $only_ours -eq 0 ]]; then
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
command -v influxd >/dev/null || missing+=(influxdb)
fi
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
  if [[ -z "$first" || "$first" == *'"error"'* || "$first" == '{"code":"'* ]]; then
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
# The sizes of the regular files (what `du -sb` counts, less its 4 KiB per
# directory: VictoriaMetrics keeps ~5 directories per monthly partition, which
# on the NAB set are 65% of its `du -sb`). Issue 16's bytes goal is read on
# these; InfluxDB gets n/a (its series-file segments are sparse, preallocated).
file_bytes() { find "$@" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

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


ms_to_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# max_of_kb A B: the larger of two KiB figures.
max_of() { (($1 > $2)) && echo "$1" || echo "$2"; }

# --- the entropy floor of the data set ------------------------------------------
log "entropy floor: entropy_floor ${floor_args[*]}"
floor_json=$("$floor_tool" "${floor_args[@]}" 2>/dev/null | tail -n1)
floor_bps=$(jq -r '.sets[0].floor_bytes_per_sample' <<<"$floor_json")
floor_coder_bps=$(jq -r '.sets[0].coder_bytes_per_sample' <<<"$floor_json")
floor_samples=$(jq -r '.sets[0].samples' <<<"$floor_json")

# --- historian: plant presets ----------------------------------------------------
run_ours_plant() {
  log "historian: historian-bench --preset $preset --streams $streams"
  "$bench" --preset="$preset" --streams="$streams" --historiand="$historiand" \
    --work_dir="$work/historian" --keep_data --json_out="$work/historian.json" >"$work/historian.txt"
  cat "$work/historian.txt" >&2
  hist=$(tail -n1 "$work/historian.json")
  h() { jq -r ".$1" <<<"$hist"; }
  ours_tags=$(h tags)
  ours_stored=$(h samples_acked)
  ours_ingest=$(h ingest_samples_per_s)
  ours_bytes=$(h disk_bytes)
  ours_bytes_after_stop=$(h disk_bytes_after_stop)
  ours_files=$(file_bytes "$work/historian/a")  # the measured node's dir (kept)
  ours_dir="$work/historian/a"
  ours_rss=$(h peak_rss_kb)
  ours_q_raw="$(h q_raw_1tag_p50_ms) $(h q_raw_1tag_p99_ms)"
  ours_q_avg1="$(h q_avg_1tag_p50_ms) $(h q_avg_1tag_p99_ms)"
  ours_q_avg100="$(h q_avg_100tags_p50_ms) $(h q_avg_100tags_p99_ms)"
  ours_q_latest="$(h q_latest_all_p50_ms) $(h q_latest_all_p99_ms)"
  ours_repl="$(h repl_lag_p50_ms) $(h repl_lag_p99_ms)"
}

emit_plant() {
  log "emitting the data set (influx-lp, vm-jsonl)"
  "$bench" --preset="$preset" --emit=query-spec --out="$work/spec.json"
  if [[ $only_ours -eq 0 ]]; then
    "$bench" --preset="$preset" --emit=influx-lp --out="$work/lp" --piece_samples="$influx_piece"
    "$bench" --preset="$preset" --emit=vm-jsonl --out="$work/vm" --piece_samples="$vm_piece"
  fi
  spec=$(cat "$work/spec.json")
  samples=$(jq -r .samples <<<"$spec")
  one_tag=$(jq -r .one_tag <<<"$spec")
  start_ms=$(jq -r .start_ms <<<"$spec")
  end_ms=$(jq -r .end_ms <<<"$spec")
  latest_ms=$(jq -r .latest_ms <<<"$spec")
  start_ns=$(jq -r .start_ns <<<"$spec")
  end_ns=$(jq -r .end_ns <<<"$spec")
  vm_regex=$(jq -r '.many_tags | join("|")' <<<"$spec")
  influx_or=$(jq -r '[.many_tags[] | "\"tag\"='"'"'" + . + "'"'"'"] | join(" OR ")' <<<"$spec")
  metric=plant
  vm_partition="partition_prefix=$(date -u -d "@$((start_ms / 1000))" +%Y_%m)"
}

# --- historian: nab (historian import-csv, compact, stop, restart, compact) -------
emit_nab() {
  log "converting $nab_dir (bench/nab_convert.py)"
  /usr/bin/python3 "$(dirname "$0")/nab_convert.py" --nab_dir "$nab_dir" --out "$work" \
    --piece_samples "$vm_piece" >/dev/null
  spec=$(cat "$work/spec.json")
  samples=$(jq -r .samples <<<"$spec")
  one_tag=$(jq -r .one_tag <<<"$spec")
  one_tag_samples=$(jq -r .one_tag_samples <<<"$spec")
  start_ms=$(jq -r .start_ms <<<"$spec")
  end_ms=$(jq -r .end_ms <<<"$spec")
  agg_start_ms=$(jq -r .agg_start_ms <<<"$spec")
  agg_end_ms=$(jq -r .agg_end_ms <<<"$spec")
  latest_ms=$(jq -r .latest_ms <<<"$spec")
  min_ms=$(jq -r .min_ms <<<"$spec")
  # Days back from latest_ms that cover every sample (VictoriaMetrics windows).
  span_d=$(((latest_ms - min_ms) / 86400000 + 2))
  metric=nab
  vm_partition=""  # every monthly partition
}

ours_port=""
start_ours() {
  [[ -n "$ours_port" ]] || { ours_port=$(free_port); ours_http=$(free_port); }
  "$historiand" --data_dir="$work/hist-data" --site=us --listen="127.0.0.1:$ours_port" \
    --metrics_listen= --http_listen="127.0.0.1:$ours_http" >>"$work/hist.log" 2>&1 &
  ours_pid=$!
  pids+=("$ours_pid")
  ours_url="http://127.0.0.1:$ours_http"
  wait_http "$ours_url/api/v1/node" 120
}
stop_ours() {  # SIGTERM; fails unless historiand exits with 0
  stop_pid "$ours_pid"
  local rc=0
  wait "$ours_pid" || rc=$?
  if ((rc != 0)); then
    echo "compare.sh: historiand exited with $rc; log $work/hist.log" >&2
    tail -n 20 "$work/hist.log" >&2
    return 1
  fi
}
ours_cli() { "$cli" --server "127.0.0.1:$ours_port" --timeout 30m "$@"; }

run_ours_nab() {
  log "historian: import-csv $samples samples (31 tags), compact, SIGTERM"
  start_ours
  local t0 t1
  t0=$(now)
  ours_cli import-csv "$work/nab.csv" >"$work/import.txt" 2>&1
  t1=$(now)
  ours_load_s=$(calc "$t1 - $t0")
  ours_ingest=$(calc "$samples / $ours_load_s")
  ours_cli compact >&2
  ours_rss=$(peak_rss_kb "$ours_pid")
  stop_ours
  ours_bytes_after_stop=$(dir_bytes "$work/hist-data")
  ours_files_after_stop=$(file_bytes "$work/hist-data")
  log "historian: $ours_bytes_after_stop bytes after import, compact and stop; restart, compact"
  start_ours
  ours_cli compact >&2
  local tag_list
  tag_list=$(curl -sf "$ours_url/api/v1/tags?glob=us.nab.*&page_size=10000" | jq -r '[.tags[].name] | join(",")')
  ours_tags=$(tr ',' '\n' <<<"$tag_list" | grep -c .)
  # One count window per tag over the whole set.
  ours_stored=$(curl -sf -G "$ours_url/api/v1/aggregate" --data-urlencode "tags=$tag_list" \
    --data-urlencode "start_ns=$((min_ms * 1000000))" --data-urlencode "end_ns=$(((latest_ms + 1) * 1000000))" \
    --data-urlencode "step=$((span_d * 24))h" --data-urlencode "functions=count" \
    --data-urlencode "align=start" | jq '[.series[].windows[].count] | add')
  log "historian: $ours_stored samples stored in $ours_tags tags; queries ($query_runs runs each)"
  local got
  got=$(curl -sf -G "$ours_url/api/v1/read" --data-urlencode "tags=$one_tag" \
    --data-urlencode "start_ns=$((start_ms * 1000000))" --data-urlencode "end_ns=$((end_ms * 1000000))" \
    --data-urlencode "limit=1000000" | jq '.series[0].samples | length')
  [[ "$got" == "$one_tag_samples" ]] || log "WARNING: historian raw read returned $got of $one_tag_samples samples"
  ours_q_raw=$(time_query "$query_runs" -G "$ours_url/api/v1/read" --data-urlencode "tags=$one_tag" \
    --data-urlencode "start_ns=$((start_ms * 1000000))" --data-urlencode "end_ns=$((end_ms * 1000000))" \
    --data-urlencode "limit=1000000")
  ours_q_avg1=$(time_query "$query_runs" -G "$ours_url/api/v1/aggregate" --data-urlencode "tags=$one_tag" \
    --data-urlencode "start_ns=$((agg_start_ms * 1000000))" --data-urlencode "end_ns=$((agg_end_ms * 1000000))" \
    --data-urlencode "step=1h" --data-urlencode "functions=avg")
  ours_q_latest=$(time_query "$query_runs" -G "$ours_url/api/v1/latest" --data-urlencode "glob=us.nab.*")
  ours_rss=$(max_of "$ours_rss" "$(peak_rss_kb "$ours_pid")")
  stop_ours
  ours_bytes=$(dir_bytes "$work/hist-data")
  ours_files=$(file_bytes "$work/hist-data")
  ours_dir="$work/hist-data"
  log "historian: $ours_bytes bytes after restart, compact and stop"
}

# --- VictoriaMetrics ------------------------------------------------------------
run_vm() {
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
  curl -sf -o /dev/null "$vm_url/internal/force_merge?$vm_partition"
  # The merge runs in the background, in steps: wait until VictoriaMetrics
  # reports no force merge and no merge running (its /metrics) and the data
  # dir has not changed for three polls in a row (6 s). A stable dir alone
  # was not enough: on a busy machine (load 2.4) one full-preset run measured
  # VictoriaMetrics at 0.48 bytes/sample, others 0.36.
  local prev=-1 stable=0 cur busy
  for _ in $(seq 150); do
    cur=$(dir_bytes "$work/vm-data")
    busy=$(curl -sf "$vm_url/metrics" |
      awk '/^vm_active_force_merges |^vm_active_merges\{/ {s += $2} END {print s + 0}')
    if [[ "$cur" == "$prev" && "$busy" == 0 ]]; then
      stable=$((stable + 1))
      ((stable >= 3)) && break
    else
      stable=0
    fi
    prev=$cur
    sleep 2
  done
  ((stable >= 3)) || log "WARNING: VictoriaMetrics still merging after 300 s; its bytes may be high"
  log "VictoriaMetrics: parts $(curl -sf "$vm_url/metrics" | awk '/^vm_parts\{/ {printf "%s=%s ", $1, $2}')"
  local window=1y
  [[ "$preset" == nab ]] && window="${span_d}d"
  vm_count=$(curl -sf "$vm_url/api/v1/query" --data-urlencode "query=sum(count_over_time($metric[$window]))" \
    --data-urlencode "time=$(ms_to_s "$latest_ms")" | jq -r '.data.result[0].value[1]')
  log "VictoriaMetrics: $vm_count samples stored"
  vm_bytes=$(dir_bytes "$work/vm-data")
  vm_files=$(file_bytes "$work/vm-data")
  log "VictoriaMetrics: queries ($query_runs runs each)"
  vm_q_raw=$(time_query "$query_runs" -G "$vm_url/api/v1/export" \
    --data-urlencode "match[]=$metric{tag=\"$one_tag\"}" \
    --data-urlencode "start=$(ms_to_s "$start_ms")" --data-urlencode "end=$(ms_to_s $((end_ms - 1)))")
  if [[ "$preset" == nab ]]; then
    vm_q_avg1=$(time_query "$query_runs" "$vm_url/api/v1/query_range" \
      --data-urlencode "query=avg_over_time(nab{tag=\"$one_tag\"}[1h])" \
      --data-urlencode "start=$(ms_to_s $((agg_start_ms + 3600000)))" \
      --data-urlencode "end=$(ms_to_s "$agg_end_ms")" --data-urlencode "step=3600s")
    vm_q_avg100="n/a n/a"
    vm_q_latest=$(time_query "$query_runs" "$vm_url/api/v1/query" \
      --data-urlencode "query=last_over_time(nab[$window])" --data-urlencode "time=$(ms_to_s "$latest_ms")")
  else
    local range_args=(--data-urlencode "start=$(ms_to_s $((start_ms + 60000)))"
      --data-urlencode "end=$(ms_to_s "$end_ms")" --data-urlencode "step=60s")
    vm_q_avg1=$(time_query "$query_runs" "$vm_url/api/v1/query_range" \
      --data-urlencode "query=avg_over_time(plant{tag=\"$one_tag\"}[1m])" "${range_args[@]}")
    vm_q_avg100=$(time_query "$query_runs" "$vm_url/api/v1/query_range" \
      --data-urlencode "query=avg_over_time(plant{tag=~\"$vm_regex\"}[1m])" "${range_args[@]}")
    vm_q_latest=$(time_query "$query_runs" "$vm_url/api/v1/query" \
      --data-urlencode "query=plant" --data-urlencode "time=$(ms_to_s "$latest_ms")")
  fi
  vm_rss=$(peak_rss_kb "$vm_pid")
  # Measured again after the queries: VictoriaMetrics' figure is the smaller
  # one (its background merges may have gone on).
  local vm_bytes_end
  vm_bytes_end=$(dir_bytes "$work/vm-data")
  if ((vm_bytes_end < vm_bytes)); then
    vm_bytes=$vm_bytes_end
    vm_files=$(file_bytes "$work/vm-data")
  fi
  log "VictoriaMetrics: $vm_bytes bytes on disk"
  stop_pid "$vm_pid"
  vm_ingest=$(calc "$samples / $vm_load_s")
}

# --- InfluxDB 1.x ----------------------------------------------------------------
run_influx() {
  local ix_rpc
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
  local prev=-1 cur wal
  for _ in $(seq 90); do
    sleep 2
    cur=$(dir_bytes "$work/influx/data" "$work/influx/wal")
    wal=$(dir_bytes "$work/influx/wal")
    [[ "$cur" == "$prev" && "$wal" -lt 100000 ]] && break
    prev=$cur
  done
  ix_query() { time_query "$query_runs" -G "$ix_url/query" --data-urlencode "db=bench" \
    --data-urlencode "epoch=ms" --data-urlencode "q=$1"; }
  log "InfluxDB: queries ($query_runs runs each)"
  if [[ "$preset" == nab ]]; then
    ix_count=$(curl -sf -G "$ix_url/query" --data-urlencode "db=bench" \
      --data-urlencode "q=SELECT count(value) FROM nab" | jq -r '.results[0].series[0].values[0][1]')
    ix_q_raw=$(ix_query "SELECT value FROM nab WHERE \"tag\"='$one_tag' AND time >= ${start_ms}ms AND time < ${end_ms}ms")
    ix_q_avg1=$(ix_query "SELECT mean(value) FROM nab WHERE \"tag\"='$one_tag' AND time >= ${agg_start_ms}ms AND time < ${agg_end_ms}ms GROUP BY time(1h)")
    ix_q_avg100="n/a n/a"
    ix_q_latest=$(ix_query "SELECT last(value) FROM nab GROUP BY \"tag\"")
  else
    ix_count=$(curl -sf -G "$ix_url/query" --data-urlencode "db=bench" \
      --data-urlencode "q=SELECT count(value), count(count), count(state) FROM plant" |
      jq -r '.results[0].series[0].values[0] | .[1] + .[2] + .[3]')
    local trange="time >= $start_ns AND time < $end_ns"
    ix_q_raw=$(ix_query "SELECT value FROM plant WHERE \"tag\"='$one_tag' AND $trange")
    ix_q_avg1=$(ix_query "SELECT mean(value) FROM plant WHERE \"tag\"='$one_tag' AND $trange GROUP BY time(1m)")
    ix_q_avg100=$(ix_query "SELECT mean(value) FROM plant WHERE ($influx_or) AND $trange GROUP BY time(1m), \"tag\"")
    ix_q_latest=$(ix_query "SELECT last(*) FROM plant GROUP BY \"tag\"")
  fi
  log "InfluxDB: $ix_count samples stored"
  ix_rss=$(peak_rss_kb "$ix_pid")
  stop_pid "$ix_pid"
  ix_bytes=$(dir_bytes "$work/influx")
  ix_ingest=$(calc "$samples / $ix_load_s")
}

# --- run --------------------------------------------------------------------------
na="n/a n/a"
vm_ingest=n/a vm_bytes=0 vm_files=0 vm_rss=n/a vm_count=n/a vm_load_s=n/a
vm_q_raw=$na vm_q_avg1=$na vm_q_avg100=$na vm_q_latest=$na
ix_ingest=n/a ix_bytes=0 ix_rss=n/a ix_count=n/a ix_load_s=n/a
ix_q_raw=$na ix_q_avg1=$na ix_q_avg100=$na ix_q_latest=$na
ours_q_avg100=$na ours_repl=$na ours_files=0 ours_files_after_stop=0
if [[ "$preset" == nab ]]; then
  emit_nab
  run_ours_nab
else
  run_ours_plant
  emit_plant
fi
if [[ "$floor_samples" != "$samples" ]]; then
  log "WARNING: entropy_floor counted $floor_samples samples, the data set has $samples"
fi
if [[ $only_ours -eq 0 ]]; then
  run_vm
  run_influx
fi

# --- the table -------------------------------------------------------------------
per_sample() {  # BYTES -> bytes/sample, or n/a for 0
  if [[ "$1" == 0 ]]; then echo n/a; else calc "$1 / $samples"; fi
}
kb_to_mib() { if [[ "$1" == n/a ]]; then echo n/a; else calc "$1 / 1024"; fi; }
ours_bps=$(calc "$ours_bytes / $samples")
vm_bps=$(per_sample "$vm_bytes")
ix_bps=$(per_sample "$ix_bytes")
ours_fps=$(calc "$ours_files / $samples")
vm_fps=$(per_sample "$vm_files")
if [[ "$preset" == nab ]]; then
  rows=(
    "ingest samples/s (higher better)|$ours_ingest|$vm_ingest|$ix_ingest"
    "bytes/sample, files (quiet; the goal's)|$ours_fps|$vm_fps|n/a"
    "bytes/sample on disk (du, blocks)|$ours_bps|$vm_bps|$ix_bps"
    "bytes/sample files, import+compact+stop|$(per_sample "$ours_files_after_stop")|n/a|n/a"
    "raw 1 tag whole range p50 ms|${ours_q_raw% *}|${vm_q_raw% *}|${ix_q_raw% *}"
    "raw 1 tag whole range p99 ms|${ours_q_raw#* }|${vm_q_raw#* }|${ix_q_raw#* }"
    "avg 1h 1 tag 30 days p50 ms|${ours_q_avg1% *}|${vm_q_avg1% *}|${ix_q_avg1% *}"
    "avg 1h 1 tag 30 days p99 ms|${ours_q_avg1#* }|${vm_q_avg1#* }|${ix_q_avg1#* }"
    "latest all tags p50 ms|${ours_q_latest% *}|${vm_q_latest% *}|${ix_q_latest% *}"
    "latest all tags p99 ms|${ours_q_latest#* }|${vm_q_latest#* }|${ix_q_latest#* }"
    "peak RSS MiB|$(kb_to_mib "$ours_rss")|$(kb_to_mib "$vm_rss")|$(kb_to_mib "$ix_rss")"
  )
  setline="preset nab: $ours_tags tags (the NAB files in $nab_dir), $samples samples (rows of one timestamp: the last kept), raw query on $one_tag ($one_tag_samples samples)"
else
  rows=(
    "ingest acked samples/s (higher better)|$ours_ingest|$vm_ingest|$ix_ingest"
    "bytes/sample, files (the goal's)|$ours_fps|$vm_fps|n/a"
    "bytes/sample on disk (du, blocks)|$ours_bps|$vm_bps|$ix_bps"
    "bytes/sample du after load+stop (no compact)|$(per_sample "$ours_bytes_after_stop")|n/a|n/a"
    "raw 1 tag 1 h p50 ms|${ours_q_raw% *}|${vm_q_raw% *}|${ix_q_raw% *}"
    "raw 1 tag 1 h p99 ms|${ours_q_raw#* }|${vm_q_raw#* }|${ix_q_raw#* }"
    "avg 1m 1 tag 1 h p50 ms|${ours_q_avg1% *}|${vm_q_avg1% *}|${ix_q_avg1% *}"
    "avg 1m 1 tag 1 h p99 ms|${ours_q_avg1#* }|${vm_q_avg1#* }|${ix_q_avg1#* }"
    "avg 1m 100 tags 1 h p50 ms|${ours_q_avg100% *}|${vm_q_avg100% *}|${ix_q_avg100% *}"
    "avg 1m 100 tags 1 h p99 ms|${ours_q_avg100#* }|${vm_q_avg100#* }|${ix_q_avg100#* }"
    "latest all tags p50 ms|${ours_q_latest% *}|${vm_q_latest% *}|${ix_q_latest% *}"
    "latest all tags p99 ms|${ours_q_latest#* }|${vm_q_latest#* }|${ix_q_latest#* }"
    "peak RSS MiB|$(kb_to_mib "$ours_rss")|$(kb_to_mib "$vm_rss")|$(kb_to_mib "$ix_rss")"
    "replication lag p50 ms|${ours_repl% *}|n/a|n/a"
    "replication lag p99 ms|${ours_repl#* }|n/a|n/a"
  )
  setline="preset $preset: $ours_tags tags, $samples samples, $streams streams/connections"
fi
# Issue 16, goal 1: bytes <= max(0.85 x VictoriaMetrics, 1.1 x floor).
goal_floor=$(calc "1.1 * $floor_bps")
if [[ "$vm_fps" == n/a ]]; then
  goal_vm=n/a
  goal=$goal_floor
  goal_note="(no VictoriaMetrics figure in this run: floor term only)"
else
  goal_vm=$(calc "0.85 * $vm_fps")
  goal=$(awk -v a="$goal_vm" -v b="$goal_floor" 'BEGIN {printf "%.6f", (a > b ? a : b)}')
  goal_note=""
fi
goal_met=$(awk -v o="$ours_fps" -v g="$goal" 'BEGIN {print (o <= g ? "met" : "not met")}')
{
  echo
  echo "$setline; $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), load at start $load1"
  echo
  printf '| %-42s | %12s | %12s | %12s | %9s | %9s |\n' figure historian VictoriaM InfluxDB "ours/VM" "ours/Infl"
  printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..44})" "$(printf -- '-%.0s' {1..14})" \
    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..11})" \
    "$(printf -- '-%.0s' {1..11})"
  for row in "${rows[@]}"; do
    IFS='|' read -r name ours vm ix <<<"$row"
    awk -v n="$name" -v o="$ours" -v v="$vm" -v i="$ix" 'function f(x) {
        if (x == "n/a" || x == "") return "n/a"; if (x + 0 >= 1000) return sprintf("%.0f", x); return sprintf("%.3f", x) }
      function r(a, b) { if (a == "n/a" || a == "" || b == "n/a" || b == "" || b + 0 == 0) return "n/a"; return sprintf("%.2f", a / b) }
      BEGIN { printf "| %-42s | %12s | %12s | %12s | %9s | %9s |\n", n, f(o), f(v), f(i), r(o, v), r(o, i) }'
  done
  echo
  printf 'entropy floor (bench/entropy_floor %s): %.4f B/sample (a static order-0 coder: %.4f); ours %.2fx the floor\n' \
    "${floor_args[*]}" "$floor_bps" "$floor_coder_bps" "$(calc "$ours_fps / $floor_bps")"
  printf 'goal (issue 16, on file bytes): bytes/sample <= max(0.85 x VM = %s, 1.1 x floor = %.4f) = %.4f; ours %.4f: **%s** %s\n' \
    "$(if [[ $goal_vm == n/a ]]; then echo n/a; else printf '%.4f' "$goal_vm"; fi)" "$goal_floor" "$goal" \
    "$ours_fps" "$goal_met" "$goal_note"
  echo "stored: historian $ours_stored; VictoriaMetrics $vm_count; InfluxDB $ix_count" \
    "(files: the sizes of every regular file in the data dir; du: its allocated blocks)"
  if [[ -x "$breakdown_tool" && -n "$ours_dir" && -d "$ours_dir" ]]; then
    echo
    echo "historian data dir by component (bench/dir_breakdown, after the stop):"
    echo
    echo '```'
    "$breakdown_tool" --dir="$ours_dir" --samples="$samples" || echo "dir_breakdown failed"
    echo '```'
  fi
} | tee "$work/table.txt"
cp "$work/table.txt" "$md_out"

jnum() { if [[ "$1" == n/a || -z "$1" ]]; then echo null; else echo "$1"; fi; }
jpair() { if [[ "$1" == "$na" ]]; then echo null; else echo "[${1/ /,}]"; fi; }
ours_json="{\"tags\":$ours_tags,\"stored\":$(jnum "$ours_stored"),\"ingest_samples_per_s\":$ours_ingest,\"disk_bytes\":$ours_bytes,\"disk_bytes_after_stop\":$ours_bytes_after_stop,\"file_bytes\":$ours_files,\"file_bytes_after_stop\":$ours_files_after_stop,\"bytes_per_sample\":$ours_bps,\"peak_rss_kb\":$ours_rss,\"q_raw_1tag_ms\":$(jpair "$ours_q_raw"),\"q_avg_1tag_ms\":$(jpair "$ours_q_avg1"),\"q_avg_100tags_ms\":$(jpair "$ours_q_avg100"),\"q_latest_all_ms\":$(jpair "$ours_q_latest")}"
if [[ "$preset" != nab ]]; then ours_json=$(jq -c --argjson f "$ours_files" '. + {file_bytes: $f}' <<<"$hist"); fi
if [[ $only_ours -eq 0 ]]; then
  vm_json="{\"ingest_samples_per_s\":$vm_ingest,\"load_seconds\":$vm_load_s,\"disk_bytes\":$vm_bytes,\"file_bytes\":$vm_files,\"bytes_per_sample\":$vm_bps,\"stored\":$(jnum "$vm_count"),\"peak_rss_kb\":$vm_rss,\"q_raw_1tag_ms\":$(jpair "$vm_q_raw"),\"q_avg_1tag_ms\":$(jpair "$vm_q_avg1"),\"q_avg_100tags_ms\":$(jpair "$vm_q_avg100"),\"q_latest_all_ms\":$(jpair "$vm_q_latest")}"
  ix_json="{\"ingest_samples_per_s\":$ix_ingest,\"load_seconds\":$ix_load_s,\"disk_bytes\":$ix_bytes,\"bytes_per_sample\":$ix_bps,\"stored\":$(jnum "$ix_count"),\"peak_rss_kb\":$ix_rss,\"q_raw_1tag_ms\":$(jpair "$ix_q_raw"),\"q_avg_1tag_ms\":$(jpair "$ix_q_avg1"),\"q_avg_100tags_ms\":$(jpair "$ix_q_avg100"),\"q_latest_all_ms\":$(jpair "$ix_q_latest")}"
else
  vm_json=null
  ix_json=null
fi
jq -n --argjson historian "$ours_json" --arg preset "$preset" --arg date "$(date -u +%FT%TZ)" \
  --argjson samples "$samples" --arg load "$load1" --argjson vm "$vm_json" --argjson influx "$ix_json" \
  --argjson floor "$(jq -c '.sets[0]' <<<"$floor_json")" \
  --argjson goal "{\"measure\":\"file_bytes\",\"ours_bytes_per_sample\":$ours_fps,\"vm_term\":$(jnum "$goal_vm"),\"floor_term\":$goal_floor,\"target\":$goal,\"met\":$([[ $goal_met == met ]] && echo true || echo false)}" \
  '{preset: $preset, date: $date, samples: $samples, load_at_start: $load, historian: $historian,
    victoriametrics: $vm, influxdb: $influx, entropy_floor: $floor, goal_bytes: $goal}' \
  >"$out"
log "JSON summary: $out; markdown table: $md_out"
