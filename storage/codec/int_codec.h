// File: int_codec.h
// Integer building blocks of the chunk format (see FORMAT.md, "Integer
// sequences"): PFor-style bit-packed blocks, delta / delta-of-delta integer
// columns, and run-length sequences for small alphabets (bools, qualities,
// site tags, dictionary indices).
//
// Writers never fail. Readers return false on truncated or malformed input
// and never read outside the ByteReader's range.
#ifndef HISTORIAN_STORAGE_CODEC_INT_CODEC_H_
#define HISTORIAN_STORAGE_CODEC_INT_CODEC_H_

#include <cstddef>
#include <cstdint>

#include "storage/codec/coding.h"

namespace historian::codec {

// Values per bit-packed block.
inline constexpr size_t kBlockSize = 128;

// n unsigned values, blocks of kBlockSize with a per-block bit width and
// patched exceptions. Small values (zig-zagged deltas) pack tightly.
void WritePacked(const uint64_t* v, size_t n, ByteWriter* w);
bool ReadPacked(ByteReader* r, size_t n, uint64_t* out);

// n >= 1 signed values (as two's complement bits; arithmetic wraps) stored by
// delta, delta-of-delta, or residuals from a line with a per-block frame of
// reference, whichever is estimated smaller.
void WriteIntColumn(const uint64_t* x, size_t n, ByteWriter* w);
bool ReadIntColumn(ByteReader* r, size_t n, uint64_t* out);

// n >= 1 values from a small alphabet: constant, runs, or plain packed,
// whichever is smaller. T is uint8_t or uint32_t; ReadSmallSeq rejects
// values above `max_value`.
template <typename T>
void WriteSmallSeq(const T* v, size_t n, ByteWriter* w);
template <typename T>
bool ReadSmallSeq(ByteReader* r, size_t n, T max_value, T* out);

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_INT_CODEC_H_
