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
#include "storage/engine/head_columns.h"
#include "storage/engine/rocks_db.h"
#include "storage/maintenance/compactor.h"
#include "storage/maintenance/maintenance_host.h"
#include "storage/maintenance/sealer.h"
#include "storage/rollups/rollups.h"
#include "storage/store.h"

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

// A write waiting in the group-commit queue: an own write (data or catalog
// change; the leader assigns the sequence), or an entry of another origin
// (a peer's write, or a repair) with its sequence given.
struct PendingWrite {
  std::string origin;
  uint64_t seq = 0;         // given for other origins; assigned for own
  bool assign_seq = false;  // own writes and repairs
  std::string client_id;
  uint64_t batch_seq = 0;
  engine::LogEntry entry;
  std::string encoded;  // entry bytes, encoded by the writer
  // False while the writer encodes outside the lock after queueing; the
  // leader takes only ready writers from the queue front.
  bool ready = true;
  uint64_t accepted = 0;
  bool done = false;
  bool skipped = false;  // already applied (a replayed replication entry)
  absl::Status status;
};

// An own log entry still in the log, for shipping, lag and retention.
struct OwnLogEntry {
  uint64_t seq;
  int64_t time_s;
  uint64_t bytes;
  uint64_t samples;
  uint64_t cum_samples;  // samples in own entries up to and including this one
};

inline constexpr char kRepairOrigin[] = "~repair";

// The glue that holds the parts while they move out of it. It is the
// MaintenanceHost of the Sealer and Compactor.
struct Store::Impl : public MaintenanceHost {
  StoreOptions options;
  std::unique_ptr<engine::RocksDb> db;
  uint8_t site_tag = 0;

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
  // Group commit queue; the front writer is the leader.
  std::deque<PendingWrite*> writers ABSL_GUARDED_BY(mu);
  // Signalled when `creating` changes. (The write path waits on conditions
  // of mu instead.)
  absl::CondVar writers_cv;
  uint64_t next_seq ABSL_GUARDED_BY(mu) = 1;
  // Own sequences skipped when a backup was restored: start -> end
  // (exclusive). Peers may hold entries of these numbers from before the
  // restore; new writes never reuse them.
  std::map<uint64_t, uint64_t> seq_holes ABSL_GUARDED_BY(mu);
  // Origin site names, interned for OriginSeqRange (never erased).
  std::set<std::string, std::less<>> origins ABSL_GUARDED_BY(mu);
  const std::string* InternOrigin(const std::string& origin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return &*origins.insert(origin).first;
  }
  // Highest sequence per origin applied to the heads (in order).
  std::map<std::string, uint64_t> applied_seq ABSL_GUARDED_BY(mu);
  // Per client: batch sequence -> accepted count, for the dedupe window.
  absl::flat_hash_map<std::string, std::map<uint64_t, uint64_t>> client_batches ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<std::string> clients_loaded ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<std::pair<std::string, uint64_t>> in_flight ABSL_GUARDED_BY(mu);
  // Tag names whose creation is queued.
  absl::flat_hash_set<std::string> creating ABSL_GUARDED_BY(mu);
  // Own entries still in the log, oldest first, and their total size.
  std::deque<OwnLogEntry> own_log ABSL_GUARDED_BY(mu);
  uint64_t own_log_bytes ABSL_GUARDED_BY(mu) = 0;
  uint64_t own_cum_samples ABSL_GUARDED_BY(mu) = 0;
  // Per configured peer: highest own sequence it has applied durably.
  std::map<std::string, uint64_t> peer_acked ABSL_GUARDED_BY(mu);
  uint64_t catalog_conflicts ABSL_GUARDED_BY(mu) = 0;
  uint64_t last_version_seconds ABSL_GUARDED_BY(mu) = 0;
  // --- Tombstones (storage/store_tombstone.cc, docs/consistency.md) ---
  // Deleted tag incarnations: tag id -> highest tombstone version. Loaded at
  // open and never trimmed; every apply path drops samples at or below it.
  absl::flat_hash_map<TagId, Version> tombstones ABSL_GUARDED_BY(mu);
  // NextVersion hands out versions above this (the newest tombstone seen),
  // so a write after a delete always outlives it.
  Version version_floor ABSL_GUARDED_BY(mu) = 0;
  // The highest version of anything applied here (samples, catalog entries,
  // tombstones). A local delete's tombstone is at least this, so it covers
  // every sample the tag holds here, also a peer's of the same second.
  Version max_version_seen ABSL_GUARDED_BY(mu) = 0;
  // Tombstones that met a newer incarnation of their tag: samples at or
  // below them may still sit in its chunks until PurgeTag.
  std::vector<engine::Tombstone> purges_due ABSL_GUARDED_BY(mu);
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
  // Per origin: every log entry below this sequence has been deleted.
  std::map<std::string, uint64_t> trimmed_below ABSL_GUARDED_BY(seal_mu);
  uint64_t trimmed_since_compaction ABSL_GUARDED_BY(seal_mu) = 0;
  // Trimmed log entries between compactions of the log's trimmed range.
  static constexpr uint64_t kLogCompactionEntries = 4096;

