// Alarm rules in a site cluster (docs/cluster.md, "Alarm rules and events"):
// rules are held site-wide in etcd, every member evaluates them against the
// tags of the shards it owns, and events are listed and acknowledged at any
// member. One real etcd and three real historiand nodes (ClusterFixture),
// the gRPC API and the `historian rule` CLI.
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/model_run.h"
#include "tests/testutil/site_client.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;

constexpr int64_t kT0 = 1'700'000'000'000'000'000;

// The index of the member owning `tag` in `p`.
int OwnerIndex(const v1::PlacementResponse& p, const std::string& tag,
               const testing::ClusterFixture& cluster) {
  const std::string& owner_id = p.members(p.shard_owner(TagShard(tag, p.num_shards()))).id();
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.member_id(i) == owner_id) return i;
  }
  return -1;
}

// `per_member` tags "line1.mK.temp" owned by each member of the cluster:
// tag -> owner index.
std::map<std::string, int> TagsOnEveryMember(const testing::ClusterFixture& cluster,
                                             int per_member) {
  v1::PlacementResponse p;
  EXPECT_TRUE(cluster.Placement(0, &p).ok());
  std::map<std::string, int> tags;
  std::vector<int> count(cluster.size());
  for (int k = 0; k < 1000; ++k) {
    const std::string tag = absl::StrCat("line1.m", k, ".temp");
    const int owner = OwnerIndex(p, tag, cluster);
    if (owner < 0 || count[owner] >= per_member) continue;
    ++count[owner];
    tags[tag] = owner;
    if (tags.size() == static_cast<size_t>(per_member * cluster.size())) break;
  }
  EXPECT_EQ(tags.size(), static_cast<size_t>(per_member * cluster.size()));
  return tags;
}

// Three real nodes and one etcd, with `per_member` tags made on each member.
struct RulesCluster {
  void Start(int per_member) {
    ASSERT_TRUE(cluster.Start());
    tags = TagsOnEveryMember(cluster, per_member);
    testing::SiteClient n0(cluster.address(0));
    for (const auto& [tag, owner] : tags) ASSERT_TRUE(n0.CreateTag(tag).ok()) << tag;
  }

  testing::TempDir dir;
  testing::ClusterFixture cluster{dir.Sub("cluster"), {.nodes = 3, .num_shards = 64}};
  std::map<std::string, int> tags;  // tag -> owner index
};

// One unary Events call at `address`, unauthenticated, 60 s at most.
template <typename Request, typename Response>
grpc::Status CallEvents(const std::string& address,
                        grpc::Status (v1::Events::Stub::*method)(grpc::ClientContext*,
                                                                 const Request&, Response*),
                        const Request& request, Response* response) {
  auto events =
      v1::Events::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return (events.get()->*method)(&ctx, request, response);
}

grpc::Status CreateRule(const std::string& address, const v1::Rule& rule, v1::Rule* out) {
  v1::CreateRuleRequest req;
  *req.mutable_rule() = rule;
  return CallEvents(address, &v1::Events::Stub::CreateRule, req, out);
}

grpc::Status UpdateRule(const std::string& address, const v1::Rule& rule) {
  v1::UpdateRuleRequest req;
  *req.mutable_rule() = rule;
  v1::Rule out;
  return CallEvents(address, &v1::Events::Stub::UpdateRule, req, &out);
}

grpc::Status DeleteRule(const std::string& address, const std::string& name) {
  v1::DeleteRuleRequest req;
  req.set_name(name);
  v1::DeleteRuleResponse resp;
  return CallEvents(address, &v1::Events::Stub::DeleteRule, req, &resp);
}

std::set<std::string> RuleNames(testing::SiteClient& node) {
  std::set<std::string> names;
  for (const v1::Rule& r : node.Rules()) names.insert(r.name());
  return names;
}

// Tag -> the active events of `rule` on it, as `node` lists them.
std::map<std::string, int> ActiveByTag(testing::SiteClient& node, const std::string& rule) {
  std::map<std::string, int> out;
  for (const v1::Event& e : node.Events()) {
    if (e.rule() == rule && e.active()) ++out[e.tag()];
  }
  return out;
}

