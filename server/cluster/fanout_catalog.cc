#include "server/cluster/fanout_catalog.h"

#include <memory>
#include <vector>

#include "api/core/status_macros.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/list_merge.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/rpc_env.h"
#include "server/status_util.h"

namespace historian::cluster {

absl::Status FanOutListTags(
    const server::ServiceEnv& env, const Placement& placement, grpc::ServerContext* context,
    const v1::ListTagsRequest& request, uint32_t page_size,
    const std::function<absl::Status(const v1::ListTagsRequest&, v1::ListTagsResponse*)>& local,
    v1::ListTagsResponse* response) {
  const std::vector<OwnerPart> parts = PartsForAllOwners(placement, env.cluster->self_id());
  std::vector<v1::ListTagsResponse> pages(parts.size());
  ParallelUnary<v1::ListTagsResponse> calls(*context, *env.member_channels);
  std::vector<std::unique_ptr<v1::Catalog::Stub>> stubs;
  std::vector<size_t> call_of_part(parts.size(), SIZE_MAX);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].self) continue;
    stubs.push_back(v1::Catalog::NewStub(env.member_channels->Get(parts[i].member.address)));
    v1::Catalog::Stub* stub = stubs.back().get();
    const std::string& member = parts[i].member.id;
    call_of_part[i] = calls.Start([&](grpc::ClientContext* c, grpc::CompletionQueue* cq) {
      AddListingPartScope(placement, member, c);
      return stub->AsyncListTags(c, request, cq);
    });
  }
  std::vector<PartOutcome> outcomes(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    outcomes[i].part = &parts[i];
    if (!parts[i].self) continue;
    outcomes[i].status = RunOwnListingPart(*env.cluster, placement, "Catalog.ListTags",
                                           [&] { return local(request, &pages[i]); });
    if (!outcomes[i].status.ok()) calls.Cancel();
  }
  calls.Wait();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (call_of_part[i] == SIZE_MAX) continue;
    auto& call = calls.call(call_of_part[i]);
    outcomes[i].status = call.status;
    if (call.status.ok()) pages[i] = std::move(call.response);
  }
  CountParts(env, "Catalog.ListTags", outcomes);
  RETURN_IF_ERROR(CombineOutcomes("Catalog.ListTags", outcomes, env.cluster->alive_members()));
  ASSIGN_OR_RETURN(*response, MergeListPages(std::move(pages), page_size,
                                             env.limits.max_list_tags_response_bytes));
  return absl::OkStatus();
}

absl::Status ForwardToOwner(const server::ServiceEnv& env, const Placement& placement,
                            const grpc::ServerContext& context, std::string_view method,
                            std::string_view tag, const CatalogCall& call) {
  OwnerPart part;
  part.member = placement.OwnerOfTag(tag);
  part.shards.push_back(placement.ShardOfTag(tag));
  part.positions.push_back(0);
  auto stub = v1::Catalog::NewStub(env.member_channels->Get(part.member.address));
  grpc::ClientContext client;
  env.member_channels->PrepareForwardedQuery(context, &client);
  absl::Status status = server::FromGrpcStatus(call(stub.get(), &client));
  const std::vector<PartOutcome> outcomes = {{&part, status}};
  CountParts(env, method, outcomes);
  return CombineOutcomes(method, outcomes, env.cluster->alive_members());
}

}  // namespace historian::cluster
