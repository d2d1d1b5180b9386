// What a node takes from its callers, through real historiand processes:
// a Pull never moves the node's own sequence (acked writes survive a
// kill -9 after a Pull from 2^64-1), peer sites and acks are checked; one
// listening port per node; a batch_sequence of 2^64-1 does not wedge the
// write path; globs and digest tag lists are bounded; a writer cannot change
// a tag's retention (it drops data).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
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
namespace v1 = ::historian::v1;

v1::WriteRequest OneSample(const std::string& tag, int64_t ts, double v) {
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag(tag);
  auto* sample = s->add_samples();
  sample->set_timestamp_ns(ts);
  sample->mutable_value()->set_double_value(v);
  return req;
}

// A node without tokens (an open node trusts every client) and stubs.
class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override { StartNode(); }

  void StartNode(std::vector<std::string> flags = {}) {
    node_ = std::make_unique<testing::NodeProcess>(dir_.Sub("node"), std::move(flags));
    ASSERT_TRUE(node_->Start());
    auto ch = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(ch);
    query_ = v1::Query::NewStub(ch);
    catalog_ = v1::Catalog::NewStub(ch);
    replication_ = v1::Replication::NewStub(ch);
    admin_ = v1::Admin::NewStub(ch);
  }

  grpc::Status Write(const v1::WriteRequest& req, int seconds = 10) {
    v1::WriteAck ack;
    return ingest_->WriteBatch(testing::Ctx("", seconds).get(), req, &ack);
  }

  // Samples of `tag` over all time (-1 on an error).
  int ReadCount(const std::string& tag) {
    v1::ReadRequest req;
    req.add_tags(tag);
    req.set_start_ns(0);
    req.set_end_ns(INT64_MAX);
    auto ctx = testing::Ctx("");
    auto reader = query_->Read(ctx.get(), req);
    v1::ReadResponse resp;
    int n = 0;
    while (reader->Read(&resp)) n += resp.samples_size();
    return reader->Finish().ok() ? n : -1;
  }

  // Opens a Pull with `first`; returns the status the node ends it with,
  // or OK when it is still streaming after the first response (then
  // cancelled here). `then` (may be null) is sent after the first response.
  grpc::Status Pull(const v1::PullRequest& first, const v1::PullRequest* then = nullptr) {
    auto ctx = testing::Ctx("", 10);
    auto stream = replication_->Pull(ctx.get());
    stream->Write(first);
    v1::PullResponse resp;
    if (stream->Read(&resp)) {
      if (then == nullptr) {
        ctx->TryCancel();
        stream->Finish().ok();
        return grpc::Status::OK;
      }
      stream->Write(*then);
      while (stream->Read(&resp)) {
      }
    }
    return stream->Finish();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  std::unique_ptr<v1::Catalog::Stub> catalog_;
  std::unique_ptr<v1::Replication::Stub> replication_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

// Issue 13 item 5: Pull(from_sequence = 2^64-1) pinned the own sequence and
// the writes acknowledged after it were gone after a kill -9.
TEST_F(TrustTest, PullBeyondTheLogMovesNothingAndAckedWritesSurviveKill) {
  ASSERT_TRUE(Write(OneSample("trust.seq", 1000, 1)).ok());
  v1::PullRequest first;
  first.set_site("evil");
  first.set_from_sequence(UINT64_MAX);
  grpc::Status st = Pull(first);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("from_sequence"));
  for (int i = 1; i <= 3; ++i) {
    grpc::Status w = Write(OneSample("trust.seq", 1000 + i, i));
    ASSERT_TRUE(w.ok()) << w.error_message();
  }
  node_->Kill();
  StartNode();
  EXPECT_EQ(ReadCount("trust.seq"), 4);
}

