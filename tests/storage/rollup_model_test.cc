// Issue 16: rollups only where they pay. A Store with random dense, sparse
// and mixed tags (hours with many samples get a rollup in a day record,
// hours with few get none and are read raw), late data, corrections, seals,
// compactions, restarts and deleted tags written again over the same hours;
// at checkpoints every tag's raw samples must equal the model, and random
// Aggregate (fixed and calendar windows) and Plot queries through the
// planner (rollups where there are some) must equal the same queries
// computed from raw samples only. Values are whole numbers, so sums are
// exact in any grouping; stddev, TWA and RATE within a relative 1e-9. Every
// rollup record must also equal, bit for bit, ComputeRollup over the
// model's samples of its hour: a seal continues the newest hour from the
// samples it seals (Rollups::AfterSeal), and trickled writes (a few samples,
// then a seal, many times in one hour) exercise that.
//
// A UTC day whose hours that pay hold fewer than rollup_min_day_samples
// samples has no record; a day at or above it has a record with every such
// hour (checked for the whole days before UnsealedFrom), whichever way its
// hours were written (seals continuing the open hour, late data, days that
// cross the threshold in a later seal).
//
// A rollup rewrite that fails (StoreOptions::rollup_fault) leaves its range
// dirty: a later seal of newer hours, which rewrites only its own hours,
// must not clear it, across restarts too (StaleRangeAfterFailedRewrite).
#include <bit>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/engine/rollup.h"
#include "storage/query/store_sample_source.h"
#include "storage/query/tag_queries.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = engine::kRollupHour;
constexpr int64_t kDay = 24 * kHour;
// A UTC midnight (2023-11-14).
constexpr int64_t kT0 = int64_t{1699920000} * kSecond;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
bool NeverCancelled() { return false; }

// The store's samples, all read raw: the planner gets no rollup segment.
class RawOnlySource final : public query::SampleSource {
 public:
  explicit RawOnlySource(const Store* store) : inner_(store) {}
  absl::Status ScanRaw(TagId tag, int64_t start, int64_t end, PieceFn fn) const override {
    return inner_.ScanRaw(tag, start, end, fn);
  }
  absl::Status ReadRollups(TagId, int64_t, int64_t, int64_t,
                           std::vector<std::pair<int64_t, engine::Rollup>>*) const override {
    return absl::InternalError("the raw-only source has no rollups");
  }
  int64_t UnsealedFrom(TagId) const override { return kMinTimestamp; }
  absl::Status Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const override {
    return inner_.Before(tag, ts, out);
  }
  absl::Status BeforeMatching(TagId tag, int64_t ts, const SampleFilter& keep,
                              codec::ChunkColumns* out) const override {
    return inner_.BeforeMatching(tag, ts, keep, out);
  }
  absl::Status AtOrAfter(TagId tag, int64_t ts, codec::ChunkColumns* out) const override {
    return inner_.AtOrAfter(tag, ts, out);
  }

 private:
  query::StoreSampleSource inner_;
};

bool Same(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (rel == 0) return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b) || a == b;
  return a == b || std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

struct Sample {
  double v;
  uint32_t q;
};

enum class Density { kDense, kSparse, kMixed };

