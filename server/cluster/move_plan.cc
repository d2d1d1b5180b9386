#include "server/cluster/move_plan.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace historian::cluster {
namespace {

absl::Status RefuseIfChanging(const Placement& current) {
  if (!current.has_moves()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "a placement change is in progress (placement revision ", current.revision(),
      "): ", DescribeMoves(current),
      "; wait until its moves finish (historian cluster status) before another change"));
}

absl::StatusOr<uint32_t> Concurrency(const MovePlanOptions& options) {
  if (options.max_concurrent == 0) return kDefaultConcurrentMoves;
  if (options.max_concurrent > kMaxConcurrentMoves) {
    return absl::InvalidArgumentError(absl::StrCat("max_concurrent_moves: ", options.max_concurrent,
                                                   " is outside 1..", kMaxConcurrentMoves));
  }
  return options.max_concurrent;
}

// Every shard keeps its owner; the moves reach a balanced placement over
// the members not leaving with the fewest shards moved (see move_plan.h).
absl::StatusOr<Placement> PlanBalance(const Placement& current,
                                      std::vector<PlacementMember> members,
                                      const MovePlanOptions& options) {
  absl::StatusOr<uint32_t> concurrency = Concurrency(options);
  if (!concurrency.ok()) return concurrency.status();
  const std::vector<uint32_t>& owner = current.shard_owner();
  const size_t n = members.size();
  std::vector<std::vector<uint32_t>> owned(n);
  for (uint32_t s = 0; s < owner.size(); ++s) owned[owner[s]].push_back(s);
  std::vector<size_t> active;
  for (size_t i = 0; i < n; ++i) {
    if (!members[i].leaving) active.push_back(i);
  }
  if (active.empty()) {
    return absl::FailedPreconditionError("no member would be left to own the shards");
  }
  // The members owning the most keep the larger shares (ties: lower index).
  std::stable_sort(active.begin(), active.end(),
                   [&](size_t a, size_t b) { return owned[a].size() > owned[b].size(); });
  const size_t q = owner.size() / active.size(), r = owner.size() % active.size();
  std::vector<size_t> target(n, 0);
  for (size_t k = 0; k < active.size(); ++k) target[active[k]] = q + (k < r ? 1 : 0);
  // What each donor gives (its highest shards), interleaved across donors.
  std::vector<std::pair<uint32_t, uint32_t>> given;  // (shard, from)
  for (size_t round = 0;; ++round) {
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      const size_t excess = owned[i].size() > target[i] ? owned[i].size() - target[i] : 0;
      if (round >= excess) continue;
      given.emplace_back(owned[i][owned[i].size() - 1 - round], static_cast<uint32_t>(i));
      any = true;
    }
    if (!any) break;
  }
  std::vector<size_t> have(n);
  for (size_t i = 0; i < n; ++i) have[i] = owned[i].size();
  PlacementMoves moves;
  for (const auto& [shard, from] : given) {
    size_t to = n;  // the receiver furthest below its share (ties: lower index)
    for (size_t i = 0; i < n; ++i) {
      if (members[i].leaving || have[i] >= target[i]) continue;
      if (to == n || target[i] - have[i] > target[to] - have[to]) to = i;
    }
    if (to == n) return absl::InternalError("move plan: more shards given than taken");
    ++have[to];
    moves.moves.push_back(
        {shard, from, static_cast<uint32_t>(to), ShardMoveState::kPending, options.now_unix_ns});
  }
  std::sort(moves.moves.begin(), moves.moves.end(),
            [](const ShardMove& a, const ShardMove& b) { return a.shard < b.shard; });
  moves.max_concurrent = moves.moves.empty() ? 0 : *concurrency;
  return Placement::Create(current.site(), current.num_shards(), std::move(members), owner,
                           current.revision(), std::move(moves), current.members_departed());
}

}  // namespace

absl::StatusOr<Placement> PlanAddMember(const Placement& current, PlacementMember member,
                                        const MovePlanOptions& options) {
  if (absl::Status s = RefuseIfChanging(current); !s.ok()) return s;
  for (const PlacementMember& m : current.members()) {
    if (m.id == member.id || m.address == member.address) {
      return absl::FailedPreconditionError(absl::StrCat(
          "member '", member.id, "' (", member.address, ") is in the placement already",
          m.id == member.id ? "" : absl::StrCat(": '", m.id, "' has that address")));
    }
  }
  std::vector<PlacementMember> members = current.members();
  member.leaving = false;
  members.push_back(std::move(member));
  return PlanBalance(current, std::move(members), options);
}

absl::StatusOr<Placement> PlanRemoveMember(const Placement& current, std::string_view id_or_address,
                                           const MovePlanOptions& options) {
  if (absl::Status s = RefuseIfChanging(current); !s.ok()) return s;
  const int index = current.FindMember(id_or_address);
  if (index < 0) {
    return absl::FailedPreconditionError(absl::StrCat("'", std::string(id_or_address),
                                                      "' is no member of the placement (id or "
                                                      "address; historian cluster status)"));
  }
  if (current.members().size() == 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "member '", current.members()[index].id,
        "' is the only member: a cluster keeps at least one (its shards have nowhere to go)"));
  }
  std::vector<PlacementMember> members = current.members();
  if (current.ShardsOwnedBy(members[index].id).empty()) {
    // Nothing to move: it leaves the members now (owners re-indexed).
    members.erase(members.begin() + index);
    std::vector<uint32_t> owner = current.shard_owner();
    for (uint32_t& o : owner) o -= (o > static_cast<uint32_t>(index)) ? 1 : 0;
    return Placement::Create(current.site(), current.num_shards(), std::move(members),
                             std::move(owner), current.revision(), {},
                             current.members_departed() + 1);
  }
  members[index].leaving = true;
  return PlanBalance(current, std::move(members), options);
}

