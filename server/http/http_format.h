// File: http_format.h
// The answers of the HTTP API (docs/http.md): service responses written as
// JSON (nlohmann) or CSV, and errors as JSON {code, message} with the HTTP
// status the gRPC code maps to.
//
// All functions are pure and thread-safe.
#ifndef HISTORIAN_SERVER_HTTP_HTTP_FORMAT_H_
#define HISTORIAN_SERVER_HTTP_HTTP_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "historian/v1/admin.pb.h"
#include "historian/v1/catalog.pb.h"
#include "historian/v1/query.pb.h"
#include "server/http/http_params.h"

namespace historian::server::http {

// An answer's body and its Content-Type.
struct Body {
  std::string text;
  std::string content_type;
};

Body RenderTags(const v1::ListTagsResponse& r, const OutputOptions& o);
// `pieces`: the messages of one Read stream, in order.
Body RenderRead(const std::vector<v1::ReadResponse>& pieces, const OutputOptions& o);
Body RenderAggregate(const v1::AggregateRequest& req, const v1::AggregateResponse& r,
                     const OutputOptions& o);
Body RenderPlot(const v1::PlotResponse& r, const OutputOptions& o);
Body RenderLatest(const v1::LatestResponse& r, const OutputOptions& o);
// The node's site and twin prefix pair (JSON only).
Body RenderNode(const v1::StatsResponse& r, bool auth_enabled);

// {"code": "INVALID_ARGUMENT", "message": "..."} (always JSON).
Body RenderError(const absl::Status& status);
// The usual mapping: INVALID_ARGUMENT 400, UNAUTHENTICATED 401,
// PERMISSION_DENIED 403, NOT_FOUND 404, RESOURCE_EXHAUSTED 429, ...
int HttpStatusFor(absl::StatusCode code);

}  // namespace historian::server::http

#endif  // HISTORIAN_SERVER_HTTP_HTTP_FORMAT_H_
