// File: chunk_store.h
// ChunkStore: the sealed samples of every tag, as chunks in the chunks CF
// (key: tag, min ts, chunk id; value: one encoded chunk, storage/codec).
// It cuts sorted samples into chunks and writes them (WriteChunks, the one
// writer used by sealing, the overlap rewrite and the merge pass), reads
// the chunks meeting a time range (ChunkRange, ReadChunks, ReadSealed),
// hands out chunk ids and keeps each tag's widest chunk span (span/ keys):
// a read of [start, end) seeks from start - max_span.
//
// Thread-safety: the ChunkState of each tag (a part of the store's
// TagState) is guarded by the store-wide mutex given to the constructor
// (mu()); methods that touch one say so. Writes and reads of RocksDB need
// no lock of ours: callers order them (sealing and maintenance hold the
// store's seal_mu). Chunk ids and the counters are atomics.
#ifndef HISTORIAN_STORAGE_CHUNKS_CHUNK_STORE_H_
#define HISTORIAN_STORAGE_CHUNKS_CHUNK_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/core/types.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/logger.h"
#include "storage/engine/rocks_db.h"

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
// Calls note(tag, min_ts, max_ts) for every state key `prefix`<tag> holding
// a time range ("rollup_dirty/", "overlap/"). DataLoss naming the key when
// one cannot be read: a marker skipped would let queries trust stale rollups
// or leave overlapping chunks unrewritten.
absl::Status ForEachTimeRange(const engine::RocksDb& db, const std::string& prefix,
                              absl::FunctionRef<void(TagId, int64_t, int64_t)> note);

// The chunk side of one tag, a part of the store's per-tag record. Guarded
// by the store-wide mutex (ChunkStore::mu()).
struct ChunkState {
  int64_t max_span = 0;  // longest (max ts - min ts) of any chunk of the tag
  // Sealed samples whose rollups are not rewritten yet: queries must not use
  // rollups from here on (kMaxTimestamp when none).
  int64_t rollup_dirty_min = kMaxTimestamp;
  // Time range where chunks overlap (late data sealed over older chunks);
  // empty when overlap_min > overlap_max. Rewritten by the overlap pass.
  int64_t overlap_min = kMaxTimestamp;
  int64_t overlap_max = kMinTimestamp;
  // Chunks sealed at or after this may be merged with their neighbours
  // (the merge pass); kMaxTimestamp when none wait.
  int64_t merge_from = kMaxTimestamp;

  // Widens the overlap range to take [min_ts, max_ts].
  void NoteOverlap(int64_t min_ts, int64_t max_ts) {
    if (min_ts < overlap_min) overlap_min = min_ts;
    if (max_ts > overlap_max) overlap_max = max_ts;
  }
};

// Where WriteChunks cuts: a chunk holds at most max_samples samples, and
// its last sample is less than max_duration_ns after its first.
struct ChunkLimits {
  size_t max_samples = 1024;
  int64_t max_duration_ns = 0;
};

// Since open; exported in StoreStats.
struct ChunkCounters {
  std::atomic<uint64_t> sealed{0};
  std::atomic<uint64_t> expired{0};
  std::atomic<uint64_t> rewritten{0};
  std::atomic<uint64_t> merged{0};  // small chunks merged into bigger ones
  // Chunks a maintenance pass (retention, overlap rewrite, merge, purge)
  // could not decode and left in place for an operator; each one logged.
  std::atomic<uint64_t> corrupt_skipped{0};
};

// The clipped samples of `parts` (chunk parts in key order, with their chunk
// ids) and of the memory parts after them (null: none) into *out, merged by
// the version rule (engine::Normalize) only when they overlap.
void MergeParts(std::vector<codec::ChunkColumns>* parts, const std::vector<uint64_t>& chunk_ids,
                const codec::ChunkColumns* sealing, const codec::ChunkColumns* head,
                codec::ChunkColumns* out);

// An iterator over the chunks of `tag` that may hold samples in
// [start, end): a chunk overlapping it has its min ts in
// [start - max_span, end). Seek it to `lower`.
struct ChunkRange {
  ChunkRange(const engine::RocksDb& db, TagId tag, int64_t start, int64_t end, int64_t max_span);
  std::string lower, upper;
  rocksdb::Slice upper_slice;  // the iterator's bound: views `upper`
  std::unique_ptr<rocksdb::Iterator> it;
};

