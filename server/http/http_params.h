// File: http_params.h
// Query parameters of the HTTP API (docs/http.md) turned into the request
// protos of the gRPC services, and the output options of an answer.
//
// All functions are pure and thread-safe.
#ifndef HISTORIAN_SERVER_HTTP_HTTP_PARAMS_H_
#define HISTORIAN_SERVER_HTTP_HTTP_PARAMS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "historian/v1/catalog.pb.h"
#include "historian/v1/query.pb.h"

namespace historian::server::http {

// A request's query parameters; a name may repeat (`tags=a&tags=b`).
using Params = std::multimap<std::string, std::string>;

// How an answer is written: JSON (default) or CSV; times as ISO-8601 UTC
// (default) or integer milliseconds since the epoch.
struct OutputOptions {
  bool csv = false;
  bool epoch_ms = false;
};
// From `format=json|csv`, `time_format=iso|epoch_ms` and the Accept header
// (`text/csv` asks for CSV when `format` is not given).
absl::StatusOr<OutputOptions> ParseOutput(const Params& params, const std::string& accept);

// `now_ns` anchors relative times (`-1h`, `now`). Each returns
// INVALID_ARGUMENT naming the parameter.
absl::StatusOr<v1::ListTagsRequest> ListTagsFromParams(const Params& params);
absl::StatusOr<v1::ReadRequest> ReadFromParams(const Params& params, int64_t now_ns);
absl::StatusOr<v1::AggregateRequest> AggregateFromParams(const Params& params, int64_t now_ns);
absl::StatusOr<v1::PlotRequest> PlotFromParams(const Params& params, int64_t now_ns);
absl::StatusOr<v1::LatestRequest> LatestFromParams(const Params& params);

// The lower-case short name of an aggregate function (`avg`, `twa`, ...).
std::string FunctionName(v1::AggregateFunction f);

// Raw reads without `limit` return at most this many samples per call (a
// JSON answer is built in memory); more come with the continuation token.
inline constexpr uint64_t kDefaultHttpReadLimit = 100000;

}  // namespace historian::server::http

#endif  // HISTORIAN_SERVER_HTTP_HTTP_PARAMS_H_
