#include "server/cluster/cluster_service.h"

#include <memory>

#include "server/cluster/cluster_view.h"
#include "storage/store.h"

namespace historian::server {

grpc::Status ClusterService::Placement(grpc::ServerContext* context,
                                       const v1::PlacementRequest* /*request*/,
                                       v1::PlacementResponse* response) {
  return RunRpc(env_, context, "Cluster.Placement", RpcKind::kUnary, [&] {
    std::shared_ptr<const cluster::Placement> placement =
        env_.cluster != nullptr ? env_.cluster->placement() : nullptr;
    if (placement == nullptr) {
      // A single node: no shards, no members; a client sends it everything.
      response->set_site(env_.store->options().site);
      response->set_num_shards(0);
      return grpc::Status::OK;
    }
    *response = placement->ToProto(env_.cluster->alive_members());
    return grpc::Status::OK;
  });
}

}  // namespace historian::server
