// The query planner (storage/query/planner.h) and the per-tag queries
// (tag_queries.h) over a fake SampleSource: which ranges come from rollups
// and which from raw samples (window alignment, unsealed head, dirty
// rollups), and Aggregate, Interpolate and Plot against simple reference
// computations over the raw samples. The fake's rollups for buckets marked
// stale are wrong on purpose, so a plan that reads them shows in the
// results.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "storage/engine/rollup.h"
#include "storage/engine/tag_info.h"
#include "storage/query/planner.h"
#include "storage/query/plotter.h"
#include "storage/query/sample_source.h"
#include "storage/query/tag_queries.h"

namespace historian::query {
namespace {

constexpr int64_t kHour = engine::kRollupHour;
constexpr int64_t kMinute = kHour / 60;
constexpr TagId kTag = 7;

bool NeverCancelled() { return false; }

// One double tag held in memory. Records every call, hands raw samples over
// in pieces of `piece_size`, computes rollups from the samples (the buckets
// in `stale` are wrong on purpose: a dirty rollup not yet recomputed).
class FakeSource final : public SampleSource {
 public:
  struct Range {
    int64_t start, end;
    bool operator==(const Range& o) const { return start == o.start && end == o.end; }
  };

  explicit FakeSource(codec::ChunkColumns samples) : samples_(std::move(samples)) {}

  int64_t unsealed_from = kMaxTimestamp;
  std::set<int64_t> stale;    // bucket starts whose rollups are wrong
  std::set<int64_t> missing;  // bucket starts without a rollup (too few samples)
  size_t piece_size = 7;
  bool fail_rollups = false;

  mutable std::vector<Range> scans;
  mutable std::vector<Range> rollup_reads;
  mutable int before_calls = 0;

