// Chunks with packed sequences in mode 3 (sparse; issue 16) stay readable
// bit for bit: tests/codec/fixtures/chunks_m6.bin holds chunks written by
// the encoder of branch m6-sparse, each as a 4-byte little-endian length and
// the chunk; the columns are fixture_columns_m6.h. Today's encoder must write
// each of them no larger. HISTORIAN_WRITE_CODEC_FIXTURE=1 rewrites the file
// instead (only for a new fixture; never for an existing one).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"
#include "tests/codec/codec_test_util.h"
#include "tests/codec/fixture_columns_m6.h"

namespace historian::codec {
namespace {

const std::string kPath = std::string(HISTORIAN_CODEC_FIXTURE_DIR) + "/chunks_m6.bin";

std::vector<std::string> ReadFixture() {
  std::ifstream in(kPath, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str();
  std::vector<std::string> chunks;
  size_t pos = 0;
  while (pos + 4 <= all.size()) {
    uint32_t len;
    std::memcpy(&len, all.data() + pos, 4);
    pos += 4;
    if (pos + len > all.size()) break;
    chunks.push_back(all.substr(pos, len));
    pos += len;
  }
  return chunks;
}

TEST(FormatM6FixtureTest, ChunksDecodeBitForBit) {
  if (const char* w = std::getenv("HISTORIAN_WRITE_CODEC_FIXTURE"); w && std::string(w) == "1") {
    std::ofstream out(kPath, std::ios::binary);
    for (int k = 0; k < fixture_m6::kNumChunks; ++k) {
      std::string bytes;
      ASSERT_TRUE(EncodeChunk(fixture_m6::FixtureChunk(k), &bytes).ok());
      const uint32_t len = static_cast<uint32_t>(bytes.size());
      out.write(reinterpret_cast<const char*>(&len), 4);
      out << bytes;
    }
    GTEST_SKIP() << "wrote " << kPath;
  }
  const std::vector<std::string> chunks = ReadFixture();
  ASSERT_EQ(chunks.size(), static_cast<size_t>(fixture_m6::kNumChunks));
  size_t old_total = 0, new_total = 0;
  for (int k = 0; k < fixture_m6::kNumChunks; ++k) {
    SCOPED_TRACE(::testing::Message() << "chunk " << k);
    const ChunkColumns want = fixture_m6::FixtureChunk(k);
    ChunkColumns got;
    ASSERT_TRUE(DecodeChunk(chunks[k], &got).ok());
    testing::ExpectSameChunk(want, got);
    const size_t size = testing::RoundTrip(want);
    EXPECT_LE(size, chunks[k].size());
    old_total += chunks[k].size();
    new_total += size;
  }
  std::printf("m6 fixture: %zu bytes as written, %zu today\n", old_total, new_total);
}

}  // namespace
}  // namespace historian::codec
