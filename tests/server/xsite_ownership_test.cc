// Cross-site pulls while this node's ownership changes (docs/cluster.md,
// "Placement changes on either side"). In process, with real Stores, a real
// ReplicationService (a single "us" node) behind a fault proxy and a real
// Replicator on "mx-a", a member of a 2-shard "mx" cluster whose placement
// the test sets (StaticClusterView). The replicator's placement poll is an
// hour: the test runs a poll itself (TEST_CheckOwnership), so "ownership
// shrank and grew back within one poll" is exact, not a race.
#include "server/xsite_ownership.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/core/tag_shard.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/cluster/cluster_view.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "storage/store.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::server {
namespace {

constexpr uint32_t kShards = 2;
constexpr int kPerBatch = 20;  // samples per tag and write

std::shared_ptr<const cluster::Placement> MxPlacement(std::vector<uint32_t> owners,
                                                      int64_t revision) {
  absl::StatusOr<cluster::Placement> p =
      cluster::Placement::Create("mx", kShards, {{"mx-a", "127.0.0.1:1"}, {"mx-b", "127.0.0.1:2"}},
                                 std::move(owners), revision);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::make_shared<const cluster::Placement>(std::move(*p));
}

ShardSet Set(std::vector<uint32_t> shards) { return *ShardSet::Create(4, std::move(shards)); }

// Serves `real`'s RPCs; a Fetch, once it has read and sent its samples, is
// held before it ends while the gate is closed (the client's range sync
// then waits before it applies what it fetched).
class FetchGate final : public v1::Replication::Service {
 public:
  explicit FetchGate(ReplicationService* real) : real_(real) {}

  grpc::Status Pull(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) override {
    return real_->Pull(context, stream);
  }
  grpc::Status Digest(grpc::ServerContext* context, const v1::DigestRequest* request,
                      v1::DigestResponse* response) override {
    return real_->Digest(context, request, response);
  }
  grpc::Status Fetch(grpc::ServerContext* context, const v1::FetchRequest* request,
                     grpc::ServerWriter<v1::FetchResponse>* writer) override {
    grpc::Status status = real_->Fetch(context, request, writer);
    absl::MutexLock l(&mu_);
    ++held_;
    mu_.Await(absl::Condition(&open_));
    --held_;
    return status;
  }
  grpc::Status FetchEvents(grpc::ServerContext* context, const v1::FetchEventsRequest* request,
                           grpc::ServerWriter<v1::FetchEventsResponse>* writer) override {
    return real_->FetchEvents(context, request, writer);
  }

  void Set(bool open) {
    absl::MutexLock l(&mu_);
    open_ = open;
  }
  int held() const {
    absl::MutexLock l(&mu_);
    return held_;
  }

