// File: log_entry.h
// LogEntry: one accepted write batch as stored in the `log` column family and
// shipped to peers. Format (all integers varint unless noted):
//   u8 format (=1) | version | series count |
//   per series: tag id (fixed64) | u8 value type | sample count |
//     per sample: zigzag(ts - previous ts) | value | quality
//   value: double fixed64 bits | int64 zigzag varint | bool u8 | string len+bytes
// Every sample of an entry carries the entry's version.
#ifndef HISTORIAN_STORAGE_ENGINE_LOG_ENTRY_H_
#define HISTORIAN_STORAGE_ENGINE_LOG_ENTRY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"

namespace historian::engine {

// The samples of one tag in a batch. `cols.versions` is unused here: the
// entry's version applies to all samples. Timestamps need not be sorted.
struct SeriesData {
  TagId tag = 0;
  codec::ChunkColumns cols;
};

struct LogEntry {
  Version version = 0;
  std::vector<SeriesData> series;
};

void EncodeLogEntry(const LogEntry& entry, std::string* out);
// DataLoss when `bytes` is truncated or corrupt.
absl::Status DecodeLogEntry(std::string_view bytes, LogEntry* entry);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_LOG_ENTRY_H_
