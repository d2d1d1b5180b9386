// Plans of `historian cluster add-node` / `remove-node`
// (server/cluster/move_plan.h): owners unchanged, moves PENDING, the result
// balanced, and the fewest shards moved; over N = 1..8 members and
// S = 16..256 shards.
#include "server/cluster/move_plan.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/cluster/move_transitions.h"

namespace historian::cluster {
namespace {

std::vector<PlacementMember> Members(int n) {
  std::vector<PlacementMember> members;
  for (int i = 0; i < n; ++i) {
    members.push_back({absl::StrCat("m-", i), absl::StrCat("127.0.0.1:", 7000 + i)});
  }
  return members;
}

// Shards each member owns once every move of `p` is done.
std::vector<size_t> CountsAfter(const Placement& p) {
  std::vector<uint32_t> owner = p.shard_owner();
  for (const ShardMove& m : p.moves().moves) owner[m.shard] = m.to;
  std::vector<size_t> counts(p.members().size(), 0);
  for (uint32_t o : owner) ++counts[o];
  return counts;
}

// What every plan must be: the same owners (routing unchanged), each move
// from the shard's owner, PENDING, to a member not leaving, each shard at
// most once; afterwards the members not leaving own S/N or S/N + 1 shards
// and the leaving ones none.
void ExpectValidBalancedPlan(const Placement& before, const Placement& plan, std::string what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(plan.num_shards(), before.num_shards());
  for (uint32_t s = 0; s < plan.num_shards(); ++s) {
    EXPECT_EQ(plan.OwnerOfShard(s).id, before.OwnerOfShard(s).id) << "shard " << s;
  }
  std::set<uint32_t> shards;
  for (const ShardMove& m : plan.moves().moves) {
    EXPECT_TRUE(shards.insert(m.shard).second);
    EXPECT_EQ(m.from, plan.shard_owner()[m.shard]);
    EXPECT_EQ(m.state, ShardMoveState::kPending);
    EXPECT_EQ(m.since_unix_ns, 77);
    EXPECT_FALSE(plan.members()[m.to].leaving);
  }
  std::vector<size_t> counts = CountsAfter(plan);
  size_t active = 0;
  for (size_t i = 0; i < counts.size(); ++i) active += plan.members()[i].leaving ? 0 : 1;
  const size_t q = plan.num_shards() / active;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (plan.members()[i].leaving) {
      EXPECT_EQ(counts[i], 0u) << plan.members()[i].id;
    } else {
      EXPECT_GE(counts[i], q) << plan.members()[i].id;
      EXPECT_LE(counts[i], q + 1) << plan.members()[i].id;
    }
  }
  // Survives the trip through etcd.
  absl::StatusOr<Placement> back = Placement::Decode(plan.Encode(), 9);
  EXPECT_TRUE(back.ok()) << back.status();
}

TEST(MovePlanTest, AddMemberTakesItsShareEvenlyFromTheOthersAndNoMore) {
  for (int n = 1; n <= 8; ++n) {
    for (uint32_t s : {16u, 17u, 31u, 64u, 100u, 255u, 256u}) {
      absl::StatusOr<Placement> before = Placement::Balanced("us", s, Members(n));
      ASSERT_TRUE(before.ok());
      absl::StatusOr<Placement> plan = PlanAddMember(*before, {"new", "127.0.0.1:9999"},
                                                     {.now_unix_ns = 77, .max_concurrent = 3});
      ASSERT_TRUE(plan.ok()) << plan.status();
      const std::string what = absl::StrCat("N=", n, " S=", s);
      ExpectValidBalancedPlan(*before, *plan, what);
      ASSERT_EQ(plan->members().size(), static_cast<size_t>(n + 1));
      EXPECT_EQ(plan->members().back().id, "new");
      // The minimum: the new member's share, floor(S/(N+1)), all to it.
      EXPECT_EQ(plan->moves().moves.size(), s / (n + 1)) << what;
      for (const ShardMove& m : plan->moves().moves) EXPECT_EQ(m.to, static_cast<uint32_t>(n));
      // Taken evenly: no member gives more than one shard above another.
      std::vector<size_t> given(n, 0);
      for (const ShardMove& m : plan->moves().moves) ++given[m.from];
      auto [lo, hi] = std::minmax_element(given.begin(), given.end());
      EXPECT_LE(*hi - *lo, 1u) << what;
      EXPECT_EQ(plan->moves().max_concurrent, plan->has_moves() ? 3u : 0u);
    }
  }
}

TEST(MovePlanTest, RemoveMemberSpreadsItsShardsEvenlyAndMovesNothingElse) {
  for (int n = 2; n <= 8; ++n) {
    for (uint32_t s : {16u, 17u, 31u, 64u, 100u, 255u, 256u}) {
      absl::StatusOr<Placement> before = Placement::Balanced("us", s, Members(n));
      ASSERT_TRUE(before.ok());
      for (int gone = 0; gone < n; gone += (n > 3 ? n - 1 : 1)) {
        const std::string what = absl::StrCat("N=", n, " S=", s, " removing m-", gone);
        absl::StatusOr<Placement> plan =
            PlanRemoveMember(*before, absl::StrCat("m-", gone), {.now_unix_ns = 77});
        ASSERT_TRUE(plan.ok()) << plan.status();
        ExpectValidBalancedPlan(*before, *plan, what);
        EXPECT_TRUE(plan->members()[gone].leaving) << what;
        EXPECT_EQ(plan->moves().moves.size(),
                  before->ShardsOwnedBy(absl::StrCat("m-", gone)).size())
            << what;
        for (const ShardMove& m : plan->moves().moves) {
          EXPECT_EQ(m.from, static_cast<uint32_t>(gone)) << what;
        }
        EXPECT_EQ(plan->moves().max_concurrent, kDefaultConcurrentMoves);
      }
    }
  }
}

TEST(MovePlanTest, AddThenRemoveOfAnUnbalancedPlacementStillBalances) {
  // Every shard at m-0 of three members: adding m-3 gives everyone a share.
  absl::StatusOr<Placement> before =
      Placement::Create("us", 16, Members(3), std::vector<uint32_t>(16, 0), 4);
  ASSERT_TRUE(before.ok());
  absl::StatusOr<Placement> plan =
      PlanAddMember(*before, {"m-3", "127.0.0.1:7003"}, {.now_unix_ns = 77});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectValidBalancedPlan(*before, *plan, "unbalanced");
  EXPECT_EQ(plan->moves().moves.size(), 12u);  // m-0 keeps 4 of 16
}

TEST(MovePlanTest, RefusedWhileAChangeIsInProgressNamingItsMoves) {
  absl::StatusOr<Placement> before = Placement::Balanced("us", 16, Members(2));
  ASSERT_TRUE(before.ok());
  absl::StatusOr<Placement> plan =
      PlanAddMember(*before, {"m-2", "127.0.0.1:7002"}, {.now_unix_ns = 77});
  ASSERT_TRUE(plan.ok());
  absl::StatusOr<Placement> again =
      PlanAddMember(*plan, {"m-3", "127.0.0.1:7003"}, {.now_unix_ns = 78});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("a placement change is in progress"), std::string::npos);
  EXPECT_NE(again.status().message().find("5 move(s) in progress: shard"), std::string::npos)
      << again.status();
  EXPECT_NE(again.status().message().find("->m-2 PENDING since 1970-01-01T00:00:00Z"),
            std::string::npos)
      << again.status();
  absl::StatusOr<Placement> remove = PlanRemoveMember(*plan, "m-0", {.now_unix_ns = 78});
  EXPECT_EQ(remove.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MovePlanTest, BadRequestsNameTheProblem) {
  absl::StatusOr<Placement> one = Placement::Balanced("us", 16, Members(1));
  ASSERT_TRUE(one.ok());
  absl::StatusOr<Placement> p = PlanRemoveMember(*one, "m-0", {});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("only member"), std::string::npos);
  p = PlanRemoveMember(*one, "nobody", {});
  EXPECT_NE(p.status().message().find("'nobody' is no member"), std::string::npos);
  p = PlanAddMember(*one, {"m-0", "127.0.0.1:1"}, {});
  EXPECT_NE(p.status().message().find("in the placement already"), std::string::npos);
  p = PlanAddMember(*one, {"x", "127.0.0.1:7000"}, {});
  EXPECT_NE(p.status().message().find("'m-0' has that address"), std::string::npos);
  p = PlanAddMember(*one, {"x", "127.0.0.1:1"}, {.max_concurrent = 65});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  // A member owning no shard (more members than shards) leaves at once.
  absl::StatusOr<Placement> small = Placement::Balanced("us", 2, Members(3));
  ASSERT_TRUE(small.ok());
  p = PlanRemoveMember(*small, "127.0.0.1:7002", {});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->members().size(), 2u);
  EXPECT_FALSE(p->has_moves());
  EXPECT_EQ(p->OwnerOfShard(0).id, "m-0");
  EXPECT_EQ(p->OwnerOfShard(1).id, "m-1");
}

