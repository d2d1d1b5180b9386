#!/usr/bin/env bash
# ASan+UBSan run of the tests whose code handles untrusted or on-disk bytes
# or runs the store's parts in process (codec, store, CSV/time/value parsing,
# the Sparkplug decoder), built in the sanitized tree scripts/fuzz.sh also
# uses (scripts/sanitizer-tree.sh). The end-to-end tests run the normal
# build: sanitizing the gRPC services, CLI and their tests would double the
# build time.
#   scripts/asan-tests.sh              build and run every test below
#   scripts/asan-tests.sh store_test   only those
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZED_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
NORMAL_DIR=${BUILD_DIR:-build}
TESTS=(codec_test store_test head_columns_test log_entry_test glob_test query_bounds_test calendar_windows_test
  client_csv_test client_time_parse_test client_value_text_test client_input_identity_test
  client_sparkplug_test
  catalog_test head_test commit_log_test own_log_test tombstone_set_test chunk_store_test rollups_test
  maintenance_test store_replication_test format_fixture_test query_planner_test
  shard_copy_test shard_drop_test shard_fence_test)
if [ $# -gt 0 ]; then TESTS=("$@"); fi

bash scripts/sanitizer-tree.sh "$SANITIZED_DIR"
scripts/build-lock.sh cmake --build "$SANITIZED_DIR" -j"${JOBS:-2}" --target "${TESTS[@]}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${TESTS[@]}"; do
  bin=$(find "$SANITIZED_DIR/tests" -type f -name "$t" -perm -u+x | head -n1)
  echo "asan: $t"
  # Binaries a test starts (format_fixture_test's historiand) come from the
  # normal build: only the test's in-process code is sanitized.
  HISTORIAN_BIN_DIR="$PWD/$NORMAL_DIR" HISTORIAN_SOURCE_DIR="$PWD" "$bin" --gtest_brief=1
done
