#include "storage/query/aggregator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "storage/query/window_math.h"

namespace historian::query {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// End of window k: min(end, start + (k + 1) * step), or the next calendar
// window's start.
int64_t WindowEnd(const AggregateSpec& s, uint64_t k) {
  if (s.starts) return k + 1 < s.starts->size() ? (*s.starts)[k + 1] : s.end;
  return StepPoint(s.start, static_cast<uint64_t>(s.step), k + 1, s.end);
}
}  // namespace

uint64_t NumWindows(const AggregateSpec& s) {
  if (s.starts) return s.starts->size();
  return NumSteps(s.start, s.end, static_cast<uint64_t>(s.step));
}

int64_t WindowStart(const AggregateSpec& s, uint64_t k) {
  if (s.starts) return (*s.starts)[k];
  return StepPoint(s.start, static_cast<uint64_t>(s.step), k, s.end);
}

double NumericValue(const codec::ChunkColumns& cols, size_t i) {
  switch (cols.type) {
    case ValueType::kDouble:
      return cols.doubles[i];
    case ValueType::kInt64:
      return static_cast<double>(cols.ints[i]);
    case ValueType::kBool:
      return cols.bools[i];
    default:
      return kNaN;
  }
}

absl::Status ValidateAggregateSpec(const AggregateSpec& spec, ValueType type) {
  if (spec.start >= spec.end) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_ns: ", spec.start, " must be below end_ns ", spec.end));
  }
  if (spec.max_gap < 0) return absl::InvalidArgumentError("max_gap_ns: must be >= 0");
  if (spec.starts) {
    // CalendarWindowStarts checked the step and the window limit.
    if (spec.starts->empty() || spec.starts->front() != spec.start ||
        spec.starts->back() >= spec.end) {
      return absl::InternalError("calendar windows do not fit [start_ns, end_ns)");
    }
  } else if (spec.step <= 0) {
    return absl::InvalidArgumentError("step_ns: must be > 0");
  } else if (NumWindows(spec) > kMaxWindows) {
    return absl::InvalidArgumentError(
        absl::StrCat("step_ns: (end_ns - start_ns) / step_ns = ", NumWindows(spec),
                     " windows, over the limit of ", kMaxWindows));
  }
  if (spec.functions.empty()) return absl::InvalidArgumentError("functions: none given");
  if (type == ValueType::kString) {
    for (AggFn f : spec.functions) {
      if (f != AggFn::kCount) {
        return absl::InvalidArgumentError("functions: only COUNT is defined for a string tag");
      }
    }
  }
  return absl::OkStatus();
}

Aggregator::Aggregator(const AggregateSpec& spec, ValueType type)
    : spec_(spec), type_(type), windows_(NumWindows(spec)) {
  for (AggFn f : spec.functions) {
    want_m2_ |= f == AggFn::kStddev;
    want_twa_ |= f == AggFn::kTwa;
    want_delta_ |= f == AggFn::kDelta || f == AggFn::kRate;
  }
  runs_ = type == ValueType::kDouble && !spec.good_only && !want_m2_ && !want_twa_ && !want_delta_;
}

size_t Aggregator::WindowOf(int64_t ts) const {
  if (spec_.starts) {
    const std::vector<int64_t>& v = *spec_.starts;
    return static_cast<size_t>(std::upper_bound(v.begin(), v.end(), ts) - v.begin()) - 1;
  }
  return StepOf(spec_.start, static_cast<uint64_t>(spec_.step), ts);
}

bool Aggregator::Stopping() {
  if (stopped_) return true;
  if (!spec_.cancelled || (++polls_ & 4095) != 0) return false;
  stopped_ = spec_.cancelled();
  return stopped_;
}

bool Aggregator::CountsBefore(const AggregateSpec& spec, const codec::ChunkColumns& cols,
                              size_t i) {
  if (spec.good_only && cols.qualities[i] != kQualityGood) return false;
  return !std::isnan(NumericValue(cols, i));
}

void Aggregator::SetPrevious(const codec::ChunkColumns& cols, size_t i) {
  if (spec_.good_only && cols.qualities[i] != kQualityGood) return;
  const double v = NumericValue(cols, i);
  if (std::isnan(v)) return;
  held_ = {cols.timestamps[i], v};
}

// Spreads a held value over [from, to) into the windows it covers.
void Aggregator::Hold(int64_t from, int64_t to, double value) {
  if (std::isnan(value)) return;
  from = std::max(from, spec_.start);
  to = std::min(to, spec_.end);
  while (from < to && !Stopping()) {
    size_t w = WindowOf(from);
    int64_t piece_end = std::min(to, WindowEnd(spec_, w));
    Window& win = windows_[w];
    // A piece lies inside one window, at most step (<= INT64_MAX) long
    // (a huge calendar window could be longer: saturate the coverage).
    const uint64_t piece = Span(from, piece_end);
    win.twa_integral += value * static_cast<double>(piece);
    win.twa_covered = piece > static_cast<uint64_t>(INT64_MAX - win.twa_covered)
                          ? INT64_MAX
                          : win.twa_covered + static_cast<int64_t>(piece);
    from = piece_end;
  }
}

