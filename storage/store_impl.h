// File: store_impl.h (internal)
// The state behind Store, shared by store.cc (open, catalog), store_write.cc
// (group commit), store_read.cc (reads) and store_seal.cc (sealing, log
// trimming). Not part of the public API.
#ifndef HISTORIAN_STORAGE_STORE_IMPL_H_
#define HISTORIAN_STORAGE_STORE_IMPL_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/catalog/catalog.h"
#include "storage/chunks/chunk_store.h"
#include "storage/commit_log/commit_log.h"
#include "storage/commit_log/log_trimmer.h"
#include "storage/commit_log/pending_write.h"
#include "storage/engine/head_columns.h"
#include "storage/engine/rocks_db.h"
#include "storage/head/head.h"
#include "storage/maintenance/compactor.h"
#include "storage/maintenance/maintenance_host.h"
#include "storage/maintenance/sealer.h"
#include "storage/own_log/own_log.h"
#include "storage/rollups/rollups.h"
#include "storage/store.h"
#include "storage/tombstones/tombstone_set.h"

namespace historian {

// InvalidArgument naming the first sample whose timestamp is outside
// [kMinSampleTimestamp, kMaxSampleTimestamp].
absl::Status CheckSampleTimestamps(const std::vector<engine::SeriesData>& series);

// One tag, found by one lookup: its catalog entry (info, deleted:
// storage/catalog/), its head state (buffers, newest sample, deadband:
// storage/head/) and its chunks' state (storage/chunks/).
struct TagState : CatalogEntry, HeadState {
  ChunkState chunk;
};

// The store's glue: holds the parts while they move out of it, implements
// the steps of a group commit that are not the log's (GroupApplier), and is
// the MaintenanceHost of the Sealer and Compactor.
struct Store::Impl : public GroupApplier, public MaintenanceHost {
  StoreOptions options;
  std::unique_ptr<engine::RocksDb> db;
  // The log side: group commit, sequences, hybrid clock, dedupe window.
  // Guarded by mu (commit_log->mu() is mu). Made at Open, after db.
  std::unique_ptr<CommitLog> commit_log;
  // Deletes log entries; guarded by seal_mu. Made at Open, after db.
  std::unique_ptr<LogTrimmer> log_trimmer;
  // The own-log index, peers' acks, reads for shipping. Guarded by mu
  // (own_log->mu() is mu). Made at Open, after commit_log.
  std::unique_ptr<OwnLog> own_log;

  mutable absl::Mutex mu;
  // The tags (storage/catalog/catalog.h): its indexes change under mu and
  // its own catalog_mu both; name lookups take only catalog_mu. Tag states
  // are never freed while the store is open (a deleted tag is marked and
  // kept in the catalog's graveyard). Change tags only through AddTagState
  // and RemoveTagState, which keep the heads and the Compactor's sets in step.
  Catalog<TagState> catalog{mu};
  // The tags' unsealed samples, newest samples and deadbands
  // (storage/head/head.h), under mu.
  Head heads{mu};
  // Says to the thread-safety analysis that the parts' `mu` is this one
  // (no code).
  void PartsShareMu() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu)
      ABSL_ASSERT_EXCLUSIVE_LOCK(catalog.mu(), heads.mu()) {}
  // --- Tombstones (storage/store_tombstone.cc, docs/consistency.md) ---
  // Deleted tag incarnations, the version floor, the highest version seen
  // and the purges due.
  TombstoneSet tombstones ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;

  // Chunk keys, ids, spans, reads and the one chunk writer; the chunk
  // counters. Made at open, after db.
  std::unique_ptr<ChunkStore> chunk_store;
  // Dirty markers, recompute and reads of the rollups. After chunk_store.
  std::unique_ptr<Rollups> rollups;
  std::atomic<uint64_t> log_trimmed{0};
  std::atomic<uint64_t> samples_out_of_range{0};  // skipped by DropOutOfRange

  // One seal or maintenance pass at a time: the sealer thread's passes, and
  // SealAll, Close, Compact, ApplyRetention, CompactOverlaps and tombstone
  // submissions from other threads. Lock order: seal_mu before mu (passes
  // take mu for short looks at the catalog and heads). See docs/storage.md,
  // "Threads and locks".
  absl::Mutex seal_mu ABSL_ACQUIRED_BEFORE(mu);

  // The background passes and the sealer thread (storage/maintenance/).
  // Made at open; declared after the mutexes and parts they use.
  std::unique_ptr<Compactor> compactor;
  std::unique_ptr<Sealer> sealer;

