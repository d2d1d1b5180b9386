// File: storage/events/rule_evaluator.cc
// The RuleEvaluator (rule_evaluator.h). Exact semantics, per rule (the
// reference implementation in tests/storage/events/ follows this text):
//
// Each sample is first checked for lateness against the newest sample time
// seen by the rule for that tag (rule's tag and, for twin rules, the twin
// tag separately). ts < newest is late; ts == newest is live (an overwrite).
//
// Value rules (high, high-high, low, low-low, rate of change, twin
// deviation, bad quality) run one state machine on (time t, value v):
//   violates: high v > limit, low v < limit, rate r > limit,
//             twin |d| > limit, bad quality bit 31 set;
//   clears:   high v <= limit - deadband, low v >= limit + deadband,
//             rate r <= limit - deadband, twin |d| <= limit - deadband,
//             bad quality bit 31 clear.
//   hold = on_delay_ns (limits, rate) or duration_ns (twin, bad quality).
//   - Before a live evaluation at t (and in OnTimer(now), t = now, except for
//     twin rules): a pending raise whose deadline pending_since + hold <= t
//     raises, at the deadline, with the value that started it.
//   - Inactive: violates and hold == 0 raises at t; violates and hold > 0
//     starts a pending raise at t (if none); not violating cancels it.
//   - Active: clears clears at t with v. Nothing else changes.
// Rate of change: r = |v - v_ref| / window seconds, v_ref the newest sample
// at or before t - window_ns (step hold); without one, nothing is evaluated.
// Twin deviation: every live sample of either tag is aligned with the
// newest sample of the other tag if |t - t_other| <= skew (skew = window_ns
// if set, else stale_after_ns if set, else kDefaultTwinSkewNs = 60 s); it is
// evaluated at max(t, t_other) with d = x - twin (x the rule's tag), else
// not at all. A twin rule has no timer: its pending raise fires only at a
// compared pair at or past the deadline. At the home site the twin's
// samples come from the other site, so missing ones (a partition, a lagging
// link) must neither raise nor clear: a bounded skew and no timer raise
// make every transition rest on a sample of each tag.
// Reported values: limits and bad quality the sample value, rate r, twin d.
//
// Stale: purely timer driven. Deadline = newest + stale_after_ns (or, with no
// sample ever seen, the first OnTimer time + stale_after_ns; NextDeadlineNs
// returns 0 until that first call). OnTimer(now >= deadline) raises at the
// deadline with the newest value; the next live sample clears at its time.
//
// Late samples never change the live state (not even newest). A late sample
// whose instantaneous condition is "violates" (hold not applied: one sample
// cannot show a duration) yields a Raised transition with late = true,
// unless it continues a late run: the previous late sample of the rule
// violated and had a time <= this one (a back-filled violating stretch
// gives one late event). A late sample that does not violate ends the run.
// Rate of change and stale rules never flag late samples (one sample has no
// rate; staleness is about now). Twin: a late sample is aligned with the
// other tag's newest as above.
#include "storage/events/rule_evaluator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "storage/events/rule_state.h"

namespace historian::events {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr uint32_t kBadQualityBit = 1u << 31;

// Debian's Abseil has its own string_view type.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

int64_t SatAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kNever : INT64_MIN;
  return r;
}

int64_t HoldNs(const RuleSpec& s) {
  return (s.kind == RuleKind::kTwinDeviation || s.kind == RuleKind::kBadQuality) ? s.duration_ns
                                                                                 : s.on_delay_ns;
}

// Twin samples further apart than this are not compared unless the rule's
// window or the tag's stale_after_ns says otherwise (docs/events.md).
constexpr int64_t kDefaultTwinSkewNs = 60'000'000'000;

int64_t TwinSkewNs(const RuleSpec& s) {
  if (s.window_ns > 0) return s.window_ns;
  if (s.stale_after_ns > 0) return s.stale_after_ns;
  return kDefaultTwinSkewNs;
}

// One evaluation of a value rule.
struct Verdict {
  bool known = false;
  bool violates = false;
  bool clears = false;
  double value = 0;
};

