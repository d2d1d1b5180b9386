// OwnLog alone, over a CommitLog and a temp RocksDB (the GroupApplier
// indexes own entries as the store's does): the trim limit from peers'
// acks and the retention limits, reads for shipping, waits, and restore
// epochs.
#include "storage/own_log/own_log.h"

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "storage/commit_log/commit_log.h"
#include "storage/engine/key_format.h"
#include "storage/engine/version.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using engine::kNanosPerSecond;

class OwnLogTest : public ::testing::Test, public GroupApplier {
 protected:
  void SetUp() override { Open(); }

  void PrepareGroupEntry(PendingWrite*, rocksdb::WriteBatch*) override {}
  void ApplyGroupEntry(const PendingWrite& w, int64_t now_s) override {
    if (w.origin != "us") return;
    own_->mu().AssertHeld();
    own_->Append(w.seq, now_s, w.encoded.size(), w.entry.NumSamples());
  }

  void Open() {
    own_.reset();
    log_.reset();
    db_.reset();
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    CommitLogOptions o;
    o.site = "us";
    o.sync_writes = false;
    o.client_dedupe_window = 16;
    o.now_ns = [this] { return now_ns_; };
    log_ = std::make_unique<CommitLog>(mu_, db_.get(), std::move(o), this);
    ASSERT_TRUE(log_->Load().ok());
    OwnLogOptions oo;
    oo.path = dir_.Sub("db");
    oo.site = "us";
    oo.peers = {"eu", "asia"};
    oo.log_retention_bytes = retention_bytes_;
    oo.log_retention_age = absl::Hours(1);
    oo.now_ns = [this] { return now_ns_; };
    own_ = std::make_unique<OwnLog>(mu_, db_.get(), std::move(oo), log_.get());
    ASSERT_TRUE(own_->LoadPeerAcks().ok());
    ASSERT_TRUE(own_->StartRestoreEpoch().ok());
  }

  // An own entry of `samples` samples; returns its sequence.
  uint64_t Write(int samples) {
    PendingWrite w;
    w.origin = "us";
    w.assign_seq = true;
    engine::SeriesData s;
    s.tag = 1;
    s.cols.Reset(ValueType::kDouble);
    for (int i = 0; i < samples; ++i) {
      s.cols.timestamps.push_back(i);
      s.cols.doubles.push_back(i);
      s.cols.qualities.push_back(0);
      s.cols.versions.push_back(1);
    }
    w.entry.series.push_back(std::move(s));
    engine::EncodeLogEntry(w.entry, &w.encoded);
    absl::MutexLock l(&log_->mu());
    log_->Submit(&w);
    EXPECT_TRUE(w.status.ok()) << w.status;
    return w.seq;
  }

  // OwnLog::Trim's limit for own entries (below: may go), without a batch
  // written.
  uint64_t TrimBelow(uint64_t below) {
    rocksdb::WriteBatch batch;
    uint64_t acks = 0;
    absl::MutexLock l(&own_->mu());
    own_->Trim(&below, &batch, &acks);
    return below;
  }

  ::historian::testing::TempDir dir_;
  int64_t now_ns_ = 10000 * kNanosPerSecond;
  uint64_t retention_bytes_ = uint64_t{1} << 30;
  absl::Mutex mu_;
  std::unique_ptr<engine::RocksDb> db_;
  std::unique_ptr<CommitLog> log_;
  std::unique_ptr<OwnLog> own_;
};

TEST_F(OwnLogTest, PeersHoldTheLogBack) {
  for (int i = 0; i < 5; ++i) Write(2);
  {
    absl::MutexLock l(&own_->mu());
    EXPECT_EQ(own_->entries(), 5u);
    EXPECT_EQ(own_->TrimLimit(), 0u);  // no peer has acked
  }
  own_->SetPeerAcked("eu", 4);
  own_->SetPeerAcked("mars", 5);  // not a peer: ignored
  EXPECT_EQ(own_->PeerAcked("eu"), 4u);
  EXPECT_EQ(own_->PeerAcked("mars"), 0u);
  EXPECT_EQ(TrimBelow(6), 1u);  // asia has nothing
  own_->SetPeerAcked("asia", 2);
  own_->SetPeerAcked("eu", 3);  // never goes back
  EXPECT_EQ(own_->PeerAcked("eu"), 4u);
  EXPECT_EQ(TrimBelow(6), 3u);
  EXPECT_EQ(TrimBelow(2), 2u);  // memory's limit is lower
  absl::MutexLock l(&own_->mu());
  EXPECT_EQ(own_->entries(), 3u);  // 3, 4, 5
}

