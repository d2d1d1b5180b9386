// The copy of one virtual shard between two stores (issue 21, step 3 of a
// move, docs/cluster.md): random writes, overwrites, late data, deletes and
// re-creations, seals, overlap rewrites and merges over tags of several
// shards into store A; shard s exported from A and imported into an empty
// store B. B must read every tag of s as A does (raw samples with their
// versions, latest, aggregates), hold nothing of the other shards, keep the
// deleted incarnations deleted, and say in its move/<s> marker whether the
// copy completed, also across a restart in the middle of the import.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "storage/query/store_sample_source.h"
#include "storage/query/tag_queries.h"
#include "storage/store.h"
#include "tests/testutil/columns_equal.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using testing::ExpectSameColumns;

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr int64_t kT0 = int64_t{1767225600} * kSecond;  // 2026-01-01
constexpr uint32_t kShards = 4;
constexpr uint32_t kShard = 1;
constexpr int kTags = 48;

bool NeverCancelled() { return false; }

class ShardCopyTest : public ::testing::TestWithParam<uint64_t> {
 protected:
  std::unique_ptr<Store> Open(const std::string& name) {
    StoreOptions o;
    o.path = dir_.Sub(name);
    o.site = "us";
    o.chunk_max_samples = 64;
    o.seal_interval = absl::Hours(1);  // the test seals
    o.head_max_age = absl::Hours(24 * 365);
    o.sync_writes = false;
    // Store "a"'s clock runs a_ahead_ ahead of the others'.
    o.now_ns = [this, name] { return now_ + (name == "a" ? a_ahead_ : 0); };
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  static std::string Name(int i) { return "plant.line" + std::to_string(i) + ".value"; }
  static ValueType TypeOf(int i) {
    return i % 7 == 3 ? ValueType::kString : i % 5 == 2 ? ValueType::kInt64 : ValueType::kDouble;
  }

  void WriteRandom(Store* store, std::mt19937_64& rng, int i) {
    auto tag = store->ResolveTagForWrite(Name(i), TypeOf(i));
    ASSERT_TRUE(tag.ok()) << tag.status();
    WriteInput in;
    engine::SeriesData s;
    s.tag = tag->id;
    s.cols.Reset(TypeOf(i));
    const int n = 1 + static_cast<int>(rng() % 150);
    // Mostly in order after a random start; overwrites and late data come
    // from the random starts.
    int64_t ts = kT0 + static_cast<int64_t>(rng() % (48 * 3600)) * kSecond;
    std::set<int64_t> seen;
    for (int k = 0; k < n; ++k) {
      ts += static_cast<int64_t>(1 + rng() % 30) * kSecond;
      if (!seen.insert(ts).second) continue;
      s.cols.timestamps.push_back(ts);
      s.cols.qualities.push_back(rng() % 10 == 0 ? 0x80000000u : 0);
      switch (TypeOf(i)) {
        case ValueType::kString:
          s.cols.strings.push_back("s" + std::to_string(rng() % 1000));
          break;
        case ValueType::kInt64:
          s.cols.ints.push_back(static_cast<int64_t>(rng() % 100000));
          break;
        default:
          s.cols.doubles.push_back(static_cast<double>(rng() % 100000) / 10);
      }
    }
    in.series.push_back(std::move(s));
    auto r = store->Write(std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  // Random work over every shard's tags into a; names deleted and not
  // written again into *gone.
  void Populate(Store* a, uint64_t seed, std::set<std::string>* gone) {
    std::mt19937_64 rng(seed);
    for (int op = 0; op < 500; ++op) {
      now_ += kSecond;
      const int i = static_cast<int>(rng() % kTags);
      const int kind = static_cast<int>(rng() % 100);
      if (kind < 70) {
        WriteRandom(a, rng, i);
        gone->erase(Name(i));
      } else if (kind < 76) {
        if (a->HasTag(Name(i))) {
          ASSERT_TRUE(a->DeleteTag(Name(i)).ok());
          gone->insert(Name(i));
        }
      } else if (kind < 88) {
        ASSERT_TRUE(a->SealAll().ok());
      } else if (kind < 94) {
        ASSERT_TRUE(a->CompactOverlaps().ok());
      } else {
        ASSERT_TRUE(a->MergeChunks().ok());
      }
    }
    // Leave heads behind (some of them already past their log trim).
    for (int i = 0; i < kTags; i += 2) {
      now_ += kSecond;
      WriteRandom(a, rng, i);
      gone->erase(Name(i));
    }
  }

  // Exports kShard of `a` into pieces.
  std::vector<std::string> Export(Store* a, size_t piece_bytes, shard_copy::ExportStats* stats) {
    std::vector<std::string> pieces;
    auto r = a->ExportShard(kShards, kShard, piece_bytes, [&](std::string p) {
      EXPECT_LE(p.size(), piece_bytes + (size_t{600} << 10));
      pieces.push_back(std::move(p));
      return absl::OkStatus();
    });
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) *stats = *r;
    return pieces;
  }

  // A fresh store `name` (another site, as B is to A's own log here) given
  // the export's pieces, then A's own log entries from P + 1 on, as the tail
  // of step 4 brings them. *tailed: the entries applied.
  void CopyThenTail(Store* a, const std::vector<std::string>& pieces, const std::string& name,
                    std::unique_ptr<Store>* b, uint64_t* tailed) {
    StoreOptions o;
    o.path = dir_.Sub(name);
    o.site = "mx";
    o.chunk_max_samples = 64;
    o.seal_interval = absl::Hours(1);
    o.sync_writes = false;
    o.now_ns = [this] { return now_; };
    auto opened = Store::Open(o);
    ASSERT_TRUE(opened.ok()) << opened.status();
    *b = std::move(*opened);
    shard_copy::MoveMarker marker;
    Import(b->get(), pieces, pieces.size(), &marker);
    ASSERT_TRUE(marker.complete);
    OwnLogBatch tail;
    ASSERT_TRUE(a->ReadOwnLog(marker.position + 1, size_t{64} << 20, &tail).ok());
    ASSERT_FALSE(tail.gap);
    for (const auto& [seq, entry] : tail.records) {
      ASSERT_TRUE((*b)->ApplyReplicated("us", seq, entry).ok()) << seq;
    }
    *tailed = tail.records.size();
  }

  void Import(Store* b, const std::vector<std::string>& pieces, size_t count,
              shard_copy::MoveMarker* marker) {
    for (size_t k = 0; k < count; ++k) {
      absl::Status s = b->ImportShardPiece(kShard, pieces[k], marker);
      ASSERT_TRUE(s.ok()) << "piece " << k << ": " << s;
    }
  }

  // B reads every tag of kShard as A does and holds no other tag.
  void ExpectSameShard(const Store& a, const Store& b) {
    query::StoreSampleSource src_a(&a), src_b(&b);
    size_t compared = 0;
    for (int i = 0; i < kTags; ++i) {
      const std::string name = Name(i);
      auto ta = a.GetTag(name);
      auto tb = b.GetTag(name);
      if (TagShard(name, kShards) != kShard || !ta.ok()) {
        EXPECT_FALSE(tb.ok()) << name << " (shard " << TagShard(name, kShards)
                              << ") must not be at the target";
        continue;
      }
      ASSERT_TRUE(tb.ok()) << name << ": " << tb.status();
      EXPECT_EQ(*ta, *tb) << name;
      ++compared;
      codec::ChunkColumns ra, rb;
      ASSERT_TRUE(a.ReadRaw(ta->id, kMinTimestamp, kMaxTimestamp, 0, &ra).ok());
      ASSERT_TRUE(b.ReadRaw(tb->id, kMinTimestamp, kMaxTimestamp, 0, &rb).ok());
      {
        SCOPED_TRACE(name + " raw");
        ExpectSameColumns(ra, rb);
      }
      codec::ChunkColumns la, lb;
      ASSERT_TRUE(a.Latest(ta->id, &la).ok());
      ASSERT_TRUE(b.Latest(tb->id, &lb).ok());
      la.versions.clear();
      lb.versions.clear();
      {
        SCOPED_TRACE(name + " latest");
        ExpectSameColumns(la, lb);
      }
      if (ta->type == ValueType::kString) continue;
      query::AggregateSpec spec;
      spec.start = kT0;
      spec.end = kT0 + 72 * kHour;
      spec.step = kHour;
      spec.functions = {query::AggFn::kCount, query::AggFn::kSum,   query::AggFn::kMin,
                        query::AggFn::kMax,   query::AggFn::kFirst, query::AggFn::kLast};
      auto ga = query::AggregateTag(src_a, spec, *ta, NeverCancelled);
      auto gb = query::AggregateTag(src_b, spec, *tb, NeverCancelled);
      ASSERT_TRUE(ga.ok() && gb.ok()) << ga.status() << " " << gb.status();
      EXPECT_EQ(ga->counts, gb->counts) << name;
      ASSERT_EQ(ga->values.size(), gb->values.size());
      for (size_t k = 0; k < ga->values.size(); ++k) {
        const double x = ga->values[k], y = gb->values[k];
        if (std::isnan(x) || std::isnan(y)) {
          EXPECT_TRUE(std::isnan(x) && std::isnan(y)) << name << " value " << k;
        } else {
          EXPECT_NEAR(x, y, 1e-9 * std::max(1.0, std::fabs(x))) << name << " value " << k;
        }
      }
    }
    EXPECT_GT(compared, 4u);
    // Nothing else in B's catalog.
    ListTagsResult all = b.ListTags("", {}, "", 1000);
    for (const engine::TagInfo& t : all.tags) {
      EXPECT_EQ(TagShard(t.name, kShards), kShard) << t.name;
    }
  }

  // Every tombstone A holds of kShard's names is at B, with its version.
  void ExpectTombstones(const Store& a, const Store& b, const std::set<std::string>& gone) {
    std::map<TagId, Version> at_b;
    for (const engine::Tombstone& t : b.Tombstones()) at_b[t.tag] = t.version;
    size_t checked = 0;
    for (const engine::Tombstone& t : a.Tombstones()) {
      for (int i = 0; i < kTags; ++i) {
        if (engine::TagIdFromName(Name(i)) != t.tag || TagShard(Name(i), kShards) != kShard) {
          continue;
        }
        EXPECT_EQ(at_b[t.tag], t.version) << Name(i);
        ++checked;
      }
    }
    EXPECT_GT(checked, 0u) << "the seed deleted no tag of the shard";
    for (const std::string& name : gone) EXPECT_FALSE(b.HasTag(name)) << name;
  }

  testing::TempDir dir_;
  int64_t now_ = kT0 + 80 * kHour;
  int64_t a_ahead_ = 0;
};

TEST_P(ShardCopyTest, TargetReadsTheShardAsTheSource) {
  std::unique_ptr<Store> a = Open("a");
  ASSERT_NE(a, nullptr);
  std::set<std::string> gone;
  Populate(a.get(), GetParam(), &gone);
  const uint64_t p = a->OwnHeadSequence();
  shard_copy::ExportStats stats;
  std::vector<std::string> pieces = Export(a.get(), 4 << 10, &stats);
  ASSERT_GT(pieces.size(), 3u);
  EXPECT_EQ(stats.position, p);
  EXPECT_GT(stats.chunks, 0u);
  EXPECT_GT(stats.head_samples, 0u);
  std::unique_ptr<Store> b = Open("b");
  ASSERT_NE(b, nullptr);
  shard_copy::MoveMarker marker;
  marker.source = "us-0";
  Import(b.get(), pieces, pieces.size(), &marker);
  EXPECT_TRUE(marker.complete);
  EXPECT_EQ(marker.position, p);
  EXPECT_EQ(marker.pieces, pieces.size());
  ExpectSameShard(*a, *b);
  ExpectTombstones(*a, *b, gone);

  // Durable: the same after a restart of B, and after its passes ran
  // (rollups rewritten, overlaps joined, purges done).
  ASSERT_TRUE(b->Close().ok());
  b.reset();
  b = Open("b");
  ASSERT_NE(b, nullptr);
  auto m = b->ReadMoveMarker(kShard);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ(**m, marker);
  ExpectSameShard(*a, *b);
  ASSERT_TRUE(b->SealAll().ok());
  ASSERT_TRUE(b->CompactOverlaps().ok());
  ASSERT_TRUE(b->MergeChunks().ok());
  ExpectSameShard(*a, *b);
  ExpectTombstones(*a, *b, gone);
}

TEST_P(ShardCopyTest, RestartMidImportLeavesAnIncompleteMarker) {
  std::unique_ptr<Store> a = Open("a");
  ASSERT_NE(a, nullptr);
  std::set<std::string> gone;
  Populate(a.get(), GetParam(), &gone);
  shard_copy::ExportStats stats;
  std::vector<std::string> pieces = Export(a.get(), 4 << 10, &stats);
  ASSERT_GT(pieces.size(), 3u);

  std::unique_ptr<Store> b = Open("b");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->ReadMoveMarker(kShard)->has_value());
  shard_copy::MoveMarker marker;
  marker.source = "us-0";
  const size_t k = pieces.size() / 2;
  Import(b.get(), pieces, k, &marker);
  // "kill": the import stops after k batches; B restarts.
  b.reset();
  b = Open("b");
  ASSERT_NE(b, nullptr);
  auto m = b->ReadMoveMarker(kShard);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_FALSE((*m)->complete);
  EXPECT_EQ((*m)->pieces, k);
  EXPECT_EQ((*m)->position, stats.position);
  EXPECT_EQ((*m)->source, "us-0");
  // A piece out of order is refused; the marker stays.
  shard_copy::MoveMarker fresh;
  EXPECT_EQ(b->ImportShardPiece(kShard, pieces[k], &fresh).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b->ImportShardPiece(kShard + 1, pieces[0], &fresh).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fresh.pieces, 0u);
  // The copy starts again (the wipe of step 2 is another part's; a copy
  // over its own partial copy is idempotent: same chunk keys, same
  // versions) and completes.
  fresh.source = "us-0";
  Import(b.get(), pieces, pieces.size(), &fresh);
  EXPECT_TRUE(fresh.complete);
  EXPECT_TRUE((*b->ReadMoveMarker(kShard))->complete);
  ExpectSameShard(*a, *b);
}

// The mover's retry: a partial copy is wiped (step 2, Store::DropShard),
// which removes the copy's marker (one key format) and every tag it brought,
// and the copy then starts again from piece 0 and completes.
TEST_P(ShardCopyTest, AWipeAfterAPartialCopyRemovesItAndItsMarker) {
  std::unique_ptr<Store> a = Open("a");
  ASSERT_NE(a, nullptr);
  std::set<std::string> gone;
  Populate(a.get(), GetParam(), &gone);
  shard_copy::ExportStats stats;
  std::vector<std::string> pieces = Export(a.get(), 4 << 10, &stats);
  ASSERT_GT(pieces.size(), 3u);

  std::unique_ptr<Store> b = Open("b");
  ASSERT_NE(b, nullptr);
  shard_copy::MoveMarker marker;
  marker.source = "us-0";
  Import(b.get(), pieces, pieces.size() / 2, &marker);
  ASSERT_TRUE(b->ReadMoveMarker(kShard)->has_value());
  ASSERT_GT(b->TagCountsByShard(kShards)[kShard], 0u);

  absl::StatusOr<uint64_t> dropped = b->DropShard(kShard, kShards);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_GT(*dropped, 0u);
  EXPECT_FALSE(b->ReadMoveMarker(kShard)->has_value());
  EXPECT_EQ(b->TagCountsByShard(kShards).count(kShard), 0u);
  b.reset();
  b = Open("b");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->ReadMoveMarker(kShard)->has_value());

