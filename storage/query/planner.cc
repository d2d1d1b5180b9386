// File: planner.cc
#include "storage/query/planner.h"

#include <algorithm>
#include <iterator>

#include "absl/numeric/int128.h"
#include "storage/query/window_math.h"

namespace historian::query {
namespace {

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

}  // namespace

// Each step moves on by at least 1 ns and stops at end, so the loop ends at
// the int64 bounds too.
absl::StatusOr<std::vector<Segment>> PlanSegments(int64_t start, int64_t end, uint64_t step,
                                                  int64_t unsealed_from, int64_t anchor,
                                                  CancelledRef cancelled,
                                                  const std::vector<int64_t>* starts) {
  std::vector<Segment> pieces;
  uint64_t windows = 0;
  for (int64_t a = start; a < end;) {
    if ((++windows & 1023) == 0 && cancelled()) {
      return absl::CancelledError("cancelled by the client");
    }
    int64_t z;
    if (starts != nullptr) {
      auto next = std::upper_bound(starts->begin(), starts->end(), a);
      z = next == starts->end() ? end : std::min(*next, end);
    } else {
      // a - anchor <= 2^64 - 2 (a < end), so k + 1 does not wrap.
      z = StepPoint(anchor, step, StepOf(anchor, step, a) + 1, end);
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

}  // namespace historian::query