TEST_F(OwnLogTest, PeerAcksAreSavedWithTheTrim) {
  Write(1);
  own_->SetPeerAcked("eu", 1);
  rocksdb::WriteBatch batch;
  uint64_t below = 2, acks = 0;
  {
    absl::MutexLock l(&own_->mu());
    own_->Trim(&below, &batch, &acks);
  }
  EXPECT_NE(acks, 0u);
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  Open();
  EXPECT_EQ(own_->PeerAcked("eu"), 1u);
  EXPECT_EQ(own_->PeerAcked("asia"), 0u);
}

// Acks that changed go into the batch even when nothing is trimmed (asia
// holds the log back); once saved, they are not put again until one
// changes.
TEST_F(OwnLogTest, ChangedAcksGoIntoTheBatchWithNothingTrimmed) {
  Write(1);
  Write(1);
  own_->SetPeerAcked("eu", 2);
  rocksdb::WriteBatch batch;
  uint64_t below = 3, acks = 0;
  {
    absl::MutexLock l(&own_->mu());
    own_->Trim(&below, &batch, &acks);
    EXPECT_EQ(below, 1u);  // asia has nothing: nothing may go
    EXPECT_EQ(own_->entries(), 2u);
  }
  ASSERT_NE(acks, 0u);
  EXPECT_GT(batch.Count(), 0u);
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  {
    absl::MutexLock l(&own_->mu());
    own_->AcksSaved(acks);
    rocksdb::WriteBatch unchanged;
    below = 3;
    own_->Trim(&below, &unchanged, &acks);
    EXPECT_EQ(acks, 0u);
    EXPECT_EQ(unchanged.Count(), 0u);
  }
  own_->SetPeerAcked("eu", 1);  // not a change
  {
    absl::MutexLock l(&own_->mu());
    rocksdb::WriteBatch unchanged;
    own_->Trim(&below, &unchanged, &acks);
    EXPECT_EQ(acks, 0u);
  }
  Open();
  EXPECT_EQ(own_->PeerAcked("eu"), 2u);
  EXPECT_EQ(own_->PeerAcked("asia"), 0u);
}

// A forgotten member's ack key is deleted by the first batch that is
// written: a batch built but never written (a failed seal pass) leaves the
// delete due (R2: the member must not come back after a restart).
TEST_F(OwnLogTest, AForgottenMemberAckIsDeletedByTheBatchThatIsWritten) {
  Write(1);
  own_->SetMemberAcked("eu", "eu-a", 1);
  own_->SetMemberAcked("eu", "eu-b", 1);
  uint64_t below = 2, acks = 0;
  {
    rocksdb::WriteBatch batch;
    absl::MutexLock l(&own_->mu());
    own_->Trim(&below, &batch, &acks);
    ASSERT_NE(acks, 0u);
    ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    own_->AcksSaved(acks);
  }
  uint64_t lowest = 0;
  ASSERT_EQ(own_->ForgetMemberAcks("eu", {"eu-b"}, &lowest), std::vector<std::string>{"eu-b"});
  {
    absl::MutexLock l(&own_->mu());
    rocksdb::WriteBatch lost;  // never written
    below = 2;
    own_->Trim(&below, &lost, &acks);
    ASSERT_NE(acks, 0u);
    rocksdb::WriteBatch batch;
    below = 2;
    own_->Trim(&below, &batch, &acks);
    ASSERT_NE(acks, 0u);
    ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    own_->AcksSaved(acks);
  }
  Open();
  EXPECT_EQ(own_->MemberAcks("eu").count("eu-b"), 0u) << "the forgotten ack came back";
  EXPECT_EQ(own_->MemberAcks("eu").count("eu-a"), 1u);
}

TEST_F(OwnLogTest, RetentionLimitsOverrulePeers) {
  Write(1);
  Write(1);
  now_ns_ += 2 * 3600 * kNanosPerSecond;  // both older than an hour
  Write(1);
  absl::MutexLock l(&own_->mu());
  EXPECT_EQ(own_->TrimLimit(), 2u);  // the two old ones may go
}

TEST_F(OwnLogTest, SizeLimitOverrulesPeers) {
  retention_bytes_ = 1;
  Open();
  Write(1);
  Write(1);
  absl::MutexLock l(&own_->mu());
  EXPECT_EQ(own_->TrimLimit(), 2u);
}

