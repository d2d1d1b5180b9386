// File: lease_fence.cc
#include "server/cluster/lease_fence.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace historian::cluster {

LeaseFence::LeaseFence(std::function<int64_t()> view_revision, Clock::duration isolation_fence,
                       Clock::time_point started)
    : view_revision_(std::move(view_revision)),
      isolation_fence_(isolation_fence),
      lost_since_(started) {}

std::optional<LeaseFence::Clock::time_point> LeaseFence::UnheldSinceLocked(
    Clock::time_point now) const {
  if (!lost_reason_.empty()) return lost_since_;
  if (now + kClockMargin >= alive_until_) return alive_until_ - kClockMargin;
  return std::nullopt;
}

void LeaseFence::Registered(int64_t lease_id, int64_t revision, Clock::time_point alive_until,
                            Clock::time_point now) {
  absl::MutexLock l(&mu_);
  gap_since_ = UnheldSinceLocked(now);
  lease_id_ = lease_id;
  registered_revision_ = revision;
  alive_until_ = alive_until;
  lost_reason_.clear();
}

void LeaseFence::Renewed(int64_t lease_id, Clock::time_point alive_until) {
  absl::MutexLock l(&mu_);
  if (lease_id != lease_id_ || !lost_reason_.empty()) return;
  if (alive_until > alive_until_) alive_until_ = alive_until;
}

void LeaseFence::Lost(int64_t lease_id, Clock::time_point now) {
  absl::MutexLock l(&mu_);
  if (lease_id != lease_id_) return;
  if (lost_reason_.empty()) lost_since_ = std::min(now, alive_until_ - kClockMargin);
  alive_until_ = Clock::time_point::min();
  lost_reason_ = absl::StrCat("its lease ", lease_id, " is gone");
}

LeaseFence::LeaseCheck LeaseFence::Check(Clock::time_point now) const {
  LeaseCheck check;
  check.isolation_fence = isolation_fence_;
  int64_t lease_id = 0;
  int64_t registered_revision = 0;
  std::optional<Clock::time_point> gap_since;
  {
    absl::MutexLock l(&mu_);
    if (std::optional<Clock::time_point> since = UnheldSinceLocked(now)) {
      check.isolated = now - *since >= isolation_fence_;
      if (!lost_reason_.empty()) {
        check.held = absl::UnavailableError(absl::StrCat("this member holds no etcd lease (",
                                                         lost_reason_, "; registering again)"));
        return check;
      }
      const auto ago =
          std::chrono::duration_cast<std::chrono::milliseconds>(now + kClockMargin - alive_until_)
              .count();
      check.held = absl::UnavailableError(absl::StrCat(
          "this member is cut off from etcd: no keep-alive of its lease ", lease_id_,
          " was answered in time, so etcd may have expired it (up to ", ago,
          " ms ago, counting a margin for clock rates; another node may take its shards over "
          "without it)"));
      return check;
    }
    lease_id = lease_id_;
    registered_revision = registered_revision_;
    gap_since = gap_since_;
  }
  const int64_t seen = view_revision_();
  if (seen < registered_revision) {
    check.isolated = gap_since.has_value() && now - *gap_since >= isolation_fence_;
    check.held = absl::UnavailableError(
        absl::StrCat("this member registered again (lease ", lease_id, ", etcd revision ",
                     registered_revision, ") but its placement view has only seen revision ", seen,
                     " (changes made while it had no lease may not be applied yet)"));
  }
  return check;
}

bool LeaseFence::MayFence(const Placement& placement, uint32_t self, const Store* store,
                          bool isolated) {
  if (isolated) return true;
  if (store != nullptr && store->HasMoveAcks()) return true;
  for (const ShardMove& m : placement.moves().moves) {
    if (m.from == self && m.state == ShardMoveState::kInitializing) return true;
  }
  return false;
}

