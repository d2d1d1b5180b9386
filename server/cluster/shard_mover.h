// File: shard_mover.h
// ShardMover: the data mover of issue 21 (docs/cluster.md, "Moving shards",
// "What is left"). NOT BUILT YET: this header fixes where it plugs in. The
// placement already carries the moves (Placement::moves(), written PENDING
// by `historian cluster add-node` / `remove-node`); a mover runs on every
// node and advances the moves in which its node is the source or the
// target, each step idempotent so a kill -9 at any step resumes:
//
//   PENDING -> INITIALIZING  the target, when fewer than max_concurrent
//                            moves are INITIALIZING (Txn on the placement's
//                            mod revision, like every placement write)
//   kWipeTarget              the target drops any local data of the shard
//                            (an old data dir never resurrects data):
//                            Store::DropShard (built)
//   kCopySealed              sealed chunks, rollups, catalog entries,
//                            tombstones and the heads' samples of the shard
//                            as of the source's log position P (built:
//                            Cluster.CopyShard, cluster::PullShardCopy in
//                            shard_copy_client.h, the move/<s> marker),
//                            which the source keeps its log from
//                            (Store::SetMoveAck, built; the mover must set
//                            it before the export takes its snapshot)
//   kTailLog                 Replication.Pull from P with ShardFilter {s}
//   INITIALIZING -> FLIPPED  one Txn: shard_owner[s] = target
//   kTailToFence             the source stops storing s, reports its fence
//                            (last log position of s, clock); the target
//                            tails to it and HybridClock::Observe()s it
//   kDropSource              the move leaves the list (and a leaving member
//                            with no shard left leaves the members) in one
//                            Txn; the source's janitor then drops s and its
//                            move ack (ShardJanitor, built)
//
// Thread-safety (of an implementation): OnPlacement is called from the
// placement watcher's thread; a mover runs its moves on its own threads.
#ifndef HISTORIAN_SERVER_CLUSTER_SHARD_MOVER_H_
#define HISTORIAN_SERVER_CLUSTER_SHARD_MOVER_H_

#include <cstdint>
#include <memory>

#include "server/cluster/placement.h"

namespace historian::cluster {

// The steps of one move on the target, in order (for progress and the test
// hook that pauses a move at each step).
enum class MoveStep { kWipeTarget, kCopySealed, kTailLog, kFlip, kTailToFence, kDropSource };

class ShardMover {
 public:
  virtual ~ShardMover() = default;
  // The placement changed (or the node started with one): start, resume or
  // finish the moves this node takes part in. Never blocks.
  virtual void OnPlacement(std::shared_ptr<const Placement> placement) = 0;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SHARD_MOVER_H_
