// Limits and answers of a real historiand that a hostile or careless client
// meets (issue 14): stream caps, unparsable stream messages, tag metadata
// sizes, unknown enum values, long names in errors, slow /metrics clients,
// bad TLS files; and what a write's ack counts.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
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
namespace v1 = ::historian::v1;

class HardeningTest : public ::testing::Test {
 protected:
  void StartNode(std::vector<std::string> flags = {}) {
    flags.push_back("--metrics_listen=127.0.0.1:0");
    flags.push_back("--metrics_port_file=" + dir_.Sub("metrics.port"));
    node_ = std::make_unique<testing::NodeProcess>(dir_.Sub("node"), flags);
    ASSERT_TRUE(node_->Start());
    channel_ = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(channel_);
    query_ = v1::Query::NewStub(channel_);
    catalog_ = v1::Catalog::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
  }

  grpc::Status WriteBatch(const v1::WriteRequest& req, v1::WriteAck* ack) {
    return ingest_->WriteBatch(testing::Ctx("").get(), req, ack);
  }
  static void AddDouble(v1::TagSamples* s, int64_t ts, double v) {
    auto* sample = s->add_samples();
    sample->set_timestamp_ns(ts);
    sample->mutable_value()->set_double_value(v);
  }
  // Every sample of `tags` in [start, end), or the error.
  grpc::Status Read(const std::string& tag, int64_t start, int64_t end,
                    std::vector<v1::Sample>* out) {
    v1::ReadRequest req;
    req.add_tags(tag);
    req.set_start_ns(start);
    req.set_end_ns(end);
    auto ctx = testing::Ctx("");
    auto reader = query_->Read(ctx.get(), req);
    v1::ReadResponse resp;
    while (reader->Read(&resp)) {
      for (const auto& s : resp.samples()) out->push_back(s);
    }
    return reader->Finish();
  }
  grpc::Status CreateTag(const v1::Tag& tag) {
    v1::CreateTagRequest req;
    *req.mutable_tag() = tag;
    v1::Tag out;
    return catalog_->CreateTag(testing::Ctx("").get(), req, &out);
  }
  grpc::Status UpdateTag(const v1::Tag& tag) {
    v1::UpdateTagRequest req;
    *req.mutable_tag() = tag;
    v1::Tag out;
    return catalog_->UpdateTag(testing::Ctx("").get(), req, &out);
  }
  static v1::Tag Tag(const std::string& name, v1::ValueType type) {
    v1::Tag t;
    t.set_name(name);
    t.set_value_type(type);
    return t;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  std::unique_ptr<v1::Catalog::Stub> catalog_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

// Two samples with the same tag and time in one batch are stored once (the
// later wins), and the ack counts what was stored.
TEST_F(HardeningTest, AcceptedCountCountsStoredSamples) {
  StartNode();
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag("dup.t");
  AddDouble(s, 1000, 1.0);
  AddDouble(s, 1000, 2.0);
  AddDouble(s, 2000, 3.0);
  auto* again = req.add_series();  // the same tag in a second series
  again->set_tag("dup.t");
  AddDouble(again, 2000, 4.0);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(ack.accepted_count(), 2u);
  std::vector<v1::Sample> got;
  ASSERT_TRUE(Read("dup.t", 0, 10000, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].value().double_value(), 2.0);
  EXPECT_EQ(got[1].value().double_value(), 4.0);
}

// [t, t) is an empty range: an empty answer, not an error.
TEST_F(HardeningTest, ReadOfEmptyRangeIsEmpty) {
  StartNode();
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag("empty.t");
  AddDouble(s, 1000, 1.0);
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  std::vector<v1::Sample> got;
  grpc::Status st = Read("empty.t", 1000, 1000, &got);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(got.empty());
  // start above end is still a mistake.
  st = Read("empty.t", 2000, 1000, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The gateway sends CSV numbers as doubles: a whole double goes into an
// int64 tag, a fraction is refused naming the field (samples and columns).
TEST_F(HardeningTest, IntegralDoubleIntoInt64Tag) {
  StartNode();
  ASSERT_TRUE(CreateTag(Tag("int.t", v1::VALUE_TYPE_INT64)).ok());
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag("int.t");
  AddDouble(s, 1000, 42.0);
  AddDouble(s, 2000, 42.5);
  AddDouble(s, 3000, -9007199254740992.0);  // -2^53
  AddDouble(s, 4000, 1e19);                 // out of range
  v1::WriteAck ack;
  ASSERT_TRUE(WriteBatch(req, &ack).ok());
  EXPECT_EQ(ack.accepted_count(), 2u);
  ASSERT_EQ(ack.rejected_size(), 2);
  EXPECT_EQ(ack.rejected(0).sample_index(), 1u);
  EXPECT_EQ(ack.rejected(0).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("series[0].samples[1].value"));
  EXPECT_EQ(ack.rejected(1).sample_index(), 3u);

  v1::WriteRequest cols;
  auto* c = cols.add_series();
  c->set_tag("int.t");
  c->mutable_columns()->add_timestamp_deltas_ns(5000);
  c->mutable_columns()->add_timestamp_deltas_ns(1000);
  c->mutable_columns()->add_double_values(7.0);
  c->mutable_columns()->add_double_values(7.25);
  ASSERT_TRUE(WriteBatch(cols, &ack).ok());
  EXPECT_EQ(ack.accepted_count(), 1u);
  ASSERT_EQ(ack.rejected_size(), 1);
  EXPECT_THAT(ack.rejected(0).reason(), HasSubstr("series[0].columns.double_values[1]"));

  std::vector<v1::Sample> got;
  ASSERT_TRUE(Read("int.t", 0, 10000, &got).ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].value().int64_value(), 42);
  EXPECT_EQ(got[1].value().int64_value(), -9007199254740992);
  EXPECT_EQ(got[2].value().int64_value(), 7);
}

// An Ingest.Write message that does not parse ends the stream with
// INVALID_ARGUMENT (it used to end it with OK: the client's later batches
// got no ack and no error).
TEST_F(HardeningTest, UnparsableStreamMessageIsInvalidArgument) {
  StartNode();
  auto ctx = testing::Ctx("");
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, v1::WriteAck>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, v1::WriteAck>::Create(
          channel_.get(),
          grpc::internal::RpcMethod("/historian.v1.Ingest/Write",
                                    grpc::internal::RpcMethod::BIDI_STREAMING),
          ctx.get()));
  auto bytes = [](const std::string& s) {
    grpc::Slice slice(s);
    return grpc::ByteBuffer(&slice, 1);
  };
  v1::WriteRequest good;
  good.set_batch_sequence(1);
  auto* s = good.add_series();
  s->set_tag("parse.t");
  AddDouble(s, 1000, 1.0);
  ASSERT_TRUE(stream->Write(bytes(good.SerializeAsString())));
  v1::WriteAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.batch_sequence(), 1u);
  ASSERT_TRUE(stream->Write(bytes(std::string("\x0a\x05\x61\x62", 4))));  // truncated field
  good.set_batch_sequence(2);
  stream->Write(bytes(good.SerializeAsString()));
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("message 2"));
}

