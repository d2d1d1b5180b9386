// Query.Subscribe against real historiand processes: samples arrive with
// their origin site, globs pick up tags created later, a resume token gets
// exactly what was missed (random writes and disconnects against a model),
// an expired token and an overflowing buffer get `lagged` with a range that
// Read fills, a subscriber that never reads does not stall writers, limits
// answer with the flag's name, and a peer's samples arrive marked with the
// peer's site. Waits are for conditions (WaitFor), never for time.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/ops/ops_util.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/subscriber.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::NodeProcess;
using testing::Subscriber;
using testing::WaitFor;

constexpr absl::Duration kPatience = absl::Seconds(120);

// (tag, timestamp, value, origin)
using Got = testing::Subscriber::Sample;

v1::SubscribeRequest Glob(const std::string& glob, const std::string& token = "") {
  v1::SubscribeRequest r;
  r.set_glob(glob);
  r.set_resume_token(token);
  return r;
}

void Write(
    const std::shared_ptr<grpc::Channel>& channel,
    const std::vector<std::pair<std::string, std::vector<std::pair<int64_t, double>>>>& series) {
  v1::WriteRequest req;
  for (const auto& [tag, samples] : series) {
    auto* s = req.add_series();
    s->set_tag(tag);
    for (const auto& [ts, v] : samples) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(ts);
      sample->mutable_value()->set_double_value(v);
    }
  }
  v1::WriteAck ack;
  grpc::ClientContext ctx;
  grpc::Status st = v1::Ingest::NewStub(channel)->WriteBatch(&ctx, req, &ack);
  ASSERT_TRUE(st.ok()) << st.error_message();
}

void WriteRange(const std::shared_ptr<grpc::Channel>& channel, const std::string& tag, int64_t from,
                int n, double base) {
  std::vector<std::pair<int64_t, double>> samples;
  for (int i = 0; i < n; ++i) samples.emplace_back(from + i, base + i);
  Write(channel, {{tag, samples}});
}

std::vector<std::pair<int64_t, double>> Read(const std::shared_ptr<grpc::Channel>& channel,
                                             const std::string& tag, int64_t start, int64_t end) {
  v1::ReadRequest req;
  req.add_tags(tag);
  req.set_start_ns(start);
  req.set_end_ns(end);
  grpc::ClientContext ctx;
  auto reader = v1::Query::NewStub(channel)->Read(&ctx, req);
  std::vector<std::pair<int64_t, double>> out;
  v1::ReadResponse r;
  while (reader->Read(&r)) {
    for (const auto& s : r.samples()) out.emplace_back(s.timestamp_ns(), s.value().double_value());
  }
  EXPECT_TRUE(reader->Finish().ok());
  return out;
}

class SubscribeTest : public ::testing::Test {
 protected:
  std::shared_ptr<grpc::Channel> StartNode(std::vector<std::string> flags,
                                           const std::string& name = "node") {
    nodes_.push_back(std::make_unique<NodeProcess>(dir_.Sub(name), std::move(flags)));
    EXPECT_TRUE(nodes_.back()->Start());
    return grpc::CreateChannel(nodes_.back()->address(), grpc::InsecureChannelCredentials());
  }
  testing::TempDir dir_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
};

TEST_F(SubscribeTest, SamplesArriveWithTheirOriginAndOnlyTheSubscribedTags) {
  auto ch = StartNode({"--site=us"});
  v1::SubscribeRequest req;
  req.add_tags("us.a");
  req.add_tags("us.b");
  Subscriber sub(ch, req);
  ASSERT_TRUE(sub.WaitStarted(kPatience));
  WriteRange(ch, "us.a", 1000, 50, 1);
  WriteRange(ch, "us.c", 1000, 50, 2);  // not subscribed
  WriteRange(ch, "us.b", 2000, 30, 3);
  ASSERT_TRUE(WaitFor([&] { return sub.count() >= 80; }, kPatience));
  std::vector<Got> got = sub.samples();
  ASSERT_EQ(got.size(), 80u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i], Got("us.a", 1000 + i, 1 + i, "us"));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(got[50 + i], Got("us.b", 2000 + i, 3 + i, "us"));
  EXPECT_TRUE(sub.lagged().empty());
}

