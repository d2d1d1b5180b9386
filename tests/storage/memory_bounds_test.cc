// The store's memory bounds (max_head_bytes, memtable_budget_bytes,
// block_cache_bytes): bad values are refused naming the option and its
// range; with every bound tiny, writes wait for the sealer instead of
// growing the heads, and every sample is stored and read back, also after a
// crash and a restart.
#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "storage/allocator_tuning.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(MemoryBoundsTest, BadBoundsAreRefusedNamingTheOptionAndRange) {
  historian::testing::TempDir dir;
  for (const char* name : {"max_head_bytes", "memtable_budget_bytes", "block_cache_bytes"}) {
    for (uint64_t bad : {uint64_t{1}, kMiB - 1, (uint64_t{1} << 40) + 1}) {
      StoreOptions o;
      o.path = dir.Sub("db");
      if (std::string(name) == "max_head_bytes") o.max_head_bytes = bad;
      if (std::string(name) == "memtable_budget_bytes") o.memtable_budget_bytes = bad;
      if (std::string(name) == "block_cache_bytes") o.block_cache_bytes = bad;
      absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(o);
      ASSERT_FALSE(s.ok()) << name << "=" << bad;
      EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(s.status().message().find(name), std::string::npos) << s.status();
      EXPECT_NE(s.status().message().find("1 MiB..1 TiB"), std::string::npos) << s.status();
    }
  }
  StoreOptions edges;
  edges.max_head_bytes = 0;
  edges.memtable_budget_bytes = kMiB;
  edges.block_cache_bytes = uint64_t{1} << 40;
  EXPECT_TRUE(ValidateMemoryOptions(edges).ok());
}

// The seal passes' trims: one malloc_trim per `every` bytes freed, never
// before (a trim walks every arena).
TEST(FreedMemoryTrimmerTest, TrimsOncePerEveryBytesFreed) {
  FreedMemoryTrimmer trimmer(100);
  EXPECT_FALSE(trimmer.MaybeTrim());
  trimmer.NoteFreed(60);
  EXPECT_FALSE(trimmer.MaybeTrim());
  trimmer.NoteFreed(40);
  EXPECT_TRUE(trimmer.MaybeTrim());
  EXPECT_FALSE(trimmer.MaybeTrim());  // counted from zero again
  EXPECT_EQ(trimmer.trims(), 1u);
  trimmer.NoteFreed(250);
  EXPECT_TRUE(trimmer.MaybeTrim());
  EXPECT_FALSE(trimmer.MaybeTrim());
  EXPECT_EQ(trimmer.trims(), 2u);
}

