// File: cluster_etcd_down_test.cc
// A 3-node site cluster (ClusterFixture) while its etcd is down and after it
// is back (issue 20, "etcd down: nodes keep serving with the last placement
// (placement changes refused with a clear error) and resume when it is
// back"): every node keeps answering Cluster.Placement with the last
// placement and accepts writes and reads of its own tags; a node restarted
// meanwhile serves the placement from its cache; a placement change is
// refused with UNAVAILABLE naming etcd; once etcd is back a change is seen by
// every node, and a member whose lease expired meanwhile registers again.
// A member without a lease for longer than its isolation write fence
// refuses writes of its own shards until it holds one again.
#include <map>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.pb.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/placement.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/site_client.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

// A tag name whose shard the placement gives to the member at `address`.
std::string TagOwnedBy(const v1::PlacementResponse& p, const std::string& address) {
  for (int n = 0;; ++n) {
    std::string tag = absl::StrCat("plant.line", n, ".temp");
    const uint32_t owner = p.shard_owner(static_cast<int>(TagShard(tag, p.num_shards())));
    if (p.members(static_cast<int>(owner)).address() == address) return tag;
  }
}

// `p` with shard 0 given to the next member: a placement change.
std::string NextPlacementValue(const v1::PlacementResponse& p) {
  v1::PlacementResponse next = p;
  next.set_shard_owner(0, (p.shard_owner(0) + 1) % static_cast<uint32_t>(p.members_size()));
  auto placement = cluster::Placement::FromProto(next);
  EXPECT_TRUE(placement.ok()) << placement.status();
  return placement->Encode();
}

std::unique_ptr<cluster::EtcdClient> Client(const std::string& endpoint) {
  cluster::EtcdClientOptions o;
  o.endpoints = {endpoint};
  o.call_timeout = absl::Seconds(2);
  return *cluster::EtcdClient::Create(o);
}

TEST(ClusterEtcdDownTest, NodesServeTheLastPlacementWhileEtcdIsDownAndResumeAfter) {
  TempDir dir;
  // A short lease, so leases expire while etcd is down (etcd restores
  // leases with a fresh TTL on restart; what matters is that each member
  // holds one again afterwards).
  ClusterFixture cluster(dir.Sub("cluster"),
                         {.nodes = 3, .num_shards = 64, .node_flags = {"--cluster_lease_ttl=2s"}});
  ASSERT_TRUE(cluster.Start());
  v1::PlacementResponse before;
  ASSERT_TRUE(cluster.Placement(0, &before).ok());
  auto etcd = Client(cluster.etcd().endpoint());

  cluster.StopEtcd();
  int64_t ts = 1'000'000'000;
  for (int i = 0; i < cluster.size(); ++i) {
    v1::PlacementResponse p;
    ASSERT_TRUE(cluster.Placement(i, &p).ok()) << "node " << i;
    EXPECT_EQ(p.revision(), before.revision()) << "node " << i;
    EXPECT_EQ(p.num_shards(), 64u) << "node " << i;
    EXPECT_EQ(p.shard_owner_size(), 64) << "node " << i;
    // Writes and reads of its own tags go on.
    const std::string tag = TagOwnedBy(p, cluster.address(i));
    SiteClient node(cluster.address(i));
    grpc::Status w = node.Write({{tag, {{ts, 1.5 + i}}}});
    ASSERT_TRUE(w.ok()) << "node " << i << ": " << w.error_message();
    EXPECT_EQ(node.Read(tag), (std::map<int64_t, double>{{ts, 1.5 + i}})) << "node " << i;
  }
  // A placement change is refused, naming etcd.
  auto refused = etcd->PutIfModRevision("/historian/us/placement", NextPlacementValue(before),
                                        before.revision());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), cluster.etcd().endpoint()))
      << refused.status();

  // A node restarted while etcd is down serves the cached placement.
  ASSERT_EQ(cluster.StopNode(2), 0);
  ASSERT_TRUE(cluster.StartNode(2));
  v1::PlacementResponse cached;
  ASSERT_TRUE(cluster.Placement(2, &cached).ok());
  EXPECT_EQ(cached.revision(), before.revision());
  EXPECT_EQ(cached.num_shards(), 64u);

  // etcd back: every member holds a lease again and a change is seen by all.
  ASSERT_TRUE(cluster.StartEtcd());
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return cluster.IsFullPlacement(p); },
      absl::Seconds(30)));
  // This client's channel failed while etcd was down, so it may still be in
  // its reconnect backoff (at most 1 s): wait until it reaches etcd again.
  absl::StatusOr<cluster::EtcdRange> current;
  ASSERT_TRUE(WaitFor([&] { return (current = etcd->Get("/historian/us/placement")).ok(); },
                      absl::Seconds(10)))
      << current.status();
  ASSERT_EQ(current->kvs.size(), 1u);
  auto changed = etcd->PutIfModRevision("/historian/us/placement", NextPlacementValue(before),
                                        current->kvs[0].mod_revision);
  ASSERT_TRUE(changed.ok()) << changed.status();
  ASSERT_TRUE(changed->committed);
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        return p.revision() == changed->revision && p.shard_owner(0) != before.shard_owner(0);
      },
      absl::Seconds(10)))
      << "a placement change after etcd came back was not seen by every node";
}

