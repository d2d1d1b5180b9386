// ShardSet and FilterLogEntry (server/replication_filter.h): what a node of
// a site cluster takes from another site's log. In process, with real
// Stores: one "us" node's own log shipped, cut down per receiving node, to
// the two nodes of an "mx" cluster; together they must hold every sample
// exactly once, each only its own shards' tags, and both cursors at the
// sender's head (every record arrives, maybe empty).
#include "server/replication_filter.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "storage/engine/log_entry.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

TEST(ShardSetTest, RejectsBadFiltersNamingTheField) {
  auto zero = ShardSet::Create(0, {});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("filter.num_shards: 0"), std::string::npos);
  auto big = ShardSet::Create(kMaxClusterShards + 1, {});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("65536"), std::string::npos);
  auto out_of_range = ShardSet::Create(4, {1, 4});
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("filter.shards: 4 is not below"),
            std::string::npos);
  auto twice = ShardSet::Create(4, {2, 2});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("listed twice"), std::string::npos);
  EXPECT_TRUE(ShardSet::Create(4, {}).ok());  // a member owning nothing
}

TEST(ShardSetTest, EncodesAndComputesGains) {
  ShardSet a = *ShardSet::Create(8, {5, 1, 3});
  EXPECT_EQ(a.Encode(), "8:1,3,5");
  absl::StatusOr<ShardSet> back = ShardSet::Decode(a.Encode());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == a);
  EXPECT_TRUE(ShardSet::Decode("8:").ok());
  EXPECT_FALSE(ShardSet::Decode("x:1").ok());
  EXPECT_FALSE(ShardSet::Decode("8:9").ok());
  ShardSet b = *ShardSet::Create(8, {1, 2, 3, 6});
  EXPECT_EQ(b.GainedSince(a), (std::vector<uint32_t>{2, 6}));
  EXPECT_TRUE(a.GainedSince(b).size() == 1 && a.GainedSince(b)[0] == 5);
  // Another shard count: every owned shard counts as gained.
  ShardSet c = *ShardSet::Create(4, {0, 1});
  EXPECT_EQ(c.GainedSince(a), (std::vector<uint32_t>{0, 1}));
}

class FilterTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(const std::string& site, const std::string& sub,
                              std::vector<std::string> peers) {
    StoreOptions o;
    o.path = dir_.Sub(sub);
    o.site = site;
    o.peers = std::move(peers);
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Ships `from`'s own log to `to` under `origin`, each entry cut down to
  // `filter`; returns the records sent (every one, maybe empty).
  uint64_t Ship(const Store& from, Store* to, const std::string& origin, const ShardSet& filter) {
    OwnLogBatch batch;
    uint64_t sent = 0;
    OwnedCache cache;
    for (uint64_t next = to->AppliedSequence(origin) + 1;;) {
      EXPECT_TRUE(from.ReadOwnLog(next, size_t{1} << 20, &batch).ok());
      EXPECT_FALSE(batch.gap);
      if (batch.records.empty()) break;
      for (auto& [seq, bytes] : batch.records) {
        std::string cut;
        bool changed = false;
        absl::Status s = FilterLogEntry(from, filter, bytes, &cut, &changed, &cache);
        EXPECT_TRUE(s.ok()) << s;
        absl::StatusOr<uint64_t> n = to->ApplyReplicated(origin, seq, changed ? cut : bytes);
        EXPECT_TRUE(n.ok()) << n.status();
        ++sent;
        next = seq + 1;
      }
    }
    return sent;
  }

  testing::TempDir dir_;
};

std::vector<std::string> Names(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("plant.line" + std::to_string(i) + ".temp");
  return names;
}

// Writes `n` samples per tag, all tags in one batch (one log entry holding
// tags of both receiving owners), creating the tags first.
void WriteAll(Store* store, const std::vector<std::string>& names, int64_t from, int n) {
  WriteInput in;
  for (const std::string& name : names) {
    engine::TagInfo info;
    info.name = name;
    info.type = ValueType::kDouble;
    absl::StatusOr<engine::TagInfo> t = store->GetTag(name);
    if (!t.ok()) t = store->CreateTag(info);
    ASSERT_TRUE(t.ok()) << t.status();
    engine::SeriesData s;
    s.tag = t->id;
    s.cols.Reset(ValueType::kDouble);
    for (int i = 0; i < n; ++i) {
      s.cols.timestamps.push_back(from + i);
      s.cols.doubles.push_back(i * 0.5);
      s.cols.qualities.push_back(0);
    }
    in.series.push_back(std::move(s));
  }
  absl::StatusOr<WriteResult> r = store->Write(std::move(in));
  ASSERT_TRUE(r.ok()) << r.status();
}

