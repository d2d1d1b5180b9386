// Disk full: a real historiand with its data dir on a small tmpfs refuses
// writes with UNAVAILABLE and a clear message once the disk is nearly full
// (below --min_free_disk_bytes), keeps
// serving reads, accepts writes again once space returns (the tmpfs grows),
// and has lost nothing it acknowledged, also after a restart.
// Needs root (mount); skipped otherwise.
#include <sys/mount.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "tests/ops/ops_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::historian::v1;

class TmpfsMount {
 public:
  TmpfsMount(const std::string& path, const std::string& size) : path_(path) {
    std::filesystem::create_directories(path);
    mounted_ = mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  bool Resize(const std::string& size) {
    return mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

TEST(DiskFullTest, RefusesWritesKeepsReadsAndRecovers) {
  testing::TempDir dir;
  TmpfsMount disk(dir.Sub("disk"), "32m");
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount tmpfs here (needs root)";
  // The data dir is the mount point; the node log (data dir + ".log") is not
  // on the small disk.
  // Reserve 12 MiB (RocksDB preallocates the WAL in steps of a few MiB);
  // no sealing during the test (the sealer writes too).
  testing::NodeProcess node(dir.Sub("disk"), {"--min_free_disk_bytes=12582912",
                                              "--chunk_max_samples=1000000", "--head_max_age=1h"});
  ASSERT_TRUE(node.Start());
  auto ch = grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials());
  auto ingest = v1::Ingest::NewStub(ch);
  auto query = v1::Query::NewStub(ch);
  auto admin = v1::Admin::NewStub(ch);

  // Batches of 200 samples with 2 KiB strings (~400 KiB each) until refused.
  std::map<int64_t, std::string> acked;
  auto batch = [](int64_t first_ts) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag("full.blob");
    for (int i = 0; i < 200; ++i) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(first_ts + i);
      sample->mutable_value()->set_string_value(
          std::string(2048, static_cast<char>('a' + (first_ts + i) % 26)));
    }
    return req;
  };
  grpc::Status refused;
  int64_t ts = 1000;
  for (int i = 0; i < 400 && refused.ok(); ++i, ts += 200) {
    v1::WriteAck ack;
    v1::WriteRequest req = batch(ts);
    refused = ingest->WriteBatch(testing::Ctx("", 30).get(), req, &ack);
    if (refused.ok()) {
      ASSERT_EQ(ack.accepted_count(), 200u);
      for (const auto& s : req.series(0).samples()) {
        acked[s.timestamp_ns()] = s.value().string_value();
      }
    }
  }
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.error_message() << "\n"
      << testing::ReadTextFile(node.log_path());
  EXPECT_THAT(refused.error_message(), HasSubstr("cannot store writes now"))
      << testing::ReadTextFile(node.log_path());
  ASSERT_FALSE(acked.empty());

  // Still refusing, still reading.
  v1::WriteAck ack;
  EXPECT_EQ(ingest->WriteBatch(testing::Ctx("", 30).get(), batch(ts), &ack).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  v1::StatsResponse stats;
  ASSERT_TRUE(admin->Stats(testing::Ctx("").get(), v1::StatsRequest(), &stats).ok());
  EXPECT_FALSE(stats.writes_accepted());
  EXPECT_FALSE(stats.write_error().empty());
  auto read_all = [&]() {
    std::map<int64_t, std::string> out;
    v1::ReadRequest req;
    req.add_tags("full.blob");
    req.set_start_ns(0);
    req.set_end_ns(int64_t{1} << 40);
    req.set_limit(1000);  // 2 MiB per stream: under gRPC's default 4 MiB message limit
    std::string token;
    do {
      auto ctx = testing::Ctx("", 30);
      if (!token.empty()) req.set_continuation_token(token);
      token.clear();
      auto reader = query->Read(ctx.get(), req);
      v1::ReadResponse resp;
      while (reader->Read(&resp)) {
        for (const auto& s : resp.samples()) out[s.timestamp_ns()] = s.value().string_value();
        if (!resp.continuation_token().empty()) token = resp.continuation_token();
      }
      EXPECT_TRUE(reader->Finish().ok());
    } while (!token.empty());
    return out;
  };
  auto before = read_all();
  for (const auto& [t, v] : acked) {
    ASSERT_TRUE(before.count(t)) << "acked sample " << t << " missing while disk full";
    ASSERT_EQ(before[t], v);
  }

  // Space returns: writes are accepted again (the node resumes RocksDB).
  ASSERT_TRUE(disk.Resize("512m"));
  grpc::Status st;
  EXPECT_TRUE(testing::PollUntil(
      [&] {
        v1::WriteRequest req = batch(ts);
        st = ingest->WriteBatch(testing::Ctx("", 30).get(), req, &ack);
        if (!st.ok()) return false;
        for (const auto& s : req.series(0).samples())
          acked[s.timestamp_ns()] = s.value().string_value();
        return true;
      },
      30))
      << st.error_message() << "\n"
      << testing::ReadTextFile(node.log_path());

  // Nothing acknowledged is lost, before and after a restart.
  auto after = read_all();
  for (const auto& [t, v] : acked) ASSERT_EQ(after[t], v) << t;
  ASSERT_EQ(node.Stop(), 0) << testing::ReadTextFile(node.log_path());
  ASSERT_TRUE(node.Start());
  query =
      v1::Query::NewStub(grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials()));
  auto restarted = read_all();
  for (const auto& [t, v] : acked) ASSERT_EQ(restarted[t], v) << t;
  EXPECT_EQ(node.Stop(), 0);
}

}  // namespace
}  // namespace historian
