// GET /metrics of a real historiand: ingest counters, rejected samples by
// reason, RPC latency histograms, head figures, RocksDB figures per column
// family and replication lag per peer, in Prometheus text format.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/ops/ops_util.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;
namespace v1 = ::historian::v1;

TEST(MetricsTest, ScrapeARealNode) {
  testing::TempDir dir;
  // One peer that never answers: its lag series must still be there.
  testing::NodeProcess node(
      dir.Sub("node"),
      {"--site=a", "--peers=b=127.0.0.1:" + std::to_string(testing::FreePort()),
       "--anti_entropy_interval=0s", "--max_samples_per_batch=100", "--metrics_listen=127.0.0.1:0",
       "--metrics_port_file=" + dir.Sub("metrics.port")});
  ASSERT_TRUE(node.Start());
  const int port = std::stoi(testing::ReadTextFile(dir.Sub("metrics.port")));
  auto ch = grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials());
  auto ingest = v1::Ingest::NewStub(ch);
  auto query = v1::Query::NewStub(ch);

  v1::WriteAck ack;
  ASSERT_TRUE(
      ingest->WriteBatch(testing::Ctx("").get(), testing::DoubleSamples("m.t", 1000, 40), &ack)
          .ok());
  // A refused batch (101 samples) and one rejected sample (no value).
  EXPECT_FALSE(
      ingest->WriteBatch(testing::Ctx("").get(), testing::DoubleSamples("m.t", 5000, 101), &ack)
          .ok());
  v1::WriteRequest bad = testing::DoubleSamples("m.t", 9000, 2);
  bad.mutable_series(0)->mutable_samples(1)->clear_value();  // INVALID_ARGUMENT
  ASSERT_TRUE(ingest->WriteBatch(testing::Ctx("").get(), bad, &ack).ok());
  ASSERT_EQ(ack.rejected_size(), 1);
  auto all = testing::ReadAll(query.get(), "m.t");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 41u);

  std::string text = testing::ScrapeMetrics(port);
  ASSERT_FALSE(text.empty());
  EXPECT_THAT(text, HasSubstr("# TYPE historian_ingest_samples_acked_total counter"));
  EXPECT_THAT(testing::MetricValue(text, "historian_ingest_samples_acked_total"), Optional(41.0));
  EXPECT_THAT(testing::MetricValue(text, "historian_ingest_batches_acked_total"), Optional(2.0));
  EXPECT_THAT(testing::MetricValue(
                  text, "historian_ingest_samples_rejected_total{reason=\"RESOURCE_EXHAUSTED\"}"),
              Optional(101.0));
  EXPECT_THAT(testing::MetricValue(
                  text, "historian_ingest_samples_rejected_total{reason=\"INVALID_ARGUMENT\"}"),
              Optional(1.0));
  EXPECT_THAT(text, HasSubstr("# TYPE historian_rpc_duration_seconds histogram"));
  EXPECT_THAT(
      testing::MetricValue(text, "historian_rpc_duration_seconds_count{method=\"Query.Read\"}"),
      Optional(1.0));
  EXPECT_THAT(testing::MetricValue(
                  text, "historian_rpc_duration_seconds_bucket{method=\"Query.Read\",le=\"+Inf\"}"),
              Optional(1.0));
  EXPECT_THAT(
      testing::MetricValue(
          text, "historian_rpc_total{method=\"Ingest.WriteBatch\",code=\"RESOURCE_EXHAUSTED\"}"),
      Optional(1.0));
  EXPECT_THAT(testing::MetricValue(text, "historian_head_tags"), Optional(1.0));
  EXPECT_THAT(testing::MetricValue(text, "historian_head_samples"), Optional(41.0));
  for (const char* cf : {"catalog", "log", "chunks", "rollups", "state"}) {
    std::string l = std::string("{cf=\"") + cf + "\"}";
    EXPECT_TRUE(testing::MetricValue(text, "historian_rocksdb_sst_bytes" + l).has_value()) << cf;
    EXPECT_TRUE(
        testing::MetricValue(text, "historian_rocksdb_pending_compaction_bytes" + l).has_value());
    EXPECT_TRUE(testing::MetricValue(text, "historian_rocksdb_write_stops_total" + l).has_value());
    EXPECT_TRUE(
        testing::MetricValue(text, "historian_rocksdb_table_readers_bytes" + l).has_value());
  }
  // Memory by owner (issue 16): a tag with unsealed samples holds a head
  // buffer and a catalog record; the writes sit in memtables.
  for (const char* owner : {"head", "catalog", "memtables"}) {
    std::optional<double> bytes =
        testing::MetricValue(text, std::string("historian_memory_bytes{owner=\"") + owner + "\"}");
    ASSERT_TRUE(bytes.has_value()) << owner;
    EXPECT_GT(*bytes, 0) << owner;
  }
  for (const char* owner : {"block_cache", "block_cache_pinned", "table_readers"}) {
    EXPECT_TRUE(
        testing::MetricValue(text, std::string("historian_memory_bytes{owner=\"") + owner + "\"}")
            .has_value())
        << owner;
  }
  EXPECT_THAT(testing::MetricValue(text, "historian_storage_writes_accepted"), Optional(1.0));
  EXPECT_TRUE(
      testing::MetricValue(text, "historian_replication_lag_seconds{peer=\"b\"}").has_value());
  EXPECT_THAT(testing::MetricValue(text, "historian_replication_connected{peer=\"b\"}"),
              Optional(0.0));
  EXPECT_EQ(node.Stop(), 0);
}

}  // namespace
}  // namespace historian
