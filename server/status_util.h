// File: status_util.h
// absl::Status -> grpc::Status at the service edge (the only place).
#ifndef HISTORIAN_SERVER_STATUS_UTIL_H_
#define HISTORIAN_SERVER_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace historian::server {

#include <string>

#include "absl/strings/string_view.h"

// Longest error message sent to a client; a longer one (e.g. one quoting a
// 10 KB tag name) is cut, saying how many bytes were left out.
inline constexpr size_t kMaxStatusMessageBytes = 512;

grpc::Status ToGrpcStatus(const absl::Status& status);

// `message` cut to kMaxStatusMessageBytes (on a UTF-8 boundary).
std::string TruncateMessage(absl::string_view message);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_STATUS_UTIL_H_
