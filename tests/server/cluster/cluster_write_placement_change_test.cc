// File: cluster_write_placement_change_test.cc
// Writes across a placement change in a real site cluster (etcd + three real
// historiand nodes, ClusterFixture; docs/cluster.md "Routing writes"), the
// write-path risks W1..W3 of the review of 2026-12-02:
// - W1: a batch whose first attempt was stored only in part (an owner was
//   down) is retried after the placement moved the dead owner's shards to a
//   live node. That node stored one slice of the batch under the batch's
//   (client_id, batch_sequence) and now receives a larger one: it must store
//   the new tags, never answer the whole slice as a duplicate.
// - W2: a node started with --cluster_etcd while etcd cannot be reached (no
//   cached placement) refuses writes with UNAVAILABLE instead of storing
//   every tag as a single node would.
// - W3: consecutive batches of one Ingest.Write stream rewriting the same tag
//   and timestamp through a node that forwards them end with the last
//   batch's value at the owner.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/placement.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;
constexpr char kForwarded[] = "x-historian-forwarded";
constexpr char kLocalData[] = "x-historian-local-data";

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

grpc::Status Write(const std::string& address, const v1::WriteRequest& batch, v1::WriteAck* ack,
                   bool forwarded = false) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (forwarded) ctx.AddMetadata(kForwarded, "1");
  return v1::Ingest::NewStub(Channel(address))->WriteBatch(&ctx, batch, ack);
}