TEST_F(TrustTest, PullChecksSiteAndAcks) {
  ASSERT_TRUE(Write(OneSample("trust.ack", 1000, 1)).ok());
  v1::PullRequest first;
  first.set_from_sequence(1);
  first.set_site(std::string(1 << 20, 's'));  // held per site, for good
  grpc::Status st = Pull(first);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("site"));
  first.set_site("local");  // the node's own site
  EXPECT_EQ(Pull(first).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // An ack of more than the stream has sent would let the log be trimmed
  // under the real peer.
  first.set_site("ghost");
  v1::PullRequest ack;
  ack.set_applied_sequence(UINT64_MAX);
  st = Pull(first, &ack);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("applied_sequence"));
  // A proper pull still works.
  EXPECT_TRUE(Pull(first).ok());
}

// Item 9: batch_sequence 2^64-1 with a client id wedged the write path of
// the whole node (the dedupe window arithmetic overflowed under the lock).
TEST_F(TrustTest, HugeBatchSequenceDoesNotWedgeWrites) {
  v1::WriteRequest req = OneSample("trust.dedupe", 1000, 1);
  req.set_client_id("gw");
  req.set_batch_sequence(UINT64_MAX);
  grpc::Status st = Write(req, 5);
  EXPECT_TRUE(st.ok()) << st.error_message();
  // Other clients and Stats go on; a retry is a duplicate.
  EXPECT_TRUE(Write(OneSample("trust.other", 1000, 1), 5).ok());
  v1::StatsResponse stats;
  EXPECT_TRUE(admin_->Stats(testing::Ctx("", 5).get(), v1::StatsRequest(), &stats).ok());
  v1::WriteAck ack;
  ASSERT_TRUE(ingest_->WriteBatch(testing::Ctx("", 5).get(), req, &ack).ok());
  EXPECT_EQ(ReadCount("trust.dedupe"), 1);
  req.set_batch_sequence(UINT64_MAX - 1);  // within the window below it
  EXPECT_TRUE(Write(req, 5).ok());
}

// Item 11: a 4 MiB all-`*` glob scanned every tag under the store lock.
TEST_F(TrustTest, GlobLengthIsBounded) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Write(OneSample("trust.glob." + std::to_string(i), 1000, i)).ok());
  }
  v1::ListTagsRequest list;
  list.set_glob(std::string(4 << 20, '*'));
  v1::ListTagsResponse listed;
  grpc::Status st = catalog_->ListTags(testing::Ctx("", 30).get(), list, &listed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("--max_glob_bytes"));
  v1::LatestRequest latest;
  latest.set_glob(list.glob());
  v1::LatestResponse values;
  st = query_->Latest(testing::Ctx("", 30).get(), latest, &values);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  // Globs within the limit, pathological ones too, still answer.
  list.set_glob("trust.glob.1*");
  ASSERT_TRUE(catalog_->ListTags(testing::Ctx("").get(), list, &listed).ok());
  EXPECT_EQ(listed.tags_size(), 11);  // 1, 10..19
  std::string backtracking;
  for (int i = 0; i < 400; ++i) backtracking += "*?";
  list.set_glob(backtracking + "x");
  listed.Clear();
  ASSERT_TRUE(catalog_->ListTags(testing::Ctx("").get(), list, &listed).ok());
  EXPECT_EQ(listed.tags_size(), 0);
}

// Item 11: Digest with 200,000 copies of one tag ran long past its deadline.
TEST_F(TrustTest, DigestTagsAreDedupedAndBounded) {
  ASSERT_TRUE(Write(OneSample("trust.digest", 1000, 1)).ok());
  v1::DigestRequest req;
  req.set_start_ns(0);
  req.set_end_ns(INT64_MAX);
  req.set_bucket_ns(int64_t{3600} * 1000000000);
  for (int i = 0; i < 200000; ++i) req.add_tags("trust.digest");
  v1::DigestResponse resp;
  grpc::Status st = replication_->Digest(testing::Ctx("", 30).get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.tags_size(), 1);
  req.clear_tags();
  for (int i = 0; i < 1001; ++i) req.add_tags("t" + std::to_string(i));
  st = replication_->Digest(testing::Ctx("", 30).get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("--max_tags_per_query"));
}