// --max_streams_per_client=N holds N streams open and refuses the next.
TEST_F(HardeningTest, StreamsPerClientCapIsExact) {
  constexpr int kMax = 64;
  StartNode({"--max_streams_per_client=" + std::to_string(kMax)});
  struct Open {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WriteRequest, v1::WriteAck>> stream;
  };
  std::vector<Open> held;
  int accepted = 0;
  for (int i = 0; i < kMax + 1; ++i) {
    Open o;
    o.ctx = testing::Ctx("", 60);
    o.stream = ingest_->Write(o.ctx.get());
    v1::WriteRequest req;
    req.set_batch_sequence(1);
    auto* s = req.add_series();
    s->set_tag("streams.t" + std::to_string(i));
    AddDouble(s, 1000, 1.0);
    o.stream->Write(req);
    v1::WriteAck ack;
    if (o.stream->Read(&ack)) {
      ++accepted;
      held.push_back(std::move(o));
    } else {
      grpc::Status st = o.stream->Finish();
      EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
      EXPECT_THAT(st.error_message(), HasSubstr("--max_streams_per_client"));
    }
  }
  EXPECT_EQ(accepted, kMax);
  for (Open& o : held) {
    o.stream->WritesDone();
    EXPECT_TRUE(o.stream->Finish().ok());
  }
}

