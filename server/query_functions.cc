// Query.Aggregate, Query.Interpolate and Query.Plot: requests into query
// specs, limits and the query budget, then each tag through
// storage/query/tag_queries.h (the planner) and the results into protos.
#include "server/query_functions.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/numeric/int128.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "api/core/status_macros.h"
#include "server/cancellation.h"
#include "server/cluster/fanout_queries.h"
#include "server/cluster/named_tags_scope.h"
#include "server/cluster/query_fanout.h"
#include "server/parallel_for.h"
#include "server/proto_convert.h"
#include "server/rpc_env.h"
#include "server/services.h"
#include "server/status_util.h"
#include "storage/query/aggregator.h"
#include "storage/query/calendar_windows.h"
#include "storage/query/interpolator.h"
#include "storage/query/plotter.h"
#include "storage/query/store_sample_source.h"
#include "storage/query/tag_queries.h"

namespace historian::server {

absl::Status CheckTagCount(const google::protobuf::RepeatedPtrField<std::string>& names,
                           const Limits& limits) {
  if (names.empty()) return absl::InvalidArgumentError("tags: at least one tag is required");
  if (static_cast<uint32_t>(names.size()) > limits.max_tags_per_query) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tags: ", names.size(), " tags, over the limit of ", limits.max_tags_per_query,
                     " (--max_tags_per_query)"));
  }
  return absl::OkStatus();
}

namespace {

// An IANA zone name as LoadTimeZone should see it: absl keeps every name it
// was asked for (also one it could not load) for the life of the process,
// and takes an absolute path for a file to read. So at most 64 bytes of
// letters, digits and _+-/ (e.g. America/Argentina/Buenos_Aires,
// Etc/GMT+5), neither starting with '/' nor holding "..".
absl::Status CheckTimeZoneName(absl::string_view name) {
  constexpr size_t kMaxBytes = 64;
  const bool chars_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-' ||
           c == '/';
  });
  if (name.size() > kMaxBytes || !chars_ok || absl::StartsWith(name, "/") ||
      absl::StrContains(name, "..")) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_zone: not an IANA time zone name (at most ", kMaxBytes,
                     " bytes of letters, digits and _+-/, such as Europe/Berlin)"));
  }
  return absl::OkStatus();
}