uint64_t CountOf(const Store& store, const std::string& name) {
  absl::StatusOr<engine::TagInfo> t = store.GetTag(name);
  if (!t.ok()) return 0;
  codec::ChunkColumns out;
  EXPECT_TRUE(store.ReadRaw(t->id, kMinTimestamp, kMaxTimestamp, 0, &out).ok());
  return out.size();
}

TEST_F(FilterTest, EveryTagReachesExactlyItsOwnerAndEveryCursorTheHead) {
  std::unique_ptr<Store> us = Open("us", "us", {"mx"});
  std::unique_ptr<Store> a = Open("mx", "mx-a", {"us"});
  std::unique_ptr<Store> b = Open("mx", "mx-b", {"us"});
  ASSERT_TRUE(us && a && b);
  // mx: 5 shards, a owns {0, 2, 4}, b owns {1, 3}.
  const ShardSet own_a = *ShardSet::Create(5, {0, 2, 4});
  const ShardSet own_b = *ShardSet::Create(5, {1, 3});
  const std::vector<std::string> names = Names(40);
  WriteAll(us.get(), names, 1000, 20);  // form 1 series (>= 16 samples)
  WriteAll(us.get(), names, 5000, 3);   // form 0 series, tags known already
  const uint64_t head = us->OwnHeadSequence();
  EXPECT_EQ(Ship(*us, a.get(), "us/us-1", own_a), head);
  EXPECT_EQ(Ship(*us, b.get(), "us/us-1", own_b), head);
  EXPECT_EQ(a->AppliedSequence("us/us-1"), head);
  EXPECT_EQ(b->AppliedSequence("us/us-1"), head);
  int on_a = 0, on_b = 0;
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const bool a_owns = own_a.OwnsTag(name);
    EXPECT_NE(a_owns, own_b.OwnsTag(name));
    EXPECT_EQ(a->HasTag(name), a_owns);
    EXPECT_EQ(b->HasTag(name), !a_owns);
    EXPECT_EQ(CountOf(*a, name) + CountOf(*b, name), 23u);
    (a_owns ? on_a : on_b)++;
  }
  EXPECT_GT(on_a, 0);
  EXPECT_GT(on_b, 0);

  // A delete travels to both (a tombstone: the owner drops the tag, the
  // other one refuses that incarnation if it ever shows up).
  ASSERT_TRUE(us->DeleteTag(names[0]).ok());
  WriteAll(us.get(), {names[1]}, 9000, 2);
  Ship(*us, a.get(), "us/us-1", own_a);
  Ship(*us, b.get(), "us/us-1", own_b);
  EXPECT_FALSE(a->HasTag(names[0]));
  EXPECT_FALSE(b->HasTag(names[0]));
  EXPECT_EQ(a->Tombstones().size(), 1u);
  EXPECT_EQ(b->Tombstones().size(), 1u);
  EXPECT_EQ(CountOf(*a, names[1]) + CountOf(*b, names[1]), 25u);
  EXPECT_EQ(a->AppliedSequence("us/us-1"), us->OwnHeadSequence());
  EXPECT_EQ(b->AppliedSequence("us/us-1"), us->OwnHeadSequence());
}

TEST_F(FilterTest, AnEntryOfOnlyOtherOwnersTagsIsSentEmptyNotSkipped) {
  std::unique_ptr<Store> us = Open("us", "us", {"mx"});
  ASSERT_TRUE(us);
  const ShardSet none = *ShardSet::Create(3, {});
  WriteAll(us.get(), Names(5), 0, 4);
  OwnLogBatch batch;
  ASSERT_TRUE(us->ReadOwnLog(1, size_t{1} << 20, &batch).ok());
  ASSERT_FALSE(batch.records.empty());
  for (auto& [seq, bytes] : batch.records) {
    std::string cut;
    bool changed = false;
    ASSERT_TRUE(FilterLogEntry(*us, none, bytes, &cut, &changed).ok());
    ASSERT_TRUE(changed);
    engine::LogEntry entry;
    ASSERT_TRUE(engine::DecodeLogEntry(cut, &entry).ok());
    EXPECT_TRUE(entry.series.empty());
    EXPECT_TRUE(entry.catalog_upserts.empty());
  }
  std::string cut;
  bool changed = false;
  EXPECT_FALSE(FilterLogEntry(*us, none, "garbage", &cut, &changed).ok());
}

}  // namespace
}  // namespace historian::server
