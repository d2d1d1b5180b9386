// Alarm rules and events through real historiand processes (docs/events.md):
// the Events service's rule management, its checks and roles, and the CLI;
// a limit alarm raised once at its home site, deadband chatter that does not
// flap, late data flagged (never live); an event raised at one site and
// acknowledged at the other during a partition converges on both after the
// heal (fault proxy on every link); a restart keeps events and the
// evaluator's state (no second raise). Waits poll the condition (no timing
// assumptions).
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::FaultProxy;
using testing::FreePort;
using testing::NodeProcess;

constexpr int64_t kSecond = 1000000000;
constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kWriterToken[] = "writer-token-0123456789";
constexpr char kReaderToken[] = "reader-token-0123456789";

// Polls `done` until it is true or 120 s pass (the check is the condition,
// not the time).
template <typename Fn>
bool Eventually(Fn done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct Node {
  std::unique_ptr<NodeProcess> process;
  std::shared_ptr<grpc::Channel> channel;
  std::string token;  // sent when set

  void Prepare(grpc::ClientContext* ctx, const std::string& as = "") const {
    const std::string& t = as.empty() ? token : as;
    if (!t.empty()) ctx->AddMetadata("authorization", "Bearer " + t);
  }
  grpc::Status CreateTag(const std::string& name, std::optional<double> eng_high,
                         v1::ValueType type = v1::VALUE_TYPE_DOUBLE) {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_value_type(type);
    if (eng_high) req.mutable_tag()->set_eng_high(*eng_high);
    v1::Tag resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, kAdminToken);
    return v1::Catalog::NewStub(channel)->CreateTag(&ctx, req, &resp);
  }
  void Write(const std::string& tag, const std::vector<std::pair<int64_t, double>>& samples) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    for (auto [ts, v] : samples) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(ts);
      sample->mutable_value()->set_double_value(v);
    }
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    Prepare(&ctx, kWriterToken);
    grpc::Status st = v1::Ingest::NewStub(channel)->WriteBatch(&ctx, req, &ack);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  grpc::Status CreateRule(const v1::Rule& rule, v1::Rule* out = nullptr,
                          const std::string& as = kAdminToken) {
    v1::CreateRuleRequest req;
    *req.mutable_rule() = rule;
    v1::Rule resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, as);
    grpc::Status st = v1::Events::NewStub(channel)->CreateRule(&ctx, req, &resp);
    if (out) *out = resp;
    return st;
  }
  std::vector<v1::Rule> Rules() {
    v1::ListRulesResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, kReaderToken);
    grpc::Status st = v1::Events::NewStub(channel)->ListRules(&ctx, v1::ListRulesRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.rules().begin(), resp.rules().end()};
  }
  std::vector<v1::Event> Events(bool active_only = false) {
    v1::ListEventsRequest req;
    req.set_active_only(active_only);
    v1::ListEventsResponse resp;
    grpc::ClientContext ctx;
    Prepare(&ctx, kReaderToken);
    grpc::Status st = v1::Events::NewStub(channel)->ListEvents(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.events().begin(), resp.events().end()};
  }
  grpc::Status Ack(const std::string& id, const std::string& comment, v1::Event* out,
                   const std::string& as = kWriterToken) {
    v1::AckRequest req;
    req.set_id(id);
    req.set_comment(comment);
    grpc::ClientContext ctx;
    Prepare(&ctx, as);
    return v1::Events::NewStub(channel)->Ack(&ctx, req, out);
  }
};

v1::Rule HighRule(const std::string& name, const std::string& tag, double limit, double deadband) {
  v1::Rule r;
  r.set_name(name);
  r.set_kind(v1::RULE_KIND_HIGH);
  r.set_tag(tag);
  r.set_limit(limit);
  r.set_deadband(deadband);
  return r;
}

class EventsE2eTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> StartNode(const std::string& name, std::vector<std::string> flags) {
    auto n = std::make_unique<Node>();
    n->process = std::make_unique<NodeProcess>(dir_.Sub(name), std::move(flags));
    EXPECT_TRUE(n->process->Start());
    n->channel = grpc::CreateChannel(n->process->address(), grpc::InsecureChannelCredentials());
    return n;
  }
  // Two sites pulling from each other through fault proxies.
  void StartPair() {
    ports_["us"] = FreePort();
    ports_["mx"] = FreePort();
    for (auto [from, to] : {std::pair{"us", "mx"}, std::pair{"mx", "us"}}) {
      proxies_[from] = std::make_unique<FaultProxy>("127.0.0.1:" + std::to_string(ports_[to]));
    }
    for (const char* site : {"us", "mx"}) {
      const std::string other = std::string(site) == "us" ? "mx" : "us";
      flags_[site] = {"--site=" + std::string(site),
                      "--peers=" + other + "=" + proxies_[site]->address(),
                      "--listen=127.0.0.1:" + std::to_string(ports_[site]),
                      "--anti_entropy_interval=0s", "--twin_map=us.=mx."};
      nodes_[site] = StartNode(site, flags_[site]);
    }
  }
  void Partition(bool cut) {
    for (auto& [site, proxy] : proxies_) cut ? proxy->Cut() : proxy->Heal();
  }

  testing::TempDir dir_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::unique_ptr<FaultProxy>> proxies_;
  std::map<std::string, std::vector<std::string>> flags_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
};

