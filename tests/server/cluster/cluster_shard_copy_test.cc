// File: cluster_shard_copy_test.cc
// Step 3 of a shard move with real processes (issue 21, docs/cluster.md
// "Moving shards"): a real etcd and two real historiand nodes
// (ClusterFixture); tags of every shard written, some sealed, some
// rewritten, one deleted; node 1 pulls the copy of a shard node 0 owns
// (Cluster.PullShard, which reads Cluster.CopyShard from node 0). Node 1's
// own data of that shard (asked for its local data, so each node
// answers from its own store) then reads exactly as node 0's: raw reads,
// latest values, aggregates and the catalog; node 1 got nothing of other
// shards; a deleted tag stays deleted. Bad requests are INVALID_ARGUMENT
// naming the field.
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr char kLocalData[] = "x-historian-local-data";
constexpr uint32_t kShards = 8;

std::string Tag(int t) { return absl::StrCat("plant.copy.m", t, ".pv"); }

class ClusterShardCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<ClusterFixture>(
        dir_.Sub("cluster"), ClusterFixtureOptions{.nodes = 2, .num_shards = kShards});
    ASSERT_TRUE(cluster_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
  }

  std::shared_ptr<grpc::Channel> Channel(int i) const {
    return grpc::CreateChannel(cluster_->address(i), grpc::InsecureChannelCredentials());
  }
  void Deadline(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  int OwnerOfShard(uint32_t shard) const {
    const std::string& address =
        placement_.members(static_cast<int>(placement_.shard_owner(static_cast<int>(shard))))
            .address();
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->address(i) == address) return i;
    }
    return -1;
  }

  void Write(int t, int from, int n, double base) {
    v1::WriteRequest batch;
    v1::TagSamples* series = batch.add_series();
    series->set_tag(Tag(t));
    for (int j = from; j < from + n; ++j) {
      v1::Sample* s = series->add_samples();
      s->set_timestamp_ns(kT0 + j * kSecond);
      s->mutable_value()->set_double_value(base + (j * 7919 % 1013) * 0.5);  // halves, not a line
    }
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::WriteAck ack;
    grpc::Status s = v1::Ingest::NewStub(Channel(0))->WriteBatch(&ctx, batch, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Everything node i itself answers for `tag`: raw read, latest and
  // aggregates, serialized (equal bytes: equal answers).
  std::string LocalAnswers(int i, const std::string& tag) const {
    std::string out;
    auto query = v1::Query::NewStub(Channel(i));
    {
      v1::ReadRequest request;
      request.add_tags(tag);
      request.set_start_ns(kT0 - 86400 * kSecond);
      request.set_end_ns(kT0 + 86400 * kSecond);
      grpc::ClientContext ctx;
      Deadline(&ctx);
      ctx.AddMetadata(kLocalData, "1");
      auto reader = query->Read(&ctx, request);
      v1::ReadResponse r;
      while (reader->Read(&r)) out += r.SerializeAsString();
      grpc::Status s = reader->Finish();
      EXPECT_TRUE(s.ok()) << tag << ": " << s.error_message();
    }
    {
      v1::LatestRequest request;
      request.add_tags(tag);
      grpc::ClientContext ctx;
      Deadline(&ctx);
      ctx.AddMetadata(kLocalData, "1");
      v1::LatestResponse r;
      grpc::Status s = query->Latest(&ctx, request, &r);
      EXPECT_TRUE(s.ok()) << tag << ": " << s.error_message();
      out += "|latest|" + r.SerializeAsString();
    }
    {
      v1::AggregateRequest request;
      request.add_tags(tag);
      request.set_start_ns(kT0);
      request.set_end_ns(kT0 + 4 * 3600 * kSecond);
      request.set_step_ns(600 * kSecond);
      // Values are halves: every sum is exact, whichever plan (rollups or
      // raw) a node takes for an hour.
      for (v1::AggregateFunction f : {v1::COUNT, v1::SUM, v1::MIN, v1::MAX, v1::FIRST, v1::LAST}) {
        request.add_functions(f);
      }
      grpc::ClientContext ctx;
      Deadline(&ctx);
      ctx.AddMetadata(kLocalData, "1");
      v1::AggregateResponse r;
      grpc::Status s = query->Aggregate(&ctx, request, &r);
      EXPECT_TRUE(s.ok()) << tag << ": " << s.error_message();
      out += "|aggregate|" + r.SerializeAsString();
    }
    {
      v1::GetTagRequest request;
      request.set_name(tag);
      grpc::ClientContext ctx;
      Deadline(&ctx);
      ctx.AddMetadata(kLocalData, "1");
      v1::Tag r;
      grpc::Status s = v1::Catalog::NewStub(Channel(i))->GetTag(&ctx, request, &r);
      out += absl::StrCat("|tag|", s.error_code(), "|", r.SerializeAsString());
    }
    return out;
  }

  // The code of Catalog.GetTag of `tag` at node i itself.
  grpc::StatusCode LocalTagCode(int i, const std::string& tag) const {
    v1::GetTagRequest request;
    request.set_name(tag);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    ctx.AddMetadata(kLocalData, "1");
    v1::Tag r;
    return v1::Catalog::NewStub(Channel(i))->GetTag(&ctx, request, &r).error_code();
  }

  grpc::Status Pull(int target, const std::string& source, uint32_t num_shards, uint32_t shard,
                    v1::PullShardResponse* out) const {
    v1::PullShardRequest request;
    request.set_source(source);
    request.set_num_shards(num_shards);
    request.set_shard(shard);
    request.set_max_piece_bytes(4 << 10);  // several pieces
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return v1::Cluster::NewStub(Channel(target))->PullShard(&ctx, request, out);
  }

  TempDir dir_;
  std::unique_ptr<ClusterFixture> cluster_;
  v1::PlacementResponse placement_;
};

TEST_F(ClusterShardCopyTest, TargetReadsTheCopiedShardAsTheSource) {
  // A shard of node 0 with at least three of our tags.
  constexpr int kTags = 64;
  uint32_t shard = kShards;
  for (uint32_t s = 0; s < kShards && shard == kShards; ++s) {
    int n = 0;
    for (int t = 0; t < kTags; ++t) n += TagShard(Tag(t), kShards) == s;
    if (OwnerOfShard(s) == 0 && n >= 3) shard = s;
  }
  ASSERT_LT(shard, kShards) << "node 0 owns no shard with three tags";
  // Every tag: sealed data (Admin.Compact seals), then an overwrite of part
  // of it and fresh samples left in the head; one tag of the shard deleted.
  for (int t = 0; t < kTags; ++t) Write(t, 0, 3000, t * 100.0);
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::CompactRequest request;
    v1::CompactResponse response;
    grpc::Status s = v1::Admin::NewStub(Channel(0))->Compact(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::string deleted;
  for (int t = 0; t < kTags; ++t) {
    Write(t, 1000, 50, -7.0);  // corrections of sealed samples
    Write(t, 3000, 200, t * 100.0);
    if (deleted.empty() && TagShard(Tag(t), kShards) == shard) deleted = Tag(t);
  }
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::DeleteTagRequest request;
    request.set_name(deleted);
    v1::DeleteTagResponse response;
    grpc::Status s = v1::Catalog::NewStub(Channel(0))->DeleteTag(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Bad requests name the field and the limit.
  v1::PullShardResponse pulled;
  grpc::Status bad = Pull(1, cluster_->address(0), kShards, kShards, &pulled);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("shard: 8 must be below num_shards (8)"), std::string::npos)
      << bad.error_message();
  bad = Pull(1, cluster_->address(0), 16, 1, &pulled);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("num_shards: 16"), std::string::npos) << bad.error_message();
  {
    v1::CopyShardRequest request;
    request.set_num_shards(kShards);
    request.set_shard(0);
    request.set_max_piece_bytes(8 << 20);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    auto reader = v1::Cluster::NewStub(Channel(0))->CopyShard(&ctx, request);
    v1::CopyShardChunk chunk;
    while (reader->Read(&chunk)) {
    }
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("max_piece_bytes"), std::string::npos) << s.error_message();
  }
  ASSERT_EQ(LocalTagCode(1, Tag(0)) == grpc::StatusCode::OK,
            OwnerOfShard(TagShard(Tag(0), kShards)) == 1);

  // The copy.
  grpc::Status s = Pull(1, cluster_->address(0), kShards, shard, &pulled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(pulled.complete());
  EXPECT_GT(pulled.pieces(), 1u);
  EXPECT_GT(pulled.position(), 0u);
  {
    // Every message carries the source's estimate of the copy's bytes (for
    // `cluster status` and the ETA): the same each time, and of the size
    // of what the copy really holds.
    v1::CopyShardRequest request;
    request.set_num_shards(kShards);
    request.set_shard(shard);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    auto reader = v1::Cluster::NewStub(Channel(0))->CopyShard(&ctx, request);
    v1::CopyShardChunk chunk;
    uint64_t piece_bytes = 0;
    std::set<uint64_t> estimates;
    while (reader->Read(&chunk)) {
      piece_bytes += chunk.piece().size();
      estimates.insert(chunk.estimated_bytes());
    }
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_EQ(estimates.size(), 1u);
    EXPECT_GT(*estimates.begin(), piece_bytes / 10) << "copied " << piece_bytes;
    EXPECT_LT(*estimates.begin(), piece_bytes * 10) << "copied " << piece_bytes;
  }

  // Node 1 answers for the shard's tags exactly as node 0 (its catalog
  // entry, asked by name: ListTags at a member lists only what it owns).
  int compared = 0;
  for (int t = 0; t < kTags; ++t) {
    const std::string tag = Tag(t);
    const uint32_t s2 = TagShard(tag, kShards);
    if (s2 == shard && tag != deleted) {
      EXPECT_EQ(LocalTagCode(1, tag), grpc::StatusCode::OK) << tag;
      EXPECT_EQ(LocalAnswers(1, tag), LocalAnswers(0, tag)) << tag;
      ++compared;
    } else if (OwnerOfShard(s2) == 0) {
      // Nothing of node 0's other shards came with it, nor the deleted tag.
      EXPECT_EQ(LocalTagCode(1, tag), grpc::StatusCode::NOT_FOUND) << tag << " of shard " << s2;
    }
  }
  EXPECT_GE(compared, 2);
}

// Both RPCs are admin's; PullShard sends the caller's token on to the
// source, so an admin's pull works where tokens are required.
TEST(ClusterShardCopyAuthTest, AdminOnlyAndTheTokenGoesOn) {
  TempDir dir;
  const char kReader[] = "reader-token-0123456789abcdef";
  const char kAdmin[] = "admin-token-0123456789abcdef0";
  const std::string token_file = dir.Sub("tokens");
  {
    std::ofstream f(token_file);
    f << kReader << " reader\n" << kAdmin << " admin,reader,writer\n";
  }
  ClusterFixtureOptions options;
  options.nodes = 2;
  options.num_shards = kShards;
  options.token = kAdmin;
  options.node_flags = {"--token_file=" + token_file};
  ClusterFixture cluster(dir.Sub("cluster"), options);
  ASSERT_TRUE(cluster.Start());
  auto stub = [&](int i) {
    return v1::Cluster::NewStub(
        grpc::CreateChannel(cluster.address(i), grpc::InsecureChannelCredentials()));
  };
  auto pull = [&](const std::string& token) {
    v1::PullShardRequest request;
    request.set_source(cluster.address(0));
    request.set_num_shards(kShards);
    request.set_shard(0);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    ctx.AddMetadata("authorization", "Bearer " + token);
    v1::PullShardResponse response;
    grpc::Status s = stub(1)->PullShard(&ctx, request, &response);
    EXPECT_TRUE(!s.ok() || response.complete());
    return s;
  };
  EXPECT_EQ(pull(kReader).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    v1::CopyShardRequest request;
    request.set_num_shards(kShards);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    ctx.AddMetadata("authorization", std::string("Bearer ") + kReader);
    auto reader = stub(0)->CopyShard(&ctx, request);
    v1::CopyShardChunk chunk;
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::Status s = pull(kAdmin);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace historian::testing
