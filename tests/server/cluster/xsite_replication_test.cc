// Replication between two site clusters (docs/cluster.md, "Between site
// clusters"): a US cluster of 3 and an MX cluster of 2 real historiand
// nodes, each site with its own real etcd (ClusterFixture), every
// cross-site connection through our fault proxy (one per remote member,
// --peer_address_map). Writes go straight to each tag's owner (the
// site's placement), at both sites, also while the link is cut; after the
// heal both sites converge: `Admin.Verify --peer` (the whole site, fanned
// over both clusters' members) reports equal, per-tag digests are equal
// between the tag's US owner and its MX owner, and each node holds only the
// tags of the shards it owns.
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/metrics_text.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::ClusterFixture;
using testing::FaultProxy;
using testing::WaitFor;

constexpr absl::Duration kConverge = absl::Seconds(90);

std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

// One site: its fixture, its placement, and a proxy per member that the
// other site reaches it through.
struct Site {
  std::string name;
  std::unique_ptr<ClusterFixture> cluster;
  std::vector<std::unique_ptr<FaultProxy>> proxies;
  v1::PlacementResponse placement;

  // The address of the member owning `tag` here.
  std::string OwnerOf(const std::string& tag) const {
    uint32_t shard = TagShard(tag, placement.num_shards());
    return placement.members(placement.shard_owner(shard)).address();
  }
  int NodeOf(const std::string& address) const {
    for (int i = 0; i < cluster->size(); ++i) {
      if (cluster->address(i) == address) return i;
    }
    return -1;
  }
};

// n samples of `tag` at from, from+1, ... (value base+i).
v1::WriteRequest SamplesOf(const std::string& tag, int64_t from, int n, double base) {
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag(tag);
  for (int i = 0; i < n; ++i) {
    auto* sample = s->add_samples();
    sample->set_timestamp_ns(from + i);
    sample->mutable_value()->set_double_value(base + i);
  }
  return req;
}

// Writes SamplesOf(tag, from, n, base) to the tag's owner at `site`.
void Write(const Site& site, const std::string& tag, int64_t from, int n, double base) {
  v1::WriteRequest req = SamplesOf(tag, from, n, base);
  v1::WriteAck ack;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status st = v1::Ingest::NewStub(Channel(site.OwnerOf(tag)))->WriteBatch(&ctx, req, &ack);
  ASSERT_TRUE(st.ok()) << site.name << " " << tag << ": " << st.error_message();
  ASSERT_EQ(ack.accepted_count(), static_cast<uint64_t>(n));
}

grpc::Status Verify(const std::string& address, const std::string& peer, v1::VerifyResponse* r) {
  v1::VerifyRequest req;
  req.set_peer_site(peer);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return v1::Admin::NewStub(Channel(address))->Verify(&ctx, req, r);
}

