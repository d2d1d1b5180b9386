// EventsPart (see events_part.h; docs/events.md).
#include "storage/events/events_part.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/core/status_macros.h"
#include "rocksdb/db.h"
#include "storage/catalog/glob.h"
#include "storage/engine/coding.h"
#include "storage/engine/key_format.h"

namespace historian::events {
namespace {

std::unique_ptr<RuleEvaluator> MakeEvaluator(const std::string& site) {
#ifdef HISTORIAN_HAVE_RULE_EVALUATOR
  return RuleEvaluator::Create(site);
#else
  (void)site;
  return nullptr;
#endif
}

// A series as the evaluator sees it; false for strings (no numeric rule).
bool ToColumnsView(const codec::ChunkColumns& c, std::string_view tag, ColumnsView* out) {
  out->tag = tag;
  out->size = c.size();
  out->ts = c.timestamps.data();
  out->qualities = c.qualities.data();
  switch (c.type) {
    case ValueType::kDouble:
      out->doubles = c.doubles.data();
      return true;
    case ValueType::kInt64:
      out->ints = c.ints.data();
      return true;
    case ValueType::kBool:
      out->bools = c.bools.data();
      return true;
    default:
      return false;
  }
}

bool IsGlob(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

}  // namespace

uint64_t RuleInstanceId(std::string_view rule_name, std::string_view rule_tag,
                        std::string_view tag) {
  if (rule_tag == tag) return RuleId(rule_name);
  std::string key(rule_name);
  key.push_back('\0');
  key.append(tag);
  return RuleId(key);
}

bool EventsPart::HasEvaluator() {
#ifdef HISTORIAN_HAVE_RULE_EVALUATOR
  return true;
#else
  return false;
#endif
}

EventsPart::EventsPart(engine::RocksDb* db, Options options)
    : db_(db),
      options_(std::move(options)),
      evaluator_(options_.make_evaluator ? options_.make_evaluator(options_.site)
                                         : MakeEvaluator(options_.site)) {}

EventsPart::~EventsPart() { Stop(); }

absl::Status EventsPart::Load() {
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->events()));
  absl::MutexLock l(&mu_);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    std::string_view value(it->value().data(), it->value().size());
    if (key.empty()) continue;
    if (key[0] == kRuleKeyPrefix) {
      absl::StatusOr<RuleRecord> r = DecodeRule(value);
      if (!r.ok())
        return absl::DataLossError(
            absl::StrCat("events: rule ", std::string(key.substr(1)), ": ", r.status().message()));
      rules_[r->name] = std::move(*r);
    } else if (key[0] == kEventKeyPrefix) {
      absl::StatusOr<EventRecord> e = DecodeEvent(value);
      if (!e.ok())
        return absl::DataLossError(absl::StrCat("events: event: ", e.status().message()));
      if (e->active() && !e->late && e->origin_site == options_.site) {
        active_[{e->rule_id, e->tag}] = e->id;
      }
    }
  }
  if (!it->status().ok()) return engine::FromRocks(it->status(), "load events");
  RETURN_IF_ERROR(LoadFeedLocked());
  for (const auto& [name, r] : rules_) IndexRuleLocked(nullptr, r);
  eval_.rules_dirty = !rules_.empty();
  std::string state;
  rocksdb::Status s =
      db_->db()->Get(rocksdb::ReadOptions(), db_->events(), kEvaluatorStateKey, &state);
  if (s.IsNotFound()) {
    // No key reads as a fresh state: saving a fresh state again is skipped.
    eval_.saved = SaveStateLocked();
    return absl::OkStatus();
  }
  if (!s.ok()) return engine::FromRocks(s, "read evaluator state");
  eval_.saved = state;
  engine::Reader r(state);
  uint64_t n = 0;
  r.GetVarint64(&n);
  for (uint64_t i = 0; r.ok() && i < n; ++i) {
    std::string_view origin;
    uint64_t seq = 0;
    r.GetString(&origin);
    r.GetVarint64(&seq);
    eval_.replay_floor[std::string(origin)] = seq;
  }
  std::string_view blob;
  if (!r.GetString(&blob) || !r.done()) {
    return absl::DataLossError("events: evaluator state: truncated");
  }
  eval_.applied = eval_.replay_floor;
  eval_.loaded = std::string(blob);
  return absl::OkStatus();
}

