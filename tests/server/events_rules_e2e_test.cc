// Each alarm rule type through one real historiand (docs/events.md), driven
// by gRPC and the CLI: deadband chatter raises once; late and historical
// samples are flagged, never live; a stale rule's timer across SIGTERM and
// kill -9 restarts (raised once); rate of change over a window; bad quality
// for longer than D (by samples and by the timer); Events.Subscribe sees
// raise, ack and clear in order and ends at client cancel and node stop;
// tags created after a glob rule are evaluated from their first sample; bad
// rules get errors naming the field and the limit; 10,000 rules work.
//
// Waits poll a condition up to a bound and fail loudly past it; where a test
// must show that something did NOT happen, it waits for a later event that
// the node can only produce after it (a barrier), never for time.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::NodeProcess;
using testing::RunCommand;
using testing::WaitFor;

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kMs = 1000000;
constexpr uint32_t kBad = 0x80000000u;
// Sample time of the sample-driven tests: fixed, in the past.
constexpr int64_t kT0 = int64_t{1790000000} * kSecond;
// How long a wait may take before the test fails (never reached when the
// node works; CI machines are slow and shared).
constexpr absl::Duration kBound = absl::Seconds(30);

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

struct Point {
  int64_t ts;
  double value;
  uint32_t quality = 0;
};

// One node and the calls the tests make on it.
class EventsNodeTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags = {}) {
    node_ = std::make_unique<NodeProcess>(dir_.Sub("node"), std::move(flags));
    ASSERT_TRUE(node_->Start());
    Connect();
  }
  void Connect() {
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    events_ = v1::Events::NewStub(channel_);
  }
  void Restart(bool kill) {
    if (kill) {
      node_->Kill();
    } else {
      ASSERT_EQ(node_->Stop(), 0);
    }
    ASSERT_TRUE(node_->Start());
    Connect();
  }
  static void Bounded(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  grpc::Status CreateTag(const std::string& name, v1::ValueType type = v1::VALUE_TYPE_DOUBLE,
                         int64_t stale_after_ns = 0) {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_value_type(type);
    req.mutable_tag()->set_stale_after_ns(stale_after_ns);
    v1::Tag resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    return v1::Catalog::NewStub(channel_)->CreateTag(&ctx, req, &resp);
  }
  void Write(const std::string& tag, const std::vector<Point>& points) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    for (const Point& p : points) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(p.ts);
      sample->mutable_value()->set_double_value(p.value);
      sample->set_quality(p.quality);
    }
    WriteRequest(req);
  }
  void WriteRequest(const v1::WriteRequest& req) {
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    grpc::Status st = v1::Ingest::NewStub(channel_)->WriteBatch(&ctx, req, &ack);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  grpc::Status CreateRule(const v1::Rule& rule) {
    v1::CreateRuleRequest req;
    *req.mutable_rule() = rule;
    v1::Rule resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    return events_->CreateRule(&ctx, req, &resp);
  }
  grpc::Status UpdateRule(const v1::Rule& rule) {
    v1::UpdateRuleRequest req;
    *req.mutable_rule() = rule;
    v1::Rule resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    return events_->UpdateRule(&ctx, req, &resp);
  }
  grpc::Status DeleteRule(const std::string& name) {
    v1::DeleteRuleRequest req;
    req.set_name(name);
    v1::DeleteRuleResponse resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    return events_->DeleteRule(&ctx, req, &resp);
  }
  std::vector<v1::Rule> Rules() {
    v1::ListRulesResponse resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    grpc::Status st = events_->ListRules(&ctx, v1::ListRulesRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.rules().begin(), resp.rules().end()};
  }
  // Events of `glob` (all when empty), newest raise first.
  std::vector<v1::Event> Events(const std::string& glob = "", bool active_only = false) {
    v1::ListEventsRequest req;
    req.set_glob(glob);
    req.set_active_only(active_only);
    req.set_limit(10000);
    v1::ListEventsResponse resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    grpc::Status st = events_->ListEvents(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.events().begin(), resp.events().end()};
  }
  // Waits until `glob` has exactly `n` events; false past the bound.
  bool AwaitEvents(const std::string& glob, size_t n) {
    return WaitFor([&] { return Events(glob).size() == n; }, kBound);
  }
  testing::CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), "client/historian");
    args.push_back("--server=" + node_->address());
    return RunCommand(args);
  }

  static v1::Rule MakeRule(const std::string& name, v1::RuleKind kind, const std::string& tag) {
    v1::Rule r;
    r.set_name(name);
    r.set_kind(kind);
    r.set_tag(tag);
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<NodeProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Events::Stub> events_;
};