TEST_F(SubscribeTest, GlobPicksUpATagCreatedLater) {
  auto ch = StartNode({"--site=us"});
  Subscriber sub(ch, Glob("plant.*"));
  ASSERT_TRUE(sub.WaitStarted(kPatience));
  WriteRange(ch, "other.x", 1, 10, 0);
  WriteRange(ch, "plant.new", 5, 3, 7);  // created by this write
  ASSERT_TRUE(WaitFor([&] { return sub.count() >= 3; }, kPatience));
  std::vector<Got> got = sub.samples();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], Got("plant.new", 5, 7, "us"));
  EXPECT_EQ(got[2], Got("plant.new", 7, 9, "us"));
}

// Random writes to random tags; the subscriber disconnects at random and
// reconnects with the last token it got (writes go on while it is away).
// What it got in the end must be exactly what was written to its tags:
// nothing missed, nothing twice.
// The parameter: --subscription_catch_up_step_bytes. At 64 bytes a resumed
// subscription's catch-up ends a step after about every log entry and goes
// on in the next (the budget that keeps one sparse subscriber from holding
// the others); at the default it reads these small logs in one step.
class SubscribeReconnectTest : public SubscribeTest,
                               public ::testing::WithParamInterface<const char*> {};

TEST_P(SubscribeReconnectTest, ReconnectWithTokenMissesNothingAndDuplicatesNothing) {
  // Heads stay unsealed (the log keeps every entry): a token never expires here.
  auto ch = StartNode({"--site=us", "--head_max_age=1h", "--chunk_max_samples=100000",
                       absl::StrCat("--subscription_catch_up_step_bytes=", GetParam())});
  std::mt19937 rng(19);
  const std::vector<std::string> tags = {"m.a", "m.b", "m.c", "x.d", "m.e"};
  std::multiset<Got> written;
  std::multiset<Got> got;
  std::map<std::string, int64_t> next_ts;
  std::string token;
  int value = 0;
  for (int round = 0; round < 12; ++round) {
    auto sub = std::make_unique<Subscriber>(ch, Glob("m.*", token));
    ASSERT_TRUE(sub->WaitStarted(kPatience)) << sub->status().error_message();
    const int writes = 1 + static_cast<int>(rng() % 8);
    for (int w = 0; w < writes; ++w) {
      std::vector<std::pair<std::string, std::vector<std::pair<int64_t, double>>>> batch;
      for (const std::string& tag : tags) {
        if (rng() % 2) continue;
        std::vector<std::pair<int64_t, double>> samples;
        const int n = 1 + static_cast<int>(rng() % 20);
        for (int i = 0; i < n; ++i) {
          samples.emplace_back(++next_ts[tag], ++value);
          if (tag[0] == 'm') written.emplace(tag, next_ts[tag], value, "us");
        }
        batch.emplace_back(tag, samples);
      }
      if (!batch.empty()) Write(ch, batch);
    }
    if (rng() % 2) {
      // Wait for some of it before leaving (not all: the rest is missed).
      const size_t target = written.size() - got.size();
      WaitFor([&] { return sub->count() * 2 >= target; }, kPatience);
    }
    sub->Cancel();
    for (const Got& g : sub->samples()) got.insert(g);
    ASSERT_TRUE(sub->lagged().empty());
    token = sub->token();
    ASSERT_FALSE(token.empty());
    // Writes while nobody listens.
    if (rng() % 2) {
      for (int i = 0; i < 5; ++i) {
        const std::string& tag = tags[rng() % tags.size()];
        Write(ch, {{tag, {{++next_ts[tag], ++value}}}});
        if (tag[0] == 'm') written.emplace(tag, next_ts[tag], value, "us");
      }
    }
  }
  // A run of entries the subscription does not want, before the marker:
  // its catch-up must read through them without a wanted sample to send.
  for (int i = 0; i < 10; ++i) Write(ch, {{"x.d", {{++next_ts["x.d"], ++value}}}});
  Subscriber last(ch, Glob("m.*", token));
  ASSERT_TRUE(WaitFor([&] { return got.size() + last.count() >= written.size(); }, kPatience));
  // A marker written last: once it is here, any duplicate would be too.
  Write(ch, {{"m.marker", {{1, -1}}}});
  written.emplace("m.marker", 1, -1, "us");
  ASSERT_TRUE(WaitFor([&] { return got.size() + last.count() >= written.size(); }, kPatience));
  last.Cancel();
  for (const Got& g : last.samples()) got.insert(g);
  EXPECT_EQ(got.size(), written.size());
  EXPECT_TRUE(got == written);
}