 private:
  ReplicationService* const real_;
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
};

// The record itself: lowered on disk at once; a change records `now` minus
// whatever was lowered while it ran; a restart reads it back.
TEST(XsiteOwnershipRecordTest, LowersFirstAndKeepsLoweringsAcrossAChange) {
  testing::TempDir dir;
  const std::string file = dir.Sub("XSITE_OWNERSHIP");
  {
    XsiteOwnership o(file);
    EXPECT_FALSE(o.Get().has_value());  // no file: every tag
    ASSERT_TRUE(o.Lower(std::nullopt).ok());
    EXPECT_FALSE(o.Get().has_value());
    ASSERT_TRUE(o.Lower(Set({0, 1, 2})).ok());
    EXPECT_EQ(o.Get()->Encode(), "4:0,1,2");
    ASSERT_TRUE(o.Lower(Set({1, 2, 3})).ok());
    EXPECT_EQ(o.Get()->Encode(), "4:1,2");
  }
  XsiteOwnership o(file);  // a restart
  ASSERT_TRUE(o.Get().has_value());
  EXPECT_EQ(o.Get()->Encode(), "4:1,2");
  std::optional<ShardSet> before = o.BeginChange();
  EXPECT_EQ(before->Encode(), "4:1,2");
  ASSERT_TRUE(o.Lower(Set({0, 1, 2})).ok());  // a stream applies meanwhile
  ASSERT_TRUE(o.FinishChange(Set({0, 1, 2, 3})).ok());
  EXPECT_EQ(o.Get()->Encode(), "4:0,1,2");
  EXPECT_EQ(XsiteOwnership(file).Get()->Encode(), "4:0,1,2");
  o.BeginChange();
  ASSERT_TRUE(o.FinishChange(std::nullopt).ok());  // left the cluster
  EXPECT_FALSE(XsiteOwnership(file).Get().has_value());
}

TEST(XsiteOwnershipRecordTest, FilterCoversAndIntersect) {
  EXPECT_TRUE(FilterCovers(std::nullopt, std::nullopt));
  EXPECT_TRUE(FilterCovers(std::nullopt, Set({1})));
  EXPECT_FALSE(FilterCovers(Set({0, 1, 2, 3}), std::nullopt));
  EXPECT_TRUE(FilterCovers(Set({0, 1}), Set({1})));
  EXPECT_FALSE(FilterCovers(Set({0}), Set({0, 1})));
  EXPECT_FALSE(FilterCovers(*ShardSet::Create(8, {0, 1}), Set({0})));  // other count
  EXPECT_EQ(IntersectOwnership(Set({0, 2}), Set({2, 3}))->Encode(), "4:2");
  EXPECT_EQ(IntersectOwnership(std::nullopt, Set({3}))->Encode(), "4:3");
  EXPECT_FALSE(IntersectOwnership(std::nullopt, std::nullopt).has_value());
  EXPECT_EQ(IntersectOwnership(*ShardSet::Create(8, {0}), Set({0}))->Encode(), "4:");
}

class XsiteOwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    us_ = Open("us", "us", {"mx"});
    mx_ = Open("mx", "mx-a", {"us"});
    ASSERT_TRUE(us_ && mx_);
    service_ = std::make_unique<ReplicationService>(us_.get());
    gate_ = std::make_unique<FetchGate>(service_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(gate_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr && port > 0);
    proxy_ = std::make_unique<testing::FaultProxy>(absl::StrCat("127.0.0.1:", port));
    for (int i = 0; tags_[0].size() < 3 || tags_[1].size() < 3; ++i) {
      std::string name = absl::StrCat("plant.unit", i, ".flow");
      tags_[TagShard(name, kShards)].push_back(std::move(name));
    }
  }

  void TearDown() override {
    if (gate_) gate_->Set(true);
    if (replicator_) replicator_->Stop();
    if (service_) service_->Stop();
    if (server_) server_->Shutdown();
  }