// Replication.Pull streams are capped per peer, like client streams.
TEST_F(HardeningTest, ReplicationStreamsPerPeerAreCapped) {
  StartNode({"--site=a", "--peers=b=127.0.0.1:1", "--max_replication_streams_per_peer=2",
             "--anti_entropy_interval=0s"});
  auto replication = v1::Replication::NewStub(channel_);
  struct Open {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::PullRequest, v1::PullResponse>> stream;
  };
  std::vector<Open> held;
  auto open = [&] {
    Open o;
    o.ctx = testing::Ctx("", 60);
    o.stream = replication->Pull(o.ctx.get());
    v1::PullRequest first;
    first.set_site("b");
    first.set_from_sequence(1);
    o.stream->Write(first);
    return o;
  };
  for (int i = 0; i < 2; ++i) {
    held.push_back(open());
    v1::PullResponse resp;
    ASSERT_TRUE(held.back().stream->Read(&resp));  // the node holds it now
  }
  Open third = open();
  v1::PullResponse resp;
  EXPECT_FALSE(third.stream->Read(&resp));
  grpc::Status st = third.stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("--max_replication_streams_per_peer"));
  for (Open& o : held) {
    o.ctx->TryCancel();
    o.stream->Finish();
  }
}

// Tag metadata has size limits, each named with its flag; an unknown
// value_type is refused instead of read as "unchanged".
TEST_F(HardeningTest, TagFieldLimits) {
  StartNode({"--max_tag_description_bytes=100", "--max_tag_unit_bytes=8",
             "--max_tag_attributes_bytes=64"});
  v1::Tag big = Tag("meta.t", v1::VALUE_TYPE_DOUBLE);
  big.set_description(std::string(101, 'd'));
  grpc::Status st = CreateTag(big);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_tag_description_bytes"));
  big = Tag("meta.t", v1::VALUE_TYPE_DOUBLE);
  big.set_unit("123456789");
  st = CreateTag(big);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_tag_unit_bytes"));
  big = Tag("meta.t", v1::VALUE_TYPE_DOUBLE);
  (*big.mutable_attributes())["k"] = std::string(64, 'v');
  st = CreateTag(big);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_tag_attributes_bytes"));

  v1::Tag ok = Tag("meta.t", v1::VALUE_TYPE_DOUBLE);
  ok.set_description(std::string(100, 'd'));
  ok.set_unit("12345678");
  (*ok.mutable_attributes())["k"] = std::string(63, 'v');
  ASSERT_TRUE(CreateTag(ok).ok());
  ok.set_description(std::string(101, 'd'));
  st = UpdateTag(ok);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_tag_description_bytes"));

  v1::Tag bad_type = Tag("meta.t", static_cast<v1::ValueType>(99));
  st = UpdateTag(bad_type);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("value_type"));
  st = CreateTag(Tag("meta.t2", static_cast<v1::ValueType>(99)));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A ListTags page ends early, with a token, once its tags pass
// --max_list_tags_response_bytes; following the tokens lists every tag.
TEST_F(HardeningTest, ListTagsPageIsBoundedInBytes) {
  StartNode({"--max_list_tags_response_bytes=1000"});
  for (int i = 0; i < 5; ++i) {
    v1::Tag t = Tag("list.t" + std::to_string(i), v1::VALUE_TYPE_DOUBLE);
    t.set_description(std::string(400, 'd'));
    ASSERT_TRUE(CreateTag(t).ok());
  }
  v1::ListTagsRequest req;
  req.set_glob("list.*");
  int pages = 0;
  size_t listed = 0;
  do {
    v1::ListTagsResponse resp;
    ASSERT_TRUE(catalog_->ListTags(testing::Ctx("").get(), req, &resp).ok());
    EXPECT_LE(resp.tags_size(), 3);
    EXPECT_GE(resp.tags_size(), 1);
    listed += resp.tags_size();
    req.set_page_token(resp.next_page_token());
    ++pages;
  } while (!req.page_token().empty() && pages < 10);
  EXPECT_EQ(listed, 5u);
  EXPECT_GE(pages, 2);
}

