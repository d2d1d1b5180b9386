// File: lease_fence_test.cc
// LeaseFence (docs/cluster.md, "A source cut off from etcd"): held only
// while the lease is surely alive in etcd and the placement view has seen
// the registration; every other state refuses, naming why. The clock is
// passed in: nothing here waits. Which shards a member hands over, and the
// catalog's check, over a placement with moves and a real store.
#include "server/cluster/lease_fence.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/placement.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::cluster {
namespace {

using Clock = LeaseFence::Clock;
using std::chrono::seconds;

class LeaseFenceTest : public ::testing::Test {
 protected:
  std::atomic<int64_t> view_revision_{0};
  LeaseFence fence_{[this] { return view_revision_.load(); }};
  const Clock::time_point t0_ = Clock::now();
};

void ExpectRefused(const absl::Status& s, const std::string& why) {
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), why)) << s;
}

TEST_F(LeaseFenceTest, NothingIsHeldBeforeTheFirstRegistration) {
  view_revision_ = 100;
  ExpectRefused(fence_.CheckHeld(t0_), "not registered as a member yet");
}

TEST_F(LeaseFenceTest, HeldUntilTheEarliestExpiryThenRefusedNamingEtcd) {
  view_revision_ = 7;
  fence_.Registered(/*lease_id=*/41, /*revision=*/7, t0_ + seconds(2));
  EXPECT_TRUE(fence_.CheckHeld(t0_).ok());
  // Less the margin for clock rates.
  EXPECT_TRUE(
      fence_.CheckHeld(t0_ + seconds(2) - LeaseFence::kClockMargin - std::chrono::milliseconds(1))
          .ok());
  ExpectRefused(fence_.CheckHeld(t0_ + seconds(2) - LeaseFence::kClockMargin), "cut off from etcd");
  ExpectRefused(fence_.CheckHeld(t0_ + seconds(2)), "lease 41");

  // A renewal moves the end on; an older answer never moves it back.
  fence_.Renewed(41, t0_ + seconds(5));
  EXPECT_TRUE(fence_.CheckHeld(t0_ + seconds(4)).ok());
  fence_.Renewed(41, t0_ + seconds(3));
  EXPECT_TRUE(fence_.CheckHeld(t0_ + seconds(4)).ok());
  ExpectRefused(fence_.CheckHeld(t0_ + seconds(5)), "cut off from etcd");
  // Another lease's renewal (an earlier registration's keeper) is ignored.
  fence_.Renewed(40, t0_ + seconds(60));
  ExpectRefused(fence_.CheckHeld(t0_ + seconds(6)), "cut off from etcd");
}

TEST_F(LeaseFenceTest, ALostLeaseIsRefusedAtOnceAndItsLateRenewalsIgnored) {
  view_revision_ = 9;
  fence_.Registered(41, 9, t0_ + seconds(10));
  fence_.Lost(40);  // not this registration's lease
  EXPECT_TRUE(fence_.CheckHeld(t0_).ok());
  fence_.Lost(41);
  ExpectRefused(fence_.CheckHeld(t0_), "lease 41 is gone");
  fence_.Renewed(41, t0_ + seconds(20));
  ExpectRefused(fence_.CheckHeld(t0_), "lease 41 is gone");
}

TEST_F(LeaseFenceTest, ARegistrationCountsOnlyOnceThePlacementViewHasSeenIt) {
  view_revision_ = 9;
  fence_.Registered(41, 9, t0_ + seconds(10));
  fence_.Lost(41);
  // Registered again at revision 15; the view is still at 12: a change
  // made while the member had no lease (a fence written without it) may be
  // in revisions 13..15, not applied yet.
  view_revision_ = 12;
  fence_.Registered(42, 15, t0_ + seconds(10));
  ExpectRefused(fence_.CheckHeld(t0_), "placement view has only seen revision 12");
  view_revision_ = 15;
  EXPECT_TRUE(fence_.CheckHeld(t0_).ok());
  fence_.Renewed(42, t0_ + seconds(30));
  EXPECT_TRUE(fence_.CheckHeld(t0_ + seconds(20)).ok());
}

