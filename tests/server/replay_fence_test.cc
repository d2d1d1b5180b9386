// ReplayFence and ReplayFiltered (server/replay_fence.h): a peer's entries
// replayed after a repair that already reflects them never take a sample
// back to an older value of the same second. Real Stores, the entries the
// origin's own log holds.
#include "server/replay_fence.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(ReplayFenceTest, CoversEntriesUpToTheRepairsSequenceUntilPassed) {
  ReplayFence fence;
  EXPECT_FALSE(fence.Covering(1).has_value());
  fence.Note(0, 0, 100);  // a peer that predates applied_sequence: no fence
  EXPECT_FALSE(fence.Covering(1).has_value());
  fence.Note(7, 0, 100);
  ASSERT_TRUE(fence.Covering(7).has_value());
  EXPECT_EQ(fence.Covering(3)->start, 0);
  EXPECT_EQ(fence.Covering(3)->end, 100);
  EXPECT_FALSE(fence.Covering(8).has_value());
  // A second repair while the first is pending: up to the later entry,
  // within what both covered.
  fence.Note(9, 50, 200);
  ASSERT_TRUE(fence.Covering(9).has_value());
  EXPECT_EQ(fence.Covering(9)->start, 50);
  EXPECT_EQ(fence.Covering(9)->end, 100);
  fence.Passed(8);
  EXPECT_TRUE(fence.Covering(9).has_value());
  fence.Passed(9);
  EXPECT_FALSE(fence.Covering(9).has_value());
  // Disjoint ranges vouch for nothing together.
  fence.Note(3, 0, 10);
  fence.Note(4, 20, 30);
  EXPECT_FALSE(fence.Covering(1).has_value());
}

class ReplayFilteredTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(const std::string& site, const std::string& peer) {
    StoreOptions o;
    o.path = dir_.Sub(site + std::to_string(opened_++));
    o.site = site;
    o.peers = {peer};
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    // One second for every write: the origin's correction ties with the
    // original it corrects.
    o.now_ns = [] { return int64_t{1700000000} * kSecond; };
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static void Write(Store* store, TagId tag, const std::vector<std::pair<int64_t, double>>& s) {
    WriteInput in;
    engine::SeriesData series;
    series.tag = tag;
    series.cols.Reset(ValueType::kDouble);
    for (auto [ts, v] : s) {
      series.cols.timestamps.push_back(ts);
      series.cols.doubles.push_back(v);
      series.cols.qualities.push_back(0);
    }
    in.series.push_back(std::move(series));
    ASSERT_TRUE(store->Write(std::move(in)).ok());
  }

  static std::map<int64_t, double> Read(const Store& store, TagId tag) {
    codec::ChunkColumns c;
    EXPECT_TRUE(store.ReadRaw(tag, 0, 1000, 0, &c).ok());
    std::map<int64_t, double> out;
    for (size_t i = 0; i < c.size(); ++i) out[c.timestamps[i]] = c.doubles[i];
    return out;
  }

  // us writes 10=1, 20=1, then corrects 10=2 within the second; `mx`
  // repairs from us's state before its log brought either entry.
  TagId Prepare(Store* us, Store* mx) {
    auto tag = us->ResolveTagForWrite("fixed", ValueType::kDouble);
    EXPECT_TRUE(tag.ok());
    Write(us, tag->id, {{10, 1}, {20, 1}});
    Write(us, tag->id, {{10, 2}});
    engine::SeriesData fetched;
    fetched.tag = tag->id;
    EXPECT_TRUE(us->ReadRaw(tag->id, 0, 1000, 0, &fetched.cols).ok());
    auto n = mx->ApplyRepair({*tag}, {fetched});
    EXPECT_TRUE(n.ok()) << n.status();
    return tag->id;
  }