INSTANTIATE_TEST_SUITE_P(CatchUpSteps, SubscribeReconnectTest, ::testing::Values("8388608", "64"));

// A token whose entries were trimmed from the log: `lagged` names a range
// that, read with Read, holds every sample written after the token.
TEST_F(SubscribeTest, ExpiredTokenGetsLaggedWithTheRangeToReRead) {
  auto ch = StartNode({"--site=us", "--log_retention_bytes=1", "--head_max_age=0s"});
  std::string token;
  {
    Subscriber sub(ch, Glob("e.*"));
    ASSERT_TRUE(sub.WaitStarted(kPatience));
    token = sub.token();
  }
  const int64_t now = absl::ToUnixNanos(absl::Now());
  WriteRange(ch, "e.x", now, 100, 0);
  // Seals every head, so the log entries holding them are trimmed.
  {
    v1::CompactResponse r;
    grpc::ClientContext ctx;
    ASSERT_TRUE(v1::Admin::NewStub(ch)->Compact(&ctx, v1::CompactRequest(), &r).ok());
  }
  Subscriber sub(ch, Glob("e.*", token));
  ASSERT_TRUE(WaitFor([&] { return !sub.lagged().empty() || sub.done(); }, kPatience));
  std::vector<v1::Lagged> lagged = sub.lagged();
  ASSERT_EQ(lagged.size(), 1u) << sub.status().error_message();
  EXPECT_EQ(lagged[0].reason(), "resume token older than the retained log");
  EXPECT_LE(lagged[0].start_ns(), now);
  EXPECT_GE(lagged[0].end_ns(), now + 100);
  EXPECT_EQ(Read(ch, "e.x", lagged[0].start_ns(), lagged[0].end_ns()).size(), 100u);
  EXPECT_EQ(sub.count(), 0u);
  // And it is live again: a new sample arrives.
  WriteRange(ch, "e.x", now + 1000, 1, 5);
  ASSERT_TRUE(WaitFor([&] { return sub.count() == 1; }, kPatience));
}

