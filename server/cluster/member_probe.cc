// File: member_probe.cc
#include "server/cluster/member_probe.h"

#include <chrono>
#include <memory>

#include "grpcpp/client_context.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "server/status_util.h"

namespace historian::cluster {

absl::Status ProbeMember(MemberChannels& channels, const std::string& address,
                         absl::Duration timeout) {
  std::unique_ptr<v1::Cluster::Stub> stub = v1::Cluster::NewStub(channels.Get(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  v1::PlacementRequest request;
  v1::PlacementResponse response;
  const grpc::Status status = stub->Placement(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return server::FromGrpcStatus(status);
  }
  return absl::OkStatus();
}

}  // namespace historian::cluster
