// File: interpolator.h
// Interpolator: values at start + k*step (k >= 0, < end), fed samples in
// time order page by page.
//
// PREVIOUS: the value of the last sample at or before the instant.
// LINEAR: on the line between the last sample at or before the instant and
// the first after it; at an exact sample, that sample; with no later sample,
// the previous value (no extrapolation); for bool and string tags, PREVIOUS.
// Either way, when the previous sample is more than max_gap (> 0) before the
// instant, or for LINEAR the two samples are more than max_gap apart, or
// there is no previous sample, the point has no value and quality Bad.
// A point's quality is the previous sample's, or the later one's when that
// is not Good and the previous is. good_only is not offered: callers filter.
//
// Thread-safety: not thread-safe; one instance per query.
#ifndef HISTORIAN_STORAGE_QUERY_INTERPOLATOR_H_
#define HISTORIAN_STORAGE_QUERY_INTERPOLATOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "storage/codec/chunk_codec.h"

namespace historian::query {

enum class InterpolationMethod { kPrevious, kLinear };

struct InterpolateSpec {
  int64_t start = 0;
  int64_t end = 0;
  int64_t step = 0;
  InterpolationMethod method = InterpolationMethod::kPrevious;
  int64_t max_gap = 0;
  // Asked every 4096 points (may be empty); once it returns true no more
  // points are made and the result is incomplete (the caller answers
  // CANCELLED).
  std::function<bool()> cancelled;
};

struct InterpolatedPoints {
  // timestamps, qualities and the value column (no versions); type is
  // double for LINEAR on numeric tags, the tag's type otherwise.
  codec::ChunkColumns cols;
  std::vector<uint8_t> has_value;  // 0 where no value can be given
};

inline constexpr uint64_t kMaxInterpolatedPoints = 1000000;

// Points of the spec: ceil((end - start) / step). REQUIRES: start < end,
// step > 0.
uint64_t NumPoints(const InterpolateSpec& spec);

absl::Status ValidateInterpolateSpec(const InterpolateSpec& spec);

class Interpolator {
 public:
  Interpolator(const InterpolateSpec& spec, ValueType type);
  // The last sample before spec.start, if any; call before Add.
  void SetPrevious(const codec::ChunkColumns& cols, size_t i);
  // Samples in [start, end), increasing across calls.
  void Add(const codec::ChunkColumns& cols);
  // The first sample at or after end, if any; call after the last Add.
  void SetNext(const codec::ChunkColumns& cols, size_t i);
  InterpolatedPoints Finish();

 private:
  void Consider(const codec::ChunkColumns& cols, size_t i);
  void EmitUpTo(int64_t next_ts, const codec::ChunkColumns* next_cols, size_t next_i);
  void EmitPoint(int64_t t, const codec::ChunkColumns* next_cols, size_t next_i);

  const InterpolateSpec spec_;
  const bool linear_;
  InterpolatedPoints out_;
  codec::ChunkColumns prev_;  // 0 or 1 sample
  uint64_t next_k_ = 0;
  uint64_t num_points_;
  bool stopped_ = false;
};

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_INTERPOLATOR_H_
