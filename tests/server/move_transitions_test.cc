// The placement steps of a shard move (server/cluster/move_transitions.h):
// random runs of whole add-node / remove-node changes, one step at a time in
// a random order within max_concurrent, end at the planned owners with every
// intermediate placement valid and surviving etcd's encoding; steps in the
// wrong state are refused, naming the shard and the state found.
#include "server/cluster/move_transitions.h"

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/cluster/move_plan.h"

namespace historian::cluster {
namespace {

std::vector<PlacementMember> Members(int n) {
  std::vector<PlacementMember> members;
  for (int i = 0; i < n; ++i) {
    members.push_back({absl::StrCat("m-", i), absl::StrCat("127.0.0.1:", 7000 + i)});
  }
  return members;
}

// Owner id of every shard once all of `plan`'s moves are done.
std::vector<std::string> OwnersAfter(const Placement& plan) {
  std::vector<std::string> owners;
  for (uint32_t s = 0; s < plan.num_shards(); ++s) {
    const ShardMove* m = plan.MoveOfShard(s);
    owners.push_back(plan.members()[m == nullptr ? plan.shard_owner()[s] : m->to].id);
  }
  return owners;
}

// Runs every move of `plan` to the end as racing movers would: each round
// picks a random move and applies its next step (start only within
// max_concurrent); a random fraction of PENDING moves is cancelled when
// `cancel` is set. Returns the final placement and the cancelled shards.
Placement RunToEnd(Placement p, std::mt19937_64& rng, bool cancel,
                   std::map<uint32_t, uint32_t>* cancelled) {
  int64_t now = 1000;
  while (p.has_moves()) {
    const std::vector<ShardMove>& moves = p.moves().moves;
    const ShardMove m = moves[rng() % moves.size()];
    absl::StatusOr<Placement> next;
    switch (m.state) {
      case ShardMoveState::kPending:
        if (cancel && rng() % 4 == 0) {
          next = CancelMove(p, m.shard);
          if (next.ok()) (*cancelled)[m.shard] = p.shard_owner()[m.shard];
        } else {
          next = StartMove(p, m.shard, ++now);
          if (absl::IsResourceExhausted(next.status())) continue;  // at the limit: others first
        }
        break;
      case ShardMoveState::kInitializing:
        next = FlipMove(p, m.shard, ++now);
        EXPECT_TRUE(!next.ok() || next->OwnerOfShard(m.shard).id == p.members()[m.to].id);
        break;
      case ShardMoveState::kFlipped:
        next = FinishMove(p, m.shard);
        break;
    }
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok()) return p;
    // Every step is a placement etcd can hold and a router can use.
    absl::StatusOr<Placement> back = Placement::Decode(next->Encode(), next->revision());
    EXPECT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(!back.ok() || back->members_departed() == next->members_departed());
    // Counted exactly when a member leaves the list (a peer site's
    // replicator range-syncs on a change of it).
    EXPECT_EQ(next->members_departed() - p.members_departed(),
              p.members().size() - next->members().size());
    size_t initializing = 0;
    for (const ShardMove& x : next->moves().moves) {
      initializing += x.state == ShardMoveState::kInitializing ? 1 : 0;
    }
    EXPECT_LE(initializing, next->moves().max_concurrent);
    p = *std::move(next);
  }
  EXPECT_EQ(p.moves().max_concurrent, 0u);
  return p;
}

TEST(MoveTransitionsTest, AddAndRemoveRunToThePlannedOwnersThroughValidPlacements) {
  std::mt19937_64 rng(20261202);
  for (int round = 0; round < 300; ++round) {
    const int n = 1 + static_cast<int>(rng() % 6);
    const uint32_t shards = 8 + static_cast<uint32_t>(rng() % 120);
    absl::StatusOr<Placement> before = Placement::Balanced("us", shards, Members(n));
    ASSERT_TRUE(before.ok());
    const uint32_t concurrency = 1 + static_cast<uint32_t>(rng() % 4);
    const bool add = n == 1 || rng() % 2 == 0;
    const std::string removed = absl::StrCat("m-", rng() % n);
    absl::StatusOr<Placement> plan =
        add ? PlanAddMember(*before, {"new", "127.0.0.1:9999"}, {1, concurrency})
            : PlanRemoveMember(*before, removed, {1, concurrency});
    ASSERT_TRUE(plan.ok()) << plan.status();
    SCOPED_TRACE(absl::StrCat("round ", round, " N=", n, " S=", shards, add ? " add" : " remove ",
                              add ? "" : removed));
    const std::vector<std::string> want = OwnersAfter(*plan);
    std::map<uint32_t, uint32_t> cancelled;
    Placement done = RunToEnd(*plan, rng, /*cancel=*/false, &cancelled);
    for (uint32_t s = 0; s < shards; ++s) {
      EXPECT_EQ(done.OwnerOfShard(s).id, want[s]) << "shard " << s;
    }
    for (const PlacementMember& m : done.members()) {
      EXPECT_FALSE(m.leaving) << m.id << " still listed after its last move";
      if (!add) {
        EXPECT_NE(m.id, removed);
      }
    }
    EXPECT_EQ(done.members().size(), static_cast<size_t>(add ? n + 1 : n - 1));
    EXPECT_EQ(done.members_departed(), add ? 0u : 1u);
  }
}

TEST(MoveTransitionsTest, CancelledMovesKeepTheirOwnerAndItsRemovalIsAbandoned) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    const int n = 2 + static_cast<int>(rng() % 5);
    const uint32_t shards = 8 + static_cast<uint32_t>(rng() % 60);
    absl::StatusOr<Placement> before = Placement::Balanced("us", shards, Members(n));
    ASSERT_TRUE(before.ok());
    const std::string removed = absl::StrCat("m-", rng() % n);
    absl::StatusOr<Placement> plan = PlanRemoveMember(*before, removed, {1, 2});
    ASSERT_TRUE(plan.ok()) << plan.status();
    SCOPED_TRACE(absl::StrCat("round ", round));
    const std::vector<std::string> want = OwnersAfter(*plan);
    std::map<uint32_t, uint32_t> cancelled;
    Placement done = RunToEnd(*plan, rng, /*cancel=*/true, &cancelled);
    for (uint32_t s = 0; s < shards; ++s) {
      const std::string expected = cancelled.count(s) != 0 ? removed : want[s];
      EXPECT_EQ(done.OwnerOfShard(s).id, expected) << "shard " << s;
    }
    // The removed member stays exactly when a move away from it was
    // cancelled, and then no longer leaving (it keeps those shards).
    const int index = done.FindMember(removed);
    EXPECT_EQ(index >= 0, !cancelled.empty());
    if (index >= 0) {
      EXPECT_FALSE(done.members()[index].leaving);
    }
  }
}

