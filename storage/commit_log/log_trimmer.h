// File: log_trimmer.h
// LogTrimmer: deletes log entries that neither memory nor peers need.
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_LOG_TRIMMER_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_LOG_TRIMMER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/rocks_db.h"

namespace historian {

// Trimming deletes by range tombstone (cheap to write, hides the entries at
// once), but the entries' bytes stay in the log column family's SST files,
// and in the WAL, until a compaction reaches them; RocksDB's own schedule may
// not for days when the node goes quiet. Reclaim gives that space back: it
// compacts the log's trimmed range only (per origin, [0, trimmed_below)),
// never an entry still needed for a head or a lagging peer. The seal passes
// call MaybeReclaim (batched: only when enough dead bytes sit in files), and
// Store::Compact and Store::Close call Reclaim.
//
// Crash safety: a compaction drops only entries a range tombstone covers, and
// Reclaim syncs the WAL first, so the writes that made a trim valid (the
// sealed chunks, written before the trim) are durable before any trimmed
// byte leaves the disk; a crash mid-reclaim leaves the files of before or
// after the compaction, both complete.
//
// Thread-safety: its cursors are guarded by the store's seal_mu (given at
// construction): one seal or maintenance pass at a time trims and reclaims.
class LogTrimmer {
 public:
  // MaybeReclaim reclaims when the trimmed entries still in SST files reach
  // `bytes`, or `min_bytes` and half of the log's SST bytes (a quiet node
  // does not keep a mostly dead log).
  static constexpr uint64_t kReclaimBytes = 32ull << 20;
  static constexpr uint64_t kReclaimMinBytes = 1ull << 20;
  struct ReclaimThresholds {
    uint64_t bytes;
    uint64_t min_bytes;
  };

  // `db` must outlive this.
  LogTrimmer(absl::Mutex& seal_mu, engine::RocksDb* db, bool sync_writes, ReclaimThresholds reclaim)
      : seal_mu_(seal_mu), db_(db), sync_writes_(sync_writes), reclaim_(reclaim) {}
  LogTrimmer(absl::Mutex& seal_mu, engine::RocksDb* db, bool sync_writes)
      : LogTrimmer(seal_mu, db, sync_writes, {kReclaimBytes, kReclaimMinBytes}) {}

  absl::Mutex& seal_mu() const ABSL_LOCK_RETURNED(seal_mu_) { return seal_mu_; }

  // Deletes, per origin, the entries below `limit` not deleted yet, with
  // the rest of `batch`; writes `batch` when it holds anything (the peers'
  // acks may be in it with nothing to trim). Returns how many entries it
  // deleted.
  absl::StatusOr<uint64_t> Trim(const std::map<std::string, uint64_t>& limit,
                                rocksdb::WriteBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Deletes every log entry of `origin` with the rest of `batch` (an origin
  // forgotten: CommitLog::PrepareForgetOrigin); after `batch` is written,
  // ForgetOrigin lets the next Reclaim compact the whole range, then drops
  // the origin from memory.
  void PrepareForgetOrigin(const std::string& origin, rocksdb::WriteBatch* batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  void ForgetOrigin(const std::string& origin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Bytes of trimmed entries still in the log's SST files (RocksDB's
  // estimate from the files' indexes; memtables not counted: a flush drops
  // what a tombstone in the same memtable covers).
  absl::StatusOr<uint64_t> DeadFileBytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Reclaims when DeadFileBytes passes the thresholds above (seal passes).
  absl::Status MaybeReclaim() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Syncs the WAL, then compacts each origin's trimmed range of the log
  // (flushing the log's memtable, which holds the newest tombstones).
  absl::Status Reclaim() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Log entries deleted since open (StoreStats::log_entries_trimmed), each
  // counted once: after a restart the first trim of an origin starts at its
  // first live entry; any thread.
  uint64_t trimmed() const { return trimmed_total_.load(); }
  // Reclaims run since open; any thread.
  uint64_t reclaims() const { return reclaims_.load(); }

 private:
  // The sequence of the first log entry of `origin` below `below` (`below`
  // when there is none): every entry under it is trimmed already.
  absl::StatusOr<uint64_t> FirstLive(const std::string& origin, uint64_t below) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

  absl::Mutex& seal_mu_;
  engine::RocksDb* const db_;
  const bool sync_writes_;
  const ReclaimThresholds reclaim_;
  // Per origin: every log entry below this sequence has been deleted
  // (kForgotten: every entry; dropped from both maps by the next Reclaim).
  static constexpr uint64_t kForgotten = UINT64_MAX;
  std::map<std::string, uint64_t> trimmed_below_ ABSL_GUARDED_BY(seal_mu_);
  // Per origin: trimmed_below_ at the last Reclaim (nothing new: no reclaim).
  std::map<std::string, uint64_t> reclaimed_below_ ABSL_GUARDED_BY(seal_mu_);
  std::atomic<uint64_t> trimmed_total_{0};
  std::atomic<uint64_t> reclaims_{0};
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_LOG_TRIMMER_H_