// remove-node --lost on a placement with no change in progress: the lost
// member leaves at once, its shards go to the others without moves (the
// fewest-owning first, so the result stays balanced) and no other shard
// changes owner.
TEST(MovePlanTest, ALostMemberLeavesAtOnceAndItsShardsSpreadEvenly) {
  for (int n = 2; n <= 6; ++n) {
    for (uint32_t s : {16u, 17u, 64u, 255u}) {
      absl::StatusOr<Placement> before = Placement::Balanced("us", s, Members(n));
      ASSERT_TRUE(before.ok());
      for (int gone = 0; gone < n; ++gone) {
        const std::string lost = absl::StrCat("m-", gone);
        SCOPED_TRACE(absl::StrCat("N=", n, " S=", s, " losing ", lost));
        absl::StatusOr<LostMemberPlan> plan = PlanRemoveLostMember(
            *before, gone % 2 == 0 ? lost : before->members()[gone].address, {.now_unix_ns = 77});
        ASSERT_TRUE(plan.ok()) << plan.status();
        const Placement& after = plan->placement;
        EXPECT_EQ(after.members().size(), static_cast<size_t>(n - 1));
        EXPECT_EQ(after.members_departed(), 1u) << "a peer site range-syncs what it held";
        EXPECT_LT(after.FindMember(lost), 0);
        EXPECT_FALSE(after.has_moves());
        EXPECT_TRUE(plan->fence_without_source.empty());
        std::vector<uint32_t> was_lost = before->ShardsOwnedBy(lost);
        EXPECT_EQ(plan->reassigned, was_lost);
        std::vector<size_t> counts(after.members().size(), 0);
        for (uint32_t shard = 0; shard < s; ++shard) {
          ++counts[after.shard_owner()[shard]];
          if (before->OwnerOfShard(shard).id != lost) {
            EXPECT_EQ(after.OwnerOfShard(shard).id, before->OwnerOfShard(shard).id) << shard;
          }
        }
        auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
        EXPECT_LE(*hi - *lo, 1u);
      }
    }
  }
}

