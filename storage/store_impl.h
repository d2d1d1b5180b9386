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
#include "storage/chunks/chunk_store.h"
#include "storage/commit_log/commit_log.h"
#include "storage/commit_log/log_trimmer.h"
#include "storage/commit_log/pending_write.h"
#include "storage/engine/head_columns.h"
#include "storage/engine/rocks_db.h"
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

// Per origin site: the smallest and largest log sequence whose samples sit
// in a buffer. Origins are few (one per site), so a small vector holding one
// range inline; `origin` points to the store's interned name (Impl::origins).
struct OriginSeqRange {
  const std::string* origin;
  uint64_t min_seq;
  uint64_t max_seq;
};
using OriginSeqRanges = absl::InlinedVector<OriginSeqRange, 1>;
void NoteOriginSeq(OriginSeqRanges* ranges, const std::string* origin, uint64_t seq);

// Unsealed samples of one tag and the log entries they came from: the head
// of an active tag (about 180 bytes with its allocation) plus its columns.
struct HeadBuffer {
  explicit HeadBuffer(ValueType type) : cols(type) {}
  // This struct, its columns and its sequence ranges, in bytes.
  size_t MemoryBytes() const {
    return sizeof(*this) + cols.HeapBytes() +
           (seqs.size() > 1 ? seqs.capacity() * sizeof(OriginSeqRange) : 0);
  }
  engine::HeadColumns cols;  // unsorted until normalised
  OriginSeqRanges seqs;
  int64_t started_ns = 0;  // wall time of the first sample
};

// One tag: catalog entry, its unsealed head and its sealing buffer. The
// buffers exist only while they hold samples, so an idle tag costs its
// catalog entry and a few words.
struct TagState {
  engine::TagInfo info;
  std::unique_ptr<HeadBuffer> head;
  // Taken from head and being written as chunks; reads include it.
  std::unique_ptr<HeadBuffer> sealing;
  ChunkState chunk;  // storage/chunks/chunk_store.h
  bool deleted = false;
  // Samples of the last head sealed: the next head reserves as much.
  uint32_t last_head_samples = 0;
  // The newest sample (1 sample) once a Latest call has looked it up; kept
  // current by every apply, so Latest of many tags is a memory copy.
  std::unique_ptr<codec::ChunkColumns> latest;
  uint64_t applies = 0;  // bumped by every apply, to detect a racing lookup
  // Deadband filter state (tags with a deadband): the last stored sample and
  // the last one held back. Rebuilt empty after a restart (the first sample
  // is then stored).
  struct DeadbandState {
    bool has_last = false;
    int64_t last_ts = 0;
    double last_value = 0;
    uint32_t last_quality = 0;
    bool has_held = false;
    codec::ChunkColumns held;  // 1 sample
  };
  std::unique_ptr<DeadbandState> deadband;
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
  // Catalog and heads. Tag states are never freed while the store is open
  // (a deleted tag is marked and removed from the maps).
  // The catalog maps and every TagState::info change under mu and
  // catalog_mu both, so they may be read under either: name lookups (one
  // per series of every write) take only catalog_mu and do not wait for
  // the group commit's apply, which holds mu. Lock order: mu first.
  mutable absl::Mutex catalog_mu ABSL_ACQUIRED_AFTER(mu);
  // Ordered, for listings and globs. Change only through AddTagState and
  // RemoveTagState, which keep the indexes below in step.
  std::map<std::string, std::unique_ptr<TagState>, std::less<>> tags_by_name ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<TagId, TagState*> tags_by_id ABSL_GUARDED_BY(mu);
  // Exact names by hash: every write and query names its tags, and a walk
  // down the ordered map costs a cache miss per level. Keys view the names
  // owned by tags_by_name.
  absl::flat_hash_map<std::string_view, TagState*> tags_by_exact_name ABSL_GUARDED_BY(mu);
  // Tags with a head or a sealing buffer: the seal pass (every second) walks
  // these instead of every tag, so an idle catalog costs it nothing (a walk
  // of all tags is a cache miss per tag, under mu). The Compactor keeps the
  // sets of its passes likewise.
  absl::flat_hash_set<TagId> tags_in_memory ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<TagState>> graveyard ABSL_GUARDED_BY(mu);
  // Signalled when `creating` changes. (The write path waits on conditions
  // of mu instead.)
  absl::CondVar writers_cv;
  // Tag names whose creation is queued.
  absl::flat_hash_set<std::string> creating ABSL_GUARDED_BY(mu);
  uint64_t catalog_conflicts ABSL_GUARDED_BY(mu) = 0;
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
    auto it = tags_by_id.find(id);
    return it == tags_by_id.end() ? nullptr : it->second;
  }
  // REQUIRES: mu or catalog_mu held.
  TagState* FindTagByName(std::string_view name) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = tags_by_exact_name.find(name);
    return it == tags_by_exact_name.end() ? nullptr : it->second;
  }
  // Calls visit(name, state) for the tags after `after` in name order until
  // it returns false or `cancelled` does (true then). Holds catalog_mu (as
  // a reader) for a slice of tags at a time, never mu: a long glob scan
  // neither stalls writes nor outlives its caller's deadline by much.
  bool ScanTags(std::string_view after, const CancelledFn& cancelled,
                const std::function<bool(const std::string&, const TagState&)>& visit)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Adds a tag (its name must be new) to every index. Takes catalog_mu.
  void AddTagState(std::unique_ptr<TagState> state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes a tag from every index and keeps the state in the graveyard.
  // Takes catalog_mu.
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