// Limit rule through the CLI: chatter inside the deadband raises once and
// never clears; late and historical violating samples give `late` events,
// never an active one, and neither raise nor clear the live alarm.
TEST_F(EventsNodeTest, LimitChatterRaisesOnceAndLateDataIsFlaggedNeverLive) {
  Start();
  ASSERT_TRUE(CreateTag("l.temp").ok());
  testing::CommandResult r = Cli({"rule", "add", "hot", "--kind", "high", "--tag", "l.temp",
                                  "--limit", "80", "--deadband", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Write("l.temp", {{kT0, 70},
                   {kT0 + 1 * kSecond, 85},
                   {kT0 + 2 * kSecond, 78},
                   {kT0 + 3 * kSecond, 90},
                   {kT0 + 4 * kSecond, 79},
                   {kT0 + 5 * kSecond, 81},
                   {kT0 + 6 * kSecond, 76}});
  ASSERT_TRUE(AwaitEvents("l.*", 1));
  v1::Event live = Events()[0];
  EXPECT_TRUE(live.active());
  EXPECT_FALSE(live.late());
  EXPECT_EQ(live.raised_unix_ns(), kT0 + kSecond);
  EXPECT_EQ(live.value(), 85);
  // Late (inside the live range) and historical (before it) violations, the
  // second historical one continuing the first one's run: two late events.
  Write("l.temp", {{kT0 + 3500 * kMs, 95}});
  Write("l.temp", {{kT0 - 3600 * kSecond, 99}, {kT0 - 3599 * kSecond, 98}});
  // A late sample far below the clear level does not clear the live alarm.
  Write("l.temp", {{kT0 + 5500 * kMs, 0}});
  // Barrier: the live clear comes after every sample above was evaluated.
  Write("l.temp", {{kT0 + 7 * kSecond, 70}});
  ASSERT_TRUE(WaitFor([&] { return Events("", true).empty(); }, kBound));
  std::vector<v1::Event> all = Events();
  ASSERT_EQ(all.size(), 3u);
  int late = 0;
  for (const v1::Event& e : all) {
    EXPECT_FALSE(e.active());
    if (e.late()) {
      ++late;
      EXPECT_FALSE(e.cleared()) << "a late event is never cleared by live data";
      EXPECT_TRUE(e.raised_unix_ns() == kT0 + 3500 * kMs ||
                  e.raised_unix_ns() == kT0 - 3600 * kSecond)
          << e.raised_unix_ns();
    } else {
      EXPECT_EQ(e.id(), live.id());
      EXPECT_EQ(e.cleared_unix_ns(), kT0 + 7 * kSecond);
    }
  }
  EXPECT_EQ(late, 2);
  // The CLI lists and acknowledges.
  r = Cli({"events", "--glob", "l.*"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1 + 3) << r.out;  // header + 3
  EXPECT_NE(r.out.find(live.id() + "\tcleared\tl.temp\thot"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("raised,late\tl.temp"), std::string::npos) << r.out;
  r = Cli({"ack", live.id(), "--comment", "valve checked"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"events", "--glob", "l.*"});
  EXPECT_NE(r.out.find(live.id() + "\tcleared,acked\tl.temp"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("anonymous: valve checked"), std::string::npos) << r.out;
}

// Stale: raised by the timer with no sample; stays active (no second raise)
// across kill -9; a stale timer pending at a SIGTERM raises after the
// restart, at the sample's time + stale_after, exactly once.
TEST_F(EventsNodeTest, StaleTimerAcrossRestartsRaisesOnce) {
  Start();
  const int64_t stale = 300 * kMs;
  ASSERT_TRUE(CreateTag("st.a", v1::VALUE_TYPE_DOUBLE, stale).ok());
  // The barrier: a second stale tag whose raise shows the timer has run past
  // any raise of st.a that a restart could wrongly cause.
  ASSERT_TRUE(CreateTag("st.ctl", v1::VALUE_TYPE_DOUBLE, stale).ok());
  ASSERT_TRUE(CreateRule(MakeRule("stale_a", v1::RULE_KIND_STALE, "st.a")).ok());
  ASSERT_TRUE(CreateRule(MakeRule("stale_ctl", v1::RULE_KIND_STALE, "st.ctl")).ok());
  // No sample ever: raised by the timer.
  ASSERT_TRUE(AwaitEvents("st.a", 1));
  ASSERT_TRUE(Events("st.a")[0].active());
  size_t ctl_events = 1;
  ASSERT_TRUE(AwaitEvents("st.ctl", ctl_events));
  auto barrier = [&] {
    // A sample clears st.ctl's alarm; its next raise comes one stale_after
    // later, from the timer.
    Write("st.ctl", {{NowNs(), 1}});
    ctl_events += 1;
    ASSERT_TRUE(AwaitEvents("st.ctl", ctl_events));
  };

  Restart(/*kill=*/true);
  barrier();
  std::vector<v1::Event> a = Events("st.a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(a[0].active());

  // A fresh sample clears it; the node stops before or after the next
  // deadline: either way one raise, at the sample's time + stale_after.
  const int64_t ts = NowNs();
  Write("st.a", {{ts, 5}});
  ASSERT_TRUE(WaitFor([&] { return Events("st.a", true).empty(); }, kBound));
  Restart(/*kill=*/false);
  ASSERT_TRUE(AwaitEvents("st.a", 2));
  a = Events("st.a");
  EXPECT_TRUE(a[0].active());
  EXPECT_EQ(a[0].raised_unix_ns(), ts + stale);
  EXPECT_EQ(a[0].value(), 5);
  EXPECT_EQ(a[1].cleared_unix_ns(), ts);
  barrier();
  Restart(/*kill=*/true);
  barrier();
  EXPECT_EQ(Events("st.a").size(), 2u);
  EXPECT_EQ(Events("st.a", true).size(), 1u);
}

// Events.Subscribe resumes: each response carries the feed position after
// it; a new stream from that position (also after a kill -9 of the node)
// gets exactly the changes that came meanwhile, an older position gets them
// again, a position past the feed is refused.
TEST_F(EventsNodeTest, SubscribeResumesFromAFeedPositionAcrossAKill) {
  Start();
  ASSERT_TRUE(CreateTag("rs.p").ok());
  v1::Rule rule = MakeRule("rs_hot", v1::RULE_KIND_HIGH, "rs.p");
  rule.set_limit(50);
  ASSERT_TRUE(CreateRule(rule).ok());
  auto subscribe = [&](uint64_t from, grpc::ClientContext* ctx) {
    Bounded(ctx);
    v1::SubscribeEventsRequest req;
    req.set_from_position(from);
    auto reader = events_->Subscribe(ctx, req);
    reader->WaitForInitialMetadata();
    return reader;
  };
  uint64_t after_raise = 0;
  std::string id;
  {
    grpc::ClientContext ctx;
    auto reader = subscribe(0, &ctx);
    Write("rs.p", {{kT0, 60}});
    v1::SubscribeEventsResponse msg;
    ASSERT_TRUE(reader->Read(&msg));
    ASSERT_EQ(msg.events_size(), 1);
    EXPECT_TRUE(msg.events(0).active());
    id = msg.events(0).id();
    after_raise = msg.next_position();
    ASSERT_GT(after_raise, 0u);
    ctx.TryCancel();
    while (reader->Read(&msg)) {
    }
    reader->Finish();
  }
  // Meanwhile, with no stream open: an ack and a clear; then a kill -9.
  v1::AckRequest ack;
  ack.set_id(id);
  ack.set_comment("resumed");
  {
    v1::Event out;
    grpc::ClientContext actx;
    Bounded(&actx);
    ASSERT_TRUE(events_->Ack(&actx, ack, &out).ok());
  }
  Write("rs.p", {{kT0 + kSecond, 10}});
  ASSERT_TRUE(WaitFor([&] { return Events("rs.p", true).empty(); }, kBound));
  Restart(/*kill=*/true);
  // From the position after the raise: the two changes (one event, its
  // state now), and the position after them.
  {
    grpc::ClientContext ctx;
    auto reader = subscribe(after_raise, &ctx);
    v1::SubscribeEventsResponse msg;
    ASSERT_TRUE(reader->Read(&msg));
    ASSERT_EQ(msg.events_size(), 1);
    EXPECT_FALSE(msg.lagged());
    EXPECT_EQ(msg.events(0).id(), id);
    EXPECT_TRUE(msg.events(0).acked());
    EXPECT_TRUE(msg.events(0).cleared());
    EXPECT_EQ(msg.events(0).ack_comment(), "resumed");
    EXPECT_EQ(msg.next_position(), after_raise + 2);
    ctx.TryCancel();
    while (reader->Read(&msg)) {
    }
    reader->Finish();
  }
  // From before the raise: the raise too (the same event, once).
  {
    grpc::ClientContext ctx;
    auto reader = subscribe(after_raise - 1, &ctx);
    v1::SubscribeEventsResponse msg;
    ASSERT_TRUE(reader->Read(&msg));
    ASSERT_EQ(msg.events_size(), 1);
    EXPECT_EQ(msg.events(0).id(), id);
    EXPECT_EQ(msg.next_position(), after_raise + 2);
    ctx.TryCancel();
    while (reader->Read(&msg)) {
    }
    reader->Finish();
  }
  // Past the head: refused, naming the field.
  {
    grpc::ClientContext ctx;
    auto reader = subscribe(after_raise + 1000, &ctx);
    v1::SubscribeEventsResponse msg;
    EXPECT_FALSE(reader->Read(&msg));
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("from_position"), std::string::npos) << st.error_message();
  }
}

// The evaluator's state is saved every few seconds (and at once for the
// first time after a start), not with each stored transition, so a kill -9
// shortly after a transition restarts from a state without it; a
// compaction first seals the samples, so the log replay cannot evaluate
// them again. The stored events decide: an alarm cleared since the saved
// state raises anew at the next violation, and one raised since it stays
// active (no second raise). Each kill comes well within 5 s of the state
// save it must not see (if the machine were so slow that a save came
// first, the test would pass without exercising the old state: it cannot
// fail for timing).
// A subscriber far behind gets the changes in responses of about 1 MiB
// each, not all at once (65,536 changes could pass a client's 4 MiB
// default limit), and every change comes.
TEST_F(EventsNodeTest, AResumeFarBehindComesInResponsesOfAboutAMegabyte) {
  Start();
  constexpr int kTags = 1000;
  const std::string long_part(200, 'x');  // ~300-byte events
  ASSERT_TRUE(CreateTag("big." + long_part + "0").ok());
  v1::Rule rule = MakeRule("big_hot", v1::RULE_KIND_HIGH, "big.*");
  rule.set_limit(50);
  ASSERT_TRUE(CreateRule(rule).ok());
  v1::WriteRequest req;
  for (int i = 0; i < kTags; ++i) {
    auto* series = req.add_series();
    series->set_tag(absl::StrCat("big.", long_part, i));
    for (int k = 0; k < 4; ++k) {  // raise, clear: 8 changes a tag
      for (double v : {60.0, 10.0}) {
        auto* sample = series->add_samples();
        sample->set_timestamp_ns(kT0 + (2 * k + (v > 50 ? 0 : 1)) * kSecond);
        sample->mutable_value()->set_double_value(v);
      }
    }
  }
  WriteRequest(req);
  ASSERT_TRUE(WaitFor([&] { return Events("big.*").size() == 4u * kTags; }, kBound));
  grpc::ClientContext ctx;
  Bounded(&ctx);
  v1::SubscribeEventsRequest sub;
  sub.set_from_position(1);
  auto reader = events_->Subscribe(&ctx, sub);
  std::set<std::string> cleared;
  int responses = 0;
  v1::SubscribeEventsResponse msg;
  while (cleared.size() < 4u * kTags && reader->Read(&msg)) {
    ++responses;
    EXPECT_LE(msg.ByteSizeLong(), size_t{2} << 20);
    for (const v1::Event& e : msg.events()) {
      if (e.cleared()) cleared.insert(e.id());
    }
  }
  EXPECT_EQ(cleared.size(), 4u * kTags);
  EXPECT_GE(responses, 2);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(EventsNodeTest, KillRightAfterATransitionFollowsTheStoredEvents) {
  Start();
  ASSERT_TRUE(CreateTag("k.temp").ok());
  v1::Rule rule = MakeRule("k_hot", v1::RULE_KIND_HIGH, "k.temp");
  rule.set_limit(80);
  rule.set_deadband(5);
  ASSERT_TRUE(CreateRule(rule).ok());
  auto compact_and_kill = [&] {
    testing::CommandResult r = Cli({"compact"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Restart(/*kill=*/true);
  };
  auto active = [&] { return Events("k.*", true).size(); };
  // Raise (the first transition: the state is saved with it), then clear
  // (not saved), kill: the saved state says active, the events cleared.
  Write("k.temp", {{kT0, 70}, {kT0 + 1 * kSecond, 90}});
  ASSERT_TRUE(AwaitEvents("k.*", 1));
  Write("k.temp", {{kT0 + 2 * kSecond, 70}});
  ASSERT_TRUE(WaitFor([&] { return active() == 0; }, kBound));
  compact_and_kill();
  Write("k.temp", {{kT0 + 3 * kSecond, 91}});  // a new violation: a new raise
  ASSERT_TRUE(AwaitEvents("k.*", 2));
  EXPECT_EQ(Events("k.*")[0].raised_unix_ns(), kT0 + 3 * kSecond);
  Restart(/*kill=*/false);
  // Clear (the first transition after the start: saved), then raise (not
  // saved), kill: the saved state says inactive, the events active.
  Write("k.temp", {{kT0 + 4 * kSecond, 70}});
  ASSERT_TRUE(WaitFor([&] { return active() == 0; }, kBound));
  Write("k.temp", {{kT0 + 5 * kSecond, 92}});
  ASSERT_TRUE(AwaitEvents("k.*", 3));
  compact_and_kill();
  Write("k.temp", {{kT0 + 6 * kSecond, 95}});  // still above: no second raise
  Write("k.temp", {{kT0 + 7 * kSecond, 70}});  // the barrier: clears the third
  ASSERT_TRUE(WaitFor([&] { return active() == 0; }, kBound));
  std::vector<v1::Event> all = Events("k.*");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].raised_unix_ns(), kT0 + 5 * kSecond);
  EXPECT_EQ(all[0].cleared_unix_ns(), kT0 + 7 * kSecond);
}

// Rate of change over a window (per second, against the newest sample at
// or before t - window).
TEST_F(EventsNodeTest, RateOfChangeOverAWindow) {
  Start();
  ASSERT_TRUE(CreateTag("r.level").ok());
  v1::Rule rule = MakeRule("fast", v1::RULE_KIND_RATE, "r.level");
  rule.set_limit(1);  // per second
  rule.set_window_ns(10 * kSecond);
  ASSERT_TRUE(CreateRule(rule).ok());
  Write("r.level", {{kT0, 0},
                    {kT0 + 5 * kSecond, 1},
                    {kT0 + 10 * kSecond, 2},     // 0.2/s
                    {kT0 + 15 * kSecond, 12},    // (12 - 1) / 10 = 1.1/s: raise
                    {kT0 + 20 * kSecond, 13},    // (13 - 2) / 10 = 1.1/s: still
                    {kT0 + 30 * kSecond, 14}});  // (14 - 13) / 10 = 0.1/s: clear
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<v1::Event> e = Events("r.*");
        return e.size() == 1 && e[0].cleared();
      },
      kBound));
  v1::Event e = Events("r.*")[0];
  EXPECT_EQ(e.rule(), "fast");
  EXPECT_EQ(e.raised_unix_ns(), kT0 + 15 * kSecond);
  EXPECT_DOUBLE_EQ(e.value(), 1.1);
  EXPECT_EQ(e.cleared_unix_ns(), kT0 + 30 * kSecond);
  EXPECT_FALSE(e.late());
}

// Bad quality for longer than D: a shorter bad stretch raises nothing; a
// longer one raises at its start + D; a dead sensor that sent one bad
// sample raises by the timer.
TEST_F(EventsNodeTest, BadQualityForLongerThanD) {
  Start();
  ASSERT_TRUE(CreateTag("q.flow").ok());
  v1::Rule rule = MakeRule("bad_flow", v1::RULE_KIND_BAD_QUALITY, "q.flow");
  rule.set_duration_ns(5 * kSecond);
  ASSERT_TRUE(CreateRule(rule).ok());
  Write("q.flow", {{kT0, 1},
                   {kT0 + 1 * kSecond, 2, kBad},
                   {kT0 + 3 * kSecond, 3, kBad},
                   {kT0 + 4 * kSecond, 4},  // bad for 3 s < 5 s: nothing
                   {kT0 + 10 * kSecond, 5, kBad},
                   {kT0 + 12 * kSecond, 6, kBad},
                   {kT0 + 16 * kSecond, 7, kBad},  // past 10 + 5: raised at 15
                   {kT0 + 17 * kSecond, 8}});
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<v1::Event> e = Events("q.*");
        return e.size() == 1 && e[0].cleared();
      },
      kBound));
  v1::Event e = Events("q.*")[0];
  EXPECT_EQ(e.raised_unix_ns(), kT0 + 15 * kSecond);
  EXPECT_EQ(e.value(), 5);  // the sample that started the stretch
  EXPECT_EQ(e.cleared_unix_ns(), kT0 + 17 * kSecond);
  // Now (wall clock): one bad sample and then silence.
  v1::Rule fast = rule;
  fast.set_duration_ns(200 * kMs);
  fast.set_name("bad_flow_fast");
  ASSERT_TRUE(CreateRule(fast).ok());
  const int64_t ts = NowNs();
  Write("q.flow", {{ts, 9, kBad}});
  ASSERT_TRUE(WaitFor([&] { return Events("q.*", true).size() == 1; }, kBound));
  e = Events("q.*", true)[0];
  EXPECT_EQ(e.rule(), "bad_flow_fast");
  EXPECT_EQ(e.raised_unix_ns(), ts + 200 * kMs);
  EXPECT_EQ(e.value(), 9);
}

