#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz/ (the tree
# scripts/asan-tests.sh also uses, scripts/sanitizer-tree.sh) and runs
# each for FUZZ_SECONDS (default 20) on a scratch copy of its seed corpus
# fuzz/corpus/<target>/ (the repo's corpus is never modified). A crash fails
# the script and leaves the reproducer in build-fuzz/artifacts/<target>/.
#   scripts/fuzz.sh                 build and run every target
#   scripts/fuzz.sh chunk_decode    only that target
#   scripts/fuzz.sh --make-seeds    regenerate the binary seeds in fuzz/corpus/
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-2}
TARGETS=(chunk_decode huffman write_request csv_import sparkplug_payload)

bash scripts/sanitizer-tree.sh "$BUILD_DIR"

if [ "${1:-}" = "--make-seeds" ]; then
  scripts/build-lock.sh cmake --build "$BUILD_DIR" -j"$JOBS" --target make_seeds
  "$BUILD_DIR/fuzz/make_seeds" fuzz/corpus
  exit 0
fi
if [ $# -gt 0 ]; then TARGETS=("$@"); fi

build_targets=()
for t in "${TARGETS[@]}"; do build_targets+=("${t}_fuzzer"); done
scripts/build-lock.sh cmake --build "$BUILD_DIR" -j"$JOBS" --target "${build_targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${TARGETS[@]}"; do
  work="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t/"
  rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  echo "fuzz: $t for ${SECONDS_EACH}s"
  if ! "$BUILD_DIR/fuzz/${t}_fuzzer" -max_total_time="$SECONDS_EACH" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$work" "fuzz/corpus/$t" >"$BUILD_DIR/$t.log" 2>&1; then
    echo "fuzz: $t FAILED (log: $BUILD_DIR/$t.log, reproducer in $artifacts)"
    tail -n 40 "$BUILD_DIR/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD_DIR/$t.log" | tr '\n' ' '
    echo
  fi
done
exit $status
