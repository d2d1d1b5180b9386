// The sender's acks of a peer site cluster (docs/cluster.md, "Who pulls
// what", R2/R3): the site's ack, which holds the own log back from
// trimming, is its slowest member's, also after this node restarts, and a
// puller without a member id never raises it past a member's. In process:
// a real "us" Store and ReplicationService, members of "mx" pulling through
// a plain Replication stub. A departed member's ack is dropped once the
// peer's placement (its Cluster.Placement, read by this node's Replicator)
// no longer lists it.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::server {
namespace {

// The peer site "mx" as its Cluster.Placement shows it: the members the
// test lists, shards spread over them.
class MxPlacementService final : public v1::Cluster::Service {
 public:
  void SetMembers(std::vector<std::string> ids, int64_t revision) {
    absl::MutexLock l(&mu_);
    ids_ = std::move(ids);
    revision_ = revision;
  }
  grpc::Status Placement(grpc::ServerContext*, const v1::PlacementRequest*,
                         v1::PlacementResponse* response) override {
    absl::MutexLock l(&mu_);
    response->set_site("mx");
    response->set_num_shards(4);
    response->set_revision(revision_);
    for (size_t i = 0; i < ids_.size(); ++i) {
      v1::ClusterMember* m = response->add_members();
      m->set_id(ids_[i]);
      m->set_address(absl::StrCat("127.0.0.1:", i + 1));  // never pulled from here
    }
    for (uint32_t s = 0; s < 4; ++s) response->add_shard_owner(s % ids_.size());
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> ids_;
  int64_t revision_ = 0;
};

class MemberAcksTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override { StopNode(); }