// (seed, rollup_min_samples, rollup_min_day_samples).
class RollupModelTest : public ::testing::TestWithParam<std::tuple<uint64_t, uint64_t, uint64_t>> {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    StoreOptions o;
    o.path = dir_.Sub("db");
    o.site = "us";
    o.chunk_max_samples = 64;
    o.rollup_min_samples = std::get<1>(GetParam());
    o.rollup_min_day_samples = std::get<2>(GetParam());
    o.seal_interval = absl::Hours(1);  // the test seals
    o.now_ns = [] { return kT0 + 400 * kDay; };
    o.rollup_fault = [this](TagId) {
      return fail_rewrites_ ? absl::UnavailableError("injected rollup rewrite fault")
                            : absl::OkStatus();
    };
    o.sync_writes = false;
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open();
  }

  void Write(const std::string& name, const std::vector<std::pair<int64_t, Sample>>& samples) {
    auto tag = store_->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(tag.ok()) << tag.status();
    WriteInput in;
    engine::SeriesData s;
    s.tag = tag->id;
    s.cols.Reset(ValueType::kDouble);
    for (const auto& [ts, p] : samples) {
      s.cols.timestamps.push_back(ts);
      s.cols.doubles.push_back(p.v);
      s.cols.qualities.push_back(p.q);
      model_[name][ts] = p;
    }
    in.series.push_back(std::move(s));
    auto r = store_->Write(std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  Sample RandomSample(std::mt19937_64& rng) {
    Sample s{static_cast<double>(rng() % 1000), 0};
    if (rng() % 150 == 0) s.v = kNaN;
    if (rng() % 60 == 0) s.q = 192;
    return s;
  }

  // In-order samples of `name` over 20 minutes to 4 hours, at its density.
  void Append(std::mt19937_64& rng, const std::string& name, Density density) {
    int64_t& ts = next_ts_[name];
    if (ts == 0) ts = kT0 + static_cast<int64_t>(rng() % (2 * kHour));
    if (density == Density::kMixed && rng() % 4 == 0) {
      ts += static_cast<int64_t>(1 + rng() % 30) * kHour;  // an hours-long gap
    }
    const bool dense = density == Density::kDense || (density == Density::kMixed && rng() % 2 == 0);
    const int64_t until = ts + 20 * kMinute + static_cast<int64_t>(rng() % (4 * kHour));
    std::vector<std::pair<int64_t, Sample>> batch;
    while (ts < until) {
      ts += dense ? static_cast<int64_t>(5 + rng() % 11) * kSecond
                  : static_cast<int64_t>(4 + rng() % 5) * kMinute;
      batch.push_back({ts, RandomSample(rng)});
    }
    Write(name, batch);
  }

  // In-order samples of `name` a few at a time, each few sealed before the
  // next: one hour is sealed many times over.
  void Trickle(std::mt19937_64& rng, const std::string& name) {
    int64_t& ts = next_ts_[name];
    if (ts == 0) ts = kT0 + static_cast<int64_t>(rng() % (2 * kHour));
    const int rounds = 3 + static_cast<int>(rng() % 10);
    for (int k = 0; k < rounds && !HasFatalFailure(); ++k) {
      std::vector<std::pair<int64_t, Sample>> batch;
      const int n = 1 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) {
        ts += static_cast<int64_t>(1 + rng() % 30) * kSecond;
        batch.push_back({ts, RandomSample(rng)});
      }
      Write(name, batch);
      if (rng() % 4 != 0) {
        ASSERT_TRUE(store_->SealAll().ok());
      }
    }
  }

  // A few samples at random times in what `name` has so far: late data and
  // corrections of sealed hours.
  void Late(std::mt19937_64& rng, const std::string& name) {
    const auto& m = model_[name];
    if (m.empty()) return;
    const int64_t lo = m.begin()->first, hi = m.rbegin()->first;
    std::vector<std::pair<int64_t, Sample>> batch;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      int64_t ts = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
      if (rng() % 3 == 0) {  // exactly an existing sample: a correction
        auto it = m.lower_bound(ts);
        if (it != m.end()) ts = it->first;
      }
      batch.push_back({ts, RandomSample(rng)});
    }
    std::sort(batch.begin(), batch.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    // One sample per timestamp per batch.
    batch.erase(std::unique(batch.begin(), batch.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                batch.end());
    Write(name, batch);
  }

  void Delete(std::mt19937_64& rng, const std::string& name) {
    if (!store_->GetTag(name).ok()) return;  // not written yet
    absl::Status s = store_->DeleteTag(name);
    ASSERT_TRUE(s.ok()) << s;
    model_.erase(name);
    // The new incarnation writes over the same hours again, or goes on
    // after the old one's samples (in the hour a seal of the old one left
    // open).
    if (rng() % 3 != 0) next_ts_[name] = kT0 + static_cast<int64_t>(rng() % (3 * kHour));
  }

  void CheckRaw(const std::string& name, const engine::TagInfo& info) {
    std::map<int64_t, Sample> got;
    absl::Status s =
        store_->ScanRaw(info.id, kMinTimestamp, kMaxTimestamp, [&](const codec::ChunkColumns& c) {
          for (size_t i = 0; i < c.size(); ++i)
            got[c.timestamps[i]] = {c.doubles[i], c.qualities[i]};
          return absl::OkStatus();
        });
    ASSERT_TRUE(s.ok()) << s;
    const auto& want = model_[name];
    ASSERT_EQ(got.size(), want.size()) << name;
    auto w = want.begin();
    for (auto g = got.begin(); g != got.end(); ++g, ++w) {
      ASSERT_EQ(g->first, w->first) << name;
      ASSERT_TRUE(Same(g->second.v, w->second.v, 0)) << name << " at " << g->first;
      ASSERT_EQ(g->second.q, w->second.q) << name << " at " << g->first;
    }
  }

  // Every rollup record that exists pays its way and agrees with the raw
  // samples of its hour; returns (hours with a rollup, hours with samples
  // before UnsealedFrom but none).
  std::pair<size_t, size_t> CheckRollups(const std::string& name, const engine::TagInfo& info) {
    const uint64_t min_samples = std::get<1>(GetParam());
    const int64_t limit = engine::BucketStart(store_->UnsealedFrom(info.id), kHour);
    std::vector<std::pair<int64_t, engine::Rollup>> hours;
    EXPECT_TRUE(store_->ReadRollups(info.id, kHour, kMinTimestamp, limit, &hours).ok());
    std::map<int64_t, uint64_t> counts;  // raw samples per hour
    for (const auto& [ts, p] : model_[name]) {
      if (ts < limit) ++counts[engine::BucketStart(ts, kHour)];
    }
    size_t with = 0;
    for (const auto& [hour, r] : hours) {
      EXPECT_GE(r.count, min_samples) << name << " hour " << hour;
      EXPECT_EQ(r.count, counts[hour]) << name << " hour " << hour;
      codec::ChunkColumns raw;
      raw.Reset(ValueType::kDouble);
      const auto& m = model_[name];
      for (auto it = m.lower_bound(hour); it != m.end() && it->first < hour + kHour; ++it) {
        raw.timestamps.push_back(it->first);
        raw.doubles.push_back(it->second.v);
        raw.qualities.push_back(it->second.q);
      }
      if (raw.size() > 0) {
        EXPECT_TRUE(engine::SameRollup(r, engine::ComputeRollup(raw, 0, raw.size(), hour + kHour)))
            << name << " hour " << hour << ": the record differs from its samples' rollup";
      }
      ++with;
    }
    // Whole days before the limit: a record exactly when the hours that
    // pay hold min_day_samples, and then with every one of them.
    const uint64_t min_day = std::get<2>(GetParam());
    std::map<int64_t, std::vector<int64_t>> want_days, got_days;
    std::map<int64_t, uint64_t> day_totals;
    for (const auto& [hour, n] : counts) {
      if (n < min_samples) continue;
      want_days[engine::BucketStart(hour, kDay)].push_back(hour);
      day_totals[engine::BucketStart(hour, kDay)] += n;
    }
    for (const auto& [hour, r] : hours) got_days[engine::BucketStart(hour, kDay)].push_back(hour);
    for (auto& [day, list] : want_days) {
      if (day + kDay > limit) continue;
      if (day_totals[day] < min_day) {
        ++days_below_;
        list.clear();
      } else {
        ++days_recorded_;
      }
      EXPECT_EQ(got_days[day], list)
          << name << " day " << day << " (" << day_totals[day] << " samples in hours that pay)";
    }
    for (const auto& [day, list] : got_days) {
      if (day + kDay <= limit && want_days.count(day) == 0) {
        ADD_FAILURE() << name << " day " << day << " has a record and no hour that pays";
      }
    }
    size_t without = 0;
    for (const auto& [hour, n] : counts) without += n > 0 ? 1 : 0;
    return {with, without - with};
  }

  void CheckAggregate(std::mt19937_64& rng, const engine::TagInfo& info, int64_t lo, int64_t hi) {
    query::AggregateSpec spec;
    spec.start = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
    if (rng() % 2) spec.start = engine::BucketStart(spec.start, kHour);
    spec.end = spec.start + 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + kDay));
    const int64_t steps[] = {10 * kMinute, kHour, 2 * kHour, kHour + 17 * kSecond, 6 * kHour, kDay};
    spec.step = steps[rng() % std::size(steps)];
    if (rng() % 4 == 0) {  // calendar windows: days in a zone 0 or 30 min off UTC
      const int64_t offset = rng() % 2 ? 30 * kMinute : 0;
      auto starts = std::make_shared<std::vector<int64_t>>();
      starts->push_back(spec.start);
      for (int64_t d = engine::BucketStart(spec.start, kDay) + offset; d < spec.end; d += kDay) {
        if (d > spec.start) starts->push_back(d);
      }
      spec.starts = starts;
    }
    spec.good_only = rng() % 6 == 0;
    spec.max_gap = rng() % 8 == 0 ? 20 * kMinute : 0;
    for (int f = 0; f <= static_cast<int>(query::AggFn::kRate); ++f) {
      spec.functions.push_back(static_cast<query::AggFn>(f));
    }
    ASSERT_TRUE(query::ValidateAggregateSpec(spec, ValueType::kDouble).ok());
    query::StoreSampleSource planned(store_.get());
    RawOnlySource raw(store_.get());
    auto got = query::AggregateTag(planned, spec, info, NeverCancelled);
    auto want = query::AggregateTag(raw, spec, info, NeverCancelled);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(got->counts, want->counts)
        << info.name << " [" << spec.start << ", " << spec.end << ") step " << spec.step;
    const size_t nf = spec.functions.size();
    for (size_t k = 0; k < got->size(); ++k) {
      for (size_t f = 0; f < nf; ++f) {
        const auto fn = spec.functions[f];
        const double rel =
            fn == query::AggFn::kStddev || fn == query::AggFn::kTwa || fn == query::AggFn::kRate
                ? 1e-9
                : 0;
        ASSERT_TRUE(Same(got->values[k * nf + f], want->values[k * nf + f], rel))
            << info.name << " window " << k << " function " << f << ": " << got->values[k * nf + f]
            << " vs raw " << want->values[k * nf + f] << " [" << spec.start << ", " << spec.end
            << ") step " << spec.step;
      }
    }
  }

  void CheckPlot(std::mt19937_64& rng, const engine::TagInfo& info, int64_t lo, int64_t hi) {
    int64_t start = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
    if (rng() % 2) start = engine::BucketStart(start, kHour);
    const int64_t end =
        start + 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + kDay));
    const uint32_t buckets = 1 + static_cast<uint32_t>(rng() % 40);
    query::StoreSampleSource planned(store_.get());
    RawOnlySource raw(store_.get());
    auto got = query::PlotTag(planned, start, end, buckets, info, NeverCancelled);
    auto want = query::PlotTag(raw, start, end, buckets, info, NeverCancelled);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(got->timestamps, want->timestamps)
        << info.name << " plot [" << start << ", " << end << ") buckets " << buckets;
    ASSERT_EQ(got->qualities, want->qualities);
    for (size_t i = 0; i < got->size(); ++i) {
      ASSERT_TRUE(Same(got->doubles[i], want->doubles[i], 0)) << info.name << " plot point " << i;
    }
  }

  void Checkpoint(std::mt19937_64& rng, const char* when) {
    SCOPED_TRACE(when);
    for (const auto& [name, m] : model_) {
      if (m.empty()) continue;
      auto info = store_->GetTag(name);
      ASSERT_TRUE(info.ok()) << info.status();
      CheckRaw(name, *info);
      if (HasFatalFailure()) return;
      auto [with, without] = CheckRollups(name, *info);
      hours_with_rollup_ += with;
      hours_without_rollup_ += without;
      const int64_t lo = m.begin()->first - kHour, hi = m.rbegin()->first + kHour;
      for (int q = 0; q < 6 && !HasFatalFailure(); ++q) CheckAggregate(rng, *info, lo, hi);
      for (int q = 0; q < 3 && !HasFatalFailure(); ++q) CheckPlot(rng, *info, lo, hi);
      if (HasFatalFailure()) return;
    }
  }

  // Late data (old, sealed hours made dirty) whose rollup rewrite fails,
  // perhaps a restart, then newer hours of `name` sealed: the old hours'
  // rollups stay stale until rewritten, so reads must not trust them.
  void FailedRewriteThenNewer(std::mt19937_64& rng, const std::string& name, Density density) {
    Late(rng, name);
    fail_rewrites_ = true;
    // The seal itself is written; only its rollup rewrite fails.
    absl::Status failed = store_->SealAll();
    fail_rewrites_ = false;
    if (!failed.ok()) ++failed_rewrites_;
    if (rng() % 4 == 0) Reopen();  // open rewrites what the marker says
    if (HasFatalFailure()) return;
    Append(rng, name, density);
    ASSERT_TRUE(store_->SealAll().ok());
    if (rng() % 3 == 0) Reopen();
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  bool fail_rewrites_ = false;  // read by the store's rollup_fault
  size_t failed_rewrites_ = 0;
  std::map<std::string, std::map<int64_t, Sample>> model_;
  std::map<std::string, int64_t> next_ts_;
  size_t hours_with_rollup_ = 0, hours_without_rollup_ = 0;
  size_t days_below_ = 0, days_recorded_ = 0;  // whole days checked, by threshold
};

