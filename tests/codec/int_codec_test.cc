// File: int_codec_test.cc
// The integer building blocks on their own: every bit width, patched
// exceptions, every int column mode (checked to be reached), small-alphabet
// sequences, and truncation of each.
#include "storage/codec/int_codec.h"

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/coding.h"

namespace historian::codec {
namespace {

using Rng = std::mt19937_64;

void ExpectPackedRoundTrip(const std::vector<uint64_t>& v) {
  std::string bytes;
  ByteWriter w(&bytes);
  WritePacked(v.data(), v.size(), &w);
  std::vector<uint64_t> back(v.size(), 12345);
  ByteReader r(bytes);
  ASSERT_TRUE(ReadPacked(&r, v.size(), back.data()));
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_EQ(v, back);
  for (size_t len = 0; len < bytes.size(); ++len) {
    ByteReader cut(reinterpret_cast<const uint8_t*>(bytes.data()), len);
    ASSERT_FALSE(ReadPacked(&cut, v.size(), back.data())) << "length " << len;
  }
}

TEST(IntCodecTest, PackedEveryWidthAndLength) {
  Rng rng(1);
  for (int w = 0; w <= 64; ++w) {
    for (size_t n : {1, 7, 8, 9, 127, 128, 129, 300}) {
      std::vector<uint64_t> v(n);
      for (auto& x : v) {
        x = w == 0 ? 0 : (rng() >> (64 - w)) | (uint64_t{1} << (w - 1));
      }
      SCOPED_TRACE(::testing::Message() << "width " << w << " n " << n);
      ExpectPackedRoundTrip(v);
    }
  }
}

TEST(IntCodecTest, PackedExceptions) {
  Rng rng(2);
  for (int outliers : {1, 2, 5, 20, 127, 128}) {
    for (int big : {1, 2, 9, 33, 63, 64}) {
      std::vector<uint64_t> v(256);
      for (auto& x : v) x = rng() % 4;
      for (int k = 0; k < outliers; ++k) {
        v[rng() % v.size()] = big == 64 ? ~uint64_t{0} : (uint64_t{1} << big) | 1;
      }
      SCOPED_TRACE(::testing::Message() << outliers << " outliers of " << big << " bits");
      ExpectPackedRoundTrip(v);
    }
  }
  // Sparse flags use zero width and positions only.
  std::vector<uint64_t> flags(128, 0);
  flags[5] = flags[77] = 1;
  std::string bytes;
  ByteWriter w(&bytes);
  WritePacked(flags.data(), flags.size(), &w);
  EXPECT_LE(bytes.size(), 6u);
  ExpectPackedRoundTrip(flags);
}

TEST(IntCodecTest, PackedTakesTheEntropyStageOnlyWhenSmaller) {
  Rng rng(9);
  // Skewed small values (zig-zagged noise): the entropy stage (mode 2) wins.
  std::vector<uint64_t> noise(1024);
  for (auto& x : noise) x = (rng() % 3 == 0) ? rng() % 12 : rng() % 3;
  std::string bytes;
  ByteWriter w(&bytes);
  WritePacked(noise.data(), noise.size(), &w);
  EXPECT_EQ(bytes[0], 2);
  ExpectPackedRoundTrip(noise);
  // Uniform values of a full bit width: blocks (mode 1) stay.
  std::vector<uint64_t> uniform(1024);
  for (auto& x : uniform) x = rng() % 256;
  bytes.clear();
  WritePacked(uniform.data(), uniform.size(), &w);
  EXPECT_EQ(bytes[0], 1);
  ExpectPackedRoundTrip(uniform);
  // Too few values to pay for a table: blocks.
  std::vector<uint64_t> few(noise.begin(), noise.begin() + 20);
  bytes.clear();
  WritePacked(few.data(), few.size(), &w);
  EXPECT_EQ(bytes[0], 1);
}

TEST(IntCodecTest, IntColumnReachesEveryModeAndRoundTrips) {
  Rng rng(3);
  using Gen = uint64_t (*)(size_t i, Rng & rng);
  const Gen gens[] = {
      [](size_t i, Rng& rng) -> uint64_t { return rng(); },                      // delta
      [](size_t i, Rng& rng) -> uint64_t { return 5 * i * i + rng() % 3; },      // dod
      [](size_t i, Rng& rng) -> uint64_t { return rng() % 64 == 0; },            // flags: FOR
      [](size_t i, Rng& rng) -> uint64_t { return 1000 * i + rng() % 4; },       // FOR
      [](size_t i, Rng& rng) -> uint64_t { return i * (i % 7) + rng() % 100; },  // mixed
      [](size_t i, Rng& rng) -> uint64_t { return i % 2 ? 0 : ~uint64_t{0}; },   // extremes
      [](size_t i, Rng& rng) -> uint64_t { return uint64_t{1} << 63 | i; },
      [](size_t i, Rng& rng) -> uint64_t { return -static_cast<uint64_t>(i * 7); },
      [](size_t i, Rng& rng) -> uint64_t { return 42; },
      [](size_t i, Rng& rng) -> uint64_t { return (rng() % 2 ? 1ULL << 62 : 0) + 3 * i; },
      // GCD (mode 5): steps of 0.002 at scale 3, noise around a level.
      [](size_t i, Rng& rng) -> uint64_t { return 2 * (40000 + rng() % 700); },
      // Dictionary (mode 6): a few levels far apart.
      [](size_t i, Rng& rng) -> uint64_t { return 1000 * (rng() % 3) + (rng() % 5 == 0) * 77; },
      // Dictionary of deltas (mode 7): gaps that are a few multiples of 10.
      [](size_t i, Rng& rng) -> uint64_t { return i * 10 + (i / 3) * 20 + (i / 7) * 50; },
  };
  std::set<int> modes;
  for (const Gen& gen : gens) {
    for (size_t n : {1, 2, 3, 4, 129, 1024, 3000}) {
      std::vector<uint64_t> x(n);
      for (size_t i = 0; i < n; ++i) x[i] = gen(i, rng);
      // Counters with jittery increments favour FOR on the deltas.
      std::string bytes;
      ByteWriter w(&bytes);
      WriteIntColumn(x.data(), n, &w);
      modes.insert(bytes[0]);
      std::vector<uint64_t> back(n);
      ByteReader r(bytes);
      ASSERT_TRUE(ReadIntColumn(&r, n, back.data()));
      EXPECT_EQ(r.remaining(), 0u);
      ASSERT_EQ(x, back);
      for (size_t len = 0; len < bytes.size(); ++len) {
        ByteReader cut(reinterpret_cast<const uint8_t*>(bytes.data()), len);
        ASSERT_FALSE(ReadIntColumn(&cut, n, back.data())) << "length " << len;
      }
    }
  }
  {
    std::vector<uint64_t> x(1024);
    uint64_t c = 0;
    for (auto& v : x) v = c += 40 + rng() % 20;
    std::string bytes;
    ByteWriter w(&bytes);
    WriteIntColumn(x.data(), x.size(), &w);
    modes.insert(bytes[0]);
    std::vector<uint64_t> back(x.size());
    ByteReader r(bytes);
    ASSERT_TRUE(ReadIntColumn(&r, x.size(), back.data()));
    ASSERT_EQ(x, back);
  }
  EXPECT_EQ(modes, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(IntCodecTest, SmallSeqModesAndLimits) {
  Rng rng(4);
  for (int variant = 0; variant < 4; ++variant) {
    for (size_t n : {1, 2, 100, 1024}) {
      std::vector<uint32_t> v(n);
      for (size_t i = 0; i < n; ++i) {
        switch (variant) {
          case 0:
            v[i] = 7;
            break;
          case 1:
            v[i] = i / 100 % 2 ? 0x80000000u : 0;
            break;
          case 2:
            v[i] = static_cast<uint32_t>(rng() % 3);
            break;
          default:
            v[i] = static_cast<uint32_t>(rng());
            break;
        }
      }
      std::string bytes;
      ByteWriter w(&bytes);
      WriteSmallSeq(v.data(), n, &w);
      std::vector<uint32_t> back(n);
      ByteReader r(bytes);
      ASSERT_TRUE(ReadSmallSeq<uint32_t>(&r, n, UINT32_MAX, back.data()));
      ASSERT_EQ(v, back);
      // A tighter limit rejects values above it.
      uint32_t max = 0;
      for (uint32_t x : v) max = std::max(max, x);
      if (max > 0) {
        ByteReader again(bytes);
        EXPECT_FALSE(ReadSmallSeq<uint32_t>(&again, n, max - 1, back.data()));
      }
      for (size_t len = 0; len < bytes.size(); ++len) {
        ByteReader cut(reinterpret_cast<const uint8_t*>(bytes.data()), len);
        ASSERT_FALSE(ReadSmallSeq<uint32_t>(&cut, n, UINT32_MAX, back.data()));
      }
    }
  }
}

TEST(IntCodecTest, VarintAndZigZagEdges) {
  for (uint64_t v :
       {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, ~uint64_t{0}, uint64_t{1} << 63}) {
    std::string bytes;
    ByteWriter w(&bytes);
    w.PutVarint(v);
    EXPECT_EQ(bytes.size(), static_cast<size_t>(VarintLength(v)));
    ByteReader r(bytes);
    uint64_t back;
    ASSERT_TRUE(r.GetVarint(&back));
    EXPECT_EQ(back, v);
    EXPECT_EQ(UnZigZag(ZigZag(v)), v);
  }
  // Eleven bytes, or a tenth byte above 1, overflow 64 bits.
  std::string overlong(10, '\xff');
  overlong += '\x01';
  ByteReader r(overlong);
  uint64_t v;
  EXPECT_FALSE(r.GetVarint(&v));
  std::string big(9, '\xff');
  big += '\x02';
  ByteReader r2(big);
  EXPECT_FALSE(r2.GetVarint(&v));
  for (int w = 0; w <= 64; ++w) {
    const uint64_t x = w == 0 ? 0 : uint64_t{1} << (w - 1);
    EXPECT_EQ(BitWidth(x), w);
  }
}

}  // namespace
}  // namespace historian::codec
