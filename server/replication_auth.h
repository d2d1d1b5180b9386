// File: replication_auth.h
// AuthorizedReplicationService: the Replication service as registered with
// gRPC. It runs every call through RunRpc (the `replicator` role check and
// metrics, rpc_env.h) and then hands it to ReplicationService unchanged.
//
// Thread-safety: as ReplicationService; called concurrently by gRPC.
#ifndef HISTORIAN_SERVER_REPLICATION_AUTH_H_
#define HISTORIAN_SERVER_REPLICATION_AUTH_H_

#include "historian/v1/replication.grpc.pb.h"
#include "server/replication_service.h"
#include "server/rpc_env.h"

namespace historian::server {

class AuthorizedReplicationService final : public v1::Replication::Service {
 public:
  // `inner` and what `env` points to must outlive this service.
  AuthorizedReplicationService(const ServiceEnv& env, ReplicationService* inner)
      : env_(env), inner_(inner) {}

  grpc::Status Pull(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) override {
    return RunRpc(env_, context, "Replication.Pull", RpcKind::kReplicationStream,
                  [&] { return inner_->Pull(context, stream); });
  }
  grpc::Status Digest(grpc::ServerContext* context, const v1::DigestRequest* request,
                      v1::DigestResponse* response) override {
    return RunRpc(env_, context, "Replication.Digest", RpcKind::kUnary,
                  [&] { return inner_->Digest(context, request, response); });
  }
  grpc::Status Fetch(grpc::ServerContext* context, const v1::FetchRequest* request,
                     grpc::ServerWriter<v1::FetchResponse>* writer) override {
    return RunRpc(env_, context, "Replication.Fetch", RpcKind::kReplicationStream,
                  [&] { return inner_->Fetch(context, request, writer); });
  }
  grpc::Status FetchEvents(grpc::ServerContext* context, const v1::FetchEventsRequest* request,
                           grpc::ServerWriter<v1::FetchEventsResponse>* writer) override {
    return RunRpc(env_, context, "Replication.FetchEvents", RpcKind::kReplicationStream,
                  [&] { return inner_->FetchEvents(context, request, writer); });
  }

 private:
  const ServiceEnv env_;
  ReplicationService* const inner_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLICATION_AUTH_H_
