// Chunks of the first encoder (modes 0-3 of the int column, block-packed
// sequences only) stay readable bit for bit: tests/codec/fixtures/
// chunks_v1.bin holds chunks written at commit c62d973 (before the entropy
// stage and the moving-average predictor), each as a 4-byte little-endian
// length and the chunk. The columns they hold are fixture_columns.h. Today's
// encoder must also write each of them no larger than the old bytes.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"
#include "tests/codec/codec_fixture_check.h"
#include "tests/codec/codec_test_util.h"
#include "tests/codec/fixture_columns.h"

namespace historian::codec {
namespace {

std::vector<std::string> ReadFixture() {
  return testing::ReadChunkFixture(std::string(HISTORIAN_CODEC_FIXTURE_DIR) + "/chunks_v1.bin");
}

TEST(FormatV1FixtureTest, OldChunksDecodeBitForBit) {
  const std::vector<std::string> chunks = ReadFixture();
  ASSERT_EQ(chunks.size(), static_cast<size_t>(fixture::kNumChunks));
  for (int k = 0; k < fixture::kNumChunks; ++k) {
    SCOPED_TRACE(::testing::Message() << "chunk " << k);
    const ChunkColumns want = fixture::FixtureChunk(k);
    ChunkColumns got;
    ASSERT_TRUE(DecodeChunk(chunks[k], &got).ok());
    testing::ExpectSameChunk(want, got);
    // And through the fold path that skips versions.
    ChunkColumns folded;
    ASSERT_TRUE(DecodeChunk(chunks[k], &folded, {.versions = false}).ok());
    EXPECT_EQ(folded.timestamps, want.timestamps);
  }
}

TEST(FormatV1FixtureTest, TodaysEncodingIsNeverLarger) {
  const std::vector<std::string> chunks = ReadFixture();
  ASSERT_EQ(chunks.size(), static_cast<size_t>(fixture::kNumChunks));
  size_t old_total = 0, new_total = 0;
  for (int k = 0; k < fixture::kNumChunks; ++k) {
    SCOPED_TRACE(::testing::Message() << "chunk " << k);
    const size_t size = testing::RoundTrip(fixture::FixtureChunk(k));
    EXPECT_LE(size, chunks[k].size());
    old_total += chunks[k].size();
    new_total += size;
  }
  std::printf("fixture: %zu bytes in the v1 encoding, %zu today\n", old_total, new_total);
}

}  // namespace
}  // namespace historian::codec
