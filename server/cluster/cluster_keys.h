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
  // Its --cluster_isolation_write_fence (lease_fence.h); 0: not published
  // (a node from before it).
  int64_t isolation_fence_ms = 0;
  // It stores each slice of a batch (WriteRequest.slice) apart; false: a
  // node from before slices, which would take slice 2 for a retry of slice 1.
  bool write_slices = false;
};
std::string EncodeMemberRecord(const MemberRecord& record);
absl::StatusOr<MemberRecord> DecodeMemberRecord(std::string_view text);

// The widest isolation write fence of the site, under
// /historian/<site>/isolation_fence (`max_ms=<n>`): the largest
// --cluster_isolation_write_fence any member has registered with. A member
// raises it (never lowers it) before it puts its member record, so
// `remove-node --lost` waits at least that long after a lost member's key is
// gone even on a node that never saw the member's record (one started after
// it was lost). Absent: no member published a fence (nodes from before it).
std::string SiteIsolationFenceKey(std::string_view site);
std::string EncodeSiteIsolationFence(int64_t max_ms);
// DataLoss naming `key` and the field when `max_ms` is missing or not a
// number.
absl::StatusOr<int64_t> DecodeSiteIsolationFence(std::string_view key, std::string_view text);

// A shard move's fence (docs/cluster.md, "Moving shards", step 6), under
// /historian/<site>/moves/<shard>/fence, written by the source once it has
// closed the shard to its own writes: every own log entry of the source
// holding the shard is at or below `position`, and `clock` is at or above
// every version the source stamped. `flipped_unix_ns` is the FLIPPED
// move's since-time, so a fence of an earlier move of the same shard is
// never taken for this one's.
struct MoveFence {
  std::string from;  // member ids
  std::string to;
  int64_t flipped_unix_ns = 0;
  uint64_t position = 0;
  uint64_t clock = 0;  // a Version (storage/engine/version.h)
  // Written by an operator (Cluster.FenceWithoutSource), not the source:
  // position 0, clock the writer's; the target opens with what it has.
  bool without_source = false;

  bool operator==(const MoveFence&) const = default;
};
std::string MoveFenceKey(std::string_view site, uint32_t shard);

// A move's progress as its target reports it, under
// /historian/<site>/moves/<shard>/progress (read by Cluster.Status).
struct MoveProgress {
  std::string to;               // the target's member id
  std::string step;             // MoveStepName of the step under way
  int64_t bytes_copied = 0;     // the copy's piece bytes so far
  int64_t bytes_total = -1;     // the source's estimate of them all (-1: none)
  int64_t entries_behind = -1;  // source entries not tailed yet (-1: unknown)
  int64_t eta_seconds = -1;     // at the tail's last rate (-1: unknown)
  int64_t updated_unix_ns = 0;
};
std::string MoveProgressKey(std::string_view site, uint32_t shard);
// The prefix of every move's keys: /historian/<site>/moves/.
std::string MovesPrefix(std::string_view site);
std::string EncodeMoveProgress(const MoveProgress& progress);
absl::StatusOr<MoveProgress> DecodeMoveProgress(std::string_view text);
std::string EncodeMoveFence(const MoveFence& fence);
absl::StatusOr<MoveFence> DecodeMoveFence(std::string_view text);

// A member id: 1..64 characters of [A-Za-z0-9._-]. INVALID_ARGUMENT names
// `what` (e.g. "--cluster_member_id") and the rule.
absl::Status ValidateMemberId(std::string_view id, std::string_view what);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_KEYS_H_