Verdict OfValue(const RuleSpec& s, double v) {
  Verdict r{true, false, false, v};
  switch (s.kind) {
    case RuleKind::kHigh:
    case RuleKind::kHighHigh:
      r.violates = v > s.limit;
      r.clears = v <= s.limit - s.deadband;
      break;
    case RuleKind::kLow:
    case RuleKind::kLowLow:
      r.violates = v < s.limit;
      r.clears = v >= s.limit + s.deadband;
      break;
    default:  // rate and twin pass the derived magnitude
      r.violates = std::fabs(v) > s.limit;
      r.clears = std::fabs(v) <= s.limit - s.deadband;
      break;
  }
  return r;
}

Verdict OfQuality(uint32_t quality, double v) {
  bool bad = quality & kBadQualityBit;
  return Verdict{true, bad, !bad, v};
}

absl::Status Validate(const RuleSpec& s) {
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", s.rule_id, ": ", why));
  };
  if (s.tag.empty()) return bad("no tag");
  if (static_cast<uint8_t>(s.kind) < 1 || static_cast<uint8_t>(s.kind) > 8) {
    return bad("unknown kind");
  }
  if (!std::isfinite(s.limit) || !std::isfinite(s.deadband)) return bad("limit not finite");
  if (s.deadband < 0) return bad("negative deadband");
  if (s.on_delay_ns < 0 || s.duration_ns < 0 || s.window_ns < 0 || s.stale_after_ns < 0) {
    return bad("negative duration");
  }
  if (s.kind == RuleKind::kRateOfChange && s.window_ns <= 0) return bad("rate rule without window");
  if (s.kind == RuleKind::kStale && s.stale_after_ns <= 0)
    return bad("stale rule without stale_after");
  if (s.kind == RuleKind::kTwinDeviation && (s.twin_tag.empty() || s.twin_tag == s.tag)) {
    return bad("twin rule without a distinct twin tag");
  }
  return absl::OkStatus();
}

// The fields a limit rule's sample touches come first (one cache line).
struct Rule {
  RuleKind kind = RuleKind::kHigh;  // = spec.kind
  bool upper = false;               // kHigh / kHighHigh
  int64_t hold_ns = 0;
  double limit = 0;  // = spec.limit
  RuleState state;
  RuleSpec spec;
};

bool IsLimit(RuleKind k) { return static_cast<uint8_t>(k) <= 4; }

// A stale rule with no baseline yet: the first OnTimer arms it.
bool Unarmed(const Rule& r) {
  return r.spec.kind == RuleKind::kStale && !r.state.active && r.state.newest_ns == kNoTime &&
         r.state.armed_ns == kNoTime;
}

// Which rule a tag feeds, and as which of the rule's two tags.
struct Watch {
  uint32_t rule = 0;
  bool is_twin = false;
};
using WatchList = absl::InlinedVector<Watch, 2>;

struct DeadlineEntry {
  int64_t deadline;
  uint32_t rule;
  bool operator>(const DeadlineEntry& o) const {
    return deadline != o.deadline ? deadline > o.deadline : rule > o.rule;
  }
};
using DeadlineHeap =
    std::priority_queue<DeadlineEntry, std::vector<DeadlineEntry>, std::greater<DeadlineEntry>>;

// Whether any value of `cols` is above (upper) or below `limit` (NaN is
// neither, as in OnLimitSample). One branch-free pass per column type.
template <typename T>
bool AnyCrosses(const T* v, size_t n, bool upper, double limit) {
  bool any = false;
  if (upper) {
    for (size_t i = 0; i < n; ++i) any |= static_cast<double>(v[i]) > limit;
  } else {
    for (size_t i = 0; i < n; ++i) any |= static_cast<double>(v[i]) < limit;
  }
  return any;
}

bool AnyCrosses(const ColumnsView& c, bool upper, double limit) {
  if (c.doubles != nullptr) return AnyCrosses(c.doubles, c.size, upper, limit);
  if (c.ints != nullptr) return AnyCrosses(c.ints, c.size, upper, limit);
  return AnyCrosses(c.bools, c.size, upper, limit);
}