// timestamp -> value of `tag` as node `address` itself holds it (asked for
// its local data: the node answers from what it stores).
std::map<int64_t, double> LocalSamples(const std::string& address, const std::string& tag) {
  auto stub = v1::Query::NewStub(Channel(address));
  v1::ReadRequest request;
  request.add_tags(tag);
  request.set_start_ns(kT0);
  request.set_end_ns(kT0 + 86400 * kSecond);
  grpc::ClientContext ctx;
  ctx.AddMetadata(kLocalData, "1");
  auto reader = stub->Read(&ctx, request);
  v1::ReadResponse r;
  std::map<int64_t, double> out;
  while (reader->Read(&r)) {
    for (const v1::Sample& s : r.samples()) out[s.timestamp_ns()] = s.value().double_value();
    int64_t ts = 0;
    for (int i = 0; i < r.columns().timestamp_deltas_ns_size(); ++i) {
      ts += r.columns().timestamp_deltas_ns(i);
      out[ts] = r.columns().double_values(i);
    }
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << tag << ": " << s.error_message();
  return out;
}

// The member index (in `p`) of the member at `address`.
int MemberIndex(const v1::PlacementResponse& p, const std::string& address) {
  for (int m = 0; m < p.members_size(); ++m) {
    if (p.members(m).address() == address) return m;
  }
  return -1;
}

// `count` tag names `prefix`.<n> whose shard `p` gives to the member at
// `address`.
std::vector<std::string> TagsOwnedBy(const v1::PlacementResponse& p, const std::string& address,
                                     const std::string& prefix, int count) {
  const int member = MemberIndex(p, address);
  std::vector<std::string> out;
  for (int n = 0; static_cast<int>(out.size()) < count; ++n) {
    std::string tag = absl::StrCat(prefix, ".m", n, ".pv");
    const uint32_t owner = p.shard_owner(static_cast<int>(TagShard(tag, p.num_shards())));
    if (static_cast<int>(owner) == member) out.push_back(std::move(tag));
  }
  return out;
}

void AddSeries(const std::string& tag, int per_tag, double base, v1::WriteRequest* batch) {
  v1::TagSamples* series = batch->add_series();
  series->set_tag(tag);
  for (int j = 0; j < per_tag; ++j) {
    v1::Sample* s = series->add_samples();
    s->set_timestamp_ns(kT0 + j * kSecond);
    s->mutable_value()->set_double_value(base + j);
  }
}

std::unique_ptr<cluster::EtcdClient> EtcdClientFor(const std::string& endpoint) {
  cluster::EtcdClientOptions o;
  o.endpoints = {endpoint};
  o.call_timeout = absl::Seconds(5);
  return *cluster::EtcdClient::Create(o);
}

// W1: the first attempt of a batch stores node 0's slice (node 2 is down);
// the operator gives node 2's shards to node 0; the retry sends node 0 the
// whole batch under the same (client_id, batch_sequence). Every tag must end
// up stored on node 0, and a third attempt is then a duplicate.
TEST(ClusterWritePlacementChangeTest, RetryAfterThePlacementMovedStoresTheNewTags) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 3, .num_shards = 16});
  ASSERT_TRUE(cluster.Start());
  v1::PlacementResponse before;
  ASSERT_TRUE(cluster.Placement(0, &before).ok());

  constexpr int kTagsEach = 8;
  constexpr int kPerTag = 3;
  const std::vector<std::string> kept = TagsOwnedBy(before, cluster.address(0), "w1a", kTagsEach);
  const std::vector<std::string> moved = TagsOwnedBy(before, cluster.address(2), "w1b", kTagsEach);
  v1::WriteRequest batch;
  batch.set_client_id("w1-client");
  batch.set_batch_sequence(7);
  for (int t = 0; t < kTagsEach; ++t) {
    AddSeries(kept[t], kPerTag, 100 * t, &batch);
    AddSeries(moved[t], kPerTag, 100 * t + 50, &batch);
  }

  // Attempt 1 through node 1 with node 2 down: node 0 stores its slice.
  cluster.KillNode(2);
  v1::WriteAck ack;
  grpc::Status s = Write(cluster.address(1), batch, &ack);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  for (const std::string& tag : kept) {
    ASSERT_EQ(LocalSamples(cluster.address(0), tag).size(), size_t{kPerTag}) << tag;
  }

  // The operator moves node 2's shards to node 0 (a placement change is a
  // PutIfModRevision on the placement key until issue 21).
  v1::PlacementResponse next = before;
  const int from = MemberIndex(before, cluster.address(2));
  const int to = MemberIndex(before, cluster.address(0));
  for (int shard = 0; shard < next.shard_owner_size(); ++shard) {
    if (static_cast<int>(next.shard_owner(shard)) == from) next.set_shard_owner(shard, to);
  }
  absl::StatusOr<cluster::Placement> encoded = cluster::Placement::FromProto(next);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  auto etcd = EtcdClientFor(cluster.etcd().endpoint());
  auto changed =
      etcd->PutIfModRevision("/historian/us/placement", encoded->Encode(), before.revision());
  ASSERT_TRUE(changed.ok()) << changed.status();
  ASSERT_TRUE(changed->committed);
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) { return p.revision() == changed->revision; },
      absl::Seconds(30)));

  // Attempt 2, same client_id and batch_sequence: node 0 now owns every tag.
  s = Write(cluster.address(1), batch, &ack);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(ack.duplicate()) << "node 0 stored only one slice of this batch before";
  EXPECT_EQ(ack.accepted_count(), uint64_t{2 * kTagsEach * kPerTag});
  for (int t = 0; t < kTagsEach; ++t) {
    std::map<int64_t, double> want_kept, want_moved;
    for (int j = 0; j < kPerTag; ++j) {
      want_kept[kT0 + j * kSecond] = 100 * t + j;
      want_moved[kT0 + j * kSecond] = 100 * t + 50 + j;
    }
    EXPECT_EQ(LocalSamples(cluster.address(0), kept[t]), want_kept) << kept[t];
    EXPECT_EQ(LocalSamples(cluster.address(0), moved[t]), want_moved)
        << moved[t] << ": moved to node 0 between two attempts of the batch; lost";
  }

  // Attempt 3: node 0 stored exactly this part, so it is a duplicate now.
  v1::WriteAck again;
  s = Write(cluster.address(1), batch, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.accepted_count(), uint64_t{2 * kTagsEach * kPerTag});
  for (const std::string& tag : moved) {
    EXPECT_EQ(LocalSamples(cluster.address(0), tag).size(), size_t{kPerTag}) << tag;
  }
}

// W2: a node in cluster mode that never read a placement (etcd unreachable
// since it started, no cached placement) does not know which tags are its
// own: it refuses writes (direct and forwarded) with UNAVAILABLE naming the
// cause, instead of storing them as a single node, and still answers
// Cluster.Placement with num_shards 0.
TEST(ClusterWritePlacementChangeTest, ANodeWithoutAPlacementInClusterModeRefusesWrites) {
  TempDir dir;
  const std::string etcd = absl::StrCat("127.0.0.1:", FreePort());  // nothing listens
  NodeProcess node(dir.Sub("orphan"), {"--site=us", absl::StrCat("--cluster_etcd=", etcd)});
  ASSERT_TRUE(node.Start());

  v1::WriteRequest batch;
  batch.set_client_id("w2-client");
  batch.set_batch_sequence(1);
  AddSeries("w2.m0.pv", 2, 1.0, &batch);
  for (bool forwarded : {false, true}) {
    v1::WriteAck ack;
    grpc::Status s = Write(node.address(), batch, &ack, forwarded);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
        << (forwarded ? "forwarded: " : "direct: ") << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "no placement")) << s.error_message();
  }
  grpc::ClientContext ctx;
  v1::PlacementResponse p;
  ASSERT_TRUE(v1::Cluster::NewStub(Channel(node.address()))->Placement(&ctx, {}, &p).ok());
  EXPECT_EQ(p.num_shards(), 0u);
}