// A subscriber that never reads: writers complete regardless; when it reads
// at last it is told what it lost, and the range holds it.
TEST_F(SubscribeTest, ASubscriberThatNeverReadsDoesNotStallWriters) {
  auto ch =
      StartNode({"--site=us", "--subscription_buffer_bytes=65536", "--metrics_listen=127.0.0.1:0",
                 "--metrics_port_file=" + dir_.Sub("metrics.port")});
  // A raw stream nobody reads (its own channel: gRPC's flow control stops
  // the node's writes once the windows are full).
  auto stuck_channel =
      grpc::CreateChannel(nodes_[0]->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Query::NewStub(stuck_channel);
  grpc::ClientContext stuck_ctx;
  // A bound for a broken node (no lagged would leave Read waiting), not a
  // timing assumption: a correct node answers at once.
  stuck_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stuck = stub->Subscribe(&stuck_ctx, Glob("s.*"));
  v1::SubscribeResponse first;
  ASSERT_TRUE(stuck->Read(&first));
  // ~20 MB of samples, far past the windows and the 64 KiB buffer.
  for (int b = 0; b < 200; ++b) {
    std::vector<std::pair<int64_t, double>> samples;
    for (int i = 0; i < 5000; ++i) samples.emplace_back(int64_t{b} * 5000 + i + 1, i);
    Write(ch, {{"s.tag" + std::to_string(b % 10), samples}});
  }
  // Every write above completed (ASSERT in Write); now it reads.
  v1::SubscribeResponse r;
  bool lagged = false;
  int64_t lo = 0, hi = 0;
  while (!lagged && stuck->Read(&r)) {
    if (r.has_lagged()) {
      lagged = true;
      lo = r.lagged().start_ns();
      hi = r.lagged().end_ns();
      EXPECT_EQ(r.lagged().reason(), "buffer overflow");
    }
  }
  ASSERT_TRUE(lagged);
  EXPECT_GE(lo, 1);
  EXPECT_LE(hi, 200 * 5000 + 1);
  EXPECT_LT(lo, hi);
  // /metrics counts the open stream and its overflow.
  const std::string text =
      testing::ScrapeMetrics(std::stoi(testing::ReadTextFile(dir_.Sub("metrics.port"))));
  EXPECT_EQ(testing::MetricValue(text, "historian_subscriptions"), 1);
  EXPECT_GE(testing::MetricValue(text, "historian_subscription_lagged_total").value_or(0), 1);
  stuck_ctx.TryCancel();
  stuck->Finish();
}

TEST_F(SubscribeTest, LimitsGiveClearErrors) {
  {
    testing::CommandResult r =
        testing::RunCommand({testing::BinDir() + "/server/historiand",
                             "--data_dir=" + dir_.Sub("bad"), "--subscription_buffer_bytes=10"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--subscription_buffer_bytes"), std::string::npos) << r.err;
    r = testing::RunCommand({testing::BinDir() + "/server/historiand",
                             "--data_dir=" + dir_.Sub("bad1"),
                             "--subscription_catch_up_step_bytes=0"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--subscription_catch_up_step_bytes: 0 is out of range 1..1073741824"),
              std::string::npos)
        << r.err;
    r = testing::RunCommand({testing::BinDir() + "/server/historiand",
                             "--data_dir=" + dir_.Sub("bad2"), "--max_subscriptions=5",
                             "--max_subscriptions_per_client=6"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--max_subscriptions_per_client"), std::string::npos) << r.err;
  }
  {
    std::FILE* f = std::fopen(dir_.Sub("tokens").c_str(), "w");
    std::fputs(
        "token-aaaaaaaaaaaaaaaa reader\ntoken-bbbbbbbbbbbbbbbb reader\n"
        "token-wwwwwwwwwwwwwwww writer\n",
        f);
    std::fclose(f);
  }
  auto ch = StartNode({"--site=us", "--token_file=" + dir_.Sub("tokens"), "--max_subscriptions=3",
                       "--max_subscriptions_per_client=2"});
  Subscriber a1(ch, Glob("*"), "token-aaaaaaaaaaaaaaaa"),
      a2(ch, Glob("*"), "token-aaaaaaaaaaaaaaaa");
  ASSERT_TRUE(a1.WaitStarted(kPatience));
  ASSERT_TRUE(a2.WaitStarted(kPatience));
  Subscriber a3(ch, Glob("*"), "token-aaaaaaaaaaaaaaaa");
  ASSERT_TRUE(WaitFor([&] { return a3.done(); }, kPatience));
  EXPECT_EQ(a3.status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(a3.status().error_message().find("--max_subscriptions_per_client 2"), std::string::npos)
      << a3.status().error_message();
  Subscriber b1(ch, Glob("*"), "token-bbbbbbbbbbbbbbbb");
  ASSERT_TRUE(b1.WaitStarted(kPatience));
  Subscriber b2(ch, Glob("*"), "token-bbbbbbbbbbbbbbbb");
  ASSERT_TRUE(WaitFor([&] { return b2.done(); }, kPatience));
  EXPECT_EQ(b2.status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(b2.status().error_message().find("--max_subscriptions 3"), std::string::npos)
      << b2.status().error_message();
  // Subscribing needs the reader role.
  Subscriber writer(ch, Glob("*"), "token-wwwwwwwwwwwwwwww");
  ASSERT_TRUE(WaitFor([&] { return writer.done(); }, kPatience));
  EXPECT_EQ(writer.status().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Bad requests.
  Subscriber none(ch, v1::SubscribeRequest(), "token-bbbbbbbbbbbbbbbb");
  ASSERT_TRUE(WaitFor([&] { return none.done(); }, kPatience));
  EXPECT_EQ(none.status().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A slot comes back when a subscription ends.
  a1.Cancel();
  ASSERT_TRUE(WaitFor(
      [&] {
        Subscriber again(ch, Glob("*"), "token-aaaaaaaaaaaaaaaa");
        WaitFor([&] { return again.responses() > 0 || again.done(); }, kPatience);
        return !again.done();
      },
      kPatience));
}

TEST_F(SubscribeTest, ASampleWrittenAtTheOtherSiteArrivesMarkedWithItsOrigin) {
  const int us_port = testing::FreePort(), mx_port = testing::FreePort();
  const std::string us_addr = "127.0.0.1:" + std::to_string(us_port);
  const std::string mx_addr = "127.0.0.1:" + std::to_string(mx_port);
  auto us = StartNode(
      {"--site=us", "--listen=" + us_addr, "--peers=mx=" + mx_addr, "--anti_entropy_interval=0s"},
      "us");
  auto mx = StartNode(
      {"--site=mx", "--listen=" + mx_addr, "--peers=us=" + us_addr, "--anti_entropy_interval=0s"},
      "mx");
  Subscriber sub(us, Glob("*.line1.temp"));
  ASSERT_TRUE(sub.WaitStarted(kPatience));
  WriteRange(mx, "mx.line1.temp", 1000, 20, 30);
  WriteRange(us, "us.line1.temp", 1000, 10, 20);
  ASSERT_TRUE(WaitFor([&] { return sub.count() >= 30; }, kPatience));
  std::map<std::string, std::set<std::string>> origins;
  for (const Got& g : sub.samples()) origins[std::get<0>(g)].insert(std::get<3>(g));
  EXPECT_EQ(origins["mx.line1.temp"], std::set<std::string>{"mx"});
  EXPECT_EQ(origins["us.line1.temp"], std::set<std::string>{"us"});
  EXPECT_EQ(sub.count(), 30u);
  // A token from us carries both origins; a reconnect after more writes at
  // both sites gets exactly those.
  const std::string token = sub.token();
  sub.Cancel();
  WriteRange(mx, "mx.line1.temp", 2000, 5, 0);
  WriteRange(us, "us.line1.temp", 2000, 7, 0);
  Subscriber again(us, Glob("*.line1.temp", token));
  ASSERT_TRUE(WaitFor([&] { return again.count() >= 12; }, kPatience));
  WriteRange(us, "us.line1.temp", 3000, 1, 0);  // a marker: duplicates would come before it
  ASSERT_TRUE(WaitFor([&] { return again.count() >= 13; }, kPatience));
  std::vector<Got> got = again.samples();
  ASSERT_EQ(got.size(), 13u);
  int from_mx = 0;
  for (const Got& g : got) from_mx += std::get<3>(g) == "mx";
  EXPECT_EQ(from_mx, 5);
}

}  // namespace
}  // namespace historian
