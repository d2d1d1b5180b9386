// Node-side write forwarding (server/cluster/write_forwarder.h): three nodes,
// each a real gRPC server with its own Store in this process, the placement
// set by a StaticClusterView (the etcd-backed view is tested with real
// historiand processes in cluster_write_e2e_test). A batch sent to any node
// lands on the owners of its tags and nowhere else, is acked only after
// every owner acked, a retry stores nothing twice, an unreachable owner fails
// the batch with UNAVAILABLE naming it, a forwarded batch goes on once more
// only from a member whose placement is newer than its sender's, and a
// stream's (or a routing writer's) later batch still wins when an earlier
// one was forwarded across a placement change.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "api/core/write_stream_metadata.h"
#include "client/writer.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/server_interceptor.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "server/cluster/cluster_service.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/placement.h"
#include "server/cluster/write_forwarder.h"
#include "server/cluster/write_hop.h"
#include "server/metrics.h"
#include "server/rpc_env.h"
#include "server/services.h"
#include "storage/store.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

using ::historian::testing::FreePort;
using ::historian::testing::TempDir;
using ::historian::testing::WaitFor;

constexpr uint32_t kShards = 64;
constexpr int kNodes = 3;

// Holds the calls that carry a mark (the second hop's, WriteHop, or the
// forwarded marker) while armed, until released: the test's way to keep a
// part on its way.
class SecondHopGate {
 public:
  // Holds calls carrying `key` (the second-hop mark by default).
  void Arm(const char* key = cluster::kSecondHopMetadataKey) {
    absl::MutexLock l(&mu_);
    armed_ = true;
    key_ = key;
  }
  void Release() {
    absl::MutexLock l(&mu_);
    armed_ = false;
  }
  // Waits until `n` calls were held (false after 30 s: the test fails).
  bool AwaitHeld(int n) {
    absl::MutexLock l(&mu_);
    auto held = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&held), absl::Seconds(30));
  }
  // Called with a call's client metadata before the service sees it.
  void Pass(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
    absl::MutexLock l(&mu_);
    if (!armed_ || metadata.find(key_) == metadata.end()) return;
    ++held_;
    auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !armed_; };
    mu_.Await(absl::Condition(&released));
  }

 private:
  absl::Mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  const char* key_ ABSL_GUARDED_BY(mu_) = cluster::kSecondHopMetadataKey;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
};

class SecondHopGateInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit SecondHopGateInterceptor(SecondHopGate* gate) : gate_(gate) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      gate_->Pass(*methods->GetRecvInitialMetadata());
    }
    methods->Proceed();
  }

 private:
  SecondHopGate* const gate_;
};

class SecondHopGateFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit SecondHopGateFactory(SecondHopGate* gate) : gate_(gate) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new SecondHopGateInterceptor(gate_);
  }

 private:
  SecondHopGate* const gate_;
};

