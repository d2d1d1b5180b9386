// File: admin_service.h
// Admin: node statistics, replication status, verification against a peer,
// online backup (RocksDB checkpoint) and manual compaction. Roles: admin
// (Stats also reader); see auth.h.
//
// Thread-safety: called concurrently by gRPC; Store, Replicator and
// WriteGate are thread-safe. One backup or compaction runs at a time.
#ifndef HISTORIAN_SERVER_ADMIN_SERVICE_H_
#define HISTORIAN_SERVER_ADMIN_SERVICE_H_

#include "absl/synchronization/mutex.h"
#include "historian/v1/admin.grpc.pb.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "server/rpc_env.h"
#include "storage/store.h"

namespace historian::server {

class AdminService final : public v1::Admin::Service {
 public:
  // Everything `env` points to and `replicator` must outlive the service;
  // `replicator` may be null (no peers).
  // `replication` (may be null) reports what peers have not taken of this
  // node's own log (Stats).
  AdminService(const ServiceEnv& env, Replicator* replicator,
               const ReplicationService* replication = nullptr)
      : env_(env), store_(env.store), replicator_(replicator), replication_(replication) {}
  grpc::Status Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
                     v1::StatsResponse* response) override;
  grpc::Status Verify(grpc::ServerContext* context, const v1::VerifyRequest* request,
                      v1::VerifyResponse* response) override;
  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest* request,
                      v1::BackupResponse* response) override;
  grpc::Status Compact(grpc::ServerContext* context, const v1::CompactRequest* request,
                       v1::CompactResponse* response) override;

 private:
  grpc::Status DoVerify(const v1::VerifyRequest& request, v1::VerifyResponse* response);
  grpc::Status DoBackup(const v1::BackupRequest& request, v1::BackupResponse* response);
  grpc::Status DoCompact(v1::CompactResponse* response);

  const ServiceEnv env_;
  Store* const store_;
  Replicator* const replicator_;
  const ReplicationService* const replication_;
  absl::Mutex maintenance_mu_;  // one backup or compaction at a time
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_ADMIN_SERVICE_H_
