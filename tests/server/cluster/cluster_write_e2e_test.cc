// File: cluster_write_e2e_test.cc
// Writes in a real site cluster (etcd + three real historiand nodes,
// ClusterFixture; docs/cluster.md "Routing writes"): a batch sent to any
// node lands on the owners of its tags and nowhere else (each node's own
// catalog, asked with the forwarded marker so it answers from its own data),
// each node holds about a third of 330 tags, a retried batch is stored once,
// an owner killed makes a write through another node fail UNAVAILABLE naming
// it while a gateway keeps the samples on its disk queue and delivers every
// one once the owner is back, and client-routed writes (the CLI's
// import-csv) reach the owners without a forwarding hop.
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/cluster.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/gateway_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr char kForwarded[] = "x-historian-forwarded";
constexpr char kLocalData[] = "x-historian-local-data";

std::string Tag(const std::string& prefix, int t) { return absl::StrCat(prefix, ".m", t, ".pv"); }

v1::WriteRequest Batch(const std::string& prefix, int tags, int per_tag, const std::string& client,
                       uint64_t sequence) {
  v1::WriteRequest batch;
  batch.set_client_id(client);
  batch.set_batch_sequence(sequence);
  for (int t = 0; t < tags; ++t) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(Tag(prefix, t));
    for (int j = 0; j < per_tag; ++j) {
      v1::Sample* s = series->add_samples();
      s->set_timestamp_ns(kT0 + j * kSecond);
      s->mutable_value()->set_double_value(t * 10 + j);
    }
  }
  return batch;
}

class ClusterWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ =
        std::make_unique<ClusterFixture>(dir_.Sub("cluster"), ClusterFixtureOptions{.nodes = 3});
    ASSERT_TRUE(cluster_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &placement_).ok());
  }

  // Index of the node owning `tag` (by the placement's address).
  int OwnerOf(const std::string& tag) const {
    const uint32_t shard = TagShard(tag, placement_.num_shards());
    const std::string& address =
        placement_.members(static_cast<int>(placement_.shard_owner(static_cast<int>(shard))))
            .address();
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->address(i) == address) return i;
    }
    return -1;
  }

  std::shared_ptr<grpc::Channel> Channel(int i) const {
    return grpc::CreateChannel(cluster_->address(i), grpc::InsecureChannelCredentials());
  }

  grpc::Status Write(int i, const v1::WriteRequest& batch, v1::WriteAck* ack) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return v1::Ingest::NewStub(Channel(i))->WriteBatch(&ctx, batch, ack);
  }

  // The tags node i itself holds whose names start with `prefix` (asked
  // with the forwarded marker: the node answers from its own catalog).
  std::set<std::string> LocalTags(int i, const std::string& prefix) const {
    std::set<std::string> out;
    auto stub = v1::Catalog::NewStub(Channel(i));
    v1::ListTagsRequest request;
    request.set_glob(prefix + "*");
    request.set_page_size(1000);
    while (true) {
      grpc::ClientContext ctx;
      ctx.AddMetadata(kForwarded, "1");
      v1::ListTagsResponse response;
      grpc::Status s = stub->ListTags(&ctx, request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      for (const v1::Tag& t : response.tags()) out.insert(t.name());
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return out;
  }

  // Samples of `tag` node i itself holds in [kT0, kT0 + 1 day).
  int64_t LocalSamples(int i, const std::string& tag) const {
    auto stub = v1::Query::NewStub(Channel(i));
    v1::ReadRequest request;
    request.add_tags(tag);
    request.set_start_ns(kT0);
    request.set_end_ns(kT0 + 86400 * kSecond);
    grpc::ClientContext ctx;
    ctx.AddMetadata(kLocalData, "1");
    auto reader = stub->Read(&ctx, request);
    v1::ReadResponse r;
    int64_t n = 0;
    while (reader->Read(&r)) n += r.samples_size() + r.columns().timestamp_deltas_ns_size();
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << tag << ": " << s.error_message();
    return n;
  }

  // historian_cluster_forwarded_samples_total summed over owners, from node
  // i's /metrics (its address is in the node's "serving" log line).
  double ForwardedSamples(int i) const {
    std::ifstream in(cluster_->node(i).log_path());
    std::string line, metrics;
    while (std::getline(in, line)) {
      const size_t at = line.find("127.0.0.1:", line.find("metrics"));
      if (line.find("serving") != std::string::npos && at != std::string::npos) {
        metrics = line.substr(at, line.find("/metrics", at) - at);
      }
    }
    EXPECT_FALSE(metrics.empty()) << "no metrics address in " << cluster_->node(i).log_path();
    CommandResult r =
        RunCommand({"/usr/bin/curl", "-s", absl::StrCat("http://", metrics, "/metrics")});
    double total = 0;
    for (absl::string_view l : absl::StrSplit(r.out, '\n')) {
      if (!absl::StartsWith(l, "historian_cluster_forwarded_samples_total{")) continue;
      double v = 0;
      if (absl::SimpleAtod(l.substr(l.rfind(' ') + 1), &v)) total += v;
    }
    return total;
  }

  TempDir dir_;
  std::unique_ptr<ClusterFixture> cluster_;
  v1::PlacementResponse placement_;
};

TEST_F(ClusterWriteTest, WritesThroughAnyNodeLandOnTheirOwnersOnlyAndARetryIsStoredOnce) {
  constexpr int kTags = 330;
  constexpr int kPerTag = 3;
  const v1::WriteRequest batch = Batch("e2e", kTags, kPerTag, "e2e-client", 1);
  v1::WriteAck ack;
  grpc::Status s = Write(1, batch, &ack);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ack.accepted_count(), uint64_t{kTags * kPerTag});
  EXPECT_FALSE(ack.duplicate());

  std::vector<std::set<std::string>> expected(3);
  for (int t = 0; t < kTags; ++t) expected[OwnerOf(Tag("e2e", t))].insert(Tag("e2e", t));
  for (int i = 0; i < 3; ++i) {
    // Exactly its own tags: a node that stored everything would list 330.
    EXPECT_EQ(LocalTags(i, "e2e"), expected[i]) << "node " << i;
    EXPECT_NEAR(static_cast<double>(expected[i].size()), kTags / 3.0, kTags / 3.0 * 0.2)
        << "node " << i;
  }
  for (int t = 0; t < kTags; t += 11) {
    EXPECT_EQ(LocalSamples(OwnerOf(Tag("e2e", t)), Tag("e2e", t)), kPerTag) << Tag("e2e", t);
  }
  // Node 1 forwarded the other owners' samples.
  EXPECT_EQ(ForwardedSamples(1),
            static_cast<double>((expected[0].size() + expected[2].size()) * kPerTag));

  // The same batch again through another node: every owner deduplicates.
  v1::WriteAck again;
  s = Write(2, batch, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.accepted_count(), uint64_t{kTags * kPerTag});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(LocalTags(i, "e2e"), expected[i]) << "node " << i;
}