// Before `historian cluster init` a node that read etcd acts as a single
// node for writes sent to it (docs/cluster.md), but a forwarded part (its
// sender routes by a placement this node has not seen yet) is refused with
// UNAVAILABLE, never stored as if the node owned it.
// Before `historian cluster init` a cluster-mode node refuses every write:
// with several nodes, a write one of them stored then could belong to a
// shard init gives another member, where no query would look (review F1).
// After init the same batch is stored.
TEST(ClusterWritePlacementChangeTest, BeforeInitEveryWriteIsRefusedAfterInitStored) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 1, .init = false});
  ASSERT_TRUE(cluster.Start());
  v1::WriteRequest batch;
  batch.set_client_id("pre-init");
  batch.set_batch_sequence(1);
  AddSeries("pre.m0.pv", 2, 1.0, &batch);
  v1::WriteAck ack;
  grpc::Status s = Write(cluster.address(0), batch, &ack, /*forwarded=*/true);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Refused UNAVAILABLE from the start; the reason names `historian cluster
  // init` once the node has read etcd (before that it says it has not: a
  // node starting on a busy machine may answer first).
  ASSERT_TRUE(WaitFor(
      [&] {
        s = Write(cluster.address(0), batch, &ack);
        return s.error_code() != grpc::StatusCode::UNAVAILABLE ||
               !absl::StrContains(s.error_message(), "has not read etcd since it started");
      },
      absl::Seconds(30)))
      << s.error_message();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "historian cluster init")) << s.error_message();
  {  // nothing of it was stored: the tag does not even exist on the node
    v1::ReadRequest request;
    request.add_tags("pre.m0.pv");
    request.set_start_ns(kT0);
    request.set_end_ns(kT0 + 86400 * kSecond);
    grpc::ClientContext ctx;
    ctx.AddMetadata(kLocalData, "1");
    auto reader = v1::Query::NewStub(Channel(cluster.address(0)))->Read(&ctx, request);
    v1::ReadResponse r;
    while (reader->Read(&r)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  CommandResult init = cluster.Cli(0, {"cluster", "init", "--shards=16"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [](const v1::PlacementResponse& p) { return p.num_shards() == 16; }, absl::Seconds(30)));
  s = Write(cluster.address(0), batch, &ack);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ack.accepted_count(), 2u);
  EXPECT_EQ(LocalSamples(cluster.address(0), "pre.m0.pv").size(), 2u);
}

// W3: one Ingest.Write stream to node 1 whose batches each rewrite the same
// timestamps of tags node 0 and node 2 own (value = the batch's number): node
// 1 forwards every batch's parts, and the owners must end with the last
// batch's values, as a single node would.
TEST(ClusterWritePlacementChangeTest, ForwardedBatchesOfOneStreamReachTheOwnerInOrder) {
  TempDir dir;
  ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 3, .num_shards = 16});
  ASSERT_TRUE(cluster.Start());
  v1::PlacementResponse p;
  ASSERT_TRUE(cluster.Placement(0, &p).ok());
  // tag -> the node owning it (0 or 2; node 1 forwards every part).
  std::map<std::string, int> tags;
  for (const std::string& t : TagsOwnedBy(p, cluster.address(0), "w3a", 4)) tags[t] = 0;
  for (const std::string& t : TagsOwnedBy(p, cluster.address(2), "w3b", 4)) tags[t] = 2;

  constexpr int kBatches = 400;
  constexpr int kPerTag = 20;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = v1::Ingest::NewStub(Channel(cluster.address(1)))->Write(&ctx);
  for (int b = 0; b < kBatches; ++b) {
    v1::WriteRequest batch;
    batch.set_client_id("w3-client");
    batch.set_batch_sequence(b + 1);
    for (const auto& [tag, owner] : tags) AddSeries(tag, kPerTag, b * 1000.0, &batch);
    ASSERT_TRUE(stream->Write(batch)) << "batch " << b;
  }
  stream->WritesDone();
  v1::WriteAck ack;
  int acks = 0;
  while (stream->Read(&ack)) ++acks;
  grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(acks, kBatches);

  std::map<int64_t, double> want;
  for (int j = 0; j < kPerTag; ++j) want[kT0 + j * kSecond] = (kBatches - 1) * 1000.0 + j;
  for (const auto& [tag, owner] : tags) {
    EXPECT_EQ(LocalSamples(cluster.address(owner), tag), want)
        << tag << ": an older batch's value won";
  }
}

}  // namespace
}  // namespace historian::testing