// One member: a Store, the Ingest service with a cluster view, a gRPC server.
class Node {
 public:
  Node(std::string id, int port, std::string dir)
      : id_(std::move(id)), port_(port), dir_(std::move(dir)) {}
  ~Node() { Stop(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  const std::string& id() const { return id_; }

  void Start(std::shared_ptr<const cluster::Placement> placement) {
    StoreOptions options;
    options.path = dir_;
    options.site = "us";
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    metrics_ = std::make_unique<server::Metrics>();
    server::DescribeRpcMetrics(metrics_.get());
    view_ = std::make_unique<cluster::StaticClusterView>(id_, std::move(placement));
    channels_ = std::make_unique<cluster::MemberChannels>(nullptr);
    server::ServiceEnv env;
    env.store = store_.get();
    env.metrics = metrics_.get();
    env.cluster = view_.get();
    env.member_channels = channels_.get();
    ingest_ = std::make_unique<server::IngestService>(env);
    cluster_service_ = std::make_unique<server::ClusterService>(env);
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort(address(), grpc::InsecureServerCredentials(), &bound);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(ingest_.get());
    builder.RegisterService(cluster_service_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> gates;
    gates.push_back(std::make_unique<SecondHopGateFactory>(&second_hop_gate_));
    builder.experimental().SetInterceptorCreators(std::move(gates));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_EQ(bound, port_);
  }

  void Stop() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    cluster_service_.reset();
    ingest_.reset();
    channels_.reset();
    view_.reset();
    store_.reset();
  }

  Store* store() { return store_.get(); }
  server::Metrics* metrics() { return metrics_.get(); }
  cluster::StaticClusterView* view() { return view_.get(); }
  SecondHopGate* second_hop_gate() { return &second_hop_gate_; }

  // The value this node reads for `tag` at `ts` (NaN when it has none).
  double ValueAt(const std::string& tag, int64_t ts) {
    absl::StatusOr<engine::TagInfo> info = store_->GetTag(tag);
    if (!info.ok()) return std::nan("");
    codec::ChunkColumns cols;
    EXPECT_TRUE(store_->ReadRaw(info->id, ts, ts + 1, 0, &cols).ok());
    return cols.size() == 1 ? cols.doubles[0] : std::nan("");
  }

  // Samples this node stores for `tag` (0 when it has no such tag).
  size_t Samples(const std::string& tag) {
    absl::StatusOr<engine::TagInfo> info = store_->GetTag(tag);
    if (!info.ok()) return 0;
    codec::ChunkColumns cols;
    absl::Status s = store_->ReadRaw(info->id, std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max(), 0, &cols);
    EXPECT_TRUE(s.ok()) << s;
    return cols.size();
  }

  std::unique_ptr<v1::Ingest::Stub> Stub() {
    return v1::Ingest::NewStub(grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  }

 private:
  const std::string id_;
  const int port_;
  const std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<server::Metrics> metrics_;
  std::unique_ptr<cluster::StaticClusterView> view_;
  std::unique_ptr<cluster::MemberChannels> channels_;
  std::unique_ptr<server::IngestService> ingest_;
  std::unique_ptr<server::ClusterService> cluster_service_;  // Cluster.Placement for writers
  std::unique_ptr<grpc::Server> server_;
  SecondHopGate second_hop_gate_;
};

class WriteForwardingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<cluster::PlacementMember> members;
    for (int i = 0; i < kNodes; ++i) {
      dirs_.push_back(std::make_unique<TempDir>());
      nodes_.push_back(
          std::make_unique<Node>(absl::StrCat("us-", i), FreePort(), dirs_.back()->path()));
      members.push_back({nodes_.back()->id(), nodes_.back()->address()});
    }
    absl::StatusOr<cluster::Placement> p =
        cluster::Placement::Balanced("us", kShards, std::move(members));
    ASSERT_TRUE(p.ok()) << p.status();
    placement_ = std::make_shared<const cluster::Placement>(*std::move(p));
    for (auto& node : nodes_) node->Start(placement_);
  }

  // Index of the node that owns `tag`.
  int OwnerOf(const std::string& tag) const {
    const std::string& id = placement_->OwnerOfTag(tag).id;
    for (int i = 0; i < kNodes; ++i) {
      if (nodes_[i]->id() == id) return i;
    }
    return -1;
  }

  static std::string Tag(int t) { return absl::StrCat("us.line", t % 7, ".m", t, ".temp"); }

  // `tags` tags, `per_tag` samples each, as (client, sequence).
  static v1::WriteRequest Batch(int tags, int per_tag, const std::string& client, uint64_t sequence,
                                int64_t t0 = 1'700'000'000'000'000'000) {
    v1::WriteRequest batch;
    batch.set_client_id(client);
    batch.set_batch_sequence(sequence);
    for (int t = 0; t < tags; ++t) {
      v1::TagSamples* series = batch.add_series();
      series->set_tag(Tag(t));
      for (int j = 0; j < per_tag; ++j) {
        v1::Sample* s = series->add_samples();
        s->set_timestamp_ns(t0 + j * 1'000'000'000LL);
        s->mutable_value()->set_double_value(t + j * 0.5);
      }
    }
    return batch;
  }

  static constexpr int64_t kTs = 1'700'000'000'000'000'000;

  // A batch of one sample of `tag` (no client id or sequence).
  static v1::WriteRequest OneSample(const std::string& tag, int64_t ts, double value) {
    v1::WriteRequest batch;
    v1::TagSamples* series = batch.add_series();
    series->set_tag(tag);
    v1::Sample* sample = series->add_samples();
    sample->set_timestamp_ns(ts);
    sample->mutable_value()->set_double_value(value);
    return batch;
  }

  // On one Ingest.Write stream to us-2: batch 1 (`tag` at kTs = 1.0) by
  // the placement us-2 holds, then, once `gate` holds batch 1's part,
  // batch 2 (= 2.0) with us-2 at `after`. `gate` is released once us-1
  // stored batch 2 (past batch 1) or us-2 holds it back. Returns the acks
  // and the stream's status.
  struct StreamResult {
    std::vector<v1::WriteAck> acks;
    grpc::Status status;
  };
  StreamResult RewriteAcrossAPlacementChange(const std::string& tag,
                                             std::shared_ptr<const cluster::Placement> after,
                                             SecondHopGate* gate, bool refusals_in_band) {
    auto rewrite = [&](uint64_t sequence, double value) {
      v1::WriteRequest batch = OneSample(tag, kTs, value);
      batch.set_client_id("gw-flip");
      batch.set_batch_sequence(sequence);
      return batch;
    };
    StreamResult result;
    grpc::ClientContext ctx;
    if (refusals_in_band) ctx.AddMetadata(kWriteRefusalsMetadataKey, "1");  // as the Writer
    auto stub = nodes_[2]->Stub();
    auto stream = stub->Write(&ctx);
    EXPECT_TRUE(stream->Write(rewrite(1, 1.0)));
    EXPECT_TRUE(gate->AwaitHeld(1));
    nodes_[2]->view()->Set(std::move(after));
    EXPECT_TRUE(stream->Write(rewrite(2, 2.0)));
    EXPECT_TRUE(WaitFor(
        [&] {
          return nodes_[1]->Samples(tag) > 0 ||
                 nodes_[2]->metrics()->CounterValue(cluster::kForwardOrderWaitsMetric, "") > 0;
        },
        absl::Seconds(30)));
    gate->Release();
    stream->WritesDone();
    v1::WriteAck ack;
    while (stream->Read(&ack)) result.acks.push_back(ack);
    result.status = stream->Finish();
    return result;
  }

  grpc::Status Write(int node, const v1::WriteRequest& batch, v1::WriteAck* ack) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return nodes_[node]->Stub()->WriteBatch(&ctx, batch, ack);
  }

  std::vector<std::unique_ptr<TempDir>> dirs_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::shared_ptr<const cluster::Placement> placement_;
};

TEST_F(WriteForwardingTest, BatchToAnyNodeLandsOnItsOwnersOnly) {
  constexpr int kTags = 300;
  constexpr int kPerTag = 4;
  v1::WriteAck ack;
  grpc::Status s = Write(1, Batch(kTags, kPerTag, "gw-a", 1), &ack);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ack.accepted_count(), uint64_t{kTags * kPerTag});
  EXPECT_FALSE(ack.duplicate());
  EXPECT_EQ(ack.rejected_size(), 0);

