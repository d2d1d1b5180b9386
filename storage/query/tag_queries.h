// File: tag_queries.h
// Aggregate, Interpolate and Plot of one tag over a SampleSource: the edge
// samples, the plan (planner.h) and the builders (aggregator.h,
// interpolator.h, plotter.h). The server resolves tags, checks limits and
// converts requests and results; the reading happens here.
//
// Thread-safety: each call is independent; calls for different tags may
// run at once over one source (SampleSource is thread-safe) as long as
// each has its own scratch.
#ifndef HISTORIAN_STORAGE_QUERY_TAG_QUERIES_H_
#define HISTORIAN_STORAGE_QUERY_TAG_QUERIES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/tag_info.h"
#include "storage/query/aggregator.h"
#include "storage/query/interpolator.h"
#include "storage/query/planner.h"
#include "storage/query/sample_source.h"

namespace historian::query {

// The max_gap of a query for `tag`: `requested`, or the tag's
// stale_after_ns when the request gives none (0).
int64_t MaxGapFor(int64_t requested, const engine::TagInfo& tag);

// The windows of `spec` for `tag` (spec.max_gap as MaxGapFor). The sample
// before spec.start that counts (Aggregator::CountsBefore) carries in for
// TIME_WEIGHTED_AVG, DELTA and RATE. Whole rollup buckets of sealed data
// are used unless good_only, a max_gap, or a string tag rule them out.
// REQUIRES: ValidateAggregateSpec(spec, tag.type).ok().
// Errors: the source's; Cancelled.
absl::StatusOr<WindowResults> AggregateTag(const SampleSource& source, const AggregateSpec& spec,
                                           const engine::TagInfo& tag, CancelledRef cancelled);

// The points of `spec` for `tag` (spec.max_gap as MaxGapFor), with the
// samples just before start and at or after end as edges. `edge` is
// scratch, reused across tags. REQUIRES: ValidateInterpolateSpec(spec).ok().
// Errors: the source's; Cancelled.
absl::StatusOr<InterpolatedPoints> InterpolateTag(const SampleSource& source,
                                                  const InterpolateSpec& spec,
                                                  const engine::TagInfo& tag,
                                                  CancelledRef cancelled,
                                                  codec::ChunkColumns* edge);

// Whether a rollup's first, last, min and max are exact as the doubles it
// keeps them in (under 2^53 in magnitude); an int64 tag's plot reads the
// samples of a bucket whose rollup is not.
bool IntegersExactIn(const engine::Rollup& r);

// The plot samples of `tag` over [start, end) in `buckets` buckets
// (plotter.h); numeric tags take whole rollup buckets of sealed data.
// REQUIRES: ValidatePlotSpec(start, end, buckets).ok().
// Errors: the source's; Cancelled.
absl::StatusOr<codec::ChunkColumns> PlotTag(const SampleSource& source, int64_t start, int64_t end,
                                            uint32_t buckets, const engine::TagInfo& tag,
                                            CancelledRef cancelled);

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_TAG_QUERIES_H_
