// File: corruption_test.cc
// Corrupt bytes give DataLoss, never a crash: every single-byte flip and
// every truncation of a few chunks, and random damage fed past the checksum
// straight to the column parsers (what libFuzzer will do under ASan/UBSan).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"
#include "storage/codec/chunk_format.h"
#include "storage/codec/crc32c.h"
#include "tests/codec/codec_test_util.h"

namespace historian::codec {
namespace {

using testing::kSecond;
using testing::RegularTimes;
using testing::Rng;

// Small chunks, one per column encoding, so exhaustive flips stay fast.
std::vector<std::string> SampleChunks() {
  std::vector<ChunkColumns> chunks;
  Rng rng(11);
  const size_t n = 300;
  {
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = std::round(200 + 30 * std::sin(i / 9.0)) / 10;
    v[17] = -0.0;
    v[18] = std::nan("7");
    chunks.push_back(testing::DoubleChunk(RegularTimes(n), v));
  }
  {
    std::vector<double> v(n);
    for (auto& d : v) d = static_cast<double>(rng()) / 3.0;
    chunks.push_back(testing::DoubleChunk(RegularTimes(n), v));
  }
  {
    std::vector<int64_t> t(n), v(n);
    int64_t x = 5;
    for (size_t i = 0; i < n; ++i) {
      t[i] = static_cast<int64_t>(i * 1000 + rng() % 900);
      v[i] = x += rng() % 1000;
    }
    v[100] = std::numeric_limits<int64_t>::min();
    chunks.push_back(testing::IntChunk(t, v));
  }
  {
    ChunkColumns c;
    c.type = ValueType::kBool;
    c.timestamps = RegularTimes(n);
    for (size_t i = 0; i < n; ++i) c.bools.push_back(i / 40 % 2);
    testing::FillLiveMeta(&c);
    for (size_t i = 0; i < n; ++i) c.qualities[i] = i % 7 ? 0 : 0x40000000u;
    chunks.push_back(c);
  }
  {
    ChunkColumns c;
    c.type = ValueType::kString;
    c.timestamps = RegularTimes(n);
    for (size_t i = 0; i < n; ++i) c.strings.push_back(i % 3 ? "open" : "closed");
    testing::FillLiveMeta(&c);
    for (size_t i = 0; i < n; ++i) c.versions[i] = rng();
    chunks.push_back(c);
  }
  std::vector<std::string> out;
  for (const ChunkColumns& c : chunks) {
    std::string bytes;
    EXPECT_TRUE(EncodeChunk(c, &bytes).ok());
    out.push_back(bytes);
  }
  return out;
}

// Recomputes the trailing checksum so damage reaches the parsers.
void Reseal(std::string* bytes) {
  if (bytes->size() < kChecksumSize) return;
  uint32_t crc = Crc32c(bytes->data(), bytes->size() - kChecksumSize);
  std::memcpy(bytes->data() + bytes->size() - kChecksumSize, &crc, sizeof(crc));
}

TEST(CorruptionTest, Crc32cKnownValue) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("", 0), 0u);
}

TEST(CorruptionTest, EverySingleByteFlipIsDataLoss) {
  for (const std::string& good : SampleChunks()) {
    for (size_t i = 0; i < good.size(); ++i) {
      for (uint8_t mask : {0x01, 0x80, 0xFF}) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ mask);
        ChunkColumns out;
        absl::Status s = DecodeChunk(bad, &out);
        ASSERT_TRUE(absl::IsDataLoss(s)) << "byte " << i << " mask " << int{mask} << ": " << s;
        EXPECT_EQ(out.size(), 0u);
        EXPECT_TRUE(absl::IsDataLoss(SummarizeChunk(bad).status()));
      }
    }
  }
}