// The isolation write fence: without a lease for `fence` or longer (from
// the start for a member never registered, from the earliest expiry, or
// from etcd's "gone" when that came first), a member fences every shard it
// owns; a registration ends that only once the placement view has seen it.
TEST_F(LeaseFenceTest, IsolatedOnceWithoutALeaseForTheFence) {
  using std::chrono::milliseconds;
  LeaseFence fence([this] { return view_revision_.load(); }, seconds(10), t0_);
  EXPECT_FALSE(fence.Check(t0_ + seconds(9)).isolated);
  EXPECT_TRUE(fence.Check(t0_ + seconds(10)).isolated) << "never registered since the start";
  EXPECT_EQ(fence.Check(t0_).isolation_fence, seconds(10));

  view_revision_ = 5;
  fence.Registered(41, 5, t0_ + seconds(22), t0_ + seconds(20));
  LeaseFence::LeaseCheck held = fence.Check(t0_ + seconds(21));
  EXPECT_TRUE(held.held.ok()) << held.held;
  EXPECT_FALSE(held.isolated);
  // Etcd may expire it from 22 s less the margin on: isolated 10 s later.
  EXPECT_FALSE(fence.Check(t0_ + seconds(23)).held.ok());
  EXPECT_FALSE(
      fence.Check(t0_ + seconds(32) - LeaseFence::kClockMargin - milliseconds(1)).isolated);
  EXPECT_TRUE(fence.Check(t0_ + seconds(32) - LeaseFence::kClockMargin).isolated);
  // Etcd saying it is gone later does not move the start.
  fence.Lost(41, t0_ + seconds(25));
  EXPECT_TRUE(fence.Check(t0_ + seconds(32)).isolated);

  // Registered again while the view lags: still isolated (a removal may be
  // in the revisions not applied yet); held once the view has seen it.
  fence.Registered(42, 9, t0_ + seconds(50), t0_ + seconds(40));
  LeaseFence::LeaseCheck lagging = fence.Check(t0_ + seconds(41));
  ExpectRefused(lagging.held, "placement view has only seen revision 5");
  EXPECT_TRUE(lagging.isolated);
  view_revision_ = 9;
  LeaseFence::LeaseCheck caught_up = fence.Check(t0_ + seconds(41));
  EXPECT_TRUE(caught_up.held.ok()) << caught_up.held;
  EXPECT_FALSE(caught_up.isolated);

  // Revoked before it expired: counted from etcd's answer.
  fence.Lost(42, t0_ + seconds(43));
  EXPECT_FALSE(fence.Check(t0_ + seconds(52)).isolated);
  EXPECT_TRUE(fence.Check(t0_ + seconds(53)).isolated);
  // A short gap, the view lagging: refused, not isolated, until the gap
  // itself reaches the fence.
  fence.Registered(43, 12, t0_ + seconds(70), t0_ + seconds(45));
  LeaseFence::LeaseCheck short_gap = fence.Check(t0_ + seconds(46));
  EXPECT_FALSE(short_gap.held.ok());
  EXPECT_FALSE(short_gap.isolated);
  // Lost again before the view saw that registration: the stretch still
  // counts from 43 s (the removal may be in the revisions not applied).
  fence.Lost(43, t0_ + seconds(47));
  EXPECT_FALSE(fence.Check(t0_ + seconds(52)).isolated);
  EXPECT_TRUE(fence.Check(t0_ + seconds(53)).isolated);
  // A registration held and seen closes it; a renewal seen does too.
  fence.Registered(44, 12, t0_ + seconds(90), t0_ + seconds(60));
  view_revision_ = 12;
  fence.Renewed(44, t0_ + seconds(95), t0_ + seconds(61));
  fence.Lost(44, t0_ + seconds(62));
  EXPECT_FALSE(fence.Check(t0_ + seconds(71)).isolated) << "counted from 62 s, not 43 s";
  EXPECT_TRUE(fence.Check(t0_ + seconds(72)).isolated);
}

