// File: events_part.h
// EventsPart: the store's alarm part (docs/events.md). It holds the rules
// in memory, feeds applied samples of watched tags to the RuleEvaluator,
// turns its transitions into event records, keeps a feed of event changes
// for Events.Subscribe, and runs the events thread: it stores transitions
// (through the store's log, so they reach the peers), re-resolves the rules
// when rules or tags change, and sleeps until the evaluator's next deadline
// (no polling: an idle node with no deadline waits on a condition
// variable). Records live in the events column family (event_record.h),
// written as merge operands by the group commit (PrepareEntry) and read
// back here.
//
// Thread-safety: safe for concurrent use. mu_ guards everything below it;
// lock order: the store's mu, then mu_ (the applier calls PrepareEntry,
// OnApplied and OnSeries with the store's mu held). The events thread never
// holds mu_ while calling the hooks (which take the store's locks).
#ifndef HISTORIAN_STORAGE_EVENTS_EVENTS_PART_H_
#define HISTORIAN_STORAGE_EVENTS_EVENTS_PART_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/core/types.h"
#include "rocksdb/write_batch.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/logger.h"
#include "storage/engine/rocks_db.h"
#include "storage/events/event_record.h"
#include "storage/events/rule_evaluator.h"

namespace historian::events {

// What the part needs from the store, called by the events thread without
// any lock of the part held.
struct EventsHooks {
  // Stores own event records (merge operands) through the log.
  std::function<absl::Status(std::vector<engine::EventWrite>)> submit;
  // The evaluator's rules for the live rules (globs expanded, limits from
  // the tags' eng range, twins from the twin map); rules that resolve to
  // nothing are left out.
  std::function<std::vector<RuleSpec>(const std::vector<RuleRecord>&)> resolve;
};

struct EventFilter {
  int64_t from_ns = INT64_MIN;  // raise time in [from_ns, to_ns)
  int64_t to_ns = INT64_MAX;
  bool active_only = false;  // raised and not cleared
  std::string glob;          // tag glob; empty: all
  std::string rule;          // rule name; empty: all
  size_t limit = 10000;
};

// The changes at or after a feed position (Subscribe, the outlets).
// Positions are durable (the "f" records of the events column family): a
// position taken before a restart means the same change after it. They
// increase in apply order, with gaps where a group commit failed.
struct EventChanges {
  uint64_t next = 0;    // the position after the last change returned
  bool lagged = false;  // changes between `after` and the oldest kept are gone
  bool closed = false;  // the feed is closed (the node is stopping): no more
  std::vector<uint64_t> event_ids;
  std::vector<FeedRecord> changes;  // the same changes, with positions and facts
};

// The evaluator's id of one (rule, tag) pair: the rule's id for a rule on
// one tag by name (so states saved before globs were expanded this way still
// apply), a hash of rule name and tag for each tag a glob covers (the
// evaluator keys its state by id, and a glob covers many tags).
// Feed records older than the capacity are deleted this many at a time.
inline constexpr uint64_t kFeedTrimStep = 1024;

uint64_t RuleInstanceId(std::string_view rule_name, std::string_view rule_tag,
                        std::string_view tag);

class EventsPart {
 public:
  struct Options {
    std::string site;
    std::function<int64_t()> now_ns;
    StoreLogger logger;
    // How often the evaluator's state is saved while samples arrive (and
    // at Stop, and after each stored transition).
    int64_t state_save_interval_ns = 5'000'000'000;
    // Event changes kept for subscribers and outlets, in memory and on disk
    // (older records are deleted by range, whole, as newer ones are written).
    size_t feed_capacity = 65536;
    // Makes the evaluator; empty: RuleEvaluator::Create when linked in.
    std::function<std::unique_ptr<RuleEvaluator>(const std::string& site)> make_evaluator;
  };
  EventsPart(engine::RocksDb* db, Options options);
  ~EventsPart();
  EventsPart(const EventsPart&) = delete;
  EventsPart& operator=(const EventsPart&) = delete;

  // At open, before the log replay: rules, active alarms raised here and the
  // evaluator's state (with the log positions it covers: replayed entries at
  // or below them are not fed again).
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  // At open, after Load and the catalog, before the log replay: the rules'
  // specs into the evaluator, then its saved state.
  void SetRulesAtOpen(std::vector<RuleSpec> specs) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts the events thread (after the log replay).
  void Start(EventsHooks hooks) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops it and saves the evaluator's state. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a rule evaluator is linked in (the storage works without one:
  // rules are stored and replicated, nothing is evaluated).
  static bool HasEvaluator();

