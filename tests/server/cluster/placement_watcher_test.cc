// File: placement_watcher_test.cc
// Membership, PlacementWatcher and Cluster.Init's etcd side (EtcdClusterAdmin)
// in-process against a real etcd: members register and show alive; init
// writes a balanced placement once; a placement change made with a
// compare-and-swap is seen; a revoked lease is re-registered; a watch that
// missed a compaction reads again; the cached placement serves while etcd is
// unreachable; a member's lease fence refuses before its key can be gone.
#include "server/cluster/placement_watcher.h"

#include <chrono>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/cluster/cluster_admin.h"
#include "server/cluster/lease_fence.h"
#include "server/cluster/membership.h"
#include "server/cluster/placement.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

class PlacementWatcherTest : public EtcdTest {
 protected:
  std::unique_ptr<Membership> Join(const std::string& id, const std::string& address,
                                   const EtcdClient* etcd = nullptr, LeaseFence* fence = nullptr) {
    MembershipOptions m;
    m.site = "us";
    m.member_id = id;
    m.record = {address, 1, kClusterFormatVersion};
    m.lease_ttl_seconds = 2;
    m.fence = fence;
    return std::make_unique<Membership>(etcd != nullptr ? etcd : client_.get(), m);
  }
  std::unique_ptr<PlacementWatcher> Watch(const std::string& self, const EtcdClient* etcd,
                                          const std::string& cache = "") {
    PlacementWatcherOptions w;
    w.site = "us";
    w.self_id = self;
    w.cache_path = cache;
    return std::make_unique<PlacementWatcher>(etcd, w);
  }
  static bool Alive(const PlacementWatcher& w, size_t n) { return w.alive_members().size() == n; }
  static int64_t Revision(const PlacementWatcher& w) {
    auto p = w.placement();
    return p == nullptr ? 0 : p->revision();
  }
};

TEST_F(PlacementWatcherTest, MembersRegisterInitPlacesThemAndChangesAreSeen) {
  auto a = Join("a", "127.0.0.1:1001");
  auto b = Join("b", "127.0.0.1:1002");
  auto watcher = Watch("a", client_.get());
  ASSERT_TRUE(testing::WaitFor([&] { return Alive(*watcher, 2); }, absl::Seconds(10)));
  EXPECT_EQ(watcher->placement(), nullptr) << "no placement before init";
  EXPECT_TRUE(watcher->OwnsTag("anything")) << "outside a placement a node owns every tag";

  EtcdClusterAdmin admin(client_.get(), "us", "a");
  auto init = admin.Init(16);
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_EQ(init->placement().members_size(), 2);
  ASSERT_TRUE(testing::WaitFor([&] { return Revision(*watcher) == init->placement().revision(); },
                               absl::Seconds(10)));
  EXPECT_EQ(watcher->placement()->ShardsOwnedBy("a").size(), 8u);
  EXPECT_EQ(watcher->placement()->ShardsOwnedBy("b").size(), 8u);

  auto again = admin.Init(16);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(again.status().message(), "num_shards=16")) << again.status();

  // An operator's change: every shard to b, guarded by the read revision.
  auto current = client_->Get(PlacementKey("us"));
  ASSERT_TRUE(current.ok() && current->kvs.size() == 1);
  auto all_b = Placement::Create("us", 16, {{"a", "127.0.0.1:1001"}, {"b", "127.0.0.1:1002"}},
                                 std::vector<uint32_t>(16, 1), 0);
  ASSERT_TRUE(all_b.ok());
  auto put =
      client_->PutIfModRevision(PlacementKey("us"), all_b->Encode(), current->kvs[0].mod_revision);
  ASSERT_TRUE(put.ok() && put->committed);
  ASSERT_TRUE(
      testing::WaitFor([&] { return Revision(*watcher) == put->revision; }, absl::Seconds(10)));
  EXPECT_FALSE(watcher->OwnsTag("anything"));

  // A member stopping (its lease revoked on destruction) shows at once.
  b.reset();
  ASSERT_TRUE(testing::WaitFor([&] { return Alive(*watcher, 1); }, absl::Seconds(5)));
  EXPECT_EQ(watcher->alive_members(), std::vector<std::string>{"a"});
  auto status = admin.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->members_size(), 2);
  EXPECT_TRUE(status->members(0).alive());
  EXPECT_FALSE(status->members(1).alive());
  // LeaseTimeToLive: a's lease (TTL 2 s) is kept; b has none.
  EXPECT_EQ(status->members(0).lease_granted_ttl_seconds(), 2);
  EXPECT_GE(status->members(0).lease_ttl_seconds(), 0);
  EXPECT_LE(status->members(0).lease_ttl_seconds(), 2);
  EXPECT_EQ(status->members(1).lease_ttl_seconds(), -1);
  EXPECT_EQ(status->members(1).shards_owned(), 16u);
}