void EventsPart::SetRulesAtOpen(std::vector<RuleSpec> specs) {
  absl::MutexLock l(&mu_);
  SetRulesLocked(std::move(specs));
  eval_.rules_dirty = false;
  eval_.added_rules.clear();  // the caller resolved every rule
  if (evaluator_ != nullptr && !eval_.loaded.empty()) {
    absl::Status loaded = evaluator_->LoadState(eval_.loaded);
    if (!loaded.ok()) {
      // The alarms raised here are known from the events: a lost state
      // costs the pending on-delays and stale timers, not an alarm.
      options_.logger(LogSeverity::kWarning,
                      absl::StrCat("events: evaluator state not loaded: ", loaded.message()));
      eval_.replay_floor.clear();
    }
  }
  eval_.loaded.clear();
  // The state is saved every few seconds, not with each stored transition:
  // the stored events say which alarms raised here are active.
  if (evaluator_ != nullptr) {
    absl::flat_hash_set<uint64_t> active;
    for (const auto& [key, event] : active_) {
      auto name = index_.names.find(key.first);
      if (name == index_.names.end()) continue;
      auto rule = rules_.find(name->second);
      if (rule == rules_.end()) continue;
      active.insert(RuleInstanceId(rule->first, rule->second.tag, key.second));
    }
    evaluator_->MatchActive(active);
  }
}

void EventsPart::Start(EventsHooks hooks) {
  hooks_ = std::move(hooks);
  thread_ = std::thread([this] { Run(); });
}

void EventsPart::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (eval_.stop) return;
    eval_.stop = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status EventsPart::LoadFeedLocked() {
  // At most feed_capacity + kFeedTrimStep changes plus one entry's
  // (PrepareEntry deletes the older records a range at a time): the
  // records whose every change is beyond the capacity go now.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->events()));
  const std::string prefix(1, kFeedKeyPrefix);
  std::vector<FeedRecord> loaded;
  feed_.changes.clear();
  feed_.record_starts.clear();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const size_t before = loaded.size();
    RETURN_IF_ERROR(DecodeFeedRecords(std::string_view(it->key().data(), it->key().size()),
                                      std::string_view(it->value().data(), it->value().size()),
                                      &loaded));
    feed_.record_starts.push_back(loaded[before].position);
  }
  if (!it->status().ok()) return engine::FromRocks(it->status(), "load event feed");
  feed_.changes.assign(loaded.begin(), loaded.end());
  // More only when the capacity was lowered since they were written, or a
  // range was not due yet. A record partly beyond stays on disk; readers
  // see the same changes either way (the memory keeps the newest).
  while (feed_.changes.size() > options_.feed_capacity) feed_.changes.pop_front();
  rocksdb::WriteBatch stale;
  const uint64_t keep_from = feed_.changes.empty() ? 0 : feed_.changes.front().position;
  // A record wholly below keep_from: the next record starts at or below it.
  while (feed_.record_starts.size() > 1 && feed_.record_starts[1] <= keep_from) {
    stale.Delete(db_->events(), FeedKey(feed_.record_starts.front()));
    feed_.record_starts.pop_front();
  }
  if (stale.Count() > 0) {
    RETURN_IF_ERROR(
        engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &stale), "trim event feed"));
  }
  if (!feed_.changes.empty()) {
    feed_.next = feed_.changes.back().position + 1;
    // Records at or below next - 1 - capacity were deleted as newer ones came.
    if (feed_.next > options_.feed_capacity + 1) {
      feed_.lost_below = feed_.next - options_.feed_capacity;
    }
  }
  feed_.next_prepared = feed_.next;
  feed_.trimmed_below = feed_.record_starts.empty() ? feed_.next : feed_.record_starts.front();
  return absl::OkStatus();
}

