// File: listing_scope_test.cc
// Globs and listings across a placement change (server/cluster/
// listing_scope.h). In process: three members (d holds nothing), each a
// real Store behind the real Catalog and Query services on 127.0.0.1, with
// views set by the test. When the coordinator splits a ListTags or a
// Latest glob by one placement and a member it asks holds another giving it
// other shards (the coordinator behind the move, or the member), the answer
// is ABORTED, never OK without the moved shard's tags; a member without a
// placement refuses a coordinator's part (UNAVAILABLE); once all agree, the
// answer holds every tag. The scope's own checks: a member whose shards
// change during its scan, and a coordinator whose own shards change around
// its part, refuse.
#include "server/cluster/listing_scope.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/rpc_env.h"
#include "tests/server/cluster/in_process_members.h"

namespace historian::cluster {
namespace {

class ListingScopeTest : public InProcessMembers {
 protected:
  void SetUp() override {
    InProcessMembers::SetUp();
    // Two tags of every shard, each at its owner.
    std::map<uint32_t, int> per_shard;
    for (int n = 0; static_cast<int>(all_.size()) < 2 * static_cast<int>(kShards); ++n) {
      const std::string name = absl::StrCat("plant.list.t", n);
      const uint32_t shard = before_->ShardOfTag(name);
      if (per_shard[shard] >= 2) continue;
      ++per_shard[shard];
      all_.insert(name);
      if (shard == kMoved) moved_.insert(name);
      WriteSample(shard < 4 ? kA : kB, name, kT0, n);
    }
  }

  // ListTags "plant.list.*" asked of a; the names, or the status.
  grpc::Status ListAtA(std::set<std::string>* names) {
    auto stub = v1::Catalog::NewStub(ChannelTo(kA));
    v1::ListTagsRequest request;
    request.set_glob("plant.list.*");
    request.set_page_size(1000);
    grpc::ClientContext ctx;
    v1::ListTagsResponse response;
    grpc::Status s = stub->ListTags(&ctx, request, &response);
    for (const v1::Tag& t : response.tags()) names->insert(t.name());
    EXPECT_TRUE(response.next_page_token().empty());
    return s;
  }
  // Latest of the glob "plant.list.*" asked of a.
  grpc::Status LatestAtA(std::set<std::string>* names) {
    auto stub = v1::Query::NewStub(ChannelTo(kA));
    v1::LatestRequest request;
    request.set_glob("plant.list.*");
    grpc::ClientContext ctx;
    v1::LatestResponse response;
    grpc::Status s = stub->Latest(&ctx, request, &response);
    for (const v1::LatestValue& v : response.values()) names->insert(v.tag());
    return s;
  }

  std::set<std::string> all_, moved_;
};

TEST_F(ListingScopeTest, AMemberOnAnotherPlacementRefusesItsPartInsteadOfAShortAnswer) {
  ASSERT_EQ(moved_.size(), 2u);
  std::set<std::string> names;
  ASSERT_TRUE(ListAtA(&names).ok());
  EXPECT_EQ(names, all_);
  names.clear();
  ASSERT_TRUE(LatestAtA(&names).ok());
  EXPECT_EQ(names, all_);

  // b saw the move of kMoved to d; a (the coordinator) did not yet: a asks
  // b for shards 4-7, b owns only 4, 6 and 7 now, and d is not asked.
  members_[1].view->Set(after_);
  for (bool list : {true, false}) {
    names.clear();
    grpc::Status s = list ? ListAtA(&names) : LatestAtA(&names);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED)
        << "answered " << names.size() << " of " << all_.size() << " tags: " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "the placement changed")) << s.error_message();
  }

  // The other way round: a and d saw it, b did not. a asks b for 4, 6 and
  // 7 and d for 5: b refuses, as its shards differ.
  members_[0].view->Set(after_);
  members_[1].view->Set(before_);
  members_[2].view->Set(after_);
  for (bool list : {true, false}) {
    names.clear();
    grpc::Status s = list ? ListAtA(&names) : LatestAtA(&names);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED)
        << "answered " << names.size() << " of " << all_.size() << " tags: " << s.error_message();
  }

  // Every member on the first placement again: every tag.
  members_[0].view->Set(before_);
  members_[2].view->Set(before_);
  names.clear();
  ASSERT_TRUE(ListAtA(&names).ok());
  EXPECT_EQ(names, all_);
}