TEST_F(PlacementWatcherTest, ARevokedLeaseIsRegisteredAgain) {
  auto a = Join("a", "127.0.0.1:1001");
  ASSERT_TRUE(testing::WaitFor([&] { return a->registered(); }, absl::Seconds(10)));
  const int64_t lease = a->lease_id();
  ASSERT_TRUE(client_->RevokeLease(lease).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return a->registrations() >= 2 && a->registered(); },
                               absl::Seconds(10)))
      << a->last_error();
  EXPECT_NE(a->lease_id(), lease);
  auto key = client_->Get(MemberKey("us", "a"));
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->kvs.size(), 1u) << "the member key did not come back";
  EXPECT_EQ(key->kvs[0].lease, a->lease_id());
}

// How long a member's key has been gone, as a watcher saw it
// (remove-node --lost waits on it): refused while registered, counted from
// the delete it saw with the fence the member published, and from the
// watcher's first read for a member it never saw. The clock is passed in.
// Also whether a member takes write slices, from its record.
TEST_F(PlacementWatcherTest, AbsenceOfAMemberCountsFromTheDeleteItSaw) {
  MembershipOptions m;
  m.site = "us";
  m.member_id = "b";
  m.record = {"127.0.0.1:1002", 1, kClusterFormatVersion, /*isolation_fence_ms=*/7000};
  m.lease_ttl_seconds = 2;
  auto b = std::make_unique<Membership>(client_.get(), m);
  auto watcher = Watch("a", client_.get());
  ASSERT_TRUE(testing::WaitFor([&] { return Alive(*watcher, 1); }, absl::Seconds(10)));
  auto revision = [&] {
    auto r = client_->Get(PlacementKey("us"));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->revision : 0;
  };
  const auto t = std::chrono::steady_clock::now();
  auto alive = watcher->AbsenceOf("b", revision(), absl::Seconds(5), t);
  EXPECT_EQ(alive.status().code(), absl::StatusCode::kFailedPrecondition) << alive.status();
  // Its record says no write slices (an older node's says nothing); a
  // member never seen is not known to lack them.
  EXPECT_FALSE(watcher->MemberTakesSlices("b"));
  EXPECT_TRUE(watcher->MemberTakesSlices("z"));
  auto never = watcher->AbsenceOf("z", revision(), absl::Seconds(5), t + std::chrono::hours(1));
  ASSERT_TRUE(never.ok()) << never.status();
  EXPECT_GE(never->gone_for, absl::Hours(1)) << "counted from the first read, before t";
  EXPECT_LE(
      never->gone_for,
      absl::Hours(1) + absl::FromChrono(std::chrono::steady_clock::now() - t) + absl::Seconds(10));
  EXPECT_EQ(never->published_fence, absl::ZeroDuration());
  auto lag = watcher->AbsenceOf("z", revision() + 1000, absl::Milliseconds(50), t);
  EXPECT_EQ(lag.status().code(), absl::StatusCode::kUnavailable) << lag.status();

  const auto before_delete = std::chrono::steady_clock::now();
  b.reset();  // its lease revoked (or, failing that, expired): the key goes
  ASSERT_TRUE(
      testing::WaitFor([&] { return watcher->AbsenceOf("b", revision(), absl::Seconds(10)).ok(); },
                       absl::Seconds(30)));
  EXPECT_FALSE(watcher->MemberTakesSlices("b")) << "the last record seen";
  const auto seen_by = std::chrono::steady_clock::now();  // the delete was applied before
  auto gone = watcher->AbsenceOf("b", 0, absl::Seconds(10), seen_by + std::chrono::seconds(100));
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_GE(gone->gone_for, absl::Seconds(100));
  EXPECT_LE(gone->gone_for, absl::Seconds(100) + absl::FromChrono(seen_by - before_delete));
  EXPECT_EQ(gone->published_fence, absl::Seconds(7));

  // Registered again (now saying it takes slices): not gone.
  m.record.write_slices = true;
  auto back = std::make_unique<Membership>(client_.get(), m);
  ASSERT_TRUE(testing::WaitFor([&] { return Alive(*watcher, 1); }, absl::Seconds(10)));
  auto again = watcher->AbsenceOf("b", revision(), absl::Seconds(5));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_TRUE(watcher->MemberTakesSlices("b"));
}

