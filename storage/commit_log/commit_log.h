// File: commit_log.h
// CommitLog: the log side of the store. Every change (samples, catalog
// changes, tombstones, entries of other sites) is a log entry; writers queue
// up and the front writer (the leader) writes the queue as one RocksDB
// WriteBatch with one fsync (group commit, as in LevelDB's DBImpl::Write).
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_COMMIT_LOG_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_COMMIT_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/write_batch.h"
#include "storage/commit_log/dedupe_window.h"
#include "storage/commit_log/hybrid_clock.h"
#include "storage/commit_log/pending_write.h"
#include "storage/engine/rocks_db.h"

namespace historian {

// The steps of a group commit that belong to the rest of the store (the
// catalog, tombstones, heads, the own-log index). Called with the store's mu
// held (the CommitLog's mu()).
class GroupApplier {
 public:
  virtual ~GroupApplier() = default;
  // Before the group's batch is written, for an entry with catalog changes
  // or deletes: adds them to `batch`, dropping from w->entry those that
  // change nothing.
  virtual void PrepareGroupEntry(PendingWrite* w, rocksdb::WriteBatch* batch) = 0;
  // After the group is durable, in build order: applies `w` to memory.
  // `now_s`: the wall clock (seconds) when the group's apply started.
  virtual void ApplyGroupEntry(const PendingWrite& w, int64_t now_s) = 0;
};

struct CommitLogOptions {
  std::string site;
  uint8_t site_tag = 0;  // engine/version.h
  bool sync_writes = true;
  uint64_t client_dedupe_window = 0;
  std::function<int64_t()> now_ns;
};

// Thread-safety: everything but the write stage is guarded by the store's
// mu (given at construction: mu()); the write stage's cursors by write_mu,
// owned here. Lock order: mu before write_mu.
//
// The commit is pipelined in three stages: one leader at a time builds a
// group's batch (under mu); groups write in build order (under write_mu,
// not mu); groups apply to memory in build order (under mu). So one group's
// write overlaps the previous group's apply, and a writer is told "done"
// only after its group is applied, so an acked sample is readable. See
// bench/README.md for why the next leader does not wait for the write.
class CommitLog {
 public:
  // `db` and `applier` must outlive this.
  CommitLog(absl::Mutex& mu, engine::RocksDb* db, CommitLogOptions options, GroupApplier* applier);
  CommitLog(const CommitLog&) = delete;
  CommitLog& operator=(const CommitLog&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // At open: the next own sequence, the cursors of other origins and the
  // sequences skipped by restores, from the state CF.
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  // At open, for each log entry replayed (after the caller applied it).
  void NoteReplayed(const std::string& origin, uint64_t seq, Version version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Skips `gap` own sequences from the next one on, durably (a restored
  // backup: see Store's kRestoreSequenceGap). Sets [*from, *to).
  absl::Status SkipSequences(uint64_t gap, uint64_t* from, uint64_t* to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- The hybrid clock ---
  // A version for a new write or catalog change, above `floor`.
  Version NextVersion(Version floor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return clock_.Next(options_.now_ns(), floor);
  }
  // The clock now (a local delete's version is at least this).
  Version ClockVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return clock_.Tick(options_.now_ns());
  }
  // Moves the clock to at least `v`'s second (a previous owner's fence).
  void ObserveVersion(Version v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { clock_.Observe(v); }

  // --- The group commit ---
  // Starts a client batch (w->deduped()) in the dedupe window: the accepted
  // count of a retry, or nullopt for a new batch (end it with EndBatch).
  absl::StatusOr<std::optional<uint64_t>> BeginBatch(const PendingWrite& w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return dedupe_.Begin(w.client_id, w.batch_seq, w.dedupe_digest);
  }
  void EndBatch(const PendingWrite& w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (w.deduped()) dedupe_.End(w.client_id, w.batch_seq, w.dedupe_digest);
  }
  // Queues `w` without waiting (w->ready false while the writer encodes).
  void Queue(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { writers_.push_back(w); }
  // Queues `w` and returns once it is durable and applied (or failed).
  void Submit(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writers_.push_back(w);
    AwaitWrite(w);
  }
  // Waits until `w` is done; leads groups from the queue front meanwhile
  // whenever no other writer is leading.
  void AwaitWrite(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes every queued write (leading where needed) until the queue is
  // empty and every group is applied.
  void DrainWriters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The store is closed (Store::Close, after DrainWriters): submitters see
  // it and refuse. `closed_flag()` is for waits on mu (OwnLog::WaitForEntry).
  void MarkClosed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { closed_ = true; }
  bool closed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_; }
  const bool* closed_flag() const { return &closed_; }
  // The applier of a log made without one (the store makes its applier
  // after the log); once, before the first write.
  void set_applier(GroupApplier* applier) { applier_ = applier; }

  // --- Sequences ---
  // The next own sequence to apply (one above the newest own entry applied).
  uint64_t next_seq() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return next_seq_; }
  // The newest own sequence durable (entries ship before they apply).
  uint64_t OwnHeadSequence() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Own sequences skipped by restores: start -> end (exclusive).
  const std::map<uint64_t, uint64_t>& seq_holes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return seq_holes_;
  }
  // Highest sequence per origin applied to memory (in order).
  const std::map<std::string, uint64_t>& applied_seqs() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return applied_seq_;
  }
  uint64_t AppliedSequence(const std::string& origin) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = applied_seq_.find(origin);
    return it == applied_seq_.end() ? 0 : it->second;
  }
  // Moves the cursor of `origin` to `seq` (durably) when it is behind.
  absl::Status AdvanceCursor(const std::string& origin, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The origin's name, interned (never erased) for OriginSeqRange.
  const std::string* InternOrigin(const std::string& origin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return &*origins_.insert(origin).first;
  }
  // Forgets `origin` (the move origins of a dropped shard, which nothing
  // will apply under again): adds the removal of its cursor to `batch`;
  // after `batch` is written, ForgetOrigin drops it from memory.
  // FailedPrecondition while a write of the origin is queued or in flight
  // (a tail still running: the caller's bug, loud).
  absl::Status PrepareForgetOrigin(const std::string& origin, rocksdb::WriteBatch* batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetOrigin(const std::string& origin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Per origin, the log entries that memory no longer needs are those
  // below: applied + 1 (own: next_seq). The caller lowers them for entries
  // still in heads, and for peers.
  void TrimLimits(std::map<std::string, uint64_t>* limit) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 private:
  // The pipeline's state under mu.
  struct Pipeline {
    bool leading = false;         // a leader is building a group
    uint64_t build_ticket = 0;    // groups built
    uint64_t applied_ticket = 0;  // groups applied (or failed)
    size_t groups_in_flight = 0;  // taken from the queue, not done
    // Numbers taken by built groups that may not be applied yet (next_seq
    // and applied_seq move at apply): the next group continues after them.
    uint64_t reserved_seq = 0;
    std::map<std::string, uint64_t> reserved_cursor;
  };
  // The write stage's state under write_mu: the numbers of the groups
  // written successfully. A failed write resets the reserved numbers to
  // these and bumps failure_epoch, which fails the groups built on the
  // failed group's numbers before they write.
  struct WriteStage {
    uint64_t written_ticket = 0;  // groups written (or failed)
    uint64_t durable_seq = 0;
    std::map<std::string, uint64_t> durable_cursor;
    uint64_t failure_epoch = 0;
  };

  // A leader may build a group now, without waiting for the previous
  // group's write (bench/README.md: waiting gained nothing).
  bool CanLead() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !pipe_.leading && !writers_.empty() && writers_.front()->ready;
  }
  template <typename Finished>
  void LeadUntil(Finished finished) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LeadGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex& mu_;
  engine::RocksDb* const db_;
  const CommitLogOptions options_;
  GroupApplier* applier_;  // set at construction or by set_applier
  HybridClock clock_ ABSL_GUARDED_BY(mu_);
  DedupeWindow dedupe_ ABSL_GUARDED_BY(mu_);
  // Group commit queue; the front writer is the leader.
  std::deque<PendingWrite*> writers_ ABSL_GUARDED_BY(mu_);
  Pipeline pipe_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Own sequences skipped when a backup was restored: start -> end
  // (exclusive). Peers may hold entries of these numbers from before the
  // restore; new writes never reuse them.
  std::map<uint64_t, uint64_t> seq_holes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> applied_seq_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> origins_ ABSL_GUARDED_BY(mu_);
  // Lock order: mu before write_mu.
  mutable absl::Mutex write_mu_ ABSL_ACQUIRED_AFTER(mu_);
  WriteStage written_ ABSL_GUARDED_BY(write_mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_COMMIT_LOG_H_
