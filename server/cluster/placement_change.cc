// EtcdClusterAdmin::AddNode / RemoveNode (docs/cluster.md, "Moving shards"):
// read the placement and the registered members at one revision, plan the
// change (move_plan.h), and write it in one Txn guarded by the placement
// key's mod revision, so of two operators racing exactly one wins.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "server/cluster/cluster_admin.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/move_fence_key.h"
#include "server/cluster/move_plan.h"
#include "server/cluster/move_transitions.h"
#include "server/cluster/placement.h"
#include "storage/engine/version.h"

namespace historian::cluster {
namespace {

struct Registered {
  std::string key;
  int64_t mod_revision = 0;
  MemberRecord record;
};

// The site's placement and registered members, read at one revision.
struct SiteState {
  std::optional<Placement> placement;
  int64_t placement_mod_revision = 0;
  int64_t revision = 0;                          // of the read
  std::map<std::string, Registered> registered;  // by member id
  // SiteIsolationFenceKey's (0: absent); an error only where it is used.
  absl::StatusOr<absl::Duration> widest_isolation_fence = absl::ZeroDuration();
};

absl::StatusOr<SiteState> ReadSite(const EtcdClient& etcd, const std::string& site) {
  absl::StatusOr<EtcdRange> range = etcd.GetPrefix(SitePrefix(site));
  if (!range.ok()) return range.status();
  SiteState state;
  state.revision = range->revision;
  const std::string members_prefix = MembersPrefix(site);
  for (const EtcdKeyValue& kv : range->kvs) {
    if (kv.key == PlacementKey(site)) {
      absl::StatusOr<Placement> p = Placement::Decode(kv.value, kv.mod_revision);
      if (!p.ok()) return p.status();
      state.placement = *std::move(p);
      state.placement_mod_revision = kv.mod_revision;
    } else if (kv.key == SiteIsolationFenceKey(site)) {
      absl::StatusOr<int64_t> widest_ms = DecodeSiteIsolationFence(kv.key, kv.value);
      if (widest_ms.ok()) {
        state.widest_isolation_fence = absl::Milliseconds(*widest_ms);
      } else {
        state.widest_isolation_fence = widest_ms.status();
      }
    } else if (kv.key.rfind(members_prefix, 0) == 0) {
      absl::StatusOr<MemberRecord> record = DecodeMemberRecord(kv.value);
      if (!record.ok()) continue;  // unreadable: not addable, never fatal here
      state.registered[kv.key.substr(members_prefix.size())] = {kv.key, kv.mod_revision, *record};
    }
  }
  if (!state.placement.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("site '", site, "' is not a cluster yet (no ",
                                                      PlacementKey(site),
                                                      "): run historian cluster init first"));
  }
  return state;
}

absl::Status CheckExpected(const SiteState& state, int64_t expected_revision) {
  if (expected_revision == 0 || expected_revision == state.placement_mod_revision) {
    return absl::OkStatus();
  }
  std::string moves = DescribeMoves(*state.placement);
  return absl::AbortedError(
      absl::StrCat("placement changed at revision ", state.placement_mod_revision,
                   " (expected revision ", expected_revision, ")",
                   moves.empty() ? "" : absl::StrCat("; a change is in progress: ", moves),
                   "; read historian cluster status and decide again"));
}

std::vector<std::string> AliveIds(const SiteState& state) {
  std::vector<std::string> ids;
  for (const auto& [id, r] : state.registered) ids.push_back(id);
  return ids;
}

// Writes `next` if the placement is still at `state`'s revision (and every
// key in `also_unchanged` at the given mod revision).
absl::StatusOr<v1::PlacementChangeResponse> Commit(const EtcdClient& etcd, const std::string& site,
                                                   const SiteState& state, const Placement& next,
                                                   const std::vector<EtcdCompare>& also_unchanged,
                                                   const std::function<void()>& before_commit,
                                                   const std::vector<EtcdWrite>& also_write = {}) {
  if (before_commit) before_commit();
  const std::string key = PlacementKey(site);
  const std::string value = next.Encode();
  std::vector<EtcdCompare> guard = {EtcdCompare::ModRevisionIs(key, state.placement_mod_revision)};
  guard.insert(guard.end(), also_unchanged.begin(), also_unchanged.end());
  std::vector<EtcdWrite> writes = {EtcdWrite::Put(key, value)};
  writes.insert(writes.end(), also_write.begin(), also_write.end());
  absl::StatusOr<EtcdTxnOutcome> outcome = etcd.Txn(guard, writes);
  if (!outcome.ok()) return outcome.status();
  int64_t revision = outcome->revision;
  if (!outcome->committed) {
    const EtcdKeyValue* now = nullptr;
    for (const EtcdKeyValue& kv : outcome->current) {
      if (kv.key == key) now = &kv;
    }
    if (now != nullptr && now->value == value) {
      revision = now->mod_revision;  // our own write, applied before a retry
    } else if (now == nullptr || now->mod_revision != state.placement_mod_revision) {
      std::string moves;
      if (now != nullptr) {
        absl::StatusOr<Placement> p = Placement::Decode(now->value, now->mod_revision);
        moves = p.ok() ? DescribeMoves(*p) : std::string(p.status().message());
      }
      return absl::AbortedError(
          absl::StrCat("placement changed at revision ", now == nullptr ? 0 : now->mod_revision,
                       " (this change was planned on revision ", state.placement_mod_revision,
                       "): another change won",
                       moves.empty() ? "" : absl::StrCat("; a change is in progress: ", moves),
                       "; read historian cluster status and decide again"));
    } else {
      std::vector<std::string> keys;
      for (const EtcdCompare& c : also_unchanged) keys.push_back(c.key);
      return absl::AbortedError(
          absl::StrCat("a key this change depends on changed while it was "
                       "planned (",
                       absl::StrJoin(keys, ", "), "); try again"));
    }
  }
  absl::StatusOr<Placement> written = Placement::Decode(value, revision);
  if (!written.ok()) return written.status();
  v1::PlacementChangeResponse response;
  *response.mutable_placement() = written->ToProto(AliveIds(state));
  response.set_shards_to_move(static_cast<uint32_t>(written->moves().moves.size()));
  return response;
}

}  // namespace

