// File: move_plan.h
// Plans of a membership change (docs/cluster.md, "Moving shards"): the
// placement `historian cluster add-node` / `remove-node` writes. A plan
// keeps every owner as it is (routing does not change until each move's
// flip) and lists the moves, all PENDING, that lead to a balanced
// placement: every remaining member owns floor(S/N) or ceil(S/N) shards.
// It moves the fewest shards that reach such a balance: the members that
// own the most keep the larger shares, each member gives only what it has
// above its share, and the shards given go to the members furthest below
// theirs first (so a removed member's shards spread evenly).
//
//   ASSIGN_OR_RETURN(Placement next, PlanAddMember(current, {"us-4", "10.0.0.4:7400"},
//                                                  {.now_unix_ns = now}));
//   // next.members() ends with us-4; next.moves() are PENDING; owners unchanged.
//
// Pure functions; no thread-safety concerns.
#ifndef HISTORIAN_SERVER_CLUSTER_MOVE_PLAN_H_
#define HISTORIAN_SERVER_CLUSTER_MOVE_PLAN_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/cluster/placement.h"

namespace historian::cluster {

struct MovePlanOptions {
  int64_t now_unix_ns = 0;  // the moves' since_unix_ns
  // Moves INITIALIZING at once, 1..kMaxConcurrentMoves; 0: the default.
  uint32_t max_concurrent = kDefaultConcurrentMoves;
};

// `current` plus `member` (appended to the members) and the moves that
// give it its share. FAILED_PRECONDITION when `current` has moves (a change
// is in progress, named) or `member`'s id or address is in it already.
absl::StatusOr<Placement> PlanAddMember(const Placement& current, PlacementMember member,
                                        const MovePlanOptions& options);

// `current` with member `id_or_address` marked leaving and every shard it
// owns moving to the others. FAILED_PRECONDITION when a change is in
// progress, the member is unknown, or it is the only one left.
absl::StatusOr<Placement> PlanRemoveMember(const Placement& current, std::string_view id_or_address,
                                           const MovePlanOptions& options);

// The removal of a member lost for good (its lease gone, its process and
// disk with it: `historian cluster remove-node ADDR --lost --accept-loss`):
// nothing can be copied from it, so its shards go to the others at once
// (docs/cluster.md, "A member lost for good"):
// - a shard it owns with no move, or with a PENDING move away, is given to
//   the member not leaving that owns the fewest (ties: lower index), which
//   serves it with what it holds (nothing, or a range sync from a peer
//   site);
// - an INITIALIZING move away from it: the target becomes the owner with
//   what it copied and tailed;
// - a FLIPPED move away from it stays, for its target to open the shard
//   with the fence written without the source (the caller writes it); the
//   member stays, leaving, until the last such move finishes;
// - a move to it: PENDING and INITIALIZING ones are dropped (the source
//   keeps the shard); a FLIPPED one is rolled back (the source owns the
//   shard again and reopens it: what the lost member took since the flip
//   is lost here);
// - a leaving member that keeps a shard that way gets a new PENDING move
//   of it to the member not leaving with the fewest shards.
// Other moves are kept. FAILED_PRECONDITION when the member is unknown or
// no member not leaving would be left.
struct LostMemberPlan {
  Placement placement;
  // Shards given to another member without a copy (owned, or rolled back).
  std::vector<uint32_t> reassigned;
  // Shards whose FLIPPED move from the lost member stays: each needs the
  // fence written without its source.
  std::vector<uint32_t> fence_without_source;
};
absl::StatusOr<LostMemberPlan> PlanRemoveLostMember(const Placement& current,
                                                    std::string_view id_or_address,
                                                    const MovePlanOptions& options);

// "3 moves in progress: shard 5 us-0->us-3 PENDING since 2026-..., ..."
// (at most 8 listed); "" when `placement` has none.
std::string DescribeMoves(const Placement& placement);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MOVE_PLAN_H_