// The node's own digest of everything it holds (Replication.Digest is
// never fanned out): tag -> its buckets' (start, count, hash).
std::map<std::string, std::vector<std::tuple<int64_t, uint64_t, uint64_t>>> NodeDigest(
    const std::string& address) {
  v1::DigestRequest req;
  req.set_start_ns(0);
  req.set_end_ns(int64_t{1} << 62);
  req.set_bucket_ns(int64_t{1} << 40);
  v1::DigestResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = v1::Replication::NewStub(Channel(address))->Digest(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << address << ": " << st.error_message();
  std::map<std::string, std::vector<std::tuple<int64_t, uint64_t, uint64_t>>> out;
  for (const auto& t : resp.tags()) {
    auto& buckets = out[t.tag().name()];
    for (const auto& b : t.buckets()) buckets.emplace_back(b.start_ns(), b.count(), b.hash());
  }
  return out;
}

uint64_t CountOf(const std::vector<std::tuple<int64_t, uint64_t, uint64_t>>& buckets) {
  uint64_t n = 0;
  for (const auto& b : buckets) n += std::get<1>(b);
  return n;
}

// Writes through `address` (it forwards to the owners), retrying while a
// shard is handed over (UNAVAILABLE) or the placement moved (ABORTED).
void WriteThrough(const std::string& address, const std::string& tag, int64_t from, int n,
                  double base, uint64_t batch) {
  v1::WriteRequest req = SamplesOf(tag, from, n, base);
  req.set_client_id("xsite-move");
  req.set_batch_sequence(batch);
  const absl::Time give_up = absl::Now() + absl::Minutes(2);
  while (true) {
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status st = v1::Ingest::NewStub(Channel(address))->WriteBatch(&ctx, req, &ack);
    if (st.ok()) return;
    const bool retry = st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                       st.error_code() == grpc::StatusCode::ABORTED;
    ASSERT_TRUE(retry && absl::Now() < give_up) << tag << ": " << st.error_message();
    absl::SleepFor(absl::Milliseconds(50));
  }
}

class CrossSiteTest : public ::testing::Test {
 protected:
  // Makes both sites (not started): proxies first (their targets set once
  // the fixtures have picked their ports), then each node's --peers and
  // --peer_address_map through a flag file written before Start.
  // US nodes started, and those placed by init (the others join later).
  virtual int UsNodes() const { return 3; }
  virtual int UsPlaced() const { return 3; }
  virtual std::vector<std::string> UsFlags() const { return {}; }

  void SetUp() override {
    us_.name = "us";
    mx_.name = "mx";
    for (Site* s : {&us_, &mx_}) {
      const int n = s == &us_ ? UsNodes() : 2;
      for (int i = 0; i < n; ++i) {
        s->proxies.push_back(std::make_unique<FaultProxy>("127.0.0.1:1"));
      }
      testing::ClusterFixtureOptions o;
      o.nodes = n;
      o.site = s->name;
      o.num_shards = s == &us_ ? 16 : 7;  // the sites' shard counts differ
      o.node_flags = {absl::StrCat("--flagfile=", dir_.Sub(s->name + ".flags")),
                      "--peer_placement_poll=200ms", "--anti_entropy_interval=0"};
      if (s == &us_) {
        o.placed_nodes = UsPlaced();
        for (const std::string& flag : UsFlags()) o.node_flags.push_back(flag);
      }
      s->cluster = std::make_unique<ClusterFixture>(dir_.Sub(s->name), o);
    }
    for (Site* s : {&us_, &mx_}) {
      for (int i = 0; i < static_cast<int>(s->proxies.size()); ++i) {
        s->proxies[i]->SetTarget(s->cluster->address(i));
      }
    }
    for (Site* s : {&us_, &mx_}) {
      const Site& other = s == &us_ ? mx_ : us_;
      std::vector<std::string> seeds, map;
      for (int i = 0; i < static_cast<int>(other.proxies.size()); ++i) {
        seeds.push_back(other.proxies[i]->address());
        map.push_back(absl::StrCat(other.cluster->address(i), "=", other.proxies[i]->address()));
      }
      std::ofstream f(dir_.Sub(s->name + ".flags"));
      f << "--peers=" << other.name << "=" << absl::StrJoin(seeds, "|") << "\n"
        << "--peer_address_map=" << absl::StrJoin(map, ",") << "\n";
    }
    for (Site* s : {&us_, &mx_}) {
      ASSERT_TRUE(s->cluster->Start()) << s->name;
      ASSERT_TRUE(s->cluster->Placement(0, &s->placement).ok());
      ASSERT_EQ(s->placement.members_size(), s == &us_ ? UsPlaced() : s->cluster->size());
    }
  }

  void Cut() {
    for (Site* s : {&us_, &mx_}) {
      for (auto& p : s->proxies) p->Cut();
    }
  }
  void Heal() {
    for (Site* s : {&us_, &mx_}) {
      for (auto& p : s->proxies) p->Heal();
    }
  }

  // Verify from `from`'s node 0 against the other site says equal, with
  // `expected` samples on each side.
  bool Equal(const Site& from, uint64_t expected, v1::VerifyResponse* last) {
    const Site& other = &from == &us_ ? mx_ : us_;
    grpc::Status st = Verify(from.cluster->address(0), other.name, last);
    return st.ok() && last->buckets_differing() == 0 && last->local_samples() == expected &&
           last->peer_samples() == expected;
  }

  // Per node: only owned tags; per tag: the US owner's digest equals the MX
  // owner's, with exactly the samples written at both sites. Nodes in
  // `stopped` (addresses) are not asked.
  void ExpectOwnersHoldEqualDigests(const std::map<std::string, std::set<int64_t>>& expected,
                                    const std::set<std::string>& stopped = {}) {
    std::map<std::string,
             std::map<std::string, std::vector<std::tuple<int64_t, uint64_t, uint64_t>>>>
        held;  // address -> digest
    for (Site* s : {&us_, &mx_}) {
      for (int i = 0; i < s->cluster->size(); ++i) {
        const std::string addr = s->cluster->address(i);
        if (stopped.count(addr) > 0) continue;
        held[addr] = NodeDigest(addr);
        for (const auto& [tag, buckets] : held[addr]) {
          EXPECT_EQ(s->OwnerOf(tag), addr) << s->name << " node " << i << " holds " << tag;
        }
      }
    }
    for (const auto& [tag, ts] : expected) {
      SCOPED_TRACE(tag);
      const auto& at_us = held[us_.OwnerOf(tag)][tag];
      const auto& at_mx = held[mx_.OwnerOf(tag)][tag];
      EXPECT_EQ(CountOf(at_us), ts.size());
      EXPECT_EQ(at_us, at_mx);
    }
  }

  // Through node 0 of each site (it forwards to the owners): 16 tags of
  // each site and 4 written at both, from `from`; `expected_` gets them.
  void RoundThroughNode0(int64_t from) {
    auto write = [&](Site& site, const std::string& tag, int64_t at, int n) {
      ASSERT_NO_FATAL_FAILURE(
          WriteThrough(site.cluster->address(0), tag, at, n, &site == &us_ ? 100 : 200, ++batch_));
      for (int i = 0; i < n; ++i) expected_[tag].insert(at + i);
    };
    for (int i = 0; i < 16; ++i) {
      ASSERT_NO_FATAL_FAILURE(write(us_, absl::StrCat("us.line", i, ".temp"), from, 10));
      ASSERT_NO_FATAL_FAILURE(write(mx_, absl::StrCat("mx.line", i, ".flow"), from, 4));
    }
    for (int i = 0; i < 4; ++i) {
      ASSERT_NO_FATAL_FAILURE(write(us_, absl::StrCat("shared.", i), from, 5));
      ASSERT_NO_FATAL_FAILURE(write(mx_, absl::StrCat("shared.", i), from + 100000, 5));
    }
  }
  uint64_t Total() const {
    uint64_t n = 0;
    for (const auto& [tag, ts] : expected_) n += ts.size();
    return n;
  }

  testing::TempDir dir_;
  Site us_, mx_;
  std::map<std::string, std::set<int64_t>> expected_;  // tag -> timestamps
  uint64_t batch_ = 0;
};

TEST_F(CrossSiteTest, ThreeAndTwoNodeClustersConvergeAfterAPartition) {
  // Tags of both sites, and tags written at both (a shared asset).
  std::map<std::string, std::set<int64_t>> expected;  // tag -> timestamps
  auto write = [&](const Site& site, const std::string& tag, int64_t from, int n) {
    Write(site, tag, from, n, &site == &us_ ? 100 : 200);
    for (int i = 0; i < n; ++i) expected[tag].insert(from + i);
  };
  for (int i = 0; i < 24; ++i) {
    write(us_, absl::StrCat("us.line", i, ".temp"), 1000, 20);
    write(mx_, absl::StrCat("mx.line", i, ".flow"), 1000, 5);
  }
  for (int i = 0; i < 6; ++i) {
    write(us_, absl::StrCat("shared.", i), 1000, 10);
    write(mx_, absl::StrCat("shared.", i), 2000, 10);
  }
  auto total = [&] {
    uint64_t n = 0;
    for (const auto& [tag, ts] : expected) n += ts.size();
    return n;
  };
  v1::VerifyResponse v;
  ASSERT_TRUE(WaitFor([&] { return Equal(us_, total(), &v); }, kConverge)) << v.DebugString();
  // The whole site took part: 3 US members, each compared with 2 MX members.
  EXPECT_EQ(v.members_verified_size(), 3);
  EXPECT_EQ(v.peer_members(), 2u);
  EXPECT_EQ(v.tags_compared(), expected.size());

  // Partition while both sites keep writing.
  Cut();
  for (int i = 0; i < 24; ++i) {
    write(us_, absl::StrCat("us.line", i, ".temp"), 5000, 7);
    write(mx_, absl::StrCat("mx.line", i, ".flow"), 5000, 3);
  }
  for (int i = 0; i < 6; ++i) {
    write(us_, absl::StrCat("shared.", i), 7000, 4);
    write(mx_, absl::StrCat("shared.", i), 8000, 4);
  }
  write(us_, "us.new.during.cut", 1, 9);
  write(mx_, "mx.new.during.cut", 1, 9);
  // While cut, a verify can not compare with the other site: it fails,
  // it never says "equal".
  {
    v1::VerifyResponse cut;
    grpc::Status st = Verify(us_.cluster->address(1), "mx", &cut);
    EXPECT_FALSE(st.ok() && cut.buckets_differing() == 0) << cut.DebugString();
  }
  Heal();
  ASSERT_TRUE(WaitFor([&] { return Equal(us_, total(), &v); }, kConverge)) << v.DebugString();
  ASSERT_TRUE(WaitFor([&] { return Equal(mx_, total(), &v); }, kConverge)) << v.DebugString();
  EXPECT_EQ(v.members_verified_size(), 2);
  EXPECT_EQ(v.peer_members(), 3u);

  ExpectOwnersHoldEqualDigests(expected);
  // Both cross-site shapes were exercised: some US node's tags are split
  // over both MX nodes.
  std::set<std::string> mx_owners;
  for (const auto& [tag, ts] : expected) {
    if (us_.OwnerOf(tag) == us_.cluster->address(0)) mx_owners.insert(mx_.OwnerOf(tag));
  }
  EXPECT_EQ(mx_owners.size(), 2u);
}

// Issue 21, cross-site: US adds a node (its mover copies and tails shards
// from the other members, flips and fences) while both sites write and MX
// pulls from every US member; afterwards both sites hold every sample
// (Verify equal from either side) and each US node holds exactly the tags
// of the shards it owns now, with the digest of the tag's MX owner.
class CrossSiteMoveTest : public CrossSiteTest {
 protected:
  int UsNodes() const override { return 4; }
  int UsPlaced() const override { return 3; }
};

TEST_F(CrossSiteMoveTest, ShardsMoveAtUsWhileMxPullsAndBothSitesConverge) {
  ASSERT_NO_FATAL_FAILURE(RoundThroughNode0(1000));
  v1::VerifyResponse v;
  ASSERT_TRUE(WaitFor([&] { return Equal(us_, Total(), &v); }, kConverge)) << v.DebugString();

  testing::CommandResult add =
      us_.cluster->Cli(0, {"cluster", "add-node", us_.cluster->address(3)});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  // Writes at both sites while the shards move.
  int64_t from = 2000;
  v1::PlacementResponse p;
  while (true) {
    ASSERT_NO_FATAL_FAILURE(RoundThroughNode0(from));
    from += 1000;
    ASSERT_TRUE(us_.cluster->Placement(0, &p).ok());
    if (p.moves_size() == 0 && p.members_size() == 4) break;
    ASSERT_LT(from, 200000) << "the moves did not finish";
  }
  ASSERT_TRUE(us_.cluster->WaitForPlacement(
      [](const v1::PlacementResponse& q) { return q.moves_size() == 0 && q.members_size() == 4; },
      kConverge));
  us_.placement = p;
  ASSERT_NO_FATAL_FAILURE(RoundThroughNode0(from));

  ASSERT_TRUE(WaitFor([&] { return Equal(us_, Total(), &v); }, kConverge)) << v.DebugString();
  EXPECT_EQ(v.members_verified_size(), 4);
  ASSERT_TRUE(WaitFor([&] { return Equal(mx_, Total(), &v); }, kConverge)) << v.DebugString();
  EXPECT_EQ(v.peer_members(), 4u);
  ExpectOwnersHoldEqualDigests(expected_);
  int at_new_node = 0;
  for (const auto& [tag, ts] : expected_) {
    at_new_node += us_.OwnerOf(tag) == us_.cluster->address(3) ? 1 : 0;
  }
  EXPECT_GT(at_new_node, 0);  // some tags moved to the new node
}

// Issue 21, a US member lost for good (kill -9, never started again):
// `historian cluster remove-node ADDR --lost --accept-loss` gives its shards
// to the two others without a copy; they range-sync them from MX, so every
// sample acknowledged before the loss (and pulled by MX) is back at US,
// writes of every tag are taken again, and both sites converge with equal
// digests. The command is refused without --accept-loss and while the
// member holds its lease.
class CrossSiteLostMemberTest : public CrossSiteTest {
 protected:
  // A short lease and isolation write fence, so the killed member shows
  // dead and `remove-node --lost` may remove it soon.
  std::vector<std::string> UsFlags() const override {
    return {"--cluster_lease_ttl=2s", "--cluster_isolation_write_fence=1s"};
  }
};

TEST_F(CrossSiteLostMemberTest, ALostUsMembersShardsComeBackFromMx) {
  ASSERT_NO_FATAL_FAILURE(RoundThroughNode0(1000));
  v1::VerifyResponse v;
  ASSERT_TRUE(WaitFor([&] { return Equal(us_, Total(), &v); }, kConverge)) << v.DebugString();

  const int lost = 2;
  const std::string lost_address = us_.cluster->address(lost);
  int lost_tags = 0;
  for (const auto& [tag, ts] : expected_) lost_tags += us_.OwnerOf(tag) == lost_address ? 1 : 0;
  ASSERT_GT(lost_tags, 0);
  testing::CommandResult no_flag =
      us_.cluster->Cli(0, {"cluster", "remove-node", lost_address, "--lost"});
  EXPECT_NE(no_flag.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(no_flag.err, "accept_loss: required")) << no_flag.err;
  testing::CommandResult alive =
      us_.cluster->Cli(0, {"cluster", "remove-node", lost_address, "--lost", "--accept-loss"});
  EXPECT_NE(alive.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(alive.err, "is alive (its lease is kept)")) << alive.err;

  us_.cluster->KillNode(lost);
  testing::CommandResult removed;
  ASSERT_TRUE(WaitFor(
      [&] {
        removed = us_.cluster->Cli(
            0, {"cluster", "remove-node", lost_address, "--lost", "--accept-loss"});
        return !absl::StrContains(removed.err, "is alive") &&
               !absl::StrContains(removed.err, "--lost waits until");
      },
      absl::Seconds(60)))
      << removed.err;
  ASSERT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  EXPECT_TRUE(absl::StrContains(removed.out, "given to another member without a copy"))
      << removed.out;
  testing::CommandResult again =
      us_.cluster->Cli(0, {"cluster", "remove-node", lost_address, "--lost", "--accept-loss"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(again.err, "is no member")) << again.err;

  v1::PlacementResponse p;
  ASSERT_TRUE(us_.cluster->WaitForPlacement(
      [&](const v1::PlacementResponse& q) {
        p = q;
        return q.members_size() == 2 && q.moves_size() == 0;
      },
      kConverge));
  for (const v1::ClusterMember& m : p.members()) EXPECT_NE(m.address(), lost_address);
  us_.placement = p;

  // Every tag is written again at US (its new owner takes it) and MX.
  ASSERT_NO_FATAL_FAILURE(RoundThroughNode0(50000));
  ASSERT_TRUE(WaitFor([&] { return Equal(us_, Total(), &v); }, kConverge)) << v.DebugString();
  EXPECT_EQ(v.members_verified_size(), 2);
  EXPECT_EQ(v.peer_members(), 2u);
  ASSERT_TRUE(WaitFor([&] { return Equal(mx_, Total(), &v); }, kConverge)) << v.DebugString();
  EXPECT_EQ(v.peer_members(), 2u);
  ExpectOwnersHoldEqualDigests(expected_, {lost_address});
  // No peer entry's samples were left out for want of their tag's
  // definition: a gained shard's entries wait for its range sync instead.
  for (Site* s : {&us_, &mx_}) {
    for (int i = 0; i < s->cluster->size(); ++i) {
      if (s->cluster->address(i) == lost_address) continue;
      EXPECT_EQ(testing::MetricValue(testing::ScrapeMetrics(s->cluster->metrics_port(i)),
                                     "historian_replication_undefined_tag_samples_dropped_total")
                    .value_or(-1),
                0)
          << s->name << " node " << i;
    }
  }
}

}  // namespace
}  // namespace historian