  // --- Called by the group commit (store's mu held) ---
  // Every event write of an applied entry into `batch` as a merge operand,
  // and one feed record with a change per event write. Returns the feed
  // position of the first change (0: none); OnApplied gets it back, so the positions in memory
  // match those on disk even when a failed group left some unused.
  uint64_t PrepareEntry(const engine::LogEntry& entry, rocksdb::WriteBatch* batch)
      ABSL_LOCKS_EXCLUDED(mu_);
  // After the write: rules into memory, event changes into the feed (from
  // `feed_position`, PrepareEntry's answer); a catalog change re-resolves
  // the rules.
  void OnApplied(const engine::LogEntry& entry, uint64_t feed_position) ABSL_LOCKS_EXCLUDED(mu_);
  // The tags the rules may watch changed without a log entry (a site
  // cluster's shard dropped here, closed or opened to writes, or given
  // another owner: Store::RescopeRules): the rules are resolved again, so
  // they watch exactly the tags in scope, and the alarms raised here on
  // tags gone from it clear.
  void OnRuleScopeChanged() ABSL_LOCKS_EXCLUDED(mu_);
  // True when some rule watches any tag (the applier skips OnSeries else).
  bool watching() const { return watching_.load(std::memory_order_relaxed); }
  // Samples of `tag` applied from entry `seq` of `origin`, fed to the
  // evaluator when a rule here watches it.
  void OnSeries(const std::string& origin, uint64_t seq, TagId id, std::string_view tag,
                const codec::ChunkColumns& cols) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until the evaluator's rules reflect every rule and catalog change
  // applied before the call (so a rule is in force when CreateRule
  // returns, and a new tag a rule covers is watched before its first
  // sample: the store calls this after each catalog entry), or the part
  // stops. Returns at once when no such change is pending: a catalog change
  // counts only when a rule names or matches the tag.
  void AwaitRulesResolved() ABSL_LOCKS_EXCLUDED(mu_);

