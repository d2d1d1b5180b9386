#include "server/admin_service.h"

#include "absl/strings/str_cat.h"
#include "server/status_util.h"

namespace historian::server {

grpc::Status AdminService::Stats(grpc::ServerContext*, const v1::StatsRequest*,
                                 v1::StatsResponse* response) {
  StoreStats stats = store_->Stats();
  response->set_site(store_->options().site);
  response->set_tags(stats.tags);
  response->set_head_samples(stats.head_samples);
  response->set_chunks_sealed(stats.chunks_sealed);
  response->set_log_entries_trimmed(stats.log_entries_trimmed);
  response->set_own_log_sequence(stats.own_sequence);
  if (replicator_ != nullptr) {
    for (auto& p : replicator_->Status()) *response->add_peers() = std::move(p);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::Verify(grpc::ServerContext*, const v1::VerifyRequest* request,
                                  v1::VerifyResponse* response) {
  if (replicator_ == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("peer_site: this node has no peers (--peers is empty)")));
  }
  if (request->start_ns() > request->end_ns() ||
      (request->start_ns() == request->end_ns() && request->start_ns() != 0)) {
    return ToGrpcStatus(absl::InvalidArgumentError("start_ns: must be below end_ns"));
  }
  absl::StatusOr<v1::VerifyResponse> v = replicator_->Verify(
      request->peer_site(), request->start_ns(), request->end_ns(), request->repair());
  if (!v.ok()) return ToGrpcStatus(v.status());
  *response = std::move(*v);
  return grpc::Status::OK;
}

}  // namespace historian::server
