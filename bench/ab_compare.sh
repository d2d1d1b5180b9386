#!/usr/bin/env bash
# ab_compare.sh: the speed of two builds, side by side, as interleaved A/B
# pairs (A = old, B = new; the order flips every pair so drift on a shared
# machine falls on both). Prints each pair and the median ratio new/old per
# figure (>= 1 is as fast or faster, for latencies too: old/new there).
#
#   bench/ab_compare.sh --old DIR --new DIR [--pairs 7] [--only LIST] [--work DIR]
#
# DIR: a build dir (bench/, server/ inside) or a flat dir of binaries
# (engine_bench, read_path_bench, historian-bench, historiand).
# LIST: comma-separated of
#   engine   engine_bench --tags=10000 --seconds=3600: in-process ingest M samples/s
#   ingest   historian-bench --preset=full --replication=false: acked samples/s over gRPC
#   read     read_path_bench over a compacted full-preset data dir: ms per 100 tags
#   queries  historian-bench --load=false --query_runs=300 against a node holding
#            the full preset: p50 ms of every query
# Default: all four. A full run of 7 pairs takes about 25 minutes on 2 cores.
set -euo pipefail

old="" new="" pairs=7 only="engine,ingest,read,queries" work=/tmp/historian-ab
while [[ $# -gt 0 ]]; do
  case "$1" in
    --old) old="$2"; shift 2 ;;
    --new) new="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "ab_compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$old" && -n "$new" ]] || { echo "ab_compare.sh: --old and --new are required" >&2; exit 2; }

