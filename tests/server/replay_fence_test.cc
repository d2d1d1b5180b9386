// ReplayFence and ReplayFiltered (server/replay_fence.h): a peer's entries
// replayed after a repair that already reflects them never take a sample
// back to an older value of the same second. Real Stores, the entries the
// origin's own log holds; last, the whole path in process: a real
// ReplicationService and Replicator, a gap's range sync and the replay.
#include "server/replay_fence.h"

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/applied_listener.h"
#include "storage/store.h"
#include "tests/testutil/double_series.h"
#include "tests/testutil/in_process_pull.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// One write of `samples` (timestamp, value) to the double tag `tag`.
void Write(Store* store, TagId tag, const std::vector<std::pair<int64_t, double>>& samples) {
  WriteInput in;
  in.series.push_back(testing::DoubleSeries(tag, samples));
  ASSERT_TRUE(store->Write(std::move(in)).ok());
}

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

// The fences of every link survive a restart (the file); a fence ended
// leaves the file; an unreadable file holds none.
TEST(ReplayFencesTest, PendingFencesSurviveARestart) {
  testing::TempDir dir;
  const std::string file = dir.Sub("REPLAY_FENCES");
  {
    ReplayFences f(file);
    f.Note("us", 9, 0, 100, /*cursor=*/2);
    f.Note("eu/member-1", 4, -5, 50, /*cursor=*/1);
    f.Note("eu/member-2", 3, 0, 10, /*cursor=*/3);  // applied already: none
    EXPECT_FALSE(f.Covering("eu/member-2", 3).has_value());
  }
  {
    ReplayFences f(file);
    ASSERT_TRUE(f.Covering("us", 9).has_value());
    EXPECT_EQ(f.Covering("us", 9)->end, 100);
    EXPECT_FALSE(f.Covering("us", 10).has_value());
    ASSERT_TRUE(f.Covering("eu/member-1", 4).has_value());
    EXPECT_EQ(f.Covering("eu/member-1", 4)->start, -5);
    f.Passed("us", 9);
  }
  {
    ReplayFences f(file);
    EXPECT_FALSE(f.Covering("us", 1).has_value());
    EXPECT_TRUE(f.Covering("eu/member-1", 1).has_value());
  }
  std::ofstream(file) << "us 9 0\n";
  ReplayFences unreadable(file);
  EXPECT_FALSE(unreadable.Covering("us", 1).has_value());
  EXPECT_FALSE(unreadable.Covering("eu/member-1", 1).has_value());
}

// us writes 10=1, 20=1, then corrects 10=2 within the second; mx repairs
// from us's state before its log brought either entry.
class ReplayFilteredTest : public ::testing::Test {
 protected:
  void SetUp() override {
    us_ = Open("us", "mx");
    mx_ = Open("mx", "us");
    ASSERT_TRUE(us_ && mx_);
    auto tag = us_->ResolveTagForWrite("fixed", ValueType::kDouble);
    ASSERT_TRUE(tag.ok()) << tag.status();
    tag_ = tag->id;
    Write(us_.get(), tag_, {{10, 1}, {20, 1}});
    Write(us_.get(), tag_, {{10, 2}});
    engine::SeriesData fetched;
    fetched.tag = tag_;
    ASSERT_TRUE(us_->ReadRaw(tag_, 0, 1000, 0, &fetched.cols).ok());
    auto n = mx_->ApplyRepair({*tag}, {fetched});
    ASSERT_TRUE(n.ok()) << n.status();
  }

