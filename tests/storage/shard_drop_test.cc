// Store::DropShard and the move ack (docs/cluster.md, "Moving shards"): a
// model test. Random writes, samples tailed in by moves, overwrites, tag
// deletes, seals, overlap rewrites, merges and restarts over tags of
// several virtual shards, then a drop of one shard: every tag of it is gone
// (catalog, samples, chunks and rollups: a tag created again under a
// dropped name starts empty, also after a crash, whose log replay must not
// bring the old head back), every other tag reads exactly what the
// reference model holds, nothing was written to the own log (no delete a
// peer site would apply), and the shard's move origins are forgotten whole
// (no cursor, no log entry: a crash's replay would bring their cursors
// back) while every other shard's stays. A drop stopped after k batches (as
// a kill -9 would stop it) leaves every tag whole or gone, and the reopen
// finishes it. Move acks keep the own log from P on across restarts, until
// cleared. Only the public API (storage/store.h).
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "storage/commit_log/move_origin.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/version.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using engine::SeriesData;

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr uint32_t kShards = 4;
constexpr uint32_t kDropped = 2;
constexpr int kTags = 48;

using Model = std::map<std::string, std::map<int64_t, double>>;

class ShardDropBase : public ::testing::Test {
 protected:
  StoreOptions Options() {
    StoreOptions o;
    o.path = dir_.Sub("data");
    o.site = "us";
    o.peers = {"mx"};  // mx never acks: the own log keeps every entry
    o.sync_writes = false;
    o.chunk_max_samples = 8;
    o.rollup_min_samples = 1;
    o.rollup_min_day_samples = 1;
    o.seal_interval = absl::Hours(1);  // the test seals
    o.now_ns = [this] { return now_ns_; };
    o.drop_shard_batch_tags = 3;
    return o;
  }