  std::vector<int> owned(kNodes, 0);
  for (int t = 0; t < kTags; ++t) {
    const int owner = OwnerOf(Tag(t));
    ++owned[owner];
    for (int n = 0; n < kNodes; ++n) {
      // The owner holds every sample; the others do not even know the tag.
      EXPECT_EQ(nodes_[n]->Samples(Tag(t)), n == owner ? size_t{kPerTag} : 0u)
          << Tag(t) << " on " << nodes_[n]->id();
      EXPECT_EQ(nodes_[n]->store()->HasTag(Tag(t)), n == owner) << Tag(t);
    }
  }
  for (int n = 0; n < kNodes; ++n) {
    EXPECT_NEAR(owned[n], kTags / kNodes, kTags / kNodes / 5) << nodes_[n]->id();
    // Samples stored by each node's own Ingest (duplicates excluded).
    EXPECT_EQ(nodes_[n]->metrics()->CounterValue(server::kSamplesAckedMetric, ""),
              owned[n] * kPerTag)
        << nodes_[n]->id();
  }
  // Node 1 forwarded exactly the other owners' samples.
  for (int n = 0; n < kNodes; ++n) {
    if (n == 1) continue;
    EXPECT_EQ(nodes_[1]->metrics()->CounterValue(cluster::kForwardedSamplesMetric,
                                                 server::Label("owner", nodes_[n]->id())),
              owned[n] * kPerTag);
  }
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kForwardedSamplesMetric,
                                               server::Label("owner", nodes_[1]->id())),
            0);
}

