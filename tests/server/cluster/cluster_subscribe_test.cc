// Query.Subscribe fanned out over a real site cluster (docs/cluster.md,
// "Subscribe"): one real etcd and three real historiand nodes
// (ClusterFixture). A subscriber at any node gets the samples of every
// owner's tags, exactly once; a resume token from one node resumes at
// another with nothing missed and nothing twice; an owner that goes down
// ends the stream with UNAVAILABLE naming it. Waits are for conditions.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::WaitFor;
constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1767225600 * kSecond;  // 2026-01-01T00:00:00Z
const absl::Duration kPatience = absl::Seconds(30);

// (tag, timestamp, value)
using Got = std::tuple<std::string, int64_t, double>;

// One Subscribe stream read by a thread into memory.
class Subscriber {
 public:
  Subscriber(const std::string& address, const v1::SubscribeRequest& request,
             const std::string& bearer = "")
      : stub_(
            v1::Query::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    if (!bearer.empty()) ctx_.AddMetadata("authorization", "Bearer " + bearer);
    reader_ = stub_->Subscribe(&ctx_, request);
    thread_ = std::thread([this] {
      v1::SubscribeResponse r;
      while (reader_->Read(&r)) {
        std::lock_guard<std::mutex> l(mu_);
        ++responses_;
        for (const auto& b : r.batches()) {
          for (const auto& s : b.samples()) {
            got_.emplace_back(b.tag(), s.timestamp_ns(), s.value().double_value());
          }
        }
        if (r.has_lagged()) lagged_.push_back(r.lagged());
        token_ = r.resume_token();
      }
      grpc::Status st = reader_->Finish();
      std::lock_guard<std::mutex> l(mu_);
      status_ = st;
      done_ = true;
    });
  }
  ~Subscriber() { Cancel(); }
  void Cancel() {
    if (!thread_.joinable()) return;
    ctx_.TryCancel();
    thread_.join();
  }
  std::vector<Got> got() {
    std::lock_guard<std::mutex> l(mu_);
    return got_;
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu_);
    return got_.size();
  }
  std::vector<v1::Lagged> lagged() {
    std::lock_guard<std::mutex> l(mu_);
    return lagged_;
  }
  std::string token() {
    std::lock_guard<std::mutex> l(mu_);
    return token_;
  }
  bool done() {
    std::lock_guard<std::mutex> l(mu_);
    return done_;
  }
  grpc::Status status() {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }
  // Waits for the first response (the subscription is live).
  bool WaitStarted() {
    return WaitFor(
               [&] {
                 std::lock_guard<std::mutex> l(mu_);
                 return responses_ > 0 || done_;
               },
               kPatience) &&
           !done();
  }

 private:
  std::unique_ptr<v1::Query::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  size_t responses_ = 0;
  std::vector<Got> got_;
  std::vector<v1::Lagged> lagged_;
  std::string token_;
  bool done_ = false;
  grpc::Status status_;
};

std::vector<Got> Sorted(std::vector<Got> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class ClusterSubscribeTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& flags = {}, const std::string& admin = "") {
    testing::ClusterFixtureOptions options;
    options.nodes = 3;
    options.num_shards = 64;
    options.node_flags = flags;
    options.token = admin;
    cluster_ = std::make_unique<testing::ClusterFixture>(dir_.Sub("cluster"), options);
    ASSERT_TRUE(cluster_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
    for (int i = 0; i < 30; ++i) tags_.push_back(absl::StrCat("site.sub.t", i));
    for (int i = 0; i < 3; ++i) {
      int owned = 0;
      for (const auto& t : tags_) owned += OwnerNode(t) == i;
      ASSERT_GT(owned, 2) << "node " << i << " owns too few of the test's tags";
    }
  }

  int OwnerNode(const std::string& tag) const {
    const uint32_t shard = TagShard(tag, placement_.num_shards());
    const std::string& address =
        placement_.members(static_cast<int>(placement_.shard_owner(shard))).address();
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->address(i) == address) return i;
    }
    return -1;
  }

  // Writes `round`'s sample of every tag through node `via` (it forwards
  // each tag to its owner); returns what was written.
  std::vector<Got> WriteRound(int round, int via, const std::string& token = "") {
    v1::WriteRequest req;
    std::vector<Got> written;
    for (size_t t = 0; t < tags_.size(); ++t) {
      v1::TagSamples* s = req.add_series();
      s->set_tag(tags_[t]);
      for (int k = 0; k < 3; ++k) {
        const int64_t ts = kT0 + (round * 10 + k) * kSecond;
        const double v = round * 1000.0 + static_cast<double>(t) + k / 10.0;
        v1::Sample* sample = s->add_samples();
        sample->set_timestamp_ns(ts);
        sample->mutable_value()->set_double_value(v);
        written.emplace_back(tags_[t], ts, v);
      }
    }
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(cluster_->address(via), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WriteAck ack;
    grpc::Status st = stub->WriteBatch(&ctx, req, &ack);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(ack.accepted_count(), written.size());
    return written;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ClusterFixture> cluster_;
  v1::PlacementResponse placement_;
  std::vector<std::string> tags_;
};

TEST_F(ClusterSubscribeTest, ASubscriberAtAnyNodeGetsEveryOwnersTagsOnce) {
  ASSERT_NO_FATAL_FAILURE(Start());
  for (int n = 0; n < 3; ++n) {
    SCOPED_TRACE(absl::StrCat("subscribed at node ", n));
    v1::SubscribeRequest by_glob;
    by_glob.set_glob("site.sub.*");
    v1::SubscribeRequest by_name;
    for (const auto& t : tags_) by_name.add_tags(t);
    Subscriber glob(cluster_->address(n), by_glob);
    Subscriber named(cluster_->address(n), by_name);
    ASSERT_TRUE(glob.WaitStarted()) << glob.status().error_message();
    ASSERT_TRUE(named.WaitStarted()) << named.status().error_message();
    // Tags created after the subscription began (round 0) and later ones.
    std::vector<Got> want = WriteRound(2 * n, (n + 1) % 3);
    std::vector<Got> more = WriteRound(2 * n + 1, (n + 2) % 3);
    want.insert(want.end(), more.begin(), more.end());
    for (Subscriber* s : {&glob, &named}) {
      EXPECT_TRUE(WaitFor([&] { return s->count() >= want.size() || s->done(); }, kPatience))
          << "got " << s->count() << " of " << want.size();
      EXPECT_FALSE(s->done()) << s->status().error_message();
      EXPECT_EQ(Sorted(s->got()), Sorted(want));
      EXPECT_TRUE(s->lagged().empty());
    }
  }
}

TEST_F(ClusterSubscribeTest, AResumeTokenFromOneNodeResumesAtAnotherMissingNothing) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  std::string token;
  std::vector<Got> gap;  // written since `token` was taken, while nobody listened
  for (int hop = 0; hop < 4; ++hop) {
    const int node = hop % 3;
    SCOPED_TRACE(absl::StrCat("hop ", hop, " at node ", node));
    req.set_resume_token(token);
    {
      Subscriber s(cluster_->address(node), req);
      ASSERT_TRUE(s.WaitStarted()) << s.status().error_message();
      std::vector<Got> want = gap;
      std::vector<Got> w = WriteRound(10 + hop, (node + 1) % 3);
      want.insert(want.end(), w.begin(), w.end());
      ASSERT_TRUE(WaitFor([&] { return s.count() >= want.size() || s.done(); }, kPatience))
          << "got " << s.count() << " of " << want.size();
      ASSERT_FALSE(s.done()) << s.status().error_message();
      // Exactly once: a duplicate or a loss fails the comparison.
      EXPECT_EQ(Sorted(s.got()), Sorted(want));
      EXPECT_TRUE(s.lagged().empty());
      token = s.token();
    }
    gap = WriteRound(20 + hop, hop % 3);
  }
}

