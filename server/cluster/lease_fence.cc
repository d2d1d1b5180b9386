// File: lease_fence.cc
#include "server/cluster/lease_fence.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace historian::cluster {

LeaseFence::LeaseFence(std::function<int64_t()> view_revision)
    : view_revision_(std::move(view_revision)) {}

void LeaseFence::Registered(int64_t lease_id, int64_t revision, Clock::time_point alive_until) {
  absl::MutexLock l(&mu_);
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

void LeaseFence::Lost(int64_t lease_id) {
  absl::MutexLock l(&mu_);
  if (lease_id != lease_id_) return;
  alive_until_ = Clock::time_point::min();
  lost_reason_ = absl::StrCat("its lease ", lease_id, " is gone");
}

absl::Status LeaseFence::CheckHeld(Clock::time_point now) const {
  int64_t lease_id = 0;
  int64_t registered_revision = 0;
  {
    absl::MutexLock l(&mu_);
    if (!lost_reason_.empty()) {
      return absl::UnavailableError(
          absl::StrCat("this member holds no etcd lease (", lost_reason_, "; registering again)"));
    }
    if (now + kClockMargin >= alive_until_) {
      const auto ago =
          std::chrono::duration_cast<std::chrono::milliseconds>(now + kClockMargin - alive_until_)
              .count();
      return absl::UnavailableError(absl::StrCat(
          "this member is cut off from etcd: no keep-alive of its lease ", lease_id_,
          " was answered in time, so etcd may have expired it (up to ", ago,
          " ms ago, counting a margin for clock rates; another node may take its shards over "
          "without it)"));
    }
    lease_id = lease_id_;
    registered_revision = registered_revision_;
  }
  const int64_t seen = view_revision_();
  if (seen < registered_revision) {
    return absl::UnavailableError(
        absl::StrCat("this member registered again (lease ", lease_id, ", etcd revision ",
                     registered_revision, ") but its placement view has only seen revision ", seen,
                     " (changes made while it had no lease may not be applied yet)"));
  }
  return absl::OkStatus();
}

bool LeaseFence::MayHandOver(const Placement& placement, uint32_t self, const Store* store) {
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

namespace {

// The first of `shards` member `self_id` hands over in `placement`.
std::optional<uint32_t> FirstHandedOverIn(const Placement& placement, const std::string& self_id,
                                          const Store* store, const std::vector<uint32_t>& shards) {
  for (size_t i = 0; i < placement.members().size(); ++i) {
    if (placement.members()[i].id != self_id) continue;
    const std::set<uint32_t> handed =
        LeaseFence::HandedOverShards(placement, static_cast<uint32_t>(i), store);
    for (uint32_t shard : shards) {
      if (handed.count(shard)) return shard;
    }
    break;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint32_t> LeaseFence::FirstHandedOver(const ClusterView& view, const Store* store,
                                                    const std::vector<uint32_t>& shards) {
  const std::shared_ptr<const Placement> placement = view.placement();
  if (placement == nullptr || shards.empty()) return std::nullopt;
  return FirstHandedOverIn(*placement, view.self_id(), store, shards);
}

absl::Status LeaseFence::CheckTagChange(const absl::Status& held, const ClusterView& view,
                                        const Store* store, std::string_view what,
                                        std::string_view tag) {
  if (held.ok()) return absl::OkStatus();
  const std::shared_ptr<const Placement> placement = view.placement();
  if (placement == nullptr) return absl::OkStatus();
  const std::optional<uint32_t> shard =
      FirstHandedOverIn(*placement, view.self_id(), store, {placement->ShardOfTag(tag)});
  if (!shard.has_value()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      std::string(what), " refused by member '", view.self_id(), "': tag '", std::string(tag),
      "' is in shard ", *shard, ", which this member is handing over to another, and ",
      held.message(),
      "; not acknowledged (retry: it is done here once the member reaches etcd again, or by the "
      "shard's new owner)"));
}

}  // namespace historian::cluster
