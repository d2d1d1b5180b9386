// Query.Aggregate, Query.Interpolate and Query.Plot through a real historiand
// against reference implementations written here, straight from the rules in
// docs/query.md, over random data with gaps, late writes, corrections,
// non-Good quality and NaN values, with chunks sealed small so windows cut
// chunks. Sums are compared exactly (same order of addition); stddev, the
// time-weighted average and rate within a relative 1e-9 (different but
// equivalent formulas).
#include <cmath>
#include <map>
#include <random>

#include "client/aggregate_windows.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Point {
  int64_t ts;
  double v;
  uint32_t q;
};

bool SameDouble(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (a == b) return true;
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

class QueryReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("node"), std::vector<std::string>{"--chunk_max_samples=64"});
    ASSERT_TRUE(node_->Start());
    auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(channel);
    query_ = v1::Query::NewStub(channel);
  }

  void Write(const std::vector<Point>& points) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag("q.tag");
    for (const Point& p : points) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(p.ts);
      sample->mutable_value()->set_double_value(p.v);
      sample->set_quality(p.q);
      model_[p.ts] = p;
    }
    grpc::ClientContext ctx;
    v1::WriteAck ack;
    ASSERT_TRUE(ingest_->WriteBatch(&ctx, req, &ack).ok());
    ASSERT_EQ(ack.accepted_count(), points.size());
  }

  // Random data: bursts with gaps, then late writes and corrections.
  void Populate(std::mt19937_64& rng, int64_t scale = 1) {
    int64_t ts = 1000 * scale;
    for (int batch = 0; batch < 40; ++batch) {
      std::vector<Point> points;
      for (int i = 0; i < 50; ++i) {
        ts += (1 + rng() % 20) * scale;
        if (rng() % 40 == 0) ts += 500 * scale;  // a gap
        double v = std::round(static_cast<double>(rng() % 2000)) / 10.0 - 50;
        if (rng() % 50 == 0) v = kNaN;
        uint32_t q = rng() % 10 == 0 ? 0x80000000u : 0;
        points.push_back({ts, v, q});
      }
      Write(points);
    }
    end_ts_ = ts + 1;
    for (int i = 0; i < 100; ++i) {  // late data and corrections
      int64_t t = 1000 * scale + static_cast<int64_t>(rng() % (end_ts_ - 1000 * scale));
      Write({{t, static_cast<double>(rng() % 100), 0}});
    }
  }

  void CheckPlot(std::mt19937_64& rng, int iterations, int64_t scale);
  void CheckAggregates(std::mt19937_64& rng, int iterations, const std::vector<int64_t>& steps,
                       int64_t scale, double sum_rel);

  std::vector<Point> Filtered(bool good_only) const {
    std::vector<Point> out;
    for (const auto& [ts, p] : model_) {
      if (!good_only || p.q == 0) out.push_back(p);
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  std::map<int64_t, Point> model_;
  int64_t end_ts_ = 0;
};

// Runs random Aggregate queries and compares every function with a
// reference computed from the model. `steps` picks the window widths;
// `sum_rel` is the tolerance of sums (0: exact; rollups add per-bucket sums).
void QueryReferenceTest::CheckAggregates(std::mt19937_64& rng, int iterations,
                                         const std::vector<int64_t>& steps, int64_t scale,
                                         double sum_rel) {
  for (int iter = 0; iter < iterations; ++iter) {
    int64_t start = static_cast<int64_t>(rng() % end_ts_);
    if (rng() % 2) start -= start % steps.back();  // aligned to a bucket
    int64_t end = start + 1 + static_cast<int64_t>(rng() % (end_ts_ - start + 300 * scale));
    int64_t step = steps[rng() % steps.size()] +
                   (rng() % 3 == 0 ? static_cast<int64_t>(rng() % 1000) * scale : 0);
    int64_t max_gap = rng() % 2 ? 0 : (1 + static_cast<int64_t>(rng() % 50)) * scale;
    bool good_only = rng() % 2;
    v1::AggregateRequest req;
    req.add_tags("q.tag");
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_step_ns(step);
    req.set_good_only(good_only);
    req.set_max_gap_ns(max_gap);
    // Every other query asks for a random subset: the node skips the work of
    // functions not asked for, and must still agree on those that are.
    std::vector<int> asked;
    for (int f = v1::COUNT; f <= v1::RATE; ++f) {
      if (iter % 2 == 0 || rng() % 3 == 0) asked.push_back(f);
    }
    if (asked.empty()) asked.push_back(v1::AVG);
    for (int f : asked) req.add_functions(static_cast<v1::AggregateFunction>(f));
    // Every third query asks for the columns form; both must give the same
    // windows.
    req.set_columns(iter % 3 == 1);
    v1::AggregateResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = query_->Aggregate(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.series_size(), 1);
    ASSERT_EQ(resp.series(0).windows_size() == 0, req.columns());
    google::protobuf::RepeatedPtrField<v1::AggregateWindow> scratch;
    absl::StatusOr<const google::protobuf::RepeatedPtrField<v1::AggregateWindow>*> windows =
        client::SeriesWindows(req, resp.series(0), &scratch);
    ASSERT_TRUE(windows.ok()) << windows.status();

    // Reference. Samples in range (non-Good dropped with good_only) give
    // COUNT..STDDEV. TWA, DELTA and RATE see only the "counted" samples,
    // those with a value (NaN skipped) and, with good_only, Good; the last
    // counted sample before start carries into the first window.
    std::vector<Point> all;
    for (const auto& [ts, p] : model_) all.push_back(p);
    auto counted = [&](const Point& p) { return !std::isnan(p.v) && (!good_only || p.q == 0); };
    std::vector<Point> seq;  // carried-in counted sample + counted samples in range
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (it->ts < start && counted(*it)) {
        seq.push_back(*it);
        break;
      }
    }
    for (const Point& p : all) {
      if (p.ts >= start && p.ts < end && counted(p)) seq.push_back(p);
    }
    size_t nwin = (end - start + step - 1) / step;
    ASSERT_EQ((*windows)->size(), static_cast<int>(nwin));
    for (size_t k = 0; k < nwin; ++k) {
      int64_t a = start + static_cast<int64_t>(k) * step, b = std::min(end, a + step);
      std::vector<double> vals, nonnan;
      double integral = 0, delta = 0;
      int64_t covered = 0;
      bool has_delta = false;
      for (const Point& p : all) {
        if (p.ts >= a && p.ts < b && (!good_only || p.q == 0)) {
          vals.push_back(p.v);
          if (!std::isnan(p.v)) nonnan.push_back(p.v);
        }
      }
      for (size_t i = 0; i < seq.size(); ++i) {
        const Point& p = seq[i];
        if (p.ts >= a && p.ts < b && i > 0) {
          delta += p.v >= seq[i - 1].v ? p.v - seq[i - 1].v : p.v;
          has_delta = true;
        }
        int64_t from = p.ts, to = i + 1 < seq.size() ? seq[i + 1].ts : end;
        if (max_gap > 0) to = std::min(to, p.ts + max_gap);
        from = std::max(from, a);
        to = std::min(to, b);
        if (to > from) {
          integral += p.v * static_cast<double>(to - from);
          covered += to - from;
        }
      }
      double sum = 0, mn = kNaN, mx = kNaN;
      for (double v : nonnan) {
        sum += v;
        mn = std::isnan(mn) ? v : std::min(mn, v);
        mx = std::isnan(mx) ? v : std::max(mx, v);
      }
      double n = static_cast<double>(nonnan.size());
      double mean = nonnan.empty() ? kNaN : sum / n, var = 0;
      for (double v : nonnan) var += (v - mean) * (v - mean);
      std::vector<double> expect = {
          static_cast<double>(vals.size()),
          nonnan.empty() ? kNaN : sum,
          mn,
          mx,
          mean,
          vals.empty() ? kNaN : vals.front(),
          vals.empty() ? kNaN : vals.back(),
          nonnan.empty() ? kNaN : std::sqrt(var / n),
          covered > 0 ? integral / static_cast<double>(covered) : kNaN,
          has_delta ? delta : kNaN,
          has_delta ? delta / (static_cast<double>(b - a) / 1e9) : kNaN,
      };
      const auto& got = (*windows)->Get(static_cast<int>(k));
      ASSERT_EQ(got.start_ns(), a);
      ASSERT_EQ(got.count(), vals.size());
      ASSERT_EQ(got.values_size(), static_cast<int>(asked.size()));
      for (size_t a = 0; a < asked.size(); ++a) {
        size_t f = static_cast<size_t>(asked[a] - v1::COUNT);
        double rel = (f == 7 || f == 8 || f == 10) ? 1e-9 : 0;
        if (f == 1 || f == 4 || f == 9) rel = std::max(rel, sum_rel);
        EXPECT_TRUE(SameDouble(got.values(a), expect[f], rel))
            << "iter " << iter << " window " << k << " function " << f + 1 << ": got "
            << got.values(a) << " want " << expect[f] << " good_only " << good_only << " step "
            << step << " max_gap " << max_gap;
      }
    }
  }
}

