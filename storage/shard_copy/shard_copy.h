// File: shard_copy.h
// The copy of one virtual shard between two stores (docs/cluster.md,
// "Moving shards", step 3 "Copy as of P"): the byte format of the pieces
// Store::ExportShard writes and Store::ImportShardPiece applies, and the
// `move/<s>` marker the target keeps in its state column family.
//
// A piece is a bounded sequence of records (one gRPC message of
// Cluster.CopyShard, one WriteBatch on the target):
//
//   u8 format (=1) | record...
//   record: u8 type | payload (varint length + bytes)
//
//   kHeader     source site (len+bytes) | P (varint) | num_shards | shard
//               (first record of the first piece only)
//   kTombstone  tag id (fixed64) | version (varint)
//   kTag        EncodeTagInfo bytes (the catalog entry, version included)
//   kChunk      chunks CF key (24 bytes, len+bytes) | value (len+bytes):
//               a sealed chunk as stored (per-sample versions inside)
//   kRollup     rollups CF key (len+bytes) | value (len+bytes), as stored
//   kTagState   tag id (fixed64) | widest chunk span | overlap min | max |
//               rollup dirty min | max (zigzag varints; min > max: none)
//   kSamples    tag id (fixed64) | a chunk encoding of unsealed samples (the
//               head and any sealing buffer, with their versions), or of a
//               sealed chunk that had to be rewritten (a deleted
//               incarnation's samples dropped, or too big for a piece)
//   kEnd        records in the whole copy (varint): the copy is complete
//
// Per tag the records come in this order: kTag, then its kChunk / kRollup /
// kSamples records, then its kTagState; tombstones come before any tag.
// Pure functions; thread-compatible.
#ifndef HISTORIAN_STORAGE_SHARD_COPY_SHARD_COPY_H_
#define HISTORIAN_STORAGE_SHARD_COPY_SHARD_COPY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/core/types.h"

namespace historian::shard_copy {

inline constexpr uint8_t kPieceFormat = 1;
// A piece is cut once it holds this many bytes (one record more at most;
// a record is at most kMaxRecordBytes): well under gRPC's 4 MiB default.
inline constexpr size_t kDefaultPieceBytes = size_t{1} << 20;
// Larger stored chunks are decoded and sent as kSamples records of at most
// kSamplesPerRecord samples (strings: kStringSamplesPerRecord, 4 KiB each
// at most), so no record passes ~512 KiB.
inline constexpr size_t kMaxRawRecordBytes = size_t{512} << 10;
inline constexpr size_t kSamplesPerRecord = 1024;
inline constexpr size_t kStringSamplesPerRecord = 96;

enum class RecordType : uint8_t {
  kHeader = 1,
  kTombstone = 2,
  kTag = 3,
  kChunk = 4,
  kRollup = 5,
  kTagState = 6,
  kSamples = 7,
  kEnd = 8,
};

struct Header {
  std::string source_site;
  uint64_t position = 0;  // P: the source's own log sequence of the snapshot
  uint32_t num_shards = 0;
  uint32_t shard = 0;
  // The source's highest version seen at the snapshot: every version in the
  // copy is at or below it (sealed chunks go over undecoded). 0: not sent
  // (a source of an older version; its header ends before it).
  uint64_t version_bound = 0;
};

// A tag's chunk-side state at the source (ChunkState): ranges are empty
// when min > max.
struct TagStateRecord {
  TagId tag = 0;
  int64_t max_span = 0;
  int64_t overlap_min = 1, overlap_max = 0;
  int64_t dirty_min = 1, dirty_max = 0;
};

// One decoded record; string_views point into the piece.
struct Record {
  RecordType type = RecordType::kEnd;
  Header header;                // kHeader
  TagId tag = 0;                // kTombstone, kSamples
  Version version = 0;          // kTombstone
  std::string_view key, value;  // kTag (value), kChunk, kRollup, kSamples (value)
  TagStateRecord state;         // kTagState
  uint64_t total_records = 0;   // kEnd
};

// Builds one piece.
class PieceWriter {
 public:
  PieceWriter() { Clear(); }
  void AddHeader(const Header& h);
  void AddTombstone(TagId tag, Version version);
  void AddTag(std::string_view encoded_tag_info);
  void AddChunk(std::string_view key, std::string_view value);
  void AddRollup(std::string_view key, std::string_view value);
  void AddTagState(const TagStateRecord& s);
  void AddSamples(TagId tag, std::string_view encoded_chunk);
  void AddEnd(uint64_t total_records);

  size_t size() const { return out_.size(); }
  size_t records() const { return records_; }
  bool empty() const { return records_ == 0; }
  // The piece; the writer starts a new one.
  std::string Take();

 private:
  void Clear();
  void Add(RecordType type, const std::string& payload);
  std::string out_;
  std::string scratch_;
  size_t records_ = 0;
};

// The records of `piece`. DataLoss naming the record when it is malformed.
absl::Status ParsePiece(std::string_view piece, std::vector<Record>* out);

// The target's record of a copy in progress or done: state CF key
// move/<shard>, written in the same WriteBatch as the data of each piece.
struct MoveMarker {
  std::string source;     // the source member (the caller's name for it)
  uint64_t position = 0;  // P (from the first piece's header)
  uint32_t num_shards = 0;
  uint64_t pieces = 0;    // pieces applied
  uint64_t records = 0;   // records applied
  uint64_t bytes = 0;     // piece bytes applied
  bool complete = false;  // the piece with kEnd was applied

  bool operator==(const MoveMarker&) const = default;
};

std::string MoveMarkerKey(uint32_t shard);
std::string EncodeMoveMarker(const MoveMarker& m);
// DataLoss when `bytes` is not an encoded marker.
absl::StatusOr<MoveMarker> DecodeMoveMarker(std::string_view bytes);

// What one export produced (for the bench and the log).
struct ExportStats {
  uint64_t position = 0;
  uint64_t pieces = 0;
  uint64_t bytes = 0;  // piece bytes
  uint64_t tags = 0;
  uint64_t tombstones = 0;
  uint64_t chunks = 0;       // stored chunks sent as they are
  uint64_t chunk_bytes = 0;  // their stored bytes
  uint64_t rollups = 0;
  uint64_t rewritten_chunks = 0;  // sent as kSamples instead
  uint64_t head_samples = 0;      // unsealed samples sent
  uint64_t records = 0;
};

}  // namespace historian::shard_copy

#endif  // HISTORIAN_STORAGE_SHARD_COPY_SHARD_COPY_H_
