// Events between two real replicating sites (docs/events.md): a twin
// deviation rule (US line vs its MX twin, --twin_map us.=mx.) raised once at
// its home site, seen at the other; a partition during which the non-home
// site acknowledges and the home site clears, and during which the home site
// neither raises nor clears on the twin samples it cannot see; after the
// heal both sites hold the same event history, acks included. And events
// and rules whose log entries were trimmed before the peer pulled them reach
// the peer by range sync (anti-entropy). Every link goes through a
// FaultProxy; waits poll a condition (no timing assumptions).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
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
using testing::FreePort;
using testing::NodeProcess;
using testing::SiteClient;

constexpr int64_t kSecond = 1000000000;
const int64_t kT0 = int64_t{1790000000} * kSecond;

bool Eventually(const std::function<bool()>& done) {
  return testing::WaitFor(done, absl::Seconds(120));
}

int64_t T(int k) { return kT0 + k * kSecond; }

class EventsTwinTest : public ::testing::Test {
 protected:
  // US and MX pulling from each other, each through its own proxy
  // (proxies_[site] carries `site` pulling the other).
  void StartPair(const std::vector<std::string>& extra = {}) {
    ports_["us"] = FreePort();
    ports_["mx"] = FreePort();
    proxies_["us"] = std::make_unique<FaultProxy>("127.0.0.1:" + std::to_string(ports_["mx"]));
    proxies_["mx"] = std::make_unique<FaultProxy>("127.0.0.1:" + std::to_string(ports_["us"]));
    for (const std::string site : {"us", "mx"}) {
      const std::string other = site == "us" ? "mx" : "us";
      std::vector<std::string> flags = {"--site=" + site,
                                        "--peers=" + other + "=" + proxies_[site]->address(),
                                        "--listen=127.0.0.1:" + std::to_string(ports_[site]),
                                        "--anti_entropy_interval=0s", "--twin_map=us.=mx."};
      flags.insert(flags.end(), extra.begin(), extra.end());
      flags_[site] = flags;
      nodes_[site] = std::make_unique<NodeProcess>(dir_.Sub(site), flags);
      ASSERT_TRUE(nodes_[site]->Start());
      clients_[site] = std::make_unique<SiteClient>(nodes_[site]->address());
    }
  }
  void Partition(bool cut) {
    for (auto& [site, proxy] : proxies_) cut ? proxy->Cut() : proxy->Heal();
  }
  SiteClient& Site(const std::string& name) { return *clients_[name]; }

  testing::TempDir dir_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::unique_ptr<FaultProxy>> proxies_;
  std::map<std::string, std::vector<std::string>> flags_;
  std::map<std::string, std::unique_ptr<NodeProcess>> nodes_;
  std::map<std::string, std::unique_ptr<SiteClient>> clients_;
};

v1::Rule TwinRule(const std::string& name, const std::string& tag) {
  v1::Rule r;
  r.set_name(name);
  r.set_kind(v1::RULE_KIND_TWIN_DEVIATION);
  r.set_tag(tag);
  r.set_home_site("us");
  r.set_limit(5);
  r.set_deadband(1);
  r.set_duration_ns(2 * kSecond);  // deviating for longer than 2 s
  // No window: pairs at most 60 s apart are compared (the default skew).
  return r;
}

