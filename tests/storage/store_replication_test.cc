// Replication between two Stores wired together in process, as the
// replicator wires two sites but without a server or polling: site "us"
// writes, its own log (ReadOwnLog) is shipped to "mx" with ApplyReplicated,
// and "mx" must read what "us" reads (raw samples, Latest, rollups). Also
// what the API promises about entries applied twice or past a gap, cursors,
// peer acknowledgements and log trimming, anti-entropy repairs and
// tombstones, and restore epochs; each after a Close and reopen too. Only
// the public API (storage/store.h) is used, and a fake clock.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/engine/columns.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/rollup.h"
#include "storage/store.h"
#include "tests/testutil/columns_equal.h"
#include "tests/testutil/double_series.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using engine::SeriesData;
using engine::TagInfo;
using testing::ExpectSameColumns;

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kHour = 3600 * kSecond;

// Doubles of one tag, with Good quality.
absl::StatusOr<WriteResult> WriteDoubles(Store* store, TagId tag,
                                         const std::vector<std::pair<int64_t, double>>& samples) {
  WriteInput in;
  in.series.push_back(testing::DoubleSeries(tag, samples));
  return store->Write(std::move(in));
}

// Every sample of `tag` with its version (ReadRaw over all time).
codec::ChunkColumns ReadAll(const Store& store, TagId tag) {
  codec::ChunkColumns out;
  absl::Status s = store.ReadRaw(tag, kMinTimestamp, kMaxTimestamp, 0, &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::map<int64_t, double> ReadDoubles(const Store& store, TagId tag) {
  codec::ChunkColumns out = ReadAll(store, tag);
  std::map<int64_t, double> m;
  for (size_t i = 0; i < out.size(); ++i) m[out.timestamps[i]] = out.doubles[i];
  return m;
}

// The same samples through ScanRaw, concatenated (pieces carry no versions).
codec::ChunkColumns ScanAll(const Store& store, TagId tag, ValueType type) {
  codec::ChunkColumns all;
  all.Reset(type);
  absl::Status s =
      store.ScanRaw(tag, kMinTimestamp, kMaxTimestamp, [&](const codec::ChunkColumns& piece) {
        engine::AppendSamples(piece, 0, piece.size(), &all);
        return absl::OkStatus();
      });
  EXPECT_TRUE(s.ok()) << s;
  all.versions.clear();
  return all;
}

// True when `tag` is unknown to `store` (deleted): reads say NotFound.
bool Unknown(const Store& store, TagId tag) {
  codec::ChunkColumns out;
  return absl::IsNotFound(store.ReadRaw(tag, kMinTimestamp, kMaxTimestamp, 0, &out));
}

std::vector<std::pair<int64_t, engine::Rollup>> Hours(const Store& store, TagId tag) {
  std::vector<std::pair<int64_t, engine::Rollup>> out;
  absl::Status s = store.ReadRollups(tag, engine::kRollupHour, kMinTimestamp, kMaxTimestamp, &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

void ExpectSameRollups(const std::vector<std::pair<int64_t, engine::Rollup>>& a,
                       const std::vector<std::pair<int64_t, engine::Rollup>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a[i].first, b[i].first);
    const engine::Rollup &x = a[i].second, &y = b[i].second;
    EXPECT_EQ(x.count, y.count);
    EXPECT_EQ(x.sum, y.sum);
    EXPECT_EQ(x.min.value, y.min.value);
    EXPECT_EQ(x.max.value, y.max.value);
    EXPECT_EQ(x.first.ts, y.first.ts);
    EXPECT_EQ(x.last.ts, y.last.ts);
    EXPECT_EQ(x.first.value, y.first.value);
    EXPECT_EQ(x.last.value, y.last.value);
  }
}

class StoreReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    us_ = Open("us", dir_.Sub("us"), {"mx"});
    mx_ = Open("mx", dir_.Sub("mx"), {"us"});
    ASSERT_NE(us_, nullptr);
    ASSERT_NE(mx_, nullptr);
  }

  StoreOptions Options(const std::string& site, const std::string& path,
                       std::vector<std::string> peers) {
    StoreOptions o;
    o.path = path;
    o.site = site;
    o.peers = std::move(peers);
    o.sync_writes = false;
    o.chunk_max_samples = 16;
    o.rollup_min_samples = 1;  // the checks count every hour's rollup
    o.rollup_min_day_samples = 1;
    o.seal_interval = absl::Hours(1);  // tests seal explicitly
    // mx's clock runs mx_ahead_ns_ ahead of us's.
    o.now_ns = [this, site] { return now_ns_ + (site == "mx" ? mx_ahead_ns_ : 0); };
    o.log_retention_bytes = log_retention_bytes_;
    return o;
  }

  std::unique_ptr<Store> Open(const std::string& site, const std::string& path,
                              std::vector<std::string> peers) {
    auto s = Store::Open(Options(site, path, std::move(peers)));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Close and reopen both stores (state must survive restarts).
  void ReopenBoth() {
    ASSERT_TRUE(us_->Close().ok());
    ASSERT_TRUE(mx_->Close().ok());
    const std::vector<std::string> us_peers = us_->options().peers;
    const std::vector<std::string> mx_peers = mx_->options().peers;
    us_.reset();
    mx_.reset();
    us_ = Open("us", dir_.Sub("us"), us_peers);
    mx_ = Open("mx", dir_.Sub("mx"), mx_peers);
    ASSERT_NE(us_, nullptr);
    ASSERT_NE(mx_, nullptr);
  }

  TagId Tag(Store* store, const std::string& name, ValueType type = ValueType::kDouble) {
    auto t = store->ResolveTagForWrite(name, type);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->id : 0;
  }

  // Own entries of `from` with sequence >= from_seq.
  static std::vector<std::pair<uint64_t, std::string>> OwnEntries(const Store& from,
                                                                  uint64_t from_seq) {
    OwnLogBatch batch;
    absl::Status s = from.ReadOwnLog(from_seq, size_t{1} << 30, &batch);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_FALSE(batch.gap) << "first available " << batch.first_available;
    return std::move(batch.records);
  }

  // Applies every own entry of `from` that `to` has not applied yet, as the
  // replicator does. Returns the samples applied.
  static uint64_t Ship(const Store& from, Store* to) {
    const std::string& origin = from.options().site;
    uint64_t applied = 0;
    for (const auto& [seq, bytes] : OwnEntries(from, to->AppliedSequence(origin) + 1)) {
      absl::StatusOr<uint64_t> n = to->ApplyReplicated(origin, seq, bytes);
      EXPECT_TRUE(n.ok()) << n.status();
      if (n.ok()) applied += *n;
    }
    EXPECT_EQ(to->AppliedSequence(origin), from.OwnHeadSequence());
    return applied;
  }

  // us's own entries from `from_seq` are a tag's definition and then its
  // samples: mx's cursor passes the definition as if it was cut, and mx
  // refuses the samples with kRefuse (nothing applied, the cursor stays).
  // Returns the samples entry and the refusal's message.
  std::pair<std::pair<uint64_t, std::string>, std::string> RefuseSamplesOfACutDefinition(
      uint64_t from_seq) {
    const auto entries = OwnEntries(*us_, from_seq);
    EXPECT_EQ(entries.size(), 2u);  // the definition, the samples
    if (entries.size() != 2) return {};
    EXPECT_TRUE(mx_->AdvanceCursor("us", entries[0].first).ok());
    absl::StatusOr<uint64_t> refused = mx_->ApplyReplicated(
        "us", entries[1].first, entries[1].second, Store::UndefinedTags::kRefuse);
    EXPECT_FALSE(refused.ok());
    EXPECT_TRUE(Store::IsUndefinedTag(refused.status())) << refused.status();
    EXPECT_EQ(mx_->AppliedSequence("us"), entries[0].first) << "the cursor stays before it";
    return {entries[1], std::string(refused.status().message())};
  }

  testing::TempDir dir_;
  int64_t now_ns_ = int64_t{1700000000} * kSecond;
  int64_t mx_ahead_ns_ = 0;
  uint64_t log_retention_bytes_ = uint64_t{1} << 30;
  std::unique_ptr<Store> us_, mx_;
};

TEST_F(StoreReplicationTest, ShippedLogReadsTheSameOnThePeer) {
  const TagId d = Tag(us_.get(), "line1.temp");
  const TagId i = Tag(us_.get(), "line1.count", ValueType::kInt64);
  const TagId s = Tag(us_.get(), "line1.state", ValueType::kString);
  // Two hours and a bit, in several batches: sealed chunks on both sides
  // after SealAll, rollups of two full hours.
  uint64_t written = 0;
  for (int batch = 0; batch < 5; ++batch) {
    WriteInput in;
    SeriesData ds, is, ss;
    ds.tag = d;
    is.tag = i;
    ss.tag = s;
    ds.cols.Reset(ValueType::kDouble);
    is.cols.Reset(ValueType::kInt64);
    ss.cols.Reset(ValueType::kString);
    for (int k = 0; k < 30; ++k) {
      const int64_t ts = kHour + (batch * 30 + k) * 60 * kSecond;
      ds.cols.timestamps.push_back(ts);
      ds.cols.doubles.push_back(batch * 100 + k * 0.25);
      ds.cols.qualities.push_back(k % 3 == 0 ? 0x40 : 0xC0);
      is.cols.timestamps.push_back(ts);
      is.cols.ints.push_back(batch * 1000 - k);
      is.cols.qualities.push_back(0);
      ss.cols.timestamps.push_back(ts);
      ss.cols.strings.push_back(std::string(k % 4, 'x'));
      ss.cols.qualities.push_back(0);
    }
    in.series = {std::move(ds), std::move(is), std::move(ss)};
    auto r = us_->Write(std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
    written += r->accepted;
    now_ns_ += kSecond;
  }
  EXPECT_EQ(mx_->AppliedSequence("us"), 0u);
  EXPECT_EQ(Ship(*us_, mx_.get()), written);
  EXPECT_EQ(mx_->AppliedSequence("us"), us_->OwnHeadSequence());

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    for (const auto& [tag, type] : std::vector<std::pair<TagId, ValueType>>{
             {d, ValueType::kDouble}, {i, ValueType::kInt64}, {s, ValueType::kString}}) {
      SCOPED_TRACE(engine::ValueTypeName(type));
      codec::ChunkColumns want = ReadAll(*us_, tag);
      EXPECT_EQ(want.size(), 150u);
      ExpectSameColumns(ReadAll(*mx_, tag), want);  // versions too: the origin stamps them
      ExpectSameColumns(ScanAll(*mx_, tag, type), ScanAll(*us_, tag, type));
      codec::ChunkColumns a, b;
      ASSERT_TRUE(us_->Latest(tag, &a).ok());
      ASSERT_TRUE(mx_->Latest(tag, &b).ok());
      ASSERT_EQ(b.size(), 1u);
      ExpectSameColumns(b, a);
    }
    for (const char* name : {"line1.temp", "line1.count", "line1.state"}) {
      auto a = us_->GetTag(name);
      auto b = mx_->GetTag(name);
      ASSERT_TRUE(a.ok() && b.ok()) << name;
      EXPECT_EQ(*b, *a);
      EXPECT_EQ(b->origin_site, "us");
    }
  };
  check("in the heads");
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_TRUE(mx_->SealAll().ok());
  check("sealed");
  for (TagId tag : {d, i}) {
    auto want = Hours(*us_, tag);
    EXPECT_EQ(want.size(), 3u);  // hours 1, 2 and 3
    ExpectSameRollups(Hours(*mx_, tag), want);
    EXPECT_EQ(mx_->UnsealedFrom(tag), kMaxTimestamp);
  }
  ReopenBoth();
  check("reopened");
  ExpectSameRollups(Hours(*mx_, d), Hours(*us_, d));
  EXPECT_EQ(mx_->AppliedSequence("us"), us_->OwnHeadSequence());
  // Nothing more to ship; the peer's own log holds none of us's entries.
  EXPECT_EQ(Ship(*us_, mx_.get()), 0u);
  EXPECT_EQ(mx_->OwnHeadSequence(), 0u);
}

TEST_F(StoreReplicationTest, AnEntryAppliedTwiceIsANoOpAlsoAfterRestart) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}, {2, 2}}).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{3, 3}}).ok());
  const auto entries = OwnEntries(*us_, 1);
  ASSERT_EQ(entries.size(), 3u);  // the tag, two writes
  for (const auto& [seq, bytes] : entries) {
    ASSERT_TRUE(mx_->ApplyReplicated("us", seq, bytes).ok());
  }
  const std::map<int64_t, double> want = {{1, 1}, {2, 2}, {3, 3}};
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  // Again: each returns 0 samples and changes nothing.
  for (const auto& [seq, bytes] : entries) {
    auto n = mx_->ApplyReplicated("us", seq, bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 0u) << seq;
  }
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  EXPECT_EQ(mx_->AppliedSequence("us"), 3u);
  // The cursor is durable with the entries: also after a crash (no Close).
  mx_.reset();
  mx_ = Open("mx", dir_.Sub("mx"), {"us"});
  ASSERT_NE(mx_, nullptr);
  EXPECT_EQ(mx_->AppliedSequence("us"), 3u);
  for (const auto& [seq, bytes] : entries) {
    auto n = mx_->ApplyReplicated("us", seq, bytes);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, 0u) << seq;
  }
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  ASSERT_TRUE(mx_->SealAll().ok());
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  EXPECT_EQ(mx_->Stats().head_samples, 0u);
}