// An error does not echo a 10 KB name back in full.
TEST_F(HardeningTest, NotFoundCutsLongNames) {
  StartNode();
  v1::GetTagRequest req;
  req.set_name(std::string(10000, 'n'));
  v1::Tag out;
  grpc::Status st = catalog_->GetTag(testing::Ctx("").get(), req, &out);
  EXPECT_NE(st.error_code(), grpc::StatusCode::OK);
  EXPECT_LT(st.error_message().size(), 700u) << st.error_message().size();
  std::vector<v1::Sample> got;
  st = Read(std::string(10000, 'r'), 0, 1000, &got);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(st.error_message().size(), 700u) << st.error_message().size();
}

// A backup into a directory whose parent does not exist is the caller's
// mistake: a permanent code, not UNAVAILABLE (which clients retry).
TEST_F(HardeningTest, BackupWithoutParentIsPermanent) {
  StartNode();
  v1::BackupRequest req;
  req.set_dir(dir_.Sub("no/such/parent/backup"));
  v1::BackupResponse resp;
  grpc::Status st = admin_->Backup(testing::Ctx("").get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("does not exist"));
}

// /metrics still answers while 40 connections hold half a request header.
TEST_F(HardeningTest, MetricsSurviveSlowHeaders) {
  StartNode();
  const int port = std::stoi(testing::ReadTextFile(dir_.Sub("metrics.port")));
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
    ASSERT_GT(send(fd, partial, sizeof(partial) - 1, 0), 0);
    slow.push_back(fd);
  }
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(std::chrono::seconds(5));
  http.set_read_timeout(std::chrono::seconds(5));  // the old node answered after ~25 s
  auto res = http.Get("/metrics");
  for (int fd : slow) close(fd);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

class TlsFlagsTest : public ::testing::Test {
 protected:
  // Exit code and stderr of historiand with `flags` (bounded: a node that
  // starts serving is stopped by `timeout` and reports 124).
  testing::CommandResult RunNode(std::vector<std::string> flags) {
    std::vector<std::string> argv = {"/usr/bin/timeout",
                                     "20",
                                     testing::BinDir() + "/server/historiand",
                                     "--data_dir=" + dir_.Sub("data"),
                                     "--listen=127.0.0.1:0",
                                     "--metrics_listen="};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return testing::RunCommand(argv);
  }
  testing::TempDir dir_;
};

// A garbage PEM, or a key that is not the certificate's, stops the node with
// exit 2 and our message naming the flag (not gRPC's, with exit 1).
TEST_F(TlsFlagsTest, BadPemOrMismatchedKeyExitsTwo) {
  const std::string d = dir_.Sub("pki");
  ASSERT_TRUE(testing::RunShell("mkdir -p '" + d + "'"));
  ASSERT_TRUE(testing::MakeCa(d, "ca"));
  ASSERT_TRUE(testing::MakeCert(d, "ca", "one"));
  ASSERT_TRUE(testing::MakeCert(d, "ca", "two"));
  testing::WriteTextFile(d + "/garbage.pem",
                         "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END "
                         "CERTIFICATE-----\n");
  testing::CommandResult r =
      RunNode({"--tls_cert=" + d + "/garbage.pem", "--tls_key=" + d + "/one.key"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--tls_cert"));
  r = RunNode({"--tls_cert=" + d + "/one.pem", "--tls_key=" + d + "/two.key"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--tls_key"));
  r = RunNode({"--tls_cert=" + d + "/one.pem", "--tls_key=" + d + "/one.key",
               "--tls_ca=" + d + "/garbage.pem"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--tls_ca"));
}

// docs/storage.md names --chunk_max_duration: historiand has it.
TEST_F(TlsFlagsTest, ChunkMaxDurationFlag) {
  testing::CommandResult r = RunNode({"--chunk_max_duration=0s"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--chunk_max_duration"));
  testing::NodeProcess node(dir_.Sub("node"), {"--chunk_max_duration=30m", "--metrics_listen="});
  EXPECT_TRUE(node.Start());
  EXPECT_EQ(node.Stop(), 0);
}

}  // namespace
}  // namespace historian