  // The background passes and the sealer thread (storage/maintenance/).
  // Made at open; declared after the mutexes and parts they use.
  std::unique_ptr<Compactor> compactor;
  std::unique_ptr<Sealer> sealer;

  int64_t NowNs() const { return options.now_ns(); }
  // A version for a new write or catalog change: the hybrid clock, above
  // version_floor.
  Version NextVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The version of a local delete: the hybrid clock, and at least every
  // version seen (max_version_seen).
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
    if (tombstones.empty()) return 0;
    auto it = tombstones.find(tag);
    return it == tombstones.end() ? 0 : it->second;
  }
  // The samples of `in` above the tombstone of `tag` into *kept. Returns
  // false (and leaves *kept alone) when none is at or below it.
  bool DropTombstoned(TagId tag, const codec::ChunkColumns& in, codec::ChunkColumns* kept) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The tombstones of `w` (and its legacy deletes by name) into `batch`:
  // the tombstone keys, and for a tag whose catalog entry is not newer, the
  // catalog entry, chunks, rollups and state keys. Drops the tombstones
  // known already from w->entry.
  void PrepareTombstones(PendingWrite* w, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // After the write: the same in memory. A tag whose catalog entry is newer
  // (created again) keeps it, loses the covered samples of its head now and
  // of its chunks by PurgeTag (queued in purges_due).
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
  // At the first open of a restored backup: skips own sequences the original
  // node may have used after the backup (see kRestoreSequenceGap).
  absl::Status StartRestoreEpoch();
  absl::Status ReplayLog();
  void ApplyToHead(const std::string& origin, uint64_t seq, const engine::LogEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Removes the samples outside [kMinSampleTimestamp, kMaxSampleTimestamp]
  // from `cols` (written by an older version, or sent by one), counts them
  // in samples_out_of_range and logs them (`where` says which path). Returns
  // how many it removed.
  size_t DropOutOfRange(codec::ChunkColumns* cols, TagId tag, const char* where) override;
  void DropOutOfRange(std::vector<engine::SeriesData>* series, const char* where);
  absl::Status LoadClient(const std::string& client_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Group commit: queues `w` and returns once it is durable and applied.
  // The front writer (leader) writes the whole queue as one WriteBatch.
  void Submit(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Waits until `w` is done; leads groups from the queue front meanwhile
  // whenever no other writer is leading.
  void AwaitWrite(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Checks dedupe, stamps the version, encodes and queues `w`. Returns a
  // result when the batch is done already (a retry) or refused.
  std::optional<absl::StatusOr<WriteResult>> Enqueue(PendingWrite* w);
  absl::StatusOr<WriteResult> Complete(PendingWrite* w);
  // Pipelined group commit, three stages: one leader at a time builds a
  // group's batch (`leading`, under mu); groups write in build order (under
  // write_mu, not mu); groups apply to memory in build order (under mu). So
  // one group's write overlaps the previous group's apply.
  bool leading ABSL_GUARDED_BY(mu) = false;
  uint64_t build_ticket ABSL_GUARDED_BY(mu) = 0;    // groups built
  uint64_t applied_ticket ABSL_GUARDED_BY(mu) = 0;  // groups applied (or failed)
  size_t groups_in_flight ABSL_GUARDED_BY(mu) = 0;  // taken from the queue, not done
  // A leader may build a group now, without waiting for the previous
  // group's write (bench/README.md: waiting gained nothing).
  bool CanLead() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return !leading && !writers.empty() && writers.front()->ready;
  }
  // Numbers taken by built groups that may not be applied yet (next_seq and
  // applied_seq move at apply): the next group continues after them.
  uint64_t reserved_seq ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, uint64_t> reserved_cursor ABSL_GUARDED_BY(mu);
  // Lock order: mu before write_mu.
  absl::Mutex write_mu ABSL_ACQUIRED_AFTER(mu);
  uint64_t written_ticket ABSL_GUARDED_BY(write_mu) = 0;  // groups written (or failed)
  // The numbers of the groups written successfully; a failed write resets
  // the reserved numbers to these and bumps failure_epoch, which fails the
  // groups built on the failed group's numbers before they write.
  uint64_t durable_seq ABSL_GUARDED_BY(write_mu) = 0;
  std::map<std::string, uint64_t> durable_cursor ABSL_GUARDED_BY(write_mu);
  uint64_t failure_epoch ABSL_GUARDED_BY(write_mu) = 0;
  // Writes every queued write (leading where needed) until the queue is empty
  // and every group is applied.
  void DrainWriters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  template <typename Finished>
  void LeadUntil(Finished finished) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Applies the tags' deadbands to `series` in place.
  void ApplyDeadbands(std::vector<engine::SeriesData>* series) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void LeadGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Catalog changes of `entry` into `batch` (and, after the write, into
  // memory by ApplyCatalog). Decides conflicts last-writer-wins by version.
  void PrepareCatalog(PendingWrite* w, rocksdb::WriteBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ApplyCatalog(const PendingWrite& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Submits one own catalog change.
  absl::Status SubmitCatalog(engine::LogEntry entry);

  absl::Status TrimLog() override ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Own entries at or below this sequence may be trimmed (peers' acks and
  // retention limits).
  uint64_t OwnTrimLimit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

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