absl::StatusOr<v1::PlacementChangeResponse> EtcdClusterAdmin::AddNode(
    const v1::AddNodeRequest& request) const {
  if (request.node().empty()) return absl::InvalidArgumentError("node: empty (an id or address)");
  absl::StatusOr<SiteState> state = ReadSite(*etcd_, site_);
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckExpected(*state, request.expected_revision()); !s.ok()) return s;
  const Registered* found = nullptr;
  std::string id;
  for (const auto& [member_id, r] : state->registered) {
    if (member_id == request.node() || r.record.address == request.node()) {
      found = &r;
      id = member_id;
      break;
    }
  }
  if (found == nullptr) {
    std::vector<std::string> listed;
    for (const auto& [member_id, r] : state->registered) {
      listed.push_back(absl::StrCat(member_id, " (", r.record.address, ")"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "'", request.node(), "' is not registered under ", MembersPrefix(site_),
        " (registered now: ", listed.empty() ? "none" : absl::StrJoin(listed, ", "),
        "): a node is added only while it runs with --cluster_etcd and holds its lease"));
  }
  absl::StatusOr<Placement> next =
      PlanAddMember(*state->placement, {id, found->record.address},
                    {.now_unix_ns = absl::GetCurrentTimeNanos(),
                     .max_concurrent = request.max_concurrent_moves()});
  if (!next.ok()) return next.status();
  return Commit(*etcd_, site_, *state, *next,
                {EtcdCompare::ModRevisionIs(found->key, found->mod_revision)}, before_commit_);
}

absl::StatusOr<v1::PlacementChangeResponse> EtcdClusterAdmin::RemoveNode(
    const v1::RemoveNodeRequest& request) const {
  if (request.node().empty()) return absl::InvalidArgumentError("node: empty (an id or address)");
  if (request.accept_loss() && !request.lost()) {
    return absl::InvalidArgumentError("accept_loss: only with lost (remove-node --lost)");
  }
  if (request.lost()) return RemoveLostNode(request);
  absl::StatusOr<SiteState> state = ReadSite(*etcd_, site_);
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckExpected(*state, request.expected_revision()); !s.ok()) return s;
  absl::StatusOr<Placement> next =
      PlanRemoveMember(*state->placement, request.node(),
                       {.now_unix_ns = absl::GetCurrentTimeNanos(),
                        .max_concurrent = request.max_concurrent_moves()});
  if (!next.ok()) return next.status();
  return Commit(*etcd_, site_, *state, *next, {}, before_commit_);
}

