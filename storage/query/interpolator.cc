#include "storage/query/interpolator.h"

#include "absl/strings/str_cat.h"
#include "storage/engine/columns.h"
#include "storage/query/aggregator.h"
#include "storage/query/window_math.h"

namespace historian::query {

uint64_t NumPoints(const InterpolateSpec& spec) {
  return NumSteps(spec.start, spec.end, static_cast<uint64_t>(spec.step));
}

absl::Status ValidateInterpolateSpec(const InterpolateSpec& spec) {
  if (spec.start >= spec.end) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_ns: ", spec.start, " must be below end_ns ", spec.end));
  }
  if (spec.step <= 0) return absl::InvalidArgumentError("step_ns: must be > 0");
  if (spec.max_gap < 0) return absl::InvalidArgumentError("max_gap_ns: must be >= 0");
  const uint64_t points = NumPoints(spec);
  if (points > kMaxInterpolatedPoints) {
    return absl::InvalidArgumentError(
        absl::StrCat("step_ns: ", points, " points, over the limit of ", kMaxInterpolatedPoints));
  }
  return absl::OkStatus();
}

Interpolator::Interpolator(const InterpolateSpec& spec, ValueType type)
    : spec_(spec),
      linear_(spec.method == InterpolationMethod::kLinear &&
              (type == ValueType::kDouble || type == ValueType::kInt64)) {
  out_.cols.Reset(linear_ ? ValueType::kDouble : type);
  prev_.Reset(type);
  num_points_ = NumPoints(spec);
}

void Interpolator::SetPrevious(const codec::ChunkColumns& cols, size_t i) {
  prev_.Reset(prev_.type);
  engine::AppendSample(cols, i, &prev_);
}

void Interpolator::EmitPoint(int64_t t, const codec::ChunkColumns* next_cols, size_t next_i) {
  codec::ChunkColumns& o = out_.cols;
  // Samples come in time order: prev <= t < next, so the gaps fit in uint64.
  bool has = prev_.size() == 1 && (spec_.max_gap == 0 || Span(prev_.timestamps[0], t) <=
                                                             static_cast<uint64_t>(spec_.max_gap));
  uint32_t quality = has ? prev_.qualities[0] : kQualityBad;
  o.timestamps.push_back(t);
  if (linear_) {
    double v = 0;
    if (has) {
      v = NumericValue(prev_, 0);
      if (next_cols != nullptr && prev_.timestamps[0] != t) {
        int64_t t0 = prev_.timestamps[0], t1 = next_cols->timestamps[next_i];
        if (spec_.max_gap > 0 && Span(t0, t1) > static_cast<uint64_t>(spec_.max_gap)) {
          has = false;
          quality = kQualityBad;
        } else {
          double v1 = NumericValue(*next_cols, next_i);
          v += (v1 - v) * (static_cast<double>(Span(t0, t)) / static_cast<double>(Span(t0, t1)));
          if (quality == kQualityGood) quality = next_cols->qualities[next_i];
        }
      }
    }
    o.doubles.push_back(has ? v : 0);
  } else {
    switch (o.type) {
      case ValueType::kDouble:
        o.doubles.push_back(has ? prev_.doubles[0] : 0);
        break;
      case ValueType::kInt64:
        o.ints.push_back(has ? prev_.ints[0] : 0);
        break;
      case ValueType::kBool:
        o.bools.push_back(has ? prev_.bools[0] : 0);
        break;
      case ValueType::kString:
        o.strings.push_back(has ? prev_.strings[0] : "");
        break;
      default:
        break;
    }
  }
  o.qualities.push_back(quality);
  out_.has_value.push_back(has ? 1 : 0);
}

// Emits every point strictly before `next_ts` (the next sample's time).
void Interpolator::EmitUpTo(int64_t next_ts, const codec::ChunkColumns* next_cols, size_t next_i) {
  while (next_k_ < num_points_ && !stopped_) {
    // Below end: next_k_ < num_points_.
    int64_t t = StepPoint(spec_.start, static_cast<uint64_t>(spec_.step), next_k_, spec_.end);
    if (t >= next_ts) break;
    if (spec_.cancelled && (next_k_ & 4095) == 0 && spec_.cancelled()) {
      stopped_ = true;
      break;
    }
    EmitPoint(t, next_cols, next_i);
    ++next_k_;
  }
}

void Interpolator::Consider(const codec::ChunkColumns& cols, size_t i) {
  EmitUpTo(cols.timestamps[i], &cols, i);
  SetPrevious(cols, i);
}

void Interpolator::Add(const codec::ChunkColumns& cols) {
  for (size_t i = 0; i < cols.size(); ++i) Consider(cols, i);
}

void Interpolator::SetNext(const codec::ChunkColumns& cols, size_t i) { Consider(cols, i); }

InterpolatedPoints Interpolator::Finish() {
  EmitUpTo(kMaxTimestamp, nullptr, 0);
  return std::move(out_);
}

}  // namespace historian::query
