#include "server/cluster/shard_janitor.h"

#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/logging.h"
#include "storage/store.h"

namespace historian::cluster {

bool ShardIsOrphanHere(const Placement& placement, std::string_view self_id, uint32_t shard) {
  const int self = placement.FindMember(self_id);
  if (self < 0 || shard >= placement.num_shards()) return false;
  const uint32_t me = static_cast<uint32_t>(self);
  if (placement.shard_owner()[shard] == me) return false;
  const ShardMove* move = placement.MoveOfShard(shard);
  return move == nullptr || (move->from != me && move->to != me);
}

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

ShardJanitor::ShardJanitor(Store* store, const ClusterView* view, ShardDropGate* gate,
                           absl::Duration retry_interval)
    : store_(store), view_(view), gate_(gate), retry_interval_(retry_interval) {}

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
    bool woken = false;
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
      // Between placements, a look at the closed shards now and then: a
      // move's target may close one after the pass on the placement that
      // ended its move (ReopenClosedShards).
      woken = mu_.AwaitWithTimeout(absl::Condition(&ready), retry_interval_);
      if (stop_) return;
      if (woken) wake_ = false;
    }
    if (!woken) {
      if (!store_->ClosedShards().empty()) {
        absl::MutexLock pass(&pass_mu_);
        ReopenClosedShards().IgnoreError();  // tried again next time
      }
      continue;
    }
    std::shared_ptr<const Placement> p = view_->placement();
    if (p == nullptr) continue;
    if (RunPass(*p).ok()) continue;
    // Failed: try again after retry_interval_ (or at the next placement).
    absl::MutexLock l(&mu_);
    auto stop_or_wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop_or_wake), retry_interval_);
    wake_ = true;
  }
}

absl::Status ShardJanitor::ReopenClosedShards() {
  // A shard closed here stays closed while a move to this node (the
  // target, from its flip step to its open) or a FLIPPED move from it (the
  // source after its fence) holds it; otherwise it opens again:
  // - another member's (the source's fence of a move that is over):
  //   nothing here refuses it then (a later move to this node closes it
  //   anew);
  // - this node's: a move rolled back (its target could not reach this
  //   node's fence, ShardMover::RollBackFlipped, or is lost for good) or
  //   taken over by `remove-node --lost`, also when a new
  //   PENDING or INITIALIZING move of it away from this (leaving) node
  //   follows. Only on a placement read from etcd since this process
  //   started: an earlier run's cache may predate the move that closed it.
  //   The clock stays as it is: the lost member's versions were stamped
  //   before its lease ran out, and this node's clock is past them unless
  //   the clocks differ by more than that.
  // The closed shards first, then the placement as it is now: a move's
  // target closes only after its view shows the move, and views only go
  // forward, so a shard a move to this node closed is always seen as
  // moving here while the move lasts.
  const std::map<uint32_t, shard_copy::ClosedShard> closed_now = store_->ClosedShards();
  const bool from_etcd = view_->PlacementReadFromEtcd();
  const std::shared_ptr<const Placement> now = view_->placement();
  const std::string self = view_->self_id();
  const int self_index = now == nullptr ? -1 : now->FindMember(self);
  absl::Status first;
  int64_t reopened = 0;
  for (const auto& [shard, closed] : closed_now) {
    if (self_index < 0 || shard >= now->num_shards()) break;
    const uint32_t me = static_cast<uint32_t>(self_index);
    const ShardMove* move = now->MoveOfShard(shard);
    const bool held =
        move != nullptr &&
        (move->to == me || (move->from == me && move->state == ShardMoveState::kFlipped));
    const bool owned = now->shard_owner()[shard] == me;
    if (held || (owned && !from_etcd)) continue;
    if (absl::Status s = store_->OpenShardToWrites(shard, 0); !s.ok()) {
      if (first.ok()) first = s;
      continue;
    }
    if (owned) {
      ++reopened;
      server::LogWarning(
          "cluster",
          "janitor: reopened a shard this node owns with no move of it holding it (a move "
          "rolled back, or settled by remove-node --lost)",
          {{"shard", absl::StrCat(shard)}, {"placement_revision", absl::StrCat(now->revision())}});
    }
  }
  absl::MutexLock l(&mu_);
  stats_.owned_shards_reopened += reopened;
  return first;
}

absl::Status ShardJanitor::RunPass(const Placement& placement) {
  absl::MutexLock pass(&pass_mu_);
  const std::string self = view_->self_id();
  const JanitorPlan plan = PlanJanitor(
      placement, self, store_->TagCountsByShard(placement.num_shards()), store_->MoveAcks());
  absl::Status first;
  int64_t shards = 0, tags = 0, acks = 0;
  for (uint32_t shard : plan.drop) {
    // The plan's placement may be older than the view's now, which may
    // move the shard here (or give it back): checked again, and dropped,
    // with no move of it starting meanwhile (ShardDropGate).
    bool skipped = false;
    absl::StatusOr<uint64_t> dropped = uint64_t{0};
    absl::Status gated = gate_->Run([&] {
      const std::shared_ptr<const Placement> now = view_->placement();
      if (now == nullptr || !ShardIsOrphanHere(*now, self, shard)) {
        skipped = true;
        return absl::OkStatus();
      }
      server::LogWarning("cluster",
                         "janitor: dropping the data of a shard this node neither owns nor moves",
                         {{"shard", absl::StrCat(shard)},
                          {"num_shards", absl::StrCat(placement.num_shards())},
                          {"owner", now->OwnerOfShard(shard).id},
                          {"member", self},
                          {"placement_revision", absl::StrCat(now->revision())}});
      dropped = store_->DropShard(shard, placement.num_shards());
      return absl::OkStatus();
    });
    if (!gated.ok()) dropped = gated;
    if (skipped) {
      server::LogInfo("cluster",
                      "janitor: kept a shard its pass planned to drop: the placement now moves "
                      "it to or from this node, or gives it to this node",
                      {{"shard", absl::StrCat(shard)},
                       {"pass_placement_revision", absl::StrCat(placement.revision())}});
      continue;
    }
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
  if (absl::Status s = ReopenClosedShards(); !s.ok() && first.ok()) first = s;
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
