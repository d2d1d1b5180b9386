// rules_load: puts one `high` limit rule on every tag of the plant data set
// (bench_dataset.h) of a running historiand, or counts the events those rules
// raised. For the cost of 10,000 rules to ingest (bench/README.md, "10,000
// rules at the full preset").
//
//   rules_load --endpoint=127.0.0.1:7400 --tags=10000            # tags + rules
//   historian-bench --preset=full --start_node=false --endpoint=... --node_pid=...
//   rules_load --endpoint=127.0.0.1:7400 --tags=10000 --count    # events
//
// Creates each tag (its value type from the generator) and a rule `r<index>`
// with the limit at the --quantile of the tag's values over --duration, so
// the data crosses it sometimes (constant tags never). --threads parallel
// synchronous calls; --rules=false creates only the tags (the baseline).
// Single-threaded main; each worker owns its stubs.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/bench_dataset.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"

ABSL_FLAG(std::string, endpoint, "127.0.0.1:7400", "historiand to load");
ABSL_FLAG(uint64_t, tags, 10000, "Tags in the plant (as historian-bench --tags)");
ABSL_FLAG(absl::Duration, duration, absl::Hours(1), "Plant time (as historian-bench)");
ABSL_FLAG(uint64_t, seed, 42, "Data set seed (as historian-bench)");
ABSL_FLAG(double, quantile, 0.99, "Limit = this quantile of the tag's values");
ABSL_FLAG(double, limit_offset, 0, "Added to every limit (1e9: rules that never raise)");
ABSL_FLAG(double, deadband_fraction, 0,
          "Each rule's deadband: this fraction of its tag's value range over the data set");
ABSL_FLAG(absl::Duration, on_delay, absl::ZeroDuration(), "Each rule's on-delay");
ABSL_FLAG(int, threads, 8, "Concurrent calls");
ABSL_FLAG(bool, count, false, "Count events per rule instead of creating");
ABSL_FLAG(uint64_t, count_every, 1, "--count: only every Nth rule (a sample; ListEvents is slow)");
ABSL_FLAG(bool, rules, true, "Create the rules (false: only the tags, for the baseline)");

namespace historian::bench {
namespace {

using client::PlantSimulator;

double AsDouble(const historian::v1::Value& v) {
  if (v.has_double_value()) return v.double_value();
  if (v.has_int64_value()) return static_cast<double>(v.int64_value());
  return v.bool_value() ? 1 : 0;
}

historian::v1::ValueType TypeOf(PlantSimulator::Kind kind) {
  switch (kind) {
    case PlantSimulator::Kind::kCounter:
      return historian::v1::VALUE_TYPE_INT64;
    case PlantSimulator::Kind::kState:
      return historian::v1::VALUE_TYPE_BOOL;
    default:
      return historian::v1::VALUE_TYPE_DOUBLE;
  }
}

struct LimitAndRange {
  double limit;
  double range;  // max - min of the tag's values
};

// The --quantile of the tag's values (below the maximum when the tag
// varies), and their range.
LimitAndRange LimitFor(const DataSet& data, size_t tag, double q) {
  std::vector<double> v(data.ticks());
  for (uint64_t t = 0; t < data.ticks(); ++t) v[t] = AsDouble(data.sim().ValueAt(tag, t));
  std::sort(v.begin(), v.end());
  double limit = v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
  if (limit >= v.back() && v.front() < v.back()) {
    limit = *(std::lower_bound(v.begin(), v.end(), v.back()) - 1);  // largest below max
  }
  return {limit, v.back() - v.front()};
}

struct Totals {
  std::atomic<uint64_t> failed{0}, events{0}, late{0}, active{0}, rules_with_events{0};
};

void Worker(const DataSet& data, int id, int n, bool count, double q, Totals* tot) {
  auto ch = grpc::CreateChannel(absl::GetFlag(FLAGS_endpoint), grpc::InsecureChannelCredentials());
  auto catalog = historian::v1::Catalog::NewStub(ch);
  auto events = historian::v1::Events::NewStub(ch);
  const uint64_t every = count ? std::max<uint64_t>(1, absl::GetFlag(FLAGS_count_every)) : 1;
  for (size_t tag = id * every; tag < data.num_tags(); tag += n * every) {
    const std::string rule = absl::StrCat("r", tag);
    grpc::Status s;
    if (count) {
      grpc::ClientContext ctx;
      historian::v1::ListEventsRequest req;
      req.set_rule(rule);
      req.set_limit(10000);
      historian::v1::ListEventsResponse resp;
      s = events->ListEvents(&ctx, req, &resp);
      if (s.ok()) {
        tot->events += resp.events_size();
        if (resp.events_size() > 0) ++tot->rules_with_events;
        for (const auto& e : resp.events()) {
          if (e.late()) ++tot->late;
          if (e.active()) ++tot->active;
        }
      }
    } else {
      {
        grpc::ClientContext ctx;
        historian::v1::CreateTagRequest req;
        req.mutable_tag()->set_name(data.tag_name(tag));
        req.mutable_tag()->set_value_type(TypeOf(data.sim().kind(tag)));
        historian::v1::Tag resp;
        s = catalog->CreateTag(&ctx, req, &resp);
      }
      if (s.ok() && absl::GetFlag(FLAGS_rules)) {
        grpc::ClientContext ctx;
        historian::v1::CreateRuleRequest req;
        auto* r = req.mutable_rule();
        r->set_name(rule);
        r->set_kind(historian::v1::RULE_KIND_HIGH);
        r->set_tag(data.tag_name(tag));
        const LimitAndRange l = LimitFor(data, tag, q);
        r->set_limit(l.limit + absl::GetFlag(FLAGS_limit_offset));
        r->set_deadband(absl::GetFlag(FLAGS_deadband_fraction) * l.range);
        r->set_on_delay_ns(absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_on_delay)));
        historian::v1::Rule resp;
        s = events->CreateRule(&ctx, req, &resp);
      }
    }
    if (!s.ok()) {
      if (tot->failed++ < 5)
        std::fprintf(stderr, "%s: %s\n", rule.c_str(), s.error_message().c_str());
    }
  }
}

int Main() {
  DataSetOptions o;
  o.tags = absl::GetFlag(FLAGS_tags);
  o.duration_s = absl::ToInt64Seconds(absl::GetFlag(FLAGS_duration));
  o.seed = absl::GetFlag(FLAGS_seed);
  const DataSet data(o);
  const bool count = absl::GetFlag(FLAGS_count);
  const int n = std::max(1, absl::GetFlag(FLAGS_threads));
  Totals tot;
  const absl::Time t0 = absl::Now();
  std::vector<std::thread> workers;
  for (int i = 0; i < n; ++i) {
    workers.emplace_back(Worker, std::cref(data), i, n, count, absl::GetFlag(FLAGS_quantile), &tot);
  }
  for (auto& w : workers) w.join();
  const double s = absl::ToDoubleSeconds(absl::Now() - t0);
  if (count) {
    std::printf("rules_load: %llu events (%llu late, %llu active) from %llu rules, %.1f s\n",
                static_cast<unsigned long long>(tot.events.load()),
                static_cast<unsigned long long>(tot.late.load()),
                static_cast<unsigned long long>(tot.active.load()),
                static_cast<unsigned long long>(tot.rules_with_events.load()), s);
  } else {
    std::printf("rules_load: %zu tags and rules, %llu failed, %.1f s\n", data.num_tags(),
                static_cast<unsigned long long>(tot.failed.load()), s);
  }
  return tot.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Main();
}
