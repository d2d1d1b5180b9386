// File: chunk_format.h
// On-disk constants of the chunk format (prose spec: FORMAT.md), and a
// checksum-skipping decode entry point for tests and fuzzers.
#ifndef HISTORIAN_STORAGE_CODEC_CHUNK_FORMAT_H_
#define HISTORIAN_STORAGE_CODEC_CHUNK_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "storage/codec/chunk_codec.h"

namespace historian::codec {

inline constexpr uint8_t kChunkMagic = 0xC7;
inline constexpr uint8_t kChunkFormatVersion = 1;
// magic, version, type, count (>= 1 byte), min timestamp, span (>= 1 byte).
inline constexpr size_t kMinHeaderSize = 3 + 1 + 8 + 1;
inline constexpr size_t kChecksumSize = 4;

// Timestamp-relative or raw storage of version seconds.
inline constexpr uint8_t kVersionRaw = 0;
inline constexpr uint8_t kVersionRelative = 1;

namespace internal {

// DecodeChunk without the checksum check, so tests and fuzzers reach the
// column parsers with corrupt bytes. `bytes` still ends with a (now ignored)
// 4-byte checksum.
absl::Status DecodeChunkUnverified(std::string_view bytes, ChunkColumns* out);

}  // namespace internal
}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_CHUNK_FORMAT_H_
