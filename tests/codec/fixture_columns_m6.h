// File: fixture_columns_m6.h
// The columns of tests/codec/fixtures/chunks_m6.bin: chunks with packed
// sequences in mode 3 (sparse; FORMAT.md "Packed sequence"), written by the
// codec of branch m6-sparse (issue 16): write versions from a few ingest
// batches, rarely changing qualities, a rarely changing value. Each was
// checked to use mode 3 when the file was written (the test fails with a
// broken sparse decoder). format_m6_fixture_test decodes those bytes and
// compares them with these columns, so chunks of this mode stay readable.
#ifndef HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_M6_H_
#define HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_M6_H_

#include <cstdint>
#include <vector>

#include "storage/codec/chunk_codec.h"
#include "tests/codec/fixture_columns.h"

namespace historian::codec::fixture_m6 {

inline constexpr int kNumChunks = 3;

inline ChunkColumns FixtureChunk(int k) {
  const int64_t t0 = 1'704'067'200LL * 1'000'000'000LL + k * 86'400LL * 1'000'000'000LL;
  const size_t n = 3600;
  ChunkColumns c;
  c.Reset(k == 2 ? ValueType::kInt64 : ValueType::kDouble);
  uint64_t batch_sec = 1'800'000'000;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = fixture::Mix(static_cast<uint64_t>(k) * 9'000'011 + i);
    c.timestamps.push_back(t0 + static_cast<int64_t>(i) * 1'000'000'000LL);
    // Four ingest batches a chunk (versions: int column deltas mostly zero).
    if (i % 900 == 0) batch_sec += 60 + (h >> 32) % 40;
    c.versions.push_back(batch_sec << 8 | 1);
    // Chunk 1: an uncertain quality now and then (runs with sparse lengths).
    c.qualities.push_back(k == 1 && h % 700 == 0 ? 0x40 : 0);
    switch (k) {
      case 0:  // a slowly moving level
        c.doubles.push_back(20.0 + static_cast<double>(h % 1000) / 100.0);
        break;
      case 1:  // a constant setpoint
        c.doubles.push_back(55.5);
        break;
      default:  // an int64 state that changes a few times (sparse deltas)
        c.ints.push_back(i < 1000 ? 3 : (i < 2500 ? 4 : (h % 1500 == 0 ? 9 : 3)));
        break;
    }
  }
  return c;
}

}  // namespace historian::codec::fixture_m6

#endif  // HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_M6_H_
