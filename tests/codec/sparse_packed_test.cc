// File: sparse_packed_test.cc
// Packed sequence mode 3 (sparse; FORMAT.md "Packed sequence"): random
// sparse and dense sequences round trip bit for bit, the sparse form is
// taken only when smaller, and malformed sparse input (count 0 or above n,
// a gap past the end or overflowing, a zero value, truncation) is rejected.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/coding.h"
#include "storage/codec/int_codec.h"
#include "tests/codec/codec_test_util.h"

namespace historian::codec {
namespace {

using Rng = std::mt19937_64;

constexpr uint8_t kSparse = 3;

std::string Encode(const std::vector<uint64_t>& v) {
  std::string bytes;
  ByteWriter w(&bytes);
  WritePacked(v.data(), v.size(), &w);
  return bytes;
}

// Round trip bit for bit, every byte consumed, every truncation rejected.
void ExpectRoundTrip(const std::vector<uint64_t>& v, const std::string& bytes) {
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

// Bytes of the sparse form of v, as FORMAT.md describes it.
size_t SparseBytes(const std::vector<uint64_t>& v) {
  std::string bytes;
  ByteWriter w(&bytes);
  size_t nz = 0;
  for (uint64_t x : v) nz += x != 0;
  w.PutByte(kSparse);
  w.PutVarint(nz);
  size_t next = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == 0) continue;
    w.PutVarint(i - next);
    w.PutVarint(v[i]);
    next = i + 1;
  }
  return bytes.size();
}

TEST(SparsePackedTest, RandomSparseAndDenseSequencesRoundTrip) {
  Rng rng(16);
  int sparse_taken = 0, other_taken = 0;
  for (int iter = 0; iter < 600; ++iter) {
    const size_t n = 1 + rng() % 5000;
    // Densities from a handful of non-zero values to every value.
    const double density = iter % 3 == 0 ? 1.0 / (1 + rng() % 4000) : 1.0 / (1 + rng() % 8);
    const int width = 1 + static_cast<int>(rng() % 64);
    std::vector<uint64_t> v(n, 0);
    std::bernoulli_distribution hit(density);
    for (auto& x : v) {
      if (hit(rng)) x = (rng() >> (64 - width)) | 1;
    }
    if (iter % 7 == 0) v.back() = ~uint64_t{0};  // a non-zero last value, full width
    if (iter % 11 == 0) v.front() = 1;           // gap 0 first
    SCOPED_TRACE(::testing::Message() << "iter " << iter << " n " << n << " width " << width);
    const std::string bytes = Encode(v);
    ExpectRoundTrip(v, bytes);
    if (bytes[0] == kSparse) {
      ++sparse_taken;
      EXPECT_EQ(bytes.size(), SparseBytes(v));
    } else {
      ++other_taken;
      // Taken only when smaller: whatever else was written is no larger.
      if (bytes[0] != 0) {
        size_t nz = 0;
        for (uint64_t x : v) nz += x != 0;
        if (nz * 16 <= n) {
          EXPECT_LE(bytes.size(), SparseBytes(v));
        }
      }
    }
  }
  EXPECT_GT(sparse_taken, 50);
  EXPECT_GT(other_taken, 50);
}

TEST(SparsePackedTest, FewChangesInALongSequenceCostAFewBytes) {
  // A 3,600-value delta column of write versions from four ingest batches.
  std::vector<uint64_t> v(3600, 0);
  v[900] = ZigZag(91);
  v[1800] = ZigZag(88);
  v[2700] = ZigZag(93);
  const std::string bytes = Encode(v);
  EXPECT_EQ(bytes[0], kSparse);
  EXPECT_LE(bytes.size(), 14u);  // mode, count, 3 x (2-byte gap, 2-byte value)
  ExpectRoundTrip(v, bytes);
}

// Decodes hand-written sparse bytes for n values.
bool DecodeSparse(const std::vector<uint64_t>& varints, size_t n, size_t* left = nullptr) {
  std::string bytes;
  ByteWriter w(&bytes);
  w.PutByte(kSparse);
  for (uint64_t x : varints) w.PutVarint(x);
  std::vector<uint64_t> out(n);
  ByteReader r(bytes);
  const bool ok = ReadPacked(&r, n, out.data());
  if (left) *left = r.remaining();
  return ok;
}

TEST(SparsePackedTest, RejectsMalformedSparseInput) {
  size_t left = 99;
  ASSERT_TRUE(DecodeSparse({2, 0, 5, 8, 7}, 10, &left));  // positions 0 and 9
  EXPECT_EQ(left, 0u);
  EXPECT_FALSE(DecodeSparse({0}, 10));                   // count 0 is mode 0
  EXPECT_FALSE(DecodeSparse({11, 0, 1}, 10));            // count above n
  EXPECT_FALSE(DecodeSparse({1, 10, 1}, 10));            // gap past the end
  EXPECT_FALSE(DecodeSparse({2, 5, 1, 4, 1}, 10));       // second gap past the end
  EXPECT_FALSE(DecodeSparse({2, 9, 1, 0, 1}, 10));       // after the last position
  EXPECT_FALSE(DecodeSparse({1, ~uint64_t{0}, 1}, 10));  // gap overflows
  EXPECT_FALSE(DecodeSparse({2, 1, 1, ~uint64_t{0} - 1, 1}, 10));
  EXPECT_FALSE(DecodeSparse({1, 3, 0}, 10));  // a zero value
  EXPECT_FALSE(DecodeSparse({2, 3, 1}, 10));  // truncated
  EXPECT_FALSE(DecodeSparse({1, 0, 1}, 0));   // nothing to place
  // Bytes after the last entry are left for the caller (the chunk decoder
  // rejects a chunk with bytes left over).
  ASSERT_TRUE(DecodeSparse({1, 3, 1, 77}, 10, &left));
  EXPECT_EQ(left, 1u);
}

TEST(SparsePackedTest, ChunksWithFewVersionChangesRoundTrip) {
  Rng rng(7);
  for (int k = 0; k < 20; ++k) {
    const size_t n = 1000 + rng() % 15000;
    ChunkColumns c = testing::DoubleChunk(testing::RegularTimes(n), {});
    uint64_t sec = 1'800'000'000;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 900 == 0) sec += 60 + rng() % 30;  // a new ingest batch
      c.versions[i] = sec << 8 | 1;
      c.qualities[i] = rng() % 2000 == 0 ? 0x40 : 0;      // a rare uncertain sample
      c.doubles.push_back(rng() % 500 == 0 ? 1.0 : 0.0);  // a rarely raised flag
    }
    SCOPED_TRACE(::testing::Message() << "chunk " << k << " n " << n);
    testing::RoundTrip(c);
  }
}

}  // namespace
}  // namespace historian::codec