// The samples of `c` in timestamp order (stable) into *views.
void SortedViews(const ColumnsView& c, std::vector<uint32_t>* order,
                 std::vector<SampleView>* views) {
  views->clear();
  views->reserve(c.size);
  auto view = [&c](size_t i) { return SampleView{c.tag, c.ts[i], c.ValueAt(i), c.qualities[i]}; };
  if (std::is_sorted(c.ts, c.ts + c.size)) {
    for (size_t i = 0; i < c.size; ++i) views->push_back(view(i));
    return;
  }
  order->resize(c.size);
  for (size_t i = 0; i < c.size; ++i) (*order)[i] = static_cast<uint32_t>(i);
  std::stable_sort(order->begin(), order->end(),
                   [&c](uint32_t a, uint32_t b) { return c.ts[a] < c.ts[b]; });
  for (uint32_t i : *order) views->push_back(view(i));
}

// Not thread-safe (see the header); all members belong to the caller's lock.
class RuleEvaluatorImpl final : public RuleEvaluator {
 public:
  explicit RuleEvaluatorImpl(std::string local_site) : local_site_(std::move(local_site)) {}

  absl::Status SetRules(std::vector<RuleSpec> rules) override;
  absl::Status AddRules(std::vector<RuleSpec> rules) override;
  bool Watches(std::string_view tag) const override { return by_tag_.contains(AbslView(tag)); }
  void OnSamples(absl::Span<const SampleView> samples, std::vector<Transition>* out) override;
  void OnColumns(const ColumnsView& cols, std::vector<Transition>* out) override;
  void OnTimer(int64_t now_ns, std::vector<Transition>* out) override;
  int64_t NextDeadlineNs() const override;
  void MatchActive(const absl::flat_hash_set<uint64_t>& active_ids) override;
  absl::flat_hash_set<uint64_t> ActiveRuleIds() const override;
  std::string SaveState() const override;
  absl::Status LoadState(std::string_view state) override;

 private:
  int64_t Deadline(const Rule& r) const;
  void PushDeadline(uint32_t idx);
  void RebuildTimers();
  // Makes the rule of `s` with the state `old` (if any) when it was
  // computed for the same kind and fingerprint (else a fresh one), and
  // appends it to rules_ and by_tag_. Skips a rule of another home site.
  // Returns its index, or nullopt when skipped.
  std::optional<uint32_t> AppendRule(RuleSpec s, RuleState* old, uint32_t old_fingerprint);
  void Emit(const Rule& r, Transition::Kind kind, int64_t t, double v, bool late,
            std::vector<Transition>* out) const;
  // Raises a pending rule whose deadline is <= t.
  void Advance(Rule& r, int64_t t, std::vector<Transition>* out);
  void Step(uint32_t idx, int64_t t, const Verdict& v, std::vector<Transition>* out);
  void OnLate(Rule& r, int64_t t, const Verdict& v, std::vector<Transition>* out);
  void OnSample(uint32_t idx, bool is_twin, const SampleView& s, std::vector<Transition>* out);
  // The common case of a limit rule, inlined: a live sample of a quiet rule
  // that stays quiet only moves the newest time.
  void OnLimitSample(uint32_t idx, const SampleView& s, std::vector<Transition>* out) {
    Rule& r = rules_[idx];
    RuleState& st = r.state;
    if (s.ts_ns >= st.newest_ns && !st.active && st.pending_since_ns == kNoTime &&
        !(r.upper ? s.value > r.limit : s.value < r.limit)) {
      st.newest_ns = s.ts_ns;
      st.newest_value = s.value;
      return;
    }
    OnSample(idx, false, s, out);
  }

  // Whether OnLimitSample would only move the newest time for every sample
  // of `cols` (in time order) under rule `idx`.
  bool QuietOver(uint32_t idx, const ColumnsView& cols) const;

  std::string local_site_;
  std::vector<Rule> rules_;        // the rules evaluated here
  std::vector<SampleView> views_;  // OnColumns' scratch
  std::vector<uint32_t> order_;    // OnColumns' scratch
  absl::flat_hash_map<std::string, WatchList> by_tag_;
  // Lazy: an entry may be older than its rule's deadline (fixed up when it
  // reaches the top); every rule with a deadline has an entry <= it.
  mutable DeadlineHeap timers_;
  std::vector<uint32_t> unarmed_;  // stale rules with no baseline yet
  // States loaded for rules not (yet) set; SetRules takes them up. Keyed by
  // rule id, with their kind and fingerprint.
  std::vector<SavedRuleState> parked_;
};

