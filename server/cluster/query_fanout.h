// File: query_fanout.h
// The machinery of fan-out queries in a site cluster (docs/cluster.md,
// "Queries"): which owner answers which tags of a request, parallel calls to
// the other owners, and one status for the whole call from the parts'.
//
// A request a client sends to any node of a cluster (not marked forwarded)
// is split by owner: the node answers its own tags from local data and sends
// the other owners their parts with the caller's token, deadline (at most
// --cluster_forward_timeout) and the forwarded marker
// (MemberChannels::PrepareForwardedQuery). A forwarded part
// is answered from local data only (one hop). The per-RPC fan-outs
// (fanout_queries.cc, fanout_read.cc, fanout_catalog.cc) merge the parts so
// that the answer equals a single node's holding all the data.
//
// Thread-safety: the plan and outcomes are values; ParallelUnary is used by
// one thread (the RPC's) and owns its completion queue.
#ifndef HISTORIAN_SERVER_CLUSTER_QUERY_FANOUT_H_
#define HISTORIAN_SERVER_CLUSTER_QUERY_FANOUT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/async_unary_call.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

class ClusterView;

// The placement to fan out by: null when the node is not in a cluster, when
// the call came forwarded (answer from local data), or when the node has no
// channels to its members.
std::shared_ptr<const Placement> FanoutPlacement(const server::ServiceEnv& env,
                                                 const grpc::ServerContextBase& context);
// FanoutPlacement of a read that may ask for this node's own data as stored
// (kLocalDataMetadataKey: null then too). Query.Read, Latest, Aggregate,
// Interpolate, Plot; Catalog.GetTag, ListTags.
std::shared_ptr<const Placement> ReadFanoutPlacement(const server::ServiceEnv& env,
                                                     const grpc::ServerContextBase& context);

// Which tags a part of a glob or listing answers for: listing_scope.h.

// Runs `attempt` with `first` (the placement the call came in under) and,
// while it ends ABORTED (a part refused because the placement changed
// under the split: listing_scope.h, named_tags_scope.h) and this node's
// placement is no longer the one the attempt used, again with the newer
// one: at most kPlacementAttempts attempts, none once `may_ask_again`
// (when given) says no (a Read that streamed a piece). A coordinator that
// sees a move during the call answers by it, so the client never sees
// that ABORTED; a member behind the coordinator still ends the call
// ABORTED (ask again). Never waits.
inline constexpr int kPlacementAttempts = 3;
absl::Status AskAgainOnPlacementChange(const ClusterView& view,
                                       std::shared_ptr<const Placement> first,
                                       const std::function<absl::Status(const Placement&)>& attempt,
                                       const std::function<bool()>& may_ask_again = nullptr);

// One owner's part of a request.
struct OwnerPart {
  PlacementMember member;
  bool self = false;
  // Positions of its tags in the request's tag list, ascending.
  std::vector<int> positions;
  // The shards those tags are in (every shard it owns for a part asked of
  // all owners), ascending, unique: what an error names.
  std::vector<uint32_t> shards;
};

// The request's tags grouped by owner; parts in member order, only owners
// with tags. Duplicate names keep each position.
std::vector<OwnerPart> PartsByOwner(const Placement& placement, std::string_view self_id,
                                    const google::protobuf::RepeatedPtrField<std::string>& tags);
// One part per member that owns a shard (for globs and listings), carrying
// every shard it owns; `tags`, when given, are placed as PartsByOwner does.
std::vector<OwnerPart> PartsForAllOwners(
    const Placement& placement, std::string_view self_id,
    const google::protobuf::RepeatedPtrField<std::string>* tags = nullptr);

// The names at `part.positions` of `tags`.
void SelectTags(const google::protobuf::RepeatedPtrField<std::string>& tags, const OwnerPart& part,
                google::protobuf::RepeatedPtrField<std::string>* out);

