// Query.Aggregate, Query.Interpolate and Query.Plot: stream a tag's samples
// page by page through the storage/query builders.
#include <algorithm>
#include <iterator>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/core/status_macros.h"
#include "server/cancellation.h"
#include "server/parallel_for.h"
#include "server/proto_convert.h"
#include "server/services.h"
#include "server/status_util.h"
#include "storage/query/aggregator.h"
#include "storage/query/calendar_windows.h"
#include "storage/query/interpolator.h"
#include "storage/query/plotter.h"
#include "storage/query/window_math.h"

namespace historian::server {
namespace {

// Calls fn(piece) for the samples of `tag` in [start, end), in time order,
// a chunk's worth at a time (Store::ScanRaw: no copy of the range).
template <typename Fn>
absl::Status ForEachPiece(Store* store, CancellationProbe* cancel, TagId tag, int64_t start,
                          int64_t end, Fn fn) {
  return store->ScanRaw(tag, start, end, [&](const codec::ChunkColumns& piece) {
    if (cancel->Cancelled()) return absl::CancelledError("cancelled by the client");
    fn(piece);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<engine::TagInfo>> ResolveTags(
    Store* store, const google::protobuf::RepeatedPtrField<std::string>& names,
    const Limits& limits) {
  if (names.empty()) return absl::InvalidArgumentError("tags: at least one tag is required");
  if (static_cast<uint32_t>(names.size()) > limits.max_tags_per_query) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tags: ", names.size(), " tags, over the limit of ", limits.max_tags_per_query,
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

// A piece of an aggregate query: raw samples (width 0) or rollup buckets of
// `width` over [from, to).
struct Segment {
  int64_t from, to, width;
};

// The multiple of w (> 0) at or below / at or above x, in 128 bits: near the
// int64 bounds it may lie outside them.
absl::int128 FloorTo(int64_t x, int64_t w) {
  absl::int128 f = absl::int128(x) / w * w;  // rounds toward zero
  return f > x ? f - w : f;
}
absl::int128 CeilTo(int64_t x, int64_t w) {
  absl::int128 f = FloorTo(x, w);
  return f == x ? f : f + w;
}

// Splits [a, z) into raw edges and the widest rollup buckets that fit inside
// it and end before `limit` (where unsealed data begins).
void Decompose(int64_t a, int64_t z, int64_t limit, size_t level, std::vector<Segment>* out) {
  constexpr size_t kLevels = std::size(engine::kRollupWidths);
  if (a >= z) return;
  if (level == kLevels) {
    out->push_back({a, z, 0});
    return;
  }
  int64_t w = engine::kRollupWidths[level];
  absl::int128 c0 = CeilTo(a, w), c1 = FloorTo(std::min(z, limit), w);
  if (c1 <= c0) {
    Decompose(a, z, limit, level + 1, out);
    return;
  }
  // a <= r0 < r1 <= z: both within int64.
  const int64_t r0 = static_cast<int64_t>(c0), r1 = static_cast<int64_t>(c1);
  Decompose(a, r0, limit, level + 1, out);
  out->push_back({r0, r1, w});
  Decompose(r1, z, limit, level + 1, out);
}

// Per window (so a bucket never straddles two), then adjacent pieces of the
// same kind merged. The windows are [anchor + k*step, ...) (anchor <= start)
// clipped to [start, end), or with `starts` (calendar windows) [starts[k],
// starts[k + 1]); each step moves on by at least 1 ns and stops at end, so
// the loop ends at the int64 bounds too. Calendar windows that do not fall
// on rollup bucket edges (a zone 30 minutes off UTC) get raw edges from
// Decompose.
absl::StatusOr<std::vector<Segment>> PlanSegments(int64_t start, int64_t end, uint64_t step,
                                                  int64_t unsealed_from, int64_t anchor,
                                                  CancellationProbe* cancel,
                                                  const std::vector<int64_t>* starts = nullptr) {
  std::vector<Segment> pieces;
  uint64_t windows = 0;
  for (int64_t a = start; a < end;) {
    if ((++windows & 1023) == 0 && cancel->Cancelled()) {
      return absl::CancelledError("cancelled by the client");
    }
    int64_t z;
    if (starts != nullptr) {
      auto next = std::upper_bound(starts->begin(), starts->end(), a);
      z = next == starts->end() ? end : std::min(*next, end);
    } else {
      // a - anchor <= 2^64 - 2 (a < end), so k + 1 does not wrap.
      z = query::StepPoint(anchor, step, query::StepOf(anchor, step, a) + 1, end);
    }
    Decompose(a, z, unsealed_from, 0, &pieces);
    a = z;
  }
  std::vector<Segment> merged;
  for (const Segment& p : pieces) {
    if (!merged.empty() && merged.back().width == p.width && merged.back().to == p.from) {
      merged.back().to = p.to;
    } else {
      merged.push_back(p);
    }
  }
  return merged;
}

// Runs `plan` for one tag: the raw samples of width-0 segments go to
// on_piece, chunk by chunk; whole rollup buckets to
// on_rollup(bucket_start, width, rollup), which returns false to take the
// bucket's raw samples instead.
template <typename OnPiece, typename OnRollup>
absl::Status RunPlan(Store* store, CancellationProbe* cancel, TagId tag,
                     const std::vector<Segment>& plan, OnPiece on_piece, OnRollup on_rollup) {
  std::vector<std::pair<int64_t, engine::Rollup>> buckets;
  for (const Segment& seg : plan) {
    if (seg.width == 0) {
      RETURN_IF_ERROR(ForEachPiece(store, cancel, tag, seg.from, seg.to, on_piece));
      continue;
    }
    RETURN_IF_ERROR(store->ReadRollups(tag, seg.width, seg.from, seg.to, &buckets));
    for (const auto& [bucket, r] : buckets) {
      if (!on_rollup(bucket, seg.width, r)) {
        RETURN_IF_ERROR(ForEachPiece(store, cancel, tag, bucket, bucket + seg.width, on_piece));
      }
    }
  }
  return absl::OkStatus();
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
// The tag's stale_after_ns is its max_gap when the request gives none.
int64_t MaxGapFor(int64_t requested, const engine::TagInfo& tag) {
  return requested != 0 ? requested : tag.stale_after_ns;
}

absl::Status AggregateTag(Store* store, CancellationProbe* cancel,
                          const query::AggregateSpec& request_spec, const engine::TagInfo& tag,
                          bool columns, v1::AggregateSeries* series) {
  query::AggregateSpec spec = request_spec;
  spec.max_gap = MaxGapFor(request_spec.max_gap, tag);
  codec::ChunkColumns prev;
  query::Aggregator agg(spec, tag.type);
  // The previous sample carries into the first window (time-weighted
  // functions and counter deltas): the last one that counts (not NaN, and
  // Good with good_only), however far back.
  // Only time-weighted functions and counter deltas look at the sample
  // before the range; skip the lookup for the others.
  const bool needs_prev = std::any_of(spec.functions.begin(), spec.functions.end(), [](auto f) {
    return f == query::AggFn::kTwa || f == query::AggFn::kDelta || f == query::AggFn::kRate;
  });
  if (needs_prev) {
    RETURN_IF_ERROR(store->BeforeMatching(
        tag.id, spec.start,
        [&spec](const codec::ChunkColumns& c, size_t i) {
          return query::Aggregator::CountsBefore(spec, c, i);
        },
        &prev));
    if (prev.size() == 1) agg.SetPrevious(prev, 0);
  }
  // Whole 1-hour buckets of sealed data come from rollups;
  // raw samples only at window edges and for what is not sealed yet.
  bool rollups = !spec.good_only && spec.max_gap == 0 && tag.type != ValueType::kString;
  std::vector<Segment> plan = {{spec.start, spec.end, 0}};
  if (rollups) {
    ASSIGN_OR_RETURN(
        plan, PlanSegments(spec.start, spec.end, static_cast<uint64_t>(spec.step),
                           store->UnsealedFrom(tag.id), spec.start, cancel, spec.starts.get()));
  }
  RETURN_IF_ERROR(RunPlan(
      store, cancel, tag.id, plan, [&](const codec::ChunkColumns& piece) { agg.Add(piece); },
      [&](int64_t bucket, int64_t width, const engine::Rollup& r) {
        if (!agg.CanUseRollup(r)) return false;
        agg.AddRollup(bucket, bucket + width, r);
        return true;
      }));
  series->set_tag(tag.name);
  const query::WindowResults windows = agg.Finish();
  // A cancelled Finish stops early with some windows missing.
  if (cancel->Cancelled()) return absl::CancelledError("cancelled by the client");
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
  if (!request.time_zone().empty() && !absl::LoadTimeZone(request.time_zone(), &zone)) {
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

absl::Status Aggregate(Store* store, QueryBudget* budget, grpc::ServerContext* context,
                       const Limits& limits, const v1::AggregateRequest& request,
                       v1::AggregateResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  CancellationProbe cancel(context);
  query::AggregateSpec spec;
  spec.start = request.start_ns();
  spec.end = request.end_ns();
  spec.step = request.step_ns();
  spec.good_only = request.good_only();
  spec.max_gap = request.max_gap_ns();
  spec.cancelled = [&cancel] { return cancel.Cancelled(); };
  for (int f : request.functions()) {
    auto fn = AggFnFromProto(f);
    if (!fn.ok()) return fn.status();
    spec.functions.push_back(*fn);
  }
  RETURN_IF_ERROR(SetCalendarWindows(request, &spec));
  for (const engine::TagInfo& tag : *tags) {
    if (absl::Status s = query::ValidateAggregateSpec(spec, tag.type); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(s.message(), " (tag '", tag.name, "')"));
    }
  }
  const uint64_t windows = query::NumWindows(spec);
  const uint64_t per_window = spec.functions.size() + kCellsPerWindowState;
  QueryBudget::Lease lease;
  RETURN_IF_ERROR(TakeCells(limits, budget, absl::uint128(tags->size()) * windows * per_window,
                            absl::StrCat("tags x windows x (functions + ", kCellsPerWindowState,
                                         ") = ", tags->size(), " x ", windows, " x ", per_window),
                            &lease));
  // Tags are independent: spread them over the cores, each into its own
  // series (added up front, so the response is in request order).
  for (size_t i = 0; i < tags->size(); ++i) response->add_series();
  return ParallelFor(tags->size(), AvailableCores(), [&](size_t i) {
    return AggregateTag(store, &cancel, spec, (*tags)[i], request.columns(),
                        response->mutable_series(static_cast<int>(i)));
  });
}

absl::Status Interpolate(Store* store, QueryBudget* budget, grpc::ServerContext* context,
                         const Limits& limits, const v1::InterpolateRequest& request,
                         v1::InterpolateResponse* response) {
  auto tags = ResolveTags(store, request.tags(), limits);
  if (!tags.ok()) return tags.status();
  CancellationProbe cancel(context);
  query::InterpolateSpec spec;
  spec.start = request.start_ns();
  spec.end = request.end_ns();
  spec.step = request.step_ns();
  spec.max_gap = request.max_gap_ns();
  spec.cancelled = [&cancel] { return cancel.Cancelled(); };
  switch (request.method()) {
    case v1::PREVIOUS:
      spec.method = query::InterpolationMethod::kPrevious;
      break;
    case v1::LINEAR:
      spec.method = query::InterpolationMethod::kLinear;
      break;
    default:
      return absl::InvalidArgumentError("method: must be PREVIOUS or LINEAR");
  }
  if (absl::Status s = query::ValidateInterpolateSpec(spec); !s.ok()) return s;
  const uint64_t points = query::NumPoints(spec);
  QueryBudget::Lease lease;
  RETURN_IF_ERROR(TakeCells(limits, budget, absl::uint128(tags->size()) * points * kCellsPerPoint,
                            absl::StrCat("tags x points x ", kCellsPerPoint, " = ", tags->size(),
                                         " x ", points, " x ", kCellsPerPoint),
                            &lease));
  codec::ChunkColumns edge;
  for (const engine::TagInfo& tag : *tags) {
    query::InterpolateSpec tag_spec = spec;
    tag_spec.max_gap = MaxGapFor(spec.max_gap, tag);
    query::Interpolator interp(tag_spec, tag.type);
    if (absl::Status s = store->Before(tag.id, spec.start, &edge); !s.ok()) return s;
    if (edge.size() == 1) interp.SetPrevious(edge, 0);
    absl::Status s = ForEachPiece(store, &cancel, tag.id, spec.start, spec.end,
                                  [&](const codec::ChunkColumns& page) { interp.Add(page); });
    if (!s.ok()) return s;
    if (absl::Status n = store->ReadRaw(tag.id, spec.end, kMaxTimestamp, 1, &edge); !n.ok()) {
      return n;
    }
    if (edge.size() == 1) interp.SetNext(edge, 0);
    query::InterpolatedPoints points = interp.Finish();
    // A cancelled Finish stops early with some points missing.
    if (cancel.Cancelled()) return absl::CancelledError("cancelled by the client");
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
  if (absl::Status s =
          query::ValidatePlotSpec(request.start_ns(), request.end_ns(), request.buckets());
      !s.ok()) {
    return s;
  }
  QueryBudget::Lease lease;
  RETURN_IF_ERROR(TakeCells(
      limits, budget, absl::uint128(tags->size()) * request.buckets() * kCellsPerPlotBucket,
      absl::StrCat("tags x buckets x ", kCellsPerPlotBucket, " = ", tags->size(), " x ",
                   request.buckets(), " x ", kCellsPerPlotBucket),
      &lease));
  // Whole rollup buckets inside a plot bucket give its first/last/min/max
  // without reading their samples.
  const query::PlotGrid grid =
      query::PlotGridFor(request.start_ns(), request.end_ns(), request.buckets());
  for (const engine::TagInfo& tag : *tags) {
    query::Plotter plotter(request.start_ns(), request.end_ns(), request.buckets(), tag.type);
    std::vector<Segment> plan = {{request.start_ns(), request.end_ns(), 0}};
    if (tag.type != ValueType::kString) {
      ASSIGN_OR_RETURN(plan, PlanSegments(request.start_ns(), request.end_ns(), grid.width,
                                          store->UnsealedFrom(tag.id), grid.anchor, &cancel));
    }
    RETURN_IF_ERROR(RunPlan(
        store, &cancel, tag.id, plan, [&](const codec::ChunkColumns& piece) { plotter.Add(piece); },
        [&](int64_t bucket, int64_t, const engine::Rollup& r) {
          plotter.AddRollup(bucket, r);
          return true;
        }));
    codec::ChunkColumns points = plotter.Finish();
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

grpc::Status QueryService::Aggregate(grpc::ServerContext* context,
                                     const v1::AggregateRequest* request,
                                     v1::AggregateResponse* response) {
  return RunRpc(env_, context, "Query.Aggregate", RpcKind::kUnary, [&] {
    return ToGrpcStatus(
        server::Aggregate(store_, env_.query_budget, context, limits_, *request, response));
  });
}

grpc::Status QueryService::Interpolate(grpc::ServerContext* context,
                                       const v1::InterpolateRequest* request,
                                       v1::InterpolateResponse* response) {
  return RunRpc(env_, context, "Query.Interpolate", RpcKind::kUnary, [&] {
    return ToGrpcStatus(
        server::Interpolate(store_, env_.query_budget, context, limits_, *request, response));
  });
}

grpc::Status QueryService::Plot(grpc::ServerContext* context, const v1::PlotRequest* request,
                                v1::PlotResponse* response) {
  return RunRpc(env_, context, "Query.Plot", RpcKind::kUnary, [&] {
    return ToGrpcStatus(
        server::Plot(store_, env_.query_budget, context, limits_, *request, response));
  });
}

}  // namespace historian::server
