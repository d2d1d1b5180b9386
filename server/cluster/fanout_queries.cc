#include "server/cluster/fanout_queries.h"

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/listing_scope.h"
#include "server/cluster/query_fanout.h"
#include "server/cluster/run_parts.h"
#include "server/query_functions.h"
#include "server/rpc_env.h"

namespace historian::cluster {
namespace {

using Stub = v1::Query::Stub;

// Aggregate, Interpolate and Plot: one series per requested tag, in request
// order.
template <typename Request, typename Response, typename Async>
absl::Status FanOutSeries(const server::ServiceEnv& env, const Placement& placement,
                          grpc::ServerContext* context, std::string_view method,
                          const Request& request, Async async,
                          const LocalAnswer<Request, Response>& local, Response* response) {
  const std::vector<OwnerPart> parts =
      PartsByOwner(placement, env.cluster->self_id(), request.tags());
  std::vector<Request> part_requests(parts.size(), request);
  for (size_t i = 0; i < parts.size(); ++i) {
    SelectTags(request.tags(), parts[i], part_requests[i].mutable_tags());
  }
  std::vector<Response> answers;
  RETURN_IF_ERROR(
      RunParts<v1::Query>(env, *context, method, parts, part_requests, async, local, &answers));
  using Series = typename std::remove_pointer<decltype(response->add_series())>::type;
  std::vector<Series*> slot(static_cast<size_t>(request.tags_size()), nullptr);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (answers[i].series_size() != static_cast<int>(parts[i].positions.size())) {
      return absl::InternalError(absl::StrCat(std::string(method), ": member ", parts[i].member.id,
                                              " answered ", answers[i].series_size(),
                                              " series for ", parts[i].positions.size(), " tags"));
    }
    for (size_t j = 0; j < parts[i].positions.size(); ++j) {
      slot[static_cast<size_t>(parts[i].positions[j])] =
          answers[i].mutable_series(static_cast<int>(j));
    }
  }
  response->mutable_series()->Reserve(request.tags_size());
  for (Series* s : slot) response->add_series()->Swap(s);
  return absl::OkStatus();
}

// True when this node owns every tag of `tags`: the request needs no fan-out.
bool AllLocal(const Placement& placement, std::string_view self_id,
              const google::protobuf::RepeatedPtrField<std::string>& tags) {
  for (const std::string& tag : tags) {
    if (placement.OwnerOfTag(tag).id != self_id) return false;
  }
  return true;
}

}  // namespace

absl::Status FanOutAggregate(const server::ServiceEnv& env, const Placement& placement,
                             grpc::ServerContext* context, const v1::AggregateRequest& request,
                             v1::AggregateResponse* response) {
  if (AllLocal(placement, env.cluster->self_id(), request.tags())) {
    return server::AggregateLocal(env, env.query_budget, context, request, response);
  }
  server::QueryBudget::Lease lease;
  RETURN_IF_ERROR(server::CheckAggregateFanout(env.limits, env.query_budget, request, &lease));
  return FanOutSeries<v1::AggregateRequest, v1::AggregateResponse>(
      env, placement, context, "Query.Aggregate", request,
      [](Stub* stub, grpc::ClientContext* c, const v1::AggregateRequest& r,
         grpc::CompletionQueue* cq) { return stub->AsyncAggregate(c, r, cq); },
      [&](const v1::AggregateRequest& part, v1::AggregateResponse* out) {
        return server::AggregateLocal(env, nullptr, context, part, out);
      },
      response);
}

absl::Status FanOutInterpolate(const server::ServiceEnv& env, const Placement& placement,
                               grpc::ServerContext* context, const v1::InterpolateRequest& request,
                               v1::InterpolateResponse* response) {
  if (AllLocal(placement, env.cluster->self_id(), request.tags())) {
    return server::InterpolateLocal(env, env.query_budget, context, request, response);
  }
  server::QueryBudget::Lease lease;
  RETURN_IF_ERROR(server::CheckInterpolateFanout(env.limits, env.query_budget, request, &lease));
  return FanOutSeries<v1::InterpolateRequest, v1::InterpolateResponse>(
      env, placement, context, "Query.Interpolate", request,
      [](Stub* stub, grpc::ClientContext* c, const v1::InterpolateRequest& r,
         grpc::CompletionQueue* cq) { return stub->AsyncInterpolate(c, r, cq); },
      [&](const v1::InterpolateRequest& part, v1::InterpolateResponse* out) {
        return server::InterpolateLocal(env, nullptr, context, part, out);
      },
      response);
}