TEST_F(PlacementWatcherTest, TwoNodesCannotShareAMemberId) {
  auto a = Join("a", "127.0.0.1:1001");
  ASSERT_TRUE(testing::WaitFor([&] { return a->registered(); }, absl::Seconds(10)));
  auto copy = Join("a", "127.0.0.1:1002");
  ASSERT_TRUE(testing::WaitFor([&] { return !copy->last_error().ok(); }, absl::Seconds(10)));
  EXPECT_EQ(copy->last_error().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(copy->last_error().message(), "127.0.0.1:1001"))
      << copy->last_error();
  EXPECT_FALSE(copy->registered());
  auto key = client_->Get(MemberKey("us", "a"));
  ASSERT_TRUE(key.ok() && key->kvs.size() == 1);
  EXPECT_TRUE(absl::StrContains(key->kvs[0].value, "127.0.0.1:1001"));
}

TEST_F(PlacementWatcherTest, AWatchThatMissedACompactionReadsAgain) {
  testing::FaultProxy proxy(etcd_->endpoint());
  auto via_proxy = NewClient({proxy.address()});
  auto a = Join("a", "127.0.0.1:1001");
  ASSERT_TRUE(testing::WaitFor([&] { return a->registered(); }, absl::Seconds(10)));
  EtcdClusterAdmin admin(client_.get(), "us", "a");
  ASSERT_TRUE(admin.Init(8).ok());
  auto watcher = Watch("a", via_proxy.get());
  ASSERT_TRUE(testing::WaitFor([&] { return Revision(*watcher) > 0; }, absl::Seconds(10)));
  absl::Mutex mu;
  std::vector<std::pair<int64_t, bool>> seen;  // (revision, contiguous) per change
  const uint64_t listener = watcher->AddPlacementListener(
      [&](const std::shared_ptr<const Placement>&, const std::shared_ptr<const Placement>& after,
          bool contiguous) {
        absl::MutexLock l(&mu);
        seen.emplace_back(after->revision(), contiguous);
      });
  proxy.Cut();
  // Changes while cut, then a compaction past them.
  int64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    auto current = client_->Get(PlacementKey("us"));
    ASSERT_TRUE(current.ok() && current->kvs.size() == 1);
    auto p = Placement::Create("us", 8, {{"a", "127.0.0.1:1001"}}, std::vector<uint32_t>(8, 0), 0);
    auto put =
        client_->PutIfModRevision(PlacementKey("us"), p->Encode(), current->kvs[0].mod_revision);
    ASSERT_TRUE(put.ok() && put->committed);
    last = put->revision;
  }
  EXPECT_LT(Revision(*watcher), last) << "the cut watcher saw a change";
  ASSERT_EQ(etcd_->Ctl({"compact", std::to_string(last)}).exit_code, 0);
  proxy.Heal();
  ASSERT_TRUE(testing::WaitFor([&] { return Revision(*watcher) == last; }, absl::Seconds(20)))
      << "revision " << Revision(*watcher) << ", last error " << watcher->stats().last_error;
  EXPECT_GE(watcher->stats().resyncs, 1);
  watcher->RemovePlacementListener(listener);
  // The re-read skipped revisions: its change is not contiguous (a
  // fanned-out Subscribe ends then, docs/cluster.md "Subscribe").
  absl::MutexLock l(&mu);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), std::make_pair(last, false));
}

// Placements that arrive in one watch batch are installed one by one, in
// order: the listeners see each revision (a shard that moves away and back
// within the batch is seen moving).
TEST_F(PlacementWatcherTest, EveryPlacementOfAWatchBatchReachesTheListeners) {
  testing::FaultProxy proxy(etcd_->endpoint());
  proxy.Cut();  // nothing but the test applies changes
  auto unreachable = NewClient({proxy.address()});
  auto watcher = Watch("a", unreachable.get());
  std::vector<std::tuple<int64_t, int64_t, bool>> seen;  // (before, after, contiguous)
  absl::Mutex mu;
  const uint64_t listener = watcher->AddPlacementListener(
      [&](const std::shared_ptr<const Placement>& before,
          const std::shared_ptr<const Placement>& after, bool contiguous) {
        absl::MutexLock l(&mu);
        seen.emplace_back(before != nullptr ? before->revision() : 0, after->revision(),
                          contiguous);
      });
  std::vector<EtcdEvent> events;
  const std::vector<uint32_t> owner_of_0 = {0, 1, 0};  // shard 0: a, then b, then a again
  for (int i = 0; i < 3; ++i) {
    std::vector<uint32_t> owners(4, 0);
    owners[0] = owner_of_0[i];
    auto p =
        Placement::Create("us", 4, {{"a", "127.0.0.1:1001"}, {"b", "127.0.0.1:1002"}}, owners, 0);
    ASSERT_TRUE(p.ok()) << p.status();
    EtcdEvent e;
    e.kv.key = PlacementKey("us");
    e.kv.value = p->Encode();
    e.kv.mod_revision = 100 + i;
    events.push_back(std::move(e));
  }
  watcher->TEST_OnEvents(events);
  watcher->RemovePlacementListener(listener);
  EXPECT_EQ(Revision(*watcher), 102);
  absl::MutexLock l(&mu);
  const std::vector<std::tuple<int64_t, int64_t, bool>> want = {
      {0, 100, true}, {100, 101, true}, {101, 102, true}};
  EXPECT_EQ(seen, want);
}

