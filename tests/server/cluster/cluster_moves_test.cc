// File: cluster_moves_test.cc
// Issue 21's foundation through real processes (etcd + real historiand
// nodes, ClusterFixture, the real `historian` CLI): `cluster add-node` and
// `remove-node` write the planned placement (members, moves PENDING,
// owners unchanged) that every node serves; `cluster status` prints the
// moves; two operators racing on the same revision: exactly one wins, the
// other gets ABORTED naming the change; a change is refused while moves are
// in progress; and during the moves every node still routes writes by owner
// (a batch sent to the new member, which owns nothing yet, lands on the
// owners and is read back through any node).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"

namespace historian::testing {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;

std::vector<uint32_t> Owners(const v1::PlacementResponse& p) {
  return {p.shard_owner().begin(), p.shard_owner().end()};
}

class ClusterMovesTest : public ::testing::Test {
 protected:
  // Four nodes, the first three placed over 64 shards; node 3 registered.
  void SetUp() override {
    cluster_ = std::make_unique<ClusterFixture>(
        dir_.Sub("cluster"),
        ClusterFixtureOptions{.nodes = 4,
                              .num_shards = 64,
                              // The plans stay as written: no mover runs.
                              .node_flags = {"--cluster_move_test_pause=start"},
                              .placed_nodes = 3});
    ASSERT_TRUE(cluster_->Start());
    ASSERT_TRUE(cluster_->Placement(0, &initial_).ok());
    ASSERT_EQ(initial_.members_size(), 3);
    ASSERT_EQ(initial_.moves_size(), 0);
  }

  // Every running node serves a placement at `revision` or later.
  bool AllServe(int64_t revision, v1::PlacementResponse* seen) {
    return cluster_->WaitForPlacement(
        [&](const v1::PlacementResponse& p) {
          if (p.revision() < revision) return false;
          *seen = p;
          return true;
        },
        absl::Seconds(30));
  }

  int64_t RevisionFromStatus() {
    CommandResult r = cluster_->Cli(1, {"cluster", "status", "--format", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t at = r.out.find("\"placement_revision\":");
    EXPECT_NE(at, std::string::npos) << r.out;
    const size_t digits = r.out.find_first_of("0123456789", at);
    return std::stoll(r.out.substr(digits));
  }

  TempDir dir_;
  std::unique_ptr<ClusterFixture> cluster_;
  v1::PlacementResponse initial_;
};

TEST_F(ClusterMovesTest, AddNodeWritesTheMinimalPlanAndEveryNodeKeepsRoutingByOwner) {
  const int64_t revision = RevisionFromStatus();
  ASSERT_EQ(revision, initial_.revision());

  // Two operators race from the same status: exactly one wins.
  CommandResult first = cluster_->Cli(
      0, {"cluster", "add-node", cluster_->address(3), absl::StrCat("--if-revision=", revision)});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_TRUE(absl::StrContains(first.out, "16 of 64 shards to move (PENDING, at most 2 at once)"))
      << first.out;
  CommandResult second = cluster_->Cli(2, {"cluster", "remove-node", cluster_->member_id(0),
                                           absl::StrCat("--if-revision=", revision)});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(second.err, "ABORTED")) << second.err;
  EXPECT_TRUE(absl::StrContains(second.err, absl::StrCat("(expected revision ", revision, ")")))
      << second.err;
  EXPECT_TRUE(absl::StrContains(second.err, "a change is in progress: 16 move(s) in progress"))
      << second.err;

  // Every node serves the plan: node 3 a member owning nothing yet, the
  // owners as before (routing changes only at each move's flip).
  v1::PlacementResponse plan;
  ASSERT_TRUE(AllServe(revision + 1, &plan));
  ASSERT_EQ(plan.members_size(), 4);
  EXPECT_EQ(plan.members(3).address(), cluster_->address(3));
  EXPECT_EQ(plan.members(3).id(), cluster_->member_id(3));
  EXPECT_EQ(Owners(plan), Owners(initial_));
  ASSERT_EQ(plan.moves_size(), 16);
  EXPECT_EQ(plan.max_concurrent_moves(), 2u);
  std::vector<int> given(3, 0);
  for (const v1::ShardMove& m : plan.moves()) {
    EXPECT_EQ(m.to(), 3u);
    EXPECT_EQ(m.from(), plan.shard_owner(static_cast<int>(m.shard())));
    EXPECT_EQ(m.state(), v1::SHARD_MOVE_PENDING);
    ++given[m.from()];
  }
  for (int g : given) EXPECT_TRUE(g == 5 || g == 6) << g;  // evenly from the three

  // status shows the moves.
  CommandResult status = cluster_->Cli(1, {"cluster", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(
      absl::StrContains(status.out, "moves:              16 in progress (at most 2 at once)"))
      << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "PENDING")) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, cluster_->member_id(3))) << status.out;