// Whether `name` is a zone the tz database here has (a file under TZDIR or
// /usr/share/zoneinfo, or UTC): only those go to LoadTimeZone, which keeps
// every name it is asked for, so unknown names cannot grow its table.
bool ZoneFileExists(absl::string_view name) {
  if (name == "UTC") return true;
  const char* dir = std::getenv("TZDIR");
  std::error_code ec;
  return std::filesystem::is_regular_file(
      std::filesystem::path(dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo") /
          std::string(name),
      ec);
}

absl::StatusOr<std::vector<engine::TagInfo>> ResolveTags(
    Store* store, const google::protobuf::RepeatedPtrField<std::string>& names,
    const Limits& limits) {
  RETURN_IF_ERROR(CheckTagCount(names, limits));
  std::vector<engine::TagInfo> tags;
  for (const std::string& name : names) {
    // A shard move's handover first: a tag the copy has not brought yet
    // must not read as unknown.
    RETURN_IF_ERROR(store->CheckShardOpen(name));
    absl::StatusOr<engine::TagInfo> tag = store->GetTag(name);
    if (!tag.ok()) return tag.status();
    tags.push_back(std::move(*tag));
  }
  return tags;
}

absl::StatusOr<query::AggFn> AggFnFromProto(int f) {
  switch (f) {
    case v1::COUNT:
      return query::AggFn::kCount;
    case v1::SUM:
      return query::AggFn::kSum;
    case v1::MIN:
      return query::AggFn::kMin;
    case v1::MAX:
      return query::AggFn::kMax;
    case v1::AVG:
      return query::AggFn::kAvg;
    case v1::FIRST:
      return query::AggFn::kFirst;
    case v1::LAST:
      return query::AggFn::kLast;
    case v1::STDDEV:
      return query::AggFn::kStddev;
    case v1::TIME_WEIGHTED_AVG:
      return query::AggFn::kTwa;
    case v1::DELTA:
      return query::AggFn::kDelta;
    case v1::RATE:
      return query::AggFn::kRate;
    default:
      return absl::InvalidArgumentError(absl::StrCat("functions: unknown function ", f));
  }
}

// The windows of one tag into *series, as AggregateWindow messages or (with
// `columns`) as the series' counts and values columns.
absl::Status AggregateTag(const query::SampleSource& source, CancellationProbe* cancel,
                          const query::AggregateSpec& spec, const engine::TagInfo& tag,
                          bool columns, v1::AggregateSeries* series) {
  ASSIGN_OR_RETURN(
      const query::WindowResults windows,
      query::AggregateTag(source, spec, tag, [cancel] { return cancel->Cancelled(); }));
  series->set_tag(tag.name);
  if (columns) {
    if (spec.starts) {
      series->mutable_window_starts()->Add(spec.starts->begin(),
                                           spec.starts->begin() + windows.size());
    }
    series->mutable_counts()->Add(windows.counts.begin(), windows.counts.end());
    series->mutable_values()->Add(windows.values.begin(), windows.values.end());
    return absl::OkStatus();
  }
  series->mutable_windows()->Reserve(static_cast<int>(windows.size()));
  for (size_t k = 0; k < windows.size(); ++k) {
    if ((k & 4095) == 4095 && cancel->Cancelled()) {
      return absl::CancelledError("cancelled by the client");
    }
    v1::AggregateWindow* out = series->add_windows();
    out->set_start_ns(query::WindowStart(spec, k));
    out->set_count(windows.counts[k]);
    out->mutable_values()->Add(windows.values.begin() + k * windows.functions,
                               windows.values.begin() + (k + 1) * windows.functions);
  }
  return absl::OkStatus();
}

// The calendar windows of a CALENDAR request into spec->starts (START: none).
absl::Status SetCalendarWindows(const v1::AggregateRequest& request, query::AggregateSpec* spec) {
  if (request.align() == v1::START) {
    if (request.step_unit() != v1::CALENDAR_UNIT_NONE || !request.time_zone().empty()) {
      return absl::InvalidArgumentError(
          "align: step_unit and time_zone need align CALENDAR (align is START)");
    }
    return absl::OkStatus();
  }
  if (request.align() != v1::CALENDAR) {
    return absl::InvalidArgumentError(
        absl::StrCat("align: unknown alignment ", request.align(), "; START or CALENDAR"));
  }
  absl::TimeZone zone = absl::UTCTimeZone();
  if (absl::Status name = CheckTimeZoneName(request.time_zone()); !name.ok()) return name;
  if (!request.time_zone().empty() &&
      (!ZoneFileExists(request.time_zone()) || !absl::LoadTimeZone(request.time_zone(), &zone))) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_zone: unknown time zone '", request.time_zone(),
                     "' (an IANA name such as Europe/Berlin; the node needs tzdata)"));
  }
  query::CalendarStep step;
  switch (request.step_unit()) {
    case v1::CALENDAR_UNIT_NONE:
      step = {query::CalendarUnit::kNanos, request.step_ns()};
      break;
    case v1::DAY:
    case v1::WEEK:
    case v1::MONTH:
      if (request.step_ns() != 0) {
        return absl::InvalidArgumentError("step_ns: must be 0 when step_unit is set");
      }
      step.unit = request.step_unit() == v1::DAY    ? query::CalendarUnit::kDay
                  : request.step_unit() == v1::WEEK ? query::CalendarUnit::kWeek
                                                    : query::CalendarUnit::kMonth;
      step.count = request.step_count() == 0 ? 1 : request.step_count();
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("step_unit: unknown unit ", request.step_unit()));
  }
  ASSIGN_OR_RETURN(
      std::vector<int64_t> starts,
      query::CalendarWindowStarts(spec->start, spec->end, step, zone, query::kMaxWindows));
  spec->starts = std::make_shared<const std::vector<int64_t>>(std::move(starts));
  return absl::OkStatus();
}

// Query cells (limits.h): about 32 bytes of answer each.
constexpr uint64_t kCellsPerWindowState = 4;  // plus one per function
constexpr uint64_t kCellsPerPoint = 8;        // a Sample message (~230 bytes measured)
constexpr uint64_t kCellsPerPlotBucket = 32;  // up to four samples

