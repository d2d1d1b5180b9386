// File: fixture_columns.h
// The columns of tests/codec/fixtures/chunks_v1.bin: a deterministic set of
// chunks (every value type, every int column mode of the first encoder,
// decimal and XOR doubles with exceptions, jittery clocks, bad qualities,
// live versions) whose bytes were written by the codec as of commit c62d973,
// before the entropy stage. format_v1_fixture_test decodes those bytes and
// compares them with these columns, so old chunks stay readable.
#ifndef HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_H_
#define HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "storage/codec/chunk_codec.h"

namespace historian::codec::fixture {

inline uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Chunk k of the fixture (0 <= k < kNumChunks).
inline constexpr int kNumChunks = 10;

inline ChunkColumns FixtureChunk(int k) {
  const int64_t t0 = 1'704'067'200LL * 1'000'000'000LL + k * 86'400LL * 1'000'000'000LL;
  const size_t n = k == 9 ? 5 : (k % 2 ? 1024 : 700);
  ChunkColumns c;
  const ValueType types[] = {ValueType::kDouble, ValueType::kDouble, ValueType::kDouble,
                             ValueType::kInt64,  ValueType::kInt64,  ValueType::kBool,
                             ValueType::kString, ValueType::kDouble, ValueType::kInt64,
                             ValueType::kDouble};
  c.Reset(types[k]);
  int64_t t = t0, count = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t h = Mix(static_cast<uint64_t>(k) * 1'000'003 + i);
    // 1 s clock; chunks 2 and 8 jitter by milliseconds, 7 is irregular.
    t += k == 7 ? 1'000'000'000LL * (1 + h % 300) : 1'000'000'000LL;
    c.timestamps.push_back(t + (k == 2 || k == 8 ? static_cast<int64_t>(h % 17) * 1'000'000 : 0));
    c.qualities.push_back(k == 5 && i > 100 && i < 140 ? 0x40000000u : 0u);
    c.versions.push_back(
        (static_cast<uint64_t>(c.timestamps.back() / 1'000'000'000 + 1 + (h % 97 == 0 ? 30 : 0))
         << 8) |
        3);
    const double noise = static_cast<double>(static_cast<int>(h % 9) - 4);
    switch (k) {
      case 0:  // analog, 0.1 resolution
        c.doubles.push_back(std::round(500 + 40 * std::sin(i / 300.0) * 10 + noise) / 10);
        break;
      case 1: {  // decimal with exceptions: NaN payloads, -0.0, inf, denormal
        double v = std::round(20000 + noise * 3 + i) / 100;
        if (i % 97 == 5) v = std::bit_cast<double>(0x7FF8000000000000ULL | (h & 0xFFFF));
        if (i % 101 == 7) v = -0.0;
        if (i == 300) v = std::numeric_limits<double>::infinity();
        if (i == 301) v = -std::numeric_limits<double>::infinity();
        if (i == 302) v = std::numeric_limits<double>::denorm_min();
        if (i % 50 == 9) v = 0.1 + 0.2;  // float-sum residue
        c.doubles.push_back(v);
        break;
      }
      case 2:  // full precision: XOR
        c.doubles.push_back(std::sin(static_cast<double>(i) / 7) * 1e3 +
                            static_cast<double>(h % 3));
        break;
      case 3:  // counter with a jittery rate
        count += 10 + static_cast<int64_t>(h % 5);
        c.ints.push_back(count);
        break;
      case 4:  // int64 extremes and a random walk
        count += static_cast<int64_t>(h % 201) - 100;
        c.ints.push_back(i % 100 == 0   ? std::numeric_limits<int64_t>::min()
                         : i % 100 == 1 ? std::numeric_limits<int64_t>::max()
                                        : count);
        break;
      case 5:
        c.bools.push_back((i / 37) % 2);
        break;
      case 6:
        c.strings.push_back(i % 50 < 3 ? "stopped" : (h % 200 == 0 ? "fault" : "running"));
        break;
      case 7:  // irregular clock, setpoint
        c.doubles.push_back(50 + 0.5 * static_cast<double>((i / 40) % 7));
        break;
      case 8:  // sparse flags
        c.ints.push_back(h % 64 == 0);
        break;
      default:  // a few samples
        c.doubles.push_back(1.5 * static_cast<double>(i));
        break;
    }
  }
  return c;
}

}  // namespace historian::codec::fixture

#endif  // HISTORIAN_TESTS_CODEC_FIXTURE_COLUMNS_H_
