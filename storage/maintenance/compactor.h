// File: compactor.h
// Compactor: the chunk maintenance passes the sealer thread runs (and the
// Admin calls): retention (whole expired chunks dropped, never single
// samples), the overlap rewrite (chunks that overlap, from late data, into
// one run of non-overlapping chunks) and the merge of small adjacent chunks;
// and the sets of tags each pass visits, so an idle catalog costs the
// passes nothing.
//
// Thread-safety: the tag sets are guarded by the store-wide mutex mu()
// (tag creation and deletion change them under it); a pass runs with the
// store's seal_mu held (seal_mu()), which also guards last_retention_ns_,
// and takes mu only for short looks at the catalog. Lock order: seal_mu
// before mu.
#ifndef HISTORIAN_STORAGE_MAINTENANCE_COMPACTOR_H_
#define HISTORIAN_STORAGE_MAINTENANCE_COMPACTOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/core/types.h"
#include "storage/chunks/chunk_store.h"
#include "storage/engine/rocks_db.h"
#include "storage/maintenance/maintenance_host.h"
#include "storage/rollups/rollups.h"

namespace historian {

// Most samples of a merged chunk: an hour at 4 Hz. A read of a short range
// decodes at most this many samples (about 80 us).
inline constexpr uint32_t kMergedChunkMaxSamples = 16384;

// How far the merge pass grows a chunk (docs/storage.md, "Chunk sizes").
struct MergeLimits {
  // A merged chunk spanning an hour or more averages at most this many
  // samples an hour (--chunk_max_samples): a tag with more is fast and keeps
  // chunks of under an hour.
  size_t dense_samples_per_hour = 1024;
  // A merged chunk spanning an hour or more holds at most this many samples
  // (--chunk_slow_max_samples): a slow tag's chunks fill up by count.
  size_t sparse_max_samples = 4096;
  // No merged chunk spans this much time or more (--chunk_max_duration).
  int64_t max_span_ns = int64_t{30} * 24 * 3600 * 1000000000;
};

class Compactor {
 public:
  // `mu` is the store-wide mutex, `seal_mu` the store's pass mutex; every
  // pointer outlives this. now_ns: the store's clock.
  Compactor(absl::Mutex& mu, absl::Mutex& seal_mu, engine::RocksDb* db, ChunkStore* chunks,
            Rollups* rollups, MaintenanceHost* host, std::function<int64_t()> now_ns,
            MergeLimits merge_limits = MergeLimits());
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  absl::Mutex& seal_mu() const ABSL_LOCK_RETURNED(seal_mu_) { return seal_mu_; }

  // --- The tag sets (catalog changes, seals) ---

  // Whether `id` has a retention (the retention pass visits only these).
  void SetRetention(TagId id, bool has_retention) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A deleted (or dropped) tag leaves every set, and its open rollup hour goes.
  void ForgetTag(TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `id` (its chunk state `chunk`) has overlapping chunks in
  // [min_ts, max_ts], for the overlap pass.
  void NoteOverlap(TagId id, ChunkState* chunk, int64_t min_ts, int64_t max_ts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A chunk of `id` starting at `min_ts` was sealed: the merge pass looks
  // from there.
  void NoteSealed(TagId id, ChunkState* chunk, int64_t min_ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Passes ---

  absl::Status RetentionPass() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  absl::Status OverlapPass() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Merges runs of a tag's adjacent small chunks (seals of 1,024 samples or
  // of --head_max_age) into bigger ones: fewer keys, headers and index
  // entries per sample, as the merges of an LSM tree. A merged chunk holds
  // at most kMergedChunkMaxSamples samples and kMergedChunkMaxBytes bytes
  // and spans less than MergeLimits::max_span_ns (and a quarter of the
  // tag's retention, when it has one); past an hour it holds at most
  // MergeLimits::sparse_max_samples and averages at most
  // MergeLimits::dense_samples_per_hour an hour: fast tags keep hour chunks,
  // slow tags get chunks of up to 4,096 samples however long they span
  // (up to the span bound). Only chunks
  // that ended over an hour ago, and only runs whose smaller chunks hold at
  // least half the samples of their biggest (tiered: a growing chunk is
  // rewritten a logarithmic number of times), unless `force`
  // (Admin.Compact: every tag, every chunk, every run).
  absl::Status MergePass(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // True once a minute (and then marks the time): retention and merges are
  // due.
  bool MinutePassesDue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

 private:
  // Rewrites the chunks of `id` that meet [lo, hi] (widened to every chunk
  // they overlap) into non-overlapping ones, and drops the overlap/ key.
  absl::Status RewriteOverlaps(TagId id, int64_t lo, int64_t hi)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // One chunk merged from chunks of `id` (its value type and key, id,
  // summary and bytes).
  struct MergeChunk {
    std::string key;
    uint64_t chunk_id;
    codec::ChunkSummary summary;
    std::string bytes;
  };
  // Merges the run of `id` since `from` (see MergePass); `span_bound` is
  // the tag's longest merged span. *next_from: the earliest chunk left for
  // a later pass (kMaxTimestamp: none).
  absl::Status MergeTagChunks(TagId id, ValueType type, int64_t from, int64_t cutoff,
                              int64_t span_bound, bool force, int64_t* next_from)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Where a merge of the chunks of `id` sealed from `from` on starts: back
  // over the chunks before it that a run ending at `from` could hold.
  absl::StatusOr<int64_t> MergeStart(TagId id, int64_t from, int64_t span_bound) const;
  // Writes run[begin, end) (two or more chunks) as one chunk, in one batch.
  absl::Status MergeRun(TagId id, ValueType type, std::vector<MergeChunk>& run, size_t begin,
                        size_t end, int64_t span_bound) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Merges the run (the tiered rule unless `force`, see MergePass).
  absl::Status FlushRun(TagId id, ValueType type, std::vector<MergeChunk>& run, size_t begin,
                        size_t end, int64_t span_bound, bool force)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // ChunkStore::WidenSpan for `id`, taking mu.
  void WidenSpan(TagId id, int64_t span, rocksdb::WriteBatch* batch) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex& mu_;
  absl::Mutex& seal_mu_;
  engine::RocksDb* const db_;
  ChunkStore* const chunks_;
  Rollups* const rollups_;
  MaintenanceHost* const host_;
  const std::function<int64_t()> now_ns_;
  const MergeLimits merge_limits_;
  // Tags with overlapping chunks to rewrite, with chunks to merge, and with
  // a retention.
  absl::flat_hash_set<TagId> tags_overlapping_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<TagId> tags_merge_due_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<TagId> tags_with_retention_ ABSL_GUARDED_BY(mu_);
  int64_t last_retention_ns_ ABSL_GUARDED_BY(seal_mu_) = 0;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_MAINTENANCE_COMPACTOR_H_
