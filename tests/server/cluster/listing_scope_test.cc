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

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/rpc_env.h"
#include "server/services.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::cluster {
namespace {

constexpr uint32_t kShards = 8;
constexpr uint32_t kMoved = 5;  // b's, moving to d
constexpr int64_t kT0 = int64_t{1795428000} * 1000000000;

// a owns shards 0-3, b 4-7; `moved`: shard kMoved is d's (FLIPPED to it,
// as a placement without the move: what matters is who owns it).
std::shared_ptr<const Placement> MakePlacement(const std::string& a_address,
                                               const std::string& b_address,
                                               const std::string& d_address, bool moved,
                                               int64_t revision) {
  std::vector<uint32_t> owner = {0, 0, 0, 0, 1, 1, 1, 1};
  if (moved) owner[kMoved] = 2;
  auto p = Placement::Create("us", kShards, {{"a", a_address}, {"b", b_address}, {"d", d_address}},
                             owner, revision);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::make_shared<const Placement>(*std::move(p));
}

// One member: a store holding the tags of the shards it owns in the first
// placement (d: none), its Catalog and Query services, its view.
struct Member {
  std::unique_ptr<Store> store;
  std::unique_ptr<StaticClusterView> view;
  std::unique_ptr<server::CatalogService> catalog;
  std::unique_ptr<server::QueryService> query;
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

class ListingScopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    channels_ = std::make_unique<MemberChannels>(nullptr);
    for (int m = 0; m < 3; ++m) {
      Member& member = members_[m];
      StoreOptions o;
      o.path = dir_.Sub(kIds[m]);
      o.site = "us";
      o.sync_writes = false;
      auto s = Store::Open(std::move(o));
      ASSERT_TRUE(s.ok()) << s.status();
      member.store = *std::move(s);
      member.view = std::make_unique<StaticClusterView>(kIds[m], nullptr);
      server::ServiceEnv env;
      env.store = member.store.get();
      env.cluster = member.view.get();
      env.member_channels = channels_.get();
      member.catalog = std::make_unique<server::CatalogService>(env);
      member.query = std::make_unique<server::QueryService>(env);
      grpc::ServerBuilder builder;
      int port = 0;
      builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
      builder.RegisterService(member.catalog.get());
      builder.RegisterService(member.query.get());
      member.server = builder.BuildAndStart();
      ASSERT_NE(member.server, nullptr);
      member.address = absl::StrCat("127.0.0.1:", port);
    }
    before_ = Make(false, 10);
    after_ = Make(true, 11);
    for (Member& m : members_) m.view->Set(before_);
    // Two tags of every shard, each at its owner.
    std::map<uint32_t, int> per_shard;
    for (int n = 0; static_cast<int>(all_.size()) < 2 * static_cast<int>(kShards); ++n) {
      const std::string name = absl::StrCat("plant.list.t", n);
      const uint32_t shard = before_->ShardOfTag(name);
      if (per_shard[shard] >= 2) continue;
      ++per_shard[shard];
      all_.insert(name);
      if (shard == kMoved) moved_.insert(name);
      Store* store = members_[shard < 4 ? 0 : 1].store.get();
      auto t = store->ResolveTagForWrite(name, ValueType::kDouble);
      ASSERT_TRUE(t.ok()) << t.status();
      WriteInput in;
      engine::SeriesData sd;
      sd.tag = t->id;
      sd.cols.Reset(ValueType::kDouble);
      sd.cols.timestamps.push_back(kT0);
      sd.cols.doubles.push_back(n);
      sd.cols.qualities.push_back(0);
      in.series.push_back(std::move(sd));
      ASSERT_TRUE(store->Write(std::move(in)).ok());
    }
  }

  std::shared_ptr<const Placement> Make(bool moved, int64_t revision) const {
    return MakePlacement(members_[0].address, members_[1].address, members_[2].address, moved,
                         revision);
  }

  void TearDown() override {
    for (Member& m : members_) {
      if (m.server != nullptr) m.server->Shutdown();
    }
  }

  // ListTags "plant.list.*" asked of a; the names, or the status.
  grpc::Status ListAtA(std::set<std::string>* names) {
    auto stub = v1::Catalog::NewStub(
        grpc::CreateChannel(members_[0].address, grpc::InsecureChannelCredentials()));
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
    auto stub = v1::Query::NewStub(
        grpc::CreateChannel(members_[0].address, grpc::InsecureChannelCredentials()));
    v1::LatestRequest request;
    request.set_glob("plant.list.*");
    grpc::ClientContext ctx;
    v1::LatestResponse response;
    grpc::Status s = stub->Latest(&ctx, request, &response);
    for (const v1::LatestValue& v : response.values()) names->insert(v.tag());
    return s;
  }

  historian::testing::TempDir dir_;
  std::unique_ptr<MemberChannels> channels_;
  static constexpr const char* kIds[3] = {"a", "b", "d"};
  Member members_[3];
  std::shared_ptr<const Placement> before_, after_;
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

TEST_F(ListingScopeTest, AMemberWhoseShardsChangeDuringItsScanRefuses) {
  server::ServiceEnv env;
  env.store = members_[1].store.get();
  env.cluster = members_[1].view.get();
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