TEST(MoveTransitionsTest, StepsInTheWrongStateAreRefusedNamingShardAndState) {
  absl::StatusOr<Placement> before = Placement::Balanced("us", 16, Members(2));
  ASSERT_TRUE(before.ok());
  absl::StatusOr<Placement> plan = PlanAddMember(*before, {"new", "127.0.0.1:9999"}, {1, 1});
  ASSERT_TRUE(plan.ok());
  ASSERT_GE(plan->moves().moves.size(), 2u);
  const uint32_t a = plan->moves().moves[0].shard;
  const uint32_t b = plan->moves().moves[1].shard;
  uint32_t unmoved = 0;
  while (plan->MoveOfShard(unmoved) != nullptr) ++unmoved;

  absl::StatusOr<Placement> flip = FlipMove(*plan, a, 5);
  EXPECT_TRUE(absl::IsFailedPrecondition(flip.status()));
  EXPECT_NE(flip.status().message().find(absl::StrCat("shard ", a, " is PENDING")),
            std::string::npos)
      << flip.status();
  EXPECT_TRUE(absl::IsFailedPrecondition(FinishMove(*plan, a).status()));
  absl::StatusOr<Placement> none = StartMove(*plan, unmoved, 5);
  EXPECT_TRUE(absl::IsFailedPrecondition(none.status()));
  EXPECT_NE(none.status().message().find("has no move"), std::string::npos) << none.status();
  EXPECT_TRUE(absl::IsInvalidArgument(StartMove(*plan, 16, 5).status()));

  absl::StatusOr<Placement> started = StartMove(*plan, a, 5);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->MoveOfShard(a)->state, ShardMoveState::kInitializing);
  EXPECT_EQ(started->MoveOfShard(a)->since_unix_ns, 5);
  // max_concurrent = 1: the second waits.
  absl::StatusOr<Placement> second = StartMove(*started, b, 6);
  EXPECT_TRUE(absl::IsResourceExhausted(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("max_concurrent_moves = 1"), std::string::npos);
  // Started moves cannot be cancelled; pending ones can.
  EXPECT_TRUE(absl::IsFailedPrecondition(CancelMove(*started, a).status()));
  EXPECT_TRUE(CancelMove(*started, b).ok());
  // A started move does not start twice; a retry sees its step done.
  EXPECT_TRUE(absl::IsFailedPrecondition(StartMove(*started, a, 7).status()));
  EXPECT_TRUE(MoveStepDone(*started, a, MoveGoal::kInitializing));
  EXPECT_FALSE(MoveStepDone(*started, a, MoveGoal::kFlipped));
  EXPECT_FALSE(MoveStepDone(*plan, a, MoveGoal::kInitializing));

  absl::StatusOr<Placement> flipped = FlipMove(*started, a, 8);
  ASSERT_TRUE(flipped.ok()) << flipped.status();
  EXPECT_EQ(flipped->OwnerOfShard(a).id, "new");
  EXPECT_TRUE(MoveStepDone(*flipped, a, MoveGoal::kFlipped));
  EXPECT_FALSE(MoveStepDone(*flipped, a, MoveGoal::kDone));
  // A FLIPPED move no longer counts against max_concurrent.
  EXPECT_TRUE(StartMove(*flipped, b, 9).ok());
  // Rolled back (its target cannot reach the fence): PENDING again, the
  // source routing, ready to start over; only the move flipped at 8.
  EXPECT_TRUE(absl::IsFailedPrecondition(RollBackFlippedMove(*started, a, 5, 9).status()));
  absl::StatusOr<Placement> other = RollBackFlippedMove(*flipped, a, 7, 9);
  EXPECT_TRUE(absl::IsFailedPrecondition(other.status()));
  EXPECT_NE(other.status().message().find("another move"), std::string::npos) << other.status();
  EXPECT_FALSE(MoveStepDone(*flipped, a, MoveGoal::kRolledBack));
  absl::StatusOr<Placement> rolled = RollBackFlippedMove(*flipped, a, 8, 9);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(rolled->MoveOfShard(a)->state, ShardMoveState::kPending);
  EXPECT_EQ(rolled->MoveOfShard(a)->since_unix_ns, 9);
  EXPECT_EQ(rolled->OwnerOfShard(a).id, plan->OwnerOfShard(a).id);
  EXPECT_TRUE(MoveStepDone(*rolled, a, MoveGoal::kRolledBack));
  EXPECT_TRUE(StartMove(*rolled, a, 10).ok());
  auto round_trip = Placement::Decode(rolled->Encode(), 1);
  EXPECT_TRUE(round_trip.ok()) << round_trip.status();
  absl::StatusOr<Placement> finished = FinishMove(*flipped, a);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->MoveOfShard(a), nullptr);
  EXPECT_EQ(finished->OwnerOfShard(a).id, "new");
  EXPECT_TRUE(MoveStepDone(*finished, a, MoveGoal::kDone));
}

}  // namespace
}  // namespace historian::cluster
