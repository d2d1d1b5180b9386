// Rollups over a temp RocksDB and a ChunkStore, without a Store: a dirty
// marker stays until Recompute, which rewrites the hour buckets from the
// sealed chunks; reads return them in bucket order.
#include "storage/rollups/rollups.h"

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rocks_db.h"
#include "storage/engine/rollup_day.h"
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
    // Every hour with samples gets a rollup here (min_samples 1).
    rollups_ = std::make_unique<Rollups>(db_.get(), chunks_.get(), RollupThresholds{1, 1});
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

// A rewrite that never ran (or failed) leaves its range in the marker: a
// later mark widens it, and a rewrite clears only the hours it rewrote,
// also as a restart (LoadDirty into a new Rollups) sees it.
TEST_F(RollupsTest, MarkerKeepsWhatNoRewriteCovered) {
  int64_t span = Seal(5, {{10 * kSecond, 1}, {20 * kSecond, 2}});  // its rewrite fails
  EXPECT_EQ(rollups_->DirtyFrom(5), 10 * kSecond);
  span = std::max(span, Seal(5, {{3 * kHour + 5 * kSecond, 3}}));
  ASSERT_EQ(Dirty().size(), 1u);
  EXPECT_EQ(Dirty()[0].min_ts, 10 * kSecond);
  EXPECT_EQ(Dirty()[0].max_ts, 3 * kHour + 5 * kSecond);
  // The newer seal's rewrite: hour 3 only.
  ASSERT_TRUE(
      rollups_
          ->Recompute(5, ValueType::kDouble, span, 3 * kHour + 5 * kSecond, 3 * kHour + 5 * kSecond)
          .ok());
  ASSERT_EQ(Dirty().size(), 1u);
  EXPECT_EQ(Dirty()[0].min_ts, 10 * kSecond);
  EXPECT_EQ(Dirty()[0].max_ts, 3 * kHour - 1);
  EXPECT_EQ(rollups_->DirtyFrom(5), 10 * kSecond);
  // A restart sees the same; a rewrite strictly inside the marker keeps it.
  rollups_ = std::make_unique<Rollups>(db_.get(), chunks_.get(), RollupThresholds{1, 1});
  EXPECT_EQ(rollups_->DirtyFrom(5), kMaxTimestamp);
  ASSERT_EQ(Dirty().size(), 1u);
  EXPECT_EQ(rollups_->DirtyFrom(5), 10 * kSecond);
  ASSERT_TRUE(rollups_->Recompute(5, ValueType::kDouble, span, kHour, kHour).ok());
  ASSERT_EQ(Dirty().size(), 1u);
  EXPECT_EQ(Dirty()[0].min_ts, 10 * kSecond);
  EXPECT_EQ(Dirty()[0].max_ts, 3 * kHour - 1);
  // The old hour's rewrite: what stays is after it.
  ASSERT_TRUE(rollups_->Recompute(5, ValueType::kDouble, span, 10 * kSecond, 20 * kSecond).ok());
  ASSERT_EQ(Dirty().size(), 1u);
  EXPECT_EQ(Dirty()[0].min_ts, kHour);
  EXPECT_EQ(rollups_->DirtyFrom(5), kHour);
  ASSERT_TRUE(rollups_->Recompute(5, ValueType::kDouble, span, kHour, 3 * kHour - 1).ok());
  EXPECT_TRUE(Dirty().empty());
  EXPECT_EQ(rollups_->DirtyFrom(5), kMaxTimestamp);
  std::vector<std::pair<int64_t, engine::Rollup>> out;
  ASSERT_TRUE(rollups_->Read(5, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].second.count, 2u);
  EXPECT_EQ(out[1].second.count, 1u);
}

// --- Issue 16: day records, hours that pay, migration ---

bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}
void ExpectSameRollup(const engine::Rollup& a, const engine::Rollup& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.n, b.n);
  for (auto [x, y] : {std::pair{a.sum, b.sum},
                      {a.mean, b.mean},
                      {a.m2, b.m2},
                      {a.integral, b.integral},
                      {a.delta, b.delta}}) {
    EXPECT_TRUE(SameBits(x, y)) << x << " vs " << y;
  }
  EXPECT_EQ(a.covered, b.covered);
  EXPECT_EQ(a.has_delta, b.has_delta);
  for (auto [p, q] :
       {std::pair{a.first, b.first}, {a.last, b.last}, {a.min, b.min}, {a.max, b.max}}) {
    EXPECT_EQ(p.ts, q.ts);
    EXPECT_TRUE(SameBits(p.value, q.value)) << p.value << " vs " << q.value;
    EXPECT_EQ(p.quality, q.quality);
  }
}

