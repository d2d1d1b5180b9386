// File: cluster_service.h
// ClusterService: the Cluster gRPC service (api/historian/v1/cluster.proto,
// docs/cluster.md). Clients read the placement here, never from etcd. Until
// a node joins a site cluster it answers num_shards = 0: it owns everything.
//
// Thread-safety: stateless beyond its ServiceEnv; called concurrently by
// gRPC's thread pool.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_SERVICE_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_SERVICE_H_

#include "historian/v1/cluster.grpc.pb.h"
#include "server/rpc_env.h"

namespace historian::server {

class ClusterService final : public v1::Cluster::Service {
 public:
  // Everything `env` points to must outlive the service.
  explicit ClusterService(const ServiceEnv& env) : env_(env) {}

  grpc::Status Placement(grpc::ServerContext* context, const v1::PlacementRequest* request,
                         v1::PlacementResponse* response) override;

 private:
  const ServiceEnv env_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_SERVICE_H_
