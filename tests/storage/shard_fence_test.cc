// Store::CloseShardToWrites / OpenShardToWrites (docs/cluster.md, "Moving
// shards", steps 5 and 6): the source's fence must hold every own entry of
// the shard, also of writes racing the close, and none may come after it;
// the target's first versions after the open order after the source's.
// Only the public API (storage/store.h).
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/version.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr uint32_t kShards = 4;
constexpr uint32_t kClosed = 1;

class ShardFenceTest : public ::testing::Test {
 protected:
  StoreOptions Options() {
    StoreOptions o;
    o.path = dir_.Sub("data");
    o.site = "us";
    o.peers = {"mx"};  // mx never acks: the own log keeps every entry
    o.sync_writes = false;
    o.now_ns = [this] { return now_ns_.load(); };
    o.handover_write_hold = hold_;
    return o;
  }
  void Open() {
    auto s = Store::Open(Options());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void Reopen() {
    store_.reset();  // as a kill -9: the log replays
    Open();
  }
  // The first tag name of the form prefix<i> in `shard`, from `from` on.
  static std::string NameIn(uint32_t shard, int from = 0) {
    for (int i = from;; ++i) {
      std::string name = absl::StrCat("line1.press", i, ".temp");
      if (TagShard(name, kShards) == shard) return name;
    }
  }
  absl::Status Write(const std::string& name, int64_t ts, double v) {
    absl::StatusOr<engine::TagInfo> t = store_->ResolveTagForWrite(name, ValueType::kDouble);
    if (!t.ok()) return t.status();
    WriteInput in;
    engine::SeriesData s;
    s.tag = t->id;
    s.cols.Reset(ValueType::kDouble);
    s.cols.timestamps.push_back(ts);
    s.cols.doubles.push_back(v);
    s.cols.qualities.push_back(0);
    in.series.push_back(std::move(s));
    return store_->Write(std::move(in)).status();
  }
  // Every own entry as (sequence, decoded entry).
  std::vector<std::pair<uint64_t, engine::LogEntry>> OwnLog() {
    OwnLogBatch batch;
    EXPECT_TRUE(store_->ReadOwnLog(1, size_t{1} << 30, &batch).ok());
    std::vector<std::pair<uint64_t, engine::LogEntry>> out;
    for (const auto& [seq, bytes] : batch.records) {
      engine::LogEntry e;
      EXPECT_TRUE(engine::DecodeLogEntry(bytes, &e).ok());
      out.emplace_back(seq, std::move(e));
    }
    return out;
  }

  // Waits until `n` own writes are held for a closed shard.
  void AwaitHeld(uint64_t n) {
    while (store_->Stats().writes_held < n) std::this_thread::yield();
  }

  testing::TempDir dir_;
  absl::Duration hold_ = absl::InfiniteDuration();
  std::atomic<int64_t> now_ns_{1700000000 * kSecond};
  std::unique_ptr<Store> store_;
};

TEST_F(ShardFenceTest, ClosedShardRefusesOwnWritesCreatesAndDeletesNamingTagAndShard) {
  ASSERT_NO_FATAL_FAILURE(Open());
  const std::string closed_tag = NameIn(kClosed), other = NameIn(kClosed + 1);
  ASSERT_TRUE(Write(closed_tag, kSecond, 1).ok());
  ASSERT_TRUE(Write(other, kSecond, 1).ok());
  absl::StatusOr<Store::ShardFence> fence =
      store_->CloseShardToWrites(kClosed, kShards, "shard 1 is being handed over to us-2");
  ASSERT_TRUE(fence.ok()) << fence.status();
  EXPECT_EQ(fence->position, store_->OwnHeadSequence());

  absl::Status refused = Write(closed_tag, 2 * kSecond, 2);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find(closed_tag), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("shard 1 of 4"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("handed over to us-2"), std::string::npos) << refused;
  // A new tag of the shard is not created; a delete of one is refused.
  const std::string new_tag = NameIn(kClosed, 1000);
  EXPECT_EQ(Write(new_tag, kSecond, 1).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store_->HasTag(new_tag));
  EXPECT_EQ(store_->DeleteTag(closed_tag).code(), absl::StatusCode::kUnavailable);
  // Other shards write on.
  EXPECT_TRUE(Write(other, 2 * kSecond, 2).ok());
  EXPECT_GT(store_->OwnHeadSequence(), fence->position);
  ASSERT_EQ(store_->ClosedShards().count(kClosed), 1u);

  // Kept across a crash and a drop of the shard (a move's target wipes
  // while closed); the open ends it.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Write(closed_tag, 3 * kSecond, 3).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(store_->DropShard(kClosed, kShards).ok());
  EXPECT_EQ(store_->ClosedShards().count(kClosed), 1u);
  EXPECT_EQ(Write(closed_tag, 3 * kSecond, 3).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(store_->OpenShardToWrites(kClosed, 0).ok());
  EXPECT_TRUE(store_->ClosedShards().empty());
  EXPECT_TRUE(Write(closed_tag, 3 * kSecond, 3).ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_TRUE(store_->ClosedShards().empty());
}

// Writers race the close: every write acknowledged of the shard is in an
// own entry at or below the fence, no entry above it holds the shard, and
// the fence's clock is at or above every version below it.
TEST_F(ShardFenceTest, FenceHoldsEveryAckedWriteOfTheShardAndNothingAfterIt) {
  ASSERT_NO_FATAL_FAILURE(Open());
  constexpr int kWriters = 4;
  std::vector<std::string> names;
  for (int i = 0; i < 16; ++i) names.push_back(NameIn(i % kShards, i * 100));
  std::atomic<bool> stop{false};
  std::atomic<int> acked_after_start{0};
  std::vector<std::map<std::string, std::vector<int64_t>>> acked(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int64_t k = 1; !stop.load(); ++k) {
        const std::string& name = names[(w * 7 + k) % names.size()];
        const int64_t ts = (w * 1000000 + k) * kSecond;
        absl::Status s = Write(name, ts, static_cast<double>(k));
        if (s.ok()) {
          acked[w][name].push_back(ts);
          acked_after_start.fetch_add(1);
        } else {
          ASSERT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
          ASSERT_EQ(TagShard(name, kShards), kClosed) << s;
        }
        if (k % 16 == 0) now_ns_.fetch_add(kSecond);  // versions of several seconds
      }
    });
  }
  while (acked_after_start.load() < 400) std::this_thread::yield();
  absl::StatusOr<Store::ShardFence> fence = store_->CloseShardToWrites(kClosed, kShards, "moving");
  ASSERT_TRUE(fence.ok()) << fence.status();
  const int at_close = acked_after_start.load();
  while (acked_after_start.load() < at_close + 400) std::this_thread::yield();
  stop = true;
  for (std::thread& t : writers) t.join();

