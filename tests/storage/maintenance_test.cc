// Sealer and Compactor over a temp RocksDB, a ChunkStore and a fake
// MaintenanceHost (no Store): a seal pass writes the head as chunks and
// trims; retention drops whole expired chunks only; the overlap rewrite
// leaves non-overlapping chunks with the same samples; a forced merge joins
// small chunks into one.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rocks_db.h"
#include "storage/maintenance/compactor.h"
#include "storage/maintenance/sealer.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;

codec::ChunkColumns Doubles(const std::vector<int64_t>& seconds, double offset = 0) {
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (int64_t s : seconds) {
    c.timestamps.push_back(s * kSecond);
    c.doubles.push_back(static_cast<double>(s) + offset);
    c.qualities.push_back(0);
    c.versions.push_back(1);
  }
  return c;
}

class FakeHost : public MaintenanceHost {
 public:
  struct Tag {
    ChunkState chunk;
    TagFacts facts;
    codec::ChunkColumns head;
  };
  std::map<TagId, Tag> tags;
  int trims = 0;
  int forgot = 0;
  int ended = 0;
  std::vector<std::tuple<TagId, int64_t, int64_t>> recomputed;

  ChunkState* FindChunkState(TagId id, TagFacts* facts) override {
    auto it = tags.find(id);
    if (it == tags.end()) return nullptr;
    *facts = it->second.facts;
    return &it->second.chunk;
  }
  void ForEachTag(absl::FunctionRef<void(TagId, ValueType)> fn) override {
    for (const auto& [id, t] : tags) fn(id, t.facts.type);
  }
  void ForgetLatest(TagId) override { ++forgot; }
  void HeadsDue(bool, int64_t, std::vector<TagId>* due) override {
    for (const auto& [id, t] : tags) {
      if (t.head.size() > 0) due->push_back(id);
    }
  }
  ChunkState* BeginSeal(TagId id, codec::ChunkColumns* samples, rocksdb::WriteBatch*) override {
    Tag& t = tags[id];
    if (t.head.size() == 0) return nullptr;
    *samples = t.head;
    return &t.chunk;
  }
  void EndSeal(TagId id, bool sealed, int64_t) override {
    if (sealed) tags[id].head.Reset(ValueType::kDouble);
    ++ended;
  }
  // Over the bound for this many calls, each leaving a fresh head of tag 7
  // (as writes applied during a pass would), then within it.
  int over_budget_passes = 0;
  int64_t next_second = 1000;
  absl::Notification back_within_bound;
  bool HeadsOverBudget() override {
    if (over_budget_passes == 0) {
      if (!back_within_bound.HasBeenNotified()) back_within_bound.Notify();
      return false;
    }
    --over_budget_passes;
    tags[7].head = Doubles({next_second, next_second + 1});
    next_second += 2;
    return true;
  }
  int retries = 0;
  int notify_at_retries = -1;  // notifies `retried` when retries reaches it
  absl::Notification retried;
  absl::Status RetryDirtyRollups() override {
    if (++retries == notify_at_retries) retried.Notify();
    return absl::OkStatus();
  }
  absl::Status RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) override {
    recomputed.emplace_back(tag, min_ts, max_ts);
    return absl::OkStatus();
  }
  absl::Status RollupsAfterSeal(TagId tag, const codec::ChunkColumns& sealed) override {
    return RecomputeRollups(tag, sealed.timestamps.front(), sealed.timestamps.back());
  }
  size_t DropOutOfRange(codec::ChunkColumns*, TagId, const char*) override { return 0; }
  absl::Status RunDuePurges() override { return absl::OkStatus(); }
  absl::Status TrimLog() override {
    ++trims;
    return absl::OkStatus();
  }
};

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    chunks_ = std::make_unique<ChunkStore>(db_.get(), mu_, ChunkLimits{4, 3600 * kSecond},
                                           [](LogSeverity, std::string_view) {});
    rollups_ = std::make_unique<Rollups>(db_.get(), chunks_.get(), RollupThresholds{1, 1});
    compactor_ = std::make_unique<Compactor>(mu_, seal_mu_, db_.get(), chunks_.get(),
                                             rollups_.get(), &host_, [this] { return now_; });
    sealer_ = std::make_unique<Sealer>(
        mu_, seal_mu_, db_.get(), chunks_.get(), rollups_.get(), compactor_.get(), &host_,
        Sealer::Options{absl::Hours(1), [this] { return now_; }, [](LogSeverity, auto) {}, {}});
    host_.tags[7].facts.type = ValueType::kDouble;
  }

  void Seal(const codec::ChunkColumns& head) {
    host_.tags[7].head = head;
    absl::MutexLock pass(&seal_mu_);
    ASSERT_TRUE(sealer_->SealPass(/*force=*/true).ok());
  }

  codec::ChunkColumns ReadAll() {
    codec::ChunkColumns out;
    int64_t span;
    {
      absl::MutexLock l(&mu_);
      span = host_.tags[7].chunk.max_span;
    }
    EXPECT_TRUE(chunks_->ReadSealed(7, kMinTimestamp, kMaxTimestamp, span, &out).ok());
    return out;
  }

  size_t ChunkCount() {
    size_t n = 0;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(rocksdb::ReadOptions(), db_->chunks()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::RocksDb> db_;
  absl::Mutex seal_mu_;
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(seal_mu_);
  int64_t now_ = 100000 * kSecond;
  FakeHost host_;
  std::unique_ptr<ChunkStore> chunks_;
  std::unique_ptr<Rollups> rollups_;
  std::unique_ptr<Compactor> compactor_;
  std::unique_ptr<Sealer> sealer_;
};

TEST_F(MaintenanceTest, SealPassWritesTheHeadAsChunksAndTrims) {
  Seal(Doubles({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ChunkCount(), 2u);  // cut at 4 samples
  EXPECT_EQ(ReadAll().timestamps, Doubles({1, 2, 3, 4, 5, 6}).timestamps);
  EXPECT_EQ(host_.ended, 1);
  EXPECT_EQ(host_.trims, 1);
  ASSERT_EQ(host_.recomputed.size(), 1u);
  EXPECT_EQ(host_.recomputed[0], std::make_tuple(TagId{7}, 1 * kSecond, 6 * kSecond));
  EXPECT_EQ(chunks_->counters().sealed.load(), 1u);
  absl::MutexLock l(&mu_);
  EXPECT_EQ(host_.tags[7].chunk.merge_from, 1 * kSecond);
  EXPECT_EQ(host_.tags[7].chunk.max_span, 3 * kSecond);
}

TEST_F(MaintenanceTest, LateDataIsRewrittenWithoutOverlaps) {
  Seal(Doubles({10, 20, 30, 40}));
  Seal(Doubles({15, 20}, /*offset=*/0.5));  // late data over the first chunk
  {
    absl::MutexLock l(&mu_);
    EXPECT_EQ(host_.tags[7].chunk.overlap_min, 15 * kSecond);
    EXPECT_EQ(host_.tags[7].chunk.overlap_max, 20 * kSecond);
  }
  const codec::ChunkColumns before = ReadAll();
  {
    absl::MutexLock pass(&seal_mu_);
    ASSERT_TRUE(compactor_->OverlapPass().ok());
  }
  EXPECT_EQ(chunks_->counters().rewritten.load(), 2u);
  const codec::ChunkColumns after = ReadAll();
  EXPECT_EQ(after.timestamps, before.timestamps);
  EXPECT_EQ(after.doubles, before.doubles);
  EXPECT_EQ(after.doubles[2], 20.5);  // the later seal won
  EXPECT_EQ(ChunkCount(), 2u);        // 5 samples: 4 + 1, not overlapping
}

TEST_F(MaintenanceTest, RetentionDropsWholeExpiredChunksOnly) {
  host_.tags[7].facts.retention_ns = 50 * kSecond;
  now_ = 100 * kSecond;                             // cutoff 50 s
  Seal(Doubles({10, 20, 30, 40, 45, 55, 60, 70}));  // chunks [10..40] [45..70]
  {
    absl::MutexLock l(&mu_);
    compactor_->SetRetention(7, true);
  }
  absl::MutexLock pass(&seal_mu_);
  ASSERT_TRUE(compactor_->RetentionPass().ok());
  EXPECT_EQ(chunks_->counters().expired.load(), 1u);
  EXPECT_EQ(host_.forgot, 1);
  EXPECT_EQ(host_.recomputed.back(), std::make_tuple(TagId{7}, 10 * kSecond, 40 * kSecond));
  EXPECT_EQ(ChunkCount(), 1u);
}

TEST_F(MaintenanceTest, ForcedMergeJoinsSmallChunks) {
  Seal(Doubles({1, 2}));
  Seal(Doubles({3, 4}));
  Seal(Doubles({5}));
  ASSERT_EQ(ChunkCount(), 3u);
  absl::MutexLock pass(&seal_mu_);
  ASSERT_TRUE(compactor_->MergePass(/*force=*/true).ok());
  EXPECT_EQ(ChunkCount(), 1u);  // a merged chunk may exceed the seal's 4 samples
  EXPECT_EQ(chunks_->counters().merged.load(), 3u);
  EXPECT_EQ(ReadAll().timestamps, Doubles({1, 2, 3, 4, 5}).timestamps);
}

// Writers held back by --max_head_bytes never poll: while the heads stay
// over the bound after a pass that sealed something (writes applied during
// it), the sealer thread runs the next pass at once, not at the next tick
// (an hour here). Without that this test hangs (ctest's TIMEOUT fails it).
TEST_F(MaintenanceTest, PassesFollowEachOtherWhileTheHeadsStayOverTheBound) {
  host_.tags[7].head = Doubles({1, 2, 3});
  host_.over_budget_passes = 3;
  sealer_->Start();
  sealer_->Wake();  // a writer over the bound
  host_.back_within_bound.WaitForNotification();
  sealer_->Stop();
  EXPECT_EQ(host_.ended, 4);  // the woken pass and three more
  EXPECT_EQ(host_.over_budget_passes, 0);
}

// Rollup rewrites that failed are retried by the sealer thread's minute
// passes (not only at the next open), and by every forced pass (SealAll,
// Compact, Close); the timed passes in between leave them.
TEST_F(MaintenanceTest, FailedRollupRewritesAreRetriedByTheLoopAndForcedPasses) {
  Seal(Doubles({1, 2}));  // forced
  EXPECT_EQ(host_.retries, 1);
  {
    absl::MutexLock pass(&seal_mu_);
    ASSERT_TRUE(sealer_->SealPass(/*force=*/false).ok());
  }
  EXPECT_EQ(host_.retries, 1);
  host_.notify_at_retries = 2;
  sealer_->Start();
  sealer_->Wake();                      // the first loop round runs the minute passes
  host_.retried.WaitForNotification();  // hangs if the loop never retries
  sealer_->Stop();
  EXPECT_EQ(host_.retries, 2);
}

}  // namespace
}  // namespace historian