// Random hours of random samples (whole, decimal and full-precision values,
// NaN, -0.0, infinities, qualities, ns/us/ms/s times) come back bit for bit.
TEST(DayRecordTest, RoundTripsEveryFieldBitForBit) {
  std::mt19937_64 rng(5);
  const int64_t day = int64_t{1699920000} * kSecond;
  const double specials[] = {std::nan(""), -0.0, 0.0, INFINITY, -INFINITY, 1e300, 5e-324};
  for (int iter = 0; iter < 400; ++iter) {
    std::vector<engine::HourRollup> hours;
    for (int h = 0; h < 24; ++h) {
      if (rng() % 3 == 0) continue;
      const int64_t hour = day + h * kHour;
      const int64_t units[] = {1, 1000, 1000000, kSecond};
      const int64_t unit = units[rng() % 4];
      codec::ChunkColumns c;
      c.Reset(ValueType::kDouble);
      const int kind = static_cast<int>(rng() % 4);
      int64_t ts = hour + static_cast<int64_t>(rng() % 100) * unit;
      const int n = 1 + static_cast<int>(rng() % 50);
      for (int i = 0; i < n && ts < hour + kHour; ++i) {
        double v = kind == 0   ? static_cast<double>(rng() % 1000)
                   : kind == 1 ? static_cast<double>(rng() % 100000) / 1000
                   : kind == 2 ? std::ldexp(static_cast<double>(rng() % (uint64_t{1} << 52)), -40)
                               : static_cast<double>(i);  // a counter
        if (rng() % 30 == 0) v = specials[rng() % std::size(specials)];
        c.timestamps.push_back(ts);
        c.doubles.push_back(v);
        c.qualities.push_back(rng() % 10 == 0 ? 192 : 0);
        ts += (1 + static_cast<int64_t>(rng() % 200)) * unit;
      }
      hours.emplace_back(hour, engine::ComputeRollup(c, 0, c.size(), hour + kHour));
    }
    if (hours.empty()) continue;
    std::vector<engine::HourRollup> back;
    ASSERT_TRUE(engine::DecodeDayRollups(day, engine::EncodeDayRollups(day, hours), &back).ok());
    ASSERT_EQ(back.size(), hours.size());
    for (size_t i = 0; i < hours.size(); ++i) {
      SCOPED_TRACE(iter);
      EXPECT_EQ(back[i].first, hours[i].first);
      ExpectSameRollup(back[i].second, hours[i].second);
    }
    // Every truncation is refused, never misread.
    const std::string bytes = engine::EncodeDayRollups(day, hours);
    for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 16) {
      std::vector<engine::HourRollup> part;
      EXPECT_FALSE(engine::DecodeDayRollups(day, bytes.substr(0, cut), &part).ok()) << cut;
    }
  }
}

// The format is pinned: these bytes (a day record of two hours, written by
// this version) must keep decoding to the same rollups.
TEST(DayRecordTest, PinnedBytesKeepTheirMeaning) {
  const int64_t day = int64_t{1699920000} * kSecond;
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (int i = 0; i < 60; ++i) {
    c.timestamps.push_back(day + 3 * kHour + i * 60 * kSecond);
    c.doubles.push_back(static_cast<double>(i % 7) / 4);
    c.qualities.push_back(i == 5 ? 192 : 0);
  }
  for (int i = 0; i < 3; ++i) {
    c.timestamps.push_back(day + 23 * kHour + i * 1500);
    c.doubles.push_back(0.1 * i);
    c.qualities.push_back(0);
  }
  std::vector<engine::HourRollup> hours = {
      {day + 3 * kHour, engine::ComputeRollup(c, 0, 60, day + 4 * kHour)},
      {day + 23 * kHour, engine::ComputeRollup(c, 60, 63, day + 24 * kHour)}};
  const std::string pinned = absl::HexStringToBytes(
      "03888080049fbc723c00d41bd005009601ac02fc4300cfccccccccac2d4080c0cac499d876f6139fa7140300"
      "030004343333333333d33f027c14ae47e17a943fd8b989978ca303");
  const std::string encoded = engine::EncodeDayRollups(day, hours);
  EXPECT_EQ(absl::BytesToHexString(encoded), absl::BytesToHexString(pinned));
  std::vector<engine::HourRollup> back;
  ASSERT_TRUE(engine::DecodeDayRollups(day, pinned, &back).ok());
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < 2; ++i) ExpectSameRollup(back[i].second, hours[i].second);
}

