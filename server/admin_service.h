// File: admin_service.h
// Admin: node statistics, replication status and verification against a
// peer.
//
// Thread-safety: called concurrently by gRPC; Store and Replicator are
// thread-safe.
#ifndef HISTORIAN_SERVER_ADMIN_SERVICE_H_
#define HISTORIAN_SERVER_ADMIN_SERVICE_H_

#include "historian/v1/admin.grpc.pb.h"
#include "server/replicator.h"
#include "storage/store.h"

namespace historian::server {

class AdminService final : public v1::Admin::Service {
 public:
  // Both must outlive the service; `replicator` may be null (no peers).
  AdminService(Store* store, Replicator* replicator) : store_(store), replicator_(replicator) {}
  grpc::Status Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
                     v1::StatsResponse* response) override;
  grpc::Status Verify(grpc::ServerContext* context, const v1::VerifyRequest* request,
                      v1::VerifyResponse* response) override;

 private:
  Store* const store_;
  Replicator* const replicator_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_ADMIN_SERVICE_H_