// Slices a writer cut from one batch (WriteRequest.slice; docs/gateway.md
// "Batches over the node's limits") reach the owner through another node and
// are deduplicated each on its own, by all their bytes: two slices holding
// the same tag at the same timestamps with other values (a batch that
// corrects itself) are both stored, the later one's values win, and neither
// resent slice is stored again (slice 1 again would undo the correction).
TEST_F(ClusterWriteTest, SlicesOfABatchAreStoredOnceEachThroughAnyNode) {
  std::string tag;
  for (int t = 0; tag.empty(); ++t) {
    if (OwnerOf(Tag("slices", t)) != 1) tag = Tag("slices", t);
  }
  auto slice = [&](uint32_t number, double first_value) {
    v1::WriteRequest request = Batch("slices.other", 20, 2, "slices-client", 7);
    v1::TagSamples* series = request.add_series();
    series->set_tag(tag);
    for (int j = 0; j < 3; ++j) {
      v1::Sample* s = series->add_samples();
      s->set_timestamp_ns(kT0 + j * kSecond);
      s->mutable_value()->set_double_value(first_value + j);
    }
    request.set_slice(number);
    return request;
  };
  const v1::WriteRequest first = slice(1, 1.0);
  const v1::WriteRequest second = slice(2, 10.0);
  v1::WriteAck ack;
  ASSERT_TRUE(Write(1, first, &ack).ok());
  EXPECT_FALSE(ack.duplicate());
  ASSERT_TRUE(Write(1, second, &ack).ok());
  EXPECT_FALSE(ack.duplicate()) << "slice 2 was taken for a retry of slice 1";
  ASSERT_TRUE(Write(2, first, &ack).ok());
  EXPECT_TRUE(ack.duplicate());
  ASSERT_TRUE(Write(0, second, &ack).ok());
  EXPECT_TRUE(ack.duplicate());

  auto stub = v1::Query::NewStub(Channel(1));
  v1::ReadRequest request;
  request.add_tags(tag);
  request.set_start_ns(kT0);
  request.set_end_ns(kT0 + 10 * kSecond);
  grpc::ClientContext ctx;
  auto reader = stub->Read(&ctx, request);
  std::vector<double> values;
  v1::ReadResponse r;
  while (reader->Read(&r)) {
    for (const v1::Sample& s : r.samples()) values.push_back(s.value().double_value());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(values, (std::vector<double>{10, 11, 12}));
}

TEST_F(ClusterWriteTest, OwnerKilledWriteFailsUnavailableAndGatewayDeliversAfterRestart) {
  cluster_->KillNode(2);
  const v1::WriteRequest batch = Batch("down", 60, 2, "down-client", 1);
  v1::WriteAck ack;
  grpc::Status s = Write(0, batch, &ack);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), cluster_->member_id(2))) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), cluster_->address(2))) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "shard")) << s.error_message();

  // A gateway pointed at node 0 (client routing on, the default): node 2's
  // parts wait in its disk queue until node 2 is back.
  constexpr int kTags = 30;
  constexpr int kPoints = 100;
  std::string csv = "tag,time,value,quality\n";
  for (int k = 0; k < kPoints; ++k) {
    for (int t = 0; t < kTags; ++t) {
      absl::StrAppend(&csv, Tag("gw", t), ",", kT0 + k * kSecond, ",", t + k * 0.5, ",0\n");
    }
  }
  GatewayProcess gw({"--server", cluster_->address(0), "--queue_dir", dir_.Sub("queue"),
                     "--batch_max_samples", "300", "--batch_max_delay", "50ms", "--status_interval",
                     "50ms", "--reconnect_max_backoff", "500ms"},
                    dir_.Sub("gw.err"), {.stdin_pipe = true});
  gw.WriteStdin(csv);
  gw.CloseStdin();
  // Batches holding node 2's tags stay in the queue while it is down.
  ASSERT_TRUE(WaitFor([&] { return gw.LastStatus("queue_batches") >= 1; }, absl::Seconds(60)))
      << gw.err();
  EXPECT_LT(gw.LastStatus("acked_samples"), kTags * kPoints) << gw.err();

  ASSERT_TRUE(cluster_->StartNode(2));
  ASSERT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
  const std::string err = gw.err();
  EXPECT_TRUE(absl::StrContains(err, "final queue_batches=0 ")) << err;
  EXPECT_EQ(gw.LastStatus("acked_samples"), kTags * kPoints) << err;
  EXPECT_EQ(gw.LastStatus("failed_batches"), 0) << err;
  EXPECT_EQ(gw.LastStatus("dropped_batches"), 0) << err;
  // Every sample on its owner, exactly once (reads count every sample).
  int64_t total = 0;
  for (int t = 0; t < kTags; ++t) {
    const int owner = OwnerOf(Tag("gw", t));
    const int64_t n = LocalSamples(owner, Tag("gw", t));
    EXPECT_EQ(n, kPoints) << Tag("gw", t) << " on node " << owner;
    total += n;
    for (int i = 0; i < 3; ++i) {
      if (i != owner) {
        EXPECT_EQ(LocalTags(i, Tag("gw", t)).size(), 0u) << Tag("gw", t);
      }
    }
  }
  EXPECT_EQ(total, kTags * kPoints);
}