TEST_F(WriteForwardingTest, StreamedBatchesAreForwardedAndAckedInOrder) {
  constexpr int kBatches = 40;
  grpc::ClientContext ctx;
  auto stub = nodes_[2]->Stub();
  auto stream = stub->Write(&ctx);
  for (int b = 0; b < kBatches; ++b) {
    ASSERT_TRUE(stream->Write(
        Batch(30, 2, "gw-stream", b + 1, 1'700'000'000'000'000'000 + b * 10'000'000'000LL)));
  }
  stream->WritesDone();
  v1::WriteAck ack;
  uint64_t expect = 1, accepted = 0;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.batch_sequence(), expect++);
    accepted += ack.accepted_count();
  }
  grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(expect, uint64_t{kBatches + 1});
  EXPECT_EQ(accepted, uint64_t{kBatches * 30 * 2});
  for (int t = 0; t < 30; ++t) {
    EXPECT_EQ(nodes_[OwnerOf(Tag(t))]->Samples(Tag(t)), size_t{kBatches * 2}) << Tag(t);
  }
}

TEST_F(WriteForwardingTest, RetriedBatchIsStoredOnce) {
  const v1::WriteRequest batch = Batch(60, 3, "gw-retry", 7);
  v1::WriteAck first, second;
  ASSERT_TRUE(Write(0, batch, &first).ok());
  EXPECT_FALSE(first.duplicate());
  // The same batch again, through another node: every owner deduplicates.
  grpc::Status s = Write(2, batch, &second);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(second.accepted_count(), first.accepted_count());
  double stored = 0;
  for (auto& node : nodes_)
    stored += node->metrics()->CounterValue(server::kSamplesAckedMetric, "");
  EXPECT_EQ(stored, 60 * 3);
}

// A slice of a batch (WriteRequest.slice) holding a tag of a member that
// does not say it takes slices (an older version, mid-upgrade) is refused
// whole before anything is stored: that member would take slice 2 for a
// retry of slice 1 and drop it. Whole batches go to it as before; a node
// in such a cluster does not send its limits, so writers do not slice.
TEST_F(WriteForwardingTest, ASliceForAnOwnerWithoutSlicesIsRefusedBeforeAnythingIsStored) {
  nodes_[0]->view()->SetWithoutSlices(nodes_[2]->id());
  v1::WriteRequest slice = Batch(60, 2, "gw-slices", 9);
  slice.set_slice(2);
  v1::WriteAck ack;
  grpc::Status s = Write(0, slice, &ack);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_TRUE(
      absl::StrContains(s.error_message(), absl::StrCat("owned by member '", nodes_[2]->id(), "'")))
      << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "does not say it takes write slices"))
      << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "slice 2 of batch 9")) << s.error_message();
  for (int t = 0; t < 60; ++t) {
    for (auto& node : nodes_) EXPECT_EQ(node->Samples(Tag(t)), 0u) << Tag(t);
  }
  EXPECT_TRUE(nodes_[1]->view()->EveryMemberTakesSlices());
  EXPECT_FALSE(nodes_[0]->view()->EveryMemberTakesSlices());
  // Ingest.Write's limits (what makes a writer slice): said by node 1 only.
  for (int n : {0, 1}) {
    grpc::ClientContext ctx;
    auto stream = nodes_[n]->Stub()->Write(&ctx);
    stream->WaitForInitialMetadata();
    const auto& said = ctx.GetServerInitialMetadata();
    EXPECT_EQ(said.count(kMaxSamplesPerBatchMetadataKey), n == 0 ? 0u : 1u) << "node " << n;
    EXPECT_EQ(said.count(kMaxMessageBytesMetadataKey), n == 0 ? 0u : 1u) << "node " << n;
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }

  // Through a node whose view has every member take slices: stored.
  ASSERT_TRUE(Write(1, slice, &ack).ok());
  // The whole batch, through node 0: forwarded to node 2 as before.
  v1::WriteRequest whole = Batch(60, 2, "gw-slices", 10, 1'700'000'100'000'000'000);
  grpc::Status w = Write(0, whole, &ack);
  ASSERT_TRUE(w.ok()) << w.error_message();
  for (int t = 0; t < 60; ++t) EXPECT_EQ(nodes_[OwnerOf(Tag(t))]->Samples(Tag(t)), 4u) << Tag(t);
}