TEST_F(EventsTwinTest, TwinDeviationRaisedOnceAtHomeAndPartitionConvergesWithoutMissingData) {
  StartPair();
  SiteClient& us = Site("us");
  SiteClient& mx = Site("mx");
  for (const char* line : {"us.line1.temp", "us.line1.flow"}) ASSERT_TRUE(us.CreateTag(line).ok());
  for (const char* line : {"mx.line1.temp", "mx.line1.flow"}) ASSERT_TRUE(mx.CreateTag(line).ok());
  // The twins must be known where the rules are made (checked at creation:
  // refused until MX's tags have reached US).
  for (const char* tag : {"us.line1.temp", "us.line1.flow"}) {
    const std::string name = std::string(tag).substr(9) + "_drift";
    ASSERT_TRUE(Eventually([&] { return us.CreateRule(TwinRule(name, tag)).ok(); }));
  }
  ASSERT_TRUE(Eventually([&] { return mx.Rules().size() == 2; }));

  // Both plants in lock step, one sample a second: MX's sample reaches US
  // before US writes its own of the same second, so US compares each pair
  // in the same order every run. Temperatures deviate by 10 from second 2;
  // the flow by 50 from second 6 (due to raise at second 8, if it lasts).
  auto step = [&](int k, double us_temp, double us_flow) {
    ASSERT_TRUE(mx.Write({{"mx.line1.temp", {{T(k), 50}}}, {"mx.line1.flow", {{T(k), 50}}}}).ok());
    ASSERT_TRUE(Eventually([&] { return us.Read("mx.line1.flow").count(T(k)) == 1; }));
    ASSERT_TRUE(
        us.Write({{"us.line1.temp", {{T(k), us_temp}}}, {"us.line1.flow", {{T(k), us_flow}}}})
            .ok());
  };
  for (int k = 0; k <= 6; ++k) step(k, k < 2 ? 50 : 60, k < 6 ? 50 : 100);
  // Raised once, at US, at the end of the 2 s it lasted; MX sees it.
  ASSERT_TRUE(Eventually([&] { return mx.Events().size() == 1; }));
  std::vector<v1::Event> at_us = us.Events();
  ASSERT_EQ(at_us.size(), 1u);
  const v1::Event raised = at_us[0];
  EXPECT_EQ(raised.rule(), "temp_drift");
  EXPECT_EQ(raised.tag(), "us.line1.temp");
  EXPECT_TRUE(raised.active());
  EXPECT_FALSE(raised.late());
  EXPECT_EQ(raised.raised_unix_ns(), T(4));
  EXPECT_EQ(raised.value(), 10);  // X - twin(X)
  // Raised at the home site only (a raise at mx would merge into the same
  // id and show origin "mx", the smaller).
  EXPECT_EQ(raised.origin_site(), "us");
  EXPECT_EQ(mx.Events()[0].id(), raised.id());
  EXPECT_EQ(mx.Events()[0].origin_site(), "us");

  Partition(true);
  // MX's plant goes on (US cannot see it) and MX acknowledges the alarm.
  ASSERT_TRUE(mx.Write({{"mx.line1.temp", {{T(70), 50}, {T(71), 50}}}}).ok());
  ASSERT_TRUE(mx.Ack(raised.id(), "checking the MX line").ok());
  // US's own samples alone, more than the skew (60 s) after the twin's last
  // sample it holds (second 6): nothing to compare them with. The
  // temperature is back to the twin's (50) and the flow still deviates by
  // 50: compared with the twin's last sample these would clear the one
  // alarm (at second 70) and raise the other (due at second 8); and time
  // passing must not raise the flow alarm either. Neither happens.
  ASSERT_TRUE(us.Write({{"us.line1.temp", {{T(70), 50}, {T(71), 50}}},
                        {"us.line1.flow",
                         {{T(70), 100},
                          {T(71), 100},
                          {T(72), 100},
                          {T(73), 100},
                          {T(74), 100},
                          {T(75), 100}}}})
                  .ok());
  // The MX gateway fails over to US (its own site unreachable) and writes
  // the twin's second 72 there: now US compares again, and clears.
  ASSERT_TRUE(us.Write({{"mx.line1.temp", {{T(72), 50}}}}).ok());
  ASSERT_TRUE(us.Write({{"us.line1.temp", {{T(72), 50}}}}).ok());
  ASSERT_TRUE(Eventually([&] { return !us.Events().empty() && us.Events()[0].cleared(); }));
  at_us = us.Events();
  ASSERT_EQ(at_us.size(), 1u);                   // no flow_drift event
  EXPECT_EQ(at_us[0].cleared_unix_ns(), T(72));  // not T(70): a clear on missing data
  EXPECT_FALSE(at_us[0].acked());
  std::vector<v1::Event> at_mx = mx.Events();
  ASSERT_EQ(at_mx.size(), 1u);
  EXPECT_TRUE(at_mx[0].active());
  EXPECT_TRUE(at_mx[0].acked());

  Partition(false);
  // Both sites: the raise from US, the ack from MX, the clear from US; and
  // MX's partition samples reached US (late for the rule: compared, within
  // the skew, with US's newest, they deviate by nothing, so no late event).
  for (SiteClient* site : {&us, &mx}) {
    ASSERT_TRUE(Eventually([&] {
      std::vector<v1::Event> e = site->Events();
      return e.size() == 1 && e[0].acked() && e[0].cleared();
    }));
  }
  ASSERT_TRUE(Eventually([&] { return us.Read("mx.line1.temp").size() == 10; }));
  ASSERT_TRUE(Eventually([&] { return mx.Read("us.line1.flow").size() == 13; }));
  const std::string history = us.EventsText();
  EXPECT_EQ(history, mx.EventsText());
  const v1::Event e = us.Events()[0];
  EXPECT_EQ(e.id(), raised.id());
  EXPECT_EQ(e.raised_unix_ns(), T(4));
  EXPECT_EQ(e.cleared_unix_ns(), T(72));
  EXPECT_EQ(e.ack_comment(), "checking the MX line");
  EXPECT_EQ(e.origin_site(), "us");
  EXPECT_FALSE(e.active());
}