  std::unique_ptr<Store> Open(const std::string& site, const std::string& sub,
                              std::vector<std::string> peers) {
    StoreOptions o;
    o.path = dir_.Sub(sub);
    o.site = site;
    o.peers = std::move(peers);
    o.sync_writes = false;
    o.seal_interval = absl::Hours(1);
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  void StartReplicator() {
    ReplicatorOptions o;
    o.max_samples_per_second = 0;
    o.anti_entropy_interval = absl::ZeroDuration();
    o.min_backoff = absl::Milliseconds(10);
    o.max_backoff = absl::Milliseconds(100);
    o.cluster = &view_;
    o.placement_poll = absl::Hours(1);  // the test runs the polls
    o.ownership_file = OwnershipFile();
    Peer us;
    us.site = "us";
    us.address = proxy_->address();
    us.seeds = {us.address};
    replicator_ = std::make_unique<Replicator>(mx_.get(), std::vector<Peer>{us}, o);
    replicator_->Start();
  }

  std::string OwnershipFile() const { return dir_.Sub("mx-a/XSITE_OWNERSHIP"); }
  std::string RecordedOwnership() const {
    std::ifstream in(OwnershipFile());
    if (!in) return "(none)";
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return std::string(absl::StripAsciiWhitespace(text));
  }

  // Writes kPerBatch samples to every tag of both shards in one entry.
  void WriteAll(int64_t from) {
    WriteInput in;
    for (const auto& shard : tags_) {
      for (const std::string& name : shard) {
        absl::StatusOr<engine::TagInfo> t = us_->GetTag(name);
        if (!t.ok()) {
          engine::TagInfo info;
          info.name = name;
          info.type = ValueType::kDouble;
          t = us_->CreateTag(info);
        }
        ASSERT_TRUE(t.ok()) << t.status();
        engine::SeriesData s;
        s.tag = t->id;
        s.cols.Reset(ValueType::kDouble);
        for (int i = 0; i < kPerBatch; ++i) {
          s.cols.timestamps.push_back(from + i);
          s.cols.doubles.push_back(i * 0.25);
          s.cols.qualities.push_back(0);
        }
        in.series.push_back(std::move(s));
      }
    }
    absl::StatusOr<WriteResult> r = us_->Write(std::move(in));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  uint64_t Count(const std::string& name, int64_t from, int64_t to) const {
    absl::StatusOr<engine::TagInfo> t = mx_->GetTag(name);
    if (!t.ok()) return 0;
    codec::ChunkColumns out;
    EXPECT_TRUE(mx_->ReadRaw(t->id, from, to, 0, &out).ok());
    return out.size();
  }

  // The link's status line (one peer, a single node).
  v1::PeerStatus Link() const {
    std::vector<v1::PeerStatus> s = replicator_->Status();
    return s.empty() ? v1::PeerStatus() : s[0];
  }

  // Until mx-a's cursor of "us" is at us's head.
  bool CaughtUp() {
    return testing::WaitFor([&] { return mx_->AppliedSequence("us") == us_->OwnHeadSequence(); },
                            absl::Seconds(30));
  }

  // Until the pull stream was opened again after the proxy dropped it (a
  // new stream reads the ownership when it opens).
  bool Reconnected() {
    const int64_t since = Link().state_since_unix_ns();
    proxy_->DropConnections();
    return testing::WaitFor(
        [&] {
          v1::PeerStatus l = Link();
          return l.state() == "connected" && l.state_since_unix_ns() != since;
        },
        absl::Seconds(30));
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> us_, mx_;
  std::unique_ptr<ReplicationService> service_;
  std::unique_ptr<FetchGate> gate_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<testing::FaultProxy> proxy_;
  cluster::StaticClusterView view_{"mx-a", MxPlacement({0, 0}, 1)};  // mx-a owns both
  std::unique_ptr<Replicator> replicator_;
  std::vector<std::string> tags_[kShards];
};

// R1 (docs/cluster.md): ownership shrinks ({0, 1} -> {0}), a stream opens
// with the smaller filter and applies entries cut to it, then ownership
// grows back before the next poll. The stream must not apply anything more
// with its old filter, and the next poll must range-sync shard 1 (its
// series in the entries pulled meanwhile went to mx-b): mx-a ends holding
// every sample of its shards.
TEST_F(XsiteOwnershipTest, ShrinkAndRegrowWithinOnePollLosesNothing) {
  StartReplicator();
  WriteAll(1000);
  ASSERT_TRUE(CaughtUp());
  ASSERT_TRUE(testing::WaitFor([&] { return RecordedOwnership() == "2:0,1"; }, absl::Seconds(30)))
      << RecordedOwnership();
  ASSERT_TRUE(testing::WaitFor([&] { return Link().state() == "connected"; }, absl::Seconds(30)));

  // Shrink: mx-b owns shard 1. A stream opened now asks for shard 0 only.
  view_.Set(MxPlacement({0, 1}, 2));
  ASSERT_TRUE(Reconnected());
  WriteAll(2000);
  ASSERT_TRUE(CaughtUp());
  for (const std::string& name : tags_[1]) {
    EXPECT_EQ(Count(name, 2000, 3000), 0u) << name << ": shard 1 is mx-b's now";
  }
  // What the cursor passed is complete for shard 0 only.
  EXPECT_EQ(RecordedOwnership(), "2:0");

  // Grow back, with no poll in between.
  view_.Set(MxPlacement({0, 0}, 3));
  WriteAll(3000);
  ASSERT_TRUE(CaughtUp());
  for (const auto& shard : tags_) {
    for (const std::string& name : shard) {
      EXPECT_EQ(Count(name, 3000, 4000), static_cast<uint64_t>(kPerBatch))
          << name << ": applied by a stream whose filter lacks an owned shard";
    }
  }

  // The next poll range-syncs the regained shard.
  ASSERT_TRUE(replicator_->TEST_CheckOwnership().ok());
  for (const auto& shard : tags_) {
    for (const std::string& name : shard) {
      EXPECT_EQ(Count(name, kMinTimestamp, kMaxTimestamp), 3u * kPerBatch) << name;
    }
  }
  EXPECT_EQ(RecordedOwnership(), "2:0,1");
}

// A restart between the shrink and the regrow: the recorded ownership says
// shard 1 is not complete, so the new replicator range-syncs it.
TEST_F(XsiteOwnershipTest, RegrowAfterRestartRangeSyncs) {
  StartReplicator();
  WriteAll(1000);
  ASSERT_TRUE(CaughtUp());
  ASSERT_TRUE(testing::WaitFor([&] { return RecordedOwnership() == "2:0,1"; }, absl::Seconds(30)));
  ASSERT_TRUE(testing::WaitFor([&] { return Link().state() == "connected"; }, absl::Seconds(30)));
  view_.Set(MxPlacement({0, 1}, 2));
  ASSERT_TRUE(Reconnected());
  WriteAll(2000);
  ASSERT_TRUE(CaughtUp());
  replicator_->Stop();
  replicator_.reset();

  view_.Set(MxPlacement({0, 0}, 3));
  StartReplicator();  // its first poll runs at start
  WriteAll(3000);
  ASSERT_TRUE(CaughtUp());
  ASSERT_TRUE(testing::WaitFor([&] { return RecordedOwnership() == "2:0,1"; }, absl::Seconds(30)));
  for (const auto& shard : tags_) {
    for (const std::string& name : shard) {
      EXPECT_EQ(Count(name, kMinTimestamp, kMaxTimestamp), 3u * kPerBatch) << name;
    }
  }
}

// A tag of a shard mx-a gains, defined at us while mx-b owned the shard:
// mx-a's cursor passed its definition, cut. Its next samples reach mx-a's
// stream (reopened with the gained shard) while the range sync of the gain
// has fetched but not applied yet. The stream waits for the range sync
// instead of leaving them out: before, the cursor passed them, and the
// range sync, whose fetch predates them, never brought them
// (CrossSiteLostMemberTest: 4 samples of one MX tag missing at US until the
// next anti-entropy pass, 3 runs of about 300).
TEST_F(XsiteOwnershipTest, ANewSampleOfAGainedShardsUndefinedTagWaitsForTheRangeSync) {
  view_.Set(MxPlacement({0, 1}, 2));  // mx-b owns shard 1
  StartReplicator();
  WriteAll(1000);  // defines every tag at us; mx-a cuts shard 1's
  ASSERT_TRUE(CaughtUp());
  ASSERT_TRUE(testing::WaitFor([&] { return RecordedOwnership() == "2:0"; }, absl::Seconds(30)))
      << RecordedOwnership();
  for (const std::string& name : tags_[1]) ASSERT_FALSE(mx_->HasTag(name)) << name;

  // mx-a gains shard 1; its range sync is held after its first fetch.
  gate_->Set(false);
  view_.Set(MxPlacement({0, 0}, 3));
  absl::Status synced;
  std::thread sync([&] { synced = replicator_->TEST_CheckOwnership(); });
  ASSERT_TRUE(testing::WaitFor([&] { return gate_->held() > 0; }, absl::Seconds(30)));
  WriteAll(2000);  // after the fetch: only the log brings these
  const uint64_t head = us_->OwnHeadSequence();
  const bool met = testing::WaitFor(
      [&] {
        return mx_->AppliedSequence("us") == head ||
               Link().state().find("waiting for the range sync") != std::string::npos;
      },
      absl::Seconds(30));
  gate_->Set(true);
  sync.join();
  ASSERT_TRUE(met) << Link().state();
  ASSERT_TRUE(synced.ok()) << synced;
  ASSERT_TRUE(CaughtUp());
  for (const auto& shard : tags_) {
    for (const std::string& name : shard) {
      EXPECT_EQ(Count(name, 2000, 3000), static_cast<uint64_t>(kPerBatch)) << name;
      EXPECT_EQ(Count(name, kMinTimestamp, kMaxTimestamp), 2u * kPerBatch) << name;
    }
  }
  EXPECT_EQ(RecordedOwnership(), "2:0,1");
}

// R3 (docs/cluster.md): a member whose own placement is not known yet
// (etcd down at its first start) pulls nothing: unfiltered, it would store
// every tag and its cursor would pass the other owners' series; it starts
// once the placement is there.
TEST_F(XsiteOwnershipTest, NoPullWithoutOwnPlacement) {
  view_.Set(nullptr);
  WriteAll(1000);
  StartReplicator();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Link().state().find("placement is not known yet") != std::string::npos ||
               mx_->AppliedSequence("us") > 0;
      },
      absl::Seconds(30)))
      << Link().state();
  EXPECT_EQ(mx_->AppliedSequence("us"), 0u);
  for (const auto& shard : tags_) {
    for (const std::string& name : shard) EXPECT_FALSE(mx_->HasTag(name)) << name;
  }
  EXPECT_EQ(RecordedOwnership(), "(none)");

  view_.Set(MxPlacement({0, 1}, 1));  // mx-a owns shard 0
  ASSERT_TRUE(CaughtUp());
  for (const std::string& name : tags_[0]) {
    EXPECT_EQ(Count(name, 1000, 2000), static_cast<uint64_t>(kPerBatch)) << name;
  }
  for (const std::string& name : tags_[1]) EXPECT_FALSE(mx_->HasTag(name)) << name;
}

}  // namespace
}  // namespace historian::server