// A member restarted while cut off counts its stretch without a lease from
// the end of its lease before the restart (kept in a file), not from the
// restart.
TEST_F(LeaseFenceTest, ARestartCountsTheStretchFromTheLeaseBeforeIt) {
  historian::testing::TempDir dir;
  const std::string file = dir.Sub("lease_alive_until");
  const absl::Time wall = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_EQ(LeaseFence::RestoredStretchStart(file, t0_, wall), t0_) << "no file yet";
  EXPECT_EQ(LeaseFence::RestoredStretchStart("", t0_, wall), t0_);
  {
    std::ofstream out(file);
    out << absl::ToUnixMillis(wall - absl::Seconds(30)) << "\n";
  }
  EXPECT_EQ(LeaseFence::RestoredStretchStart(file, t0_, wall), t0_ - seconds(30));
  EXPECT_EQ(LeaseFence::RestoredStretchStart(file, t0_, wall - absl::Seconds(40)), t0_)
      << "a lease end after now (a wall step back) counts from the start";

  // What a registration and a renewal keep there: the end, as wall time.
  LeaseFence fence([this] { return view_revision_.load(); }, seconds(10), Clock::now(), file);
  const absl::Time before = absl::Now();
  fence.Registered(41, 1, Clock::now() + seconds(2));
  const absl::Time after = absl::Now();
  std::ifstream in(file);
  int64_t saved_ms = 0;
  ASSERT_TRUE(in >> saved_ms);
  EXPECT_GE(absl::FromUnixMillis(saved_ms), before + absl::Seconds(2) - absl::Milliseconds(5));
  EXPECT_LE(absl::FromUnixMillis(saved_ms), after + absl::Seconds(2) + absl::Milliseconds(5));
  // A fence made after a long stop is isolated at once.
  const Clock::time_point started = Clock::now();
  LeaseFence restarted([] { return int64_t{0}; }, seconds(10), started, file);
  EXPECT_FALSE(restarted.Check(started).isolated)
      << "the lease ended 2 s ahead: not before the fence";
  {
    std::ofstream out(file);
    out << absl::ToUnixMillis(absl::Now() - absl::Minutes(5)) << "\n";
  }
  LeaseFence long_stop([] { return int64_t{0}; }, seconds(10), Clock::now(), file);
  EXPECT_TRUE(long_stop.Check().isolated);
}

// A member restarted with a wider --cluster_isolation_write_fence takes
// writes by it only once registered: registering raises the site's widest
// fence, which `remove-node --lost` on any node waits. Until then the
// fence of its last registration (kept in the file) bounds it.
TEST_F(LeaseFenceTest, AWiderFenceCountsOnlyOnceRegistered) {
  historian::testing::TempDir dir;
  const std::string file = dir.Sub("lease_alive_until");
  EXPECT_EQ(LeaseFence::RestoredFence(file), std::nullopt) << "no file yet";
  {
    LeaseFence first([] { return int64_t{1}; }, seconds(10), Clock::now(), file);
    first.Registered(41, 1, Clock::now() + seconds(2));
  }
  EXPECT_EQ(LeaseFence::RestoredFence(file), std::optional<Clock::duration>(seconds(10)));

  const Clock::time_point started = Clock::now();
  LeaseFence wider([] { return int64_t{1}; }, seconds(60), started, file);
  LeaseFence::LeaseCheck before = wider.Check(started + seconds(13));
  EXPECT_EQ(before.isolation_fence, Clock::duration(seconds(10)));
  EXPECT_TRUE(before.isolated) << "by the registered 10 s, not the new 60 s";
  wider.Registered(42, 1, started + seconds(20), started + seconds(14));
  wider.Lost(42, started + seconds(15));
  LeaseFence::LeaseCheck after = wider.Check(started + seconds(30));
  EXPECT_EQ(after.isolation_fence, Clock::duration(seconds(60)));
  EXPECT_FALSE(after.isolated) << "registered with 60 s: the site waits that long";
  EXPECT_EQ(LeaseFence::RestoredFence(file), std::optional<Clock::duration>(seconds(60)));

  // A narrower flag counts at once; a file from before the fence was kept
  // there leaves the flag.
  LeaseFence narrower([] { return int64_t{1}; }, seconds(5), Clock::now(), file);
  EXPECT_EQ(narrower.Check().isolation_fence, Clock::duration(seconds(5)));
  {
    std::ofstream out(file);
    out << absl::ToUnixMillis(absl::Now()) << "\n";
  }
  EXPECT_EQ(LeaseFence::RestoredFence(file), std::nullopt);
  LeaseFence old_file([] { return int64_t{1}; }, seconds(60), Clock::now(), file);
  EXPECT_EQ(old_file.Check().isolation_fence, Clock::duration(seconds(60)));
}

