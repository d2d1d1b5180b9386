// The events part (storage/events/, docs/events.md) through the Store's
// public API: the merge of event states (a model check: any order, any
// grouping, duplicates), the log entry's events section, rules (checks,
// replication, last writer wins), and events end to end with a fake rule
// evaluator (the real one is tested on its own, tests/storage/
// rule_evaluator_test.cc): raised once at the home site, shipped to the
// peer, acked at one site and cleared at the other during a partition,
// converged after both logs are shipped, kept across a restart without a
// second raise. Two Stores are wired in process as in
// store_replication_test.cc. Waits are on the event feed (no sleeps).
#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/core/tag_shard.h"
#include "gtest/gtest.h"
#include "storage/commit_log/move_origin.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/version.h"
#include "storage/events/event_record.h"
#include "storage/events/events_merge.h"
#include "storage/events/events_part.h"
#include "storage/events/rule_evaluator.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using events::EventRecord;
using events::RuleKind;
using events::RuleRecord;

constexpr int64_t kSecond = 1000000000;

// --- The merge of event states ---

EventRecord RandomOperand(std::mt19937_64& rng, uint64_t id) {
  EventRecord e;
  e.id = id;
  e.rule_id = 7;
  e.rule = "r";
  e.tag = "us.t";
  switch (rng() % 3) {
    case 0:
      e.raised = true;
      e.raised_ns = 1000 + static_cast<int64_t>(rng() % 3);
      e.value = static_cast<double>(rng() % 4);
      e.late = rng() % 2;
      e.origin_site = rng() % 2 ? "us" : "mx";
      break;
    case 1:
      e.cleared = true;
      e.cleared_ns = 2000 + static_cast<int64_t>(rng() % 3);
      break;
    default:
      e.acked = true;
      e.acked_ns = 3000 + static_cast<int64_t>(rng() % 3);
      e.ack_user = rng() % 2 ? "ana" : "bob";
      e.ack_comment = rng() % 2 ? "seen" : "on it";
  }
  return e;
}

// Folds encoded operands with the column family's merge (left to right).
std::string Fold(const std::vector<std::string>& ops) {
  const std::string key = events::EventKey(1);
  std::string acc = ops[0];
  for (size_t i = 1; i < ops.size(); ++i) acc = events::MergeEventsValue(key, acc, ops[i]);
  return acc;
}

// A random binary grouping of ops[lo, hi).
std::string FoldTree(const std::vector<std::string>& ops, size_t lo, size_t hi,
                     std::mt19937_64& rng) {
  if (hi - lo == 1) return ops[lo];
  const size_t mid = lo + 1 + rng() % (hi - lo - 1);
  return events::MergeEventsValue(events::EventKey(1), FoldTree(ops, lo, mid, rng),
                                  FoldTree(ops, mid, hi, rng));
}

TEST(EventMergeTest, AnyOrderAnyGroupingAndDuplicatesGiveOneState) {
  std::mt19937_64 rng(19);
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    std::vector<std::string> ops;
    const int n = 1 + static_cast<int>(rng() % 7);
    for (int i = 0; i < n; ++i) ops.push_back(events::EncodeEvent(RandomOperand(rng, 1)));
    const std::string expected = Fold(ops);
    // The reference: each fact is set when any operand sets it, with the
    // earliest time; the live raise wins over a late one.
    absl::StatusOr<EventRecord> m = events::DecodeEvent(expected);
    ASSERT_TRUE(m.ok());
    bool raised = false, cleared = false, acked = false, live = false;
    int64_t first_clear = INT64_MAX, first_ack = INT64_MAX;
    for (const std::string& op : ops) {
      EventRecord e = *events::DecodeEvent(op);
      raised |= e.raised;
      cleared |= e.cleared;
      acked |= e.acked;
      if (e.raised && !e.late) live = true;
      if (e.cleared) first_clear = std::min(first_clear, e.cleared_ns);
      if (e.acked) first_ack = std::min(first_ack, e.acked_ns);
    }
    EXPECT_EQ(m->raised, raised);
    EXPECT_EQ(m->cleared, cleared);
    EXPECT_EQ(m->acked, acked);
    if (raised) {
      EXPECT_EQ(m->late, !live);
    }
    if (cleared) {
      EXPECT_EQ(m->cleared_ns, first_clear);
    }
    if (acked) {
      EXPECT_EQ(m->acked_ns, first_ack);
    }
    for (int shuffle = 0; shuffle < 10; ++shuffle) {
      std::vector<std::string> again = ops;
      std::shuffle(again.begin(), again.end(), rng);
      again.push_back(again[rng() % again.size()]);  // a duplicate (a re-shipped entry)
      EXPECT_EQ(Fold(again), expected);
      EXPECT_EQ(FoldTree(again, 0, again.size(), rng), expected);
    }
  }
}