// Item 6: a second node on a busy port printed `serving` and clients
// alternated between two databases (gRPC's SO_REUSEPORT).
TEST_F(TrustTest, SecondNodeOnABusyPortStops) {
  testing::NodeProcess second(dir_.Sub("second"),
                              {"--listen=" + node_->address(), "--metrics_listen="});
  EXPECT_FALSE(second.Start());
  EXPECT_THAT(testing::ReadTextFile(second.log_path()), HasSubstr("--listen"));
  // A busy metrics port given explicitly stops the node too.
  testing::NodeProcess metrics(
      dir_.Sub("metrics"),
      {"--metrics_listen=127.0.0.1:0", "--metrics_port_file=" + dir_.Sub("metrics.port")});
  ASSERT_TRUE(metrics.Start());
  std::string port = testing::ReadTextFile(dir_.Sub("metrics.port"));
  port.erase(port.find_last_not_of("\n") + 1);
  testing::NodeProcess third(dir_.Sub("third"), {"--metrics_listen=127.0.0.1:" + port});
  EXPECT_FALSE(third.Start());
  EXPECT_THAT(testing::ReadTextFile(third.log_path()), HasSubstr("--metrics_listen"));
}

// Peak resident set (VmHWM) of a process, in bytes; -1 if unknown.
int64_t PeakRssBytes(pid_t pid) {
  std::string status = testing::ReadTextFile("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("VmHWM:");
  if (at == std::string::npos) return -1;
  return std::stoll(status.substr(at + 6)) * 1024;  // "VmHWM:   1234 kB"
}

v1::WriteRequest BigString(const std::string& tag, size_t bytes) {
  v1::WriteRequest req = OneSample(tag, 1000, 0);
  req.mutable_series(0)->mutable_samples(0)->mutable_value()->set_string_value(
      std::string(bytes, 'x'));
  return req;
}

// Item 13: a 64 MiB message sent gzip-compressed (~64 KB on the wire) was
// inflated in full before the message size limit refused it.
TEST_F(TrustTest, CompressedMessageIsRefusedBeforeItIsInflated) {
  StartNode({"--max_message_bytes=1048576"});
  const int64_t before = PeakRssBytes(node_->pid());
  ASSERT_GT(before, 0);
  for (int i = 0; i < 2; ++i) {
    auto ctx = testing::Ctx("", 30);
    ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
    v1::WriteAck ack;
    grpc::Status st = ingest_->WriteBatch(ctx.get(), BigString("trust.gz", 64 << 20), &ack);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr("gzip"));
  }
  const int64_t grown = PeakRssBytes(node_->pid()) - before;
  EXPECT_LT(grown, 32 << 20) << "peak RSS grew by " << grown << " bytes";
  std::printf("peak RSS grew by %lld bytes\n", static_cast<long long>(grown));
  // Uncompressed writes still work.
  EXPECT_TRUE(Write(OneSample("trust.gz", 1000, 1)).ok());
}

