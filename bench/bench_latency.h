// File: bench_latency.h
// Latency samples and their percentiles (nearest rank), plus a monotonic
// stopwatch, for historian-bench.
//
// Thread-safety: a LatencyRecorder is not thread-safe.
#ifndef HISTORIAN_BENCH_BENCH_LATENCY_H_
#define HISTORIAN_BENCH_BENCH_LATENCY_H_

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <vector>

namespace historian::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  double Millis() const { return Seconds() * 1e3; }

 private:
  std::chrono::steady_clock::time_point start_;
};

struct LatencySummary {
  size_t runs = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};

class LatencyRecorder {
 public:
  void Add(double ms) { ms_.push_back(ms); }
  size_t size() const { return ms_.size(); }

  LatencySummary Summary() const {
    LatencySummary s;
    s.runs = ms_.size();
    if (ms_.empty()) return s;
    std::vector<double> v = ms_;
    std::sort(v.begin(), v.end());
    s.p50_ms = Rank(v, 0.50);
    s.p99_ms = Rank(v, 0.99);
    s.max_ms = v.back();
    return s;
  }

 private:
  // Nearest rank: the smallest value with at least q of the samples <= it.
  static double Rank(const std::vector<double>& sorted, double q) {
    const size_t n = sorted.size();
    size_t idx = static_cast<size_t>(std::ceil(q * static_cast<double>(n)));
    idx = std::clamp<size_t>(idx, 1, n) - 1;
    return sorted[idx];
  }

  std::vector<double> ms_;
};

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_LATENCY_H_
