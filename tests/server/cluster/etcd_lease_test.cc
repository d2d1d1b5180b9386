// File: etcd_lease_test.cc
// Leases against a real etcd: kept alive by a LeaseKeeper past their TTL,
// expired once the keeper stops, and a lost lease reported (revoked, etcd
// unreachable). Waits are for conditions with a bounded deadline, never
// for time.
#include <atomic>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

// Records the one loss a keeper reports.
struct LossLog {
  std::function<void(absl::Status)> Callback() {
    return [this](absl::Status s) {
      absl::MutexLock l(&mu);
      ++calls;
      status = std::move(s);
    };
  }
  absl::Mutex mu;
  int calls ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);
};

TEST_F(EtcdTest, KeeperKeepsALeasePastItsTtlAndItExpiresAfterTheKeeperStops) {
  // etcd's minimum TTL with this test etcd's timers is 1 s.
  auto lease = client_->GrantLease(1);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_GE(lease->ttl_seconds, 1);
  ASSERT_TRUE(client_->Put("/lease/member", "alive", lease->id).ok());
  LossLog losses;
  auto keeper = client_->KeepAlive(*lease, losses.Callback());
  // A keep-alive goes out every TTL/3: six renewals span two TTLs, longer
  // than the lease lives without them.
  ASSERT_TRUE(testing::WaitFor([&] { return keeper->renewals() >= 6; }, absl::Seconds(20)))
      << "renewals: " << keeper->renewals() << ", status: " << keeper->status();
  auto got = client_->Get("/lease/member");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u) << "the key expired although its lease was kept alive";
  EXPECT_EQ(got->kvs[0].lease, lease->id);
  EXPECT_TRUE(keeper->status().ok()) << keeper->status();

  keeper.reset();
  EXPECT_TRUE(testing::WaitFor([&] { return client_->Get("/lease/member")->kvs.empty(); },
                               absl::Seconds(20)))
      << "the leased key outlived its lease";
  absl::MutexLock l(&losses.mu);
  EXPECT_EQ(losses.calls, 0) << "stopping a keeper is not a loss: " << losses.status;
}

// Each answered keep-alive reports the earliest time etcd may expire the
// lease: its send time plus the TTL. Through a proxy that delays each way
// by 300 ms, an answer arrives at least 300 ms after its request was sent,
// so a report taken from the arrival would be late by that much; reports
// come later with each keep-alive, and never before the grant's.
TEST_F(EtcdTest, RenewalsReportTheEarliestTimeTheLeaseCanExpire) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kDelay = std::chrono::milliseconds(300);
  testing::FaultProxy proxy(etcd_->endpoint());
  proxy.SetDelayMs(static_cast<int>(kDelay.count()));
  auto via_proxy = NewClient({proxy.address()});
  const Clock::time_point before_grant = Clock::now();
  auto lease = via_proxy->GrantLease(3);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_GE(lease->asked_at, before_grant);
  EXPECT_LE(lease->asked_at + kDelay, Clock::now());
  absl::Mutex mu;
  std::vector<std::pair<Clock::time_point, Clock::time_point>> reports;  // (arrival, until)
  LossLog losses;
  auto keeper = via_proxy->KeepAlive(*lease, losses.Callback(), [&](Clock::time_point until) {
    absl::MutexLock l(&mu);
    reports.emplace_back(Clock::now(), until);
  });
  ASSERT_TRUE(testing::WaitFor([&] { return keeper->renewals() >= 3; }, absl::Seconds(20)))
      << keeper->status();
  keeper.reset();
  absl::MutexLock l(&mu);
  ASSERT_GE(reports.size(), 3u);
  const auto ttl = std::chrono::seconds(lease->ttl_seconds);
  Clock::time_point last = lease->asked_at + ttl;
  for (const auto& [arrival, until] : reports) {
    EXPECT_LE(until + kDelay, arrival + ttl);
    EXPECT_GT(until, last);
    last = until;
  }
}

TEST_F(EtcdTest, LeaseTimeToLiveTellsTheTtlLeftAndMinusOneOnceGone) {
  auto lease = client_->GrantLease(5);
  ASSERT_TRUE(lease.ok()) << lease.status();
  auto info = client_->LeaseTimeToLive(lease->id);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->granted_ttl_seconds, 5);
  EXPECT_GE(info->ttl_seconds, 1);
  EXPECT_LE(info->ttl_seconds, 5);
  ASSERT_TRUE(client_->RevokeLease(lease->id).ok());
  info = client_->LeaseTimeToLive(lease->id);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ttl_seconds, -1);
}

TEST_F(EtcdTest, ARevokedLeaseIsReportedLostOnce) {
  auto lease = client_->GrantLease(3);
  ASSERT_TRUE(lease.ok()) << lease.status();
  LossLog losses;
  auto keeper = client_->KeepAlive(*lease, losses.Callback());
  ASSERT_TRUE(testing::WaitFor([&] { return keeper->renewals() >= 1; }, absl::Seconds(10)));
  ASSERT_TRUE(client_->RevokeLease(lease->id).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return !keeper->status().ok(); }, absl::Seconds(10)))
      << "a revoked lease was not reported";
  EXPECT_EQ(keeper->status().code(), absl::StatusCode::kNotFound) << keeper->status();
  EXPECT_TRUE(absl::StrContains(keeper->status().message(), absl::StrCat(lease->id)));
  absl::MutexLock l(&losses.mu);
  EXPECT_EQ(losses.calls, 1);
  EXPECT_EQ(losses.status, keeper->status());
  // Revoking it again: etcd no longer knows it.
  EXPECT_EQ(client_->RevokeLease(lease->id).code(), absl::StatusCode::kNotFound);
}

// etcd unreachable without a closed connection (a black hole): the keeper
// must not wait on its stream forever but report the lease lost once a
// whole TTL passed without an answer.
TEST_F(EtcdTest, AKeeperCutOffFromEtcdReportsTheLeaseLost) {
  testing::FaultProxy proxy(etcd_->endpoint());
  auto via_proxy = NewClient({proxy.address()});
  auto lease = via_proxy->GrantLease(1);
  ASSERT_TRUE(lease.ok()) << lease.status();
  LossLog losses;
  auto keeper = via_proxy->KeepAlive(*lease, losses.Callback());
  ASSERT_TRUE(testing::WaitFor([&] { return keeper->renewals() >= 1; }, absl::Seconds(10)));
  proxy.Blackhole();
  ASSERT_TRUE(testing::WaitFor([&] { return !keeper->status().ok(); }, absl::Seconds(15)))
      << "no loss reported while etcd was unreachable";
  EXPECT_EQ(keeper->status().code(), absl::StatusCode::kUnavailable) << keeper->status();
  absl::MutexLock l(&losses.mu);
  EXPECT_EQ(losses.calls, 1);
}

}  // namespace
}  // namespace historian::cluster