uint64_t EventsPart::PrepareEntry(const engine::LogEntry& entry, rocksdb::WriteBatch* batch) {
  // One feed record for all the entry's event changes (one memtable insert
  // per entry, not per change: that insert was a third of what a raising
  // rule cost ingest).
  std::string changes;
  size_t n = 0;
  for (const engine::EventWrite& w : entry.event_writes) {
    // Only events and rules travel; local state keys never do.
    if (w.key.empty() || (w.key[0] != kEventKeyPrefix && w.key[0] != kRuleKeyPrefix)) continue;
    batch->Merge(db_->events(), w.key, w.value);
    if (w.key[0] != kEventKeyPrefix || w.key.size() != 9) continue;
    FeedRecord r[3];
    const int k = FeedChangesOf(engine::GetBigEndian64(w.key.data() + 1), w.value, r);
    for (int i = 0; i < k; ++i) AppendFeedChange(r[i], &changes);
    n += k;
  }
  if (n == 0) return 0;
  absl::MutexLock l(&mu_);
  const uint64_t first = feed_.next_prepared;
  feed_.next_prepared += n;
  batch->Put(db_->events(), FeedKey(first), changes);
  feed_.record_starts.push_back(first);
  // Records older than the newest feed_capacity changes go in ranges of
  // about kFeedTrimStep (one range delete, not a point delete per record),
  // whole records only: the range ends at the start of the record that
  // holds the oldest change kept. Until a range is due the disk keeps up to
  // a step (and an entry) more than the capacity; Load trims those, so
  // readers see the same feed either way.
  const uint64_t keep_from = feed_.next_prepared > options_.feed_capacity
                                 ? feed_.next_prepared - options_.feed_capacity
                                 : 1;
  const uint64_t step = std::clamp<uint64_t>(options_.feed_capacity / 16, 1, kFeedTrimStep);
  if (keep_from >= feed_.trimmed_below + step) {
    // The newest record start at or below keep_from (record_starts is
    // sorted; its front is at or above trimmed_below).
    auto end = std::upper_bound(feed_.record_starts.begin(), feed_.record_starts.end(), keep_from);
    const uint64_t until = end == feed_.record_starts.begin() ? feed_.trimmed_below : *(end - 1);
    if (until > feed_.trimmed_below) {
      batch->DeleteRange(db_->events(), FeedKey(feed_.trimmed_below), FeedKey(until));
      feed_.trimmed_below = until;
      while (!feed_.record_starts.empty() && feed_.record_starts.front() < until) {
        feed_.record_starts.pop_front();
      }
    }
  }
  return first;
}

