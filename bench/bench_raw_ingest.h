// File: bench_raw_ingest.h
// Pre-encoded ingest: the whole DataSet is encoded into serialized
// WriteRequests before the clock starts, then sent over N concurrent
// Ingest.Write bidi streams (one HTTP/2 connection each) with up to
// `max_in_flight` unacked batches per stream. Like the other systems'
// loaders, which POST files generated beforehand, the timed part costs the
// client only gRPC framing, not data simulation and protobuf encoding.
// Same batches as IngestDataSet (bench_ingest.h): stream s owns the tags with
// index % N == s, in canonical block order; each batch carries
// (client_id, batch_sequence) like a gateway's.
//
// Thread-safety: IngestEncoded blocks its caller.
#ifndef HISTORIAN_BENCH_BENCH_RAW_INGEST_H_
#define HISTORIAN_BENCH_BENCH_RAW_INGEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_dataset.h"
#include "bench/bench_ingest.h"
#include "grpcpp/support/byte_buffer.h"

namespace historian::bench {

struct EncodedBatch {
  grpc::ByteBuffer bytes;  // a serialized WriteRequest
  uint64_t samples = 0;
};

struct EncodedDataSet {
  std::vector<std::vector<EncodedBatch>> streams;  // batches of each stream, in order
  uint64_t bytes = 0;                              // serialized size of all batches
};

EncodedDataSet EncodeDataSet(const DataSet& data, const IngestOptions& options);

// Sends every batch and waits for every ack. INTERNAL when samples were
// rejected or acks are missing; the stream's status on a stream error.
absl::StatusOr<IngestResult> IngestEncoded(const EncodedDataSet& encoded,
                                           const IngestOptions& options);

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_RAW_INGEST_H_