TEST_F(QueryReferenceTest, AggregateMatchesReference) {
  std::mt19937_64 rng(7);
  Populate(rng);
  std::vector<int64_t> steps;
  for (int i = 1; i <= 400; i += 7) steps.push_back(i);
  CheckAggregates(rng, 40, steps, 1, 0);
}

// Seconds-resolution data over ~6 hours, all sealed (a graceful restart seals
// every head and writes rollups), queried with windows of minutes to a day:
// the node answers whole buckets from its 1-minute and 1-hour rollups and
// must agree with raw computation. Sums are grouped per bucket, so SUM, AVG
// and DELTA match within a relative 1e-12 instead of exactly.
TEST_F(QueryReferenceTest, AggregateFromRollupsMatchesReference) {
  std::mt19937_64 rng(17);
  const int64_t s = 1000000000;
  Populate(rng, s);
  ASSERT_EQ(node_->Stop(), 0);
  ASSERT_TRUE(node_->Start());
  auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
  query_ = v1::Query::NewStub(channel);
  CheckAggregates(rng, 40, {60 * s, 300 * s, 3600 * s, 5400 * s, 86400 * s}, s, 1e-12);
}

// Issue 16: ~50 samples an hour at 7 s to 140 s spacing with hour-long gaps,
// so sealed hours with fewer than rollup_min_samples (32) samples have no
// rollup next to hours that have one; the planner reads each run of the
// former raw (a missing rollup is never an empty hour).
TEST_F(QueryReferenceTest, AggregateAndPlotOverHoursWithAndWithoutRollupsMatchReference) {
  std::mt19937_64 rng(23);
  const int64_t s = 1000000000;
  Populate(rng, 7 * s);
  ASSERT_EQ(node_->Stop(), 0);
  ASSERT_TRUE(node_->Start());
  query_ =
      v1::Query::NewStub(grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials()));
  CheckAggregates(rng, 40, {3600 * s, 7200 * s, 5400 * s, 86400 * s}, s, 1e-12);
  CheckPlot(rng, 40, s);
}