  // Another change while moves are in progress: refused, naming them.
  CommandResult busy = cluster_->Cli(0, {"cluster", "remove-node", cluster_->address(1)});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(busy.err, "FAILED_PRECONDITION")) << busy.err;
  EXPECT_TRUE(absl::StrContains(busy.err, "a placement change is in progress")) << busy.err;
  EXPECT_TRUE(absl::StrContains(busy.err, absl::StrCat("->", cluster_->member_id(3), " PENDING")))
      << busy.err;

  // Writes during the moves: sent to node 3, stored by the owners, read
  // back through node 0.
  v1::WriteRequest batch;
  batch.set_client_id("moves-test");
  batch.set_batch_sequence(1);
  constexpr int kTags = 40;
  for (int t = 0; t < kTags; ++t) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(absl::StrCat("moves.m", t, ".pv"));
    for (int j = 0; j < 5; ++j) {
      v1::Sample* s = series->add_samples();
      s->set_timestamp_ns(kT0 + j * kSecond);
      s->mutable_value()->set_double_value(t + j);
    }
  }
  {
    auto stub = v1::Ingest::NewStub(
        grpc::CreateChannel(cluster_->address(3), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::WriteAck ack;
    grpc::Status s = stub->WriteBatch(&ctx, batch, &ack);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(ack.accepted_count(), kTags * 5u);
  }
  auto query = v1::Query::NewStub(
      grpc::CreateChannel(cluster_->address(0), grpc::InsecureChannelCredentials()));
  v1::ReadRequest read;
  for (int t = 0; t < kTags; ++t) read.add_tags(absl::StrCat("moves.m", t, ".pv"));
  read.set_start_ns(kT0);
  read.set_end_ns(kT0 + 60 * kSecond);
  grpc::ClientContext ctx;
  auto reader = query->Read(&ctx, read);
  v1::ReadResponse r;
  int64_t n = 0;
  while (reader->Read(&r)) n += r.samples_size() + r.columns().timestamp_deltas_ns_size();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, kTags * 5);
}

TEST_F(ClusterMovesTest, RemoveNodeSpreadsItsShardsEvenlyAndMarksItLeaving) {
  // Node 3 is not in the placement: it cannot be removed; an unregistered
  // address cannot be added.
  CommandResult unknown = cluster_->Cli(0, {"cluster", "remove-node", cluster_->address(3)});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unknown.err, "is no member of the placement")) << unknown.err;
  CommandResult unregistered = cluster_->Cli(0, {"cluster", "add-node", "127.0.0.1:1"});
  EXPECT_NE(unregistered.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(unregistered.err, "'127.0.0.1:1' is not registered"))
      << unregistered.err;

  CommandResult removed =
      cluster_->Cli(1, {"cluster", "remove-node", cluster_->address(2), "--concurrency=3"});
  ASSERT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  EXPECT_TRUE(absl::StrContains(removed.out, "(leaving)")) << removed.out;
  v1::PlacementResponse plan;
  ASSERT_TRUE(AllServe(initial_.revision() + 1, &plan));
  ASSERT_EQ(plan.members_size(), 3);
  // Placement order is by member id, not node number.
  uint32_t gone = 3;
  for (int i = 0; i < plan.members_size(); ++i) {
    if (plan.members(i).address() == cluster_->address(2)) gone = static_cast<uint32_t>(i);
  }
  ASSERT_LT(gone, 3u);
  for (int i = 0; i < plan.members_size(); ++i) {
    EXPECT_EQ(plan.members(i).leaving(), static_cast<uint32_t>(i) == gone) << i;
  }
  EXPECT_EQ(Owners(plan), Owners(initial_));
  EXPECT_EQ(plan.max_concurrent_moves(), 3u);
  const int owned = static_cast<int>(
      std::count(initial_.shard_owner().begin(), initial_.shard_owner().end(), gone));
  ASSERT_EQ(plan.moves_size(), owned);
  std::vector<int> gets(3, 0);
  for (const v1::ShardMove& m : plan.moves()) {
    EXPECT_EQ(m.from(), gone);
    EXPECT_NE(m.to(), gone);
    ++gets[m.to()];
  }
  std::vector<int> others;
  for (uint32_t i = 0; i < 3; ++i) {
    if (i != gone) others.push_back(gets[i]);
  }
  EXPECT_LE(std::abs(others[0] - others[1]), 1) << others[0] << " " << others[1];
  CommandResult status = cluster_->Cli(0, {"cluster", "status"});
  EXPECT_TRUE(absl::StrContains(status.out, "! leaving")) << status.out;
}

