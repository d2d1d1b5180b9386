#!/usr/bin/env bash
# Clang's thread-safety analysis over storage/, server/ and client/sparkplug/:
# every translation unit of those trees is parsed (-fsyntax-only, no code generated) with
# -Wthread-safety as an error, so an access to an ABSL_GUARDED_BY field
# without its mutex, or a call to an ABSL_EXCLUSIVE_LOCKS_REQUIRED function
# without the lock, fails CI.
#   scripts/thread-safety.sh [BUILD_DIR [FILE...]]   (default build/, every unit)
# Runs JOBS (default 2) clang processes at once.
# Reads BUILD_DIR/compile_commands.json (the build exports it) and needs the
# generated protobuf headers, so run it after a normal build. Only the -I,
# -isystem, -D and -std flags of each command are kept: the GCC warning flags
# are not clang's business here.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${1:-build}
shift || true
ONLY=("$@")  # repo-relative files; empty: all of the trees above
DB="$BUILD_DIR/compile_commands.json"
CLANG=${CLANGXX:-clang++}
JOBS=${JOBS:-2}
FAILED_LIST=$(mktemp)
trap 'rm -f "$FAILED_LIST"' EXIT

# One unit; a failure is recorded in FAILED_LIST (jobs run in the background,
# so their exit codes are not collected one by one).
check_unit() {
  local rel=$1
  shift
  if ! "$CLANG" -fsyntax-only -Wthread-safety -Werror=thread-safety "$@"; then
    echo "thread-safety: FAILED $rel" >&2
    echo "$rel" >>"$FAILED_LIST"
  fi
}
[ -f "$DB" ] || { echo "thread-safety: $DB missing (build first)" >&2; exit 2; }

# CMake writes one "command" line followed by one "file" line per entry.
mapfile -t lines < <(grep -E '^  "(command|file)": ' "$DB")
fail=0
count=0
for ((i = 0; i + 1 < ${#lines[@]}; i += 2)); do
  cmd=${lines[i]#*\"command\": \"}
  cmd=${cmd%\",}
  file=${lines[i + 1]#*\"file\": \"}
  file=${file%\"*}
  rel=${file#"$ROOT"/}
  case "$rel" in
    storage/*.cc | server/*.cc | client/sparkplug/*.cc) ;;
    *) continue ;;
  esac
  if [ ${#ONLY[@]} -gt 0 ] && [[ " ${ONLY[*]} " != *" $rel "* ]]; then continue; fi
  flags=()
  read -ra words <<<"$cmd"
  for ((j = 1; j < ${#words[@]}; j++)); do
    w=${words[j]}
    case "$w" in
      -I* | -D* | -std=*) flags+=("$w") ;;
      -isystem) flags+=("$w" "${words[j + 1]}"); j=$((j + 1)) ;;
    esac
  done
  count=$((count + 1))
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  check_unit "$rel" "${flags[@]}" "$file" &
done
wait
[ -s "$FAILED_LIST" ] && fail=1
[ "$count" -gt 0 ] || { echo "thread-safety: no storage/, server/ or client/sparkplug/ units in $DB" >&2; exit 2; }
echo "thread-safety: $count translation units checked"
exit $fail
