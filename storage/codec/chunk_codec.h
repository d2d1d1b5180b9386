// File: chunk_codec.h
// Encodes and decodes one chunk: the samples of one tag over a time span,
// stored column by column (timestamps, values, qualities, versions).
// The byte format is specified in FORMAT.md beside this file.
//
// The codec never decides when a chunk is full: callers cut chunks (the
// engine seals a head chunk at a sample budget or an age).
//
//   ChunkColumns cols;
//   cols.type = ValueType::kDouble;
//   cols.timestamps = {...}; cols.doubles = {...};
//   cols.qualities = {...}; cols.versions = {...};
//   std::string bytes;
//   RETURN_IF_ERROR(EncodeChunk(cols, &bytes));
//   ChunkColumns back;
//   RETURN_IF_ERROR(DecodeChunk(bytes, &back));  // back == cols, bit for bit
//
// Thread-safety: free functions with no shared state; safe from any thread.
#ifndef HISTORIAN_STORAGE_CODEC_CHUNK_CODEC_H_
#define HISTORIAN_STORAGE_CODEC_CHUNK_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/core/types.h"

namespace historian::codec {

// Most samples one chunk may hold (a format limit, not the engine's budget).
inline constexpr uint32_t kMaxSamplesPerChunk = 1u << 20;
// Longest string value, in bytes.
inline constexpr uint32_t kMaxStringBytes = 4096;

// The samples of one chunk, column by column. All columns that apply have the
// same length: timestamps, qualities, versions, and the value column of
// `type` (doubles for kDouble, ints for kInt64, bools for kBool, strings for
// kString); the other value columns are empty.
struct ChunkColumns {
  ValueType type = ValueType::kDouble;
  std::vector<int64_t> timestamps;  // strictly increasing
  std::vector<double> doubles;
  std::vector<int64_t> ints;
  std::vector<uint8_t> bools;  // 0 or 1
  std::vector<std::string> strings;
  std::vector<uint32_t> qualities;
  std::vector<Version> versions;

  size_t size() const { return timestamps.size(); }
  void Clear();
  // Resizes every column to 0 and sets `type`, keeping capacity.
  void Reset(ValueType t);
};

// Facts about a chunk readable from its header alone, without decoding.
struct ChunkSummary {
  ValueType type = ValueType::kDouble;
  uint32_t count = 0;
  int64_t min_timestamp = 0;
  int64_t max_timestamp = 0;
};

// Appends the encoding of `cols` to `*out`.
// Errors: InvalidArgument when columns differ in length, timestamps are not
// strictly increasing, the chunk is empty or larger than kMaxSamplesPerChunk,
// a string is longer than kMaxStringBytes, or a bool is not 0/1.
absl::Status EncodeChunk(const ChunkColumns& cols, std::string* out);

// What a reader needs of a chunk. Scans that fold samples (aggregates, plots)
// skip the versions, about a fifth of the decoding work: only merges of
// overlapping data compare versions.
struct DecodeOptions {
  // false: `versions` is left empty (and the bytes after the qualities are
  // covered by the checksum only).
  bool versions = true;
  // false: the caller has verified the checksum of these same bytes
  // (SummarizeChunk does), so it is not computed twice.
  bool verify_checksum = true;
};

// Replaces the contents of `*out` with the samples of `bytes`.
// Errors: DataLoss when the bytes are truncated, corrupt (checksum mismatch)
// or of an unknown version/encoding. Never crashes on any input.
absl::Status DecodeChunk(std::string_view bytes, ChunkColumns* out,
                         const DecodeOptions& options = {});

// Reads only the header. Errors: DataLoss as DecodeChunk.
absl::StatusOr<ChunkSummary> SummarizeChunk(std::string_view bytes);

}  // namespace historian::codec

#endif  // HISTORIAN_STORAGE_CODEC_CHUNK_CODEC_H_