absl::StatusOr<v1::PlacementChangeResponse> EtcdClusterAdmin::RemoveLostNode(
    const v1::RemoveNodeRequest& request) const {
  if (!request.accept_loss()) {
    return absl::InvalidArgumentError(
        "accept_loss: required with lost: what only the lost member held (not pulled by a peer "
        "site) is gone; its shards go to the others without a copy");
  }
  absl::StatusOr<SiteState> state = ReadSite(*etcd_, site_);
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckExpected(*state, request.expected_revision()); !s.ok()) return s;
  const Placement& placement = *state->placement;
  const int index = placement.FindMember(request.node());
  if (index < 0) {
    return absl::FailedPreconditionError(absl::StrCat("'", request.node(),
                                                      "' is no member of the placement (id or "
                                                      "address; historian cluster status)"));
  }
  const PlacementMember& lost = placement.members()[static_cast<size_t>(index)];
  if (state->registered.count(lost.id) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("member ", lost.id,
                     " is alive (its lease is kept): remove it without --lost, so its "
                     "shards are copied"));
  }
  // As for a fence without the source: a member cut off from etcd loses
  // its lease but may still serve and take writes of its shards.
  if (probe_ != nullptr) {
    if (absl::Status answered = probe_(lost.address); answered.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "member ", lost.id, " answers at ", lost.address,
          " though its lease has run out: it is alive but cut off from etcd and may still take "
          "writes; stop its process (or its machine) for good first"));
    }
  }
  // A member cut off from etcd and from this node but not from its clients
  // takes writes of the shards it owns until its isolation write fence
  // passes (lease_fence.h): give them away only after that.
  if (absence_ != nullptr) {
    absl::StatusOr<MemberAbsence> absent = absence_(lost.id, state->revision);
    if (!absent.ok()) return absent.status();
    if (!state->widest_isolation_fence.ok()) return state->widest_isolation_fence.status();
    const absl::Duration needed = LostRemovalWait(*absent, *state->widest_isolation_fence);
    const absl::Duration fence = needed - kLostRemovalMargin;
    if (absent->gone_for < needed) {
      return absl::FailedPreconditionError(absl::StrCat(
          "member ", lost.id, "'s lease ran out ",
          absl::FormatDuration(absl::Trunc(absent->gone_for, absl::Milliseconds(100))),
          " ago as this node saw it; --lost waits until it has been gone ",
          absl::FormatDuration(needed),
          " (the widest isolation write fence of it, this node "
          "and any member so far, ",
          absl::FormatDuration(fence), ", plus ", absl::FormatDuration(kLostRemovalMargin),
          "): if it is alive and cut off from etcd it takes writes of its shards until then. "
          "Retry in ",
          absl::FormatDuration(absl::Ceil(needed - absent->gone_for, absl::Seconds(1)))));
    }
  }
  absl::StatusOr<LostMemberPlan> plan =
      PlanRemoveLostMember(placement, request.node(),
                           {.now_unix_ns = absl::GetCurrentTimeNanos(),
                            .max_concurrent = request.max_concurrent_moves()});
  if (!plan.ok()) return plan.status();
  // In the same Txn: the member must not register again, and each FLIPPED
  // move away from it that has no fence yet gets one written without it
  // (Cluster.FenceWithoutSource's, clock this node's now).
  std::vector<EtcdCompare> guard = {EtcdCompare::Absent(MemberKey(site_, lost.id))};
  std::vector<EtcdWrite> fences;
  const uint64_t clock =
      engine::MakeVersion(static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())), 0);
  for (uint32_t shard : plan->fence_without_source) {
    const ShardMove* move = placement.MoveOfShard(shard);
    const std::string& to = placement.members()[move->to].id;
    absl::StatusOr<FenceKeyRead> current =
        ReadMoveFenceKey(*etcd_, site_, shard, {lost.id, to, move->since_unix_ns});
    if (!current.ok()) return current.status();
    // An admin's fence (position 0) lets the target open already. The
    // source's own is replaced: the target may not have tailed to its
    // position, which the lost source will never serve.
    if (current->of_this_move.has_value() && current->of_this_move->without_source) continue;
    const uint64_t fence_clock =
        current->of_this_move.has_value() ? std::max(clock, current->of_this_move->clock) : clock;
    const std::string key = MoveFenceKey(site_, shard);
    guard.push_back(EtcdCompare::ModRevisionIs(key, current->mod_revision));
    fences.push_back(
        EtcdWrite::Put(key, EncodeMoveFence({lost.id, to, move->since_unix_ns, 0, fence_clock,
                                             /*without_source=*/true})));
  }
  absl::StatusOr<v1::PlacementChangeResponse> r =
      Commit(*etcd_, site_, *state, plan->placement, guard, before_commit_, fences);
  if (!r.ok()) return r.status();
  for (uint32_t shard : plan->reassigned) r->add_shards_reassigned(shard);
  return r;
}

absl::StatusOr<v1::PlacementChangeResponse> EtcdClusterAdmin::CancelMoves(
    const v1::CancelMovesRequest& request) const {
  absl::StatusOr<SiteState> state = ReadSite(*etcd_, site_);
  if (!state.ok()) return state.status();
  if (absl::Status s = CheckExpected(*state, request.expected_revision()); !s.ok()) return s;
  std::vector<uint32_t> shards(request.shards().begin(), request.shards().end());
  if (shards.empty()) {
    for (const ShardMove& m : state->placement->moves().moves) {
      if (m.state == ShardMoveState::kPending) shards.push_back(m.shard);
    }
    if (shards.empty()) {
      std::string moves = DescribeMoves(*state->placement);
      return absl::FailedPreconditionError(absl::StrCat(
          "no PENDING move to cancel at revision ", state->placement_mod_revision,
          moves.empty() ? "" : absl::StrCat(" (", moves, "; started moves run to their end)")));
    }
  }
  Placement next = *state->placement;
  for (uint32_t shard : shards) {
    absl::StatusOr<Placement> cancelled = CancelMove(next, shard);
    if (!cancelled.ok()) return cancelled.status();
    next = *std::move(cancelled);
  }
  absl::StatusOr<v1::PlacementChangeResponse> r =
      Commit(*etcd_, site_, *state, next, {}, before_commit_);
  if (r.ok()) r->set_shards_to_move(static_cast<uint32_t>(next.moves().moves.size()));
  return r;
}