TEST_F(ListingScopeTest, AMemberWithoutAPlacementRefusesACoordinatorsPart) {
  // b lost its placement (as at a start without etcd or cache): it cannot
  // tell its own tags, and a part the coordinator split by a placement is
  // refused rather than answered with everything b holds.
  members_[1].view->Set(nullptr);
  members_[1].view->SetReadFromEtcd(false);
  std::set<std::string> names;
  grpc::Status s = ListAtA(&names);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "answered " << names.size() << " of " << all_.size() << " tags: " << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "has no placement yet")) << s.error_message();
  // The same at the coordinator, asked directly.
  members_[0].view->Set(nullptr);
  members_[0].view->SetReadFromEtcd(false);
  names.clear();
  s = ListAtA(&names);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "answered " << names.size() << " tags: " << s.error_message();
  // A node that read etcd and found no placement (no `cluster init` yet)
  // owns all it holds: a's own tags.
  members_[0].view->SetReadFromEtcd(true);
  names.clear();
  ASSERT_TRUE(ListAtA(&names).ok());
  EXPECT_EQ(names.size(), all_.size() / 2);
}

TEST_F(ListingScopeTest, AVerifyPartSplitByAnotherPlacementIsRefused) {
  // Admin.Verify of a site cluster: each member verifies the shards it
  // owns. b saw the move; a coordinator that split by the placement before
  // asks b for shards 4-7: b refuses rather than verify 4, 6 and 7 alone
  // (shard 5 verified by nobody, and the verify equal).
  members_[kB].view->Set(after_);
  auto verify_at_b = [&](const Placement* split_by) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kForwardedMetadataKey, "1");
    if (split_by != nullptr) AddListingPartScope(*split_by, "b", &ctx);
    v1::VerifyRequest request;
    request.set_peer_site("mx");
    v1::VerifyResponse response;
    return v1::Admin::NewStub(ChannelTo(kB))->Verify(&ctx, request, &response);
  };
  grpc::Status s = verify_at_b(before_.get());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "Admin.Verify: the placement changed"))
      << s.error_message();
  // Split by b's own placement: b verifies (here: it has no peers).
  s = verify_at_b(after_.get());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

TEST_F(ListingScopeTest, AMemberWhoseShardsChangeDuringItsScanRefuses) {
  server::ServiceEnv env = Env(kB);
  grpc::ServerContext context;
  auto scope = ListingScope::Begin(env, context, "Catalog.ListTags");
  ASSERT_TRUE(scope.ok()) << scope.status();
  const std::string in_moved = *moved_.begin();
  EXPECT_TRUE(scope->Answers(in_moved));
  EXPECT_TRUE(scope->End().ok());
  members_[1].view->Set(after_);
  // The scan keeps the placement it began with; its end sees the change.
  EXPECT_TRUE(scope->Answers(in_moved));
  absl::Status end = scope->End();
  EXPECT_EQ(end.code(), absl::StatusCode::kAborted) << end;
  EXPECT_TRUE(absl::StrContains(end.message(), "Catalog.ListTags")) << end;
  // A change that leaves b's shards alone (a revision of its own) does not.
  members_[1].view->Set(before_);
  auto again = ListingScope::Begin(env, context, "Catalog.ListTags");
  ASSERT_TRUE(again.ok());
  members_[1].view->Set(Make(false, 12));
  EXPECT_TRUE(again->End().ok());
}

TEST_F(ListingScopeTest, ACoordinatorWhoseOwnShardsChangeAroundItsPartRefuses) {
  // a's own shards: 0-3 in both placements; b's change. Seen from b as the
  // coordinator, split by `before_`.
  StaticClusterView& view = *members_[1].view;
  int ran = 0;
  auto part = [&] {
    ++ran;
    return absl::OkStatus();
  };
  EXPECT_TRUE(RunOwnListingPart(view, *before_, "Query.Latest", part).ok());
  EXPECT_EQ(ran, 1);
  // Changed before the part: not run.
  view.Set(after_);
  absl::Status s = RunOwnListingPart(view, *before_, "Query.Latest", part);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_EQ(ran, 1);
  // Changed while the part ran.
  view.Set(before_);
  s = RunOwnListingPart(view, *before_, "Query.Latest", [&] {
    view.Set(after_);
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  // a's shards did not change: its part stands.
  EXPECT_TRUE(RunOwnListingPart(*members_[0].view, *after_, "Query.Latest", part).ok());
}

}  // namespace
}  // namespace historian::cluster
