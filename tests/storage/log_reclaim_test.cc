// The trimmed log's disk space is given back (LogTrimmer::Reclaim): after a
// reclaim no SST file of the log column family holds a trimmed entry, while
// every entry still needed (by a head, or by a peer that has not acked it)
// is there. The files are read raw (SstFileReader does not apply range
// tombstones in this RocksDB), so a key that is deleted but still costs
// disk is seen.
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/metadata.h"
#include "rocksdb/sst_file_reader.h"
#include "storage/commit_log/log_trimmer.h"
#include "storage/engine/column_families.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rocks_db.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

// Per origin, the sequences of the log keys in the live SST files of `db`'s
// log column family (range tombstones not applied).
std::map<std::string, std::set<uint64_t>> LogKeysInFiles(rocksdb::DB* db) {
  std::map<std::string, std::set<uint64_t>> out;
  std::vector<rocksdb::LiveFileMetaData> files;
  db->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& f : files) {
    if (f.column_family_name != engine::kLogCf) continue;
    rocksdb::SstFileReader reader{rocksdb::Options()};
    EXPECT_TRUE(reader.Open(f.db_path + "/" + f.name).ok()) << f.name;
    std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view origin;
      uint64_t seq = 0;
      EXPECT_TRUE(engine::ParseLogKey({it->key().data(), it->key().size()}, &origin, &seq));
      out[std::string(origin)].insert(seq);
    }
    EXPECT_TRUE(it->status().ok());
  }
  return out;
}

std::set<uint64_t> Range(uint64_t from, uint64_t to) {  // [from, to]
  std::set<uint64_t> s;
  for (uint64_t i = from; i <= to; ++i) s.insert(i);
  return s;
}

// WAL bytes in `dir` (the *.log files; RocksDB's info log is LOG).
uint64_t WalBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".log") total += e.file_size();
  }
  return total;
}

class LogTrimmerReclaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }

  // Entries [from, to] of `origin`, `bytes` each, flushed into an SST file.
  void PutFlushed(const std::string& origin, uint64_t from, uint64_t to, size_t bytes) {
    rocksdb::WriteBatch batch;
    for (uint64_t s = from; s <= to; ++s) {
      // Incompressible enough that the file costs what it holds.
      std::string v(bytes, '\0');
      for (size_t i = 0; i < bytes; ++i) v[i] = static_cast<char>((s * 131 + i * 7919) >> 3);
      ASSERT_TRUE(batch.Put(db_->log(), engine::LogKey(origin, s), v).ok());
    }
    ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    ASSERT_TRUE(db_->db()->Flush(rocksdb::FlushOptions(), db_->log()).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::RocksDb> db_;
  absl::Mutex seal_mu_;
};

TEST_F(LogTrimmerReclaimTest, ReclaimDropsTrimmedKeysFromFilesOnly) {
  PutFlushed("us", 1, 40, 1000);
  PutFlushed("eu", 1, 10, 1000);
  LogTrimmer trimmer(seal_mu_, db_.get(), /*sync_writes=*/false);
  absl::MutexLock pass(&seal_mu_);
  rocksdb::WriteBatch batch;
  // us 1..29 trimmed, 30..40 still needed; eu 1..4 trimmed.
  ASSERT_TRUE(trimmer.Trim({{"us", 30}, {"eu", 5}}, &batch).ok());
  // Deleted, but still in the files.
  EXPECT_EQ(LogKeysInFiles(db_->db())["us"], Range(1, 40));
  absl::StatusOr<uint64_t> dead = trimmer.DeadFileBytes();
  ASSERT_TRUE(dead.ok());
  EXPECT_GT(*dead, 0u);
  ASSERT_TRUE(trimmer.Reclaim().ok());
  EXPECT_EQ(trimmer.reclaims(), 1u);
  std::map<std::string, std::set<uint64_t>> keys = LogKeysInFiles(db_->db());
  EXPECT_EQ(keys["us"], Range(30, 40));
  EXPECT_EQ(keys["eu"], Range(5, 10));
  dead = trimmer.DeadFileBytes();
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, 0u);
  // Nothing trimmed since: nothing to do.
  ASSERT_TRUE(trimmer.Reclaim().ok());
  EXPECT_EQ(trimmer.reclaims(), 1u);
}

