// File: fixture_columns_m4.h
// The columns of tests/codec/fixtures/chunks_m4.bin: chunks whose int
// columns take the modes added for real series (FORMAT.md, int column modes
// 5-7), written by the codec of branch m4-codec (issue 16). Each chunk's
// comment names the mode it exercises (checked when the file was written).
// format_m4_fixture_test decodes those bytes and compares them with these
// columns, so chunks of these modes stay readable.
#ifndef HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_M4_H_
#define HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_M4_H_

#include <cstdint>
#include <vector>

#include "storage/codec/chunk_codec.h"
#include "tests/codec/fixture_columns.h"

namespace historian::codec::fixture_m4 {

inline constexpr int kNumChunks = 5;

inline ChunkColumns FixtureChunk(int k) {
  const int64_t t0 = 1'704'067'200LL * 1'000'000'000LL + k * 86'400LL * 1'000'000'000LL;
  const size_t n = 1024;
  ChunkColumns c;
  c.Reset(k == 3 ? ValueType::kInt64 : ValueType::kDouble);
  int64_t t = t0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = fixture::Mix(static_cast<uint64_t>(k) * 7'000'003 + i);
    // 5-minute clock; chunk 2's gaps are 1-4 steps of 10 minutes and now and
    // then a minute more (mode 7 on the timestamps), as in the NAB traffic files.
    t += k == 2 ? 1'000'000'000LL *
                      (600 * static_cast<int64_t>(1 + (h >> 40) % 4 * ((h >> 50) % 3 == 0)) +
                       ((h >> 56) % 50 == 0 ? 60 : 0))
                : 300'000'000'000LL;
    c.timestamps.push_back(t);
    c.qualities.push_back(0);
    c.versions.push_back(uint64_t{1'800'000'000} << 8 | 1);
    const int64_t noise = static_cast<int64_t>(h % 701);
    switch (k) {
      case 0:  // CPU percent at 0.002 steps, float-sum residue (mode 5 under doubles mode 2)
        c.doubles.push_back(static_cast<double>(2 * (20000 + noise)) / 1000.0 +
                            (h % 5 == 0 ? 7.105427357601002e-15 : 0.0));
        break;
      case 1:  // three levels, 0.132 / 0.134 / 0.066 (mode 6)
        c.doubles.push_back(h % 10 == 0 ? 0.066 : (h % 3 ? 0.134 : 0.132));
        break;
      case 2:  // travel times in whole seconds
        c.doubles.push_back(static_cast<double>(300 + noise % 40));
        break;
      case 3:  // int64 multiples of 25 (mode 5)
        c.ints.push_back(25 * (4000 + noise));
        break;
      default:  // a level at 0.0025 steps with rare spikes (mode 5)
        c.doubles.push_back(static_cast<double>(25 * (4000 + noise % 50)) / 10000.0 +
                            (h % 97 == 0 ? 3.0 : 0.0));
        break;
    }
  }
  return c;
}

}  // namespace historian::codec::fixture_m4

#endif  // HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_M4_H_