void EventsPart::OnApplied(const engine::LogEntry& entry, uint64_t feed_position) {
  if (entry.event_writes.empty() && entry.catalog_upserts.empty() && entry.tombstones.empty()) {
    return;
  }
  absl::MutexLock l(&mu_);
  bool wake = false;
  // A new tag may match a glob, an eng range change move a limit: only
  // tags a rule covers need a resolve (and make the creator wait for it).
  bool catalog = !entry.tombstones.empty() && !rules_.empty();
  for (const engine::TagInfo& info : entry.catalog_upserts) {
    if (catalog) break;
    catalog = CoveredLocked(info.name);
  }
  if (catalog) {
    eval_.rules_dirty = true;
    ++eval_.rules_gen;
    wake = true;
  }
  for (const engine::EventWrite& w : entry.event_writes) {
    if (w.key.empty()) continue;
    if (w.key[0] == kRuleKeyPrefix) {
      absl::StatusOr<RuleRecord> r = DecodeRule(w.value);
      if (!r.ok()) continue;
      auto it = rules_.find(r->name);
      if (it == rules_.end()) {
        IndexRuleLocked(nullptr, *r);
        if (!eval_.rules_dirty) eval_.added_rules.push_back(r->name);
        rules_.emplace(r->name, std::move(*r));
      } else {
        const RuleRecord old = it->second;
        it->second = NewerRule(it->second, *r);
        IndexRuleLocked(&old, it->second);
        eval_.rules_dirty = true;
      }
      ++eval_.rules_gen;
      ++rule_changes_;
      wake = true;
    } else if (w.key[0] == kEventKeyPrefix && w.key.size() == 9 && feed_position != 0) {
      // The same changes PrepareEntry wrote at these positions.
      FeedRecord r[3];
      const int k = FeedChangesOf(engine::GetBigEndian64(w.key.data() + 1), w.value, r);
      for (int i = 0; i < k; ++i) {
        r[i].position = feed_position++;
        feed_.next = r[i].position + 1;
        feed_.changes.push_back(r[i]);
        if (feed_.changes.size() > options_.feed_capacity) {
          feed_.lost_below = feed_.changes.front().position + 1;
          feed_.changes.pop_front();
        }
      }
      wake = true;
    }
  }
  if (wake) cv_.SignalAll();
}

void EventsPart::OnRuleScopeChanged() {
  absl::MutexLock l(&mu_);
  if (rules_.empty()) return;
  eval_.rules_dirty = true;
  ++eval_.rules_gen;
  cv_.SignalAll();
}

void EventsPart::OnSeries(const std::string& origin, uint64_t seq, TagId id, std::string_view tag,
                          const codec::ChunkColumns& cols) {
  absl::MutexLock l(&mu_);
  if (evaluator_ == nullptr || !watched_.contains(id)) return;
  if (auto f = eval_.replay_floor.find(origin); f != eval_.replay_floor.end() && seq <= f->second) {
    return;  // fed before the restart (the saved state covers it)
  }
  uint64_t& applied = eval_.applied[origin];
  applied = std::max(applied, seq);
  eval_.dirty = true;
  ColumnsView view;
  if (!ToColumnsView(cols, tag, &view)) return;
  const size_t before = pending_.size();
  evaluator_->OnColumns(view, &pending_);
  // New transitions, or a deadline (on-delay, "longer than D", stale) before
  // the events thread's wake-up: wake it.
  if (pending_.size() != before || evaluator_->NextDeadlineNs() < eval_.sleep_until_ns) {
    cv_.SignalAll();
  }
}

void EventsPart::IndexRuleLocked(const RuleRecord* old, const RuleRecord& now) {
  index_.names[RuleId(now.name)] = now.name;
  auto count = [this](const RuleRecord& r, int delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (r.deleted) return;
    index_.live_rules += delta;
    auto& map = IsGlob(r.tag) ? index_.globs : index_.names_watched;
    if ((map[r.tag] += delta) <= 0) map.erase(r.tag);
    if (r.kind == RuleKind::kTwinDeviation) index_.twin_rules += delta;
  };
  if (old != nullptr) count(*old, -1);
  count(now, +1);
}

bool EventsPart::CoveredLocked(std::string_view tag) const {
  // A twin rule also watches its twin (from --twin_map): any tag may be one.
  if (index_.twin_rules > 0) return true;
  if (index_.names_watched.contains(absl::string_view(tag.data(), tag.size()))) return true;
  return std::any_of(index_.globs.begin(), index_.globs.end(),
                     [&](const auto& g) { return GlobMatch(g.first, tag); });
}

std::vector<RuleRecord> EventsPart::Rules(bool include_deleted) const {
  absl::MutexLock l(&mu_);
  std::vector<RuleRecord> out;
  for (const auto& [name, r] : rules_) {
    if (include_deleted || !r.deleted) out.push_back(r);
  }
  return out;
}