// The seal passes' MaybeReclaim batches: a little dead log beside a large
// live one waits; a mostly dead log, or kReclaimBytes of it, goes.
TEST_F(LogTrimmerReclaimTest, MaybeReclaimWaitsForEnoughDeadBytes) {
  // 3 MiB live-to-be, in 100 KiB entries.
  PutFlushed("us", 1, 30, 100 << 10);
  LogTrimmer trimmer(seal_mu_, db_.get(), /*sync_writes=*/false);
  absl::MutexLock pass(&seal_mu_);
  {
    // ~0.5 MiB dead: below kReclaimMinBytes.
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(trimmer.Trim({{"us", 6}}, &batch).ok());
    ASSERT_TRUE(trimmer.MaybeReclaim().ok());
    EXPECT_EQ(trimmer.reclaims(), 0u);
  }
  {
    // ~1 MiB dead of 3: above the minimum, below half the log's files.
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(trimmer.Trim({{"us", 12}}, &batch).ok());
    ASSERT_TRUE(trimmer.MaybeReclaim().ok());
    EXPECT_EQ(trimmer.reclaims(), 0u);
    EXPECT_EQ(LogKeysInFiles(db_->db())["us"], Range(1, 30));
  }
  {
    // ~2.4 MiB dead of 3: mostly dead, reclaimed.
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(trimmer.Trim({{"us", 25}}, &batch).ok());
    ASSERT_TRUE(trimmer.MaybeReclaim().ok());
    EXPECT_EQ(trimmer.reclaims(), 1u);
    EXPECT_EQ(LogKeysInFiles(db_->db())["us"], Range(25, 30));
  }
}

// Through the Store: entries a lagging peer has not acked stay (also in the
// files), the trimmed ones leave the files at Close, and Close leaves no
// WAL to replay.
TEST(StoreLogReclaimTest, CloseReclaimsTheTrimmedLogAndKeepsWhatAPeerNeeds) {
  testing::TempDir dir;
  const std::string path = dir.Sub("us");
  StoreOptions o;
  o.path = path;
  o.site = "us";
  o.peers = {"mx"};
  o.sync_writes = false;
  o.seal_interval = absl::Hours(1);  // the test seals
  auto open = [&] {
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  };
  const uint64_t kEntries = 20, kAcked = 12;
  std::unique_ptr<Store> store = open();
  ASSERT_NE(store, nullptr);
  {
    auto tag = store->ResolveTagForWrite("t", ValueType::kDouble);
    ASSERT_TRUE(tag.ok());
    for (uint64_t k = 1; k < kEntries; ++k) {  // the tag's creation is entry 1
      WriteInput in;
      engine::SeriesData s;
      s.tag = tag->id;
      s.cols.Reset(ValueType::kDouble);
      s.cols.timestamps.push_back(static_cast<int64_t>(k) * 1000000000);
      s.cols.doubles.push_back(static_cast<double>(k));
      s.cols.qualities.push_back(0);
      in.series.push_back(std::move(s));
      ASSERT_TRUE(store->Write(std::move(in)).ok());
    }
  }
  ASSERT_EQ(store->OwnHeadSequence(), kEntries);
  // Into SST files (nothing trimmable yet: heads and mx hold it all).
  ASSERT_TRUE(store->Compact().ok());
  store->SetPeerAcked("mx", kAcked);
  ASSERT_TRUE(store->SealAll().ok());  // seals; trims 1..kAcked
  // A crash here (no Close): the trimmed entries are deleted but still on
  // disk (too few bytes for a seal pass's reclaim).
  store.reset();
  {
    auto db = engine::RocksDb::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ(LogKeysInFiles((*db)->db())["us"], Range(1, kEntries));
  }
  store = open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->SealAll().ok());
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  EXPECT_EQ(WalBytes(path), 0u);
  {
    auto db = engine::RocksDb::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ(LogKeysInFiles((*db)->db())["us"], Range(kAcked + 1, kEntries));
  }
  // What mx still needs is readable, and the samples are all there.
  store = open();
  ASSERT_NE(store, nullptr);
  OwnLogBatch batch;
  ASSERT_TRUE(store->ReadOwnLog(kAcked + 1, size_t{1} << 30, &batch).ok());
  EXPECT_FALSE(batch.gap);
  EXPECT_EQ(batch.records.size(), kEntries - kAcked);
  auto tag = store->ResolveTagForWrite("t", ValueType::kDouble);
  ASSERT_TRUE(tag.ok());
  codec::ChunkColumns all;
  ASSERT_TRUE(store->ReadRaw(tag->id, kMinTimestamp, kMaxTimestamp, 0, &all).ok());
  EXPECT_EQ(all.size(), kEntries - 1);
}

