// File: write_request.h
// Turns a v1.WriteRequest into a storage WriteInput: validates the batch
// (whole-batch limits fail the call) and each sample (bad samples are listed
// as rejected in the ack, the rest are stored).
#ifndef HISTORIAN_SERVER_WRITE_REQUEST_H_
#define HISTORIAN_SERVER_WRITE_REQUEST_H_

#include "absl/status/statusor.h"
#include "historian/v1/ingest.pb.h"
#include "server/limits.h"
#include "storage/store.h"

namespace historian::server {

struct PreparedWrite {
  WriteInput input;
  std::vector<v1::RejectedSample> rejected;
  // Samples dropped because a later sample of the batch has the same tag and
  // timestamp (that one is stored): input = stored + rejected + repeated.
  uint64_t repeated = 0;
};

// The whole-batch checks of PrepareWrite, without the store: a node that
// splits a batch across cluster owners refuses a bad batch before any part
// is stored. Errors as PrepareWrite's below.
absl::Status ValidateBatch(const v1::WriteRequest& request, const Limits& limits);

// Errors (the whole batch is refused, nothing stored): ResourceExhausted over
// max_samples_per_batch, InvalidArgument for a bad client_id or a series that
// sets both samples and columns (or column values without timestamps);
// Unavailable naming the series for a new tag of a shard closed here (a site
// cluster handing it over), and a tag creation's error that a retry may not
// meet (storage). A series' own fault (a bad name, implicit tags off, a
// value of another type) rejects that series only (PreparedWrite::rejected).
absl::StatusOr<PreparedWrite> PrepareWrite(const v1::WriteRequest& request, const Limits& limits,
                                           Store* store);

// A request validated and queued in the store, waiting for its commit.
struct StartedWrite {
  uint64_t batch_sequence = 0;
  std::vector<v1::RejectedSample> rejected;
  WriteHandle handle;
};

// Validates `request` and queues it (in call order); returns at once.
// `dedupe_digest`: WriteInput::dedupe_digest (a cluster node's part of a
// batch: routing::WritePartDigest; 0 on a single node).
absl::StatusOr<StartedWrite> StartWrite(const v1::WriteRequest& request, const Limits& limits,
                                        Store* store, uint64_t dedupe_digest = 0);
// Waits for a started write and builds its ack.
absl::StatusOr<v1::WriteAck> FinishWrite(StartedWrite started, Store* store);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_WRITE_REQUEST_H_