std::optional<RuleRecord> EventsPart::FindRule(std::string_view name) const {
  absl::MutexLock l(&mu_);
  auto it = rules_.find(name);
  if (it == rules_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<RuleRecord> EventsPart::GetRule(std::string_view name) const {
  absl::MutexLock l(&mu_);
  auto it = rules_.find(name);
  if (it == rules_.end() || it->second.deleted) {
    return absl::NotFoundError(absl::StrCat("rule '", std::string(name), "' not found"));
  }
  return it->second;
}

uint64_t EventsPart::RuleChanges() const {
  absl::MutexLock l(&mu_);
  return rule_changes_;
}

uint64_t EventsPart::WaitRuleChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (rule_changes_ <= seen && !eval_.stop) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return rule_changes_;
}

size_t EventsPart::LiveRuleCount() const {
  absl::MutexLock l(&mu_);
  return index_.live_rules;
}

absl::StatusOr<EventRecord> EventsPart::GetEvent(uint64_t id) const {
  std::string value;
  rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), db_->events(), EventKey(id), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("event ", EventIdToString(id), " not found"));
  }
  if (!s.ok()) return engine::FromRocks(s, "read event");
  return DecodeEvent(value);
}

absl::StatusOr<std::vector<EventRecord>> EventsPart::ListEvents(const EventFilter& filter) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->events()));
  std::vector<EventRecord> out;
  const std::string prefix(1, kEventKeyPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    absl::StatusOr<EventRecord> e =
        DecodeEvent(std::string_view(it->value().data(), it->value().size()));
    if (!e.ok()) return e.status();
    if (!e->raised) continue;  // an ack that came before its raise
    if (e->raised_ns < filter.from_ns || e->raised_ns >= filter.to_ns) continue;
    if (filter.active_only && !e->active()) continue;
    if (!filter.glob.empty() && !GlobMatch(filter.glob, e->tag)) continue;
    if (!filter.rule.empty() && filter.rule != e->rule) continue;
    out.push_back(std::move(*e));
  }
  if (!it->status().ok()) return engine::FromRocks(it->status(), "list events");
  std::sort(out.begin(), out.end(), [](const EventRecord& a, const EventRecord& b) {
    return std::tie(b.raised_ns, b.id) < std::tie(a.raised_ns, a.id);
  });
  if (out.size() > filter.limit) out.resize(filter.limit);
  return out;
}

absl::Status EventsPart::ForEachRecord(
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->events()));
  std::string canonical;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    const std::string_view value(it->value().data(), it->value().size());
    if (key.empty()) continue;
    if (key[0] == kEventKeyPrefix) {
      absl::StatusOr<EventRecord> e = DecodeEvent(value);
      if (!e.ok()) return e.status();
      canonical = EncodeEvent(*e);
    } else if (key[0] == kRuleKeyPrefix) {
      absl::StatusOr<RuleRecord> r = DecodeRule(value);
      if (!r.ok()) return r.status();
      canonical = EncodeRule(*r);
    } else {
      continue;  // local state ("s/...")
    }
    if (!fn(key, canonical)) break;
  }
  if (!it->status().ok()) return engine::FromRocks(it->status(), "read event records");
  return absl::OkStatus();
}

void EventsPart::AwaitRulesResolved() {
  absl::MutexLock l(&mu_);
  const uint64_t want = eval_.rules_gen;
  while (eval_.resolved_gen < want && !eval_.stop) cv_.Wait(&mu_);
}

uint64_t EventsPart::FeedHead() const {
  absl::MutexLock l(&mu_);
  return feed_.next;
}

EventChanges EventsPart::WaitChanges(uint64_t after, absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (feed_.next <= after && !eval_.stop && !feed_.closed) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  EventChanges c;
  c.closed = feed_.closed;
  c.next = std::max(feed_.next, after);
  c.lagged = after < feed_.lost_below;
  auto from = std::lower_bound(feed_.changes.begin(), feed_.changes.end(), after,
                               [](const FeedRecord& r, uint64_t pos) { return r.position < pos; });
  for (auto it = from; it != feed_.changes.end(); ++it) {
    c.event_ids.push_back(it->event_id);
    c.changes.push_back(*it);
  }
  return c;
}

