// File: column_families.h
// Names of the RocksDB column families (see docs/storage.md for keys/values).
#ifndef HISTORIAN_STORAGE_ENGINE_COLUMN_FAMILIES_H_
#define HISTORIAN_STORAGE_ENGINE_COLUMN_FAMILIES_H_

namespace historian::engine {

inline constexpr char kCatalogCf[] = "catalog";  // tag name -> TagInfo
inline constexpr char kLogCf[] = "log";          // (origin site, seq) -> LogEntry
inline constexpr char kChunksCf[] = "chunks";    // (tag id, min ts, chunk id) -> chunk
inline constexpr char kRollupsCf[] = "rollups";  // (tag id, resolution, bucket) -> rollup
inline constexpr char kStateCf[] = "state";      // name -> node state
// alarm events and rules (storage/events/event_record.h), merged
inline constexpr char kEventsCf[] = "events";

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_COLUMN_FAMILIES_H_
