// File: huffman.h
// The entropy stage of the chunk format (FORMAT.md, "Entropy-coded packed
// sequence"): n unsigned 64-bit values, each split into a token (the value
// itself below 16, else its bit width and the bit below the top one) and raw
// extra bits; tokens are coded with a static canonical Huffman code (at most
// kMaxCodeLength bits) whose code lengths are stored in front, in two
// interleaved bit streams (even and odd positions) so that decoding runs two
// independent dependency chains.
//
// Writers never fail. Readers return false on truncated or malformed input
// and never read outside the ByteReader's range.
//
// Thread-safety: free functions without shared state.
#ifndef HISTORIAN_STORAGE_CODEC_HUFFMAN_H_
#define HISTORIAN_STORAGE_CODEC_HUFFMAN_H_

#include <cstddef>
#include <cstdint>

#include "storage/codec/coding.h"

namespace historian::codec {

// Longest code; the decode table has 2^(longest code used) entries.
inline constexpr int kMaxCodeLength = 11;
// Values below this are their own token.
inline constexpr uint64_t kLiteralTokens = 16;
// Tokens: 16 literals, then two per bit width 5..64.
inline constexpr int kNumTokens = 16 + 2 * 60;

// Writes the entropy-coded body of v[0..n) when it takes fewer than `budget`
// bytes and returns true; otherwise writes nothing and returns false.
// REQUIRES: n >= 1.
bool WriteHuffmanIfSmaller(const uint64_t* v, size_t n, size_t budget, ByteWriter* w);

// Reads n values written by WriteHuffmanIfSmaller.
bool ReadHuffman(ByteReader* r, size_t n, uint64_t* out);

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_HUFFMAN_H_
