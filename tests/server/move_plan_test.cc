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

}  // namespace
}  // namespace historian::cluster
