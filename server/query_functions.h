// File: query_functions.h
// Query.Aggregate, Query.Interpolate and Query.Plot on this node's own data
// (query_functions.cc), and the checks a cluster node makes of a whole
// request before it fans the request out to the owners of its tags
// (server/cluster/fanout_queries.cc).
//
// Thread-safety: stateless; safe from any thread.
#ifndef HISTORIAN_SERVER_QUERY_FUNCTIONS_H_
#define HISTORIAN_SERVER_QUERY_FUNCTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "grpcpp/server_context.h"
#include "historian/v1/query.pb.h"
#include "server/limits.h"
#include "server/query_budget.h"
#include "storage/store.h"

namespace historian::server {

struct ServiceEnv;

// At least one tag and at most --max_tags_per_query.
absl::Status CheckTagCount(const google::protobuf::RepeatedPtrField<std::string>& names,
                           const Limits& limits);

// The answer from this node's store (every tag must be in it), as a part
// that refuses tags this node's placement gives another member
// (cluster/named_tags_scope.h). Cells are taken from `budget` (may be
// null: not counted there).
absl::Status AggregateLocal(const ServiceEnv& env, QueryBudget* budget,
                            grpc::ServerContext* context, const v1::AggregateRequest& request,
                            v1::AggregateResponse* response);
absl::Status InterpolateLocal(const ServiceEnv& env, QueryBudget* budget,
                              grpc::ServerContext* context, const v1::InterpolateRequest& request,
                              v1::InterpolateResponse* response);
absl::Status PlotLocal(const ServiceEnv& env, QueryBudget* budget, grpc::ServerContext* context,
                       const v1::PlotRequest& request, v1::PlotResponse* response);

// What a coordinator checks of the whole request before fanning out, as a
// single node would: tag count, the request's shape (functions, range,
// step, windows) and its cells against --max_query_cells for all its tags,
// then takes those cells from `budget` into *lease (the merged answer is
// built here). Per-tag checks (a string tag's functions, unknown tags) are
// the owners'.
absl::Status CheckAggregateFanout(const Limits& limits, QueryBudget* budget,
                                  const v1::AggregateRequest& request, QueryBudget::Lease* lease);
absl::Status CheckInterpolateFanout(const Limits& limits, QueryBudget* budget,
                                    const v1::InterpolateRequest& request,
                                    QueryBudget::Lease* lease);
absl::Status CheckPlotFanout(const Limits& limits, QueryBudget* budget,
                             const v1::PlotRequest& request, QueryBudget::Lease* lease);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_QUERY_FUNCTIONS_H_