TEST_F(StoreReplicationTest, BadEntriesAndOriginsAreRefused) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  const auto entries = OwnEntries(*us_, 1);
  ASSERT_EQ(entries.size(), 2u);
  // A site never applies entries as coming from itself or from the repair
  // pseudo-origin.
  for (const char* origin : {"mx", "~repair"}) {
    auto n = mx_->ApplyReplicated(origin, 1, entries[0].second);
    EXPECT_TRUE(absl::IsInvalidArgument(n.status())) << origin << ": " << n.status();
    EXPECT_NE(n.status().message().find("origin"), std::string_view::npos) << n.status();
  }
  // Corrupt bytes: DataLoss, and the cursor does not move.
  std::string corrupt = entries[0].second;
  corrupt.resize(corrupt.size() / 2);
  for (const std::string& bad : {corrupt, std::string("\xff\xff\xff", 3), std::string()}) {
    auto n = mx_->ApplyReplicated("us", 1, bad);
    EXPECT_TRUE(absl::IsDataLoss(n.status())) << n.status();
  }
  EXPECT_EQ(mx_->AppliedSequence("us"), 0u);
  EXPECT_EQ(Ship(*us_, mx_.get()), 1u);
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{1, 1}}));
}

// ApplyReplicated REQUIRES one origin's entries in sequence order; an entry
// past a gap is applied and moves the cursor, so the skipped entry is
// afterwards a no-op like any entry at or below the cursor (the replicator
// ships in order, and fills a gap by range sync + AdvanceCursor).
TEST_F(StoreReplicationTest, AnEntryPastAGapMovesTheCursorOverTheSkippedOne) {
  const TagId t = Tag(us_.get(), "t");
  for (int k = 1; k <= 3; ++k) ASSERT_TRUE(WriteDoubles(us_.get(), t, {{k, k}}).ok());
  const auto entries = OwnEntries(*us_, 1);
  ASSERT_EQ(entries.size(), 4u);  // seq 1: the tag; 2..4: samples 1..3
  ASSERT_TRUE(mx_->ApplyReplicated("us", 1, entries[0].second).ok());
  ASSERT_TRUE(mx_->ApplyReplicated("us", 2, entries[1].second).ok());
  auto n = mx_->ApplyReplicated("us", 4, entries[3].second);  // 3 is missing
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(mx_->AppliedSequence("us"), 4u);
  n = mx_->ApplyReplicated("us", 3, entries[2].second);  // late: below the cursor
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{1, 1}, {3, 3}}));
  ReopenBoth();
  EXPECT_EQ(mx_->AppliedSequence("us"), 4u);
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{1, 1}, {3, 3}}));
}

TEST_F(StoreReplicationTest, AdvanceCursorMovesForwardOnlyAndIsDurable) {
  const TagId t = Tag(us_.get(), "t");
  for (int k = 1; k <= 4; ++k) ASSERT_TRUE(WriteDoubles(us_.get(), t, {{k, k}}).ok());
  const auto entries = OwnEntries(*us_, 1);
  ASSERT_EQ(entries.size(), 5u);
  ASSERT_TRUE(mx_->ApplyReplicated("us", 1, entries[0].second).ok());
  EXPECT_EQ(mx_->AppliedSequence("unknown-site"), 0u);
  // A range sync covered entries 2 and 3.
  ASSERT_TRUE(mx_->AdvanceCursor("us", 3).ok());
  EXPECT_EQ(mx_->AppliedSequence("us"), 3u);
  ASSERT_TRUE(mx_->AdvanceCursor("us", 2).ok());  // never back
  EXPECT_EQ(mx_->AppliedSequence("us"), 3u);
  for (int k = 1; k <= 2; ++k) {
    auto n = mx_->ApplyReplicated("us", entries[k].first, entries[k].second);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);
  }
  mx_.reset();  // a crash: AdvanceCursor was durable on its own
  mx_ = Open("mx", dir_.Sub("mx"), {"us"});
  ASSERT_NE(mx_, nullptr);
  EXPECT_EQ(mx_->AppliedSequence("us"), 3u);
  EXPECT_EQ(Ship(*us_, mx_.get()), 2u);  // entries 4 and 5
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{3, 3}, {4, 4}}));
}

