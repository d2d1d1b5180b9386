// CommitLog alone, over a temp RocksDB with a fake GroupApplier: sequence
// assignment, entries of other origins, the dedupe window, a failed write
// freeing its numbers, the hybrid clock, reopening, and log trimming.
#include "storage/commit_log/commit_log.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/commit_log/log_trimmer.h"
#include "storage/engine/key_format.h"
#include "storage/engine/version.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using engine::kNanosPerSecond;
using engine::MakeVersion;

// Records what the commit log asks the rest of the store to do.
class FakeApplier : public GroupApplier {
 public:
  void PrepareGroupEntry(PendingWrite* w, rocksdb::WriteBatch* batch) override {
    ++prepared;
    // A put into a column family this database does not have: the group's
    // write fails.
    if (fail_next && bad_cf != nullptr) {
      batch->Put(bad_cf, "k", "v");
      fail_next = false;
    }
  }
  void ApplyGroupEntry(const PendingWrite& w, int64_t now_s) override {
    applied.emplace_back(w.origin, w.seq);
    last_now_s = now_s;
  }

  int prepared = 0;
  bool fail_next = false;
  rocksdb::ColumnFamilyHandle* bad_cf = nullptr;
  std::vector<std::pair<std::string, uint64_t>> applied;
  int64_t last_now_s = 0;
};

// A column family whose keys carry timestamps: a batch with a put into it
// that sets none is refused by the write before the WAL (the database
// stays writable).
class TimestampedColumnFamily : public rocksdb::ColumnFamilyHandle {
 public:
  explicit TimestampedColumnFamily(rocksdb::ColumnFamilyHandle* real) : real_(real) {}
  const std::string& GetName() const override { return real_->GetName(); }
  uint32_t GetID() const override { return real_->GetID(); }
  rocksdb::Status GetDescriptor(rocksdb::ColumnFamilyDescriptor* desc) override {
    return real_->GetDescriptor(desc);
  }
  const rocksdb::Comparator* GetComparator() const override { return &comparator_; }

 private:
  class Comparator : public rocksdb::Comparator {
   public:
    Comparator() : rocksdb::Comparator(/*ts_sz=*/8) {}
    const char* Name() const override { return "test.timestamped"; }
    int Compare(const rocksdb::Slice& a, const rocksdb::Slice& b) const override {
      return a.compare(b);
    }
    void FindShortestSeparator(std::string*, const rocksdb::Slice&) const override {}
    void FindShortSuccessor(std::string*) const override {}
  };
  rocksdb::ColumnFamilyHandle* real_;
  Comparator comparator_;
};

class CommitLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    log_.reset();
    db_.reset();
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    CommitLogOptions o;
    o.site = "us";
    o.site_tag = 7;
    o.sync_writes = false;
    o.client_dedupe_window = 4;
    o.now_ns = [this] { return now_ns_; };
    log_ = std::make_unique<CommitLog>(mu_, db_.get(), std::move(o), &applier_);
    ASSERT_TRUE(log_->Load().ok());
  }

  // Submits an entry of `origin` (own when "us"); seq 0: assigned.
  PendingWrite Submit(const std::string& origin, uint64_t seq = 0, bool catalog = false,
                      std::string client = "", uint64_t batch_seq = 0) {
    PendingWrite w;
    w.origin = origin;
    w.seq = seq;
    w.assign_seq = origin == "us" || seq == 0;
    w.client_id = std::move(client);
    w.batch_seq = batch_seq;
    if (catalog) {
      engine::TagInfo info;
      info.name = "t";
      w.entry.catalog_upserts.push_back(info);
    }
    engine::EncodeLogEntry(w.entry, &w.encoded);
    absl::MutexLock l(&log_->mu());
    log_->Submit(&w);
    return w;
  }

  uint64_t NextSeq() {
    absl::MutexLock l(&log_->mu());
    return log_->next_seq();
  }

  // Log keys of `origin` in the log CF.
  int CountLog(const std::string& origin) {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(rocksdb::ReadOptions(), db_->log()));
    int n = 0;
    const std::string prefix = engine::LogPrefix(origin);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }

  ::historian::testing::TempDir dir_;
  int64_t now_ns_ = 1000 * kNanosPerSecond;
  absl::Mutex mu_;
  FakeApplier applier_;
  std::unique_ptr<engine::RocksDb> db_;
  std::unique_ptr<CommitLog> log_;
};