// The check after a commit: a shard the placement gave away meanwhile.
TEST(LeaseFenceShardsTest, ShardsNoLongerOwnedNamesTheNewOwner) {
  auto p = Placement::Create("us", 4, {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}}, {0, 1, 0, 1}, 5);
  ASSERT_TRUE(p.ok()) << p.status();
  StaticClusterView view("a", std::make_shared<const Placement>(*p));
  EXPECT_EQ(ShardsNoLongerOwned(view, {0, 2}, /*lease_held=*/true), std::nullopt);
  auto moved =
      Placement::Create("us", 4, {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}}, {0, 1, 1, 1}, 6);
  ASSERT_TRUE(moved.ok()) << moved.status();
  view.Set(std::make_shared<const Placement>(*moved));
  std::optional<std::string> why = ShardsNoLongerOwned(view, {0, 2}, /*lease_held=*/true);
  ASSERT_TRUE(why.has_value());
  EXPECT_TRUE(absl::StrContains(*why, "shard 2 is owned by member 'b' in placement revision 6"))
      << *why;
  StaticClusterView removed("z", std::make_shared<const Placement>(*moved));
  EXPECT_TRUE(ShardsNoLongerOwned(removed, {0}, /*lease_held=*/true).has_value());
}

// A shard whose move away from this member has flipped: a write the store
// admitted is at or below the member's fence, so it counts as owned while
// the lease is held (not without it, nor for a move away from another).
TEST(LeaseFenceShardsTest, AFlippedMoveAwayCountsAsOwnedWhileTheLeaseIsHeld) {
  PlacementMoves moves;
  moves.moves = {{2, 0, 1, ShardMoveState::kFlipped, 1}, {3, 2, 1, ShardMoveState::kFlipped, 1}};
  moves.max_concurrent = 2;
  auto p =
      Placement::Create("us", 4, {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}, {"c", "10.0.0.3:1"}},
                        {0, 1, 1, 1}, 7, moves);
  ASSERT_TRUE(p.ok()) << p.status();
  StaticClusterView a("a", std::make_shared<const Placement>(*p));
  EXPECT_EQ(ShardsNoLongerOwned(a, {0, 2}, /*lease_held=*/true), std::nullopt);
  std::optional<std::string> without_lease = ShardsNoLongerOwned(a, {0, 2}, /*lease_held=*/false);
  ASSERT_TRUE(without_lease.has_value());
  EXPECT_TRUE(absl::StrContains(*without_lease, "shard 2 is owned by member 'b'"))
      << *without_lease;
  std::optional<std::string> not_from_a = ShardsNoLongerOwned(a, {3}, /*lease_held=*/true);
  ASSERT_TRUE(not_from_a.has_value());
  EXPECT_TRUE(absl::StrContains(*not_from_a, "shard 3 is owned by member 'b'")) << *not_from_a;
}

// Shards 0..3 owned by a, b, c, a; shard 0 moving a -> b (INITIALIZING),
// 3 a -> c (PENDING), 1 b -> a (INITIALIZING).
std::shared_ptr<const Placement> MovingPlacement() {
  PlacementMoves moves;
  moves.moves = {{0, 0, 1, ShardMoveState::kInitializing, 1},
                 {3, 0, 2, ShardMoveState::kPending, 1},
                 {1, 1, 0, ShardMoveState::kInitializing, 1}};
  moves.max_concurrent = 4;
  auto p =
      Placement::Create("us", 4, {{"a", "10.0.0.1:1"}, {"b", "10.0.0.2:1"}, {"c", "10.0.0.3:1"}},
                        {0, 1, 2, 0}, 5, moves);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::make_shared<const Placement>(*std::move(p));
}

std::string TagInShard(uint32_t shard) {
  for (int n = 0;; ++n) {
    std::string tag = absl::StrCat("plant.t", n);
    if (TagShard(tag, 4) == shard) return tag;
  }
}

