// Store: alarm rules and events (docs/events.md). The part is
// storage/events/events_part.h; here are the steps that need the catalog
// (rule checks, resolving rules into the evaluator's specs) and the log
// (event records travel to the peers as merge operands).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/catalog/glob.h"
#include "storage/store_parts.h"

namespace historian {
namespace {

using events::RuleKind;
using events::RuleRecord;
using events::RuleSpec;

bool IsGlob(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

bool IsLimitKind(RuleKind k) {
  return k == RuleKind::kHigh || k == RuleKind::kHighHigh || k == RuleKind::kLow ||
         k == RuleKind::kLowLow;
}

// The twin of `tag` under "LOCAL=TWIN" (either direction); "" when none.
std::string TwinOf(std::string_view twin_map, std::string_view tag) {
  const size_t eq = twin_map.find('=');
  if (eq == std::string_view::npos) return "";
  const std::string_view a = twin_map.substr(0, eq), b = twin_map.substr(eq + 1);
  if (!a.empty() && tag.starts_with(a)) return std::string(b) + std::string(tag.substr(a.size()));
  if (!b.empty() && tag.starts_with(b)) return std::string(a) + std::string(tag.substr(b.size()));
  return "";
}

absl::Status CheckRuleFields(const RuleRecord& r) {
  if (r.name.empty() || r.name.size() > 128 ||
      std::any_of(r.name.begin(), r.name.end(), [](char c) { return c <= ' ' || c > '~'; })) {
    return absl::InvalidArgumentError(
        "rule name: must be 1..128 printable ASCII characters without spaces");
  }
  if (static_cast<int>(r.kind) < 1 || static_cast<int>(r.kind) > 8) {
    return absl::InvalidArgumentError("rule kind: unknown");
  }
  if (r.tag.empty()) return absl::InvalidArgumentError("rule tag: required (a name or a glob)");
  if (r.limit.has_value() && !std::isfinite(*r.limit)) {
    return absl::InvalidArgumentError("rule limit: must be finite");
  }
  if (!std::isfinite(r.deadband) || r.deadband < 0) {
    return absl::InvalidArgumentError("rule deadband: must be finite and >= 0");
  }
  if (r.on_delay_ns < 0 || r.window_ns < 0 || r.duration_ns < 0) {
    return absl::InvalidArgumentError("rule on_delay/window/duration: must be >= 0");
  }
  if (r.kind == RuleKind::kRateOfChange && (r.window_ns <= 0 || !r.limit.has_value())) {
    return absl::InvalidArgumentError("rate rule: needs a window (> 0) and a limit (per second)");
  }
  if (r.kind == RuleKind::kTwinDeviation && (!r.limit.has_value() || r.home_site.empty())) {
    return absl::InvalidArgumentError(
        "twin_deviation rule: needs a limit (the allowed |X - twin(X)|) and a home_site");
  }
  return absl::OkStatus();
}

}  // namespace

// Where a rule's tags are looked up: this store's catalog, or the tags a
// site cluster's owners reported (PrepareRule's `check.catalog`).
class RuleTagSource {
 public:
  RuleTagSource(const Store& store, const std::map<std::string, engine::TagInfo>* catalog)
      : store_(store), catalog_(catalog) {}

  // The tags rule `r` covers: its tag, or the glob's matches (up to
  // rule_max_tags + 1, so a caller sees the glob is over it).
  std::vector<std::string> Covered(const RuleRecord& r) const {
    if (!IsGlob(r.tag)) return {r.tag};
    std::vector<std::string> names;
    if (catalog_ != nullptr) {
      for (const auto& [name, info] : *catalog_) {
        if (names.size() > store_.options().rule_max_tags) break;
        if (GlobMatch(r.tag, name)) names.push_back(name);
      }
      return names;
    }
    for (auto& [name, id] : store_.MatchTags(r.tag, store_.options().rule_max_tags + 1)) {
      names.push_back(name);
    }
    return names;
  }
  absl::StatusOr<engine::TagInfo> Get(const std::string& name) const {
    if (catalog_ == nullptr) return store_.GetTag(name);
    auto it = catalog_->find(name);
    if (it == catalog_->end()) return absl::NotFoundError(name);
    return it->second;
  }
  bool Has(const std::string& name) const {
    return catalog_ == nullptr ? store_.HasTag(name) : catalog_->contains(name);
  }
  const Store& store() const { return store_; }