  OwnLogBatch Entries(const Store& us) {
    OwnLogBatch batch;
    EXPECT_TRUE(us.ReadOwnLog(1, size_t{1} << 30, &batch).ok());
    // The tag's definition, then the two writes.
    EXPECT_EQ(batch.records.size(), 3u);
    return batch;
  }

  testing::TempDir dir_;
  int opened_ = 0;
};

TEST_F(ReplayFilteredTest, EntriesARepairReflectsNeverUndoIt) {
  std::unique_ptr<Store> us = Open("us", "mx"), mx = Open("mx", "us");
  ASSERT_NE(us, nullptr);
  ASSERT_NE(mx, nullptr);
  const TagId tag = Prepare(us.get(), mx.get());
  ASSERT_EQ(Read(*mx, tag), (std::map<int64_t, double>{{10, 2}, {20, 1}}));
  ReplayFence fence;
  fence.Note(us->OwnAppliedSequence(), kMinTimestamp, kMaxTimestamp);
  const OwnLogBatch batch = Entries(*us);
  for (const auto& [seq, bytes] : batch.records) {
    std::optional<TimeRange> reflected = fence.Covering(seq);
    ASSERT_TRUE(reflected.has_value()) << seq;
    std::string replay;
    bool changed = false;
    ASSERT_TRUE(ReplayFiltered(*mx, *reflected, bytes, &replay, &changed).ok());
    EXPECT_EQ(changed, seq != batch.records.front().first)
        << "entry " << seq << ": each write ties with the repaired samples";
    auto n = mx->ApplyReplicated("us", seq, changed ? replay : bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    fence.Passed(mx->AppliedSequence("us"));
    EXPECT_EQ(Read(*mx, tag), (std::map<int64_t, double>{{10, 2}, {20, 1}}))
        << "after entry " << seq;
  }
  EXPECT_FALSE(fence.Covering(1).has_value());
  EXPECT_EQ(mx->AppliedSequence("us"), us->OwnAppliedSequence());
}

// Without the fence the first entry, applied after the repair, wins the
// tie: the read goes back to the value the origin corrected.
TEST_F(ReplayFilteredTest, UnfilteredTheFirstEntryTakesTheSampleBack) {
  std::unique_ptr<Store> us = Open("us", "mx"), mx = Open("mx", "us");
  ASSERT_NE(us, nullptr);
  ASSERT_NE(mx, nullptr);
  const TagId tag = Prepare(us.get(), mx.get());
  OwnLogBatch batch = Entries(*us);
  for (size_t i = 0; i < 2; ++i) {  // the definition, the first write
    auto n = mx->ApplyReplicated("us", batch.records[i].first, batch.records[i].second);
    ASSERT_TRUE(n.ok()) << n.status();
  }
  EXPECT_EQ(Read(*mx, tag), (std::map<int64_t, double>{{10, 1}, {20, 1}}));
}

// Outside the range the repair compared, an entry replays as it is.
TEST_F(ReplayFilteredTest, SamplesOutsideTheRepairedRangeReplayAsTheyAre) {
  std::unique_ptr<Store> us = Open("us", "mx"), mx = Open("mx", "us");
  ASSERT_NE(us, nullptr);
  ASSERT_NE(mx, nullptr);
  const TagId tag = Prepare(us.get(), mx.get());
  OwnLogBatch batch = Entries(*us);
  ASSERT_TRUE(mx->ApplyReplicated("us", batch.records[0].first, batch.records[0].second).ok());
  std::string replay;
  bool changed = false;
  ASSERT_TRUE(
      ReplayFiltered(*mx, TimeRange{15, 100}, batch.records[1].second, &replay, &changed).ok());
  EXPECT_TRUE(changed);  // 20=1 ties inside the range
  auto n = mx->ApplyReplicated("us", batch.records[1].first, replay);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);  // 10=1 only
  EXPECT_EQ(Read(*mx, tag), (std::map<int64_t, double>{{10, 1}, {20, 1}}));
}

}  // namespace
}  // namespace historian::server