// The own log keeps every entry a configured peer has not acknowledged,
// also once sealed; acked entries go at the next trim.
TEST_F(StoreReplicationTest, TrimmingKeepsWhatThePeerHasNotAcked) {
  const TagId t = Tag(us_.get(), "t");
  for (int k = 1; k <= 6; ++k) ASSERT_TRUE(WriteDoubles(us_.get(), t, {{k, k}}).ok());
  ASSERT_EQ(us_->OwnHeadSequence(), 7u);
  ASSERT_TRUE(us_->SealAll().ok());  // seals and trims
  EXPECT_EQ(us_->Stats().own_log_entries, 7u);
  EXPECT_EQ(OwnEntries(*us_, 1).size(), 7u);
  // Unknown sites are ignored: they never hold the log.
  us_->SetPeerAcked("eu", 5);
  EXPECT_EQ(us_->PeerAcked("eu"), 0u);
  // mx applies 1..4 and says so.
  auto entries = OwnEntries(*us_, 1);
  for (size_t k = 0; k < 4; ++k) {
    ASSERT_TRUE(mx_->ApplyReplicated("us", entries[k].first, entries[k].second).ok());
  }
  us_->SetPeerAcked("mx", 4);
  us_->SetPeerAcked("mx", 2);  // an older ack never moves it back
  EXPECT_EQ(us_->PeerAcked("mx"), 4u);
  ASSERT_TRUE(us_->SealAll().ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 3u);
  EXPECT_EQ(us_->Stats().log_entries_trimmed, 4u);
  OwnLogBatch batch;
  ASSERT_TRUE(us_->ReadOwnLog(1, size_t{1} << 30, &batch).ok());
  EXPECT_TRUE(batch.gap);
  EXPECT_EQ(batch.first_available, 5u);
  EXPECT_EQ(batch.head_seq, 7u);
  // What mx still needs is there.
  EXPECT_EQ(Ship(*us_, mx_.get()), 3u);
  EXPECT_EQ(ReadDoubles(*mx_, t), ReadDoubles(*us_, t));
  // Acks and the trimmed log survive a restart.
  ReopenBoth();
  EXPECT_EQ(us_->PeerAcked("mx"), 4u);
  EXPECT_EQ(us_->Stats().own_log_entries, 3u);
  ASSERT_TRUE(us_->ReadOwnLog(1, size_t{1} << 30, &batch).ok());
  EXPECT_TRUE(batch.gap);
  EXPECT_EQ(batch.first_available, 5u);
  us_->SetPeerAcked("mx", 7);
  ASSERT_TRUE(us_->SealAll().ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 0u);
  ReopenBoth();
  EXPECT_EQ(us_->PeerAcked("mx"), 7u);
  EXPECT_EQ(us_->OwnHeadSequence(), 7u);  // trimming never reuses numbers
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{7, 7}}).ok());
  EXPECT_EQ(us_->OwnHeadSequence(), 8u);
  EXPECT_EQ(Ship(*us_, mx_.get()), 1u);
}

// An acked entry still rebuilds the head after a crash: only a seal pass
// (which seals first) trims the log.
TEST_F(StoreReplicationTest, AckedUnsealedEntriesRebuildTheHeadAfterACrash) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{2, 2}}).ok());  // seq 3, in the head
  us_->SetPeerAcked("mx", 3);
  us_.reset();  // a crash
  us_ = Open("us", dir_.Sub("us"), {"mx"});
  ASSERT_NE(us_, nullptr);
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{1, 1}, {2, 2}}));
}

// Past the retention limits the log is trimmed although the peer has not
// acked: the peer sees a gap and catches up by range sync (a repair, then
// AdvanceCursor).
TEST_F(StoreReplicationTest, RetentionTrimsUnackedEntriesAndThePeerSeesAGap) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}, {2, 2}}).ok());
  Ship(*us_, mx_.get());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{3, 3}}).ok());  // seq 3: mx has not got it
  ASSERT_TRUE(us_->SealAll().ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 3u);  // no ack at all
  now_ns_ += 25 * kHour;                        // past log_retention_age (24 h)
  ASSERT_TRUE(us_->SealAll().ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 0u);
  OwnLogBatch batch;
  ASSERT_TRUE(us_->ReadOwnLog(mx_->AppliedSequence("us") + 1, 1 << 20, &batch).ok());
  EXPECT_TRUE(batch.gap);
  EXPECT_EQ(batch.first_available, 4u);
  // Range sync: the samples by repair, then the cursor.
  std::vector<TagInfo> tags = {*us_->GetTag("t")};
  SeriesData all;
  all.tag = t;
  all.cols = ReadAll(*us_, t);
  auto repaired = mx_->ApplyRepair(tags, {all});
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(*repaired, 3u);
  ASSERT_TRUE(mx_->AdvanceCursor("us", batch.first_available - 1).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{4, 4}}).ok());
  EXPECT_EQ(Ship(*us_, mx_.get()), 1u);
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
  ReopenBoth();
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
}

// PeerAcked is "kept across restarts" (store.h), for each configured peer,
// also when that peer's ack alone trims nothing (another peer is behind).
// Acks are saved with the log trim's write batch, which is written when an
// ack changed even if nothing is trimmed: with "eu" at 0 nothing is trimmed,
// and mx's ack still survives the restart (it was lost before: the trim
// returned early without writing).
TEST_F(StoreReplicationTest, PeerAcksSurviveARestartWhileAnotherPeerIsBehind) {
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", dir_.Sub("us"), {"mx", "eu"});
  ASSERT_NE(us_, nullptr);
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}, {2, 2}}).ok());
  us_->SetPeerAcked("mx", 2);
  ASSERT_TRUE(us_->SealAll().ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 2u);  // eu has not acked
  EXPECT_EQ(us_->PeerAcked("mx"), 2u);
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", dir_.Sub("us"), {"mx", "eu"});
  ASSERT_NE(us_, nullptr);
  EXPECT_EQ(us_->PeerAcked("mx"), 2u);
  EXPECT_EQ(us_->PeerAcked("eu"), 0u);
}

TEST_F(StoreReplicationTest, RetentionBytesTrimUnackedEntries) {
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  log_retention_bytes_ = 1;  // every entry is over the limit
  us_ = Open("us", dir_.Sub("us"), {"mx"});
  ASSERT_NE(us_, nullptr);
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  ASSERT_TRUE(us_->SealAll().ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 0u);
  EXPECT_EQ(us_->PeerAcked("mx"), 0u);
}

// Repairs (anti-entropy): samples keep their own versions and merge
// last-writer-wins with what is there; the catalog entry with the higher
// version wins; a type conflict keeps the local tag and is counted. A
// repair is not shipped to peers.
TEST_F(StoreReplicationTest, RepairMergesByVersionAndIsNotShipped) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}, {2, 2}, {3, 3}}).ok());
  Ship(*us_, mx_.get());
  const codec::ChunkColumns shipped = ReadAll(*mx_, t);
  ASSERT_EQ(shipped.size(), 3u);
  const Version v = shipped.versions[0];
  const uint64_t mx_head = mx_->OwnHeadSequence();
  // Older version at ts 1, newer at ts 2, a new ts 10: only the last two win.
  SeriesData repair = testing::DoubleSeries(t, {{1, -1}, {2, -2}, {10, 10}});
  repair.cols.versions = {v - 256, v + 256, v};
  ASSERT_TRUE(mx_->SealAll().ok());  // the repair merges over sealed chunks
  auto n = mx_->ApplyRepair({}, {repair});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);  // stored; reads resolve by version
  const std::map<int64_t, double> want = {{1, 1}, {2, -2}, {3, 3}, {10, 10}};
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  EXPECT_EQ(mx_->OwnHeadSequence(), mx_head);  // not in the own log
  EXPECT_TRUE(OwnEntries(*mx_, 1).empty());
  // Samples of a tag unknown here (and not in `tags`) are left out.
  auto unknown =
      mx_->ApplyRepair({}, {testing::DoubleSeries(engine::TagIdFromName("nope"), {{1, 1}})});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(*unknown, 0u);
  ASSERT_TRUE(mx_->SealAll().ok());
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  ReopenBoth();
  EXPECT_EQ(ReadDoubles(*mx_, t), want);
  codec::ChunkColumns latest;
  ASSERT_TRUE(mx_->Latest(t, &latest).ok());
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest.timestamps[0], 10);
}