TEST(EventMergeTest, RulesAreLastWriterWins) {
  RuleRecord a;
  a.name = "hot";
  a.version = 5;
  a.tag = "us.t";
  RuleRecord b = a;
  b.version = 7;
  b.deleted = true;
  const std::string key = events::RuleKey("hot");
  const std::string ea = events::EncodeRule(a), eb = events::EncodeRule(b);
  EXPECT_EQ(events::MergeEventsValue(key, ea, eb), eb);
  EXPECT_EQ(events::MergeEventsValue(key, eb, ea), eb);
}

TEST(EventMergeTest, EventIdsAreStableAndParse) {
  const uint64_t id = events::EventId(events::RuleId("hot"), "us.line1.temp", 1700000000);
  EXPECT_EQ(id, events::EventId(events::RuleId("hot"), "us.line1.temp", 1700000000));
  EXPECT_NE(id, events::EventId(events::RuleId("hot"), "us.line1.temp", 1700000001));
  absl::StatusOr<uint64_t> parsed = events::ParseEventId(events::EventIdToString(id));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, id);
  EXPECT_FALSE(events::ParseEventId("xyz").ok());
  // The documented hash (ids are stored and computed at both sites, so
  // they never change across builds): FNV-1a 64 over BigEndian(rule id) +
  // tag + '\0' + BigEndian(raise time).
  auto reference = [](uint64_t rule, std::string_view tag, int64_t t) {
    std::string buf;
    for (int i = 7; i >= 0; --i) buf.push_back(static_cast<char>(rule >> (8 * i)));
    buf.append(tag);
    buf.push_back('\0');
    for (int i = 7; i >= 0; --i)
      buf.push_back(static_cast<char>(static_cast<uint64_t>(t) >> (8 * i)));
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : buf) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
  };
  for (int64_t t : {int64_t{0}, int64_t{1700000000}, int64_t{-5}, INT64_MAX}) {
    EXPECT_EQ(events::EventId(events::RuleId("hot"), "us.line1.temp", t),
              reference(events::RuleId("hot"), "us.line1.temp", t));
    EXPECT_EQ(events::EventId(7, "", t), reference(7, "", t));
  }
}

TEST(EventLogEntryTest, EventWritesRoundTripAndOtherEntriesKeepTheirFormat) {
  engine::LogEntry entry;
  entry.version = 42;
  entry.event_writes.push_back({events::EventKey(9), "abc"});
  entry.event_writes.push_back({events::RuleKey("hot"), std::string("\0x", 2)});
  std::string bytes;
  engine::EncodeLogEntry(entry, &bytes);
  EXPECT_EQ(bytes[0], 5);
  engine::LogEntry back;
  ASSERT_TRUE(engine::DecodeLogEntry(bytes, &back).ok());
  EXPECT_EQ(back.version, 42u);
  EXPECT_EQ(back.event_writes, entry.event_writes);
  EXPECT_TRUE(back.tombstones.empty());
  // Truncated: DataLoss, never a partial entry taken as whole.
  EXPECT_FALSE(engine::DecodeLogEntry(bytes.substr(0, bytes.size() - 1), &back).ok());
  engine::LogEntry plain;
  plain.version = 1;
  std::string plain_bytes;
  engine::EncodeLogEntry(plain, &plain_bytes);
  EXPECT_EQ(plain_bytes[0], 3);
}

