// libFuzzer target: the chunk decoder on arbitrary bytes. DecodeChunk must
// never crash (it checks the CRC first); DecodeChunkUnverified skips the CRC
// so the fuzzer reaches the column parsers. Whatever decodes must re-encode
// and decode to the same samples.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "storage/codec/chunk_codec.h"
#include "storage/codec/chunk_format.h"

namespace {

using historian::codec::ChunkColumns;

void CheckRoundTrip(const ChunkColumns& cols) {
  std::string again;
  if (!historian::codec::EncodeChunk(cols, &again).ok()) return;  // e.g. unsorted: rejected
  ChunkColumns back;
  if (!historian::codec::DecodeChunk(again, &back).ok()) std::abort();
  if (back.size() != cols.size() || back.timestamps != cols.timestamps ||
      back.qualities != cols.qualities || back.ints != cols.ints || back.strings != cols.strings ||
      back.bools != cols.bools) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ChunkColumns cols;
  if (historian::codec::DecodeChunk(bytes, &cols).ok()) CheckRoundTrip(cols);
  (void)historian::codec::SummarizeChunk(bytes);
  ChunkColumns raw;
  if (historian::codec::internal::DecodeChunkUnverified(bytes, &raw).ok()) CheckRoundTrip(raw);
  return 0;
}
