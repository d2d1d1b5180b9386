// File: shard_mover_test.cc
// The target side of a shard move (ShardMover, docs/cluster.md "Moving
// shards") in process, against a real etcd and a source served over gRPC
// on 127.0.0.1: a real Store behind the real Cluster.CopyShard, and a
// Replication.Pull that answers from a script, so the source's log can be
// "trimmed past the move's cursor" (a gap) at an exact step. A gap while
// the move is INITIALIZING wipes the copy and copies again; a gap after
// this node flipped the move keeps the shard (this node owns it then), also
// on a pass whose view still shows the move INITIALIZING.
#include "server/cluster/shard_mover.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/cluster/cluster_service.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/placement.h"
#include "storage/store.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

constexpr uint32_t kShards = 8;
constexpr uint32_t kMoving = 5;
constexpr int kTags = 3;
constexpr int kSamplesPerTag = 200;
constexpr int64_t kT0 = int64_t{1795428000} * 1000000000;  // 2026-11-23T10:00:00Z

// What the source's Pull answers on its n-th stream (from 0): "caught up"
// (no records, head at the cursor) or "gap" (the log starts past the
// cursor), in order; after the script the stream stays open and silent.
enum class Answer { kCaughtUp, kGap };

class ScriptedPull final : public v1::Replication::Service {
 public:
  // `script(n)`: the answers of stream n.
  explicit ScriptedPull(std::function<std::vector<Answer>(int)> script)
      : script_(std::move(script)) {}

  grpc::Status Pull(grpc::ServerContext* context,
                    grpc::ServerReaderWriter<v1::PullResponse, v1::PullRequest>* stream) override {
    v1::PullRequest first;
    if (!stream->Read(&first)) return grpc::Status::OK;
    int n;
    {
      absl::MutexLock l(&mu_);
      n = streams_++;
    }
    for (Answer a : script_(n)) {
      v1::PullResponse r;
      r.set_site("us");
      r.set_member_id("a");
      r.set_head_sequence(first.from_sequence() - 1);
      if (a == Answer::kGap) {
        r.set_gap(true);
        r.set_log_start_sequence(first.from_sequence() + 1000);
      }
      if (!stream->Write(r)) return grpc::Status::OK;
    }
    v1::PullRequest more;
    while (stream->Read(&more)) {
    }
    return grpc::Status::OK;
  }

  int streams() const {
    absl::MutexLock l(&mu_);
    return streams_;
  }

