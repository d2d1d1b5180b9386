#!/usr/bin/env bash
# rules_callgrind.sh: instructions the node executes to ingest a plant data
# set with 10,000 limit rules and without, counted by valgrind's callgrind
# (repeatable on a loaded machine, unlike wall time; issue 19, bench/README.md
# "10,000 rules at the full preset").
#
#   bench/rules_callgrind.sh --bins old=/a/historiand,new=/b/historiand \
#       [--modes none,silent,raise,plant] [--duration 6m] [--bench DIR] [--work DIR]
#
# Per mode, a data dir with the 10,000 tags (and one `high` rule per tag:
# silent = never raises, raise = at the tag's 0.99 quantile over the hour,
# plant = as raise with a deadband and an on-delay: bench/rules_common.sh) is
# made once by a native node of the first build (bench/rules_load); then per
# build a copy of it is opened by that build's node under callgrind with
# collection off, collection is switched on just before
#   historian-bench --tags=10000 --duration=D --start_node=false --compact=false
# ingests D of the full preset's 10,000 tags (block_ticks 60, 4 streams), and
# the counts are dumped right after it: node instructions for the ingest
# alone (all threads; rule setup, start and stop excluded). Prints Ir per
# run and each mode's ratio to the same build's `none`. Keeps the callgrind
# files in WORK/cg for callgrind_annotate. Takes no lock: run it inside
# scripts/build-lock.sh.
set -euo pipefail

bins="" modes="none,silent,raise" duration=6m benchdir="" work=/tmp/historian-rules-cg
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bins) bins="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --bench) benchdir="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "rules_callgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$bins" ]] || { echo "rules_callgrind.sh: --bins is required" >&2; exit 2; }
[[ -n "$benchdir" ]] || benchdir="$(cd "$(dirname "$0")/.." && pwd)/build/bench"
IFS=, read -r -a bin_list <<<"$bins"
IFS=, read -r -a mode_list <<<"$modes"

rm -rf "$work"
mkdir -p "$work/cg"
# shellcheck source=bench/rules_common.sh
source "$(dirname "$0")/rules_common.sh"
rules_make_templates "${bin_list[0]#*=}" "${mode_list[@]}"

results="$work/results.tsv"  # build mode Ir
: >"$results"
for mode in "${mode_list[@]}"; do
  for spec in "${bin_list[@]}"; do
    name="${spec%%=*}" bin="${spec#*=}"
    rm -rf "$work/run" && cp -a "$work/tmpl-$mode" "$work/run"
    out="$work/cg/$name-$mode.out"
    rules_start_node "$work/run" valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$out" "$bin"
    callgrind_control -i on "$node_pid" >/dev/null
    "$benchdir/historian-bench" --tags=10000 --duration="$duration" --start_node=false \
      --endpoint="$endpoint" --compact=false --replication=false --query_runs=1 \
      --queries=raw_1tag >/dev/null 2>&1
    callgrind_control -i off "$node_pid" >/dev/null
    callgrind_control -d "$node_pid" >/dev/null
    rules_stop_node
    ir=$(cat "$out".* 2>/dev/null "$out" 2>/dev/null | awk '/^totals:/ {s += $2} END {printf "%.0f\n", s}')
    printf '%s\t%s\t%s\n' "$name" "$mode" "$ir" >>"$results"
    printf '%-8s %-7s Ir %s\n' "$name" "$mode" "$ir"
  done
done

echo "ratio to the same build's none (instructions for the ingest)"
for spec in "${bin_list[@]}"; do
  name="${spec%%=*}"
  base=$(awk -v b="$name" '$1 == b && $2 == "none" {print $3}' "$results")
  for mode in "${mode_list[@]}"; do
    ir=$(awk -v b="$name" -v m="$mode" '$1 == b && $2 == m {print $3}' "$results")
    ratio=""
    [[ -n "$base" && "$base" != 0 ]] && ratio=$(awk -v a="$ir" -v b="$base" 'BEGIN {printf "%.3f", a / b}')
    printf '%-8s %-7s Ir %15s  %s\n' "$name" "$mode" "$ir" "$ratio"
  done
done
