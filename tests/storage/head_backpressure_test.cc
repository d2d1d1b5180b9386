// The --max_head_bytes backpressure when sealing fails or falls behind:
// a writer held back by the bound gets Unavailable naming the bound, the
// head bytes and the seal error instead of waiting forever; writes succeed
// again once a seal pass succeeds; every acknowledged sample is stored,
// also after a crash and a clean restart. Entries applied from a peer keep
// to the same bound, and so do repairs. The bound counts the heads' real
// heap bytes (StoreStats::head_bytes), exactly: back to 0 once everything
// is sealed. No test here waits on time: the only seal passes are the
// writers' wake-ups (seal_interval is an hour) and SealAll, and a write
// that waited forever would hang (ctest's TIMEOUT fails it).
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int kTags = 10, kBatchSamples = 1000;  // 10,000 samples a write
// What one write can add to the heads, at most: per sample the raw tail's
// 20 bytes (a closed block of these values costs less), per tag a buffer
// and a tail's slack; and the tags' block strings regrow by a quarter
// (HeadColumns). The heads hold at most 5/4 of the bound plus one write.
constexpr uint64_t kWriteBytes = uint64_t{kTags} * kBatchSamples * 20 + kTags * 4096;

// Fails every chunk write while armed, as a full disk would fail the
// sealer's RocksDB write.
class ChunkWriteFault {
 public:
  std::function<absl::Status(TagId)> Hook() {
    return [this](TagId) -> absl::Status {
      absl::MutexLock l(&mu_);
      if (!armed_) return absl::OkStatus();
      ++failed_;
      return absl::ResourceExhaustedError("injected: no space left on device");
    };
  }
  void Arm(bool armed) {
    absl::MutexLock l(&mu_);
    armed_ = armed;
  }
  int failed() {
    absl::MutexLock l(&mu_);
    return failed_;
  }

 private:
  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
};

using Samples = std::map<TagId, std::map<int64_t, double>>;