TEST(ClusterRulesTest, ARuleMadeAtOneMemberWatchesEveryMembersTagsAndEventsShowAtAny) {
  RulesCluster rc;
  ASSERT_NO_FATAL_FAILURE(rc.Start(2));
  testing::ClusterFixture& cluster = rc.cluster;
  const std::map<std::string, int>& tags = rc.tags;
  testing::SiteClient n0(cluster.address(0)), n1(cluster.address(1)), n2(cluster.address(2));
  std::vector<testing::SiteClient*> nodes = {&n0, &n1, &n2};

  // Made at member 1, a glob over tags of all three members.
  v1::Rule made;
  grpc::Status s =
      CreateRule(cluster.address(1), testing::HighRule("oven_high", "line1.*", 50), &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(made.version(), 0u);
  // In force at every member when the call returned: listed everywhere.
  for (int i = 0; i < cluster.size(); ++i) {
    EXPECT_EQ(RuleNames(*nodes[i]), std::set<std::string>{"oven_high"}) << "node " << i;
  }

  // Every tag goes over the limit, written through member 2 (routed to
  // the owners): each owner raises its own tags' alarms.
  std::map<std::string, std::vector<std::pair<int64_t, double>>> data;
  for (const auto& [tag, owner] : tags) data[tag] = {{kT0, 10}, {kT0 + 1'000'000'000, 60}};
  s = n2.Write(data);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::map<std::string, int> want;
  for (const auto& [tag, owner] : tags) want[tag] = 1;
  for (int i = 0; i < cluster.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("listed at node ", i));
    EXPECT_TRUE(testing::WaitFor([&] { return ActiveByTag(*nodes[i], "oven_high") == want; },
                                 absl::Seconds(30)));
    EXPECT_EQ(ActiveByTag(*nodes[i], "oven_high"), want);
  }

  // An ack at member 0 of an event member 2 raised shows at member 1.
  std::string id_on_2;
  for (const v1::Event& e : n0.Events()) {
    if (tags.at(e.tag()) == 2) id_on_2 = e.id();
  }
  ASSERT_FALSE(id_on_2.empty());
  s = n0.Ack(id_on_2, "seen");
  ASSERT_TRUE(s.ok()) << s.error_message();
  bool acked = false;
  for (const v1::Event& e : n1.Events()) {
    if (e.id() == id_on_2) acked = e.acked() && e.ack_comment() == "seen";
  }
  EXPECT_TRUE(acked);
  EXPECT_EQ(n1.Ack("00000000deadbeef", "").error_code(), grpc::StatusCode::NOT_FOUND);

  // One name per site: a second create at another member is refused.
  s = CreateRule(cluster.address(2), testing::HighRule("oven_high", "line1.*", 70), &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  // Checks see the whole site's tags: none matching, an unknown name.
  s = CreateRule(cluster.address(0), testing::HighRule("none", "line9.*", 1), &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("matches no tag"), std::string::npos) << s.error_message();
  s = CreateRule(cluster.address(0), testing::HighRule("none", "line9.x", 1), &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("unknown tag"), std::string::npos) << s.error_message();
  // A tag owned by another member than the one asked is known.
  for (const auto& [tag, owner] : tags) {
    if (owner != 0) {
      s = CreateRule(cluster.address(0), testing::HighRule("one_tag", tag, 1000), &made);
      EXPECT_TRUE(s.ok()) << s.error_message();
      break;
    }
  }
  // Twin rules need the twin's samples at the tag's owner: refused.
  v1::Rule twin = testing::HighRule("twin", "line1.m0.temp", 5);
  twin.set_kind(v1::RULE_KIND_TWIN_DEVIATION);
  twin.set_home_site("us");
  s = CreateRule(cluster.address(0), twin, &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  // What an operator sees.
  testing::CommandResult cli = cluster.Cli(2, {"rule", "ls"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("oven_high"), std::string::npos) << cli.out;
  cli = cluster.Cli(
      2, {"rule", "add", "oven_low", "--kind", "low", "--tag", "line1.*", "--limit=-40"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  for (int i = 0; i < cluster.size(); ++i) {
    EXPECT_EQ(RuleNames(*nodes[i]), (std::set<std::string>{"one_tag", "oven_high", "oven_low"}))
        << "node " << i;
  }

  // Deleted at one member: gone at every member when the call returns.
  s = DeleteRule(cluster.address(0), "oven_high");
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (int i = 0; i < cluster.size(); ++i) {
    EXPECT_EQ(RuleNames(*nodes[i]), (std::set<std::string>{"one_tag", "oven_low"})) << "node " << i;
  }
  EXPECT_EQ(DeleteRule(cluster.address(1), "oven_high").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST(ClusterRulesTest, AMemberDownWhenARuleIsMadeEvaluatesItFromItsRestart) {
  RulesCluster rc;
  ASSERT_NO_FATAL_FAILURE(rc.Start(1));
  testing::ClusterFixture& cluster = rc.cluster;
  const std::map<std::string, int>& tags = rc.tags;
  testing::SiteClient n0(cluster.address(0));
  std::string tag_of_0, tag_of_2;
  for (const auto& [tag, owner] : tags) {
    if (owner == 0) tag_of_0 = tag;
    if (owner == 2) tag_of_2 = tag;
  }

  cluster.KillNode(2);
  // A rule on member 0's tag is stored site-wide; the call says member 2
  // did not confirm it.
  v1::Rule made;
  grpc::Status s =
      CreateRule(cluster.address(0), testing::HighRule("by_name", tag_of_0, 50), &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find(cluster.member_id(2)), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("stored site-wide"), std::string::npos) << s.error_message();

  // Restarted, member 2 holds it before serving, and a second rule made
  // while it is up covers its tag and raises there.
  ASSERT_TRUE(cluster.StartNode(2));
  testing::SiteClient n2(cluster.address(2));
  EXPECT_EQ(RuleNames(n2), std::set<std::string>{"by_name"});
  s = CreateRule(cluster.address(1), testing::HighRule("on_2", tag_of_2, 50), &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Member 0's channel to member 2 may still be in its reconnect backoff
  // from the calls it made while 2 was down: resent until it gets through.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        s = n0.Write({{tag_of_2, {{kT0, 10}, {kT0 + 1'000'000'000, 60}}}});
        return s.ok();
      },
      absl::Seconds(10)))
      << s.error_message();
  const std::map<std::string, int> want = {{tag_of_2, 1}};
  EXPECT_TRUE(testing::WaitFor([&] { return ActiveByTag(n0, "on_2") == want; }, absl::Seconds(30)));
  EXPECT_EQ(ActiveByTag(n0, "on_2"), want);
}

// Name -> limit of the live rules `node` lists.
std::map<std::string, double> RuleLimits(testing::SiteClient& node) {
  std::map<std::string, double> out;
  for (const v1::Rule& r : node.Rules()) out[r.name()] = r.limit();
  return out;
}

// Model test: random creates, updates and deletes of a few names at random
// members, with members killed and restarted between them; the reference is
// what the calls said was stored. Every member, once all are up again,
// lists exactly the reference: no change lost, none reverted, no deleted
// rule back (a member down during a change takes it from etcd at start).
void RunRuleModel(uint64_t seed) {
  RulesCluster rc;
  ASSERT_NO_FATAL_FAILURE(rc.Start(1));
  testing::ClusterFixture& cluster = rc.cluster;
  const std::map<std::string, int>& tags = rc.tags;
  testing::SiteClient n0(cluster.address(0));
  std::vector<std::string> tag_names;
  for (const auto& [tag, owner] : tags) tag_names.push_back(tag);

  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::map<std::string, double> reference;
  std::vector<bool> up(cluster.size(), true);
  for (int step = 0; step < 60; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const int op = static_cast<int>(rng() % 10);
    if (op == 0) {  // a member down (never the last one up)
      const int i = static_cast<int>(rng() % cluster.size());
      if (up[i] && std::count(up.begin(), up.end(), true) > 1) {
        cluster.KillNode(i);
        up[i] = false;
      }
      continue;
    }
    if (op == 1) {  // a member back
      const int i = static_cast<int>(rng() % cluster.size());
      if (!up[i]) {
        ASSERT_TRUE(cluster.StartNode(i));
        up[i] = true;
      }
      continue;
    }
    int at = static_cast<int>(rng() % cluster.size());
    while (!up[at]) at = (at + 1) % cluster.size();
    const std::string name = absl::StrCat("r", rng() % 4);
    const double limit = static_cast<double>(rng() % 1000);
    v1::Rule rule = testing::HighRule(
        name, rng() % 3 == 0 ? std::string("line1.*") : tag_names[rng() % tag_names.size()], limit);
    grpc::Status s;
    v1::Rule made;
    if (op < 5) {
      s = CreateRule(cluster.address(at), rule, &made);
    } else if (op < 8) {
      s = UpdateRule(cluster.address(at), rule);
    } else {
      s = DeleteRule(cluster.address(at), name);
    }
    // Stored unless refused before the write; "stored site-wide" names the
    // members that did not confirm it yet.
    const bool stored = s.ok() || s.error_message().find("stored site-wide") != std::string::npos;
    if (!stored) {
      // Only what the reference explains: a name taken or missing, or an
      // owner of the rule's tags down.
      const bool explained =
          (s.error_code() == grpc::StatusCode::ALREADY_EXISTS && reference.contains(name)) ||
          (s.error_code() == grpc::StatusCode::NOT_FOUND && !reference.contains(name)) ||
          s.error_code() == grpc::StatusCode::UNAVAILABLE;
      EXPECT_TRUE(explained) << s.error_code() << " " << s.error_message();
      continue;
    }
    if (op < 8) {
      reference[name] = limit;
    } else {
      reference.erase(name);
    }
  }
  for (int i = 0; i < cluster.size(); ++i) {
    if (!up[i]) ASSERT_TRUE(cluster.StartNode(i));
  }
  for (int i = 0; i < cluster.size(); ++i) {
    testing::SiteClient node(cluster.address(i));
    EXPECT_EQ(RuleLimits(node), reference) << "node " << i;
  }
}

TEST(ClusterRulesTest, RandomRuleChangesAtRandomMembersAcrossKillsMatchTheReference) {
  for (uint64_t seed : testing::ModelSeeds(/*ci_count=*/1)) {
    SCOPED_TRACE(absl::StrCat("seed ", seed, " (HISTORIAN_MODEL_SEED)"));
    RunRuleModel(seed);
  }
}

// A rule across a move (`cluster add-node`, the mover copying and tailing
// shards to a fourth member): each tag's alarm stays with whoever owns its
// samples. A moved tag's alarm raised at the source is cleared when the
// source closes the shard, and the new owner raises anew on its next
// sample over the limit; a tag that stayed keeps its one alarm. Every tag
// ends with exactly one active alarm, listed at any member.
TEST(ClusterRulesTest, AlarmsFollowTheirTagsAcrossAMove) {
  testing::TempDir dir;
  testing::ClusterFixture cluster(dir.Sub("cluster"),
                                  {.nodes = 4, .num_shards = 64, .placed_nodes = 3});
  ASSERT_TRUE(cluster.Start());
  testing::SiteClient n0(cluster.address(0));
  std::vector<std::string> tags;
  for (int k = 0; k < 32; ++k) tags.push_back(absl::StrCat("line1.m", k, ".temp"));
  for (const std::string& tag : tags) ASSERT_TRUE(n0.CreateTag(tag).ok()) << tag;
  v1::Rule rule = testing::HighRule("hot", "line1.*", 50);
  rule.set_deadband(10);
  v1::Rule made;
  grpc::Status s = CreateRule(cluster.address(0), rule, &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::map<std::string, std::vector<std::pair<int64_t, double>>> hot;
  for (const std::string& tag : tags) hot[tag] = {{kT0, 60}};
  ASSERT_TRUE(n0.Write(hot).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return ActiveByTag(n0, "hot").size() == tags.size(); },
                               absl::Seconds(30)));

  testing::CommandResult add = cluster.Cli(0, {"cluster", "add-node", cluster.address(3)});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  v1::PlacementResponse placement;
  ASSERT_TRUE(cluster.WaitForPlacement(
      [&](const v1::PlacementResponse& p) {
        placement = p;
        return p.members_size() == 4 && p.moves_size() == 0;
      },
      absl::Seconds(120)));
  std::set<std::string> moved;
  for (const std::string& tag : tags) {
    if (OwnerIndex(placement, tag, cluster) == 3) moved.insert(tag);
  }
  ASSERT_FALSE(moved.empty());
  // The sources' alarms of the moved tags clear (closed there).
  auto cleared_moved = [&] {
    size_t cleared = 0;
    for (const v1::Event& e : n0.Events()) cleared += moved.contains(e.tag()) && e.cleared();
    return cleared == moved.size();
  };
  EXPECT_TRUE(testing::WaitFor(cleared_moved, absl::Seconds(30)));

  // A later sample over the limit: the new owner raises; the others hold.
  std::map<std::string, std::vector<std::pair<int64_t, double>>> hotter;
  for (const std::string& tag : tags) hotter[tag] = {{kT0 + 1'000'000'000, 70}};
  EXPECT_TRUE(testing::WaitFor([&] { return n0.Write(hotter).ok(); }, absl::Seconds(10)));
  std::map<std::string, int> want;
  for (const std::string& tag : tags) want[tag] = 1;
  for (int i = 0; i < cluster.size(); ++i) {
    testing::SiteClient node(cluster.address(i));
    SCOPED_TRACE(absl::StrCat("listed at node ", i));
    EXPECT_TRUE(
        testing::WaitFor([&] { return ActiveByTag(node, "hot") == want; }, absl::Seconds(30)));
    EXPECT_EQ(ActiveByTag(node, "hot"), want);
    std::map<std::string, int> events_per_tag;
    for (const v1::Event& e : node.Events()) ++events_per_tag[e.tag()];
    for (const std::string& tag : tags) {
      EXPECT_EQ(events_per_tag[tag], moved.contains(tag) ? 2 : 1) << tag;
    }
  }
}

// Reads `reader` until `done` holds for the events read so far (by id, the
// newest state of each), or the stream ends; returns the last response's
// resume token.
std::string ReadUntil(grpc::ClientReaderInterface<v1::SubscribeEventsResponse>* reader,
                      std::map<std::string, v1::Event>* events,
                      const std::function<bool(const std::map<std::string, v1::Event>&)>& done) {
  std::string token;
  v1::SubscribeEventsResponse r;
  while (!done(*events) && reader->Read(&r)) {
    EXPECT_FALSE(r.lagged());
    EXPECT_EQ(r.next_position(), 0u);  // per member, in the token
    for (const v1::Event& e : r.events()) (*events)[e.id()] = e;
    token = r.resume_token();
  }
  return token;
}

TEST(ClusterRulesTest, SubscribeAtOneMemberStreamsEveryMembersEventsAndResumesAtAnother) {
  RulesCluster rc;
  ASSERT_NO_FATAL_FAILURE(rc.Start(2));
  testing::ClusterFixture& cluster = rc.cluster;
  const std::map<std::string, int>& tags = rc.tags;
  testing::SiteClient n0(cluster.address(0));
  v1::Rule made;
  grpc::Status s = CreateRule(cluster.address(0), testing::HighRule("hi", "line1.*", 50), &made);
  ASSERT_TRUE(s.ok()) << s.error_message();

  auto stub1 = v1::Events::NewStub(
      grpc::CreateChannel(cluster.address(1), grpc::InsecureChannelCredentials()));
  std::string token;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::SubscribeEventsRequest req;
    req.set_glob("line1.*");
    auto reader = stub1->Subscribe(&ctx, req);
    // Once the headers came, every member's feed is watched.
    reader->WaitForInitialMetadata();
    std::map<std::string, std::vector<std::pair<int64_t, double>>> data;
    for (const auto& [tag, owner] : tags) data[tag] = {{kT0, 10}, {kT0 + 1'000'000'000, 60}};
    ASSERT_TRUE(n0.Write(data).ok());
    std::map<std::string, v1::Event> seen;
    auto all_active = [&](const std::map<std::string, v1::Event>& events) {
      std::set<std::string> active;
      for (const auto& [id, e] : events) {
        if (e.active()) active.insert(e.tag());
      }
      return active.size() == tags.size();
    };
    token = ReadUntil(reader.get(), &seen, all_active);
    ASSERT_TRUE(all_active(seen));
    // An ack made at another member comes as a change of that event.
    const std::string id = seen.begin()->first;
    ASSERT_TRUE(n0.Ack(id, "ok").ok());
    token = ReadUntil(reader.get(), &seen, [&](const std::map<std::string, v1::Event>& events) {
      return events.at(id).acked();
    });
    EXPECT_TRUE(seen.at(id).acked());
    ctx.TryCancel();
    reader->Finish();
  }
  ASSERT_FALSE(token.empty());

  // Changes made while nobody listens; resumed at member 2 from the token:
  // exactly the clears come, none of the raises again.
  std::map<std::string, std::vector<std::pair<int64_t, double>>> low;
  for (const auto& [tag, owner] : tags) low[tag] = {{kT0 + 2'000'000'000, 0}};
  ASSERT_TRUE(n0.Write(low).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return ActiveByTag(n0, "hi").empty(); }, absl::Seconds(30)));
  auto stub2 = v1::Events::NewStub(
      grpc::CreateChannel(cluster.address(2), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SubscribeEventsRequest req;
  req.set_resume_token(token);
  auto reader = stub2->Subscribe(&ctx, req);
  std::map<std::string, v1::Event> resumed;
  auto all_cleared = [&](const std::map<std::string, v1::Event>& events) {
    std::set<std::string> cleared;
    for (const auto& [id, e] : events) {
      EXPECT_TRUE(e.cleared()) << e.DebugString();  // never a raise sent again
      cleared.insert(e.tag());
    }
    return cleared.size() == tags.size();
  };
  ReadUntil(reader.get(), &resumed, all_cleared);
  EXPECT_TRUE(all_cleared(resumed));
  ctx.TryCancel();
  reader->Finish();

  // A node's own position means nothing in a cluster.
  grpc::ClientContext bad_ctx;
  v1::SubscribeEventsRequest bad;
  bad.set_from_position(1);
  auto refused = stub2->Subscribe(&bad_ctx, bad);
  v1::SubscribeEventsResponse r;
  EXPECT_FALSE(refused->Read(&r));
  s = refused->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

}  // namespace
}  // namespace historian