  void Start() {
    StoreOptions o;
    o.path = dir_.Sub("us");
    o.site = "us";
    o.peers = {"mx"};
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    auto s = Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    service_ = std::make_unique<ReplicationService>(store_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    builder.RegisterService(&mx_placement_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr && port > 0);
    address_ = absl::StrCat("127.0.0.1:", port);
    stub_ =
        v1::Replication::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  // This node's replicator of "mx" (never started: the test runs its
  // placement reads itself), reading mx's placement from mx_placement_.
  // `seeds`: where it reads the placement (default: mx_placement_'s).
  std::unique_ptr<Replicator> MxReplicator(std::vector<std::string> seeds = {}) {
    ReplicatorOptions o;
    o.anti_entropy_interval = absl::ZeroDuration();
    o.placement_poll = absl::Hours(1);
    Peer mx;
    mx.site = "mx";
    mx.address = address_;
    mx.seeds = seeds.empty() ? std::vector<std::string>{address_} : std::move(seeds);
    return std::make_unique<Replicator>(store_.get(), std::vector<Peer>{mx}, o);
  }

  // A graceful stop of the node (as historiand's): its store closes,
  // saving the acks.
  void StopNode() {
    if (replicator_) replicator_->Stop();
    replicator_.reset();
    if (service_) service_->Stop();
    if (server_) server_->Shutdown();
    server_.reset();
    service_.reset();
    if (store_) {
      EXPECT_TRUE(store_->Close().ok());
    }
    store_.reset();
  }

  void Write(int i) {
    engine::TagInfo info;
    info.name = absl::StrCat("plant.t", i);
    info.type = ValueType::kDouble;
    absl::StatusOr<engine::TagInfo> t = store_->CreateTag(info);
    ASSERT_TRUE(t.ok()) << t.status();
    WriteInput in;
    engine::SeriesData s;
    s.tag = t->id;
    s.cols.Reset(ValueType::kDouble);
    s.cols.timestamps.push_back(1000 + i);
    s.cols.doubles.push_back(1.5);
    s.cols.qualities.push_back(0);
    in.series.push_back(std::move(s));
    ASSERT_TRUE(store_->Write(std::move(in)).ok());
  }

  // Opens a Pull as `member` of "mx" from `from`; returns once the first
  // response arrived (the stream's start ack, from - 1, is recorded before
  // it is sent).
  void PullFrom(const std::string& member, uint64_t from) {
    grpc::ClientContext ctx;
    auto stream = stub_->Pull(&ctx);
    v1::PullRequest first;
    first.set_site("mx");
    first.set_member_id(member);
    first.set_from_sequence(from);
    ASSERT_TRUE(stream->Write(first));
    v1::PullResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    ctx.TryCancel();
    stream->Finish();
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ReplicationService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Replication::Stub> stub_;
  MxPlacementService mx_placement_;
  std::string address_;
  std::unique_ptr<Replicator> replicator_;
};

TEST_F(MemberAcksTest, SlowestMemberHoldsTheLogAcrossARestart) {
  for (int i = 0; i < 3; ++i) Write(i);
  const uint64_t head = store_->OwnHeadSequence();
  ASSERT_GE(head, 3u);
  PullFrom("mx-b", 2);         // mx-b applied 1
  PullFrom("mx-a", head + 1);  // mx-a applied everything
  EXPECT_EQ(store_->PeerAcked("mx"), 1u);

  StopNode();
  Start();
  // mx-a pulls first after the restart: the site's ack stays mx-b's.
  PullFrom("mx-a", head + 1);
  EXPECT_EQ(store_->PeerAcked("mx"), 1u);
  // A puller of "mx" without a member id does not raise it either.
  PullFrom("", head + 1);
  EXPECT_EQ(store_->PeerAcked("mx"), 1u);
  // mx-b catching up lets the log go.
  PullFrom("mx-b", head + 1);
  EXPECT_EQ(store_->PeerAcked("mx"), head);
}

// R2 (docs/cluster.md): mx-b leaves mx's placement; its ack must stop
// holding this node's log back (and stay forgotten after a restart), while
// the members still listed keep theirs.
TEST_F(MemberAcksTest, AMemberThatLeftThePeersPlacementNoLongerHoldsTheLog) {
  for (int i = 0; i < 3; ++i) Write(i);
  const uint64_t head = store_->OwnHeadSequence();
  ASSERT_GE(head, 3u);
  mx_placement_.SetMembers({"mx-a", "mx-b"}, 10);
  replicator_ = MxReplicator();
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  PullFrom("mx-b", 2);         // mx-b applied 1
  PullFrom("mx-a", head + 1);  // mx-a applied everything
  EXPECT_EQ(store_->PeerAcked("mx"), 1u);
  // Both listed: a placement read changes nothing.
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  EXPECT_EQ(store_->PeerAcked("mx"), 1u);
  EXPECT_EQ(store_->MemberAcks("mx").size(), 2u);

  mx_placement_.SetMembers({"mx-a"}, 11);  // mx-b removed from mx
  // Forgotten only once absent from kForgetAfterReads (3) reads in a row.
  for (int read = 1; read < 3; ++read) {
    ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
    EXPECT_EQ(store_->MemberAcks("mx").count("mx-b"), 1u) << "forgotten after read " << read;
    EXPECT_EQ(store_->PeerAcked("mx"), 1u);
  }
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  EXPECT_EQ(store_->MemberAcks("mx").count("mx-b"), 0u);
  EXPECT_EQ(store_->PeerAcked("mx"), head) << "the departed mx-b still holds the log";

  // Forgotten on disk too: after a restart mx-a's next ack is the site's.
  StopNode();
  Start();
  EXPECT_EQ(store_->MemberAcks("mx").count("mx-b"), 0u);
  Write(7);
  PullFrom("mx-a", store_->OwnHeadSequence() + 1);
  EXPECT_EQ(store_->PeerAcked("mx"), store_->OwnHeadSequence());
}

// R2 with a stale peer placement: mx-c joined mx at revision 12 and pulls;
// a seed that still serves revision 11 (restarting, its watch down) must
// not make this node forget mx-c's ack, however often it is read (the log
// would be trimmed past mx-c's cursor: a range sync, which between sites
// does not carry events).
TEST_F(MemberAcksTest, AStalePeerPlacementNeverForgetsANewMember) {
  for (int i = 0; i < 3; ++i) Write(i);
  const uint64_t head = store_->OwnHeadSequence();
  ASSERT_GE(head, 3u);
  mx_placement_.SetMembers({"mx-a", "mx-c"}, 12);
  replicator_ = MxReplicator();
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  PullFrom("mx-c", 2);         // mx-c applied 1
  PullFrom("mx-a", head + 1);  // mx-a applied everything
  ASSERT_EQ(store_->PeerAcked("mx"), 1u);

  mx_placement_.SetMembers({"mx-a", "mx-b"}, 11);  // the stale seed
  for (int read = 0; read < 5; ++read) {
    ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
    EXPECT_EQ(store_->MemberAcks("mx").count("mx-c"), 1u) << "read " << read;
    EXPECT_EQ(store_->PeerAcked("mx"), 1u) << "read " << read;
  }
}

// Another mx node serving Cluster.Placement (a second seed).
struct SecondSeed {
  explicit SecondSeed(MxPlacementService* service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service);
    server = builder.BuildAndStart();
    address = absl::StrCat("127.0.0.1:", port);
  }
  ~SecondSeed() { server->Shutdown(); }
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

// After a restart this node holds no placement revision of mx to judge a
// read by, so a seed stuck on an older placement (first in the list) must
// not decide alone: every seed is read and the highest revision wins, and
// mx-c (listed by the current seed) keeps its ack however often mx is read.
TEST_F(MemberAcksTest, AfterARestartAStaleFirstSeedNeverForgetsAMemberAnotherSeedLists) {
  for (int i = 0; i < 3; ++i) Write(i);
  const uint64_t head = store_->OwnHeadSequence();
  PullFrom("mx-c", 2);         // mx-c applied 1 (it joined mx at revision 12)
  PullFrom("mx-a", head + 1);  // mx-a applied everything
  ASSERT_EQ(store_->PeerAcked("mx"), 1u);
  StopNode();  // the acks are kept; the replicator's reads are not
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_EQ(store_->MemberAcks("mx").count("mx-c"), 1u);

  mx_placement_.SetMembers({"mx-a", "mx-b"}, 11);  // stuck on its cache
  MxPlacementService current_placement;
  current_placement.SetMembers({"mx-a", "mx-c"}, 12);
  SecondSeed current(&current_placement);
  replicator_ = MxReplicator({address_, current.address});
  for (int read = 0; read < 5; ++read) {
    ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
    EXPECT_EQ(store_->MemberAcks("mx").count("mx-c"), 1u) << "read " << read;
    EXPECT_EQ(store_->PeerAcked("mx"), 1u) << "read " << read;
  }
  replicator_->Stop();
  replicator_.reset();
}

// A member absent from fewer than 3 reads in a row and then listed again
// (placements read in between: a move out and back) keeps its ack, and the
// count starts again.
TEST_F(MemberAcksTest, AMemberListedAgainBeforeTheThirdReadKeepsItsAck) {
  for (int i = 0; i < 3; ++i) Write(i);
  const uint64_t head = store_->OwnHeadSequence();
  mx_placement_.SetMembers({"mx-a", "mx-b"}, 10);
  replicator_ = MxReplicator();
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  PullFrom("mx-b", 2);
  PullFrom("mx-a", head + 1);
  mx_placement_.SetMembers({"mx-a"}, 11);
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  mx_placement_.SetMembers({"mx-a", "mx-b"}, 12);
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  mx_placement_.SetMembers({"mx-a"}, 13);
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  EXPECT_EQ(store_->MemberAcks("mx").count("mx-b"), 1u);
  EXPECT_EQ(store_->PeerAcked("mx"), 1u);
  ASSERT_TRUE(replicator_->TEST_DiscoverPeers().ok());
  EXPECT_EQ(store_->MemberAcks("mx").count("mx-b"), 0u);
}

}  // namespace
}  // namespace historian::server
