// The janitor in a real site cluster (etcd + three real historiand nodes,
// ClusterFixture; docs/cluster.md "The janitor"). Node 2 holds tags of four
// of its shards; while it is down the placement (written directly with a
// PutIfModRevision, as an operator or the mover would) gives shard A to
// node 0 with no move, keeps shard C at node 2, moves shard B from node 2
// to node 1 (INITIALIZING: node 2 is the source) and shard D from node 0 to
// node 2 (PENDING, node 0 owning it: node 2 is the target). At its restart
// node 2 must have dropped A before serving and kept B, C and D; when B's
// move then ends (B owned by node 1), node 2 drops B on that placement.
#include <httplib.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/placement.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr char kLocalData[] = "x-historian-local-data";
constexpr int kPerTag = 5;

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// The samples of `tag` node `address` itself holds (asked for local data: it
// answers from its own data). A tag it does not know reads as none.
std::map<int64_t, double> LocalSamples(const std::string& address, const std::string& tag) {
  auto stub = v1::Query::NewStub(Channel(address));
  v1::ReadRequest request;
  request.add_tags(tag);
  request.set_start_ns(kT0);
  request.set_end_ns(kT0 + 86400 * kSecond);
  grpc::ClientContext ctx;
  ctx.AddMetadata(kLocalData, "1");
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = stub->Read(&ctx, request);
  v1::ReadResponse r;
  std::map<int64_t, double> out;
  while (reader->Read(&r)) {
    for (const v1::Sample& s : r.samples()) out[s.timestamp_ns()] = s.value().double_value();
    int64_t ts = 0;
    for (int i = 0; i < r.columns().timestamp_deltas_ns_size(); ++i) {
      ts += r.columns().timestamp_deltas_ns(i);
      out[ts] = r.columns().double_values(i);
    }
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND)
      << tag << ": " << s.error_message();
  return out;
}

int MemberIndex(const v1::PlacementResponse& p, const std::string& address) {
  for (int m = 0; m < p.members_size(); ++m) {
    if (p.members(m).address() == address) return m;
  }
  return -1;
}

// Up to four shards owned by `member`, and two tag names in each.
std::map<uint32_t, std::vector<std::string>> TagsOfShardsOwnedBy(const v1::PlacementResponse& p,
                                                                 int member) {
  std::map<uint32_t, std::vector<std::string>> out;
  for (int n = 0; n < 100000; ++n) {
    const std::string tag = absl::StrCat("jan.m", n, ".pv");
    const uint32_t shard = TagShard(tag, p.num_shards());
    if (static_cast<int>(p.shard_owner(static_cast<int>(shard))) != member) continue;
    if (out.size() == 4 && out.count(shard) == 0) continue;
    if (out[shard].size() < 2) out[shard].push_back(tag);
    bool full = out.size() == 4;
    for (const auto& [s, tags] : out) full = full && tags.size() == 2;
    if (full) break;
  }
  return out;
}

std::map<int64_t, double> Expected(int t) {
  std::map<int64_t, double> m;
  for (int j = 0; j < kPerTag; ++j) m[kT0 + j * kSecond] = 10.0 * t + j;
  return m;
}

std::unique_ptr<cluster::EtcdClient> EtcdClientFor(const std::string& endpoint) {
  cluster::EtcdClientOptions o;
  o.endpoints = {endpoint};
  o.call_timeout = absl::Seconds(5);
  return *cluster::EtcdClient::Create(o);
}

// Writes `next` over `before` (guarded by its revision); returns the new
// revision, once every running node serves it.
int64_t PutPlacement(ClusterFixture& cluster, const v1::PlacementResponse& next,
                     int64_t before_revision) {
  absl::StatusOr<cluster::Placement> encoded = cluster::Placement::FromProto(next);
  EXPECT_TRUE(encoded.ok()) << encoded.status();
  if (!encoded.ok()) return 0;
  auto etcd = EtcdClientFor(cluster.etcd().endpoint());
  auto changed =
      etcd->PutIfModRevision("/historian/us/placement", encoded->Encode(), before_revision);
  EXPECT_TRUE(changed.ok() && changed->committed) << changed.status();
  if (!changed.ok() || !changed->committed) return 0;
  return changed->revision;
}

