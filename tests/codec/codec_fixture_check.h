// File: tests/codec/codec_fixture_check.h
// One check for the checked-in chunk fixtures of new encodings
// (tests/codec/fixtures/chunks_*.bin, each chunk as a 4-byte little-endian
// length and its bytes): every chunk decodes bit for bit to the columns it
// was written from, and today's encoder writes each no larger.
// HISTORIAN_WRITE_CODEC_FIXTURE=1 rewrites the file instead (only for a new
// fixture; never for an existing one).
#ifndef HISTORIAN_TESTS_CODEC_CODEC_FIXTURE_CHECK_H_
#define HISTORIAN_TESTS_CODEC_CODEC_FIXTURE_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"
#include "tests/codec/codec_test_util.h"

namespace historian::codec::testing {

inline std::vector<std::string> ReadChunkFixture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
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

// `file`: name under tests/codec/fixtures; `chunk(k)` the columns of chunk k.
inline void CheckChunkFixture(const std::string& file, int num_chunks, ChunkColumns (*chunk)(int)) {
  const std::string path = std::string(HISTORIAN_CODEC_FIXTURE_DIR) + "/" + file;
  if (const char* w = std::getenv("HISTORIAN_WRITE_CODEC_FIXTURE"); w && std::string(w) == "1") {
    std::ofstream out(path, std::ios::binary);
    for (int k = 0; k < num_chunks; ++k) {
      std::string bytes;
      ASSERT_TRUE(EncodeChunk(chunk(k), &bytes).ok());
      const uint32_t len = static_cast<uint32_t>(bytes.size());
      out.write(reinterpret_cast<const char*>(&len), 4);
      out << bytes;
    }
    GTEST_SKIP() << "wrote " << path;
  }
  const std::vector<std::string> chunks = ReadChunkFixture(path);
  ASSERT_EQ(chunks.size(), static_cast<size_t>(num_chunks));
  size_t old_total = 0, new_total = 0;
  for (int k = 0; k < num_chunks; ++k) {
    SCOPED_TRACE(::testing::Message() << "chunk " << k);
    const ChunkColumns want = chunk(k);
    ChunkColumns got;
    ASSERT_TRUE(DecodeChunk(chunks[k], &got).ok());
    ExpectSameChunk(want, got);
    const size_t size = RoundTrip(want);
    EXPECT_LE(size, chunks[k].size());
    old_total += chunks[k].size();
    new_total += size;
  }
  std::printf("%s: %zu bytes as written, %zu today\n", file.c_str(), old_total, new_total);
}

}  // namespace historian::codec::testing

#endif  // HISTORIAN_TESTS_CODEC_CODEC_FIXTURE_CHECK_H_