TEST_F(StoreReplicationTest, RepairCatalogIsLastWriterWinsByVersion) {
  TagInfo info;
  info.name = "cat.t";
  info.type = ValueType::kDouble;
  info.unit = "C";
  auto created = us_->CreateTag(info);
  ASSERT_TRUE(created.ok()) << created.status();
  Ship(*us_, mx_.get());
  const TagInfo base = *mx_->GetTag("cat.t");
  EXPECT_EQ(base, *created);
  // A newer definition wins (metadata; creation fields stay).
  TagInfo newer = base;
  newer.unit = "K";
  newer.description = "newer";
  newer.version = base.version + 256;
  newer.created_ns = base.created_ns + 5;
  auto n = mx_->ApplyRepair({newer}, {});
  ASSERT_TRUE(n.ok()) << n.status();
  auto got = mx_->GetTag("cat.t");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->unit, "K");
  EXPECT_EQ(got->description, "newer");
  EXPECT_EQ(got->version, newer.version);
  EXPECT_EQ(got->created_ns, base.created_ns);
  // An older one does not.
  TagInfo older = base;
  older.unit = "F";
  older.version = base.version - 256;
  ASSERT_TRUE(mx_->ApplyRepair({older}, {}).ok());
  EXPECT_EQ(mx_->GetTag("cat.t")->unit, "K");
  // Another type: the local definition stays, the conflict is counted and
  // samples of the other type are not stored.
  TagInfo other = base;
  other.type = ValueType::kString;
  other.version = newer.version + 256;
  SeriesData strings;
  strings.tag = base.id;
  strings.cols.Reset(ValueType::kString);
  strings.cols.timestamps = {1};
  strings.cols.strings = {"x"};
  strings.cols.qualities = {0};
  strings.cols.versions = {other.version};
  const uint64_t conflicts = mx_->Stats().catalog_conflicts;
  ASSERT_TRUE(mx_->ApplyRepair({other}, {strings}).ok());
  EXPECT_EQ(mx_->Stats().catalog_conflicts, conflicts + 1);
  EXPECT_EQ(mx_->GetTag("cat.t")->type, ValueType::kDouble);
  EXPECT_EQ(ReadAll(*mx_, base.id).size(), 0u);
  // A tag repair creates a tag missing here, with its samples.
  TagInfo fresh;
  fresh.name = "cat.fresh";
  fresh.type = ValueType::kDouble;
  fresh.id = engine::TagIdFromName(fresh.name);
  fresh.origin_site = "us";
  fresh.version = base.version;
  SeriesData samples = testing::DoubleSeries(fresh.id, {{5, 5}});
  samples.cols.versions = {base.version};
  n = mx_->ApplyRepair({fresh}, {samples});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  ASSERT_TRUE(mx_->HasTag("cat.fresh"));
  EXPECT_EQ(ReadDoubles(*mx_, fresh.id), (std::map<int64_t, double>{{5, 5}}));
  ReopenBoth();
  EXPECT_EQ(mx_->GetTag("cat.t")->unit, "K");
  EXPECT_EQ(mx_->GetTag("cat.t")->type, ValueType::kDouble);
  EXPECT_EQ(ReadDoubles(*mx_, fresh.id), (std::map<int64_t, double>{{5, 5}}));
}

// A tombstone learned from a digest (ApplyTombstones, after the log entry
// carrying it was trimmed) drops the tag, and from then on refuses its
// samples from every path: a late log entry, a repair, the log replay.
TEST_F(StoreReplicationTest, TombstonesRefuseLateEntriesAndRepairsBelowThem) {
  const TagId t = Tag(us_.get(), "gone");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}, {2, 2}}).ok());
  Ship(*us_, mx_.get());
  const TagInfo info = *us_->GetTag("gone");
  const codec::ChunkColumns old = ReadAll(*us_, t);
  // us writes more (mx does not get it yet), then deletes the tag.
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{3, 3}}).ok());
  const uint64_t late_seq = us_->OwnHeadSequence();
  const std::string late = OwnEntries(*us_, late_seq)[0].second;
  now_ns_ += kSecond;
  ASSERT_TRUE(us_->DeleteTag("gone").ok());
  const std::vector<engine::Tombstone> tombstones = us_->Tombstones();
  ASSERT_EQ(tombstones.size(), 1u);
  EXPECT_EQ(tombstones[0].tag, t);
  EXPECT_GE(tombstones[0].version, info.version);
  // mx learns the tombstone from a digest.
  auto n = mx_->ApplyTombstones(tombstones);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(mx_->HasTag("gone"));
  EXPECT_TRUE(Unknown(*mx_, t));
  n = mx_->ApplyTombstones(tombstones);  // known already
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(mx_->Tombstones(), tombstones);
  auto refused = [&](const char* when) {
    SCOPED_TRACE(when);
    SeriesData repair;
    repair.tag = t;
    repair.cols = old;
    auto r = mx_->ApplyRepair({info}, {repair});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, 0u);
    EXPECT_FALSE(mx_->HasTag("gone"));
    EXPECT_TRUE(Unknown(*mx_, t));
  };
  refused("repair");
  // The late entry, then the delete's own entry, in the log.
  auto late_n = mx_->ApplyReplicated("us", late_seq, late);
  ASSERT_TRUE(late_n.ok()) << late_n.status();
  EXPECT_EQ(*late_n, 1u);  // the entry's samples, stored or not (store.h)
  EXPECT_FALSE(mx_->HasTag("gone"));
  EXPECT_TRUE(Unknown(*mx_, t));
  Ship(*us_, mx_.get());
  EXPECT_FALSE(mx_->HasTag("gone"));
  EXPECT_EQ(mx_->Tombstones(), tombstones);
  ReopenBoth();
  refused("reopened");
  EXPECT_EQ(mx_->Tombstones(), tombstones);
  EXPECT_EQ(us_->Tombstones(), tombstones);
  // The name can be used again: the new incarnation is above the tombstone
  // and replicates normally.
  ASSERT_EQ(Tag(us_.get(), "gone"), t);
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{9, 9}}).ok());
  Ship(*us_, mx_.get());
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{9, 9}}));
}

// A delete is stamped above every version its store has seen (docs/
// consistency.md, "Deleting a tag"), also after a restart when the log
// entry that carried the highest one was trimmed: otherwise the tombstone
// sits below a sample the deleting site had, and the peer keeps it (and
// anti-entropy brings it back). mx's clock is an hour ahead of us's.
TEST_F(StoreReplicationTest, ADeleteAfterARestartIsAboveSamplesWhoseEntriesWereTrimmed) {
  mx_ahead_ns_ = int64_t{3600} * kSecond;
  const TagId t = Tag(mx_.get(), "ahead");
  now_ns_ += 600 * kSecond;  // the sample is stamped after the tag's creation
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{1, 1}, {2, 2}}).ok());
  Ship(*mx_, us_.get());
  ASSERT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{1, 1}, {2, 2}}));
  const codec::ChunkColumns held = ReadAll(*us_, t);
  ASSERT_EQ(held.versions.size(), held.size());
  const Version sample_version = held.versions.back();
  // us seals, trims mx's entries (nothing waits for them at us) and restarts.
  ASSERT_TRUE(us_->SealAll().ok());
  ReopenBoth();
  ASSERT_TRUE(us_->DeleteTag("ahead").ok());
  const std::vector<engine::Tombstone> tombstones = us_->Tombstones();
  ASSERT_EQ(tombstones.size(), 1u);
  // At or below the tombstone's version is deleted.
  EXPECT_GE(tombstones[0].version, sample_version)
      << "the delete is stamped below a sample us held";
  // mx takes the delete: the tag is gone there too, and nothing of it can
  // come back to us.
  Ship(*us_, mx_.get());
  EXPECT_FALSE(mx_->HasTag("ahead"));
  EXPECT_TRUE(Unknown(*mx_, t));
  // The name used again (the same id): only the new incarnation's samples,
  // at both sites, after their seals and restarts too.
  ASSERT_EQ(Tag(us_.get(), "ahead"), t);
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{9, 9}}).ok());
  Ship(*us_, mx_.get());
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_TRUE(mx_->SealAll().ok());
  ReopenBoth();
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{9, 9}}));
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{9, 9}}))
      << "a deleted sample came back";
}

