// File: fanout_catalog.h
// The Catalog service in a site cluster (docs/cluster.md, "Queries"):
// ListTags asks every owner for the page after the same token and merges
// (list_merge.h); GetTag, CreateTag, UpdateTag and DeleteTag go to the owner
// of the tag's shard (forwarded, one hop), so a tag's catalog entry lives
// where its samples do.
//
// Thread-safety: stateless; runs on the RPC's thread.
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_CATALOG_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_CATALOG_H_

#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

// `local` answers the same request from this node's store, listing only the
// tags it owns.
absl::Status FanOutListTags(
    const server::ServiceEnv& env, const Placement& placement, grpc::ServerContext* context,
    const v1::ListTagsRequest& request, uint32_t page_size,
    const std::function<absl::Status(const v1::ListTagsRequest&, v1::ListTagsResponse*)>& local,
    v1::ListTagsResponse* response);

// Calls `method` ("Catalog.GetTag") at the owner of `tag`, which is not this
// node; UNAVAILABLE naming its shard when it cannot be reached.
using CatalogCall = std::function<grpc::Status(v1::Catalog::Stub*, grpc::ClientContext*)>;
absl::Status ForwardToOwner(const server::ServiceEnv& env, const Placement& placement,
                            const grpc::ServerContext& context, std::string_view method,
                            std::string_view tag, const CatalogCall& call);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_CATALOG_H_
