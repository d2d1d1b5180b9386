// File: subscribe_token.h
// The resume token of a Query.Subscribe fanned out over a site cluster
// (docs/cluster.md, "Subscribe"): per member, the resume token that
// member's own stream gave last (its per-origin positions in *its* logs:
// sequence numbers of different members' logs are unrelated, so they are
// never mixed), and when the token was made.
//
//   u8 version (2) | varint members | (string member_id | string token)* |
//   fixed64 issued_ns
//
// A single node's token (server/subscriptions/resume_token.h) starts with
// version 1; the two never parse as each other.
#ifndef HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_TOKEN_H_
#define HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_TOKEN_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace historian::cluster {

struct ClusterResumeToken {
  std::map<std::string, std::string> member_tokens;  // member id -> its token
  int64_t issued_ns = 0;
};

std::string EncodeClusterResumeToken(const ClusterResumeToken& token);
// Errors: InvalidArgument naming resume_token.
absl::StatusOr<ClusterResumeToken> DecodeClusterResumeToken(std::string_view bytes);
// True when `bytes` starts as a single node's token (version 1).
bool IsSingleNodeResumeToken(std::string_view bytes);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_TOKEN_H_