TEST_F(PlacementWatcherTest, TheCachedPlacementServesWhileEtcdIsUnreachable) {
  auto a = Join("a", "127.0.0.1:1001");
  ASSERT_TRUE(testing::WaitFor([&] { return a->registered(); }, absl::Seconds(10)));
  EtcdClusterAdmin admin(client_.get(), "us", "a");
  auto init = admin.Init(8);
  ASSERT_TRUE(init.ok()) << init.status();
  const std::string cache = dir_.Sub("placement.cache");
  {
    auto watcher = Watch("a", client_.get(), cache);
    ASSERT_TRUE(testing::WaitFor([&] { return Revision(*watcher) == init->placement().revision(); },
                                 absl::Seconds(10)));
  }
  testing::FaultProxy proxy(etcd_->endpoint());
  proxy.Cut();
  auto unreachable = NewClient({proxy.address()});
  auto watcher = Watch("a", unreachable.get(), cache);
  // At once, from the cache: no etcd read happened.
  EXPECT_EQ(Revision(*watcher), init->placement().revision());
  EXPECT_FALSE(watcher->stats().synced);
  EXPECT_EQ(watcher->placement()->ShardsOwnedBy("a").size(), 8u);
  proxy.Heal();
  EXPECT_TRUE(watcher->WaitForSync(absl::Seconds(20)));
}

// The lease fence of a member reaching etcd through a proxy, its watcher
// reaching etcd directly: held once registered and seen; refused by the
// time etcd has expired the lease of a member cut off (its key gone); held
// again once the member registered anew and the watcher saw it.
TEST_F(PlacementWatcherTest, AMembersLeaseFenceRefusesBeforeItsKeyCanBeGone) {
  testing::FaultProxy proxy(etcd_->endpoint());
  auto via_proxy = NewClient({proxy.address()});
  auto watcher = Watch("a", client_.get());
  LeaseFence fence([w = watcher.get()] { return w->SeenThroughRevision(); });
  auto a = Join("a", "127.0.0.1:1001", via_proxy.get(), &fence);
  ASSERT_TRUE(testing::WaitFor([&] { return fence.CheckHeld().ok(); }, absl::Seconds(10)))
      << fence.CheckHeld();
  auto key = client_->Get(MemberKey("us", "a"));
  ASSERT_TRUE(key.ok() && key->kvs.size() == 1);
  EXPECT_LE(key->kvs[0].mod_revision, watcher->SeenThroughRevision());

  // Every keep-alive answered before the cut was sent before it: one TTL
  // (2 s) after the cut the fence refuses, whatever happens meanwhile.
  const LeaseFence::Clock::time_point cut = LeaseFence::Clock::now();
  proxy.Blackhole();
  const absl::Status at_ttl = fence.CheckHeld(cut + std::chrono::seconds(2));
  EXPECT_EQ(at_ttl.code(), absl::StatusCode::kUnavailable) << at_ttl;
  ASSERT_TRUE(testing::WaitFor([&] { return client_->Get(MemberKey("us", "a"))->kvs.empty(); },
                               absl::Seconds(20)))
      << "the cut-off member's key did not expire";
  // Another node may now fence or reassign its shards: it refuses.
  const absl::Status refused = fence.CheckHeld();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;

  proxy.Heal();
  ASSERT_TRUE(testing::WaitFor([&] { return fence.CheckHeld().ok(); }, absl::Seconds(20)))
      << fence.CheckHeld();
  EXPECT_GE(a->registrations(), 2);
  key = client_->Get(MemberKey("us", "a"));
  ASSERT_TRUE(key.ok() && key->kvs.size() == 1);
  EXPECT_EQ(key->kvs[0].lease, a->lease_id());
  EXPECT_LE(key->kvs[0].mod_revision, watcher->SeenThroughRevision());
}

}  // namespace
}  // namespace historian::cluster