TEST_F(ClusterWriteTest, ImportCsvSendsEachPartStraightToItsOwner) {
  constexpr int kTags = 90;
  constexpr int kPoints = 5;
  std::string csv = "tag,time,value,quality\n";
  for (int k = 0; k < kPoints; ++k) {
    for (int t = 0; t < kTags; ++t) {
      absl::StrAppend(&csv, Tag("imp", t), ",", kT0 + k * kSecond, ",", t + k, ",0\n");
    }
  }
  const std::string path = dir_.Sub("import.csv");
  std::ofstream(path) << csv;
  CommandResult r = cluster_->Cli(0, {"import-csv", path});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (int t = 0; t < kTags; ++t) {
    const int owner = OwnerOf(Tag("imp", t));
    EXPECT_EQ(LocalSamples(owner, Tag("imp", t)), kPoints) << Tag("imp", t);
  }
  for (int i = 0; i < 3; ++i) {
    std::set<std::string> expected;
    for (int t = 0; t < kTags; ++t) {
      if (OwnerOf(Tag("imp", t)) == i) expected.insert(Tag("imp", t));
    }
    EXPECT_EQ(LocalTags(i, "imp"), expected) << "node " << i;
    // No node had to forward: the CLI sent each part to its owner.
    EXPECT_EQ(ForwardedSamples(i), 0) << "node " << i;
  }
}

}  // namespace
}  // namespace historian::testing
