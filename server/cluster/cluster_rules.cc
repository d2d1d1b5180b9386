#include "server/cluster/cluster_rules.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/logging.h"

namespace historian::cluster {

std::string RulesPrefix(std::string_view site) {
  return absl::StrCat("/historian-rules/", std::string(site), "/");
}

ClusterRules::ClusterRules(Store* store, const EtcdClient* etcd, std::string site)
    : store_(store), etcd_(etcd), site_(std::move(site)), prefix_(RulesPrefix(site_)) {}

ClusterRules::~ClusterRules() { Stop(); }

absl::Status ClusterRules::Start() {
  absl::Status first = LoadAndWatch();
  if (!first.ok()) CountError("reading the site's rules (retrying)", first);
  thread_ = std::thread([this] { Run(); });
  return first;
}

void ClusterRules::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  std::unique_ptr<EtcdWatcher> watcher;
  {
    absl::MutexLock l(&mu_);
    watcher = std::move(watcher_);
  }
  watcher.reset();  // joins its thread, which may wait for mu_
}

absl::StatusOr<std::optional<ClusterRules::Held>> ClusterRules::Get(std::string_view name) const {
  absl::StatusOr<EtcdRange> range = etcd_->Get(prefix_ + std::string(name));
  if (!range.ok()) return range.status();
  if (range->kvs.empty()) return std::nullopt;
  absl::StatusOr<events::RuleRecord> rule = events::DecodeRule(range->kvs[0].value);
  if (!rule.ok()) {
    return absl::DataLossError(absl::StrCat("etcd key ", prefix_, std::string(name),
                                            ": not a rule record: ", rule.status().message()));
  }
  return Held{*std::move(rule), range->kvs[0].mod_revision};
}

absl::StatusOr<int64_t> ClusterRules::Put(const events::RuleRecord& rule,
                                          int64_t mod_revision) const {
  absl::StatusOr<EtcdTxnOutcome> out =
      etcd_->PutIfModRevision(prefix_ + rule.name, events::EncodeRule(rule), mod_revision);
  if (!out.ok()) return out.status();
  if (!out->committed) {
    return absl::AbortedError(absl::StrCat("rule '", rule.name,
                                           "' was changed at the same time by another call at "
                                           "this site; read it again and retry"));
  }
  return out->revision;
}

absl::StatusOr<Version> ClusterRules::Sync(std::string_view name) {
  absl::StatusOr<std::optional<Held>> held = Get(name);
  if (!held.ok()) return held.status();
  if (held->has_value()) {
    {
      absl::MutexLock l(&mu_);
      Known& known = known_[(*held)->rule.name];
      if (known.mod_revision < (*held)->mod_revision) {
        known = {(*held)->rule.version, (*held)->mod_revision};
      }
    }
    // Applied here even when the watch took it: this call returns only
    // once the rule is in force (ApplyRule writes nothing when it is held).
    if (absl::Status s = store_->ApplyRule((*held)->rule); !s.ok()) return s;
  }
  std::optional<events::RuleRecord> now = store_->FindRule(name);
  return now.has_value() ? now->version : Version{0};
}

ClusterRules::Stats ClusterRules::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