class TinyBoundsTest : public ::testing::Test {
 protected:
  void Open() {
    StoreOptions o;
    o.path = dir_.Sub("db");
    o.site = "us";
    o.max_head_bytes = kMiB;      // ~120,000 samples of these values
    o.chunk_max_samples = 65536;  // no head is due by size: the bound seals
    o.memtable_budget_bytes = kMiB;
    o.block_cache_bytes = kMiB;
    // No timed passes: only the writers' wake-ups make the sealer run, so
    // a write waiting for room it never gets would hang the test.
    o.seal_interval = absl::Hours(1);
    auto s = Store::Open(o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  std::map<int64_t, double> ReadAll(TagId tag) {
    codec::ChunkColumns out;
    EXPECT_TRUE(store_->ReadRaw(tag, kMinTimestamp, kMaxTimestamp, 0, &out).ok());
    std::map<int64_t, double> m;
    for (size_t i = 0; i < out.size(); ++i) m[out.timestamps[i]] = out.doubles[i];
    return m;
  }

  historian::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(TinyBoundsTest, WritesWaitForTheSealerAndEverySampleSurvivesRestarts) {
  Open();
  constexpr int kTags = 40, kBatchSamples = 250, kBatches = 24;  // 240,000 samples
  // What one write adds to the heads at most: 20 bytes a sample (the raw
  // tail's cost; a closed block costs less) and a buffer and tail per tag,
  // besides regrowing the tags' block strings (by a quarter: HeadColumns),
  // so the heads hold at most 5/4 of the bound plus this.
  constexpr uint64_t kWriteBytes = uint64_t{kTags} * kBatchSamples * 20 + kTags * 4096;
  uint64_t peak = 0;
  std::vector<TagId> tags;
  for (int i = 0; i < kTags; ++i) {
    auto t = store_->ResolveTagForWrite("t" + std::to_string(i), ValueType::kDouble);
    ASSERT_TRUE(t.ok()) << t.status();
    tags.push_back(t->id);
  }
  std::vector<std::map<int64_t, double>> want(kTags);
  for (int b = 0; b < kBatches; ++b) {
    WriteInput in;
    for (int i = 0; i < kTags; ++i) {
      engine::SeriesData s;
      s.tag = tags[i];
      s.cols.Reset(ValueType::kDouble);
      for (int k = 0; k < kBatchSamples; ++k) {
        // Every other batch rewrites part of the one before (late data).
        const int64_t ts = (int64_t{b} * kBatchSamples + k - (b % 2) * 50) * 1'000'000'000;
        // Full-precision values: ~8 bytes a sample in a head block.
        uint64_t h = (uint64_t(b) << 40) ^ (uint64_t(i) << 20) ^ uint64_t(k);
        h = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        const double v = static_cast<double>(h >> 11) * 0x1.0p-53 * 1e6;
        s.cols.timestamps.push_back(ts);
        s.cols.doubles.push_back(v);
        s.cols.qualities.push_back(0);
        want[i][ts] = v;
      }
      in.series.push_back(std::move(s));
    }
    ASSERT_TRUE(store_->Write(std::move(in)).ok());
    // One writer: a write is let in below the budget, so the heads hold at
    // most 5/4 of the budget plus that one write (above).
    const StoreStats stats = store_->Stats();
    EXPECT_LE(stats.head_bytes, kMiB / 4 * 5 + kWriteBytes) << "after batch " << b;
    EXPECT_EQ(stats.head_bytes == 0, stats.head_samples == 0) << "after batch " << b;
    peak = std::max(peak, stats.head_bytes);
  }
  EXPECT_GE(peak, kMiB / 2);  // the bound held the heads, not sizes or ages
  // Everything sealed: the heads hold nothing, to the byte.
  ASSERT_TRUE(store_->SealAll().ok());
  EXPECT_EQ(store_->Stats().head_bytes, 0u);
  EXPECT_EQ(store_->Stats().head_samples, 0u);
  for (int i = 0; i < kTags; ++i) ASSERT_EQ(ReadAll(tags[i]), want[i]) << "tag " << i;
  store_.reset();  // a crash: the log replays what was not sealed
  Open();
  for (int i = 0; i < kTags; ++i) ASSERT_EQ(ReadAll(tags[i]), want[i]) << "tag " << i;
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  Open();
  for (int i = 0; i < kTags; ++i) ASSERT_EQ(ReadAll(tags[i]), want[i]) << "tag " << i;
  ASSERT_TRUE(store_->Compact().ok());
  for (int i = 0; i < kTags; ++i) ASSERT_EQ(ReadAll(tags[i]), want[i]) << "tag " << i;
}

// A deleted tag's unsealed samples leave the heads, and the bound, with
// it: kept, no seal pass would ever take them out (the pass walks live tags
// only), so the bound would stay that much lower for good.
TEST_F(TinyBoundsTest, ADeletedTagsHeadLeavesTheBound) {
  Open();
  std::vector<TagId> tags;
  for (const char* name : {"gone", "stays"}) {
    auto t = store_->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(t.ok()) << t.status();
    tags.push_back(t->id);
  }
  WriteInput in;
  for (TagId tag : tags) {
    engine::SeriesData s;
    s.tag = tag;
    s.cols.Reset(ValueType::kDouble);
    for (int k = 0; k < 5000; ++k) {
      s.cols.timestamps.push_back(int64_t{k} * 1'000'000'000);
      s.cols.doubles.push_back(k * 0.37);
      s.cols.qualities.push_back(0);
    }
    in.series.push_back(std::move(s));
  }
  ASSERT_TRUE(store_->Write(std::move(in)).ok());
  const uint64_t both = store_->Stats().head_bytes;
  ASSERT_GT(both, 0u);
  ASSERT_TRUE(store_->DeleteTag("gone").ok());
  const StoreStats after = store_->Stats();
  EXPECT_EQ(after.head_samples, 5000u);
  EXPECT_LT(after.head_bytes, both);
  EXPECT_GT(after.head_bytes, 0u);
  ASSERT_TRUE(store_->SealAll().ok());
  EXPECT_EQ(store_->Stats().head_bytes, 0u);
}

}  // namespace
}  // namespace historian
