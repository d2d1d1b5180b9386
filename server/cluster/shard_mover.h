// File: shard_mover.h
// ShardMover: moves shards between the members of a site cluster (issue
// 21; docs/cluster.md, "Moving shards", "The mover"). It runs in every
// cluster node and advances the moves of the placement in which its node is
// the target or the source. The target drives a move:
//
//   PENDING -> INITIALIZING  StartMove in one Txn, when fewer than
//                            max_concurrent moves are INITIALIZING
//   kWipeTarget              Store::DropShard: nothing it held of the shard
//                            before stays (an old data dir never resurrects)
//   kCopySealed              Cluster.CopyShard from the source at its log
//                            position P (PullShardCopy; marker move/<s>)
//   kTailLog                 Replication.Pull from P + 1 (MoveTail) until
//                            caught up
//   kFlip                    writes the shard's tag definitions to its own
//                            log (Store::AnnounceShardTags), closes the
//                            shard to its own writes, then INITIALIZING ->
//                            FLIPPED (shard_owner[s] = target)
//   kTailToFence             reads etcd until the source's fence is there,
//                            tails to it, announces the tags the tail
//                            defined since, then opens the shard with the
//                            hybrid clock past the fence's
//   kDropSource              FinishMove: the move leaves the placement; the
//                            source's janitor drops the shard
//
// A FLIPPED move whose target cannot reach the fence (the source trimmed
// its log past the tail's cursor) before it opened the shard is rolled back:
// FLIPPED -> PENDING, the source owning the shard again (RollBackFlipped).
//
// The source, on a FLIPPED move from it (kPublishFence): closes the shard to
// its own writes (Store::CloseShardToWrites) and publishes the fence
// (MoveFenceKey). Every step is idempotent and recorded where a restart
// finds it (the placement, the marker and the move's cursor, the closed
// shard, the fence key), so a kill -9 anywhere resumes; what each one does
// is in docs/cluster.md.
//
// Test hook: ShardMoverOptions::pause_before stops every move of this node
// at the first step it reaches that is this step or a later one (it stays
// there until the node stops), so a test can kill -9 the source, the target
// or etcd at each step; "start" keeps the mover from doing anything.
//
// Thread-safety: thread-safe. Two threads: the target's moves (long: a copy
// and a tail) and the source's fences (short), so a node that is the
// target of one move and the source of another never waits on itself.
#ifndef HISTORIAN_SERVER_CLUSTER_SHARD_MOVER_H_
#define HISTORIAN_SERVER_CLUSTER_SHARD_MOVER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/core/types.h"
#include "grpcpp/client_context.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/placement.h"
#include "server/cluster/shard_drop_gate.h"

namespace historian {
class Store;
}  // namespace historian

namespace historian::cluster {

class EtcdClient;

// The steps of a move, in order (progress, the log and the test hook).
enum class MoveStep {
  kStart,  // PENDING -> INITIALIZING
  kWipeTarget,
  kCopySealed,
  kTailLog,
  kFlip,
  kPublishFence,  // on the source
  kTailToFence,
  kDropSource,
};
std::string_view MoveStepName(MoveStep step);
// "start", "wipe", "copy", "tail", "flip", "fence", "tail_to_fence",
// "finish";
// nullopt for another name.
std::optional<MoveStep> ParseMoveStep(std::string_view name);

struct ShardMoverOptions {
  std::string site;
  // Sent to the source (Cluster.CopyShard, Replication.Pull): --peer_token
  // (role replicator); empty without --token_file.
  std::string token;
  // Tests only (--cluster_move_test_pause): stop at the first step reached
  // at or after this one.
  std::optional<MoveStep> pause_before;
  // The tail flips once it is this few entries behind the source's head.
  uint64_t caught_up_entries = 64;
  // A failed step is tried again after this long (or at the next placement).
  absl::Duration retry = absl::Seconds(1);
  // Shared with the node's ShardJanitor: a move to this node starts (its
  // wipe and etcd step) only while no drop of a shard runs. Null: no
  // janitor runs beside this mover.
  ShardDropGate* drop_gate = nullptr;
};

class ShardMover {
 public:
  struct Stats {
    uint64_t moves_finished = 0;  // as the target
    uint64_t copies = 0;
    uint64_t bytes_copied = 0;
    uint64_t entries_tailed = 0;  // source entries holding something of a shard
    uint64_t fences_published = 0;
    uint64_t moves_rolled_back = 0;  // FLIPPED moves sent back to their source
    uint64_t errors = 0;
    int paused_step = -1;       // the MoveStep the test hook holds a move at; -1: none
    int64_t moving_shard = -1;  // the shard the target is moving now; -1: none
    std::string last_error;
  };