// Each site's retention drops whole chunks on its own schedule, so a peer
// may still offer samples this site dropped: a repair never brings back a
// sample past the tag's retention here.
TEST_F(StoreReplicationTest, ARepairNeverBringsBackSamplesPastTheTagsRetention) {
  const TagId t = Tag(us_.get(), "short");
  engine::TagInfo info = *us_->GetTag("short");
  info.retention_ns = 10 * 3600 * kSecond;
  ASSERT_TRUE(us_->UpdateTag(info).ok());
  info = *us_->GetTag("short");
  SeriesData repair;
  repair.tag = t;
  repair.cols.Reset(ValueType::kDouble);
  for (int64_t age_hours : {20, 11, 9, 1}) {
    repair.cols.timestamps.push_back(now_ns_ - age_hours * 3600 * kSecond);
    repair.cols.doubles.push_back(static_cast<double>(age_hours));
    repair.cols.qualities.push_back(0);
    repair.cols.versions.push_back(info.version);
  }
  auto n = us_->ApplyRepair({info}, {repair});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{now_ns_ - 9 * 3600 * kSecond, 9},
                                                             {now_ns_ - 1 * 3600 * kSecond, 1}}));
}

// A site cluster's move: the target gets a shard's tags by copy (here a
// repair: definitions and samples, in no own log entry), then stores later
// samples of them in its own log by tag id. A peer that pulls that log has
// never seen those tags defined, and its applier skips series of unknown
// tags. Store::AnnounceShardTags (the target, before it opens the shard)
// puts the shard's definitions into the own log first, so the peer keeps
// the later samples; a tag of another shard is not announced.
TEST_F(StoreReplicationTest, AnnouncedShardTagsLetAPeerKeepTheirLaterSamples) {
  constexpr uint32_t kShards = 8;
  std::string in_shard, other;
  for (int i = 0; in_shard.empty() || other.empty(); ++i) {
    const std::string name = absl::StrCat("moved.t", i);
    (TagShard(name, kShards) == 3 ? in_shard : other) = name;
  }
  auto old_owner = Open("us", dir_.Sub("old_owner"), {});
  ASSERT_NE(old_owner, nullptr);
  std::vector<TagInfo> copied;
  for (const std::string& name : {in_shard, other}) {
    Tag(old_owner.get(), name);
    copied.push_back(*old_owner->GetTag(name));
  }
  ASSERT_TRUE(us_->ApplyRepair(copied, {}).ok());
  EXPECT_EQ(us_->Stats().own_log_entries, 0u) << "a copy is in no own entry";

  absl::StatusOr<uint64_t> announced = us_->AnnounceShardTags(3, kShards);
  ASSERT_TRUE(announced.ok()) << announced.status();
  EXPECT_EQ(*announced, 1u);
  const TagId a = engine::TagIdFromName(in_shard);
  ASSERT_TRUE(WriteDoubles(us_.get(), a, {{1, 1}, {2, 2}}).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), engine::TagIdFromName(other), {{1, 5}}).ok());
  Ship(*us_, mx_.get());
  EXPECT_EQ(ReadDoubles(*mx_, a), (std::map<int64_t, double>{{1, 1}, {2, 2}}));
  EXPECT_FALSE(mx_->GetTag(other).ok()) << "only shard 3 was announced";
  // Announcing again (a restart before the open) changes nothing.
  ASSERT_TRUE(us_->AnnounceShardTags(3, kShards).ok());
  Ship(*us_, mx_.get());
  EXPECT_EQ(ReadDoubles(*mx_, a), (std::map<int64_t, double>{{1, 1}, {2, 2}}));
  EXPECT_EQ(mx_->GetTag(in_shard)->version, copied[0].version);
}

// Samples of a tag this node has no definition of (its definition entry
// was cut while another member owned the shard): dropped by default (a tag
// of another member's shard), refused with kRefuse (the replicator's mode
// while a range sync of gained shards is pending): nothing of the entry is
// applied, the cursor stays before it, and once the definition is here the
// same entry applies in full. A tag deleted here is no undefined tag.
TEST_F(StoreReplicationTest, SamplesOfAnUndefinedTagAreRefusedWhenAskedNotSkipped) {
  const TagId t = Tag(us_.get(), "cut.def");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}, {2, 2}}).ok());
  const auto [entry, why] = RefuseSamplesOfACutDefinition(1);
  const auto& [seq, bytes] = entry;
  EXPECT_THAT(
      why, ::testing::HasSubstr(absl::StrCat("entry ", seq, " of 'us' holds 2 samples of tag id ",
                                             t, ", which this node has no definition of")));

  // A range sync's repair brings the definition: the entry applies in full.
  ASSERT_TRUE(mx_->ApplyRepair({*us_->GetTag("cut.def")}, {}).ok());
  absl::StatusOr<uint64_t> applied =
      mx_->ApplyReplicated("us", seq, bytes, Store::UndefinedTags::kRefuse);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{1, 1}, {2, 2}}));

  // Deleted here: dropped, no refusal, the cursor passes.
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{3, 3}}).ok());
  ASSERT_TRUE(mx_->DeleteTag("cut.def").ok());
  const auto late = OwnEntries(*us_, us_->OwnHeadSequence());
  ASSERT_EQ(late.size(), 1u);
  absl::StatusOr<uint64_t> dropped =
      mx_->ApplyReplicated("us", late[0].first, late[0].second, Store::UndefinedTags::kRefuse);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(mx_->AppliedSequence("us"), late[0].first);
  EXPECT_FALSE(mx_->GetTag("cut.def").ok());
  EXPECT_EQ(mx_->Stats().samples_of_undefined_tags, 0u) << "a deleted tag is no undefined one";
}

// A tag deleted here and created again at the origin: the new
// incarnation's samples (versions above the tombstone) are a tag this node
// has no definition of when the re-creation's entry was cut, as for a tag
// never seen: refused with kRefuse, counted when dropped. Only samples at or
// below the tombstone are the deleted incarnation's (dropped, not counted).
TEST_F(StoreReplicationTest, ANewIncarnationOfATagDeletedHereIsUndefinedWithoutItsDefinition) {
  const TagId t = Tag(us_.get(), "again");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  ASSERT_TRUE(us_->DeleteTag("again").ok());
  Ship(*us_, mx_.get());  // mx holds the tombstone
  ASSERT_FALSE(mx_->GetTag("again").ok());
  const uint64_t before = us_->OwnHeadSequence();
  ASSERT_EQ(Tag(us_.get(), "again"), t) << "a tag's id is its name's";
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{2, 2}, {3, 3}}).ok());
  const auto [entry, why] = RefuseSamplesOfACutDefinition(before + 1);
  EXPECT_THAT(why, ::testing::HasSubstr(absl::StrCat("holds 2 samples of tag id ", t,
                                                     " newer than its deletion here")));

  absl::StatusOr<uint64_t> dropped = mx_->ApplyReplicated("us", entry.first, entry.second);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(mx_->Stats().samples_of_undefined_tags, 2u) << "counted, not silent";
}