void EventsPart::CloseFeed() {
  absl::MutexLock l(&mu_);
  feed_.closed = true;
  cv_.SignalAll();
}

std::string EventsPart::SaveStateLocked() const {
  std::string out;
  engine::PutVarint64(eval_.applied.size(), &out);
  for (const auto& [origin, seq] : eval_.applied) {
    engine::PutString(origin, &out);
    engine::PutVarint64(seq, &out);
  }
  engine::PutString(evaluator_ == nullptr ? std::string() : evaluator_->SaveState(), &out);
  return out;
}

absl::Status EventsPart::SaveStateUnlocking(const std::string& state) {
  if (state == eval_.saved) return absl::OkStatus();  // the key holds it already
  mu_.Unlock();
  absl::Status s = PutState(state);
  mu_.Lock();
  if (s.ok()) eval_.saved = state;
  return s;
}

absl::Status EventsPart::PutState(const std::string& state) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return engine::FromRocks(db_->db()->Put(wo, db_->events(), kEvaluatorStateKey, state),
                           "save evaluator state");
}

std::vector<engine::EventWrite> EventsPart::ClearsOfAlarmsNoRuleHoldsLocked(int64_t now_ns) {
  std::vector<engine::EventWrite> out;
  if (evaluator_ == nullptr || active_.empty()) return out;
  const absl::flat_hash_set<uint64_t> held = evaluator_->ActiveRuleIds();
  for (auto it = active_.begin(); it != active_.end();) {
    const auto& [rule_id, tag] = it->first;
    auto name = index_.names.find(rule_id);
    auto rule = name == index_.names.end() ? rules_.end() : rules_.find(name->second);
    if (rule != rules_.end() && !rule->second.deleted &&
        held.contains(RuleInstanceId(rule->first, rule->second.tag, tag))) {
      ++it;
      continue;
    }
    EventRecord e;
    e.id = it->second;
    e.rule_id = rule_id;
    e.rule = name == index_.names.end() ? absl::StrCat(rule_id) : name->second;
    e.tag = tag;
    e.cleared = true;
    e.cleared_ns = now_ns;
    options_.logger(LogSeverity::kInfo,
                    absl::StrCat("events: cleared the alarm of rule '", e.rule, "' on '", tag,
                                 "': the rule no longer holds it (deleted, changed, or the tag "
                                 "left it)"));
    out.push_back({EventKey(e.id), EncodeEvent(e)});
    it = active_.erase(it);
  }
  return out;
}

std::vector<engine::EventWrite> EventsPart::ToWrites(const std::vector<Transition>& ts,
                                                     bool skip_stored) {
  std::vector<EventRecord> merged;             // in order of each event's first change
  absl::flat_hash_map<uint64_t, size_t> slot;  // event id -> its index in merged
  for (const Transition& t : ts) {
    EventRecord e;
    auto rule = index_.rule_of_instance.find(t.rule_id);
    e.rule_id = rule == index_.rule_of_instance.end() ? t.rule_id : rule->second;
    auto name = index_.names.find(e.rule_id);
    e.rule = name == index_.names.end() ? absl::StrCat(e.rule_id) : name->second;
    e.tag = t.tag;
    const ActiveKey key{e.rule_id, t.tag};
    if (t.kind == Transition::Kind::kRaised) {
      e.raised = true;
      e.raised_ns = t.time_ns;
      e.value = t.value;
      e.late = t.late;
      e.origin_site = options_.site;
      e.id = EventId(e.rule_id, t.tag, t.time_ns);
      if (!t.late) active_[key] = e.id;
    } else {
      if (t.late) continue;  // a late clear changes no live alarm
      auto it = active_.find(key);
      if (it == active_.end()) continue;  // raised before the rule changed: nothing to clear
      e.id = it->second;
      e.cleared = true;
      e.cleared_ns = t.time_ns;
      active_.erase(it);
    }
    if (skip_stored) {
      // The same id is the same (rule, tag, raise time): stored already
      // when the stored record has the fact (a replayed raise or clear).
      absl::StatusOr<EventRecord> stored = GetEvent(e.id);
      if (stored.ok() && (e.raised ? stored->raised : stored->cleared)) continue;
    }
    // One operand per event: a raise and its clear in one batch (a value
    // that crosses the limit and comes back within one applied block) are
    // merged (the column family's merge, so the stored state is the same)
    // and stored with one memtable insert. The feed still gets a change per
    // fact (FeedChangesOf).
    auto [it, fresh] = slot.try_emplace(e.id, merged.size());
    if (fresh) {
      merged.push_back(std::move(e));
    } else {
      merged[it->second] = MergeEvents(merged[it->second], e);
    }
  }
  std::vector<engine::EventWrite> out;
  out.reserve(merged.size());
  for (const EventRecord& e : merged) out.push_back({EventKey(e.id), EncodeEvent(e)});
  return out;
}