  // Everything passed must outlive the mover.
  ShardMover(Store* store, const ClusterView* view, const EtcdClient* etcd,
             MemberChannels* channels, ShardMoverOptions options);
  // Stops both threads (a copy or tail under way is cancelled; it resumes
  // at the next start).
  ~ShardMover();
  ShardMover(const ShardMover&) = delete;
  ShardMover& operator=(const ShardMover&) = delete;

  void Start();
  // The placement changed: look at the moves again. Never blocks.
  void OnPlacement() ABSL_LOCKS_EXCLUDED(mu_);
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop(bool target_side);
  // One pass over the moves this node takes part in, on one side.
  absl::Status TargetPass();
  absl::Status SourcePass();
  // Runs the move of `shard` from its state in `placement` to its end.
  absl::Status RunMove(const Placement& placement, const ShardMove& move);
  // A FLIPPED move (since `flipped_since`) that cannot reach the source's
  // fence (`why`: its log trimmed past the tail's cursor, or the copy
  // gone): while the shard is still closed here (never opened, so no own
  // write of it is here), refuses the writes held for it and rolls the move
  // back to PENDING with the source owning the shard (RollBackFlippedMove);
  // the next pass starts it over. Returns ABORTED saying so, or DATA_LOSS
  // naming why it could not.
  absl::Status RollBackFlipped(const Placement& placement, const ShardMove& move,
                               int64_t flipped_since, const absl::Status& why);
  // The fence of `move` (FLIPPED) once the source published it, read from
  // etcd every ms at first, then every 20 ms for as long as it takes;
  // CANCELLED when the node stops.
  absl::StatusOr<MoveFence> AwaitFence(const Placement& placement, const ShardMove& move)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Step 6's end: announces the shard's tags to this node's own log (those
  // of `tags_to_announce`, or all of the shard's when unset: the ones
  // announced before the flip are not known after a restart), opens the
  // shard past `fence`'s clock, then step 7.
  absl::Status OpenAndFinish(const Placement& placement, const ShardMove& move,
                             const MoveFence& fence, uint64_t tailed_to,
                             const std::optional<std::vector<TagId>>& tags_to_announce);
  // Step 7 (the target opened the shard already).
  absl::Status Finish(const Placement& placement, const ShardMove& move);
  absl::Status PublishFence(const Placement& placement, const ShardMove& move);
  // True when etcd's placement holds `move` (of `placement`) as it is
  // there: same state, since-time, source and target.
  absl::StatusOr<bool> MoveIsCurrent(const Placement& placement, const ShardMove& move) const;
  // The fence of `move` (FLIPPED since `flipped_unix_ns`) once the source
  // published it; nullopt before.
  absl::StatusOr<std::optional<MoveFence>> ReadFence(const Placement& placement,
                                                     const ShardMove& move) const;
  // The test hook: Cancelled (after waiting for the stop) when `step` is
  // the one to stop at; OK otherwise.
  absl::Status Pause(MoveStep step, uint32_t shard) ABSL_LOCKS_EXCLUDED(mu_);
  // A fresh call context to `address` (token, cancellable by the stop).
  std::unique_ptr<grpc::ClientContext> NewCall() const;
  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);
  // Publishes the target's progress of the move of `shard` (for
  // Cluster.Status); best effort.
  void ReportProgress(uint32_t shard, const std::string& to, MoveStep step, int64_t bytes_copied,
                      int64_t bytes_total, int64_t entries_behind, int64_t eta_seconds = -1) const;
  void NoteError(const absl::Status& s) ABSL_LOCKS_EXCLUDED(mu_);

  Store* const store_;
  const ClusterView* const view_;
  const EtcdClient* const etcd_;
  MemberChannels* const channels_;
  const ShardMoverOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t target_wakes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t source_wakes_ ABSL_GUARDED_BY(mu_) = 0;
  // The target's call under way (a copy or a tail), cancelled by the stop.
  grpc::ClientContext* active_call_ ABSL_GUARDED_BY(mu_) = nullptr;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread target_thread_;
  std::thread source_thread_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SHARD_MOVER_H_