 private:
  const std::function<std::vector<Answer>(int)> script_;
  mutable absl::Mutex mu_;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<Store> OpenStore(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.site = "us";
  o.sync_writes = false;
  o.seal_interval = absl::Hours(1);
  auto s = Store::Open(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

class ShardMoverTest : public EtcdTest {
 protected:
  // Source "a" (served here) owns every shard; kMoving moves from a to
  // "b" (the mover's node), INITIALIZING, in etcd and in b's view.
  void Start(std::function<std::vector<Answer>(int)> script) {
    source_store_ = OpenStore(dir_.Sub("source"));
    target_store_ = OpenStore(dir_.Sub("target"));
    ASSERT_TRUE(source_store_ && target_store_);
    WriteMovingTags();

    pull_ = std::make_unique<ScriptedPull>(std::move(script));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    // The copy's CheckShard reads the placement: a's view of the same one.
    source_view_ = std::make_unique<StaticClusterView>("a", nullptr);
    server::ServiceEnv env;
    env.store = source_store_.get();
    env.cluster = source_view_.get();
    copy_service_ = std::make_unique<server::ClusterService>(env);
    builder.RegisterService(copy_service_.get());
    builder.RegisterService(pull_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);

    PlacementMoves moves;
    moves.moves = {{kMoving, 0, 1, ShardMoveState::kInitializing, 1}};
    moves.max_concurrent = 1;
    auto plan = Placement::Create("us", kShards,
                                  {{"a", absl::StrCat("127.0.0.1:", port)}, {"b", "127.0.0.1:1"}},
                                  std::vector<uint32_t>(kShards, 0), 0, moves);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const int64_t revision = MustPut(PlacementKey("us"), plan->Encode());
    auto stored = Placement::Decode(plan->Encode(), revision);
    ASSERT_TRUE(stored.ok());
    auto placement = std::make_shared<const Placement>(*std::move(stored));
    source_view_->Set(placement);
    target_view_ = std::make_unique<StaticClusterView>("b", placement);

    channels_ = std::make_unique<MemberChannels>(nullptr);
    ShardMoverOptions options;
    options.site = "us";
    // The test wakes each pass after the first (OnPlacement): it knows
    // which pass saw what.
    options.retry = absl::Hours(1);
    mover_ = std::make_unique<ShardMover>(target_store_.get(), target_view_.get(), client_.get(),
                                          channels_.get(), options);
    mover_->Start();  // its first pass runs at once
  }

  void TearDown() override {
    mover_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  // kTags tags of the moving shard, kSamplesPerTag samples each, sealed.
  void WriteMovingTags() {
    for (int n = 0; static_cast<int>(names_.size()) < kTags; ++n) {
      const std::string name = absl::StrCat("plant.move.t", n);
      if (TagShard(name, kShards) != kMoving) continue;
      names_.push_back(name);
      auto t = source_store_->ResolveTagForWrite(name, ValueType::kDouble);
      ASSERT_TRUE(t.ok()) << t.status();
      WriteInput in;
      engine::SeriesData sd;
      sd.tag = t->id;
      sd.cols.Reset(ValueType::kDouble);
      for (int j = 0; j < kSamplesPerTag; ++j) {
        sd.cols.timestamps.push_back(kT0 + int64_t{j} * 1000000000);
        sd.cols.doubles.push_back(n * 1000 + j);
        sd.cols.qualities.push_back(0);
      }
      in.series.push_back(std::move(sd));
      ASSERT_TRUE(source_store_->Write(std::move(in)).ok());
    }
    ASSERT_TRUE(source_store_->SealAll().ok());
  }

  // Samples of the moving shard's tags at the target (0 for a tag it lacks).
  size_t TargetSamples() const {
    size_t total = 0;
    for (const std::string& name : names_) {
      auto t = target_store_->GetTag(name);
      if (!t.ok()) continue;
      codec::ChunkColumns out;
      EXPECT_TRUE(
          target_store_->ReadRaw(t->id, kT0, kT0 + int64_t{3600} * 1000000000, 0, &out).ok());
      total += out.size();
    }
    return total;
  }

  ShardMoveState StateInEtcd() {
    auto kv = client_->Get(PlacementKey("us"));
    EXPECT_TRUE(kv.ok() && kv->kvs.size() == 1);
    auto p = Placement::Decode(kv->kvs[0].value, kv->kvs[0].mod_revision);
    EXPECT_TRUE(p.ok()) << p.status();
    const ShardMove* m = p->MoveOfShard(kMoving);
    EXPECT_NE(m, nullptr);
    return m == nullptr ? ShardMoveState::kPending : m->state;
  }

  std::vector<std::string> names_;
  std::unique_ptr<Store> source_store_, target_store_;
  std::unique_ptr<ScriptedPull> pull_;
  std::unique_ptr<StaticClusterView> source_view_, target_view_;
  std::unique_ptr<server::ClusterService> copy_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MemberChannels> channels_;
  std::unique_ptr<ShardMover> mover_;
};

TEST_F(ShardMoverTest, AGapWhileInitializingWipesTheCopyAndCopiesAgain) {
  // The first tail finds the log trimmed; the second is caught up at once.
  Start([](int n) {
    return n == 0 ? std::vector<Answer>{Answer::kGap} : std::vector<Answer>{Answer::kCaughtUp};
  });
  ASSERT_TRUE(
      historian::testing::WaitFor([&] { return mover_->stats().errors >= 1; }, absl::Seconds(60)));
  EXPECT_TRUE(absl::StrContains(mover_->stats().last_error, "the copy is made again"))
      << mover_->stats().last_error;
  EXPECT_EQ(mover_->stats().copies, 1u);
  mover_->OnPlacement();
  ASSERT_TRUE(historian::testing::WaitFor([&] { return StateInEtcd() == ShardMoveState::kFlipped; },
                                          absl::Seconds(60)))
      << "the move never flipped; last error: " << mover_->stats().last_error;
  const ShardMover::Stats stats = mover_->stats();
  EXPECT_EQ(stats.copies, 2u) << "the copy the gap cut off is made again";
  EXPECT_EQ(stats.errors, 1u);
  EXPECT_EQ(pull_->streams(), 2);
  EXPECT_EQ(TargetSamples(), static_cast<size_t>(kTags * kSamplesPerTag));
}

TEST_F(ShardMoverTest, AGapAfterThisNodeFlippedTheMoveKeepsTheShard) {
  // Stream 0: caught up (step 4 ends, the target flips), then the gap in
  // step 6 on the same stream. Every later stream (the next passes, whose
  // view still shows the move INITIALIZING): the gap at once.
  Start([](int n) {
    return n == 0 ? std::vector<Answer>{Answer::kCaughtUp, Answer::kGap}
                  : std::vector<Answer>{Answer::kGap};
  });
  // What the copy brought (and, in a real site, the peer sites' entries
  // since the flip) stays: the loud error is for an operator.
  auto expect_shard_kept = [&](const std::string& when) {
    SCOPED_TRACE(when);
    EXPECT_EQ(TargetSamples(), static_cast<size_t>(kTags * kSamplesPerTag));
    EXPECT_EQ(target_store_->TagCountsByShard(kShards)[kMoving], static_cast<uint64_t>(kTags));
    auto marker = target_store_->ReadMoveMarker(kMoving);
    ASSERT_TRUE(marker.ok()) << marker.status();
    ASSERT_TRUE(marker->has_value()) << "the copy's marker was dropped";
    EXPECT_TRUE((*marker)->complete);
  };
  // The first error is the gap of step 6 (a wipe would come before it).
  ASSERT_TRUE(
      historian::testing::WaitFor([&] { return mover_->stats().errors >= 1; }, absl::Seconds(60)));
  EXPECT_EQ(StateInEtcd(), ShardMoveState::kFlipped);
  EXPECT_EQ(pull_->streams(), 1);
  EXPECT_TRUE(absl::StrContains(mover_->stats().last_error, "stays FLIPPED"))
      << mover_->stats().last_error;
  expect_shard_kept("after the gap in the pass that flipped the move");
  // Two more passes, each on the view that still shows INITIALIZING.
  for (uint64_t pass = 2; pass <= 3; ++pass) {
    mover_->OnPlacement();
    ASSERT_TRUE(historian::testing::WaitFor([&] { return mover_->stats().errors >= pass; },
                                            absl::Seconds(60)))
        << "pass " << pass << " did not fail; last error: " << mover_->stats().last_error;
    expect_shard_kept(
        absl::StrCat("after the gap in pass ", pass, ", on a view showing INITIALIZING"));
  }
  const ShardMover::Stats stats = mover_->stats();
  EXPECT_EQ(StateInEtcd(), ShardMoveState::kFlipped);
  EXPECT_EQ(stats.copies, 1u) << "a FLIPPED shard is never copied again";
  EXPECT_EQ(pull_->streams(), 3);
  EXPECT_TRUE(absl::StrContains(stats.last_error, "past this move's cursor")) << stats.last_error;
  EXPECT_TRUE(absl::StrContains(stats.last_error, "no longer INITIALIZING in etcd"))
      << stats.last_error;
}

}  // namespace
}  // namespace historian::cluster
