#include "server/cluster/shard_janitor.h"

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logging.h"
#include "storage/store.h"

namespace historian::cluster {

JanitorPlan PlanJanitor(const Placement& placement, std::string_view self_id,
                        const std::map<uint32_t, uint64_t>& tags_by_shard,
                        const std::map<uint32_t, uint64_t>& move_acks) {
  JanitorPlan plan;
  int self = -1;
  for (size_t i = 0; i < placement.members().size(); ++i) {
    if (placement.members()[i].id == self_id) self = static_cast<int>(i);
  }
  if (self < 0) return plan;  // not a member: owns nothing, decides nothing
  const uint32_t me = static_cast<uint32_t>(self);
  std::set<uint32_t> moving, sourcing;  // shards in a move from or to this node
  for (const ShardMove& m : placement.moves().moves) {
    if (m.from == me || m.to == me) moving.insert(m.shard);
    if (m.from == me) sourcing.insert(m.shard);
  }
  for (const auto& [shard, tags] : tags_by_shard) {
    if (tags == 0 || shard >= placement.num_shards()) continue;
    if (placement.shard_owner()[shard] == me || moving.count(shard) != 0) continue;
    plan.drop.push_back(shard);
  }
  for (const auto& [shard, position] : move_acks) {
    if (sourcing.count(shard) == 0) plan.clear_acks.push_back(shard);
  }
  return plan;
}

ShardJanitor::ShardJanitor(Store* store, const ClusterView* view, absl::Duration retry_interval)
    : store_(store), view_(view), retry_interval_(retry_interval) {}

ShardJanitor::~ShardJanitor() { Stop(); }

absl::Status ShardJanitor::Start() {
  absl::Status first;
  if (std::shared_ptr<const Placement> p = view_->placement(); p != nullptr) first = RunPass(*p);
  absl::MutexLock l(&mu_);
  if (!thread_.joinable() && !stop_) {
    if (!first.ok()) wake_ = true;  // the thread retries a failed pass
    thread_ = std::thread([this] { Run(); });
  }
  return first;
}

void ShardJanitor::OnPlacement() {
  absl::MutexLock l(&mu_);
  wake_ = true;
}

void ShardJanitor::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

ShardJanitor::Stats ShardJanitor::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void ShardJanitor::Run() {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      wake_ = false;
    }
    std::shared_ptr<const Placement> p = view_->placement();
    if (p == nullptr) continue;
    if (RunPass(*p).ok()) continue;
    // Failed: try again after retry_interval_ (or at the next placement).
    absl::MutexLock l(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), retry_interval_);
    wake_ = true;
  }
}

absl::Status ShardJanitor::RunPass(const Placement& placement) {
  absl::MutexLock pass(&pass_mu_);
  const std::string self = view_->self_id();
  const JanitorPlan plan = PlanJanitor(
      placement, self, store_->TagCountsByShard(placement.num_shards()), store_->MoveAcks());
  absl::Status first;
  int64_t shards = 0, tags = 0, acks = 0;
  for (uint32_t shard : plan.drop) {
    server::LogWarning("cluster",
                       "janitor: dropping the data of a shard this node neither owns nor moves",
                       {{"shard", absl::StrCat(shard)},
                        {"num_shards", absl::StrCat(placement.num_shards())},
                        {"owner", placement.OwnerOfShard(shard).id},
                        {"member", self},
                        {"placement_revision", absl::StrCat(placement.revision())}});
    absl::StatusOr<uint64_t> dropped = store_->DropShard(shard, placement.num_shards());
    if (!dropped.ok()) {
      server::LogError("cluster", "janitor: dropping a shard failed; retrying later",
                       {{"shard", absl::StrCat(shard)}, {"error", dropped.status().ToString()}});
      if (first.ok()) first = dropped.status();
      continue;
    }
    ++shards;
    tags += static_cast<int64_t>(*dropped);
    server::LogWarning("cluster", "janitor: dropped a shard",
                       {{"shard", absl::StrCat(shard)},
                        {"tags", absl::StrCat(*dropped)},
                        {"placement_revision", absl::StrCat(placement.revision())}});
  }
  // A shard closed here when it moved away (the source's fence) opens
  // again once its move is over and it is not this node's: nothing here
  // refuses it then (a later move to this node closes it anew).
  // The closed shards first, then the placement as it is now (not the
  // pass's, which the drops above may have outlived): a move's target
  // closes only after its view shows the move, and views only go forward,
  // so a shard a move to this node closed is always seen as moving here.
  const std::map<uint32_t, shard_copy::ClosedShard> closed_now = store_->ClosedShards();
  const std::shared_ptr<const Placement> now = view_->placement();
  const int self_index = now == nullptr ? -1 : now->FindMember(self);
  for (const auto& [shard, closed] : closed_now) {
    if (self_index < 0 || shard >= now->num_shards()) break;
    const ShardMove* move = now->MoveOfShard(shard);
    const bool involved = move != nullptr && (move->from == static_cast<uint32_t>(self_index) ||
                                              move->to == static_cast<uint32_t>(self_index));
    if (involved || now->shard_owner()[shard] == static_cast<uint32_t>(self_index)) continue;
    if (absl::Status s = store_->OpenShardToWrites(shard, 0); !s.ok() && first.ok()) first = s;
  }
  for (uint32_t shard : plan.clear_acks) {
    absl::Status s = store_->ClearMoveAck(shard);
    if (!s.ok()) {
      if (first.ok()) first = s;
      continue;
    }
    ++acks;
    server::LogInfo("cluster", "janitor: cleared the move ack of a move that left the placement",
                    {{"shard", absl::StrCat(shard)},
                     {"placement_revision", absl::StrCat(placement.revision())}});
  }
  absl::MutexLock l(&mu_);
  ++stats_.passes;
  stats_.shards_dropped += shards;
  stats_.tags_dropped += tags;
  stats_.acks_cleared += acks;
  if (first.ok()) {
    stats_.done_revision = placement.revision();
  } else {
    stats_.last_error = first;
  }
  return first;
}

}  // namespace historian::cluster