void Aggregator::AddOne(int64_t ts, double v) {
  if (ts < cur_start_ || ts >= cur_end_) {
    cur_w_ = WindowOf(ts);
    cur_start_ = WindowStart(spec_, cur_w_);
    cur_end_ = WindowEnd(spec_, cur_w_);
  }
  Window& w = windows_[cur_w_];
  if (w.count == 0) w.first = v;
  w.last = v;
  ++w.count;
  if (!std::isnan(v)) {
    if (w.n == 0) {
      w.min = w.max = v;
    } else {
      w.min = std::min(w.min, v);
      w.max = std::max(w.max, v);
    }
    ++w.n;
    w.sum += v;
    if (want_m2_) {
      double d = v - w.mean;  // Welford
      w.mean += d / static_cast<double>(w.n);
      w.m2 += d * (v - w.mean);
    }
  }
  // A NaN is skipped by TWA and DELTA: the value before it holds on.
  if (std::isnan(v)) return;
  if (held_) {
    auto [hts, hv] = *held_;
    if (want_twa_) {
      int64_t until = ts;
      if (spec_.max_gap > 0 && Span(hts, ts) > static_cast<uint64_t>(spec_.max_gap)) {
        until = hts + spec_.max_gap;  // below ts: no overflow
      }
      Hold(hts, until, hv);
    }
    if (want_delta_ && !std::isnan(v) && !std::isnan(hv)) {
      w.delta += v >= hv ? v - hv : v;
      w.has_delta = true;
    }
  }
  held_ = {ts, v};
}

namespace {

// Folds v[0..n) into the running sum/min/max/count of a window exactly as
// adding one value at a time would (NaN skipped, sums in order, the first
// of equal extremes kept, which only matters for -0.0 against 0.0), but
// with min and max in four independent lanes when the run has no NaN.
void FoldRun(const double* v, size_t n, double* sum, double* lo, double* hi, uint64_t* good) {
  bool any_nan = false;
  for (size_t k = 0; k < n; ++k) any_nan |= std::isnan(v[k]);
  if (any_nan || n < 8) {
    for (size_t k = 0; k < n; ++k) {
      const double x = v[k];
      if (std::isnan(x)) continue;
      if (*good == 0) {
        *lo = *hi = x;
      } else {
        *lo = std::min(*lo, x);
        *hi = std::max(*hi, x);
      }
      ++*good;
      *sum += x;
    }
    return;
  }
  double s = *sum;
  for (size_t k = 0; k < n; ++k) s += v[k];  // in order: sums match bit for bit
  double l[4] = {v[0], v[1], v[2], v[3]}, h[4] = {v[0], v[1], v[2], v[3]};
  size_t k = 4;
  for (; k + 4 <= n; k += 4) {
    for (int j = 0; j < 4; ++j) {
      l[j] = std::min(l[j], v[k + j]);
      h[j] = std::max(h[j], v[k + j]);
    }
  }
  for (; k < n; ++k) {
    l[0] = std::min(l[0], v[k]);
    h[0] = std::max(h[0], v[k]);
  }
  double run_lo = std::min(std::min(l[0], l[1]), std::min(l[2], l[3]));
  double run_hi = std::max(std::max(h[0], h[1]), std::max(h[2], h[3]));
  // Lanes may keep a different zero than the first one seen.
  if (run_lo == 0) run_lo = *std::find(v, v + n, 0.0);
  if (run_hi == 0) run_hi = *std::find(v, v + n, 0.0);
  if (*good == 0) {
    *lo = run_lo;
    *hi = run_hi;
  } else {
    *lo = std::min(*lo, run_lo);
    *hi = std::max(*hi, run_hi);
  }
  *sum = s;
  *good += n;
}

}  // namespace

void Aggregator::AddDoubleRuns(const codec::ChunkColumns& cols) {
  const size_t n = cols.size();
  const int64_t* ts = cols.timestamps.data();
  const double* v = cols.doubles.data();
  // Samples are in time order: skip those before start, stop at end.
  size_t i = static_cast<size_t>(std::lower_bound(ts, ts + n, spec_.start) - ts);
  const size_t stop = static_cast<size_t>(std::lower_bound(ts + i, ts + n, spec_.end) - ts);
  while (i < stop) {
    const size_t w = WindowOf(ts[i]);
    const int64_t end = WindowEnd(spec_, w);
    const size_t j = static_cast<size_t>(std::lower_bound(ts + i, ts + stop, end) - ts);
    Window& win = windows_[w];
    if (win.count == 0) win.first = v[i];
    win.last = v[j - 1];
    win.count += j - i;
    FoldRun(v + i, j - i, &win.sum, &win.min, &win.max, &win.n);
    i = j;
  }
  if (stop > 0 && ts[stop - 1] >= spec_.start) held_ = {ts[stop - 1], v[stop - 1]};
}