absl::StatusOr<v1::FenceWithoutSourceResponse> EtcdClusterAdmin::FenceWithoutSource(
    const v1::FenceWithoutSourceRequest& request) const {
  if (!request.accept_loss()) {
    return absl::InvalidArgumentError(
        "accept_loss: required: the source's entries of the shard that the target did not tail "
        "are lost here (a peer site that pulled them brings them back by range sync)");
  }
  absl::StatusOr<SiteState> state = ReadSite(*etcd_, site_);
  if (!state.ok()) return state.status();
  const Placement& placement = *state->placement;
  if (request.shard() >= placement.num_shards()) {
    return absl::InvalidArgumentError(absl::StrCat("shard: ", request.shard(), " is outside 0..",
                                                   placement.num_shards() - 1,
                                                   " (the site's shards)"));
  }
  const ShardMove* move = placement.MoveOfShard(request.shard());
  if (move == nullptr || move->state != ShardMoveState::kFlipped) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard: ", request.shard(), " has no FLIPPED move (",
        move == nullptr
            ? "no move"
            : absl::StrCat("its move is ", std::string(ShardMoveStateName(move->state))),
        "): only a flipped move waits for its source's fence"));
  }
  const std::string& from = placement.members()[move->from].id;
  const std::string& to = placement.members()[move->to].id;
  if (state->registered.count(from) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the source of shard ", request.shard(), ", ", from,
                     ", is alive (its lease is kept): it publishes the fence itself"));
  }
  // A lease runs out when its node cannot reach etcd, not only when the
  // node is gone: one cut off from etcd still serves, with a placement from
  // before the flip, so it could take writes of the shard after the fence.
  if (probe_ != nullptr) {
    const std::string& address = placement.members()[move->from].address;
    if (absl::Status answered = probe_(address); answered.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the source of shard ", request.shard(), ", ", from, ", answers at ", address,
          " though its lease has run out: it is alive but cut off from etcd, may still take "
          "writes of the shard, and publishes the fence itself once it reaches etcd again; "
          "stop its process (or its machine) for good first"));
    }
  }
  // Versions count seconds of the writers' clocks: this node's now is past
  // anything the source stamped before it died, unless its clock ran ahead.
  MoveFence fence{from,
                  to,
                  move->since_unix_ns,
                  0,
                  engine::MakeVersion(static_cast<uint64_t>(absl::ToUnixSeconds(absl::Now())), 0),
                  /*without_source=*/true};
  // One Txn with what was checked: the source must not register again, nor
  // the placement change, between the read and the write.
  // The key may hold an earlier move's fence of this shard (replaced), not
  // this move's.
  const std::string fence_key = MoveFenceKey(site_, request.shard());
  absl::StatusOr<FenceKeyRead> current =
      ReadMoveFenceKey(*etcd_, site_, request.shard(), {from, to, move->since_unix_ns});
  if (!current.ok()) return current.status();
  if (current->of_this_move.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("shard ", request.shard(),
                                                      ": a fence is published already (", fence_key,
                                                      "); the target opens the shard with it"));
  }
  absl::StatusOr<EtcdTxnOutcome> put =
      etcd_->Txn({EtcdCompare::ModRevisionIs(fence_key, current->mod_revision),
                  EtcdCompare::Absent(MemberKey(site_, from)),
                  EtcdCompare::ModRevisionIs(PlacementKey(site_), state->placement_mod_revision)},
                 {EtcdWrite::Put(fence_key, EncodeMoveFence(fence))});
  if (!put.ok()) return put.status();
  if (!put->committed) {
    return absl::FailedPreconditionError(
        absl::StrCat("shard ", request.shard(), ": no fence written: one is published already (",
                     fence_key, "), the source ", from,
                     " registered again, or the placement changed since it was read; "
                     "see `historian cluster status` and run the command again if still needed"));
  }
  v1::FenceWithoutSourceResponse response;
  response.set_from_id(from);
  response.set_to_id(to);
  response.set_clock(fence.clock);
  response.set_etcd_revision(put->revision);
  return response;
}

}  // namespace historian::cluster
