// File: status_convert.h
// The one place the client converts between grpc::Status and absl::Status.
// Both use the same canonical code numbers, so codes and messages carry over
// unchanged. Pure and thread-safe.
#ifndef HISTORIAN_CLIENT_STATUS_CONVERT_H_
#define HISTORIAN_CLIENT_STATUS_CONVERT_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace historian::client {

// Same code and message; OK stays OK. Codes outside the canonical range
// become UNKNOWN.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Same code and message; OK stays OK.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_STATUS_CONVERT_H_
