// File: status_util.h
// The one place the server converts between absl::Status and grpc::Status:
// ToGrpcStatus at the service edge, FromGrpcStatus for the answers of
// peers (the replicator). Both use the same canonical code numbers, so
// codes carry over unchanged. Pure and thread-safe.
#ifndef HISTORIAN_SERVER_STATUS_UTIL_H_
#define HISTORIAN_SERVER_STATUS_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace historian::server {

// Longest error message sent to a client; a longer one (e.g. one quoting a
// 10 KB tag name) is cut, saying how many bytes were left out.
inline constexpr size_t kMaxStatusMessageBytes = 512;

// Same code, the message cut by TruncateMessage; OK stays OK.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same code and message; OK stays OK. Codes outside the canonical range
// become UNKNOWN.
absl::Status FromGrpcStatus(const grpc::Status& status);

// `message` cut to kMaxStatusMessageBytes (on a UTF-8 boundary).
std::string TruncateMessage(absl::string_view message);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_STATUS_UTIL_H_
