// File: version_seen.h
// The highest version a store has seen, kept durable (node/version_seen)
// wherever the record that carried it goes away: the log trim deletes the
// entries whose versions the open would otherwise replay, and a shard
// import writes chunks no log entry carried. At open it is noted again
// (Store::LoadTombstones), so a delete after a restart is still stamped at
// or above every sample the store holds (docs/consistency.md, "Deleting a
// tag"), and the hybrid clock is never behind a version it saw.
//
// Thread-safety: callers hold seal_mu (the trim, a shard import: its only
// writers), so no other write of the key comes between the read and the
// caller's batch write; the key never goes down.
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_VERSION_SEEN_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_VERSION_SEEN_H_

#include "absl/status/statusor.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/rocks_db.h"
#include "storage/engine/version.h"

namespace historian {

// The stored value; 0 when none was stored. DataLoss when malformed.
absl::StatusOr<Version> ReadVersionSeen(engine::RocksDb* db);

// Adds to `batch` a Put raising the stored value to `seen` when it is
// lower (nothing otherwise).
absl::Status RaiseVersionSeen(engine::RocksDb* db, Version seen, rocksdb::WriteBatch* batch);

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_VERSION_SEEN_H_
