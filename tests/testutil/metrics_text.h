// File: metrics_text.h
// Scraping a node's /metrics and finding one sample in the Prometheus text
// (tests and benches).
//
//   std::optional<double> v = MetricValue(ScrapeMetrics(port), "historian_head_bytes");
#ifndef HISTORIAN_TESTS_TESTUTIL_METRICS_TEXT_H_
#define HISTORIAN_TESTS_TESTUTIL_METRICS_TEXT_H_

#include <httplib.h>

#include <optional>
#include <sstream>
#include <string>

namespace historian::testing {

// GET http://127.0.0.1:<port>/metrics; empty on failure.
inline std::string ScrapeMetrics(int port) {
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get("/metrics");
  if (!res || res->status != 200) return "";
  return res->body;
}

// The value of the sample `series` (name plus `{labels}` exactly as
// rendered), if present.
inline std::optional<double> MetricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_METRICS_TEXT_H_
