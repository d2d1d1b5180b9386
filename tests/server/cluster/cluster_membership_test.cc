// File: cluster_membership_test.cc
// A site cluster end to end: a real etcd and three real historiand nodes
// started with --cluster_etcd, `historian cluster init` through the CLI
// (ClusterFixture). Every node serves the same placement with every member
// alive and about a third of the shards each; init refuses to run twice;
// a restarted node keeps its member id; bad flags name the flag.
#include <httplib.h>

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/site_client.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

std::map<std::string, int> ShardsPerMember(const v1::PlacementResponse& p) {
  std::map<std::string, int> shards;
  for (uint32_t owner : p.shard_owner()) ++shards[p.members(static_cast<int>(owner)).id()];
  return shards;
}

bool AliveById(const v1::PlacementResponse& p, const std::string& id) {
  for (const v1::ClusterMember& m : p.members()) {
    if (m.id() == id) return m.alive();
  }
  return false;
}

TEST(ClusterMembershipTest, EveryNodeServesOnePlacementWithEveryMemberAlive) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"),
                         {.nodes = 3, .site = "us", .num_shards = 256, .node_flags = {}});
  ASSERT_TRUE(cluster.Start());

  v1::PlacementResponse first;
  ASSERT_TRUE(cluster.Placement(0, &first).ok());
  EXPECT_EQ(first.site(), "us");
  EXPECT_EQ(first.num_shards(), 256u);
  EXPECT_GT(first.revision(), 0);
  ASSERT_EQ(first.members_size(), 3);
  ASSERT_EQ(first.shard_owner_size(), 256);
  std::vector<std::string> ids;
  for (const v1::ClusterMember& m : first.members()) {
    EXPECT_TRUE(m.alive()) << m.id();
    ids.push_back(m.id());
  }
  std::vector<std::string> expected_ids = {cluster.member_id(0), cluster.member_id(1),
                                           cluster.member_id(2)};
  std::sort(expected_ids.begin(), expected_ids.end());
  EXPECT_EQ(ids, expected_ids) << "members sorted by id, exactly the three nodes";
  // Each member owns 256/3 shards, ±1.
  for (const auto& [id, shards] : ShardsPerMember(first)) {
    EXPECT_GE(shards, 85) << id;
    EXPECT_LE(shards, 86) << id;
  }
  // Every node answers the same placement (same revision, same owners).
  for (int i = 1; i < cluster.size(); ++i) {
    v1::PlacementResponse p;
    ASSERT_TRUE(cluster.Placement(i, &p).ok());
    EXPECT_EQ(p.SerializeAsString(), first.SerializeAsString()) << "node " << i;
  }
  // Each member's address is the node's own.
  for (int i = 0; i < cluster.size(); ++i) {
    bool found = false;
    for (const v1::ClusterMember& m : first.members()) {
      if (m.id() == cluster.member_id(i)) {
        found = true;
        EXPECT_EQ(m.address(), cluster.address(i));
      }
    }
    EXPECT_TRUE(found) << cluster.member_id(i);
  }

  // /metrics: the node's share of the placement and the members it sees.
  for (int i = 0; i < cluster.size(); ++i) {
    httplib::Client http("127.0.0.1", cluster.metrics_port(i));
    auto got = http.Get("/metrics");
    ASSERT_TRUE(got) << "node " << i;
    const std::string& text = got->body;
    const int owned = ShardsPerMember(first)[cluster.member_id(i)];
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat("historian_cluster_owned_shards ", owned)))
        << text;
    EXPECT_TRUE(absl::StrContains(text, "historian_cluster_shards 256")) << text;
    EXPECT_TRUE(absl::StrContains(text, "historian_cluster_members 3")) << text;
    EXPECT_TRUE(absl::StrContains(text, "historian_cluster_members_alive 3")) << text;
    EXPECT_TRUE(absl::StrContains(text, "historian_cluster_etcd_reachable 1")) << text;
    EXPECT_TRUE(absl::StrContains(
        text, absl::StrCat("historian_cluster_placement_revision ", first.revision())))
        << text;
  }

  // Status through another node: three members, alive, shards per member.
  CommandResult status = cluster.Cli(2, {"cluster", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "shards:             256")) << status.out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(absl::StrContains(status.out, cluster.member_id(i))) << status.out;
  }
  EXPECT_FALSE(absl::StrContains(status.out, " NO ")) << status.out;

  // Init runs once per site: again fails, naming the key and the shard count.
  CommandResult again = cluster.Cli(1, {"cluster", "init", "--shards=64"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(again.err, "FAILED_PRECONDITION")) << again.err;
  EXPECT_TRUE(absl::StrContains(again.err, "/historian/us/cluster")) << again.err;
  EXPECT_TRUE(absl::StrContains(again.err, "num_shards=256")) << again.err;
  v1::PlacementResponse after;
  ASSERT_TRUE(cluster.Placement(1, &after).ok());
  EXPECT_EQ(after.revision(), first.revision()) << "a refused init changed the placement";
}