// Events and rules travel in the log; when the entries that carry them were
// trimmed before the peer pulled them (here: a tiny log retention while the
// link is cut), the peer's range sync brings them, acks included, by the
// events digest and fetch of anti-entropy (docs/events.md).
TEST_F(EventsTwinTest, EventsAndRulesTrimmedFromTheLogReachThePeerByRangeSync) {
  StartPair({"--log_retention_bytes=1", "--head_max_age=0s"});
  SiteClient& us = Site("us");
  SiteClient& mx = Site("mx");
  ASSERT_TRUE(us.CreateTag("us.p").ok());
  ASSERT_TRUE(us.Write({{"us.p", {{T(0), 10}}}}).ok());
  ASSERT_TRUE(Eventually([&] { return mx.Read("us.p").size() == 1; }));
  Partition(true);
  const uint64_t trimmed = us.Stats().log_entries_trimmed();
  ASSERT_TRUE(us.CreateRule(testing::HighRule("hot", "us.p", 50)).ok());
  ASSERT_TRUE(us.Write({{"us.p", {{T(1), 60}}}}).ok());
  ASSERT_TRUE(Eventually([&] { return us.Events().size() == 1; }));
  ASSERT_TRUE(us.Ack(us.Events()[0].id(), "seen at us").ok());
  // The rule's, the write's, the raise's and the ack's entries are gone
  // from us's log before mx could pull them.
  ASSERT_TRUE(Eventually([&] { return us.Stats().log_entries_trimmed() >= trimmed + 4; }));
  Partition(false);
  ASSERT_TRUE(Eventually([&] {
    std::vector<v1::Event> e = mx.Events();
    return mx.Read("us.p").size() == 2 && mx.Rules().size() == 1 && e.size() == 1 && e[0].acked();
  }));
  EXPECT_EQ(mx.EventsText(), us.EventsText());
  EXPECT_EQ(mx.Rules()[0].DebugString(), us.Rules()[0].DebugString());
  uint64_t range_syncs = 0;
  const v1::StatsResponse mx_stats = mx.Stats();
  for (const auto& p : mx_stats.peers()) range_syncs += p.range_syncs();
  EXPECT_GE(range_syncs, 1u);
  // A verify now finds the events equal.
  v1::VerifyResponse verified;
  ASSERT_TRUE(mx.Verify("us", /*repair=*/false, &verified).ok());
  EXPECT_EQ(verified.event_records_local(), 2u);  // the rule and the event
  EXPECT_EQ(verified.event_records_peer(), 2u);
  EXPECT_FALSE(verified.events_differ());
}

// A node restored from a backup made before a rule and its event: the peer
// does not relay the node's own entries back, so only anti-entropy brings
// them (`historian verify --peer mx --repair`, the real CLI, or a range sync
// that got there first), acks included.
TEST_F(EventsTwinTest, NodeRestoredFromBackupGetsRulesAndEventsBackByVerifyRepair) {
  StartPair();
  SiteClient& mx = Site("mx");
  ASSERT_TRUE(Site("us").CreateTag("us.p").ok());
  ASSERT_TRUE(Site("us").Write({{"us.p", {{T(0), 10}}}}).ok());
  ASSERT_TRUE(Eventually([&] { return mx.Read("us.p").size() == 1; }));
  const std::string cli = testing::BinDir() + "/client/historian";
  testing::CommandResult r = testing::RunCommand(
      {cli, "backup", dir_.Sub("us-backup"), "--server=" + nodes_["us"]->address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::Rule hot;
  hot.set_name("hot");
  hot.set_kind(v1::RULE_KIND_HIGH);
  hot.set_tag("us.p");
  hot.set_limit(50);
  ASSERT_TRUE(Site("us").CreateRule(hot).ok());
  ASSERT_TRUE(Site("us").Write({{"us.p", {{T(1), 60}}}}).ok());
  ASSERT_TRUE(Eventually([&] { return mx.Events().size() == 1 && mx.Rules().size() == 1; }));
  ASSERT_TRUE(mx.Ack(mx.Events()[0].id(), "seen at mx").ok());
  ASSERT_TRUE(Eventually(
      [&] { return Site("us").Events().size() == 1 && Site("us").Events()[0].acked(); }));

  // us comes back from the backup: no rule, no event of its own.
  ASSERT_EQ(nodes_["us"]->Stop(), 0);
  nodes_["us"] = std::make_unique<NodeProcess>(dir_.Sub("us-backup"), flags_["us"]);
  ASSERT_TRUE(nodes_["us"]->Start());
  clients_["us"] = std::make_unique<SiteClient>(nodes_["us"]->address());
  SiteClient& us = Site("us");
  // Either the CLI's repair brings them, or us got them already: a range
  // sync when mx had trimmed entries us acknowledged before the restore
  // (the same digest and fetch of events); both paths converge.
  r = testing::RunCommand(
      {cli, "verify", "--peer", "mx", "--repair", "--server=" + nodes_["us"]->address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("events_repaired:   "), std::string::npos) << r.out;
  // Merged through us's log: both sites hold the same rules and events.
  ASSERT_TRUE(Eventually([&] { return us.Rules().size() == 1; }));
  EXPECT_EQ(us.Rules()[0].DebugString(), mx.Rules()[0].DebugString());
  ASSERT_TRUE(Eventually([&] { return us.EventsText() == mx.EventsText(); }));
  ASSERT_EQ(us.Events().size(), 1u);
  EXPECT_EQ(us.Events()[0].ack_comment(), "seen at mx");
  r = testing::RunCommand({cli, "verify", "--peer", "mx", "--server=" + nodes_["us"]->address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("event_records:     2 here, 2 at the peer, same"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace historian
