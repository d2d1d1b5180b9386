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
#include "storage/engine/head_columns.h"
#include "storage/engine/rocks_db.h"
#include "storage/head/head.h"
#include "storage/store.h"

namespace historian {

// a - b, clamped at kMinTimestamp (b >= 0): where a scan for chunks that may
// reach `a` starts, `b` being the widest chunk span.
inline int64_t SaturatingSub(int64_t a, int64_t b) {
  if (b > 0 && a < kMinTimestamp + b) return kMinTimestamp;
  return a - b;
}

// [min_ts, max_ts] as stored in the state CF (rollup_dirty/, overlap/): two
// order-preserving big-endian u64.
std::string EncodeTimeRange(int64_t min_ts, int64_t max_ts);
// False when `value` is not 16 bytes.
bool DecodeTimeRange(std::string_view value, int64_t* min_ts, int64_t* max_ts);

// InvalidArgument naming the first sample whose timestamp is outside
// [kMinSampleTimestamp, kMaxSampleTimestamp].
absl::Status CheckSampleTimestamps(const std::vector<engine::SeriesData>& series);

// One tag, found by one lookup: its catalog entry (info, deleted:
// storage/catalog/), its head state (buffers, newest sample, deadband:
// storage/head/) and its chunks' state below.
struct TagState : CatalogEntry, HeadState {
  int64_t max_span = 0;  // longest (max ts - min ts) of any chunk of the tag
  // Sealed samples whose rollups are not rewritten yet: queries must not use
  // rollups from here on (kMaxTimestamp when none).
  int64_t rollup_dirty_min = kMaxTimestamp;
  // Time range where chunks overlap (late data sealed over older chunks);
  // empty when overlap_min > overlap_max. Rewritten by OverlapPass.
  int64_t overlap_min = kMaxTimestamp;
  int64_t overlap_max = kMinTimestamp;
  // Chunks sealed at or after this may be merged with their neighbours
  // (MergePass); kMaxTimestamp when none wait.
  int64_t merge_from = kMaxTimestamp;
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

struct Store::Impl {
  StoreOptions options;
  std::unique_ptr<engine::RocksDb> db;
  uint8_t site_tag = 0;

  mutable absl::Mutex mu;
  // The tags (storage/catalog/catalog.h): its indexes change under mu and
  // its own catalog_mu both; name lookups take only catalog_mu. Tag states
  // are never freed while the store is open (a deleted tag is marked and
  // kept in the catalog's graveyard). Change tags only through AddTagState
  // and RemoveTagState, which keep the sets below in step.
  Catalog<TagState> catalog{mu};
  // The tags' unsealed samples, newest samples and deadbands
  // (storage/head/head.h), under mu.
  Head heads{mu};
  // Says to the thread-safety analysis that the parts' `mu` is this one
  // (no code).
  void PartsShareMu() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu)
      ABSL_ASSERT_EXCLUSIVE_LOCK(catalog.mu(), heads.mu()) {}
  // Tags with overlapping chunks to rewrite (and, in heads, tags with a
  // head or a sealing buffer): the sealer's passes (every second) walk these
  // instead of every tag, so an idle catalog costs them nothing (a walk of
  // all tags is a cache miss per tag, under mu).
  absl::flat_hash_set<TagId> tags_overlapping ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<TagId> tags_merge_due ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<TagId> tags_with_retention ABSL_GUARDED_BY(mu);  // retention_ns > 0
  // Group commit queue; the front writer is the leader.
  std::deque<PendingWrite*> writers ABSL_GUARDED_BY(mu);
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
  // Own entries still in the log, oldest first, and their total size.
  std::deque<OwnLogEntry> own_log ABSL_GUARDED_BY(mu);
  uint64_t own_log_bytes ABSL_GUARDED_BY(mu) = 0;
  uint64_t own_cum_samples ABSL_GUARDED_BY(mu) = 0;
  // Per configured peer: highest own sequence it has applied durably.
  std::map<std::string, uint64_t> peer_acked ABSL_GUARDED_BY(mu);
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

  std::atomic<uint64_t> next_chunk_id{1};
  std::atomic<uint64_t> chunks_sealed{0};
  std::atomic<uint64_t> log_trimmed{0};
  std::atomic<uint64_t> chunks_expired{0};
  std::atomic<uint64_t> chunks_rewritten{0};
  std::atomic<uint64_t> chunks_merged{0};         // small chunks merged into bigger ones
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
  int64_t last_retention_ns ABSL_GUARDED_BY(seal_mu) = 0;
  // Trimmed log entries between compactions of the log's trimmed range.
  static constexpr uint64_t kLogCompactionEntries = 4096;