TEST_P(RollupModelTest, QueriesThroughRollupsMatchRawSamples) {
  std::mt19937_64 rng(std::get<0>(GetParam()));
  const std::vector<std::pair<std::string, Density>> tags = {
      {"dense", Density::kDense}, {"sparse", Density::kSparse}, {"mixed", Density::kMixed}};
  for (int step = 0; step < 70 && !HasFatalFailure(); ++step) {
    const auto& [name, density] = tags[rng() % tags.size()];
    const int op = static_cast<int>(rng() % 100);
    if (op < 40) {
      if (rng() % 3 == 0) {
        Trickle(rng, name);
      } else {
        Append(rng, name, density);
      }
    } else if (op < 58) {
      Late(rng, name);
    } else if (op < 75) {
      ASSERT_TRUE(store_->SealAll().ok());
    } else if (op < 83) {
      ASSERT_TRUE(store_->Compact().ok());
    } else if (op < 92) {
      Reopen();
    } else {
      Delete(rng, name);
    }
    if (step % 7 == 6) {
      if (rng() % 3 != 0) {
        ASSERT_TRUE(store_->SealAll().ok());
      }
      Checkpoint(rng, absl::StrCat("step ", step).c_str());
    }
  }
  ASSERT_TRUE(store_->SealAll().ok());
  Checkpoint(rng, "sealed");
  Reopen();
  Checkpoint(rng, "reopened");
  // The cases this test is for did occur.
  const uint64_t min_samples = std::get<1>(GetParam());
  if (min_samples <= 32) {
    EXPECT_GT(hours_with_rollup_, 0u);
  }
  if (min_samples > 1) {
    EXPECT_GT(hours_without_rollup_, 0u);
  }
  if (min_samples <= 32) {
    EXPECT_GT(days_recorded_, 0u);
    if (std::get<2>(GetParam()) > 1) {
      EXPECT_GT(days_below_, 0u);
    }
  }
}

