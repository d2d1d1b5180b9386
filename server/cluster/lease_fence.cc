// File: lease_fence.cc
#include "server/cluster/lease_fence.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace historian::cluster {

LeaseFence::LeaseFence(std::function<int64_t()> view_revision, Clock::duration isolation_fence,
                       Clock::time_point started, std::string alive_file)
    : view_revision_(std::move(view_revision)),
      isolation_fence_(isolation_fence),
      alive_file_(std::move(alive_file)),
      fence_(std::min(isolation_fence, RestoredFence(alive_file_).value_or(isolation_fence))),
      stretch_since_(RestoredStretchStart(alive_file_, started, absl::Now())) {}

std::optional<LeaseFence::Clock::duration> LeaseFence::RestoredFence(
    const std::string& alive_file) {
  if (alive_file.empty()) return std::nullopt;
  std::ifstream in(alive_file);
  int64_t alive_until_unix_ms = 0;
  int64_t fence_ms = 0;
  if (!(in >> alive_until_unix_ms >> fence_ms) || fence_ms <= 0) return std::nullopt;
  return std::chrono::milliseconds(fence_ms);
}

LeaseFence::Clock::time_point LeaseFence::RestoredStretchStart(const std::string& alive_file,
                                                               Clock::time_point started,
                                                               absl::Time wall_now) {
  if (alive_file.empty()) return started;
  std::ifstream in(alive_file);
  int64_t alive_until_unix_ms = 0;
  if (!(in >> alive_until_unix_ms)) return started;  // none yet (or unreadable)
  const absl::Duration ago = wall_now - absl::FromUnixMillis(alive_until_unix_ms);
  if (ago <= absl::ZeroDuration()) return started;
  // Capped far beyond any fence (1s..24h): no overflow after a long stop.
  return started - absl::ToChronoMilliseconds(std::min(ago, absl::Hours(24 * 30)));
}

void LeaseFence::SaveAliveUntil(Clock::time_point alive_until, Clock::time_point now) const {
  if (alive_file_.empty()) return;
  const absl::Time wall = absl::Now() + absl::FromChrono(alive_until - now);
  const std::string tmp = alive_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    // The fence goes with it: the one registered with (and so the site's
    // widest fence covers it), the one the next run may use before it
    // registers again.
    out << absl::ToUnixMillis(wall) << ' '
        << std::chrono::duration_cast<std::chrono::milliseconds>(isolation_fence_).count() << '\n';
    if (!out.good()) return;  // kept as it was: an earlier end, never a later one
  }
  std::rename(tmp.c_str(), alive_file_.c_str());
}

std::optional<LeaseFence::Clock::time_point> LeaseFence::StretchSinceLocked(
    Clock::time_point now) const {
  std::optional<Clock::time_point> since = stretch_since_;
  if (lost_reason_.empty() && now + kClockMargin >= alive_until_) {
    const Clock::time_point expired = alive_until_ - kClockMargin;
    if (!since.has_value() || expired < *since) since = expired;
  }
  return since;
}

void LeaseFence::Registered(int64_t lease_id, int64_t revision, Clock::time_point alive_until,
                            Clock::time_point now) {
  {
    absl::MutexLock l(&mu_);
    stretch_since_ = StretchSinceLocked(now);  // an expiry of the last lease stays counted
    fence_ = isolation_fence_;                 // registering raised the site's widest to it
    lease_id_ = lease_id;
    registered_revision_ = revision;
    alive_until_ = alive_until;
    lost_reason_.clear();
  }
  SaveAliveUntil(alive_until, now);
}

void LeaseFence::Renewed(int64_t lease_id, Clock::time_point alive_until, Clock::time_point now) {
  const int64_t seen = view_revision_();
  {
    absl::MutexLock l(&mu_);
    if (lease_id != lease_id_ || !lost_reason_.empty()) return;
    stretch_since_ = StretchSinceLocked(now);  // a renewal answered after the end
    if (alive_until > alive_until_) alive_until_ = alive_until;
    if (now + kClockMargin < alive_until_ && seen >= registered_revision_) stretch_since_.reset();
  }
  SaveAliveUntil(alive_until, now);
}

void LeaseFence::Lost(int64_t lease_id, Clock::time_point now) {
  absl::MutexLock l(&mu_);
  if (lease_id != lease_id_) return;
  if (lost_reason_.empty()) {
    const Clock::time_point lost = std::min(now, alive_until_ - kClockMargin);
    if (!stretch_since_.has_value() || lost < *stretch_since_) stretch_since_ = lost;
  }
  alive_until_ = Clock::time_point::min();
  lost_reason_ = absl::StrCat("its lease ", lease_id, " is gone");
}

LeaseFence::LeaseCheck LeaseFence::Check(Clock::time_point now) const {
  LeaseCheck check;
  const int64_t seen = view_revision_();
  absl::MutexLock l(&mu_);
  check.isolation_fence = fence_;
  const std::optional<Clock::time_point> since = StretchSinceLocked(now);
  check.isolated = since.has_value() && now - *since >= fence_;
  if (!lost_reason_.empty()) {
    check.held = absl::UnavailableError(
        absl::StrCat("this member holds no etcd lease (", lost_reason_, "; registering again)"));
    return check;
  }
  if (now + kClockMargin >= alive_until_) {
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
  if (seen < registered_revision_) {
    check.held = absl::UnavailableError(
        absl::StrCat("this member registered again (lease ", lease_id_, ", etcd revision ",
                     registered_revision_, ") but its placement view has only seen revision ", seen,
                     " (changes made while it had no lease may not be applied yet)"));
    return check;
  }
  stretch_since_.reset();  // held, and seen: the stretch is over
  check.isolated = false;
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

std::optional<std::string> ShardsNoLongerOwned(const ClusterView& view,
                                               const std::vector<uint32_t>& shards,
                                               bool lease_held) {
  const std::shared_ptr<const Placement> placement = view.placement();
  if (placement == nullptr || shards.empty()) return std::nullopt;
  const int self = SelfIndex(*placement, view.self_id());
  for (uint32_t shard : shards) {
    if (shard >= placement->num_shards()) continue;
    if (self >= 0 && placement->shard_owner()[shard] == static_cast<uint32_t>(self)) continue;
    const ShardMove* move = placement->MoveOfShard(shard);
    if (lease_held && self >= 0 && move != nullptr && move->state == ShardMoveState::kFlipped &&
        move->from == static_cast<uint32_t>(self)) {
      continue;  // at or below this member's fence: the new owner tails it
    }
    return absl::StrCat("shard ", shard, " is owned by member '", placement->OwnerOfShard(shard).id,
                        "' in placement revision ", placement->revision(),
                        ", no longer by this member '", view.self_id(), "'");
  }
  return std::nullopt;
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