// --- A fake evaluator: high limit rules only, raise above the limit,
// clear at or below limit - deadband; samples older than the newest seen
// are ignored. Its state (active alarms, newest times) round-trips.
class FakeEvaluator : public events::RuleEvaluator {
 public:
  explicit FakeEvaluator(std::string site) : site_(std::move(site)) {}
  absl::Status SetRules(std::vector<events::RuleSpec> rules) override {
    rules_.clear();
    for (auto& r : rules) {
      if (r.home_site == site_ && r.kind == RuleKind::kHigh) rules_.push_back(std::move(r));
    }
    return absl::OkStatus();
  }
  absl::Status AddRules(std::vector<events::RuleSpec> rules) override {
    for (auto& r : rules) {
      if (r.home_site == site_ && r.kind == RuleKind::kHigh) rules_.push_back(std::move(r));
    }
    return absl::OkStatus();
  }
  bool Watches(std::string_view tag) const override {
    return std::any_of(rules_.begin(), rules_.end(), [&](const auto& r) { return r.tag == tag; });
  }
  void OnSamples(absl::Span<const events::SampleView> samples,
                 std::vector<events::Transition>* out) override {
    for (const events::SampleView& s : samples) {
      for (const events::RuleSpec& r : rules_) {
        if (r.tag != s.tag) continue;
        const std::string key = absl::StrCat(r.rule_id, "|", r.tag);
        int64_t& newest = newest_[key];
        if (s.ts_ns < newest) continue;
        newest = s.ts_ns;
        const bool active = active_.contains(key);
        if (!active && s.value > r.limit) {
          active_.insert(key);
          out->push_back({r.rule_id, r.tag, events::Transition::Kind::kRaised, s.ts_ns, s.value});
        } else if (active && s.value <= r.limit - r.deadband) {
          active_.erase(key);
          out->push_back({r.rule_id, r.tag, events::Transition::Kind::kCleared, s.ts_ns, s.value});
        }
      }
    }
  }
  void OnTimer(int64_t, std::vector<events::Transition>*) override {}
  int64_t NextDeadlineNs() const override { return INT64_MAX; }
  // As the real one: a resolve keeps the state of a (rule, tag) it still
  // holds, so only alarms of rules or tags gone are cleared.
  absl::flat_hash_set<uint64_t> ActiveRuleIds() const override {
    absl::flat_hash_set<uint64_t> ids;
    for (const events::RuleSpec& r : rules_) {
      if (active_.contains(absl::StrCat(r.rule_id, "|", r.tag))) ids.insert(r.rule_id);
    }
    return ids;
  }
  std::string SaveState() const override {
    std::string out;
    for (const auto& [key, ts] : newest_) {
      absl::StrAppend(&out, key, "=", ts, active_.contains(key) ? "!" : "", ";");
    }
    return out;
  }
  absl::Status LoadState(std::string_view state) override {
    std::vector<std::string> parts = absl::StrSplit(std::string(state), ';', absl::SkipEmpty());
    for (const std::string& part : parts) {
      const size_t eq = part.find('=');
      std::string key(part.substr(0, eq));
      std::string_view ts = std::string_view(part).substr(eq + 1);
      if (!ts.empty() && ts.back() == '!') {
        active_.insert(key);
        ts.remove_suffix(1);
      }
      newest_[key] = std::stoll(std::string(ts));
    }
    return absl::OkStatus();
  }

 private:
  const std::string site_;
  std::vector<events::RuleSpec> rules_;
  std::map<std::string, int64_t> newest_;
  std::set<std::string> active_;
};

class StoreEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    us_ = Open("us", {"mx"});
    mx_ = Open("mx", {"us"});
    ASSERT_NE(us_, nullptr);
    ASSERT_NE(mx_, nullptr);
  }

  std::unique_ptr<Store> Open(const std::string& site, std::vector<std::string> peers,
                              size_t feed_capacity = 65536) {
    StoreOptions o;
    o.event_feed_capacity = feed_capacity;
    o.path = dir_.Sub(site);
    o.site = site;
    o.peers = std::move(peers);
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    o.rule_max_tags = 2;
    o.max_rules = 4;
    o.now_ns = [this] { return now_ns_; };
    o.rule_evaluator = [](const std::string& s) { return std::make_unique<FakeEvaluator>(s); };
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  TagId Tag(Store* store, const std::string& name, std::optional<double> eng_high = {},
            ValueType type = ValueType::kDouble) {
    engine::TagInfo info;
    info.name = name;
    info.type = type;
    info.eng_high = eng_high;
    auto t = store->CreateTag(info);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->id : 0;
  }

  void Write(Store* store, TagId tag, int64_t ts, double v) {
    WriteInput in;
    engine::SeriesData s;
    s.tag = tag;
    s.cols.Reset(ValueType::kDouble);
    s.cols.timestamps.push_back(ts);
    s.cols.doubles.push_back(v);
    s.cols.qualities.push_back(0);
    in.series.push_back(std::move(s));
    auto r = store->Write(std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  RuleRecord HighRule(const std::string& name, const std::string& tag,
                      std::optional<double> limit) {
    RuleRecord r;
    r.name = name;
    r.kind = RuleKind::kHigh;
    r.tag = tag;
    r.limit = limit;
    r.deadband = 2;
    return r;
  }

  std::vector<EventRecord> Events(const Store& store, bool active_only = false) {
    events::EventFilter f;
    f.active_only = active_only;
    auto l = store.ListEvents(f);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *l : std::vector<EventRecord>{};
  }

  // Waits on the event feed (no sleeps) until `done` holds, at most 60 s.
  bool Await(const Store& store, const std::function<bool(const std::vector<EventRecord>&)>& done) {
    uint64_t pos = 0;
    for (int i = 0; i < 60; ++i) {
      if (done(Events(store))) return true;
      pos = store.WaitEventChanges(pos, absl::Seconds(1)).next;
    }
    return done(Events(store));
  }

  static void Ship(const Store& from, Store* to) {
    OwnLogBatch batch;
    const std::string& origin = from.options().site;
    ASSERT_TRUE(from.ReadOwnLog(to->AppliedSequence(origin) + 1, size_t{1} << 30, &batch).ok());
    for (const auto& [seq, bytes] : batch.records) {
      absl::StatusOr<uint64_t> n = to->ApplyReplicated(origin, seq, bytes);
      ASSERT_TRUE(n.ok()) << n.status();
    }
  }

  testing::TempDir dir_;
  int64_t now_ns_ = int64_t{1700000000} * kSecond;
  std::unique_ptr<Store> us_, mx_;
};

TEST_F(StoreEventsTest, RulesAreCheckedAgainstTheCatalog) {
  Tag(us_.get(), "us.a", 100);
  Tag(us_.get(), "us.b");
  Tag(us_.get(), "us.c");
  Tag(us_.get(), "us.s", {}, ValueType::kString);
  // A limit from the tag's eng range.
  absl::StatusOr<RuleRecord> r = us_->PutRule(HighRule("a_high", "us.a", {}), true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->version, 0u);
  EXPECT_TRUE(absl::IsAlreadyExists(us_->PutRule(HighRule("a_high", "us.a", 5), true).status()));
  // No eng range to default to.
  absl::Status s = us_->PutRule(HighRule("b_high", "us.b", {}), true).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("eng_high"), std::string::npos) << s;
  s = us_->PutRule(HighRule("x", "us.nope", 1), true).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("unknown tag 'us.nope'"), std::string::npos) << s;
  s = us_->PutRule(HighRule("x", "us.s", 1), true).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("holds strings"), std::string::npos) << s;
  s = us_->PutRule(HighRule("x", "us.*", 1), true).status();  // 4 tags > rule_max_tags 2
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("rule_max_tags"), std::string::npos) << s;
  s = us_->PutRule(HighRule("x", "zz.*", 1), true).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  s = us_->PutRule(HighRule("bad name", "us.a", 1), true).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  RuleRecord stale;
  stale.name = "stale";
  stale.kind = RuleKind::kStale;
  stale.tag = "us.a";
  s = us_->PutRule(stale, true).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("stale_after_ns"), std::string::npos) << s;
  // Update and delete.
  EXPECT_TRUE(absl::IsNotFound(us_->PutRule(HighRule("nope", "us.a", 1), false).status()));
  ASSERT_TRUE(us_->PutRule(HighRule("a_high", "us.a", 50), false).ok());
  ASSERT_EQ(us_->ListRules().size(), 1u);
  EXPECT_EQ(us_->ListRules()[0].limit, 50);
  // The rule count limit (max_rules 4).
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(us_->PutRule(HighRule(absl::StrCat("r", i), "us.b", 1), true).ok());
  s = us_->PutRule(HighRule("r9", "us.b", 1), true).status();
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  ASSERT_TRUE(us_->DeleteRule("r0").ok());
  EXPECT_TRUE(absl::IsNotFound(us_->DeleteRule("r0")));
  EXPECT_EQ(us_->ListRules().size(), 3u);
}

