// The HTTP API of a site cluster's nodes with --token_file (docs/cluster.md,
// "Queries"; docs/http.md): one real etcd and three real historiand nodes
// (ClusterFixture) serving /api/v1/. A request to any node for tags owned by
// the others gets the full answer (the node forwards the caller's bearer
// token to the owners); a bad token, or none, is refused.
#include <httplib.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/core/tag_shard.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = 1767225600 * kSecond;  // 2026-01-01T00:00:00Z

const char kReader[] = "reader-token-0123456789abcdef";
const char kWriter[] = "writer-token-0123456789abcdef";
const char kAdmin[] = "admin-token-0123456789abcdef0";

class ClusterHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string token_file = dir_.Sub("tokens");
    {
      std::ofstream f(token_file);
      f << kReader << " reader\n" << kWriter << " writer\n" << kAdmin << " admin,reader,writer\n";
    }
    testing::ClusterFixtureOptions options;
    options.nodes = 3;
    options.num_shards = 64;
    options.http = true;
    options.token = kAdmin;
    options.node_flags = {"--token_file=" + token_file};
    cluster_ = std::make_unique<testing::ClusterFixture>(dir_.Sub("cluster"), options);
    ASSERT_TRUE(cluster_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
    for (int i = 0; i < 24; ++i) tags_.push_back(absl::StrCat("site.http.t", i));
    // Written through node 0, which forwards each tag to its owner.
    v1::WriteRequest req;
    for (size_t t = 0; t < tags_.size(); ++t) {
      v1::TagSamples* s = req.add_series();
      s->set_tag(tags_[t]);
      for (int k = 0; k < 5; ++k) {
        v1::Sample* sample = s->add_samples();
        sample->set_timestamp_ns(kT0 + k * kSecond);
        sample->mutable_value()->set_double_value(static_cast<double>(t) * 10 + k + 0.5);
      }
    }
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(cluster_->address(0), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kWriter);
    v1::WriteAck ack;
    grpc::Status st = stub->WriteBatch(&ctx, req, &ack);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(ack.accepted_count(), tags_.size() * 5);
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

  // GET `path` at node `n` with `token` ("": no Authorization header).
  httplib::Result Get(int n, const std::string& path, const std::string& token) {
    httplib::Client c("127.0.0.1", cluster_->http_port(n));
    c.set_read_timeout(60, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return c.Get(path.c_str(), headers);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::ClusterFixture> cluster_;
  v1::PlacementResponse placement_;
  std::vector<std::string> tags_;
};

TEST_F(ClusterHttpTest, AnyNodeAnswersForEveryOwnersTagsWithTheCallersToken) {
  const std::string all = absl::StrJoin(tags_, ",");
  const std::string range = absl::StrCat("&start_ns=", kT0, "&end_ns=", kT0 + 60 * kSecond);
  for (int n = 0; n < 3; ++n) {
    SCOPED_TRACE(absl::StrCat("asking node ", n));
    int others = 0;
    for (const auto& t : tags_) others += OwnerNode(t) != n;
    ASSERT_GT(others, 0);
    for (const std::string& path : std::vector<std::string>{
             "/api/v1/latest?tags=" + all, "/api/v1/latest?glob=site.http.*",
             "/api/v1/tags?glob=site.http.*", "/api/v1/read?tags=" + all + range,
             "/api/v1/aggregate?step=1m&functions=count&tags=" + all + range,
             "/api/v1/plot?buckets=2&tags=" + all + range}) {
      SCOPED_TRACE(path);
      httplib::Result r = Get(n, path, kReader);
      ASSERT_TRUE(r) << "no answer";
      EXPECT_EQ(r->status, 200) << r->body;
      for (const auto& t : tags_) {
        EXPECT_NE(r->body.find("\"" + t + "\""), std::string::npos) << t << " missing";
      }
    }
    // A remote owner's samples, every one.
    for (const auto& t : tags_) {
      if (OwnerNode(t) == n) continue;
      httplib::Result r = Get(n, "/api/v1/read?format=csv&tags=" + t + range, kReader);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      size_t rows = 0;  // one per sample: "<tag>,<time>,<value>,<quality>"
      for (size_t at = r->body.find(t + ","); at != std::string::npos;
           at = r->body.find(t + ",", at + 1)) {
        ++rows;
      }
      EXPECT_EQ(rows, 5u) << r->body;
      break;
    }
    // Refused at the node asked: a bad token, none, the wrong role.
    httplib::Result bad = Get(n, "/api/v1/latest?tags=" + all, "not-a-token-0123456789abcdef");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 401);
    httplib::Result none = Get(n, "/api/v1/latest?tags=" + all, "");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    httplib::Result writer = Get(n, "/api/v1/latest?tags=" + all, kWriter);
    ASSERT_TRUE(writer);
    EXPECT_EQ(writer->status, 403);
  }
}

}  // namespace
}  // namespace historian
