// Rollups over a temp RocksDB and a ChunkStore, without a Store: a dirty
// marker stays until Recompute, which rewrites the hour buckets from the
// sealed chunks; reads return them in bucket order.
#include "storage/rollups/rollups.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rocks_db.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kHour = engine::kRollupHour;

class RollupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    chunks_ = std::make_unique<ChunkStore>(db_.get(), mu_, ChunkLimits{100, kHour},
                                           [](LogSeverity, std::string_view) {});
    rollups_ = std::make_unique<Rollups>(db_.get(), chunks_.get());
  }

  // Seals (ts, value) doubles of `tag` as chunks, marking them dirty in the
  // same batch, as a seal does; returns the span.
  int64_t Seal(TagId tag, const std::vector<std::pair<int64_t, double>>& samples) {
    codec::ChunkColumns c;
    c.Reset(ValueType::kDouble);
    for (auto [ts, v] : samples) {
      c.timestamps.push_back(ts);
      c.doubles.push_back(v);
      c.qualities.push_back(0);
      c.versions.push_back(1);
    }
    rocksdb::WriteBatch batch;
    int64_t span = 0;
    EXPECT_TRUE(chunks_->WriteChunks(tag, c, &batch, &span).ok());
    rollups_->MarkDirty(tag, c.timestamps.front(), c.timestamps.back(), &batch);
    EXPECT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    return span;
  }

  std::vector<Rollups::Dirty> Dirty() {
    std::vector<Rollups::Dirty> out;
    EXPECT_TRUE(rollups_->LoadDirty(&out).ok());
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::RocksDb> db_;
  absl::Mutex mu_;
  std::unique_ptr<ChunkStore> chunks_;
  std::unique_ptr<Rollups> rollups_;
};

TEST_F(RollupsTest, MarkerStaysUntilRecomputeWhichWritesHourBuckets) {
  // Two hours: 1 and 2 in the first, 10 in the second.
  const int64_t span = Seal(5, {{10 * kSecond, 1}, {20 * kSecond, 2}, {kHour + 5 * kSecond, 10}});
  std::vector<Rollups::Dirty> dirty = Dirty();
  ASSERT_EQ(dirty.size(), 1u);
  EXPECT_EQ(dirty[0].tag, 5u);
  EXPECT_EQ(dirty[0].min_ts, 10 * kSecond);
  EXPECT_EQ(dirty[0].max_ts, kHour + 5 * kSecond);

  std::vector<std::pair<int64_t, engine::Rollup>> out;
  ASSERT_TRUE(rollups_->Read(5, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  EXPECT_TRUE(out.empty());

  ASSERT_TRUE(
      rollups_->Recompute(5, ValueType::kDouble, span, dirty[0].min_ts, dirty[0].max_ts).ok());
  EXPECT_TRUE(Dirty().empty());
  ASSERT_TRUE(rollups_->Read(5, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, 0);
  EXPECT_EQ(out[0].second.count, 2u);
  EXPECT_EQ(out[0].second.sum, 3);
  EXPECT_EQ(out[0].second.max.value, 2);
  EXPECT_EQ(out[1].first, kHour);
  EXPECT_EQ(out[1].second.count, 1u);
  EXPECT_EQ(out[1].second.first.value, 10);
  // [start, end) by bucket start.
  ASSERT_TRUE(rollups_->Read(5, kHour, kHour, 2 * kHour, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, kHour);
  ASSERT_TRUE(rollups_->Read(5, kHour, kHour, kHour, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_F(RollupsTest, RecomputeReplacesBucketsFromWhatIsSealedNow) {
  int64_t span = Seal(5, {{10 * kSecond, 1}, {20 * kSecond, 2}});
  ASSERT_TRUE(rollups_->Recompute(5, ValueType::kDouble, span, 10 * kSecond, 20 * kSecond).ok());
  // A late sample in the same hour (its own chunk): the bucket counts all.
  span = std::max(span, Seal(5, {{15 * kSecond, 7}}));
  ASSERT_TRUE(rollups_->Recompute(5, ValueType::kDouble, span, 15 * kSecond, 15 * kSecond).ok());
  std::vector<std::pair<int64_t, engine::Rollup>> out;
  ASSERT_TRUE(rollups_->Read(5, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].second.count, 3u);
  EXPECT_EQ(out[0].second.sum, 10);
  // Another tag is untouched.
  ASSERT_TRUE(rollups_->Read(6, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_F(RollupsTest, StringTagsOnlyLoseTheMarker) {
  rocksdb::WriteBatch batch;
  rollups_->MarkDirty(9, 0, kSecond, &batch);
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  ASSERT_EQ(Dirty().size(), 1u);
  ASSERT_TRUE(rollups_->Recompute(9, ValueType::kString, 0, 0, kSecond).ok());
  EXPECT_TRUE(Dirty().empty());
}

}  // namespace
}  // namespace historian