// A member owning no shard leaves the list at once; the departed count
// (what a peer site's replicator watches) goes up by one, and adding a
// member never changes it.
TEST(MovePlanTest, EveryRemovalCountsOneDepartedMember) {
  absl::StatusOr<Placement> before = Placement::Balanced("us", 2, Members(3));
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(before->ShardsOwnedBy("m-2").empty());
  EXPECT_EQ(before->members_departed(), 0u);
  absl::StatusOr<Placement> removed = PlanRemoveMember(*before, "m-2", {});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->members().size(), 2u);
  EXPECT_FALSE(removed->has_moves());
  EXPECT_EQ(removed->members_departed(), 1u);
  absl::StatusOr<Placement> added = PlanAddMember(*removed, {"m-9", "127.0.0.1:9999"}, {});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->members_departed(), 1u);
  absl::StatusOr<Placement> back = Placement::Decode(added->Encode(), 5);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->members_departed(), 1u);
}

// Every kind of move touching the lost member, and one that does not.
TEST(MovePlanTest, ALostMembersMovesAreSettledOneByOne) {
  // 4 members, 16 shards; m-1 is lost. Shards 0..6 carry the moves.
  std::vector<uint32_t> owner = {1, 1, 1, 0, 2, 1, 0, 3, 3, 0, 1, 2, 3, 1, 2, 0};
  PlacementMoves moves;
  moves.max_concurrent = 4;
  moves.moves = {
      {0, 1, 0, ShardMoveState::kPending, 10},       // from it, not started
      {1, 1, 2, ShardMoveState::kInitializing, 11},  // from it, copying
      {2, 1, 0, ShardMoveState::kFlipped, 12},       // from it, flipped
      {3, 0, 1, ShardMoveState::kPending, 13},       // to it, not started
      {4, 2, 1, ShardMoveState::kInitializing, 14},  // to it, copying
      {5, 2, 1, ShardMoveState::kFlipped, 15},       // to it, flipped
      {6, 0, 3, ShardMoveState::kPending, 16},       // not its
  };
  owner[2] = 0;  // a FLIPPED move's owner is its target
  absl::StatusOr<Placement> before =
      Placement::Create("us", 16, Members(4), owner, 9, std::move(moves));
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<LostMemberPlan> plan = PlanRemoveLostMember(*before, "m-1", {.now_unix_ns = 77});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Placement& after = plan->placement;
  // It stays, leaving, until the target of its FLIPPED move opens the shard.
  ASSERT_EQ(after.members().size(), 4u);
  EXPECT_EQ(after.members_departed(), 0u) << "not departed while it is listed";
  EXPECT_TRUE(after.members()[1].leaving);
  EXPECT_EQ(plan->fence_without_source, std::vector<uint32_t>({2}));
  ASSERT_EQ(after.moves().moves.size(), 2u);
  EXPECT_EQ(after.moves().moves[0].shard, 2u);
  EXPECT_EQ(after.moves().moves[0].state, ShardMoveState::kFlipped);
  EXPECT_EQ(after.moves().moves[0].since_unix_ns, 12);
  EXPECT_EQ(after.moves().moves[1].shard, 6u);
  EXPECT_EQ(after.moves().moves[1].to, 3u);
  EXPECT_TRUE(after.ShardsOwnedBy("m-1").empty());
  EXPECT_EQ(after.OwnerOfShard(1).id, "m-2");  // the copy's target keeps it
  EXPECT_EQ(after.OwnerOfShard(2).id, "m-0");
  EXPECT_EQ(after.OwnerOfShard(3).id, "m-0");  // the source keeps it
  EXPECT_EQ(after.OwnerOfShard(4).id, "m-2");
  EXPECT_EQ(after.OwnerOfShard(5).id, "m-2");  // rolled back to the source
  // Shards 0, 10 and 13 (its own, no move or a PENDING one) went to others.
  EXPECT_EQ(plan->reassigned, std::vector<uint32_t>({0, 1, 5, 10, 13}));
  for (uint32_t s = 7; s < 16; ++s) {
    if (s != 10 && s != 13) {
      EXPECT_EQ(after.shard_owner()[s], before->shard_owner()[s]) << s;
    }
  }
  // Once the FLIPPED move finishes, it is gone from the members.
  absl::StatusOr<Placement> finished = FinishMove(after, 2);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_LT(finished->FindMember("m-1"), 0);
  EXPECT_EQ(finished->members().size(), 3u);
  EXPECT_EQ(finished->members_departed(), 1u);
}