// Random writes, seals, peer acks, compactions, clean restarts and crashes
// against a reference, with thresholds so low that the seal passes reclaim
// whenever a trimmed byte sits in a file: every sample reads as the model
// says, and every own entry the lagging peer has not acked can still be
// shipped (no gap, nothing missing up to the head).
TEST(StoreLogReclaimTest, RandomOpsWithALaggingPeerMatchTheModel) {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.Sub("us");
  o.site = "us";
  o.peers = {"mx"};
  o.sync_writes = false;
  o.chunk_max_samples = 16;
  o.seal_interval = absl::Hours(1);  // the test seals
  o.log_reclaim_bytes = 4096;
  o.log_reclaim_min_bytes = 1;
  auto open = [&] {
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  };
  std::unique_ptr<Store> store = open();
  ASSERT_NE(store, nullptr);
  std::vector<TagId> tags;
  for (const char* name : {"a", "b", "c"}) {
    auto t = store->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(t.ok());
    tags.push_back(t->id);
  }
  std::map<TagId, std::map<int64_t, double>> model;
  std::mt19937_64 rng(16);
  uint64_t acked = 0;
  for (int step = 0; step < 400; ++step) {
    const int r = static_cast<int>(rng() % 100);
    std::string what;
    if (r < 55) {
      what = "write";
      const TagId tag = tags[rng() % tags.size()];
      WriteInput in;
      engine::SeriesData s;
      s.tag = tag;
      s.cols.Reset(ValueType::kDouble);
      int64_t ts = static_cast<int64_t>(rng() % 2000) * 1000000000;
      for (int n = 1 + static_cast<int>(rng() % 30); n > 0; --n) {
        ts += static_cast<int64_t>(1 + rng() % 3) * 1000000000;
        const double v = static_cast<double>(rng() % 100000) / 100;
        s.cols.timestamps.push_back(ts);
        s.cols.doubles.push_back(v);
        s.cols.qualities.push_back(0);
        model[tag][ts] = v;
      }
      in.series.push_back(std::move(s));
      ASSERT_TRUE(store->Write(std::move(in)).ok()) << step;
    } else if (r < 70) {
      what = "seal";
      ASSERT_TRUE(store->SealAll().ok()) << step;
    } else if (r < 82) {
      what = "ack";
      const uint64_t head = store->OwnHeadSequence();
      acked = std::max(acked, acked + rng() % (head - acked + 1));
      store->SetPeerAcked("mx", acked);
    } else if (r < 88) {
      what = "compact";
      ASSERT_TRUE(store->Compact().ok()) << step;
    } else if (r < 94) {
      what = "restart";
      ASSERT_TRUE(store->Close().ok()) << step;
      store.reset();
      store = open();
      ASSERT_NE(store, nullptr);
    } else {
      what = "crash";
      store.reset();  // no Close: the log rebuilds the heads
      store = open();
      ASSERT_NE(store, nullptr);
    }
    for (TagId tag : tags) {
      codec::ChunkColumns got;
      ASSERT_TRUE(store->ReadRaw(tag, kMinTimestamp, kMaxTimestamp, 0, &got).ok());
      std::map<int64_t, double> m;
      for (size_t i = 0; i < got.size(); ++i) m[got.timestamps[i]] = got.doubles[i];
      ASSERT_EQ(m, model[tag]) << "step " << step << " after " << what << ", tag " << tag;
    }
    const uint64_t head = store->OwnHeadSequence();
    OwnLogBatch batch;
    ASSERT_TRUE(store->ReadOwnLog(acked + 1, size_t{1} << 30, &batch).ok());
    ASSERT_FALSE(batch.gap) << "step " << step << " after " << what << ": first available "
                            << batch.first_available << ", acked " << acked;
    ASSERT_EQ(batch.records.size(), head - acked) << "step " << step << " after " << what;
    if (!batch.records.empty()) {
      ASSERT_EQ(batch.records.front().first, acked + 1);
      ASSERT_EQ(batch.records.back().first, head);
    }
  }
  ASSERT_TRUE(store->Close().ok());
}

// log_entries_trimmed counts each entry once: after a clean restart and
// after a crash, the first trim does not count the entries trimmed before
// it again (it used to start counting at sequence 1).
TEST(StoreLogReclaimTest, TrimmedCounterCountsEachEntryOnceAcrossRestarts) {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.Sub("us");
  o.site = "us";
  o.seal_interval = absl::Hours(1);  // the test seals
  auto open = [&] {
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  };
  std::unique_ptr<Store> store = open();
  ASSERT_NE(store, nullptr);
  auto tag = store->ResolveTagForWrite("t", ValueType::kDouble);
  ASSERT_TRUE(tag.ok());
  int64_t ts = 0;
  auto write = [&](int n) {
    for (int k = 0; k < n; ++k) {
      WriteInput in;
      engine::SeriesData s;
      s.tag = tag->id;
      s.cols.Reset(ValueType::kDouble);
      s.cols.timestamps.push_back(++ts * 1000000000);
      s.cols.doubles.push_back(static_cast<double>(ts));
      s.cols.qualities.push_back(0);
      in.series.push_back(std::move(s));
      ASSERT_TRUE(store->Write(std::move(in)).ok());
    }
  };
  write(6);
  ASSERT_TRUE(store->SealAll().ok());
  EXPECT_EQ(store->Stats().log_entries_trimmed, store->OwnHeadSequence());  // all of them
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  // A clean restart: the log below the head is gone already.
  store = open();
  ASSERT_NE(store, nullptr);
  uint64_t before = store->OwnHeadSequence();
  write(4);
  ASSERT_TRUE(store->SealAll().ok());
  EXPECT_EQ(store->Stats().log_entries_trimmed, store->OwnHeadSequence() - before);
  // A crash with entries not sealed yet: they replay, and only they (and
  // those written after) are counted by the next trim.
  before = store->OwnHeadSequence();
  write(3);
  store.reset();
  store = open();
  ASSERT_NE(store, nullptr);
  write(2);
  ASSERT_TRUE(store->SealAll().ok());
  EXPECT_EQ(store->Stats().log_entries_trimmed, store->OwnHeadSequence() - before);
}

}  // namespace
}  // namespace historian