TEST_F(StoreEventsTest, RulesReplicateAndDeletesWin) {
  Tag(us_.get(), "us.a", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.a", 10), true).ok());
  Ship(*us_, mx_.get());
  ASSERT_EQ(mx_->ListRules().size(), 1u);
  EXPECT_EQ(mx_->ListRules()[0].limit, 10);
  // Updated at mx (a later version), deleted at us after: the delete wins
  // at both, whatever order the entries arrive in.
  ASSERT_TRUE(mx_->PutRule(HighRule("hot", "us.a", 20), false).ok());
  now_ns_ += kSecond;
  ASSERT_TRUE(us_->DeleteRule("hot").ok());
  Ship(*mx_, us_.get());
  Ship(*us_, mx_.get());
  EXPECT_TRUE(us_->ListRules().empty());
  EXPECT_TRUE(mx_->ListRules().empty());
  // And after a restart.
  ASSERT_TRUE(mx_->Close().ok());
  mx_.reset();
  mx_ = Open("mx", {"us"});
  EXPECT_TRUE(mx_->ListRules().empty());
}

TEST_F(StoreEventsTest, RaisedOnceAtHomeAckedAndClearedDuringPartitionConverge) {
  const TagId t = Tag(us_.get(), "us.line1.temp", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.line1.temp", 50), true).ok());
  Ship(*us_, mx_.get());  // the tag and the rule
  Write(us_.get(), t, 1000 * kSecond, 20);
  Write(us_.get(), t, 1001 * kSecond, 60);  // raise
  Write(us_.get(), t, 1002 * kSecond, 49);  // within the deadband: no clear
  Write(us_.get(), t, 1003 * kSecond, 70);  // still active: no second raise
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1; }));
  std::vector<EventRecord> ev = Events(*us_, /*active_only=*/true);
  ASSERT_EQ(ev.size(), 1u);
  const EventRecord raised = ev[0];
  EXPECT_EQ(raised.id, events::EventId(events::RuleId("hot"), "us.line1.temp", 1001 * kSecond));
  EXPECT_EQ(raised.value, 60);
  EXPECT_EQ(raised.origin_site, "us");
  EXPECT_FALSE(raised.late);
  Ship(*us_, mx_.get());  // samples and the event
  ASSERT_EQ(Events(*mx_).size(), 1u);
  EXPECT_TRUE(Events(*mx_)[0].active());
  // mx evaluates nothing of us's tags (the rule's home is us): no event of its own.
  // Partition: acked at mx, cleared at us.
  now_ns_ += 10 * kSecond;
  absl::StatusOr<EventRecord> acked = mx_->AckEvent(raised.id, "op-mx", "checking the pump");
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_TRUE(acked->acked);
  Write(us_.get(), t, 1004 * kSecond, 40);  // below limit - deadband: clear
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1 && ev[0].cleared; }));
  EXPECT_FALSE(Events(*us_)[0].acked);
  EXPECT_FALSE(Events(*mx_)[0].cleared);
  // Heal: both logs shipped, in either order.
  Ship(*mx_, us_.get());
  Ship(*us_, mx_.get());
  for (Store* s : {us_.get(), mx_.get()}) {
    SCOPED_TRACE(s->options().site);
    std::vector<EventRecord> all = Events(*s);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_TRUE(all[0].acked);
    EXPECT_EQ(all[0].ack_user, "op-mx");
    EXPECT_EQ(all[0].ack_comment, "checking the pump");
    EXPECT_TRUE(all[0].cleared);
    EXPECT_EQ(all[0].cleared_ns, 1004 * kSecond);
    EXPECT_EQ(all[0].value, 60);
    EXPECT_TRUE(Events(*s, /*active_only=*/true).empty());
  }
  EXPECT_EQ(events::EncodeEvent(Events(*us_)[0]), events::EncodeEvent(Events(*mx_)[0]));
  EXPECT_TRUE(absl::IsNotFound(mx_->AckEvent(12345, "x", "").status()));
}

// A site cluster's shard dropped here (its tags moved to another member):
// the rules stop watching its tags, and the alarms raised here on them
// clear instead of staying active with no sample to clear them.
TEST_F(StoreEventsTest, AlarmsOfADroppedShardsTagsClear) {
  constexpr uint32_t kShards = 4;
  const TagId t = Tag(us_.get(), "us.line1.temp", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.*", 50), true).ok());
  Write(us_.get(), t, 1000 * kSecond, 60);  // raise
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1 && ev[0].active(); }));
  ASSERT_TRUE(us_->DropShard(TagShard("us.line1.temp", kShards), kShards).ok());
  EXPECT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1 && ev[0].cleared; }));
  EXPECT_TRUE(Events(*us_, /*active_only=*/true).empty());
}

