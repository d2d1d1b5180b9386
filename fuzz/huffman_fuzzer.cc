// libFuzzer target: the entropy stage (storage/codec/huffman.h) on its own.
// The first two bytes give a value count; the rest is read as a coded body
// (must never crash; what decodes must re-encode and decode to the same
// values) and, as 8-byte words, as values to encode and decode bit for bit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "storage/codec/huffman.h"

namespace {

using historian::codec::ByteReader;
using historian::codec::ByteWriter;

void RoundTrip(const std::vector<uint64_t>& v) {
  std::string bytes;
  ByteWriter w(&bytes);
  if (!historian::codec::WriteHuffmanIfSmaller(v.data(), v.size(),
                                               std::numeric_limits<size_t>::max(), &w)) {
    std::abort();
  }
  std::vector<uint64_t> back(v.size());
  ByteReader r(bytes);
  if (!historian::codec::ReadHuffman(&r, v.size(), back.data()) || r.remaining() != 0 ||
      back != v) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t n = 1 + ((data[0] | (size_t{data[1]} << 8)) % 4096);
  std::vector<uint64_t> out(n);
  ByteReader r(data + 2, size - 2);
  if (historian::codec::ReadHuffman(&r, n, out.data())) RoundTrip(out);
  // The same bytes as values: small ones (low byte) and full words mixed.
  std::vector<uint64_t> v;
  for (size_t i = 2; i + 8 <= size; i += 8) {
    uint64_t x;
    std::memcpy(&x, data + i, 8);
    v.push_back(x & 1 ? x : (x >> 1) % 24);
  }
  if (!v.empty()) RoundTrip(v);
  return 0;
}
