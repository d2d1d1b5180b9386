// SubscriptionHub in process: the hand-over from a catch-up (log reads) to
// live buffering. The own log is written before its entries are applied,
// so a catch-up can read entry N and end before N's apply reaches the hub;
// N must then not be buffered again. The test drives OnApplied directly to
// put an entry in that window deterministically.
#include "server/subscriptions/subscription_hub.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

class NullSink : public SubscriptionSink {
 public:
  void Ready() override {}
};

codec::ChunkColumns OneSample(int64_t ts) {
  codec::ChunkColumns cols;
  cols.timestamps = {ts};
  cols.doubles = {1.0};
  cols.qualities = {0};
  cols.versions = {1};
  return cols;
}

TEST(SubscriptionHubTest, AnEntryTheCatchUpReadIsNotSentAgainWhenItsApplyComesAfterTheHandOver) {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.Sub("db");
  o.site = "us";
  o.sync_writes = false;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status();
  SubscriptionHub hub(store->get(), SubscriptionHubOptions{});
  NullSink sink;
  TagFilter filter;
  filter.names.insert("a");
  absl::StatusOr<SubscriptionHub::Id> id = hub.Add("client", filter, &sink, /*catch_up=*/true);
  ASSERT_TRUE(id.ok()) << id.status();
  // The catch-up's log reads ended after entry 5 of "us"; entry 5's apply
  // has not reached the hub yet (skipped unchanged), so the hand-over
  // succeeds.
  ASSERT_TRUE(hub.EndCatchUp(*id, hub.SkippedWhileCatchingUp(*id), {{"us", 5}}));
  const codec::ChunkColumns c5 = OneSample(5), c6 = OneSample(6);
  hub.OnApplied("us", 5, {{1, "a", &c5}});  // sent by the catch-up already
  hub.OnApplied("us", 6, {{1, "a", &c6}});  // the first live one
  SubscriptionHub::Taken t = hub.Take(*id, 1 << 20);
  ASSERT_EQ(t.batches.size(), 1u);
  EXPECT_EQ(t.batches[0].seq(), 6u);
  EXPECT_EQ(t.batches[0].cols().timestamps, std::vector<int64_t>{6});
  EXPECT_FALSE(t.lagged);
  EXPECT_EQ(t.positions["us"], 6u);
  hub.Remove(*id);
}

}  // namespace
}  // namespace historian::server
