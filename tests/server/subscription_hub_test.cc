// SubscriptionHub in process: the hand-over from a catch-up (log reads) to
// live buffering. The own log is written before its entries are applied,
// so a catch-up can read entry N and end before N's apply reaches the hub;
// N must then not be buffered again. The test drives OnApplied directly to
// put an entry in that window deterministically.
#include "server/subscriptions/subscription_hub.h"

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "historian/v1/query.pb.h"
#include "server/subscriptions/batch_wire.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

class NullSink : public SubscriptionSink {
 public:
  void Ready() override {}
};

// Counts its wakes.
class CountingSink : public SubscriptionSink {
 public:
  void Ready() override {
    absl::MutexLock l(&mu_);
    ++count_;
  }
  int count() const {
    absl::MutexLock l(&mu_);
    return count_;
  }
  // Whether it was woken at least `n` times within `patience`.
  bool WaitFor(int n, absl::Duration patience) const {
    absl::MutexLock l(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), patience);
  }

 private:
  mutable absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

codec::ChunkColumns OneSample(int64_t ts) {
  codec::ChunkColumns cols;
  cols.timestamps = {ts};
  cols.doubles = {1.0};
  cols.qualities = {0};
  cols.versions = {1};
  return cols;
}

// A store of site "us" in `dir`, without fsync.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const testing::TempDir& dir) {
  StoreOptions o;
  o.path = dir.Sub("db");
  o.site = "us";
  o.sync_writes = false;
  return Store::Open(o);
}

TEST(SubscriptionHubTest, AnEntryTheCatchUpReadIsNotSentAgainWhenItsApplyComesAfterTheHandOver) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(dir);
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

// A dropped shard's move origin (Store::DropShard) leaves the positions:
// resume tokens stop naming it, and the other origins keep theirs.
TEST(SubscriptionHubTest, AForgottenOriginLeavesThePositions) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  SubscriptionHub hub(store->get(), SubscriptionHubOptions{});
  NullSink sink;
  TagFilter filter;
  filter.names.insert("a");
  absl::StatusOr<SubscriptionHub::Id> id = hub.Add("client", filter, &sink, /*catch_up=*/false);
  ASSERT_TRUE(id.ok()) << id.status();
  const codec::ChunkColumns c1 = OneSample(1), c2 = OneSample(2);
  hub.OnApplied("us", 3, {{1, "a", &c1}});
  hub.OnApplied("move/2/b@1", 4, {{1, "a", &c2}});
  SubscriptionHub::Taken t = hub.Take(*id, 1 << 20);
  ASSERT_EQ(t.batches.size(), 2u);
  const std::map<std::string, uint64_t> both = {{"move/2/b@1", 4}, {"us", 3}};
  EXPECT_EQ(t.positions, both);
  hub.OnOriginsForgotten({"move/2/b@1"});
  t = hub.Take(*id, 1 << 20);
  EXPECT_TRUE(t.batches.empty());
  const std::map<std::string, uint64_t> own = {{"us", 3}};
  EXPECT_EQ(t.positions, own);
  hub.Remove(*id);
}

// A response may end inside an entry (responses stay near their byte
// budget, and one write can hold many MiB), but its positions (the resume
// token) then stop before that entry: a resume reads on after the entries
// the token counts, so one counted whole while part of it waited in the
// buffer would lose that part if the stream ended in between.
TEST(SubscriptionHubTest, AResumeTokenNeverCountsAnEntryItHoldsOnlyPartOf) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  SubscriptionHub hub(store->get(), SubscriptionHubOptions{});
  NullSink sink;
  TagFilter filter;
  filter.names = {"a", "b", "c"};
  absl::StatusOr<SubscriptionHub::Id> id = hub.Add("client", filter, &sink, /*catch_up=*/false);
  ASSERT_TRUE(id.ok()) << id.status();
  const codec::ChunkColumns c1 = OneSample(1), c2 = OneSample(2), c3 = OneSample(3);
  hub.OnApplied("us", 6, {{1, "a", &c1}});
  hub.OnApplied("us", 7, {{1, "a", &c1}, {2, "b", &c2}, {3, "c", &c3}});
  hub.OnApplied("us", 8, {{1, "a", &c1}});
  // A byte budget of one series a response.
  std::vector<uint64_t> seqs, tokens;
  for (int n = 0; n < 5; ++n) {
    SubscriptionHub::Taken t = hub.Take(*id, 1);
    ASSERT_EQ(t.batches.size(), 1u) << "response " << n;
    seqs.push_back(t.batches[0].seq());
    tokens.push_back(t.positions["us"]);
    hub.Kick(*id);
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{6, 7, 7, 7, 8}));
  EXPECT_EQ(tokens, (std::vector<uint64_t>{6, 6, 6, 7, 8}));
  hub.Remove(*id);
}