// Every member cut off from etcd (etcd stopped) for longer than its
// isolation write fence (3 s here) refuses writes of every shard it owns,
// UNAVAILABLE naming the fence, nothing stored (forwarded parts too), and
// still answers queries with every sample it acknowledged; once it holds a
// lease again it takes writes again. `remove-node --lost` gives a member's
// shards away only after its fence (placement_change_test), so a member
// alive but cut off from etcd never acknowledges a write of a shard given
// away (docs/cluster.md, "A member cut off for longer").
TEST(ClusterEtcdDownTest, AMemberWithoutALeaseLongerThanItsIsolationFenceRefusesItsWrites) {
  TempDir dir;
  ClusterFixture cluster(
      dir.Sub("cluster"),
      {.nodes = 3,
       .num_shards = 16,
       .node_flags = {"--cluster_lease_ttl=2s", "--cluster_isolation_write_fence=3s"}});
  ASSERT_TRUE(cluster.Start());
  v1::PlacementResponse p;
  ASSERT_TRUE(cluster.Placement(0, &p).ok());
  const std::string own0 = TagOwnedBy(p, cluster.address(0));
  const std::string own1 = TagOwnedBy(p, cluster.address(1));
  SiteClient node0(cluster.address(0));
  std::map<int64_t, double> stored0;  // every sample of own0 node 0 stored
  int64_t ts = 1'000'000'000;
  auto write0 = [&](const std::string& tag, double value) {
    ts += 1000;
    grpc::Status w = node0.Write({{tag, {{ts, value}}}});
    // Admitted before the fence, committed after: stored, not acknowledged.
    const bool stored_unacked =
        absl::StrContains(w.error_message(), "stored here but not acknowledged");
    if (tag == own0 && (w.ok() || stored_unacked)) stored0[ts] = value;
    return stored_unacked ? grpc::Status(grpc::StatusCode::UNKNOWN, "stored, retry") : w;
  };
  ASSERT_TRUE(write0(own0, 1.0).ok());

  cluster.StopEtcd();
  grpc::Status w;
  ASSERT_TRUE(
      WaitFor([&] { return (w = write0(own0, 2.0)).error_code() == grpc::StatusCode::UNAVAILABLE; },
              absl::Seconds(60)))
      << "a member cut off from etcd kept taking writes of its shards: " << w.error_message();
  EXPECT_TRUE(absl::StrContains(w.error_message(), "which this member owns")) << w.error_message();
  EXPECT_TRUE(absl::StrContains(w.error_message(), "isolation write fence (3 s)"))
      << w.error_message();
  EXPECT_TRUE(absl::StrContains(w.error_message(), "nothing of this batch was stored"))
      << w.error_message();
  // Forwarded by node 0 to node 1, cut off as well: refused there.
  ASSERT_TRUE(
      WaitFor([&] { return (w = write0(own1, 3.0)).error_code() == grpc::StatusCode::UNAVAILABLE; },
              absl::Seconds(60)))
      << w.error_message();
  EXPECT_TRUE(absl::StrContains(w.error_message(), "isolation write fence")) << w.error_message();
  // Queries go on: every sample stored, none of the refused ones.
  EXPECT_EQ(node0.Read(own0), stored0);

  ASSERT_TRUE(cluster.StartEtcd());
  ASSERT_TRUE(WaitFor([&] { return (w = write0(own0, 4.0)).ok(); }, absl::Seconds(60)))
      << "a member holding a lease again still refuses: " << w.error_message();
  ASSERT_TRUE(WaitFor([&] { return write0(own1, 5.0).ok(); }, absl::Seconds(60)));
  EXPECT_EQ(node0.Read(own0), stored0);
}

// A member whose lease is revoked (as if it expired) registers again with a
// new lease; every node sees it alive again.
TEST(ClusterEtcdDownTest, AMemberWhoseLeaseIsRevokedRegistersAgain) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 3, .num_shards = 16, .node_flags = {}});
  ASSERT_TRUE(cluster.Start());
  auto etcd = Client(cluster.etcd().endpoint());
  const std::string key = "/historian/us/members/" + cluster.member_id(1);
  auto before = etcd->Get(key);
  ASSERT_TRUE(before.ok() && before->kvs.size() == 1);
  const int64_t lease = before->kvs[0].lease;
  ASSERT_NE(lease, 0);
  ASSERT_TRUE(etcd->RevokeLease(lease).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        auto now = etcd->Get(key);
        return now.ok() && now->kvs.size() == 1 && now->kvs[0].lease != lease &&
               now->kvs[0].lease != 0;
      },
      absl::Seconds(20)))
      << "the member key did not come back under a new lease";
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return cluster.IsFullPlacement(p); },
      absl::Seconds(10)));
}

}  // namespace
}  // namespace historian::testing
