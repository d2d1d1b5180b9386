#!/usr/bin/env bash
# compare_all.sh: issue 16's side-by-side tables, one per data set: runs
# bench/compare.sh for the short plant set, the real NAB series and the full
# preset (each under scripts/build-lock.sh, one lock hold per data set so no
# build runs during a measurement), then prints the markdown tables, ready to
# paste into bench/README.md.
#
#   bench/compare_all.sh                     # short, nab, full (~12 minutes)
#   bench/compare_all.sh --presets short,nab
#   bench/compare_all.sh --tables-only       # print the last runs' tables
#
# Options: --presets LIST (default short,nab,full)  --build DIR (default build)
# --tables-only; anything else is passed to compare.sh (e.g. --streams 4).
# Each table is <build>/compare-<preset>.md, written by compare.sh.
set -euo pipefail

presets=short,nab,full
build=build
tables_only=0
pass=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --presets) presets="$2"; shift 2 ;;
    --build) build="$2"; pass+=(--build "$2"); shift 2 ;;
    --tables-only) tables_only=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) pass+=("$1"); shift ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
IFS=',' read -r -a list <<<"$presets"

if [[ $tables_only -eq 0 ]]; then
  for p in "${list[@]}"; do
    echo "[compare_all] $p: scripts/build-lock.sh bash bench/compare.sh --preset $p ${pass[*]}" >&2
    "$root/scripts/build-lock.sh" bash "$root/bench/compare.sh" --preset "$p" "${pass[@]}" >&2
  done
fi

title() {
  case "$1" in
    short) echo "Short history: 1,000 plant tags x 30 min (historian-bench --preset=short)" ;;
    nab) echo "Real data: the 31 NAB series (historian import-csv)" ;;
    full) echo "Full preset: 10,000 plant tags x 1 h (historian-bench --preset=full)" ;;
    small) echo "Small preset: 1,000 plant tags x 10 min" ;;
    *) echo "$1" ;;
  esac
}
for p in "${list[@]}"; do
  md="$build/compare-$p.md"
  echo
  echo "#### $(title "$p")"
  if [[ -f "$md" ]]; then
    cat "$md"
  else
    echo
    echo "(no table: $md missing; run bench/compare.sh --preset $p)"
  fi
done
