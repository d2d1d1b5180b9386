// Durability through a real historiand: every acknowledged sample survives
// SIGKILL of the node, over several rounds of write -> kill -> restart.
#include <memory>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;

TEST(NodeCrashTest, AcknowledgedSamplesSurviveSigkill) {
  testing::TempDir dir;
  int64_t next_ts = 0;
  for (int round = 0; round < 4; ++round) {
    testing::NodeProcess node(dir.Sub("node"));
    ASSERT_TRUE(node.Start());
    auto channel = grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials());
    auto ingest = v1::Ingest::NewStub(channel);
    auto query = v1::Query::NewStub(channel);

    // Everything acknowledged in earlier rounds is there.
    for (const char* tag : {"crash.a", "crash.b"}) {
      if (next_ts == 0) break;
      v1::ReadRequest read;
      read.add_tags(tag);
      read.set_start_ns(0);
      read.set_end_ns(next_ts);
      grpc::ClientContext ctx;
      auto reader = query->Read(&ctx, read);
      v1::ReadResponse resp;
      int64_t expect = 0;
      while (reader->Read(&resp)) {
        for (const auto& s : resp.samples()) {
          ASSERT_EQ(s.timestamp_ns(), expect) << tag << " round " << round;
          ASSERT_EQ(s.value().int64_value(), expect * 3);
          ++expect;
        }
      }
      ASSERT_TRUE(reader->Finish().ok());
      ASSERT_EQ(expect, next_ts) << tag << " round " << round;
    }

    // Write and collect acks on a stream, then kill without warning.
    grpc::ClientContext ctx;
    auto stream = ingest->Write(&ctx);
    for (int b = 0; b < 20; ++b) {
      v1::WriteRequest req;
      for (const char* tag : {"crash.a", "crash.b"}) {
        auto* series = req.add_series();
        series->set_tag(tag);
        for (int i = 0; i < 500; ++i) {
          auto* s = series->add_samples();
          s->set_timestamp_ns(next_ts + i);
          s->mutable_value()->set_int64_value((next_ts + i) * 3);
        }
      }
      ASSERT_TRUE(stream->Write(req));
      v1::WriteAck ack;
      ASSERT_TRUE(stream->Read(&ack));
      ASSERT_EQ(ack.accepted_count(), 1000u);
      next_ts += 500;
    }
    node.Kill();
    stream->Finish().ok();
  }
}

}  // namespace
}  // namespace historian