TEST_F(ClusterMovesTest, CancelMovesKeepsTheOwnersAndEndsTheRemoval) {
  CommandResult nothing = cluster_->Cli(0, {"cluster", "cancel-moves"});
  EXPECT_NE(nothing.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(nothing.err, "no PENDING move to cancel")) << nothing.err;

  CommandResult removed = cluster_->Cli(1, {"cluster", "remove-node", cluster_->address(2)});
  ASSERT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  v1::PlacementResponse plan;
  ASSERT_TRUE(AllServe(initial_.revision() + 1, &plan));
  ASSERT_GE(plan.moves_size(), 2);
  const uint32_t first = plan.moves(0).shard();

  // One shard by number; a shard without a move and a bad number are refused.
  uint32_t unmoved = 0;
  while (std::any_of(plan.moves().begin(), plan.moves().end(),
                     [&](const v1::ShardMove& m) { return m.shard() == unmoved; })) {
    ++unmoved;
  }
  CommandResult none = cluster_->Cli(0, {"cluster", "cancel-moves", std::to_string(unmoved)});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(none.err, absl::StrCat("shard ", unmoved, " has no move")))
      << none.err;
  CommandResult bad = cluster_->Cli(0, {"cluster", "cancel-moves", "x1"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(bad.err, "'x1' is not a shard number")) << bad.err;
  // A stale revision loses, as for any change.
  CommandResult stale = cluster_->Cli(
      0, {"cluster", "cancel-moves", "--if-revision", std::to_string(initial_.revision())});
  EXPECT_NE(stale.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(stale.err, "placement changed at revision")) << stale.err;

  CommandResult one = cluster_->Cli(0, {"cluster", "cancel-moves", std::to_string(first)});
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;
  EXPECT_TRUE(absl::StrContains(one.out, absl::StrCat(plan.moves_size() - 1, " move(s) left")))
      << one.out;
  v1::PlacementResponse after_one;
  ASSERT_TRUE(AllServe(plan.revision() + 1, &after_one));
  EXPECT_EQ(after_one.moves_size(), plan.moves_size() - 1);
  EXPECT_EQ(Owners(after_one), Owners(initial_));
  // The removed member keeps a shard: it is no longer leaving.
  for (const v1::ClusterMember& m : after_one.members()) EXPECT_FALSE(m.leaving()) << m.id();

  // The rest at once; every owner is as before the change, no moves left.
  CommandResult rest = cluster_->Cli(1, {"cluster", "cancel-moves"});
  ASSERT_EQ(rest.exit_code, 0) << rest.out << rest.err;
  EXPECT_TRUE(absl::StrContains(rest.out, "0 move(s) left")) << rest.out;
  v1::PlacementResponse done;
  ASSERT_TRUE(AllServe(after_one.revision() + 1, &done));
  EXPECT_EQ(done.moves_size(), 0);
  EXPECT_EQ(done.max_concurrent_moves(), 0u);
  EXPECT_EQ(Owners(done), Owners(initial_));
  EXPECT_EQ(done.members_size(), 3);
  // A new change can be planned again.
  CommandResult again = cluster_->Cli(0, {"cluster", "add-node", cluster_->address(3)});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

}  // namespace
}  // namespace historian::testing
