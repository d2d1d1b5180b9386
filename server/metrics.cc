#include "server/metrics.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace historian::server {
namespace {

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double v) {
  absl::StrAppend(out, std::string(name));
  if (!labels.empty()) absl::StrAppend(out, "{", std::string(labels), "}");
  absl::StrAppend(out, " ", FormatValue(v), "\n");
}

std::string JoinLabels(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  return absl::StrCat(std::string(a), ",", std::string(b));
}

}  // namespace

std::string Label(std::string_view key, std::string_view value) {
  std::string out = absl::StrCat(std::string(key), "=\"");
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

void MetricsWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  absl::StrAppend(out_, "# HELP ", std::string(name), " ", std::string(help), "\n", "# TYPE ",
                  std::string(name), " ", std::string(type), "\n");
}

void MetricsWriter::Sample(std::string_view name, std::string_view labels, double value) {
  AppendSample(out_, name, labels, value);
}

const std::vector<double>& Metrics::LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
  return kBuckets;
}

void Metrics::Describe(std::string name, std::string type, std::string help) {
  absl::MutexLock l(&mu_);
  Family& f = families_[name];
  f.type = std::move(type);
  f.help = std::move(help);
}

void Metrics::Add(std::string_view name, std::string_view labels, double value) {
  absl::MutexLock l(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  auto c = it->second.counters.find(labels);
  if (c == it->second.counters.end()) {
    it->second.counters.emplace(std::string(labels), value);
  } else {
    c->second += value;
  }
}

void Metrics::Observe(std::string_view name, std::string_view labels, double value) {
  const std::vector<double>& bounds = LatencyBuckets();
  absl::MutexLock l(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return;
  auto h = it->second.histograms.find(labels);
  if (h == it->second.histograms.end()) {
    h = it->second.histograms.emplace(std::string(labels), Histogram{}).first;
    h->second.buckets.assign(bounds.size(), 0);
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (value <= bounds[i]) {
      ++h->second.buckets[i];
      break;
    }
  }
  ++h->second.count;
  h->second.sum += value;
}

double Metrics::CounterValue(std::string_view name, std::string_view labels) const {
  absl::MutexLock l(&mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto c = it->second.counters.find(labels);
  return c == it->second.counters.end() ? 0 : c->second;
}

void Metrics::AddCollector(std::function<void(MetricsWriter*)> collector) {
  absl::MutexLock l(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string Metrics::Render() const {
  std::string out;
  std::vector<std::function<void(MetricsWriter*)>> collectors;
  {
    absl::MutexLock l(&mu_);
    const std::vector<double>& bounds = LatencyBuckets();
    for (const auto& [name, f] : families_) {
      absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n# TYPE ", name, " ", f.type, "\n");
      for (const auto& [labels, v] : f.counters) AppendSample(&out, name, labels, v);
      for (const auto& [labels, h] : f.histograms) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < bounds.size(); ++i) {
          cumulative += h.buckets[i];
          AppendSample(&out, name + "_bucket",
                       JoinLabels(labels, Label("le", FormatValue(bounds[i]))),
                       static_cast<double>(cumulative));
        }
        AppendSample(&out, name + "_bucket", JoinLabels(labels, Label("le", "+Inf")),
                     static_cast<double>(h.count));
        AppendSample(&out, name + "_sum", labels, h.sum);
        AppendSample(&out, name + "_count", labels, static_cast<double>(h.count));
      }
    }
    collectors = collectors_;
  }
  // Collectors query other components: run them without holding mu_.
  MetricsWriter writer(&out);
  for (const auto& c : collectors) c(&writer);
  return out;
}

}  // namespace historian::server
