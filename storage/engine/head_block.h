// File: head_block.h
// The in-memory encoding of a closed block of head samples (HeadColumns):
// byte-aligned and cheap to write, because it runs on the apply path, not
// the densest possible (the sealer's chunk codec is that). Never written to
// disk: the layout may change between builds.
//
// A block is its columns one after another:
//   timestamps   an integer sequence (below)
//   values       double: a scale byte s (0..15) and the integer sequence of
//                v * 10^s when every value is that decimal bit for bit, else
//                0xFF and each value XORed with the one before (a byte of
//                whole zero low bytes, then the varint of the rest); int64
//                and bool: an integer sequence; string: varint length and
//                bytes of each
//   qualities    0 when all are Good, else 1 and (varint run, varint quality)
//                runs
//   versions     an integer sequence
// An integer sequence is a mode byte and either zig-zag varint deltas from
// the previous value (mode 0; the first from 0) or the first value and
// delta, then (varint run, zig-zag varint delta-of-delta) runs (mode 1;
// regular clocks and counters cost a few bytes a block), whichever is
// smaller. Arithmetic wraps, so every 64-bit pattern round-trips.
//
// Thread-safety: free functions; Encode uses a thread-local scratch buffer.
#ifndef HISTORIAN_STORAGE_ENGINE_HEAD_BLOCK_H_
#define HISTORIAN_STORAGE_ENGINE_HEAD_BLOCK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"

namespace historian::engine::head_block {

// Samples per closed block: small enough that the raw tail of an active
// tag stays ~1.5 KiB, large enough that the per-block index is ~0.25 B a
// sample.
inline constexpr size_t kSamples = 64;

// n (1..kSamples) raw samples, as HeadColumns' tail holds them.
struct RawSamples {
  ValueType type;
  size_t n;
  const int64_t* timestamps;
  const uint64_t* words;       // double bits, int64, bool 0/1 (not strings)
  const std::string* strings;  // kString only
  const uint32_t* qualities;   // null: all Good
  const Version* versions;
};

// The encoding of `in`, in a thread-local buffer valid until the thread's
// next Encode.
std::string_view Encode(const RawSamples& in);

// Decodes the n samples of the block at `p` (written by Encode) and appends
// them to *to (of the same type). Returns the end of the block.
const uint8_t* Decode(ValueType type, const uint8_t* p, size_t n, codec::ChunkColumns* to);

}  // namespace historian::engine::head_block

#endif  // HISTORIAN_STORAGE_ENGINE_HEAD_BLOCK_H_
