// File: shard_copy_client.h
// The target's side of step 3 of a shard move (issue 21, docs/cluster.md
// "Moving shards"): reads Cluster.CopyShard from the source and applies its
// pieces to the local store in order, each in one write batch with the
// move/<shard> marker (Store::ImportShardPiece).
//
// Thread-safety: a call is independent of others; two calls for the same
// shard at once would interleave their pieces (the mover runs one copy per
// shard).
#ifndef HISTORIAN_SERVER_CLUSTER_SHARD_COPY_CLIENT_H_
#define HISTORIAN_SERVER_CLUSTER_SHARD_COPY_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/client_context.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "storage/store.h"

namespace historian::cluster {

struct PullShardOptions {
  uint32_t num_shards = 0;
  uint32_t shard = 0;
  uint32_t max_piece_bytes = 0;  // 0: the source's default (1 MiB)
  // Recorded in the marker as the source (a member id or address).
  std::string source_name;
  // Called after each piece is applied: the piece bytes applied so far and
  // the source's estimate of them all (0: none). May be empty.
  std::function<void(uint64_t bytes_so_far, uint64_t estimated_bytes)> on_piece{};
};

// Pulls the copy of `options.shard` from the source behind `stub` with
// `context` (the caller sets its token and deadline) into `store`, starting
// a fresh marker. REQUIRES: the wipe of step 2 ran (the store keeps nothing
// of the shard it must not). Returns the marker after the last piece
// (complete). Errors: the source's status (INVALID_ARGUMENT for a bad
// shard, UNAVAILABLE when it is down), DataLoss when the stream ends
// without its last piece or a piece comes after it, the import's errors.
// A failed pull leaves a partial copy and an incomplete marker: restart
// from step 2.
absl::StatusOr<shard_copy::MoveMarker> PullShardCopy(v1::Cluster::StubInterface* stub,
                                                     grpc::ClientContext* context, Store* store,
                                                     const PullShardOptions& options);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SHARD_COPY_CLIENT_H_
