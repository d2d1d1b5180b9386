// Chunks with packed sequences in mode 3 (sparse; issue 16) stay readable
// bit for bit: tests/codec/fixtures/chunks_m6.bin, written by the encoder of
// branch m6-sparse from the columns of fixture_columns_m6.h.
// The check itself: tests/codec/codec_fixture_check.h.

#include "gtest/gtest.h"
#include "tests/codec/codec_fixture_check.h"
#include "tests/codec/fixture_columns_m6.h"

namespace historian::codec {
namespace {

TEST(FormatM6FixtureTest, ChunksDecodeBitForBit) {
  testing::CheckChunkFixture("chunks_m6.bin", fixture_m6::kNumChunks, &fixture_m6::FixtureChunk);
}

}  // namespace
}  // namespace historian::codec
