// File: write_split.h
// Splitting one write batch by the site cluster node that owns each tag
// (docs/cluster.md, "Routing"), and joining the owners' acks back into the
// one ack the writer expects. Pure functions, thread-safe.
//
// Exactly-once across owners: every part keeps the batch's client_id and
// batch_sequence, and each owner deduplicates its own part under that key
// and the part's digest (WritePartDigest): a retry of the whole batch is
// acknowledged as a duplicate by owners that already stored exactly their
// part and stored by the others, including an owner that stored another
// slice of the batch before the placement moved.
#ifndef HISTORIAN_API_CLUSTER_WRITE_SPLIT_H_
#define HISTORIAN_API_CLUSTER_WRITE_SPLIT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "historian/v1/cluster.pb.h"
#include "historian/v1/ingest.pb.h"

namespace historian::routing {

// The part of a batch bound for one owner.
struct WritePart {
  uint32_t owner = 0;  // index into PlacementResponse.members
  v1::WriteRequest request;
  // series_index[i]: the index in the original batch of request.series(i).
  std::vector<uint32_t> series_index;
};

// One part per owner that has tags in `batch`, ordered by owner index, each
// keeping its series in batch order. `placement` must be a cluster's
// (num_shards > 0, one owner per shard); InvalidArgument names what is
// wrong otherwise. Series are moved out of `batch`.
absl::StatusOr<std::vector<WritePart>> SplitWriteByOwner(v1::WriteRequest batch,
                                                         const v1::PlacementResponse& placement);

// The ack of a batch sent in pieces (parts by owner, a writer's slices) from
// the pieces' acks, acks[i] answering piece i: accepted counts summed, each
// rejected sample handed to `rename` (piece index, the sample as that
// piece's node named it) to name it in the batch, then ordered by series
// and sample index; duplicate only when every piece was one.
v1::WriteAck JoinPieceAcks(uint64_t batch_sequence, const std::vector<v1::WriteAck>& acks,
                           const std::function<void(size_t piece, v1::RejectedSample*)>& rename);

// JoinPieceAcks of a split (acks[i] answers parts[i]): rejected samples
// renamed to the original series indexes.
v1::WriteAck JoinWriteAcks(const std::vector<WritePart>& parts,
                           const std::vector<v1::WriteAck>& acks);

// Whether a router holding `held` (null: none read yet) replaces it with
// `read`, a placement just read from a node. Never with an older revision
// (a node lagging behind), and never a cluster placement (num_shards > 0)
// with a node's "no placement" (num_shards 0): that node has not read its
// placement (etcd down since it started) or is not a member, and the site
// is still a cluster; sending it every tag would skip the owners.
bool ReplacesPlacement(const v1::PlacementResponse* held, const v1::PlacementResponse& read);

// Which slice of a batch `part` is: a node in a cluster deduplicates a write
// under (client_id, batch_sequence, this digest), so a retry that brings it
// another slice of the same batch (the placement moved between attempts) is
// stored, never answered as a duplicate of the slice it stored before. A
// hash over the series, independent of their order: each series' tag, its
// number of samples and its first and last timestamps (not every value).
// A slice a writer cut (WriteRequest.slice > 0, client/batch_slicer.h), and
// each owner's part of one, hashes every byte of its series instead (values
// too: slices cut differently on two attempts never pass for each other)
// and its index. Never 0 (0 means "no digest": the batch key alone, as on
// a single node, for whole batches).
uint64_t WritePartDigest(const v1::WriteRequest& part);

}  // namespace historian::routing

#endif  // HISTORIAN_API_CLUSTER_WRITE_SPLIT_H_