TEST(CorruptionTest, EveryTruncationAndExtensionIsDataLoss) {
  for (const std::string& good : SampleChunks()) {
    for (size_t len = 0; len < good.size(); ++len) {
      ChunkColumns out;
      std::string_view cut(good.data(), len);
      ASSERT_TRUE(absl::IsDataLoss(DecodeChunk(cut, &out))) << "length " << len;
      ASSERT_TRUE(absl::IsDataLoss(SummarizeChunk(cut).status())) << "length " << len;
      // Even with a valid checksum over the cut, a parse must fail cleanly.
      if (len + kChecksumSize >= good.size()) continue;
      std::string resealed(cut);
      resealed.append(4, '\0');
      Reseal(&resealed);
      EXPECT_FALSE(DecodeChunk(resealed, &out).ok()) << "resealed length " << len;
    }
    ChunkColumns out;
    std::string longer = good + "x";
    EXPECT_TRUE(absl::IsDataLoss(DecodeChunk(longer, &out)));
    std::string trailing = good.substr(0, good.size() - kChecksumSize) + "x" + "0000";
    Reseal(&trailing);
    EXPECT_TRUE(absl::IsDataLoss(DecodeChunk(trailing, &out)));
  }
}

TEST(CorruptionTest, UnknownVersionIsDataLoss) {
  std::string bytes = SampleChunks()[0];
  bytes[1] = static_cast<char>(kChunkFormatVersion + 1);
  Reseal(&bytes);
  ChunkColumns out;
  absl::Status s = DecodeChunk(bytes, &out);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_TRUE(absl::IsDataLoss(SummarizeChunk(bytes).status()));
}

// Damage behind a valid checksum: every flip of every byte with several
// masks, each must either decode (to something) or report DataLoss.
TEST(CorruptionTest, ParsersSurviveResealedFlips) {
  size_t rejected = 0, total = 0;
  for (const std::string& good : SampleChunks()) {
    for (size_t i = 0; i + kChecksumSize < good.size(); ++i) {
      for (uint8_t mask : {0x01, 0x02, 0x10, 0x40, 0x80, 0x7F, 0xFF}) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ mask);
        Reseal(&bad);
        ChunkColumns out;
        absl::Status s = DecodeChunk(bad, &out);
        ++total;
        if (!s.ok()) {
          ASSERT_TRUE(absl::IsDataLoss(s)) << s;
          ++rejected;
        } else {
          // Whatever decoded must satisfy the chunk invariants.
          ASSERT_GT(out.size(), 0u);
          for (size_t k = 1; k < out.size(); ++k) {
            ASSERT_LT(out.timestamps[k - 1], out.timestamps[k]);
          }
          for (uint8_t b : out.bools) ASSERT_LE(b, 1);
          std::string again;
          ASSERT_TRUE(EncodeChunk(out, &again).ok());
        }
      }
    }
  }
  std::cout << "resealed flips rejected: " << rejected << " of " << total << "\n";
}

TEST(CorruptionTest, ParsersSurviveRandomDamage) {
  Rng rng(99);
  std::vector<std::string> goods = SampleChunks();
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bad = goods[iter % goods.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % bad.size();
      switch (rng() % 4) {
        case 0:
          bad[pos] = static_cast<char>(rng());
          break;
        case 1:
          bad.erase(pos, 1 + rng() % 16);
          break;
        case 2:
          bad.insert(pos, std::string(1 + rng() % 16, static_cast<char>(rng())));
          break;
        default:
          bad.resize(pos);
          break;
      }
      if (bad.empty()) bad = "x";
    }
    ChunkColumns out;
    absl::Status s = internal::DecodeChunkUnverified(bad, &out);
    ASSERT_TRUE(s.ok() || absl::IsDataLoss(s)) << s;
    s = DecodeChunk(bad, &out);
    ASSERT_TRUE(s.ok() || absl::IsDataLoss(s)) << s;
  }
  // Pure garbage of every small length.
  for (size_t len = 0; len < 64; ++len) {
    for (int k = 0; k < 50; ++k) {
      std::string junk(len, '\0');
      for (auto& ch : junk) ch = static_cast<char>(rng());
      if (len > 0) junk[0] = static_cast<char>(kChunkMagic);
      if (len > 1) junk[1] = static_cast<char>(kChunkFormatVersion);
      ChunkColumns out;
      absl::Status s = internal::DecodeChunkUnverified(junk, &out);
      ASSERT_TRUE(s.ok() || absl::IsDataLoss(s)) << s;
    }
  }
}

}  // namespace
}  // namespace historian::codec
