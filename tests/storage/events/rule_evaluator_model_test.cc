// File: tests/storage/events/rule_evaluator_model_test.cc
// Model test: random sample streams (chatter around the limits, late
// samples, gaps, bad quality, timer calls) through the RuleEvaluator and
// through a straightforward reference of each rule (full sample history,
// linear scans, no timer heap), with SaveState / LoadState "restarts" at
// random points. The transition sequence of every rule must be identical.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/events/rule_evaluator.h"

namespace historian::events {
namespace {

struct Tr {
  int kind;  // 1 raised, 2 cleared
  int64_t t;
  double value;
  bool late;
  bool operator==(const Tr& o) const {
    return kind == o.kind && t == o.t && value == o.value && late == o.late;
  }
};

void PrintTo(const Tr& tr, std::ostream* os) {
  *os << (tr.kind == 1 ? "R" : "C") << "@" << tr.t << " v=" << tr.value << (tr.late ? " late" : "");
}

struct Pt {
  int64_t t;
  double v;
  uint32_t q;
};

// The reference: one object per rule, written from the rule text in
// storage/events/rule_evaluator.cc without sharing its code.
class RefRule {
 public:
  explicit RefRule(RuleSpec s) : s_(std::move(s)) {}

  void Sample(const std::string& tag, const Pt& p, std::vector<Tr>* out) {
    bool twin = s_.kind == RuleKind::kTwinDeviation && tag == s_.twin_tag;
    if (!twin && tag != s_.tag) return;
    std::vector<Pt>& mine = twin ? y_ : x_;
    bool late = !mine.empty() && p.t < mine.back().t;
    switch (s_.kind) {
      case RuleKind::kStale:
        if (late) return;
        mine.push_back(p);
        if (active_) {
          active_ = false;
          out->push_back({2, p.t, p.v, false});
        }
        return;
      case RuleKind::kRateOfChange: {
        if (late) return;
        // Reference: newest earlier sample at or before t - window.
        bool found = false;
        Pt ref{};
        for (const Pt& q : mine) {
          if (q.t <= p.t - s_.window_ns) {
            found = true;
            ref = q;
          }
        }
        mine.push_back(p);
        if (!found) return;
        double r = std::fabs(p.v - ref.v) * 1e9 / static_cast<double>(s_.window_ns);
        Live(p.t, r > s_.limit, r <= s_.limit - s_.deadband, r, out);
        return;
      }
      case RuleKind::kTwinDeviation: {
        const std::vector<Pt>& other = twin ? x_ : y_;
        bool known = false;
        double d = 0;
        int64_t at = p.t;
        if (!other.empty()) {
          int64_t skew = s_.window_ns > 0        ? s_.window_ns
                         : s_.stale_after_ns > 0 ? s_.stale_after_ns
                                                 : int64_t{60'000'000'000};
          if (std::llabs(p.t - other.back().t) <= skew) {
            known = true;
            d = twin ? other.back().v - p.v : p.v - other.back().v;
            at = std::max(p.t, other.back().t);
          }
        }
        bool viol = std::fabs(d) > s_.limit;
        if (late) {
          if (known) Late(at, viol, d, out);
          return;
        }
        mine.push_back(p);
        if (known) Live(at, viol, std::fabs(d) <= s_.limit - s_.deadband, d, out);
        return;
      }
      case RuleKind::kBadQuality: {
        bool bad = (p.q >> 31) != 0;
        if (late) return Late(p.t, bad, p.v, out);
        mine.push_back(p);
        return Live(p.t, bad, !bad, p.v, out);
      }
      default: {
        bool high = s_.kind == RuleKind::kHigh || s_.kind == RuleKind::kHighHigh;
        bool viol = high ? p.v > s_.limit : p.v < s_.limit;
        bool clears = high ? p.v <= s_.limit - s_.deadband : p.v >= s_.limit + s_.deadband;
        if (late) return Late(p.t, viol, p.v, out);
        mine.push_back(p);
        return Live(p.t, viol, clears, p.v, out);
      }
    }
  }

  void Timer(int64_t now, std::vector<Tr>* out) {
    if (s_.kind == RuleKind::kStale) {
      if (x_.empty() && !armed_) {
        armed_ = true;
        armed_at_ = now;
      }
      if (active_ || (x_.empty() && !armed_)) return;
      int64_t base = x_.empty() ? armed_at_ : x_.back().t;
      if (now >= base + s_.stale_after_ns) {
        active_ = true;
        out->push_back({1, base + s_.stale_after_ns, x_.empty() ? 0 : x_.back().v, false});
      }
      return;
    }
    // Twin rules raise only on a compared pair (the twin may be missing).
    if (s_.kind == RuleKind::kTwinDeviation) return;
    RaiseIfDue(now, out);
  }

 private:
  int64_t Hold() const {
    return s_.kind == RuleKind::kTwinDeviation || s_.kind == RuleKind::kBadQuality ? s_.duration_ns
                                                                                   : s_.on_delay_ns;
  }
  void RaiseIfDue(int64_t t, std::vector<Tr>* out) {
    if (!active_ && pending_ && since_ + Hold() <= t) {
      active_ = true;
      pending_ = false;
      out->push_back({1, since_ + Hold(), since_v_, false});
    }
  }
  void Live(int64_t t, bool viol, bool clears, double v, std::vector<Tr>* out) {
    RaiseIfDue(t, out);
    if (active_) {
      if (clears) {
        active_ = false;
        out->push_back({2, t, v, false});
      }
    } else if (!viol) {
      pending_ = false;
    } else if (Hold() == 0) {
      active_ = true;
      out->push_back({1, t, v, false});
    } else if (!pending_) {
      pending_ = true;
      since_ = t;
      since_v_ = v;
    }
  }
  void Late(int64_t t, bool viol, double v, std::vector<Tr>* out) {
    if (!viol) {
      late_run_ = false;
      return;
    }
    if (!late_run_ || t < late_prev_) out->push_back({1, t, v, true});
    late_run_ = true;
    late_prev_ = t;
  }

  RuleSpec s_;
  std::vector<Pt> x_, y_;
  bool active_ = false, pending_ = false, armed_ = false, late_run_ = false;
  int64_t since_ = 0, armed_at_ = 0, late_prev_ = 0;
  double since_v_ = 0;
};

std::vector<RuleSpec> RandomRules(std::mt19937_64& rng) {
  auto pick = [&](std::vector<int64_t> v) { return v[rng() % v.size()]; };
  std::vector<RuleSpec> rules;
  const char* tags[] = {"a", "b", "c"};
  uint64_t id = 1;
  for (int i = 0; i < 12; ++i) {
    RuleSpec s;
    s.rule_id = id++;
    s.kind = static_cast<RuleKind>(1 + rng() % 8);
    s.tag = tags[rng() % 3];
    s.home_site = rng() % 8 == 0 ? "mx" : "us";
    s.deadband = static_cast<double>(pick({0, 2, 5}));
    s.on_delay_ns = pick({0, 0, 3, 7});
    s.duration_ns = pick({0, 4, 9});
    switch (s.kind) {
      case RuleKind::kHigh:
      case RuleKind::kHighHigh:
        s.limit = static_cast<double>(pick({50, 60}));
        break;
      case RuleKind::kLow:
      case RuleKind::kLowLow:
        s.limit = static_cast<double>(pick({40, 30}));
        break;
      case RuleKind::kRateOfChange:
        s.window_ns = pick({3, 6});
        s.limit = static_cast<double>(pick({1, 3})) * 1e9;  // per second; time unit is ns here
        s.deadband = s.deadband * 1e9;
        break;
      case RuleKind::kStale:
        s.stale_after_ns = pick({5, 12});
        break;
      case RuleKind::kTwinDeviation:
        s.twin_tag = s.tag == "a" ? "b" : "a";
        s.limit = static_cast<double>(pick({5, 10}));
        s.window_ns = pick({0, 4});
        s.stale_after_ns = pick({0, 8});
        break;
      case RuleKind::kBadQuality:
        break;
    }
    rules.push_back(s);
  }
  return rules;
}

// Groups transitions per rule, keeping their order.
std::map<uint64_t, std::vector<Tr>> ByRule(const std::vector<Transition>& in) {
  std::map<uint64_t, std::vector<Tr>> m;
  for (const Transition& t : in) {
    m[t.rule_id].push_back({static_cast<int>(t.kind), t.time_ns, t.value, t.late});
  }
  return m;
}

TEST(RuleEvaluatorModelTest, RandomStreamsMatchReference) {
  int64_t total_transitions = 0, total_late = 0, restarts = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    std::vector<RuleSpec> rules = RandomRules(rng);
    auto ev = RuleEvaluator::Create("us");
    ASSERT_TRUE(ev->SetRules(rules).ok());
    std::vector<RefRule> refs;
    for (const RuleSpec& r : rules) {
      if (r.home_site == "us") refs.emplace_back(r);
    }
    std::vector<Transition> got;
    std::map<uint64_t, std::vector<Tr>> want;
    auto ref_out = [&](size_t i) -> std::vector<Tr>* { return &want[rules[i].rule_id]; };
    std::vector<uint64_t> ids;
    for (const RuleSpec& r : rules) {
      if (r.home_site == "us") ids.push_back(r.rule_id);
    }
    const char* tags[] = {"a", "b", "c"};
    int64_t clock[3] = {0, 0, 0};
    double value[3] = {50, 50, 50};
    int64_t now = 0;
    for (int step = 0; step < 400; ++step) {
      uint64_t op = rng() % 100;
      if (op < 75) {
        // A batch of samples of one tag, in time order (maybe all late).
        int tag = static_cast<int>(rng() % 3);
        bool late = rng() % 10 == 0 && clock[tag] > 20;
        int64_t t = late ? clock[tag] - 1 - static_cast<int64_t>(rng() % 20) : clock[tag];
        int n = 1 + static_cast<int>(rng() % 4);
        std::vector<Pt> pts;
        for (int i = 0; i < n; ++i) {
          t += static_cast<int64_t>(rng() % (rng() % 6 == 0 ? 15 : 3));  // gaps, equal times
          value[tag] += static_cast<double>(static_cast<int>(rng() % 13) - 6);
          if (rng() % 4 == 0) value[tag] = 50 + static_cast<double>(rng() % 20) - 10;
          uint32_t q = rng() % 5 == 0 ? (1u << 31) : 0;
          pts.push_back({t, value[tag], q});
        }
        if (!late) clock[tag] = std::max(clock[tag], t);
        std::vector<SampleView> views;
        for (const Pt& p : pts) views.push_back({tags[tag], p.t, p.v, p.q});
        ev->OnSamples(views, &got);
        for (const Pt& p : pts) {
          for (size_t i = 0, j = 0; i < rules.size(); ++i) {
            if (rules[i].home_site != "us") continue;
            refs[j++].Sample(tags[tag], p, ref_out(i));
          }
        }
      } else if (op < 92) {
        now = std::max(now, *std::max_element(clock, clock + 3)) + static_cast<int64_t>(rng() % 10);
        int64_t next = ev->NextDeadlineNs();
        std::vector<Transition> timer_out;
        ev->OnTimer(now, &timer_out);
        // NextDeadlineNs is a bound: nothing fires before it.
        if (next > now) {
          EXPECT_TRUE(timer_out.empty()) << next << " " << now;
        }
        got.insert(got.end(), timer_out.begin(), timer_out.end());
        for (size_t i = 0, j = 0; i < rules.size(); ++i) {
          if (rules[i].home_site != "us") continue;
          refs[j++].Timer(now, ref_out(i));
        }
      } else {
        // Restart: state saved, a new evaluator, rules and state in either order.
        std::string state = ev->SaveState();
        ev = RuleEvaluator::Create("us");
        if (rng() % 2) {
          ASSERT_TRUE(ev->SetRules(rules).ok());
          ASSERT_TRUE(ev->LoadState(state).ok());
        } else {
          ASSERT_TRUE(ev->LoadState(state).ok());
          ASSERT_TRUE(ev->SetRules(rules).ok());
        }
        ++restarts;
      }
    }
    std::map<uint64_t, std::vector<Tr>> got_by_rule = ByRule(got);
    for (uint64_t id : ids) {
      EXPECT_EQ(got_by_rule[id], want[id]) << "rule " << id;
      total_transitions += static_cast<int64_t>(want[id].size());
      for (const Tr& t : want[id]) total_late += t.late;
    }
    for (const auto& [id, trs] : got_by_rule) {
      EXPECT_TRUE(std::find(ids.begin(), ids.end(), id) != ids.end()) << "rule of mx: " << id;
    }
    if (HasFailure()) break;
  }
  // The streams exercise what they should (not a tautology of zero events).
  EXPECT_GT(total_transitions, 50000);
  EXPECT_GT(total_late, 1000);
  EXPECT_GT(restarts, 5000);
  std::cout << "transitions " << total_transitions << " late " << total_late << " restarts "
            << restarts << "\n";
}

// OnColumns (the events part's entry: a series as the store applied it, in
// any time order, with the quiet-rule shortcut) against OnSamples over the
// same samples stable-sorted by time: the same transitions in the same
// order and the same saved state after every batch, for every value type,
// batches in and out of order, late, crossing the limits or not, and tags
// with several rules (limit rules mostly, as at the full preset).
TEST(RuleEvaluatorModelTest, ColumnsMatchSortedSamples) {
  int64_t transitions = 0, quiet_batches = 0;
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    std::vector<RuleSpec> rules = RandomRules(rng);
    // More limit rules than RandomRules gives, with limits the values rarely cross.
    for (int i = 0; i < 6; ++i) {
      RuleSpec s;
      s.rule_id = 100 + static_cast<uint64_t>(i);
      s.kind = static_cast<RuleKind>(1 + rng() % 4);
      s.tag = std::string(1, "abc"[rng() % 3]);
      s.home_site = "us";
      const bool upper = s.kind == RuleKind::kHigh || s.kind == RuleKind::kHighHigh;
      s.limit = upper ? 64 + static_cast<double>(rng() % 8) : 36 - static_cast<double>(rng() % 8);
      s.deadband = static_cast<double>(rng() % 3);
      s.on_delay_ns = rng() % 3 == 0 ? 4 : 0;
      rules.push_back(s);
    }
    auto by_columns = RuleEvaluator::Create("us");
    auto by_samples = RuleEvaluator::Create("us");
    ASSERT_TRUE(by_columns->SetRules(rules).ok());
    ASSERT_TRUE(by_samples->SetRules(rules).ok());
    const char* tags[] = {"a", "b", "c"};
    int64_t clock[3] = {0, 0, 0};
    double value[3] = {50, 50, 50};
    for (int step = 0; step < 300; ++step) {
      const int tag = static_cast<int>(rng() % 3);
      const int n = 1 + static_cast<int>(rng() % 12);
      int64_t t = rng() % 8 == 0 && clock[tag] > 30 ? clock[tag] - static_cast<int64_t>(rng() % 30)
                                                    : clock[tag];
      std::vector<int64_t> ts;
      std::vector<double> doubles;
      std::vector<int64_t> ints;
      std::vector<uint8_t> bools;
      std::vector<uint32_t> qualities;
      const int type = static_cast<int>(rng() % 4);  // 0, 1 doubles, 2 ints, 3 bools
      for (int i = 0; i < n; ++i) {
        t += static_cast<int64_t>(rng() % 4);
        if (rng() % 3 == 0) value[tag] = 50 + static_cast<double>(static_cast<int>(rng() % 9) - 4);
        value[tag] += static_cast<double>(static_cast<int>(rng() % 5) - 2);
        if (rng() % 10 == 0) value[tag] += rng() % 2 ? 30 : -30;  // crosses some limits
        ts.push_back(t);
        doubles.push_back(rng() % 50 == 0 ? std::nan("") : value[tag]);
        ints.push_back(static_cast<int64_t>(value[tag]));
        bools.push_back(rng() % 2);
        qualities.push_back(rng() % 6 == 0 ? (1u << 31) : 0);
      }
      clock[tag] = std::max(clock[tag], t);
      if (rng() % 4 == 0) {  // out of time order within the batch
        for (int i = n - 1; i > 0; --i) {
          const int j = static_cast<int>(rng() % static_cast<uint64_t>(i + 1));
          std::swap(ts[i], ts[j]);
          std::swap(doubles[i], doubles[j]);
          std::swap(ints[i], ints[j]);
          std::swap(bools[i], bools[j]);
          std::swap(qualities[i], qualities[j]);
        }
      }
      ColumnsView c;
      c.tag = tags[tag];
      c.size = ts.size();
      c.ts = ts.data();
      c.qualities = qualities.data();
      if (type < 2) c.doubles = doubles.data();
      if (type == 2) c.ints = ints.data();
      if (type == 3) c.bools = bools.data();
      std::vector<size_t> order(ts.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return ts[a] < ts[b]; });
      std::vector<SampleView> views;
      for (size_t i : order) views.push_back({tags[tag], ts[i], c.ValueAt(i), qualities[i]});
      std::vector<Transition> got, want;
      by_columns->OnColumns(c, &got);
      by_samples->OnSamples(views, &want);
      ASSERT_EQ(got.size(), want.size()) << "step " << step;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].rule_id, want[i].rule_id);
        EXPECT_EQ(got[i].kind, want[i].kind);
        EXPECT_EQ(got[i].time_ns, want[i].time_ns);
        EXPECT_TRUE(got[i].value == want[i].value ||
                    (std::isnan(got[i].value) && std::isnan(want[i].value)));
        EXPECT_EQ(got[i].late, want[i].late);
      }
      ASSERT_EQ(by_columns->SaveState(), by_samples->SaveState()) << "step " << step;
      transitions += static_cast<int64_t>(got.size());
      quiet_batches += got.empty();
      if (rng() % 10 == 0) {
        std::vector<Transition> a, b;
        const int64_t now = *std::max_element(clock, clock + 3) + static_cast<int64_t>(rng() % 10);
        by_columns->OnTimer(now, &a);
        by_samples->OnTimer(now, &b);
        ASSERT_EQ(a.size(), b.size());
      }
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(transitions, 20000);
  EXPECT_GT(quiet_batches, 30000);
}

