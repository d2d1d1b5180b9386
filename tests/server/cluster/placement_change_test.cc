// File: placement_change_test.cc
// Cluster.AddNode / RemoveNode's etcd side (EtcdClusterAdmin, issue 21)
// in-process against a real etcd: the plan is written in one Txn on the
// placement's mod revision; of two changes racing exactly one wins (the race
// is made deterministic: the loser's Txn runs after the winner committed,
// through the before-commit test hook); a change is refused while moves are
// in progress, for a node that is not registered, and on a stale
// expected revision.
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/cluster/cluster_admin.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/membership.h"
#include "server/cluster/placement.h"
#include "storage/engine/version.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

class PlacementChangeTest : public EtcdTest {
 protected:
  std::unique_ptr<Membership> Join(const std::string& id, const std::string& address,
                                   int64_t isolation_fence_ms = 0) {
    MembershipOptions m;
    m.site = "us";
    m.member_id = id;
    m.record = {address, 1, kClusterFormatVersion, isolation_fence_ms};
    m.lease_ttl_seconds = 5;
    auto member = std::make_unique<Membership>(client_.get(), m);
    EXPECT_TRUE(testing::WaitFor([&] { return member->registered(); }, absl::Seconds(10)));
    return member;
  }
  Placement Stored() {
    auto kv = client_->Get(PlacementKey("us"));
    EXPECT_TRUE(kv.ok() && kv->kvs.size() == 1);
    auto p = Placement::Decode(kv->kvs[0].value, kv->kvs[0].mod_revision);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }
  static v1::AddNodeRequest Add(std::string node, int64_t expected = 0) {
    v1::AddNodeRequest r;
    r.set_node(std::move(node));
    r.set_expected_revision(expected);
    return r;
  }
};

TEST_F(PlacementChangeTest, TwoRacingAddNodesExactlyOneWins) {
  auto a = Join("a", "127.0.0.1:1001");
  EtcdClusterAdmin admin(client_.get(), "us", "a");
  ASSERT_TRUE(admin.Init(16).ok());
  auto b = Join("b", "127.0.0.1:1002");
  auto c = Join("c", "127.0.0.1:1003");
  const int64_t before = Stored().revision();

  // Operator 1 plans adding b; before its Txn, operator 2 adds c.
  EtcdClusterAdmin racing(client_.get(), "us", "a");
  absl::StatusOr<v1::PlacementChangeResponse> winner;
  racing.TEST_SetBeforeCommit([&] { winner = admin.AddNode(Add("127.0.0.1:1003")); });
  absl::StatusOr<v1::PlacementChangeResponse> loser = racing.AddNode(Add("b"));

  ASSERT_TRUE(winner.ok()) << winner.status();
  EXPECT_GT(winner->placement().revision(), before);
  EXPECT_EQ(winner->shards_to_move(), 8u);
  EXPECT_EQ(loser.status().code(), absl::StatusCode::kAborted) << loser.status();
  EXPECT_TRUE(absl::StrContains(
      loser.status().message(),
      absl::StrCat("placement changed at revision ", winner->placement().revision(),
                   " (this change was planned on revision ", before, "): another change won")))
      << loser.status();
  EXPECT_TRUE(absl::StrContains(loser.status().message(), "8 move(s) in progress: shard"))
      << loser.status();
  EXPECT_TRUE(absl::StrContains(loser.status().message(), "a->c PENDING")) << loser.status();

  // etcd holds the winner's plan only: a, c; owners as before; 8 moves to c.
  Placement stored = Stored();
  ASSERT_EQ(stored.members().size(), 2u);
  EXPECT_EQ(stored.members()[1].id, "c");
  EXPECT_EQ(stored.revision(), winner->placement().revision());
  EXPECT_EQ(stored.ShardsOwnedBy("a").size(), 16u) << "routing is unchanged until a flip";
  EXPECT_EQ(stored.moves().moves.size(), 8u);
  EXPECT_EQ(stored.moves().max_concurrent, kDefaultConcurrentMoves);
}

