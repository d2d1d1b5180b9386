// File: write_gate.h
// WriteGate: keeps the node from filling its disk, and reacts when storage
// refuses writes anyway. Reads are never gated.
//
// 1. Watermark: before each write it checks the free space of the data
//    dir's filesystem (statvfs); below `min_free_bytes`
//    (--min_free_disk_bytes) the write is refused with UNAVAILABLE and a
//    clear message, before RocksDB sees it. Writes are accepted again as
//    soon as space is freed. The reserve leaves room for RocksDB flushes,
//    compactions and the sealer, so RocksDB itself never hits ENOSPC in
//    normal operation (Debian's librocksdb is built with assertions, and
//    some ENOSPC paths abort the process instead of returning an error).
// 2. Errors: after a write the Store refused (I/O error, RocksDB background
//    error) it marks storage as failing and, before later writes (at most
//    every `resume_interval`), asks the Store to resume
//    (Store::ResumeAfterError, i.e. rocksdb::DB::Resume).
//
// Nothing is acknowledged that was not stored: the Store reports failure
// before anything is applied.
//
// Thread-safety: safe for concurrent use.
#ifndef HISTORIAN_SERVER_WRITE_GATE_H_
#define HISTORIAN_SERVER_WRITE_GATE_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace historian::server {

class WriteGate {
 public:
  // `store` must outlive the gate. `data_dir` is the Store's directory;
  // `min_free_bytes` 0 disables the watermark.
  WriteGate(Store* store, std::string data_dir, uint64_t min_free_bytes,
            absl::Duration resume_interval = absl::Milliseconds(500))
      : store_(store),
        data_dir_(std::move(data_dir)),
        min_free_bytes_(min_free_bytes),
        resume_interval_(resume_interval) {}

  // Before a write: when storage failed earlier, tries to resume it (rate
  // limited). Returns OK when the write may go ahead, Unavailable (clear
  // message) when storage still refuses.
  absl::Status BeforeWrite();
  // After a write: records an Unavailable failure and rewrites its message;
  // returns the status to give the caller.
  absl::Status AfterWrite(absl::Status status);

  // False while writes are refused (low disk space or a storage error).
  bool writes_accepted() const;
  std::string last_error() const;
  uint64_t failures() const;

 private:
  // Unavailable when the data dir's filesystem has less than
  // min_free_bytes_ free.
  absl::Status CheckFreeSpace() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  const std::string data_dir_;
  const uint64_t min_free_bytes_;
  const absl::Duration resume_interval_;
  mutable absl::Mutex mu_;
  uint64_t free_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool low_space_ ABSL_GUARDED_BY(mu_) = false;
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_resume_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_WRITE_GATE_H_