TEST_F(RollupsTest, HoursWithFewSamplesGetNoRecordAndADayRecordKeepsItsOtherHours) {
  Rollups paying(db_.get(), chunks_.get(), RollupThresholds{3, 1});
  // Hour 0: 3 samples, hour 1: 2, hour 2: 4 (one day).
  int64_t span = Seal(5, {{10 * kSecond, 1},
                          {20 * kSecond, 2},
                          {30 * kSecond, 3},
                          {kHour + 5 * kSecond, 10},
                          {kHour + 6 * kSecond, 11},
                          {2 * kHour, 20},
                          {2 * kHour + 1, 21},
                          {2 * kHour + 2, 22},
                          {2 * kHour + 3, 23}});
  ASSERT_TRUE(paying.Recompute(5, ValueType::kDouble, span, 10 * kSecond, 2 * kHour + 3).ok());
  std::vector<std::pair<int64_t, engine::Rollup>> out;
  ASSERT_TRUE(paying.Read(5, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].first, 0);
  EXPECT_EQ(out[0].second.count, 3u);
  EXPECT_EQ(out[1].first, 2 * kHour);
  EXPECT_EQ(out[1].second.count, 4u);
  // One more sample in hour 1 makes it pay; the day's other hours stay.
  span = std::max(span, Seal(5, {{kHour + 7 * kSecond, 12}}));
  ASSERT_TRUE(
      paying.Recompute(5, ValueType::kDouble, span, kHour + 7 * kSecond, kHour + 7 * kSecond).ok());
  ASSERT_TRUE(paying.Read(5, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].first, kHour);
  EXPECT_EQ(out[1].second.count, 3u);
  EXPECT_EQ(out[1].second.sum, 33);
  EXPECT_EQ(out[2].second.count, 4u);
  // One key for the day.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->rollups()));
  int keys = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    engine::RollupKeyParts k = engine::ParseRollupKey({it->key().data(), it->key().size()});
    EXPECT_EQ(k.width, engine::kRollupDay);
    EXPECT_EQ(k.bucket_start, 0);
    ++keys;
  }
  EXPECT_EQ(keys, 1);
  // A read in the middle of a day returns only its hours.
  ASSERT_TRUE(paying.Read(5, kHour, kHour, 2 * kHour, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, kHour);
}

// Data dirs written before day records hold one key per tag and hour
// (width kRollupHour, EncodeRollup) and may hold keys of widths no longer
// used; the migration turns them into day records, bit for bit, dropping
// hours that do not pay and the unused keys.
TEST_F(RollupsTest, MigrationTurnsHourRecordsIntoDayRecords) {
  const int64_t day = int64_t{1699920000} * kSecond;
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  std::vector<engine::HourRollup> old;
  rocksdb::WriteBatch batch;
  for (int h : {0, 5, 23, 24, 50}) {  // three days
    const int64_t hour = day + h * kHour;
    c.Reset(ValueType::kDouble);
    for (int i = 0; i < (h == 5 ? 2 : 10); ++i) {
      c.timestamps.push_back(hour + i * kSecond);
      c.doubles.push_back(h * 100 + i + 0.5);
      c.qualities.push_back(0);
    }
    engine::Rollup r = engine::ComputeRollup(c, 0, c.size(), hour + kHour);
    old.emplace_back(hour, r);
    for (TagId tag : {TagId{7}, TagId{8}}) {
      batch.Put(db_->rollups(), engine::RollupKey(tag, kHour, hour), engine::EncodeRollup(r));
    }
  }
  // A minute rollup of an older version.
  batch.Put(db_->rollups(), engine::RollupKey(7, 60 * kSecond, day),
            engine::EncodeRollup(old[0].second));
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  Rollups paying(db_.get(), chunks_.get(), RollupThresholds{3, 1});
  ASSERT_TRUE(paying.MigrateHourRecords().ok());
  ASSERT_TRUE(paying.MigrateHourRecords().ok());  // again: nothing left to do
  for (TagId tag : {TagId{7}, TagId{8}}) {
    std::vector<std::pair<int64_t, engine::Rollup>> out;
    ASSERT_TRUE(paying.Read(tag, kHour, kMinTimestamp, kMaxTimestamp, &out).ok());
    ASSERT_EQ(out.size(), 4u);  // hour 5 (2 samples) does not pay
    size_t j = 0;
    for (const auto& [hour, r] : old) {
      if (r.count < 3) continue;
      EXPECT_EQ(out[j].first, hour);
      ExpectSameRollup(out[j].second, r);
      ++j;
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->rollups()));
  int keys = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    EXPECT_EQ(engine::ParseRollupKey({it->key().data(), it->key().size()}).width,
              engine::kRollupDay);
    ++keys;
  }
  EXPECT_EQ(keys, 6);  // 3 days x 2 tags
}

}  // namespace
}  // namespace historian
