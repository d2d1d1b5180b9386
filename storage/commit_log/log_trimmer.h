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

// Thread-safety: its cursors are guarded by the store's seal_mu (given at
// construction): one seal or maintenance pass at a time trims.
class LogTrimmer {
 public:
  // Trimmed log entries between compactions of the log's trimmed range.
  static constexpr uint64_t kLogCompactionEntries = 4096;

  // `db` must outlive this.
  LogTrimmer(absl::Mutex& seal_mu, engine::RocksDb* db, bool sync_writes)
      : seal_mu_(seal_mu), db_(db), sync_writes_(sync_writes) {}

  absl::Mutex& seal_mu() const ABSL_LOCK_RETURNED(seal_mu_) { return seal_mu_; }

  // Deletes, per origin, the entries below `limit` not deleted yet, with
  // the rest of `batch`; writes `batch` when it holds anything (the peers'
  // acks may be in it with nothing to trim). Returns how many entries it
  // deleted.
  absl::StatusOr<uint64_t> Trim(const std::map<std::string, uint64_t>& limit,
                                rocksdb::WriteBatch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // After Trim deleted `trimmed` entries: range tombstones hide trimmed
  // entries but their bytes stay in SST files until a compaction reaches
  // them; compacts the trimmed part of the log every kLogCompactionEntries
  // so the log never costs disk for long.
  absl::Status MaybeCompact(uint64_t trimmed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Log entries deleted since open (StoreStats::log_entries_trimmed); any
  // thread.
  uint64_t trimmed() const { return trimmed_total_.load(); }

 private:
  absl::Mutex& seal_mu_;
  engine::RocksDb* const db_;
  const bool sync_writes_;
  // Per origin: every log entry below this sequence has been deleted.
  std::map<std::string, uint64_t> trimmed_below_ ABSL_GUARDED_BY(seal_mu_);
  uint64_t trimmed_since_compaction_ ABSL_GUARDED_BY(seal_mu_) = 0;
  std::atomic<uint64_t> trimmed_total_{0};
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_LOG_TRIMMER_H_