std::unique_ptr<Store> OpenStore(const std::string& path, const std::string& site,
                                 uint64_t max_head_bytes, ChunkWriteFault* fault) {
  StoreOptions o;
  o.path = path;
  o.site = site;
  o.max_head_bytes = max_head_bytes;
  // No head is due by size within a test: only the bound seals early.
  o.chunk_max_samples = 65536;
  o.memtable_budget_bytes = kMiB;
  o.block_cache_bytes = kMiB;
  o.seal_interval = absl::Hours(1);  // only wake-ups and SealAll seal
  if (fault != nullptr) o.chunk_write_fault = fault->Hook();
  auto s = Store::Open(o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::vector<TagId> MakeTags(Store* store) {
  std::vector<TagId> tags;
  for (int i = 0; i < kTags; ++i) {
    auto t = store->ResolveTagForWrite("t" + std::to_string(i), ValueType::kDouble);
    EXPECT_TRUE(t.ok()) << t.status();
    tags.push_back(t.ok() ? t->id : 0);
  }
  return tags;
}

// Batch `b`: kBatchSamples per tag; added to *want only when acknowledged.
WriteInput Batch(const std::vector<TagId>& tags, int b, Samples* staged) {
  WriteInput in;
  for (size_t i = 0; i < tags.size(); ++i) {
    engine::SeriesData s;
    s.tag = tags[i];
    s.cols.Reset(ValueType::kDouble);
    for (int k = 0; k < kBatchSamples; ++k) {
      const int64_t ts = (int64_t{b} * kBatchSamples + k) * 1'000'000'000;
      // Full-precision values (~8 bytes a sample in a head block), so a few
      // hundred thousand samples fill the 1 MiB bound.
      uint64_t h = (uint64_t(b) << 40) ^ (uint64_t(i) << 20) ^ uint64_t(k);
      h = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
      const double v = static_cast<double>(h >> 11) * 0x1.0p-53 * 1e6;
      s.cols.timestamps.push_back(ts);
      s.cols.doubles.push_back(v);
      s.cols.qualities.push_back(0);
      (*staged)[tags[i]][ts] = v;
    }
    in.series.push_back(std::move(s));
  }
  return in;
}

Samples ReadAll(Store* store, const std::vector<TagId>& tags) {
  Samples got;
  for (TagId tag : tags) {
    codec::ChunkColumns out;
    EXPECT_TRUE(store->ReadRaw(tag, kMinTimestamp, kMaxTimestamp, 0, &out).ok());
    for (size_t i = 0; i < out.size(); ++i) got[tag][out.timestamps[i]] = out.doubles[i];
  }
  return got;
}

void Merge(const Samples& from, Samples* into) {
  for (const auto& [tag, m] : from) (*into)[tag].insert(m.begin(), m.end());
}

void ExpectHeadsFullError(const absl::Status& s) {
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("--max_head_bytes"), std::string::npos) << s;
  EXPECT_NE(s.message().find("bytes of unsealed samples"), std::string::npos) << s;
  EXPECT_NE(s.message().find("injected: no space left on device"), std::string::npos) << s;
}

TEST(HeadBackpressureTest, FailingSealsFailWaitingWritesLoudlyAndWritesResumeAfterAGoodPass) {
  historian::testing::TempDir dir;
  ChunkWriteFault fault;
  std::unique_ptr<Store> store = OpenStore(dir.Sub("db"), "us", kMiB, &fault);
  ASSERT_NE(store, nullptr);
  const std::vector<TagId> tags = MakeTags(store.get());
  Samples want;
  fault.Arm(true);
  // Writes are let in while the heads are within the budget; the first one
  // over it wakes the sealer, whose pass fails, and gets the error.
  absl::Status refused;
  int b = 0;
  for (; b < 100 && refused.ok(); ++b) {
    Samples staged;
    absl::StatusOr<WriteResult> r = store->Write(Batch(tags, b, &staged));
    if (r.ok()) {
      Merge(staged, &want);
    } else {
      refused = r.status();
    }
  }
  ASSERT_FALSE(refused.ok()) << "no write was refused in " << b << " batches";
  ExpectHeadsFullError(refused);
  EXPECT_GT(fault.failed(), 0);
  EXPECT_GE(store->Stats().head_bytes, kMiB);
  // The acknowledged samples are all readable (from the heads), nothing of
  // the refused write is.
  EXPECT_EQ(ReadAll(store.get(), tags), want);
  // Still failing: the next write is refused at once, not held.
  {
    Samples staged;
    absl::StatusOr<WriteResult> r = store->Write(Batch(tags, b, &staged));
    ASSERT_FALSE(r.ok());
    ExpectHeadsFullError(r.status());
  }
  EXPECT_FALSE(store->SealAll().ok());
  // Healed: a pass that succeeds lets writes in again.
  fault.Arm(false);
  ASSERT_TRUE(store->SealAll().ok());
  // Sealed: the failed passes' put-back heads were refunded in full.
  EXPECT_EQ(store->Stats().head_bytes, 0u);
  for (int k = 0; k < 8; ++k, ++b) {
    Samples staged;
    absl::StatusOr<WriteResult> r = store->Write(Batch(tags, b, &staged));
    ASSERT_TRUE(r.ok()) << r.status();
    Merge(staged, &want);
  }
  EXPECT_EQ(ReadAll(store.get(), tags), want);
  store.reset();  // a crash: the log replays what was not sealed
  store = OpenStore(dir.Sub("db"), "us", kMiB, nullptr);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(store.get(), tags), want);
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  store = OpenStore(dir.Sub("db"), "us", kMiB, nullptr);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(store.get(), tags), want);
}

// The own log entries of `from` from `from_seq` on.
std::vector<std::pair<uint64_t, std::string>> OwnEntries(const Store& from, uint64_t from_seq) {
  OwnLogBatch batch;
  EXPECT_TRUE(from.ReadOwnLog(from_seq, size_t{1} << 30, &batch).ok());
  EXPECT_FALSE(batch.gap);
  return std::move(batch.records);
}

class ReplicatedBackpressureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    us_ = OpenStore(dir_.Sub("us"), "us", 0, nullptr);  // unbounded sender
    ASSERT_NE(us_, nullptr);
    tags_ = MakeTags(us_.get());
    for (int b = 0; b < kBatches; ++b) {
      Samples staged;
      ASSERT_TRUE(us_->Write(Batch(tags_, b, &staged)).ok());
      Merge(staged, &want_);
    }
    entries_ = OwnEntries(*us_, 1);
  }

  static constexpr int kBatches = 40;  // 400,000 samples: ~3x the budget
  historian::testing::TempDir dir_;
  std::unique_ptr<Store> us_;
  std::vector<TagId> tags_;
  Samples want_;
  std::vector<std::pair<uint64_t, std::string>> entries_;
};