TEST_F(WriteForwardingTest, OwnerDownFailsUnavailableNamingItAndRetryAfterRestartStoresOnce) {
  constexpr int kTags = 90;
  const v1::WriteRequest batch = Batch(kTags, 2, "gw-down", 1);
  nodes_[2]->Stop();
  v1::WriteAck ack;
  grpc::Status s = Write(0, batch, &ack);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // Names the owner, its address and the shards it holds for this batch.
  EXPECT_NE(s.error_message().find("member 'us-2'"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find(nodes_[2]->address()), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("shard"), std::string::npos) << s.error_message();
  // The parts of the owners that were up are stored and stay stored.
  for (int t = 0; t < kTags; ++t) {
    const int owner = OwnerOf(Tag(t));
    if (owner != 2) {
      EXPECT_EQ(nodes_[owner]->Samples(Tag(t)), 2u) << Tag(t);
    }
  }
  EXPECT_GE(nodes_[0]->metrics()->CounterValue(cluster::kForwardErrorsMetric,
                                               absl::StrCat(server::Label("owner", "us-2"), ",",
                                                            server::Label("code", "UNAVAILABLE"))),
            1);

  // The owner comes back; the client retries the same batch until it is
  // acked (the node's channel may still be backing off): stored once.
  nodes_[2]->Start(placement_);
  v1::WriteAck retried;
  grpc::Status last;
  ASSERT_TRUE(WaitFor(
      [&] {
        last = Write(0, batch, &retried);
        return last.ok();
      },
      absl::Seconds(20)))
      << last.error_message();
  EXPECT_FALSE(retried.duplicate());  // us-2's part is new
  EXPECT_EQ(retried.accepted_count(), uint64_t{kTags * 2});
  double stored = 0;
  for (auto& node : nodes_)
    stored += node->metrics()->CounterValue(server::kSamplesAckedMetric, "");
  // us-0 and us-1 counted their parts at the first attempt, us-2 (a fresh
  // Metrics after its restart) at the retry: each sample once.
  EXPECT_EQ(stored, kTags * 2);
  for (int t = 0; t < kTags; ++t) EXPECT_EQ(nodes_[OwnerOf(Tag(t))]->Samples(Tag(t)), 2u);
}

TEST_F(WriteForwardingTest, ForwardedBatchWithForeignTagIsRefusedNotForwardedAgain) {
  // A tag us-0 does not own, sent to us-0 as if forwarded by a member whose
  // placement differs (moved).
  int foreign = 0;
  while (OwnerOf(Tag(foreign)) == 0) ++foreign;
  int own = 0;
  while (OwnerOf(Tag(own)) != 0) ++own;
  v1::WriteRequest batch;
  batch.set_client_id("gw-moved");
  batch.set_batch_sequence(1);
  for (int t : {own, foreign}) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(Tag(t));
    v1::Sample* sample = series->add_samples();
    sample->set_timestamp_ns(1'700'000'000'000'000'000);
    sample->mutable_value()->set_double_value(1);
  }
  grpc::ClientContext ctx;
  ctx.AddMetadata(cluster::kForwardedMetadataKey, "1");
  v1::WriteAck ack;
  grpc::Status s = nodes_[0]->Stub()->WriteBatch(&ctx, batch, &ack);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_NE(s.error_message().find(Tag(foreign)), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find(placement_->OwnerOfTag(Tag(foreign)).id), std::string::npos);
  // Nothing stored anywhere: not the own tag either, not forwarded on.
  for (auto& node : nodes_) {
    EXPECT_FALSE(node->store()->HasTag(Tag(own)));
    EXPECT_FALSE(node->store()->HasTag(Tag(foreign)));
  }
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kMisroutedRefusedMetric, ""), 1);
}

