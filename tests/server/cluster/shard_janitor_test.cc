// ShardJanitor (docs/cluster.md, "The janitor") over a real Store and a
// StaticClusterView: it drops exactly the shards this node neither owns nor
// moves (as source or target, in any move state), never runs without a
// placement or while the node is no member, clears the move acks of moves
// that left the placement, and reacts to placement changes on its thread.
#include "server/cluster/shard_janitor.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/placement.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

constexpr uint32_t kShards = 8;

std::vector<PlacementMember> Members(bool with_a = true) {
  std::vector<PlacementMember> m;
  if (with_a) m.push_back({"a", "10.0.0.1:7400"});
  m.push_back({"b", "10.0.0.2:7400"});
  m.push_back({"c", "10.0.0.3:7400"});
  return m;
}

class ShardJanitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.path = dir_.Sub("data");
    o.site = "us";
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    auto s = Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    // Three tags in every shard, with a sample each.
    std::map<uint32_t, int> per_shard;
    for (int n = 0; per_shard.size() < kShards || MinCount(per_shard) < 3; ++n) {
      const std::string name = absl::StrCat("plant.t", n);
      const uint32_t shard = TagShard(name, kShards);
      if (per_shard[shard] >= 3) continue;
      ++per_shard[shard];
      auto t = store_->ResolveTagForWrite(name, ValueType::kDouble);
      ASSERT_TRUE(t.ok());
      WriteInput in;
      engine::SeriesData sd;
      sd.tag = t->id;
      sd.cols.Reset(ValueType::kDouble);
      sd.cols.timestamps.push_back(int64_t{1700000000} * 1000000000);
      sd.cols.doubles.push_back(n);
      sd.cols.qualities.push_back(0);
      in.series.push_back(std::move(sd));
      ASSERT_TRUE(store_->Write(std::move(in)).ok());
    }
    ASSERT_TRUE(store_->SealAll().ok());
  }

  static int MinCount(const std::map<uint32_t, int>& m) {
    int min = 1 << 30;
    for (const auto& [s, n] : m) min = std::min(min, n);
    return min;
  }

  std::vector<uint32_t> ShardsHeld() const {
    std::vector<uint32_t> held;
    for (const auto& [shard, n] : store_->TagCountsByShard(kShards)) held.push_back(shard);
    return held;
  }

  // Owners s mod 3 over members a, b, c (a owns 0, 3, 6), `moves` on top.
  static std::shared_ptr<const Placement> Make(int64_t revision, std::vector<ShardMove> moves,
                                               std::vector<uint32_t> owner = {}) {
    if (owner.empty()) {
      for (uint32_t s = 0; s < kShards; ++s) owner.push_back(s % 3);
    }
    PlacementMoves pm;
    pm.moves = std::move(moves);
    pm.max_concurrent = pm.moves.empty() ? 0 : 4;
    auto p = Placement::Create("us", kShards, Members(), std::move(owner), revision, pm);
    EXPECT_TRUE(p.ok()) << p.status();
    return std::make_shared<const Placement>(*std::move(p));
  }

  historian::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ShardJanitorTest, NeverRunsWithoutAPlacementOrAsANonMember) {
  StaticClusterView view("a", nullptr);
  ASSERT_TRUE(store_->SetMoveAck(4, 1).ok());
  ShardDropGate gate;
  ShardJanitor janitor(store_.get(), &view, &gate);
  ASSERT_TRUE(janitor.Start().ok());
  EXPECT_EQ(ShardsHeld().size(), kShards);
  EXPECT_EQ(janitor.stats().passes, 0);
  // A placement that does not name this node: it decides nothing.
  auto without_a = Placement::Create("us", kShards, Members(/*with_a=*/false),
                                     std::vector<uint32_t>(kShards, 0), 5);
  ASSERT_TRUE(without_a.ok()) << without_a.status();
  ASSERT_TRUE(janitor.RunPass(*without_a).ok());
  EXPECT_EQ(ShardsHeld().size(), kShards);
  EXPECT_EQ(store_->MoveAcks().size(), 1u);
}

