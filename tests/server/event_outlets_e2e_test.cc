// File: tests/server/event_outlets_e2e_test.cc
// The event outlets through real historiand processes (docs/events_outlets.md):
// `--event_webhook` against a real HTTP receiver in the test (cpp-httplib)
// that goes down and comes back while the node is stopped, restarted and
// killed; and `--event_mqtt_broker` against a real mosquitto that restarts
// while the node does, with replicated events posted at both sites.
// Every wait is on a condition (what the receiver got, a metric) with a
// bounded deadline that only turns a hang into a loud failure.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "mqtt/client.h"
#include "tests/security/security_util.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/mosquitto_process.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::FreePort;
using testing::NodeProcess;

constexpr int64_t kSecond = 1000000000;
constexpr auto kGuard = std::chrono::seconds(120);

// Polls `done` until it holds or kGuard passes (the check is the condition,
// not the time).
template <typename Fn>
bool Eventually(Fn done) {
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

struct Delivery {
  std::string key;  // Idempotency-Key
  std::string body;
};

// A webhook receiver that can be taken down (connection refused) and
// brought back on the same port; records every POST it answered with 200.
// The first Up binds a port the kernel picks (a port chosen free and bound
// later can be taken meanwhile by a parallel test's server).
class Receiver {
 public:
  Receiver() { Up(); }
  ~Receiver() { Down(); }
  void Up() {
    server_ = std::make_unique<httplib::Server>();
    server_->Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      absl::MutexLock l(&mu_);
      got_.push_back({req.get_header_value("Idempotency-Key"), req.body});
      res.status = 200;
    });
    if (port_ == 0) {
      port_ = server_->bind_to_any_port("127.0.0.1");
      ASSERT_GT(port_, 0) << "no port to listen on";
    } else {
      ASSERT_TRUE(server_->bind_to_port("127.0.0.1", port_)) << "port " << port_;
    }
    thread_ = std::thread([s = server_.get()] { s->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::yield();
  }
  void Down() {
    if (server_ == nullptr) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();  // not started when the bind failed
    server_.reset();
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/hook"); }
  std::vector<Delivery> got() {
    absl::MutexLock l(&mu_);
    return got_;
  }
  size_t Count(const std::string& key) {
    size_t n = 0;
    for (const Delivery& d : got()) n += d.key == key;
    return n;
  }
  bool Has(const std::string& key) { return Count(key) > 0; }

 private:
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<Delivery> got_ ABSL_GUARDED_BY(mu_);
};

// The position of the first delivery of each key, in arrival order.
std::map<std::string, size_t> FirstSeen(const std::vector<std::string>& keys) {
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < keys.size(); ++i) first.emplace(keys[i], i);
  return first;
}

// A real node with the calls the test needs (no tokens).
class Node {
 public:
  Node(std::string dir, std::vector<std::string> flags)
      : process_(std::make_unique<NodeProcess>(dir, std::move(flags))), dir_(std::move(dir)) {}
  bool Start() {
    if (!process_->Start()) return false;
    channel_ = grpc::CreateChannel(process_->address(), grpc::InsecureChannelCredentials());
    return true;
  }
  int Stop() { return process_->Stop(); }
  void Kill() { process_->Kill(); }
  const std::string& log_path() const { return process_->log_path(); }
  // The node's threads now (/proc/<pid>/status).
  int Threads() const {
    std::ifstream in("/proc/" + std::to_string(process_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (absl::StartsWith(line, "Threads:")) return std::stoi(line.substr(8));
    }
    return -1;
  }

  void CreateTag(const std::string& name, double eng_high) {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
    req.mutable_tag()->set_eng_high(eng_high);
    v1::Tag resp;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Catalog::NewStub(channel_)->CreateTag(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  void CreateHighRule(const std::string& name, const std::string& tag, double limit) {
    v1::CreateRuleRequest req;
    req.mutable_rule()->set_name(name);
    req.mutable_rule()->set_kind(v1::RULE_KIND_HIGH);
    req.mutable_rule()->set_tag(tag);
    req.mutable_rule()->set_limit(limit);
    req.mutable_rule()->set_deadband(5);
    v1::Rule resp;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Events::NewStub(channel_)->CreateRule(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  void Write(const std::string& tag, int64_t ts, double v) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    auto* sample = s->add_samples();
    sample->set_timestamp_ns(ts);
    sample->mutable_value()->set_double_value(v);
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Ingest::NewStub(channel_)->WriteBatch(&ctx, req, &ack);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  std::vector<v1::Event> Events() {
    v1::ListEventsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st =
        v1::Events::NewStub(channel_)->ListEvents(&ctx, v1::ListEventsRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.events().begin(), resp.events().end()};
  }
  // The newest event raised at `raised_ns`, waiting until it exists.
  std::string EventAt(int64_t raised_ns) {
    std::string id;
    EXPECT_TRUE(Eventually([&] {
      for (const v1::Event& e : Events()) {
        if (e.raised_unix_ns() == raised_ns) id = e.id();
      }
      return !id.empty();
    })) << "no event raised at "
        << raised_ns;
    return id;
  }
  void Ack(const std::string& id, const std::string& comment) {
    v1::AckRequest req;
    req.set_id(id);
    req.set_comment(comment);
    v1::Event resp;
    grpc::ClientContext ctx;
    grpc::Status st = v1::Events::NewStub(channel_)->Ack(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  std::unique_ptr<grpc::ClientReader<v1::SubscribeEventsResponse>> Subscribe(
      grpc::ClientContext* ctx, const std::string& glob) {
    v1::SubscribeEventsRequest req;
    req.set_glob(glob);
    return v1::Events::NewStub(channel_)->Subscribe(ctx, req);
  }
  // One sample of /metrics, e.g. `historian_event_outlet_queued{outlet="webhook"}`;
  // nullopt when absent or unreachable.
  std::optional<double> Metric(const std::string& sample) {
    std::ifstream in(dir_ + ".metrics_port");
    int port = 0;
    if (!(in >> port)) return std::nullopt;
    httplib::Client c("127.0.0.1", port);
    httplib::Result r = c.Get("/metrics");
    if (!r || r->status != 200) return std::nullopt;
    for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
      if (!absl::StartsWith(line, sample + " ")) continue;
      double v = 0;
      if (absl::SimpleAtod(line.substr(sample.size() + 1), &v)) return v;
    }
    return std::nullopt;
  }
  static std::vector<std::string> MetricsFlags(const std::string& dir) {
    return {"--metrics_listen=127.0.0.1:0", "--metrics_port_file=" + dir + ".metrics_port"};
  }

 private:
  std::unique_ptr<NodeProcess> process_;
  std::string dir_;
  std::shared_ptr<grpc::Channel> channel_;
};

std::string Key(const std::string& id, const char* change) { return id + "-" + change; }

std::vector<std::string> Keys(const std::vector<Delivery>& got) {
  std::vector<std::string> keys;
  for (const Delivery& d : got) keys.push_back(d.key);
  return keys;
}

// Raise, ack, clear through the webhook; then the receiver is down while
// the node raises, is stopped, clears and acks while running without the
// outlet, is restarted with it and killed -9; once the receiver is back
// every change arrives, in order per event; a clean restart after that
// re-posts nothing already delivered.
TEST(EventOutletsE2eTest, WebhookDeliversEveryChangeAcrossReceiverOutageAndRestarts) {
  testing::TempDir dir;
  Receiver receiver;
  const std::string data = dir.Sub("us");
  std::vector<std::string> flags = {"--site=us", "--event_webhook=" + receiver.url(),
                                    "--event_webhook_max_backoff=200ms"};
  for (std::string& f : Node::MetricsFlags(data)) flags.push_back(f);
  Node node(data, flags);
  ASSERT_TRUE(node.Start());
  node.CreateTag("us.p", 100);
  node.CreateHighRule("p_high", "us.p", 50);
  const int64_t t0 = int64_t{1700000000} * kSecond;

  node.Write("us.p", t0, 60);
  const std::string e1 = node.EventAt(t0);
  ASSERT_TRUE(Eventually([&] { return receiver.Has(Key(e1, "raised")); }));
  node.Ack(e1, "seen");
  ASSERT_TRUE(Eventually([&] { return receiver.Has(Key(e1, "acked")); }));
  node.Write("us.p", t0 + kSecond, 10);
  ASSERT_TRUE(Eventually([&] { return receiver.Has(Key(e1, "cleared")); }));
  for (const Delivery& d : receiver.got()) {
    if (d.key != Key(e1, "raised")) continue;
    for (const std::string& want :
         {absl::StrCat("\"id\":\"", e1, "\""), std::string("\"change\":\"raised\""),
          std::string("\"site\":\"us\""), std::string("\"rule\":\"p_high\""),
          std::string("\"tag\":\"us.p\""), std::string("\"origin_site\":\"us\"")}) {
      EXPECT_TRUE(absl::StrContains(d.body, want)) << d.body << " lacks " << want;
    }
  }

  // The receiver goes down; a raise is queued and tried.
  receiver.Down();
  node.Write("us.p", t0 + 2 * kSecond, 70);
  const std::string e2 = node.EventAt(t0 + 2 * kSecond);
  const std::string failed = "historian_event_outlet_failed_total{outlet=\"webhook\"}";
  const std::string queued = "historian_event_outlet_queued{outlet=\"webhook\"}";
  ASSERT_TRUE(Eventually([&] { return node.Metric(failed).value_or(0) >= 1; }));
  EXPECT_GE(node.Metric(queued).value_or(0), 1);
  // Stopped with it queued; the clear and the ack happen while the node
  // runs without the outlet (they wait in the event feed, behind the
  // outlet's cursor); restarted with it, the outlet queues them, and the
  // node is killed -9 before the receiver is back.
  ASSERT_EQ(node.Stop(), 0);
  {
    std::vector<std::string> plain_flags = {"--site=us"};
    for (std::string& f : Node::MetricsFlags(data)) plain_flags.push_back(f);
    Node plain(data, plain_flags);
    ASSERT_TRUE(plain.Start());
    plain.Write("us.p", t0 + 3 * kSecond, 10);
    ASSERT_TRUE(Eventually([&] {
      for (const v1::Event& e : plain.Events()) {
        if (e.id() == e2 && e.cleared()) return true;
      }
      return false;
    }));
    plain.Ack(e2, "while the outlet was off");
    ASSERT_EQ(plain.Stop(), 0);
  }
  ASSERT_TRUE(node.Start());
  ASSERT_TRUE(Eventually([&] { return node.Metric(queued).value_or(0) >= 3; }))
      << "queued: " << node.Metric(queued).value_or(-1);
  node.Kill();
  ASSERT_TRUE(node.Start());
  receiver.Up();
  for (const char* change : {"raised", "cleared", "acked"}) {
    EXPECT_TRUE(Eventually([&] { return receiver.Has(Key(e2, change)); }))
        << Key(e2, change) << " never arrived; got " << receiver.got().size();
  }
  // In order per event (first arrival of each change).
  std::map<std::string, size_t> first = FirstSeen(Keys(receiver.got()));
  EXPECT_LT(first[Key(e1, "raised")], first[Key(e1, "acked")]);
  EXPECT_LT(first[Key(e1, "acked")], first[Key(e1, "cleared")]);
  EXPECT_LT(first[Key(e2, "raised")], first[Key(e2, "cleared")]);
  EXPECT_LT(first[Key(e2, "cleared")], first[Key(e2, "acked")]);
  ASSERT_TRUE(Eventually([&] { return node.Metric(queued) == 0.0; }));

  // Nothing delivered is posted again after a clean restart: a new change
  // arrives, and every earlier key was posted as often as before (the
  // queue is in order, so a re-post would have come first).
  std::map<std::string, size_t> before;
  for (const std::string& k : Keys(receiver.got())) ++before[k];
  ASSERT_EQ(node.Stop(), 0);
  ASSERT_TRUE(node.Start());
  node.Write("us.p", t0 + 4 * kSecond, 80);
  const std::string e3 = node.EventAt(t0 + 4 * kSecond);
  ASSERT_TRUE(Eventually([&] { return receiver.Has(Key(e3, "raised")); }));
  std::map<std::string, size_t> after;
  for (const std::string& k : Keys(receiver.got())) ++after[k];
  after.erase(Key(e3, "raised"));
  EXPECT_EQ(after, before);
  for (const auto& [key, n] : before) {
    EXPECT_LE(n, 2u) << key << " posted " << n << " times";  // at least once, not wholesale
  }
  ASSERT_TRUE(Eventually([&] {
    return node.Metric("historian_event_outlet_posted_total{outlet=\"webhook\"}").value_or(0) >= 1;
  }));
  EXPECT_EQ(node.Metric("historian_event_outlet_lost_total{outlet=\"webhook\"}"), 0.0);
  EXPECT_EQ(node.Stop(), 0);
}

// Events.Subscribe reads the same feed as the outlets: a raise, an ack
// and a clear arrive in order as the event's state; a glob that matches
// nothing gets none of them. (The deadline only turns a hang into a
// failure.)
TEST(EventOutletsE2eTest, EventsSubscribeStreamsEveryChangeFromTheFeed) {
  testing::TempDir dir;
  Node node(dir.Sub("us"), {"--site=us"});
  ASSERT_TRUE(node.Start());
  node.CreateTag("us.p", 100);
  node.CreateHighRule("p_high", "us.p", 50);
  grpc::ClientContext ctx, other_ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kGuard);
  other_ctx.set_deadline(std::chrono::system_clock::now() + kGuard);
  auto stream = node.Subscribe(&ctx, "us.*");
  auto other = node.Subscribe(&other_ctx, "mx.*");
  // The node sends headers once it has taken its feed position.
  stream->WaitForInitialMetadata();
  other->WaitForInitialMetadata();
  const int64_t t0 = int64_t{1700000000} * kSecond;
  node.Write("us.p", t0, 60);
  const std::string id = node.EventAt(t0);
  node.Ack(id, "seen");
  node.Write("us.p", t0 + kSecond, 10);
  // Each response carries the event's state when sent; read until cleared.
  std::vector<std::string> states;
  v1::SubscribeEventsResponse r;
  while (stream->Read(&r)) {
    EXPECT_FALSE(r.lagged());
    bool cleared = false;
    for (const v1::Event& e : r.events()) {
      EXPECT_EQ(e.id(), id);
      const std::string state =
          absl::StrCat(e.acked() ? "acked" : "", e.cleared() ? "cleared" : "");
      if (states.empty() || states.back() != state) states.push_back(state);
      cleared = cleared || e.cleared();
    }
    if (cleared) break;
  }
  ASSERT_FALSE(states.empty()) << "stream ended: " << stream->Finish().error_message();
  EXPECT_EQ(states.back(), "ackedcleared");
  EXPECT_TRUE(std::is_sorted(states.begin(), states.end(), [](const auto& a, const auto& b) {
    return a.size() < b.size();  // the state only grows
  }));
  ctx.TryCancel();
  other_ctx.TryCancel();
  v1::SubscribeEventsResponse none;
  EXPECT_FALSE(other->Read(&none));  // cancelled with nothing sent
  EXPECT_EQ(none.events_size(), 0);
  EXPECT_EQ(node.Stop(), 0);
}

// Events.Subscribe streams hold a slot of the caller's
// --max_streams_per_client while open: one over the limit is refused
// naming the flag, a cancelled one gives its slot back (the
// historian_event_subscriptions gauge drops), and a node stop ends the
// open ones UNAVAILABLE and exits cleanly.
TEST(EventOutletsE2eTest, EventsSubscribeStreamsHoldASlotUntilCancelledOrTheNodeStops) {
  testing::TempDir dir;
  std::vector<std::string> flags = {"--site=us", "--max_streams_per_client=2"};
  for (std::string& f : Node::MetricsFlags(dir.Sub("us"))) flags.push_back(f);
  Node node(dir.Sub("us"), flags);
  ASSERT_TRUE(node.Start());
  const std::string gauge = "historian_event_subscriptions";
  grpc::ClientContext a_ctx, b_ctx, c_ctx, d_ctx;
  for (grpc::ClientContext* ctx : {&a_ctx, &b_ctx, &c_ctx, &d_ctx}) {
    ctx->set_deadline(std::chrono::system_clock::now() + kGuard);
  }
  auto a = node.Subscribe(&a_ctx, "");
  auto b = node.Subscribe(&b_ctx, "us.*");
  a->WaitForInitialMetadata();
  b->WaitForInitialMetadata();
  ASSERT_TRUE(Eventually([&] { return node.Metric(gauge) == 2.0; })) << "see " << node.log_path();
  auto c = node.Subscribe(&c_ctx, "");
  v1::SubscribeEventsResponse r;
  EXPECT_FALSE(c->Read(&r));
  grpc::Status refused = c->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "--max_streams_per_client"))
      << refused.error_message();
  // A cancel gives the slot back: the next stream is taken.
  a_ctx.TryCancel();
  EXPECT_FALSE(a->Read(&r));
  EXPECT_EQ(a->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(Eventually([&] { return node.Metric(gauge) == 1.0; }));
  auto d = node.Subscribe(&d_ctx, "");
  d->WaitForInitialMetadata();
  ASSERT_TRUE(Eventually([&] { return node.Metric(gauge) == 2.0; }));
  // Both open streams still get changes.
  node.CreateTag("us.p", 100);
  node.CreateHighRule("p_high", "us.p", 50);
  node.Write("us.p", int64_t{1700000000} * kSecond, 60);
  for (auto* stream : {b.get(), d.get()}) {
    ASSERT_TRUE(stream->Read(&r));
    ASSERT_EQ(r.events_size(), 1);
    EXPECT_EQ(r.events(0).tag(), "us.p");
  }
  // A node stop ends them, UNAVAILABLE, and exits cleanly.
  EXPECT_EQ(node.Stop(), 0);
  for (auto* stream : {b.get(), d.get()}) {
    EXPECT_FALSE(stream->Read(&r));
    grpc::Status ended = stream->Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  }
}

// An idle Events.Subscribe stream holds no thread (gRPC's callback API;
// the synchronous API held one per stream): 40 open streams add far fewer
// than 40 threads to the node.
TEST(EventOutletsE2eTest, IdleEventsSubscribeStreamsHoldNoThread) {
  testing::TempDir dir;
  std::vector<std::string> flags = {"--site=us"};
  for (std::string& f : Node::MetricsFlags(dir.Sub("us"))) flags.push_back(f);
  Node node(dir.Sub("us"), flags);
  ASSERT_TRUE(node.Start());
  // One stream first, so gRPC's own threads for streams are counted before.
  grpc::ClientContext first_ctx;
  first_ctx.set_deadline(std::chrono::system_clock::now() + kGuard);
  auto first = node.Subscribe(&first_ctx, "");
  first->WaitForInitialMetadata();
  const std::string gauge = "historian_event_subscriptions";
  ASSERT_TRUE(Eventually([&] { return node.Metric(gauge) == 1.0; }));
  const int threads_before = node.Threads();
  ASSERT_GT(threads_before, 0);
  std::vector<std::unique_ptr<grpc::ClientContext>> ctx;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::SubscribeEventsResponse>>> streams;
  for (int i = 0; i < 40; ++i) {
    ctx.push_back(std::make_unique<grpc::ClientContext>());
    ctx.back()->set_deadline(std::chrono::system_clock::now() + kGuard);
    streams.push_back(node.Subscribe(ctx.back().get(), "idle.*"));
    streams.back()->WaitForInitialMetadata();
  }
  ASSERT_TRUE(Eventually([&] { return node.Metric(gauge) == 41.0; }));
  EXPECT_LT(node.Threads(), threads_before + 10)
      << "40 idle Events.Subscribe streams took threads (" << threads_before << " before)";
  for (auto& c : ctx) c->TryCancel();
  for (auto& s : streams) s->Finish();
  first_ctx.TryCancel();
  first->Finish();
  ASSERT_TRUE(Eventually([&] { return node.Metric(gauge) == 0.0; }));
  EXPECT_EQ(node.Stop(), 0);
}

// Bad outlet flags stop the node at start (exit 2) naming the flag.
TEST(EventOutletsE2eTest, BadOutletFlagsAreRefusedAtStartNamingTheFlag) {
  testing::TempDir dir;
  {
    std::ofstream(dir.Sub("empty.pw")) << "\n";
    std::ofstream(dir.Sub("ca.pem")) << "not read before a connect\n";
  }
  const std::string tls = "--event_mqtt_broker=ssl://127.0.0.1:8883";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--event_webhook=ftp://127.0.0.1/hook"}, "--event_webhook"},
      {{"--event_mqtt_broker=http://127.0.0.1:8883"}, "--event_mqtt_broker"},
      {{"--event_mqtt_broker=tcp://127.0.0.1"}, "--event_mqtt_broker"},
      {{"--event_mqtt_broker=tcp://127.0.0.1:1883", "--event_mqtt_tls_ca=" + dir.Sub("ca.pem")},
       "need an ssl:// broker URI"},
      {{tls, "--event_mqtt_tls_cert=" + dir.Sub("ca.pem")}, "--event_mqtt_tls_key go together"},
      {{tls, "--event_mqtt_tls_ca=" + dir.Sub("missing.pem")},
       "--event_mqtt_tls_ca " + dir.Sub("missing.pem") + ": cannot read it"},
      {{tls, "--event_mqtt_username=u", "--event_mqtt_password_file=" + dir.Sub("missing.pw")},
       "--event_mqtt_password_file: cannot read a password from"},
      {{tls, "--event_mqtt_username=u", "--event_mqtt_password_file=" + dir.Sub("empty.pw")},
       "--event_mqtt_password_file: cannot read a password from"},
      {{tls, "--event_mqtt_password_file=" + dir.Sub("ca.pem")},
       "--event_mqtt_password_file needs --event_mqtt_username"},
      {{"--event_mqtt_username=u"}, "need --event_mqtt_broker"},
      {{"--event_mqtt_password_file=" + dir.Sub("ca.pem")}, "need --event_mqtt_broker"}};
  for (const auto& [flags, name] : cases) {
    std::vector<std::string> argv = {"server/historiand", "--data_dir=" + dir.Sub("bad"),
                                     "--listen=127.0.0.1:0", "--metrics_listen="};
    argv.insert(argv.end(), flags.begin(), flags.end());
    testing::CommandResult r = testing::RunCommand(argv);
    EXPECT_EQ(r.exit_code, 2) << flags[0] << ": " << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, name)) << flags.back() << ": " << r.err;
  }
  for (const auto& [flag, name] : std::vector<std::pair<std::string, std::string>>{
           {"--event_webhook_max_queue_bytes=1000", "--event_webhook_max_queue_bytes"},
           {"--event_webhook_max_backoff=1ms", "--event_webhook_max_backoff"},
           {"--event_webhook_timeout=0s", "--event_webhook_timeout"}}) {
    testing::CommandResult r = testing::RunCommand(
        {"server/historiand", "--data_dir=" + dir.Sub("bad"), "--listen=127.0.0.1:0",
         "--metrics_listen=", "--event_webhook=http://127.0.0.1:1/hook", flag});
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, name)) << flag << ": " << r.err;
  }
}