TEST_F(EventsE2eTest, RulesNeedAdminAndAreCheckedAndTheCliManagesThem) {
  {
    std::ofstream tokens(dir_.Sub("tokens"));
    tokens << kAdminToken << " admin\n"
           << kWriterToken << " writer\n"
           << kReaderToken << " reader\n";
  }
  std::unique_ptr<Node> n =
      StartNode("one", {"--site=us", "--token_file=" + dir_.Sub("tokens"), "--rule_max_tags=2"});
  ASSERT_TRUE(n->CreateTag("us.a", 100).ok());
  ASSERT_TRUE(n->CreateTag("us.b", {}).ok());
  ASSERT_TRUE(n->CreateTag("us.c", {}).ok());
  ASSERT_TRUE(n->CreateTag("us.s", {}, v1::VALUE_TYPE_STRING).ok());
  v1::Rule high;
  high.set_name("a_high");
  high.set_kind(v1::RULE_KIND_HIGH);
  high.set_tag("us.a");  // limit from eng_high
  EXPECT_EQ(n->CreateRule(high, nullptr, kReaderToken).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(n->CreateRule(high, nullptr, kWriterToken).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::Rule created;
  ASSERT_TRUE(n->CreateRule(high, &created).ok());
  EXPECT_GT(created.version(), 0u);
  EXPECT_EQ(n->CreateRule(high).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  auto refused = [&](v1::Rule r, grpc::StatusCode code, const std::string& words) {
    grpc::Status st = n->CreateRule(r);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(words), std::string::npos) << st.error_message();
  };
  refused(HighRule("x", "us.nope", 1, 0), grpc::StatusCode::INVALID_ARGUMENT,
          "unknown tag 'us.nope'");
  refused(HighRule("x", "us.s", 1, 0), grpc::StatusCode::INVALID_ARGUMENT, "holds strings");
  refused(HighRule("x", "us.*", 1, 0), grpc::StatusCode::RESOURCE_EXHAUSTED, "rule_max_tags");
  v1::Rule no_limit = HighRule("x", "us.b", 0, 0);
  no_limit.clear_limit();
  refused(no_limit, grpc::StatusCode::INVALID_ARGUMENT, "eng_high");
  v1::Rule no_kind = HighRule("x", "us.a", 1, 0);
  no_kind.set_kind(v1::RULE_KIND_UNSPECIFIED);
  refused(no_kind, grpc::StatusCode::INVALID_ARGUMENT, "rule.kind");
  // Reading needs reader; acking an unknown event is NOT_FOUND for a writer.
  ASSERT_EQ(n->Rules().size(), 1u);
  // The limit stays unset: it follows the tag's eng range (resolved when evaluated).
  EXPECT_FALSE(n->Rules()[0].has_limit());
  v1::Event ev;
  EXPECT_EQ(n->Ack("0123456789abcdef", "", &ev).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(n->Ack("0123456789abcdef", "", &ev, kReaderToken).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The CLI.
  const std::string server = "--server=" + n->process->address();
  const std::string admin = std::string("--token=") + kAdminToken;
  testing::CommandResult r = testing::RunCommand(
      {"client/historian", "rule", "add", "b_high", "--kind", "high", "--tag", "us.b", "--limit",
       "5", "--deadband", "1", "--on_delay", "30s", server, admin});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testing::RunCommand({"client/historian", "rule", "ls", server, admin});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("b_high\thigh\tus.b\t5\t1\t30s"), std::string::npos) << r.out;
  r = testing::RunCommand(
      {"client/historian", "rule", "add", "bad", "--kind", "hot", "--tag", "us.b", server, admin});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kind"), std::string::npos) << r.err;
  r = testing::RunCommand({"client/historian", "rule", "rm", "b_high", server, admin});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(n->Rules().size(), 1u);
  r = testing::RunCommand({"client/historian", "events", "--from", "-1d", "--active", "--glob",
                           "us.*", server, std::string("--token=") + kReaderToken});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(EventsE2eTest, LimitAlarmRaisedOnceAtHomeAckedAtTheOtherSiteDuringPartitionConverges) {
  StartPair();
  Node& us = *nodes_["us"];
  Node& mx = *nodes_["mx"];
  ASSERT_TRUE(us.CreateTag("us.line1.temp", 100).ok());
  ASSERT_TRUE(us.CreateRule(HighRule("hot", "us.line1.temp", 80, 5)).ok());
  // The rule reaches mx (replicated like tags).
  ASSERT_TRUE(Eventually([&] { return mx.Rules().size() == 1; }));
  const int64_t t0 = int64_t{1790000000} * kSecond;
  // Chatter around the limit inside the deadband: one raise, no clear.
  us.Write("us.line1.temp", {{t0, 70},
                             {t0 + kSecond, 85},
                             {t0 + 2 * kSecond, 78},
                             {t0 + 3 * kSecond, 90},
                             {t0 + 4 * kSecond, 79},
                             {t0 + 5 * kSecond, 81},
                             {t0 + 6 * kSecond, 76}});
  ASSERT_TRUE(Eventually([&] { return mx.Events().size() == 1; }));
  std::vector<v1::Event> at_us = us.Events();
  ASSERT_EQ(at_us.size(), 1u);
  const v1::Event raised = at_us[0];
  EXPECT_TRUE(raised.active());
  EXPECT_EQ(raised.raised_unix_ns(), t0 + kSecond);
  EXPECT_EQ(raised.value(), 85);
  EXPECT_FALSE(raised.late());
  // Raised at the home site only (a raise at mx too would merge into the
  // same id and show origin "mx", the smaller).
  EXPECT_EQ(raised.origin_site(), "us");
  EXPECT_EQ(mx.Events()[0].origin_site(), "us");
  // Partition: acked at mx, cleared at us.
  Partition(true);
  v1::Event acked;
  ASSERT_TRUE(mx.Ack(raised.id(), "checking the pump", &acked).ok());
  EXPECT_TRUE(acked.acked());
  EXPECT_EQ(acked.ack_user(), "anonymous");
  us.Write("us.line1.temp", {{t0 + 7 * kSecond, 60}});
  ASSERT_TRUE(Eventually([&] { return !us.Events()[0].active(); }));
  EXPECT_FALSE(us.Events()[0].acked());
  EXPECT_TRUE(mx.Events()[0].active());
  Partition(false);
  for (Node* n : {&us, &mx}) {
    ASSERT_TRUE(Eventually([&] {
      std::vector<v1::Event> e = n->Events();
      return e.size() == 1 && e[0].acked() && e[0].cleared();
    }));
    v1::Event e = n->Events()[0];
    EXPECT_EQ(e.id(), raised.id());
    EXPECT_EQ(e.ack_comment(), "checking the pump");
    EXPECT_EQ(e.cleared_unix_ns(), t0 + 7 * kSecond);
    EXPECT_EQ(e.value(), 85);
  }
  // Late data: a violating sample older than the newest is flagged, never
  // live, and raises no active alarm.
  us.Write("us.line1.temp", {{t0 + int64_t{3500} * 1000000, 95}});
  ASSERT_TRUE(Eventually([&] { return mx.Events().size() == 2; }));
  for (Node* n : {&us, &mx}) {
    std::vector<v1::Event> all = n->Events();
    ASSERT_EQ(all.size(), 2u);
    int late = 0;
    for (const v1::Event& e : all) late += e.late();
    EXPECT_EQ(late, 1);
    EXPECT_TRUE(n->Events(/*active_only=*/true).empty());  // a late event is never a live alarm
  }
}

TEST_F(EventsE2eTest, RestartKeepsEventsAndTheActiveAlarm) {
  std::unique_ptr<Node> n = StartNode("one", {"--site=us"});
  ASSERT_TRUE(n->CreateTag("us.p", 100).ok());
  ASSERT_TRUE(n->CreateRule(HighRule("hot", "us.p", 50, 2)).ok());
  const int64_t t0 = int64_t{1790000000} * kSecond;
  n->Write("us.p", {{t0, 60}});
  ASSERT_TRUE(Eventually([&] { return n->Events().size() == 1; }));
  ASSERT_EQ(n->process->Stop(), 0);
  ASSERT_TRUE(n->process->Start());
  n->channel = grpc::CreateChannel(n->process->address(), grpc::InsecureChannelCredentials());
  ASSERT_EQ(n->Events(true).size(), 1u);
  ASSERT_EQ(n->Rules().size(), 1u);
  // Still above the limit: the state says active, no second raise; then a
  // clear of the event raised before the restart.
  n->Write("us.p", {{t0 + kSecond, 70}, {t0 + 2 * kSecond, 10}});
  ASSERT_TRUE(Eventually([&] { return n->Events(true).empty(); }));
  std::vector<v1::Event> all = n->Events();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].raised_unix_ns(), t0);
  EXPECT_EQ(all[0].cleared_unix_ns(), t0 + 2 * kSecond);
  // And after a kill -9 with the alarm active again.
  n->Write("us.p", {{t0 + 3 * kSecond, 80}});
  ASSERT_TRUE(Eventually([&] { return n->Events(true).size() == 1; }));
  n->process->Kill();
  ASSERT_TRUE(n->process->Start());
  n->channel = grpc::CreateChannel(n->process->address(), grpc::InsecureChannelCredentials());
  n->Write("us.p", {{t0 + 4 * kSecond, 90}, {t0 + 5 * kSecond, 0}});
  ASSERT_TRUE(Eventually([&] { return n->Events(true).empty(); }));
  EXPECT_EQ(n->Events().size(), 2u);
}

}  // namespace
}  // namespace historian
