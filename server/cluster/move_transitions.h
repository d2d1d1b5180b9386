// File: move_transitions.h
// The placement changes a shard move makes as it runs (docs/cluster.md,
// "The mover"): each is a pure function from the placement read at one
// revision to the one the mover writes back with a Txn on that revision, so
// two nodes racing on a move can never both apply a step.
//
//   PENDING --StartMove--> INITIALIZING --FlipMove--> FLIPPED --FinishMove--> gone
//   PENDING --CancelMove--> gone (nothing was copied yet)
//   FLIPPED --RollBackFlippedMove--> PENDING (the target never opened it)
//
// Every function checks the move is in the state it expects and answers
// FAILED_PRECONDITION naming the shard and the state it found otherwise; a
// step that was already applied (the mover restarted after its Txn
// committed) is reported as such rather than applied twice
// (`MoveStepDone`). Results pass Placement::Create's checks.
//
// Pure functions; no thread-safety concerns.
#ifndef HISTORIAN_SERVER_CLUSTER_MOVE_TRANSITIONS_H_
#define HISTORIAN_SERVER_CLUSTER_MOVE_TRANSITIONS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "server/cluster/placement.h"

namespace historian::cluster {

// PENDING -> INITIALIZING, when fewer than max_concurrent moves are
// INITIALIZING (else RESOURCE_EXHAUSTED: wait for one to flip).
absl::StatusOr<Placement> StartMove(const Placement& current, uint32_t shard, int64_t now_unix_ns);

// INITIALIZING -> FLIPPED: the target becomes the shard's routing owner.
absl::StatusOr<Placement> FlipMove(const Placement& current, uint32_t shard, int64_t now_unix_ns);

// FLIPPED -> done: the move leaves the list (max_concurrent 0 with the
// last one), and a leaving member that then owns nothing and takes part in
// no move leaves the members (owners and moves re-indexed).
absl::StatusOr<Placement> FinishMove(const Placement& current, uint32_t shard);

// PENDING -> removed (its target died before copying, or an operator
// cancels the change). The source keeps the shard, so a leaving source
// stops leaving (its removal is abandoned; its other moves go on, and
// `remove-node` can be asked again once they are done). INITIALIZING or
// FLIPPED moves cannot be cancelled here (the target may have written; the
// source may have stopped storing).
absl::StatusOr<Placement> CancelMove(const Placement& current, uint32_t shard);

// FLIPPED -> PENDING, the source owning the shard again (since
// `now_unix_ns`): the target cannot reach the source's fence (the source
// trimmed its log past the target's tail cursor) and has not opened the
// shard, so it stored nothing of its own there; the source has every own
// write of the shard and range-syncs the peer sites' since it gained it
// back (docs/cluster.md, "The mover"). The move starts again from its
// wipe. Only the FLIPPED move since `flipped_since_unix_ns` is rolled back:
// FAILED_PRECONDITION for another (a later move of the shard).
absl::StatusOr<Placement> RollBackFlippedMove(const Placement& current, uint32_t shard,
                                              int64_t flipped_since_unix_ns, int64_t now_unix_ns);

// True when `current` already shows the result of the step that leads to
// `goal` for `shard` (a retried step after its Txn committed with a lost
// answer): the move is in the goal state or later, or no move of `shard`
// is listed (it finished, or was cancelled: the caller re-reads its state).
// kRolledBack: the move is PENDING again, or gone.
enum class MoveGoal { kInitializing, kFlipped, kDone, kRolledBack };
bool MoveStepDone(const Placement& current, uint32_t shard, MoveGoal goal);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MOVE_TRANSITIONS_H_