void Aggregator::Add(const codec::ChunkColumns& cols) {
  if (runs_) {
    AddDoubleRuns(cols);
    return;
  }
  for (size_t i = 0; i < cols.size(); ++i) {
    if (spec_.good_only && cols.qualities[i] != kQualityGood) continue;
    int64_t ts = cols.timestamps[i];
    if (ts < spec_.start || ts >= spec_.end) continue;
    AddOne(ts, NumericValue(cols, i));
  }
}

void Aggregator::AddRollup(int64_t bucket_start, int64_t bucket_end, const engine::Rollup& r) {
  if (bucket_start < spec_.start || bucket_start >= spec_.end) return;  // not of this query
  Window& w = windows_[WindowOf(bucket_start)];
  if (w.count == 0) w.first = r.first.value;
  w.last = r.last.value;
  w.count += r.count;
  if (r.n > 0) {
    if (w.n == 0) {
      w.min = r.min.value;
      w.max = r.max.value;
    } else {
      w.min = std::min(w.min, r.min.value);
      w.max = std::max(w.max, r.max.value);
    }
    // Chan et al.: merge (n, mean, M2) of two parts.
    double n = static_cast<double>(w.n + r.n);
    double d = r.mean - w.mean;
    w.mean += d * static_cast<double>(r.n) / n;
    w.m2 += r.m2 + d * d * static_cast<double>(w.n) * static_cast<double>(r.n) / n;
    w.n += r.n;
    w.sum += r.sum;
  }
  // What the previous sample holds until the bucket's first sample, and the
  // counter step across the bucket edge.
  if (held_) {
    auto [hts, hv] = *held_;
    Hold(hts, r.first.ts, hv);
    const double first = r.first.value;
    if (!std::isnan(first) && !std::isnan(hv)) {
      w.delta += first >= hv ? first - hv : first;
      w.has_delta = true;
    }
  }
  w.twa_integral += r.integral;
  w.twa_covered += r.covered;
  if (r.has_delta) {
    w.delta += r.delta;
    w.has_delta = true;
  }
  // The rollup counted the last value up to the bucket end.
  held_ = {bucket_end, r.last.value};
}

WindowResults Aggregator::Finish() {
  if (held_) {
    auto [hts, hv] = *held_;
    int64_t until = spec_.end;
    if (spec_.max_gap > 0 && hts < until &&
        Span(hts, until) > static_cast<uint64_t>(spec_.max_gap)) {
      until = hts + spec_.max_gap;  // below end: no overflow
    }
    Hold(hts, until, hv);
    held_.reset();
  }
  WindowResults out;
  out.functions = spec_.functions.size();
  out.counts.reserve(windows_.size());
  out.values.reserve(windows_.size() * out.functions);
  for (size_t k = 0; k < windows_.size() && !Stopping(); ++k) {
    const Window& w = windows_[k];
    // Up to 2^64 - 1 long (a calendar window may be longer than INT64_MAX).
    const uint64_t length = Span(WindowStart(spec_, k), WindowEnd(spec_, k));
    out.counts.push_back(w.count);
    for (AggFn f : spec_.functions) {
      double v = kNaN;
      bool has = w.n > 0;
      switch (f) {
        case AggFn::kCount:
          v = static_cast<double>(w.count);
          break;
        case AggFn::kSum:
          v = has ? w.sum : kNaN;
          break;
        case AggFn::kMin:
          v = has ? w.min : kNaN;
          break;
        case AggFn::kMax:
          v = has ? w.max : kNaN;
          break;
        case AggFn::kAvg:
          v = has ? w.sum / static_cast<double>(w.n) : kNaN;
          break;
        case AggFn::kFirst:
          v = w.count > 0 ? w.first : kNaN;
          break;
        case AggFn::kLast:
          v = w.count > 0 ? w.last : kNaN;
          break;
        case AggFn::kStddev:
          v = has ? std::sqrt(w.m2 / static_cast<double>(w.n)) : kNaN;
          break;
        case AggFn::kTwa:
          v = w.twa_covered > 0 ? w.twa_integral / static_cast<double>(w.twa_covered) : kNaN;
          break;
        case AggFn::kDelta:
          v = w.has_delta ? w.delta : kNaN;
          break;
        case AggFn::kRate:
          v = w.has_delta ? w.delta / (static_cast<double>(length) / 1e9) : kNaN;
          break;
      }
      out.values.push_back(v);
    }
  }
  windows_.clear();
  return out;
}

}  // namespace historian::query