  void Open(StoreOptions o) {
    auto s = Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void Reopen(bool clean) {
    if (clean) {
      ASSERT_TRUE(store_->Close().ok());
    }
    store_.reset();  // without Close: the heads come back from the log
    Open(Options());
  }

  static std::string Name(int i) { return absl::StrCat("plant.area", i % 5, ".tag", i); }

  std::map<int64_t, double> Read(const std::string& name) {
    std::map<int64_t, double> m;
    absl::StatusOr<engine::TagInfo> t = store_->GetTag(name);
    if (!t.ok()) return m;
    codec::ChunkColumns out;
    absl::Status s = store_->ReadRaw(t->id, kMinTimestamp, kMaxTimestamp, 0, &out);
    EXPECT_TRUE(s.ok()) << s;
    for (size_t i = 0; i < out.size(); ++i) m[out.timestamps[i]] = out.doubles[i];
    return m;
  }

  void Write(const std::string& name, const std::vector<std::pair<int64_t, double>>& samples) {
    absl::StatusOr<engine::TagInfo> t = store_->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(t.ok()) << t.status();
    WriteInput in;
    SeriesData s;
    s.tag = t->id;
    s.cols.Reset(ValueType::kDouble);
    for (auto [ts, v] : samples) {
      s.cols.timestamps.push_back(ts);
      s.cols.doubles.push_back(v);
      s.cols.qualities.push_back(0);
      model_[name][ts] = v;
    }
    in.series.push_back(std::move(s));
    ASSERT_TRUE(store_->Write(std::move(in)).ok());
  }

  // Entry `seq` of a move's tail origin (storage/commit_log/move_origin.h),
  // as a move's target applies it: samples of one tag of the origin's shard
  // (created here first), at timestamps no local write uses, under a
  // version above every local one so far (as the source's clock would be).
  void ApplyMoved(const std::string& name, int64_t ts, double v) {
    const std::string origin =
        MoveTailOrigin(TagShard(name, kShards), moved_copy_ == 0 ? "b@1" : "b@2");
    absl::StatusOr<engine::TagInfo> t = store_->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(t.ok()) << t.status();
    engine::LogEntry entry;
    entry.version =
        engine::MakeVersion(uint64_t{1700000000} + 100000 * static_cast<uint64_t>(++moved_entries_),
                            engine::SiteTag("us"));
    SeriesData s;
    s.tag = t->id;
    s.cols.Reset(ValueType::kDouble);
    s.cols.timestamps.push_back(ts);
    s.cols.doubles.push_back(v);
    s.cols.qualities.push_back(0);
    s.cols.versions.push_back(entry.version);
    entry.series.push_back(std::move(s));
    std::string bytes;
    engine::EncodeLogEntry(entry, &bytes);
    const uint64_t seq = ++moved_seq_[origin];
    absl::StatusOr<uint64_t> n = store_->ApplyReplicated(origin, seq, bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 1u);
    model_[name][ts] = v;
  }

  // Random history: writes (late ones and overwrites too), samples a move
  // tailed in (of two copies in turn), deletes, seals, overlap rewrites,
  // merges and restarts; ends with unsealed writes.
  void RandomHistory(uint32_t seed) {
    std::mt19937 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
    for (int op = 0; op < 400; ++op) {
      const int kind = pick(100);
      const std::string name = Name(pick(kTags));
      if (op == 200) moved_copy_ = 1;  // a later copy: an origin of its own
      if (kind < 12) {
        // Nanoseconds off the second: no local write has that timestamp.
        ASSERT_NO_FATAL_FAILURE(
            ApplyMoved(name, kHour + pick(48) * kHour / 4 + pick(600) * kSecond + 1 + op,
                       static_cast<double>(pick(1000))));
      } else if (kind < 75) {
        std::vector<std::pair<int64_t, double>> samples;
        const int64_t base = kHour + pick(48) * kHour / 4;
        for (int k = 0, n = 1 + pick(12); k < n; ++k) {
          samples.push_back({base + pick(600) * kSecond, static_cast<double>(pick(1000))});
        }
        std::sort(samples.begin(), samples.end());
        samples.erase(std::unique(samples.begin(), samples.end(),
                                  [](auto& a, auto& b) { return a.first == b.first; }),
                      samples.end());
        ASSERT_NO_FATAL_FAILURE(Write(name, samples));
      } else if (kind < 80) {
        if (store_->HasTag(name)) {
          ASSERT_TRUE(store_->DeleteTag(name).ok());
          model_.erase(name);
        }
      } else if (kind < 88) {
        ASSERT_TRUE(store_->SealAll().ok());
      } else if (kind < 92) {
        ASSERT_TRUE(store_->CompactOverlaps().ok());
      } else if (kind < 95) {
        ASSERT_TRUE(store_->MergeChunks().ok());
      } else {
        ASSERT_NO_FATAL_FAILURE(Reopen(/*clean=*/pick(2) == 0));
      }
    }
    for (int i = 0; i < kTags; i += 3) {
      ASSERT_NO_FATAL_FAILURE(Write(Name(i), {{int64_t{7} * kHour + i, 1.5 * i}}));
    }
  }

  std::vector<std::string> NamesIn(uint32_t shard) const {
    std::vector<std::string> names;
    for (const auto& [name, samples] : model_) {
      if (TagShard(name, kShards) == shard) names.push_back(name);
    }
    return names;
  }

  // Every tag of the dropped shard is gone; every other reads the model.
  void ExpectDropped() {
    for (int i = 0; i < kTags; ++i) {
      const std::string name = Name(i);
      if (TagShard(name, kShards) == kDropped) {
        EXPECT_FALSE(store_->HasTag(name)) << name;
        EXPECT_TRUE(Read(name).empty()) << name;
      } else {
        auto it = model_.find(name);
        EXPECT_EQ(store_->HasTag(name), it != model_.end()) << name;
        const std::map<int64_t, double> want =
            it == model_.end() ? std::map<int64_t, double>() : it->second;
        EXPECT_EQ(Read(name), want) << name;
      }
    }
    EXPECT_EQ(store_->TagCountsByShard(kShards).count(kDropped), 0u);
    // The dropped shard's move origins are gone (cursor and log entries);
    // every other shard's is where its tail left it.
    const std::map<std::string, uint64_t> applied = store_->AppliedSequences();
    for (const auto& [origin, seq] : moved_seq_) {
      if (MoveTailOriginShard(origin) == kDropped) {
        EXPECT_EQ(applied.count(origin), 0u) << origin;
        EXPECT_EQ(store_->AppliedSequence(origin), 0u) << origin;
        OwnLogBatch left;
        ASSERT_TRUE(store_->ReadLog(origin, 1, size_t{1} << 30, &left).ok());
        EXPECT_TRUE(left.records.empty()) << origin << ": " << left.records.size() << " entries";
        EXPECT_FALSE(left.gap) << origin;
      } else {
        auto it = applied.find(origin);
        ASSERT_NE(it, applied.end()) << origin;
        EXPECT_EQ(it->second, seq) << origin;
      }
    }
  }

  // What a peer site could learn of this node: its own log (mx never
  // acks, so nothing is trimmed) and its tombstones (digests).
  struct PeerView {
    uint64_t head = 0;
    std::vector<std::pair<uint64_t, std::string>> own_entries;
    std::vector<engine::Tombstone> tombstones;
  };
  PeerView TakePeerView() const {
    PeerView v;
    v.head = store_->OwnHeadSequence();
    OwnLogBatch batch;
    EXPECT_TRUE(store_->ReadOwnLog(1, size_t{1} << 30, &batch).ok());
    EXPECT_FALSE(batch.gap);
    v.own_entries = std::move(batch.records);
    v.tombstones = store_->Tombstones();
    return v;
  }
  // The drop wrote no own entry (no delete a peer would apply) and no
  // tombstone.
  void ExpectNothingForPeers(const PeerView& before) {
    const PeerView after = TakePeerView();
    EXPECT_EQ(after.head, before.head);
    EXPECT_TRUE(after.own_entries == before.own_entries) << "the own log changed";
    ASSERT_EQ(after.tombstones.size(), before.tombstones.size());
    for (size_t i = 0; i < after.tombstones.size(); ++i) {
      EXPECT_EQ(after.tombstones[i].tag, before.tombstones[i].tag);
      EXPECT_EQ(after.tombstones[i].version, before.tombstones[i].version);
    }
  }

  // A dropped name written again starts empty: no old chunk, rollup or
  // (after a crash) replayed head sample comes back under its id.
  void ExpectRecreatedStartEmpty() {
    const std::vector<std::string> names = NamesIn(kDropped);
    ASSERT_FALSE(names.empty());
    for (const std::string& name : names) model_.erase(name);
    for (const std::string& name : names) {
      ASSERT_NO_FATAL_FAILURE(Write(name, {{int64_t{9} * kHour, 42}}));
    }
    ASSERT_NO_FATAL_FAILURE(Reopen(/*clean=*/false));
    for (const std::string& name : names) {
      EXPECT_EQ(Read(name), model_[name]) << name;
      std::vector<std::pair<int64_t, engine::Rollup>> rollups;
      ASSERT_TRUE(store_
                      ->ReadRollups(store_->GetTag(name)->id, engine::kRollupHour, kMinTimestamp,
                                    kMaxTimestamp, &rollups)
                      .ok());
      EXPECT_TRUE(rollups.empty()) << name;
    }
    ASSERT_TRUE(store_->SealAll().ok());
    for (const std::string& name : names) EXPECT_EQ(Read(name), model_[name]) << name;
  }

  testing::TempDir dir_;
  int64_t now_ns_ = int64_t{1700000000} * kSecond;
  std::unique_ptr<Store> store_;
  Model model_;
  // Move tail origins applied under: the newest sequence of each.
  std::map<std::string, uint64_t> moved_seq_;
  int moved_copy_ = 0;
  uint64_t moved_entries_ = 0;
};

class ShardDropTest : public ShardDropBase, public ::testing::WithParamInterface<uint32_t> {};

TEST_P(ShardDropTest, DropLeavesNothingOfTheShardAndEveryOtherTagAsTheModel) {
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  ASSERT_NO_FATAL_FAILURE(RandomHistory(GetParam()));
  const std::vector<std::string> in_shard = NamesIn(kDropped);
  ASSERT_GE(in_shard.size(), 4u) << "the seed left too few tags in the shard";
  const PeerView peers = TakePeerView();
  absl::StatusOr<uint64_t> n = store_->DropShard(kDropped, kShards);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, in_shard.size());
  ExpectDropped();
  ExpectNothingForPeers(peers);
  // Again: nothing left to drop.
  n = store_->DropShard(kDropped, kShards);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  ASSERT_NO_FATAL_FAILURE(Reopen(/*clean=*/false));
  ExpectDropped();
  ExpectNothingForPeers(peers);
  ASSERT_NO_FATAL_FAILURE(Reopen(/*clean=*/true));
  ExpectDropped();
  ASSERT_NO_FATAL_FAILURE(ExpectRecreatedStartEmpty());
}