  absl::Status ScanRaw(TagId tag, int64_t start, int64_t end, PieceFn fn) const override {
    EXPECT_EQ(tag, kTag);
    scans.push_back({start, end});
    const size_t lo = LowerBound(start), hi = LowerBound(end);
    codec::ChunkColumns piece;
    for (size_t i = lo; i < hi; i += piece_size) {
      Slice(i, std::min(hi, i + piece_size), &piece);
      if (absl::Status s = fn(piece); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status ReadRollups(TagId tag, int64_t width, int64_t start, int64_t end,
                           std::vector<std::pair<int64_t, engine::Rollup>>* out) const override {
    EXPECT_EQ(tag, kTag);
    EXPECT_EQ(width, kHour);
    rollup_reads.push_back({start, end});
    if (fail_rollups) return absl::DataLossError("rollups: corrupt");
    out->clear();
    for (int64_t b = start; b < end; b += width) {
      const size_t lo = LowerBound(b), hi = LowerBound(b + width);
      if (lo == hi || missing.count(b) != 0) continue;
      engine::Rollup r = engine::ComputeRollup(samples_, lo, hi, b + width);
      if (stale.count(b) != 0) {
        r.count += 1000;
        r.n += 1000;
        r.sum += 1e6;
        r.max.value = 1e9;
        r.max.ts = b;
        r.last.value = -5;
      }
      out->emplace_back(b, r);
    }
    return absl::OkStatus();
  }

  int64_t UnsealedFrom(TagId) const override { return unsealed_from; }

  absl::Status Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const override {
    return BeforeMatching(tag, ts, nullptr, out);
  }

  absl::Status BeforeMatching(TagId, int64_t ts, const SampleFilter& keep,
                              codec::ChunkColumns* out) const override {
    ++before_calls;
    out->Reset(samples_.type);
    for (size_t i = LowerBound(ts); i-- > 0;) {
      if (!keep || keep(samples_, i)) {
        Slice(i, i + 1, out);
        break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status AtOrAfter(TagId, int64_t ts, codec::ChunkColumns* out) const override {
    const size_t i = LowerBound(ts);
    Slice(i, std::min(i + 1, samples_.size()), out);
    return absl::OkStatus();
  }

 private:
  size_t LowerBound(int64_t ts) const {
    return std::lower_bound(samples_.timestamps.begin(), samples_.timestamps.end(), ts) -
           samples_.timestamps.begin();
  }
  void Slice(size_t lo, size_t hi, codec::ChunkColumns* out) const {
    out->Reset(samples_.type);
    out->timestamps.assign(samples_.timestamps.begin() + lo, samples_.timestamps.begin() + hi);
    if (samples_.type == ValueType::kInt64) {
      out->ints.assign(samples_.ints.begin() + lo, samples_.ints.begin() + hi);
    } else {
      out->doubles.assign(samples_.doubles.begin() + lo, samples_.doubles.begin() + hi);
    }
    out->qualities.assign(samples_.qualities.begin() + lo, samples_.qualities.begin() + hi);
  }

  const codec::ChunkColumns samples_;
};

// A sample every 10 minutes over [0, 8h), distinct whole values (so sums
// are exact and min/max unique); every 5th is not Good.
codec::ChunkColumns EightHours() {
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (int i = 0; i < 48; ++i) {
    c.timestamps.push_back(i * 10 * kMinute);
    c.doubles.push_back((i * 37) % 101);
    c.qualities.push_back(i % 5 == 4 ? 1 : kQualityGood);
  }
  return c;
}

engine::TagInfo DoubleTag() {
  engine::TagInfo tag;
  tag.name = "t";
  tag.id = kTag;
  tag.type = ValueType::kDouble;
  return tag;
}

std::vector<Segment> Plan(int64_t start, int64_t end, int64_t step, int64_t unsealed_from,
                          const std::vector<int64_t>* starts = nullptr) {
  absl::StatusOr<std::vector<Segment>> plan = PlanSegments(
      start, end, static_cast<uint64_t>(step), unsealed_from, start, NeverCancelled, starts);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : std::vector<Segment>{};
}

// --- PlanSegments ---

TEST(PlanSegments, WholeHoursFromRollups) {
  EXPECT_EQ(Plan(0, 6 * kHour, 2 * kHour, kMaxTimestamp),
            (std::vector<Segment>{{0, 6 * kHour, kHour}}));
}

TEST(PlanSegments, RawEdgesOffTheHour) {
  EXPECT_EQ(Plan(30 * kMinute, 5 * kHour + 15 * kMinute, 24 * kHour, kMaxTimestamp),
            (std::vector<Segment>{{30 * kMinute, kHour, 0},
                                  {kHour, 5 * kHour, kHour},
                                  {5 * kHour, 5 * kHour + 15 * kMinute, 0}}));
}

TEST(PlanSegments, NoRollupInWindowsShorterThanABucket) {
  EXPECT_EQ(Plan(0, 3 * kHour, 30 * kMinute, kMaxTimestamp),
            (std::vector<Segment>{{0, 3 * kHour, 0}}));
}

TEST(PlanSegments, BucketsNeverStraddleTwoWindows) {
  // Windows of 90 minutes: [0, 1.5h) holds the bucket [0, 1h), [1.5h, 3h)
  // the bucket [2h, 3h); [1h, 2h) straddles and is read raw.
  EXPECT_EQ(Plan(0, 3 * kHour, 90 * kMinute, kMaxTimestamp),
            (std::vector<Segment>{
                {0, kHour, kHour}, {kHour, 2 * kHour, 0}, {2 * kHour, 3 * kHour, kHour}}));
}

TEST(PlanSegments, RawFromTheUnsealedHead) {
  // Unsealed (or dirty) from 3h20: rollups up to 3h only.
  EXPECT_EQ(Plan(0, 6 * kHour, kHour, 3 * kHour + 20 * kMinute),
            (std::vector<Segment>{{0, 3 * kHour, kHour}, {3 * kHour, 6 * kHour, 0}}));
  EXPECT_EQ(Plan(0, 6 * kHour, kHour, 0), (std::vector<Segment>{{0, 6 * kHour, 0}}));
}

TEST(PlanSegments, CalendarWindowsOffTheHour) {
  // Windows starting on the half hour (a zone 30 minutes off UTC).
  const int64_t h = 30 * kMinute;
  const std::vector<int64_t> starts = {h, h + 3 * kHour};
  EXPECT_EQ(Plan(h, h + 6 * kHour, 0, kMaxTimestamp, &starts),
            (std::vector<Segment>{{h, kHour, 0},
                                  {kHour, 3 * kHour, kHour},
                                  {3 * kHour, 4 * kHour, 0},
                                  {4 * kHour, 6 * kHour, kHour},
                                  {6 * kHour, h + 6 * kHour, 0}}));
}

TEST(PlanSegments, Cancelled) {
  absl::StatusOr<std::vector<Segment>> plan =
      PlanSegments(0, 5000, 1, kMaxTimestamp, 0, [] { return true; });
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kCancelled);
  // Fewer than 1024 windows are not asked.
  EXPECT_TRUE(PlanSegments(0, 1000, 1, kMaxTimestamp, 0, [] { return true; }).ok());
}

// --- RunPlan ---

TEST(RunPlan, OneSourceCallPerSegmentAndRefusedBucket) {
  FakeSource source(EightHours());
  const std::vector<Segment> plan = {{30 * kMinute, kHour, 0}, {kHour, 4 * kHour, kHour}};
  std::vector<int64_t> rollups;
  size_t samples = 0;
  ASSERT_TRUE(RunPlan(
                  source, NeverCancelled, kTag, plan,
                  [&](const codec::ChunkColumns& c) { samples += c.size(); },
                  [&](int64_t bucket, int64_t width, const engine::Rollup&) {
                    EXPECT_EQ(width, kHour);
                    rollups.push_back(bucket);
                    return bucket != 2 * kHour;  // refuse one: read it raw
                  })
                  .ok());
  EXPECT_EQ(rollups, (std::vector<int64_t>{kHour, 2 * kHour, 3 * kHour}));
  EXPECT_EQ(source.rollup_reads, (std::vector<FakeSource::Range>{{kHour, 4 * kHour}}));
  EXPECT_EQ(source.scans,
            (std::vector<FakeSource::Range>{{30 * kMinute, kHour}, {2 * kHour, 3 * kHour}}));
  EXPECT_EQ(samples, 3u + 6u);
}

// Issue 16: an hour without a rollup is read raw, never taken as empty; a
// run of such hours is one raw read.
TEST(RunPlan, HoursWithoutRollupsAreReadRawOneCallPerRun) {
  FakeSource source(EightHours());
  source.missing = {0, 2 * kHour, 3 * kHour, 7 * kHour};
  std::vector<int64_t> rollups;
  size_t samples = 0;
  ASSERT_TRUE(RunPlan(
                  source, NeverCancelled, kTag, {{0, 8 * kHour, kHour}},
                  [&](const codec::ChunkColumns& c) { samples += c.size(); },
                  [&](int64_t bucket, int64_t, const engine::Rollup& r) {
                    rollups.push_back(bucket);
                    samples += r.count;
                    return true;
                  })
                  .ok());
  EXPECT_EQ(rollups, (std::vector<int64_t>{kHour, 4 * kHour, 5 * kHour, 6 * kHour}));
  EXPECT_EQ(source.scans, (std::vector<FakeSource::Range>{
                              {0, kHour}, {2 * kHour, 4 * kHour}, {7 * kHour, 8 * kHour}}));
  EXPECT_EQ(samples, 48u);  // every sample of the 8 hours, once
}

TEST(RunPlan, ErrorsAndCancellationStopIt) {
  FakeSource source(EightHours());
  source.fail_rollups = true;
  auto piece = [](const codec::ChunkColumns&) {};
  auto rollup = [](int64_t, int64_t, const engine::Rollup&) { return true; };
  EXPECT_EQ(RunPlan(source, NeverCancelled, kTag, {{0, kHour, kHour}}, piece, rollup).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(RunPlan(
                source, [] { return true; }, kTag, {{0, kHour, 0}}, piece, rollup)
                .code(),
            absl::StatusCode::kCancelled);
}

// --- AggregateTag ---

// COUNT, SUM, MIN, MAX, FIRST, LAST of each window, straight from the
// samples (no rollups).
std::vector<std::vector<double>> ReferenceWindows(const codec::ChunkColumns& c, int64_t start,
                                                  int64_t end, int64_t step) {
  std::vector<std::vector<double>> out;
  for (int64_t a = start; a < end; a += step) {
    const int64_t z = std::min(end, a + step);
    double count = 0, sum = 0, mn = NAN, mx = NAN, first = NAN, last = NAN;
    for (size_t i = 0; i < c.size(); ++i) {
      if (c.timestamps[i] < a || c.timestamps[i] >= z) continue;
      const double v = c.doubles[i];
      if (count == 0) first = mn = mx = v;
      ++count;
      sum += v;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      last = v;
    }
    out.push_back({count, sum, mn, mx, first, last});
  }
  return out;
}

AggregateSpec BasicSpec(int64_t start, int64_t end, int64_t step) {
  AggregateSpec spec;
  spec.start = start;
  spec.end = end;
  spec.step = step;
  spec.functions = {AggFn::kCount, AggFn::kSum,   AggFn::kMin,
                    AggFn::kMax,   AggFn::kFirst, AggFn::kLast};
  return spec;
}

void ExpectWindows(const WindowResults& got, const std::vector<std::vector<double>>& want) {
  ASSERT_EQ(got.size(), want.size());
  ASSERT_EQ(got.functions, 6u);
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(got.counts[k], want[k][0]) << "window " << k;
    for (size_t f = 0; f < 6; ++f) {
      const double v = got.values[k * 6 + f];
      if (std::isnan(want[k][f])) {
        EXPECT_TRUE(std::isnan(v)) << "window " << k << " function " << f;
      } else {
        EXPECT_EQ(v, want[k][f]) << "window " << k << " function " << f;
      }
    }
  }
}

TEST(AggregateTag, RollupsForSealedHoursMatchRawSamples) {
  FakeSource source(EightHours());
  const AggregateSpec spec = BasicSpec(15 * kMinute, 7 * kHour + 45 * kMinute, 2 * kHour);
  absl::StatusOr<WindowResults> got = AggregateTag(source, spec, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectWindows(*got, ReferenceWindows(EightHours(), spec.start, spec.end, spec.step));
  // Whole hours inside a window from rollups; raw samples at the window
  // edges off the hour and in the last window, which holds no whole hour.
  EXPECT_EQ(source.rollup_reads,
            (std::vector<FakeSource::Range>{
                {kHour, 2 * kHour}, {3 * kHour, 4 * kHour}, {5 * kHour, 6 * kHour}}));
  EXPECT_EQ(source.scans, (std::vector<FakeSource::Range>{{15 * kMinute, kHour},
                                                          {2 * kHour, 3 * kHour},
                                                          {4 * kHour, 5 * kHour},
                                                          {6 * kHour, spec.end}}));
  EXPECT_EQ(source.before_calls, 0);  // no TWA, DELTA or RATE: no edge lookup
}

TEST(AggregateTag, DirtyRollupsAreNotRead) {
  // The rollups of 5h and later are stale; the store says so through
  // UnsealedFrom. The answer must come from raw samples there.
  FakeSource source(EightHours());
  source.unsealed_from = 5 * kHour + 10 * kMinute;
  for (int64_t b = 5 * kHour; b < 8 * kHour; b += kHour) source.stale.insert(b);
  const AggregateSpec spec = BasicSpec(0, 8 * kHour, kHour);
  absl::StatusOr<WindowResults> got = AggregateTag(source, spec, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectWindows(*got, ReferenceWindows(EightHours(), 0, 8 * kHour, kHour));
  EXPECT_EQ(source.rollup_reads, (std::vector<FakeSource::Range>{{0, 5 * kHour}}));
  EXPECT_EQ(source.scans, (std::vector<FakeSource::Range>{{5 * kHour, 8 * kHour}}));
}

TEST(AggregateTag, RawOnlyWhenRollupsCannotServe) {
  // good_only, a max_gap (the tag's stale_after_ns) and string tags read
  // raw samples only.
  for (int variant = 0; variant < 2; ++variant) {
    FakeSource source(EightHours());
    for (int64_t b = 0; b < 8 * kHour; b += kHour) source.stale.insert(b);
    AggregateSpec spec = BasicSpec(0, 8 * kHour, 2 * kHour);
    engine::TagInfo tag = DoubleTag();
    if (variant == 0) spec.good_only = true;
    if (variant == 1) tag.stale_after_ns = kHour;
    absl::StatusOr<WindowResults> got = AggregateTag(source, spec, tag, NeverCancelled);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(source.rollup_reads.empty()) << variant;
    EXPECT_EQ(source.scans, (std::vector<FakeSource::Range>{{0, 8 * kHour}})) << variant;
    if (variant == 1) ExpectWindows(*got, ReferenceWindows(EightHours(), 0, 8 * kHour, 2 * kHour));
  }
}

TEST(AggregateTag, PreviousSampleCarriesIntoDelta) {
  // DELTA of [1h, 2h): the pairs inside it plus the pair from the last
  // sample before 1h.
  FakeSource source(EightHours());
  AggregateSpec spec;
  spec.start = kHour;
  spec.end = 2 * kHour;
  spec.step = kHour;
  spec.functions = {AggFn::kDelta};
  absl::StatusOr<WindowResults> got = AggregateTag(source, spec, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(source.before_calls, 1);
  const codec::ChunkColumns c = EightHours();
  double delta = 0;
  for (size_t i = 6; i <= 11; ++i) {  // samples at 1h .. 1h50, previous at 50 min
    const double prev = c.doubles[i - 1], cur = c.doubles[i];
    delta += cur >= prev ? cur - prev : cur;  // a drop is a counter reset
  }
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->values[0], delta);
}

TEST(AggregateTag, Cancelled) {
  FakeSource source(EightHours());
  EXPECT_EQ(AggregateTag(source, BasicSpec(0, 8 * kHour, kHour), DoubleTag(), [] { return true; })
                .status()
                .code(),
            absl::StatusCode::kCancelled);
}

// --- InterpolateTag ---

TEST(InterpolateTag, PreviousWithEdgesOutsideTheRange) {
  // [25 min, 65 min) every 10 minutes: the sample at 20 min (before start)
  // gives the first point; samples at 30..60 the others.
  FakeSource source(EightHours());
  InterpolateSpec spec;
  spec.start = 25 * kMinute;
  spec.end = 65 * kMinute;
  spec.step = 10 * kMinute;
  spec.method = InterpolationMethod::kPrevious;
  codec::ChunkColumns edge;
  absl::StatusOr<InterpolatedPoints> got =
      InterpolateTag(source, spec, DoubleTag(), NeverCancelled, &edge);
  ASSERT_TRUE(got.ok()) << got.status();
  const codec::ChunkColumns c = EightHours();
  ASSERT_EQ(got->cols.size(), 4u);
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(got->cols.timestamps[k], spec.start + static_cast<int64_t>(k) * spec.step);
    EXPECT_TRUE(got->has_value[k]);
    EXPECT_EQ(got->cols.doubles[k], c.doubles[2 + k]) << k;  // the sample 5 min before
  }
  EXPECT_EQ(source.scans, (std::vector<FakeSource::Range>{{spec.start, spec.end}}));
}

TEST(InterpolateTag, LinearUsesTheSampleAfterTheEnd) {
  // One point at 55 min, between the samples at 50 and 60 min; the range
  // [55 min, 56 min) holds no sample, so the one at 60 comes from AtOrAfter.
  FakeSource source(EightHours());
  InterpolateSpec spec;
  spec.start = 55 * kMinute;
  spec.end = 56 * kMinute;
  spec.step = kMinute;
  spec.method = InterpolationMethod::kLinear;
  codec::ChunkColumns edge;
  absl::StatusOr<InterpolatedPoints> got =
      InterpolateTag(source, spec, DoubleTag(), NeverCancelled, &edge);
  ASSERT_TRUE(got.ok()) << got.status();
  const codec::ChunkColumns c = EightHours();
  ASSERT_EQ(got->cols.size(), 1u);
  EXPECT_DOUBLE_EQ(got->cols.doubles[0], (c.doubles[5] + c.doubles[6]) / 2);
}

// --- PlotTag ---

// Per plot bucket the first, last, min and max samples (values are
// distinct), each once, in time order.
std::vector<int64_t> ReferencePlot(const codec::ChunkColumns& c, int64_t start, int64_t end,
                                   uint32_t buckets) {
  const PlotGrid grid = PlotGridFor(start, end, buckets);
  std::vector<int64_t> out;
  for (int64_t a = grid.anchor; a < end; a += static_cast<int64_t>(grid.width)) {
    const int64_t lo = std::max(a, start), hi = std::min(end, a + static_cast<int64_t>(grid.width));
    std::vector<size_t> in;
    for (size_t i = 0; i < c.size(); ++i) {
      if (c.timestamps[i] >= lo && c.timestamps[i] < hi) in.push_back(i);
    }
    if (in.empty()) continue;
    std::set<size_t> keep = {in.front(), in.back()};
    keep.insert(*std::min_element(in.begin(), in.end(),
                                  [&](size_t x, size_t y) { return c.doubles[x] < c.doubles[y]; }));
    keep.insert(*std::max_element(in.begin(), in.end(),
                                  [&](size_t x, size_t y) { return c.doubles[x] < c.doubles[y]; }));
    for (size_t i : keep) out.push_back(c.timestamps[i]);
  }
  return out;
}

TEST(PlotTag, RollupsInsideBucketsMatchRawSamples) {
  FakeSource source(EightHours());
  const int64_t start = 20 * kMinute, end = 7 * kHour + 50 * kMinute;
  absl::StatusOr<codec::ChunkColumns> got =
      PlotTag(source, start, end, 3, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->timestamps, ReferencePlot(EightHours(), start, end, 3));
  EXPECT_FALSE(source.rollup_reads.empty());
}

// Issue 16: hours without a rollup hold samples; aggregates and plots over
// them equal the raw computation.
TEST(AggregateTag, HoursWithoutRollupsMatchRawSamples) {
  FakeSource source(EightHours());
  source.missing = {kHour, 3 * kHour, 4 * kHour};
  const AggregateSpec spec = BasicSpec(15 * kMinute, 7 * kHour + 45 * kMinute, 2 * kHour);
  absl::StatusOr<WindowResults> got = AggregateTag(source, spec, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectWindows(*got, ReferenceWindows(EightHours(), spec.start, spec.end, spec.step));
}

TEST(PlotTag, HoursWithoutRollupsMatchRawSamples) {
  FakeSource source(EightHours());
  source.missing = {0, 2 * kHour, 3 * kHour, 6 * kHour};
  absl::StatusOr<codec::ChunkColumns> got =
      PlotTag(source, 0, 8 * kHour, 4, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->timestamps, ReferencePlot(EightHours(), 0, 8 * kHour, 4));
  EXPECT_FALSE(source.rollup_reads.empty());
}

// Rollups keep doubles, which round int64 values of 2^53 or more (and
// INT64_MAX to 2^63, which is no int64): an hour holding such values is
// plotted from its samples, exactly; the other hours from their rollups.
TEST(PlotTag, Int64ValuesPastTwoToThe53AreExactNotTakenFromRollups) {
  codec::ChunkColumns c;
  c.Reset(ValueType::kInt64);
  std::map<int64_t, int64_t> value_at;
  for (int i = 0; i < 48; ++i) {
    c.timestamps.push_back(i * 10 * kMinute);
    // Hours 2 and 5 hold huge values (a sentinel near INT64_MAX, 2^53 + 1).
    const int64_t v = i / 6 == 2   ? std::numeric_limits<int64_t>::max() - i
                      : i / 6 == 5 ? (int64_t{1} << 53) + 1 + i
                                   : (i * 37) % 101;
    c.ints.push_back(v);
    c.qualities.push_back(kQualityGood);
    value_at[c.timestamps.back()] = v;
  }
  FakeSource source(c);
  engine::TagInfo tag = DoubleTag();
  tag.type = ValueType::kInt64;
  absl::StatusOr<codec::ChunkColumns> got = PlotTag(source, 0, 8 * kHour, 4, tag, NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_FALSE(got->timestamps.empty());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_EQ(got->ints[i], value_at.at(got->timestamps[i])) << "at " << got->timestamps[i];
  }
  EXPECT_EQ(*std::max_element(got->ints.begin(), got->ints.end()),
            std::numeric_limits<int64_t>::max() - 12);
  EXPECT_FALSE(source.rollup_reads.empty());
  EXPECT_EQ(source.scans,
            (std::vector<FakeSource::Range>{{2 * kHour, 3 * kHour}, {5 * kHour, 6 * kHour}}));
}

TEST(PlotTag, DirtyRollupsAreNotRead) {
  FakeSource source(EightHours());
  source.unsealed_from = 2 * kHour;
  for (int64_t b = 2 * kHour; b < 8 * kHour; b += kHour) source.stale.insert(b);
  absl::StatusOr<codec::ChunkColumns> got =
      PlotTag(source, 0, 8 * kHour, 4, DoubleTag(), NeverCancelled);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->timestamps, ReferencePlot(EightHours(), 0, 8 * kHour, 4));
  EXPECT_EQ(source.rollup_reads, (std::vector<FakeSource::Range>{{0, 2 * kHour}}));
}

}  // namespace
}  // namespace historian::query
