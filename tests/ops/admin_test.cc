// Administration through the `historian` CLI against real historiand
// processes: online backup, restore (start on the backup, or copy it back
// over a wiped data dir) with identical data, manual compaction, stats with
// storage figures and peer lag, and verify against a replication peer.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::historian::v1;
namespace fs = std::filesystem;

testing::CommandResult Cli(const testing::NodeProcess& node, std::vector<std::string> args) {
  std::vector<std::string> argv = {"historian", "--server", node.address()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv);
}

class AdminTest : public ::testing::Test {
 protected:
  void StartNode(const std::string& data_dir, std::vector<std::string> flags = {}) {
    node_ = std::make_unique<testing::NodeProcess>(data_dir, flags);
    ASSERT_TRUE(node_->Start());
    auto ch = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(ch);
    query_ = v1::Query::NewStub(ch);
  }
  void Write(const std::string& tag, int64_t ts, int n) {
    v1::WriteAck ack;
    ASSERT_TRUE(
        ingest_->WriteBatch(testing::Ctx("").get(), testing::DoubleSamples(tag, ts, n, ts), &ack)
            .ok());
    ASSERT_EQ(ack.accepted_count(), static_cast<uint64_t>(n));
  }
  std::map<int64_t, double> ReadAll(const std::string& tag) {
    auto all = testing::ReadAll(query_.get(), tag);
    EXPECT_TRUE(all.has_value());
    return all.value_or(std::map<int64_t, double>{});
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
};

TEST_F(AdminTest, BackupRestoreGivesIdenticalData) {
  // Small chunks: the backup holds sealed chunks and an unsealed head.
  const std::vector<std::string> flags = {"--chunk_max_samples=64", "--site=us"};
  StartNode(dir_.Sub("data"), flags);
  Write("b.temp", 1000000, 500);
  Write("b.press", 1000000, 130);
  auto temp = ReadAll("b.temp");
  auto press = ReadAll("b.press");
  ASSERT_EQ(temp.size(), 500u);

  testing::CommandResult r = Cli(*node_, {"backup", dir_.Sub("backup")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("backup written to " + dir_.Sub("backup")));
  // A second backup into the same dir is refused.
  r = Cli(*node_, {"backup", dir_.Sub("backup")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("ALREADY_EXISTS"));
  // Written after the backup: not in it.
  Write("b.temp", 9000000, 10);
  ASSERT_EQ(node_->Stop(), 0);

  // Restore 1: wipe the data dir, copy the backup back, start as before.
  fs::remove_all(dir_.Sub("data"));
  fs::copy(dir_.Sub("backup"), dir_.Sub("data"), fs::copy_options::recursive);
  StartNode(dir_.Sub("data"), flags);
  EXPECT_EQ(ReadAll("b.temp"), temp);
  EXPECT_EQ(ReadAll("b.press"), press);
  ASSERT_EQ(node_->Stop(), 0);

  // Restore 2: start straight on the backup dir.
  StartNode(dir_.Sub("backup"), flags);
  EXPECT_EQ(ReadAll("b.temp"), temp);
  EXPECT_EQ(ReadAll("b.press"), press);
  // A backup is of its site: another site id is refused.
  ASSERT_EQ(node_->Stop(), 0);
  testing::CommandResult other =
      testing::RunCommand({"historiand", "--data_dir=" + dir_.Sub("backup"), "--site=mx",
                           "--listen=127.0.0.1:0", "--metrics_listen="});
  EXPECT_NE(other.exit_code, 0);
}

TEST_F(AdminTest, CompactAndStats) {
  StartNode(dir_.Sub("data"), {"--chunk_max_samples=64"});
  Write("c.a", 1000, 1000);
  testing::CommandResult r = Cli(*node_, {"compact"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("compacted: SST"));
  EXPECT_EQ(ReadAll("c.a").size(), 1000u);
  r = Cli(*node_, {"stats"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("site:                local"));
  EXPECT_THAT(r.out, HasSubstr("tags:                1"));
  EXPECT_THAT(r.out, HasSubstr("writes_accepted:     yes"));
  EXPECT_THAT(r.out, HasSubstr("chunks"));
  EXPECT_THAT(r.out, HasSubstr("peers: none"));
}

TEST(AdminPeersTest, StatsShowsLagAndVerifyComparesWithThePeer) {
  testing::TempDir dir;
  int pa = testing::FreePort(), pb = testing::FreePort();
  testing::NodeProcess a(
      dir.Sub("a"), {"--site=us", "--listen=127.0.0.1:" + std::to_string(pa),
                     "--peers=mx=127.0.0.1:" + std::to_string(pb), "--anti_entropy_interval=0s"});
  testing::NodeProcess b(
      dir.Sub("b"), {"--site=mx", "--listen=127.0.0.1:" + std::to_string(pb),
                     "--peers=us=127.0.0.1:" + std::to_string(pa), "--anti_entropy_interval=0s"});
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(b.Start());
  auto ingest =
      v1::Ingest::NewStub(grpc::CreateChannel(b.address(), grpc::InsecureChannelCredentials()));
  v1::WriteAck ack;
  ASSERT_TRUE(
      ingest->WriteBatch(testing::Ctx("").get(), testing::DoubleSamples("mx.v", 5000, 100), &ack)
          .ok());
  testing::CommandResult r;
  EXPECT_TRUE(testing::PollUntil([&] {
    r = Cli(a, {"verify", "--peer", "mx"});
    return r.exit_code == 0 && r.out.find("buckets_differing: 0") != std::string::npos &&
           r.out.find("local_samples:     100") != std::string::npos;
  })) << r.out
      << r.err;
  r = Cli(a, {"stats"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("mx (127.0.0.1:" + std::to_string(pb) + "): connected"));
  EXPECT_THAT(r.out, HasSubstr("lag_samples=0"));
  r = Cli(a, {"verify"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--peer SITE is required"));
  r = Cli(a, {"verify", "--peer", "nowhere"});
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace historian