TEST_F(PlacementChangeTest, RefusedWhileMovesAreInProgressOrStaleOrUnregistered) {
  auto a = Join("a", "127.0.0.1:1001");
  auto b = Join("b", "127.0.0.1:1002");
  EtcdClusterAdmin admin(client_.get(), "us", "a");
  ASSERT_TRUE(admin.Init(16).ok());
  const int64_t initial = Stored().revision();

  auto unregistered = admin.AddNode(Add("127.0.0.1:1009"));
  EXPECT_EQ(unregistered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(unregistered.status().message(),
                                "'127.0.0.1:1009' is not registered under /historian/us/members/ "
                                "(registered now: a (127.0.0.1:1001), b (127.0.0.1:1002))"))
      << unregistered.status();
  auto member = admin.AddNode(Add("a"));
  EXPECT_EQ(member.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(member.status().message(), "in the placement already"));

  v1::RemoveNodeRequest remove;
  remove.set_node("127.0.0.1:1002");
  remove.set_expected_revision(initial);
  auto removed = admin.RemoveNode(remove);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->shards_to_move(), 8u);
  EXPECT_TRUE(removed->placement().members(1).leaving());
  Placement stored = Stored();
  EXPECT_EQ(stored.moves().moves.size(), 8u);
  EXPECT_EQ(stored.ShardsOwnedBy("b").size(), 8u) << "b routes its shards until each flip";

  auto c = Join("c", "127.0.0.1:1003");
  auto busy = admin.AddNode(Add("c"));
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(busy.status().message(), "a placement change is in progress"))
      << busy.status();
  EXPECT_TRUE(absl::StrContains(busy.status().message(), "b->a PENDING")) << busy.status();

  auto stale = admin.AddNode(Add("c", initial));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StrContains(stale.status().message(),
                                absl::StrCat("placement changed at revision ", stored.revision(),
                                             " (expected revision ", initial, ")")))
      << stale.status();
  EXPECT_EQ(Stored().revision(), stored.revision()) << "nothing written";
}