TEST(ClusterMembershipTest, ARestartedNodeKeepsItsMemberIdAndShowsDeadWhileStopped) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"),
                         {.nodes = 3, .site = "us", .num_shards = 64, .node_flags = {}});
  ASSERT_TRUE(cluster.Start());
  const std::string id = cluster.member_id(1);
  ASSERT_FALSE(id.empty());
  v1::PlacementResponse before;
  ASSERT_TRUE(cluster.Placement(0, &before).ok());

  // A clean stop revokes the lease: the others see the member dead at once
  // (well before its 10 s TTL would end), and the placement is unchanged.
  ASSERT_EQ(cluster.StopNode(1), 0);
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return !AliveById(p, id); }, absl::Seconds(5)));
  v1::PlacementResponse stopped;
  ASSERT_TRUE(cluster.Placement(2, &stopped).ok());
  EXPECT_EQ(stopped.revision(), before.revision());
  EXPECT_EQ(stopped.members_size(), 3);

  ASSERT_TRUE(cluster.StartNode(1));
  EXPECT_EQ(cluster.member_id(1), id) << "a restart changed the member id";
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return cluster.IsFullPlacement(p); },
      absl::Seconds(20)));
  v1::PlacementResponse restarted;
  ASSERT_TRUE(cluster.Placement(1, &restarted).ok());
  EXPECT_EQ(restarted.revision(), before.revision());
  EXPECT_TRUE(AliveById(restarted, id));

  // Killed (no revoke): still the same id after the restart; registering
  // again takes over its own key although the old lease may still live.
  cluster.KillNode(1);
  ASSERT_TRUE(cluster.StartNode(1));
  EXPECT_EQ(cluster.member_id(1), id);
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return cluster.IsFullPlacement(p); },
      absl::Seconds(20)));
}

TEST(ClusterMembershipTest, BadClusterFlagsNameTheFlag) {
  TempDir dir;
  struct Case {
    std::vector<std::string> flags;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"--cluster_etcd=nonsense"}, "--cluster_etcd: 'nonsense' is not host:port"},
      {{"--cluster_etcd=127.0.0.1:2379,127.0.0.1:2379"}, "given twice"},
      {{"--cluster_member_id=n1"}, "--cluster_member_id is given but --cluster_etcd is empty"},
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_member_id=bad id"},
       "--cluster_member_id: 'bad id' is not a member id"},
      {{"--cluster_etcd=127.0.0.1:2379", "--listen=0.0.0.0:0"}, "give --cluster_advertise"},
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_advertise=0.0.0.0:7400"},
       "--cluster_advertise: '0.0.0.0:7400'"},
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_lease_ttl=100ms"},
       "--cluster_lease_ttl: 100ms is outside 1s..1h"},
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_isolation_write_fence=25h"},
       "--cluster_isolation_write_fence: 25h is outside 1s..24h"},
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_forward_timeout=0s"},
       "--cluster_forward_timeout: 0 is outside 1s..1h"},
  };
  int n = 0;
  for (const Case& c : cases) {
    std::vector<std::string> argv = {"historiand", "--data_dir=" + dir.Sub(absl::StrCat("d", n++)),
                                     "--listen=127.0.0.1:0", "--metrics_listen="};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    CommandResult r = RunCommand(argv);
    EXPECT_EQ(r.exit_code, 2) << c.want << "\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.want)) << "want '" << c.want << "' in:\n" << r.err;
  }
}

