// LogEntry encoding: random entries round-trip exactly in both series forms
// (samples one by one, and chunk-coded), format 2 entries are still read,
// and corrupt bytes give DATA_LOSS, never a crash.
#include "storage/engine/log_entry.h"

#include <bit>
#include <random>

#include "gtest/gtest.h"
#include "storage/engine/coding.h"
#include "tests/testutil/columns_equal.h"

namespace historian::engine {
namespace {

SeriesData RandomSeries(std::mt19937_64& rng, Version entry_version) {
  SeriesData s;
  s.tag = rng();
  const ValueType type = static_cast<ValueType>(1 + rng() % 4);
  s.cols.Reset(type);
  // Around the chunk-form threshold, sometimes unsorted or with duplicates.
  const size_t n = rng() % 3 == 0 ? rng() % 8 : kLogChunkMinSamples - 2 + rng() % 200;
  const bool sorted = rng() % 4 != 0;
  int64_t ts = static_cast<int64_t>(rng() >> 2) - (int64_t{1} << 61);
  for (size_t i = 0; i < n; ++i) {
    ts =
        sorted ? ts + 1 + static_cast<int64_t>(rng() % 3'000'000'000) : static_cast<int64_t>(rng());
    s.cols.timestamps.push_back(ts);
    s.cols.qualities.push_back(rng() % 5 == 0 ? static_cast<uint32_t>(rng()) : 0);
    s.cols.versions.push_back(rng() % 7 == 0 ? entry_version - rng() % 1000 : entry_version);
    switch (type) {
      case ValueType::kDouble:
        s.cols.doubles.push_back(rng() % 2 ? std::bit_cast<double>(rng())
                                           : static_cast<double>(rng() % 1000) / 100);
        break;
      case ValueType::kInt64:
        s.cols.ints.push_back(static_cast<int64_t>(rng()) >> (rng() % 64));
        break;
      case ValueType::kBool:
        s.cols.bools.push_back(rng() % 2);
        break;
      default:
        s.cols.strings.push_back(std::string(rng() % 30, static_cast<char>(rng())));
        break;
    }
  }
  return s;
}

void ExpectSameEntry(const LogEntry& a, const LogEntry& b) {
  ASSERT_EQ(a.version, b.version);
  ASSERT_EQ(a.series.size(), b.series.size());
  for (size_t i = 0; i < a.series.size(); ++i) {
    EXPECT_EQ(a.series[i].tag, b.series[i].tag);
    testing::ExpectSameColumns(a.series[i].cols, b.series[i].cols);
  }
  EXPECT_EQ(a.catalog_upserts, b.catalog_upserts);
  EXPECT_EQ(a.catalog_deletes, b.catalog_deletes);
  EXPECT_EQ(a.tombstones, b.tombstones);
}

TEST(LogEntryTest, RandomEntriesRoundTrip) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 300; ++round) {
    LogEntry entry;
    entry.version = (Version{1'700'000'000} + rng() % 1000) << 8 | 7;
    const int series = static_cast<int>(rng() % 6);
    for (int i = 0; i < series; ++i) entry.series.push_back(RandomSeries(rng, entry.version));
    if (rng() % 5 == 0) {
      TagInfo info;
      info.name = "t.catalog";
      info.id = TagIdFromName(info.name);
      info.type = ValueType::kDouble;
      entry.catalog_upserts.push_back(info);
      entry.catalog_deletes.push_back("t.old");
    }
    std::string bytes;
    EncodeLogEntry(entry, &bytes);
    LogEntry decoded;
    ASSERT_TRUE(DecodeLogEntry(bytes, &decoded).ok()) << round;
    ExpectSameEntry(entry, decoded);
  }
}

TEST(LogEntryTest, SortedSeriesAreChunkCodedAndSmall) {
  LogEntry entry;
  entry.version = Version{1'700'000'000} << 8;
  SeriesData s;
  s.tag = 42;
  s.cols.Reset(ValueType::kDouble);
  for (int i = 0; i < 60; ++i) {
    s.cols.timestamps.push_back(int64_t{1'700'000'000'000'000'000} + int64_t{i} * 1'000'000'000);
    s.cols.doubles.push_back(20.0 + (i % 5) * 0.1);
    s.cols.qualities.push_back(0);
    s.cols.versions.push_back(entry.version);
  }
  entry.series.push_back(s);
  std::string bytes;
  EncodeLogEntry(entry, &bytes);
  // One by one this is 60 x 14 bytes; chunk-coded it is well under 2 a sample.
  EXPECT_LT(bytes.size(), 120u);
  LogEntry decoded;
  ASSERT_TRUE(DecodeLogEntry(bytes, &decoded).ok());
  ExpectSameEntry(entry, decoded);
}

TEST(LogEntryTest, FormatTwoIsStillRead) {
  // Format 2, written by earlier versions: one int64 series of 2 samples.
  std::string v2;
  v2.push_back(2);
  PutVarint64(500, &v2);  // version
  PutVarint64(0, &v2);    // flags
  PutVarint64(1, &v2);    // series
  PutFixed64(9, &v2);     // tag id
  v2.push_back(static_cast<char>(ValueType::kInt64));
  PutVarint64(2, &v2);
  for (int64_t ts : {100, 50}) {
    PutVarint64(ZigZag(ts == 100 ? 100 : -50), &v2);
    PutVarint64(ZigZag(-ts), &v2);
    PutVarint64(0, &v2);
  }
  LogEntry decoded;
  ASSERT_TRUE(DecodeLogEntry(v2, &decoded).ok());
  ASSERT_EQ(decoded.series.size(), 1u);
  EXPECT_EQ(decoded.series[0].cols.timestamps, (std::vector<int64_t>{100, 50}));
  EXPECT_EQ(decoded.series[0].cols.ints, (std::vector<int64_t>{-100, -50}));
  EXPECT_EQ(decoded.series[0].cols.versions, (std::vector<Version>{500, 500}));
}

// Tombstones (DeleteTag) make an entry format 4; every other entry stays
// format 3, readable by nodes that predate tombstones.
TEST(LogEntryTest, TombstonesRoundTripInFormatFourOnly) {
  std::mt19937_64 rng(7);
  LogEntry entry;
  entry.version = Version{1'700'000'000} << 8 | 3;
  entry.series.push_back(RandomSeries(rng, entry.version));
  std::string bytes;
  EncodeLogEntry(entry, &bytes);
  EXPECT_EQ(bytes[0], 3);
  entry.tombstones = {{TagIdFromName("a"), entry.version}, {~TagId{0}, 1}};
  entry.catalog_deletes = {"a"};
  bytes.clear();
  EncodeLogEntry(entry, &bytes);
  EXPECT_EQ(bytes[0], 4);
  LogEntry decoded;
  ASSERT_TRUE(DecodeLogEntry(bytes, &decoded).ok());
  ExpectSameEntry(entry, decoded);
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_EQ(DecodeLogEntry(std::string_view(bytes).substr(0, len), &decoded).code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
}

TEST(LogEntryTest, CorruptBytesAreDataLoss) {
  std::mt19937_64 rng(5);
  LogEntry entry;
  entry.version = 1 << 8;
  for (int i = 0; i < 3; ++i) entry.series.push_back(RandomSeries(rng, entry.version));
  std::string bytes;
  EncodeLogEntry(entry, &bytes);
  for (size_t len = 0; len < bytes.size(); ++len) {
    LogEntry out;
    EXPECT_EQ(DecodeLogEntry(std::string_view(bytes).substr(0, len), &out).code(),
              absl::StatusCode::kDataLoss)
        << len;
  }
  for (int i = 0; i < 2000; ++i) {
    std::string bad = bytes;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    LogEntry out;
    absl::Status st = DecodeLogEntry(bad, &out);  // must not crash
    EXPECT_TRUE(st.ok() || st.code() == absl::StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace historian::engine