int64_t RuleEvaluatorImpl::Deadline(const Rule& r) const {
  const RuleState& s = r.state;
  if (s.active) return kNever;
  if (r.spec.kind == RuleKind::kStale) {
    int64_t base = s.newest_ns != kNoTime ? s.newest_ns : s.armed_ns;
    return base == kNoTime ? kNever : SatAdd(base, r.spec.stale_after_ns);
  }
  if (r.spec.kind == RuleKind::kTwinDeviation) return kNever;  // raised by samples only
  return s.pending_since_ns == kNoTime ? kNever : SatAdd(s.pending_since_ns, r.hold_ns);
}

void RuleEvaluatorImpl::PushDeadline(uint32_t idx) {
  int64_t d = Deadline(rules_[idx]);
  if (d != kNever) timers_.push({d, idx});
}

void RuleEvaluatorImpl::RebuildTimers() {
  timers_ = DeadlineHeap();
  unarmed_.clear();
  for (uint32_t i = 0; i < rules_.size(); ++i) {
    PushDeadline(i);
    if (Unarmed(rules_[i])) unarmed_.push_back(i);
  }
}

absl::Status RuleEvaluatorImpl::SetRules(std::vector<RuleSpec> rules) {
  absl::flat_hash_set<uint64_t> ids;
  for (const RuleSpec& s : rules) {
    if (absl::Status st = Validate(s); !st.ok()) return st;
    if (!ids.insert(s.rule_id).second) {
      return absl::InvalidArgumentError(absl::StrCat("rule ", s.rule_id, " given twice"));
    }
  }
  // States to keep: the current rules' and the parked ones, with the kind
  // and fingerprint they were computed for (a changed rule starts afresh).
  absl::flat_hash_map<uint64_t, RuleState> old_states;
  absl::flat_hash_map<uint64_t, uint32_t> old_fingerprints;
  for (SavedRuleState& p : parked_) {
    old_fingerprints[p.rule_id] = p.fingerprint ^ (uint32_t{p.kind} << 24);
    old_states[p.rule_id] = std::move(p.state);
  }
  parked_.clear();
  for (Rule& r : rules_) {
    old_fingerprints[r.spec.rule_id] =
        RuleFingerprint(r.spec) ^ (uint32_t{static_cast<uint8_t>(r.spec.kind)} << 24);
    old_states[r.spec.rule_id] = std::move(r.state);
  }
  rules_.clear();
  by_tag_.clear();
  for (RuleSpec& s : rules) {
    auto it = old_states.find(s.rule_id);
    RuleState* old = it != old_states.end() ? &it->second : nullptr;
    const uint32_t fingerprint = old != nullptr ? old_fingerprints[s.rule_id] : 0;
    AppendRule(std::move(s), old, fingerprint);
  }
  RebuildTimers();
  return absl::OkStatus();
}

std::optional<uint32_t> RuleEvaluatorImpl::AppendRule(RuleSpec s, RuleState* old,
                                                      uint32_t old_fingerprint) {
  if (s.home_site != local_site_) return std::nullopt;
  Rule r;
  r.kind = s.kind;
  r.upper = s.kind == RuleKind::kHigh || s.kind == RuleKind::kHighHigh;
  r.limit = s.limit;
  r.hold_ns = HoldNs(s);
  r.spec = std::move(s);
  if (old != nullptr && old_fingerprint == (RuleFingerprint(r.spec) ^
                                            (uint32_t{static_cast<uint8_t>(r.spec.kind)} << 24))) {
    r.state = std::move(*old);
    if (r.spec.kind != RuleKind::kRateOfChange) r.state.window.clear();
  }
  const uint32_t idx = static_cast<uint32_t>(rules_.size());
  by_tag_[r.spec.tag].push_back({idx, false});
  if (r.spec.kind == RuleKind::kTwinDeviation) by_tag_[r.spec.twin_tag].push_back({idx, true});
  rules_.push_back(std::move(r));
  return idx;
}

