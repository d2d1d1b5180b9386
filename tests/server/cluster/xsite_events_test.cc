// File: xsite_events_test.cc
// Alarm rules and events between a single-node site and a site cluster
// (docs/cluster.md, "Between site clusters"): a US single node takes a rule,
// raises its alarm and acknowledges it while the link is cut, and trims
// those log entries before the MX cluster could pull them. After the heal
// each MX member range-syncs from US, and each must hold the rule and the
// acknowledged event (a twin's rule and event records go to every member),
// not only the samples of its own tags. Real processes: a real etcd, two
// real MX nodes (ClusterFixture), the US node, our fault proxy on every
// cross-site connection.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/fault_proxy.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/site_client.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
using testing::FaultProxy;
using testing::SiteClient;

constexpr int64_t kSecond = 1000000000;
const int64_t kT0 = int64_t{1790000000} * kSecond;

bool Eventually(const std::function<bool()>& done) {
  return testing::WaitFor(done, absl::Seconds(120));
}

class CrossSiteEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int us_port = testing::FreePort();
    to_us_ = std::make_unique<FaultProxy>(absl::StrCat("127.0.0.1:", us_port));
    for (int i = 0; i < 2; ++i) to_mx_.push_back(std::make_unique<FaultProxy>("127.0.0.1:1"));
    testing::ClusterFixtureOptions o;
    o.nodes = 2;
    o.site = "mx";
    o.num_shards = 7;
    o.node_flags = {absl::StrCat("--flagfile=", dir_.Sub("mx.flags")),
                    "--peer_placement_poll=200ms", "--anti_entropy_interval=0"};
    mx_ = std::make_unique<testing::ClusterFixture>(dir_.Sub("mx"), o);
    std::vector<std::string> seeds, map;
    for (int i = 0; i < 2; ++i) {
      to_mx_[i]->SetTarget(mx_->address(i));
      seeds.push_back(to_mx_[i]->address());
      map.push_back(absl::StrCat(mx_->address(i), "=", to_mx_[i]->address()));
    }
    {
      std::ofstream f(dir_.Sub("mx.flags"));
      f << "--peers=us=" << to_us_->address() << "\n";
    }
    ASSERT_TRUE(mx_->Start());
    // US trims every entry at once (a link cut for longer than the
    // retention limits).
    us_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("us"),
        std::vector<std::string>{"--site=us", absl::StrCat("--listen=127.0.0.1:", us_port),
                                 "--peers=mx=" + absl::StrJoin(seeds, "|"),
                                 "--peer_address_map=" + absl::StrJoin(map, ","),
                                 "--anti_entropy_interval=0s", "--log_retention_bytes=1",
                                 "--head_max_age=0s"});
    ASSERT_TRUE(us_->Start());
  }

  void Cut(bool cut) {
    cut ? to_us_->Cut() : to_us_->Heal();
    for (auto& p : to_mx_) cut ? p->Cut() : p->Heal();
  }

  testing::TempDir dir_;
  std::unique_ptr<FaultProxy> to_us_;
  std::vector<std::unique_ptr<FaultProxy>> to_mx_;
  std::unique_ptr<testing::ClusterFixture> mx_;
  std::unique_ptr<testing::NodeProcess> us_;
};

TEST_F(CrossSiteEventsTest, RulesAndEventsTrimmedAtASingleNodeReachEveryMemberOfTheTwinCluster) {
  SiteClient us(us_->address());
  ASSERT_TRUE(us.CreateTag("us.p").ok());
  ASSERT_TRUE(us.Write({{"us.p", {{kT0, 10}}}}).ok());
  SiteClient mx0(mx_->address(0));
  ASSERT_TRUE(Eventually([&] { return mx0.Read("us.p").size() == 1; }));

  Cut(true);
  const uint64_t trimmed = us.Stats().log_entries_trimmed();
  ASSERT_TRUE(us.CreateRule(testing::HighRule("hot", "us.p", 50)).ok());
  ASSERT_TRUE(us.Write({{"us.p", {{kT0 + kSecond, 60}}}}).ok());
  ASSERT_TRUE(Eventually([&] { return us.Events().size() == 1; }));
  ASSERT_TRUE(us.Ack(us.Events()[0].id(), "seen at us").ok());
  // The rule's, the write's, the raise's and the ack's entries are gone
  // from us's log before mx could pull them.
  ASSERT_TRUE(Eventually([&] { return us.Stats().log_entries_trimmed() >= trimmed + 4; }));
  Cut(false);

  ASSERT_TRUE(Eventually([&] { return mx0.Read("us.p").size() == 2; }));
  for (int i = 0; i < mx_->size(); ++i) {
    SCOPED_TRACE(absl::StrCat("mx member ", i));
    SiteClient member(mx_->address(i));
    // Each member range-syncs from us on its own link (the gap).
    ASSERT_TRUE(Eventually([&] {
      const v1::StatsResponse stats = member.Stats();
      uint64_t range_syncs = 0;
      for (const auto& p : stats.peers()) range_syncs += p.range_syncs();
      return range_syncs >= 1;
    }));
    ASSERT_TRUE(Eventually([&] {
      std::vector<v1::Event> e = member.Events();
      return member.Rules().size() == 1 && e.size() == 1 && e[0].acked();
    })) << "rules: "
        << member.Rules().size() << ", events:\n"
        << member.EventsText();
    EXPECT_EQ(member.EventsText(), us.EventsText());
    EXPECT_EQ(member.Rules()[0].DebugString(), us.Rules()[0].DebugString());
  }
}

}  // namespace
}  // namespace historian
