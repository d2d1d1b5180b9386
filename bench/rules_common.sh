#!/usr/bin/env bash
# rules_common.sh: what bench/rules_ab.sh and bench/rules_callgrind.sh share
# (sourced, not run): a node on a data dir, and the per-mode data dirs of
# 10,000 tags with and without limit rules (bench/README.md, "10,000 rules
# at the full preset"). The caller sets `work` (its scratch dir, existing)
# and `benchdir` (build/bench), and `set -euo pipefail`.
#
#   rules_start_node DATA_DIR CMD...   CMD is historiand, or a wrapper that
#                                      ends with it (valgrind ... historiand);
#                                      sets node_pid and endpoint
#   rules_stop_node                    SIGTERM, waits
#   rules_make_templates BIN MODE...   WORK/tmpl-MODE per mode, made once by
#                                      BIN through rules_load:
#                                      none   the 10,000 tags only
#                                      silent one `high` rule per tag that
#                                             never raises (limit + 1e9)
#                                      raise  one `high` rule per tag at its
#                                             0.99 quantile over the hour
#                                             (no deadband, no on-delay: the
#                                             chattering worst case)
#                                      plant  as raise, with a deadband of 2 %
#                                             of the tag's range and a 15 s
#                                             on-delay (ISA-18.2's starting
#                                             values for pressure loops)
# Installs an EXIT trap that stops a node left running.

node_pid=""
rules_cleanup() {
  [[ -n "$node_pid" ]] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  true
}
trap rules_cleanup EXIT

rules_start_node() {
  local dir=$1
  shift
  rm -f "$work/port"
  "$@" --data_dir="$dir" --site=us --listen=127.0.0.1:0 --port_file="$work/port" \
    --metrics_listen= >"$work/node.log" 2>&1 &
  node_pid=$!
  # Generous: a node under valgrind takes tens of seconds to start.
  for _ in $(seq 1 1200); do
    [[ -s "$work/port" ]] && break
    kill -0 "$node_pid" 2>/dev/null || { echo "node died:"; tail "$work/node.log"; exit 1; }
    sleep 0.1
  done
  [[ -s "$work/port" ]] || { echo "$(basename "$0"): node did not start" >&2; exit 1; }
  endpoint="127.0.0.1:$(cat "$work/port")"
}

rules_stop_node() {
  kill -TERM "$node_pid" && wait "$node_pid" || true
  node_pid=""
}

rules_make_templates() {
  local bin=$1 mode
  shift
  for mode in "$@"; do
    local args=(--tags=10000)
    case "$mode" in
      none) args+=(--rules=false) ;;
      silent) args+=(--limit_offset=1e9) ;;
      raise) ;;
      plant) args+=(--deadband_fraction=0.02 --on_delay=15s) ;;
      *) echo "$(basename "$0"): unknown mode $mode" >&2; exit 2 ;;
    esac
    rules_start_node "$work/tmpl-$mode" "$bin"
    "$benchdir/rules_load" --endpoint="$endpoint" "${args[@]}"
    rules_stop_node
  done
}
