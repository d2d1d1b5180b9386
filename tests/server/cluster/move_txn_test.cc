// File: move_txn_test.cc
// ApplyMoveStep (server/cluster/move_txn.h) against a real etcd: a move
// runs PENDING -> INITIALIZING -> FLIPPED -> gone through etcd; a step
// racing another committed step re-reads and still applies exactly once; a
// step already done is success without a write; max_concurrent holds when
// two moves race for the last slot; etcd down is UNAVAILABLE.
#include "server/cluster/move_txn.h"

#include <string>

#include "absl/strings/match.h"
#include "server/cluster/move_plan.h"
#include "server/cluster/move_transitions.h"
#include "tests/server/cluster/etcd_fixture.h"

namespace historian::cluster {
namespace {

class MoveTxnTest : public EtcdTest {
 protected:
  // A 2-member, 16-shard placement with a third member added: 5 PENDING
  // moves to "c", at most `concurrency` INITIALIZING.
  Placement WritePlan(uint32_t concurrency) {
    absl::StatusOr<Placement> before =
        Placement::Balanced("us", 16, {{"a", "127.0.0.1:1001"}, {"b", "127.0.0.1:1002"}});
    EXPECT_TRUE(before.ok());
    absl::StatusOr<Placement> plan =
        PlanAddMember(*before, {"c", "127.0.0.1:1003"}, {1, concurrency});
    EXPECT_TRUE(plan.ok()) << plan.status();
    const int64_t revision = MustPut(PlacementKey("us"), plan->Encode());
    return *Placement::Decode(plan->Encode(), revision);
  }
  Placement Stored() {
    auto kv = client_->Get(PlacementKey("us"));
    EXPECT_TRUE(kv.ok() && kv->kvs.size() == 1);
    auto p = Placement::Decode(kv->kvs[0].value, kv->kvs[0].mod_revision);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }
  int64_t ModRevision() { return client_->Get(PlacementKey("us"))->kvs[0].mod_revision; }
};

TEST_F(MoveTxnTest, AMoveRunsThroughEtcdAndARetriedStepDoesNotWriteAgain) {
  const Placement plan = WritePlan(2);
  const uint32_t s = plan.moves().moves[0].shard;
  auto start = [&](const Placement& c) { return StartMove(c, s, 10); };
  absl::StatusOr<Placement> started =
      ApplyMoveStep(*client_, "us", s, MoveGoal::kInitializing, start);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->MoveOfShard(s)->state, ShardMoveState::kInitializing);
  EXPECT_EQ(started->revision(), ModRevision());
  EXPECT_EQ(Stored().MoveOfShard(s)->state, ShardMoveState::kInitializing);

  // The same step again (a mover restarted after its Txn): no write.
  const int64_t revision = ModRevision();
  absl::StatusOr<Placement> again =
      ApplyMoveStep(*client_, "us", s, MoveGoal::kInitializing, start);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ModRevision(), revision);

  absl::StatusOr<Placement> flipped =
      ApplyMoveStep(*client_, "us", s, MoveGoal::kFlipped,
                    [&](const Placement& c) { return FlipMove(c, s, 11); });
  ASSERT_TRUE(flipped.ok()) << flipped.status();
  EXPECT_EQ(Stored().OwnerOfShard(s).id, "c");
  absl::StatusOr<Placement> done = ApplyMoveStep(
      *client_, "us", s, MoveGoal::kDone, [&](const Placement& c) { return FinishMove(c, s); });
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(Stored().MoveOfShard(s), nullptr);
  EXPECT_EQ(Stored().OwnerOfShard(s).id, "c");
  EXPECT_EQ(Stored().moves().moves.size(), plan.moves().moves.size() - 1);
}

TEST_F(MoveTxnTest, AStepLosingARaceReReadsAndKeepsTheOtherStep) {
  const Placement plan = WritePlan(2);
  const uint32_t s1 = plan.moves().moves[0].shard;
  const uint32_t s2 = plan.moves().moves[1].shard;
  // Between step 1's read and its Txn, another mover starts s2.
  int calls = 0;
  absl::StatusOr<Placement> other;
  absl::StatusOr<Placement> mine = ApplyMoveStep(
      *client_, "us", s1, MoveGoal::kInitializing,
      [&](const Placement& c) { return StartMove(c, s1, 10); },
      [&] {
        if (++calls != 1) return;
        other = ApplyMoveStep(*client_, "us", s2, MoveGoal::kInitializing,
                              [&](const Placement& c) { return StartMove(c, s2, 10); });
      });
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(calls, 2);  // the first Txn lost, the second won
  const Placement stored = Stored();
  EXPECT_EQ(stored.MoveOfShard(s1)->state, ShardMoveState::kInitializing);
  EXPECT_EQ(stored.MoveOfShard(s2)->state, ShardMoveState::kInitializing);
}

TEST_F(MoveTxnTest, TwoMovesRacingForTheLastSlotOneWaits) {
  const Placement plan = WritePlan(1);
  const uint32_t s1 = plan.moves().moves[0].shard;
  const uint32_t s2 = plan.moves().moves[1].shard;
  absl::StatusOr<Placement> other;
  absl::StatusOr<Placement> mine = ApplyMoveStep(
      *client_, "us", s1, MoveGoal::kInitializing,
      [&](const Placement& c) { return StartMove(c, s1, 10); },
      [&] {
        if (other.ok() && other->revision() > 0) return;
        other = ApplyMoveStep(*client_, "us", s2, MoveGoal::kInitializing,
                              [&](const Placement& c) { return StartMove(c, s2, 10); });
      });
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(absl::IsResourceExhausted(mine.status())) << mine.status();
  EXPECT_TRUE(absl::StrContains(mine.status().message(), "max_concurrent_moves = 1"))
      << mine.status();
  EXPECT_EQ(Stored().MoveOfShard(s1)->state, ShardMoveState::kPending);
}

TEST_F(MoveTxnTest, AStepInTheWrongStateOrWithEtcdDownFailsClearly) {
  const Placement plan = WritePlan(2);
  const uint32_t s = plan.moves().moves[0].shard;
  absl::StatusOr<Placement> flip = ApplyMoveStep(
      *client_, "us", s, MoveGoal::kFlipped, [&](const Placement& c) { return FlipMove(c, s, 1); });
  EXPECT_TRUE(absl::IsFailedPrecondition(flip.status())) << flip.status();
  EXPECT_TRUE(absl::StrContains(flip.status().message(), "is PENDING")) << flip.status();

  absl::StatusOr<Placement> nosite =
      ApplyMoveStep(*client_, "mx", s, MoveGoal::kInitializing,
                    [&](const Placement& c) { return StartMove(c, s, 1); });
  EXPECT_TRUE(absl::IsFailedPrecondition(nosite.status())) << nosite.status();
  EXPECT_TRUE(absl::StrContains(nosite.status().message(), "has no placement")) << nosite.status();

  etcd_->Stop();
  absl::StatusOr<Placement> down =
      ApplyMoveStep(*client_, "us", s, MoveGoal::kInitializing,
                    [&](const Placement& c) { return StartMove(c, s, 1); });
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
}

}  // namespace
}  // namespace historian::cluster