// Checks `cells` (described by `what`, e.g. "tags x windows x (functions +
// 4) = 1 x 10 x 5") against --max_query_cells, then takes them from the
// node's budget into *lease.
absl::Status TakeCells(const Limits& limits, QueryBudget* budget, absl::uint128 cells,
                       const std::string& what, QueryBudget::Lease* lease) {
  if (limits.max_query_cells != 0 && cells > limits.max_query_cells) {
    const std::string count = absl::Uint128High64(cells) != 0
                                  ? std::string("over 2^64")
                                  : absl::StrCat(absl::Uint128Low64(cells));
    return absl::ResourceExhaustedError(absl::StrCat(
        "query: ", what, " = ", count, " cells, over the limit of ", limits.max_query_cells,
        " (--max_query_cells); ask for fewer tags, windows, functions, points or buckets"));
  }
  if (budget == nullptr) return absl::OkStatus();
  const uint64_t clamped = absl::Uint128High64(cells) != 0 ? UINT64_MAX : absl::Uint128Low64(cells);
  return budget->Acquire(clamped, lease);
}

// The spec of `request` without its tags: range, step, functions, calendar
// windows.
absl::Status BuildAggregateSpec(const v1::AggregateRequest& request, query::AggregateSpec* spec) {
  spec->start = request.start_ns();
  spec->end = request.end_ns();
  spec->step = request.step_ns();
  spec->good_only = request.good_only();
  spec->max_gap = request.max_gap_ns();
  for (int f : request.functions()) {
    auto fn = AggFnFromProto(f);
    if (!fn.ok()) return fn.status();
    spec->functions.push_back(*fn);
  }
  return SetCalendarWindows(request, spec);
}

absl::Status TakeAggregateCells(const Limits& limits, QueryBudget* budget, size_t num_tags,
                                const query::AggregateSpec& spec, QueryBudget::Lease* lease) {
  const uint64_t windows = query::NumWindows(spec);
  const uint64_t per_window = spec.functions.size() + kCellsPerWindowState;
  return TakeCells(limits, budget, absl::uint128(num_tags) * windows * per_window,
                   absl::StrCat("tags x windows x (functions + ", kCellsPerWindowState,
                                ") = ", num_tags, " x ", windows, " x ", per_window),
                   lease);
}

absl::Status Aggregate(Store* store, QueryBudget* budget, grpc::ServerContext* context,
                       const Limits& limits, const v1::AggregateRequest& request,
                       v1::AggregateResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  CancellationProbe cancel(context);
  query::AggregateSpec spec;
  RETURN_IF_ERROR(BuildAggregateSpec(request, &spec));
  spec.cancelled = [&cancel] { return cancel.Cancelled(); };
  for (const engine::TagInfo& tag : *tags) {
    if (absl::Status s = query::ValidateAggregateSpec(spec, tag.type); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(s.message(), " (tag '", tag.name, "')"));
    }
  }
  QueryBudget::Lease lease;
  RETURN_IF_ERROR(TakeAggregateCells(limits, budget, tags->size(), spec, &lease));
  // Tags are independent: spread them over the cores, each into its own
  // series (added up front, so the response is in request order).
  for (size_t i = 0; i < tags->size(); ++i) response->add_series();
  const query::StoreSampleSource source(store);
  return ParallelFor(tags->size(), AvailableCores(), [&](size_t i) {
    return AggregateTag(source, &cancel, spec, (*tags)[i], request.columns(),
                        response->mutable_series(static_cast<int>(i)));
  });
}

// The spec of `request` without its tags, checked.
absl::Status BuildInterpolateSpec(const v1::InterpolateRequest& request,
                                  query::InterpolateSpec* spec) {
  spec->start = request.start_ns();
  spec->end = request.end_ns();
  spec->step = request.step_ns();
  spec->max_gap = request.max_gap_ns();
  switch (request.method()) {
    case v1::PREVIOUS:
      spec->method = query::InterpolationMethod::kPrevious;
      break;
    case v1::LINEAR:
      spec->method = query::InterpolationMethod::kLinear;
      break;
    default:
      return absl::InvalidArgumentError("method: must be PREVIOUS or LINEAR");
  }
  return query::ValidateInterpolateSpec(*spec);
}