TEST_P(ShardDropTest, ADropStoppedMidwayLeavesWholeTagsAndTheReopenFinishesIt) {
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  ASSERT_NO_FATAL_FAILURE(RandomHistory(GetParam()));
  const std::vector<std::string> in_shard = NamesIn(kDropped);
  ASSERT_GE(in_shard.size(), 4u);  // two batches of 3 at least
  ASSERT_NO_FATAL_FAILURE(Reopen(/*clean=*/true));
  const PeerView peers = TakePeerView();
  // Stopped before batch 1: batch 0 went, the rest did not.
  StoreOptions faulty = Options();
  faulty.drop_shard_fault = [](uint32_t, uint64_t batch) {
    return batch == 1 ? absl::AbortedError("killed") : absl::OkStatus();
  };
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(Open(faulty));
  absl::StatusOr<uint64_t> n = store_->DropShard(kDropped, kShards);
  ASSERT_EQ(n.status().code(), absl::StatusCode::kAborted) << n.status();
  store_.reset();  // the kill
  // Before the drop is finished, reopened with the drop finishing off: a
  // tag is whole or gone, never half dropped.
  {
    StoreOptions stuck = Options();
    stuck.drop_shard_fault = [](uint32_t, uint64_t) { return absl::AbortedError("killed"); };
    auto s = Store::Open(std::move(stuck));
    ASSERT_FALSE(s.ok());  // Open finishes drops before serving; it was stopped
    EXPECT_EQ(s.status().code(), absl::StatusCode::kAborted);
  }
  ASSERT_NO_FATAL_FAILURE(Open(Options()));  // finishes the drop
  ExpectDropped();
  ExpectNothingForPeers(peers);
  n = store_->DropShard(kDropped, kShards);  // the mover repeats its step
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  ExpectDropped();
  ASSERT_NO_FATAL_FAILURE(ExpectRecreatedStartEmpty());
}