 private:
  const Store& store_;
  const std::map<std::string, engine::TagInfo>* const catalog_;
};

// The evaluator's spec of rule `r` on tag `name`; InvalidArgument naming
// what does not fit (PutRule refuses the rule, ResolveRules skips the tag).
static absl::StatusOr<RuleSpec> ResolveRuleTag(const RuleTagSource& tags, const RuleRecord& r,
                                               const std::string& name,
                                               const std::string& twin_map) {
  const Store& store = tags.store();
  absl::StatusOr<engine::TagInfo> info = tags.Get(name);
  if (!info.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("rule tag: unknown tag '", name, "'"));
  }
  if (info->type == ValueType::kString) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rule tag: '", name, "' holds strings; ", std::string(events::RuleKindName(r.kind)),
        " rules need a numeric (double, int64 or bool) tag"));
  }
  RuleSpec s;
  s.rule_id = events::RuleId(r.name);
  s.kind = r.kind;
  s.tag = name;
  s.home_site = !r.home_site.empty()         ? r.home_site
                : !info->origin_site.empty() ? info->origin_site
                                             : store.options().site;
  s.limit = r.limit.value_or(0);
  s.deadband = r.deadband;
  s.on_delay_ns = r.on_delay_ns;
  s.window_ns = r.window_ns;
  s.duration_ns = r.duration_ns;
  s.stale_after_ns = info->stale_after_ns;
  if (IsLimitKind(r.kind) && !r.limit.has_value()) {
    const bool high = r.kind == RuleKind::kHigh || r.kind == RuleKind::kHighHigh;
    const std::optional<double> eng = high ? info->eng_high : info->eng_low;
    if (!eng.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("rule limit: none given and tag '", name,
                                                     "' has no ", high ? "eng_high" : "eng_low",
                                                     " to default to"));
    }
    s.limit = *eng;
  }
  if (r.kind == RuleKind::kStale && s.stale_after_ns <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stale rule: tag '", name, "' has no stale_after_ns (set it with `historian tags`)"));
  }
  if (r.kind == RuleKind::kTwinDeviation) {
    s.twin_tag = TwinOf(twin_map, name);
    if (s.twin_tag.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "twin_deviation rule: tag '", name, "' has no twin under --twin_map '", twin_map, "'"));
    }
    if (!tags.Has(s.twin_tag)) {
      return absl::InvalidArgumentError(
          absl::StrCat("twin_deviation rule: twin tag '", s.twin_tag, "' is unknown"));
    }
  }
  return s;
}

// The evaluator's specs of one rule into *out, every tag it covers fitting
// (PutRule's check).
static absl::Status ResolveRule(const RuleTagSource& tags, const RuleRecord& r,
                                const std::string& twin_map, std::vector<RuleSpec>* out) {
  const std::vector<std::string> names = tags.Covered(r);
  const size_t max_tags = tags.store().options().rule_max_tags;
  if (IsGlob(r.tag) && names.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("rule tag: glob '", r.tag, "' matches no tag"));
  }
  if (names.size() > max_tags) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rule tag: glob '", r.tag, "' matches more than --rule_max_tags=", max_tags,
                     " tags; narrow it"));
  }
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(RuleSpec spec, ResolveRuleTag(tags, r, name, twin_map));
    out->push_back(std::move(spec));
  }
  return absl::OkStatus();
}

void Store::SetRuleScope(std::function<bool(std::string_view tag)> scope) {
  {
    absl::MutexLock l(&rule_scope_mu_);
    rule_scope_ = std::move(scope);
  }
  RescopeRules();
}

void Store::RescopeRules() { events_->OnRuleScopeChanged(); }