// remove-node --lost (EtcdClusterAdmin::RemoveLostNode): refused without
// accept_loss, while the member holds its lease and until its key has been
// gone for its isolation write fence plus a margin; then one Txn removes
// it from the shards it owns and replaces its own fence of a FLIPPED move
// away from it with one written without it (position 0, the clock no
// lower than its), since its target may not have tailed to that position.
TEST_F(PlacementChangeTest, ALostMembersFlippedMoveGetsAFenceWithoutItInTheSameTxn) {
  auto a = Join("a", "127.0.0.1:1001");
  auto b = Join("b", "127.0.0.1:1002");
  auto c = Join("c", "127.0.0.1:1003");
  EtcdClusterAdmin admin(client_.get(), "us", "a");
  ASSERT_TRUE(admin.Init(16).ok());
  // A move c -> a of one of c's shards, FLIPPED (a owns it), with c's fence.
  Placement before = Stored();
  const uint32_t shard = before.ShardsOwnedBy("c").front();
  std::vector<uint32_t> owner = before.shard_owner();
  owner[shard] = static_cast<uint32_t>(before.FindMember("a"));
  PlacementMoves moves;
  moves.max_concurrent = 2;
  moves.moves = {{shard, static_cast<uint32_t>(before.FindMember("c")), owner[shard],
                  ShardMoveState::kFlipped, 1234}};
  auto flipped =
      Placement::Create("us", 16, before.members(), owner, before.revision(), std::move(moves));
  ASSERT_TRUE(flipped.ok()) << flipped.status();
  auto put = client_->PutIfModRevision(PlacementKey("us"), flipped->Encode(), before.revision());
  ASSERT_TRUE(put.ok() && put->committed);
  const uint64_t far_clock = engine::MakeVersion(4000000000, 0);  // ahead of any now here
  ASSERT_TRUE(client_
                  ->Put(MoveFenceKey("us", shard),
                        EncodeMoveFence({"c", "a", 1234, /*position=*/77, far_clock}))
                  .ok());

  v1::RemoveNodeRequest lost;
  lost.set_node("c");
  lost.set_lost(true);
  auto no_accept = admin.RemoveNode(lost);
  EXPECT_EQ(no_accept.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(no_accept.status().message(), "accept_loss: required"))
      << no_accept.status();
  lost.set_accept_loss(true);
  auto alive = admin.RemoveNode(lost);
  EXPECT_EQ(alive.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(alive.status().message(), "is alive (its lease is kept)"))
      << alive.status();

  c.reset();  // its registration goes with it
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto kv = client_->Get(MemberKey("us", "c"));
        return kv.ok() && kv->kvs.empty();
      },
      absl::Seconds(15)));
  // Not before its key has been gone for its isolation write fence (the
  // larger of this node's and the one it published) plus the margin: until
  // then a member cut off from etcd still takes writes of its shards.
  absl::Duration gone_for = absl::Seconds(61);
  absl::Duration published = absl::ZeroDuration();
  std::string asked_id;
  int64_t asked_revision = 0;
  EtcdClusterAdmin waiting(
      client_.get(), "us", "a", nullptr,
      [&](const std::string& id, int64_t revision) -> absl::StatusOr<MemberAbsence> {
        asked_id = id;
        asked_revision = revision;
        return MemberAbsence{gone_for, published};
      },
      absl::Seconds(60));
  const int64_t unchanged = Stored().revision();
  auto early = waiting.RemoveNode(lost);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition) << early.status();
  EXPECT_TRUE(absl::StrContains(early.status().message(), "waits until it has been gone 1m2s"))
      << early.status();
  EXPECT_TRUE(absl::StrContains(early.status().message(), "Retry in 1s")) << early.status();
  EXPECT_EQ(asked_id, "c");
  EXPECT_GE(asked_revision, unchanged);
  // Cluster.Status says how long it has been gone and when --lost may run.
  auto status = waiting.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  for (const v1::ClusterMemberStatus& m : status->members()) {
    EXPECT_EQ(m.gone_seconds(), m.id() == "c" ? 61 : -1) << m.id();
    EXPECT_EQ(m.lost_removal_in_seconds(), m.id() == "c" ? 1 : 0) << m.id();
  }
  published = absl::Seconds(120);
  gone_for = absl::Seconds(100);
  auto longer = waiting.RemoveNode(lost);
  EXPECT_EQ(longer.status().code(), absl::StatusCode::kFailedPrecondition) << longer.status();
  EXPECT_TRUE(absl::StrContains(longer.status().message(), "gone 2m2s")) << longer.status();
  EXPECT_EQ(Stored().revision(), unchanged) << "nothing written while it waits";
  gone_for = absl::Seconds(122);
  auto removed = waiting.RemoveNode(lost);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->shards_reassigned_size(),
            static_cast<int>(before.ShardsOwnedBy("c").size()) - 1);
  Placement after = Stored();
  ASSERT_EQ(after.moves().moves.size(), 1u);
  EXPECT_EQ(after.moves().moves[0].state, ShardMoveState::kFlipped);
  EXPECT_TRUE(after.members()[static_cast<size_t>(after.FindMember("c"))].leaving);
  EXPECT_TRUE(after.ShardsOwnedBy("c").empty());
  auto fence = client_->Get(MoveFenceKey("us", shard));
  ASSERT_TRUE(fence.ok() && fence->kvs.size() == 1);
  auto decoded = DecodeMoveFence(fence->kvs[0].value);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->without_source);
  EXPECT_EQ(decoded->position, 0u);
  EXPECT_EQ(decoded->clock, far_clock);
  EXPECT_EQ(decoded->flipped_unix_ns, 1234);
  EXPECT_EQ(fence->kvs[0].mod_revision, after.revision()) << "written in the placement's Txn";
}

