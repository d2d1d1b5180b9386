// Placement of tags on a site cluster's virtual shards (api/core/tag_shard.h)
// and the placement value nodes keep in etcd (server/cluster/placement.h).
#include "server/cluster/placement.h"

#include <algorithm>
#include <functional>
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

// Moves (issue 21) are part of the stored placement; a placement written
// before them (no moves) decodes as every shard AVAILABLE at its owner.
TEST(PlacementMovesTest, MovesRoundTripAndOldEncodingsHaveNone) {
  std::vector<PlacementMember> members = Members(3);
  members[2].leaving = true;
  PlacementMoves moves;
  moves.max_concurrent = 2;
  moves.moves = {{1, 2, 0, ShardMoveState::kInitializing, 111},
                 {3, 1, 0, ShardMoveState::kFlipped, 222},
                 {4, 2, 1, ShardMoveState::kPending, 333}};
  absl::StatusOr<Placement> p = Placement::Create("us", 6, members, {0, 2, 1, 0, 2, 1}, 0, moves);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<Placement> back = Placement::Decode(p->Encode(), 12);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->moves().moves.size(), 3u);
  EXPECT_EQ(back->moves().max_concurrent, 2u);
  const ShardMove* m = back->MoveOfShard(3);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->from, 1u);
  EXPECT_EQ(m->to, 0u);
  EXPECT_EQ(m->state, ShardMoveState::kFlipped);
  EXPECT_EQ(m->since_unix_ns, 222);
  EXPECT_EQ(back->MoveOfShard(0), nullptr);
  EXPECT_TRUE(back->members()[2].leaving);
  EXPECT_FALSE(back->members()[0].leaving);
  // Routing stays by owner: the source until the flip, the target after.
  EXPECT_EQ(back->OwnerOfShard(1).id, "us-2");
  EXPECT_EQ(back->OwnerOfShard(3).id, "us-0");
  EXPECT_EQ(back->FindMember("127.0.0.1:7001"), 1);
  EXPECT_EQ(back->FindMember("us-2"), 2);
  EXPECT_EQ(back->FindMember("nobody"), -1);

  // The encoding of issue 20 (fields 1..5 only) has no moves.
  v1::PlacementResponse old;
  old.set_site("us");
  old.set_num_shards(2);
  for (const PlacementMember& pm : Members(2)) {
    v1::ClusterMember* cm = old.add_members();
    cm->set_id(pm.id);
    cm->set_address(pm.address);
  }
  old.add_shard_owner(1);
  old.add_shard_owner(0);
  absl::StatusOr<Placement> legacy = Placement::Decode(old.SerializeAsString(), 5);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_FALSE(legacy->has_moves());
  EXPECT_EQ(legacy->OwnerOfShard(0).id, "us-1");
}

TEST(PlacementMovesTest, InconsistentMovesAreDataLossNamingTheField) {
  absl::StatusOr<Placement> base = Placement::Create("us", 4, Members(3), {0, 1, 2, 0}, 0);
  ASSERT_TRUE(base.ok());
  const v1::PlacementResponse good = base->ToProto({});
  struct Case {
    std::string name;
    std::function<void(v1::PlacementResponse*)> edit;
    std::string want;
  };
  auto move = [](v1::PlacementResponse* p, uint32_t shard, uint32_t from, uint32_t to,
                 v1::ShardMoveState state) {
    v1::ShardMove* m = p->add_moves();
    m->set_shard(shard);
    m->set_from(from);
    m->set_to(to);
    m->set_state(state);
    p->set_max_concurrent_moves(2);
  };
  const std::vector<Case> cases = {
      {"shard out of range", [&](auto* p) { move(p, 4, 0, 1, v1::SHARD_MOVE_PENDING); },
       "moves[0] (shard 4 0->1): shard is 4, want < num_shards = 4"},
      {"shard twice",
       [&](auto* p) {
         move(p, 0, 0, 1, v1::SHARD_MOVE_PENDING);
         move(p, 0, 0, 2, v1::SHARD_MOVE_PENDING);
       },
       "moves[1] (shard 0 0->2): shard 0 moves twice (also moves[0])"},
      {"bad member index", [&](auto* p) { move(p, 0, 0, 3, v1::SHARD_MOVE_PENDING); },
       "from/to is not a member index, want < 3 members"},
      {"from equals to", [&](auto* p) { move(p, 0, 0, 0, v1::SHARD_MOVE_PENDING); }, "from = to"},
      {"unspecified state", [&](auto* p) { move(p, 0, 0, 1, v1::SHARD_MOVE_STATE_UNSPECIFIED); },
       "state is 0, want PENDING, INITIALIZING or FLIPPED"},
      {"pending move not from the owner",
       [&](auto* p) { move(p, 1, 0, 2, v1::SHARD_MOVE_PENDING); },
       "shard_owner[1] = 1 but a PENDING move wants 0"},
      {"flipped move whose owner is still the source",
       [&](auto* p) { move(p, 1, 1, 2, v1::SHARD_MOVE_FLIPPED); },
       "shard_owner[1] = 1 but a FLIPPED move wants 2"},
      {"moves without a concurrency",
       [&](auto* p) {
         move(p, 0, 0, 1, v1::SHARD_MOVE_PENDING);
         p->set_max_concurrent_moves(0);
       },
       "max_concurrent_moves is 0 with 1 moves, want 1..64"},
      {"a concurrency without moves", [&](auto* p) { p->set_max_concurrent_moves(2); },
       "max_concurrent_moves is 2 with no moves, want 0"},
      {"more initializing than allowed",
       [&](auto* p) {
         move(p, 0, 0, 1, v1::SHARD_MOVE_INITIALIZING);
         move(p, 1, 1, 2, v1::SHARD_MOVE_INITIALIZING);
         move(p, 2, 2, 0, v1::SHARD_MOVE_INITIALIZING);
       },
       "moves: 3 INITIALIZING, more than max_concurrent_moves = 2"},
      {"moving to a leaving member",
       [&](auto* p) {
         p->mutable_members(2)->set_leaving(true);
         move(p, 2, 2, 0, v1::SHARD_MOVE_PENDING);
         move(p, 0, 0, 2, v1::SHARD_MOVE_PENDING);
       },
       "to names member 'us-2', which is leaving"},
      {"a leaving member keeping a shard",
       [&](auto* p) { p->mutable_members(1)->set_leaving(true); },
       "members[1] 'us-1' is leaving but shard_owner[1] has no move away from it"},
  };
  for (const Case& c : cases) {
    v1::PlacementResponse bad = good;
    c.edit(&bad);
    absl::StatusOr<Placement> decoded = Placement::Decode(bad.SerializeAsString(), 3);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << c.name;
    EXPECT_NE(decoded.status().message().find(c.want), std::string::npos)
        << c.name << ": " << decoded.status();
    absl::StatusOr<Placement> from_proto = Placement::FromProto(bad);
    EXPECT_EQ(from_proto.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
  }
}

}  // namespace
}  // namespace historian::cluster