  // Sealer thread.
  absl::Mutex stop_mu;
  bool stop ABSL_GUARDED_BY(stop_mu) = false;
  std::thread sealer;

  int64_t NowNs() const { return options.now_ns(); }
  // A version for a new write or catalog change: the hybrid clock, above
  // version_floor.
  Version NextVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The version of a local delete: the hybrid clock, and at least every
  // version seen (max_version_seen).
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
  // sets of tags above. Takes catalog_mu.
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
  absl::Status RunDuePurges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
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
  size_t DropOutOfRange(codec::ChunkColumns* cols, TagId tag, const char* where);
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

  // Sealing: `force` seals every non-empty head; then trims the log.
  absl::Status SealPass(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  absl::Status SealTag(TagId id, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu)
      ABSL_LOCKS_EXCLUDED(mu);
  absl::Status TrimLog() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  absl::Status RetentionPass() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  absl::Status OverlapPass() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Rewrites the chunks of `id` that meet [lo, hi] (widened to every chunk
  // they overlap) into non-overlapping ones, and drops the overlap/ key.
  absl::Status RewriteOverlaps(TagId id, int64_t lo, int64_t hi)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Raises the tag's widest chunk span to `span`: in memory now, durably with
  // `batch` (which must be written before readers can meet the wider chunk).
  void WidenSpan(TagId id, int64_t span, rocksdb::WriteBatch* batch) ABSL_LOCKS_EXCLUDED(mu);
  // Merges runs of a tag's adjacent small chunks (seals of 1,024 samples or
  // of --head_max_age) into one chunk of at most --chunk_max_duration and
  // kMergedChunkMaxSamples: fewer keys, headers and index entries per sample,
  // as the merges of an LSM tree. Only chunks that ended over
  // --chunk_max_duration ago, unless `force` (Admin.Compact: every tag, every
  // chunk). Run by the sealer thread (seal_mu).
  absl::Status MergePass(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  absl::Status MergeTagChunks(TagId id, ValueType type, int64_t from, int64_t cutoff,
                              int64_t* next_from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Own entries at or below this sequence may be trimmed (peers' acks and
  // retention limits).
  uint64_t OwnTrimLimit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void SealerLoop();

  // Rewrites the rollups of `tag` (engine::kRollupWidths: hour buckets) for
  // every bucket that meets [min_ts, max_ts], from sealed chunks, and clears
  // the dirty marker.
  absl::Status RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // At open: markers left by a crash.
  absl::Status RecomputeDirtyRollups() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu);
  // Samples of `tag` in [start, end) from chunks only (no head), merged.
  absl::Status ReadSealed(TagId tag, int64_t start, int64_t end, int64_t max_span,
                          codec::ChunkColumns* out) const;

  // An iterator over the chunks of `tag` that may hold samples in
  // [start, end): a chunk overlapping it has its min ts in
  // [start - max_span, end). Seek it to `lower`.
  struct ChunkRange {
    ChunkRange(const Impl& impl, TagId tag, int64_t start, int64_t end, int64_t max_span);
    std::string lower, upper;
    rocksdb::Slice upper_slice;  // the iterator's bound: views `upper`
    std::unique_ptr<rocksdb::Iterator> it;
  };
  // The clipped samples of the chunks meeting [start, end), in key order, and
  // their chunk ids. With max_samples != 0 it may stop once the parts hold at
  // least max_samples distinct timestamps before any later chunk's start.
  absl::Status ReadChunks(TagId tag, int64_t start, int64_t end, int64_t max_span,
                          size_t max_samples, std::vector<codec::ChunkColumns>* parts,
                          std::vector<uint64_t>* chunk_ids) const;
  // Copies the unsealed samples of `tag` in [start, end) (sealing buffer and
  // head, both reset to the tag's type) and the tag's widest chunk span.
  // Takes mu. Errors: NotFound for an unknown tag.
  absl::Status CopyUnsealed(TagId tag, int64_t start, int64_t end, codec::ChunkColumns* sealing,
                            codec::ChunkColumns* head, int64_t* max_span);
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_STORE_IMPL_H_
