// File: fanout_queries.h
// Fan-out of Query.Aggregate, Query.Interpolate, Query.Plot and Query.Latest
// in a site cluster (docs/cluster.md, "Queries"): the request's tags split
// by owner (a glob asked of every owner), the parts answered in parallel
// (this node's own from its store), the answers merged into the order a
// single node gives: series in request order; Latest's named tags in
// request order, then its glob matches in name order.
//
// The whole request is checked here first as a single node would (tag
// count, shape, --max_query_cells for all its tags) and its cells are taken
// from this node's budget, which holds the merged answer; each owner checks
// and takes its own part's cells again.
//
// Thread-safety: stateless functions, called on the RPC's thread.
#ifndef HISTORIAN_SERVER_CLUSTER_FANOUT_QUERIES_H_
#define HISTORIAN_SERVER_CLUSTER_FANOUT_QUERIES_H_

#include <functional>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "historian/v1/query.pb.h"
#include "server/cluster/placement.h"

namespace historian::server {
struct ServiceEnv;
}  // namespace historian::server

namespace historian::cluster {

// The node's own answer to `request` (a part, or the whole request when this
// node owns every tag of it: `whole`).
template <typename Request, typename Response>
using LocalAnswer = std::function<absl::Status(const Request& request, Response* response)>;

absl::Status FanOutAggregate(const server::ServiceEnv& env, const Placement& placement,
                             grpc::ServerContext* context, const v1::AggregateRequest& request,
                             v1::AggregateResponse* response);
absl::Status FanOutInterpolate(const server::ServiceEnv& env, const Placement& placement,
                               grpc::ServerContext* context, const v1::InterpolateRequest& request,
                               v1::InterpolateResponse* response);
absl::Status FanOutPlot(const server::ServiceEnv& env, const Placement& placement,
                        grpc::ServerContext* context, const v1::PlotRequest& request,
                        v1::PlotResponse* response);
// `local` answers a part from this node's store (QueryService's Latest
// without fan-out; its glob matches only the tags this node owns).
absl::Status FanOutLatest(const server::ServiceEnv& env, const Placement& placement,
                          grpc::ServerContext* context, const v1::LatestRequest& request,
                          const LocalAnswer<v1::LatestRequest, v1::LatestResponse>& local,
                          v1::LatestResponse* response);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_FANOUT_QUERIES_H_