  shard_copy::MoveMarker fresh;
  fresh.source = "us-0";
  Import(b.get(), pieces, pieces.size(), &fresh);
  EXPECT_TRUE(fresh.complete);
  ExpectSameShard(*a, *b);
}

// P splits A's own log exactly: writes made while the export streams
// (after its capture) are not in the copy, and B, given A's own log
// entries from P + 1 on (as the tail of step 4 will give them; here
// applied as a peer's, B being another site), reads as A.
TEST_P(ShardCopyTest, CopyPlusTheLogAfterPEqualsTheSource) {
  std::unique_ptr<Store> a = Open("a");
  ASSERT_NE(a, nullptr);
  std::set<std::string> gone;
  Populate(a.get(), GetParam(), &gone);
  std::vector<int> live;  // the shard's tags A holds
  for (int i = 0; i < kTags; ++i) {
    if (TagShard(Name(i), kShards) == kShard && a->HasTag(Name(i))) live.push_back(i);
  }
  ASSERT_FALSE(live.empty());
  std::vector<std::string> pieces;
  std::mt19937_64 rng(GetParam() + 100);
  auto r = a->ExportShard(kShards, kShard, 4 << 10, [&](std::string p) {
    if (pieces.empty()) {
      // After the capture: new samples and overwrites of the shard's tags.
      for (int k = 0; k < 20; ++k) {
        now_ += kSecond;
        WriteRandom(a.get(), rng, live[rng() % live.size()]);
      }
    }
    pieces.push_back(std::move(p));
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GT(a->OwnHeadSequence(), r->position);

  std::unique_ptr<Store> b;
  uint64_t tailed = 0;
  ASSERT_NO_FATAL_FAILURE(CopyThenTail(a.get(), pieces, "b", &b, &tailed));
  ASSERT_EQ(tailed, a->OwnHeadSequence() - r->position);
  ExpectSameShard(*a, *b);
}

// The same with writers running through the capture: P must be an own
// entry applied to memory with every one before it (the group commit makes
// entries durable, and numbers the next ones, before it applies them), or
// the copy lacks entries the tail from P + 1 never brings.
TEST_P(ShardCopyTest, CopyTakenUnderConcurrentWritesPlusTheLogAfterPEqualsTheSource) {
  std::unique_ptr<Store> a = Open("a");
  ASSERT_NE(a, nullptr);
  std::set<std::string> gone;
  Populate(a.get(), GetParam(), &gone);
  std::vector<int> live;  // A's tags of every shard, each written by one writer
  for (int i = 0; i < kTags; ++i) {
    if (a->HasTag(Name(i))) live.push_back(i);
  }
  constexpr int kWriters = 4;
  for (int round = 0; round < 10; ++round) {
    std::atomic<bool> stop{false};
    std::atomic<int> writes{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937_64 rng(GetParam() * 100 + static_cast<uint64_t>(round * kWriters + w));
        while (!stop.load()) {
          const int i = live[rng() % live.size()];
          if (i % kWriters != w) continue;
          WriteRandom(a.get(), rng, i);
          writes.fetch_add(1);
        }
      });
    }
    while (writes.load() < 30) std::this_thread::yield();
    std::vector<std::string> pieces;
    auto r = a->ExportShard(kShards, kShard, 4 << 10, [&](std::string p) {
      pieces.push_back(std::move(p));
      return absl::OkStatus();
    });
    const int at_export = writes.load();
    while (writes.load() < at_export + 30) std::this_thread::yield();
    stop = true;
    for (std::thread& t : writers) t.join();
    ASSERT_TRUE(r.ok()) << r.status();

    std::unique_ptr<Store> b;
    uint64_t tailed = 0;
    ASSERT_NO_FATAL_FAILURE(
        CopyThenTail(a.get(), pieces, "b" + std::to_string(round), &b, &tailed));
    ASSERT_NO_FATAL_FAILURE(ExpectSameShard(*a, *b)) << "round " << round;
  }
}

