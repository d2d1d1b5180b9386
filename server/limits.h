// File: limits.h
// Request limits of the node's services. Each has a flag in historiand.
#ifndef HISTORIAN_SERVER_LIMITS_H_
#define HISTORIAN_SERVER_LIMITS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

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
  // Query cells one Aggregate, Interpolate or Plot request may build; 0: no
  // limit. A cell is about 32 bytes of the answer being built: per tag, an
  // aggregate window is (functions + 4) cells, an interpolated point 8 and a
  // plot bucket 32 (up to four samples). Default: 4,000,000 (~128 MB).
  uint64_t max_query_cells = 4000000;
  // Query cells all running Aggregate, Interpolate and Plot calls of the
  // node may hold together (QueryBudget); 0: no limit. Default: 16,000,000.
  uint64_t max_query_cells_in_flight = 16000000;
  // Bytes of one tag-name glob (ListTags, Latest). Default: 1024 (a tag name
  // has at most 256).
  uint32_t max_glob_bytes = 1024;
  // Bytes of a tag's description, unit, and attributes (keys + values
  // together), set by CreateTag/UpdateTag. Every ListTags/GetTag answer
  // carries them. Defaults: 4 KiB, 64, 16 KiB.
  uint32_t max_tag_description_bytes = 4096;
  uint32_t max_tag_unit_bytes = 64;
  uint32_t max_tag_attributes_bytes = 16384;
  // Bytes of tags in one ListTags answer: a page ends early, with a token,
  // once past it. Default: 2 MiB (gRPC clients take 4 MiB by default).
  uint32_t max_list_tags_response_bytes = 2 << 20;
  // Replication.Pull + Replication.Fetch streams one peer (token, or peer
  // address without authorisation) may hold open at once; 0: no limit.
  // Default: 8.
  uint32_t max_replication_streams_per_peer = 8;
};

// InvalidArgument naming --max_glob_bytes when `glob` is longer.
inline absl::Status CheckGlob(std::string_view glob, const Limits& limits) {
  if (glob.size() <= limits.max_glob_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("glob: ", glob.size(),
                                                 " bytes is over the limit of ",
                                                 limits.max_glob_bytes, " (--max_glob_bytes)"));
}

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_LIMITS_H_