// How one part ended.
struct PartOutcome {
  const OwnerPart* part = nullptr;
  absl::Status status;
};

// One status for a call from its parts' outcomes; OK when all are OK.
// - Any remote part that could not be reached (UNAVAILABLE): UNAVAILABLE
//   naming every such owner, its address, the shards of the request it
//   holds, whether its lease is alive, and the error; a partial answer is
//   never returned.
// - Otherwise the failure of the part holding the earliest tag of the
//   request (the one a single node would report first), code and message
//   unchanged; a remote's error other than a client's mistake is suffixed
//   with the member that gave it.
// `method` names the call ("Query.Aggregate").
absl::Status CombineOutcomes(std::string_view method, const std::vector<PartOutcome>& outcomes,
                             const std::vector<std::string>& alive_members);

// Counts each part in env.metrics (when set): kQueryPartsMetric by method,
// target (local or remote) and gRPC code name.
inline constexpr char kQueryPartsMetric[] = "historian_cluster_query_parts_total";
void CountParts(const server::ServiceEnv& env, std::string_view method,
                const std::vector<PartOutcome>& outcomes);

// "1, 4, 7" for at most `max_listed` shards, then "... (85 shards)".
std::string ShardList(const std::vector<uint32_t>& shards, size_t max_listed = 16);

// Unary calls to several members at once, on one completion queue, while the
// caller's thread answers its own part.
//
//   ParallelUnary<v1::AggregateResponse> calls(caller_context, *env.member_channels);
//   calls.Start(channel, [&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
//     return v1::Query::NewStub(channel)->AsyncAggregate(c, part_request, cq);
//   });
//   ... local part ...
//   calls.Wait();  // every call ended; statuses and responses are set
template <typename Response>
class ParallelUnary {
 public:
  struct Call {
    grpc::ClientContext context;
    Response response;
    absl::Status status;
    grpc::Status grpc_status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
  };
  using StartFn = std::function<std::unique_ptr<grpc::ClientAsyncResponseReader<Response>>(
      grpc::ClientContext*, grpc::CompletionQueue*)>;

  // `channels` set up each call (PrepareForwardedQuery) and must outlive it.
  ParallelUnary(const grpc::ServerContextBase& caller, const MemberChannels& channels)
      : caller_(caller), channels_(channels) {}
  ~ParallelUnary() {
    Cancel();
    Wait();
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }
  ParallelUnary(const ParallelUnary&) = delete;
  ParallelUnary& operator=(const ParallelUnary&) = delete;

  // Starts a forwarded call (the caller's token, deadline capped at the
  // channels' query timeout, forwarded marker); returns its index.
  size_t Start(const StartFn& start) {
    auto call = std::make_unique<Call>();
    channels_.PrepareForwardedQuery(caller_, &call->context);
    call->reader = start(&call->context, &cq_);
    call->reader->Finish(&call->response, &call->grpc_status,
                         reinterpret_cast<void*>(calls_.size()));
    calls_.push_back(std::move(call));
    return calls_.size() - 1;
  }
  // Cancels the calls still running (a part failed: the rest is not needed).
  void Cancel() {
    for (auto& c : calls_) c->context.TryCancel();
  }
  // Waits for every started call.
  void Wait() {
    while (pending_done_ < calls_.size()) {
      void* tag;
      bool ok;
      if (!cq_.Next(&tag, &ok)) break;
      Call& c = *calls_[reinterpret_cast<size_t>(tag)];
      c.status = absl::Status(static_cast<absl::StatusCode>(c.grpc_status.error_code()),
                              c.grpc_status.error_message());
      ++pending_done_;
    }
  }
  Call& call(size_t i) { return *calls_[i]; }
  size_t size() const { return calls_.size(); }

 private:
  const grpc::ServerContextBase& caller_;
  const MemberChannels& channels_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Call>> calls_;
  size_t pending_done_ = 0;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_QUERY_FANOUT_H_
