// Request limits of a real historiand, each set low by its flag: message
// size, samples per batch, tags per query, raw read range and concurrent
// streams per client, with the codes and messages a client sees.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/security/security_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::historian::v1;

constexpr int64_t kHour = int64_t{3600} * 1000000000;

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("node"),
        std::vector<std::string>{"--max_message_bytes=100000", "--max_samples_per_batch=10",
                                 "--max_tags_per_query=2", "--max_read_range=1h",
                                 "--max_streams_per_client=2", "--max_query_cells=5000",
                                 "--max_query_cells_in_flight=3000"});
    ASSERT_TRUE(node_->Start());
    auto ch = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(ch);
    query_ = v1::Query::NewStub(ch);
  }

  static v1::WriteRequest Samples(const std::string& tag, int n) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    for (int i = 0; i < n; ++i) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(1000 + i);
      sample->mutable_value()->set_double_value(i);
    }
    return req;
  }
  grpc::Status WriteBatch(const v1::WriteRequest& req) {
    v1::WriteAck ack;
    return ingest_->WriteBatch(testing::Ctx("").get(), req, &ack);
  }
  grpc::Status Read(std::vector<std::string> tags, int64_t start, int64_t end) {
    v1::ReadRequest req;
    for (auto& t : tags) req.add_tags(t);
    req.set_start_ns(start);
    req.set_end_ns(end);
    auto ctx = testing::Ctx("");
    auto reader = query_->Read(ctx.get(), req);
    v1::ReadResponse resp;
    while (reader->Read(&resp)) {
    }
    return reader->Finish();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
};

TEST_F(LimitsTest, MessageSize) {
  v1::WriteRequest req = Samples("lim.str", 1);
  req.mutable_series(0)->mutable_samples(0)->mutable_value()->set_string_value(
      std::string(200000, 'x'));
  grpc::Status st = WriteBatch(req);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
}

TEST_F(LimitsTest, SamplesPerBatch) {
  EXPECT_TRUE(WriteBatch(Samples("lim.a", 10)).ok());
  grpc::Status st = WriteBatch(Samples("lim.a", 11));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("11 samples, over the limit of 10"));
  EXPECT_THAT(st.error_message(), HasSubstr("--max_samples_per_batch"));
}

TEST_F(LimitsTest, TagsPerQuery) {
  ASSERT_TRUE(WriteBatch(Samples("lim.a", 1)).ok());
  ASSERT_TRUE(WriteBatch(Samples("lim.b", 1)).ok());
  ASSERT_TRUE(WriteBatch(Samples("lim.c", 1)).ok());
  EXPECT_TRUE(Read({"lim.a", "lim.b"}, 0, kHour).ok());
  grpc::Status st = Read({"lim.a", "lim.b", "lim.c"}, 0, kHour);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_tags_per_query"));
}

TEST_F(LimitsTest, RawReadRange) {
  ASSERT_TRUE(WriteBatch(Samples("lim.a", 1)).ok());
  EXPECT_TRUE(Read({"lim.a"}, 0, kHour).ok());
  grpc::Status st = Read({"lim.a"}, 0, kHour + 1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_read_range"));
  // The widest possible range must not overflow into acceptance.
  st = Read({"lim.a"}, INT64_MIN, INT64_MAX);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(LimitsTest, ConcurrentStreamsPerClient) {
  struct Open {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WriteRequest, v1::WriteAck>> stream;
  };
  auto open = [&](int i) {
    Open o;
    o.ctx = testing::Ctx("", 30);
    o.stream = ingest_->Write(o.ctx.get());
    o.stream->Write(Samples("lim.s" + std::to_string(i), 1));
    return o;
  };
  std::vector<Open> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(open(i));
    v1::WriteAck ack;
    ASSERT_TRUE(held.back().stream->Read(&ack));  // the server holds the stream now
  }
  Open third = open(2);
  v1::WriteAck ack;
  EXPECT_FALSE(third.stream->Read(&ack));
  grpc::Status st = third.stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_streams_per_client"));
  // Read streams count too.
  EXPECT_EQ(Read({"lim.s0"}, 0, kHour).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Unary calls are not limited.
  EXPECT_TRUE(WriteBatch(Samples("lim.u", 1)).ok());
  // Closing one frees its slot.
  held[0].stream->WritesDone();
  EXPECT_TRUE(held[0].stream->Finish().ok());
  EXPECT_TRUE(testing::PollUntil([&] { return Read({"lim.s0"}, 0, kHour).ok(); }, 10));
  held[1].stream->WritesDone();
  EXPECT_TRUE(held[1].stream->Finish().ok());
}

// Query cells: per request (--max_query_cells) and node-wide
// (--max_query_cells_in_flight), each named when it refuses; a finished
// query gives its cells back.
TEST_F(LimitsTest, QueryCells) {
  ASSERT_TRUE(WriteBatch(Samples("lim.a", 10)).ok());
  auto aggregate = [&](int64_t windows, int functions) {
    v1::AggregateRequest req;
    req.add_tags("lim.a");
    req.set_start_ns(0);
    req.set_end_ns(windows);
    req.set_step_ns(1);
    for (int i = 0; i < functions; ++i) req.add_functions(v1::COUNT);
    v1::AggregateResponse resp;
    return query_->Aggregate(testing::Ctx("").get(), req, &resp);
  };
  // 1000 windows x (1 + 4) = 5000 cells: over the node's 3000.
  grpc::Status st = aggregate(1000, 1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_query_cells_in_flight"));
  // 1000 windows x (2 + 4) = 6000 cells: over the request limit of 5000.
  st = aggregate(1000, 2);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(),
              HasSubstr("tags x windows x (functions + 4) = 1 x 1000 x 6 = 6000 cells, over the "
                        "limit of 5000 (--max_query_cells)"));
  // 500 x 5 = 2500 cells fit, again and again: each call gives them back.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(aggregate(500, 1).ok());
  v1::PlotRequest plot;
  plot.add_tags("lim.a");
  plot.set_start_ns(0);
  plot.set_end_ns(kHour);
  plot.set_buckets(157);  // x 32 = 5024
  v1::PlotResponse plot_resp;
  st = query_->Plot(testing::Ctx("").get(), plot, &plot_resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_query_cells"));
  v1::InterpolateRequest interp;
  interp.add_tags("lim.a");
  interp.add_tags("lim.a");
  interp.set_start_ns(0);
  interp.set_end_ns(400);
  interp.set_step_ns(1);
  interp.set_method(v1::PREVIOUS);
  v1::InterpolateResponse interp_resp;
  st = query_->Interpolate(testing::Ctx("").get(), interp, &interp_resp);  // 2 x 400 x 8
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(st.error_message(), HasSubstr("--max_query_cells"));
  interp.set_end_ns(150);  // 2 x 150 x 8 = 2400
  EXPECT_TRUE(query_->Interpolate(testing::Ctx("").get(), interp, &interp_resp).ok());
}

}  // namespace
}  // namespace historian
