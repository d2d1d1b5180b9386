// File: maintenance_host.h
// MaintenanceHost: what the background passes (Sealer, Compactor) need of
// the rest of the store (the catalog's tag records, the heads, the log trim
// and the tombstone purges). StoreMaintenanceHost
// (storage/store_maintenance_host.h) implements it; the passes know nothing
// else of the store.
//
// Locks: methods marked "mu held" are called with the store-wide mutex
// held (Sealer::mu(), Compactor::mu()); the others are called without it
// and take what they need. Every method is called by a thread that holds
// the store's seal_mu.
#ifndef HISTORIAN_STORAGE_MAINTENANCE_MAINTENANCE_HOST_H_
#define HISTORIAN_STORAGE_MAINTENANCE_MAINTENANCE_HOST_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "api/core/types.h"
#include "rocksdb/write_batch.h"
#include "storage/chunks/chunk_store.h"
#include "storage/codec/chunk_codec.h"

namespace historian {

class MaintenanceHost {
 public:
  virtual ~MaintenanceHost() = default;

  // --- Catalog (mu held) ---

  // The chunk state of live tag `id` (stable while the store is open), its
  // value type and retention; null for an unknown or deleted tag.
  struct TagFacts {
    ValueType type = ValueType::kUnspecified;
    int64_t retention_ns = 0;
  };
  virtual ChunkState* FindChunkState(TagId id, TagFacts* facts) = 0;
  // Every live tag.
  virtual void ForEachTag(absl::FunctionRef<void(TagId, ValueType)> fn) = 0;
  // Retention dropped chunks of `id`: its cached newest value may be gone.
  virtual void ForgetLatest(TagId id) = 0;

  // --- Heads ---

  // Tags whose head is due: full (chunk_max_samples), older than
  // head_max_age at `now`, or any head with `force`. Takes mu.
  virtual void HeadsDue(bool force, int64_t now, std::vector<TagId>* due) = 0;
  // Moves the head of `id` into its sealing buffer (under mu, also raising
  // rollup_dirty_min to its first sample), then copies the buffer's samples
  // (sorted) into *samples and its log cursors (sealed/<tag><origin>) into
  // `batch`. Null when there is nothing to seal; else the tag's ChunkState.
  virtual ChunkState* BeginSeal(TagId id, codec::ChunkColumns* samples,
                                rocksdb::WriteBatch* batch) = 0;
  // (mu held) Ends the seal BeginSeal started: drops the sealing buffer, or
  // with !sealed puts its samples back in front of the head (stamped `now`).
  virtual void EndSeal(TagId id, bool sealed, int64_t now) = 0;
  // True while the heads hold --max_head_bytes or more (writers wait): the
  // sealer thread runs its next pass at once instead of at the next tick.
  // Takes mu.
  virtual bool HeadsOverBudget() = 0;

  // --- Others ---

  // The store's rollup recompute for `tag` over [min_ts, max_ts] (Rollups
  // and the tag's in-memory dirty bound).
  virtual absl::Status RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) = 0;
  // The same after a seal wrote `sealed` (non-empty): Rollups::AfterSeal.
  virtual absl::Status RollupsAfterSeal(TagId tag, const codec::ChunkColumns& sealed) = 0;
  // Rewrites the rollups of every range a failed rewrite left dirty (their
  // rollup_dirty/ markers); nothing when no rewrite failed since the open or
  // the last retry that succeeded. Errors: the first rewrite's (the ranges
  // stay dirty, reads keep reading them raw, the next retry tries again).
  virtual absl::Status RetryDirtyRollups() = 0;
  // Drops (counts and logs) samples outside the accepted timestamp range.
  virtual size_t DropOutOfRange(codec::ChunkColumns* cols, TagId tag, const char* where) = 0;
  // Purges left by tombstones, and the log trim after a seal pass.
  virtual absl::Status RunDuePurges() = 0;
  virtual absl::Status TrimLog() = 0;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_MAINTENANCE_MAINTENANCE_HOST_H_
