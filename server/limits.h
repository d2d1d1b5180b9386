// File: limits.h
// Request limits of the node's services. Each has a flag in historiand.
#ifndef HISTORIAN_SERVER_LIMITS_H_
#define HISTORIAN_SERVER_LIMITS_H_

#include <cstdint>

namespace historian::server {

struct Limits {
  // Samples in one WriteRequest. Default: 100,000.
  uint64_t max_samples_per_batch = 100000;
  // Tags in one Read, Aggregate, Interpolate or Plot request. Default: 1000.
  uint32_t max_tags_per_query = 1000;
  // Tags in one Latest request (names or glob matches). Default: 10,000.
  uint32_t max_tags_per_latest = 10000;
  // Samples in one Read stream when the request's limit is 0 or larger.
  // Default: 1,000,000.
  uint64_t max_read_samples = 1000000;
  // Samples per ReadResponse message (and per storage read of a Read
  // stream), --read_page_samples. Default: 10,000.
  uint32_t read_page_samples = 10000;
  // Bytes of one client_id. Default: 256.
  uint32_t max_client_id_bytes = 256;
  // Widest time range (end_ns - start_ns) of one Query.Read request, in
  // nanoseconds; 0: no limit. Off by default: a Read streams at most
  // max_read_samples and is resumable, and an empty range costs nothing
  // (chunks are keyed by time), so "all time" (0 .. now) is a normal
  // request of the CLI. Aggregate, Interpolate and Plot are bounded by their
  // bucket counts instead. Default: 0.
  int64_t max_read_range_ns = 0;
  // Ingest.Write and Query.Read streams one client (token, or peer address
  // without authorisation) may hold open at once; 0: no limit. Default: 64.
  uint32_t max_streams_per_client = 64;
  // Largest gRPC message the node receives (bytes); larger ones fail with
  // RESOURCE_EXHAUSTED from gRPC itself. Default: 64 MiB.
  int32_t max_message_bytes = 64 << 20;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_LIMITS_H_
