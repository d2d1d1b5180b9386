// File: sealed_markers.h
// Dropping the per-tag sealed/ markers the log replay can no longer use.
//
// sealed/<tag><origin> holds the last sequence of `origin` sealed for the
// tag; the replay at open skips samples of log entries at or below it
// (Store::ReplayLog). Once every log entry of `origin` up to that sequence
// is trimmed, the marker filters nothing: the entries left are above it,
// and no entry at or below it comes back (own sequences only grow, and an
// entry of another origin at or below its cursor is skipped as applied, see
// CommitLog). A marker of an origin with no entry left at all filters
// nothing either. Such a marker is 20 of a tag's ~40 bytes of state rows
// in a quiet data dir (issue 16); `historian compact` drops them before it
// compacts the state column family. The next seal of the tag writes its
// marker again.
//
// Thread-safety: a free function over RocksDB (itself thread-safe). It
// reads the log's first live sequence per origin before the markers; trims
// only raise it, so a concurrent trim or seal makes it drop fewer markers,
// never one still needed.
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_SEALED_MARKERS_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_SEALED_MARKERS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "storage/engine/rocks_db.h"

namespace historian {

// Deletes every sealed/ marker whose sequence is below the first log entry
// of its origin (or of an origin with none); returns how many.
absl::StatusOr<uint64_t> DropReplayedSealedMarkers(const engine::RocksDb& db);

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_SEALED_MARKERS_H_
