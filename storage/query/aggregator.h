// File: aggregator.h
// Aggregator: fixed-window aggregates over one tag's samples, fed in time
// order page by page, so a year of samples never sits in memory.
//
// Windows are [start + k*step, start + (k+1)*step) clipped to end, or the
// calendar windows of spec.starts (calendar_windows.h). The exact
// rules (NaN, quality, time-weighting at window edges and across gaps,
// counter resets) are in docs/query.md; in short:
//  - good_only drops non-Good samples entirely (as if never written);
//  - COUNT counts samples; SUM/MIN/MAX/AVG/STDDEV (population) skip NaN;
//    FIRST/LAST are the first/last sample's value (NaN included);
//  - TIME_WEIGHTED_AVG: a value holds from its timestamp until the next
//    sample, at most max_gap (0: no limit), and the last one holds until
//    `end`; the sample before `start` (SetPrevious) carries into the first
//    window; a NaN sample is skipped (the value before it holds on). The
//    result is the integral over the window divided by the covered time
//    (NaN when none covered);
//  - DELTA: sum over consecutive pairs (prev, cur) with cur in the window of
//    cur - prev, or cur when cur < prev (a counter reset); the sample before
//    the window is prev for the first one, so adjacent windows add up;
//    NaN samples are skipped;
//    RATE = DELTA per second of window length.
//
// Thread-safety: not thread-safe; one instance per query.
#ifndef HISTORIAN_STORAGE_QUERY_AGGREGATOR_H_
#define HISTORIAN_STORAGE_QUERY_AGGREGATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/rollup.h"

namespace historian::query {

enum class AggFn { kCount, kSum, kMin, kMax, kAvg, kFirst, kLast, kStddev, kTwa, kDelta, kRate };

struct AggregateSpec {
  int64_t start = 0;
  int64_t end = 0;
  int64_t step = 0;
  std::vector<AggFn> functions;
  bool good_only = false;
  int64_t max_gap = 0;  // 0: no limit
  // Calendar windows (calendar_windows.h): when set, window k is
  // [(*starts)[k], (*starts)[k + 1]) (the last ends at `end`) and `step` is
  // not used. REQUIRES: (*starts)[0] == start, increasing, all below end.
  std::shared_ptr<const std::vector<int64_t>> starts;
  // Asked now and then by the loops over windows (may be empty); once it
  // returns true the builder skips the rest of its work, and its results
  // are incomplete (the caller answers CANCELLED).
  std::function<bool()> cancelled;
};

// Every window of a query, empty ones included, as flat columns (one
// allocation each, however many windows): window k starts at
// spec.start + k * spec.step, or (*spec.starts)[k] (WindowStart: exact at the
// int64 bounds).
struct WindowResults {
  size_t functions = 0;
  std::vector<uint64_t> counts;  // samples per window
  std::vector<double> values;    // values[k * functions + f]: window k, function f
  size_t size() const { return counts.size(); }
};

// Most windows one request may produce.
inline constexpr uint64_t kMaxWindows = 1000000;

// Windows of the spec: ceil((end - start) / step), or starts->size().
// REQUIRES: start < end, step > 0 or starts set.
uint64_t NumWindows(const AggregateSpec& spec);
// Start of window k (< NumWindows(spec)).
int64_t WindowStart(const AggregateSpec& spec, uint64_t k);

// InvalidArgument naming the field: start >= end, step <= 0, too many
// windows, no functions, a function the value type does not support.
absl::Status ValidateAggregateSpec(const AggregateSpec& spec, ValueType type);

class Aggregator {
 public:
  // REQUIRES: ValidateAggregateSpec(spec, type).ok().
  Aggregator(const AggregateSpec& spec, ValueType type);

  // The last sample before spec.start, if any; call before Add. Skipped when
  // good_only and it is not Good, or when NaN: the caller passes the last
  // sample that counts (CountsBefore), so a window's TWA/DELTA/RATE does
  // not depend on where the query starts.
  void SetPrevious(const codec::ChunkColumns& cols, size_t i);
  // Adds samples of `cols` (in [start, end), increasing across calls).
  void Add(const codec::ChunkColumns& cols);
  // Whether a sample before start may carry in (SetPrevious): Good under
  // good_only, and not NaN.
  static bool CountsBefore(const AggregateSpec& spec, const codec::ChunkColumns& cols, size_t i);
  // Whether AddRollup may take this bucket; when not (TWA/DELTA/RATE over a
  // bucket holding a NaN, which the rollup does not skip), Add its samples.
  bool CanUseRollup(const engine::Rollup& r) const {
    return (!want_twa_ && !want_delta_) || r.n == r.count;
  }
  // Adds a rollup bucket [bucket_start, bucket_end) in place of its samples.
  // REQUIRES: good_only is false, max_gap is 0, the bucket lies inside one
  // window, and it comes in time order with the samples given to Add.
  void AddRollup(int64_t bucket_start, int64_t bucket_end, const engine::Rollup& r);
  // Closes the last windows; returns every window, empty ones included.
  WindowResults Finish();

 private:
  struct Window {
    uint64_t count = 0;
    uint64_t n = 0;  // non-NaN values
    double sum = 0, mean = 0, m2 = 0;
    double min = 0, max = 0;
    double first = 0, last = 0;
    double twa_integral = 0;
    int64_t twa_covered = 0;
    double delta = 0;
    bool has_delta = false;
  };
  size_t WindowOf(int64_t ts) const;
  void Hold(int64_t from, int64_t to, double value);
  void AddOne(int64_t ts, double v);
  // Add for double samples when only count/sum/min/max/avg/first/last are
  // asked (no good_only): takes each window's run of samples in one tight
  // loop. Same results, bit for bit, as AddOne sample by sample.
  void AddDoubleRuns(const codec::ChunkColumns& cols);
  // True once spec_.cancelled said so; asks it every 4096 window steps.
  bool Stopping();

  const AggregateSpec spec_;
  const ValueType type_;
  // Work only the requested functions need (per-sample cost matters: a
  // minute window of raw samples is read for every query).
  bool want_m2_ = false;     // STDDEV
  bool want_twa_ = false;    // TIME_WEIGHTED_AVG
  bool want_delta_ = false;  // DELTA, RATE
  bool runs_ = false;        // AddDoubleRuns applies
  // The window of the last sample, to skip the division for the next one.
  size_t cur_w_ = 0;
  int64_t cur_start_ = 1, cur_end_ = 0;
  uint64_t polls_ = 0;
  bool stopped_ = false;
  std::vector<Window> windows_;
  std::optional<std::pair<int64_t, double>> held_;  // last sample, for TWA and DELTA
};

// A sample's value as a double (int64 converted, bool 0/1); NaN for strings.
double NumericValue(const codec::ChunkColumns& cols, size_t i);

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_AGGREGATOR_H_