// Three sites: mx writes a tag us made, and a third site pulls mx's log
// before us's. mx's log restates the definition before mx's first samples
// of it (once after each open), so the third site stores them instead of
// leaving them out as an undefined tag's until anti-entropy brings them.
TEST_F(StoreReplicationTest, AThirdSiteGetsATagsDefinitionFromTheSiteThatWritesItNotOnlyItsMaker) {
  auto br = Open("br", dir_.Sub("br"), {"us", "mx"});
  ASSERT_NE(br, nullptr);
  const TagId t = Tag(us_.get(), "made.at.us");
  Ship(*us_, mx_.get());
  const uint64_t entries_before = mx_->Stats().own_log_entries;
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{5, 5}}).ok());
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{6, 6}}).ok());
  EXPECT_EQ(mx_->Stats().own_log_entries, entries_before + 2) << "no entry of its own";
  Ship(*mx_, br.get());  // before us's log
  EXPECT_EQ(ReadDoubles(*br, t), (std::map<int64_t, double>{{5, 5}, {6, 6}}));
  EXPECT_EQ(br->Stats().samples_of_undefined_tags, 0u);
  const absl::StatusOr<engine::TagInfo> at_br = br->GetTag("made.at.us");
  ASSERT_TRUE(at_br.ok()) << at_br.status();
  EXPECT_EQ(at_br->origin_site, "us");
  EXPECT_EQ(at_br->version, us_->GetTag("made.at.us")->version) << "the definition as us made it";

  // us's own log then changes nothing at br; mx's restated definition
  // changes nothing at us.
  Ship(*us_, br.get());
  EXPECT_EQ(br->GetTag("made.at.us")->version, at_br->version);
  const Version at_us = us_->GetTag("made.at.us")->version;
  Ship(*mx_, us_.get());
  EXPECT_EQ(us_->GetTag("made.at.us")->version, at_us);
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{5, 5}, {6, 6}}));

  // us deletes the tag and makes it again; br has the delete but not the
  // new definition when it pulls mx: mx restates the new definition too.
  ASSERT_TRUE(us_->DeleteTag("made.at.us").ok());
  const uint64_t deleted_at = us_->OwnHeadSequence();
  ASSERT_EQ(Tag(us_.get(), "made.at.us"), t);
  Ship(*us_, mx_.get());
  for (const auto& [seq, bytes] : OwnEntries(*us_, br->AppliedSequence("us") + 1)) {
    if (seq > deleted_at) break;
    ASSERT_TRUE(br->ApplyReplicated("us", seq, bytes).ok());
  }
  ASSERT_FALSE(br->GetTag("made.at.us").ok());
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{7, 7}}).ok());
  Ship(*mx_, br.get());
  EXPECT_EQ(ReadDoubles(*br, t), (std::map<int64_t, double>{{7, 7}}));
  EXPECT_EQ(br->Stats().samples_of_undefined_tags, 0u);
}

// One own write restates at most 1024 definitions (the entry stays far
// below a puller's message limit); the tags past it are restated by their
// next write. What a third site could not define meanwhile is counted.
TEST_F(StoreReplicationTest, AnOwnWriteRestatesAtMost1024DefinitionsTheRestComeNext) {
  auto br = Open("br", dir_.Sub("br"), {"us", "mx"});
  ASSERT_NE(br, nullptr);
  constexpr int kTags = 1030;
  std::vector<TagId> tags;
  for (int i = 0; i < kTags; ++i) tags.push_back(Tag(us_.get(), absl::StrCat("many.", i)));
  Ship(*us_, mx_.get());
  auto write_all = [&](int64_t ts) {
    WriteInput in;
    for (TagId t : tags) in.series.push_back(testing::DoubleSeries(t, {{ts, 1}}));
    ASSERT_TRUE(mx_->Write(std::move(in)).ok());
  };
  write_all(1);
  Ship(*mx_, br.get());
  EXPECT_EQ(br->Stats().tags, 1024u);
  EXPECT_EQ(br->Stats().samples_of_undefined_tags, uint64_t{kTags - 1024});
  write_all(2);
  Ship(*mx_, br.get());
  EXPECT_EQ(br->Stats().tags, uint64_t{kTags});
  EXPECT_EQ(br->Stats().samples_of_undefined_tags, uint64_t{kTags - 1024}) << "none more";
}

// By default an undefined tag's samples are left out and the cursor passes
// them (a tag of a shard this node does not own that no one could name).
TEST_F(StoreReplicationTest, SamplesOfAnUndefinedTagAreDroppedByDefault) {
  const TagId t = Tag(us_.get(), "not.ours");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  const auto entries = OwnEntries(*us_, 1);
  ASSERT_EQ(entries.size(), 2u);
  ASSERT_TRUE(mx_->AdvanceCursor("us", entries[0].first).ok());
  absl::StatusOr<uint64_t> n = mx_->ApplyReplicated("us", entries[1].first, entries[1].second);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(mx_->AppliedSequence("us"), entries[1].first);
  EXPECT_FALSE(mx_->GetTag("not.ours").ok());
  EXPECT_EQ(mx_->Stats().samples_of_undefined_tags, 1u) << "counted, not silent";
}

// The open of a move announces only the tags its tail brought after the
// announce before the flip (Store::AnnounceTags): by id, the ones still
// here, in one own entry; nothing (no log write) for none.
TEST_F(StoreReplicationTest, AnnouncedTagsByIdReachAPeerAndGoneOnesAreSkipped) {
  auto old_owner = Open("us", dir_.Sub("old_owner"), {});
  ASSERT_NE(old_owner, nullptr);
  Tag(old_owner.get(), "tailed.a");
  Tag(old_owner.get(), "tailed.b");
  ASSERT_TRUE(
      us_->ApplyRepair({*old_owner->GetTag("tailed.a"), *old_owner->GetTag("tailed.b")}, {}).ok());
  const uint64_t entries = us_->Stats().own_log_entries;
  absl::StatusOr<uint64_t> none = us_->AnnounceTags({});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(us_->Stats().own_log_entries, entries) << "nothing to announce writes nothing";

  const TagId a = engine::TagIdFromName("tailed.a");
  const TagId gone = engine::TagIdFromName("tailed.never");
  absl::StatusOr<uint64_t> announced = us_->AnnounceTags({a, gone});
  ASSERT_TRUE(announced.ok()) << announced.status();
  EXPECT_EQ(*announced, 1u) << "an id no longer here is skipped";
  EXPECT_EQ(us_->Stats().own_log_entries, entries + 1);
  ASSERT_TRUE(WriteDoubles(us_.get(), a, {{1, 7}}).ok());
  Ship(*us_, mx_.get());
  EXPECT_EQ(ReadDoubles(*mx_, a), (std::map<int64_t, double>{{1, 7}}));
  EXPECT_FALSE(mx_->GetTag("tailed.b").ok()) << "only the ids asked for";
}

// Versions have a resolution of one second, so a correction made at the
// origin within the second of the original write carries the same version:
// the origin's log order decides (the later wins), and every node applies
// that log in order. A repair has no such order: a peer still holding the
// original (it had not pulled the correction) offers it with the same
// version. At the origin the own copy wins that tie (its log order is the
// truth); found by ReplicatedModelTest.TwoNodesThatRangeSyncEverythingMatchTheModel,
// where the origin's anti-entropy put the original back for good.
TEST_F(StoreReplicationTest, ARepairNeverRevertsTheOriginsCorrectionOfTheSameSecond) {
  const TagId t = Tag(us_.get(), "fixed");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{10, 1}, {20, 1}}).ok());
  Ship(*us_, mx_.get());                                    // mx holds the originals
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{10, 2}}).ok());  // the same second
  codec::ChunkColumns at_mx;
  ASSERT_TRUE(mx_->ReadRaw(t, 0, 100, 0, &at_mx).ok());
  ASSERT_EQ(at_mx.size(), 2u);
  codec::ChunkColumns at_us;
  ASSERT_TRUE(us_->ReadRaw(t, 0, 100, 0, &at_us).ok());
  ASSERT_EQ(at_us.versions[0], at_mx.versions[0]) << "the correction shares the original's second";
  // us's anti-entropy fetches mx's (older) copy of the bucket.
  SeriesData stale;
  stale.tag = t;
  stale.cols = at_mx;
  auto n = us_->ApplyRepair({*us_->GetTag("fixed")}, {stale});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{10, 2}, {20, 1}}));
  // mx's repair from us takes the origin's copy of the tie.
  SeriesData fresh;
  fresh.tag = t;
  ASSERT_TRUE(us_->ReadRaw(t, 0, 100, 0, &fresh.cols).ok());
  n = mx_->ApplyRepair({*us_->GetTag("fixed")}, {fresh});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{10, 2}, {20, 1}}));
  // A sample of its own that the origin does not hold (lost with a restore
  // from an older backup) it takes back.
  SeriesData lost;
  lost.tag = t;
  lost.cols.Reset(ValueType::kDouble);
  lost.cols.timestamps.push_back(30);
  lost.cols.doubles.push_back(3);
  lost.cols.qualities.push_back(0);
  lost.cols.versions.push_back(at_us.versions[0]);
  n = us_->ApplyRepair({}, {lost});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{10, 2}, {20, 1}, {30, 3}}));
}

