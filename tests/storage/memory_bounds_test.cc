// The store's memory bounds (max_head_bytes, memtable_budget_bytes,
// block_cache_bytes): bad values are refused naming the option and its
// range; with every bound tiny, writes wait for the sealer instead of
// growing the heads, and every sample is stored and read back, also after a
// crash and a restart.
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
    o.max_head_bytes = kMiB;  // 52,428 samples at 20 bytes
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
  constexpr uint64_t kBudgetSamples = kMiB / 20;
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
        const double v = b * 1000.0 + i + k * 0.25;
        s.cols.timestamps.push_back(ts);
        s.cols.doubles.push_back(v);
        s.cols.qualities.push_back(0);
        want[i][ts] = v;
      }
      in.series.push_back(std::move(s));
    }
    ASSERT_TRUE(store_->Write(std::move(in)).ok());
    // One writer: a write is let in below the budget, so the heads hold at
    // most the budget plus that one write.
    EXPECT_LE(store_->Stats().head_samples, kBudgetSamples + kTags * kBatchSamples)
        << "after batch " << b;
  }
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

}  // namespace
}  // namespace historian
