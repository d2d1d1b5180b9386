// Durability through a real historiand: a writer streams batches and the
// node is SIGKILLed at a random moment while batches are in flight, many
// rounds. After each restart every acknowledged sample is present with its
// value, and nothing else changed: any sample present is one that was
// written (acked, or in flight when the node died).
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;

constexpr int kSamplesPerSeries = 200;

double ValueOf(int64_t ts) { return static_cast<double>(ts % 1000) / 10.0; }

TEST(NodeCrashTest, AcknowledgedSamplesSurviveSigkillAtRandomMoments) {
  testing::TempDir dir;
  std::mt19937_64 rng(2024);
  int64_t acked_until = 0;   // every ts below is acknowledged
  int64_t written_until = 0; // no ts at or above was ever sent
  for (int round = 0; round < 12; ++round) {
    // Small chunks and frequent seals so kills also land mid-seal.
    testing::NodeProcess node(dir.Sub("node"), {"--chunk_max_samples=256", "--head_max_age=0s"});
    ASSERT_TRUE(node.Start());
    auto channel = grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials());
    auto ingest = v1::Ingest::NewStub(channel);
    auto query = v1::Query::NewStub(channel);

    for (const char* tag : {"crash.a", "crash.b"}) {
      if (written_until == 0) break;
      v1::ReadRequest read;
      read.add_tags(tag);
      read.set_start_ns(0);
      read.set_end_ns(written_until + 1);
      grpc::ClientContext ctx;
      auto reader = query->Read(&ctx, read);
      v1::ReadResponse resp;
      std::map<int64_t, double> got;
      while (reader->Read(&resp)) {
        for (const auto& s : resp.samples()) got[s.timestamp_ns()] = s.value().double_value();
      }
      ASSERT_TRUE(reader->Finish().ok());
      for (int64_t ts = 0; ts < acked_until; ++ts) {
        auto it = got.find(ts);
        ASSERT_TRUE(it != got.end()) << tag << " lost acked ts " << ts << " round " << round;
        ASSERT_EQ(it->second, ValueOf(ts));
      }
      for (const auto& [ts, v] : got) {
        ASSERT_LT(ts, written_until) << tag << " has a sample never written";
        ASSERT_EQ(v, ValueOf(ts)) << tag << " ts " << ts << " changed";
      }
    }
    // Unacked samples of the last round may or may not be there: rewrite
    // from the acked point so the acked prefix stays contiguous.
    int64_t next_ts = acked_until;

    const int kill_after = 1 + static_cast<int>(rng() % 30);
    std::atomic<int> acks{0};
    std::thread killer([&] {
      while (acks.load() < kill_after) std::this_thread::yield();
      node.Kill();
    });
    grpc::ClientContext ctx;
    auto stream = ingest->Write(&ctx);
    // Two batches in flight at a time, so the kill lands between a write
    // and its ack.
    std::deque<int64_t> in_flight;
    auto send = [&] {
      v1::WriteRequest req;
      for (const char* tag : {"crash.a", "crash.b"}) {
        auto* series = req.add_series();
        series->set_tag(tag);
        for (int i = 0; i < kSamplesPerSeries; ++i) {
          auto* s = series->add_samples();
          s->set_timestamp_ns(next_ts + i);
          s->mutable_value()->set_double_value(ValueOf(next_ts + i));
        }
      }
      if (!stream->Write(req)) return false;
      next_ts += kSamplesPerSeries;
      written_until = std::max(written_until, next_ts);
      in_flight.push_back(next_ts);
      return true;
    };
    bool alive = send() && send();
    while (alive) {
      v1::WriteAck ack;
      if (!stream->Read(&ack)) break;
      ASSERT_EQ(ack.accepted_count(), 2u * kSamplesPerSeries);
      acked_until = in_flight.front();
      in_flight.pop_front();
      acks.fetch_add(1);
      alive = send();
    }
    acks.store(1 << 30);  // in case the stream ended before the kill
    killer.join();
    ctx.TryCancel();
    stream->Finish().ok();
  }
  EXPECT_GT(acked_until, 0);
}

}  // namespace
}  // namespace historian