TEST_F(ShardJanitorTest, DropsWhatItNeitherOwnsNorMovesAndClearsAcksOfEndedMoves) {
  // a owns 0, 3, 6. Moves: 1 b->a INITIALIZING (a is the target), 2 c->a
  // PENDING (target), 3 a->c INITIALIZING (source), 5 a->c FLIPPED (source;
  // c owns it now), 4 b->c INITIALIZING (not a's).
  std::vector<uint32_t> owner = {0, 1, 2, 0, 1, 2, 0, 1};
  std::vector<ShardMove> moves = {{1, 1, 0, ShardMoveState::kInitializing, 1},
                                  {2, 2, 0, ShardMoveState::kPending, 1},
                                  {3, 0, 2, ShardMoveState::kInitializing, 1},
                                  {5, 0, 2, ShardMoveState::kFlipped, 1},
                                  {4, 1, 2, ShardMoveState::kInitializing, 1}};
  StaticClusterView view("a", Make(10, moves, owner));
  ASSERT_TRUE(store_->SetMoveAck(3, 1).ok());
  ASSERT_TRUE(store_->SetMoveAck(5, 1).ok());
  ASSERT_TRUE(store_->SetMoveAck(7, 1).ok());  // no move of 7 from a
  ShardDropGate gate;
  ShardJanitor janitor(store_.get(), &view, &gate);
  ASSERT_TRUE(janitor.Start().ok());
  EXPECT_EQ(ShardsHeld(), (std::vector<uint32_t>{0, 1, 2, 3, 5, 6}));
  EXPECT_EQ(store_->MoveAcks(), (std::map<uint32_t, uint64_t>{{3, 1}, {5, 1}}));
  ShardJanitor::Stats st = janitor.stats();
  EXPECT_EQ(st.shards_dropped, 2);  // 4 and 7
  EXPECT_EQ(st.tags_dropped, 6);
  EXPECT_EQ(st.acks_cleared, 1);
  EXPECT_EQ(st.done_revision, 10);

  // The moves end (1 and 2 came to a, 3 and 5 went to c): the watcher's
  // listener wakes the janitor's thread.
  owner[1] = 0;
  owner[2] = 0;
  owner[3] = 2;
  view.Set(Make(11, {}, owner));
  janitor.OnPlacement();
  ASSERT_TRUE(historian::testing::WaitFor([&] { return janitor.stats().done_revision == 11; },
                                          absl::Seconds(30)));
  EXPECT_EQ(ShardsHeld(), (std::vector<uint32_t>{0, 1, 2, 6}));
  EXPECT_TRUE(store_->MoveAcks().empty());
  // Nothing of a dropped shard comes back at a restart.
  janitor.Stop();
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  StoreOptions o;
  o.path = dir_.Sub("data");
  o.site = "us";
  auto reopened = Store::Open(std::move(o));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  store_ = std::move(*reopened);
  EXPECT_EQ(ShardsHeld(), (std::vector<uint32_t>{0, 1, 2, 6}));
  EXPECT_TRUE(store_->MoveAcks().empty());
}

// A shard closed here stays closed while a move to this node or a FLIPPED
// move from it holds it, and opens otherwise; one this node owns (a move
// settled by remove-node --lost) only on a placement read from etcd since
// the start, never on an earlier run's cache.
TEST_F(ShardJanitorTest, OpensClosedShardsNoMoveHoldsAndOwnedOnesOnlyOnAFreshPlacement) {
  // a owns 0, 3, 6. Closed here: 0 (a owns it, a PENDING move a->b: a
  // leaving member's rolled-back shard), 6 (a owns it, no move), 1 (b owns
  // it, moving b->a INITIALIZING: a is the target), 5 (c owns it, FLIPPED
  // a->c: a is the source after its fence), 7 (b owns it, no move of a).
  std::vector<uint32_t> owner = {0, 1, 2, 0, 1, 2, 0, 1};
  std::vector<ShardMove> moves = {{0, 0, 1, ShardMoveState::kPending, 1},
                                  {1, 1, 0, ShardMoveState::kInitializing, 1},
                                  {5, 0, 2, ShardMoveState::kFlipped, 1}};
  for (uint32_t shard : {0u, 1u, 5u, 6u, 7u}) {
    ASSERT_TRUE(store_->CloseShardToWrites(shard, kShards, "test").ok());
  }
  auto closed = [&] {
    std::vector<uint32_t> out;
    for (const auto& [shard, c] : store_->ClosedShards()) out.push_back(shard);
    return out;
  };
  StaticClusterView view("a", Make(10, moves, owner));
  view.SetReadFromEtcd(false);
  ShardDropGate gate;
  ShardJanitor janitor(store_.get(), &view, &gate);
  ASSERT_TRUE(janitor.Start().ok());
  EXPECT_EQ(closed(), (std::vector<uint32_t>{0, 1, 5, 6}));  // 7 is not a's
  EXPECT_EQ(janitor.stats().owned_shards_reopened, 0);
  view.SetReadFromEtcd(true);
  ASSERT_TRUE(janitor.RunPass(*view.placement()).ok());
  EXPECT_EQ(closed(), (std::vector<uint32_t>{1, 5}));
  EXPECT_EQ(janitor.stats().owned_shards_reopened, 2);
}

TEST(PlanJanitorTest, KeepsOwnedAndMovingShardsOnly) {
  auto p = Placement::Create("us", 4, Members(), {0, 1, 2, 0}, 3,
                             PlacementMoves{{{1, 1, 0, ShardMoveState::kPending, 0}}, 1});
  ASSERT_TRUE(p.ok()) << p.status();
  const std::map<uint32_t, uint64_t> held = {{0, 5}, {1, 5}, {2, 5}, {3, 0}};
  JanitorPlan plan = PlanJanitor(*p, "a", held, {{1, 9}, {2, 9}});
  EXPECT_EQ(plan.drop, (std::vector<uint32_t>{2}));           // 3 holds no tag
  EXPECT_EQ(plan.clear_acks, (std::vector<uint32_t>{1, 2}));  // a is 1's target, not source
  plan = PlanJanitor(*p, "b", held, {{1, 9}});
  EXPECT_EQ(plan.drop, (std::vector<uint32_t>{0, 2}));
  EXPECT_TRUE(plan.clear_acks.empty());
  plan = PlanJanitor(*p, "nobody", held, {{1, 9}});
  EXPECT_TRUE(plan.drop.empty());
  EXPECT_TRUE(plan.clear_acks.empty());
}

}  // namespace
}  // namespace historian::cluster
