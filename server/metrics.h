// File: metrics.h
// Metrics: the node's counters and histograms, rendered in the Prometheus
// text exposition format (version 0.0.4) for GET /metrics.
//
// Families are declared once (Describe) and then fed by name with a label
// string already in Prometheus syntax (`method="Query.Read"`, or empty).
// Gauges that mirror other components (Store stats, RocksDB properties,
// replication lag) are produced at scrape time by collectors.
//
//   metrics.Describe("historian_ingest_samples_acked_total", "counter", "...");
//   metrics.Add("historian_ingest_samples_acked_total", "", 100);
//   std::string text = metrics.Render();
//
// Thread-safety: safe for concurrent use. Collectors run on the scraping
// thread, one scrape at a time per call to Render.
#ifndef HISTORIAN_SERVER_METRICS_H_
#define HISTORIAN_SERVER_METRICS_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace historian::server {

// Writes samples of gauge families from a collector.
class MetricsWriter {
 public:
  explicit MetricsWriter(std::string* out) : out_(out) {}
  // Emits HELP and TYPE for `name` (once per family, before its samples).
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, std::string_view labels, double value);
  // A family of one sample without labels: Family, then Sample.
  void Single(std::string_view name, std::string_view type, std::string_view help, double value) {
    Family(name, type, help);
    Sample(name, "", value);
  }

 private:
  std::string* out_;
};

// `key="value"` with the value escaped for the exposition format.
std::string Label(std::string_view key, std::string_view value);

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histograms' buckets.
  static const std::vector<double>& LatencyBuckets();

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // `type` is "counter" or "histogram".
  void Describe(std::string name, std::string type, std::string help);
  // Counters. REQUIRES: `name` was described as a counter.
  void Add(std::string_view name, std::string_view labels, double value);
  // Histograms (LatencyBuckets). REQUIRES: described as a histogram.
  void Observe(std::string_view name, std::string_view labels, double value);
  // Current value of a counter series (tests); 0 when absent.
  double CounterValue(std::string_view name, std::string_view labels) const;

  void AddCollector(std::function<void(MetricsWriter*)> collector);
  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time, not here
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string type;
    std::string help;
    std::map<std::string, double, std::less<>> counters;
    std::map<std::string, Histogram, std::less<>> histograms;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Family, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(MetricsWriter*)>> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_METRICS_H_