// Samples a shard move's tail brings (the source's own writes, which the
// source evaluated while it owned the shard) raise nothing at the target;
// the target's own writes do.
TEST_F(StoreEventsTest, AMovesTailIsNotEvaluatedAtTheTarget) {
  const TagId t = Tag(us_.get(), "us.line1.temp", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.*", 50), true).ok());
  engine::LogEntry entry;
  entry.version = engine::MakeVersion(1700000000, engine::SiteTag("us"));
  engine::SeriesData series;
  series.tag = t;
  series.cols.Reset(ValueType::kDouble);
  for (int i = 0; i < 3; ++i) {
    series.cols.timestamps.push_back((1000 + i) * kSecond);
    series.cols.doubles.push_back(60 + i);
    series.cols.qualities.push_back(0);
    series.cols.versions.push_back(entry.version);
  }
  entry.series.push_back(std::move(series));
  std::string bytes;
  engine::EncodeLogEntry(entry, &bytes);
  const std::string origin = MoveTailOrigin(TagShard("us.line1.temp", 4), "b@1");
  absl::StatusOr<uint64_t> n = us_->ApplyReplicated(origin, 1, bytes);
  ASSERT_TRUE(n.ok()) << n.status();
  // A write of this node's own afterwards: its alarm is the only one.
  Write(us_.get(), t, 2000 * kSecond, 70);
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return !ev.empty(); }));
  std::vector<EventRecord> ev = Events(*us_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].raised_ns, 2000 * kSecond);
}

// A site cluster's rule scope (Store::SetRuleScope): a tag out of it (of a
// shard moving in, not open here yet) is not watched, so it raises
// nothing; once in scope (RescopeRules) it is; an alarm raised on a tag
// that leaves the scope clears.
TEST_F(StoreEventsTest, RulesWatchOnlyTheTagsInScope) {
  const TagId in = Tag(us_.get(), "us.in", 100);
  const TagId out = Tag(us_.get(), "us.out", 100);
  std::atomic<bool> out_in_scope{false};
  us_->SetRuleScope([&](std::string_view tag) { return tag != "us.out" || out_in_scope.load(); });
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.*", 50), true).ok());
  Write(us_.get(), out, 1000 * kSecond, 60);
  Write(us_.get(), in, 1000 * kSecond, 60);
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return !ev.empty(); }));
  std::vector<EventRecord> ev = Events(*us_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].tag, "us.in");

  out_in_scope = true;
  us_->RescopeRules();
  Write(us_.get(), out, 1001 * kSecond, 70);
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 2; }));
  out_in_scope = false;
  us_->RescopeRules();
  EXPECT_TRUE(Await(*us_, [](const auto& ev) {
    for (const EventRecord& e : ev) {
      if (e.tag == "us.out" && !e.cleared) return false;
    }
    return true;
  }));
  ev = Events(*us_, /*active_only=*/true);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].tag, "us.in");
  us_->SetRuleScope(nullptr);
}

TEST_F(StoreEventsTest, RestartKeepsTheActiveAlarmWithoutASecondRaise) {
  const TagId t = Tag(us_.get(), "us.p", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.p", 50), true).ok());
  Write(us_.get(), t, 1000 * kSecond, 60);
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1; }));
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", {"mx"});
  ASSERT_NE(us_, nullptr);
  ASSERT_EQ(Events(*us_, true).size(), 1u);
  ASSERT_EQ(us_->ListRules().size(), 1u);
  Write(us_.get(), t, 1001 * kSecond, 80);  // still above: the state says active
  Write(us_.get(), t, 1002 * kSecond, 10);  // clears the event raised before the restart
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1 && ev[0].cleared; }));
  EXPECT_EQ(Events(*us_).size(), 1u);
  EXPECT_EQ(Events(*us_)[0].raised_ns, 1000 * kSecond);
}