absl::Status RuleEvaluatorImpl::AddRules(std::vector<RuleSpec> rules) {
  absl::flat_hash_set<uint64_t> ids;
  for (const Rule& r : rules_) ids.insert(r.spec.rule_id);
  for (const RuleSpec& s : rules) {
    if (absl::Status st = Validate(s); !st.ok()) return st;
    if (!ids.insert(s.rule_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule ", s.rule_id, " given twice or set already"));
    }
  }
  // As RebuildTimers would find them: those armed by a sample since leave.
  unarmed_.erase(std::remove_if(unarmed_.begin(), unarmed_.end(),
                                [&](uint32_t i) { return !Unarmed(rules_[i]); }),
                 unarmed_.end());
  for (RuleSpec& s : rules) {
    // A state loaded for it (SetRules would take it up the same way).
    auto parked = std::find_if(parked_.begin(), parked_.end(),
                               [&](const SavedRuleState& p) { return p.rule_id == s.rule_id; });
    RuleState* old = nullptr;
    uint32_t fingerprint = 0;
    if (parked != parked_.end()) {
      old = &parked->state;
      fingerprint = parked->fingerprint ^ (uint32_t{parked->kind} << 24);
    }
    const std::optional<uint32_t> idx = AppendRule(std::move(s), old, fingerprint);
    if (!idx.has_value()) continue;
    // As RebuildTimers does for every rule.
    PushDeadline(*idx);
    if (Unarmed(rules_[*idx])) unarmed_.push_back(*idx);
  }
  parked_.clear();  // as SetRules: states not taken up now are dropped
  return absl::OkStatus();
}

void RuleEvaluatorImpl::Emit(const Rule& r, Transition::Kind kind, int64_t t, double v, bool late,
                             std::vector<Transition>* out) const {
  Transition& tr = out->emplace_back();
  tr.rule_id = r.spec.rule_id;
  tr.tag = r.spec.tag;
  tr.kind = kind;
  tr.time_ns = t;
  tr.value = v;
  tr.late = late;
}

void RuleEvaluatorImpl::Advance(Rule& r, int64_t t, std::vector<Transition>* out) {
  RuleState& s = r.state;
  if (s.active || s.pending_since_ns == kNoTime) return;
  int64_t deadline = SatAdd(s.pending_since_ns, r.hold_ns);
  if (deadline > t) return;
  s.active = true;
  s.pending_since_ns = kNoTime;
  Emit(r, Transition::Kind::kRaised, deadline, s.pending_value, false, out);
}

void RuleEvaluatorImpl::Step(uint32_t idx, int64_t t, const Verdict& v,
                             std::vector<Transition>* out) {
  Rule& r = rules_[idx];
  Advance(r, t, out);
  RuleState& s = r.state;
  if (s.active) {
    if (v.clears) {
      s.active = false;
      Emit(r, Transition::Kind::kCleared, t, v.value, false, out);
    }
    return;
  }
  if (!v.violates) {
    s.pending_since_ns = kNoTime;
    return;
  }
  if (r.hold_ns <= 0) {
    s.active = true;
    Emit(r, Transition::Kind::kRaised, t, v.value, false, out);
    return;
  }
  if (s.pending_since_ns == kNoTime) {
    s.pending_since_ns = t;
    s.pending_value = v.value;
    PushDeadline(idx);
  }
}

void RuleEvaluatorImpl::OnLate(Rule& r, int64_t t, const Verdict& v, std::vector<Transition>* out) {
  if (!v.known) return;
  RuleState& s = r.state;
  if (!v.violates) {
    s.late_run = false;
    return;
  }
  if (!(s.late_run && t >= s.late_prev_ns)) {
    Emit(r, Transition::Kind::kRaised, t, v.value, true, out);
  }
  s.late_run = true;
  s.late_prev_ns = t;
}

void RuleEvaluatorImpl::OnSample(uint32_t idx, bool is_twin, const SampleView& smp,
                                 std::vector<Transition>* out) {
  Rule& r = rules_[idx];
  RuleState& s = r.state;
  const RuleSpec& spec = r.spec;
  int64_t t = smp.ts_ns;
  int64_t& newest = is_twin ? s.twin_ns : s.newest_ns;
  const bool late = t < newest;
  switch (spec.kind) {
    case RuleKind::kHigh:
    case RuleKind::kHighHigh:
    case RuleKind::kLow:
    case RuleKind::kLowLow:
      if (late) return OnLate(r, t, OfValue(spec, smp.value), out);
      newest = t;
      s.newest_value = smp.value;
      return Step(idx, t, OfValue(spec, smp.value), out);
    case RuleKind::kBadQuality:
      if (late) return OnLate(r, t, OfQuality(smp.quality, smp.value), out);
      newest = t;
      s.newest_value = smp.value;
      return Step(idx, t, OfQuality(smp.quality, smp.value), out);
    case RuleKind::kStale: {
      if (late) return;
      // The first sample may move the deadline before the armed one.
      const bool first = newest == kNoTime;
      newest = t;
      s.newest_value = smp.value;
      if (s.active) {
        s.active = false;
        Emit(r, Transition::Kind::kCleared, t, smp.value, false, out);
        PushDeadline(idx);
      } else if (first) {
        PushDeadline(idx);
      }
      return;
    }
    case RuleKind::kRateOfChange: {
      if (late) return;
      newest = t;
      s.newest_value = smp.value;
      auto& w = s.window;
      const int64_t ref_before = t - spec.window_ns;
      while (w.size() >= 2 && w[1].first <= ref_before) w.pop_front();
      Verdict v;
      if (!w.empty() && w.front().first <= ref_before) {
        double rate =
            std::fabs(smp.value - w.front().second) * 1e9 / static_cast<double>(spec.window_ns);
        v = OfValue(spec, rate);
      }
      w.emplace_back(t, smp.value);
      if (v.known) Step(idx, t, v, out);
      return;
    }
    case RuleKind::kTwinDeviation: {
      const int64_t other_ns = is_twin ? s.newest_ns : s.twin_ns;
      const double other_v = is_twin ? s.newest_value : s.twin_value;
      Verdict v;
      int64_t at = t;
      if (other_ns != kNoTime) {
        int64_t gap;
        bool overflow = __builtin_sub_overflow(std::max(t, other_ns), std::min(t, other_ns), &gap);
        if (!overflow && gap <= TwinSkewNs(spec)) {
          v = OfValue(spec, is_twin ? other_v - smp.value : smp.value - other_v);
          at = std::max(t, other_ns);
        }
      }
      if (late) return OnLate(r, at, v, out);
      newest = t;
      (is_twin ? s.twin_value : s.newest_value) = smp.value;
      if (v.known) Step(idx, at, v, out);
      return;
    }
  }
}

void RuleEvaluatorImpl::OnSamples(absl::Span<const SampleView> samples,
                                  std::vector<Transition>* out) {
  // Samples come grouped by tag: one lookup per run of the same tag.
  std::string_view last_tag;
  const WatchList* watches = nullptr;
  bool looked_up = false;
  for (const SampleView& smp : samples) {
    const bool same =
        looked_up && ((smp.tag.data() == last_tag.data() && smp.tag.size() == last_tag.size()) ||
                      smp.tag == last_tag);
    if (!same) {
      auto it = by_tag_.find(AbslView(smp.tag));
      watches = it == by_tag_.end() ? nullptr : &it->second;
      last_tag = smp.tag;
      looked_up = true;
    }
    if (watches == nullptr) continue;
    for (const Watch& w : *watches) {
      if (IsLimit(rules_[w.rule].kind)) {
        OnLimitSample(w.rule, smp, out);
      } else {
        OnSample(w.rule, w.is_twin, smp, out);
      }
    }
  }
}

bool RuleEvaluatorImpl::QuietOver(uint32_t idx, const ColumnsView& c) const {
  const Rule& r = rules_[idx];
  const RuleState& st = r.state;
  return IsLimit(r.kind) && c.ts[0] >= st.newest_ns && !st.active &&
         st.pending_since_ns == kNoTime && !AnyCrosses(c, r.upper, r.limit);
}

void RuleEvaluatorImpl::OnColumns(const ColumnsView& c, std::vector<Transition>* out) {
  if (c.size == 0) return;
  auto it = by_tag_.find(AbslView(c.tag));
  if (it == by_tag_.end()) return;
  const WatchList& watches = it->second;
  // The common case: samples in time order that leave every rule of the
  // tag quiet only move each rule's newest sample (what OnLimitSample
  // does per sample).
  bool quiet = std::is_sorted(c.ts, c.ts + c.size);
  for (size_t k = 0; quiet && k < watches.size(); ++k) quiet = QuietOver(watches[k].rule, c);
  if (quiet) {
    for (const Watch& w : watches) {
      RuleState& st = rules_[w.rule].state;
      st.newest_ns = c.ts[c.size - 1];
      st.newest_value = c.ValueAt(c.size - 1);
    }
    return;
  }
  SortedViews(c, &order_, &views_);
  OnSamples(views_, out);
}

void RuleEvaluatorImpl::OnTimer(int64_t now_ns, std::vector<Transition>* out) {
  for (uint32_t idx : unarmed_) {
    RuleState& s = rules_[idx].state;
    if (s.newest_ns == kNoTime && s.armed_ns == kNoTime) {
      s.armed_ns = now_ns;
      PushDeadline(idx);
    }
  }
  unarmed_.clear();
  while (!timers_.empty() && timers_.top().deadline <= now_ns) {
    DeadlineEntry e = timers_.top();
    timers_.pop();
    Rule& r = rules_[e.rule];
    int64_t d = Deadline(r);
    if (d != e.deadline) {
      if (d != kNever && d > e.deadline) timers_.push({d, e.rule});
      continue;
    }
    if (r.spec.kind == RuleKind::kStale) {
      r.state.active = true;
      Emit(r, Transition::Kind::kRaised, d, r.state.newest_value, false, out);
    } else {
      Advance(r, now_ns, out);
    }
  }
}

int64_t RuleEvaluatorImpl::NextDeadlineNs() const {
  if (!unarmed_.empty()) return 0;  // the first OnTimer arms stale rules
  while (!timers_.empty()) {
    DeadlineEntry e = timers_.top();
    int64_t d = Deadline(rules_[e.rule]);
    if (d == e.deadline) return d;
    timers_.pop();
    if (d != kNever && d > e.deadline) timers_.push({d, e.rule});
  }
  return kNever;
}

void RuleEvaluatorImpl::MatchActive(const absl::flat_hash_set<uint64_t>& active_ids) {
  bool changed = false;
  for (Rule& r : rules_) {
    const bool want = active_ids.contains(r.spec.rule_id);
    if (r.state.active == want) continue;
    r.state.active = want;
    r.state.pending_since_ns = kNoTime;
    changed = true;
  }
  if (changed) RebuildTimers();
}

absl::flat_hash_set<uint64_t> RuleEvaluatorImpl::ActiveRuleIds() const {
  absl::flat_hash_set<uint64_t> ids;
  for (const Rule& r : rules_) {
    if (r.state.active) ids.insert(r.spec.rule_id);
  }
  return ids;
}

std::string RuleEvaluatorImpl::SaveState() const {
  RuleStateEncoder enc;
  for (const Rule& r : rules_) {
    enc.Add(r.spec.rule_id, static_cast<uint8_t>(r.spec.kind), RuleFingerprint(r.spec), r.state);
  }
  for (const SavedRuleState& p : parked_) enc.Add(p.rule_id, p.kind, p.fingerprint, p.state);
  return std::move(enc).Finish();
}

absl::Status RuleEvaluatorImpl::LoadState(std::string_view state) {
  absl::StatusOr<std::vector<SavedRuleState>> saved = DecodeRuleStates(state);
  if (!saved.ok()) return saved.status();
  // The loaded state replaces all state: rules it does not name start afresh.
  absl::flat_hash_map<uint64_t, size_t> by_id;
  for (size_t i = 0; i < rules_.size(); ++i) {
    by_id[rules_[i].spec.rule_id] = i;
    rules_[i].state = RuleState();
  }
  parked_.clear();
  for (SavedRuleState& p : *saved) {
    auto it = by_id.find(p.rule_id);
    if (it == by_id.end()) {
      parked_.push_back(std::move(p));
      continue;
    }
    Rule& r = rules_[it->second];
    if (p.kind == static_cast<uint8_t>(r.spec.kind) && p.fingerprint == RuleFingerprint(r.spec)) {
      r.state = std::move(p.state);
    }
  }
  RebuildTimers();
  return absl::OkStatus();
}

}  // namespace

void RuleEvaluator::OnColumns(const ColumnsView& c, std::vector<Transition>* out) {
  std::vector<uint32_t> order;
  std::vector<SampleView> views;
  SortedViews(c, &order, &views);
  OnSamples(views, out);
}

std::unique_ptr<RuleEvaluator> RuleEvaluator::Create(std::string local_site) {
  return std::make_unique<RuleEvaluatorImpl>(std::move(local_site));
}

}  // namespace historian::events
