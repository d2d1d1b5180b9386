#!/usr/bin/env bash
# rules_ab.sh: the cost of 10,000 limit rules to full-preset ingest (issue 19,
# bench/README.md "10,000 rules at the full preset"), for one or more
# historiand builds side by side, interleaved (the order of the builds
# rotates every repetition so drift on a shared machine falls on all).
#
#   bench/rules_ab.sh --bins old=/a/historiand,new=/b/historiand \
#       [--modes none,silent,raise] [--reps 3] [--bench DIR] [--work DIR]
#
# Modes: none   the 10,000 tags only (the baseline)
#        silent one `high` rule per tag that never raises (limit + 1e9)
#        raise  one `high` rule per tag at the tag's 0.99 quantile
#               (~117k events in the hour: a chattering worst case)
# Each mode's data dir (tags, rules) is made once by the first build's node
# through bench/rules_load, then copied for every run, so every run ingests
# into the same catalog. Per run: a node on the copy, then
#   historian-bench --preset=full --start_node=false --replication=false
# Prints one line per run and the median per (build, mode) of acked
# samples/s and node CPU seconds during ingest, then each mode's ratio to
# the same build's `none`. Takes no lock: run it inside scripts/build-lock.sh.
set -euo pipefail

bins="" modes="none,silent,raise" reps=3 benchdir="" work=/tmp/historian-rules-ab
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bins) bins="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --bench) benchdir="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "rules_ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$bins" ]] || { echo "rules_ab.sh: --bins is required" >&2; exit 2; }
[[ -n "$benchdir" ]] || benchdir="$(cd "$(dirname "$0")/.." && pwd)/build/bench"
IFS=, read -r -a bin_list <<<"$bins"
IFS=, read -r -a mode_list <<<"$modes"
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

rm -rf "$work"
mkdir -p "$work"
# shellcheck source=bench/rules_common.sh
source "$(dirname "$0")/rules_common.sh"
rules_make_templates "${bin_list[0]#*=}" "${mode_list[@]}"

results="$work/results.tsv"  # build mode rep sps node_cpu
: >"$results"
n=${#bin_list[@]}
for ((rep = 1; rep <= reps; rep++)); do
  for mode in "${mode_list[@]}"; do
    for ((k = 0; k < n; k++)); do
      spec="${bin_list[$(((k + rep - 1) % n))]}"
      name="${spec%%=*}" bin="${spec#*=}"
      rm -rf "$work/run" && cp -a "$work/tmpl-$mode" "$work/run"
      rules_start_node "$work/run" "$bin"
      line=$("$benchdir/historian-bench" --preset=full --start_node=false --endpoint="$endpoint" \
        --node_pid="$node_pid" --node_data_dir="$work/run" --replication=false --query_runs=1 \
        --queries=raw_1tag 2>/dev/null | tail -1)
      rules_stop_node
      sps=$(echo "$line" | sed -n 's/.*"ingest_samples_per_s":\([0-9.]*\).*/\1/p')
      cpu=$(echo "$line" | sed -n 's/.*"ingest_node_cpu_s":\([0-9.]*\).*/\1/p')
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$mode" "$rep" "$sps" "$cpu" >>"$results"
      printf 'rep %s %-8s %-7s acked/s %12s  node CPU s %s\n' "$rep" "$name" "$mode" "$sps" "$cpu"
    done
  done
done

echo "medians over $reps repetitions (ratio: to the same build's none)"
for spec in "${bin_list[@]}"; do
  name="${spec%%=*}"
  base_sps=$(awk -v b="$name" '$1 == b && $2 == "none" {print $4}' "$results" | median)
  base_cpu=$(awk -v b="$name" '$1 == b && $2 == "none" {print $5}' "$results" | median)
  for mode in "${mode_list[@]}"; do
    sps=$(awk -v b="$name" -v m="$mode" '$1 == b && $2 == m {print $4}' "$results" | median)
    cpu=$(awk -v b="$name" -v m="$mode" '$1 == b && $2 == m {print $5}' "$results" | median)
    ratio="" cratio=""
    if [[ -n "$base_sps" && "$mode" != none ]]; then
      ratio=$(awk -v a="$sps" -v b="$base_sps" 'BEGIN {printf "%.3f", a / b}')
      cratio=$(awk -v a="$cpu" -v b="$base_cpu" 'BEGIN {printf "%.3f", a / b}')
    fi
    printf '%-8s %-7s acked/s %12s %7s   node CPU s %6s %7s\n' "$name" "$mode" "$sps" "$ratio" "$cpu" "$cratio"
  done
done