// A repair whose fetch ran before this node applied the peer's correction
// of the same second offers the original. With RepairTies::kHeldWins (the
// replicator's choice once the log here is past what the fetch reflects)
// the correction applied from the log stays; kRepairWins would take the
// original back until the next pass.
TEST_F(StoreReplicationTest, AStaleRepairLeavesATieToTheLogAppliedHere) {
  const TagId t = Tag(us_.get(), "fixed");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{10, 1}, {20, 1}}).ok());
  SeriesData stale;  // fetched from us now: before the correction
  stale.tag = t;
  ASSERT_TRUE(us_->ReadRaw(t, 0, 100, 0, &stale.cols).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{10, 2}}).ok());  // the same second
  Ship(*us_, mx_.get());
  ASSERT_EQ(ReadAll(*mx_, t).versions[0], stale.cols.versions[0]) << "not one second";
  auto n = mx_->ApplyRepair({*us_->GetTag("fixed")}, {stale}, Store::RepairTies::kHeldWins);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{10, 2}, {20, 1}}));
  // A sample not held here still comes.
  SeriesData missing = stale;
  missing.cols.timestamps[1] = 30;
  n = mx_->ApplyRepair({}, {missing}, Store::RepairTies::kHeldWins);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{10, 2}, {20, 1}, {30, 1}}));
  // What the tie rule decides without it: the repair applied later wins.
  n = mx_->ApplyRepair({}, {stale}, Store::RepairTies::kRepairWins);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{10, 1}, {20, 1}, {30, 1}}));
}

// DeleteTag at the origin travels in the log; entries written before it that
// arrive after it (another site's late entry) are refused.
TEST_F(StoreReplicationTest, DeleteTravelsInTheLogAndLateEntriesStayOut) {
  const TagId t = Tag(us_.get(), "x");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  Ship(*us_, mx_.get());
  // mx writes to x (its entry reaches us late), then us deletes x.
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{2, 2}}).ok());
  now_ns_ += kSecond;
  ASSERT_TRUE(us_->DeleteTag("x").ok());
  Ship(*us_, mx_.get());
  EXPECT_FALSE(mx_->HasTag("x"));
  Ship(*mx_, us_.get());
  EXPECT_FALSE(us_->HasTag("x"));
  EXPECT_TRUE(Unknown(*us_, t));
  ReopenBoth();
  EXPECT_FALSE(us_->HasTag("x"));
  EXPECT_FALSE(mx_->HasTag("x"));
  EXPECT_TRUE(Unknown(*us_, t));
  EXPECT_TRUE(Unknown(*mx_, t));
  // Created again at mx: the new incarnation reaches us, without x's old
  // or late samples.
  ASSERT_EQ(Tag(mx_.get(), "x"), t);
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{5, 5}}).ok());
  Ship(*mx_, us_.get());
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{5, 5}}));
}

TEST_F(StoreReplicationTest, ReadOwnLogPagesInOrderAndCountsWhatIsLeft) {
  const TagId t = Tag(us_.get(), "t");
  for (int k = 1; k <= 4; ++k) {
    ASSERT_TRUE(WriteDoubles(us_.get(), t, {{k * 10, k}, {k * 10 + 1, k}}).ok());
    now_ns_ += kSecond;
  }
  ASSERT_EQ(us_->OwnHeadSequence(), 5u);
  // One record per page (max_bytes 1): every page continues the last.
  uint64_t next = 1;
  std::vector<uint64_t> seen;
  while (true) {
    OwnLogBatch page;
    ASSERT_TRUE(us_->ReadOwnLog(next, 1, &page).ok());
    EXPECT_FALSE(page.gap);
    EXPECT_EQ(page.head_seq, 5u);
    EXPECT_EQ(page.head_time_ns, now_ns_ - kSecond);  // the newest entry's write time
    if (page.records.empty()) {
      EXPECT_EQ(page.pending_samples, 0u);
      break;
    }
    ASSERT_EQ(page.records.size(), 1u);
    seen.push_back(page.records[0].first);
    // Samples of the entries after this page: 2 per write entry.
    const uint64_t last = page.records[0].first;
    EXPECT_EQ(page.pending_samples, 2 * (5 - std::max<uint64_t>(last, 1))) << last;
    next = last + 1;
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  // From beyond the head: nothing, and no gap.
  OwnLogBatch beyond;
  ASSERT_TRUE(us_->ReadOwnLog(100, 1 << 20, &beyond).ok());
  EXPECT_FALSE(beyond.gap);
  EXPECT_TRUE(beyond.records.empty());
  // WaitForOwnEntry answers at once when the entry exists, and times out
  // (here at once) when none is newer.
  EXPECT_TRUE(us_->WaitForOwnEntry(4, absl::ZeroDuration()));
  EXPECT_FALSE(us_->WaitForOwnEntry(5, absl::ZeroDuration()));
  EXPECT_FALSE(mx_->WaitForOwnEntry(0, absl::ZeroDuration()));
}

// Both sites write the same (tag, timestamp) during a partition: once they
// exchange logs, both keep the value with the higher version (the later
// write by the hybrid clock), whatever the order the entries arrive in.
TEST_F(StoreReplicationTest, ConcurrentWritesOfOneTimestampConverge) {
  const TagId t = Tag(us_.get(), "t");
  Ship(*us_, mx_.get());
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{100, 2}, {200, 2}}).ok());  // now: earlier
  now_ns_ += kSecond;
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{100, 1}}).ok());  // a second later: wins
  ASSERT_TRUE(us_->SealAll().ok());                          // us's own value already in a chunk
  Ship(*mx_, us_.get());
  Ship(*us_, mx_.get());
  const std::map<int64_t, double> want = {{100, 1}, {200, 2}};
  for (Store* store : {us_.get(), mx_.get()}) {
    EXPECT_EQ(ReadDoubles(*store, t), want) << store->options().site;
  }
  // Within one second the site tag decides, the same way at both sites.
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{300, 1}}).ok());
  ASSERT_TRUE(WriteDoubles(mx_.get(), t, {{300, 2}}).ok());
  Ship(*mx_, us_.get());
  Ship(*us_, mx_.get());
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_TRUE(mx_->SealAll().ok());
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
  ExpectSameRollups(Hours(*mx_, t), Hours(*us_, t));
  ReopenBoth();
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
  EXPECT_EQ(ReadAll(*us_, t).size(), 3u);
}

// Late data for an hour both sites sealed already: the peer's rollups of
// that hour follow the shipped entry after its seal.
TEST_F(StoreReplicationTest, LateEntriesUpdateThePeersSealedRollups) {
  const TagId t = Tag(us_.get(), "t");
  std::vector<std::pair<int64_t, double>> hour;
  for (int k = 0; k < 40; ++k) hour.push_back({kHour + k * 60 * kSecond, k});
  ASSERT_TRUE(WriteDoubles(us_.get(), t, hour).ok());
  Ship(*us_, mx_.get());
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_TRUE(mx_->SealAll().ok());
  now_ns_ += kSecond;
  // A correction of one sample and a late one, inside the sealed hour.
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{kHour, 1000}, {kHour + 30 * kSecond, -5}}).ok());
  Ship(*us_, mx_.get());
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_TRUE(mx_->SealAll().ok());
  auto hours = Hours(*mx_, t);
  ASSERT_EQ(hours.size(), 1u);
  EXPECT_EQ(hours[0].second.count, 41u);
  EXPECT_EQ(hours[0].second.max.value, 1000);
  EXPECT_EQ(hours[0].second.min.value, -5);
  ExpectSameRollups(hours, Hours(*us_, t));
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
  ASSERT_TRUE(mx_->CompactOverlaps().ok());
  ExpectSameColumns(ReadAll(*mx_, t), ReadAll(*us_, t));
}

// Both sites create one name with different types during a partition: each
// keeps its own definition, counts the conflict, and does not apply the
// other type's samples (docs/consistency.md, "Known limit").
TEST_F(StoreReplicationTest, CatalogConflictInTheLogKeepsEachSitesDefinition) {
  const TagId t = Tag(us_.get(), "twin", ValueType::kDouble);
  ASSERT_EQ(Tag(mx_.get(), "twin", ValueType::kString), t);  // the id is the name's hash
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  WriteInput in;
  SeriesData s;
  s.tag = t;
  s.cols.Reset(ValueType::kString);
  s.cols.timestamps = {2};
  s.cols.strings = {"two"};
  s.cols.qualities = {0};
  in.series.push_back(std::move(s));
  ASSERT_TRUE(mx_->Write(std::move(in)).ok());
  Ship(*us_, mx_.get());
  Ship(*mx_, us_.get());
  EXPECT_EQ(us_->GetTag("twin")->type, ValueType::kDouble);
  EXPECT_EQ(mx_->GetTag("twin")->type, ValueType::kString);
  EXPECT_EQ(us_->Stats().catalog_conflicts, 1u);
  EXPECT_EQ(mx_->Stats().catalog_conflicts, 1u);
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{1, 1}}));
  codec::ChunkColumns strings = ReadAll(*mx_, t);
  EXPECT_EQ(strings.strings, (std::vector<std::string>{"two"}));
  ReopenBoth();
  EXPECT_EQ(us_->GetTag("twin")->type, ValueType::kDouble);
  EXPECT_EQ(mx_->GetTag("twin")->type, ValueType::kString);
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{1, 1}}));
}

