// File: run_parts.h
// RunParts: the parts of a fanned-out unary call answered in parallel
// (docs/cluster.md, "Queries"): every remote part forwarded at once
// (ParallelUnary, query_fanout.h), this node's own part answered meanwhile,
// then one status for the whole call from the parts' (CombineOutcomes) and
// the parts counted (CountParts). Used by the Query, Catalog and Events
// fan-outs.
//
// Thread-safety: runs on the calling RPC's thread.
#ifndef HISTORIAN_SERVER_CLUSTER_RUN_PARTS_H_
#define HISTORIAN_SERVER_CLUSTER_RUN_PARTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/rpc_env.h"

namespace historian::cluster {

// Remote parts are forwarded with `async(stub, context, part_request, cq)`
// on a `Service::Stub` to the part's member, this node's part is answered by
// `local`. On success part_responses[i] is part i's answer. `listing`: the
// placement a glob or listing was split by (listing_scope.h: every part is
// refused unless its member owns what it says); null for named tags and for
// calls every member answers from all it holds.
template <typename Service, typename Request, typename Response, typename Async>
absl::Status RunParts(const server::ServiceEnv& env, const grpc::ServerContextBase& context,
                      std::string_view method, const std::vector<OwnerPart>& parts,
                      const std::vector<Request>& part_requests, Async async,
                      const std::function<absl::Status(const Request&, Response*)>& local,
                      std::vector<Response>* part_responses, const Placement* listing = nullptr) {
  using Stub = typename Service::Stub;
  part_responses->assign(parts.size(), Response());
  ParallelUnary<Response> calls(context, *env.member_channels);
  std::vector<std::unique_ptr<Stub>> stubs;
  std::vector<size_t> call_of_part(parts.size(), SIZE_MAX);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].self) continue;
    stubs.push_back(Service::NewStub(env.member_channels->Get(parts[i].member.address)));
    Stub* stub = stubs.back().get();
    const Request& part_request = part_requests[i];
    const std::string& member = parts[i].member.id;
    call_of_part[i] = calls.Start([&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
      if (listing != nullptr) AddListingPartScope(*listing, member, c);
      return async(stub, c, part_request, cq);
    });
  }
  std::vector<PartOutcome> outcomes(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    outcomes[i].part = &parts[i];
    if (!parts[i].self) continue;
    auto answer = [&] { return local(part_requests[i], &(*part_responses)[i]); };
    outcomes[i].status =
        listing != nullptr ? RunOwnListingPart(*env.cluster, *listing, method, answer) : answer();
    if (!outcomes[i].status.ok()) calls.Cancel();
  }
  calls.Wait();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (call_of_part[i] == SIZE_MAX) continue;
    auto& call = calls.call(call_of_part[i]);
    outcomes[i].status = call.status;
    if (call.status.ok()) (*part_responses)[i] = std::move(call.response);
  }
  CountParts(env, method, outcomes);
  return CombineOutcomes(method, outcomes, env.cluster->alive_members());
}

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_RUN_PARTS_H_
