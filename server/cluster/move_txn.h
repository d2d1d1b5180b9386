// File: move_txn.h
// Applies one step of a shard move (move_transitions.h) to the placement in
// etcd: read the placement key, compute the step on what was read, and
// write it with a Txn on the key's mod revision (docs/cluster.md, "The
// mover"). A conflict (another move's step, or an operator's change,
// committed in between) re-reads and tries again; a step already applied
// (a retry after a lost answer, or a racing mover on another node) is
// success without a second write. So every node may call it for the same
// step at once and the placement changes exactly once.
//
//   ASSIGN_OR_RETURN(Placement p, ApplyMoveStep(etcd, "us", 17, MoveGoal::kFlipped,
//       [&](const Placement& c) { return FlipMove(c, 17, NowNs()); }));
//
// Errors: the step's own (FAILED_PRECONDITION for a move in another state
// or gone, RESOURCE_EXHAUSTED when no INITIALIZING slot is free), etcd's
// (UNAVAILABLE naming the endpoints), ABORTED after kMoveTxnAttempts
// conflicts in a row (placement changing too fast to win).
//
// Thread-safety: thread-safe (the EtcdClient is).
#ifndef HISTORIAN_SERVER_CLUSTER_MOVE_TXN_H_
#define HISTORIAN_SERVER_CLUSTER_MOVE_TXN_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "server/cluster/move_transitions.h"
#include "server/cluster/placement.h"

namespace historian::cluster {

class EtcdClient;

inline constexpr int kMoveTxnAttempts = 32;

using MoveStepFn = std::function<absl::StatusOr<Placement>(const Placement& current)>;

// The placement after the step (as written, at its new revision), or the
// one read when the step was done already. `before_commit` (tests) runs
// between the read and the Txn of each attempt.
absl::StatusOr<Placement> ApplyMoveStep(const EtcdClient& etcd, const std::string& site,
                                        uint32_t shard, MoveGoal goal, const MoveStepFn& step,
                                        const std::function<void()>& before_commit = nullptr);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MOVE_TXN_H_
