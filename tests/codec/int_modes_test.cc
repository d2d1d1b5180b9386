// File: int_modes_test.cc
// The int column modes for real series (FORMAT.md, int column modes 5-7):
// a common divisor (GCD), a dictionary of values, a dictionary of deltas.
// Random columns of the shapes they are for (and of the shapes they are
// not) round-trip bit for bit at every length, including wrap-around and
// the int64 extremes; each mode is reached; malformed bodies (a divisor
// below 2, nested modes, a dictionary index out of range, a dictionary
// larger than the column) are rejected; truncations are rejected.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/coding.h"
#include "storage/codec/divisibility.h"
#include "storage/codec/int_codec.h"

namespace historian::codec {
namespace {

using Rng = std::mt19937_64;

constexpr uint8_t kGcd = 5, kDictionary = 6, kDeltaDictionary = 7;

// Writes x, checks the round trip and every truncation; returns the mode.
int RoundTrip(const std::vector<uint64_t>& x, bool check_truncations = true) {
  std::string bytes;
  ByteWriter w(&bytes);
  WriteIntColumn(x.data(), x.size(), &w);
  std::vector<uint64_t> back(x.size(), 0xDEADBEEF);
  ByteReader r(bytes);
  EXPECT_TRUE(ReadIntColumn(&r, x.size(), back.data()));
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(x, back);
  if (check_truncations) {
    for (size_t len = 0; len < bytes.size(); ++len) {
      ByteReader cut(reinterpret_cast<const uint8_t*>(bytes.data()), len);
      EXPECT_FALSE(ReadIntColumn(&cut, x.size(), back.data())) << "length " << len;
    }
  }
  return static_cast<uint8_t>(bytes[0]);
}

// A column of one of several shapes; `shape` picks it.
std::vector<uint64_t> Column(int shape, size_t n, Rng& rng) {
  std::vector<uint64_t> x(n);
  const uint64_t g = 2 + rng() % 40;
  const int64_t big = std::numeric_limits<int64_t>::max();
  uint64_t acc = rng();
  for (size_t i = 0; i < n; ++i) {
    switch (shape) {
      case 0:  // multiples of g around a level (CPU percent at 0.002 steps)
        x[i] = g * (1000 + rng() % 300);
        break;
      case 1:  // multiples of g, far apart, wrapping modulo 2^64
        x[i] = uint64_t{1} << 63 | (g * (rng() % 1000));
        break;
      case 2:  // the int64 extremes: differences overflow int64
        x[i] = rng() % 2 ? static_cast<uint64_t>(big) : static_cast<uint64_t>(-big - 1);
        break;
      case 3:  // a few levels with rare spikes
        x[i] = (rng() % 4) * 12345 + (rng() % 50 == 0 ? rng() : 0);
        break;
      case 4:  // two levels, long runs
        x[i] = (i / 37) % 2 ? 134 : 66;
        break;
      case 5:  // irregular clock: gaps of 1-4 steps of 600, now and then a long one
        acc += 600 * (1 + (rng() % 8 == 0) + (rng() % 16 == 0) * 2) +
               (rng() % 200 == 0 ? rng() % 100000 : 0);
        x[i] = acc;
        break;
      case 6:  // multiples of a huge g (near 2^62)
        x[i] = (uint64_t{1} << 62) * (rng() % 3);
        break;
      case 7:  // multiples of g in a random walk
        acc += g * (rng() % 21) - g * 10;
        x[i] = acc;
        break;
      case 8:  // the divisor shrinks late: multiples of 12g, then 4g, then 2g
        x[i] = (i < n / 2 ? 12 : i < 3 * n / 4 ? 4 : 2) * g * (rng() % 500);
        break;
      default:  // noise: none of the new modes pays
        x[i] = rng();
        break;
    }
  }
  return x;
}

TEST(IntModesTest, RandomColumnsRoundTripAndReachEveryNewMode) {
  Rng rng(16);
  std::set<int> modes;
  for (int shape = 0; shape <= 9; ++shape) {
    for (size_t n : {1, 2, 3, 63, 64, 65, 200, 1024, 4096}) {
      for (int rep = 0; rep < 3; ++rep) {
        SCOPED_TRACE(::testing::Message() << "shape " << shape << " n " << n << " rep " << rep);
        modes.insert(RoundTrip(Column(shape, n, rng), /*check_truncations=*/n <= 1024 && rep == 0));
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  EXPECT_TRUE(modes.count(kGcd));
  EXPECT_TRUE(modes.count(kDictionary));
  EXPECT_TRUE(modes.count(kDeltaDictionary));
}

// The divisibility test the GCD search uses agrees with % for divisors of
// every shape (odd, powers of two, both, near 2^64) and values around their
// multiples, including 0 and the top of the range.
TEST(IntModesTest, DivisibilityMatchesTheRemainder) {
  Rng rng(61);
  std::vector<uint64_t> divisors = {1,
                                    2,
                                    3,
                                    5,
                                    6,
                                    7,
                                    10,
                                    12,
                                    25,
                                    1000,
                                    1024,
                                    3ull << 40,
                                    (uint64_t{1} << 62) + 1,
                                    uint64_t{1} << 63,
                                    ~uint64_t{0},
                                    ~uint64_t{0} - 1};
  for (int i = 0; i < 200; ++i) divisors.push_back((rng() >> (rng() % 64)) | 1);
  for (int i = 0; i < 200; ++i) divisors.push_back(std::max<uint64_t>(1, rng() >> (rng() % 64)));
  for (const uint64_t g : divisors) {
    const Divisibility div(g);
    std::vector<uint64_t> values = {0, 1, g, g - 1, g + 1, ~uint64_t{0}, ~uint64_t{0} - g + 1};
    for (int i = 0; i < 50; ++i) {
      const uint64_t k = rng() >> (rng() % 64);
      values.push_back(g * k);  // may wrap: then usually not a multiple
      values.push_back(g * k + 1);
      values.push_back(rng());
    }
    for (const uint64_t d : values) {
      ASSERT_EQ(div.Divides(d), d % g == 0) << "g " << g << " d " << d;
    }
  }
}

TEST(IntModesTest, NewModesAreSmallerWhereTheyApply) {
  Rng rng(7);
  // Two levels (ec2_cpu_utilization_24ae8d: 0.132 / 0.134 / 0.066): the
  // dictionary codes a jump between levels as an index.
  std::vector<uint64_t> levels(1024);
  for (auto& v : levels) v = rng() % 10 == 0 ? 66 : (rng() % 3 ? 134 : 132);
  std::string bytes;
  ByteWriter w(&bytes);
  WriteIntColumn(levels.data(), levels.size(), &w);
  EXPECT_EQ(bytes[0], kDictionary);
  // Huffman codes of 1, 2 and 2 bits: 1.4 bits a value (deltas take ~2.5).
  EXPECT_LT(bytes.size(), 1024u * 14 / 80 + 32);
  // Multiples of 2: one bit a value less than the same noise without them.
  std::vector<uint64_t> odd(1024), even(1024);
  for (size_t i = 0; i < odd.size(); ++i) {
    odd[i] = 40000 + rng() % 1500;
    even[i] = 2 * (40000 + rng() % 1500);
  }
  std::string a, b;
  ByteWriter wa(&a), wb(&b);
  WriteIntColumn(odd.data(), odd.size(), &wa);
  WriteIntColumn(even.data(), even.size(), &wb);
  EXPECT_EQ(b[0], kGcd);
  EXPECT_LE(b.size(), a.size() + 16);
  EXPECT_LT(b.size(), a.size() + 1024 / 8 - 64);
}

// Builds a column body by hand: mode, zz(first), then `body`.
std::string Body(uint8_t mode, uint64_t first, const std::string& body) {
  std::string bytes;
  ByteWriter w(&bytes);
  w.PutByte(mode);
  w.PutVarint(ZigZag(first));
  w.PutBytes(body.data(), body.size());
  return bytes;
}

bool Reads(const std::string& bytes, size_t n) {
  std::vector<uint64_t> out(n);
  ByteReader r(bytes);
  return ReadIntColumn(&r, n, out.data()) && r.remaining() == 0;
}

// An inner column of n values written by the public writer (modes 0-4 for
// these short steady inputs).
std::string Inner(const std::vector<uint64_t>& x) {
  std::string bytes;
  ByteWriter w(&bytes);
  WriteIntColumn(x.data(), x.size(), &w);
  EXPECT_LE(static_cast<uint8_t>(bytes[0]), 4);
  return bytes;
}

std::string Varint(uint64_t v) {
  std::string bytes;
  ByteWriter w(&bytes);
  w.PutVarint(v);
  return bytes;
}

std::string Packed(const std::vector<uint64_t>& v) {
  std::string bytes;
  ByteWriter w(&bytes);
  WritePacked(v.data(), v.size(), &w);
  return bytes;
}

TEST(IntModesTest, MalformedBodiesAreRejected) {
  const std::vector<uint64_t> q = {0, 1, 2, 3};
  // A valid GCD body reads; divisors 0 and 1 do not.
  EXPECT_TRUE(Reads(Body(kGcd, 5, Varint(3) + Inner(q)), 4));
  EXPECT_FALSE(Reads(Body(kGcd, 5, Varint(0) + Inner(q)), 4));
  EXPECT_FALSE(Reads(Body(kGcd, 5, Varint(1) + Inner(q)), 4));
  // The quotient of the first value must be 0.
  EXPECT_FALSE(Reads(Body(kGcd, 5, Varint(3) + Inner({1, 2, 3, 4})), 4));
  // No nesting: an inner column in mode 5, 6 or 7 is rejected.
  const std::string nested_gcd = Body(kGcd, 0, Varint(2) + Inner(q));
  EXPECT_TRUE(Reads(nested_gcd, 4));
  EXPECT_FALSE(Reads(Body(kGcd, 5, Varint(3) + nested_gcd), 4));
  const std::string dict_ok = Body(kDictionary, 7, Varint(2) + Inner({7, 9}) + Packed({1, 0, 1}));
  EXPECT_TRUE(Reads(dict_ok, 4));
  EXPECT_FALSE(Reads(Body(kGcd, 0, Varint(2) + dict_ok), 4));
  EXPECT_FALSE(Reads(Body(kDictionary, 7,
                          Varint(2) + Body(kGcd, 0, Varint(2) + Inner({0, 1})) + Packed({1, 0, 1})),
                     4));
  // Dictionary size 0, or more entries than values after the first.
  EXPECT_FALSE(Reads(Body(kDictionary, 7, Varint(0) + Packed({0, 0, 0})), 4));
  EXPECT_FALSE(
      Reads(Body(kDictionary, 7, Varint(4) + Inner({7, 9, 11, 13}) + Packed({1, 0, 1})), 4));
  // An index past the dictionary, for values and for deltas.
  EXPECT_FALSE(Reads(Body(kDictionary, 7, Varint(2) + Inner({7, 9}) + Packed({1, 2, 1})), 4));
  EXPECT_TRUE(Reads(Body(kDeltaDictionary, 7, Varint(2) + Inner({7, 9}) + Packed({1, 0, 1})), 4));
  EXPECT_FALSE(Reads(Body(kDeltaDictionary, 7, Varint(2) + Inner({7, 9}) + Packed({1, 0, 5})), 4));
  // The values a dictionary body decodes to.
  std::vector<uint64_t> out(4);
  ByteReader r(dict_ok);
  ASSERT_TRUE(ReadIntColumn(&r, 4, out.data()));
  EXPECT_EQ(out, (std::vector<uint64_t>{7, 9, 7, 9}));
  const std::string deltas =
      Body(kDeltaDictionary, 7, Varint(2) + Inner({7, 9}) + Packed({1, 0, 1}));
  ByteReader rd(deltas);
  ASSERT_TRUE(ReadIntColumn(&rd, 4, out.data()));
  EXPECT_EQ(out, (std::vector<uint64_t>{7, 16, 23, 32}));
  ByteReader rg(nested_gcd);
  ASSERT_TRUE(ReadIntColumn(&rg, 4, out.data()));
  EXPECT_EQ(out, (std::vector<uint64_t>{0, 2, 4, 6}));
  // Mode 8 does not exist.
  EXPECT_FALSE(Reads(Body(8, 0, Varint(2) + Inner(q)), 4));
}

}  // namespace
}  // namespace historian::codec
