// Chunks whose int columns use modes 5-7 (common divisor, dictionary of
// values, dictionary of deltas; issue 16) stay readable bit for bit:
// tests/codec/fixtures/chunks_m4.bin, written by the encoder of branch
// m4-codec from the columns of fixture_columns_m4.h.
// The check itself: tests/codec/codec_fixture_check.h.

#include "gtest/gtest.h"
#include "tests/codec/codec_fixture_check.h"
#include "tests/codec/fixture_columns_m4.h"

namespace historian::codec {
namespace {

TEST(FormatM4FixtureTest, ChunksDecodeBitForBit) {
  testing::CheckChunkFixture("chunks_m4.bin", fixture_m4::kNumChunks, &fixture_m4::FixtureChunk);
}

}  // namespace
}  // namespace historian::codec
