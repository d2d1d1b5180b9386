#include "server/cluster/fanout_catalog.h"

#include <memory>
#include <vector>

#include "api/core/status_macros.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/list_merge.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/query_fanout.h"
#include "server/cluster/run_parts.h"
#include "server/rpc_env.h"
#include "server/status_util.h"

namespace historian::cluster {

absl::Status FanOutListTags(
    const server::ServiceEnv& env, const Placement& placement, grpc::ServerContext* context,
    const v1::ListTagsRequest& request, uint32_t page_size,
    const std::function<absl::Status(const v1::ListTagsRequest&, v1::ListTagsResponse*)>& local,
    v1::ListTagsResponse* response) {
  const std::vector<OwnerPart> parts = PartsForAllOwners(placement, env.cluster->self_id());
  std::vector<v1::ListTagsResponse> pages;
  RETURN_IF_ERROR(RunParts<v1::Catalog>(
      env, *context, "Catalog.ListTags", parts,
      std::vector<v1::ListTagsRequest>(parts.size(), request),
      [](v1::Catalog::Stub* stub, grpc::ClientContext* c, const v1::ListTagsRequest& r,
         grpc::CompletionQueue* cq) { return stub->AsyncListTags(c, r, cq); },
      local, &pages, &placement));
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