  int64_t NowNs() const { return options.now_ns(); }
  // The next own sequence (commit_log's, read under the name mu).
  uint64_t NextSeq() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    commit_log->mu().AssertHeld();  // the same mutex
    return commit_log->next_seq();
  }
  // A version for a new write or catalog change: the hybrid clock, above
  // the tombstones' floor.
  Version NextVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The version of a local delete: the hybrid clock, and at least every
  // version seen (tombstones.max_seen()).
  Version TombstoneVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  TagState* FindTag(TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    PartsShareMu();
    return catalog.Find(id);
  }
  // REQUIRES: mu or catalog.catalog_mu() held.
  TagState* FindTagByName(std::string_view name) { return catalog.FindByName(name); }
  // Adds a tag (its name must be new) to the catalog. Takes catalog_mu.
  void AddTagState(std::unique_ptr<TagState> state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes a tag from the catalog (which keeps the state) and from the
  // heads and the Compactor's sets. Takes catalog_mu.
  void RemoveTagState(std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  absl::Status LoadCatalog();
  // Overlap ranges kept by seals before a restart (overlap/ keys). After
  // LoadCatalog.
  absl::Status LoadOverlaps();
  // Once per data dir (kSpansCheckedKey): widens each tag's span/ key to its
  // widest chunk. After LoadCatalog.
  absl::Status CheckSpans();
  // Records that `id` has overlapping chunks in [min_ts, max_ts], for the
  // overlap pass.
  void NoteOverlap(TagId id, int64_t min_ts, int64_t max_ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Tombstones and pending purges from the state CF.
  absl::Status LoadTombstones();
  // The tombstone version of `tag`; 0 when it was never deleted.
  Version TombstoneOf(TagId tag) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return tombstones.Of(tag);
  }
  // The samples of `in` above the tombstone of `tag` into *kept. Returns
  // false (and leaves *kept alone) when none is at or below it.
  bool DropTombstoned(TagId tag, const codec::ChunkColumns& in, codec::ChunkColumns* kept) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return tombstones.Drop(tag, in, kept);
  }
  // The tombstones of `w` (and its legacy deletes by name) into `batch`:
  // the tombstone keys, and for a tag whose catalog entry is not newer, the
  // catalog entry, chunks, rollups and state keys. Drops the tombstones
  // known already from w->entry.
  void PrepareTombstones(PendingWrite* w, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // After the write: the same in memory. A tag whose catalog entry is newer
  // (created again) keeps it, loses the covered samples of its head now and
  // of its chunks by PurgeTag (queued in tombstones).
  void ApplyDeletes(const PendingWrite& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Submits `w` (an entry carrying tombstones) and runs the purges it
  // queued. Every tombstone is applied this way, holding seal_mu, so no seal,
  // merge, overlap rewrite or retention pass holds the tag's chunks meanwhile
  // and writes them back after the delete.
  absl::Status SubmitTombstones(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  absl::Status RunDuePurges() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Rewrites the chunks of `tag` without the samples at or below `dead`,
  // then its rollups, and removes the purge marker.
  absl::Status PurgeTag(TagId tag, Version dead) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  absl::Status LoadState();
  // FailedPrecondition naming kSchemaVersionKey and its value when the data
  // dir's schema is not engine::kSchemaVersion; writes the key when absent.
  absl::Status CheckSchemaVersion();
  absl::Status ReplayLog();
  void ApplyToHead(const std::string& origin, uint64_t seq, const engine::LogEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes the samples outside [kMinSampleTimestamp, kMaxSampleTimestamp]
  // from `cols` (written by an older version, or sent by one), counts them
  // in samples_out_of_range and logs them (`where` says which path). Returns
  // how many it removed.
  size_t DropOutOfRange(codec::ChunkColumns* cols, TagId tag, const char* where) override;
  void DropOutOfRange(std::vector<engine::SeriesData>* series, const char* where);

  // GroupApplier, called by commit_log with mu held: PrepareCatalog; and
  // ApplyCatalog, ApplyToHead and the own-log index.
  void PrepareGroupEntry(PendingWrite* w, rocksdb::WriteBatch* batch) override;
  void ApplyGroupEntry(const PendingWrite& w, int64_t now_s) override;
  // Checks dedupe, stamps the version, encodes and queues `w`. Returns a
  // result when the batch is done already (a retry) or refused.
  std::optional<absl::StatusOr<WriteResult>> Enqueue(PendingWrite* w);
  absl::StatusOr<WriteResult> Complete(PendingWrite* w);
  // Applies the tags' deadbands to `series` in place.
  void ApplyDeadbands(std::vector<engine::SeriesData>* series) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Catalog changes of `entry` into `batch` (and, after the write, into
  // memory by ApplyCatalog). Decides conflicts last-writer-wins by version.
  void PrepareCatalog(PendingWrite* w, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ApplyCatalog(const PendingWrite& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Submits one own catalog change.
  absl::Status SubmitCatalog(engine::LogEntry entry);

  absl::Status TrimLog() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);

  // --- MaintenanceHost (store_seal.cc) ---
  ChunkState* FindChunkState(TagId id, TagFacts* facts) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ForEachTag(absl::FunctionRef<void(TagId, ValueType)> fn) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ForgetLatest(TagId id) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void HeadsDue(bool force, int64_t now, std::vector<TagId>* due) override;
  ChunkState* BeginSeal(TagId id, codec::ChunkColumns* samples,
                        rocksdb::WriteBatch* batch) override;
  void EndSeal(TagId id, bool sealed, int64_t now) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Rewrites the rollups of `tag` (engine::kRollupWidths: hour buckets) for
  // every bucket that meets [min_ts, max_ts], from sealed chunks, and clears
  // the dirty marker.
  absl::Status RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // At open: markers left by a crash.
  absl::Status RecomputeDirtyRollups() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Copies the unsealed samples of `tag` in [start, end) (sealing buffer and
  // head, both reset to the tag's type) and the tag's widest chunk span.
  // Takes mu. Errors: NotFound for an unknown tag.
  absl::Status CopyUnsealed(TagId tag, int64_t start, int64_t end, codec::ChunkColumns* sealing,
                            codec::ChunkColumns* head, int64_t* max_span);
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_STORE_IMPL_H_