// A tag created after a glob rule is evaluated from its first sample: by
// CreateTag and by an implicit creation in a write.
TEST_F(EventsNodeTest, TagsCreatedLaterMatchingAGlobAreEvaluatedFromTheirFirstSample) {
  Start();
  ASSERT_TRUE(CreateTag("g.1").ok());
  v1::Rule rule = MakeRule("g_hot", v1::RULE_KIND_HIGH, "g.*");
  rule.set_limit(10);
  ASSERT_TRUE(CreateRule(rule).ok());
  for (int round = 0; round < 5; ++round) {
    const std::string made = absl::StrCat("g.made", round);
    const std::string implicit = absl::StrCat("g.implicit", round);
    ASSERT_TRUE(CreateTag(made).ok());
    // Created and written at once: the first sample is the violation.
    Write(made, {{kT0, 20}, {kT0 + kSecond, 0}});
    Write(implicit, {{kT0, 20}, {kT0 + kSecond, 0}});
  }
  Write("g.1", {{kT0, 20}, {kT0 + kSecond, 0}});
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<v1::Event> e = Events("g.*");
        return e.size() == 11 &&
               std::all_of(e.begin(), e.end(), [](const v1::Event& x) { return x.cleared(); });
      },
      kBound))
      << Events("g.*").size() << " events";
  for (const v1::Event& e : Events("g.*")) {
    EXPECT_EQ(e.raised_unix_ns(), kT0) << e.tag();
    EXPECT_EQ(e.cleared_unix_ns(), kT0 + kSecond) << e.tag();
  }
}