bin() {  # bin DIR NAME: the binary NAME of build or flat dir DIR
  local d=$1 n=$2 p
  for p in "$d/$n" "$d/bench/$n" "$d/server/$n"; do
    [[ -x "$p" ]] && { echo "$p"; return; }
  done
  echo "ab_compare.sh: $n not found under $d" >&2
  exit 1
}
wants() { [[ ",$only," == *",$1,"* ]]; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

rm -rf "$work"
mkdir -p "$work"
node_pid=""
cleanup() {
  [[ -n "$node_pid" ]] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

results="$work/results.tsv"  # figure, pair, old, new, higher_is_better
: >"$results"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; printf '  %-28s pair %s: old %s new %s\n' "$1" "$2" "$3" "$4"; }
# order I: "old new" for odd pairs, "new old" for even ones.
order() { if (($1 % 2)); then echo "old new"; else echo "new old"; fi; }

run_engine() {  # run_engine DIR -> M samples/s
  "$(bin "$1" engine_bench)" --tags=10000 --seconds=3600 --dir="$work/engine" |
    sed -n 's/^ingest: .*, \([0-9.]*\) M samples\/s$/\1/p'
}
run_ingest() {  # run_ingest DIR -> acked samples/s
  "$(bin "$1" historian-bench)" --preset=full --replication=false --query_runs=1 \
    --queries=raw_1tag --historiand="$(bin "$1" historiand)" --work_dir="$work/hb" 2>/dev/null |
    tail -1 | sed -n 's/.*"ingest_samples_per_s":\([0-9.]*\).*/\1/p'
}

if wants engine; then
  echo "engine_bench --tags=10000 --seconds=3600 (M samples/s, higher is better)"
  for ((i = 1; i <= pairs; i++)); do
    declare -A r=()
    for side in $(order "$i"); do
      dir=$old; [[ $side == new ]] && dir=$new
      r[$side]=$(run_engine "$dir")
    done
    record engine_ingest_Msps "$i" "${r[old]}" "${r[new]}" 1
  done
fi

if wants ingest; then
  echo "historian-bench --preset=full, acked ingest over gRPC (samples/s, higher is better)"
  for ((i = 1; i <= pairs; i++)); do
    declare -A r=()
    for side in $(order "$i"); do
      dir=$old; [[ $side == new ]] && dir=$new
      r[$side]=$(run_ingest "$dir")
    done
    record grpc_ingest_sps "$i" "${r[old]}" "${r[new]}" 1
  done
fi

if wants read || wants queries; then
  # One full-preset data dir, written and compacted by the old binary: both
  # binaries read the same bytes (the format does not change).
  echo "making the full-preset data dir (old binary)"
  "$(bin "$old" historian-bench)" --preset=full --replication=false --query_runs=1 \
    --queries=raw_1tag --historiand="$(bin "$old" historiand)" --work_dir="$work/data" \
    --keep_data >/dev/null 2>&1
  spec=$("$(bin "$old" historian-bench)" --preset=full --emit=query-spec --out=-)
  echo "$spec" | sed -n 's/.*"many_tags":\[\([^]]*\)\].*/\1/p' | tr -d '"' | tr ',' ' ' >"$work/tags"
  start_ns=$(echo "$spec" | sed -n 's/.*"start_ns":\([0-9]*\).*/\1/p')
  end_ns=$(echo "$spec" | sed -n 's/.*"end_ns":\([0-9]*\).*/\1/p')
  [[ -s "$work/tags" && -n "$start_ns" && -n "$end_ns" ]] ||
    { echo "ab_compare.sh: could not read the query spec" >&2; exit 1; }
fi

if wants read; then
  echo "read_path_bench, 100 tags x 1 h into 1-minute averages (best ms per pass, lower is better)"
  for ((i = 1; i <= pairs; i++)); do
    declare -A scan=() read=()
    for side in $(order "$i"); do
      dir=$old; [[ $side == new ]] && dir=$new
      rm -rf "$work/read_copy" && cp -a "$work/data/a" "$work/read_copy"
      out=$("$(bin "$dir" read_path_bench)" --dir="$work/read_copy" --site=us \
        --tags_file="$work/tags" --start_ns="$start_ns" --end_ns="$end_ns" --reps=200)
      # Each step runs twice: the better pass counts.
      scan[$side]=$(echo "$out" | awk '$1 == "scan+agg" {print $2}' | sort -g | head -1)
      read[$side]=$(echo "$out" | awk '$1 == "read+agg" {print $2}' | sort -g | head -1)
    done
    record read_scan_agg_ms "$i" "${scan[old]}" "${scan[new]}" 0
    record read_read_agg_ms "$i" "${read[old]}" "${read[new]}" 0
  done
fi

if wants queries; then
  echo "historian-bench queries, --query_runs=300 (p50 ms, lower is better)"
  for ((i = 1; i <= pairs; i++)); do
    declare -A q_old=() q_new=()
    for side in $(order "$i"); do
      dir=$old; [[ $side == new ]] && dir=$new
      rm -rf "$work/q_copy" && cp -a "$work/data/a" "$work/q_copy"
      "$(bin "$dir" historiand)" --data_dir="$work/q_copy" --site=us --listen=127.0.0.1:0 \
        --port_file="$work/q_copy.port" --metrics_listen= >"$work/q_node.log" 2>&1 &
      node_pid=$!
      for _ in $(seq 600); do [[ -s "$work/q_copy.port" ]] && break; sleep 0.1; done
      json=$("$(bin "$dir" historian-bench)" --preset=full --start_node=false --load=false \
        --endpoint="127.0.0.1:$(cat "$work/q_copy.port")" --query_runs=300 2>/dev/null | tail -1)
      kill -TERM "$node_pid"; wait "$node_pid" || true; node_pid=""
      rm -f "$work/q_copy.port"
      while read -r name value; do
        if [[ $side == old ]]; then q_old[$name]=$value; else q_new[$name]=$value; fi
      done < <(echo "$json" | grep -o '"q_[a-z0-9_]*_p50_ms":[0-9.]*' | tr -d '"' | tr ':' ' ')
    done
    for name in "${!q_old[@]}"; do record "$name" "$i" "${q_old[$name]}" "${q_new[$name]}" 0; done
  done
fi

echo
echo "median ratio over $pairs pairs (new speed / old speed; >= 1 means no slower)"
cut -f1 "$results" | sort -u | while read -r fig; do
  higher=$(awk -F'\t' -v f="$fig" '$1 == f {print $5; exit}' "$results")
  ratio=$(awk -F'\t' -v f="$fig" -v h="$higher" \
    '$1 == f && $3 > 0 && $4 > 0 {print (h == 1) ? $4 / $3 : $3 / $4}' "$results" | median)
  old_med=$(awk -F'\t' -v f="$fig" '$1 == f {print $3}' "$results" | median)
  new_med=$(awk -F'\t' -v f="$fig" '$1 == f {print $4}' "$results" | median)
  printf '  %-28s old %-10s new %-10s ratio %.3f\n' "$fig" "$old_med" "$new_med" "$ratio"
done