absl::StatusOr<LostMemberPlan> PlanRemoveLostMember(const Placement& current,
                                                    std::string_view id_or_address,
                                                    const MovePlanOptions& options) {
  const int found = current.FindMember(id_or_address);
  if (found < 0) {
    return absl::FailedPreconditionError(absl::StrCat("'", std::string(id_or_address),
                                                      "' is no member of the placement (id or "
                                                      "address; historian cluster status)"));
  }
  const uint32_t lost = static_cast<uint32_t>(found);
  std::vector<PlacementMember> members = current.members();
  const size_t n = members.size();
  auto active = [&](size_t i) { return i != lost && !members[i].leaving; };
  bool any_active = false;
  for (size_t i = 0; i < n; ++i) any_active = any_active || active(i);
  if (!any_active) {
    return absl::FailedPreconditionError(
        absl::StrCat("member '", members[lost].id,
                     "' cannot be removed: no other member that is not leaving would be left "
                     "to own its shards"));
  }
  LostMemberPlan plan{current, {}, {}};
  std::vector<uint32_t> owner = current.shard_owner();
  PlacementMoves moves;
  moves.max_concurrent = current.moves().max_concurrent;
  for (const ShardMove& m : current.moves().moves) {
    if (m.from != lost && m.to != lost) {
      moves.moves.push_back(m);
    } else if (m.from == lost && m.state == ShardMoveState::kFlipped) {
      moves.moves.push_back(m);
      plan.fence_without_source.push_back(m.shard);
    } else if (m.from == lost && m.state == ShardMoveState::kInitializing) {
      owner[m.shard] = m.to;
      plan.reassigned.push_back(m.shard);
    } else if (m.to == lost && m.state == ShardMoveState::kFlipped) {
      owner[m.shard] = m.from;
      plan.reassigned.push_back(m.shard);
    }
    // Else a PENDING move from it (given below with its other shards), or
    // a PENDING or INITIALIZING move to it (the source keeps the shard).
  }
  // Shards owned now (moves in flight counted at their targets): the
  // members with the fewest take first.
  std::vector<size_t> load(n, 0);
  for (uint32_t o : owner) ++load[o];
  for (const ShardMove& m : moves.moves) {
    if (m.state != ShardMoveState::kFlipped) {
      --load[m.from];
      ++load[m.to];
    }
  }
  auto least_loaded = [&]() {
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (active(i) && (best == n || load[i] < load[best])) best = i;
    }
    ++load[best];
    return static_cast<uint32_t>(best);
  };
  std::vector<bool> moving(current.num_shards(), false);
  for (const ShardMove& m : moves.moves) moving[m.shard] = true;
  for (uint32_t s = 0; s < owner.size(); ++s) {
    if (owner[s] != lost || moving[s]) continue;
    --load[lost];
    owner[s] = least_loaded();
    plan.reassigned.push_back(s);
  }
  for (uint32_t s = 0; s < owner.size(); ++s) {
    if (!members[owner[s]].leaving || owner[s] == lost || moving[s]) continue;
    --load[owner[s]];
    moves.moves.push_back(
        {s, owner[s], least_loaded(), ShardMoveState::kPending, options.now_unix_ns});
  }
  std::sort(plan.reassigned.begin(), plan.reassigned.end());
  std::sort(moves.moves.begin(), moves.moves.end(),
            [](const ShardMove& a, const ShardMove& b) { return a.shard < b.shard; });
  if (moves.moves.empty()) {
    moves.max_concurrent = 0;
  } else if (moves.max_concurrent == 0) {
    absl::StatusOr<uint32_t> concurrency = Concurrency(options);
    if (!concurrency.ok()) return concurrency.status();
    moves.max_concurrent = *concurrency;
  }
  uint64_t departed = current.members_departed();
  if (!plan.fence_without_source.empty()) {
    // It leaves with its last FLIPPED move (FinishMove).
    members[lost].leaving = true;
  } else {
    ++departed;
    members.erase(members.begin() + found);
    for (uint32_t& o : owner) o -= (o > lost) ? 1 : 0;
    for (ShardMove& m : moves.moves) {
      m.from -= (m.from > lost) ? 1 : 0;
      m.to -= (m.to > lost) ? 1 : 0;
    }
  }
  absl::StatusOr<Placement> next =
      Placement::Create(current.site(), current.num_shards(), std::move(members), std::move(owner),
                        current.revision(), std::move(moves), departed);
  if (!next.ok()) return next.status();
  plan.placement = *std::move(next);
  return plan;
}

std::string DescribeMoves(const Placement& placement) {
  const std::vector<ShardMove>& moves = placement.moves().moves;
  if (moves.empty()) return "";
  std::string text = absl::StrCat(moves.size(), " move(s) in progress:");
  constexpr size_t kListed = 8;
  for (size_t i = 0; i < moves.size() && i < kListed; ++i) {
    const ShardMove& m = moves[i];
    absl::StrAppend(&text, i == 0 ? " " : ", ", "shard ", m.shard, " ",
                    placement.members()[m.from].id, "->", placement.members()[m.to].id, " ",
                    std::string(ShardMoveStateName(m.state)), " since ",
                    absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(m.since_unix_ns),
                                     absl::UTCTimeZone()));
  }
  if (moves.size() > kListed) absl::StrAppend(&text, ", ... (", moves.size() - kListed, " more)");
  return text;
}

}  // namespace historian::cluster