// A glob rule that takes its limit from each tag's eng range goes on
// watching its tags when a tag made later has none (here made by a write,
// implicitly): that one tag is left out (and logged), not the whole rule.
TEST_F(EventsNodeTest, ATagMadeLaterThatDoesNotFitAGlobRuleLeavesTheOthersWatched) {
  Start();
  {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name("e.1");
    req.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
    req.mutable_tag()->set_eng_high(10);
    v1::Tag resp;
    grpc::ClientContext ctx;
    Bounded(&ctx);
    ASSERT_TRUE(v1::Catalog::NewStub(channel_)->CreateTag(&ctx, req, &resp).ok());
  }
  ASSERT_TRUE(CreateRule(MakeRule("e_hot", v1::RULE_KIND_HIGH, "e.*")).ok());  // limit: eng_high
  Write("e.implicit", {{kT0, 1}});  // no eng range: cannot take the rule
  Write("e.1", {{kT0, 20}, {kT0 + kSecond, 0}});
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<v1::Event> e = Events("e.*");
        return e.size() == 1 && e[0].cleared();
      },
      kBound))
      << Events("e.*").size() << " events: the rule stopped watching e.1";
  EXPECT_EQ(Events("e.*")[0].tag(), "e.1");
  EXPECT_EQ(Events("e.*")[0].raised_unix_ns(), kT0);
}