// The placement after a move of `tag`'s shard from its owner to member `to`,
// `later` revisions later (0: a view at the same revision that disagrees).
std::shared_ptr<const cluster::Placement> Moved(const cluster::Placement& before,
                                                const std::string& tag, uint32_t to,
                                                int64_t later = 1) {
  std::vector<uint32_t> owner = before.shard_owner();
  owner[before.ShardOfTag(tag)] = to;
  absl::StatusOr<cluster::Placement> after = cluster::Placement::Create(
      before.site(), before.num_shards(), before.members(), owner, before.revision() + later);
  EXPECT_TRUE(after.ok()) << after.status();
  return std::make_shared<const cluster::Placement>(*std::move(after));
}

TEST_F(WriteForwardingTest, ALateWriteAtAMovesSourceGoesOnToTheNewOwner) {
  // us-0's shard of `moved` went to us-1; us-2 still routes by the placement
  // before (its watch has not seen the flip), so it forwards that tag to us-0.
  int moved = 0;
  while (OwnerOf(Tag(moved)) != 0) ++moved;
  std::shared_ptr<const cluster::Placement> after = Moved(*placement_, Tag(moved), 1);
  nodes_[0]->view()->Set(after);
  nodes_[1]->view()->Set(after);

  constexpr int kTags = 40;
  ASSERT_LT(moved, kTags);
  v1::WriteRequest batch = Batch(kTags, 2, "gw-late", 1);
  v1::WriteAck ack;
  grpc::Status s = Write(2, batch, &ack);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ack.accepted_count(), kTags * 2u);
  // us-0 stored what it still owns and forwarded the moved tag on (second hop).
  EXPECT_EQ(nodes_[1]->Samples(Tag(moved)), 2u);
  EXPECT_FALSE(nodes_[0]->store()->HasTag(Tag(moved)));
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kForwardedOnMetric, ""), 1);
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kMisroutedRefusedMetric, ""), 0);
  for (int t = 0; t < kTags; ++t) {
    if (t == moved) continue;
    EXPECT_EQ(nodes_[OwnerOf(Tag(t))]->Samples(Tag(t)), 2u) << Tag(t);
  }

  // The client's retry, once us-2 has the flip too, stores nothing twice.
  nodes_[2]->view()->Set(after);
  ASSERT_TRUE(Write(2, batch, &ack).ok());
  EXPECT_EQ(nodes_[1]->Samples(Tag(moved)), 2u);
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kForwardedOnMetric, ""), 1);
}

TEST_F(WriteForwardingTest, APartIsNeverForwardedAThirdTimeNorByAPlacementNoNewerThanItsSenders) {
  int moved = 0;
  while (OwnerOf(Tag(moved)) != 0) ++moved;
  std::shared_ptr<const cluster::Placement> after = Moved(*placement_, Tag(moved), 1);
  nodes_[0]->view()->Set(after);
  // us-0's tags in the placement before: all its own now but `moved`.
  v1::WriteRequest all = Batch(moved + 40, 1, "gw-hops", 1);
  v1::WriteRequest batch = all;
  batch.clear_series();
  std::vector<int> sent;
  for (int t = 0; t < all.series_size(); ++t) {
    if (OwnerOf(Tag(t)) != 0) continue;
    *batch.add_series() = all.series(t);
    sent.push_back(t);
  }
  ASSERT_GT(sent.size(), 1u);

  struct Case {
    std::string name;
    int64_t routed_at;
    bool second_hop;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"already forwarded twice", placement_->revision(), true, "forwarded twice already"},
      {"sender as new as us-0", after->revision(), false, "not older than this member's"},
      {"sender newer than us-0", after->revision() + 1, false, "not older than this member's"},
  };
  for (const Case& c : cases) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(cluster::kForwardedMetadataKey, "1");
    cluster::WriteHop::Mark(&ctx, c.routed_at, c.second_hop);
    v1::WriteAck ack;
    grpc::Status s = nodes_[0]->Stub()->WriteBatch(&ctx, batch, &ack);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << c.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(Tag(moved)), std::string::npos) << s.error_message();
    EXPECT_NE(s.error_message().find(c.says), std::string::npos) << s.error_message();
  }
  // Nothing stored anywhere, nothing forwarded on.
  for (auto& node : nodes_) {
    for (int t : sent) EXPECT_FALSE(node->store()->HasTag(Tag(t))) << Tag(t);
  }
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kForwardedOnMetric, ""), 0);
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kMisroutedRefusedMetric, ""), 3);
}