TEST_F(ClusterSubscribeTest, AnOwnerDownEndsTheStreamWithUnavailableNamingIt) {
  ASSERT_NO_FATAL_FAILURE(Start());
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(0), req);
  ASSERT_TRUE(s.WaitStarted()) << s.status().error_message();
  std::vector<Got> want = WriteRound(1, 1);
  ASSERT_TRUE(WaitFor([&] { return s.count() >= want.size(); }, kPatience));
  const std::string down = cluster_->member_id(2);
  cluster_->KillNode(2);
  ASSERT_TRUE(WaitFor([&] { return s.done(); }, kPatience))
      << "the stream went on without member " << down;
  EXPECT_EQ(s.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.status().error_message().find(down), std::string::npos) << s.status().error_message();
  // A new subscription touching it is refused the same way, never fewer tags.
  Subscriber again(cluster_->address(1), req);
  ASSERT_TRUE(WaitFor([&] { return again.done(); }, kPatience));
  EXPECT_EQ(again.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(again.status().error_message().find(down), std::string::npos)
      << again.status().error_message();
  // Named tags of the live owners only: served.
  v1::SubscribeRequest live_only;
  for (const auto& t : tags_) {
    if (OwnerNode(t) != 2) live_only.add_tags(t);
  }
  Subscriber live(cluster_->address(1), live_only);
  EXPECT_TRUE(live.WaitStarted()) << live.status().error_message();
}

TEST_F(ClusterSubscribeTest, ForwardedStreamsCarryTheCallersToken) {
  const std::string reader = "reader-token-0123456789abcdef";
  const std::string writer = "writer-token-0123456789abcdef";
  const std::string admin = "admin-token-0123456789abcdef0";
  const std::string token_file = dir_.Sub("tokens");
  {
    std::ofstream f(token_file);
    f << reader << " reader\n" << writer << " writer\n" << admin << " admin,reader,writer\n";
  }
  ASSERT_NO_FATAL_FAILURE(Start({"--token_file=" + token_file}, admin));
  v1::SubscribeRequest req;
  req.set_glob("site.sub.*");
  Subscriber s(cluster_->address(0), req, reader);
  ASSERT_TRUE(s.WaitStarted()) << s.status().error_message();
  std::vector<Got> want = WriteRound(1, 2, writer);
  EXPECT_TRUE(WaitFor([&] { return s.count() >= want.size() || s.done(); }, kPatience));
  EXPECT_EQ(Sorted(s.got()), Sorted(want)) << s.status().error_message();
  Subscriber bad(cluster_->address(0), req, "not-a-token-0123456789abcdef");
  ASSERT_TRUE(WaitFor([&] { return bad.done(); }, kPatience));
  EXPECT_EQ(bad.status().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  Subscriber wrong_role(cluster_->address(0), req, writer);
  ASSERT_TRUE(WaitFor([&] { return wrong_role.done(); }, kPatience));
  EXPECT_EQ(wrong_role.status().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace historian
