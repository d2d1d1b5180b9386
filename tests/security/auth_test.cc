// Bearer-token authorisation: the token file parser and the role table, then
// every service of a real historiand started with --token_file, answering
// UNAUTHENTICATED without a token, PERMISSION_DENIED with a wrong role and
// OK with the right one; replication between two nodes with --peer_token;
// and no token ever in the node's log.
#include "server/auth.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "historian/v1/replication.grpc.pb.h"
#include "tests/security/security_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace v1 = ::historian::v1;
using server::Authorizer;
using server::ParseTokenFile;

constexpr char kWriter[] = "writer-token-0123456789";
constexpr char kReader[] = "reader-token-0123456789";
constexpr char kAdmin[] = "admin-token-0123456789ab";
constexpr char kRepl[] = "replicator-token-0123456";
constexpr char kUnknown[] = "unknown-token-0123456789";

std::string TokenFileText() {
  return std::string("# test tokens\n") + kWriter + " writer\n" + kReader + " reader\n" + kAdmin +
         " admin\n\n" + kRepl + " replicator\n";
}

TEST(TokenFile, ParsesTokensRolesAndComments) {
  auto tokens =
      ParseTokenFile("# c\n\n  abcdefghijklmnop  writer,reader \nqrstuvwxyz0123456 admin\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].token, "abcdefghijklmnop");
  EXPECT_EQ((*tokens)[0].roles, server::kRoleWriter | server::kRoleReader);
  EXPECT_EQ((*tokens)[0].line, 3);
  EXPECT_EQ((*tokens)[1].roles, server::kRoleAdmin);
}

TEST(TokenFile, ErrorsNameTheLineNeverTheToken) {
  for (const char* text :
       {"short writer\n", "abcdefghijklmnop boss\n", "abcdefghijklmnop writer extra\n",
        "abcdefghijklmnop writer\nabcdefghijklmnop reader\n", "# none\n"}) {
    auto tokens = ParseTokenFile(text);
    ASSERT_FALSE(tokens.ok()) << text;
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(tokens.status().message()), Not(HasSubstr("abcdefghijklmnop")));
  }
}

TEST(Authorizer, RoleTable) {
  auto tokens = ParseTokenFile(TokenFileText());
  ASSERT_TRUE(tokens.ok());
  Authorizer auth(*tokens);
  auto code = [&](const std::string& token, const char* method) {
    return auth.AuthorizeHeader(BearerValue(token), !token.empty(), method).status().code();
  };
  using C = absl::StatusCode;
  EXPECT_EQ(code("", "Ingest.Write"), C::kUnauthenticated);
  EXPECT_EQ(code(kUnknown, "Ingest.Write"), C::kUnauthenticated);
  EXPECT_EQ(code(kWriter, "Ingest.Write"), C::kOk);
  EXPECT_EQ(code(kReader, "Ingest.Write"), C::kPermissionDenied);
  EXPECT_EQ(code(kReader, "Query.Read"), C::kOk);
  EXPECT_EQ(code(kWriter, "Query.Read"), C::kPermissionDenied);
  EXPECT_EQ(code(kWriter, "Catalog.GetTag"), C::kOk);
  EXPECT_EQ(code(kWriter, "Catalog.DeleteTag"), C::kPermissionDenied);
  EXPECT_EQ(code(kAdmin, "Catalog.DeleteTag"), C::kOk);
  EXPECT_EQ(code(kAdmin, "Replication.Pull"), C::kPermissionDenied);
  EXPECT_EQ(code(kRepl, "Replication.Pull"), C::kOk);
  EXPECT_EQ(code(kRepl, "Query.Read"), C::kPermissionDenied);
  EXPECT_EQ(code(kReader, "Admin.Stats"), C::kOk);
  EXPECT_EQ(code(kReader, "Admin.Backup"), C::kPermissionDenied);
  EXPECT_EQ(code(kAdmin, "No.Such"), C::kPermissionDenied);
  EXPECT_FALSE(Authorizer().enabled());
  EXPECT_TRUE(Authorizer().AuthorizeHeader("", false, "Ingest.Write").ok());
}

class AuthNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteTextFile(dir_.Sub("tokens"), TokenFileText());
    node_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("node"),
        std::vector<std::string>{"--token_file=" + dir_.Sub("tokens"), "--log_level=debug"});
    ASSERT_TRUE(node_->Start());
    auto ch = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(ch);
    query_ = v1::Query::NewStub(ch);
    catalog_ = v1::Catalog::NewStub(ch);
    replication_ = v1::Replication::NewStub(ch);
    admin_ = v1::Admin::NewStub(ch);
  }

  static v1::WriteRequest OneSample(const std::string& tag) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    auto* sample = s->add_samples();
    sample->set_timestamp_ns(1000);
    sample->mutable_value()->set_double_value(1.5);
    return req;
  }

  grpc::StatusCode WriteBatch(const std::string& token) {
    v1::WriteAck ack;
    return ingest_->WriteBatch(testing::Ctx(token).get(), OneSample("auth.batch"), &ack)
        .error_code();
  }
  grpc::StatusCode WriteStream(const std::string& token) {
    auto ctx = testing::Ctx(token);
    auto stream = ingest_->Write(ctx.get());
    stream->Write(OneSample("auth.stream"));
    stream->WritesDone();
    v1::WriteAck ack;
    while (stream->Read(&ack)) {
    }
    return stream->Finish().error_code();
  }
  grpc::StatusCode Read(const std::string& token) {
    v1::ReadRequest req;
    req.add_tags("auth.batch");
    req.set_start_ns(0);
    req.set_end_ns(2000);
    auto ctx = testing::Ctx(token);
    auto reader = query_->Read(ctx.get(), req);
    v1::ReadResponse resp;
    while (reader->Read(&resp)) {
    }
    return reader->Finish().error_code();
  }
  grpc::StatusCode Latest(const std::string& token) {
    v1::LatestRequest req;
    req.set_glob("auth.*");
    v1::LatestResponse resp;
    return query_->Latest(testing::Ctx(token).get(), req, &resp).error_code();
  }
  grpc::StatusCode Aggregate(const std::string& token) {
    v1::AggregateRequest req;
    v1::AggregateResponse resp;
    // The role check comes first: an empty request is INVALID_ARGUMENT only
    // once authorised.
    return query_->Aggregate(testing::Ctx(token).get(), req, &resp).error_code();
  }
  grpc::StatusCode CreateTag(const std::string& token, const std::string& name) {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
    v1::Tag tag;
    return catalog_->CreateTag(testing::Ctx(token).get(), req, &tag).error_code();
  }
  grpc::StatusCode ListTags(const std::string& token) {
    v1::ListTagsResponse resp;
    return catalog_->ListTags(testing::Ctx(token).get(), v1::ListTagsRequest(), &resp).error_code();
  }
  grpc::StatusCode DeleteTag(const std::string& token, const std::string& name) {
    v1::DeleteTagRequest req;
    req.set_name(name);
    v1::DeleteTagResponse resp;
    return catalog_->DeleteTag(testing::Ctx(token).get(), req, &resp).error_code();
  }
  grpc::StatusCode Digest(const std::string& token) {
    v1::DigestRequest req;
    req.set_start_ns(0);
    req.set_end_ns(3600000000000);
    req.set_bucket_ns(3600000000000);
    v1::DigestResponse resp;
    return replication_->Digest(testing::Ctx(token).get(), req, &resp).error_code();
  }
  grpc::StatusCode Pull(const std::string& token) {
    auto ctx = testing::Ctx(token, 2);
    auto stream = replication_->Pull(ctx.get());
    v1::PullRequest req;
    req.set_site("other");
    stream->Write(req);
    v1::PullResponse resp;
    bool got = stream->Read(&resp);
    if (got) return grpc::StatusCode::OK;  // the stream was accepted and answered
    return stream->Finish().error_code();
  }
  grpc::StatusCode FetchEvents(const std::string& token) {
    auto ctx = testing::Ctx(token);  // outlives the stream
    auto reader = replication_->FetchEvents(ctx.get(), v1::FetchEventsRequest());
    v1::FetchEventsResponse resp;
    while (reader->Read(&resp)) {
    }
    return reader->Finish().error_code();
  }
  grpc::StatusCode Stats(const std::string& token) {
    v1::StatsResponse resp;
    return admin_->Stats(testing::Ctx(token).get(), v1::StatsRequest(), &resp).error_code();
  }
  grpc::StatusCode Compact(const std::string& token) {
    v1::CompactResponse resp;
    return admin_->Compact(testing::Ctx(token).get(), v1::CompactRequest(), &resp).error_code();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  std::unique_ptr<v1::Catalog::Stub> catalog_;
  std::unique_ptr<v1::Replication::Stub> replication_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

constexpr auto kOk = grpc::StatusCode::OK;
constexpr auto kUnauth = grpc::StatusCode::UNAUTHENTICATED;
constexpr auto kDenied = grpc::StatusCode::PERMISSION_DENIED;

TEST_F(AuthNodeTest, IngestNeedsWriter) {
  EXPECT_EQ(WriteBatch(""), kUnauth);
  EXPECT_EQ(WriteBatch(kUnknown), kUnauth);
  EXPECT_EQ(WriteBatch(kReader), kDenied);
  EXPECT_EQ(WriteBatch(kRepl), kDenied);
  EXPECT_EQ(WriteBatch(kWriter), kOk);
  EXPECT_EQ(WriteStream(""), kUnauth);
  EXPECT_EQ(WriteStream(kReader), kDenied);
  EXPECT_EQ(WriteStream(kWriter), kOk);
}

TEST_F(AuthNodeTest, QueryNeedsReader) {
  ASSERT_EQ(WriteBatch(kWriter), kOk);
  EXPECT_EQ(Read(""), kUnauth);
  EXPECT_EQ(Read(kWriter), kDenied);
  EXPECT_EQ(Read(kReader), kOk);
  EXPECT_EQ(Latest(""), kUnauth);
  EXPECT_EQ(Latest(kRepl), kDenied);
  EXPECT_EQ(Latest(kReader), kOk);
  EXPECT_EQ(Aggregate(""), kUnauth);
  EXPECT_EQ(Aggregate(kWriter), kDenied);
  EXPECT_EQ(Aggregate(kReader), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AuthNodeTest, CatalogReadsWritesAndDeletes) {
  EXPECT_EQ(CreateTag("", "auth.c1"), kUnauth);
  EXPECT_EQ(CreateTag(kReader, "auth.c1"), kDenied);
  EXPECT_EQ(CreateTag(kWriter, "auth.c1"), kOk);
  EXPECT_EQ(ListTags(""), kUnauth);
  EXPECT_EQ(ListTags(kRepl), kDenied);
  EXPECT_EQ(ListTags(kReader), kOk);
  EXPECT_EQ(ListTags(kWriter), kOk);
  EXPECT_EQ(DeleteTag(kWriter, "auth.c1"), kDenied);
  EXPECT_EQ(DeleteTag(kAdmin, "auth.c1"), kOk);
}

TEST_F(AuthNodeTest, ReplicationNeedsReplicator) {
  EXPECT_EQ(Digest(""), kUnauth);
  EXPECT_EQ(Digest(kAdmin), kDenied);
  EXPECT_EQ(Digest(kRepl), kOk);
  EXPECT_EQ(Pull(""), kUnauth);
  EXPECT_EQ(Pull(kWriter), kDenied);
  // Rules and events for anti-entropy: peers only.
  EXPECT_EQ(FetchEvents(""), kUnauth);
  EXPECT_EQ(FetchEvents(kAdmin), kDenied);
  EXPECT_EQ(FetchEvents(kRepl), kOk);
}

TEST_F(AuthNodeTest, AdminNeedsAdminStatsAlsoReader) {
  EXPECT_EQ(Stats(""), kUnauth);
  EXPECT_EQ(Stats(kWriter), kDenied);
  EXPECT_EQ(Stats(kReader), kOk);
  EXPECT_EQ(Stats(kAdmin), kOk);
  EXPECT_EQ(Compact(""), kUnauth);
  EXPECT_EQ(Compact(kReader), kDenied);
  EXPECT_EQ(Compact(kAdmin), kOk);
}

TEST_F(AuthNodeTest, MessagesNameRolesAndTokensNeverReachTheLog) {
  v1::WriteAck ack;
  grpc::Status st = ingest_->WriteBatch(testing::Ctx(kReader).get(), OneSample("x.y"), &ack);
  EXPECT_EQ(st.error_code(), kDenied);
  EXPECT_THAT(st.error_message(), HasSubstr("Ingest.WriteBatch needs role writer"));
  EXPECT_THAT(st.error_message(), Not(HasSubstr(kReader)));
  st = ingest_->WriteBatch(testing::Ctx(kUnknown).get(), OneSample("x.y"), &ack);
  EXPECT_THAT(st.error_message(), Not(HasSubstr(kUnknown)));
  EXPECT_EQ(WriteBatch(kWriter), kOk);
  EXPECT_EQ(Stats(kAdmin), kOk);
  ASSERT_EQ(node_->Stop(), 0);
  std::string log = testing::ReadTextFile(node_->log_path());
  EXPECT_THAT(log, HasSubstr("call refused"));  // debug logging was on
  for (const char* token : {kWriter, kReader, kAdmin, kRepl, kUnknown}) {
    EXPECT_THAT(log, Not(HasSubstr(token)));
  }
}

// Two nodes with tokens: each pulls the other with --peer_token_file (role
// replicator); a node with the wrong peer token gets nothing.
TEST(AuthReplicationTest, PeersAuthenticateWithTheirToken) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.Sub("tokens"), TokenFileText());
  testing::WriteTextFile(dir.Sub("peer_token"), std::string(kRepl) + "\n");
  testing::WriteTextFile(dir.Sub("bad_peer_token"), std::string(kWriter) + "\n");
  int pa = testing::FreePort(), pb = testing::FreePort(), pc = testing::FreePort();
  auto flags = [&](const std::string& site, int port, const std::string& peers,
                   const std::string& token_file) {
    return std::vector<std::string>{"--site=" + site,
                                    "--listen=127.0.0.1:" + std::to_string(port),
                                    "--peers=" + peers,
                                    "--token_file=" + dir.Sub("tokens"),
                                    "--peer_token_file=" + token_file,
                                    "--anti_entropy_interval=0s"};
  };
  std::string a_addr = "127.0.0.1:" + std::to_string(pa);
  testing::NodeProcess a(
      dir.Sub("a"), flags("a", pa, "b=127.0.0.1:" + std::to_string(pb), dir.Sub("peer_token")));
  testing::NodeProcess b(dir.Sub("b"), flags("b", pb, "a=" + a_addr, dir.Sub("peer_token")));
  testing::NodeProcess c(dir.Sub("c"), flags("c", pc, "a=" + a_addr, dir.Sub("bad_peer_token")));
  ASSERT_TRUE(a.Start());
  ASSERT_TRUE(b.Start());
  ASSERT_TRUE(c.Start());
  auto ingest =
      v1::Ingest::NewStub(grpc::CreateChannel(a.address(), grpc::InsecureChannelCredentials()));
  v1::WriteAck ack;
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag("plant.a.temp");
  s->add_samples()->set_timestamp_ns(5000);
  s->mutable_samples(0)->mutable_value()->set_double_value(21.5);
  ASSERT_TRUE(ingest->WriteBatch(testing::Ctx(kWriter).get(), req, &ack).ok());

  auto latest_on = [&](testing::NodeProcess& node) {
    auto query =
        v1::Query::NewStub(grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials()));
    v1::LatestRequest lr;
    lr.add_tags("plant.a.temp");
    v1::LatestResponse resp;
    grpc::Status st = query->Latest(testing::Ctx(kReader).get(), lr, &resp);
    return st.ok() && resp.values_size() == 1 && resp.values(0).has_sample();
  };
  EXPECT_TRUE(testing::PollUntil([&] { return latest_on(b); }));
  // c presents a writer token to a: a refuses every pull (and logs it,
  // naming the token by its line only), so c gets nothing.
  EXPECT_TRUE(testing::PollUntil([&] {
    std::string log = testing::ReadTextFile(a.log_path());
    return log.find("call refused method=Replication.Pull") != std::string::npos &&
           log.find("code=PERMISSION_DENIED") != std::string::npos;
  }));
  EXPECT_FALSE(latest_on(c));
}

}  // namespace
}  // namespace historian
