// File: window_math.h
// Window arithmetic of the query builders, exact over the whole int64 range:
// a request may ask for [INT64_MIN, INT64_MAX) with any step, so products
// and sums are formed in 128 bits and clamped to the range before they come
// back to int64.
#ifndef HISTORIAN_STORAGE_QUERY_WINDOW_MATH_H_
#define HISTORIAN_STORAGE_QUERY_WINDOW_MATH_H_

#include <cstdint>

#include "absl/numeric/int128.h"

namespace historian::query {

// end - start for start <= end (up to 2^64 - 1).
inline uint64_t Span(int64_t start, int64_t end) {
  return static_cast<uint64_t>(end) - static_cast<uint64_t>(start);
}

// Windows of `step` (> 0) that cover [start, end): ceil((end - start) / step).
inline uint64_t NumSteps(int64_t start, int64_t end, uint64_t step) {
  const uint64_t span = Span(start, end);
  return span / step + (span % step != 0);
}

// anchor + k * step clamped to [INT64_MIN, limit].
inline int64_t StepPoint(int64_t anchor, uint64_t step, uint64_t k, int64_t limit) {
  const absl::int128 t = absl::int128(anchor) + absl::int128(k) * absl::int128(step);
  return t >= absl::int128(limit) ? limit : static_cast<int64_t>(t);
}

// Index of the step of `anchor` (<= ts) that holds ts.
inline uint64_t StepOf(int64_t anchor, uint64_t step, int64_t ts) {
  return Span(anchor, ts) / step;
}

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_WINDOW_MATH_H_