absl::Status FanOutPlot(const server::ServiceEnv& env, const Placement& placement,
                        grpc::ServerContext* context, const v1::PlotRequest& request,
                        v1::PlotResponse* response) {
  if (AllLocal(placement, env.cluster->self_id(), request.tags())) {
    return server::PlotLocal(env, env.query_budget, context, request, response);
  }
  server::QueryBudget::Lease lease;
  RETURN_IF_ERROR(server::CheckPlotFanout(env.limits, env.query_budget, request, &lease));
  return FanOutSeries<v1::PlotRequest, v1::PlotResponse>(
      env, placement, context, "Query.Plot", request,
      [](Stub* stub, grpc::ClientContext* c, const v1::PlotRequest& r, grpc::CompletionQueue* cq) {
        return stub->AsyncPlot(c, r, cq);
      },
      [&](const v1::PlotRequest& part, v1::PlotResponse* out) {
        return server::PlotLocal(env, nullptr, context, part, out);
      },
      response);
}

absl::Status FanOutLatest(const server::ServiceEnv& env, const Placement& placement,
                          grpc::ServerContext* context, const v1::LatestRequest& request,
                          const LocalAnswer<v1::LatestRequest, v1::LatestResponse>& local,
                          v1::LatestResponse* response) {
  const std::string self = env.cluster->self_id();
  if (request.glob().empty() && AllLocal(placement, self, request.tags())) {
    return local(request, response);
  }
  RETURN_IF_ERROR(server::CheckGlob(request.glob(), env.limits));
  const uint32_t max_tags = env.limits.max_tags_per_latest;
  auto over_limit = [&] {
    return absl::ResourceExhaustedError(
        absl::StrCat("tags: more than ", max_tags,
                     " tags requested or matched by glob (--max_tags_per_latest)"));
  };
  if (static_cast<uint64_t>(request.tags_size()) > max_tags) return over_limit();
  // A glob is asked of every owner; names only of theirs.
  const std::vector<OwnerPart> parts = request.glob().empty()
                                           ? PartsByOwner(placement, self, request.tags())
                                           : PartsForAllOwners(placement, self, &request.tags());
  std::vector<v1::LatestRequest> part_requests(parts.size(), request);
  for (size_t i = 0; i < parts.size(); ++i) {
    SelectTags(request.tags(), parts[i], part_requests[i].mutable_tags());
  }
  std::vector<v1::LatestResponse> answers;
  RETURN_IF_ERROR(RunParts<v1::Query>(
      env, *context, "Query.Latest", parts, part_requests,
      [](Stub* stub, grpc::ClientContext* c, const v1::LatestRequest& r,
         grpc::CompletionQueue* cq) { return stub->AsyncLatest(c, r, cq); },
      local, &answers, request.glob().empty() ? nullptr : &placement));
  // Named tags in request order, then every owner's glob matches (each in
  // name order, owners disjoint) in name order.
  std::vector<v1::LatestValue*> named(static_cast<size_t>(request.tags_size()), nullptr);
  std::vector<v1::LatestValue*> matched;
  for (size_t i = 0; i < parts.size(); ++i) {
    const size_t n = parts[i].positions.size();
    if (static_cast<size_t>(answers[i].values_size()) < n) {
      return absl::InternalError(absl::StrCat("Query.Latest: member ", parts[i].member.id,
                                              " answered ", answers[i].values_size(),
                                              " values for ", n, " tags"));
    }
    for (size_t j = 0; j < static_cast<size_t>(answers[i].values_size()); ++j) {
      v1::LatestValue* v = answers[i].mutable_values(static_cast<int>(j));
      if (j < n) {
        named[static_cast<size_t>(parts[i].positions[j])] = v;
      } else {
        matched.push_back(v);
      }
    }
  }
  if (named.size() + matched.size() > max_tags) return over_limit();
  std::stable_sort(
      matched.begin(), matched.end(),
      [](const v1::LatestValue* a, const v1::LatestValue* b) { return a->tag() < b->tag(); });
  response->mutable_values()->Reserve(static_cast<int>(named.size() + matched.size()));
  for (v1::LatestValue* v : named) response->add_values()->Swap(v);
  for (v1::LatestValue* v : matched) response->add_values()->Swap(v);
  return absl::OkStatus();
}

}  // namespace historian::cluster