  // --- Reads ---
  // Every rule, deleted ones left out, by name.
  std::vector<RuleRecord> Rules(bool include_deleted = false) const ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<RuleRecord> GetRule(std::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  // The record of rule `name`, deleted or not; nullopt when none.
  std::optional<RuleRecord> FindRule(std::string_view name) const ABSL_LOCKS_EXCLUDED(mu_);
  size_t LiveRuleCount() const ABSL_LOCKS_EXCLUDED(mu_);
  // How many rule records were applied since open (any origin: this node,
  // a peer site, a merge); a site cluster's rule sync waits on it
  // (server/cluster/cluster_rules.h).
  uint64_t RuleChanges() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until RuleChanges() > `seen`, the part stops, or `timeout`;
  // returns RuleChanges().
  uint64_t WaitRuleChange(uint64_t seen, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // NotFound when the event is unknown here.
  absl::StatusOr<EventRecord> GetEvent(uint64_t id) const;
  // Events matching `filter`, newest raise first (a scan of the column
  // family: events are rare next to samples).
  absl::StatusOr<std::vector<EventRecord>> ListEvents(const EventFilter& filter) const;
  // The feed position after the newest change (>= 1).

  // Every rule and event record (not the local state), in key order, each
  // value re-encoded from its decoding so equal states give equal bytes at
  // every site (anti-entropy digests them). `fn` returns false to stop.
  // Reads a RocksDB snapshot; takes no lock of the part.
  absl::Status ForEachRecord(
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // The feed position after the newest change.
  uint64_t FeedHead() const ABSL_LOCKS_EXCLUDED(mu_);
  // Changes at positions >= `after` (a previous answer's `next`, or
  // FeedHead()); waits up to `timeout` for one when there are none (returns
  // at once, `closed`, once CloseFeed was called).
  EventChanges WaitChanges(uint64_t after, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // Ends every WaitChanges now and later (the node is stopping: its
  // Events.Subscribe streams end instead of holding the shutdown).
  void CloseFeed() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // The feed records on disk into feed_ (at Load).
  absl::Status LoadFeedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The evaluator's state with the log positions it covers.
  std::string SaveStateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutState(const std::string& state);
  // Writes `state` (from SaveStateLocked) unless the key holds those bytes
  // already (eval_.saved); mu_ is released around the write. Only the
  // events thread writes the key.
  absl::Status SaveStateUnlocking(const std::string& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Transitions into event records (tracking the active alarms raised here).
  // With `skip_stored`, those whose fact is stored already are left out
  // (the log replay at open evaluates again what the saved state predates).
  // Clears of the alarms raised here whose rule no longer holds them
  // active (the rule deleted, updated to another kind or tag, or the tag
  // gone from it: its state started afresh), at `now_ns`; they leave
  // active_.
  std::vector<engine::EventWrite> ClearsOfAlarmsNoRuleHoldsLocked(int64_t now_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<engine::EventWrite> ToWrites(const std::vector<Transition>& ts, bool skip_stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetRulesLocked(std::vector<RuleSpec> specs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same for rules new to the evaluator; false (nothing added) when it
  // refuses them: a full resolve is due then.
  bool AddRulesLocked(std::vector<RuleSpec> specs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives the evaluator's instance id to each spec of a known rule, and
  // watches the tags of those evaluated here.
  void PrepareSpecsLocked(std::vector<RuleSpec>* specs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A rule record replaced `old` (null: new): the index follows.
  void IndexRuleLocked(const RuleRecord* old, const RuleRecord& now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a live rule names `tag` or has a glob matching it.
  bool CoveredLocked(std::string_view tag) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Feed {
    std::deque<FeedRecord> changes;  // applied, oldest first
    uint64_t next = 1;               // the position after the newest applied change
    uint64_t lost_below = 0;         // changes below this position may be gone
    uint64_t next_prepared = 1;      // the next position PrepareEntry gives out
    uint64_t trimmed_below = 1;      // records below this are deleted (or being)
    // The first position of each record at or above trimmed_below (a
    // record holds one entry's changes; it is deleted whole), ascending.
    std::deque<uint64_t> record_starts;
    bool closed = false;  // CloseFeed was called
  };
  // Lookups over the rules.
  struct RuleIndex {
    absl::flat_hash_map<uint64_t, std::string> names;  // rule id -> name
    // The evaluator's instance id (RuleInstanceId) -> the rule's id.
    absl::flat_hash_map<uint64_t, uint64_t> rule_of_instance;
    // Live rules' tag fields, by how many rules have each: names and globs.
    absl::flat_hash_map<std::string, int> names_watched;
    absl::flat_hash_map<std::string, int> globs;
    int twin_rules = 0;     // live twin_deviation rules
    size_t live_rules = 0;  // rules not deleted
  };
  struct EvalState {
    std::map<std::string, uint64_t> applied;       // per origin: newest seq fed
    std::map<std::string, uint64_t> replay_floor;  // loaded: seqs fed before the restart
    std::string loaded;                            // the evaluator's state, until SetRulesAtOpen
    // What the evaluator state key holds (or, with no key, what a fresh
    // node saves): a save of the same bytes is skipped, so a node without
    // rules writes nothing to the events CF (no file per clean stop).
    std::string saved;
    bool dirty = false;  // samples fed since the last save
    int64_t last_save_ns = 0;
    bool rules_dirty = false;  // a full resolve is due
    // Rules new since the last resolve while no full one was due: resolved
    // and added alone (RuleEvaluator::AddRules), so creating N rules costs
    // O(N), not O(N^2). Any other change (an update, a delete, a catalog
    // change) resolves every rule, these included.
    std::vector<std::string> added_rules;
    uint64_t rules_gen = 0;     // bumped by every change that needs a resolve
    uint64_t resolved_gen = 0;  // the rules_gen the evaluator's rules reflect
    // When the events thread wakes next (INT64_MAX: only when signalled;
    // INT64_MIN while it is awake or not started): a sample that moves the
    // evaluator's deadline before it wakes it.
    int64_t sleep_until_ns = INT64_MIN;
    bool stop = false;
    // The rules changed (a full resolve): alarms raised here that no rule
    // holds active any more are cleared, once the pending transitions are
    // stored.
    bool check_active = false;
  };
  // (rule id, tag) of an alarm raised here and not cleared -> its event.
  using ActiveKey = std::pair<uint64_t, std::string>;

  engine::RocksDb* const db_;
  const Options options_;
  mutable absl::Mutex mu_;
  mutable absl::CondVar cv_;  // the events thread's wake-up and the feed's
  std::map<std::string, RuleRecord, std::less<>> rules_ ABSL_GUARDED_BY(mu_);
  RuleIndex index_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<RuleEvaluator> evaluator_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<TagId> watched_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> watching_{false};
  std::vector<Transition> pending_ ABSL_GUARDED_BY(mu_);
  std::map<ActiveKey, uint64_t> active_ ABSL_GUARDED_BY(mu_);
  EvalState eval_ ABSL_GUARDED_BY(mu_);
  Feed feed_ ABSL_GUARDED_BY(mu_);
  uint64_t rule_changes_ ABSL_GUARDED_BY(mu_) = 0;  // rule records applied since open
  EventsHooks hooks_;                               // set by Start before the thread runs
  std::thread thread_;
};

}  // namespace historian::events

#endif  // HISTORIAN_STORAGE_EVENTS_EVENTS_PART_H_