// A subscriber of the test: a persistent MQTT session (it keeps its
// subscription and queued messages across a broker restart).
class Subscriber {
 public:
  explicit Subscriber(const std::string& uri) : client_(uri, "event-outlets-test-subscriber") {}
  // `o`: a login or TLS the broker asks for.
  void Connect(const std::string& filter, mqtt::connect_options o = {}) {
    o.set_clean_session(false);
    o.set_automatic_reconnect(std::chrono::milliseconds(100), std::chrono::seconds(1));
    client_.start_consuming();
    client_.connect(o);
    client_.subscribe(filter, 1);
  }
  // Takes what arrived until `done` holds (bounded by kGuard).
  bool Until(const std::function<bool(const std::vector<mqtt::const_message_ptr>&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kGuard;
    while (!done(got_)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      mqtt::const_message_ptr msg;
      if (client_.try_consume_message_for(&msg, std::chrono::milliseconds(200)) && msg) {
        got_.push_back(msg);
      }
    }
    return true;
  }
  ~Subscriber() {
    try {
      client_.disconnect();
    } catch (...) {
    }
  }

 private:
  mqtt::client client_;
  std::vector<mqtt::const_message_ptr> got_;
};

bool HasChange(const std::vector<mqtt::const_message_ptr>& got, const std::string& topic,
               const std::string& id, const std::string& change) {
  for (const auto& m : got) {
    const std::string body = m->to_string();
    if (m->get_topic() == topic && absl::StrContains(body, "\"id\":\"" + id + "\"") &&
        absl::StrContains(body, "\"change\":\"" + change + "\"")) {
      return true;
    }
  }
  return false;
}

// Two sites replicating; us raises, mx acks: both sites' webhooks get
// every change (the replicated ones marked with the sending site), mx
// publishes each change to MQTT; with the broker down, a clear waits in mx's
// feed across a restart of mx and is published once the broker is back.
TEST(EventOutletsE2eTest, BothSitesPostEveryChangeAndMxPublishesToMqtt) {
  testing::TempDir dir;
  testing::MosquittoProcess broker(dir.Sub("mosquitto"));
  ASSERT_TRUE(broker.Start());
  Subscriber sub(broker.uri());
  sub.Connect("historian/+/events/#");
  Receiver at_us, at_mx;
  const int us_port = FreePort(), mx_port = FreePort();
  std::vector<std::string> us_flags = {"--site=us",
                                       "--listen=127.0.0.1:" + std::to_string(us_port),
                                       "--peers=mx=127.0.0.1:" + std::to_string(mx_port),
                                       "--anti_entropy_interval=0s",
                                       "--event_webhook=" + at_us.url(),
                                       "--event_webhook_max_backoff=200ms"};
  std::vector<std::string> mx_flags = {"--site=mx",
                                       "--listen=127.0.0.1:" + std::to_string(mx_port),
                                       "--peers=us=127.0.0.1:" + std::to_string(us_port),
                                       "--anti_entropy_interval=0s",
                                       "--event_webhook=" + at_mx.url(),
                                       "--event_webhook_max_backoff=200ms",
                                       "--event_mqtt_broker=" + broker.uri()};
  for (std::string& f : Node::MetricsFlags(dir.Sub("mx"))) mx_flags.push_back(f);
  Node us(dir.Sub("us"), us_flags), mx(dir.Sub("mx"), mx_flags);
  ASSERT_TRUE(us.Start());
  ASSERT_TRUE(mx.Start());
  us.CreateTag("us.p", 100);
  us.CreateHighRule("p_high", "us.p", 50);
  const int64_t t0 = int64_t{1700000000} * kSecond;
  us.Write("us.p", t0, 60);
  const std::string id = us.EventAt(t0);
  const std::string topic = "historian/mx/events/p_high";
  ASSERT_TRUE(Eventually([&] { return at_us.Has(Key(id, "raised")); }));
  ASSERT_TRUE(Eventually([&] { return at_mx.Has(Key(id, "raised")); }));
  for (const Delivery& d : at_mx.got()) {
    if (d.key != Key(id, "raised")) continue;
    EXPECT_TRUE(absl::StrContains(d.body, "\"site\":\"mx\"")) << d.body;
    EXPECT_TRUE(absl::StrContains(d.body, "\"origin_site\":\"us\"")) << d.body;
  }
  ASSERT_TRUE(sub.Until([&](const auto& got) { return HasChange(got, topic, id, "raised"); }));

  // Acked at mx: both sites post it, mx publishes it.
  mx.EventAt(t0);  // replicated there
  mx.Ack(id, "on it");
  ASSERT_TRUE(Eventually([&] { return at_mx.Has(Key(id, "acked")); }));
  ASSERT_TRUE(Eventually([&] { return at_us.Has(Key(id, "acked")); }));
  ASSERT_TRUE(sub.Until([&](const auto& got) { return HasChange(got, topic, id, "acked"); }));

  // The broker goes down; the clear reaches mx (its webhook proves it),
  // mx restarts, the broker comes back: the clear is published.
  broker.Stop();
  us.Write("us.p", t0 + kSecond, 10);
  ASSERT_TRUE(Eventually([&] { return at_mx.Has(Key(id, "cleared")); }));
  ASSERT_TRUE(Eventually([&] {
    return mx.Metric("historian_event_outlet_failed_total{outlet=\"mqtt\"}").value_or(0) >= 1;
  }));
  ASSERT_EQ(mx.Stop(), 0);
  ASSERT_TRUE(mx.Start());
  ASSERT_TRUE(broker.Start());
  ASSERT_TRUE(sub.Until([&](const auto& got) { return HasChange(got, topic, id, "cleared"); }))
      << "see " << mx.log_path();
  ASSERT_TRUE(Eventually(
      [&] { return mx.Metric("historian_event_outlet_queued{outlet=\"mqtt\"}") == 0.0; }));
  EXPECT_GE(mx.Metric("historian_event_outlet_posted_total{outlet=\"mqtt\"}").value_or(0), 1);
  EXPECT_EQ(us.Stop(), 0);
  EXPECT_EQ(mx.Stop(), 0);
}

// ssl:// with a login and a client certificate (a mosquitto that requires
// all three; the PKI made with openssl): the node verifies the broker and
// publishes every change; a wrong password and a missing client
// certificate are refused by the broker, counted as failures, published
// nothing, and logged with the reason; the changes wait in the feed.
TEST(EventOutletsE2eTest, MqttOverTlsWithALoginAndAClientCertificate) {
  testing::TempDir dir;
  const std::string pki = dir.Sub("pki");
  std::filesystem::create_directories(pki);
  ASSERT_TRUE(testing::MakeCa(pki, "ca") && testing::MakeCert(pki, "ca", "broker") &&
              testing::MakeCert(pki, "ca", "node") && testing::MakeCa(pki, "other-ca"))
      << "openssl could not make the test PKI";
  testing::CommandResult pw = testing::RunCommand(
      {"/usr/bin/mosquitto_passwd", "-b", "-c", dir.Sub("passwd"), "historian", "s3cret"});
  ASSERT_EQ(pw.exit_code, 0) << pw.err;
  {
    std::ofstream(dir.Sub("good.pw")) << "s3cret\n";
    std::ofstream(dir.Sub("bad.pw")) << "wrong\n";
  }
  testing::MosquittoProcess broker(dir.Sub("mosquitto"),
                                   "allow_anonymous false\npassword_file " + dir.Sub("passwd") +
                                       "\ncafile " + pki + "/ca.pem\ncertfile " + pki +
                                       "/broker.pem\nkeyfile " + pki +
                                       "/broker.key\nrequire_certificate true\n");
  ASSERT_TRUE(broker.Start());
  const std::string uri = "ssl://127.0.0.1:" + std::to_string(broker.port());
  Subscriber sub(uri);
  {
    mqtt::connect_options o;
    o.set_user_name("historian");
    o.set_password("s3cret");
    mqtt::ssl_options ssl;
    ssl.set_trust_store(pki + "/ca.pem");
    ssl.set_key_store(pki + "/node.pem");
    ssl.set_private_key(pki + "/node.key");
    o.set_ssl(ssl);
    sub.Connect("historian/+/events/#", o);
  }
  auto flags = [&](const std::string& name, const std::string& password_file, bool with_cert,
                   const std::string& ca = "ca") {
    std::vector<std::string> f = {"--site=" + name, "--event_mqtt_broker=" + uri,
                                  "--event_mqtt_username=historian",
                                  "--event_mqtt_password_file=" + password_file,
                                  "--event_mqtt_tls_ca=" + pki + "/" + ca + ".pem"};
    if (with_cert) {
      f.push_back("--event_mqtt_tls_cert=" + pki + "/node.pem");
      f.push_back("--event_mqtt_tls_key=" + pki + "/node.key");
    }
    for (std::string& m : Node::MetricsFlags(dir.Sub(name))) f.push_back(m);
    return f;
  };
  const int64_t t0 = int64_t{1700000000} * kSecond;
  auto raise = [&](Node& node, const std::string& tag) {
    node.CreateTag(tag, 100);
    node.CreateHighRule("p_high", tag, 50);
    node.Write(tag, t0, 60);
    return node.EventAt(t0);
  };

  Node good(dir.Sub("good"), flags("good", dir.Sub("good.pw"), true));
  ASSERT_TRUE(good.Start());
  const std::string id = raise(good, "good.p");
  ASSERT_TRUE(sub.Until([&](const auto& got) {
    return HasChange(got, "historian/good/events/p_high", id, "raised");
  })) << "see "
      << good.log_path();
  good.Write("good.p", t0 + kSecond, 10);
  ASSERT_TRUE(sub.Until([&](const auto& got) {
    return HasChange(got, "historian/good/events/p_high", id, "cleared");
  }));
  // Counted once the PUBACK is back, which may be after the subscriber got it.
  EXPECT_TRUE(Eventually(
      [&] { return good.Metric("historian_event_outlet_posted_total{outlet=\"mqtt\"}") == 2.0; }));

  // Refused by the broker, or the broker not trusted: counted and logged;
  // nothing published.
  auto read_log = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  Node bad_login(dir.Sub("bad_login"), flags("bad_login", dir.Sub("bad.pw"), true));
  Node no_cert(dir.Sub("no_cert"), flags("no_cert", dir.Sub("good.pw"), false));
  Node wrong_ca(dir.Sub("wrong_ca"), flags("wrong_ca", dir.Sub("good.pw"), true, "other-ca"));
  for (auto [node, reason] :
       {std::pair<Node*, std::string>{
            &bad_login, "the broker refused the login of --event_mqtt_username historian"},
        {&no_cert, "give one (--event_mqtt_tls_cert/--event_mqtt_tls_key)"},
        // OpenSSL's reason, from the node's own second handshake.
        {&wrong_ca, "TLS: certificate verify failed ("}}) {
    ASSERT_TRUE(node->Start());
    raise(*node, "p");
    ASSERT_TRUE(Eventually([&] {
      return node->Metric("historian_event_outlet_failed_total{outlet=\"mqtt\"}").value_or(0) >=
                 1 &&
             absl::StrContains(read_log(node->log_path()), reason);
    })) << reason
        << " not in " << node->log_path();
    EXPECT_EQ(node->Metric("historian_event_outlet_posted_total{outlet=\"mqtt\"}"), 0.0);
    EXPECT_GE(node->Metric("historian_event_outlet_queued{outlet=\"mqtt\"}").value_or(0), 1);
    EXPECT_EQ(node->Stop(), 0);
  }
  EXPECT_EQ(good.Stop(), 0);
}

}  // namespace
}  // namespace historian