class ChunkStore {
 public:
  // `db` outlives this; `mu` is the store-wide mutex guarding ChunkState.
  ChunkStore(engine::RocksDb* db, absl::Mutex& mu, ChunkLimits limits, StoreLogger log);
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  const ChunkLimits& limits() const { return limits_; }
  ChunkCounters& counters() { return counters_; }
  const ChunkCounters& counters() const { return counters_; }

  // --- Writing ---

  // Tests only (StoreOptions::chunk_write_fault): asked at the start of every
  // WriteChunks; a non-OK status fails that write as a failed RocksDB write
  // would (a seal puts its samples back into the head). Set before any pass
  // runs; not changed after.
  void set_write_fault(std::function<absl::Status(TagId)> fault) {
    write_fault_ = std::move(fault);
  }

  // The next chunk id (node/next_chunk_id at open).
  void set_next_chunk_id(uint64_t id) { next_chunk_id_.store(id); }
  uint64_t next_chunk_id() const { return next_chunk_id_.load(); }

  // Cuts `samples` (strictly increasing timestamps) into chunks of at most
  // `limits`, encodes each and puts it into `batch` under a new chunk id,
  // and the next chunk id after them (node/next_chunk_id). *span: the
  // widest chunk's max ts - min ts (0 when none). Puts nothing for empty
  // samples. Errors: an encoding error (the batch must then be dropped).
  absl::Status WriteChunks(TagId tag, const codec::ChunkColumns& samples, const ChunkLimits& limits,
                           rocksdb::WriteBatch* batch, int64_t* span);
  absl::Status WriteChunks(TagId tag, const codec::ChunkColumns& samples,
                           rocksdb::WriteBatch* batch, int64_t* span) {
    return WriteChunks(tag, samples, limits_, batch, span);
  }

  // Raises the tag's widest chunk span to `span`: in *state now, durably
  // with `batch` (which must be written before readers can meet the wider
  // chunk). The key is in `batch` also when *state already holds the span.
  void WidenSpan(TagId tag, ChunkState* state, int64_t span, rocksdb::WriteBatch* batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The span/ key of `tag` into `batch` for a widest span grown from
  // old_span to span (no change in memory): a Put when SpanNeedsKey(span),
  // else a Delete of any key a narrower old_span left (key_format.h).
  void PutSpan(TagId tag, int64_t old_span, int64_t span, rocksdb::WriteBatch* batch) const;

  // Counts and logs a chunk a maintenance pass (`where`) skips because it
  // cannot be decoded; it stays for an operator (reads report it).
  void SkipCorrupt(TagId tag, std::string_view chunk_key, const absl::Status& why,
                   const char* where);

  // --- Open ---

  // The widest chunk span of `tag` from its span/ key: engine::kImplicitSpan
  // when absent (schema 3; an upper bound in older dirs too).
  // Errors: the read's, DataLoss for a value that is not 8 bytes.
  absl::StatusOr<int64_t> LoadSpan(TagId tag) const;
  // Calls note(tag, min_ts, max_ts) for every overlap/ key (kept by seals
  // before a restart).
  absl::Status LoadOverlaps(absl::FunctionRef<void(TagId, int64_t, int64_t)> note) const;
  // Once per data dir (node/spans_checked): widens each tag's span to its
  // widest chunk. find(tag) is called with mu held (null: no such tag).
  absl::Status CheckSpans(absl::FunctionRef<ChunkState*(TagId)> find);

  // --- Reading ---

  // The clipped samples of the chunks of `tag` meeting [start, end), in key
  // order, and their chunk ids. With max_samples != 0 it may stop once the
  // parts hold at least max_samples distinct timestamps before any later
  // chunk's start. Errors: DataLoss naming a chunk that does not decode.
  absl::Status ReadChunks(TagId tag, int64_t start, int64_t end, int64_t max_span,
                          size_t max_samples, std::vector<codec::ChunkColumns>* parts,
                          std::vector<uint64_t>* chunk_ids) const;
  // Samples of `tag` in [start, end) from chunks only (no head), merged.
  absl::Status ReadSealed(TagId tag, int64_t start, int64_t end, int64_t max_span,
                          codec::ChunkColumns* out) const;

 private:
  engine::RocksDb* const db_;
  absl::Mutex& mu_;
  const ChunkLimits limits_;
  const StoreLogger log_;
  std::atomic<uint64_t> next_chunk_id_{1};
  ChunkCounters counters_;
  // Tests only (StoreOptions::chunk_write_fault); empty in production.
  std::function<absl::Status(TagId)> write_fault_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_CHUNKS_CHUNK_STORE_H_