TEST(ShardCopyArgs, BadShardIsInvalidArgumentNamingTheField) {
  testing::TempDir dir;
  StoreOptions o;
  o.path = dir.Sub("a");
  o.sync_writes = false;
  auto a = Store::Open(o);
  ASSERT_TRUE(a.ok());
  auto sink = [](std::string) { return absl::OkStatus(); };
  auto r = (*a)->ExportShard(4, 4, 0, sink);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("shard: 4 must be below num_shards (4)"), std::string::npos)
      << r.status();
  r = (*a)->ExportShard(0, 0, 0, sink);
  EXPECT_NE(r.status().message().find("num_shards"), std::string::npos) << r.status();
  // An empty shard is a header and an end.
  int pieces = 0;
  r = (*a)->ExportShard(4, 2, 0, [&](std::string) {
    ++pieces;
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(pieces, 1);
  EXPECT_EQ(r->records, 2u);
}

// No log entry carries an imported shard's versions: the importer keeps
// them durably (commit_log/version_seen.h), so a delete after its restart
// is stamped at or above every sample it took. A's clock is an hour ahead.
TEST_F(ShardCopyTest, ADeleteAfterARestartIsAboveTheImportedVersions) {
  a_ahead_ = kHour;
  std::unique_ptr<Store> a = Open("a");
  ASSERT_NE(a, nullptr);
  int i = 0;
  while (TagShard(Name(i), kShards) != kShard || TypeOf(i) != ValueType::kDouble) ++i;
  std::mt19937_64 rng(7);
  ASSERT_NO_FATAL_FAILURE(WriteRandom(a.get(), rng, i));
  now_ += 600 * kSecond;  // the samples are stamped after the tag's creation
  ASSERT_NO_FATAL_FAILURE(WriteRandom(a.get(), rng, i));
  ASSERT_TRUE(a->SealAll().ok());
  auto tag = a->GetTag(Name(i));
  ASSERT_TRUE(tag.ok()) << tag.status();
  codec::ChunkColumns held;
  ASSERT_TRUE(a->ReadRaw(tag->id, kMinTimestamp, kMaxTimestamp, 0, &held).ok());
  ASSERT_EQ(held.versions.size(), held.size());
  const Version newest = *std::max_element(held.versions.begin(), held.versions.end());
  shard_copy::ExportStats stats;
  const std::vector<std::string> pieces = Export(a.get(), 4 << 10, &stats);

  std::unique_ptr<Store> b = Open("b");
  ASSERT_NE(b, nullptr);
  shard_copy::MoveMarker marker;
  Import(b.get(), pieces, pieces.size(), &marker);
  ASSERT_TRUE(marker.complete);
  b.reset();
  b = Open("b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->DeleteTag(Name(i)).ok());
  const std::vector<engine::Tombstone> tombstones = b->Tombstones();
  ASSERT_EQ(tombstones.size(), 1u);
  EXPECT_GE(tombstones[0].version, newest) << "the delete is stamped below an imported sample";
}

INSTANTIATE_TEST_SUITE_P(Seeds, ShardCopyTest, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace historian
