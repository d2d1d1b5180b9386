// Placement of tags on a site cluster's virtual shards (api/core/tag_shard.h)
// and the placement value nodes keep in etcd (server/cluster/placement.h).
#include "server/cluster/placement.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"

namespace historian::cluster {
namespace {

std::vector<PlacementMember> Members(int n) {
  std::vector<PlacementMember> members;
  for (int i = 0; i < n; ++i) {
    members.push_back({absl::StrCat("us-", i), absl::StrCat("127.0.0.1:", 7000 + i)});
  }
  return members;
}

// The hash places data: a change would strand every cluster's tags on the
// wrong nodes. These values are fixed forever.
TEST(TagShardTest, ValuesArePinned) {
  EXPECT_EQ(TagPlacementHash(""), 17280346270528514342ull);
  EXPECT_EQ(TagPlacementHash("a"), 9413272369427828315ull);
  EXPECT_EQ(TagPlacementHash("us.line1.press01.oil_temp"), 13244383922920047410ull);
  EXPECT_EQ(TagShard("us.line1.press01.oil_temp", 256), 50u);
  EXPECT_EQ(TagShard("mx.line1.press01.oil_temp", 256), 190u);
  EXPECT_EQ(TagShard("anything", 1), 0u);
}

// Plant tag names differ in their last characters; every shard must still
// get its share (within 20% of the mean over 100,000 names).
TEST(TagShardTest, PlantNamesSpreadEvenly) {
  constexpr uint32_t kShards = 256;
  std::vector<int> count(kShards);
  int names = 0;
  for (int line = 1; line <= 10; ++line) {
    for (int machine = 0; machine < 1000; ++machine) {
      for (const char* signal : {"oil_temp", "pressure", "speed", "state", "count", "current",
                                 "vibration", "flow", "level", "power"}) {
        ++count[TagShard(absl::StrCat("us.line", line, ".m", machine, ".", signal), kShards)];
        ++names;
      }
    }
  }
  const double mean = static_cast<double>(names) / kShards;
  auto [lo, hi] = std::minmax_element(count.begin(), count.end());
  EXPECT_GE(*lo, 0.8 * mean);
  EXPECT_LE(*hi, 1.2 * mean);
}

TEST(PlacementTest, BalancedSpreadsShardsAndRoutesByTagShard) {
  absl::StatusOr<Placement> p = Placement::Balanced("us", 256, Members(3));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->num_shards(), 256u);
  std::vector<uint32_t> all;
  for (const PlacementMember& m : p->members()) {
    std::vector<uint32_t> owned = p->ShardsOwnedBy(m.id);
    EXPECT_GE(owned.size(), 85u);
    EXPECT_LE(owned.size(), 86u);
    for (uint32_t s : owned) EXPECT_EQ(p->OwnerOfShard(s).id, m.id);
    all.insert(all.end(), owned.begin(), owned.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 256u);
  for (uint32_t s = 0; s < 256; ++s) EXPECT_EQ(all[s], s);  // each shard exactly once
  EXPECT_TRUE(p->ShardsOwnedBy("nobody").empty());
  const std::string tag = "us.line1.press01.oil_temp";
  EXPECT_EQ(p->ShardOfTag(tag), TagShard(tag, 256));
  EXPECT_EQ(p->OwnerOfTag(tag).id, p->OwnerOfShard(TagShard(tag, 256)).id);
}

TEST(PlacementTest, InvalidPlacementsNameTheField) {
  auto error = [](absl::StatusOr<Placement> p) {
    EXPECT_FALSE(p.ok());
    return std::string(p.status().message());
  };
  EXPECT_NE(error(Placement::Balanced("", 4, Members(2))).find("site"), std::string::npos);
  EXPECT_NE(error(Placement::Balanced("us", 0, Members(2))).find("num_shards is 0, want 1..65536"),
            std::string::npos);
  EXPECT_NE(error(Placement::Balanced("us", 65537, Members(2))).find("num_shards"),
            std::string::npos);
  EXPECT_NE(error(Placement::Balanced("us", 4, {})).find("members is empty"), std::string::npos);
  std::vector<PlacementMember> twice = Members(2);
  twice[1].id = twice[0].id;
  EXPECT_NE(error(Placement::Balanced("us", 4, twice)).find("member id 'us-0' twice"),
            std::string::npos);
  twice = Members(2);
  twice[1].address = twice[0].address;
  EXPECT_NE(error(Placement::Balanced("us", 4, twice)).find("address"), std::string::npos);
  EXPECT_NE(error(Placement::Create("us", 4, Members(2), {0, 1, 0}, 1)).find("shard_owner has 3"),
            std::string::npos);
  EXPECT_NE(error(Placement::Create("us", 2, Members(2), {0, 2}, 1)).find("shard_owner[1] = 2"),
            std::string::npos);
}

TEST(PlacementTest, EncodeDecodeRoundTripsAndTakesEtcdsRevision) {
  absl::StatusOr<Placement> p = Placement::Create("mx", 4, Members(2), {1, 1, 0, 1}, 0);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<Placement> back = Placement::Decode(p->Encode(), 42);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->revision(), 42);
  EXPECT_EQ(back->site(), "mx");
  EXPECT_EQ(back->ShardsOwnedBy("us-1"), (std::vector<uint32_t>{0, 1, 3}));
  EXPECT_EQ(back->ShardsOwnedBy("us-0"), (std::vector<uint32_t>{2}));
  EXPECT_EQ(back->members()[1].address, "127.0.0.1:7001");

  absl::StatusOr<Placement> garbage = Placement::Decode("\xff\xff\xff", 7);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kDataLoss);
  v1::PlacementResponse wrong = p->ToProto({});
  wrong.add_shard_owner(0);  // five owners for four shards
  absl::StatusOr<Placement> invalid = Placement::Decode(wrong.SerializeAsString(), 7);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(invalid.status().message().find("shard_owner has 5"), std::string::npos);
}

TEST(PlacementTest, ProtoCarriesLivenessAndRevision) {
  absl::StatusOr<Placement> p = Placement::Create("us", 2, Members(2), {0, 1}, 9);
  ASSERT_TRUE(p.ok());
  v1::PlacementResponse proto = p->ToProto({"us-1"});
  EXPECT_EQ(proto.revision(), 9);
  ASSERT_EQ(proto.members_size(), 2);
  EXPECT_FALSE(proto.members(0).alive());
  EXPECT_TRUE(proto.members(1).alive());
  absl::StatusOr<Placement> back = Placement::FromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->revision(), 9);
  EXPECT_EQ(PlacementKey("us"), "/historian/us/placement");
  EXPECT_EQ(MemberKey("us", "us-1"), "/historian/us/members/us-1");
}

}  // namespace
}  // namespace historian::cluster
