// cluster_query_bench: the fan-out cost of a query in a site cluster (issue
// 20, "Performance"): a 100-tag 1-minute average over one hour asked of a
// 3-node cluster (real etcd + 3 real historiand, tests/testutil/
// cluster_fixture.h) against the same query on one node holding the same
// data. Both on this machine's cores: this measures fan-out and merge, not
// scaling. Queries alternate between the two so drift in the machine's load
// hits both alike.
//
//   cluster_query_bench [--tags=100] [--reps=200] [--dir=/tmp/historian-cluster-query-bench]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/node_process.h"

ABSL_FLAG(int, tags, 100, "Tags in the query (each 1 h at 1 Hz)");
ABSL_FLAG(int, reps, 200, "Repetitions of the query on each side");
ABSL_FLAG(std::string, dir, "/tmp/historian-cluster-query-bench", "Data dir (wiped)");

namespace historian::bench {
namespace {

namespace v1 = ::historian::v1;
using Clock = std::chrono::steady_clock;
constexpr int64_t kS = 1000000000;
constexpr int64_t kStart = int64_t{1767225600} * kS;  // 2026-01-01T00:00:00Z

bool Write(v1::Ingest::Stub* stub, const v1::WriteRequest& req) {
  grpc::ClientContext ctx;
  v1::WriteAck ack;
  grpc::Status s = stub->WriteBatch(&ctx, req, &ack);
  if (!s.ok()) std::fprintf(stderr, "write: %s\n", s.error_message().c_str());
  return s.ok();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  testing::ClusterFixtureOptions options;
  options.nodes = 3;
  options.num_shards = 256;
  testing::ClusterFixture cluster(dir + "/cluster", options);
  if (!cluster.Start()) return 1;
  testing::NodeProcess single(dir + "/single", {"--site=us"});
  if (!single.Start()) return 1;
  v1::PlacementResponse placement;
  if (!cluster.Placement(0, &placement).ok()) return 1;

  auto channel = [](const std::string& a) {
    return grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
  };
  std::vector<std::unique_ptr<v1::Ingest::Stub>> owners;
  for (const auto& m : placement.members())
    owners.push_back(v1::Ingest::NewStub(channel(m.address())));
  auto single_ingest = v1::Ingest::NewStub(channel(single.address()));

  const int tags = absl::GetFlag(FLAGS_tags);
  std::vector<int> per_owner(owners.size());
  v1::AggregateRequest query;
  for (int t = 0; t < tags; ++t) {
    const std::string name = absl::StrCat("bench.area", t % 10, ".tag", t);
    query.add_tags(name);
    const uint32_t owner = placement.shard_owner(TagShard(name, placement.num_shards()));
    ++per_owner[owner];
    for (int minute = 0; minute < 60; minute += 10) {
      v1::WriteRequest req;
      v1::TagSamples* series = req.add_series();
      series->set_tag(name);
      for (int s = minute * 60; s < (minute + 10) * 60; ++s) {
        v1::Sample* sample = series->add_samples();
        sample->set_timestamp_ns(kStart + s * kS);
        sample->mutable_value()->set_double_value(50 + (s * 7 + t * 13) % 100 / 10.0);
      }
      if (!Write(owners[owner].get(), req) || !Write(single_ingest.get(), req)) return 1;
    }
  }
  query.set_start_ns(kStart);
  query.set_end_ns(kStart + 3600 * kS);
  query.set_step_ns(60 * kS);
  query.add_functions(v1::AVG);

  auto single_query = v1::Query::NewStub(channel(single.address()));
  auto cluster_query = v1::Query::NewStub(channel(cluster.address(0)));
  auto time_one = [&](v1::Query::Stub* stub) -> double {
    grpc::ClientContext ctx;
    v1::AggregateResponse resp;
    const auto t0 = Clock::now();
    grpc::Status s = stub->Aggregate(&ctx, query, &resp);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!s.ok() || resp.series_size() != tags) {
      std::fprintf(stderr, "query: %s\n", s.error_message().c_str());
      return -1;
    }
    return ms;
  };
  for (int i = 0; i < 10; ++i) {  // warm caches and channels
    if (time_one(single_query.get()) < 0 || time_one(cluster_query.get()) < 0) return 1;
  }
  std::vector<double> one, three;
  for (int i = 0; i < absl::GetFlag(FLAGS_reps); ++i) {
    const double a = time_one(single_query.get());
    const double b = time_one(cluster_query.get());
    if (a < 0 || b < 0) return 1;
    one.push_back(a);
    three.push_back(b);
  }
  // Where the cluster's time goes: each owner's part asked of the owner
  // directly (no fan-out), one after the other.
  std::vector<std::vector<double>> part_ms(owners.size());
  std::vector<v1::AggregateRequest> part_query(owners.size(), query);
  for (auto& q : part_query) q.clear_tags();
  for (const std::string& name : query.tags()) {
    *part_query[placement.shard_owner(TagShard(name, placement.num_shards()))].add_tags() = name;
  }
  std::vector<std::unique_ptr<v1::Query::Stub>> owner_query;
  for (const auto& m : placement.members())
    owner_query.push_back(v1::Query::NewStub(channel(m.address())));
  for (int i = 0; i < absl::GetFlag(FLAGS_reps); ++i) {
    for (size_t o = 0; o < owners.size(); ++o) {
      grpc::ClientContext ctx;
      v1::AggregateResponse resp;
      const auto t0 = Clock::now();
      grpc::Status s = owner_query[o]->Aggregate(&ctx, part_query[o], &resp);
      if (!s.ok()) return 1;
      part_ms[o].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }
  std::printf("tags %d (per owner:", tags);
  for (int n : per_owner) std::printf(" %d", n);
  std::printf("), 60 windows, AVG, %d reps each, asked of cluster node 0\n",
              static_cast<int>(one.size()));
  std::printf("| | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|\n");
  std::printf("| one node | %.2f | %.2f | %.2f |\n", Percentile(one, 0.5), Percentile(one, 0.9),
              Percentile(one, 0.99));
  std::printf("| 3-node cluster | %.2f | %.2f | %.2f |\n", Percentile(three, 0.5),
              Percentile(three, 0.9), Percentile(three, 0.99));
  for (size_t o = 0; o < owners.size(); ++o) {
    std::printf("| member %zu's %d tags asked of it alone | %.2f | %.2f | %.2f |\n", o,
                per_owner[o], Percentile(part_ms[o], 0.5), Percentile(part_ms[o], 0.9),
                Percentile(part_ms[o], 0.99));
  }
  std::printf("| ratio | %.2fx | %.2fx | %.2fx |\n", Percentile(three, 0.5) / Percentile(one, 0.5),
              Percentile(three, 0.9) / Percentile(one, 0.9),
              Percentile(three, 0.99) / Percentile(one, 0.99));
  return 0;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Run();
}
