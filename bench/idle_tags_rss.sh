#!/usr/bin/env bash
# idle_tags_rss.sh: what N idle tags cost a real historiand (issue 16).
# Builds a data dir of N tags with one sealed sample each
# (build/bench/idle_tags_bench), starts historiand on it and on an empty
# data dir, and prints each node's VmRSS once it serves, the difference per
# tag, and the node's own memory breakdown (`historian stats`).
#
#   scripts/build-lock.sh bash bench/idle_tags_rss.sh [N=1000000] [BUILD=build] [WORK=/tmp/idle-rss]
# HISTORIAND=path runs another build's node on the same data dir (before/after).
set -euo pipefail
n=${1:-1000000}
build=${2:-build}
work=${3:-/tmp/historian-idle-rss}
rm -rf "$work"
mkdir -p "$work"
"$build/bench/idle_tags_bench" --tags="$n" --dir="$work/tags" >"$work/bench.txt"
rm -rf "$work/tags-empty"

# Starts historiand on $1, waits until it serves, prints "pid port".
start() {
  local dir=$1 port_file=$1.port
  rm -f "$port_file"
  "${HISTORIAND:-$build/server/historiand}" --data_dir="$dir" --site=us --listen=127.0.0.1:0 \
    --port_file="$port_file" --metrics_listen= >"$dir.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do
    [[ -s "$port_file" ]] && break
    sleep 0.2
  done
  echo "$pid $(cat "$port_file")"
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# SIGTERM, then waits until the process is gone (not our child: started in
# a process substitution).
stop() {
  kill -TERM "$1"
  while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
}

read -r empty_pid empty_port < <(start "$work/empty")
sleep 2  # background threads settle (a figure, not a test)
empty_kb=$(rss_kb "$empty_pid")
stop "$empty_pid"

read -r pid port < <(start "$work/tags")
sleep 2
tags_kb=$(rss_kb "$pid")
stats=$("$build/client/historian" --server="127.0.0.1:$port" stats | grep -E '^(tags|memory):')
stop "$pid"

echo "date: $(date -u +%FT%TZ)  tags: $n"
echo "historiand VmRSS: empty data dir $((empty_kb / 1024)) MB; $n idle tags $((tags_kb / 1024)) MB"
awk -v a="$tags_kb" -v b="$empty_kb" -v n="$n" \
  'BEGIN { printf "per idle tag: %.0f bytes (RSS difference / tags)\n", (a - b) * 1024 / n }'
echo "$stats"
echo "--- in-process (idle_tags_bench) ---"
cat "$work/bench.txt"