// A removal under way (m-0 leaving) whose target is lost: the leaving
// member's shards it would have taken get new PENDING moves to the member
// left, a FLIPPED one rolled back first.
TEST(MovePlanTest, ALeavingMembersMovesToALostMemberGetANewTarget) {
  std::vector<PlacementMember> members = Members(3);
  members[0].leaving = true;
  std::vector<uint32_t> owner = {0, 0, 0, 0, 1, 1, 2, 2};
  PlacementMoves moves;
  moves.max_concurrent = 2;
  moves.moves = {
      {0, 0, 1, ShardMoveState::kPending, 10},
      {1, 0, 1, ShardMoveState::kInitializing, 11},
      {2, 0, 1, ShardMoveState::kFlipped, 12},
      {3, 0, 2, ShardMoveState::kInitializing, 13},
  };
  owner[2] = 1;
  absl::StatusOr<Placement> before =
      Placement::Create("us", 8, members, owner, 9, std::move(moves));
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<LostMemberPlan> plan = PlanRemoveLostMember(*before, "m-1", {.now_unix_ns = 77});
  ASSERT_TRUE(plan.ok()) << plan.status();
  const Placement& after = plan->placement;
  ASSERT_EQ(after.members().size(), 2u);  // m-0 (leaving), m-2
  EXPECT_TRUE(after.members()[0].leaving);
  EXPECT_EQ(after.members()[1].id, "m-2");
  ASSERT_EQ(after.moves().moves.size(), 4u);
  for (const ShardMove& m : after.moves().moves) {
    EXPECT_EQ(m.from, 0u);
    EXPECT_EQ(m.to, 1u);  // m-2
  }
  EXPECT_EQ(after.moves().moves[2].state, ShardMoveState::kPending);  // shard 2, rolled back
  EXPECT_EQ(after.moves().moves[2].since_unix_ns, 77);
  EXPECT_EQ(after.moves().moves[3].state, ShardMoveState::kInitializing);  // shard 3, untouched
  EXPECT_EQ(after.OwnerOfShard(2).id, "m-0");
  EXPECT_EQ(after.OwnerOfShard(4).id, "m-2");
  EXPECT_EQ(plan->reassigned, std::vector<uint32_t>({2, 4, 5}));
}

TEST(MovePlanTest, ALostMemberNeedsAnotherMemberToTakeItsShards) {
  absl::StatusOr<Placement> one = Placement::Balanced("us", 16, Members(1));
  ASSERT_TRUE(one.ok());
  absl::StatusOr<LostMemberPlan> p = PlanRemoveLostMember(*one, "m-0", {});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("no other member that is not leaving"), std::string::npos)
      << p.status();
  p = PlanRemoveLostMember(*one, "nobody", {});
  EXPECT_NE(p.status().message().find("'nobody' is no member"), std::string::npos);
}

}  // namespace
}  // namespace historian::cluster