// DELTA (one function) of q.tag per window of [start, end) by `step`.
std::vector<double> Deltas(v1::Query::Stub* query, int64_t start, int64_t end, int64_t step,
                           bool good_only, v1::AggregateFunction fn = v1::DELTA) {
  v1::AggregateRequest req;
  req.add_tags("q.tag");
  req.set_start_ns(start);
  req.set_end_ns(end);
  req.set_step_ns(step);
  req.set_good_only(good_only);
  req.add_functions(fn);
  v1::AggregateResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = query->Aggregate(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  std::vector<double> out;
  if (resp.series_size() != 1) return out;
  for (const auto& w : resp.series(0).windows()) out.push_back(w.values(0));
  return out;
}

// good_only: the value carried into the first window is the last Good
// sample before start (a Bad one just before start is passed over), and a
// NaN is skipped by DELTA and TWA; so adjacent DELTA windows add up to the
// DELTA of their union wherever the query starts.
TEST_F(QueryReferenceTest, GoodOnlyDeltaOfAdjacentWindowsAddsUp) {
  Write({{0, 100, 0},
         {5, 200, 0x80000000u},
         {10, 110, 0},
         {15, 120, 0},
         {18, kNaN, 0},
         {22, 130, 0}});
  EXPECT_EQ(Deltas(query_.get(), 8, 30, 22, true), std::vector<double>{30});
  EXPECT_EQ(Deltas(query_.get(), 8, 12, 4, true), std::vector<double>{10});
  EXPECT_EQ(Deltas(query_.get(), 12, 20, 8, true), std::vector<double>{10});
  EXPECT_EQ(Deltas(query_.get(), 20, 30, 10, true), std::vector<double>{10});
  EXPECT_EQ(Deltas(query_.get(), 8, 30, 12, true), (std::vector<double>{20, 10}));
  // TWA: 110 over [10, 15), 120 over [15, 22) (through the NaN), 130 over
  // [22, 30).
  EXPECT_EQ(Deltas(query_.get(), 10, 30, 20, false, v1::TIME_WEIGHTED_AVG),
            std::vector<double>{(110.0 * 5 + 120 * 7 + 130 * 8) / 20});
}

TEST_F(QueryReferenceTest, InterpolateMatchesReference) {
  std::mt19937_64 rng(11);
  Populate(rng);
  std::vector<Point> all = Filtered(false);
  for (int iter = 0; iter < 40; ++iter) {
    int64_t start = static_cast<int64_t>(rng() % (end_ts_ + 100));
    int64_t end = start + 1 + static_cast<int64_t>(rng() % 3000);
    int64_t step = 1 + static_cast<int64_t>(rng() % 50);
    int64_t max_gap = rng() % 2 ? 0 : 1 + static_cast<int64_t>(rng() % 30);
    bool linear = rng() % 2;
    v1::InterpolateRequest req;
    req.add_tags("q.tag");
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_step_ns(step);
    req.set_max_gap_ns(max_gap);
    req.set_method(linear ? v1::LINEAR : v1::PREVIOUS);
    v1::InterpolateResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(query_->Interpolate(&ctx, req, &resp).ok());
    const auto& got = resp.series(0).samples();
    ASSERT_EQ(got.size(), (end - start + step - 1) / step);
    for (int k = 0; k < got.size(); ++k) {
      int64_t t = start + k * step;
      const Point* prev = nullptr;
      const Point* next = nullptr;
      for (const Point& p : all) {
        if (p.ts <= t) prev = &p;
        if (p.ts > t) {
          next = &p;
          break;
        }
      }
      bool has = prev != nullptr && (max_gap == 0 || t - prev->ts <= max_gap);
      double v = has ? prev->v : 0;
      uint32_t q = has ? prev->q : 0x80000000u;
      if (has && linear && next != nullptr && prev->ts != t) {
        if (max_gap > 0 && next->ts - prev->ts > max_gap) {
          has = false;
          q = 0x80000000u;
        } else {
          v = prev->v + (next->v - prev->v) * (static_cast<double>(t - prev->ts) /
                                               static_cast<double>(next->ts - prev->ts));
          if (q == 0) q = next->q;
        }
      }
      ASSERT_EQ(got[k].timestamp_ns(), t);
      ASSERT_EQ(got[k].has_value(), has) << "iter " << iter << " k " << k;
      ASSERT_EQ(got[k].quality(), q) << "iter " << iter << " k " << k;
      if (has) {
        EXPECT_TRUE(SameDouble(got[k].value().double_value(), v, 0))
            << "iter " << iter << " k " << k << " got " << got[k].value().double_value() << " want "
            << v;
      }
    }
  }
}

void QueryReferenceTest::CheckPlot(std::mt19937_64& rng, int iterations, int64_t scale) {
  std::vector<Point> all = Filtered(false);
  for (int iter = 0; iter < iterations; ++iter) {
    int64_t start = static_cast<int64_t>(rng() % end_ts_);
    if (rng() % 2) start -= start % (3600 * scale);
    int64_t end = start + 1 + static_cast<int64_t>(rng() % (end_ts_ - start + 100 * scale));
    uint32_t buckets = 1 + rng() % 100;
    v1::PlotRequest req;
    req.add_tags("q.tag");
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_buckets(buckets);
    v1::PlotResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(query_->Plot(&ctx, req, &resp).ok());
    // The grid rule of docs/query.md: widths of 2 h or more round up to
    // whole hours, with buckets aligned to the hour.
    const int64_t hour = int64_t{3600} * 1000000000;
    int64_t width = std::max<int64_t>(1, (end - start + buckets - 1) / buckets);
    int64_t anchor = start;
    if (width >= 2 * hour) {
      width = (width + hour - 1) / hour * hour;
      anchor = start - start % hour;
    }
    std::map<int64_t, std::vector<const Point*>> by_bucket;
    for (const Point& p : all) {
      if (p.ts >= start && p.ts < end) by_bucket[(p.ts - anchor) / width].push_back(&p);
    }
    std::vector<int64_t> expect;
    for (auto& [b, pts] : by_bucket) {
      std::map<int64_t, bool> picks = {{pts.front()->ts, true}, {pts.back()->ts, true}};
      const Point *mn = nullptr, *mx = nullptr;
      for (const Point* p : pts) {
        if (std::isnan(p->v)) continue;
        if (mn == nullptr || p->v < mn->v) mn = p;
        if (mx == nullptr || p->v > mx->v) mx = p;
      }
      if (mn) picks[mn->ts] = true;
      if (mx) picks[mx->ts] = true;
      for (auto& [ts, unused] : picks) expect.push_back(ts);
    }
    std::vector<int64_t> got;
    for (const auto& s : resp.series(0).samples()) {
      got.push_back(s.timestamp_ns());
      const Point& p = model_.at(s.timestamp_ns());
      EXPECT_TRUE(SameDouble(s.value().double_value(), p.v, 0));
    }
    ASSERT_EQ(got, expect) << "iter " << iter;
  }
}

TEST_F(QueryReferenceTest, PlotMatchesReference) {
  std::mt19937_64 rng(13);
  Populate(rng);
  CheckPlot(rng, 40, 1);
}

// Seconds-resolution data, all sealed: plot buckets of minutes to hours take
// first/last/min/max of whole rollup buckets and must pick the very same
// samples as the raw computation.
TEST_F(QueryReferenceTest, PlotFromRollupsMatchesReference) {
  std::mt19937_64 rng(19);
  Populate(rng, 1000000000);
  ASSERT_EQ(node_->Stop(), 0);
  ASSERT_TRUE(node_->Start());
  query_ =
      v1::Query::NewStub(grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials()));
  CheckPlot(rng, 60, 1000000000);
}

}  // namespace
}  // namespace historian
