// File: cluster_placement_bench.cc
// How fast a placement change reaches every node of a site cluster (issue
// 20: "a placement change is seen by every node within 1 s (p99)").
// Starts a real etcd and --nodes real historiand nodes (ClusterFixture),
// then --changes times: writes a new placement with a compare-and-swap on
// the placement key's mod revision (as an operator's change does) and polls
// every node's Cluster.Placement (every 1 ms) until each answers the new
// revision. Prints the latency from the commit to "seen by every node".
//
//   build/bench/cluster_placement_bench --nodes=3 --changes=200
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/placement.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"

ABSL_FLAG(int, nodes, 3, "Nodes in the cluster");
ABSL_FLAG(int, changes, 200, "Placement changes to time");
ABSL_FLAG(uint32_t, shards, 256, "Virtual shards");

namespace historian {
namespace {

int Run() {
  testing::TempDir dir;
  testing::ClusterFixtureOptions options;
  options.nodes = absl::GetFlag(FLAGS_nodes);
  options.num_shards = absl::GetFlag(FLAGS_shards);
  testing::ClusterFixture cluster(dir.Sub("cluster"), options);
  if (!cluster.Start()) return 1;
  cluster::EtcdClientOptions etcd_options;
  etcd_options.endpoints = {cluster.etcd().endpoint()};
  auto etcd = *cluster::EtcdClient::Create(etcd_options);
  std::vector<std::unique_ptr<v1::Cluster::Stub>> stubs;
  for (const std::string& a : cluster.addresses()) {
    stubs.push_back(
        v1::Cluster::NewStub(grpc::CreateChannel(a, grpc::InsecureChannelCredentials())));
  }
  const std::string key = cluster::PlacementKey(options.site);
  std::vector<double> all_ms;
  for (int round = 0; round < absl::GetFlag(FLAGS_changes); ++round) {
    auto current = etcd->Get(key);
    if (!current.ok() || current->kvs.size() != 1) {
      std::fprintf(stderr, "cannot read the placement\n");
      return 1;
    }
    auto placement = cluster::Placement::Decode(current->kvs[0].value, 0);
    v1::PlacementResponse next = placement->ToProto({});
    const int shard = round % static_cast<int>(next.num_shards());
    next.set_shard_owner(shard, (next.shard_owner(shard) + 1) % next.members_size());
    const std::string value = cluster::Placement::FromProto(next)->Encode();
    const absl::Time start = absl::Now();
    auto put = etcd->PutIfModRevision(key, value, current->kvs[0].mod_revision);
    if (!put.ok() || !put->committed) {
      std::fprintf(stderr, "placement change not committed\n");
      return 1;
    }
    std::vector<bool> seen(stubs.size(), false);
    size_t left = stubs.size();
    while (left > 0) {
      for (size_t i = 0; i < stubs.size(); ++i) {
        if (seen[i]) continue;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::PlacementResponse p;
        if (stubs[i]->Placement(&ctx, v1::PlacementRequest(), &p).ok() &&
            p.revision() >= put->revision) {
          seen[i] = true;
          --left;
        }
      }
      if (absl::Now() - start > absl::Seconds(30)) {
        std::fprintf(stderr, "round %d: not seen by every node within 30 s\n", round);
        return 1;
      }
      if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    all_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  std::sort(all_ms.begin(), all_ms.end());
  auto pct = [&](double q) {
    return all_ms[std::min(all_ms.size() - 1, static_cast<size_t>(q * all_ms.size()))];
  };
  std::printf(
      "placement change seen by all %d nodes: %zu changes, p50 %.1f ms, p99 %.1f ms, max %.1f "
      "ms\n",
      options.nodes, all_ms.size(), pct(0.5), pct(0.99), all_ms.back());
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The fixture finds historiand and historian under HISTORIAN_BIN_DIR; by
  // default the build dir this benchmark sits in (<build>/bench/).
  if (std::getenv("HISTORIAN_BIN_DIR") == nullptr) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) setenv("HISTORIAN_BIN_DIR", exe.parent_path().parent_path().c_str(), 1);
  }
  return historian::Run();
}
