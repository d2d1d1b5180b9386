#include "server/cluster/write_forwarder.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "api/core/status_macros.h"
#include "grpcpp/client_context.h"
#include "historian/v1/ingest.grpc.pb.h"

namespace historian::cluster {
namespace {

uint64_t SamplesIn(const v1::WriteRequest& request) {
  uint64_t n = 0;
  for (const v1::TagSamples& s : request.series()) {
    n += s.samples_size() + s.columns().timestamp_deltas_ns_size();
  }
  return n;
}

// "shards 3, 17" of the batch's tags in `request` (at most 16 listed).
std::string ShardsOf(const v1::WriteRequest& request, const Placement& placement) {
  std::set<uint32_t> shards;
  for (const v1::TagSamples& s : request.series()) shards.insert(placement.ShardOfTag(s.tag()));
  std::vector<std::string> listed;
  for (uint32_t shard : shards) {
    if (listed.size() == 16) {
      listed.push_back(absl::StrCat("and ", shards.size() - 16, " more"));
      break;
    }
    listed.push_back(absl::StrCat(shard));
  }
  return absl::StrCat(shards.size() == 1 ? "shard " : "shards ", absl::StrJoin(listed, ", "));
}

// Why a forwarded part holding a tag this node does not own is refused.
std::string WhyNotForwardedOn(const WriteHop& hop) {
  if (hop.second_hop) {
    return "it was forwarded twice already; the sender retries with the current placement";
  }
  if (!hop.routed_at_revision.has_value()) {
    return "one hop only: the sender does not say which placement it routed by; it retries "
           "with the current one";
  }
  return absl::StrCat("the sender routed by placement revision ", *hop.routed_at_revision,
                      ", not older than this member's; it retries once the placements agree");
}

absl::StatusCode FromGrpc(grpc::StatusCode code) { return static_cast<absl::StatusCode>(code); }

}  // namespace

struct ForwardedBatch::Call {
  std::unique_ptr<v1::Ingest::Stub> stub;
  grpc::ClientContext context;
  v1::WriteRequest request;
  v1::WriteAck ack;
  grpc::Status status;
  std::string owner_id;
  std::string owner_address;
  std::string shards;  // "shards 3, 17": the batch's shards this owner holds
  uint64_t samples = 0;
  // The caller's deadline; the call's own is the earlier of it and the
  // forward timeout counted from when the call is sent (a part queued
  // behind earlier ones of its stream does not spend its time waiting).
  std::chrono::system_clock::time_point caller_deadline;
};

ForwardedBatch::ForwardedBatch() = default;

ForwardedBatch::~ForwardedBatch() { Wait(); }

void ForwardedBatch::Wait() {
  if (done_ == nullptr || waited_) return;
  done_->Wait();
  waited_ = true;
}

WriteForwarder::WriteForwarder(const ClusterView* view, MemberChannels* channels,
                               server::Metrics* metrics, absl::Duration forward_timeout,
                               const LeaseFence* lease_fence, const Store* store)
    : view_(view),
      channels_(channels),
      metrics_(metrics),
      forward_timeout_(forward_timeout),
      lease_fence_(lease_fence),
      store_(store) {
  if (metrics_ != nullptr) DescribeMetrics(metrics_);
}

WriteForwarder::~WriteForwarder() = default;

void WriteForwarder::DescribeMetrics(server::Metrics* metrics) {
  metrics->Describe(kForwardedSamplesMetric, "counter",
                    "Samples this node forwarded to their owners and the owner acknowledged, by "
                    "owner member id");
  metrics->Describe(kForwardedBatchesMetric, "counter",
                    "Parts of write batches this node forwarded and the owner acknowledged, by "
                    "owner member id");
  metrics->Describe(kForwardErrorsMetric, "counter",
                    "Forwarded write parts that failed (the client's batch failed and is "
                    "retried), by owner member id and gRPC code");
  metrics->Describe(kLeaseFencedMetric, "counter",
                    "Write batches this node refused (UNAVAILABLE) because they held tags of a "
                    "shard it hands over while its etcd lease may have run out");
  metrics->Describe(kForwardedOnMetric, "counter",
                    "Forwarded write batches this node forwarded on once more (the second hop) "
                    "because their sender routed by an older placement (a shard moved away "
                    "from this node)");
  metrics->Describe(kForwardOrderWaitsMetric, "counter",
                    "Write batches of an Ingest.Write stream held back until the stream's "
                    "parts routed by the placement before were answered (a placement change "
                    "between two batches; keeps the later batch winning)");
  metrics->Describe(kMisroutedRefusedMetric, "counter",
                    "Forwarded write batches this node refused (ABORTED) because they held tags "
                    "of shards it does not own and could not go on (forwarded twice, or routed by "
                    "a placement no older than this node's)");
}

void WriteForwarder::Count(std::string_view name, std::string_view labels, double value) {
  if (metrics_ != nullptr) metrics_->Add(name, labels, value);
}

WriteForwarder::Snapshot WriteForwarder::Current() {
  std::shared_ptr<const Placement> placement = view_->placement();
  absl::MutexLock l(&mu_);
  if (cached_.placement != placement) {
    Snapshot s;
    s.placement = placement;
    if (placement != nullptr) {
      s.proto = std::make_shared<const v1::PlacementResponse>(placement->ToProto({}));
      const std::string self = view_->self_id();
      for (size_t i = 0; i < placement->members().size(); ++i) {
        if (placement->members()[i].id == self) s.self_index = static_cast<int>(i);
      }
    }
    cached_ = std::move(s);
  }
  return cached_;
}

absl::Status WriteForwarder::CheckLeaseFence(const v1::WriteRequest& request, const Snapshot& snap,
                                             const LeaseFence::LeaseCheck& lease) const {
  if (lease_fence_ == nullptr || lease.held.ok() || snap.self_index < 0) return absl::OkStatus();
  const Placement& placement = *snap.placement;
  const auto self = static_cast<uint32_t>(snap.self_index);
  if (!LeaseFence::MayFence(placement, self, store_, lease.isolated)) return absl::OkStatus();
  const std::set<uint32_t> fenced =
      LeaseFence::FencedShards(placement, self, store_, lease.isolated);
  for (int i = 0; i < request.series_size(); ++i) {
    const std::string& tag = request.series(i).tag();
    const uint32_t shard = placement.ShardOfTag(tag);
    if (snap.proto->shard_owner(static_cast<int>(shard)) != self || !fenced.count(shard)) {
      continue;
    }
    return absl::UnavailableError(absl::StrCat(
        "write refused by member '", view_->self_id(), "': series[", i, "].tag '", tag, "' ",
        LeaseFence::FencedBecause(lease, placement, self, store_, shard),
        "; nothing of this batch was stored (retry: it is stored here once the member reaches "
        "etcd again, or by the shard's new owner)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ForwardedBatch>> WriteForwarder::Route(
    const grpc::ServerContextBase& caller, const v1::WriteRequest& request, ForwardOrder* order,
    std::vector<uint32_t>* local_shards) {
  if (view_ == nullptr) return nullptr;
  // The fence before the placement: a placement read after a passing check
  // is at least as new as the registration it holds (LeaseFence).
  const LeaseFence::LeaseCheck lease =
      lease_fence_ != nullptr ? lease_fence_->Check() : LeaseFence::LeaseCheck{};
  Snapshot snap = Current();
  const WriteHop hop = WriteHop::Of(caller);
  const bool forwarded = hop.forwarded;
  if (snap.placement == nullptr) {
    // Without a placement this node cannot tell its own tags: storing a
    // write would put samples where no query looks once the placement
    // comes (a forwarded part comes from a member routing by a placement
    // this node has not read yet). Refused in every case, also before
    // `historian cluster init` (the writer retries; the gateway keeps it).
    if (forwarded) {
      absl::Status why = view_->NoPlacementStatus();
      return absl::UnavailableError(absl::StrCat(
          "forwarded write refused by member '", view_->self_id(),
          "': no placement yet on this node (the sender routes by one it has not read; ",
          why.ok() ? "run `historian cluster init` if the site has none"
                   : std::string(why.message()),
          "); nothing of this part was stored"));
    }
    absl::Status why = view_->NoPlacementStatus();
    if (!why.ok()) return why;
    // The first placement arrived since Current() above: route by it.
    if (Current().placement != nullptr) return Route(caller, request, order, local_shards);
    return absl::UnavailableError(absl::StrCat("write refused by member '", view_->self_id(),
                                               "': no placement yet on this node"));
  }
  if (order != nullptr && order->MustAwaitBefore(snap.placement->revision())) {
    // A part of the stream's earlier batches may still go on from its old
    // owner (ForwardOrder): this batch waits for them, then is routed by
    // the placement and the lease as they are after the wait. If one of
    // them failed, the client resends from that batch: this one is not
    // stored before it (it would then lose to it).
    Count(kForwardOrderWaitsMetric, "", 1);
    if (grpc::Status failed = order->AwaitAllAnswered(); !failed.ok()) {
      return absl::AbortedError(absl::StrCat(
          "write refused by member '", view_->self_id(),
          "': an earlier batch of this stream "
          "failed at a member (",
          failed.error_message(),
          ") and the placement changed since; "
          "nothing of this batch was stored: resend the stream's batches from the failed one, "
          "in order"));
    }
    return Route(caller, request, order, local_shards);
  }
  if (absl::Status fenced = CheckLeaseFence(request, snap, lease); !fenced.ok()) {
    Count(kLeaseFencedMetric, "", 1);
    return fenced;
  }
  // The shards stored here, for the check after the commit (IngestService).
  if (lease_fence_ == nullptr) local_shards = nullptr;
  const Placement& placement = *snap.placement;
  // A forwarded part whose sender routed by an older placement goes on to
  // the owners this node names (the second hop, never a third).
  const bool forward_on = hop.MayForwardOnAt(placement.revision());
  bool all_local = true;
  for (int i = 0; i < request.series_size(); ++i) {
    const std::string& tag = request.series(i).tag();
    const uint32_t shard = placement.ShardOfTag(tag);
    if (static_cast<int>(snap.proto->shard_owner(static_cast<int>(shard))) == snap.self_index) {
      if (local_shards != nullptr) local_shards->push_back(shard);
      continue;
    }
    all_local = false;
    if (forwarded && !forward_on) {
      // Never store on the wrong node, never forward a third time or by a
      // placement no newer than the sender's.
      Count(kMisroutedRefusedMetric, "", 1);
      const PlacementMember& owner = placement.OwnerOfShard(shard);
      return absl::AbortedError(
          absl::StrCat("forwarded write refused by member '", view_->self_id(), "': series[", i,
                       "].tag '", tag, "' is in shard ", shard, ", which member '", owner.id, "' (",
                       owner.address, ") owns in placement revision ", placement.revision(),
                       "; nothing of this part was stored (", WhyNotForwardedOn(hop), ")"));
    }
    if (request.slice() != 0) {
      // An owner of an older version would take this slice for a retry
      // of another slice of the batch (same client, sequence and tags)
      // and drop it: refused before anything is stored.
      const PlacementMember& owner = placement.OwnerOfShard(shard);
      if (!view_->MemberTakesSlices(owner.id)) {
        return absl::UnavailableError(absl::StrCat(
            "write refused by member '", view_->self_id(), "': slice ", request.slice(),
            " of batch ", request.batch_sequence(), " holds series[", i, "].tag '", tag,
            "' of shard ", shard, ", owned by member '", owner.id, "' (", owner.address,
            "), whose member record does not say it takes write slices (an older version): it "
            "could drop the slice as a retry of another; nothing of this batch was stored "
            "(upgrade every member; retry)"));
      }
    }
  }
  if (local_shards != nullptr) {
    std::sort(local_shards->begin(), local_shards->end());
    local_shards->erase(std::unique(local_shards->begin(), local_shards->end()),
                        local_shards->end());
  }
  if (all_local) return nullptr;
  if (forwarded) Count(kForwardedOnMetric, "", 1);
  if (channels_ == nullptr) {
    return absl::FailedPreconditionError(
        "this node is in a site cluster but has no channels to its members; not stored");
  }

  absl::StatusOr<std::vector<routing::WritePart>> parts =
      routing::SplitWriteByOwner(request, *snap.proto);
  if (!parts.ok()) return parts.status();

  std::unique_ptr<ForwardedBatch> batch(new ForwardedBatch());
  batch->placement_ = snap.placement;
  batch->self_id_ = view_->self_id();
  batch->parts_ = std::move(*parts);
  const size_t remote =
      batch->parts_.size() -
      std::count_if(batch->parts_.begin(), batch->parts_.end(), [&](const routing::WritePart& p) {
        return static_cast<int>(p.owner) == snap.self_index;
      });
  batch->done_ = std::make_unique<absl::BlockingCounter>(static_cast<int>(remote));

  const auto limit = std::chrono::system_clock::now() +
                     std::chrono::nanoseconds(absl::ToInt64Nanoseconds(forward_timeout_));
  for (size_t p = 0; p < batch->parts_.size(); ++p) {
    routing::WritePart& part = batch->parts_[p];
    if (static_cast<int>(part.owner) == snap.self_index) {
      batch->local_part_ = static_cast<int>(p);
      batch->local_shards_ = ShardsOf(part.request, placement);
      batch->local_ = std::move(part.request);
      continue;
    }
    const PlacementMember& owner = placement.members()[part.owner];
    auto call = std::make_unique<ForwardedBatch::Call>();
    call->owner_id = owner.id;
    call->owner_address = owner.address;
    call->shards = ShardsOf(part.request, placement);
    call->samples = SamplesIn(part.request);
    call->request = std::move(part.request);
    call->stub = v1::Ingest::NewStub(channels_->Get(owner.address));
    MemberChannels::PrepareForwardedCall(caller, &call->context);
    WriteHop::Mark(&call->context, placement.revision(), /*second_hop=*/forwarded);
    call->caller_deadline = call->context.deadline();
    if (call->context.deadline() > limit) call->context.set_deadline(limit);
    batch->calls_.push_back(std::move(call));
    batch->call_part_.push_back(static_cast<int>(p));
  }
  for (const std::unique_ptr<ForwardedBatch::Call>& c : batch->calls_) {
    ForwardedBatch::Call* call = c.get();
    absl::BlockingCounter* done = batch->done_.get();
    // `order` (a stream's) is told before the batch's counter drops: the
    // stream's ForwardOrder outlives every batch it sends.
    auto send = [call, done, order, timeout = forward_timeout_] {
      if (order != nullptr) {  // sent now, maybe after waiting in its lane
        const auto cap = std::chrono::system_clock::now() +
                         std::chrono::nanoseconds(absl::ToInt64Nanoseconds(timeout));
        call->context.set_deadline(std::min(call->caller_deadline, cap));
      }
      call->stub->async()->WriteBatch(&call->context, &call->request, &call->ack,
                                      [call, done, order](grpc::Status status) {
                                        call->status = std::move(status);
                                        if (order != nullptr) {
                                          order->Finished(call->owner_address, call->status);
                                        }
                                        done->DecrementCount();
                                      });
    };
    if (order == nullptr) {
      send();
      continue;
    }
    order->Submit(call->owner_address, placement.revision(), std::move(send),
                  [call, done](const grpc::Status& why) {
                    call->status = why;
                    done->DecrementCount();
                  });
  }
  return batch;
}

absl::StatusOr<v1::WriteAck> WriteForwarder::Join(std::unique_ptr<ForwardedBatch> batch,
                                                  absl::StatusOr<v1::WriteAck> local_ack) {
  batch->Wait();
  std::vector<v1::WriteAck> acks(batch->parts_.size());
  std::vector<std::string> errors;
  bool unreachable = false;
  std::optional<absl::StatusCode> code;
  if (batch->local_part_ >= 0) {
    if (local_ack.ok()) {
      acks[batch->local_part_] = std::move(*local_ack);
    } else {
      code = local_ack.status().code();
      unreachable = unreachable || absl::IsUnavailable(local_ack.status());
      errors.push_back(absl::StrCat("this node '", batch->self_id_, "' storing its part (",
                                    batch->local_shards_, "): ", local_ack.status().ToString()));
    }
  }
  for (size_t i = 0; i < batch->calls_.size(); ++i) {
    ForwardedBatch::Call& call = *batch->calls_[i];
    const std::string owner_label = server::Label("owner", call.owner_id);
    if (call.status.ok()) {
      acks[batch->call_part_[i]] = std::move(call.ack);
      Count(kForwardedBatchesMetric, owner_label, 1);
      Count(kForwardedSamplesMetric, owner_label, static_cast<double>(call.samples));
      continue;
    }
    const grpc::StatusCode c = call.status.error_code();
    Count(kForwardErrorsMetric,
          absl::StrCat(owner_label, ",",
                       server::Label("code", absl::StatusCodeToString(FromGrpc(c)))),
          1);
    const bool lost_owner = c == grpc::StatusCode::UNAVAILABLE ||
                            c == grpc::StatusCode::DEADLINE_EXCEEDED ||
                            c == grpc::StatusCode::CANCELLED;
    unreachable = unreachable || lost_owner;
    if (!code.has_value()) code = FromGrpc(c);
    errors.push_back(
        absl::StrCat(lost_owner ? "owner unreachable: member '" : "owner refused: member '",
                     call.owner_id, "' (", call.owner_address, ") for ", call.shards, ": ",
                     absl::StatusCodeToString(FromGrpc(c)), ": ", call.status.error_message()));
  }
  if (!errors.empty()) {
    const absl::StatusCode out = unreachable ? absl::StatusCode::kUnavailable : *code;
    const v1::WriteRequest& any =
        batch->calls_.empty() ? batch->local_ : batch->calls_.front()->request;
    return absl::Status(
        out, absl::StrCat("write batch ", any.batch_sequence(), " of client '", any.client_id(),
                          "' not fully stored: ", absl::StrJoin(errors, "; "),
                          ". Parts the other owners acknowledged are kept; resend the batch with "
                          "the same client_id and batch_sequence (each owner deduplicates its "
                          "part)"));
  }
  return routing::JoinWriteAcks(batch->parts_, acks);
}

}  // namespace historian::cluster
