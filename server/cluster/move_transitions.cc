// File: move_transitions.cc
#include "server/cluster/move_transitions.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace historian::cluster {
namespace {

// The index of `shard`'s move in `current`'s list, or an error naming what
// was found when it is not in `want`.
absl::StatusOr<size_t> MoveIndex(const Placement& current, uint32_t shard, ShardMoveState want,
                                 const char* step) {
  if (shard >= current.num_shards()) {
    return absl::InvalidArgumentError(
        absl::StrCat(step, ": shard is ", shard, ", want < num_shards = ", current.num_shards()));
  }
  const std::vector<ShardMove>& moves = current.moves().moves;
  for (size_t i = 0; i < moves.size(); ++i) {
    if (moves[i].shard != shard) continue;
    if (moves[i].state != want) {
      return absl::FailedPreconditionError(
          absl::StrCat(step, ": the move of shard ", shard, " is ",
                       std::string(ShardMoveStateName(moves[i].state)), " at revision ",
                       current.revision(), ", want ", std::string(ShardMoveStateName(want))));
    }
    return i;
  }
  return absl::FailedPreconditionError(
      absl::StrCat(step, ": shard ", shard, " has no move at revision ", current.revision()));
}

// `current` with its moves replaced (and leaving members that own nothing
// and move nothing removed, owners and moves re-indexed).
absl::StatusOr<Placement> WithMoves(const Placement& current, std::vector<uint32_t> owner,
                                    PlacementMoves moves, int stays = -1) {
  std::vector<PlacementMember> members = current.members();
  if (stays >= 0) members[static_cast<size_t>(stays)].leaving = false;
  if (moves.moves.empty()) moves.max_concurrent = 0;
  uint64_t departed = current.members_departed();
  // Walk from the end so earlier indexes stay valid while erasing.
  for (size_t i = members.size(); i-- > 0;) {
    if (!members[i].leaving) continue;
    const uint32_t index = static_cast<uint32_t>(i);
    const bool owns = std::find(owner.begin(), owner.end(), index) != owner.end();
    const bool moves_any = std::any_of(moves.moves.begin(), moves.moves.end(),
                                       [&](const ShardMove& m) { return m.from == index; });
    if (owns || moves_any) continue;
    members.erase(members.begin() + static_cast<std::ptrdiff_t>(i));
    ++departed;
    for (uint32_t& o : owner) o -= (o > index) ? 1 : 0;
    for (ShardMove& m : moves.moves) {
      m.from -= (m.from > index) ? 1 : 0;
      m.to -= (m.to > index) ? 1 : 0;
    }
  }
  return Placement::Create(current.site(), current.num_shards(), std::move(members),
                           std::move(owner), current.revision(), std::move(moves), departed);
}

}  // namespace

absl::StatusOr<Placement> StartMove(const Placement& current, uint32_t shard, int64_t now_unix_ns) {
  absl::StatusOr<size_t> i = MoveIndex(current, shard, ShardMoveState::kPending, "start move");
  if (!i.ok()) return i.status();
  PlacementMoves moves = current.moves();
  const size_t initializing =
      std::count_if(moves.moves.begin(), moves.moves.end(),
                    [](const ShardMove& m) { return m.state == ShardMoveState::kInitializing; });
  if (initializing >= moves.max_concurrent) {
    return absl::ResourceExhaustedError(
        absl::StrCat("start move: ", initializing, " moves are INITIALIZING at revision ",
                     current.revision(), ", max_concurrent_moves = ", moves.max_concurrent));
  }
  moves.moves[*i].state = ShardMoveState::kInitializing;
  moves.moves[*i].since_unix_ns = now_unix_ns;
  return WithMoves(current, current.shard_owner(), std::move(moves));
}

absl::StatusOr<Placement> FlipMove(const Placement& current, uint32_t shard, int64_t now_unix_ns) {
  absl::StatusOr<size_t> i = MoveIndex(current, shard, ShardMoveState::kInitializing, "flip move");
  if (!i.ok()) return i.status();
  PlacementMoves moves = current.moves();
  ShardMove& m = moves.moves[*i];
  m.state = ShardMoveState::kFlipped;
  m.since_unix_ns = now_unix_ns;
  std::vector<uint32_t> owner = current.shard_owner();
  owner[shard] = m.to;
  return WithMoves(current, std::move(owner), std::move(moves));
}

absl::StatusOr<Placement> FinishMove(const Placement& current, uint32_t shard) {
  absl::StatusOr<size_t> i = MoveIndex(current, shard, ShardMoveState::kFlipped, "finish move");
  if (!i.ok()) return i.status();
  PlacementMoves moves = current.moves();
  moves.moves.erase(moves.moves.begin() + static_cast<std::ptrdiff_t>(*i));
  return WithMoves(current, current.shard_owner(), std::move(moves));
}

absl::StatusOr<Placement> CancelMove(const Placement& current, uint32_t shard) {
  absl::StatusOr<size_t> i = MoveIndex(current, shard, ShardMoveState::kPending, "cancel move");
  if (!i.ok()) return i.status();
  PlacementMoves moves = current.moves();
  const uint32_t source = moves.moves[*i].from;
  moves.moves.erase(moves.moves.begin() + static_cast<std::ptrdiff_t>(*i));
  // The source keeps the shard, so it cannot be leaving any more.
  return WithMoves(current, current.shard_owner(), std::move(moves), static_cast<int>(source));
}

absl::StatusOr<Placement> RollBackFlippedMove(const Placement& current, uint32_t shard,
                                              int64_t flipped_since_unix_ns, int64_t now_unix_ns) {
  absl::StatusOr<size_t> i =
      MoveIndex(current, shard, ShardMoveState::kFlipped, "roll back flipped move");
  if (!i.ok()) return i.status();
  PlacementMoves moves = current.moves();
  ShardMove& m = moves.moves[*i];
  if (m.since_unix_ns != flipped_since_unix_ns) {
    return absl::FailedPreconditionError(
        absl::StrCat("roll back flipped move: the move of shard ", shard, " was flipped at ",
                     m.since_unix_ns, " ns (revision ", current.revision(), "), not at ",
                     flipped_since_unix_ns, " ns: another move"));
  }
  m.state = ShardMoveState::kPending;
  m.since_unix_ns = now_unix_ns;
  std::vector<uint32_t> owner = current.shard_owner();
  owner[shard] = m.from;
  return WithMoves(current, std::move(owner), std::move(moves));
}

bool MoveStepDone(const Placement& current, uint32_t shard, MoveGoal goal) {
  const ShardMove* m = current.MoveOfShard(shard);
  switch (goal) {
    case MoveGoal::kInitializing:
      return m == nullptr || m->state != ShardMoveState::kPending;
    case MoveGoal::kFlipped:
      return m == nullptr || m->state == ShardMoveState::kFlipped;
    case MoveGoal::kDone:
      return m == nullptr;
    case MoveGoal::kRolledBack:
      return m == nullptr || m->state == ShardMoveState::kPending;
  }
  return false;
}

}  // namespace historian::cluster