absl::Status TakeInterpolateCells(const Limits& limits, QueryBudget* budget, size_t num_tags,
                                  const query::InterpolateSpec& spec, QueryBudget::Lease* lease) {
  const uint64_t points = query::NumPoints(spec);
  return TakeCells(limits, budget, absl::uint128(num_tags) * points * kCellsPerPoint,
                   absl::StrCat("tags x points x ", kCellsPerPoint, " = ", num_tags, " x ", points,
                                " x ", kCellsPerPoint),
                   lease);
}

absl::Status TakePlotCells(const Limits& limits, QueryBudget* budget, size_t num_tags,
                           const v1::PlotRequest& request, QueryBudget::Lease* lease) {
  RETURN_IF_ERROR(query::ValidatePlotSpec(request.start_ns(), request.end_ns(), request.buckets()));
  return TakeCells(limits, budget,
                   absl::uint128(num_tags) * request.buckets() * kCellsPerPlotBucket,
                   absl::StrCat("tags x buckets x ", kCellsPerPlotBucket, " = ", num_tags, " x ",
                                request.buckets(), " x ", kCellsPerPlotBucket),
                   lease);
}

absl::Status Interpolate(Store* store, QueryBudget* budget, grpc::ServerContext* context,
                         const Limits& limits, const v1::InterpolateRequest& request,
                         v1::InterpolateResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  CancellationProbe cancel(context);
  query::InterpolateSpec spec;
  RETURN_IF_ERROR(BuildInterpolateSpec(request, &spec));
  spec.cancelled = [&cancel] { return cancel.Cancelled(); };
  QueryBudget::Lease lease;
  RETURN_IF_ERROR(TakeInterpolateCells(limits, budget, tags->size(), spec, &lease));
  const query::StoreSampleSource source(store);
  codec::ChunkColumns edge;
  for (const engine::TagInfo& tag : *tags) {
    ASSIGN_OR_RETURN(const query::InterpolatedPoints points,
                     query::InterpolateTag(
                         source, spec, tag, [&cancel] { return cancel.Cancelled(); }, &edge));
    v1::InterpolatedSeries* series = response->add_series();
    series->set_tag(tag.name);
    for (size_t i = 0; i < points.cols.size(); ++i) {
      if ((i & 4095) == 4095 && cancel.Cancelled()) {
        return absl::CancelledError("cancelled by the client");
      }
      v1::Sample* sample = series->add_samples();
      SampleToProto(points.cols, i, sample);
      if (!points.has_value[i]) sample->clear_value();
    }
  }
  return absl::OkStatus();
}