  std::map<TagId, std::string> name_of;
  for (const std::string& name : names) {
    absl::StatusOr<engine::TagInfo> info = store_->GetTag(name);
    ASSERT_TRUE(info.ok()) << info.status();
    name_of[info->id] = name;
  }
  std::map<std::string, std::set<int64_t>> in_fence;  // samples of the shard at or below it
  uint64_t entries_after = 0;
  for (const auto& [seq, entry] : OwnLog()) {
    for (const engine::SeriesData& s : entry.series) {
      ASSERT_EQ(name_of.count(s.tag), 1u);
      const std::string& name = name_of[s.tag];
      if (TagShard(name, kShards) != kClosed) continue;
      ASSERT_LE(seq, fence->position) << "an entry of the closed shard after the fence";
      for (size_t i = 0; i < s.cols.size(); ++i) {
        in_fence[name].insert(s.cols.timestamps[i]);
        EXPECT_LE(s.cols.versions.empty() ? entry.version : s.cols.versions[i], fence->clock);
      }
    }
    for (const engine::TagInfo& info : entry.catalog_upserts) {
      if (TagShard(info.name, kShards) == kClosed) {
        ASSERT_LE(seq, fence->position);
      }
    }
    if (seq > fence->position) ++entries_after;
  }
  EXPECT_GT(entries_after, 0u);  // the other shards wrote on
  size_t checked = 0;
  for (const auto& by_name : acked) {
    for (const auto& [name, stamps] : by_name) {
      if (TagShard(name, kShards) != kClosed) continue;
      for (int64_t ts : stamps) {
        EXPECT_EQ(in_fence[name].count(ts), 1u) << name << " @" << ts << " acked, not in fence";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 0u);
}

// The target opens the shard with the source's fence clock: its next
// version is above it even when its own wall clock is behind.
TEST_F(ShardFenceTest, OpenMovesTheClockPastTheObservedFence) {
  ASSERT_NO_FATAL_FAILURE(Open());
  const std::string tag = NameIn(kClosed);
  ASSERT_TRUE(store_->CloseShardToWrites(kClosed, kShards, "moving").ok());
  const Version source_clock =
      engine::MakeVersion(static_cast<uint64_t>(now_ns_.load() / kSecond) + 50, /*site_tag=*/0);
  ASSERT_TRUE(store_->OpenShardToWrites(kClosed, source_clock).ok());
  EXPECT_TRUE(store_->ClosedShards().empty());
  // Opened durably, and the clock's floor too: a crash before any write
  // stamped past it does not bring the clock back to the wall's.
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_TRUE(store_->ClosedShards().empty());
  ASSERT_TRUE(Write(tag, kSecond, 1).ok());
  const auto log = OwnLog();
  ASSERT_FALSE(log.empty());
  EXPECT_GT(engine::VersionSeconds(log.back().second.version),
            engine::VersionSeconds(source_clock));
  EXPECT_TRUE(Write(tag, 2 * kSecond, 2).ok());
  // Opening a shard that is not closed is a no-op.
  EXPECT_TRUE(store_->OpenShardToWrites(kClosed + 1, source_clock).ok());
}

// The target closes with ClosedWrites::kHold: samples of a known tag of the
// shard wait for the open instead of failing, and are stamped past the
// source's clock; a new tag, a metadata change and a delete (versions
// stamped before the wait) are refused at once; other shards write on.
TEST_F(ShardFenceTest, HeldWritesWaitForTheOpenAndStampPastTheFence) {
  ASSERT_NO_FATAL_FAILURE(Open());
  const std::string known = NameIn(kClosed), created = NameIn(kClosed, 1000);
  ASSERT_TRUE(Write(known, kSecond, 1).ok());
  ASSERT_TRUE(store_
                  ->CloseShardToWrites(kClosed, kShards, "shard 1 is being handed over to us",
                                       Store::ClosedWrites::kHold)
                  .ok());
  absl::Status known_status = absl::UnknownError("not done");
  std::thread w1([&] { known_status = Write(known, 2 * kSecond, 2); });
  AwaitHeld(1);
  EXPECT_EQ(Write(created, 2 * kSecond, 2).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(store_->HasTag(created));
  absl::StatusOr<engine::TagInfo> info = store_->GetTag(known);
  ASSERT_TRUE(info.ok());
  info->unit = "degC";
  EXPECT_EQ(store_->UpdateTag(*info).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->DeleteTag(known).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Write(NameIn(kClosed + 1), kSecond, 1).ok());
  EXPECT_EQ(store_->Stats().writes_held, 1u);
  const Version source_clock =
      engine::MakeVersion(static_cast<uint64_t>(now_ns_.load() / kSecond) + 50, /*site_tag=*/0);
  ASSERT_TRUE(store_->OpenShardToWrites(kClosed, source_clock).ok());
  w1.join();
  EXPECT_TRUE(known_status.ok()) << known_status;
  EXPECT_EQ(store_->Stats().writes_held, 0u);
  EXPECT_EQ(store_->Stats().writes_held_total, 1u);
  absl::StatusOr<engine::TagInfo> known_info = store_->GetTag(known);
  ASSERT_TRUE(known_info.ok());
  int held_samples = 0;
  for (const auto& [seq, entry] : OwnLog()) {
    for (const engine::SeriesData& s : entry.series) {
      if (s.tag != known_info->id || s.cols.timestamps[0] != 2 * kSecond) continue;
      EXPECT_GT(engine::VersionSeconds(entry.version), engine::VersionSeconds(source_clock));
      ++held_samples;
    }
  }
  EXPECT_EQ(held_samples, 1);
}

// A hold ends: a shard that stays closed refuses the held write after
// StoreOptions::handover_write_hold; and a restart refuses at once (the
// hold is not kept: only the close is).
TEST_F(ShardFenceTest, HeldWriteIsRefusedWhenTheHoldRunsOutAndAfterARestart) {
  hold_ = absl::Milliseconds(50);
  ASSERT_NO_FATAL_FAILURE(Open());
  const std::string tag = NameIn(kClosed);
  ASSERT_TRUE(Write(tag, kSecond, 1).ok());
  ASSERT_TRUE(
      store_->CloseShardToWrites(kClosed, kShards, "handover", Store::ClosedWrites::kHold).ok());
  absl::Status s = Write(tag, 2 * kSecond, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("handover"), std::string::npos) << s;
  EXPECT_EQ(store_->Stats().writes_held, 0u);
  EXPECT_EQ(store_->Stats().writes_held_total, 1u);

  hold_ = absl::InfiniteDuration();  // a held write would never return
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Write(tag, 2 * kSecond, 2).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->Stats().writes_held_total, 0u);
}

TEST_F(ShardFenceTest, BadShardIsInvalidArgument) {
  ASSERT_NO_FATAL_FAILURE(Open());
  absl::StatusOr<Store::ShardFence> f = store_->CloseShardToWrites(4, kShards, "x");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("shard: 4"), std::string::npos) << f.status();
}

}  // namespace
}  // namespace historian
