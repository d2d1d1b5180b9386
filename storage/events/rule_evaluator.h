// File: storage/events/rule_evaluator.h
// RuleEvaluator: turns samples and the passing of time into alarm
// transitions (raised / cleared) for a set of rules. Pure logic: no RocksDB,
// no threads, no clock of its own. The events part (storage/events/) feeds it
// every applied sample of a tag a rule covers, calls OnTimer for rules that
// fire without samples (stale, on-delay, "longer than D"), and stores the
// transitions it returns as events (docs/events.md).
//
// Contract (the interface between the evaluator and the events part):
// - Time is sample time. OnSamples gets each tag's samples in timestamp
//   order per call; a sample older than the newest one already seen for that
//   (rule, tag) is `late`: it never raises or clears a live alarm, it yields
//   a transition with `late = true` if, evaluated alone against the rule, it
//   would have raised one.
// - OnTimer(now_ns) evaluates time-driven conditions with `now_ns` in sample
//   time of the local site (the caller passes wall time).
// - A rule is evaluated only where `home_site` equals the evaluator's site;
//   elsewhere its samples are ignored (each alarm is raised once).
// - The state (which alarms are active, pending on-delays, last sample
//   times) is exported with SaveState and restored with LoadState so a
//   restart neither raises an active alarm again nor forgets a stale timer.
//
// The exact per-rule semantics (alignment of twin samples, late runs, what
// value a transition carries, how stale rules arm without any sample) are in
// the header comment of rule_evaluator.cc.
//
// Thread-safety: not thread-safe; the events part guards it with its mutex.
#ifndef HISTORIAN_STORAGE_EVENTS_RULE_EVALUATOR_H_
#define HISTORIAN_STORAGE_EVENTS_RULE_EVALUATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace historian::events {

enum class RuleKind : uint8_t {
  kHigh = 1,           // value > limit
  kHighHigh = 2,       // value > limit (second, more severe level)
  kLow = 3,            // value < limit
  kLowLow = 4,         // value < limit
  kRateOfChange = 5,   // |value(t) - value(t - window)| / window > limit per second
  kStale = 6,          // no sample for the tag's stale_after_ns (timer)
  kTwinDeviation = 7,  // |X - twin(X)| > limit for longer than duration_ns
  kBadQuality = 8,     // quality bad for longer than duration_ns
};

// One rule as the evaluator sees it. Limits already resolved (a limit that
// defaults to the tag's eng range is filled in by the events part).
struct RuleSpec {
  uint64_t rule_id = 0;
  RuleKind kind = RuleKind::kHigh;
  std::string tag;             // the tag the rule watches (a glob is expanded by the caller)
  std::string twin_tag;        // kTwinDeviation: the twin, from --twin_map
  std::string home_site;       // where it is evaluated
  double limit = 0;            // threshold (units of the tag; per second for rate)
  double deadband = 0;         // a raised limit alarm clears only past limit -/+ deadband
  int64_t on_delay_ns = 0;     // condition must hold this long before raising
  int64_t window_ns = 0;       // kRateOfChange window
  int64_t duration_ns = 0;     // kTwinDeviation / kBadQuality "longer than D"
  int64_t stale_after_ns = 0;  // kStale (the tag's stale_after_ns)
};

struct SampleView {
  std::string_view tag;
  int64_t ts_ns = 0;
  double value = 0;      // numeric value (int64 and bool converted)
  uint32_t quality = 0;  // 0 Good; bit 31 set = Bad
};

// One tag's samples in the store's column layout, in any time order (the
// events part hands the evaluator each applied series as it is).
struct ColumnsView {
  std::string_view tag;
  size_t size = 0;
  const int64_t* ts = nullptr;
  const uint32_t* qualities = nullptr;
  // Exactly one is set: the tag's numeric type.
  const double* doubles = nullptr;
  const int64_t* ints = nullptr;
  const uint8_t* bools = nullptr;
  double ValueAt(size_t i) const {
    if (doubles != nullptr) return doubles[i];
    if (ints != nullptr) return static_cast<double>(ints[i]);
    return bools[i] != 0 ? 1 : 0;
  }
};

struct Transition {
  enum class Kind : uint8_t { kRaised = 1, kCleared = 2 };
  uint64_t rule_id = 0;
  std::string tag;
  Kind kind = Kind::kRaised;
  int64_t time_ns = 0;  // sample time of the transition
  double value = 0;     // the value that triggered it
  bool late = false;    // from a late or historical sample: never live
};

class RuleEvaluator {
 public:
  static std::unique_ptr<RuleEvaluator> Create(std::string local_site);
  virtual ~RuleEvaluator() = default;

  // Replaces the rule set. Active alarms of rules that remain keep their
  // state; those of removed rules are dropped without a transition.
  virtual absl::Status SetRules(std::vector<RuleSpec> rules) = 0;
  // Adds rules whose ids are not set yet: the same as SetRules of the
  // current rules followed by `rules` (a loaded state for one of them is
  // taken up, the other loaded states dropped), without rebuilding the
  // others: O(rules added), plus one pass over the ids. INVALID_ARGUMENT (nothing added) for a rule
  // that does not validate or an id that is set or given twice.
  virtual absl::Status AddRules(std::vector<RuleSpec> rules) = 0;
  // Tags with at least one rule evaluated here (for the caller's filter).
  virtual bool Watches(std::string_view tag) const = 0;
  virtual void OnSamples(absl::Span<const SampleView> samples, std::vector<Transition>* out) = 0;
  // The same as OnSamples over `cols`' samples in timestamp order (a stable
  // sort: equal times keep their order). This one builds the views and
  // calls OnSamples; the evaluator overrides it so that a quiet limit rule
  // costs a compare per sample (no views, no copies).
  virtual void OnColumns(const ColumnsView& cols, std::vector<Transition>* out);
  virtual void OnTimer(int64_t now_ns, std::vector<Transition>* out) = 0;
  // Earliest sample time at which OnTimer can produce a transition, or
  // INT64_MAX: the caller sleeps until then (no polling when idle). 0 while
  // stale rules with no sample wait for their first OnTimer (which arms
  // them): call OnTimer at once.
  virtual int64_t NextDeadlineNs() const = 0;

  // The alarms the stored events say are active here (raised here, not
  // cleared, not late), by rule id: each rule's active flag is set to
  // match (a pending raise is dropped). At open, after LoadState: the
  // saved state may predate the newest stored transitions (it is saved
  // every few seconds, not with each), and the events are the truth, so a
  // restart neither raises an active alarm a second time nor misses the
  // next raise of one that was cleared. The default does nothing (an
  // evaluator without such state).
  virtual void MatchActive(const absl::flat_hash_set<uint64_t>& active_ids) { (void)active_ids; }
  // The rule ids (RuleSpec::rule_id) of the rules active now. The default:
  // none (an evaluator without such state).
  virtual absl::flat_hash_set<uint64_t> ActiveRuleIds() const { return {}; }

  virtual std::string SaveState() const = 0;
  virtual absl::Status LoadState(std::string_view state) = 0;
};

}  // namespace historian::events

#endif  // HISTORIAN_STORAGE_EVENTS_RULE_EVALUATOR_H_