void EventsPart::PrepareSpecsLocked(std::vector<RuleSpec>* specs) {
  for (RuleSpec& s : *specs) {
    // One instance per (rule, tag): the evaluator keys its state by id.
    if (auto name = index_.names.find(s.rule_id); name != index_.names.end()) {
      auto rule = rules_.find(name->second);
      if (rule != rules_.end()) {
        const uint64_t instance = RuleInstanceId(rule->first, rule->second.tag, s.tag);
        index_.rule_of_instance[instance] = s.rule_id;
        s.rule_id = instance;
      }
    }
    if (s.home_site != options_.site) continue;
    watched_.insert(engine::TagIdFromName(s.tag));
    if (!s.twin_tag.empty()) watched_.insert(engine::TagIdFromName(s.twin_tag));
  }
}

bool EventsPart::AddRulesLocked(std::vector<RuleSpec> specs) {
  if (evaluator_ == nullptr) return true;
  PrepareSpecsLocked(&specs);
  absl::Status st = evaluator_->AddRules(std::move(specs));
  watching_.store(!watched_.empty(), std::memory_order_relaxed);
  if (!st.ok()) {
    options_.logger(LogSeverity::kWarning, absl::StrCat("events: new rules not added alone (",
                                                        st.message(), "); resolving every rule"));
    return false;
  }
  return true;
}

void EventsPart::SetRulesLocked(std::vector<RuleSpec> specs) {
  watched_.clear();
  if (evaluator_ != nullptr) {
    PrepareSpecsLocked(&specs);
    absl::Status st = evaluator_->SetRules(std::move(specs));
    if (!st.ok()) {
      options_.logger(LogSeverity::kError, absl::StrCat("events: rules refused: ", st.message()));
    }
  }
  watching_.store(!watched_.empty(), std::memory_order_relaxed);
}

