// File: sealer.h
// Sealer: the seal pass and the sealer thread. A seal takes a tag's whole
// head (MaintenanceHost::BeginSeal), cuts it into chunks
// (ChunkStore::WriteChunks) and writes them together with the tag's log
// cursors (sealed/<tag><origin>), its span, the rollup dirty marker and,
// for late data, the overlap/ key in one WriteBatch; then rewrites the
// rollups. The log entries are trimmed after the pass (host TrimLog), once
// no head holds a sample of theirs. The thread runs, every seal_interval, a
// seal pass, the overlap rewrite and, every minute, retention, merges
// (Compactor) and the retry of failed rollup rewrites. While the heads stay
// over --max_head_bytes after a pass that sealed something, the next pass
// runs at once (the writers waiting for room never poll; the seal that
// brings the heads back within the bound wakes them).
//
// Thread-safety: a pass runs with the store's seal_mu held (seal_mu()); it
// takes the store-wide mu() for short looks at the tag. stop_ is guarded
// by stop_mu_, and so is wake_. Lock order: seal_mu before mu before
// stop_mu_.
#ifndef HISTORIAN_STORAGE_MAINTENANCE_SEALER_H_
#define HISTORIAN_STORAGE_MAINTENANCE_SEALER_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/chunks/chunk_store.h"
#include "storage/engine/logger.h"
#include "storage/engine/rocks_db.h"
#include "storage/maintenance/compactor.h"
#include "storage/maintenance/maintenance_host.h"
#include "storage/rollups/rollups.h"

namespace historian {

class Sealer {
 public:
  struct Options {
    absl::Duration seal_interval = absl::Seconds(1);
    std::function<int64_t()> now_ns;
    StoreLogger logger;
    // Called (without locks) with the error of each failed pass of the
    // sealer thread; the store refuses writes held back by --max_head_bytes
    // with it. Empty: only logged.
    std::function<void(const absl::Status&)> on_pass_failed;
  };
  // `mu` is the store-wide mutex, `seal_mu` the store's pass mutex; every
  // pointer outlives this.
  Sealer(absl::Mutex& mu, absl::Mutex& seal_mu, engine::RocksDb* db, ChunkStore* chunks,
         Rollups* rollups, Compactor* compactor, MaintenanceHost* host, Options options);
  // Stops the thread.
  ~Sealer();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  absl::Mutex& seal_mu() const ABSL_LOCK_RETURNED(seal_mu_) { return seal_mu_; }

  // Starts the sealer thread (once).
  void Start();
  // Stops the sealer thread and waits for it; a pass under way ends first.
  void Stop() ABSL_LOCKS_EXCLUDED(stop_mu_);
  // Runs the next pass now instead of at the next tick (a head is full, or
  // the heads are over their memory budget). Cheap; callers may hold mu.
  void Wake() ABSL_LOCKS_EXCLUDED(stop_mu_);

  // Seals the due heads (every non-empty head with `force`), then trims the
  // log; with `force` (SealAll, Compact, Close) also retries the rollup
  // rewrites that failed (MaintenanceHost::RetryDirtyRollups; its failure
  // is logged, not returned: the seals are written). Errors: the first
  // seal's, else the trim's. *sealed (may be null): the heads it sealed.
  absl::Status SealPass(bool force, size_t* sealed = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

 private:
  // *sealed: whether the tag had a head to seal.
  absl::Status SealTag(TagId id, int64_t now, bool* sealed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_)
      ABSL_LOCKS_EXCLUDED(mu_);
  // RetryDirtyRollups, its failure logged.
  void RetryDirtyRollups() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  void Loop();
  bool StopOrWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(stop_mu_) { return stop_ || wake_; }

  absl::Mutex& mu_;
  absl::Mutex& seal_mu_;
  engine::RocksDb* const db_;
  ChunkStore* const chunks_;
  Rollups* const rollups_;
  Compactor* const compactor_;
  MaintenanceHost* const host_;
  const Options options_;
  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  bool wake_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_MAINTENANCE_SEALER_H_
