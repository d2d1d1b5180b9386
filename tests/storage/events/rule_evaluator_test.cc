// File: tests/storage/events/rule_evaluator_test.cc
// The RuleEvaluator's rule types, one behaviour per test (the exact
// semantics are in storage/events/rule_evaluator.cc's header comment).
#include "storage/events/rule_evaluator.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::events {
namespace {

using Kind = Transition::Kind;
constexpr int64_t kS = 1'000'000'000;

struct Tr {
  Kind kind;
  int64_t t;
  double value;
  bool late;
  bool operator==(const Tr& o) const {
    return kind == o.kind && t == o.t && value == o.value && late == o.late;
  }
};

void PrintTo(const Tr& tr, std::ostream* os) {
  *os << (tr.kind == Kind::kRaised ? "raised" : "cleared") << "@" << tr.t << " v=" << tr.value
      << (tr.late ? " late" : "");
}

Tr R(int64_t t, double v, bool late = false) { return {Kind::kRaised, t, v, late}; }
Tr C(int64_t t, double v) { return {Kind::kCleared, t, v, false}; }

RuleSpec Rule(uint64_t id, RuleKind kind, double limit, std::string tag = "a") {
  RuleSpec s;
  s.rule_id = id;
  s.kind = kind;
  s.tag = std::move(tag);
  s.home_site = "us";
  s.limit = limit;
  return s;
}

class Harness {
 public:
  explicit Harness(std::vector<RuleSpec> rules, std::string site = "us")
      : ev_(RuleEvaluator::Create(site)), rules_(rules) {
    EXPECT_TRUE(ev_->SetRules(std::move(rules)).ok());
  }
  std::vector<Tr> Sample(std::string tag, int64_t t, double v, uint32_t q = 0) {
    SampleView s{tag, t, v, q};
    std::vector<Transition> out;
    ev_->OnSamples({&s, 1}, &out);
    return Convert(out);
  }
  std::vector<Tr> Timer(int64_t now) {
    std::vector<Transition> out;
    ev_->OnTimer(now, &out);
    return Convert(out);
  }
  void Restart() {
    std::string state = ev_->SaveState();
    ev_ = RuleEvaluator::Create("us");
    ASSERT_TRUE(ev_->LoadState(state).ok());
    ASSERT_TRUE(ev_->SetRules(rules_).ok());
  }
  RuleEvaluator& ev() { return *ev_; }