// Every change (raise, clear, ack; own and replicated) gets a feed position
// that means the same change after a restart; the feed keeps the newest
// event_feed_capacity changes, on disk too, and a reader behind them is
// told `lagged` (never silently skipped).
TEST_F(StoreEventsTest, EventFeedPositionsAreDurableAndBounded) {
  const TagId t = Tag(us_.get(), "us.p", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.p", 50), true).ok());
  const uint64_t start = us_->EventFeedHead();
  EXPECT_GE(start, 1u);
  Write(us_.get(), t, 1000 * kSecond, 60);  // raise
  Write(us_.get(), t, 1001 * kSecond, 10);  // clear
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1 && ev[0].cleared; }));
  const uint64_t id = Events(*us_)[0].id;
  ASSERT_TRUE(us_->AckEvent(id, "ann", "seen").ok());
  auto changes = [](const Store& s, uint64_t from) {
    std::vector<std::string> out;
    events::EventChanges c = s.WaitEventChanges(from, absl::ZeroDuration());
    for (const events::FeedRecord& r : c.changes) {
      out.push_back(absl::StrCat(r.position, ":", events::EventIdToString(r.event_id), ":",
                                 r.raised ? "r" : "", r.cleared ? "c" : "", r.acked ? "a" : ""));
    }
    if (c.lagged) out.push_back("lagged");
    return out;
  };
  const std::string e = events::EventIdToString(id);
  const std::vector<std::string> want = {absl::StrCat(start, ":", e, ":r"),
                                         absl::StrCat(start + 1, ":", e, ":c"),
                                         absl::StrCat(start + 2, ":", e, ":a")};
  ASSERT_EQ(changes(*us_, start), want);
  EXPECT_EQ(us_->EventFeedHead(), start + 3);
  // The peer's feed has the same changes at its own positions.
  Ship(*us_, mx_.get());
  EXPECT_EQ(changes(*mx_, 0).size(), 3u);

  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", {"mx"});
  ASSERT_NE(us_, nullptr);
  EXPECT_EQ(us_->EventFeedHead(), start + 3);
  EXPECT_EQ(changes(*us_, start), want);
  EXPECT_EQ(changes(*us_, start + 2), std::vector<std::string>{want[2]});
  EXPECT_TRUE(changes(*us_, start + 3).empty());
  Write(us_.get(), t, 1002 * kSecond, 70);  // a second raise, after the restart
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 2; }));
  EXPECT_EQ(us_->EventFeedHead(), start + 4);

  // Bounded: with room for 2 changes, a reader from `start` lagged, before
  // and after a restart, and gets the newest 2.
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", {"mx"}, /*feed_capacity=*/2);
  ASSERT_NE(us_, nullptr);
  Write(us_.get(), t, 1003 * kSecond, 10);  // clear: the 5th change
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 2 && ev[0].cleared; }));
  std::vector<std::string> got = changes(*us_, start);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.back(), "lagged");
  EXPECT_TRUE(absl::StartsWith(got[0], absl::StrCat(start + 3, ":")));
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", {"mx"}, /*feed_capacity=*/2);
  ASSERT_NE(us_, nullptr);
  EXPECT_EQ(changes(*us_, start), got);
  EXPECT_EQ(changes(*us_, start + 3).back(),
            absl::StrCat(start + 4, ":", events::EventIdToString(Events(*us_)[0].id), ":c"));
  EXPECT_EQ(changes(*us_, start + 3).size(), 2u);  // not lagged from there
}

// A feed record holds all the event changes of one log entry (one memtable
// insert per entry): its changes take consecutive positions, and trimming
// (of whole records) never drops a change still within the capacity, nor
// does a restart, however the entries' sizes fall across the capacity.
TEST_F(StoreEventsTest, FeedOfMultiChangeEntriesKeepsEveryChangeWithinTheCapacity) {
  constexpr size_t kCapacity = 7;  // trims by ranges of one record
  ASSERT_TRUE(mx_->Close().ok());
  mx_.reset();
  mx_ = Open("mx", {"us"}, kCapacity);
  ASSERT_NE(mx_, nullptr);
  const uint64_t start = mx_->EventFeedHead();
  uint64_t seq = mx_->AppliedSequence("us");
  std::vector<uint64_t> ids;  // the changes in feed order
  auto apply = [&](size_t changes) {
    engine::LogEntry entry;
    entry.version = 100 + seq;
    for (size_t k = 0; k < changes; ++k) {
      EventRecord e;
      e.id = 5000 + ids.size();
      e.rule_id = 7;
      e.rule = "r";
      e.tag = "us.t";
      e.raised = true;
      e.raised_ns = static_cast<int64_t>(e.id) * kSecond;
      e.origin_site = "us";
      entry.event_writes.push_back({events::EventKey(e.id), events::EncodeEvent(e)});
      ids.push_back(e.id);
    }
    std::string bytes;
    engine::EncodeLogEntry(entry, &bytes);
    absl::StatusOr<uint64_t> n = mx_->ApplyReplicated("us", ++seq, bytes);
    ASSERT_TRUE(n.ok()) << n.status();
  };
  auto check = [&](const std::string& when) {
    SCOPED_TRACE(when);
    events::EventChanges c = mx_->WaitEventChanges(start, absl::ZeroDuration());
    EXPECT_EQ(c.next, start + ids.size());
    EXPECT_EQ(c.lagged, ids.size() > kCapacity);
    const size_t kept = std::min(ids.size(), kCapacity);
    ASSERT_EQ(c.changes.size(), kept);
    for (size_t i = 0; i < kept; ++i) {
      const size_t k = ids.size() - kept + i;
      EXPECT_EQ(c.changes[i].position, start + k);
      EXPECT_EQ(c.changes[i].event_id, ids[k]);
      EXPECT_TRUE(c.changes[i].raised && !c.changes[i].cleared && !c.changes[i].acked);
    }
  };
  auto restart = [&] {
    ASSERT_TRUE(mx_->Close().ok());
    mx_.reset();
    mx_ = Open("mx", {"us"}, kCapacity);
    ASSERT_NE(mx_, nullptr);
  };
  for (size_t changes : {3, 2, 4, 1, 3, 5, 2}) {
    apply(changes);
    check(absl::StrCat("after an entry of ", changes));
    restart();
    check(absl::StrCat("after an entry of ", changes, " and a restart"));
  }
}