TEST_F(StoreReplicationTest, AClosedStoreRefusesEntriesAndRepairs) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  const auto entries = OwnEntries(*us_, 1);
  ASSERT_TRUE(mx_->Close().ok());
  auto n = mx_->ApplyReplicated("us", entries[0].first, entries[0].second);
  EXPECT_TRUE(absl::IsFailedPrecondition(n.status())) << n.status();
  auto r = mx_->ApplyRepair({*us_->GetTag("t")}, {});
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(mx_->AppliedSequence("us"), 0u);
}

// Repairs and tombstones learned from a peer go through the log like
// writes: a crash right after (no Close, nothing sealed) keeps them.
TEST_F(StoreReplicationTest, RepairsAndTombstonesSurviveACrash) {
  const TagId keep = Tag(us_.get(), "keep");
  const TagId gone = Tag(us_.get(), "gone");
  ASSERT_TRUE(WriteDoubles(us_.get(), keep, {{1, 1}, {2, 2}}).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), gone, {{1, 1}}).ok());
  now_ns_ += kSecond;
  ASSERT_TRUE(us_->DeleteTag("gone").ok());
  SeriesData all;
  all.tag = keep;
  all.cols = ReadAll(*us_, keep);
  auto repaired = mx_->ApplyRepair({*us_->GetTag("keep")}, {all});
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(*repaired, 2u);
  auto dropped = mx_->ApplyTombstones(us_->Tombstones());
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 1u);
  mx_.reset();  // a crash
  mx_ = Open("mx", dir_.Sub("mx"), {"us"});
  ASSERT_NE(mx_, nullptr);
  ExpectSameColumns(ReadAll(*mx_, keep), ReadAll(*us_, keep));
  EXPECT_EQ(mx_->GetTag("keep")->version, us_->GetTag("keep")->version);
  EXPECT_EQ(mx_->Tombstones(), us_->Tombstones());
  EXPECT_FALSE(mx_->HasTag("gone"));
  // Neither is in mx's own log (nothing to ship to us), and the log
  // replay did not count them as entries of us.
  EXPECT_TRUE(OwnEntries(*mx_, 1).empty());
  EXPECT_EQ(mx_->AppliedSequence("us"), 0u);
  // us's log then arrives: the tags' entries are applied or refused as
  // before, and nothing changes.
  Ship(*us_, mx_.get());
  ExpectSameColumns(ReadAll(*mx_, keep), ReadAll(*us_, keep));
  EXPECT_FALSE(mx_->HasTag("gone"));
  EXPECT_TRUE(Unknown(*mx_, gone));
}

// A backup restored into a new dir starts a restore epoch: its own
// sequences skip kRestoreSequenceGap, so writes after the restore never
// reuse numbers the original gave to writes after the backup (which the
// peer applied); the peer applies the new entries.
TEST_F(StoreReplicationTest, RestoredBackupSkipsSequencesAndThePeerAcceptsNewEntries) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{2, 2}}).ok());
  Ship(*us_, mx_.get());
  const uint64_t at_backup = us_->OwnHeadSequence();
  ASSERT_EQ(at_backup, 3u);
  const std::string backup = dir_.Sub("backup");
  ASSERT_TRUE(us_->Backup(backup).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(us_->Backup(backup)));
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(backup) / kRestoreMarkerFile));
  // After the backup: writes the peer applies, then the node is lost.
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{3, 3}}).ok());
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{4, 4}}).ok());
  Ship(*us_, mx_.get());
  const uint64_t before_loss = us_->OwnHeadSequence();
  EXPECT_EQ(mx_->AppliedSequence("us"), before_loss);
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();

  // Restore: open the backup as "us".
  us_ = Open("us", backup, {"mx"});
  ASSERT_NE(us_, nullptr);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(backup) / kRestoreMarkerFile));
  EXPECT_EQ(ReadDoubles(*us_, t), (std::map<int64_t, double>{{1, 1}, {2, 2}}));
  EXPECT_EQ(us_->OwnHeadSequence(), at_backup + kRestoreSequenceGap);
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{5, 5}}).ok());
  const uint64_t first_new = us_->OwnHeadSequence();
  EXPECT_EQ(first_new, at_backup + 1 + kRestoreSequenceGap);
  EXPECT_GT(first_new, before_loss);  // no number is reused
  // The own log reads across the skipped range (not a hole): from 1, and
  // from where the peer stands.
  auto all = OwnEntries(*us_, 1);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[2].first, at_backup);
  EXPECT_EQ(all[3].first, first_new);
  EXPECT_EQ(Ship(*us_, mx_.get()), 1u);
  EXPECT_EQ(mx_->AppliedSequence("us"), first_new);
  EXPECT_EQ(ReadDoubles(*mx_, t),
            (std::map<int64_t, double>{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}}));
  // A second open is not a restore: sequences continue without a new gap.
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", backup, {"mx"});
  ASSERT_NE(us_, nullptr);
  EXPECT_EQ(us_->OwnHeadSequence(), first_new);
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{6, 6}}).ok());
  EXPECT_EQ(us_->OwnHeadSequence(), first_new + 1);
  EXPECT_EQ(Ship(*us_, mx_.get()), 1u);
  EXPECT_EQ(ReadDoubles(*mx_, t),
            (std::map<int64_t, double>{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}}));
  // mx ships back to the restored node as usual.
  const TagId m = Tag(mx_.get(), "m");
  ASSERT_TRUE(WriteDoubles(mx_.get(), m, {{1, 1}}).ok());
  Ship(*mx_, us_.get());
  EXPECT_EQ(ReadDoubles(*us_, m), (std::map<int64_t, double>{{1, 1}}));
}

// The same restore in the steady state: every own entry acked and trimmed
// before the backup. A peer that applied entries the original wrote after
// the backup stands inside the skipped range; no entry it lacks was ever
// trimmed (the range was never used), so ReadOwnLog must not report a gap
// ("True when from_seq was already trimmed"): it returns the new entries.
// A peer inside the sequences a restore skipped, or exactly at the backup's
// position, gets the first new entry with no gap, though the entries before
// the skipped range are trimmed. (ReadOwnLog used to compare from_seq with
// the first entry kept before it looked at the skipped ranges: gap = true,
// and the peer ran a full range sync after every restore.)
TEST_F(StoreReplicationTest, RestoreAfterTrimmingIsNoGapForThePeer) {
  const TagId t = Tag(us_.get(), "t");
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{1, 1}}).ok());
  Ship(*us_, mx_.get());
  us_->SetPeerAcked("mx", us_->OwnHeadSequence());
  ASSERT_TRUE(us_->SealAll().ok());
  ASSERT_EQ(us_->Stats().own_log_entries, 0u);
  const std::string backup = dir_.Sub("backup");
  ASSERT_TRUE(us_->Backup(backup).ok());
  const uint64_t at_backup = us_->OwnHeadSequence() + 1;  // the range starts here
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{3, 3}}).ok());
  Ship(*us_, mx_.get());  // mx now stands inside the range the restore skips
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", backup, {"mx"});
  ASSERT_NE(us_, nullptr);
  ASSERT_TRUE(WriteDoubles(us_.get(), t, {{5, 5}}).ok());
  OwnLogBatch batch;
  ASSERT_TRUE(us_->ReadOwnLog(mx_->AppliedSequence("us") + 1, 1 << 20, &batch).ok());
  EXPECT_FALSE(batch.gap) << "first_available " << batch.first_available;
  ASSERT_EQ(batch.records.size(), 1u);
  EXPECT_EQ(batch.records[0].first, us_->OwnHeadSequence());
  OwnLogBatch at;  // a peer exactly at the backup's position
  ASSERT_TRUE(us_->ReadOwnLog(at_backup, 1 << 20, &at).ok());
  EXPECT_FALSE(at.gap) << "first_available " << at.first_available;
  ASSERT_EQ(at.records.size(), 1u);
  EXPECT_EQ(at.records[0].first, us_->OwnHeadSequence());
  EXPECT_EQ(Ship(*us_, mx_.get()), 1u);
  EXPECT_EQ(ReadDoubles(*mx_, t), (std::map<int64_t, double>{{1, 1}, {3, 3}, {5, 5}}));
}

}  // namespace
}  // namespace historian
