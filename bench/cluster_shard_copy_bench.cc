// cluster_shard_copy_bench: step 3 of a shard move between two real nodes
// (issue 21; docs/cluster.md): a real etcd and two real historiand nodes
// (the tests' ClusterFixture, 8 shards); --samples samples (1 Hz, a random
// 0.1-resolution value in 0..1000 a second) over --tags tags of one shard
// node 0 owns, written to node 0 and compacted there (Admin.Compact); then
// node 1 pulls the shard (Cluster.PullShard, which streams
// Cluster.CopyShard from node 0 and imports each 1 MiB piece with an
// fsync), --reps times into fresh copies of the same shard (a copy over a
// copy rewrites the same keys). Prints the piece bytes, the samples and
// the rates of each pull (wall clock at the caller).
//
//   cluster_shard_copy_bench --samples=8000000 --tags=400
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"

ABSL_FLAG(uint64_t, samples, 8000000, "samples in the copied shard");
ABSL_FLAG(int, tags, 400, "tags in the copied shard");
ABSL_FLAG(int, reps, 3, "pulls");
ABSL_FLAG(std::string, dir, "/tmp/cluster_shard_copy_bench", "scratch directory (removed first)");

namespace historian {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr uint32_t kShards = 8;

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  testing::ClusterFixtureOptions options;
  options.nodes = 2;
  options.num_shards = kShards;
  testing::ClusterFixture cluster(dir + "/cluster", options);
  if (!cluster.Start()) return 1;
  v1::PlacementResponse placement;
  if (!cluster.Placement(0, &placement).ok()) return 1;
  // A shard of node 0.
  uint32_t shard = kShards;
  for (uint32_t s = 0; s < kShards && shard == kShards; ++s) {
    if (placement.members(static_cast<int>(placement.shard_owner(static_cast<int>(s)))).address() ==
        cluster.address(0)) {
      shard = s;
    }
  }
  if (shard == kShards) return 2;
  auto channel = [](const std::string& a) {
    return grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
  };
  auto ingest = v1::Ingest::NewStub(channel(cluster.address(0)));
  std::vector<std::string> names;
  for (int i = 0; static_cast<int>(names.size()) < absl::GetFlag(FLAGS_tags); ++i) {
    std::string name = absl::StrCat("bench.copy.t", i, ".pv");
    if (TagShard(name, kShards) == shard) names.push_back(name);
  }
  const uint64_t per_tag = absl::GetFlag(FLAGS_samples) / names.size();
  std::mt19937_64 rng(1);
  auto t = std::chrono::steady_clock::now();
  for (uint64_t from = 0; from < per_tag; from += 3600) {
    for (size_t first = 0; first < names.size(); first += 10) {
      v1::WriteRequest batch;
      for (size_t k = first; k < std::min(names.size(), first + 10); ++k) {
        v1::TagSamples* series = batch.add_series();
        series->set_tag(names[k]);
        for (uint64_t j = from; j < std::min(per_tag, from + 3600); ++j) {
          v1::Sample* s = series->add_samples();
          s->set_timestamp_ns(kT0 + static_cast<int64_t>(j) * kSecond);
          s->mutable_value()->set_double_value(static_cast<double>(rng() % 10000) / 10);
        }
      }
      grpc::ClientContext ctx;
      v1::WriteAck ack;
      grpc::Status s = ingest->WriteBatch(&ctx, batch, &ack);
      if (!s.ok()) {
        std::fprintf(stderr, "write: %s\n", s.error_message().c_str());
        return 3;
      }
    }
  }
  {
    grpc::ClientContext ctx;
    v1::CompactRequest request;
    v1::CompactResponse response;
    if (!v1::Admin::NewStub(channel(cluster.address(0)))->Compact(&ctx, request, &response).ok()) {
      return 4;
    }
  }
  std::printf("load and compact: %.1f s; shard %u of %u, %zu tags, %llu samples\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(), shard,
              kShards, names.size(), static_cast<unsigned long long>(per_tag * names.size()));
  auto target = v1::Cluster::NewStub(channel(cluster.address(1)));
  for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
    v1::PullShardRequest request;
    request.set_source(cluster.address(0));
    request.set_num_shards(kShards);
    request.set_shard(shard);
    grpc::ClientContext ctx;
    v1::PullShardResponse response;
    t = std::chrono::steady_clock::now();
    grpc::Status s = target->PullShard(&ctx, request, &response);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    if (!s.ok() || !response.complete()) {
      std::fprintf(stderr, "pull: %s\n", s.error_message().c_str());
      return 5;
    }
    const double mb = static_cast<double>(response.bytes()) / 1e6;
    std::printf("pull %d: %llu pieces, %.1f MB in %.3f s: %.1f MB/s, %.2f M samples/s\n", rep,
                static_cast<unsigned long long>(response.pieces()), mb, secs, mb / secs,
                static_cast<double>(per_tag * names.size()) / secs / 1e6);
  }
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rc = historian::Run();
  std::filesystem::remove_all(absl::GetFlag(FLAGS_dir));
  return rc;
}