// Rules added one batch at a time (AddRules, how a node takes new rules)
// against the same rules set whole each time (SetRules, a full resolve):
// the same transitions in the same order and the same saved state after
// every step, across restarts that leave the newest rules' states loaded
// but not set yet (parked), which the next AddRules must take up.
TEST(RuleEvaluatorModelTest, AddRulesMatchesSetRulesOfTheSameRules) {
  int64_t transitions = 0, parked_taken = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    std::vector<RuleSpec> pool = RandomRules(rng);
    for (RuleSpec& r : RandomRules(rng)) {
      r.rule_id += 100;
      pool.push_back(r);
    }
    std::unique_ptr<RuleEvaluator> added = RuleEvaluator::Create("us");
    std::unique_ptr<RuleEvaluator> whole = RuleEvaluator::Create("us");
    size_t set = 0;     // pool[0, set) are the rules now
    size_t parked = 0;  // pool[set, parked) have a loaded state, not set
    const char* tags[] = {"a", "b", "c"};
    int64_t clock = 0;
    double value[3] = {50, 50, 50};
    for (int step = 0; step < 200; ++step) {
      const uint64_t op = rng() % 10;
      if (op == 0 && set < pool.size()) {
        const size_t n = std::min<size_t>(pool.size() - set, 1 + rng() % 3);
        std::vector<RuleSpec> more(pool.begin() + static_cast<ptrdiff_t>(set),
                                   pool.begin() + static_cast<ptrdiff_t>(set + n));
        set += n;
        if (set >= parked) parked = 0;
        ASSERT_TRUE(added->AddRules(more).ok());
        ASSERT_TRUE(whole
                        ->SetRules(std::vector<RuleSpec>(
                            pool.begin(), pool.begin() + static_cast<ptrdiff_t>(set)))
                        .ok());
        // An id set already (a rule evaluated here) is refused, nothing added.
        for (size_t i = 0; i < set; ++i) {
          if (pool[i].home_site != "us") continue;
          EXPECT_FALSE(added->AddRules({pool[i], pool[set - 1]}).ok());
          break;
        }
      } else if (op == 1 && set >= 2) {
        // A restart: the state of every rule saved; the node opens with all
        // but the newest k set, so their states are parked.
        const std::string saved = added->SaveState();
        ASSERT_EQ(saved, whole->SaveState());
        const size_t k = 1 + rng() % 2;
        added = RuleEvaluator::Create("us");
        whole = RuleEvaluator::Create("us");
        const std::vector<RuleSpec> first(pool.begin(),
                                          pool.begin() + static_cast<ptrdiff_t>(set - k));
        ASSERT_TRUE(added->SetRules(first).ok());
        ASSERT_TRUE(whole->SetRules(first).ok());
        ASSERT_TRUE(added->LoadState(saved).ok());
        ASSERT_TRUE(whole->LoadState(saved).ok());
        parked = set;
        set -= k;
        parked_taken += static_cast<int64_t>(k);
      } else if (op == 2) {
        std::vector<Transition> a, b;
        const int64_t now = clock + static_cast<int64_t>(rng() % 10);
        added->OnTimer(now, &a);
        whole->OnTimer(now, &b);
        ASSERT_EQ(ByRule(a), ByRule(b)) << "step " << step;
        transitions += static_cast<int64_t>(a.size());
      } else {
        const int tag = static_cast<int>(rng() % 3);
        std::vector<SampleView> views;
        const int n = 1 + static_cast<int>(rng() % 8);
        for (int i = 0; i < n; ++i) {
          clock += static_cast<int64_t>(rng() % 4);
          int64_t t = clock;
          if (rng() % 8 == 0 && t > 20) t -= static_cast<int64_t>(rng() % 20);  // late
          value[tag] += static_cast<double>(static_cast<int>(rng() % 9) - 4);
          if (rng() % 8 == 0) value[tag] = 50 + (rng() % 2 ? 25.0 : -25.0);
          views.push_back({tags[tag], t, value[tag], rng() % 6 == 0 ? (1u << 31) : 0u});
        }
        std::vector<Transition> a, b;
        added->OnSamples(views, &a);
        whole->OnSamples(views, &b);
        ASSERT_EQ(a.size(), b.size()) << "step " << step;
        for (size_t i = 0; i < a.size(); ++i) {
          EXPECT_EQ(a[i].rule_id, b[i].rule_id);
          EXPECT_EQ(a[i].kind, b[i].kind);
          EXPECT_EQ(a[i].time_ns, b[i].time_ns);
          EXPECT_EQ(a[i].late, b[i].late);
        }
        transitions += static_cast<int64_t>(a.size());
      }
      ASSERT_EQ(added->SaveState(), whole->SaveState()) << "step " << step;
      ASSERT_EQ(added->NextDeadlineNs(), whole->NextDeadlineNs()) << "step " << step;
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(transitions, 5000);
  EXPECT_GT(parked_taken, 200);
}

}  // namespace
}  // namespace historian::events
