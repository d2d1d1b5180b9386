// File: rollups.h
// Rollups: per tag and engine::kRollupWidths bucket, the aggregate of its
// sealed samples (rollups CF), which queries over long ranges read instead
// of the samples. A change to sealed samples (a seal, a retention drop, a
// purge) first puts a dirty marker (rollup_dirty/<tag> = [min ts, max ts]
// in the state CF) in the batch that changes them, then Recompute rewrites
// the buckets from the chunks and removes the marker; a crash in between
// leaves the marker for the next open (LoadDirty). The per-tag in-memory
// bound (ChunkState::rollup_dirty_min) is kept by the store, under its mu.
//
// Thread-safety: stateless beyond RocksDB; any thread. Recompute for one
// tag at a time: callers hold the store's seal_mu.
#ifndef HISTORIAN_STORAGE_ROLLUPS_ROLLUPS_H_
#define HISTORIAN_STORAGE_ROLLUPS_ROLLUPS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "api/core/types.h"
#include "rocksdb/write_batch.h"
#include "storage/chunks/chunk_store.h"
#include "storage/engine/rocks_db.h"
#include "storage/engine/rollup.h"

namespace historian {

class Rollups {
 public:
  // `db` and `chunks` outlive this.
  Rollups(engine::RocksDb* db, const ChunkStore* chunks) : db_(db), chunks_(chunks) {}
  Rollups(const Rollups&) = delete;
  Rollups& operator=(const Rollups&) = delete;

  // The dirty marker of `tag` for [min_ts, max_ts] into `batch`.
  void MarkDirty(TagId tag, int64_t min_ts, int64_t max_ts, rocksdb::WriteBatch* batch) const;

  // Rewrites the rollups of `tag` (of `type`; its widest chunk span
  // `max_span`) for every bucket that meets [min_ts, max_ts], from sealed
  // chunks, and removes the dirty marker. String tags have none: only the
  // marker goes.
  absl::Status Recompute(TagId tag, ValueType type, int64_t max_span, int64_t min_ts,
                         int64_t max_ts) const;

  // The markers in the state CF (left by a crash), as (tag, min ts, max ts).
  struct Dirty {
    TagId tag;
    int64_t min_ts;
    int64_t max_ts;
  };
  absl::Status LoadDirty(std::vector<Dirty>* out) const;

  // The rollups of `tag` and `width` whose bucket starts in [start, end),
  // in bucket order.
  absl::Status Read(TagId tag, int64_t width, int64_t start, int64_t end,
                    std::vector<std::pair<int64_t, engine::Rollup>>* out) const;

 private:
  engine::RocksDb* const db_;
  const ChunkStore* const chunks_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_ROLLUPS_ROLLUPS_H_