absl::Status ClusterRules::LoadAndWatch() {
  absl::StatusOr<EtcdRange> range = etcd_->GetPrefix(prefix_);
  if (!range.ok()) return range.status();
  {
    // Names etcd no longer has (deleted while the watch was down) are
    // forgotten, so this member's records go back to etcd.
    std::set<std::string, std::less<>> present;
    for (const EtcdKeyValue& kv : range->kvs) present.insert(kv.key.substr(prefix_.size()));
    absl::MutexLock l(&mu_);
    for (auto it = known_.begin(); it != known_.end();) {
      if (!present.contains(it->first) && it->second.mod_revision <= range->revision) {
        it = known_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::vector<events::RuleRecord> taken;
  for (const EtcdKeyValue& kv : range->kvs) {
    if (std::optional<events::RuleRecord> rule = Note(kv)) taken.push_back(*std::move(rule));
  }
  // In few log entries and one wait: thousands of rules at a new member.
  if (absl::Status s = store_->ApplyRules(taken); !s.ok()) {
    CountError("applying the site's rules from etcd (retrying)", s);
    absl::MutexLock l(&mu_);
    for (events::RuleRecord& r : taken) unapplied_[r.name] = std::move(r);
  }
  {
    absl::MutexLock l(&mu_);
    watch_failed_ = false;
    recheck_ = true;
  }
  EtcdWatchHandlers handlers;
  handlers.on_events = [this](const std::vector<EtcdEvent>& events) { OnEvents(events); };
  handlers.on_failed = [this](absl::Status why) {
    CountError("the rules watch ended (reading them again)", why);
    absl::MutexLock l(&mu_);
    watch_failed_ = true;
  };
  std::unique_ptr<EtcdWatcher> next =
      etcd_->WatchPrefix(prefix_, range->revision + 1, std::move(handlers));
  std::unique_ptr<EtcdWatcher> old;
  {
    absl::MutexLock l(&mu_);
    old = std::move(watcher_);
    watcher_ = std::move(next);
  }
  old.reset();
  return absl::OkStatus();
}

void ClusterRules::OnEvents(const std::vector<EtcdEvent>& events) {
  for (const EtcdEvent& e : events) {
    if (e.type == EtcdEvent::Type::kPut) {
      Take(e.kv);
      continue;
    }
    // Deleted by hand: forgotten, so the members' records go back (a
    // compare on absence).
    absl::MutexLock l(&mu_);
    auto it = known_.find(std::string_view(e.kv.key).substr(prefix_.size()));
    if (it != known_.end() && it->second.mod_revision < e.kv.mod_revision) known_.erase(it);
  }
  absl::MutexLock l(&mu_);
  recheck_ = true;
}

std::optional<events::RuleRecord> ClusterRules::Note(const EtcdKeyValue& kv) {
  absl::StatusOr<events::RuleRecord> rule = events::DecodeRule(kv.value);
  if (!rule.ok()) {
    CountError(absl::StrCat("etcd key ", kv.key,
                            " holds no rule record; a member's record of the name replaces it"),
               rule.status());
    // Known at version 0: the publisher writes this member's record over it
    // (a compare on this revision), if it holds one.
    absl::MutexLock l(&mu_);
    Known& known = known_[kv.key.substr(prefix_.size())];
    if (known.mod_revision < kv.mod_revision) known = {0, kv.mod_revision};
    return std::nullopt;
  }
  absl::MutexLock l(&mu_);
  Known& known = known_[rule->name];
  if (kv.mod_revision < known.mod_revision) return std::nullopt;  // a newer one was taken
  known = {rule->version, kv.mod_revision};
  unapplied_.erase(rule->name);
  ++stats_.taken;
  return *std::move(rule);
}

void ClusterRules::Take(const EtcdKeyValue& kv) {
  std::optional<events::RuleRecord> rule = Note(kv);
  if (!rule.has_value()) return;
  if (absl::Status s = store_->ApplyRule(*rule); !s.ok()) {
    CountError(absl::StrCat("applying rule '", rule->name, "' from etcd (retrying)"), s);
    absl::MutexLock l(&mu_);
    unapplied_[rule->name] = *std::move(rule);
  }
}

void ClusterRules::RetryUnapplied() {
  std::map<std::string, events::RuleRecord, std::less<>> retry;
  {
    absl::MutexLock l(&mu_);
    retry.swap(unapplied_);
  }
  if (retry.empty()) return;
  std::vector<events::RuleRecord> all;
  for (const auto& [name, rule] : retry) all.push_back(rule);
  if (store_->ApplyRules(all).ok()) return;  // all at once: one resolve
  for (auto& [name, rule] : retry) {
    if (absl::Status s = store_->ApplyRule(rule); !s.ok()) {
      CountError(absl::StrCat("applying rule '", name, "' from etcd (retrying)"), s);
      absl::MutexLock l(&mu_);
      unapplied_.try_emplace(name, std::move(rule));  // unless a newer one came meanwhile
    }
  }
}

void ClusterRules::PublishNewer() {
  for (const events::RuleRecord& r : store_->ListRules(/*include_deleted=*/true)) {
    if (stop_.load()) return;
    Known known;
    {
      absl::MutexLock l(&mu_);
      auto it = known_.find(r.name);
      if (it != known_.end()) known = it->second;
    }
    if (known.mod_revision != 0 && known.version >= r.version) continue;
    absl::StatusOr<int64_t> revision = Put(r, known.mod_revision);
    absl::MutexLock l(&mu_);
    if (revision.ok()) {
      Known& k = known_[r.name];
      if (k.mod_revision < *revision) k = {r.version, *revision};
      ++stats_.published;
    } else if (revision.status().code() == absl::StatusCode::kAborted) {
      recheck_ = true;  // the watch brings the newer record; compare again then
    } else {
      ++stats_.errors;
      recheck_ = true;  // again on the next round (at most every 500 ms)
      server::LogError("cluster", "rules: cannot write a rule to etcd (retrying)",
                       {{"rule", r.name}, {"error", revision.status().ToString()}});
      // etcd not answering: the rest waits for the next round, not one
      // call timeout each.
      if (absl::IsUnavailable(revision.status()) || absl::IsDeadlineExceeded(revision.status())) {
        return;
      }
    }
  }
}

void ClusterRules::Run() {
  uint64_t seen = 0;
  bool published_once = false;
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_.load()) {
    bool reload, recheck;
    {
      absl::MutexLock l(&mu_);
      reload = watch_failed_;
      recheck = recheck_;
      recheck_ = false;
    }
    if (reload) {
      if (absl::Status s = LoadAndWatch(); !s.ok()) {
        CountError("reading the site's rules (retrying)", s);
        const absl::Time until = absl::Now() + backoff;
        while (!stop_.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      backoff = absl::Milliseconds(100);
      continue;
    }
    RetryUnapplied();
    const uint64_t changes = store_->RuleChanges();
    if (!published_once || changes != seen || recheck) {
      PublishNewer();
      published_once = true;
      seen = changes;
    }
    // Bounded so a stop, a failed watch and a recheck are seen within it.
    store_->WaitRuleChange(seen, absl::Milliseconds(500));
  }
}

void ClusterRules::CountError(std::string_view what, const absl::Status& s) {
  {
    absl::MutexLock l(&mu_);
    ++stats_.errors;
  }
  server::LogError("cluster", absl::StrCat("rules: ", std::string(what)),
                   {{"error", s.ToString()}});
}

}  // namespace historian::cluster