// Live delivery against a model: random entries over subscribed and other
// tags, taken in random small pieces (a Take while the previous one is
// "being sent" coalesces what came meanwhile), with and without buffer
// overflows. Every applied sample of a wanted tag is taken exactly once, in
// apply order per tag, or lies in a `lagged` range reported before the
// batches that follow the gap: never silently lost.
TEST(SubscriptionHubTest, TakesKeepApplyOrderAndLoseNothingSilently) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const auto& [buffer_bytes, form] :
       std::vector<std::pair<uint64_t, BatchForm>>{{uint64_t{1} << 30, BatchForm::kCopy},
                                                   {uint64_t{64} << 10, BatchForm::kCopy},
                                                   {uint64_t{1} << 30, BatchForm::kColumnsWire},
                                                   {uint64_t{64} << 10, BatchForm::kColumnsWire}}) {
    SCOPED_TRACE(form == BatchForm::kCopy ? "copy" : "columns wire");
    SubscriptionHubOptions options;
    options.buffer_bytes = buffer_bytes;
    SubscriptionHub hub(store->get(), options);
    NullSink sink;
    TagFilter filter;
    filter.names = {"a", "b", "c"};
    absl::StatusOr<SubscriptionHub::Id> id = hub.Add("client", filter, &sink, false, form);
    ASSERT_TRUE(id.ok()) << id.status();
    std::mt19937 rng(static_cast<uint32_t>(buffer_bytes));
    // A batch's timestamps: from its copy, or decoded from its wire form
    // (what Query.Subscribe sends).
    auto timestamps = [form = form](const SampleBatch& b) {
      if (form == BatchForm::kCopy) return b.cols().timestamps;
      std::string bytes;
      AppendBatchWire(b, /*columns=*/true, &bytes);
      v1::SubscribeResponse r;
      EXPECT_TRUE(r.ParseFromString(bytes));
      EXPECT_EQ(r.batches_size(), 1);
      std::vector<int64_t> out;
      int64_t t = 0;
      for (int64_t d : r.batches(0).columns().timestamp_deltas_ns()) out.push_back(t += d);
      EXPECT_EQ(r.batches(0).tag(), b.tag());
      EXPECT_EQ(r.batches(0).origin_site(), "us");
      return out;
    };
    const std::vector<std::string> tags = {"a", "b", "c", "d"};
    std::map<std::string, std::vector<int64_t>> applied, got;
    std::vector<std::pair<int64_t, int64_t>> lost_ranges;
    int64_t ts = 0;
    uint64_t seq = 0;
    auto take = [&](size_t max_bytes) {
      SubscriptionHub::Taken t = hub.Take(*id, max_bytes);
      if (t.lagged) {
        EXPECT_LE(t.lost_min_ns, t.lost_max_ns);
        lost_ranges.emplace_back(t.lost_min_ns, t.lost_max_ns);
      }
      uint64_t last_seq = 0;
      for (const SampleBatch& b : t.batches) {
        EXPECT_GE(b.seq(), last_seq);  // apply order
        last_seq = b.seq();
        EXPECT_NE(b.tag(), "d");
        for (int64_t x : timestamps(b)) got[b.tag()].push_back(x);
      }
      if (t.batches.size() > 0 || t.lagged) hub.Kick(*id);  // "sent"
      return t;
    };
    for (int step = 0; step < 3000; ++step) {
      ++seq;
      std::vector<codec::ChunkColumns> cols;
      std::vector<std::string> names;
      for (const std::string& tag : tags) {
        if (rng() % 2) continue;
        codec::ChunkColumns c;
        const int n = 1 + static_cast<int>(rng() % 200);
        for (int i = 0; i < n; ++i) {
          c.timestamps.push_back(++ts);
          c.doubles.push_back(i);
          c.qualities.push_back(0);
          c.versions.push_back(1);
          if (tag != "d") applied[tag].push_back(ts);
        }
        cols.push_back(std::move(c));
        names.push_back(tag);
      }
      std::vector<AppliedSeries> series;
      for (size_t i = 0; i < cols.size(); ++i) {
        series.push_back({static_cast<TagId>(names[i][0]), names[i], &cols[i]});
      }
      hub.OnApplied("us", seq, series);
      if (rng() % 3 == 0) take(1 + rng() % 20000);
    }
    while (true) {
      SubscriptionHub::Taken t = take(1 << 20);
      if (t.batches.empty() && !t.lagged) {
        EXPECT_EQ(t.positions["us"], seq);
        break;
      }
    }
    for (const char* tag : {"a", "b", "c"}) {
      // What was taken: in order, no duplicates; the rest lies in a range
      // reported as lost.
      const std::vector<int64_t>& g = got[tag];
      for (size_t i = 1; i < g.size(); ++i) ASSERT_LT(g[i - 1], g[i]) << tag;
      size_t gi = 0;
      for (int64_t x : applied[tag]) {
        if (gi < g.size() && g[gi] == x) {
          ++gi;
          continue;
        }
        bool in_lost = false;
        for (const auto& [lo, hi] : lost_ranges) in_lost |= lo <= x && x <= hi;
        ASSERT_TRUE(in_lost) << tag << " sample " << x << " neither taken nor reported lost";
      }
      EXPECT_EQ(gi, g.size()) << tag << ": taken samples that were never applied";
    }
    if (buffer_bytes == (uint64_t{1} << 30)) {
      EXPECT_TRUE(lost_ranges.empty());
      for (const char* tag : {"a", "b", "c"}) EXPECT_EQ(got[tag], applied[tag]) << tag;
    } else {
      EXPECT_FALSE(lost_ranges.empty());  // the bound was hit
    }
    hub.Remove(*id);
  }
}