absl::Status Plot(Store* store, QueryBudget* budget, grpc::ServerContext* context,
                  const Limits& limits, const v1::PlotRequest& request,
                  v1::PlotResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  CancellationProbe cancel(context);
  QueryBudget::Lease lease;
  RETURN_IF_ERROR(TakePlotCells(limits, budget, tags->size(), request, &lease));
  const query::StoreSampleSource source(store);
  for (const engine::TagInfo& tag : *tags) {
    ASSIGN_OR_RETURN(const codec::ChunkColumns points,
                     query::PlotTag(source, request.start_ns(), request.end_ns(), request.buckets(),
                                    tag, [&cancel] { return cancel.Cancelled(); }));
    v1::PlotSeries* series = response->add_series();
    series->set_tag(tag.name);
    for (size_t i = 0; i < points.size(); ++i) {
      if ((i & 4095) == 4095 && cancel.Cancelled()) {
        return absl::CancelledError("cancelled by the client");
      }
      SampleToProto(points, i, series->add_samples());
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AggregateLocal(const ServiceEnv& env, QueryBudget* budget,
                            grpc::ServerContext* context, const v1::AggregateRequest& request,
                            v1::AggregateResponse* response) {
  return cluster::RunNamedTagsPart(env, *context, "Query.Aggregate", request.tags(), [&] {
    return Aggregate(env.store, budget, context, env.limits, request, response);
  });
}

absl::Status InterpolateLocal(const ServiceEnv& env, QueryBudget* budget,
                              grpc::ServerContext* context, const v1::InterpolateRequest& request,
                              v1::InterpolateResponse* response) {
  return cluster::RunNamedTagsPart(env, *context, "Query.Interpolate", request.tags(), [&] {
    return Interpolate(env.store, budget, context, env.limits, request, response);
  });
}

absl::Status PlotLocal(const ServiceEnv& env, QueryBudget* budget, grpc::ServerContext* context,
                       const v1::PlotRequest& request, v1::PlotResponse* response) {
  return cluster::RunNamedTagsPart(env, *context, "Query.Plot", request.tags(), [&] {
    return Plot(env.store, budget, context, env.limits, request, response);
  });
}

absl::Status CheckAggregateFanout(const Limits& limits, QueryBudget* budget,
                                  const v1::AggregateRequest& request, QueryBudget::Lease* lease) {
  RETURN_IF_ERROR(CheckTagCount(request.tags(), limits));
  query::AggregateSpec spec;
  RETURN_IF_ERROR(BuildAggregateSpec(request, &spec));
  // The type-independent checks; a string tag's are its owner's.
  if (absl::Status s = query::ValidateAggregateSpec(spec, ValueType::kDouble); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(s.message(), " (tag '", request.tags(0), "')"));
  }
  return TakeAggregateCells(limits, budget, static_cast<size_t>(request.tags_size()), spec, lease);
}

absl::Status CheckInterpolateFanout(const Limits& limits, QueryBudget* budget,
                                    const v1::InterpolateRequest& request,
                                    QueryBudget::Lease* lease) {
  RETURN_IF_ERROR(CheckTagCount(request.tags(), limits));
  query::InterpolateSpec spec;
  RETURN_IF_ERROR(BuildInterpolateSpec(request, &spec));
  return TakeInterpolateCells(limits, budget, static_cast<size_t>(request.tags_size()), spec,
                              lease);
}

absl::Status CheckPlotFanout(const Limits& limits, QueryBudget* budget,
                             const v1::PlotRequest& request, QueryBudget::Lease* lease) {
  RETURN_IF_ERROR(CheckTagCount(request.tags(), limits));
  return TakePlotCells(limits, budget, static_cast<size_t>(request.tags_size()), request, lease);
}

grpc::Status QueryService::Aggregate(grpc::ServerContext* context,
                                     const v1::AggregateRequest* request,
                                     v1::AggregateResponse* response) {
  return RunRpc(env_, context, "Query.Aggregate", RpcKind::kUnary, [&] {
    if (auto placement = cluster::ReadFanoutPlacement(env_, *context)) {
      return ToGrpcStatus(cluster::AskAgainOnPlacementChange(
          *env_.cluster, placement, [&](const cluster::Placement& p) {
            response->Clear();
            return cluster::FanOutAggregate(env_, p, context, *request, response);
          }));
    }
    return ToGrpcStatus(AggregateLocal(env_, env_.query_budget, context, *request, response));
  });
}

grpc::Status QueryService::Interpolate(grpc::ServerContext* context,
                                       const v1::InterpolateRequest* request,
                                       v1::InterpolateResponse* response) {
  return RunRpc(env_, context, "Query.Interpolate", RpcKind::kUnary, [&] {
    if (auto placement = cluster::ReadFanoutPlacement(env_, *context)) {
      return ToGrpcStatus(cluster::AskAgainOnPlacementChange(
          *env_.cluster, placement, [&](const cluster::Placement& p) {
            response->Clear();
            return cluster::FanOutInterpolate(env_, p, context, *request, response);
          }));
    }
    return ToGrpcStatus(InterpolateLocal(env_, env_.query_budget, context, *request, response));
  });
}

grpc::Status QueryService::Plot(grpc::ServerContext* context, const v1::PlotRequest* request,
                                v1::PlotResponse* response) {
  return RunRpc(env_, context, "Query.Plot", RpcKind::kUnary, [&] {
    if (auto placement = cluster::ReadFanoutPlacement(env_, *context)) {
      return ToGrpcStatus(cluster::AskAgainOnPlacementChange(
          *env_.cluster, placement, [&](const cluster::Placement& p) {
            response->Clear();
            return cluster::FanOutPlot(env_, p, context, *request, response);
          }));
    }
    return ToGrpcStatus(PlotLocal(env_, env_.query_budget, context, *request, response));
  });
}

}  // namespace historian::server