TEST_F(ShardDropBase, AStoppedDropNeverShowsAHalfDroppedTag) {
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  ASSERT_NO_FATAL_FAILURE(RandomHistory(7));
  ASSERT_TRUE(store_->SealAll().ok());  // chunks and rollups for every tag
  for (int i = 0; i < kTags; i += 2) {  // and unsealed samples for some
    ASSERT_NO_FATAL_FAILURE(Write(Name(i), {{int64_t{8} * kHour + i, 2.5 * i}}));
  }
  const std::vector<std::string> in_shard = NamesIn(kDropped);
  ASSERT_GE(in_shard.size(), 4u);
  StoreOptions faulty = Options();
  faulty.drop_shard_fault = [](uint32_t, uint64_t batch) {
    return batch == 1 ? absl::AbortedError("killed") : absl::OkStatus();
  };
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(Open(faulty));
  ASSERT_FALSE(store_->DropShard(kDropped, kShards).ok());
  size_t gone = 0;
  for (const std::string& name : in_shard) {
    if (store_->HasTag(name)) {
      EXPECT_EQ(Read(name), model_[name]) << name;
    } else {
      ++gone;
      EXPECT_TRUE(Read(name).empty()) << name;
    }
  }
  EXPECT_EQ(gone, 3u);  // exactly the first batch
  ASSERT_NO_FATAL_FAILURE(Reopen(/*clean=*/false));
  ExpectDropped();
}

INSTANTIATE_TEST_SUITE_P(Seeds, ShardDropTest, ::testing::Values(1u, 2u, 3u, 4u));

// --- The move ack ---