std::vector<RuleSpec> Store::ResolveRules(const std::vector<RuleRecord>& rules) const {
  const std::string twin_map = TwinMap().value_or("");
  // Held while the scope runs: SetRuleScope waits until no resolve uses the
  // one it replaces (whose captures may be about to go).
  absl::ReaderMutexLock scope_lock(&rule_scope_mu_);
  const std::function<bool(std::string_view tag)>& scope = rule_scope_;
  const size_t max_tags = options_.rule_max_tags;
  std::vector<RuleSpec> specs;
  for (const RuleRecord& r : rules) {
    const RuleTagSource tags(*this, nullptr);
    std::vector<std::string> names = tags.Covered(r);
    // Each tag on its own: one that does not fit (a tag made later without
    // an eng range, of strings, without a twin) is left out, loudly, and
    // the rule goes on watching the others. A tag not here (deleted, or
    // another member's) is watched once it is.
    std::vector<std::string> unfit;
    if (names.size() > max_tags) {
      unfit.push_back(
          absl::StrCat("glob '", r.tag, "' matches more than --rule_max_tags=", max_tags,
                       ": tags after the first ", max_tags, " by name are not watched"));
      names.resize(max_tags);
    }
    size_t watched = 0;
    for (const std::string& name : names) {
      if (!HasTag(name)) continue;
      if (scope != nullptr && !scope(name)) continue;  // another member's now
      absl::StatusOr<RuleSpec> spec = ResolveRuleTag(tags, r, name, twin_map);
      if (!spec.ok()) {
        unfit.push_back(std::string(spec.status().message()));
        continue;
      }
      specs.push_back(*std::move(spec));
      ++watched;
    }
    if (!unfit.empty()) {
      options_.logger(
          LogSeverity::kWarning,
          absl::StrCat("events: rule '", r.name, "' watches ", watched, " tag(s) of '", r.tag,
                       "'; not watched: ", unfit.front(),
                       unfit.size() > 1 ? absl::StrCat(" (and ", unfit.size() - 1, " more)") : ""));
    }
  }
  return specs;
}

absl::StatusOr<RuleRecord> Store::PrepareRule(RuleRecord rule, const RuleCheck& check) {
  RETURN_IF_ERROR(CheckRuleFields(rule));
  if (check.catalog == nullptr) {
    absl::StatusOr<RuleRecord> existing = events_->GetRule(rule.name);
    if (check.create && existing.ok()) {
      return absl::AlreadyExistsError(absl::StrCat("rule '", rule.name, "' exists"));
    }
    if (!check.create && !existing.ok()) return existing.status();
  }
  if (check.create && events_->LiveRuleCount() >= options_.max_rules) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rules: this node holds the most rules it allows (", options_.max_rules,
                     ", --max_rules); delete some or use globs"));
  }
  std::vector<RuleSpec> specs;
  RETURN_IF_ERROR(
      ResolveRule(RuleTagSource(*this, check.catalog), rule, TwinMap().value_or(""), &specs));
  rule.deleted = false;
  rule.version = StampRuleVersion(rule.name, check.floor);
  return rule;
}

absl::StatusOr<RuleRecord> Store::PrepareRuleDeletion(std::string_view name, Version floor) {
  ASSIGN_OR_RETURN(RuleRecord rule, events_->GetRule(name));
  rule.deleted = true;
  rule.version = StampRuleVersion(rule.name, floor);
  return rule;
}

Version Store::StampRuleVersion(std::string_view name, Version floor) {
  // Above the newest record of the name this node holds too: a record
  // stamped at or below it would lose last-writer-wins where it is held.
  if (std::optional<RuleRecord> held = events_->FindRule(name)) {
    floor = std::max(floor, held->version);
  }
  absl::MutexLock l(&mu_);
  commit_log_->mu().AssertHeld();  // the same mutex
  return NextVersionAbove(floor);
}

absl::Status Store::ApplyRule(const RuleRecord& rule) { return ApplyRules({rule}); }

absl::Status Store::ApplyRules(const std::vector<RuleRecord>& rules) {
  std::vector<engine::EventWrite> writes;
  for (const RuleRecord& rule : rules) {
    // Nothing to write when this node holds it, or a newer one.
    if (std::optional<RuleRecord> held = events_->FindRule(rule.name);
        held.has_value() &&
        events::EncodeRule(events::NewerRule(*held, rule)) == events::EncodeRule(*held)) {
      continue;
    }
    writes.push_back({events::RuleKey(rule.name), events::EncodeRule(rule)});
  }
  if (!writes.empty()) RETURN_IF_ERROR(MergeEventRecords(std::move(writes)).status());
  // Also when nothing was written: a record held already (applied by
  // another call, e.g. the etcd watch) may not be in force yet.
  events_->AwaitRulesResolved();
  return absl::OkStatus();
}

