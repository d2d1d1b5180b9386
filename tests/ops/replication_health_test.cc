// Replication health at each site (issue 14): what the peer has not yet
// taken of this node's own log (entries and the age of the oldest), the
// state of both links with the time of their last change, one log line per
// drop or return; in Admin.Stats, /metrics and `historian stats`.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "tests/ops/ops_util.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::historian::v1;

// Lines of `text` containing `what`.
int CountLines(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class ReplicationHealthTest : public ::testing::Test {
 protected:
  // Sites "us" and "mx", each pulling the other through its own proxy.
  void SetUp() override {
    us_port_ = testing::FreePort();
    mx_port_ = testing::FreePort();
    mx_pulls_us_ = std::make_unique<testing::FaultProxy>("127.0.0.1:" + std::to_string(us_port_));
    us_pulls_mx_ = std::make_unique<testing::FaultProxy>("127.0.0.1:" + std::to_string(mx_port_));
    us_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("us"),
        std::vector<std::string>{"--site=us", "--peers=mx=" + us_pulls_mx_->address(),
                                 "--listen=127.0.0.1:" + std::to_string(us_port_),
                                 "--anti_entropy_interval=0s", "--peer_keepalive=1s",
                                 "--metrics_listen=127.0.0.1:0",
                                 "--metrics_port_file=" + dir_.Sub("us.metrics")});
    mx_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("mx"),
        std::vector<std::string>{"--site=mx", "--peers=us=" + mx_pulls_us_->address(),
                                 "--listen=127.0.0.1:" + std::to_string(mx_port_),
                                 "--anti_entropy_interval=0s", "--peer_keepalive=1s",
                                 "--metrics_listen="});
    ASSERT_TRUE(us_->Start());
    ASSERT_TRUE(mx_->Start());
    us_channel_ = grpc::CreateChannel(us_->address(), grpc::InsecureChannelCredentials());
  }

  // us's view of peer mx.
  v1::PeerStatus MxAtUs() {
    v1::StatsResponse r;
    grpc::ClientContext ctx;
    v1::Admin::NewStub(us_channel_)->Stats(&ctx, v1::StatsRequest(), &r);
    return r.peers_size() == 1 ? r.peers(0) : v1::PeerStatus();
  }
  void WriteAtUs(int64_t ts) {
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    ASSERT_TRUE(v1::Ingest::NewStub(us_channel_)
                    ->WriteBatch(&ctx, testing::DoubleSamples("us.t", ts, 1), &ack)
                    .ok());
  }
  std::string UsLog() { return testing::ReadTextFile(us_->log_path()); }

  int us_port_ = 0, mx_port_ = 0;
  testing::TempDir dir_;
  std::unique_ptr<testing::FaultProxy> mx_pulls_us_, us_pulls_mx_;
  std::unique_ptr<testing::NodeProcess> us_, mx_;
  std::shared_ptr<grpc::Channel> us_channel_;
};

TEST_F(ReplicationHealthTest, StatsMetricsAndLogShowWhatThePeerHasNotTaken) {
  WriteAtUs(1000);
  ASSERT_TRUE(testing::PollUntil([&] {
    v1::PeerStatus p = MxAtUs();
    return p.peer_pulling() && p.unacked_entries() == 0 && p.peer_acked_sequence() > 0 &&
           p.state() == "connected";
  }));
  EXPECT_EQ(MxAtUs().unacked_age_seconds(), 0);
  EXPECT_EQ(CountLines(UsLog(), "peer link up"), 1);
  EXPECT_EQ(CountLines(UsLog(), "peer pulling: link up"), 1);

  // Both links drop: mx cannot take us's new entries.
  const int64_t up_since = MxAtUs().state_since_unix_ns();
  mx_pulls_us_->Cut();
  us_pulls_mx_->Cut();
  ASSERT_TRUE(testing::PollUntil([&] {
    v1::PeerStatus p = MxAtUs();
    return !p.peer_pulling() && p.state() != "connected";
  }));
  for (int i = 0; i < 3; ++i) WriteAtUs(2000 + i);
  v1::PeerStatus down = MxAtUs();
  EXPECT_EQ(down.unacked_entries(), 3u);
  EXPECT_GE(down.unacked_age_seconds(), 0);
  EXPECT_GT(down.state_since_unix_ns(), up_since);
  EXPECT_GT(down.peer_pulling_since_unix_ns(), 0);
  EXPECT_EQ(CountLines(UsLog(), "peer link down"), 1);
  EXPECT_EQ(CountLines(UsLog(), "peer stopped pulling: link down"), 1);

  const int metrics_port = std::stoi(testing::ReadTextFile(dir_.Sub("us.metrics")));
  std::string text = testing::ScrapeMetrics(metrics_port);
  EXPECT_EQ(testing::MetricValue(text, "historian_replication_unacked_entries{peer=\"mx\"}"), 3);
  EXPECT_EQ(testing::MetricValue(text, "historian_replication_peer_pulling{peer=\"mx\"}"), 0);
  EXPECT_TRUE(testing::MetricValue(text, "historian_replication_unacked_age_seconds{peer=\"mx\"}"));

  testing::CommandResult cli =
      testing::RunCommand({"historian", "--server", us_->address(), "stats"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_THAT(cli.out, HasSubstr("not yet taken by the peer: 3 entries"));
  EXPECT_THAT(cli.out, HasSubstr("link down since"));
  cli = testing::RunCommand({"historian", "--server", us_->address(), "stats", "--format", "json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_THAT(cli.out, HasSubstr("unacked_entries"));

  // The links come back: mx takes everything, one line each.
  mx_pulls_us_->Heal();
  us_pulls_mx_->Heal();
  ASSERT_TRUE(testing::PollUntil([&] {
    v1::PeerStatus p = MxAtUs();
    return p.peer_pulling() && p.unacked_entries() == 0 && p.state() == "connected";
  }));
  EXPECT_EQ(CountLines(UsLog(), "peer link up"), 2);
  EXPECT_EQ(CountLines(UsLog(), "peer pulling: link up"), 2);
  EXPECT_EQ(CountLines(UsLog(), "peer link down"), 1);
}

}  // namespace
}  // namespace historian