// Two batches of one Ingest.Write stream rewrite a tag's sample across a
// placement change: the later batch wins, also when the earlier one's part
// goes on from the old owner (second hop) while the later one is routed
// straight to the new owner. The stream's node holds the later batch back
// until the earlier part was answered (ForwardOrder); without that, the
// held second hop would be stored last and win.
TEST_F(WriteForwardingTest, ALaterBatchOfAStreamWinsOverAnEarlierOneOnItsSecondHop) {
  int moved = 0;
  while (OwnerOf(Tag(moved)) != 0) ++moved;
  std::shared_ptr<const cluster::Placement> after = Moved(*placement_, Tag(moved), 1);
  nodes_[0]->view()->Set(after);
  nodes_[1]->view()->Set(after);  // us-2 still routes by the placement before
  nodes_[1]->second_hop_gate()->Arm();

  // us-2 sends batch 1 to us-0, which forwards it on to us-1: held there.
  const StreamResult r =
      RewriteAcrossAPlacementChange(Tag(moved), after, nodes_[1]->second_hop_gate(), false);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_EQ(r.acks.size(), 2u);
  EXPECT_EQ(r.acks[0].batch_sequence(), 1u);
  EXPECT_EQ(r.acks[1].batch_sequence(), 2u);

  EXPECT_EQ(nodes_[1]->ValueAt(Tag(moved), kTs), 2.0);
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kForwardedOnMetric, ""), 1);
  EXPECT_EQ(nodes_[2]->metrics()->CounterValue(cluster::kForwardOrderWaitsMetric, ""), 1);
  EXPECT_FALSE(nodes_[0]->store()->HasTag(Tag(moved)));
}

// A batch routed after the stream's earlier parts by a newer placement is
// refused, not stored, when one of those parts failed: the stream fails at
// that earlier batch and the client resends from it, which would then be
// stored after this one and win.
TEST_F(WriteForwardingTest, ABatchAfterAPlacementChangeIsRefusedWhenAnEarlierPartFailed) {
  int moved = 0;
  while (OwnerOf(Tag(moved)) != 0) ++moved;
  // us-0 refuses the forwarded part: its view disagrees at the same revision.
  nodes_[0]->view()->Set(Moved(*placement_, Tag(moved), 1, /*later=*/0));
  std::shared_ptr<const cluster::Placement> after = Moved(*placement_, Tag(moved), 1);
  nodes_[1]->view()->Set(after);
  nodes_[0]->second_hop_gate()->Arm(cluster::kForwardedMetadataKey);

  // Batch 1 held at us-0, then refused; in band, as the Writer asks.
  const StreamResult r =
      RewriteAcrossAPlacementChange(Tag(moved), after, nodes_[0]->second_hop_gate(), true);
  EXPECT_FALSE(r.status.ok());
  for (const v1::WriteAck& ack : r.acks) {
    EXPECT_TRUE(ack.refused()) << "acked batch " << ack.batch_sequence();
    EXPECT_EQ(ack.batch_sequence(), 1u);
  }
  EXPECT_EQ(nodes_[1]->Samples(Tag(moved)), 0u) << "batch 2 stored before batch 1's resend";
  EXPECT_EQ(nodes_[0]->metrics()->CounterValue(cluster::kMisroutedRefusedMetric, ""), 1);
}