// Item 13: requests being received may hold at most --max_inflight_bytes
// together (six 60 MiB WriteBatch calls at once grew the node by 569 MB).
TEST_F(TrustTest, InflightRequestMemoryIsBounded) {
  const char* flag = std::getenv("TRUST_INFLIGHT_FLAG");  // measuring: =0
  StartNode({flag != nullptr ? flag : "--max_inflight_bytes=67108864"});
  // Its sample is rejected once parsed (a tag name over 256 bytes).
  const v1::WriteRequest big = BigString(std::string(300, 't'), 24 << 20);
  const int64_t before = PeakRssBytes(node_->pid());
  ASSERT_GT(before, 0);
  std::vector<std::thread> callers;
  std::vector<grpc::StatusCode> codes(10);
  for (size_t i = 0; i < codes.size(); ++i) {
    callers.emplace_back([&, i] {
      v1::WriteAck ack;
      codes[i] = ingest_->WriteBatch(testing::Ctx("", 30).get(), big, &ack).error_code();
    });
  }
  for (auto& t : callers) t.join();
  int exhausted = 0;
  for (grpc::StatusCode c : codes) {
    EXPECT_TRUE(c == grpc::StatusCode::OK || c == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << "code " << c;
    exhausted += c == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  const int64_t grown = PeakRssBytes(node_->pid()) - before;
  std::printf("peak RSS grew by %lld bytes; %d of 10 calls refused\n",
              static_cast<long long>(grown), exhausted);
  EXPECT_LT(grown, 300 << 20) << "peak RSS grew by " << grown << " bytes";
  EXPECT_TRUE(Write(OneSample("trust.inflight", 1000, 1)).ok());
}

constexpr char kWriter[] = "writer-token-0123456789";
constexpr char kAdmin[] = "admin-token-0123456789ab";

// Item 14: a writer could not DeleteTag but could UpdateTag(retention_ns=1),
// which drops the tag's sealed data.
TEST(TrustAuthTest, RetentionChangeNeedsAdmin) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.Sub("tokens"),
                         std::string(kWriter) + " writer\n" + kAdmin + " admin\n");
  testing::NodeProcess node(dir.Sub("node"), {"--token_file=" + dir.Sub("tokens")});
  ASSERT_TRUE(node.Start());
  auto catalog =
      v1::Catalog::NewStub(grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials()));
  v1::CreateTagRequest create;
  create.mutable_tag()->set_name("trust.retention");
  create.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
  v1::Tag tag;
  ASSERT_TRUE(catalog->CreateTag(testing::Ctx(kWriter).get(), create, &tag).ok());
  v1::UpdateTagRequest update;
  *update.mutable_tag() = tag;
  update.mutable_tag()->set_unit("degC");  // metadata: a writer may
  grpc::Status st = catalog->UpdateTag(testing::Ctx(kWriter).get(), update, &tag);
  EXPECT_TRUE(st.ok()) << st.error_message();
  update.mutable_tag()->set_retention_ns(1);
  st = catalog->UpdateTag(testing::Ctx(kWriter).get(), update, &tag);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("admin"));
  v1::GetTagRequest get;
  get.set_name("trust.retention");
  ASSERT_TRUE(catalog->GetTag(testing::Ctx(kWriter).get(), get, &tag).ok());
  EXPECT_EQ(tag.retention_ns(), 0);
  st = catalog->UpdateTag(testing::Ctx(kAdmin).get(), update, &tag);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(tag.retention_ns(), 1);
}

}  // namespace
}  // namespace historian

namespace historian {
namespace {

// Item 13: on a node with tokens, concurrent unauthenticated 30 MiB
// WriteBatch calls were read and parsed before the token was checked.
TEST(TrustAuthTest, UnauthenticatedCallsAreRefusedBeforeTheirMessage) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.Sub("tokens"),
                         std::string(kWriter) + " writer\n" + kAdmin + " admin\n");
  testing::NodeProcess node(dir.Sub("node"), {"--token_file=" + dir.Sub("tokens")});
  ASSERT_TRUE(node.Start());
  auto ingest =
      v1::Ingest::NewStub(grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials()));
  const v1::WriteRequest big = BigString("trust.unauth", 30 << 20);
  const int64_t before = PeakRssBytes(node.pid());
  ASSERT_GT(before, 0);
  std::vector<std::thread> callers;
  std::vector<grpc::StatusCode> codes(4);
  for (size_t i = 0; i < codes.size(); ++i) {
    callers.emplace_back([&, i] {
      v1::WriteAck ack;
      codes[i] = ingest
                     ->WriteBatch(testing::Ctx(i % 2 ? "" : "unknown-token-0123456789", 30).get(),
                                  big, &ack)
                     .error_code();
    });
  }
  for (auto& t : callers) t.join();
  for (grpc::StatusCode c : codes) EXPECT_EQ(c, grpc::StatusCode::UNAUTHENTICATED);
  const int64_t grown = PeakRssBytes(node.pid()) - before;
  EXPECT_LT(grown, 48 << 20) << "peak RSS grew by " << grown << " bytes";
  std::printf("peak RSS grew by %lld bytes\n", static_cast<long long>(grown));
  // A token still works, and health checks need none (NodeProcess::Start).
  v1::WriteAck ack;
  EXPECT_TRUE(
      ingest->WriteBatch(testing::Ctx(kWriter).get(), OneSample("trust.unauth", 1, 1), &ack).ok());
}

}  // namespace
}  // namespace historian