TEST_P(RollupModelTest, StaleRangeAfterFailedRewrite) {
  std::mt19937_64 rng(std::get<0>(GetParam()));
  const std::vector<std::pair<std::string, Density>> tags = {
      {"dense", Density::kDense}, {"sparse", Density::kSparse}, {"mixed", Density::kMixed}};
  for (const auto& [name, density] : tags) {
    for (int k = 0; k < 3 && !HasFatalFailure(); ++k) Append(rng, name, density);
  }
  ASSERT_TRUE(store_->SealAll().ok());
  for (int step = 0; step < 12 && !HasFatalFailure(); ++step) {
    const auto& [name, density] = tags[rng() % tags.size()];
    FailedRewriteThenNewer(rng, name, density);
    if (HasFatalFailure()) return;
    if (rng() % 4 == 0) {
      ASSERT_TRUE(store_->Compact().ok());
    }
    Checkpoint(rng, absl::StrCat("step ", step).c_str());
  }
  Reopen();
  Checkpoint(rng, "reopened");
  EXPECT_GT(failed_rewrites_, 0u);  // the case this test is for did occur
}

// A failed rewrite's range is retried without a restart: the next forced
// pass (SealAll; the sealer thread's minute passes run the same retry)
// rewrites it even with nothing to seal, so reads trust rollups there
// again, and those rollups match the samples.
TEST_P(RollupModelTest, FailedRewriteIsRetriedWithoutARestart) {
  std::mt19937_64 rng(std::get<0>(GetParam()));
  const std::vector<std::pair<std::string, Density>> tags = {
      {"dense", Density::kDense}, {"sparse", Density::kSparse}, {"mixed", Density::kMixed}};
  for (const auto& [name, density] : tags) {
    for (int k = 0; k < 3 && !HasFatalFailure(); ++k) Append(rng, name, density);
  }
  ASSERT_TRUE(store_->SealAll().ok());
  for (int step = 0; step < 6 && !HasFatalFailure(); ++step) {
    const std::string& name = tags[rng() % tags.size()].first;
    Late(rng, name);
    if (HasFatalFailure()) return;
    fail_rewrites_ = true;
    const absl::Status failed = store_->SealAll();  // the seal is written, its rewrite fails
    fail_rewrites_ = false;
    ASSERT_FALSE(failed.ok());
    auto info = store_->GetTag(name);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_LT(store_->UnsealedFrom(info->id), kMaxTimestamp) << "the failed range is not dirty";
    ASSERT_TRUE(store_->SealAll().ok());  // nothing to seal: only the retry
    for (const auto& [other, density] : tags) {
      auto o = store_->GetTag(other);
      ASSERT_TRUE(o.ok()) << o.status();
      EXPECT_EQ(store_->UnsealedFrom(o->id), kMaxTimestamp)
          << other << ": still read raw from " << store_->UnsealedFrom(o->id);
    }
    Checkpoint(rng, absl::StrCat("step ", step).c_str());
  }
}

