// Query.Aggregate, Query.Interpolate and Query.Plot: stream a tag's samples
// page by page through the storage/query builders.
#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"
#include "server/services.h"
#include "server/status_util.h"
#include "storage/query/aggregator.h"
#include "storage/query/interpolator.h"
#include "storage/query/plotter.h"

namespace historian::server {
namespace {

constexpr size_t kPageSamples = 65536;

// Calls fn(page) for the samples of `tag` in [start, end), in time order.
template <typename Fn>
absl::Status ForEachPage(Store* store, grpc::ServerContext* context, TagId tag, int64_t start,
                         int64_t end, Fn fn) {
  codec::ChunkColumns page;
  int64_t cursor = start;
  while (cursor < end) {
    if (context->IsCancelled()) return absl::CancelledError("cancelled by the client");
    absl::Status s = store->ReadRaw(tag, cursor, end, kPageSamples, &page);
    if (!s.ok()) return s;
    if (page.size() > 0) fn(page);
    if (page.size() < kPageSamples) break;
    cursor = page.timestamps.back() + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<engine::TagInfo>> ResolveTags(
    Store* store, const google::protobuf::RepeatedPtrField<std::string>& names,
    const Limits& limits) {
  if (names.empty()) return absl::InvalidArgumentError("tags: at least one tag is required");
  if (static_cast<uint32_t>(names.size()) > limits.max_tags_per_query) {
    return absl::ResourceExhaustedError(absl::StrCat("tags: ", names.size(),
                                                     " tags, over the limit of ",
                                                     limits.max_tags_per_query,
                                                     " (--max_tags_per_query)"));
  }
  std::vector<engine::TagInfo> tags;
  for (const std::string& name : names) {
    absl::StatusOr<engine::TagInfo> tag = store->GetTag(name);
    if (!tag.ok()) return tag.status();
    tags.push_back(std::move(*tag));
  }
  return tags;
}

absl::StatusOr<query::AggFn> AggFnFromProto(int f) {
  switch (f) {
    case v1::COUNT: return query::AggFn::kCount;
    case v1::SUM: return query::AggFn::kSum;
    case v1::MIN: return query::AggFn::kMin;
    case v1::MAX: return query::AggFn::kMax;
    case v1::AVG: return query::AggFn::kAvg;
    case v1::FIRST: return query::AggFn::kFirst;
    case v1::LAST: return query::AggFn::kLast;
    case v1::STDDEV: return query::AggFn::kStddev;
    case v1::TIME_WEIGHTED_AVG: return query::AggFn::kTwa;
    case v1::DELTA: return query::AggFn::kDelta;
    case v1::RATE: return query::AggFn::kRate;
    default:
      return absl::InvalidArgumentError(absl::StrCat("functions: unknown function ", f));
  }
}

absl::Status Aggregate(Store* store, grpc::ServerContext* context, const Limits& limits,
                       const v1::AggregateRequest& request, v1::AggregateResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  query::AggregateSpec spec;
  spec.start = request.start_ns();
  spec.end = request.end_ns();
  spec.step = request.step_ns();
  spec.good_only = request.good_only();
  spec.max_gap = request.max_gap_ns();
  for (int f : request.functions()) {
    auto fn = AggFnFromProto(f);
    if (!fn.ok()) return fn.status();
    spec.functions.push_back(*fn);
  }
  codec::ChunkColumns prev;
  for (const engine::TagInfo& tag : *tags) {
    if (absl::Status s = query::ValidateAggregateSpec(spec, tag.type); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(s.message(), " (tag '", tag.name, "')"));
    }
    query::Aggregator agg(spec, tag.type);
    // The previous sample carries into the first window (time-weighted
    // functions and counter deltas); with good_only, the previous Good one.
    if (absl::Status s = store->Before(tag.id, spec.start, &prev); !s.ok()) return s;
    if (prev.size() == 1) agg.SetPrevious(prev, 0);
    absl::Status s = ForEachPage(store, context, tag.id, spec.start, spec.end,
                                 [&](const codec::ChunkColumns& page) { agg.Add(page); });
    if (!s.ok()) return s;
    v1::AggregateSeries* series = response->add_series();
    series->set_tag(tag.name);
    for (auto& w : agg.Finish()) {
      v1::AggregateWindow* out = series->add_windows();
      out->set_start_ns(w.start);
      out->set_count(w.count);
      for (double v : w.values) out->add_values(v);
    }
  }
  return absl::OkStatus();
}

absl::Status Interpolate(Store* store, grpc::ServerContext* context, const Limits& limits,
                         const v1::InterpolateRequest& request,
                         v1::InterpolateResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  query::InterpolateSpec spec;
  spec.start = request.start_ns();
  spec.end = request.end_ns();
  spec.step = request.step_ns();
  spec.max_gap = request.max_gap_ns();
  switch (request.method()) {
    case v1::PREVIOUS: spec.method = query::InterpolationMethod::kPrevious; break;
    case v1::LINEAR: spec.method = query::InterpolationMethod::kLinear; break;
    default: return absl::InvalidArgumentError("method: must be PREVIOUS or LINEAR");
  }
  if (absl::Status s = query::ValidateInterpolateSpec(spec); !s.ok()) return s;
  codec::ChunkColumns edge;
  for (const engine::TagInfo& tag : *tags) {
    query::Interpolator interp(spec, tag.type);
    if (absl::Status s = store->Before(tag.id, spec.start, &edge); !s.ok()) return s;
    if (edge.size() == 1) interp.SetPrevious(edge, 0);
    absl::Status s = ForEachPage(store, context, tag.id, spec.start, spec.end,
                                 [&](const codec::ChunkColumns& page) { interp.Add(page); });
    if (!s.ok()) return s;
    if (absl::Status n = store->ReadRaw(tag.id, spec.end, kMaxTimestamp, 1, &edge); !n.ok()) {
      return n;
    }
    if (edge.size() == 1) interp.SetNext(edge, 0);
    query::InterpolatedPoints points = interp.Finish();
    v1::InterpolatedSeries* series = response->add_series();
    series->set_tag(tag.name);
    for (size_t i = 0; i < points.cols.size(); ++i) {
      v1::Sample* sample = series->add_samples();
      SampleToProto(points.cols, i, sample);
      if (!points.has_value[i]) sample->clear_value();
    }
  }
  return absl::OkStatus();
}

absl::Status Plot(Store* store, grpc::ServerContext* context, const Limits& limits,
                  const v1::PlotRequest& request, v1::PlotResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  if (absl::Status s = query::ValidatePlotSpec(request.start_ns(), request.end_ns(),
                                               request.buckets());
      !s.ok()) {
    return s;
  }
  for (const engine::TagInfo& tag : *tags) {
    query::Plotter plotter(request.start_ns(), request.end_ns(), request.buckets(), tag.type);
    absl::Status s = ForEachPage(store, context, tag.id, request.start_ns(), request.end_ns(),
                                 [&](const codec::ChunkColumns& page) { plotter.Add(page); });
    if (!s.ok()) return s;
    codec::ChunkColumns points = plotter.Finish();
    v1::PlotSeries* series = response->add_series();
    series->set_tag(tag.name);
    for (size_t i = 0; i < points.size(); ++i) SampleToProto(points, i, series->add_samples());
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status QueryService::Aggregate(grpc::ServerContext* context,
                                     const v1::AggregateRequest* request,
                                     v1::AggregateResponse* response) {
  return ToGrpcStatus(server::Aggregate(store_, context, limits_, *request, response));
}

grpc::Status QueryService::Interpolate(grpc::ServerContext* context,
                                       const v1::InterpolateRequest* request,
                                       v1::InterpolateResponse* response) {
  return ToGrpcStatus(server::Interpolate(store_, context, limits_, *request, response));
}

grpc::Status QueryService::Plot(grpc::ServerContext* context, const v1::PlotRequest* request,
                                v1::PlotResponse* response) {
  return ToGrpcStatus(server::Plot(store_, context, limits_, *request, response));
}

}  // namespace historian::server
