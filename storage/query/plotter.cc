#include "storage/query/plotter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "storage/engine/columns.h"
#include "storage/query/aggregator.h"
#include "storage/query/window_math.h"

namespace historian::query {

absl::Status ValidatePlotSpec(int64_t start, int64_t end, uint32_t buckets) {
  if (start >= end) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_ns: ", start, " must be below end_ns ", end));
  }
  if (buckets == 0 || buckets > kMaxPlotBuckets) {
    return absl::InvalidArgumentError(
        absl::StrCat("buckets: must be 1..", kMaxPlotBuckets, ", got ", buckets));
  }
  return absl::OkStatus();
}

PlotGrid PlotGridFor(int64_t start, int64_t end, uint32_t buckets) {
  // In 128 bits: the span is up to 2^64 - 1, and rounding up may pass it.
  const uint64_t width = std::max<uint64_t>(1, NumSteps(start, end, buckets));
  const absl::int128 hour = engine::kRollupHour;
  if (width < 2 * hour) return {start, width};
  const absl::int128 rounded = (absl::int128(width) + hour - 1) / hour * hour;
  absl::int128 anchor = absl::int128(start) / hour * hour;
  if (anchor > start) anchor -= hour;  // floor for negative times
  if (anchor < absl::int128(kMinTimestamp) || rounded > absl::int128(UINT64_MAX)) {
    return {start, width};
  }
  return {static_cast<int64_t>(anchor), static_cast<uint64_t>(rounded)};
}

Plotter::Plotter(int64_t start, int64_t end, uint32_t buckets, ValueType type)
    : start_(start),
      end_(end),
      grid_(PlotGridFor(start, end, buckets)),
      numeric_(type == ValueType::kDouble || type == ValueType::kInt64) {
  out_.Reset(type);
  for (auto* c : {&first_, &last_, &min_, &max_}) c->Reset(type);
}

void Plotter::Flush() {
  if (bucket_ < 0) return;
  std::vector<const codec::ChunkColumns*> picks = {&first_, &last_, &min_, &max_};
  std::sort(picks.begin(), picks.end(), [](auto* a, auto* b) {
    int64_t ta = a->size() ? a->timestamps[0] : kMaxTimestamp;
    int64_t tb = b->size() ? b->timestamps[0] : kMaxTimestamp;
    return ta < tb;
  });
  int64_t last_ts = kMinTimestamp;
  bool any = false;
  for (auto* p : picks) {
    if (p->size() == 0 || (any && p->timestamps[0] == last_ts)) continue;
    engine::AppendSample(*p, 0, &out_);
    last_ts = p->timestamps[0];
    any = true;
  }
  for (auto* c : {&first_, &last_, &min_, &max_}) c->Reset(c->type);
  bucket_ = -1;
}

const codec::ChunkColumns& Plotter::Sample(int64_t ts, double v, uint32_t q) {
  scratch_.Reset(out_.type);
  scratch_.timestamps.push_back(ts);
  scratch_.qualities.push_back(q);
  switch (out_.type) {
    case ValueType::kDouble:
      scratch_.doubles.push_back(v);
      break;
    case ValueType::kInt64:
      scratch_.ints.push_back(static_cast<int64_t>(v));
      break;
    case ValueType::kBool:
      scratch_.bools.push_back(v != 0);
      break;
    default:
      break;
  }
  return scratch_;
}

void Plotter::AddRollup(int64_t bucket_start, const engine::Rollup& r) {
  if (bucket_start < grid_.anchor) return;  // not of this plot
  int64_t b = static_cast<int64_t>(StepOf(grid_.anchor, grid_.width, bucket_start));
  // In time order: first, then min/max (wherever they are), then last.
  Consider(Sample(r.first.ts, r.first.value, r.first.quality), b);
  if (numeric_ && r.n > 0) {
    Consider(Sample(r.min.ts, r.min.value, r.min.quality), b);
    Consider(Sample(r.max.ts, r.max.value, r.max.quality), b);
  }
  Consider(Sample(r.last.ts, r.last.value, r.last.quality), b);
}

void Plotter::Consider(const codec::ChunkColumns& one, int64_t b) {
  if (b != bucket_) {
    Flush();
    bucket_ = b;
    engine::AppendSample(one, 0, &first_);
  }
  if (last_.size() == 0 || one.timestamps[0] >= last_.timestamps[0]) {
    last_.Reset(last_.type);
    engine::AppendSample(one, 0, &last_);
  }
  if (!numeric_) return;
  double v = NumericValue(one, 0);
  if (std::isnan(v)) return;
  // Ties keep the earliest sample, as Add does.
  auto earlier = [&](const codec::ChunkColumns& c) { return one.timestamps[0] < c.timestamps[0]; };
  if (min_.size() == 0 || v < NumericValue(min_, 0) ||
      (v == NumericValue(min_, 0) && earlier(min_))) {
    min_.Reset(min_.type);
    engine::AppendSample(one, 0, &min_);
  }
  if (max_.size() == 0 || v > NumericValue(max_, 0) ||
      (v == NumericValue(max_, 0) && earlier(max_))) {
    max_.Reset(max_.type);
    engine::AppendSample(one, 0, &max_);
  }
}

void Plotter::Add(const codec::ChunkColumns& cols) {
  for (size_t i = 0; i < cols.size(); ++i) {
    int64_t ts = cols.timestamps[i];
    if (ts < start_ || ts >= end_) continue;
    int64_t b = static_cast<int64_t>(StepOf(grid_.anchor, grid_.width, ts));
    if (b != bucket_) {
      Flush();
      bucket_ = b;
      engine::AppendSample(cols, i, &first_);
    }
    last_.Reset(last_.type);
    engine::AppendSample(cols, i, &last_);
    if (!numeric_) continue;
    double v = NumericValue(cols, i);
    if (std::isnan(v)) continue;
    if (min_.size() == 0 || v < NumericValue(min_, 0)) {
      min_.Reset(min_.type);
      engine::AppendSample(cols, i, &min_);
    }
    if (max_.size() == 0 || v > NumericValue(max_, 0)) {
      max_.Reset(max_.type);
      engine::AppendSample(cols, i, &max_);
    }
  }
}

codec::ChunkColumns Plotter::Finish() {
  Flush();
  return std::move(out_);
}

}  // namespace historian::query
