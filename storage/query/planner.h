// File: planner.h
// The query planner: which parts of a tag's range Aggregate and Plot read
// from rollups and which from raw samples, and the run of such a plan over
// a SampleSource.
//
// Whole rollup buckets (engine::kRollupWidths, widest first) are used where
// they lie inside one window (or plot bucket) and end at or before where
// unsealed data begins (SampleSource::UnsealedFrom); everything else (the
// window edges off a bucket boundary, unsealed data, rollups a builder
// cannot take) is read raw. docs/query.md, "Rollups".
//
// Thread-safety: pure functions; RunPlan is as thread-safe as its source
// and callbacks.
#ifndef HISTORIAN_STORAGE_QUERY_PLANNER_H_
#define HISTORIAN_STORAGE_QUERY_PLANNER_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/core/status_macros.h"
#include "storage/query/sample_source.h"

namespace historian::query {

// Asked once per piece of raw samples and every 1024 windows of planning;
// true once the caller has gone (the query answers CANCELLED).
using CancelledRef = absl::FunctionRef<bool()>;

// A piece of a plan: raw samples (width 0) or rollup buckets of `width`
// over [from, to).
struct Segment {
  int64_t from, to, width;
  bool operator==(const Segment& o) const {
    return from == o.from && to == o.to && width == o.width;
  }
};

// The plan of [start, end): per window (so a bucket never straddles two),
// then adjacent pieces of the same kind merged. The windows are
// [anchor + k*step, ...) (anchor <= start, step > 0) clipped to [start,
// end), or with `starts` (calendar windows) [starts[k], starts[k + 1]).
// Rollup buckets end at or before `unsealed_from`. Calendar windows that do
// not fall on rollup bucket edges (a zone 30 minutes off UTC) get raw edges.
// Errors: Cancelled.
absl::StatusOr<std::vector<Segment>> PlanSegments(int64_t start, int64_t end, uint64_t step,
                                                  int64_t unsealed_from, int64_t anchor,
                                                  CancelledRef cancelled,
                                                  const std::vector<int64_t>* starts = nullptr);

// Calls fn(piece) for the samples of `tag` in [start, end), in time order,
// a piece at a time (no copy of the range). Errors: the source's, or
// Cancelled (asked before each piece).
template <typename Fn>
absl::Status ForEachPiece(const SampleSource& source, CancelledRef cancelled, TagId tag,
                          int64_t start, int64_t end, Fn fn) {
  return source.ScanRaw(tag, start, end, [&](const codec::ChunkColumns& piece) {
    if (cancelled()) return absl::CancelledError("cancelled by the client");
    fn(piece);
    return absl::OkStatus();
  });
}

// Runs `plan` for one tag: the raw samples of width-0 segments go to
// on_piece(columns), a piece at a time; whole rollup buckets to
// on_rollup(bucket_start, width, rollup), which returns false to take the
// bucket's raw samples instead. A bucket of a rollup segment without a
// rollup (too few samples to pay for one, or none) is read raw, one source
// call per run of such buckets. One source call per segment, per run of
// buckets without rollups and per refused bucket; none per sample.
template <typename OnPiece, typename OnRollup>
absl::Status RunPlan(const SampleSource& source, CancelledRef cancelled, TagId tag,
                     const std::vector<Segment>& plan, OnPiece on_piece, OnRollup on_rollup) {
  std::vector<std::pair<int64_t, engine::Rollup>> buckets;
  for (const Segment& seg : plan) {
    if (seg.width == 0) {
      RETURN_IF_ERROR(ForEachPiece(source, cancelled, tag, seg.from, seg.to, on_piece));
      continue;
    }
    RETURN_IF_ERROR(source.ReadRollups(tag, seg.width, seg.from, seg.to, &buckets));
    int64_t covered_to = seg.from;  // read up to here, raw or from rollups
    for (const auto& [bucket, r] : buckets) {
      if (bucket > covered_to) {
        RETURN_IF_ERROR(ForEachPiece(source, cancelled, tag, covered_to, bucket, on_piece));
      }
      if (!on_rollup(bucket, seg.width, r)) {
        RETURN_IF_ERROR(ForEachPiece(source, cancelled, tag, bucket, bucket + seg.width, on_piece));
      }
      covered_to = bucket + seg.width;
    }
    if (covered_to < seg.to) {
      RETURN_IF_ERROR(ForEachPiece(source, cancelled, tag, covered_to, seg.to, on_piece));
    }
  }
  return absl::OkStatus();
}

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_PLANNER_H_