TEST_F(OwnLogTest, ReadShipsInOrderAndCountsPending) {
  for (int i = 0; i < 4; ++i) Write(3);
  OwnLogBatch out;
  ASSERT_TRUE(own_->Read(2, 1 << 20, &out).ok());
  EXPECT_FALSE(out.gap);
  EXPECT_EQ(out.head_seq, 4u);
  EXPECT_EQ(out.first_available, 1u);
  EXPECT_EQ(out.head_time_ns, now_ns_);
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.records[0].first, 2u);
  EXPECT_EQ(out.pending_samples, 0u);
  // One record at a time: the samples after it are pending.
  ASSERT_TRUE(own_->Read(1, 1, &out).ok());
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.pending_samples, 9u);
  // Trimmed: a gap.
  own_->SetPeerAcked("eu", 2);
  own_->SetPeerAcked("asia", 2);
  EXPECT_EQ(TrimBelow(5), 3u);
  ASSERT_TRUE(own_->Read(1, 1 << 20, &out).ok());
  EXPECT_TRUE(out.gap);
  EXPECT_EQ(out.first_available, 3u);
}

TEST_F(OwnLogTest, WaitForEntry) {
  bool closed = false;
  EXPECT_FALSE(own_->WaitForEntry(0, absl::ZeroDuration(), &closed));
  Write(1);
  EXPECT_TRUE(own_->WaitForEntry(0, absl::ZeroDuration(), &closed));
  EXPECT_FALSE(own_->WaitForEntry(1, absl::ZeroDuration(), &closed));
  closed = true;  // returns at once, without an entry
  EXPECT_FALSE(own_->WaitForEntry(1, absl::Hours(1), &closed));
}

TEST_F(OwnLogTest, RestoreEpochSkipsSequences) {
  Write(1);
  const std::string marker = dir_.Sub("db") + "/" + kRestoreMarkerFile;
  std::ofstream(marker) << "backup\n";
  Open();
  EXPECT_FALSE(std::ifstream(marker).good());  // removed
  const uint64_t next = Write(1);
  EXPECT_EQ(next, 2 + kRestoreSequenceGap);
  // A second open is no restore.
  Open();
  EXPECT_EQ(Write(1), next + 1);
}

TEST_F(OwnLogTest, ReadStepsOverSkippedSequences) {
  Write(1);
  {
    absl::MutexLock l(&log_->mu());
    uint64_t from = 0, to = 0;
    ASSERT_TRUE(log_->SkipSequences(100, &from, &to).ok());
  }
  EXPECT_EQ(Write(1), 102u);
  OwnLogBatch out;
  ASSERT_TRUE(own_->Read(1, 1 << 20, &out).ok());
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[1].first, 102u);
  EXPECT_EQ(out.pending_samples, 0u);
  ASSERT_TRUE(own_->Read(1, 1, &out).ok());
  EXPECT_EQ(out.pending_samples, 1u);
}

// After a restore whose entries before the skipped range are trimmed: a
// peer at the start of the range or inside it (adjacent ranges chain) is no
// gap; one before the range, or past it once the entries after it are
// trimmed, is.
TEST_F(OwnLogTest, APositionInSkippedSequencesIsNoGap) {
  Write(1);  // 1
  own_->SetPeerAcked("eu", 1);
  own_->SetPeerAcked("asia", 1);
  EXPECT_EQ(TrimBelow(UINT64_MAX), 2u);
  {
    absl::MutexLock l(&log_->mu());
    uint64_t from = 0, to = 0;
    ASSERT_TRUE(log_->SkipSequences(100, &from, &to).ok());  // 2..101
    ASSERT_TRUE(log_->SkipSequences(10, &from, &to).ok());   // 102..111
  }
  OwnLogBatch out;
  for (uint64_t from : {2u, 50u, 105u}) {
    SCOPED_TRACE(from);
    ASSERT_TRUE(own_->Read(from, 1 << 20, &out).ok());  // no entry yet
    EXPECT_FALSE(out.gap);
    EXPECT_TRUE(out.records.empty());
  }
  EXPECT_EQ(Write(1), 112u);
  EXPECT_EQ(Write(1), 113u);
  for (uint64_t from : {2u, 50u, 101u, 102u, 111u}) {
    SCOPED_TRACE(from);
    ASSERT_TRUE(own_->Read(from, 1 << 20, &out).ok());
    EXPECT_FALSE(out.gap) << out.first_available;
    ASSERT_EQ(out.records.size(), 2u);
    EXPECT_EQ(out.records[0].first, 112u);
  }
  ASSERT_TRUE(own_->Read(1, 1 << 20, &out).ok());  // 1 is trimmed
  EXPECT_TRUE(out.gap);
  EXPECT_EQ(out.first_available, 112u);
  // 112 trimmed: a peer inside the range misses it.
  own_->SetPeerAcked("eu", 112);
  own_->SetPeerAcked("asia", 112);
  EXPECT_EQ(TrimBelow(UINT64_MAX), 113u);
  ASSERT_TRUE(own_->Read(50, 1 << 20, &out).ok());
  EXPECT_TRUE(out.gap);
  EXPECT_EQ(out.first_available, 113u);
}

}  // namespace
}  // namespace historian
