// File: move_fence_key.h
// The fence key of a shard (/historian/<site>/moves/<shard>/fence, MoveFence
// in cluster_keys.h) read for one move. The key keeps the last move's fence
// until a later move of the same shard replaces it, so a fence is this
// move's only when its source, target and flip time are this move's; the
// source (ShardMover::PublishFence), the target (ShardMover::ReadFence) and
// an admin (Cluster.FenceWithoutSource) all decide that here.
//
// Thread-safety: a function of its arguments (the EtcdClient is
// thread-safe).
#ifndef HISTORIAN_SERVER_CLUSTER_MOVE_FENCE_KEY_H_
#define HISTORIAN_SERVER_CLUSTER_MOVE_FENCE_KEY_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/cluster/cluster_keys.h"

namespace historian::cluster {

class EtcdClient;

// The move a fence belongs to: member ids and the FLIPPED since-time.
struct FencedMove {
  std::string_view from;
  std::string_view to;
  int64_t flipped_unix_ns = 0;
};

bool IsFenceOfMove(const MoveFence& fence, const FencedMove& move);

struct FenceKeyRead {
  // This move's fence, when the key holds it.
  std::optional<MoveFence> of_this_move;
  // The key's mod revision, 0 when absent: a Txn comparing it replaces an
  // earlier move's fence (or creates the key) and loses to any write since.
  int64_t mod_revision = 0;
  // Not OK when the key holds a value that does not decode (never this
  // move's fence then).
  absl::Status decode_error;
};

absl::StatusOr<FenceKeyRead> ReadMoveFenceKey(const EtcdClient& etcd, std::string_view site,
                                              uint32_t shard, const FencedMove& move);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MOVE_FENCE_KEY_H_
