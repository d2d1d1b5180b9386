// File: subscribe_token.h
// The resume token of a Query.Subscribe fanned out over a site cluster
// (docs/cluster.md, "Subscribe"): per member, the resume token that
// member's own stream gave last (its per-origin positions in *its* logs:
// sequence numbers of different members' logs are unrelated, so they are
// never mixed) and which of the subscription's shards the member owned when
// that position was taken (a digest); the placement revision; and when the
// token was made.
//
//   version 4: u8 4 | varint members |
//              (string member_id | string token | fixed64 owned_digest)* |
//              fixed64 issued_ns | varint placement_revision |
//              fixed64 placement_since_ns
//   version 3: as 4 without placement_since_ns (0: unknown)
//   version 2: u8 2 | varint members | (string member_id | string token)* |
//              fixed64 issued_ns                (no owners: owners_known false)
//
// A single node's token (server/subscriptions/resume_token.h) starts with
// version 1; the two never parse as each other.
#ifndef HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_TOKEN_H_
#define HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_TOKEN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/cluster/placement.h"

namespace historian::cluster {

struct ClusterResumeToken {
  struct Member {
    std::string token;          // the member's own resume token
    uint64_t owned_digest = 0;  // OwnedShardsDigest when it was taken
  };
  std::map<std::string, Member> members;  // by member id
  int64_t issued_ns = 0;
  int64_t placement_revision = 0;
  // The earliest wall time (Unix ns) at which a coordinator of this
  // token's stream (or of the streams it resumed) had placement_revision
  // installed; 0: unknown (version 3). A reconnect that finds a member
  // missing or moved names `lagged` from no later than this (docs/cluster.md,
  // "Subscribe").
  int64_t placement_since_ns = 0;
  // False for a version-2 token (made before owners were recorded).
  bool owners_known = true;
};

std::string EncodeClusterResumeToken(const ClusterResumeToken& token);
// Errors: InvalidArgument naming resume_token (and the version when it is
// not one this node reads).
absl::StatusOr<ClusterResumeToken> DecodeClusterResumeToken(std::string_view bytes);
// True when `bytes` starts as a single node's token (version 1).
bool IsSingleNodeResumeToken(std::string_view bytes);

// The shards a subscription covers: those of its named tags (sorted,
// unique), or nullopt for every shard (a glob).
std::optional<std::vector<uint32_t>> CoveredShards(const Placement& placement,
                                                   const std::vector<std::string>& tags, bool glob);

// A digest of which of `covered` (nullopt: every shard) `member` owns in
// `placement`, with the shard count: equal digests mean the member owns the
// same covered shards. A member owning none of them has the digest of the
// empty set (not 0).
uint64_t OwnedShardsDigest(const Placement& placement, std::string_view member,
                           const std::optional<std::vector<uint32_t>>& covered);

// A fanned-out Subscribe's part carries, in this metadata, the placement
// revision the coordinator chose it by and OwnedShardsDigest(placement,
// member, every shard) of the member asked: the member refuses the part
// (ABORTED) unless its own placement gives it the same shards, so no
// member's position ever passes samples of a shard the coordinator did not
// ask it for.
inline constexpr char kOwnedShardsMetadataKey[] = "x-historian-owned-shards";
std::string OwnedShardsValue(int64_t revision, uint64_t digest);
// False when `value` is not one OwnedShardsValue made.
bool ParseOwnedShardsValue(std::string_view value, int64_t* revision, uint64_t* digest);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SUBSCRIBE_TOKEN_H_
