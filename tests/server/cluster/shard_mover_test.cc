// File: shard_mover_test.cc
// The target side of a shard move (ShardMover, docs/cluster.md "Moving
// shards") in process, against a real etcd and a source served over gRPC
// on 127.0.0.1: a real Store behind the real Cluster.CopyShard, and a
// Replication.Pull that answers from a script, so the source's log can be
// "trimmed past the move's cursor" (a gap) at an exact step. A gap while
// the move is INITIALIZING wipes the copy and copies again; a gap after
// this node flipped the move (before it opened the shard) rolls the move
// back to its source, and it starts over; a pass whose view still shows the
// move INITIALIZING wipes nothing.
#include "server/cluster/shard_mover.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "historian/v1/replication.grpc.pb.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/cluster_service.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/placement.h"
#include "server/cluster/shard_drop_gate.h"
#include "server/cluster/shard_janitor.h"
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

std::unique_ptr<Store> OpenStore(
    const std::string& path,
    std::function<absl::Status(uint32_t, uint64_t)> drop_shard_fault = nullptr) {
  StoreOptions o;
  o.path = path;
  o.site = "us";
  o.sync_writes = false;
  o.seal_interval = absl::Hours(1);
  o.drop_shard_fault = std::move(drop_shard_fault);
  auto s = Store::Open(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Holds the first DropShard batch of a store (its drop_shard_fault) until
// released.
class DropLatch {
 public:
  std::function<absl::Status(uint32_t, uint64_t)> Fault() {
    return [this](uint32_t, uint64_t) {
      absl::MutexLock l(&mu_);
      if (calls_++ > 0) return absl::OkStatus();
      entered_ = true;
      mu_.Await(absl::Condition(&released_));
      return absl::OkStatus();
    };
  }
  bool WaitEntered(absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&entered_), timeout);
  }
  void Release() {
    absl::MutexLock l(&mu_);
    released_ = true;
  }

 private:
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool entered_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

struct StartOptions {
  ShardMoveState state = ShardMoveState::kInitializing;
  // b's view starts on the placement before the move (a owns every shard,
  // no move); ShowTheMove() moves it on.
  bool view_before_the_move = false;
  std::function<absl::Status(uint32_t, uint64_t)> target_drop_fault;
  ShardDropGate* drop_gate = nullptr;
};

class ShardMoverTest : public EtcdTest {
 protected:
  // Source "a" (served here) owns every shard; kMoving moves from a to
  // "b" (the mover's node), INITIALIZING (or `start.state`), in etcd and
  // in b's view (unless `start.view_before_the_move`).
  void Start(std::function<std::vector<Answer>(int)> script, StartOptions start = {}) {
    source_store_ = OpenStore(dir_.Sub("source"));
    target_store_ = OpenStore(dir_.Sub("target"), std::move(start.target_drop_fault));
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

    const std::vector<PlacementMember> members = {{"a", absl::StrCat("127.0.0.1:", port)},
                                                  {"b", "127.0.0.1:1"}};
    auto before = Placement::Create("us", kShards, members, std::vector<uint32_t>(kShards, 0), 0,
                                    PlacementMoves());
    ASSERT_TRUE(before.ok()) << before.status();
    before_ = std::make_shared<const Placement>(*std::move(before));
    PlacementMoves moves;
    moves.moves = {{kMoving, 0, 1, start.state, 1}};
    moves.max_concurrent = 1;
    auto plan =
        Placement::Create("us", kShards, members, std::vector<uint32_t>(kShards, 0), 0, moves);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const int64_t revision = MustPut(PlacementKey("us"), plan->Encode());
    auto stored = Placement::Decode(plan->Encode(), revision);
    ASSERT_TRUE(stored.ok());
    moving_ = std::make_shared<const Placement>(*std::move(stored));
    source_view_->Set(moving_);
    target_view_ =
        std::make_unique<StaticClusterView>("b", start.view_before_the_move ? before_ : moving_);

    channels_ = std::make_unique<MemberChannels>(nullptr);
    ShardMoverOptions options;
    options.site = "us";
    // The test wakes each pass after the first (OnPlacement): it knows
    // which pass saw what.
    options.retry = absl::Hours(1);
    options.drop_gate = start.drop_gate;
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
      std::vector<std::pair<int64_t, double>> samples;
      for (int j = 0; j < kSamplesPerTag; ++j) {
        samples.emplace_back(kT0 + int64_t{j} * 1000000000, n * 1000 + j);
      }
      ASSERT_NO_FATAL_FAILURE(WriteDoubles(source_store_.get(), name, samples));
    }
    ASSERT_TRUE(source_store_->SealAll().ok());
  }

  // (time, value) samples of the double tag `name` into `store`, Good.
  static void WriteDoubles(Store* store, const std::string& name,
                           const std::vector<std::pair<int64_t, double>>& samples) {
    auto t = store->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(t.ok()) << t.status();
    WriteInput in;
    engine::SeriesData sd;
    sd.tag = t->id;
    sd.cols.Reset(ValueType::kDouble);
    for (const auto& [ts, value] : samples) {
      sd.cols.timestamps.push_back(ts);
      sd.cols.doubles.push_back(value);
      sd.cols.qualities.push_back(0);
    }
    in.series.push_back(std::move(sd));
    ASSERT_TRUE(store->Write(std::move(in)).ok());
  }

  // b's view moves on to the placement with the move; the mover looks.
  void ShowTheMove() {
    target_view_->Set(moving_);
    mover_->OnPlacement();
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

  // What the source writes once it sees the flip (PublishFence): the
  // target tails to `position` before it opens the shard.
  void PublishFenceAsTheSource(uint64_t position) {
    auto kv = client_->Get(PlacementKey("us"));
    ASSERT_TRUE(kv.ok() && kv->kvs.size() == 1);
    auto p = Placement::Decode(kv->kvs[0].value, kv->kvs[0].mod_revision);
    ASSERT_TRUE(p.ok()) << p.status();
    const ShardMove* m = p->MoveOfShard(kMoving);
    ASSERT_TRUE(m != nullptr && m->state == ShardMoveState::kFlipped);
    MoveFence fence;
    fence.from = "a";
    fence.to = "b";
    fence.flipped_unix_ns = m->since_unix_ns;
    fence.position = position;
    fence.clock = 1;
    MustPut(MoveFenceKey("us", kMoving), EncodeMoveFence(fence));
  }

  // The id of the shard's routing owner in etcd.
  std::string OwnerInEtcd() {
    auto kv = client_->Get(PlacementKey("us"));
    EXPECT_TRUE(kv.ok() && kv->kvs.size() == 1);
    auto p = Placement::Decode(kv->kvs[0].value, kv->kvs[0].mod_revision);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? p->OwnerOfShard(kMoving).id : "";
  }

  std::vector<std::string> names_;
  std::shared_ptr<const Placement> before_, moving_;
  std::unique_ptr<Store> source_store_, target_store_;
  std::unique_ptr<ScriptedPull> pull_;
  std::unique_ptr<StaticClusterView> source_view_, target_view_;
  std::unique_ptr<server::ClusterService> copy_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MemberChannels> channels_;
  std::unique_ptr<ShardMover> mover_;
};

// The target held stale data of the shard (an earlier owner), and its
// janitor planned, on the placement before the move, to drop it; the drop
// is still under way (held at its first batch) when the move to this node
// starts. The start waits for the drop (ShardDropGate), so the drop never
// takes the copy with it: every sample of the source is at the target
// once the copy is made, and none of the stale samples.
TEST_F(ShardMoverTest, AJanitorDropUnderWayWhenAMoveHereStartsNeverDropsTheCopy) {
  ShardDropGate gate;
  DropLatch latch;
  Start([](int) { return std::vector<Answer>{Answer::kCaughtUp}; },
        {.state = ShardMoveState::kPending,
         .view_before_the_move = true,
         .target_drop_fault = latch.Fault(),
         .drop_gate = &gate});
  // The stale data: the same tags, one older sample each.
  constexpr int64_t kStale = kT0 - int64_t{3600} * 1000000000;
  for (const std::string& name : names_) {
    ASSERT_NO_FATAL_FAILURE(WriteDoubles(target_store_.get(), name, {{kStale, -1}}));
  }
  ShardJanitor janitor(target_store_.get(), target_view_.get(), &gate, absl::Hours(1));
  std::thread pass([&] { janitor.RunPass(*before_).IgnoreError(); });
  ASSERT_TRUE(latch.WaitEntered(absl::Seconds(60))) << "the janitor never began the drop";
  ShowTheMove();
  // Either the start waits for the drop, or (without the gate) the copy is
  // made while the drop is held.
  const bool waited = historian::testing::WaitFor(
      [&] { return gate.waits() >= 1 || mover_->stats().copies >= 1; }, absl::Seconds(60));
  latch.Release();
  pass.join();
  ASSERT_TRUE(waited) << "the move neither started nor waited; last error: "
                      << mover_->stats().last_error;
  ASSERT_TRUE(
      historian::testing::WaitFor([&] { return mover_->stats().copies >= 1; }, absl::Seconds(60)))
      << "last error: " << mover_->stats().last_error;
  EXPECT_EQ(TargetSamples(), static_cast<size_t>(kTags * kSamplesPerTag))
      << "the janitor's drop took the copy";
  for (const std::string& name : names_) {
    auto t = target_store_->GetTag(name);
    ASSERT_TRUE(t.ok()) << name << ": " << t.status();
    codec::ChunkColumns out;
    ASSERT_TRUE(target_store_->ReadRaw(t->id, kStale, kT0, 0, &out).ok());
    EXPECT_EQ(out.size(), 0u) << "stale sample kept: " << name;
  }
}

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

TEST_F(ShardMoverTest, AGapAfterThisNodeFlippedRollsTheMoveBackAndItStartsOver) {
  // Stream 0: caught up (step 4 ends, the target flips), then the gap in
  // step 6 on the same stream. Stream 1 (a pass whose view still shows the
  // move INITIALIZING): the gap at once. Stream 2 (the move started over):
  // caught up.
  Start([](int n) {
    if (n == 0) return std::vector<Answer>{Answer::kCaughtUp, Answer::kGap};
    if (n == 1) return std::vector<Answer>{Answer::kGap};
    return std::vector<Answer>{Answer::kCaughtUp};
  });
  // The target tails on (and meets the gap) once the source's fence is in
  // etcd, past what it has applied.
  ASSERT_TRUE(historian::testing::WaitFor([&] { return StateInEtcd() == ShardMoveState::kFlipped; },
                                          absl::Seconds(60)))
      << "the move never flipped; last error: " << mover_->stats().last_error;
  PublishFenceAsTheSource(/*position=*/1000000);
  ASSERT_TRUE(
      historian::testing::WaitFor([&] { return mover_->stats().errors >= 1; }, absl::Seconds(60)));
  EXPECT_TRUE(absl::StrContains(mover_->stats().last_error, "the move was rolled back"))
      << mover_->stats().last_error;
  EXPECT_EQ(mover_->stats().moves_rolled_back, 1u);
  // The source owns the shard again; the move waits to start over. This
  // node never opened the shard: it stays closed to own writes here.
  EXPECT_EQ(StateInEtcd(), ShardMoveState::kPending);
  EXPECT_EQ(OwnerInEtcd(), "a");
  EXPECT_EQ(target_store_->ClosedShards().count(kMoving), 1u);
  EXPECT_EQ(pull_->streams(), 1);

  // A pass on the view that still shows INITIALIZING finds the gap again:
  // etcd says the move is not INITIALIZING, so nothing is wiped.
  mover_->OnPlacement();
  ASSERT_TRUE(
      historian::testing::WaitFor([&] { return mover_->stats().errors >= 2; }, absl::Seconds(60)));
  EXPECT_TRUE(absl::StrContains(mover_->stats().last_error, "no longer INITIALIZING in etcd"))
      << mover_->stats().last_error;
  EXPECT_EQ(TargetSamples(), static_cast<size_t>(kTags * kSamplesPerTag));
  EXPECT_EQ(mover_->stats().copies, 1u);

  // On the placement as etcd has it, the move starts over: wipe, a new
  // copy, the tail, the flip.
  auto kv = client_->Get(PlacementKey("us"));
  ASSERT_TRUE(kv.ok() && kv->kvs.size() == 1);
  auto now = Placement::Decode(kv->kvs[0].value, kv->kvs[0].mod_revision);
  ASSERT_TRUE(now.ok()) << now.status();
  target_view_->Set(std::make_shared<const Placement>(*std::move(now)));
  mover_->OnPlacement();
  ASSERT_TRUE(historian::testing::WaitFor(
      [&] { return StateInEtcd() == ShardMoveState::kFlipped && mover_->stats().copies == 2; },
      absl::Seconds(60)))
      << "the move did not start over; last error: " << mover_->stats().last_error;
  EXPECT_EQ(OwnerInEtcd(), "b");
  EXPECT_EQ(pull_->streams(), 3);
  EXPECT_EQ(TargetSamples(), static_cast<size_t>(kTags * kSamplesPerTag));
  EXPECT_EQ(mover_->stats().moves_rolled_back, 1u);
}

}  // namespace
}  // namespace historian::cluster
