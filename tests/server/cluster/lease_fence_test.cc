// File: lease_fence_test.cc
// LeaseFence (docs/cluster.md, "A source cut off from etcd"): held only
// while the lease is surely alive in etcd and the placement view has seen
// the registration; every other state refuses, naming why. The clock is
// passed in: nothing here waits.
#include "server/cluster/lease_fence.h"

#include <atomic>
#include <chrono>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace historian::cluster