// A raise and its clear from one applied block are stored as one merge
// operand (one memtable insert), and the feed still has both changes, in
// order; the peer's feed too.
TEST_F(StoreEventsTest, RaiseAndClearInOneBlockAreOneOperandAndTwoFeedChanges) {
  const TagId t = Tag(us_.get(), "us.q", 100);
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.q", 50), true).ok());
  const uint64_t start = us_->EventFeedHead();
  WriteInput in;
  engine::SeriesData s;
  s.tag = t;
  s.cols.Reset(ValueType::kDouble);
  for (auto [ts, v] : {std::pair<int64_t, double>{1000, 60}, {1001, 10}}) {
    s.cols.timestamps.push_back(ts * kSecond);
    s.cols.doubles.push_back(v);
    s.cols.qualities.push_back(0);
  }
  in.series.push_back(std::move(s));
  ASSERT_TRUE(us_->Write(std::move(in)).ok());
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return ev.size() == 1 && ev[0].cleared; }));
  const uint64_t id = Events(*us_)[0].id;
  EXPECT_EQ(Events(*us_)[0].raised_ns, 1000 * kSecond);
  EXPECT_EQ(Events(*us_)[0].cleared_ns, 1001 * kSecond);
  auto changes = [&](const Store& st, uint64_t from) {
    std::vector<std::string> out;
    for (const events::FeedRecord& r : st.WaitEventChanges(from, absl::ZeroDuration()).changes) {
      out.push_back(absl::StrCat(r.position - from, ":", r.event_id == id ? "e" : "?", ":",
                                 r.raised ? "r" : "", r.cleared ? "c" : "", r.acked ? "a" : ""));
    }
    return out;
  };
  const std::vector<std::string> want = {"0:e:r", "1:e:c"};
  EXPECT_EQ(changes(*us_, start), want);
  // The log holds one operand for the event.
  OwnLogBatch batch;
  ASSERT_TRUE(us_->ReadOwnLog(1, size_t{1} << 30, &batch).ok());
  int operands = 0;
  for (const auto& [seq, bytes] : batch.records) {
    engine::LogEntry entry;
    ASSERT_TRUE(engine::DecodeLogEntry(bytes, &entry).ok());
    for (const engine::EventWrite& w : entry.event_writes)
      operands += w.key == events::EventKey(id);
  }
  EXPECT_EQ(operands, 1);
  const uint64_t mx_start = mx_->EventFeedHead();
  Ship(*us_, mx_.get());
  EXPECT_EQ(changes(*mx_, mx_start), want);
  ASSERT_TRUE(us_->Close().ok());
  us_.reset();
  us_ = Open("us", {"mx"});
  ASSERT_NE(us_, nullptr);
  EXPECT_EQ(changes(*us_, start), want);
}

TEST_F(StoreEventsTest, UnwatchedTagsAndOtherSitesRulesRaiseNothing) {
  const TagId a = Tag(us_.get(), "us.a", 100);
  const TagId b = Tag(us_.get(), "us.b", 100);
  RuleRecord elsewhere = HighRule("elsewhere", "us.b", 50);
  elsewhere.home_site = "mx";
  ASSERT_TRUE(us_->PutRule(elsewhere, true).ok());
  ASSERT_TRUE(us_->PutRule(HighRule("hot", "us.a", 50), true).ok());
  Write(us_.get(), b, 1000 * kSecond, 90);  // evaluated at mx only
  Write(us_.get(), a, 1000 * kSecond, 90);
  ASSERT_TRUE(Await(*us_, [](const auto& ev) { return !ev.empty(); }));
  std::vector<EventRecord> ev = Events(*us_);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].tag, "us.a");
}

}  // namespace
}  // namespace historian