TEST_F(CommitLogTest, OwnWritesTakeConsecutiveSequences) {
  EXPECT_EQ(NextSeq(), 1u);
  for (uint64_t i = 1; i <= 3; ++i) {
    PendingWrite w = Submit("us");
    ASSERT_TRUE(w.status.ok()) << w.status;
    EXPECT_EQ(w.seq, i);
    EXPECT_TRUE(w.done);
  }
  EXPECT_EQ(NextSeq(), 4u);
  EXPECT_EQ(CountLog("us"), 3);
  ASSERT_EQ(applier_.applied.size(), 3u);
  EXPECT_EQ(applier_.applied[2], std::make_pair(std::string("us"), uint64_t{3}));
  EXPECT_EQ(applier_.last_now_s, 1000);
  EXPECT_EQ(applier_.prepared, 0);  // no catalog changes
  absl::MutexLock l(&log_->mu());
  EXPECT_EQ(log_->OwnHeadSequence(), 3u);
  EXPECT_EQ(log_->AppliedSequence("us"), 3u);
}

TEST_F(CommitLogTest, OtherOriginsKeepTheirSequencesAndSkipReplays) {
  EXPECT_EQ(Submit("eu", 5).seq, 5u);
  PendingWrite replay = Submit("eu", 4);
  EXPECT_TRUE(replay.skipped);
  EXPECT_TRUE(replay.status.ok());
  EXPECT_EQ(Submit("eu", 6).seq, 6u);
  // A repair is numbered after the last of its origin.
  EXPECT_EQ(Submit(kRepairOrigin).seq, 1u);
  EXPECT_EQ(Submit(kRepairOrigin).seq, 2u);
  EXPECT_EQ(NextSeq(), 1u);  // no own entry
  {
    absl::MutexLock l(&log_->mu());
    EXPECT_EQ(log_->AppliedSequence("eu"), 6u);
    EXPECT_EQ(log_->AppliedSequence(kRepairOrigin), 2u);
  }
  // The cursors are durable with the entries.
  Open();
  absl::MutexLock l(&log_->mu());
  EXPECT_EQ(log_->AppliedSequence("eu"), 6u);
  EXPECT_EQ(log_->AppliedSequence(kRepairOrigin), 2u);
}

TEST_F(CommitLogTest, NextSequenceSurvivesReopen) {
  Submit("us");
  Submit("us");
  Open();
  EXPECT_EQ(NextSeq(), 3u);
  EXPECT_EQ(Submit("us").seq, 3u);
}

TEST_F(CommitLogTest, CatalogEntriesArePrepared) {
  Submit("us", 0, /*catalog=*/true);
  EXPECT_EQ(applier_.prepared, 1);
}

TEST_F(CommitLogTest, FailedWriteFreesItsNumbers) {
  TimestampedColumnFamily bad_cf(db_->log());
  applier_.bad_cf = &bad_cf;

  EXPECT_EQ(Submit("us").seq, 1u);
  applier_.fail_next = true;
  PendingWrite failed = Submit("us", 0, /*catalog=*/true);
  EXPECT_EQ(failed.status.code(), absl::StatusCode::kUnavailable) << failed.status;
  EXPECT_EQ(failed.seq, 2u);
  EXPECT_EQ(NextSeq(), 2u);
  // The failed group's number is taken again, and nothing of it was applied.
  PendingWrite next = Submit("us");
  ASSERT_TRUE(next.status.ok()) << next.status;
  EXPECT_EQ(next.seq, 2u);
  EXPECT_EQ(applier_.applied.size(), 2u);
  EXPECT_EQ(CountLog("us"), 2);
}

