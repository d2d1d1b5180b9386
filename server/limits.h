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
  // Samples per ReadResponse message. Default: 10,000.
  uint32_t read_page_samples = 10000;
  // Bytes of one client_id. Default: 256.
  uint32_t max_client_id_bytes = 256;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_LIMITS_H_