// The same with the client routing (Writer, route_to_owners, as the
// gateway): batch 1 goes to the tag's old owner by the placement the
// writer read before the flip, which forwards it to the new owner (held
// there); batch 2, routed by the placement after, waits for batch 1's
// result instead of going straight to the new owner.
TEST_F(WriteForwardingTest, AClientRoutedLaterBatchWaitsForTheEarlierOnesAcrossAPlacementChange) {
  int moved = 0;
  while (OwnerOf(Tag(moved)) != 0) ++moved;
  std::shared_ptr<const cluster::Placement> after = Moved(*placement_, Tag(moved), 1);
  nodes_[0]->view()->Set(after);
  nodes_[1]->view()->Set(after);  // the writer reads us-2's: the placement before
  nodes_[1]->second_hop_gate()->Arm(cluster::kForwardedMetadataKey);

  auto rewrite = [&](double value) { return OneSample(Tag(moved), kTs, value); };
  client::WriterOptions options;
  options.endpoints = {nodes_[2]->address()};
  options.route_to_owners = true;
  options.placement_refresh = absl::ZeroDuration();  // read before every batch
  options.max_in_flight_batches = 4;
  absl::StatusOr<std::unique_ptr<client::Writer>> writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Send(rewrite(1.0)).ok());
  // Sent to us-0 by the placement before, forwarded to us-1: held there.
  ASSERT_TRUE(nodes_[1]->second_hop_gate()->AwaitHeld(1));
  nodes_[2]->view()->Set(after);
  ASSERT_TRUE((*writer)->Send(rewrite(2.0)).ok());
  // Either us-1 stored batch 2 past batch 1, or the writer holds it back.
  ASSERT_TRUE(WaitFor(
      [&] { return nodes_[1]->Samples(Tag(moved)) > 0 || (*writer)->stats().placement_waits > 0; },
      absl::Seconds(30)));
  nodes_[1]->second_hop_gate()->Release();
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(30)).ok());
  const client::WriterStats stats = (*writer)->stats();
  EXPECT_EQ(stats.batches_acked, 2u);
  EXPECT_EQ(stats.placement_waits, 1u);
  EXPECT_EQ(nodes_[1]->ValueAt(Tag(moved), kTs), 2.0);
  EXPECT_FALSE(nodes_[0]->store()->HasTag(Tag(moved)));
}

TEST_F(WriteForwardingTest, WholeBatchErrorIsRefusedBeforeAnyPartIsStored) {
  v1::WriteRequest batch = Batch(30, 1, "gw-bad", 1);
  // The last series sets both forms: the whole batch is invalid.
  v1::TagSamples* bad = batch.mutable_series(29);
  bad->mutable_columns()->add_timestamp_deltas_ns(1);
  bad->mutable_columns()->add_double_values(1);
  v1::WriteAck ack;
  grpc::Status s = Write(1, batch, &ack);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  for (int t = 0; t < 30; ++t) {
    for (auto& node : nodes_) EXPECT_FALSE(node->store()->HasTag(Tag(t))) << Tag(t);
  }
}

TEST_F(WriteForwardingTest, RejectedSamplesKeepTheirIndexesInTheBatch) {
  v1::WriteRequest batch = Batch(40, 1, "gw-rej", 1);
  // A string into a double tag, in some series owned by each node.
  for (int t = 0; t < 40; t += 9) {
    v1::Sample* s = batch.mutable_series(t)->add_samples();
    s->set_timestamp_ns(1'800'000'000'000'000'000);
    s->mutable_value()->set_string_value("x");
  }
  v1::WriteAck ack;
  grpc::Status s = Write(0, batch, &ack);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ack.accepted_count(), 40u);
  ASSERT_EQ(ack.rejected_size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ack.rejected(i).series_index(), uint32_t(i * 9));
    EXPECT_EQ(ack.rejected(i).sample_index(), 1u);
  }
}

}  // namespace
}  // namespace historian
