// File: bearer_token.h
// The `authorization: Bearer <token>` call metadata that carries a bearer
// token (docs/operations.md, "Tokens and roles"): the one place that formats
// it (clients, the replicator, tests) and parses it (the node's Authorizer).
// Pure and thread-safe.
#ifndef HISTORIAN_API_CORE_BEARER_TOKEN_H_
#define HISTORIAN_API_CORE_BEARER_TOKEN_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace historian {

// The metadata key (gRPC keys are lower case).
inline constexpr char kAuthorizationMetadataKey[] = "authorization";

// The metadata value for `token`: "Bearer <token>".
inline std::string BearerValue(std::string_view token) {
  std::string value = "Bearer ";
  value.append(token);
  return value;
}

// The token of a metadata value "Bearer <token>" (or "bearer <token>"),
// surrounding whitespace stripped; nullopt when the value has neither prefix.
inline std::optional<std::string_view> ParseBearerValue(std::string_view value) {
  absl::string_view v(value.data(), value.size());
  if (!absl::ConsumePrefix(&v, "Bearer ") && !absl::ConsumePrefix(&v, "bearer ")) {
    return std::nullopt;
  }
  v = absl::StripAsciiWhitespace(v);
  return std::string_view(v.data(), v.size());
}

}  // namespace historian

#endif  // HISTORIAN_API_CORE_BEARER_TOKEN_H_
