// File: in_process_members.h
// Test fixture: three members of a site cluster in this process (a, b and
// d), each a real Store behind the real Catalog, Query and Admin (no peers) services on
// 127.0.0.1 with the real member channels, and a view the test sets
// (StaticClusterView) in place of etcd. Placements: a owns shards 0-3 of 8
// and b 4-7; Make(moved = true) gives kMoved to d, as a move that flipped
// does. Every view starts on before_ (revision 10); after_ (revision 11)
// is the moved one.
#ifndef HISTORIAN_TESTS_SERVER_CLUSTER_IN_PROCESS_MEMBERS_H_
#define HISTORIAN_TESTS_SERVER_CLUSTER_IN_PROCESS_MEMBERS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/admin_service.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/rpc_env.h"
#include "server/services.h"
#include "storage/store.h"
#include "tests/testutil/temp_dir.h"

namespace historian::cluster {

class InProcessMembers : public ::testing::Test {
 protected:
  static constexpr uint32_t kShards = 8;
  static constexpr uint32_t kMoved = 5;  // b's, moving to d
  static constexpr int64_t kT0 = int64_t{1795428000} * 1000000000;
  enum MemberIndex { kA = 0, kB = 1, kD = 2 };

  struct Member {
    std::unique_ptr<Store> store;
    std::unique_ptr<StaticClusterView> view;
    std::unique_ptr<server::CatalogService> catalog;
    std::unique_ptr<server::QueryService> query;
    std::unique_ptr<server::AdminService> admin;  // no peers
    std::unique_ptr<grpc::Server> server;
    std::string address;
  };

  void SetUp() override {
    channels_ = std::make_unique<MemberChannels>(nullptr);
    for (int m = 0; m < 3; ++m) {
      members_[m].view = std::make_unique<StaticClusterView>(kIds[m], nullptr);
      ASSERT_NO_FATAL_FAILURE(Start(kIds[m], members_[m].view.get(), &members_[m]));
    }
    before_ = Make(false, 10);
    after_ = Make(true, 11);
    for (Member& m : members_) m.view->Set(before_);
  }

  // Opens `member`'s store under `id` and serves its Catalog and Query
  // services on 127.0.0.1 with `view` (kept by the caller).
  void Start(const std::string& id, const ClusterView* view, Member* member) {
    StoreOptions o;
    o.path = dir_.Sub(id);
    o.site = "us";
    o.sync_writes = false;
    auto s = Store::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    member->store = *std::move(s);
    server::ServiceEnv env;
    env.store = member->store.get();
    env.cluster = view;
    env.member_channels = channels_.get();
    member->catalog = std::make_unique<server::CatalogService>(env);
    member->query = std::make_unique<server::QueryService>(env);
    member->admin = std::make_unique<server::AdminService>(env, nullptr);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(member->catalog.get());
    builder.RegisterService(member->query.get());
    builder.RegisterService(member->admin.get());
    member->server = builder.BuildAndStart();
    ASSERT_NE(member->server, nullptr);
    member->address = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    for (Member& m : members_) Stop(&m);
  }
  static void Stop(Member* m) {
    if (m->server != nullptr) m->server->Shutdown();
  }

  // The environment member `m`'s services run with.
  server::ServiceEnv Env(int m) const {
    server::ServiceEnv env;
    env.store = members_[m].store.get();
    env.cluster = members_[m].view.get();
    env.member_channels = channels_.get();
    return env;
  }

  std::shared_ptr<const Placement> Make(bool moved, int64_t revision) const {
    std::vector<uint32_t> owner = {0, 0, 0, 0, 1, 1, 1, 1};
    if (moved) owner[kMoved] = 2;
    auto p = Placement::Create(
        "us", kShards,
        {{"a", members_[0].address}, {"b", members_[1].address}, {"d", members_[2].address}}, owner,
        revision);
    EXPECT_TRUE(p.ok()) << p.status();
    return std::make_shared<const Placement>(*std::move(p));
  }

  // Stores one double sample of `name` (created if new) at member `m`.
  void WriteSample(int m, const std::string& name, int64_t time_ns, double value) {
    Store* store = members_[m].store.get();
    auto t = store->ResolveTagForWrite(name, ValueType::kDouble);
    ASSERT_TRUE(t.ok()) << t.status();
    WriteInput in;
    engine::SeriesData sd;
    sd.tag = t->id;
    sd.cols.Reset(ValueType::kDouble);
    sd.cols.timestamps.push_back(time_ns);
    sd.cols.doubles.push_back(value);
    sd.cols.qualities.push_back(0);
    in.series.push_back(std::move(sd));
    ASSERT_TRUE(store->Write(std::move(in)).ok());
  }

  std::shared_ptr<grpc::Channel> ChannelTo(int m) const { return ChannelTo(members_[m]); }
  static std::shared_ptr<grpc::Channel> ChannelTo(const Member& m) {
    return grpc::CreateChannel(m.address, grpc::InsecureChannelCredentials());
  }

  historian::testing::TempDir dir_;
  std::unique_ptr<MemberChannels> channels_;
  static constexpr const char* kIds[3] = {"a", "b", "d"};
  Member members_[3];
  std::shared_ptr<const Placement> before_, after_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_TESTS_SERVER_CLUSTER_IN_PROCESS_MEMBERS_H_