 private:
  static std::vector<Tr> Convert(const std::vector<Transition>& out) {
    std::vector<Tr> r;
    for (const Transition& t : out) r.push_back({t.kind, t.time_ns, t.value, t.late});
    return r;
  }
  std::unique_ptr<RuleEvaluator> ev_;
  std::vector<RuleSpec> rules_;
};

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(RuleEvaluatorTest, HighRaisesAndClears) {
  Harness h({Rule(1, RuleKind::kHigh, 50)});
  EXPECT_THAT(h.Sample("a", 1, 40), IsEmpty());
  EXPECT_THAT(h.Sample("a", 2, 51), ElementsAre(R(2, 51)));
  EXPECT_THAT(h.Sample("a", 3, 60), IsEmpty());  // already active
  EXPECT_THAT(h.Sample("a", 4, 50), ElementsAre(C(4, 50)));
  EXPECT_THAT(h.Sample("b", 5, 99), IsEmpty());  // other tag
}

TEST(RuleEvaluatorTest, LowLowAndHighHigh) {
  Harness h({Rule(1, RuleKind::kLowLow, 10), Rule(2, RuleKind::kHighHigh, 90)});
  EXPECT_THAT(h.Sample("a", 1, 9), ElementsAre(R(1, 9)));
  EXPECT_THAT(h.Sample("a", 2, 10), ElementsAre(C(2, 10)));
  EXPECT_THAT(h.Sample("a", 3, 91), ElementsAre(R(3, 91)));
}

TEST(RuleEvaluatorTest, DeadbandChatterDoesNotFlap) {
  RuleSpec hi = Rule(1, RuleKind::kHigh, 50);
  hi.deadband = 2;
  RuleSpec lo = Rule(2, RuleKind::kLow, 10);
  lo.deadband = 2;
  Harness h({hi, lo});
  EXPECT_THAT(h.Sample("a", 1, 50.5), ElementsAre(R(1, 50.5)));
  // Chatter around the limit, inside the deadband: one alarm, no flapping.
  for (int i = 0; i < 20; ++i) {
    EXPECT_THAT(h.Sample("a", 2 + i, i % 2 ? 50.5 : 48.5), IsEmpty()) << i;
  }
  EXPECT_THAT(h.Sample("a", 30, 48), ElementsAre(C(30, 48)));
  EXPECT_THAT(h.Sample("a", 31, 9.9), ElementsAre(R(31, 9.9)));
  EXPECT_THAT(h.Sample("a", 32, 11.9), IsEmpty());
  EXPECT_THAT(h.Sample("a", 33, 12), ElementsAre(C(33, 12)));
}

TEST(RuleEvaluatorTest, OnDelayRaisesAtDeadlineOnSampleOrTimer) {
  RuleSpec r = Rule(1, RuleKind::kHigh, 50);
  r.on_delay_ns = 10 * kS;
  Harness h({r});
  EXPECT_EQ(h.ev().NextDeadlineNs(), INT64_MAX);
  EXPECT_THAT(h.Sample("a", 100 * kS, 60), IsEmpty());
  EXPECT_EQ(h.ev().NextDeadlineNs(), 110 * kS);
  EXPECT_THAT(h.Sample("a", 105 * kS, 70), IsEmpty());
  EXPECT_THAT(h.Timer(109 * kS), IsEmpty());
  EXPECT_THAT(h.Timer(111 * kS), ElementsAre(R(110 * kS, 60)));
  EXPECT_EQ(h.ev().NextDeadlineNs(), INT64_MAX);
  EXPECT_THAT(h.Sample("a", 112 * kS, 40), ElementsAre(C(112 * kS, 40)));
  // Without a timer: the sample past the deadline raises it first.
  EXPECT_THAT(h.Sample("a", 200 * kS, 60), IsEmpty());
  EXPECT_THAT(h.Sample("a", 215 * kS, 61), ElementsAre(R(210 * kS, 60)));
}

TEST(RuleEvaluatorTest, OnDelayCancelledByABreakingSample) {
  RuleSpec r = Rule(1, RuleKind::kHigh, 50);
  r.on_delay_ns = 10 * kS;
  Harness h({r});
  EXPECT_THAT(h.Sample("a", 100 * kS, 60), IsEmpty());
  EXPECT_THAT(h.Sample("a", 105 * kS, 49), IsEmpty());  // cancels
  EXPECT_EQ(h.ev().NextDeadlineNs(), INT64_MAX);
  EXPECT_THAT(h.Timer(120 * kS), IsEmpty());
  EXPECT_THAT(h.Sample("a", 106 * kS, 60), IsEmpty());  // starts again
  EXPECT_THAT(h.Timer(115 * kS), IsEmpty());
  EXPECT_THAT(h.Timer(116 * kS), ElementsAre(R(116 * kS, 60)));
}

TEST(RuleEvaluatorTest, RateOfChangeOverWindow) {
  RuleSpec r = Rule(1, RuleKind::kRateOfChange, 2);  // 2 units per second
  r.window_ns = 10 * kS;
  Harness h({r});
  EXPECT_THAT(h.Sample("a", 0, 0), IsEmpty());
  EXPECT_THAT(h.Sample("a", 5 * kS, 100), IsEmpty());  // no reference 10 s back yet
  EXPECT_THAT(h.Sample("a", 10 * kS, 20), IsEmpty());  // |20-0|/10 = 2: not > 2
  EXPECT_THAT(h.Sample("a", 11 * kS, 21), ElementsAre(R(11 * kS, 2.1)));  // ref 0 @ 0
  EXPECT_THAT(h.Sample("a", 15 * kS, 100), ElementsAre(C(15 * kS, 0)));   // ref 100 @ 5
  EXPECT_THAT(h.Sample("a", 16 * kS, 100), IsEmpty());
}

TEST(RuleEvaluatorTest, StaleIsTimerDrivenAndClearsOnNextSample) {
  RuleSpec r = Rule(1, RuleKind::kStale, 0);
  r.stale_after_ns = 60 * kS;
  Harness h({r});
  EXPECT_EQ(h.ev().NextDeadlineNs(), 0);  // asks for a first OnTimer to arm
  EXPECT_THAT(h.Timer(1000 * kS), IsEmpty());
  EXPECT_EQ(h.ev().NextDeadlineNs(), 1060 * kS);
  EXPECT_THAT(h.Sample("a", 1010 * kS, 5), IsEmpty());
  EXPECT_EQ(h.ev().NextDeadlineNs(), 1070 * kS);
  EXPECT_THAT(h.Sample("a", 1020 * kS, 6), IsEmpty());
  EXPECT_EQ(h.ev().NextDeadlineNs(), 1080 * kS);
  EXPECT_THAT(h.Timer(1079 * kS), IsEmpty());
  EXPECT_THAT(h.Timer(1100 * kS), ElementsAre(R(1080 * kS, 6)));
  EXPECT_EQ(h.ev().NextDeadlineNs(), INT64_MAX);
  EXPECT_THAT(h.Timer(2000 * kS), IsEmpty());           // no second raise
  EXPECT_THAT(h.Sample("a", 1010 * kS, 7), IsEmpty());  // late: no clear
  EXPECT_THAT(h.Sample("a", 2001 * kS, 8), ElementsAre(C(2001 * kS, 8)));
  EXPECT_EQ(h.ev().NextDeadlineNs(), 2061 * kS);
}

TEST(RuleEvaluatorTest, StaleAcrossRestart) {
  RuleSpec r = Rule(1, RuleKind::kStale, 0);
  r.stale_after_ns = 60 * kS;
  RuleSpec other = Rule(2, RuleKind::kStale, 0, "b");
  other.stale_after_ns = 60 * kS;
  Harness h({r, other});
  EXPECT_THAT(h.Sample("a", 1000 * kS, 5), IsEmpty());
  EXPECT_THAT(h.Sample("b", 1030 * kS, 5), IsEmpty());
  EXPECT_THAT(h.Timer(1070 * kS), ElementsAre(R(1060 * kS, 5)));
  h.Restart();  // "a" is active, "b"'s timer runs
  EXPECT_EQ(h.ev().NextDeadlineNs(), 1090 * kS);
  EXPECT_THAT(h.Timer(1200 * kS), ElementsAre(R(1090 * kS, 5)));  // "b" only: no second "a"
  h.Restart();
  EXPECT_THAT(h.Timer(1300 * kS), IsEmpty());
  EXPECT_THAT(h.Sample("a", 1301 * kS, 9), ElementsAre(C(1301 * kS, 9)));
}

TEST(RuleEvaluatorTest, RestartDuringActiveAlarmDoesNotRaiseAgain) {
  RuleSpec r = Rule(1, RuleKind::kHigh, 50);
  r.deadband = 1;
  Harness h({r});
  EXPECT_THAT(h.Sample("a", 1, 60), ElementsAre(R(1, 60)));
  h.Restart();
  EXPECT_THAT(h.Sample("a", 2, 61), IsEmpty());
  EXPECT_THAT(h.Sample("a", 3, 49), ElementsAre(C(3, 49)));
}

TEST(RuleEvaluatorTest, PendingOnDelayAcrossRestart) {
  RuleSpec r = Rule(1, RuleKind::kHigh, 50);
  r.on_delay_ns = 10;
  Harness h({r});
  EXPECT_THAT(h.Sample("a", 100, 60), IsEmpty());
  h.Restart();
  EXPECT_EQ(h.ev().NextDeadlineNs(), 110);
  EXPECT_THAT(h.Timer(110), ElementsAre(R(110, 60)));
}

TEST(RuleEvaluatorTest, LateSamplesFlaggedNotRaised) {
  RuleSpec r = Rule(1, RuleKind::kHigh, 50);
  Harness h({r});
  EXPECT_THAT(h.Sample("a", 100, 10), IsEmpty());
  EXPECT_THAT(h.Sample("a", 50, 60), ElementsAre(R(50, 60, /*late=*/true)));
  EXPECT_THAT(h.Sample("a", 51, 70), IsEmpty());  // same late run
  EXPECT_THAT(h.Sample("a", 52, 10), IsEmpty());  // ends it
  EXPECT_THAT(h.Sample("a", 53, 70), ElementsAre(R(53, 70, true)));
  EXPECT_THAT(h.Sample("a", 20, 70), ElementsAre(R(20, 70, true)));  // earlier: a new run
  // The live state never moved: a live violating sample raises live.
  EXPECT_THAT(h.Sample("a", 101, 60), ElementsAre(R(101, 60)));
  // A late sample that would clear does not clear.
  EXPECT_THAT(h.Sample("a", 60, 0), IsEmpty());
  EXPECT_THAT(h.Sample("a", 102, 0), ElementsAre(C(102, 0)));
}

TEST(RuleEvaluatorTest, BadQualityLongerThanDuration) {
  RuleSpec r = Rule(1, RuleKind::kBadQuality, 0);
  r.duration_ns = 10;
  Harness h({r});
  const uint32_t bad = 1u << 31;
  EXPECT_THAT(h.Sample("a", 100, 1, bad), IsEmpty());
  EXPECT_THAT(h.Sample("a", 105, 2, 0), IsEmpty());  // good again: cancelled
  EXPECT_THAT(h.Sample("a", 106, 3, bad | 7), IsEmpty());
  EXPECT_THAT(h.Sample("a", 115, 4, bad), IsEmpty());
  EXPECT_THAT(h.Sample("a", 116, 5, bad), ElementsAre(R(116, 3)));
  EXPECT_THAT(h.Sample("a", 117, 6, 0x1234), ElementsAre(C(117, 6)));  // bit 31 clear: good
}

TEST(RuleEvaluatorTest, TwinDeviationBothOrdersOfArrival) {
  RuleSpec r = Rule(1, RuleKind::kTwinDeviation, 5, "us.x");
  r.twin_tag = "mx.x";
  r.duration_ns = 0;
  r.window_ns = 10;  // samples at most 10 ns apart are compared
  for (bool twin_first : {false, true}) {
    SCOPED_TRACE(twin_first);
    Harness h({r});
    std::vector<Tr> all;
    auto add = [&](std::vector<Tr> v) { all.insert(all.end(), v.begin(), v.end()); };
    if (twin_first) {
      add(h.Sample("mx.x", 101, 10));
      add(h.Sample("us.x", 100, 20));
    } else {
      add(h.Sample("us.x", 100, 20));
      add(h.Sample("mx.x", 101, 10));
    }
    EXPECT_THAT(all, ElementsAre(R(101, 10)));
    // Too far apart: not compared.
    EXPECT_THAT(h.Sample("us.x", 200, 10), IsEmpty());
    EXPECT_THAT(h.Sample("mx.x", 205, 10), ElementsAre(C(205, 0)));
  }
}

TEST(RuleEvaluatorTest, TwinDeviationLongerThanDuration) {
  RuleSpec r = Rule(1, RuleKind::kTwinDeviation, 5, "us.x");
  r.twin_tag = "mx.x";
  r.duration_ns = 20;
  Harness h({r});
  EXPECT_TRUE(h.ev().Watches("mx.x"));
  EXPECT_THAT(h.Sample("us.x", 100, 20), IsEmpty());
  EXPECT_THAT(h.Sample("mx.x", 100, 0), IsEmpty());  // d = 20, pending since 100
  EXPECT_THAT(h.Sample("mx.x", 110, 0), IsEmpty());
  // Time alone never raises a twin rule: the twin's samples may only be
  // missing (a partition), not agreeing. No deadline, no timer raise.
  EXPECT_EQ(h.ev().NextDeadlineNs(), INT64_MAX);
  EXPECT_THAT(h.Timer(119), IsEmpty());
  EXPECT_THAT(h.Timer(1000), IsEmpty());
  // The next compared pair at or past the deadline raises, at the deadline,
  // with the deviation that started it.
  EXPECT_THAT(h.Sample("us.x", 130, 20), ElementsAre(R(120, 20)));
}

// During a partition the home site gets no twin samples: a sample of X is
// compared only with a twin sample at most the skew away (default 60 s when
// neither the rule's window nor the tag's stale_after_ns is set), so the
// twin's last value before the partition neither raises nor clears.
TEST(RuleEvaluatorTest, TwinDeviationNeverComparesWithAnOldTwinSample) {
  RuleSpec r = Rule(1, RuleKind::kTwinDeviation, 5, "us.x");
  r.twin_tag = "mx.x";
  r.deadband = 1;
  Harness h({r});
  EXPECT_THAT(h.Sample("mx.x", 0, 50), IsEmpty());
  EXPECT_THAT(h.Sample("us.x", 0, 60), ElementsAre(R(0, 10)));
  // 60 s later: still compared (the default skew) and still deviating.
  EXPECT_THAT(h.Sample("us.x", 60 * kS, 60), IsEmpty());
  // Past the skew: the twin's sample is too old to compare, no clear.
  EXPECT_THAT(h.Sample("us.x", 60 * kS + 1, 50), IsEmpty());
  EXPECT_THAT(h.Sample("us.x", 3600 * kS, 50), IsEmpty());
  // A second rule, quiet, sees X deviate from a twin value an hour old:
  // no raise either, whatever the time.
  RuleSpec quiet = r;
  quiet.rule_id = 2;
  quiet.duration_ns = kS;
  Harness q({quiet});
  EXPECT_THAT(q.Sample("mx.x", 0, 50), IsEmpty());
  EXPECT_THAT(q.Sample("us.x", 0, 50), IsEmpty());
  for (int64_t t = 61; t < 200; ++t) EXPECT_THAT(q.Sample("us.x", t * kS, 100), IsEmpty());
  EXPECT_THAT(q.Timer(1000 * kS), IsEmpty());
  // The twin's data arrives (after the heal): compared again.
  EXPECT_THAT(q.Sample("mx.x", 200 * kS, 50), IsEmpty());  // pending since 200 s
  EXPECT_THAT(q.Sample("us.x", 201 * kS, 100), ElementsAre(R(201 * kS, 50)));
}

TEST(RuleEvaluatorTest, RulesOfOtherSitesAreIgnored) {
  RuleSpec r = Rule(1, RuleKind::kHigh, 50);
  r.home_site = "mx";
  Harness h({r});
  EXPECT_FALSE(h.ev().Watches("a"));
  EXPECT_THAT(h.Sample("a", 1, 60), IsEmpty());
}

TEST(RuleEvaluatorTest, SetRulesKeepsStateOfRemainingRules) {
  Harness h({Rule(1, RuleKind::kHigh, 50), Rule(2, RuleKind::kHigh, 50)});
  EXPECT_THAT(h.Sample("a", 1, 60), ElementsAre(R(1, 60), R(1, 60)));
  RuleSpec changed = Rule(2, RuleKind::kHigh, 70);  // limit changed: state kept
  ASSERT_TRUE(h.ev().SetRules({changed, Rule(3, RuleKind::kHigh, 50)}).ok());
  std::vector<Transition> out;
  SampleView s{"a", 2, 75, 0};
  h.ev().OnSamples({&s, 1}, &out);
  ASSERT_EQ(out.size(), 1u);  // rule 3 raises; rule 2 stays active (no raise, no clear)
  EXPECT_EQ(out[0].rule_id, 3u);
  // A rule whose tag changed starts afresh.
  ASSERT_TRUE(h.ev().SetRules({Rule(3, RuleKind::kHigh, 50, "b")}).ok());
  out.clear();
  SampleView b{"b", 3, 65, 0};
  h.ev().OnSamples({&b, 1}, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRaised);
}

TEST(RuleEvaluatorTest, BadRulesRejected) {
  auto ev = RuleEvaluator::Create("us");
  RuleSpec rate = Rule(1, RuleKind::kRateOfChange, 1);
  EXPECT_FALSE(ev->SetRules({rate}).ok());
  RuleSpec stale = Rule(1, RuleKind::kStale, 0);
  EXPECT_FALSE(ev->SetRules({stale}).ok());
  RuleSpec twin = Rule(1, RuleKind::kTwinDeviation, 1);
  EXPECT_FALSE(ev->SetRules({twin}).ok());
  RuleSpec db = Rule(1, RuleKind::kHigh, 1);
  db.deadband = -1;
  EXPECT_FALSE(ev->SetRules({db}).ok());
  EXPECT_FALSE(ev->SetRules({Rule(1, RuleKind::kHigh, 1), Rule(1, RuleKind::kLow, 1)}).ok());
}

TEST(RuleEvaluatorTest, LoadStateRejectsCorruptInput) {
  RuleSpec r = Rule(1, RuleKind::kRateOfChange, 1);
  r.window_ns = 10;
  Harness h({r, Rule(2, RuleKind::kHigh, 1)});
  h.Sample("a", 1, 5);
  h.Sample("a", 20, 5);
  std::string state = h.ev().SaveState();
  auto ev = RuleEvaluator::Create("us");
  EXPECT_TRUE(ev->LoadState(state).ok());
  for (size_t i = 0; i < state.size(); ++i) {
    std::string bad = state;
    bad[i] ^= 0x20;
    EXPECT_FALSE(ev->LoadState(bad).ok()) << i;
  }
  for (size_t n = 0; n < state.size(); ++n) {
    EXPECT_FALSE(ev->LoadState(std::string_view(state).substr(0, n)).ok()) << n;
  }
  absl::Status st = ev->LoadState(state + "x");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("rule evaluator state"));
}

}  // namespace
}  // namespace historian::events