absl::StatusOr<RuleRecord> Store::PutRule(RuleRecord rule, bool create) {
  ASSIGN_OR_RETURN(RuleRecord prepared, PrepareRule(std::move(rule), {.create = create}));
  RETURN_IF_ERROR(ApplyRule(prepared));
  return prepared;
}

absl::Status Store::DeleteRule(std::string_view name) {
  ASSIGN_OR_RETURN(RuleRecord deletion, PrepareRuleDeletion(name, 0));
  return ApplyRule(deletion);
}

std::vector<RuleRecord> Store::ListRules(bool include_deleted) const {
  return events_->Rules(include_deleted);
}

std::optional<RuleRecord> Store::FindRule(std::string_view name) const {
  return events_->FindRule(name);
}

uint64_t Store::RuleChanges() const { return events_->RuleChanges(); }

uint64_t Store::WaitRuleChange(uint64_t seen, absl::Duration timeout) const {
  return events_->WaitRuleChange(seen, timeout);
}

absl::StatusOr<events::EventRecord> Store::AckEvent(uint64_t id, std::string_view user,
                                                    std::string_view comment) {
  ASSIGN_OR_RETURN(events::EventRecord e, events_->GetEvent(id));
  events::EventRecord ack;
  ack.id = e.id;
  ack.rule_id = e.rule_id;
  ack.rule = e.rule;
  ack.tag = e.tag;
  ack.acked = true;
  ack.acked_ns = NowNs();
  ack.ack_user = user;
  ack.ack_comment = comment;
  RETURN_IF_ERROR(SubmitEventWrites({{events::EventKey(id), events::EncodeEvent(ack)}}));
  return events_->GetEvent(id);
}

absl::StatusOr<events::EventRecord> Store::GetEvent(uint64_t id) const {
  return events_->GetEvent(id);
}

absl::StatusOr<std::vector<events::EventRecord>> Store::ListEvents(
    const events::EventFilter& filter) const {
  return events_->ListEvents(filter);
}

uint64_t Store::EventFeedHead() const { return events_->FeedHead(); }

events::EventChanges Store::WaitEventChanges(uint64_t after, absl::Duration timeout) const {
  return events_->WaitChanges(after, timeout);
}

void Store::CloseEventFeed() { events_->CloseFeed(); }

absl::Status Store::ForEachEventRecord(
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  return events_->ForEachRecord(fn);
}

absl::StatusOr<uint64_t> Store::MergeEventRecords(std::vector<engine::EventWrite> records) {
  for (const engine::EventWrite& w : records) {
    const bool ok = !w.key.empty() &&
                    ((w.key[0] == events::kEventKeyPrefix && w.key.size() == 9 &&
                      events::DecodeEvent(w.value).ok()) ||
                     (w.key[0] == events::kRuleKeyPrefix && events::DecodeRule(w.value).ok()));
    if (!ok) {
      return absl::InvalidArgumentError(
          "event records: only rule and event records with valid values can be merged");
    }
  }
  // Entries of at most 512 records (a log entry stays small).
  constexpr size_t kPerEntry = 512;
  for (size_t i = 0; i < records.size(); i += kPerEntry) {
    std::vector<engine::EventWrite> part(
        std::make_move_iterator(records.begin() + static_cast<ptrdiff_t>(i)),
        std::make_move_iterator(records.begin() +
                                static_cast<ptrdiff_t>(std::min(records.size(), i + kPerEntry))));
    RETURN_IF_ERROR(SubmitEventWrites(std::move(part)));
  }
  return records.size();
}

absl::Status Store::SubmitEventWrites(std::vector<engine::EventWrite> writes) {
  PendingWrite w;
  w.origin = options_.site;
  w.assign_seq = true;
  w.entry.event_writes = std::move(writes);
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    w.entry.version = NextVersion();
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  absl::MutexLock l(&mu_);
  commit_log_->mu().AssertHeld();  // the same mutex
  if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
  commit_log_->Submit(&w);
  return w.status;
}

}  // namespace historian