void EventsPart::Run() {
  absl::MutexLock l(&mu_);
  // What is pending now came from the log replay at open: its transitions
  // may be stored already (the saved state is up to an interval older).
  bool replayed = true;
  while (!eval_.stop) {
    if (eval_.rules_dirty) {
      eval_.rules_dirty = false;
      eval_.added_rules.clear();  // every live rule is resolved below
      const uint64_t gen = eval_.rules_gen;
      std::vector<RuleRecord> live;
      for (const auto& [name, r] : rules_) {
        if (!r.deleted) live.push_back(r);
      }
      mu_.Unlock();
      std::vector<RuleSpec> specs = hooks_.resolve(live);
      mu_.Lock();
      SetRulesLocked(std::move(specs));
      eval_.check_active = true;
      eval_.resolved_gen = std::max(eval_.resolved_gen, gen);
      cv_.SignalAll();
      continue;
    }
    if (!eval_.added_rules.empty()) {
      const uint64_t gen = eval_.rules_gen;
      std::vector<RuleRecord> added;
      for (const std::string& name : eval_.added_rules) {
        auto it = rules_.find(name);
        if (it != rules_.end() && !it->second.deleted) added.push_back(it->second);
      }
      eval_.added_rules.clear();
      mu_.Unlock();
      std::vector<RuleSpec> specs = hooks_.resolve(added);
      mu_.Lock();
      // A change meanwhile that needs every rule resolved (one of these
      // updated, a catalog change) takes these in too: the next pass.
      if (eval_.rules_dirty) continue;
      if (!AddRulesLocked(std::move(specs))) {
        eval_.rules_dirty = true;
        continue;
      }
      eval_.resolved_gen = std::max(eval_.resolved_gen, gen);
      cv_.SignalAll();
      continue;
    }
    const int64_t now = options_.now_ns();
    if (!pending_.empty()) {
      // The evaluator's state is not saved with each batch (10,000 rules'
      // state per batch cost more than the events): on the interval below
      // and at Stop. A restart from an older state replays the log above
      // it, and SetRulesAtOpen matches the active alarms to the events.
      std::vector<engine::EventWrite> writes = ToWrites(pending_, replayed);
      replayed = false;
      pending_.clear();
      eval_.dirty = true;
      mu_.Unlock();
      absl::Status s = writes.empty() ? absl::OkStatus() : hooks_.submit(std::move(writes));
      mu_.Lock();
      if (!s.ok()) {
        options_.logger(LogSeverity::kError,
                        absl::StrCat("events: store transitions: ", s.message()));
      }
      continue;
    }
    if (eval_.check_active) {
      eval_.check_active = false;
      std::vector<engine::EventWrite> clears = ClearsOfAlarmsNoRuleHoldsLocked(now);
      if (clears.empty()) continue;
      eval_.dirty = true;
      mu_.Unlock();
      absl::Status s = hooks_.submit(std::move(clears));
      mu_.Lock();
      if (!s.ok()) {
        options_.logger(LogSeverity::kError,
                        absl::StrCat("events: clear alarms no rule holds: ", s.message()));
      }
      continue;
    }
    if (eval_.dirty && now - eval_.last_save_ns >= options_.state_save_interval_ns) {
      eval_.dirty = false;
      eval_.last_save_ns = now;
      absl::Status s = SaveStateUnlocking(SaveStateLocked());
      if (!s.ok()) options_.logger(LogSeverity::kError, std::string(s.message()));
      continue;
    }
    int64_t wake = INT64_MAX;
    if (evaluator_ != nullptr) {
      const int64_t deadline = evaluator_->NextDeadlineNs();
      if (deadline <= now) {
        evaluator_->OnTimer(now, &pending_);
        if (pending_.empty() && evaluator_->NextDeadlineNs() <= now) {
          wake = now + 100'000'000;  // a deadline that did not move: do not spin
        } else {
          continue;
        }
      } else {
        wake = deadline;
      }
    }
    if (eval_.dirty) wake = std::min(wake, eval_.last_save_ns + options_.state_save_interval_ns);
    eval_.sleep_until_ns = wake;
    if (wake == INT64_MAX) {
      cv_.Wait(&mu_);
    } else {
      cv_.WaitWithTimeout(&mu_, absl::Nanoseconds(wake - now));
    }
    eval_.sleep_until_ns = INT64_MIN;  // awake: the loop looks at everything again
  }
  // The last state, so a restart neither raises again nor forgets a timer.
  if (evaluator_ != nullptr && !pending_.empty()) {
    std::vector<engine::EventWrite> writes = ToWrites(pending_, replayed);
    pending_.clear();
    mu_.Unlock();
    if (!writes.empty()) hooks_.submit(std::move(writes)).IgnoreError();
    mu_.Lock();
  }
  SaveStateUnlocking(SaveStateLocked()).IgnoreError();
}

}  // namespace historian::events