TEST(ClusterMembershipTest, AMemberIdGivenLaterMustMatchTheStoredOne) {
  TempDir dir;
  EtcdProcess etcd(dir.Sub("etcd"));
  ASSERT_TRUE(etcd.Start());
  const std::string data = dir.Sub("node");
  const std::vector<std::string> flags = {"--metrics_listen=", "--cluster_etcd=" + etcd.endpoint(),
                                          "--cluster_member_id=alpha"};
  {
    NodeProcess node(data, flags);
    ASSERT_TRUE(node.Start());
    ASSERT_EQ(node.Stop(), 0);
  }
  CommandResult r = RunCommand({"historiand", "--data_dir=" + data, "--listen=127.0.0.1:0",
                                "--metrics_listen=", "--cluster_etcd=" + etcd.endpoint(),
                                "--cluster_member_id=beta"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "this data dir belongs to member 'alpha'")) << r.err;
}

// A node that ran alone for a while becomes the first member of a new
// cluster without moving its data: init gives it every shard and what it
// stored reads back.
TEST(ClusterMembershipTest, ASingleNodeBecomesTheFirstMemberKeepingItsData) {
  TempDir dir;
  const std::string data = dir.Sub("node");
  const std::string listen = absl::StrCat("--listen=127.0.0.1:", FreePort());
  {
    NodeProcess alone(data, {listen, "--metrics_listen=", "--site=us"});
    ASSERT_TRUE(alone.Start());
    SiteClient client(alone.address());
    ASSERT_TRUE(
        client.Write({{"plant.a", {{1000, 1.0}, {2000, 2.0}}}, {"plant.b", {{1000, 7.0}}}}).ok());
    ASSERT_EQ(alone.Stop(), 0);
  }
  EtcdProcess etcd(dir.Sub("etcd"));
  ASSERT_TRUE(etcd.Start());
  NodeProcess member(
      data, {listen, "--metrics_listen=", "--site=us", "--cluster_etcd=" + etcd.endpoint()});
  ASSERT_TRUE(member.Start());
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(
            etcd.Ctl({"get", "--prefix", "--keys-only", "/historian/us/members/"}).out,
            "/historian/us/members/");
      },
      absl::Seconds(20)));
  CommandResult init = RunCommand({"historian", "--server=" + member.address(), "cluster", "init"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_TRUE(absl::StrContains(init.out, "256 shards, 1 member(s)")) << init.out;
  auto stub = v1::Cluster::NewStub(
      grpc::CreateChannel(member.address(), grpc::InsecureChannelCredentials()));
  v1::PlacementResponse p;
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext ctx;
        return stub->Placement(&ctx, v1::PlacementRequest(), &p).ok() && p.num_shards() == 256;
      },
      absl::Seconds(10)));
  ASSERT_EQ(p.members_size(), 1);
  EXPECT_EQ(p.members(0).address(), member.address());
  for (uint32_t owner : p.shard_owner()) ASSERT_EQ(owner, 0u);
  SiteClient client(member.address());
  EXPECT_EQ(client.Read("plant.a"), (std::map<int64_t, double>{{1000, 1.0}, {2000, 2.0}}));
  EXPECT_EQ(client.Read("plant.b"), (std::map<int64_t, double>{{1000, 7.0}}));
}

}  // namespace
}  // namespace historian::testing
