// rollup_threshold_bench (issue 16): where an hour rollup pays. For tags of
// N samples per hour (1 year, in-process Store, everything sealed, a rollup
// for every hour: rollup_min_samples 1), times a 1-year aggregate with a
// 1-hour step (COUNT, AVG, MIN, MAX, TWA) twice: through the planner (one
// rollup per hour) and from raw samples only. The N where both cost the same
// is where storage/engine/rollup.h's kDefaultRollupMinSamples comes from;
// 24 x the per-hour cost at 85/h (2,040 a day) is what a day just below
// kDefaultRollupMinDaySamples costs read raw instead of from its record.
//
//   rollup_threshold_bench [--dir=/tmp/rollup-threshold-bench] [--reps=5]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "storage/query/store_sample_source.h"
#include "storage/query/tag_queries.h"
#include "storage/store.h"

ABSL_FLAG(std::string, dir, "/tmp/rollup-threshold-bench", "Data dir (wiped)");
ABSL_FLAG(int, reps, 5, "Timed runs of each query (best is reported)");

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr int64_t kT0 = int64_t{1704067200} * kSecond;  // 2024-01-01
constexpr int kHours = 365 * 24;

// Everything raw: the planner gets no rollup segment.
class RawOnly final : public query::SampleSource {
 public:
  explicit RawOnly(const Store* s) : in_(s) {}
  absl::Status ScanRaw(TagId t, int64_t a, int64_t b, PieceFn fn) const override {
    return in_.ScanRaw(t, a, b, fn);
  }
  absl::Status ReadRollups(TagId, int64_t, int64_t, int64_t,
                           std::vector<std::pair<int64_t, engine::Rollup>>*) const override {
    return absl::InternalError("none");
  }
  int64_t UnsealedFrom(TagId) const override { return kMinTimestamp; }
  absl::Status Before(TagId t, int64_t ts, codec::ChunkColumns* o) const override {
    return in_.Before(t, ts, o);
  }
  absl::Status BeforeMatching(TagId t, int64_t ts, const SampleFilter& k,
                              codec::ChunkColumns* o) const override {
    return in_.BeforeMatching(t, ts, k, o);
  }
  absl::Status AtOrAfter(TagId t, int64_t ts, codec::ChunkColumns* o) const override {
    return in_.AtOrAfter(t, ts, o);
  }

 private:
  query::StoreSampleSource in_;
};

double BestMs(int reps, const query::SampleSource& src, const query::AggregateSpec& spec,
              const engine::TagInfo& info) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto w = query::AggregateTag(src, spec, info, [] { return false; });
    auto t1 = std::chrono::steady_clock::now();
    if (!w.ok()) {
      std::fprintf(stderr, "aggregate: %s\n", w.status().ToString().c_str());
      return -1;
    }
    best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return best;
}

int Main() {
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  StoreOptions o;
  o.path = dir;
  o.site = "bench";
  o.sync_writes = false;
  o.seal_interval = absl::Hours(24);
  o.rollup_min_samples = 1;
  o.rollup_min_day_samples = 1;  // every day too (85/h: a day just below the default 2,048)
  o.now_ns = [] { return kT0 + 400 * 24 * kHour; };
  auto store = Store::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  const int per_hour[] = {4, 12, 24, 32, 48, 60, 85, 120, 360};
  std::printf("%-12s %14s %14s %12s %12s\n", "samples/h", "rollups ms", "raw ms", "rollup us/h",
              "raw us/h");
  for (int n : per_hour) {
    const std::string name = "t" + std::to_string(n);
    auto tag = (*store)->ResolveTagForWrite(name, ValueType::kDouble);
    if (!tag.ok()) return 1;
    const int64_t spacing = kHour / n;
    for (int h0 = 0; h0 < kHours; h0 += 24 * 7) {  // a week per write
      WriteInput in;
      engine::SeriesData s;
      s.tag = tag->id;
      s.cols.Reset(ValueType::kDouble);
      for (int h = h0; h < std::min(kHours, h0 + 24 * 7); ++h) {
        for (int i = 0; i < n; ++i) {
          s.cols.timestamps.push_back(kT0 + h * kHour + i * spacing);
          s.cols.doubles.push_back(static_cast<double>((h * 7 + i * 13) % 1000) / 10);
          s.cols.qualities.push_back(0);
        }
      }
      in.series.push_back(std::move(s));
      if (!(*store)->Write(std::move(in)).ok()) return 1;
      if (!(*store)->SealAll().ok()) return 1;
    }
    if (!(*store)->Compact().ok()) return 1;
    auto info = (*store)->GetTag(name);
    query::AggregateSpec spec;
    spec.start = kT0;
    spec.end = kT0 + kHours * kHour;
    spec.step = kHour;
    spec.functions = {query::AggFn::kCount, query::AggFn::kAvg, query::AggFn::kMin,
                      query::AggFn::kMax, query::AggFn::kTwa};
    query::StoreSampleSource planned(store->get());
    RawOnly raw(store->get());
    const int reps = absl::GetFlag(FLAGS_reps);
    const double a = BestMs(reps, planned, spec, *info), b = BestMs(reps, raw, spec, *info);
    std::printf("%-12d %14.2f %14.2f %12.3f %12.3f\n", n, a, b, a * 1000 / kHours,
                b * 1000 / kHours);
  }
  (void)(*store)->Close();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::Main();
}
