// The query builders (Aggregator, Interpolator, Plotter) at the int64
// bounds: window ends past INT64_MAX, the whole int64 range, one and two
// plot buckets over it, and the cancellation hook. The node-level cases are
// in tests/security/hostile_input_test.cc.
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"
#include "storage/query/aggregator.h"
#include "storage/query/interpolator.h"
#include "storage/query/plotter.h"
#include "storage/query/window_math.h"

namespace historian::query {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

codec::ChunkColumns Doubles(std::vector<int64_t> ts) {
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (int64_t t : ts) {
    c.timestamps.push_back(t);
    c.doubles.push_back(1);
    c.qualities.push_back(kQualityGood);
  }
  return c;
}

TEST(WindowMath, ExactAtTheBounds) {
  EXPECT_EQ(Span(kMin, kMax), UINT64_MAX);
  EXPECT_EQ(NumSteps(kMin, kMax, 1), UINT64_MAX);
  EXPECT_EQ(NumSteps(kMin, kMax, 2), uint64_t{1} << 63);  // (span + 1) wrapped to 0 before
  EXPECT_EQ(NumSteps(kMin, kMax, UINT64_MAX), 1u);
  EXPECT_EQ(StepPoint(kMin, uint64_t{1} << 62, 3, kMax), int64_t{1} << 62);
  EXPECT_EQ(StepPoint(kMin, uint64_t{1} << 62, 4, kMax), kMax);  // 2^63: clamped
  EXPECT_EQ(StepPoint(0, UINT64_MAX, 5, 7), 7);
  EXPECT_EQ(StepOf(kMin, 2, kMax), (UINT64_MAX) / 2);
}

TEST(PlotGrid, WholeRange) {
  // buckets = 1: the width was 0 (SIGFPE); 2: it wrapped to 1 ns.
  PlotGrid one = PlotGridFor(kMin, kMax, 1);
  EXPECT_EQ(one.anchor, kMin);
  EXPECT_EQ(one.width, UINT64_MAX);
  PlotGrid two = PlotGridFor(kMin, kMax, 2);
  EXPECT_EQ(two.anchor, kMin);  // the hour below INT64_MIN does not exist
  EXPECT_EQ(two.width, uint64_t{1} << 63);
  // Near the top the hour alignment still applies.
  PlotGrid top = PlotGridFor(kMax - 100 * engine::kRollupHour, kMax, 10);
  EXPECT_EQ(top.width, 10 * static_cast<uint64_t>(engine::kRollupHour));
  EXPECT_LE(top.anchor, kMax - 100 * engine::kRollupHour);

  Plotter plotter(kMin, kMax, 1, ValueType::kDouble);
  plotter.Add(Doubles({kMin, -1, 0, kMax - 1}));
  codec::ChunkColumns out = plotter.Finish();
  ASSERT_EQ(out.size(), 2u);  // first and last; min = max = first
  EXPECT_EQ(out.timestamps[0], kMin);
  EXPECT_EQ(out.timestamps[1], kMax - 1);
}

// Three windows over [kMax - 3h, kMax) whose last one would end past
// INT64_MAX: the value held from the last sample until end crosses them.
TEST(Aggregator, WindowsPastInt64Max) {
  AggregateSpec spec;
  spec.start = kMax - 3 * engine::kRollupHour;
  spec.end = kMax;
  spec.step = engine::kRollupHour + 1;
  spec.functions = {AggFn::kCount, AggFn::kTwa, AggFn::kRate};
  ASSERT_TRUE(ValidateAggregateSpec(spec, ValueType::kDouble).ok());
  ASSERT_EQ(NumWindows(spec), 3u);
  Aggregator agg(spec, ValueType::kDouble);
  agg.Add(Doubles({spec.start, spec.start + 10}));
  WindowResults r = agg.Finish();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r.counts[0], 2u);
  EXPECT_EQ(r.counts[1], 0u);
  EXPECT_EQ(r.counts[2], 0u);
  // The held value 1 covers every window in full.
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(r.values[k * 3 + 1], 1.0) << k;
  EXPECT_EQ(WindowStart(spec, 2), spec.start + 2 * spec.step);
}

TEST(Aggregator, WholeRange) {
  AggregateSpec spec;
  spec.start = kMin;
  spec.end = kMax;
  spec.step = kMax;  // 3 windows: [min, -1), [-1, max - 1), [max - 1, max)
  spec.functions = {AggFn::kCount, AggFn::kTwa};
  ASSERT_TRUE(ValidateAggregateSpec(spec, ValueType::kDouble).ok());
  Aggregator agg(spec, ValueType::kDouble);
  agg.Add(Doubles({kMin, -1, kMax - 1}));
  WindowResults r = agg.Finish();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r.counts[0], 1u);
  EXPECT_EQ(r.counts[1], 1u);
  EXPECT_EQ(r.counts[2], 1u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(r.values[k * 2 + 1], 1.0) << k;
}

TEST(Aggregator, CancelledStopsEarly) {
  AggregateSpec spec;
  spec.start = 0;
  spec.end = 1000000;
  spec.step = 1;
  spec.functions = {AggFn::kTwa};
  int asked = 0;
  spec.cancelled = [&] { return ++asked >= 1; };
  Aggregator agg(spec, ValueType::kDouble);
  agg.Add(Doubles({0}));  // holds over all 1M windows
  WindowResults r = agg.Finish();
  EXPECT_LT(r.size(), 10000u);
  EXPECT_GE(asked, 1);
}

TEST(Interpolator, WholeRange) {
  InterpolateSpec spec;
  spec.start = kMin;
  spec.end = kMax;
  spec.step = 2;  // 2^63 points: refused, not wrapped to 0
  EXPECT_FALSE(ValidateInterpolateSpec(spec).ok());
  spec.step = int64_t{1} << 62;
  ASSERT_TRUE(ValidateInterpolateSpec(spec).ok());
  Interpolator interp(spec, ValueType::kDouble);
  interp.SetPrevious(Doubles({kMin}), 0);
  interp.Add(Doubles({0}));
  InterpolatedPoints p = interp.Finish();
  ASSERT_EQ(p.cols.size(), 4u);
  EXPECT_EQ(p.cols.timestamps[3], int64_t{1} << 62);
  for (uint8_t has : p.has_value) EXPECT_EQ(has, 1);
}

TEST(Interpolator, CancelledStopsEarly) {
  InterpolateSpec spec;
  spec.start = 0;
  spec.end = 1000000;
  spec.step = 1;
  spec.cancelled = [] { return true; };
  Interpolator interp(spec, ValueType::kDouble);
  InterpolatedPoints p = interp.Finish();
  EXPECT_LT(p.cols.size(), 10000u);
}

}  // namespace
}  // namespace historian::query
