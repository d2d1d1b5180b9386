// File: replication_service.h
// The sending side of replication: peers pull this node's own log, and ask
// for digests and samples for anti-entropy.
//
// Thread-safety: called concurrently by gRPC; state lives in the Store.
#ifndef HISTORIAN_SERVER_REPLICATION_SERVICE_H_
#define HISTORIAN_SERVER_REPLICATION_SERVICE_H_

#include <atomic>

#include "historian/v1/replication.grpc.pb.h"
#include "server/limits.h"
#include "storage/store.h"

namespace historian::server {

class ReplicationService final : public v1::Replication::Service {
 public:
  // `store` must outlive the service. Digest requests naming tags are held
  // to limits.max_tags_per_query distinct names.
  explicit ReplicationService(Store* store, Limits limits = {}) : store_(store), limits_(limits) {}
  // Makes every open Pull stream return (called before shutdown).
  void Stop() { stopping_ = true; }

  grpc::Status Pull(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) override;
  grpc::Status Digest(grpc::ServerContext* context, const v1::DigestRequest* request,
                      v1::DigestResponse* response) override;
  grpc::Status Fetch(grpc::ServerContext* context, const v1::FetchRequest* request,
                     grpc::ServerWriter<v1::FetchResponse>* writer) override;

 private:
  Store* const store_;
  const Limits limits_;
  std::atomic<bool> stopping_{false};
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLICATION_SERVICE_H_
