// File: bench_queries.cc
#include "bench/bench_queries.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "bench/bench_emit.h"

namespace historian::bench {
namespace {

constexpr int64_t kMinute = 60LL * 1'000'000'000LL;

// Runs `query` once to warm up, then `runs` times timed.
absl::StatusOr<QueryResult> Time(const std::string& name, int runs,
                                 const std::function<absl::StatusOr<uint64_t>()>& query) {
  QueryResult r;
  r.name = name;
  absl::StatusOr<uint64_t> items = query();
  if (!items.ok())
    return absl::Status(items.status().code(), absl::StrCat(name, ": ", items.status().message()));
  r.items = *items;
  LatencyRecorder rec;
  for (int i = 0; i < runs; ++i) {
    Stopwatch w;
    items = query();
    rec.Add(w.Millis());
    if (!items.ok()) return items.status();
  }
  r.latency = rec.Summary();
  return r;
}

}  // namespace

absl::StatusOr<std::vector<QueryResult>> RunQueries(const DataSet& data, client::Client& client,
                                                    int runs,
                                                    const std::vector<std::string>& only) {
  const QuerySpec spec = MakeQuerySpec(data);
  std::vector<QueryResult> out;

  auto raw = [&]() -> absl::StatusOr<uint64_t> {
    historian::v1::ReadRequest req;
    req.add_tags(data.tag_name(spec.one_tag));
    req.set_start_ns(spec.start_ns);
    req.set_end_ns(spec.end_ns);
    req.set_columns(true);  // like VictoriaMetrics' export: columns of values
    uint64_t n = 0;
    absl::Status s = client.Read(req, [&](const historian::v1::ReadResponse& m) {
      n += static_cast<uint64_t>(m.samples_size() + m.columns().timestamp_deltas_ns_size());
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return n;
  };
  auto avg = [&](const std::vector<size_t>& tags) {
    return [&data, &client, &spec, tags]() -> absl::StatusOr<uint64_t> {
      historian::v1::AggregateRequest req;
      for (size_t t : tags) req.add_tags(data.tag_name(t));
      req.set_start_ns(spec.start_ns);
      req.set_end_ns(spec.end_ns);
      req.set_step_ns(kMinute);
      req.add_functions(historian::v1::AVG);
      req.set_columns(true);  // packed arrays per series (VictoriaMetrics: one values array)
      absl::StatusOr<historian::v1::AggregateResponse> resp = client.Aggregate(req);
      if (!resp.ok()) return resp.status();
      uint64_t n = 0;
      for (const auto& series : resp->series()) n += static_cast<uint64_t>(series.counts_size());
      return n;
    };
  };
  auto latest = [&]() -> absl::StatusOr<uint64_t> {
    historian::v1::LatestRequest req;
    req.set_glob("*");
    absl::StatusOr<historian::v1::LatestResponse> resp = client.Latest(req);
    if (!resp.ok()) return resp.status();
    uint64_t n = 0;
    for (const auto& v : resp->values()) n += v.has_sample() ? 1 : 0;
    return n;
  };

  const std::vector<std::pair<std::string, std::function<absl::StatusOr<uint64_t>()>>> queries = {
      {"raw_1tag", raw},
      {"avg_1tag", avg({spec.one_tag})},
      {"avg_100tags", avg(spec.many_tags)},
      {"latest_all", latest},
  };
  for (const auto& [name, fn] : queries) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    absl::StatusOr<QueryResult> r = Time(name, runs, fn);
    if (!r.ok()) return r.status();
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace historian::bench