class MoveAckTest : public ::testing::Test {
 protected:
  StoreOptions Options(std::vector<std::string> peers = {}) {
    StoreOptions o;
    o.path = dir_.Sub("data");
    o.site = "us";
    o.peers = std::move(peers);
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    o.now_ns = [this] { return now_ns_; };
    return o;
  }
  void Open(StoreOptions o) {
    auto s = Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void WriteOne(int64_t ts) {
    absl::StatusOr<engine::TagInfo> t = store_->ResolveTagForWrite("t", ValueType::kDouble);
    ASSERT_TRUE(t.ok());
    WriteInput in;
    SeriesData s;
    s.tag = t->id;
    s.cols.Reset(ValueType::kDouble);
    s.cols.timestamps.push_back(ts);
    s.cols.doubles.push_back(1);
    s.cols.qualities.push_back(0);
    in.series.push_back(std::move(s));
    ASSERT_TRUE(store_->Write(std::move(in)).ok());
  }
  // The first own sequence still in the log (0: none), after a seal pass.
  uint64_t FirstKeptAfterTrim() {
    EXPECT_TRUE(store_->SealAll().ok());
    if (store_->Stats().own_log_entries == 0) return 0;
    OwnLogBatch batch;
    EXPECT_TRUE(store_->ReadOwnLog(1, size_t{1} << 30, &batch).ok());
    const uint64_t first = batch.gap ? batch.first_available : batch.records.front().first;
    // A reader from there (the move's target at its cursor) sees no gap.
    OwnLogBatch from_first;
    EXPECT_TRUE(store_->ReadOwnLog(first, size_t{1} << 30, &from_first).ok());
    EXPECT_FALSE(from_first.gap);
    EXPECT_EQ(from_first.records.size(), store_->Stats().own_log_entries);
    return first;
  }

  testing::TempDir dir_;
  int64_t now_ns_ = int64_t{1700000000} * kSecond;
  std::unique_ptr<Store> store_;
};

TEST_F(MoveAckTest, KeepsTheLogFromPAcrossRestartsUntilCleared) {
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  for (int k = 1; k <= 6; ++k) ASSERT_NO_FATAL_FAILURE(WriteOne(k));
  ASSERT_EQ(store_->OwnHeadSequence(), 7u);  // the tag's creation, then 6 writes
  ASSERT_TRUE(store_->SetMoveAck(5, 4).ok());
  EXPECT_EQ(store_->MoveAcks(), (std::map<uint32_t, uint64_t>{{5, 4}}));
  EXPECT_EQ(FirstKeptAfterTrim(), 4u);
  EXPECT_EQ(store_->Stats().own_log_entries, 4u);
  // A crash (no Close) and a clean restart: the ack holds.
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  EXPECT_EQ(store_->MoveAcks(), (std::map<uint32_t, uint64_t>{{5, 4}}));
  for (int k = 7; k <= 9; ++k) ASSERT_NO_FATAL_FAILURE(WriteOne(k));
  EXPECT_EQ(FirstKeptAfterTrim(), 4u);
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  EXPECT_EQ(FirstKeptAfterTrim(), 4u);
  EXPECT_EQ(store_->Stats().own_log_entries, 7u);
  // Two moves: the lower position holds.
  ASSERT_TRUE(store_->SetMoveAck(9, 8).ok());
  EXPECT_EQ(FirstKeptAfterTrim(), 4u);
  ASSERT_TRUE(store_->ClearMoveAck(5).ok());
  EXPECT_EQ(FirstKeptAfterTrim(), 8u);
  ASSERT_TRUE(store_->ClearMoveAck(9).ok());
  ASSERT_TRUE(store_->ClearMoveAck(9).ok());  // no-op
  EXPECT_EQ(FirstKeptAfterTrim(), 0u);
  EXPECT_EQ(store_->Stats().own_log_entries, 0u);
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(Open(Options()));
  EXPECT_TRUE(store_->MoveAcks().empty());
}

TEST_F(MoveAckTest, APeerAckAndAMoveAckHoldTheLowerOne) {
  ASSERT_NO_FATAL_FAILURE(Open(Options({"mx"})));
  for (int k = 1; k <= 6; ++k) ASSERT_NO_FATAL_FAILURE(WriteOne(k));
  store_->SetPeerAcked("mx", 5);
  ASSERT_TRUE(store_->SetMoveAck(0, 3).ok());
  EXPECT_EQ(FirstKeptAfterTrim(), 3u);
  ASSERT_TRUE(store_->ClearMoveAck(0).ok());
  EXPECT_EQ(FirstKeptAfterTrim(), 6u);  // the peer's ack now
}

}  // namespace
}  // namespace historian
