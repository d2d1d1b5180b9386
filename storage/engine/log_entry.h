// File: log_entry.h
// LogEntry: one accepted write as stored in the `log` column family and
// shipped to peers: samples of many tags, and catalog changes. Format (all
// integers varint unless noted):
//   u8 format (=3) | version | flags (bit 0: catalog records, bit 1:
//   per-sample versions) |
//   [flags&1: upsert count | encoded TagInfo (len+bytes)... |
//             delete count | tag name (len+bytes)...] |
//   series count |
//   per series: tag id (fixed64) | u8 value type | u8 form | form 0 or 1
//   form 0 (samples one by one): sample count |
//     per sample: zigzag(ts - previous ts) | value | quality |
//                 [flags&2: zigzag(sample version - entry version)]
//     value: double fixed64 bits | int64 zigzag | bool u8 | string len+bytes
//     Without flag bit 1 every sample carries the entry's version.
//   form 1 (a series of >= kLogChunkMinSamples samples in strictly increasing
//     time): the chunk codec's encoding (len+bytes, storage/codec/FORMAT.md),
//     versions included. A 60-sample sensor series costs about 1 byte a
//     sample instead of 14: less WAL to write, less memtable, less to ship.
// Format 4 is format 3 with a tombstone section after the catalog records:
//   tombstone count | per tombstone: tag id (fixed64) | version
// It is written only for entries that carry tombstones (DeleteTag), so every
// other entry stays format 3 and readable by nodes that predate format 4.
// Format 5 is format 4 (tombstone section always present, maybe empty) with
// an events section after it: count | per write: key (len+bytes) | value
// (len+bytes), merge operands of the events column family (alarm events and
// rules, storage/events/event_record.h). Written only for entries that carry
// them; nodes that predate format 5 refuse such an entry (DataLoss) and
// stop pulling from that peer until upgraded.
// Format 2 (no form byte; every series in form 0) is still read.
#ifndef HISTORIAN_STORAGE_ENGINE_LOG_ENTRY_H_
#define HISTORIAN_STORAGE_ENGINE_LOG_ENTRY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/tag_info.h"

namespace historian::engine {

// The samples of one tag in an entry. Timestamps need not be sorted.
// `cols.versions` holds each sample's version (all equal to the entry's for
// ordinary writes).
struct SeriesData {
  TagId tag = 0;
  codec::ChunkColumns cols;
};

// A deleted tag incarnation: every sample of `tag` with a version at or
// below `version`, and its catalog entry when that is not newer, is gone for
// good (docs/consistency.md, "Deleting a tag").
struct Tombstone {
  TagId tag = 0;
  Version version = 0;

  bool operator==(const Tombstone&) const = default;
};

// One merge operand of the events column family.
struct EventWrite {
  std::string key;
  std::string value;

  bool operator==(const EventWrite&) const = default;
};

struct LogEntry {
  Version version = 0;
  std::vector<SeriesData> series;
  std::vector<TagInfo> catalog_upserts;
  // Deletes by name, written by nodes that predate tombstones; applied as a
  // tombstone of the name's id at the entry's version.
  std::vector<std::string> catalog_deletes;
  std::vector<Tombstone> tombstones;
  std::vector<EventWrite> event_writes;

  uint64_t NumSamples() const;
};

// Series with at least this many samples, in increasing time, are stored
// with the chunk codec.
inline constexpr size_t kLogChunkMinSamples = 16;

void EncodeLogEntry(const LogEntry& entry, std::string* out);
// DataLoss when `bytes` is truncated or corrupt.
absl::Status DecodeLogEntry(std::string_view bytes, LogEntry* entry);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_LOG_ENTRY_H_
