// Tests for client/historian_client.h against fake in-process services:
// metadata, continuation following, paging, cancellation and failover.
#include "client/historian_client.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace historian::client {
namespace {

namespace v1 = historian::v1;

// Read: three pieces of one sample each, cut by a continuation token after
// each piece ("1", "2"); remembers the authorization metadata it saw.
class FakeQuery final : public v1::Query::Service {
 public:
  grpc::Status Read(grpc::ServerContext* context, const v1::ReadRequest* request,
                    grpc::ServerWriter<v1::ReadResponse>* writer) override {
    auto it = context->client_metadata().find("authorization");
    if (it != context->client_metadata().end()) {
      authorization = std::string(it->second.data(), it->second.size());
    }
    ++streams;
    const std::string& token = request->continuation_token();
    const int piece = token.empty() ? 0 : std::stoi(token);
    v1::ReadResponse response;
    response.set_tag(request->tags(0));
    response.add_samples()->set_timestamp_ns(piece);
    if (piece < 2) response.set_continuation_token(absl::StrCat(piece + 1));
    writer->Write(response);
    return grpc::Status::OK;
  }
  grpc::Status Latest(grpc::ServerContext*, const v1::LatestRequest*,
                      v1::LatestResponse*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such tag");
  }

  std::string authorization;
  int streams = 0;
};

// ListTags: tags t0..t4 in pages of two.
class FakeCatalog final : public v1::Catalog::Service {
 public:
  grpc::Status ListTags(grpc::ServerContext*, const v1::ListTagsRequest* request,
                        v1::ListTagsResponse* response) override {
    const int start = request->page_token().empty() ? 0 : std::stoi(request->page_token());
    for (int i = start; i < std::min(start + 2, 5); ++i) {
      response->add_tags()->set_name(absl::StrCat("t", i));
    }
    if (start + 2 < 5) response->set_next_page_token(absl::StrCat(start + 2));
    return grpc::Status::OK;
  }
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&query_);
    builder.RegisterService(&catalog_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<Client> Connect(std::vector<std::string> endpoints, std::string token = "") {
    ClientOptions options;
    options.endpoints = std::move(endpoints);
    options.token = std::move(token);
    options.timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }
  std::string Address() const { return absl::StrCat("127.0.0.1:", port_); }

  FakeQuery query_;
  FakeCatalog catalog_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

v1::ReadRequest ReadOf(const std::string& tag) {
  v1::ReadRequest request;
  request.add_tags(tag);
  return request;
}

TEST_F(ClientTest, ConnectRejectsBadOptions) {
  ClientOptions options;
  options.endpoints.clear();
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.endpoints = {""};
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.endpoints = {"127.0.0.1:1"};
  options.timeout = absl::ZeroDuration();
  EXPECT_EQ(Client::Connect(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, ReadFollowsContinuationTokensAndSendsToken) {
  std::unique_ptr<Client> client = Connect({Address()}, "s3cret");
  std::vector<int64_t> seen;
  ASSERT_TRUE(client
                  ->Read(ReadOf("a"),
                         [&](const v1::ReadResponse& r) {
                           seen.push_back(r.samples(0).timestamp_ns());
                           return absl::OkStatus();
                         })
                  .ok());
  EXPECT_THAT(seen, ::testing::ElementsAre(0, 1, 2));
  EXPECT_EQ(query_.streams, 3);
  EXPECT_EQ(query_.authorization, "Bearer s3cret");
}

TEST_F(ClientTest, ReadCanStopAtTheFirstToken) {
  std::unique_ptr<Client> client = Connect({Address()});
  std::string token;
  ASSERT_TRUE(client
                  ->Read(
                      ReadOf("a"),
                      [&](const v1::ReadResponse& r) {
                        token = r.continuation_token();
                        return absl::OkStatus();
                      },
                      Continuation::kStop)
                  .ok());
  EXPECT_EQ(token, "1");
  EXPECT_EQ(query_.streams, 1);
  EXPECT_EQ(query_.authorization, "");
}

TEST_F(ClientTest, CallbackErrorStopsTheRead) {
  std::unique_ptr<Client> client = Connect({Address()});
  absl::Status s = client->Read(
      ReadOf("a"), [](const v1::ReadResponse&) { return absl::CancelledError("enough"); });
  EXPECT_EQ(s, absl::CancelledError("enough"));
  EXPECT_EQ(query_.streams, 1);
}

TEST_F(ClientTest, ServerErrorsKeepCodeAndMessage) {
  std::unique_ptr<Client> client = Connect({Address()});
  EXPECT_EQ(client->Latest(v1::LatestRequest()).status(), absl::NotFoundError("no such tag"));
  // Not registered: gRPC's UNIMPLEMENTED reaches the caller as is.
  EXPECT_EQ(client->WriteBatch(v1::WriteRequest()).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST_F(ClientTest, ListAllTagsPagesThroughEverything) {
  std::unique_ptr<Client> client = Connect({Address()});
  std::vector<std::string> names;
  ASSERT_TRUE(client
                  ->ListAllTags(v1::ListTagsRequest(),
                                [&](const v1::Tag& t) {
                                  names.push_back(t.name());
                                  return absl::OkStatus();
                                })
                  .ok());
  EXPECT_THAT(names, ::testing::ElementsAre("t0", "t1", "t2", "t3", "t4"));
}

TEST_F(ClientTest, FailsOverPastAnUnavailableEndpointAndRemembersIt) {
  std::unique_ptr<Client> client = Connect({"127.0.0.1:1", Address()});
  EXPECT_EQ(client->Latest(v1::LatestRequest()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->preferred_endpoint(), Address());
}

TEST_F(ClientTest, AllEndpointsUnavailableNamesEach) {
  std::unique_ptr<Client> client = Connect({"127.0.0.1:1", "127.0.0.1:2"});
  absl::Status s = client->Latest(v1::LatestRequest()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("127.0.0.1:1: "));
  EXPECT_THAT(s.message(), ::testing::HasSubstr("127.0.0.1:2: "));
}

}  // namespace
}  // namespace historian::client
