// File: float_codec.h
// The double value column (see FORMAT.md, "Doubles"): values that are exact
// decimals at one scale s (v == r / 10^s bit for bit) are stored as the
// integers r; values that are not become raw 64-bit exceptions; chunks of
// full-precision values use Gorilla XOR. Lossless for every bit pattern.
#ifndef HISTORIAN_STORAGE_CODEC_FLOAT_CODEC_H_
#define HISTORIAN_STORAGE_CODEC_FLOAT_CODEC_H_

#include <cstddef>
#include <cstdint>

#include "storage/codec/coding.h"

namespace historian::codec {

// Largest decimal scale tried (10^15 is still exact in a double).
inline constexpr int kMaxDecimalScale = 15;

// Writes n >= 1 doubles.
void WriteDoubles(const double* v, size_t n, ByteWriter* w);
// Reads n doubles; false on truncated or malformed input.
bool ReadDoubles(ByteReader* r, size_t n, double* out);

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_FLOAT_CODEC_H_