TEST_F(CommitLogTest, DedupeWindow) {
  auto begin = [&](uint64_t batch) {
    PendingWrite w;
    w.client_id = "c";
    w.batch_seq = batch;
    absl::MutexLock l(&log_->mu());
    return log_->BeginBatch(w);
  };
  auto end = [&](uint64_t batch) {
    PendingWrite w;
    w.client_id = "c";
    w.batch_seq = batch;
    absl::MutexLock l(&log_->mu());
    log_->EndBatch(w);
  };
  absl::StatusOr<std::optional<uint64_t>> first = begin(10);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
  // The same batch again while in flight: retry later.
  EXPECT_EQ(begin(10).status().code(), absl::StatusCode::kUnavailable);
  end(10);

  PendingWrite w = Submit("us", 0, false, "c", 10);
  w.accepted = 0;
  ASSERT_TRUE(w.status.ok());
  absl::StatusOr<std::optional<uint64_t>> retry = begin(10);
  ASSERT_TRUE(retry.ok());
  ASSERT_TRUE(retry->has_value());
  EXPECT_EQ(**retry, 0u);
  // Older than the window (4) of the highest batch seen: refused.
  EXPECT_EQ(begin(6).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::optional<uint64_t>> in_window = begin(7);
  ASSERT_TRUE(in_window.ok());
  EXPECT_FALSE(in_window->has_value());
  end(7);

  // Remembered across a reopen (client/ keys).
  Open();
  retry = begin(10);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->has_value());
  EXPECT_EQ(begin(6).status().code(), absl::StatusCode::kFailedPrecondition);
}

