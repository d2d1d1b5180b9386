// File: tag_queries.cc
#include "storage/query/tag_queries.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "api/core/status_macros.h"
#include "storage/query/plotter.h"

namespace historian::query {

int64_t MaxGapFor(int64_t requested, const engine::TagInfo& tag) {
  return requested != 0 ? requested : tag.stale_after_ns;
}

absl::StatusOr<WindowResults> AggregateTag(const SampleSource& source,
                                           const AggregateSpec& request_spec,
                                           const engine::TagInfo& tag, CancelledRef cancelled) {
  AggregateSpec spec = request_spec;
  spec.max_gap = MaxGapFor(request_spec.max_gap, tag);
  codec::ChunkColumns prev;
  Aggregator agg(spec, tag.type);
  // The previous sample carries into the first window (time-weighted
  // functions and counter deltas): the last one that counts (not NaN, and
  // Good with good_only), however far back.
  // Only time-weighted functions and counter deltas look at the sample
  // before the range; skip the lookup for the others.
  const bool needs_prev = std::any_of(spec.functions.begin(), spec.functions.end(), [](auto f) {
    return f == AggFn::kTwa || f == AggFn::kDelta || f == AggFn::kRate;
  });
  if (needs_prev) {
    RETURN_IF_ERROR(source.BeforeMatching(
        tag.id, spec.start,
        [&spec](const codec::ChunkColumns& c, size_t i) {
          return Aggregator::CountsBefore(spec, c, i);
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
                           source.UnsealedFrom(tag.id), spec.start, cancelled, spec.starts.get()));
  }
  RETURN_IF_ERROR(RunPlan(
      source, cancelled, tag.id, plan, [&](const codec::ChunkColumns& piece) { agg.Add(piece); },
      [&](int64_t bucket, int64_t width, const engine::Rollup& r) {
        if (!agg.CanUseRollup(r)) return false;
        agg.AddRollup(bucket, bucket + width, r);
        return true;
      }));
  WindowResults windows = agg.Finish();
  // A cancelled Finish stops early with some windows missing.
  if (cancelled()) return absl::CancelledError("cancelled by the client");
  return windows;
}

absl::StatusOr<InterpolatedPoints> InterpolateTag(const SampleSource& source,
                                                  const InterpolateSpec& spec,
                                                  const engine::TagInfo& tag,
                                                  CancelledRef cancelled,
                                                  codec::ChunkColumns* edge) {
  InterpolateSpec tag_spec = spec;
  tag_spec.max_gap = MaxGapFor(spec.max_gap, tag);
  Interpolator interp(tag_spec, tag.type);
  RETURN_IF_ERROR(source.Before(tag.id, spec.start, edge));
  if (edge->size() == 1) interp.SetPrevious(*edge, 0);
  RETURN_IF_ERROR(ForEachPiece(source, cancelled, tag.id, spec.start, spec.end,
                               [&](const codec::ChunkColumns& page) { interp.Add(page); }));
  RETURN_IF_ERROR(source.AtOrAfter(tag.id, spec.end, edge));
  if (edge->size() == 1) interp.SetNext(*edge, 0);
  InterpolatedPoints points = interp.Finish();
  // A cancelled Finish stops early with some points missing.
  if (cancelled()) return absl::CancelledError("cancelled by the client");
  return points;
}

bool IntegersExactIn(const engine::Rollup& r) {
  constexpr double kExactBelow = 9007199254740992.0;  // 2^53
  for (const engine::RollupPoint* p : {&r.first, &r.last, &r.min, &r.max}) {
    if (!(std::abs(p->value) < kExactBelow)) return false;
  }
  return true;
}

absl::StatusOr<codec::ChunkColumns> PlotTag(const SampleSource& source, int64_t start, int64_t end,
                                            uint32_t buckets, const engine::TagInfo& tag,
                                            CancelledRef cancelled) {
  Plotter plotter(start, end, buckets, tag.type);
  // Whole rollup buckets inside a plot bucket give its first/last/min/max
  // without reading their samples.
  std::vector<Segment> plan = {{start, end, 0}};
  if (tag.type != ValueType::kString) {
    const PlotGrid grid = PlotGridFor(start, end, buckets);
    ASSIGN_OR_RETURN(plan, PlanSegments(start, end, grid.width, source.UnsealedFrom(tag.id),
                                        grid.anchor, cancelled));
  }
  RETURN_IF_ERROR(RunPlan(
      source, cancelled, tag.id, plan,
      [&](const codec::ChunkColumns& piece) { plotter.Add(piece); },
      [&](int64_t bucket, int64_t, const engine::Rollup& r) {
        // Rollups keep doubles: an int64 figure of 2^53 or more is rounded
        // there, so such a bucket is read raw and plotted exactly.
        if (tag.type == ValueType::kInt64 && !IntegersExactIn(r)) return false;
        plotter.AddRollup(bucket, r);
        return true;
      }));
  return plotter.Finish();
}

}  // namespace historian::query
