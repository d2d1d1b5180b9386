// File: cluster_service.h
// ClusterService: the Cluster gRPC service (api/historian/v1/cluster.proto,
// docs/cluster.md). Clients read the placement here, never from etcd. Until
// a node joins a site cluster it answers num_shards = 0: it owns everything.
// Operators create the cluster (Init) and read its status through a node
// that runs with --cluster_etcd (the node talks to etcd: ClusterAdmin).
//
// Thread-safety: stateless beyond its ServiceEnv and the admin; called
// concurrently by gRPC's thread pool.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_SERVICE_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_SERVICE_H_

#include "historian/v1/cluster.grpc.pb.h"
#include "server/cluster/cluster_admin.h"
#include "server/rpc_env.h"

namespace historian::server {

class ClusterService final : public v1::Cluster::Service {
 public:
  // Everything `env` points to, and `admin`, must outlive the service.
  // `admin` null: not in a cluster (Init and Status fail with
  // FAILED_PRECONDITION).
  explicit ClusterService(const ServiceEnv& env, const cluster::ClusterAdmin* admin = nullptr)
      : env_(env), admin_(admin) {}

  grpc::Status Placement(grpc::ServerContext* context, const v1::PlacementRequest* request,
                         v1::PlacementResponse* response) override;
  grpc::Status Init(grpc::ServerContext* context, const v1::ClusterInitRequest* request,
                    v1::ClusterInitResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::ClusterStatusRequest* request,
                      v1::ClusterStatusResponse* response) override;
  grpc::Status AddNode(grpc::ServerContext* context, const v1::AddNodeRequest* request,
                       v1::PlacementChangeResponse* response) override;
  grpc::Status CancelMoves(grpc::ServerContext* context, const v1::CancelMovesRequest* request,
                           v1::PlacementChangeResponse* response) override;
  grpc::Status RemoveNode(grpc::ServerContext* context, const v1::RemoveNodeRequest* request,
                          v1::PlacementChangeResponse* response) override;
  grpc::Status FenceWithoutSource(grpc::ServerContext* context,
                                  const v1::FenceWithoutSourceRequest* request,
                                  v1::FenceWithoutSourceResponse* response) override;
  grpc::Status CopyShard(grpc::ServerContext* context, const v1::CopyShardRequest* request,
                         grpc::ServerWriter<v1::CopyShardChunk>* writer) override;
  grpc::Status PullShard(grpc::ServerContext* context, const v1::PullShardRequest* request,
                         v1::PullShardResponse* response) override;
  grpc::Status SyncRule(grpc::ServerContext* context, const v1::SyncRuleRequest* request,
                        v1::SyncRuleResponse* response) override;

 private:
  // INVALID_ARGUMENT naming the field unless shard < num_shards and
  // num_shards is this node's placement's; FAILED_PRECONDITION when the
  // node is not in a site cluster (or has no placement yet).
  grpc::Status CheckShard(uint32_t num_shards, uint32_t shard) const;
  const ServiceEnv env_;
  const cluster::ClusterAdmin* const admin_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_SERVICE_H_