// Handed over: an INITIALIZING move away from the member, or a move ack
// it holds (a copy it served); not a PENDING move, not a move to it.
TEST(LeaseFenceShardsTest, HandedOverAreInitializingMovesAwayAndMoveAcks) {
  const std::shared_ptr<const Placement> p = MovingPlacement();
  EXPECT_EQ(LeaseFence::HandedOverShards(*p, 0, nullptr), (std::set<uint32_t>{0}));
  EXPECT_EQ(LeaseFence::HandedOverShards(*p, 1, nullptr), (std::set<uint32_t>{1}));
  EXPECT_TRUE(LeaseFence::HandedOverShards(*p, 2, nullptr).empty());
  EXPECT_TRUE(LeaseFence::MayFence(*p, 0, nullptr, false));
  EXPECT_FALSE(LeaseFence::MayFence(*p, 2, nullptr, false));
  EXPECT_TRUE(LeaseFence::MayFence(*p, 2, nullptr, true));

  historian::testing::TempDir dir;
  StoreOptions o;
  o.path = dir.Sub("data");
  o.site = "us";
  auto store = Store::Open(std::move(o));
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->SetMoveAck(3, 0).ok());
  EXPECT_EQ(LeaseFence::HandedOverShards(*p, 0, store->get()), (std::set<uint32_t>{0, 3}));
  EXPECT_TRUE(LeaseFence::MayFence(*p, 2, store->get(), false));
  // Isolated: every owned shard too (a owns 0 and 3; c owns 2).
  EXPECT_EQ(LeaseFence::FencedShards(*p, 0, store->get(), false), (std::set<uint32_t>{0, 3}));
  EXPECT_EQ(LeaseFence::FencedShards(*p, 2, nullptr, false), (std::set<uint32_t>{}));
  EXPECT_EQ(LeaseFence::FencedShards(*p, 2, nullptr, true), (std::set<uint32_t>{2}));
  EXPECT_EQ(LeaseFence::FencedShards(*p, 1, nullptr, true), (std::set<uint32_t>{1}));

  StaticClusterView view("a", p);
  const LeaseFence::LeaseCheck cut_off{
      .held = absl::UnavailableError("this member is cut off from etcd"),
      .isolated = false,
      .isolation_fence = seconds(60)};
  LeaseFence::LeaseCheck isolated = cut_off;
  isolated.isolated = true;
  EXPECT_EQ(LeaseFence::FirstFenced(cut_off, view, store->get(), {1, 2}), std::nullopt);
  std::optional<std::string> three = LeaseFence::FirstFenced(cut_off, view, store->get(), {2, 3});
  ASSERT_TRUE(three.has_value());
  EXPECT_TRUE(absl::StrContains(*three, "is in shard 3, which this member is handing over"))
      << *three;
  EXPECT_EQ(LeaseFence::FirstFenced(LeaseFence::LeaseCheck{}, view, store->get(), {3}),
            std::nullopt)
      << "a held lease fences nothing";
  StaticClusterView c_view("c", p);
  EXPECT_EQ(LeaseFence::FirstFenced(cut_off, c_view, nullptr, {2}), std::nullopt);
  std::optional<std::string> two = LeaseFence::FirstFenced(isolated, c_view, nullptr, {1, 2});
  ASSERT_TRUE(two.has_value());
  EXPECT_TRUE(absl::StrContains(*two, "is in shard 2, which this member owns")) << *two;
  EXPECT_TRUE(absl::StrContains(*two, "isolation write fence (60 s)")) << *two;
  StaticClusterView outside("z", p);
  EXPECT_EQ(LeaseFence::FirstFenced(isolated, outside, store->get(), {0}), std::nullopt);

  EXPECT_TRUE(
      LeaseFence::CheckTagChange(LeaseFence::LeaseCheck{}, view, store->get(), "X", TagInShard(0))
          .ok());
  EXPECT_TRUE(LeaseFence::CheckTagChange(cut_off, view, store->get(), "X", TagInShard(2)).ok());
  const absl::Status refused =
      LeaseFence::CheckTagChange(cut_off, view, store->get(), "Catalog.DeleteTag", TagInShard(0));
  ExpectRefused(refused, "Catalog.DeleteTag refused by member 'a'");
  ExpectRefused(refused, "is in shard 0, which this member is handing over");
  ExpectRefused(refused, "cut off from etcd");
  EXPECT_TRUE(LeaseFence::CheckTagChange(cut_off, c_view, nullptr, "X", TagInShard(2)).ok());
  ExpectRefused(LeaseFence::CheckTagChange(isolated, c_view, nullptr, "X", TagInShard(2)),
                "which this member owns");
}

}  // namespace
}  // namespace historian::cluster
