// File: batch_slicer.h
// Cutting a write batch that a node cannot take in one message (more samples
// than its --max_samples_per_batch, or more bytes than its
// --max_message_bytes) into slices it can take, and joining the slices' acks
// back into the one ack of the batch. Pure functions, thread-safe.
//
// Each slice keeps the batch's client_id and batch_sequence and carries
// WriteRequest.slice = 1, 2, ... in batch order. The node deduplicates a
// slice under its index and a digest of its content, so every slice is
// stored once and a retry of a slice cut the same way is acknowledged as a
// duplicate. Slices hold the batch's series in order; a long series is cut
// between samples (columns re-based: each piece's first delta is absolute),
// so what the node stores equals what it would store of the whole batch.
#ifndef HISTORIAN_CLIENT_BATCH_SLICER_H_
#define HISTORIAN_CLIENT_BATCH_SLICER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "historian/v1/ingest.pb.h"

namespace historian::client {

// What one node takes in one Ingest.Write message; 0 where not known.
// A node that sends neither takes no slices (an older version: it would
// take slice 2 of a batch for a retry of slice 1).
struct NodeWriteLimits {
  uint64_t max_samples_per_batch = 0;
  uint64_t max_message_bytes = 0;

  bool TakesSlices() const { return max_samples_per_batch > 0 || max_message_bytes > 0; }
};

// Where series k of a slice comes from in the batch.
struct SliceOrigin {
  uint32_t series_index = 0;  // in the batch
  uint32_t first_sample = 0;  // the index there of the slice's first sample
};

struct BatchSlice {
  historian::v1::WriteRequest request;
  std::vector<SliceOrigin> origin;  // origin[k] is request.series(k)'s
};

// Samples in `batch` (both forms, as the node counts them).
uint64_t SamplesIn(const historian::v1::WriteRequest& batch);

// Whether `batch` is over a known limit of `limits`.
bool OverLimits(const historian::v1::WriteRequest& batch, const NodeWriteLimits& limits);

// Slices of `batch` each within `limits`, in batch order, numbered from 1.
// INVALID_ARGUMENT (nothing to send: the batch can never be taken) when the
// node would refuse the batch whole anyway (a series sets samples and
// columns, or column values without timestamps; the node's own wording,
// naming series[i]), or when what cannot be cut is over a limit by itself:
// one sample over max_message_bytes, or a series whose columns do not line
// up (the node rejects each of its samples; it is kept whole) over either.
absl::StatusOr<std::vector<BatchSlice>> SliceBatch(const historian::v1::WriteRequest& batch,
                                                   const NodeWriteLimits& limits);

// The ack of the whole batch from its slices' acks (acks[i] answers the
// slice numbered numbers[i] (WriteRequest.slice) with origin origins[i]):
// accepted counts summed, rejected samples renamed to the batch's series
// and sample indexes (ordered by them; the reason names the slice), duplicate
// only when every slice was one.
historian::v1::WriteAck JoinSliceAcks(uint64_t batch_sequence,
                                      const std::vector<std::vector<SliceOrigin>>& origins,
                                      const std::vector<uint32_t>& numbers,
                                      const std::vector<historian::v1::WriteAck>& acks);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_BATCH_SLICER_H_