  std::unique_ptr<Store> Open(const std::string& site, const std::string& peer) {
    StoreOptions o;
    o.path = dir_.Sub(site);
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

  static std::map<int64_t, double> Read(const Store& store, TagId tag) {
    codec::ChunkColumns c;
    EXPECT_TRUE(store.ReadRaw(tag, 0, 1000, 0, &c).ok());
    std::map<int64_t, double> out;
    for (size_t i = 0; i < c.size(); ++i) out[c.timestamps[i]] = c.doubles[i];
    return out;
  }

  OwnLogBatch Entries(const Store& us) {
    OwnLogBatch batch;
    EXPECT_TRUE(us.ReadOwnLog(1, size_t{1} << 30, &batch).ok());
    // The tag's definition, then the two writes.
    EXPECT_EQ(batch.records.size(), 3u);
    return batch;
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> us_, mx_;
  TagId tag_ = 0;
};

TEST_F(ReplayFilteredTest, EntriesARepairReflectsNeverUndoIt) {
  ASSERT_EQ(Read(*mx_, tag_), (std::map<int64_t, double>{{10, 2}, {20, 1}}));
  ReplayFence fence;
  fence.Note(us_->OwnAppliedSequence(), kMinTimestamp, kMaxTimestamp);
  const OwnLogBatch batch = Entries(*us_);
  for (const auto& [seq, bytes] : batch.records) {
    std::optional<TimeRange> reflected = fence.Covering(seq);
    ASSERT_TRUE(reflected.has_value()) << seq;
    std::string replay;
    bool changed = false;
    ASSERT_TRUE(ReplayFiltered(*mx_, *reflected, bytes, &replay, &changed).ok());
    EXPECT_EQ(changed, seq != batch.records.front().first)
        << "entry " << seq << ": each write ties with the repaired samples";
    auto n = mx_->ApplyReplicated("us", seq, changed ? replay : bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    fence.Passed(mx_->AppliedSequence("us"));
    EXPECT_EQ(Read(*mx_, tag_), (std::map<int64_t, double>{{10, 2}, {20, 1}}))
        << "after entry " << seq;
  }
  EXPECT_FALSE(fence.Covering(1).has_value());
  EXPECT_EQ(mx_->AppliedSequence("us"), us_->OwnAppliedSequence());
}

// Without the fence the first entry, applied after the repair, wins the
// tie: the read goes back to the value the origin corrected.
TEST_F(ReplayFilteredTest, UnfilteredTheFirstEntryTakesTheSampleBack) {
  OwnLogBatch batch = Entries(*us_);
  for (size_t i = 0; i < 2; ++i) {  // the definition, the first write
    auto n = mx_->ApplyReplicated("us", batch.records[i].first, batch.records[i].second);
    ASSERT_TRUE(n.ok()) << n.status();
  }
  EXPECT_EQ(Read(*mx_, tag_), (std::map<int64_t, double>{{10, 1}, {20, 1}}));
}

// Outside the range the repair compared, an entry replays as it is.
TEST_F(ReplayFilteredTest, SamplesOutsideTheRepairedRangeReplayAsTheyAre) {
  OwnLogBatch batch = Entries(*us_);
  ASSERT_TRUE(mx_->ApplyReplicated("us", batch.records[0].first, batch.records[0].second).ok());
  std::string replay;
  bool changed = false;
  ASSERT_TRUE(
      ReplayFiltered(*mx_, TimeRange{15, 100}, batch.records[1].second, &replay, &changed).ok());
  EXPECT_TRUE(changed);  // 20=1 ties inside the range
  auto n = mx_->ApplyReplicated("us", batch.records[1].first, replay);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);  // 10=1 only
  EXPECT_EQ(Read(*mx_, tag_), (std::map<int64_t, double>{{10, 1}, {20, 1}}));
}

// Every value of timestamp 10 that an entry of "us" put into mx's head.
class ValuesAtTen : public AppliedListener {
 public:
  void OnApplied(std::string_view origin, uint64_t seq,
                 const std::vector<AppliedSeries>& series) override {
    absl::MutexLock l(&mu_);
    if (origin != "us") return;
    applied_.push_back(seq);
    for (const AppliedSeries& s : series) {
      for (size_t i = 0; i < s.cols->size(); ++i) {
        if (s.cols->timestamps[i] == 10) values_.push_back(s.cols->doubles[i]);
      }
    }
  }
  std::vector<uint64_t> applied() const {
    absl::MutexLock l(&mu_);
    return applied_;
  }
  std::vector<double> values() const {
    absl::MutexLock l(&mu_);
    return values_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> applied_ ABSL_GUARDED_BY(mu_);
  std::vector<double> values_ ABSL_GUARDED_BY(mu_);
};

// us writes 5=0.5, then a day later 10=1 and 20=1 and corrects 10=2 within
// the same second; its log keeps only the last two entries (age retention),
// which mx never pulled. mx's replicator meets the gap, range-syncs (10=2),
// moves its cursor to us's log start and pulls both entries. Before the
// fence the first one put 10=1 back into mx's head.
TEST(ReplayFenceReplicatorTest, AGapsRangeSyncIsNotUndoneByTheEntriesAfterIt) {
  testing::TempDir dir;
  int64_t now_ns = int64_t{1700000000} * kSecond;
  auto open = [&](const std::string& site, const std::string& peer, bool fixed_clock) {
    StoreOptions o;
    o.path = dir.Sub(site);
    o.site = site;
    o.peers = {peer};
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);  // the test seals
    if (fixed_clock) o.now_ns = [&now_ns] { return now_ns; };
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  };
  std::unique_ptr<Store> us = open("us", "mx", true), mx = open("mx", "us", false);
  ASSERT_TRUE(us && mx);
  auto tag = us->ResolveTagForWrite("fixed", ValueType::kDouble);
  ASSERT_TRUE(tag.ok()) << tag.status();
  auto write = [&](const std::vector<std::pair<int64_t, double>>& samples) {
    Write(us.get(), tag->id, samples);
  };
  write({{5, 0.5}});
  ASSERT_TRUE(us->SealAll().ok());
  now_ns += 25 * int64_t{3600} * kSecond;  // past the log's 24 h age limit
  write({{10, 1}, {20, 1}});
  const uint64_t first_kept = us->OwnHeadSequence();
  write({{10, 2}});
  ASSERT_TRUE(us->SealAll().ok());  // trims everything before first_kept
  OwnLogBatch left;
  ASSERT_TRUE(us->ReadOwnLog(1, size_t{1} << 20, &left).ok());
  ASSERT_TRUE(left.gap);
  ASSERT_EQ(left.first_available, first_kept);

  ValuesAtTen seen;
  mx->SetAppliedListener(&seen);
  const testing::PullResult pulled = testing::PullUntilCaughtUp(us.get(), mx.get());
  mx->SetAppliedListener(nullptr);
  ASSERT_TRUE(pulled.caught_up) << "mx at " << mx->AppliedSequence("us") << " of "
                                << us->OwnHeadSequence();

  // Both kept entries came by the log, after the range sync...
  const std::vector<uint64_t> applied = seen.applied();
  ASSERT_EQ(applied, (std::vector<uint64_t>{first_kept, first_kept + 1}));
  // ...and neither put a value of 10 back: the repair holds the correction.
  for (double v : seen.values()) EXPECT_EQ(v, 2) << "a replayed entry took 10 back to " << v;
  codec::ChunkColumns held;
  ASSERT_TRUE(mx->ReadRaw(tag->id, 0, 100, 0, &held).ok());
  ASSERT_EQ(held.size(), 3u);
  EXPECT_EQ(held.doubles, (std::vector<double>{0.5, 2, 1}));
}

}  // namespace
}  // namespace historian::server
