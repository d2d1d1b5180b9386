// File: status_util.h
// absl::Status -> grpc::Status at the service edge (the only place).
#ifndef HISTORIAN_SERVER_STATUS_UTIL_H_
#define HISTORIAN_SERVER_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace historian::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_STATUS_UTIL_H_
