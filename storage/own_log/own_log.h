// File: own_log.h
// OwnLog: what replication needs of this site's own log entries: the index
// of those still in the log (for shipping, lag and retention), the peers'
// acknowledgements that hold the log back from trimming, reads of the log
// for a peer, waits for new entries, and restore epochs.
#ifndef HISTORIAN_STORAGE_OWN_LOG_OWN_LOG_H_
#define HISTORIAN_STORAGE_OWN_LOG_OWN_LOG_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/write_batch.h"
#include "storage/commit_log/commit_log.h"
#include "storage/engine/logger.h"
#include "storage/engine/rocks_db.h"
#include "storage/own_log/own_log_batch.h"
#include "storage/own_log/restore_epoch.h"

namespace historian {

// An own log entry still in the log, for shipping, lag and retention.
struct OwnLogEntry {
  uint64_t seq;
  int64_t time_s;
  uint64_t bytes;
  uint64_t samples;
  uint64_t cum_samples;  // samples in own entries up to and including this one
};

struct OwnLogOptions {
  std::string path;  // the data dir (for the restore marker)
  std::string site;
  std::vector<std::string> peers;
  uint64_t log_retention_bytes = 0;
  absl::Duration log_retention_age;
  std::function<int64_t()> now_ns;
  StoreLogger logger = LogToStderr;  // StoreOptions::logger
};

// Thread-safety: guarded by the store's mu (given at construction: mu()),
// the same mutex as the CommitLog's.
class OwnLog {
 public:
  // `db` and `log` must outlive this.
  OwnLog(absl::Mutex& mu, engine::RocksDb* db, OwnLogOptions options, CommitLog* log);
  OwnLog(const OwnLog&) = delete;
  OwnLog& operator=(const OwnLog&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // At open: what each peer has applied of ours (peer_acked/ keys).
  absl::Status LoadPeerAcks() ABSL_LOCKS_EXCLUDED(mu_);
  // At the first open of a restored backup (kRestoreMarkerFile present):
  // skips kRestoreSequenceGap own sequences, which the original node may
  // have used after the backup, and removes the marker.
  absl::Status StartRestoreEpoch() ABSL_LOCKS_EXCLUDED(mu_);

  // An own entry applied (or replayed), in sequence order.
  void Append(uint64_t seq, int64_t time_s, uint64_t bytes, uint64_t samples)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    cum_samples_ += samples;
    entries_.push_back({seq, time_s, bytes, samples, cum_samples_});
    bytes_ += bytes;
  }
  size_t entries() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entries_.size(); }
  uint64_t bytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return bytes_; }

  // Own entries with sequence >= from_seq, up to about max_bytes.
  absl::Status Read(uint64_t from_seq, size_t max_bytes, OwnLogBatch* out) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until an own entry with sequence > seq is applied or *closed (the
  // store's flag, guarded by mu()), at most `timeout`. True when it is.
  bool WaitForEntry(uint64_t seq, absl::Duration timeout, const bool* closed) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Records that `site` (a configured peer; others are ignored) has
  // applied own entries up to `seq`. In memory only (this is on the
  // replication path): the next Trim puts the changed acks into its batch.
  void SetPeerAcked(const std::string& site, uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t PeerAcked(const std::string& site) const ABSL_LOCKS_EXCLUDED(mu_);
  // The same per member of a configured peer site that is a cluster (the
  // replication service keeps the site's ack at the lowest of them), saved
  // with the site acks, so a restart still knows the slowest member. Only
  // rises.
  void SetMemberAcked(const std::string& site, const std::string& member, uint64_t seq)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Member id -> ack, of `site`'s members (empty: none known).
  std::map<std::string, uint64_t> MemberAcks(const std::string& site) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the acks of `site`'s members in `forget` (every batch Trim
  // builds deletes their keys until one is saved: AcksSaved); returns the
  // members forgotten (those of `forget` that had an ack) and, in *lowest,
  // the lowest ack of those left (UINT64_MAX: none left).
  std::vector<std::string> ForgetMemberAcks(const std::string& site,
                                            const std::set<std::string>& forget, uint64_t* lowest)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Move acks (docs/cluster.md, "The move ack"): while this node is the
  // source of a move of shard `shard`, its target tails this log from
  // `position`, so own entries with sequence >= position are kept, as a
  // peer's ack keeps them (within the retention limits, like a peer's).
  // Written durably (state CF move_ack/<shard>) before it takes effect;
  // setting it again replaces the position. Errors: the RocksDB write's.
  absl::Status SetMoveAck(uint32_t shard, uint64_t position) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes the ack of `shard` (no-op when none). Errors: the RocksDB write's.
  absl::Status ClearMoveAck(uint32_t shard) ABSL_LOCKS_EXCLUDED(mu_);
  // Shard -> position of every move ack held.
  std::map<uint32_t, uint64_t> MoveAcks() const ABSL_LOCKS_EXCLUDED(mu_);
  // Any move ack held (no lock: for a check on every write).
  bool HasMoveAcks() const { return move_ack_count_.load(std::memory_order_acquire) > 0; }

  // Own entries at or below this sequence may be trimmed: what every peer
  // has applied, raised to what the retention limits let go; UINT64_MAX
  // without peers and over no limit.
  uint64_t TrimLimit() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Log trimming: lowers *own_below (own entries below it may go) to
  // TrimLimit, drops the index entries below it, and, when any ack changed
  // since they were last saved, puts the peers' acks into `batch` and sets
  // *acks to a nonzero mark to pass to AcksSaved once the batch is written
  // (0: no acks in the batch). The batch must then be written even when
  // nothing is trimmed (a seal pass and Close trim), so acks survive a
  // restart while a lagging peer holds the log back.
  void Trim(uint64_t* own_below, rocksdb::WriteBatch* batch, uint64_t* acks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The acks Trim put into a batch with mark `acks` are durable.
  void AcksSaved(uint64_t acks) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 private:
  uint64_t NextSeq() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    log_->mu().AssertHeld();  // the same mutex
    return log_->next_seq();
  }

  absl::Mutex& mu_;
  engine::RocksDb* const db_;
  const OwnLogOptions options_;
  CommitLog* const log_;
  // Own entries still in the log, oldest first, and their total size.
  std::deque<OwnLogEntry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t cum_samples_ ABSL_GUARDED_BY(mu_) = 0;
  // Per configured peer: highest own sequence it has applied durably.
  std::map<std::string, uint64_t> peer_acked_ ABSL_GUARDED_BY(mu_);
  // Per configured peer site, per member: highest own sequence it applied.
  std::map<std::string, std::map<std::string, uint64_t>> member_acked_ ABSL_GUARDED_BY(mu_);
  // Acks forgotten whose key deletes are not saved yet: each batch Trim
  // builds deletes them; AcksSaved drops those whose `mark` (acks_changed_
  // when forgotten) the saved batch covered.
  struct ForgottenAck {
    std::string site;
    std::string member;
    uint64_t mark;
  };
  std::vector<ForgottenAck> member_acks_forgotten_ ABSL_GUARDED_BY(mu_);
  // Per shard moving away from this node: the first own sequence its
  // target still needs (kept durably by SetMoveAck itself).
  std::map<uint32_t, uint64_t> move_acks_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> move_ack_count_{0};  // move_acks_.size(), set under mu_
  // Serializes SetMoveAck/ClearMoveAck (their RocksDB write and the map).
  absl::Mutex move_ack_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Counts changes of peer_acked_ and member_acked_; acks_saved_: the count
  // last saved.
  uint64_t acks_changed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t acks_saved_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_OWN_LOG_OWN_LOG_H_