// A site cluster node's parts of one batch (docs/cluster.md, "Routing
// writes"): the same (client, batch) with another digest is another slice of
// the batch (the placement moved between attempts), stored, never answered
// as a duplicate; the same digest is a retry. The keys of both kinds, and of
// writes without a digest, are read back at the next open.
TEST_F(CommitLogTest, DedupeWindowTellsSlicesOfABatchApartByDigest) {
  auto write = [&](uint64_t batch, uint64_t digest, uint64_t accepted) {
    PendingWrite w;
    w.origin = "us";
    w.assign_seq = true;
    w.client_id = "gw";
    w.batch_seq = batch;
    w.dedupe_digest = digest;
    w.accepted = accepted;
    engine::EncodeLogEntry(w.entry, &w.encoded);
    absl::MutexLock l(&log_->mu());
    absl::StatusOr<std::optional<uint64_t>> seen = log_->BeginBatch(w);
    if (!seen.ok()) return seen;
    if (seen->has_value()) return seen;
    log_->Submit(&w);
    log_->EndBatch(w);
    EXPECT_TRUE(w.status.ok()) << w.status;
    return seen;
  };
  auto seen = [&](uint64_t batch, uint64_t digest) -> std::optional<uint64_t> {
    PendingWrite w;
    w.client_id = "gw";
    w.batch_seq = batch;
    w.dedupe_digest = digest;
    absl::MutexLock l(&log_->mu());
    absl::StatusOr<std::optional<uint64_t>> s = log_->BeginBatch(w);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return std::nullopt;
    if (!s->has_value()) log_->EndBatch(w);
    return *s;
  };
  ASSERT_TRUE(write(5, 0xA, 3).ok());                   // one slice of batch 5
  ASSERT_TRUE(write(6, 0, 2).ok());                     // batch 6 without a digest
  EXPECT_EQ(seen(5, 0xA), std::optional<uint64_t>(3));  // a retry of that slice
  EXPECT_EQ(seen(5, 0xB), std::nullopt);                // another slice: new
  EXPECT_EQ(seen(5, 0), std::nullopt);                  // the batch key alone: new
  ASSERT_TRUE(write(5, 0xB, 7).ok());
  EXPECT_EQ(seen(5, 0xB), std::optional<uint64_t>(7));
  EXPECT_EQ(seen(6, 0), std::optional<uint64_t>(2));
  EXPECT_EQ(seen(6, 0xA), std::nullopt);

  Open();
  EXPECT_EQ(seen(5, 0xA), std::optional<uint64_t>(3));
  EXPECT_EQ(seen(5, 0xB), std::optional<uint64_t>(7));
  EXPECT_EQ(seen(5, 0xC), std::nullopt);
  EXPECT_EQ(seen(6, 0), std::optional<uint64_t>(2));
  // The window still counts sequences, whatever the digests.
  PendingWrite old;
  old.client_id = "gw";
  old.batch_seq = 2;
  old.dedupe_digest = 0xA;
  absl::MutexLock l(&log_->mu());
  EXPECT_EQ(log_->BeginBatch(old).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CommitLogTest, HybridClockNeverGoesBack) {
  absl::MutexLock l(&log_->mu());
  EXPECT_EQ(log_->NextVersion(0), MakeVersion(1000, 7));
  now_ns_ = 900 * kNanosPerSecond;  // the wall clock went back
  EXPECT_EQ(log_->NextVersion(0), MakeVersion(1000, 7));
  // Above a floor (a tombstone) of the same second.
  EXPECT_EQ(log_->NextVersion(MakeVersion(1000, 9)), MakeVersion(1001, 7));
  EXPECT_EQ(log_->ClockVersion(), MakeVersion(1001, 7));
  now_ns_ = 2000 * kNanosPerSecond;
  EXPECT_EQ(log_->ClockVersion(), MakeVersion(2000, 7));
  // A replayed entry of a later second moves the clock.
  log_->NoteReplayed("eu", 1, MakeVersion(3000, 2));
  EXPECT_EQ(log_->NextVersion(0), MakeVersion(3000, 7));
}

TEST_F(CommitLogTest, SkipSequencesLeavesAHole) {
  Submit("us");
  {
    absl::MutexLock l(&log_->mu());
    uint64_t from = 0, to = 0;
    ASSERT_TRUE(log_->SkipSequences(100, &from, &to).ok());
    EXPECT_EQ(from, 2u);
    EXPECT_EQ(to, 102u);
  }
  EXPECT_EQ(Submit("us").seq, 102u);
  Open();
  absl::MutexLock l(&log_->mu());
  EXPECT_EQ(log_->next_seq(), 103u);
  ASSERT_EQ(log_->seq_holes().size(), 1u);
  EXPECT_EQ(log_->seq_holes().begin()->first, 2u);
  EXPECT_EQ(log_->seq_holes().begin()->second, 102u);
}

TEST_F(CommitLogTest, TrimDeletesBelowTheLimits) {
  for (int i = 0; i < 5; ++i) Submit("us");
  Submit("eu", 1);
  Submit("eu", 2);
  std::map<std::string, uint64_t> limit;
  {
    absl::MutexLock l(&log_->mu());
    log_->TrimLimits(&limit);
  }
  EXPECT_EQ(limit["us"], 6u);
  EXPECT_EQ(limit["eu"], 3u);
  limit["us"] = 4;  // entries 4 and 5 still needed
  absl::Mutex seal_mu;
  LogTrimmer trimmer(seal_mu, db_.get(), /*sync_writes=*/false);
  absl::MutexLock pass(&seal_mu);
  rocksdb::WriteBatch batch;
  absl::StatusOr<uint64_t> trimmed = trimmer.Trim(limit, &batch);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, 5u);  // us 1..3, eu 1..2
  EXPECT_EQ(CountLog("us"), 2);
  EXPECT_EQ(CountLog("eu"), 0);
  EXPECT_TRUE(trimmer.MaybeReclaim().ok());
  EXPECT_TRUE(trimmer.Reclaim().ok());
  EXPECT_EQ(CountLog("us"), 2);
  // Nothing new below the same limits.
  rocksdb::WriteBatch again;
  trimmed = trimmer.Trim(limit, &again);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, 0u);
  // A batch with other state (the peers' acks) is written with nothing to
  // trim.
  rocksdb::WriteBatch acks;
  ASSERT_TRUE(acks.Put(db_->state(), "peer_acked/eu", "x").ok());
  trimmed = trimmer.Trim(limit, &acks);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, 0u);
  std::string v;
  EXPECT_TRUE(db_->db()->Get(rocksdb::ReadOptions(), db_->state(), "peer_acked/eu", &v).ok());
  EXPECT_EQ(v, "x");
}

}  // namespace
}  // namespace historian
