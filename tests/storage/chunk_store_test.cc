// ChunkStore over a temp RocksDB, without a Store: WriteChunks cuts at the
// sample and duration limits, ReadChunks/ReadSealed read back what was
// written and merge overlapping chunks by the version rule, spans and the
// skipped-corrupt counter.
#include "storage/chunks/chunk_store.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rocks_db.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;

// Doubles at `ts` (seconds), value = ts, version `version`.
codec::ChunkColumns Doubles(const std::vector<int64_t>& ts, Version version = 1) {
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (int64_t t : ts) {
    c.timestamps.push_back(t * kSecond);
    c.doubles.push_back(static_cast<double>(t));
    c.qualities.push_back(0);
    c.versions.push_back(version);
  }
  return c;
}

class ChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::RocksDb::Open(dir_.Sub("db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    chunks_ = std::make_unique<ChunkStore>(
        db_.get(), mu_, ChunkLimits{4, 100 * kSecond},
        [this](LogSeverity, std::string_view line) { log_.emplace_back(line); });
  }

  // Writes `samples` as chunks of `tag` in one batch; returns the span.
  int64_t Write(TagId tag, const codec::ChunkColumns& samples) {
    rocksdb::WriteBatch batch;
    int64_t span = -1;
    EXPECT_TRUE(chunks_->WriteChunks(tag, samples, &batch, &span).ok());
    EXPECT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
    return span;
  }

  // (min ts, chunk id, samples) of every chunk of `tag`, in key order.
  struct Stored {
    int64_t min_ts;
    uint64_t chunk_id;
    size_t samples;
  };
  std::vector<Stored> Chunks(TagId tag) {
    std::vector<Stored> out;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(rocksdb::ReadOptions(), db_->chunks()));
    for (it->Seek(engine::ChunkSeekKey(tag, kMinTimestamp)); it->Valid(); it->Next()) {
      engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
      if (key.tag != tag) break;
      auto summary = codec::SummarizeChunk({it->value().data(), it->value().size()});
      EXPECT_TRUE(summary.ok());
      out.push_back({key.min_ts, key.chunk_id, summary.ok() ? summary->count : 0});
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<engine::RocksDb> db_;
  absl::Mutex mu_;
  std::unique_ptr<ChunkStore> chunks_;
  std::vector<std::string> log_;
};