// A rule changed while its alarm is active (here high to low) starts afresh:
// the alarm it held is cleared, not left active for good, and the changed
// rule raises its own; deleting the rule clears that one too.
TEST_F(EventsNodeTest, AnAlarmOfARuleChangedOrDeletedWhileActiveIsCleared) {
  Start();
  ASSERT_TRUE(CreateTag("c.1").ok());
  v1::Rule rule = MakeRule("c_rule", v1::RULE_KIND_HIGH, "c.1");
  rule.set_limit(10);
  ASSERT_TRUE(CreateRule(rule).ok());
  Write("c.1", {{kT0, 20}});
  ASSERT_TRUE(WaitFor([&] { return Events("c.*", true).size() == 1; }, kBound));
  const std::string high_id = Events("c.*", true)[0].id();
  rule.set_kind(v1::RULE_KIND_LOW);
  rule.set_limit(0);
  ASSERT_TRUE(UpdateRule(rule).ok());
  ASSERT_TRUE(WaitFor([&] { return Events("c.*", true).empty(); }, kBound))
      << "the high alarm stayed active after its rule became a low one";
  Write("c.1", {{kT0 + kSecond, -5}});
  ASSERT_TRUE(WaitFor([&] { return Events("c.*", true).size() == 1; }, kBound));
  EXPECT_NE(Events("c.*", true)[0].id(), high_id);
  ASSERT_TRUE(DeleteRule("c_rule").ok());
  ASSERT_TRUE(WaitFor([&] { return Events("c.*", true).empty(); }, kBound))
      << "the alarm of a deleted rule stayed active";
  EXPECT_EQ(Events("c.*").size(), 2u);
}