TEST_F(PlacementChangeTest, ALostMemberUnseenByThisNodeWaitsTheSitesWidestFence) {
  auto a = Join("a", "127.0.0.1:1001", /*isolation_fence_ms=*/60000);
  auto c = Join("c", "127.0.0.1:1003", /*isolation_fence_ms=*/600000);  // 10 min
  EtcdClusterAdmin admin(client_.get(), "us", "a");
  ASSERT_TRUE(admin.Init(16).ok());
  ASSERT_FALSE(Stored().ShardsOwnedBy("c").empty());
  // Registering raised the site's widest fence to c's; a member with a
  // narrower one does not lower it.
  auto d = Join("d", "127.0.0.1:1004", /*isolation_fence_ms=*/30000);
  auto widest = [&]() -> int64_t {
    auto kv = client_->Get(SiteIsolationFenceKey("us"));
    if (!kv.ok() || kv->kvs.size() != 1) return -1;
    return DecodeSiteIsolationFence("fence", kv->kvs[0].value).value_or(-2);
  };
  EXPECT_EQ(widest(), 600000);

  c.reset();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto kv = client_->Get(MemberKey("us", "c"));
        return kv.ok() && kv->kvs.empty();
      },
      absl::Seconds(15)));
  // This node never saw c's record (say it started after c was lost): no
  // fence published to it, its own is 60 s. c, cut off, takes writes for
  // 10 min: --lost must wait that long.
  absl::Duration gone_for = absl::Seconds(122);
  EtcdClusterAdmin unseen(
      client_.get(), "us", "a", nullptr,
      [&](const std::string&, int64_t) -> absl::StatusOr<MemberAbsence> {
        return MemberAbsence{gone_for, absl::ZeroDuration()};
      },
      absl::Seconds(60));
  v1::RemoveNodeRequest lost;
  lost.set_node("c");
  lost.set_lost(true);
  lost.set_accept_loss(true);
  const int64_t unchanged = Stored().revision();
  auto early = unseen.RemoveNode(lost);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition) << early.status();
  EXPECT_TRUE(absl::StrContains(early.status().message(), "waits until it has been gone 10m2s"))
      << early.status();
  EXPECT_TRUE(absl::StrContains(early.status().message(), "Retry in 8m")) << early.status();
  EXPECT_EQ(Stored().revision(), unchanged) << "nothing written while it waits";
  auto status = unseen.Status();
  ASSERT_TRUE(status.ok()) << status.status();
  bool saw_c = false;
  for (const v1::ClusterMemberStatus& m : status->members()) {
    if (m.id() != "c") continue;
    saw_c = true;
    EXPECT_EQ(m.lost_removal_in_seconds(), 600 + 2 - 122);
  }
  EXPECT_TRUE(saw_c);
  gone_for = absl::Seconds(602);
  auto removed = unseen.RemoveNode(lost);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(Stored().ShardsOwnedBy("c").empty());

  // An unreadable key is never overwritten (that could lower it): the
  // member does not register and says why.
  ASSERT_TRUE(client_->Put(SiteIsolationFenceKey("us"), "garbage").ok());
  MembershipOptions late;
  late.site = "us";
  late.member_id = "e";
  late.record = {"127.0.0.1:1005", 1, kClusterFormatVersion, /*isolation_fence_ms=*/90000};
  late.lease_ttl_seconds = 5;
  auto e = std::make_unique<Membership>(client_.get(), late);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return e->last_error().code() == absl::StatusCode::kDataLoss; }, absl::Seconds(10)));
  EXPECT_TRUE(absl::StrContains(e->last_error().message(), SiteIsolationFenceKey("us")))
      << e->last_error();
  EXPECT_FALSE(e->registered());
  auto kv = client_->Get(MemberKey("us", "e"));
  ASSERT_TRUE(kv.ok());
  EXPECT_TRUE(kv->kvs.empty());
}

}  // namespace
}  // namespace historian::cluster
