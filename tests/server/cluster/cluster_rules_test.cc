// Alarm rules in a site cluster (docs/cluster.md, "Alarm rules and events"):
// each member's store sees only its own shards' samples, so a rule kept by
// one member would watch part of the site and miss the rest without a word.
// Until rules are held site-wide, every member refuses rule writes loudly:
// one real etcd and three real historiand nodes (ClusterFixture), the gRPC
// API and the `historian rule` CLI.
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
}

v1::Rule HighRule(const std::string& name, const std::string& tag) {
  v1::Rule rule;
  rule.set_name(name);
  rule.set_kind(v1::RULE_KIND_HIGH);
  rule.set_tag(tag);
  rule.set_limit(50);
  return rule;
}

TEST(ClusterRulesTest, EveryMemberRefusesRuleWritesNamingTheMethodAndKeepsNone) {
  testing::TempDir dir;
  testing::ClusterFixture cluster(dir.Sub("cluster"), {.nodes = 3, .num_shards = 64});
  ASSERT_TRUE(cluster.Start());
  // The tag exists (at its owner, through a forwarded CreateTag), so a
  // refusal is the cluster's, not an unknown tag's.
  const std::string tag = "line1.oven.temp";
  {
    auto catalog = v1::Catalog::NewStub(
        grpc::CreateChannel(cluster.address(0), grpc::InsecureChannelCredentials()));
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(tag);
    req.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::Tag created;
    grpc::Status s = catalog->CreateTag(&ctx, req, &created);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  for (int i = 0; i < cluster.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("node ", i));
    auto events = v1::Events::NewStub(
        grpc::CreateChannel(cluster.address(i), grpc::InsecureChannelCredentials()));
    for (const std::string& pattern : {tag, std::string("line1.*")}) {
      v1::CreateRuleRequest create;
      *create.mutable_rule() = HighRule(absl::StrCat("oven_high_", i), pattern);
      grpc::ClientContext cctx;
      SetDeadline(&cctx);
      v1::Rule got;
      grpc::Status s = events->CreateRule(&cctx, create, &got);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
      EXPECT_NE(s.error_message().find("Events.CreateRule: alarm rules are not supported in a "
                                       "site cluster yet"),
                std::string::npos)
          << s.error_message();

      v1::UpdateRuleRequest update;
      *update.mutable_rule() = HighRule(absl::StrCat("oven_high_", i), pattern);
      grpc::ClientContext uctx;
      SetDeadline(&uctx);
      s = events->UpdateRule(&uctx, update, &got);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
      EXPECT_NE(s.error_message().find("Events.UpdateRule"), std::string::npos)
          << s.error_message();
    }
    // Nothing was kept, and the read side still answers.
    v1::ListRulesRequest list;
    grpc::ClientContext lctx;
    SetDeadline(&lctx);
    v1::ListRulesResponse rules;
    grpc::Status s = events->ListRules(&lctx, list, &rules);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(rules.rules_size(), 0);

    // What an operator sees.
    testing::CommandResult cli = cluster.Cli(
        i, {"rule", "add", "oven_high", "--kind", "high", "--tag", tag, "--limit", "50"});
    EXPECT_NE(cli.exit_code, 0) << cli.out;
    EXPECT_NE(cli.err.find("not supported in a site cluster yet"), std::string::npos) << cli.err;
  }
}

}  // namespace
}  // namespace historian
