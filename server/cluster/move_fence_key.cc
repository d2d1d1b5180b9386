// File: move_fence_key.cc
#include "server/cluster/move_fence_key.h"

#include <string>

#include "server/cluster/etcd/etcd_client.h"

namespace historian::cluster {

bool IsFenceOfMove(const MoveFence& fence, const FencedMove& move) {
  return fence.from == move.from && fence.to == move.to &&
         fence.flipped_unix_ns == move.flipped_unix_ns;
}

absl::StatusOr<FenceKeyRead> ReadMoveFenceKey(const EtcdClient& etcd, std::string_view site,
                                              uint32_t shard, const FencedMove& move) {
  absl::StatusOr<EtcdRange> range = etcd.Get(MoveFenceKey(site, shard));
  if (!range.ok()) return range.status();
  FenceKeyRead read;
  if (range->kvs.empty()) return read;
  read.mod_revision = range->kvs[0].mod_revision;
  absl::StatusOr<MoveFence> fence = DecodeMoveFence(range->kvs[0].value);
  if (!fence.ok()) {
    read.decode_error = fence.status();
  } else if (IsFenceOfMove(*fence, move)) {
    read.of_this_move = *std::move(fence);
  }
  return read;
}

}  // namespace historian::cluster
