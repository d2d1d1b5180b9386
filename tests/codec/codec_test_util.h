// File: codec_test_util.h
// Helpers shared by the codec tests: deterministic column generators and a
// bit-exact comparison of two chunks.
#ifndef HISTORIAN_TESTS_CODEC_CODEC_TEST_UTIL_H_
#define HISTORIAN_TESTS_CODEC_CODEC_TEST_UTIL_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"

namespace historian::codec::testing {

inline constexpr int64_t kSecond = 1'000'000'000;
// 2024-01-01T00:00:00Z in ns.
inline constexpr int64_t kT0 = 1'704'067'200LL * kSecond;

using Rng = std::mt19937_64;

// Regular timestamps every `step` ns from t0.
inline std::vector<int64_t> RegularTimes(size_t n, int64_t t0 = kT0, int64_t step = kSecond) {
  std::vector<int64_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = t0 + static_cast<int64_t>(i) * step;
  return t;
}

// Fills qualities all good and versions as live writes from site 7.
inline void FillLiveMeta(ChunkColumns* c) {
  c->qualities.assign(c->size(), 0);
  c->versions.resize(c->size());
  for (size_t i = 0; i < c->size(); ++i) {
    int64_t sec = c->timestamps[i] / kSecond;
    c->versions[i] = (static_cast<uint64_t>(sec + 2) << 8) | 7;
  }
}

inline ChunkColumns DoubleChunk(std::vector<int64_t> t, std::vector<double> v) {
  ChunkColumns c;
  c.type = ValueType::kDouble;
  c.timestamps = std::move(t);
  c.doubles = std::move(v);
  FillLiveMeta(&c);
  return c;
}

inline ChunkColumns IntChunk(std::vector<int64_t> t, std::vector<int64_t> v) {
  ChunkColumns c;
  c.type = ValueType::kInt64;
  c.timestamps = std::move(t);
  c.ints = std::move(v);
  FillLiveMeta(&c);
  return c;
}

inline uint64_t Bits(double d) { return std::bit_cast<uint64_t>(d); }

// Compares every column; doubles by their bit patterns.
inline void ExpectSameChunk(const ChunkColumns& want, const ChunkColumns& got) {
  ASSERT_EQ(want.type, got.type);
  ASSERT_EQ(want.timestamps, got.timestamps);
  ASSERT_EQ(want.doubles.size(), got.doubles.size());
  for (size_t i = 0; i < want.doubles.size(); ++i) {
    ASSERT_EQ(Bits(want.doubles[i]), Bits(got.doubles[i]))
        << "index " << i << ": " << want.doubles[i] << " vs " << got.doubles[i];
  }
  ASSERT_EQ(want.ints, got.ints);
  ASSERT_EQ(want.bools, got.bools);
  ASSERT_EQ(want.strings, got.strings);
  ASSERT_EQ(want.qualities, got.qualities);
  ASSERT_EQ(want.versions, got.versions);
}

// Encodes, decodes, compares, checks the summary; returns the encoded size.
inline size_t RoundTrip(const ChunkColumns& c) {
  std::string bytes = "prefix";  // EncodeChunk appends
  absl::Status s = EncodeChunk(c, &bytes);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return 0;
  EXPECT_EQ(bytes.substr(0, 6), "prefix");
  std::string_view enc = std::string_view(bytes).substr(6);
  ChunkColumns back;
  back.Reset(ValueType::kString);
  back.strings = {"stale"};
  s = DecodeChunk(enc, &back);
  EXPECT_TRUE(s.ok()) << s;
  ExpectSameChunk(c, back);
  absl::StatusOr<ChunkSummary> sum = SummarizeChunk(enc);
  EXPECT_TRUE(sum.ok()) << sum.status();
  if (sum.ok()) {
    EXPECT_EQ(sum->type, c.type);
    EXPECT_EQ(sum->count, c.size());
    EXPECT_EQ(sum->min_timestamp, c.timestamps.front());
    EXPECT_EQ(sum->max_timestamp, c.timestamps.back());
  }
  return enc.size();
}

}  // namespace historian::codec::testing

#endif  // HISTORIAN_TESTS_CODEC_CODEC_TEST_UTIL_H_