TEST_F(ReplicatedBackpressureTest, AppliedEntriesKeepToTheHeadBound) {
  std::unique_ptr<Store> mx = OpenStore(dir_.Sub("mx"), "mx", kMiB, nullptr);
  ASSERT_NE(mx, nullptr);
  uint64_t peak = 0;
  for (const auto& [seq, bytes] : entries_) {
    absl::StatusOr<uint64_t> n = mx->ApplyReplicated("us", seq, bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    // An entry is let in below the budget: the heads hold at most the
    // budget (5/4 of it, above) plus that one entry.
    EXPECT_LE(mx->Stats().head_bytes, kMiB / 4 * 5 + kWriteBytes) << "seq " << seq;
    peak = std::max(peak, mx->Stats().head_bytes);
  }
  EXPECT_GE(peak, kMiB / 2);  // the bound was what held the heads
  EXPECT_EQ(ReadAll(mx.get(), tags_), want_);
  ASSERT_TRUE(mx->SealAll().ok());
  EXPECT_EQ(mx->Stats().head_bytes, 0u);
  mx.reset();  // a crash
  mx = OpenStore(dir_.Sub("mx"), "mx", kMiB, nullptr);
  ASSERT_NE(mx, nullptr);
  EXPECT_EQ(ReadAll(mx.get(), tags_), want_);
}

TEST_F(ReplicatedBackpressureTest, FailingSealsStopThePullerWhichResumesAfterAGoodPass) {
  ChunkWriteFault fault;
  std::unique_ptr<Store> mx = OpenStore(dir_.Sub("mx"), "mx", kMiB, &fault);
  ASSERT_NE(mx, nullptr);
  fault.Arm(true);
  absl::Status refused;
  for (const auto& [seq, bytes] : entries_) {
    absl::StatusOr<uint64_t> n = mx->ApplyReplicated("us", seq, bytes);
    if (!n.ok()) {
      refused = n.status();
      break;
    }
  }
  ASSERT_FALSE(refused.ok()) << "every entry was applied over the bound";
  ExpectHeadsFullError(refused);
  const uint64_t applied = mx->AppliedSequence("us");
  EXPECT_LT(applied, entries_.back().first);
  // Healed: the puller goes on from its cursor (the peer kept its log).
  fault.Arm(false);
  ASSERT_TRUE(mx->SealAll().ok());
  for (const auto& [seq, bytes] : OwnEntries(*us_, applied + 1)) {
    absl::StatusOr<uint64_t> n = mx->ApplyReplicated("us", seq, bytes);
    ASSERT_TRUE(n.ok()) << n.status();
  }
  EXPECT_EQ(mx->AppliedSequence("us"), us_->OwnHeadSequence());
  EXPECT_EQ(ReadAll(mx.get(), tags_), want_);
  ASSERT_TRUE(mx->Close().ok());
  mx.reset();
  mx = OpenStore(dir_.Sub("mx"), "mx", kMiB, nullptr);
  ASSERT_NE(mx, nullptr);
  EXPECT_EQ(ReadAll(mx.get(), tags_), want_);
}

// Repairs (anti-entropy: samples a peer holds and this node misses) go
// into the heads as writes do: within the bound, which counts them as
// exactly as local writes.
TEST_F(ReplicatedBackpressureTest, RepairsKeepToTheHeadBound) {
  std::unique_ptr<Store> mx = OpenStore(dir_.Sub("mx"), "mx", kMiB, nullptr);
  ASSERT_NE(mx, nullptr);
  std::vector<engine::TagInfo> infos;
  for (int i = 0; i < kTags; ++i) {
    absl::StatusOr<engine::TagInfo> info = us_->GetTag("t" + std::to_string(i));
    ASSERT_TRUE(info.ok()) << info.status();
    infos.push_back(*info);
  }
  uint64_t peak = 0;
  for (int b = 0; b < kBatches; ++b) {
    Samples staged;
    WriteInput in = Batch(tags_, b, &staged);
    for (engine::SeriesData& s : in.series) s.cols.versions.assign(s.cols.size(), 1);
    absl::StatusOr<uint64_t> n = mx->ApplyRepair(infos, std::move(in.series));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_LE(mx->Stats().head_bytes, kMiB / 4 * 5 + kWriteBytes) << "batch " << b;
    peak = std::max(peak, mx->Stats().head_bytes);
  }
  EXPECT_GE(peak, kMiB / 2);
  EXPECT_EQ(ReadAll(mx.get(), tags_), want_);
  ASSERT_TRUE(mx->SealAll().ok());
  EXPECT_EQ(mx->Stats().head_bytes, 0u);
  EXPECT_EQ(ReadAll(mx.get(), tags_), want_);
}

}  // namespace
}  // namespace historian
