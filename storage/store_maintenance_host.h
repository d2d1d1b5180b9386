// File: store_maintenance_host.h (internal)
// StoreMaintenanceHost: the MaintenanceHost of the Sealer and Compactor
// (storage/maintenance/maintenance_host.h) over the parts they need: the
// catalog's tag records, the heads, the rollups' recompute, the purges left
// by tombstones and the log trim (it owns the LogTrimmer).
#ifndef HISTORIAN_STORAGE_STORE_MAINTENANCE_HOST_H_
#define HISTORIAN_STORAGE_STORE_MAINTENANCE_HOST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/write_batch.h"
#include "storage/allocator_tuning.h"
#include "storage/chunks/chunk_store.h"
#include "storage/commit_log/commit_log.h"
#include "storage/commit_log/log_trimmer.h"
#include "storage/engine/rocks_db.h"
#include "storage/maintenance/maintenance_host.h"
#include "storage/out_of_range_samples.h"
#include "storage/own_log/own_log.h"
#include "storage/rollups/rollups.h"
#include "storage/tag_state.h"
#include "storage/tombstones/tombstone_set.h"

namespace historian {

// Thread-safety: as MaintenanceHost says: its methods run holding the
// store's seal_mu (seal_mu(), which also guards the LogTrimmer's cursors);
// those marked so there with the store-wide mu held (mu(), the mutex of the
// catalog, heads, commit log, own log and tombstones), the others take mu
// for short looks. The last seal error (seal_error_) is guarded by mu; the
// freed-memory trimmer is atomic.
// Lock order: seal_mu before mu. Holds the parts it uses, not the store.
class StoreMaintenanceHost : public MaintenanceHost {
 public:
  struct Parts {
    absl::Mutex& mu;
    absl::Mutex& seal_mu;
    engine::RocksDb* db;
    Catalog<TagState>& catalog;
    Head& heads;
    TombstoneSet* tombstones;  // guarded by mu
    CommitLog& commit_log;
    OwnLog& own_log;
    ChunkStore& chunks;
    Rollups& rollups;
  };
  struct Options {
    std::string site;  // the store's own site (its entries wait for peers)
    uint32_t chunk_max_samples = 0;
    int64_t head_max_age_ns = 0;
    bool sync_writes = true;
    StoreLogger logger;
    uint64_t log_reclaim_bytes = LogTrimmer::kReclaimBytes;
    uint64_t log_reclaim_min_bytes = LogTrimmer::kReclaimMinBytes;
  };
  StoreMaintenanceHost(Parts parts, Options options);
  StoreMaintenanceHost(const StoreMaintenanceHost&) = delete;
  StoreMaintenanceHost& operator=(const StoreMaintenanceHost&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  absl::Mutex& seal_mu() const ABSL_LOCK_RETURNED(seal_mu_) { return seal_mu_; }
  // Drops and counts samples outside the accepted timestamp range (the
  // passes, the group apply and the repair path; StoreStats).
  OutOfRangeSamples& out_of_range() { return out_of_range_; }
  // Log entries trimmed since open (StoreStats).
  uint64_t log_trimmed() const { return log_trimmer_.trimmed(); }

  // --- Seal failures (the --max_head_bytes backpressure, Store::Enqueue) ---

  // A seal pass failed with `why`: writers waiting for head room get an
  // error instead of waiting for a pass that may never succeed.
  void NoteSealPassFailed(const absl::Status& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The error of the last seal pass, until a pass seals everything it took
  // (TrimLog clears it); OK when the last pass succeeded.
  const absl::Status& seal_error() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return seal_error_; }

  // --- MaintenanceHost ---
  ChunkState* FindChunkState(TagId id, TagFacts* facts) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForEachTag(absl::FunctionRef<void(TagId, ValueType)> fn) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetLatest(TagId id) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HeadsDue(bool force, int64_t now, std::vector<TagId>* due) override;
  ChunkState* BeginSeal(TagId id, codec::ChunkColumns* samples,
                        rocksdb::WriteBatch* batch) override;
  void EndSeal(TagId id, bool sealed, int64_t now) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HeadsOverBudget() override;
  // Rewrites the rollups of `tag` (engine::kRollupWidths: hour buckets) for
  // every bucket that meets [min_ts, max_ts], from sealed chunks, and clears
  // the dirty marker.
  absl::Status RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  absl::Status RollupsAfterSeal(TagId tag, const codec::ChunkColumns& sealed) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  absl::Status RetryDirtyRollups() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  size_t DropOutOfRange(codec::ChunkColumns* cols, TagId tag, const char* where) override {
    return out_of_range_.Drop(cols, tag, where);
  }
  absl::Status RunDuePurges() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  absl::Status TrimLog() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

  // Gives back the disk space of every trimmed log entry now (Store::Close
  // and Store::Compact; the seal passes reclaim in batches).
  absl::Status ReclaimLog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Forgets every origin `which` picks (a dropped shard's move origins:
  // storage/commit_log/move_origin.h): their cursors and log entries go with
  // `batch` in one synced write, then they leave memory. Returns them.
  absl::StatusOr<std::vector<std::string>> ForgetOrigins(
      absl::FunctionRef<bool(const std::string&)> which, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Reclaims of the trimmed log since open (StoreStats).
  uint64_t log_reclaims() const { return log_trimmer_.reclaims(); }

  // At open: markers left by a crash.
  absl::Status RecomputeDirtyRollups() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

 private:
  TagState* FindTag(TagId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    PartsShareMu(mu_, catalog_, heads_);
    return catalog_.Find(id);
  }
  // Rewrites the chunks of `tag` without the samples at or below `dead`,
  // then its rollups, and removes the purge marker.
  absl::Status PurgeTag(TagId tag, Version dead) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Runs rewrite(type, widest chunk span) for `tag` (nothing for an unknown
  // tag), then sets its in-memory dirty bound to what stays dirty
  // (Rollups::DirtyFrom) unless a seal is under way.
  absl::Status RollupsFor(TagId tag, absl::FunctionRef<absl::Status(ValueType, int64_t)> rewrite)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

  absl::Mutex& mu_;
  absl::Mutex& seal_mu_;  // before mu_
  engine::RocksDb* const db_;
  Catalog<TagState>& catalog_;
  Head& heads_;
  TombstoneSet* const tombstones_ ABSL_PT_GUARDED_BY(mu_);
  CommitLog& commit_log_;
  OwnLog& own_log_;
  ChunkStore& chunks_;
  Rollups& rollups_;
  struct Config {
    std::string site;
    uint32_t chunk_max_samples;
    int64_t head_max_age_ns;
  };
  const Config config_;
  // Hands the heads' memory back while a pass seals them (EndSeal notes,
  // BeginSeal trims).
  FreedMemoryTrimmer freed_trimmer_;
  // The last seal pass's error; OK since one succeeded (or none ran).
  absl::Status seal_error_ ABSL_GUARDED_BY(mu_);
  OutOfRangeSamples out_of_range_;
  // Deletes log entries; its cursors are guarded by seal_mu.
  LogTrimmer log_trimmer_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_STORE_MAINTENANCE_HOST_H_