std::set<uint32_t> LeaseFence::HandedOverShards(const Placement& placement, uint32_t self,
                                                const Store* store) {
  std::set<uint32_t> shards;
  for (const ShardMove& m : placement.moves().moves) {
    if (m.from == self && m.state == ShardMoveState::kInitializing) shards.insert(m.shard);
  }
  if (store != nullptr && store->HasMoveAcks()) {
    for (const auto& [shard, position] : store->MoveAcks()) shards.insert(shard);
  }
  return shards;
}

std::set<uint32_t> LeaseFence::FencedShards(const Placement& placement, uint32_t self,
                                            const Store* store, bool isolated) {
  std::set<uint32_t> shards = HandedOverShards(placement, self, store);
  if (isolated) {
    for (uint32_t s = 0; s < placement.num_shards(); ++s) {
      if (placement.shard_owner()[s] == self) shards.insert(s);
    }
  }
  return shards;
}

std::string LeaseFence::FencedBecause(const LeaseCheck& lease, const Placement& placement,
                                      uint32_t self, const Store* store, uint32_t shard) {
  if (HandedOverShards(placement, self, store).count(shard) > 0) {
    return absl::StrCat("is in shard ", shard,
                        ", which this member is handing over to another, and ",
                        lease.held.message());
  }
  return absl::StrCat(
      "is in shard ", shard, ", which this member owns, and ", lease.held.message(),
      "; it has been without a lease for its isolation write fence (",
      std::chrono::duration_cast<std::chrono::seconds>(lease.isolation_fence).count(),
      " s) or longer, so `remove-node --lost` may have given its shards to others");
}

namespace {

// Index of member `self_id` in `placement`; -1 when none.
int SelfIndex(const Placement& placement, const std::string& self_id) {
  for (size_t i = 0; i < placement.members().size(); ++i) {
    if (placement.members()[i].id == self_id) return static_cast<int>(i);
  }
  return -1;
}

// The first of `shards` member `self` fences in `placement` under `lease`.
std::optional<uint32_t> FirstFencedIn(const LeaseFence::LeaseCheck& lease,
                                      const Placement& placement, uint32_t self, const Store* store,
                                      const std::vector<uint32_t>& shards) {
  if (lease.held.ok()) return std::nullopt;
  const std::set<uint32_t> fenced =
      LeaseFence::FencedShards(placement, self, store, lease.isolated);
  for (uint32_t shard : shards) {
    if (fenced.count(shard)) return shard;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> LeaseFence::FirstFenced(const LeaseCheck& lease, const ClusterView& view,
                                                   const Store* store,
                                                   const std::vector<uint32_t>& shards) {
  const std::shared_ptr<const Placement> placement = view.placement();
  if (placement == nullptr || shards.empty()) return std::nullopt;
  const int self = SelfIndex(*placement, view.self_id());
  if (self < 0) return std::nullopt;
  const auto self_index = static_cast<uint32_t>(self);
  const std::optional<uint32_t> shard = FirstFencedIn(lease, *placement, self_index, store, shards);
  if (!shard.has_value()) return std::nullopt;
  return FencedBecause(lease, *placement, self_index, store, *shard);
}

absl::Status LeaseFence::CheckTagChange(const LeaseCheck& lease, const ClusterView& view,
                                        const Store* store, std::string_view what,
                                        std::string_view tag) {
  if (lease.held.ok()) return absl::OkStatus();
  const std::shared_ptr<const Placement> placement = view.placement();
  if (placement == nullptr) return absl::OkStatus();
  const int self = SelfIndex(*placement, view.self_id());
  if (self < 0) return absl::OkStatus();
  const std::optional<uint32_t> shard = FirstFencedIn(
      lease, *placement, static_cast<uint32_t>(self), store, {placement->ShardOfTag(tag)});
  if (!shard.has_value()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      std::string(what), " refused by member '", view.self_id(), "': tag '", std::string(tag), "' ",
      FencedBecause(lease, *placement, static_cast<uint32_t>(self), store, *shard),
      "; not acknowledged (retry: it is done here once the member reaches etcd again, or by the "
      "shard's new owner)"));
}

}  // namespace historian::cluster
