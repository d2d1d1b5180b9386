#include "server/cluster/cluster_service.h"

#include <memory>

#include "server/cluster/cluster_view.h"
#include "server/status_util.h"
#include "storage/store.h"

namespace historian::server {
namespace {

grpc::Status NotInCluster() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this node runs without --cluster_etcd: it is not in a site cluster");
}

}  // namespace

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

grpc::Status ClusterService::Init(grpc::ServerContext* context,
                                  const v1::ClusterInitRequest* request,
                                  v1::ClusterInitResponse* response) {
  return RunRpc(env_, context, "Cluster.Init", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::ClusterInitResponse> r = admin_->Init(request->num_shards());
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::Status(grpc::ServerContext* context,
                                    const v1::ClusterStatusRequest* /*request*/,
                                    v1::ClusterStatusResponse* response) {
  return RunRpc(env_, context, "Cluster.Status", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::ClusterStatusResponse> r = admin_->Status();
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::AddNode(grpc::ServerContext* context,
                                     const v1::AddNodeRequest* request,
                                     v1::PlacementChangeResponse* response) {
  return RunRpc(env_, context, "Cluster.AddNode", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::PlacementChangeResponse> r = admin_->AddNode(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::RemoveNode(grpc::ServerContext* context,
                                        const v1::RemoveNodeRequest* request,
                                        v1::PlacementChangeResponse* response) {
  return RunRpc(env_, context, "Cluster.RemoveNode", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::PlacementChangeResponse> r = admin_->RemoveNode(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

grpc::Status ClusterService::CancelMoves(grpc::ServerContext* context,
                                         const v1::CancelMovesRequest* request,
                                         v1::PlacementChangeResponse* response) {
  return RunRpc(env_, context, "Cluster.CancelMoves", RpcKind::kUnary, [&] {
    if (admin_ == nullptr) return NotInCluster();
    absl::StatusOr<v1::PlacementChangeResponse> r = admin_->CancelMoves(*request);
    if (!r.ok()) return ToGrpcStatus(r.status());
    *response = *std::move(r);
    return grpc::Status::OK;
  });
}

}  // namespace historian::server