TEST(ClusterJanitorTest, ARestartedNodeDropsShardsItNoLongerOwnsAndKeepsOwnedAndMovingOnes) {
  TempDir dir;
  // No mover: the test writes the moves' states itself.
  ClusterFixture cluster(
      dir.Sub("cluster"),
      {.nodes = 3, .num_shards = 16, .node_flags = {"--cluster_move_test_pause=start"}});
  ASSERT_TRUE(cluster.Start());
  v1::PlacementResponse before;
  ASSERT_TRUE(cluster.Placement(0, &before).ok());
  const int n0 = MemberIndex(before, cluster.address(0));
  const int n1 = MemberIndex(before, cluster.address(1));
  const int n2 = MemberIndex(before, cluster.address(2));
  ASSERT_TRUE(n0 >= 0 && n1 >= 0 && n2 >= 0);

  const auto by_shard = TagsOfShardsOwnedBy(before, n2);
  ASSERT_EQ(by_shard.size(), 4u);
  std::vector<uint32_t> shards;
  std::vector<std::string> tags;  // 2 per shard, in shard order A, B, C, D
  v1::WriteRequest batch;
  for (const auto& [shard, names] : by_shard) {
    shards.push_back(shard);
    for (const std::string& name : names) {
      const int t = static_cast<int>(tags.size());
      tags.push_back(name);
      v1::TagSamples* series = batch.add_series();
      series->set_tag(name);
      for (const auto& [ts, v] : Expected(t)) {
        v1::Sample* s = series->add_samples();
        s->set_timestamp_ns(ts);
        s->mutable_value()->set_double_value(v);
      }
    }
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WriteAck ack;
    grpc::Status s =
        v1::Ingest::NewStub(Channel(cluster.address(0)))->WriteBatch(&ctx, batch, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (size_t t = 0; t < tags.size(); ++t) {
    ASSERT_EQ(LocalSamples(cluster.address(2), tags[t]), Expected(static_cast<int>(t))) << tags[t];
  }
  const uint32_t a = shards[0], b = shards[1], d = shards[3];

  // Node 2 down; the placement changes under it.
  ASSERT_EQ(cluster.StopNode(2), 0);
  v1::PlacementResponse next = before;
  next.set_shard_owner(static_cast<int>(a), n0);  // A: node 0's, no move
  next.set_shard_owner(static_cast<int>(d), n0);  // D: node 0's, moving to node 2
  v1::ShardMove* mb = next.add_moves();
  mb->set_shard(b);
  mb->set_from(n2);
  mb->set_to(n1);
  mb->set_state(v1::SHARD_MOVE_INITIALIZING);
  mb->set_since_unix_ns(kT0);
  v1::ShardMove* md = next.add_moves();
  md->set_shard(d);
  md->set_from(n0);
  md->set_to(n2);
  md->set_state(v1::SHARD_MOVE_PENDING);
  md->set_since_unix_ns(kT0);
  next.set_max_concurrent_moves(2);
  const int64_t moved = PutPlacement(cluster, next, before.revision());
  ASSERT_GT(moved, 0);

  // At its restart, before it serves, node 2 dropped A only.
  ASSERT_TRUE(cluster.StartNode(2));
  v1::PlacementResponse seen;
  ASSERT_TRUE(cluster.Placement(2, &seen).ok());
  ASSERT_EQ(seen.revision(), moved) << "node 2 must start on the changed placement";
  for (size_t t = 0; t < tags.size(); ++t) {
    const bool dropped = t < 2;  // shard A
    const std::map<int64_t, double> want =
        dropped ? std::map<int64_t, double>() : Expected(static_cast<int>(t));
    EXPECT_EQ(LocalSamples(cluster.address(2), tags[t]), want)
        << tags[t] << (dropped ? ": not owned and not moving, must be dropped" : ": must be kept");
  }
  // /metrics says what the janitor did and on which placement.
  {
    httplib::Client http("127.0.0.1", cluster.metrics_port(2));
    auto got = http.Get("/metrics");
    ASSERT_TRUE(got);
    EXPECT_TRUE(absl::StrContains(got->body, "historian_cluster_janitor_shards_dropped_total 1"))
        << got->body;
    EXPECT_TRUE(absl::StrContains(got->body, "historian_cluster_janitor_tags_dropped_total 2"))
        << got->body;
    EXPECT_TRUE(absl::StrContains(got->body,
                                  absl::StrCat("historian_cluster_janitor_done_revision ", moved)))
        << got->body;
  }
  // And a restart does not bring A back.
  cluster.KillNode(2);
  ASSERT_TRUE(cluster.StartNode(2));
  EXPECT_TRUE(LocalSamples(cluster.address(2), tags[0]).empty());
  EXPECT_EQ(LocalSamples(cluster.address(2), tags[2]), Expected(2));

  // B's move ends at node 1 (the mover's last Txn): node 2, running, drops
  // B on that placement; C and D stay.
  v1::PlacementResponse done = next;
  done.set_shard_owner(static_cast<int>(b), n1);
  done.clear_moves();
  v1::ShardMove* md2 = done.add_moves();
  *md2 = next.moves(1);
  done.set_max_concurrent_moves(2);
  const int64_t ended = PutPlacement(cluster, done, moved);
  ASSERT_GT(ended, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return LocalSamples(cluster.address(2), tags[2]).empty() &&
               LocalSamples(cluster.address(2), tags[3]).empty();
      },
      absl::Seconds(60)))
      << "node 2 kept shard " << b << " after its move away ended";
  for (size_t t = 4; t < tags.size(); ++t) {
    EXPECT_EQ(LocalSamples(cluster.address(2), tags[t]), Expected(static_cast<int>(t))) << tags[t];
  }
}

}  // namespace
}  // namespace historian::testing
