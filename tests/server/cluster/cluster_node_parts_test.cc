// File: cluster_node_parts_test.cc
// The pure parts of a cluster node: the --cluster_* flag parsing, the text
// values kept in etcd (cluster config, member record) and the member id kept
// in the data dir.
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/cluster/cluster_flags.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/member_id.h"
#include "tests/testutil/temp_dir.h"

namespace historian::cluster {
namespace {

TEST(ClusterFlagsTest, EtcdEndpoints) {
  EXPECT_TRUE(ParseEtcdEndpointsFlag("")->empty());
  auto two = ParseEtcdEndpointsFlag("10.0.0.5:2379, etcd-b:2379");
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(*two, (std::vector<std::string>{"10.0.0.5:2379", "etcd-b:2379"}));
  for (const char* bad : {"host", ":2379", "host:0", "host:x", "host:70000", "a:1,,b:2",
                          "https://10.0.0.5:2379", "http://etcd-b:2379"}) {
    auto r = ParseEtcdEndpointsFlag(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "--cluster_etcd")) << r.status();
  }
}

TEST(ClusterFlagsTest, AdvertiseAddress) {
  EXPECT_EQ(*ResolveAdvertiseAddress("node1:7400", "0.0.0.0:7400", 7400), "node1:7400");
  EXPECT_EQ(*ResolveAdvertiseAddress("", "127.0.0.1:0", 0), "") << "known after bind";
  EXPECT_EQ(*ResolveAdvertiseAddress("", "127.0.0.1:0", 41234), "127.0.0.1:41234");
  EXPECT_EQ(*ResolveAdvertiseAddress("", "10.1.2.3:7400", 7400), "10.1.2.3:7400");
  auto wildcard = ResolveAdvertiseAddress("", "0.0.0.0:7400", 7400);
  EXPECT_TRUE(absl::StrContains(wildcard.status().message(), "--cluster_advertise"));
  auto bad = ResolveAdvertiseAddress("[::]:7400", "127.0.0.1:7400", 7400);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "--cluster_advertise: '[::]:7400'"));
}

TEST(ClusterKeysTest, ValuesRoundTripAndBadOnesNameTheField) {
  EXPECT_EQ(SitePrefix("us"), "/historian/us/");
  EXPECT_EQ(ClusterConfigKey("us"), "/historian/us/cluster");
  ClusterConfig c{256, 1, 1764640000000000000};
  auto c2 = DecodeClusterConfig(EncodeClusterConfig(c));
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->num_shards, 256u);
  EXPECT_EQ(c2->format_version, 1u);
  EXPECT_EQ(c2->created_unix_ns, c.created_unix_ns);
  auto bad = DecodeClusterConfig("num_shards=many\nformat_version=1\ncreated_unix_ns=0\n");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "num_shards")) << bad.status();

  MemberRecord m{"127.0.0.1:7400", 42, 1};
  auto m2 = DecodeMemberRecord(EncodeMemberRecord(m) + "future_field=x\n");
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_EQ(m2->address, m.address);
  EXPECT_EQ(m2->start_unix_ns, 42);
  EXPECT_EQ(m2->isolation_fence_ms, 0) << "not published";
  EXPECT_FALSE(m2->write_slices);
  // What a node of this version publishes; a record without the fields
  // (an older node) reads as neither.
  auto m3 = DecodeMemberRecord(EncodeMemberRecord({"127.0.0.1:7400", 42, 1, 60000, true}));
  ASSERT_TRUE(m3.ok()) << m3.status();
  EXPECT_EQ(m3->isolation_fence_ms, 60000);
  EXPECT_TRUE(m3->write_slices);
  auto older = DecodeMemberRecord("address=127.0.0.1:7400\nstart_unix_ns=1\nversion=1\n");
  ASSERT_TRUE(older.ok()) << older.status();
  EXPECT_EQ(older->isolation_fence_ms, 0);
  EXPECT_FALSE(older->write_slices);
  EXPECT_EQ(DecodeMemberRecord("start_unix_ns=1\nversion=1\n").status().code(),
            absl::StatusCode::kDataLoss);

  MoveProgress p{"us-3", "copy", 4096, 1 << 20, -1, 12, 99};
  auto p2 = DecodeMoveProgress(EncodeMoveProgress(p));
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_EQ(p2->to, "us-3");
  EXPECT_EQ(p2->step, "copy");
  EXPECT_EQ(p2->bytes_copied, 4096);
  EXPECT_EQ(p2->bytes_total, 1 << 20);
  EXPECT_EQ(p2->entries_behind, -1);
  EXPECT_EQ(p2->eta_seconds, 12);
  // A report written before bytes_total existed: unknown, not an error.
  auto old = DecodeMoveProgress(
      "to=us-3\nstep=tail\nbytes_copied=7\nentries_behind=3\neta_seconds=1\nupdated_unix_ns=5\n");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->bytes_total, -1);
  auto bad_total = DecodeMoveProgress(EncodeMoveProgress(p) + "bytes_total=lots\n");
  EXPECT_EQ(bad_total.status().code(), absl::StatusCode::kDataLoss);
}

TEST(MemberIdTest, DerivedOnceThenKept) {
  testing::TempDir dir;
  const std::string data = dir.Sub("node");
  auto first = LoadOrCreateMemberId(data, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(ValidateMemberId(*first, "id").ok()) << *first;
  EXPECT_EQ(*LoadOrCreateMemberId(data, ""), *first);
  EXPECT_EQ(*LoadOrCreateMemberId(data, *first), *first);
  auto other = LoadOrCreateMemberId(data, "someone-else");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "belongs to member")) << other.status();
  // Another data dir on the same host gets another id.
  EXPECT_NE(*LoadOrCreateMemberId(dir.Sub("node2"), ""), *first);
}

TEST(MemberIdTest, GivenIdIsStoredAndValidated) {
  testing::TempDir dir;
  EXPECT_EQ(*LoadOrCreateMemberId(dir.Sub("a"), "us-1"), "us-1");
  EXPECT_EQ(*LoadOrCreateMemberId(dir.Sub("a"), ""), "us-1");
  auto bad = LoadOrCreateMemberId(dir.Sub("b"), "no/slash");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "--cluster_member_id")) << bad.status();
}

}  // namespace
}  // namespace historian::cluster
