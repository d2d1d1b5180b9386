// TombstoneSet alone: lookups, dropping covered samples, the version floor
// and highest version seen, purges, and loading from the state CF.
#include "storage/tombstones/tombstone_set.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "storage/engine/key_format.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

codec::ChunkColumns Samples(std::initializer_list<Version> versions) {
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  int64_t ts = 0;
  for (Version v : versions) {
    c.timestamps.push_back(++ts);
    c.doubles.push_back(static_cast<double>(ts));
    c.qualities.push_back(0);
    c.versions.push_back(v);
  }
  return c;
}

std::string U64(uint64_t v) {
  std::string s;
  engine::PutBigEndian64(v, &s);
  return s;
}

TEST(TombstoneSetTest, DropsCoveredSamplesOnly) {
  TombstoneSet set;
  EXPECT_EQ(set.Of(7), 0u);
  codec::ChunkColumns kept;
  EXPECT_FALSE(set.Drop(7, Samples({1, 2}), &kept));
  set.Apply({7, 10});
  set.Apply({7, 5});  // an older one changes nothing
  EXPECT_EQ(set.Of(7), 10u);
  EXPECT_EQ(set.Of(8), 0u);
  EXPECT_FALSE(set.Drop(7, Samples({11, 12}), &kept));
  ASSERT_TRUE(set.Drop(7, Samples({9, 10, 11}), &kept));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept.versions[0], 11u);
  EXPECT_EQ(kept.timestamps[0], 3);
}

TEST(TombstoneSetTest, VersionState) {
  TombstoneSet set;
  set.NoteVersion(20);
  set.Apply({1, 15});
  EXPECT_EQ(set.floor(), 15u);
  EXPECT_EQ(set.max_seen(), 20u);
  set.RaiseFloor(12);
  EXPECT_EQ(set.floor(), 15u);
  set.RaiseFloor(30);
  EXPECT_EQ(set.floor(), 30u);
  EXPECT_EQ(set.max_seen(), 20u);
}

TEST(TombstoneSetTest, PurgesAndListing) {
  TombstoneSet set;
  engine::Tombstone t;
  EXPECT_FALSE(set.TakePurge(&t));
  set.QueuePurge({3, 4});
  set.QueuePurge({5, 6});
  ASSERT_TRUE(set.TakePurge(&t));
  EXPECT_EQ(t, (engine::Tombstone{5, 6}));
  ASSERT_TRUE(set.TakePurge(&t));
  EXPECT_EQ(t, (engine::Tombstone{3, 4}));
  EXPECT_FALSE(set.TakePurge(&t));
  set.Apply({9, 1});
  set.Apply({2, 3});
  EXPECT_EQ(set.Sorted(),
            (std::vector<engine::Tombstone>{engine::Tombstone{2, 3}, engine::Tombstone{9, 1}}));
}

TEST(TombstoneSetTest, LoadsFromTheStateColumnFamily) {
  ::historian::testing::TempDir dir;
  auto db = engine::RocksDb::Open(dir.Sub("db"));
  ASSERT_TRUE(db.ok()) << db.status();
  rocksdb::DB* rdb = (*db)->db();
  ASSERT_TRUE(
      rdb->Put(rocksdb::WriteOptions(), (*db)->state(), engine::TombstoneKey(4), U64(40)).ok());
  ASSERT_TRUE(
      rdb->Put(rocksdb::WriteOptions(), (*db)->state(), engine::TombstoneKey(5), U64(50)).ok());
  ASSERT_TRUE(rdb->Put(rocksdb::WriteOptions(), (*db)->state(), engine::PurgeKey(5), U64(45)).ok());
  TombstoneSet set;
  ASSERT_TRUE(set.Load(db->get()).ok());
  EXPECT_EQ(set.Of(4), 40u);
  EXPECT_EQ(set.Of(5), 50u);
  EXPECT_EQ(set.floor(), 50u);
  EXPECT_EQ(set.max_seen(), 50u);
  engine::Tombstone t;
  ASSERT_TRUE(set.TakePurge(&t));
  EXPECT_EQ(t, (engine::Tombstone{5, 45}));

  ASSERT_TRUE(
      rdb->Put(rocksdb::WriteOptions(), (*db)->state(), engine::TombstoneKey(6), "short").ok());
  TombstoneSet bad;
  EXPECT_EQ(bad.Load(db->get()).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace historian
