// File: store_applier.h (internal)
// StoreApplier: the steps of a group commit that are not the log's
// (GroupApplier, storage/commit_log/commit_log.h): catalog changes and
// tombstones into the group's batch, then into memory with the samples (the
// heads) and the own-log index. Also the log replay's apply at open.
#ifndef HISTORIAN_STORAGE_STORE_APPLIER_H_
#define HISTORIAN_STORAGE_STORE_APPLIER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/write_batch.h"
#include "storage/applied_listener.h"
#include "storage/commit_log/commit_log.h"
#include "storage/commit_log/pending_write.h"
#include "storage/engine/rocks_db.h"
#include "storage/events/events_part.h"
#include "storage/maintenance/compactor.h"
#include "storage/out_of_range_samples.h"
#include "storage/own_log/own_log.h"
#include "storage/tag_state.h"
#include "storage/tombstones/tombstone_set.h"

namespace historian {

// Thread-safety: every method runs with the store-wide mu held (mu(): the
// mutex of the catalog, heads, commit log, own log and the Compactor's
// sets, which it is given); the commit log calls the GroupApplier methods
// under it. Holds the parts it uses, not the store.
class StoreApplier : public GroupApplier {
 public:
  struct Parts {
    absl::Mutex& mu;
    engine::RocksDb* db;
    Catalog<TagState>& catalog;
    Head& heads;
    TombstoneSet* tombstones;  // guarded by mu
    CommitLog& commit_log;
    OwnLog& own_log;
    Compactor& compactor;
    OutOfRangeSamples& out_of_range;
    events::EventsPart& events;
  };
  // `site`: the store's own site (its entries go to the own-log index).
  StoreApplier(Parts parts, std::string site, std::function<int64_t()> now_ns);
  StoreApplier(const StoreApplier&) = delete;
  StoreApplier& operator=(const StoreApplier&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  // GroupApplier, called by the commit log with mu held: catalog changes
  // and tombstones; then ApplyCatalog, ApplyToHead and the own-log index.
  void PrepareGroupEntry(PendingWrite* w, rocksdb::WriteBatch* batch) override;
  void ApplyGroupEntry(const PendingWrite& w, int64_t now_s) override;

  // The samples of `entry` (sequence `seq` of `origin`) into the heads,
  // without those out of range or at or below their tag's tombstone.
  void ApplyToHead(const std::string& origin, uint64_t seq, const engine::LogEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells `listener` (null: nobody) of every entry applied from now on
  // (ApplyGroupEntry, not the replay). `listener` must outlive its use.
  void SetListener(AppliedListener* listener) { listener_.store(listener); }
  // Samples of live entries (not the log replay at open) left out because
  // their tag has no definition here and was never deleted here
  // (StoreStats::samples_of_undefined_tags).
  uint64_t undefined_tag_samples() const { return undefined_tag_samples_.load(); }
  // Tells the listener that `origins` are gone (Store::DropShard).
  void NoteOriginsForgotten(const std::vector<std::string>& origins)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    AppliedListener* listener = listener_.load(std::memory_order_acquire);
    if (listener != nullptr && !origins.empty()) listener->OnOriginsForgotten(origins);
  }

 private:
  // ApplyToHead; with `applied`, also the series as they went in (copies
  // of those filtered go to applied_copies_).
  // Returns the samples left out because their tag is undefined here.
  uint64_t ApplyToHeadFor(const std::string& origin, uint64_t seq, const engine::LogEntry& entry,
                          std::vector<AppliedSeries>* applied) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TagState* FindTag(TagId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    PartsShareMu(mu_, catalog_, heads_);
    return catalog_.Find(id);
  }
  // The samples of `in` above the tombstone of `tag` into *kept. Returns
  // false (and leaves *kept alone) when none is at or below it.
  bool DropTombstoned(TagId tag, const codec::ChunkColumns& in, codec::ChunkColumns* kept) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return tombstones_->Drop(tag, in, kept);
  }
  // Catalog changes of `entry` into `batch` (and, after the write, into
  // memory by ApplyCatalog). Decides conflicts last-writer-wins by version.
  void PrepareCatalog(PendingWrite* w, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyCatalog(const PendingWrite& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The tombstones of `w` (and its legacy deletes by name) into `batch`:
  // the tombstone keys, and for a tag whose catalog entry is not newer, the
  // catalog entry, chunks, rollups and state keys. Drops the tombstones
  // known already from w->entry.
  void PrepareTombstones(PendingWrite* w, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After the write: the same in memory. A tag whose catalog entry is newer
  // (created again) keeps it, loses the covered samples of its head now and
  // of its chunks by a purge (queued in the tombstones).
  void ApplyDeletes(const PendingWrite& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes a tag from the catalog (which keeps the state) and from the
  // heads and the Compactor's sets. Takes catalog_mu.
  void RemoveTagState(std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex& mu_;
  engine::RocksDb* const db_;
  Catalog<TagState>& catalog_;
  Head& heads_;
  TombstoneSet* const tombstones_ ABSL_PT_GUARDED_BY(mu_);
  CommitLog& commit_log_;
  OwnLog& own_log_;
  Compactor& compactor_;
  const std::string site_;
  const std::function<int64_t()> now_ns_;
  OutOfRangeSamples& out_of_range_;
  // Read once per applied entry (one atomic load when nobody listens).
  std::atomic<AppliedListener*> listener_{nullptr};
  // The entry's series for the listener (reused; under mu).
  std::vector<AppliedSeries> applied_ ABSL_GUARDED_BY(mu_);
  std::deque<codec::ChunkColumns> applied_copies_ ABSL_GUARDED_BY(mu_);

  events::EventsPart& events_;
  std::atomic<uint64_t> undefined_tag_samples_{0};
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_STORE_APPLIER_H_