TEST_F(ChunkStoreTest, WriteChunksCutsAtMaxSamples) {
  chunks_->set_next_chunk_id(10);
  const int64_t span = Write(7, Doubles({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  std::vector<Stored> stored = Chunks(7);
  ASSERT_EQ(stored.size(), 3u);  // 4 + 4 + 2
  EXPECT_EQ(stored[0].samples, 4u);
  EXPECT_EQ(stored[1].samples, 4u);
  EXPECT_EQ(stored[2].samples, 2u);
  EXPECT_EQ(stored[0].min_ts, 1 * kSecond);
  EXPECT_EQ(stored[1].min_ts, 5 * kSecond);
  EXPECT_EQ(stored[0].chunk_id, 10u);
  EXPECT_EQ(stored[2].chunk_id, 12u);
  EXPECT_EQ(span, 3 * kSecond);
  EXPECT_EQ(chunks_->next_chunk_id(), 13u);
  std::string next;
  ASSERT_TRUE(
      db_->db()->Get(rocksdb::ReadOptions(), db_->state(), engine::kNextChunkIdKey, &next).ok());
  ASSERT_EQ(next.size(), 8u);
  EXPECT_EQ(engine::GetBigEndian64(next.data()), 13u);
}

TEST_F(ChunkStoreTest, WriteChunksCutsAtMaxDuration) {
  // 100 s per chunk at most: 0, 50, 99 fit; 100 starts the next; 250 too.
  const int64_t span = Write(7, Doubles({0, 50, 99, 100, 250}));
  std::vector<Stored> stored = Chunks(7);
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[0].samples, 3u);
  EXPECT_EQ(stored[1].min_ts, 100 * kSecond);
  EXPECT_EQ(stored[1].samples, 1u);
  EXPECT_EQ(stored[2].min_ts, 250 * kSecond);
  EXPECT_EQ(span, 99 * kSecond);
}

TEST_F(ChunkStoreTest, WriteChunksWithOtherLimitsAndNothing) {
  rocksdb::WriteBatch batch;
  int64_t span = -1;
  ASSERT_TRUE(chunks_->WriteChunks(7, Doubles({}), &batch, &span).ok());
  EXPECT_EQ(batch.Count(), 0u);
  EXPECT_EQ(span, 0);
  ASSERT_TRUE(
      chunks_->WriteChunks(7, Doubles({1, 2, 3, 4, 5, 6}), {16, 1000 * kSecond}, &batch, &span)
          .ok());
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  ASSERT_EQ(Chunks(7).size(), 1u);
  EXPECT_EQ(span, 5 * kSecond);
}

TEST_F(ChunkStoreTest, ReadChunksRoundTripClipped) {
  const codec::ChunkColumns in = Doubles({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const int64_t span = Write(7, in);
  Write(8, Doubles({3, 4}));  // another tag: never read
  codec::ChunkColumns all;
  ASSERT_TRUE(chunks_->ReadSealed(7, kMinTimestamp, kMaxTimestamp, span, &all).ok());
  EXPECT_EQ(all.timestamps, in.timestamps);
  EXPECT_EQ(all.doubles, in.doubles);
  // [3 s, 7 s): the chunk starting at 1 s is found through the span.
  std::vector<codec::ChunkColumns> parts;
  std::vector<uint64_t> ids;
  ASSERT_TRUE(chunks_->ReadChunks(7, 3 * kSecond, 7 * kSecond, span, 0, &parts, &ids).ok());
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].timestamps, (std::vector<int64_t>{3 * kSecond, 4 * kSecond}));
  EXPECT_EQ(parts[1].timestamps, (std::vector<int64_t>{5 * kSecond, 6 * kSecond}));
  EXPECT_EQ(ids.size(), 2u);
  // max_samples: stops after the first chunk that holds enough.
  parts.clear();
  ids.clear();
  ASSERT_TRUE(chunks_->ReadChunks(7, kMinTimestamp, kMaxTimestamp, span, 3, &parts, &ids).ok());
  EXPECT_EQ(parts.size(), 1u);
}

TEST_F(ChunkStoreTest, OverlappingChunksMergeOnReadByVersion) {
  Write(7, Doubles({1, 2, 3}, /*version=*/1));
  // Late data over the first chunk: 2 s again with a newer version, and 4 s.
  codec::ChunkColumns late = Doubles({2, 4}, /*version=*/2);
  late.doubles = {20, 40};
  const int64_t span = Write(7, late);
  ASSERT_EQ(Chunks(7).size(), 2u);
  codec::ChunkColumns all;
  ASSERT_TRUE(chunks_->ReadSealed(7, kMinTimestamp, kMaxTimestamp, 2 * kSecond, &all).ok());
  EXPECT_EQ(all.timestamps,
            (std::vector<int64_t>{1 * kSecond, 2 * kSecond, 3 * kSecond, 4 * kSecond}));
  EXPECT_EQ(all.doubles, (std::vector<double>{1, 20, 3, 40}));
  EXPECT_EQ(span, 2 * kSecond);
}

// Spans only widen; one in [kImplicitSpanFloor, kImplicitSpan] has no key
// (a key left from a narrower span goes) and loads as kImplicitSpan, as a tag
// without chunks does; a wider one has its key again.
TEST_F(ChunkStoreTest, SpansWidenAndLoad) {
  EXPECT_EQ(*chunks_->LoadSpan(7), engine::kImplicitSpan);
  ChunkState state;
  auto widen = [&](int64_t span) {
    rocksdb::WriteBatch batch;
    {
      absl::MutexLock l(&mu_);
      chunks_->WidenSpan(7, &state, span, &batch);
    }
    ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  };
  widen(5);
  widen(3);  // never narrows
  EXPECT_EQ(state.max_span, 5);
  EXPECT_EQ(*chunks_->LoadSpan(7), 5);
  widen(engine::kImplicitSpanFloor - 1);
  EXPECT_EQ(*chunks_->LoadSpan(7), engine::kImplicitSpanFloor - 1);
  widen(engine::kImplicitSpanFloor);  // in the band: the narrower key goes
  EXPECT_EQ(state.max_span, engine::kImplicitSpanFloor);
  EXPECT_EQ(*chunks_->LoadSpan(7), engine::kImplicitSpan);
  widen(engine::kImplicitSpan);
  EXPECT_EQ(*chunks_->LoadSpan(7), engine::kImplicitSpan);
  widen(engine::kImplicitSpan + 1);
  EXPECT_EQ(*chunks_->LoadSpan(7), engine::kImplicitSpan + 1);
  // A bad value fails: a span too small would hide samples.
  ASSERT_TRUE(
      db_->db()->Put(rocksdb::WriteOptions(), db_->state(), engine::SpanKey(7), "bad").ok());
  EXPECT_EQ(chunks_->LoadSpan(7).status().code(), absl::StatusCode::kDataLoss);
}

// A batch that widened the span in memory and then failed to write (a full
// disk) leaves no key; the retry's batch, which writes the wide chunk, must
// carry it, or a restart loads a narrower span and reads miss the chunk.
TEST_F(ChunkStoreTest, ASpanWidenedByAFailedBatchIsWrittenByTheNextOne) {
  ChunkState state;
  const int64_t two_days = 48 * engine::kImplicitSpan;
  {
    rocksdb::WriteBatch lost;  // never written
    absl::MutexLock l(&mu_);
    chunks_->WidenSpan(7, &state, two_days, &lost);
  }
  EXPECT_EQ(*chunks_->LoadSpan(7), engine::kImplicitSpan);
  rocksdb::WriteBatch retry;
  {
    absl::MutexLock l(&mu_);
    chunks_->WidenSpan(7, &state, two_days, &retry);
  }
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &retry).ok());
  EXPECT_EQ(*chunks_->LoadSpan(7), two_days);
  // The same for a key that must go: a 5-minute key, then a 40-minute span.
  ChunkState narrow;
  {
    rocksdb::WriteBatch batch;
    absl::MutexLock l(&mu_);
    chunks_->WidenSpan(8, &narrow, 5 * 60 * kSecond, &batch);
    ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &batch).ok());
  }
  {
    rocksdb::WriteBatch lost;
    absl::MutexLock l(&mu_);
    chunks_->WidenSpan(8, &narrow, 40 * 60 * kSecond, &lost);
  }
  rocksdb::WriteBatch again;
  {
    absl::MutexLock l(&mu_);
    chunks_->WidenSpan(8, &narrow, 40 * 60 * kSecond, &again);
  }
  ASSERT_TRUE(db_->db()->Write(rocksdb::WriteOptions(), &again).ok());
  EXPECT_EQ(*chunks_->LoadSpan(8), engine::kImplicitSpan);
}

TEST_F(ChunkStoreTest, CorruptChunkFailsReadsAndIsCountedWhenSkipped) {
  const int64_t span = Write(7, Doubles({1, 2}));
  std::string key = engine::ChunkKey(7, 1 * kSecond, 1);
  ASSERT_TRUE(db_->db()->Put(rocksdb::WriteOptions(), db_->chunks(), key, "garbage").ok());
  codec::ChunkColumns all;
  EXPECT_EQ(chunks_->ReadSealed(7, kMinTimestamp, kMaxTimestamp, span, &all).code(),
            absl::StatusCode::kDataLoss);
  chunks_->SkipCorrupt(7, key, absl::DataLossError("bad header"), "retention pass");
  EXPECT_EQ(chunks_->counters().corrupt_skipped.load(), 1u);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("chunk 1 (min ts 1000000000) of tag id 7 in the retention pass"),
            std::string::npos)
      << log_[0];
}

}  // namespace
}  // namespace historian