// A tag deleted while its day is below rollup_min_day_samples has no
// record but an open hour; made again (the same name, so the same id) in
// that hour, its record must count the new incarnation's samples only.
TEST_P(RollupModelTest, ADeletedTagsOpenHourIsNotCountedForItsNewIncarnation) {
  const uint64_t min_samples = std::get<1>(GetParam()), min_day = std::get<2>(GetParam());
  if (min_samples > 200 || min_day != 400) {
    GTEST_SKIP() << "needs an hour that pays in a day below the day threshold";
  }
  const std::string name = "made.again";
  const int64_t hour = kT0 + 10 * kDay;
  std::vector<std::pair<int64_t, Sample>> first, second;
  for (int i = 0; i < 200; ++i) first.push_back({hour + i * 5 * kSecond, Sample{1000.0 + i, 0}});
  for (int i = 200; i < 600; ++i) second.push_back({hour + i * 5 * kSecond, Sample{1.0 * i, 0}});
  Write(name, first);
  ASSERT_TRUE(store_->SealAll().ok());  // 200 < 400 in the day: no record, the hour open
  ASSERT_TRUE(store_->DeleteTag(name).ok());
  model_.erase(name);
  Write(name, second);
  ASSERT_TRUE(store_->SealAll().ok());  // the day reaches 400: its record is written
  std::mt19937_64 rng(std::get<0>(GetParam()));
  Checkpoint(rng, "made again");
  Reopen();
  Checkpoint(rng, "made again, reopened");
}

INSTANTIATE_TEST_SUITE_P(SeedsAndThresholds, RollupModelTest,
                         ::testing::Combine(::testing::Values(uint64_t{42}, uint64_t{7}),
                                            ::testing::Values(uint64_t{1}, uint64_t{32},
                                                              uint64_t{100000}),
                                            ::testing::Values(uint64_t{1}, uint64_t{400})));

}  // namespace
}  // namespace historian