// WakeEvery (a cluster part's heartbeat): the sink is woken again and again
// with nothing applied, and not while it is sending what it took; Kick
// resumes the wakes. Counts, not times: each wait ends at the first wake.
TEST(SubscriptionHubTest, WakeEveryWakesAnIdleSinkUntilItTakesSomething) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  SubscriptionHub hub(store->get(), SubscriptionHubOptions{});
  CountingSink sink;
  TagFilter filter;
  filter.names.insert("a");
  absl::StatusOr<SubscriptionHub::Id> id = hub.Add("client", filter, &sink, /*catch_up=*/false);
  ASSERT_TRUE(id.ok()) << id.status();
  // The dispatcher, asleep with no wakes to keep, must wake for the first.
  hub.AwaitDispatcherAsleep();
  hub.WakeEvery(*id, absl::Milliseconds(20));
  EXPECT_TRUE(sink.WaitFor(3, absl::Seconds(60))) << "woken " << sink.count() << " times";
  // Sending (Take handed something out): no wake until Kick.
  const codec::ChunkColumns c1 = OneSample(1);
  hub.OnApplied("us", 1, {{1, "a", &c1}});
  ASSERT_TRUE(sink.WaitFor(sink.count() + 1, absl::Seconds(60)));
  ASSERT_EQ(hub.Take(*id, 1 << 20).batches.size(), 1u);
  const int after_take = sink.count();
  hub.Kick(*id);
  EXPECT_TRUE(sink.WaitFor(after_take + 3, absl::Seconds(60)));
  hub.Remove(*id);
}

}  // namespace
}  // namespace historian::server
