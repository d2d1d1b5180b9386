// Property tests of the entropy stage (huffman.h) on its own: round trips of
// random and adversarial value distributions, the code-length limit, the
// size budget, and rejection of truncated or malformed input.
#include "storage/codec/huffman.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace historian::codec {
namespace {

using Rng = std::mt19937_64;

std::string Encode(const std::vector<uint64_t>& v) {
  std::string bytes;
  ByteWriter w(&bytes);
  EXPECT_TRUE(WriteHuffmanIfSmaller(v.data(), v.size(), std::numeric_limits<size_t>::max(), &w));
  return bytes;
}

void ExpectRoundTrip(const std::vector<uint64_t>& v) {
  const std::string bytes = Encode(v);
  std::vector<uint64_t> back(v.size(), 12345);
  ByteReader r(bytes);
  ASSERT_TRUE(ReadHuffman(&r, v.size(), back.data()));
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_EQ(v, back);
  // Every strict prefix is rejected.
  for (size_t len = 0; len < bytes.size(); ++len) {
    ByteReader cut(reinterpret_cast<const uint8_t*>(bytes.data()), len);
    ASSERT_FALSE(ReadHuffman(&cut, v.size(), back.data())) << "length " << len;
  }
}

TEST(HuffmanTest, RoundTripsRandomDistributions) {
  Rng rng(1);
  std::geometric_distribution<uint64_t> geo(0.3);
  using Gen = uint64_t (*)(size_t i, Rng & rng);
  const Gen gens[] = {
      [](size_t, Rng& rng) -> uint64_t { return rng() % 9; },
      [](size_t, Rng& rng) -> uint64_t { return rng() % 300; },
      [](size_t, Rng& rng) -> uint64_t { return rng(); },
      [](size_t, Rng& rng) -> uint64_t { return rng() >> (rng() % 64); },
      [](size_t, Rng&) -> uint64_t { return 7; },
      [](size_t, Rng&) -> uint64_t { return ~uint64_t{0}; },
      [](size_t i, Rng&) -> uint64_t { return i % 2 ? 0 : ~uint64_t{0}; },
      [](size_t i, Rng&) -> uint64_t { return uint64_t{1} << (i % 64); },
      [](size_t i, Rng&) -> uint64_t { return (uint64_t{1} << (i % 64)) - 1; },
      [](size_t i, Rng& rng) -> uint64_t { return rng() % 100 ? rng() % 4 : rng(); },
  };
  for (const Gen& gen : gens) {
    for (size_t n : {1, 2, 3, 31, 32, 33, 127, 1024, 3001}) {
      std::vector<uint64_t> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = gen(i, rng);
      SCOPED_TRACE(::testing::Message() << "n=" << n << " v0=" << v[0]);
      ExpectRoundTrip(v);
    }
  }
  for (size_t n : {1, 50, 2000}) {
    std::vector<uint64_t> v(n);
    for (auto& x : v) x = geo(rng);
    ExpectRoundTrip(v);
  }
}

TEST(HuffmanTest, EveryTokenBoundary) {
  // Values at each bit width's edges, so every token and extra-bit count is
  // coded, including the 33..62-bit extras that take the slow path.
  std::vector<uint64_t> v;
  for (int w = 0; w <= 64; ++w) {
    const uint64_t top = w == 0 ? 0 : uint64_t{1} << (w - 1);
    const uint64_t max = w == 64 ? ~uint64_t{0} : (uint64_t{1} << w) - 1;
    for (uint64_t x : {top, top + 1, max, max - 1, top | (top >> 1)}) {
      if (x <= max) v.push_back(x);
    }
  }
  ExpectRoundTrip(v);
}

TEST(HuffmanTest, LengthLimitedOnSkewedFrequencies) {
  // Fibonacci frequencies give an unlimited Huffman tree ~25 levels deep.
  std::vector<uint64_t> v;
  uint64_t a = 1, b = 1;
  for (uint64_t sym = 0; sym < 25; ++sym) {
    for (uint64_t k = 0; k < a; ++k) v.push_back(sym);
    const uint64_t c = a + b;
    a = b;
    b = c;
  }
  Rng rng(2);
  std::shuffle(v.begin(), v.end(), rng);
  ExpectRoundTrip(v);
}

TEST(HuffmanTest, CompressesNarrowDistributions) {
  Rng rng(3);
  std::vector<uint64_t> v(4096);
  // 0 three times in four, else 0..15: 1.70 bits of entropy; a Huffman code
  // pays 1 bit for 0 and 5 for the others (1.94 bits), packing 4.
  for (auto& x : v) x = (rng() % 4 == 0) ? rng() % 16 : 0;
  const std::string bytes = Encode(v);
  EXPECT_LT(bytes.size(), 4096 * 1.97 / 8);
}

TEST(HuffmanTest, BudgetIsStrict) {
  std::vector<uint64_t> v(1000);
  Rng rng(4);
  for (auto& x : v) x = rng() % 5;
  const size_t size = Encode(v).size();
  std::string bytes;
  ByteWriter w(&bytes);
  EXPECT_FALSE(WriteHuffmanIfSmaller(v.data(), v.size(), size, &w));
  EXPECT_TRUE(bytes.empty());
  EXPECT_TRUE(WriteHuffmanIfSmaller(v.data(), v.size(), size + 1, &w));
  EXPECT_EQ(bytes.size(), size);
}

TEST(HuffmanTest, RejectsMalformedTables) {
  std::vector<uint64_t> out(8);
  auto read = [&](std::string bytes) {
    ByteReader r(bytes);
    return ReadHuffman(&r, out.size(), out.data());
  };
  // No token slots, too many token slots.
  EXPECT_FALSE(read(std::string("\x00", 1)));
  EXPECT_FALSE(read(std::string("\xFF\x01", 2)));
  // One slot whose length is 0 (no symbol), coded as '0' (same as 0).
  EXPECT_FALSE(read(std::string("\x01\x00\x01\x01\x00\x00", 6)));
  // Two slots of length 2 each: incomplete code ('10','0' = 1, 1).
  // Bits LSB first: '1','0' (len 1), '1','0' (len 2) -> 0b0101 = 0x05.
  EXPECT_FALSE(read(std::string("\x02\x05\x01\x01\xFF\xFF", 6)));
  // Random garbage never crashes and rarely decodes.
  Rng rng(5);
  for (int k = 0; k < 20000; ++k) {
    std::string bytes(rng() % 40, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    (void)read(bytes);
  }
}

TEST(HuffmanTest, BitFlipsNeverCrash) {
  Rng rng(6);
  std::vector<uint64_t> v(777);
  for (auto& x : v) x = rng() % 50 == 0 ? rng() : rng() % 20;
  const std::string good = Encode(v);
  std::vector<uint64_t> back(v.size());
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string bad = good;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    ByteReader r(bad);
    (void)ReadHuffman(&r, v.size(), back.data());
  }
}

}  // namespace
}  // namespace historian::codec