// Events.Subscribe: raise, ack and clear arrive in order, each as the
// event's merged state; the stream ends when the client cancels (its slot
// is free again) and when the node stops (promptly, UNAVAILABLE).
TEST_F(EventsNodeTest, SubscribeSeesRaiseAckClearInOrderAndEndsAtCancelAndStop) {
  // A long grace: a stream the node does not end itself would hold the stop
  // for a minute and end CANCELLED, not UNAVAILABLE.
  Start({"--max_streams_per_client=1", "--shutdown_grace_ms=60000"});
  ASSERT_TRUE(CreateTag("s.p").ok());
  v1::Rule rule = MakeRule("s_hot", v1::RULE_KIND_HIGH, "s.*");
  rule.set_limit(50);
  ASSERT_TRUE(CreateRule(rule).ok());

  grpc::ClientContext ctx;
  Bounded(&ctx);
  v1::SubscribeEventsRequest req;
  req.set_glob("s.*");
  auto reader = events_->Subscribe(&ctx, req);
  reader->WaitForInitialMetadata();  // the node has taken its feed position
  Write("s.p", {{kT0, 60}});
  v1::SubscribeEventsResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_EQ(msg.events_size(), 1);
  const v1::Event raised = msg.events(0);
  EXPECT_TRUE(raised.active());
  EXPECT_FALSE(raised.acked());
  EXPECT_EQ(raised.raised_unix_ns(), kT0);
  v1::AckRequest ack;
  ack.set_id(raised.id());
  ack.set_comment("seen");
  {
    v1::Event out;
    grpc::ClientContext actx;
    Bounded(&actx);
    ASSERT_TRUE(events_->Ack(&actx, ack, &out).ok());
  }
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_EQ(msg.events_size(), 1);
  EXPECT_EQ(msg.events(0).id(), raised.id());
  EXPECT_TRUE(msg.events(0).acked());
  EXPECT_TRUE(msg.events(0).active());
  EXPECT_EQ(msg.events(0).ack_comment(), "seen");
  Write("s.p", {{kT0 + kSecond, 10}});
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_EQ(msg.events_size(), 1);
  EXPECT_EQ(msg.events(0).id(), raised.id());
  EXPECT_TRUE(msg.events(0).cleared());
  EXPECT_FALSE(msg.events(0).active());
  EXPECT_EQ(msg.events(0).cleared_unix_ns(), kT0 + kSecond);

  // Client cancel: the node ends the call and frees its stream slot
  // (--max_streams_per_client=1), so a new subscription is taken.
  ctx.TryCancel();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  std::unique_ptr<grpc::ClientContext> ctx2;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeEventsResponse>> reader2;
  ASSERT_TRUE(WaitFor(
      [&] {
        ctx2 = std::make_unique<grpc::ClientContext>();
        Bounded(ctx2.get());
        reader2 = events_->Subscribe(ctx2.get(), req);
        reader2->WaitForInitialMetadata();
        Write("s.p", {{NowNs(), 70}, {NowNs() + 1, 0}});  // a change to read
        if (!reader2->Read(&msg)) {
          EXPECT_EQ(reader2->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
          return false;
        }
        return true;
      },
      kBound));

  // Node stop with the stream open: it ends the stream itself.
  ASSERT_EQ(node_->Stop(), 0);
  while (reader2->Read(&msg)) {
  }
  grpc::Status end = reader2->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE) << end.error_message();
  EXPECT_NE(end.error_message().find("shutting down"), std::string::npos) << end.error_message();
}

