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
                           current.revision(), std::move(moves));
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
                             std::move(owner), current.revision());
  }
  members[index].leaving = true;
  return PlanBalance(current, std::move(members), options);
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
