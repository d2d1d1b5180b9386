// File: cluster_keys.h
// The small values a site cluster keeps in etcd beside the placement
// (docs/cluster.md, "Keys"): the cluster config written once by `historian
// cluster init`, and the record each member registers under its lease. Both
// are text, `key=value` lines, so `etcdctl get --prefix /historian/` reads
// them; unknown keys are skipped (a newer writer may add some).
//
// Also the member id rule (--cluster_member_id). Pure functions; no
// thread-safety concerns.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_KEYS_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace historian::cluster {

// The layout of the keys under /historian/<site>/ this code writes and
// understands. A node refuses (logs and ignores) a cluster config of a
// newer format.
inline constexpr uint32_t kClusterFormatVersion = 1;
// Shards of `historian cluster init` when none are given.
inline constexpr uint32_t kDefaultClusterShards = 256;

std::string SitePrefix(std::string_view site);        // /historian/<site>/
std::string ClusterConfigKey(std::string_view site);  // /historian/<site>/cluster

struct ClusterConfig {
  uint32_t num_shards = 0;
  uint32_t format_version = 0;
  int64_t created_unix_ns = 0;
};
std::string EncodeClusterConfig(const ClusterConfig& config);
// DataLoss naming the field when a required one is missing or bad.
absl::StatusOr<ClusterConfig> DecodeClusterConfig(std::string_view text);

// What a member registers under /historian/<site>/members/<id>.
struct MemberRecord {
  std::string address;        // host:port others reach its gRPC server at
  int64_t start_unix_ns = 0;  // when this process started
  uint32_t version = 0;       // kClusterFormatVersion of the node
};
std::string EncodeMemberRecord(const MemberRecord& record);
absl::StatusOr<MemberRecord> DecodeMemberRecord(std::string_view text);

// A member id: 1..64 characters of [A-Za-z0-9._-]. INVALID_ARGUMENT names
// `what` (e.g. "--cluster_member_id") and the rule.
absl::Status ValidateMemberId(std::string_view id, std::string_view what);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_KEYS_H_