// Bad rules: each error is a status whose message names the field and the
// limit. And 10,000 rules (the default --max_rules) on 10,000 tags: created,
// listed (gRPC and CLI), evaluated; the 10,001st is refused naming the flag.
TEST_F(EventsNodeTest, BadRulesAreRefusedClearlyAndTenThousandRulesWork) {
  Start();
  constexpr int kTags = 10000;
  v1::WriteRequest create;
  for (int i = 0; i < kTags; ++i) {
    auto* s = create.add_series();
    s->set_tag(absl::StrCat("b.", i));
    auto* p = s->add_samples();
    p->set_timestamp_ns(kT0);
    p->mutable_value()->set_double_value(0);
  }
  WriteRequest(create);  // creates the tags (--implicit_tags)
  ASSERT_TRUE(CreateTag("b.text", v1::VALUE_TYPE_STRING).ok());
  auto refused = [&](const v1::Rule& r, grpc::StatusCode code, std::vector<std::string> words) {
    grpc::Status st = CreateRule(r);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    for (const std::string& w : words) {
      EXPECT_NE(st.error_message().find(w), std::string::npos)
          << "'" << w << "' not in: " << st.error_message();
    }
  };
  v1::Rule r = MakeRule("x", v1::RULE_KIND_HIGH, "b.nope");
  r.set_limit(1);
  refused(r, grpc::StatusCode::INVALID_ARGUMENT, {"rule tag", "unknown tag 'b.nope'"});
  r.set_tag("b.text");
  refused(r, grpc::StatusCode::INVALID_ARGUMENT, {"rule tag", "'b.text' holds strings", "numeric"});
  r.set_tag("b.*");
  refused(r, grpc::StatusCode::RESOURCE_EXHAUSTED, {"rule tag", "--rule_max_tags=1000"});
  r.set_tag("zz.*");
  refused(r, grpc::StatusCode::INVALID_ARGUMENT, {"rule tag", "matches no tag"});
  v1::Rule stale = MakeRule("x", v1::RULE_KIND_STALE, "b.1");
  refused(stale, grpc::StatusCode::INVALID_ARGUMENT, {"stale_after_ns"});
  v1::Rule rate = MakeRule("x", v1::RULE_KIND_RATE, "b.1");
  refused(rate, grpc::StatusCode::INVALID_ARGUMENT, {"rate rule", "window"});

  // 10,000 rules from 32 clients at once (each creation waits for the
  // evaluator to take the rule: concurrent ones share that pass).
  std::atomic<int> next{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&] {
      auto stub = v1::Events::NewStub(channel_);
      for (int i = next++; i < kTags; i = next++) {
        v1::CreateRuleRequest req;
        req.mutable_rule()->set_name(absl::StrCat("r", i));
        req.mutable_rule()->set_kind(v1::RULE_KIND_HIGH);
        req.mutable_rule()->set_tag(absl::StrCat("b.", i));
        req.mutable_rule()->set_limit(100);
        v1::Rule resp;
        grpc::ClientContext ctx;
        Bounded(&ctx);
        if (!stub->CreateRule(&ctx, req, &resp).ok()) ++failed;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  ASSERT_EQ(failed.load(), 0);
  EXPECT_EQ(Rules().size(), size_t{kTags});
  testing::CommandResult ls = Cli({"rule", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), kTags + 1) << ls.out.substr(0, 200);
  r = MakeRule("one_more", v1::RULE_KIND_HIGH, "b.1");
  r.set_limit(1);
  refused(r, grpc::StatusCode::RESOURCE_EXHAUSTED, {"10000", "--max_rules"});
  // Evaluated: every 1000th tag goes over its limit, in one write.
  v1::WriteRequest hot;
  for (int i = 0; i < kTags; ++i) {
    auto* s = hot.add_series();
    s->set_tag(absl::StrCat("b.", i));
    auto* p = s->add_samples();
    p->set_timestamp_ns(kT0 + kSecond);
    p->mutable_value()->set_double_value(i % 1000 == 0 ? 150 : 50);
  }
  WriteRequest(hot);
  ASSERT_TRUE(AwaitEvents("b.*", 10));
  for (const v1::Event& e : Events("b.*")) {
    EXPECT_TRUE(e.active());
    EXPECT_EQ(e.rule(), "r" + e.tag().substr(2));
  }
}

}  // namespace
}  // namespace historian
