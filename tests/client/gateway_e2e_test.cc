// End-to-end tests of the Writer and of `historian-gateway` against real
// `historiand` processes on 127.0.0.1: node outages, kill -9 of the gateway,
// failover. Every wait polls a condition with a deadline; no test relies on
// timing to pass.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/gateway/gateway.h"
#include "client/historian_client.h"
#include "client/plant_simulator.h"
#include "client/value_text.h"
#include "client/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/gateway_process.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/status_line.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian {
namespace {

namespace v1 = historian::v1;
using ::historian::testing::BinDir;
using ::historian::testing::FreePort;
using ::historian::testing::GatewayProcess;
using ::historian::testing::LastStatusValue;
using ::historian::testing::NodeProcess;
using ::historian::testing::TempDir;
using ::historian::testing::WaitFor;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tag@time -> the value, serialized.
using SampleMap = std::map<std::string, std::string>;

std::string Key(const std::string& tag, int64_t ts) { return absl::StrCat(tag, "@", ts); }

// Reads every sample of `tags` in [start, end) back through the client
// library; counts every sample returned (a duplicate shows as a count above
// the map size).
SampleMap ReadBack(const std::string& address, const std::vector<std::string>& tags, int64_t start,
                   int64_t end, size_t* total) {
  client::ClientOptions options;
  options.endpoints = {address};
  auto c = client::Client::Connect(options);
  EXPECT_TRUE(c.ok());
  SampleMap out;
  *total = 0;
  for (const std::string& tag : tags) {
    v1::ReadRequest request;
    request.add_tags(tag);
    request.set_start_ns(start);
    request.set_end_ns(end);
    absl::Status s = (*c)->Read(request, [&](const v1::ReadResponse& r) {
      for (const v1::Sample& sample : r.samples()) {
        out[Key(r.tag(), sample.timestamp_ns())] = sample.value().SerializeAsString();
        ++*total;
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
  }
  return out;
}

// A CSV feed: `tags` tags x `points` seconds, rows in time order; doubles,
// int64 and bools. Fills the expected samples.
std::vector<std::string> MakeCsvRows(int tags, int points, const std::string& prefix,
                                     SampleMap* expected, std::vector<std::string>* tag_names) {
  std::vector<std::string> rows;
  for (int i = 0; i < tags; ++i) tag_names->push_back(absl::StrCat(prefix, ".t", i));
  for (int k = 0; k < points; ++k) {
    for (int i = 0; i < tags; ++i) {
      std::string value;
      switch (i % 3) {
        case 0:
          value = absl::StrFormat("%.1f", 20 + i + 0.1 * (k % 97));
          break;
        case 1:
          value = absl::StrCat(k * 7 + i);
          break;
        default:
          value = k % 3 == 0 ? "true" : "false";
          break;
      }
      const int64_t ts = kT0 + k * kSecond;
      rows.push_back(absl::StrCat((*tag_names)[i], ",", ts, ",", value, ",0\n"));
      auto v = client::InferValue(value, false);
      (*expected)[Key((*tag_names)[i], ts)] = v->SerializeAsString();
    }
  }
  return rows;
}

std::vector<std::string> CommonFlags(const std::string& servers, const std::string& queue_dir) {
  return {"--server",
          servers,
          "--queue_dir",
          queue_dir,
          "--batch_max_samples",
          "200",
          "--batch_max_delay",
          "50ms",
          "--status_interval",
          "50ms",
          "--reconnect_max_backoff",
          "500ms"};
}

// --- Writer (library) ---

TEST(WriterTest, AppendsAreAckedOnce) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  client::WriterOptions options;
  options.endpoints = {node.address()};
  options.batch_max_samples = 100;
  std::atomic<uint64_t> results{0};
  options.on_result = [&](uint64_t, const absl::Status& s, const v1::WriteAck&) {
    EXPECT_TRUE(s.ok()) << s;
    ++results;
  };
  auto writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int k = 0; k < 1050; ++k) {
    v1::Sample s;
    s.set_timestamp_ns(kT0 + k * kSecond);
    s.mutable_value()->set_double_value(k * 0.5);
    ASSERT_TRUE((*writer)->Append("writer.test.a", s).ok());
  }
  ASSERT_TRUE((*writer)->Flush().ok());
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(60)).ok());
  EXPECT_TRUE((*writer)->Close(absl::Seconds(5)).empty());
  const client::WriterStats stats = (*writer)->stats();
  EXPECT_EQ(stats.samples_accepted, 1050u);
  EXPECT_EQ(stats.batches_acked, 11u);
  EXPECT_EQ(results.load(), 11u);
  size_t total = 0;
  EXPECT_EQ(ReadBack(node.address(), {"writer.test.a"}, kT0, kT0 + 2000 * kSecond, &total).size(),
            1050u);
  EXPECT_EQ(total, 1050u);
}

// A batch the node refuses as a whole (a series with samples and columns)
// is given up with the node's reason, and the batch behind it is stored: the
// node refuses it in band (WriteAck.refused), so the stream ends with
// INVALID_ARGUMENT, not CANCELLED, which the writer would retry forever.
TEST(WriterTest, ABatchRefusedAsAWholeIsGivenUpWithTheNodesReason) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  client::WriterOptions options;
  options.endpoints = {node.address()};
  std::mutex mu;
  std::map<uint64_t, absl::Status> results;
  options.on_result = [&](uint64_t sequence, const absl::Status& s, const v1::WriteAck&) {
    std::lock_guard<std::mutex> lock(mu);
    results[sequence] = s;
  };
  auto writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  v1::WriteRequest bad;
  v1::TagSamples* series = bad.add_series();
  series->set_tag("writer.refused");
  series->add_samples()->set_timestamp_ns(kT0);
  series->mutable_columns()->add_timestamp_deltas_ns(kT0);
  series->mutable_columns()->add_double_values(1);
  v1::WriteRequest good;
  v1::TagSamples* ok_series = good.add_series();
  ok_series->set_tag("writer.after_refused");
  v1::Sample* sample = ok_series->add_samples();
  sample->set_timestamp_ns(kT0);
  sample->mutable_value()->set_double_value(2);
  absl::StatusOr<uint64_t> bad_sequence = (*writer)->Send(bad);
  ASSERT_TRUE(bad_sequence.ok());
  absl::StatusOr<uint64_t> good_sequence = (*writer)->Send(good);
  ASSERT_TRUE(good_sequence.ok());
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(60)).ok());
  (*writer)->Close(absl::Seconds(5));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[*bad_sequence].code(), absl::StatusCode::kInvalidArgument)
      << results[*bad_sequence];
  EXPECT_THAT(results[*bad_sequence].message(), HasSubstr("series[0]"));
  EXPECT_TRUE(results[*good_sequence].ok()) << results[*good_sequence];
  EXPECT_EQ((*writer)->stats().batches_failed, 1u);
  size_t total = 0;
  EXPECT_EQ(ReadBack(node.address(), {"writer.after_refused"}, kT0, kT0 + kSecond, &total).size(),
            1u);
}

// The node's limits a model test of the Writer runs under, and the batches
// it sends: up to `max_series` series, each one sample or (one in four) a run
// of up to `max_run` samples, in samples or (when `columns`) columns form.
struct WriterModelCase {
  const char* name;
  std::vector<std::string> node_flags;
  int max_series;
  int max_run;
  bool columns;
  bool strings;  // 120-byte string values instead of doubles
};

class WriterModelTest : public ::testing::TestWithParam<WriterModelCase> {};

// Model test of the Writer's per-batch outcomes: random good batches and
// batches the node refuses as a whole (a series with samples and columns),
// with a kill -9 and restart of the node in the middle. Every good batch
// ends OK exactly once, every refused one is given up exactly once with
// INVALID_ARGUMENT, and the node holds exactly the good batches' samples.
// (Before refusals came in band, the first refused batch was retried
// forever and everything behind it waited.) The cases over the node's
// limits send batches of more samples, or more bytes, than the node takes
// in one message: the writer cuts them into slices the node takes (before,
// the node answered RESOURCE_EXHAUSTED and the writer resent the batch
// forever: the gateway's queue wedged behind it).
TEST_P(WriterModelTest, RandomGoodAndRefusedBatchesAcrossANodeKillMatchTheModel) {
  const WriterModelCase& p = GetParam();
  TempDir tmp;
  const int port = FreePort();  // the restarted node comes back on the same address
  std::vector<std::string> flags = p.node_flags;
  flags.push_back(absl::StrCat("--listen=127.0.0.1:", port));
  NodeProcess node(tmp.Sub("data"), flags);
  ASSERT_TRUE(node.Start());
  client::WriterOptions options;
  options.endpoints = {node.address()};
  options.max_in_flight_batches = 128;  // Send never waits: a wedge fails WaitIdle below
  options.backoff.initial = absl::Milliseconds(20);
  options.backoff.max = absl::Milliseconds(200);
  std::mutex mu;
  std::map<uint64_t, absl::Status> results;
  std::map<uint64_t, int> reports;
  std::map<uint64_t, uint64_t> accepted;  // of the first delivery (not a duplicate)
  options.on_result = [&](uint64_t sequence, const absl::Status& s, const v1::WriteAck& ack) {
    std::lock_guard<std::mutex> lock(mu);
    results[sequence] = s;
    ++reports[sequence];
    if (s.ok() && !ack.duplicate()) accepted[sequence] = ack.accepted_count();
  };
  auto writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok()) << writer.status();

  std::mt19937 rng(20261203);
  const std::string prefix = p.strings ? "w.model.s" : "w.model.";
  std::vector<std::string> tags;
  for (int i = 0; i < 5; ++i) tags.push_back(absl::StrCat(prefix, i));
  SampleMap model;
  std::map<uint64_t, bool> refused;
  std::map<uint64_t, size_t> samples_of;
  int64_t ts = kT0;
  constexpr int kBatches = 120;
  for (int b = 0; b < kBatches; ++b) {
    if (b == kBatches / 2) {
      // Once the stream runs (before, the kill could come before any
      // batch reached the node).
      ASSERT_TRUE(WaitFor(
          [&] {
            const client::WriterStats stats = (*writer)->stats();
            return stats.batches_acked + stats.batches_failed >= 10;
          },
          absl::Seconds(60)));
      node.Kill();  // batches in flight: stored or not, acked or not
      ASSERT_TRUE(node.Start());
    }
    const bool bad = rng() % 100 < 15;
    v1::WriteRequest request;
    SampleMap batch;
    const int series_count = 1 + static_cast<int>(rng() % p.max_series);
    for (int i = 0; i < series_count; ++i) {
      v1::TagSamples* series = request.add_series();
      series->set_tag(tags[rng() % tags.size()]);
      const int run = rng() % 4 == 0 ? 1 + static_cast<int>(rng() % p.max_run) : 1;
      const bool as_columns = p.columns && rng() % 2 == 0;
      int64_t previous = 0;
      for (int j = 0; j < run; ++j, ts += kSecond) {
        v1::Value value;
        if (p.strings) {
          value.set_string_value(
              absl::StrCat(std::string(120, static_cast<char>('a' + rng() % 26)), ts));
        } else {
          value.set_double_value(static_cast<double>(rng() % 10000) / 10);
        }
        batch[Key(series->tag(), ts)] = value.SerializeAsString();
        if (!as_columns) {
          v1::Sample* sample = series->add_samples();
          sample->set_timestamp_ns(ts);
          *sample->mutable_value() = value;
          continue;
        }
        v1::SampleColumns* cols = series->mutable_columns();
        cols->add_timestamp_deltas_ns(ts - previous);
        previous = ts;
        if (p.strings) {
          cols->add_string_values(value.string_value());
        } else {
          cols->add_double_values(value.double_value());
        }
      }
    }
    if (bad) {
      v1::TagSamples* first = request.mutable_series(0);
      if (first->samples_size() == 0) {
        first->add_samples()->set_timestamp_ns(ts);
      } else {
        first->mutable_columns()->add_timestamp_deltas_ns(ts);
        first->mutable_columns()->add_double_values(1);
      }
    } else {
      model.insert(batch.begin(), batch.end());
    }
    absl::StatusOr<uint64_t> sequence = (*writer)->Send(std::move(request));
    ASSERT_TRUE(sequence.ok()) << sequence.status();
    refused[*sequence] = bad;
    samples_of[*sequence] = batch.size();
  }
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(60)).ok())
      << "wedged; last error: " << (*writer)->stats().last_error;
  EXPECT_TRUE((*writer)->Close(absl::Seconds(5)).empty());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(results.size(), static_cast<size_t>(kBatches));
    for (const auto& [sequence, bad] : refused) {
      SCOPED_TRACE(absl::StrCat("batch ", sequence, bad ? " (refused)" : " (good)"));
      EXPECT_EQ(reports[sequence], 1);
      if (bad) {
        EXPECT_EQ(results[sequence].code(), absl::StatusCode::kInvalidArgument);
        EXPECT_THAT(results[sequence].message(), HasSubstr("series[0]"));
      } else {
        EXPECT_TRUE(results[sequence].ok()) << results[sequence];
        // A batch whose first delivery was acked counts all of its samples
        // (one ack for the whole batch, however it was sent).
        if (accepted.count(sequence) > 0) {
          EXPECT_EQ(accepted[sequence], samples_of[sequence]);
        }
      }
    }
  }
  size_t total = 0;
  SampleMap stored = ReadBack(node.address(), tags, kT0, ts, &total);
  EXPECT_EQ(total, model.size());  // none twice
  EXPECT_TRUE(stored == model) << "stored " << stored.size() << " samples, the model "
                               << model.size();
}

INSTANTIATE_TEST_SUITE_P(
    Limits, WriterModelTest,
    ::testing::Values(
        WriterModelCase{"within_the_limits", {}, 20, 1, false, false},
        WriterModelCase{
            "over_max_samples_per_batch", {"--max_samples_per_batch=16"}, 12, 30, true, false},
        WriterModelCase{
            "over_max_message_bytes", {"--max_message_bytes=4096"}, 12, 30, true, true}),
    [](const ::testing::TestParamInfo<WriterModelCase>& info) { return info.param.name; });

// Batches over both nodes' limits. The first node (40 samples a message) is
// stopped (SIGSTOP) while batches are in flight to it as slices, then
// killed: the writer fails over to the second (7 samples a message), cuts
// the slices it has not had acked again for it, and every batch ends OK
// once; the two nodes together hold exactly the samples.
TEST(WriterTest, AFailoverToANodeWithLowerLimitsCutsTheRestAgain) {
  TempDir tmp;
  const int port = FreePort();
  NodeProcess first(tmp.Sub("first"),
                    {"--max_samples_per_batch=40", absl::StrCat("--listen=127.0.0.1:", port)});
  NodeProcess second(tmp.Sub("second"), {"--max_samples_per_batch=7"});
  ASSERT_TRUE(first.Start());
  ASSERT_TRUE(second.Start());
  client::WriterOptions options;
  options.endpoints = {first.address(), second.address()};
  options.max_in_flight_batches = 128;
  options.backoff.initial = absl::Milliseconds(20);
  options.backoff.max = absl::Milliseconds(200);
  std::mutex mu;
  std::map<uint64_t, int> reports;
  std::map<uint64_t, absl::Status> results;
  options.on_result = [&](uint64_t sequence, const absl::Status& s, const v1::WriteAck&) {
    std::lock_guard<std::mutex> lock(mu);
    ++reports[sequence];
    results[sequence] = s;
  };
  auto writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::mt19937 rng(20261204);
  const std::vector<std::string> tags = {"w.fail.0", "w.fail.1", "w.fail.2"};
  SampleMap model;
  int64_t ts = kT0;
  auto send = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      v1::WriteRequest request;
      // Every tag in every batch, 41..100 samples in all: over both limits.
      for (const std::string& tag : tags) {
        v1::TagSamples* s = request.add_series();
        s->set_tag(tag);
        const int n = 14 + static_cast<int>(rng() % 20);
        for (int j = 0; j < n; ++j, ts += kSecond) {
          v1::Sample* sample = s->add_samples();
          sample->set_timestamp_ns(ts);
          sample->mutable_value()->set_double_value(static_cast<double>(rng() % 1000));
          model[Key(tag, ts)] = sample->value().SerializeAsString();
        }
      }
      ASSERT_TRUE((*writer)->Send(std::move(request)).ok());
    }
  };
  send(10);
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(60)).ok());
  EXPECT_EQ((*writer)->stats().batches_cut, 10u);
  const SampleMap before_stop = model;  // acked before the first node stopped
  // Stopped for good before the next batch is sent: nothing sent from here
  // on can reach its store.
  ASSERT_TRUE(first.Freeze());
  send(20);  // cut for the first node and sent; it acks none of them
  ASSERT_TRUE(WaitFor([&] { return (*writer)->stats().batches_cut == 30; }, absl::Seconds(60)));
  first.Kill();
  send(10);
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(60)).ok())
      << "wedged; last error: " << (*writer)->stats().last_error;
  const client::WriterStats stats = (*writer)->stats();
  EXPECT_GT(stats.slices_cut_again, 0u);
  EXPECT_EQ(stats.batches_acked, 40u);
  EXPECT_TRUE((*writer)->Close(absl::Seconds(5)).empty());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(reports.size(), 40u);
    for (const auto& [sequence, count] : reports) {
      EXPECT_EQ(count, 1) << "batch " << sequence;
      EXPECT_TRUE(results[sequence].ok()) << "batch " << sequence << ": " << results[sequence];
    }
  }
  ASSERT_TRUE(first.Start());  // its data dir: what it stored before it stopped
  size_t first_total = 0;
  size_t second_total = 0;
  SampleMap stored = ReadBack(first.address(), tags, kT0, ts, &first_total);
  const SampleMap on_second = ReadBack(second.address(), tags, kT0, ts, &second_total);
  // Each node stored each sample once (it deduplicates its batches and
  // slices). Nothing sent after the first node stopped is on it. A batch of
  // the first ten may be on both: a failover before its ack (a stream that
  // broke or timed out on a loaded machine) resends it to the twin, which
  // is at least once across endpoints by design (client/writer.h).
  EXPECT_EQ(first_total, stored.size());
  EXPECT_EQ(second_total, on_second.size());
  for (const auto& [key, value] : stored) {
    EXPECT_TRUE(before_stop.contains(key)) << "stored by the stopped node: " << key;
  }
  stored.insert(on_second.begin(), on_second.end());
  EXPECT_TRUE(stored == model) << "stored " << stored.size() << " samples, the model "
                               << model.size();
}

// A first endpoint that is up but refuses every write retryably, in band
// (here its disk is "full": --min_free_disk_bytes above any disk, UNAVAILABLE;
// in a site cluster also a member cut off from etcd): its refusals are no
// acks, so the writer fails over to the next endpoint, which stores every
// batch once, instead of resending to the refusing node forever.
TEST(WriterTest, ANodeThatRefusesEveryWriteIsLeftForTheNextEndpoint) {
  TempDir tmp;
  NodeProcess refusing(tmp.Sub("refusing"), {"--min_free_disk_bytes=4611686018427387904"});
  NodeProcess twin(tmp.Sub("twin"));
  ASSERT_TRUE(refusing.Start());
  ASSERT_TRUE(twin.Start());
  client::WriterOptions options;
  options.endpoints = {refusing.address(), twin.address()};
  options.backoff.initial = absl::Milliseconds(20);
  options.backoff.max = absl::Milliseconds(200);
  std::mutex mu;
  std::map<uint64_t, std::vector<absl::Status>> results;
  options.on_result = [&](uint64_t sequence, const absl::Status& s, const v1::WriteAck&) {
    std::lock_guard<std::mutex> lock(mu);
    results[sequence].push_back(s);
  };
  auto writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  const std::vector<std::string> tags = {"w.refused.0"};
  SampleMap model;
  int64_t ts = kT0;
  for (int b = 0; b < 5; ++b) {
    v1::WriteRequest request;
    v1::TagSamples* s = request.add_series();
    s->set_tag(tags[0]);
    for (int j = 0; j < 3; ++j, ts += kSecond) {
      v1::Sample* sample = s->add_samples();
      sample->set_timestamp_ns(ts);
      sample->mutable_value()->set_double_value(b * 10 + j);
      model[Key(tags[0], ts)] = sample->value().SerializeAsString();
    }
    ASSERT_TRUE((*writer)->Send(std::move(request)).ok());
  }
  ASSERT_TRUE((*writer)->WaitIdle(absl::Now() + absl::Seconds(60)).ok())
      << "still resending to the refusing node; last error: " << (*writer)->stats().last_error;
  EXPECT_EQ((*writer)->stats().batches_acked, 5u);
  EXPECT_TRUE((*writer)->Close(absl::Seconds(5)).empty());
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(results.size(), 5u);
    for (const auto& [sequence, statuses] : results) {
      ASSERT_EQ(statuses.size(), 1u) << "batch " << sequence;
      EXPECT_TRUE(statuses[0].ok()) << "batch " << sequence << ": " << statuses[0];
    }
  }
  size_t twin_total = 0;
  EXPECT_EQ(ReadBack(twin.address(), tags, kT0, ts, &twin_total), model);
  EXPECT_EQ(twin_total, model.size());
}

TEST(WriterTest, BackpressureFailsFastWhenNothingIsAcked) {
  client::WriterOptions options;
  options.endpoints = {absl::StrCat("127.0.0.1:", FreePort())};  // nobody there
  options.batch_max_samples = 1;
  options.max_in_flight_batches = 2;
  options.backpressure = client::Backpressure::kFail;
  auto writer = client::Writer::Start(options);
  ASSERT_TRUE(writer.ok());
  v1::Sample s;
  s.mutable_value()->set_int64_value(1);
  EXPECT_TRUE((*writer)->Append("w.bp", s).ok());
  EXPECT_TRUE((*writer)->Append("w.bp", s).ok());
  EXPECT_EQ((*writer)->Append("w.bp", s).code(), absl::StatusCode::kResourceExhausted);
  // Close hands back what was never acked, with its sequences.
  std::vector<v1::WriteRequest> unacked = (*writer)->Close(absl::ZeroDuration());
  ASSERT_EQ(unacked.size(), 2u);
  EXPECT_EQ(unacked[0].batch_sequence(), 1u);
  EXPECT_EQ(unacked[1].batch_sequence(), 2u);
  EXPECT_EQ(unacked[0].client_id(), (*writer)->client_id());
}

// --- historian-gateway ---

class NodeOutageTest : public ::testing::TestWithParam<bool /*kill -9*/> {};

// The node goes down while the gateway streams 20,000 CSV samples from
// stdin, and comes back on the same address and data: every sample arrives
// exactly once.
TEST_P(NodeOutageTest, EverySampleArrivesExactlyOnce) {
  const bool kill_node = GetParam();
  TempDir tmp;
  const int port = FreePort();
  NodeProcess node(tmp.Sub("data"), {absl::StrCat("--listen=127.0.0.1:", port)});
  ASSERT_TRUE(node.Start());
  SampleMap expected;
  std::vector<std::string> tags;
  const std::vector<std::string> rows = MakeCsvRows(40, 500, "gw.outage", &expected, &tags);
  ASSERT_EQ(rows.size(), 20000u);

  GatewayProcess gw(CommonFlags(node.address(), tmp.Sub("queue")), tmp.Sub("gw.err"),
                    {.stdin_pipe = true});
  std::string first_half = "tag,time,value,quality\n";
  for (size_t i = 0; i < rows.size() / 2; ++i) first_half += rows[i];
  gw.WriteStdin(first_half);
  ASSERT_TRUE(WaitFor([&] { return gw.LastStatus("acked_samples") >= 2000; }, absl::Seconds(60)))
      << gw.err();

  if (kill_node) {
    node.Kill();
  } else {
    EXPECT_EQ(node.Stop(), 0);
  }
  std::string second_half;
  for (size_t i = rows.size() / 2; i < rows.size(); ++i) second_half += rows[i];
  gw.WriteStdin(second_half);
  gw.CloseStdin();
  // The rest waits in the queue while the node is down.
  ASSERT_TRUE(WaitFor([&] { return gw.LastStatus("queue_batches") > 0; }, absl::Seconds(60)))
      << gw.err();
  ASSERT_TRUE(node.Start());
  ASSERT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();

  const std::string err = gw.err();
  EXPECT_THAT(err, HasSubstr("final queue_batches=0 "));
  // Every batch acked once, with all its samples; a batch stored before the
  // outage whose ack was lost is acked on resend as a duplicate (counted in
  // acked_samples, not in stored_samples).
  EXPECT_EQ(gw.LastStatus("acked_samples"), 20000) << err;
  EXPECT_LE(gw.LastStatus("stored_samples"), 20000) << err;
  EXPECT_EQ(gw.LastStatus("dropped_batches"), 0);
  EXPECT_EQ(gw.LastStatus("failed_batches"), 0);
  EXPECT_EQ(gw.LastStatus("rejected_samples"), 0);
  EXPECT_GE(gw.LastStatus("reconnects"), 1);  // the outage was seen
  // The outage's error is gone once the node acks again.
  const size_t final_line = err.rfind("final queue_batches=");
  ASSERT_NE(final_line, std::string::npos) << err;
  EXPECT_THAT(err.substr(final_line, err.find('\n', final_line) - final_line),
              ::testing::EndsWith("last_error=\"\""))
      << err;
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), tags, kT0, kT0 + 1000 * kSecond, &total);
  EXPECT_EQ(total, expected.size());
  EXPECT_TRUE(got == expected) << "got " << got.size() << " samples, expected " << expected.size();
}

INSTANTIATE_TEST_SUITE_P(StopAndKill, NodeOutageTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Sigkill" : "Sigterm"; });

// kill -9 of the gateway while it streams a simulated plant; a restart with
// the same queue directory resumes at the input position stored with the
// last queued batch and resends what was not acked: nothing lost, nothing
// duplicated.
// With the node's --max_samples_per_batch below the gateway's batches too:
// every queued batch goes as slices (before, the node refused each one with
// RESOURCE_EXHAUSTED and the gateway resent the first forever).
class GatewayKill9Test : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(GatewayKill9Test, Kill9AndRestartLosesAndDuplicatesNothing) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"), GetParam());
  ASSERT_TRUE(node.Start());
  constexpr int kTags = 20;
  constexpr int kRate = 200;
  constexpr int kTicks = 1000;  // --duration 5s at 200 Hz
  std::vector<std::string> args = CommonFlags(node.address(), tmp.Sub("queue"));
  for (const char* a : {"--simulate-tags", "20", "--rate", "200", "--duration", "5s", "--site",
                        "kx", "--seed", "7", "--batch_max_samples", "150"}) {
    args.push_back(a);
  }
  args.push_back("--sim_start");
  args.push_back(absl::StrCat(kT0, "ns"));
  {
    GatewayProcess gw(args, tmp.Sub("gw1.err"));
    ASSERT_TRUE(WaitFor([&] { return gw.LastStatus("acked_samples") >= 3000 || !gw.running(); },
                        absl::Seconds(60)))
        << gw.err();
    gw.Kill();  // SIGKILL, wherever it is
  }
  GatewayProcess gw(args, tmp.Sub("gw2.err"));
  ASSERT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
  const std::string err = gw.err();
  EXPECT_THAT(err, HasSubstr("final queue_batches=0 "));
  EXPECT_GT(gw.LastStatus("resume_position"), 0) << err;
  EXPECT_EQ(gw.LastStatus("failed_batches"), 0);
  EXPECT_EQ(gw.LastStatus("rejected_samples"), 0);

  client::PlantSimulator plant("kx", kTags, 7, kRate);
  SampleMap expected;
  std::vector<std::string> tags;
  for (int t = 0; t < kTags; ++t) {
    tags.push_back(plant.tag_name(t));
    for (int k = 0; k < kTicks; ++k) {
      const v1::Sample s = plant.SampleAt(t, k, kT0);
      expected[Key(plant.tag_name(t), s.timestamp_ns())] = s.value().SerializeAsString();
    }
  }
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), tags, kT0, kT0 + 3600 * kSecond, &total);
  EXPECT_EQ(total, expected.size());
  EXPECT_TRUE(got == expected) << "got " << got.size() << " samples, expected " << expected.size();
}

INSTANTIATE_TEST_SUITE_P(NodeLimits, GatewayKill9Test,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--max_samples_per_batch=40"}),
                         [](const ::testing::TestParamInfo<std::vector<std::string>>& info) {
                           return info.param.empty() ? std::string("batches_within_the_limit")
                                                     : std::string("batches_over_the_limit");
                         });

// The first node of --server is down: the gateway writes to the second.
TEST(GatewayTest, FailsOverToTheTwinSite) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  const std::string servers = absl::StrCat("127.0.0.1:", FreePort(), ",", node.address());
  SampleMap expected;
  std::vector<std::string> tags;
  const std::vector<std::string> rows = MakeCsvRows(10, 100, "gw.failover", &expected, &tags);
  GatewayProcess gw(CommonFlags(servers, tmp.Sub("queue")), tmp.Sub("gw.err"),
                    {.stdin_pipe = true});
  std::string csv = "tag,time,value,quality\n";
  for (const std::string& r : rows) csv += r;
  gw.WriteStdin(csv);
  gw.CloseStdin();
  ASSERT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
  EXPECT_EQ(gw.LastStatus("acked_samples"), 1000) << gw.err();
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), tags, kT0, kT0 + 1000 * kSecond, &total);
  EXPECT_EQ(total, expected.size());
  EXPECT_TRUE(got == expected);
}

// The disk queue cannot take a batch (a directory sits where its next
// segment file goes: the create fails, as on a full or failing disk, and
// also for root). The batch stays in memory: the sample queued by age and
// the one that filled the batch (its Add answers the queue's error) are
// queued once the queue works again; a sample offered while the full batch
// is not queued is refused, not kept. Every sample taken reaches the node
// once, and the queue's input cursor never passes one it did not queue.
TEST(GatewayTest, ABatchTheQueueCouldNotTakeIsQueuedLaterNotLost) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("node"));
  ASSERT_TRUE(node.Start());
  client::GatewayOptions options;
  options.queue.dir = tmp.Sub("queue");
  options.writer.endpoints = {node.address()};
  options.batch_max_samples = 2;
  options.batch_max_delay = absl::Milliseconds(1);
  auto gateway = client::Gateway::Open(options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  client::Gateway& gw = **gateway;
  const std::string blocker =
      absl::StrFormat("%s/seg-%020u.q", options.queue.dir, gw.next_sequence());
  ASSERT_EQ(mkdir(blocker.c_str(), 0755), 0) << blocker;
  const std::string tag = "gw.queue_error";
  SampleMap expected;
  auto add = [&](int k, uint64_t cursor) {
    v1::Sample sample;
    sample.set_timestamp_ns(kT0 + k * kSecond);
    sample.mutable_value()->set_double_value(k);
    const std::string value = sample.value().SerializeAsString();
    absl::Status added = gw.Add(tag, std::move(sample), cursor);
    return std::make_pair(added, value);
  };
  auto [first, first_value] = add(0, 1);  // queued by age: the append fails
  ASSERT_TRUE(first.ok()) << first;
  expected[Key(tag, kT0)] = first_value;
  ASSERT_TRUE(WaitFor([&] { return gw.status().queue_errors >= 1; }, absl::Seconds(30)));
  auto [second, second_value] = add(1, 2);  // fills the batch: not queued, kept
  EXPECT_FALSE(second.ok());
  expected[Key(tag, kT0 + kSecond)] = second_value;
  auto [third, third_value] = add(2, 3);  // the full batch is not queued: refused
  EXPECT_FALSE(third.ok());
  EXPECT_EQ(gw.status().queue.next_sequence, gw.next_sequence());
  EXPECT_EQ(gw.status().queue.batches, 0u) << "nothing queued while the queue fails";

  ASSERT_EQ(rmdir(blocker.c_str()), 0);
  ASSERT_TRUE(WaitFor([&] { return gw.status().queue.items + gw.status().acked_samples >= 2; },
                      absl::Seconds(30)))
      << gw.StatusLine();
  auto [fourth, fourth_value] = add(3, 4);
  ASSERT_TRUE(fourth.ok()) << fourth;
  expected[Key(tag, kT0 + 3 * kSecond)] = fourth_value;
  ASSERT_TRUE(gw.Flush().ok());
  ASSERT_TRUE(gw.WaitDrained(absl::Now() + absl::Seconds(60))) << gw.StatusLine();
  EXPECT_EQ(gw.status().unqueued_samples, 1u);  // the one refused while the batch waited
  gw.Stop(absl::ZeroDuration());
  gateway->reset();
  size_t total = 0;
  EXPECT_EQ(ReadBack(node.address(), {tag}, kT0, kT0 + 10 * kSecond, &total), expected);
  EXPECT_EQ(total, expected.size());
  // The cursor kept with the last queued batch is the last sample's.
  auto reopened = client::Gateway::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->resume_cursor(), 4u);
}

// SIGTERM while no node is reachable: the gateway exits 0 after its grace
// period and keeps the batches; the next run (same --csv FILE, same queue)
// skips the rows already queued and delivers the queue.
TEST(GatewayTest, SigtermKeepsTheQueueForTheNextRun) {
  TempDir tmp;
  const int port = FreePort();
  SampleMap expected;
  std::vector<std::string> tags;
  const std::vector<std::string> rows = MakeCsvRows(10, 100, "gw.sigterm", &expected, &tags);
  const std::string csv_path = tmp.Sub("in.csv");
  {
    std::ofstream out(csv_path);
    out << "tag,time,value,quality\n";
    for (const std::string& r : rows) out << r;
  }
  std::vector<std::string> args = CommonFlags(absl::StrCat("127.0.0.1:", port), tmp.Sub("queue"));
  for (const char* a : {"--csv", csv_path.c_str(), "--grace", "100ms"}) args.push_back(a);
  {
    GatewayProcess gw(args, tmp.Sub("gw1.err"));
    ASSERT_TRUE(WaitFor([&] { return gw.LastStatus("queue_samples") == 1000; }, absl::Seconds(60)))
        << gw.err();
    gw.Signal(SIGTERM);
    ASSERT_EQ(gw.Wait(absl::Seconds(60)), 0) << gw.err();
    EXPECT_EQ(gw.LastStatus("queue_samples"), 1000) << gw.err();  // final line
  }
  NodeProcess node(tmp.Sub("data"), {absl::StrCat("--listen=127.0.0.1:", port)});
  ASSERT_TRUE(node.Start());
  GatewayProcess gw(args, tmp.Sub("gw2.err"));
  ASSERT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
  EXPECT_EQ(gw.LastStatus("resume_position"), 1000) << gw.err();
  EXPECT_EQ(gw.LastStatus("acked_samples"), 1000) << gw.err();
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), tags, kT0, kT0 + 1000 * kSecond, &total);
  EXPECT_EQ(total, expected.size());
  EXPECT_TRUE(got == expected);
}

// --- Restart with another input ---
//
// A resume position belongs to the input it was read from (path, size, hash
// of its head); a FIFO or stdin never resumes. When in doubt the gateway
// resends (the node keeps one value per tag and timestamp), it never skips.

// A CSV text with `header` and rows r in [first, last) of a feed of
// `tags` tags (row r: tag r % tags at second r / tags). Fills the expected
// samples and the tag names.
std::string CsvText(const std::string& prefix, int tags, int first, int last, bool header,
                    SampleMap* expected, std::vector<std::string>* tag_names) {
  std::string text = header ? "tag,time,value,quality\n" : "";
  for (int i = 0; i < tags && tag_names != nullptr; ++i) {
    tag_names->push_back(absl::StrCat(prefix, ".t", i));
  }
  for (int r = first; r < last; ++r) {
    const std::string tag = absl::StrCat(prefix, ".t", r % tags);
    const int64_t ts = kT0 + (r / tags) * kSecond;
    const std::string value = absl::StrCat(1000 + r);
    text += absl::StrCat(tag, ",", ts, ",", value, ",0\n");
    if (expected != nullptr)
      (*expected)[Key(tag, ts)] = client::InferValue(value, false)->SerializeAsString();
  }
  return text;
}

void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// The writing end of a FIFO the gateway reads.
class FifoWriter {
 public:
  explicit FifoWriter(std::string path) : path_(std::move(path)) {
    signal(SIGPIPE, SIG_IGN);  // the reader is killed while we hold the pipe
  }
  ~FifoWriter() { Close(); }
  // Opens the FIFO once the gateway has opened it for reading.
  bool Open() {
    return WaitFor(
        [&] {
          fd_ = open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
          return fd_ >= 0;
        },
        absl::Seconds(30));
  }
  bool Write(const std::string& text) {
    return fd_ >= 0 && write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Runs the gateway to completion; returns its stderr, and expects exit 0.
std::string RunGatewayToEnd(const std::vector<std::string>& args, const std::string& err_path) {
  GatewayProcess gw(args, err_path);
  EXPECT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
  return gw.err();
}

// Where in its start-up the gateway reading a FIFO is killed.
enum class FifoKill {
  kBeforeOpen,       // the input is recorded, the FIFO has no writer yet
  kAfterHeader,      // the FIFO is open and has its header
  kRowsNotQueued,    // rows read into a batch that is not queued
  kAfterFirstBatch,  // one batch of the FIFO's rows queued
};

class GatewayFifoKillTest : public ::testing::TestWithParam<FifoKill> {};

// A.csv (10 rows) is delivered; the gateway then starts on B.csv, a FIFO,
// and is killed -9 at one step of its start-up; B.csv, now a regular file of
// 25 rows, is read again from its first row: every row of B reaches the
// node, none is skipped.
TEST_P(GatewayFifoKillTest, RestartOnAFileSkipsNoRow) {
  const FifoKill kill_at = GetParam();
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  std::vector<std::string> args = CommonFlags(node.address(), tmp.Sub("queue"));
  for (const char* a : {"--batch_max_samples", "20", "--batch_max_delay", "1h"}) args.push_back(a);

  SampleMap expected_a, expected_b;
  std::vector<std::string> tags_a, tags_b;
  const std::string a_path = tmp.Sub("A.csv");
  WriteTextFile(a_path, CsvText("gw.fa", 2, 0, 10, true, &expected_a, &tags_a));
  std::vector<std::string> run_a = args;
  run_a.insert(run_a.end(), {"--csv", a_path});
  EXPECT_EQ(LastStatusValue(RunGatewayToEnd(run_a, tmp.Sub("gw_a.err")), "acked_samples"), 10);

  const std::string b_path = tmp.Sub("B.csv");
  const std::string b_text = CsvText("gw.fb", 5, 0, 25, true, &expected_b, &tags_b);
  std::vector<std::string> run_b = args;
  run_b.insert(run_b.end(), {"--csv", b_path});
  ASSERT_EQ(mkfifo(b_path.c_str(), 0644), 0);
  {
    GatewayProcess gw(run_b, tmp.Sub("gw_fifo.err"));
    ASSERT_TRUE(WaitFor([&] { return gw.err().find("resume_position=") != std::string::npos; },
                        absl::Seconds(60)))
        << gw.err();
    EXPECT_EQ(gw.LastStatus("resume_position"), 0) << gw.err();
    FifoWriter fifo(b_path);
    if (kill_at != FifoKill::kBeforeOpen) {
      ASSERT_TRUE(fifo.Open());
      const int rows = kill_at == FifoKill::kAfterHeader     ? 0
                       : kill_at == FifoKill::kRowsNotQueued ? 5
                                                             : 22;
      ASSERT_TRUE(fifo.Write(CsvText("gw.fb", 5, 0, rows, true, nullptr, nullptr)));
    }
    if (kill_at == FifoKill::kAfterFirstBatch) {
      ASSERT_TRUE(WaitFor(
          [&] {
            return gw.LastStatus("queue_samples") >= 20 || gw.LastStatus("acked_samples") >= 20;
          },
          absl::Seconds(60)))
          << gw.err();
    }
    gw.Kill();
  }
  ASSERT_EQ(unlink(b_path.c_str()), 0);
  WriteTextFile(b_path, b_text);
  const std::string err = RunGatewayToEnd(run_b, tmp.Sub("gw_b.err"));
  EXPECT_EQ(LastStatusValue(err, "resume_position"), 0) << err;
  EXPECT_THAT(err, HasSubstr("final queue_batches=0 "));

  size_t total = 0;
  const SampleMap got_b = ReadBack(node.address(), tags_b, kT0, kT0 + 100 * kSecond, &total);
  EXPECT_EQ(total, expected_b.size());
  EXPECT_TRUE(got_b == expected_b)
      << "got " << got_b.size() << " rows of B, expected " << expected_b.size() << "\n"
      << err;
  const SampleMap got_a = ReadBack(node.address(), tags_a, kT0, kT0 + 100 * kSecond, &total);
  EXPECT_TRUE(got_a == expected_a);
}

INSTANTIATE_TEST_SUITE_P(StartupSteps, GatewayFifoKillTest,
                         ::testing::Values(FifoKill::kBeforeOpen, FifoKill::kAfterHeader,
                                           FifoKill::kRowsNotQueued, FifoKill::kAfterFirstBatch),
                         [](const auto& info) {
                           switch (info.param) {
                             case FifoKill::kBeforeOpen:
                               return "BeforeOpen";
                             case FifoKill::kAfterHeader:
                               return "AfterHeader";
                             case FifoKill::kRowsNotQueued:
                               return "RowsNotQueued";
                             case FifoKill::kAfterFirstBatch:
                               return "AfterFirstBatch";
                           }
                           return "";
                         });

// What is at the same --csv path when the gateway starts again.
enum class Rerun {
  kOtherSize,  // another file, 25 rows
  kSameSize,   // as many bytes, other content
  kGrown,      // the 10 rows and 15 appended
  kNowAFifo,   // a FIFO carrying the 10 rows and 15 more
};

class GatewayRerunTest : public ::testing::TestWithParam<Rerun> {};

// The gateway delivers A.csv (10 rows), then starts again on the same path
// with other content: it resumes only from a file that grew by appending,
// and every row of the second run's input reaches the node.
TEST_P(GatewayRerunTest, ResumesOnlyTheSameInput) {
  const Rerun rerun = GetParam();
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  std::vector<std::string> args = CommonFlags(node.address(), tmp.Sub("queue"));
  const std::string path = tmp.Sub("A.csv");
  args.insert(args.end(), {"--csv", path});

  SampleMap expected_first;
  std::vector<std::string> tags_first;
  WriteTextFile(path, CsvText("gw.ra", 2, 0, 10, true, &expected_first, &tags_first));
  EXPECT_EQ(LastStatusValue(RunGatewayToEnd(args, tmp.Sub("gw1.err")), "acked_samples"), 10);

  SampleMap expected;
  std::vector<std::string> tags;
  int64_t resume = 0;
  int64_t sent = 0;
  std::string err;
  switch (rerun) {
    case Rerun::kOtherSize:
      WriteTextFile(path, CsvText("gw.rb", 5, 0, 25, true, &expected, &tags));
      sent = 25;
      break;
    case Rerun::kSameSize: {
      // Same tags, times and value widths: only the values differ.
      std::string text = "tag,time,value,quality\n";
      for (int r = 0; r < 10; ++r) {
        const std::string tag = absl::StrCat("gw.ra.t", r % 2);
        const int64_t ts = kT0 + (r / 2) * kSecond;
        const std::string value = absl::StrCat(2000 + r);
        text += absl::StrCat(tag, ",", ts, ",", value, ",0\n");
        expected[Key(tag, ts)] = client::InferValue(value, false)->SerializeAsString();
      }
      tags = tags_first;
      ASSERT_EQ(text.size(), ReadFile(path).size());
      WriteTextFile(path, text);
      sent = 10;
      break;
    }
    case Rerun::kGrown: {
      const std::string more = CsvText("gw.ra", 2, 10, 25, false, nullptr, nullptr);
      std::ofstream(path, std::ios::binary | std::ios::app) << more;
      CsvText("gw.ra", 2, 0, 25, true, &expected, &tags);
      resume = 10;
      sent = 15;
      break;
    }
    case Rerun::kNowAFifo: {
      ASSERT_EQ(unlink(path.c_str()), 0);
      ASSERT_EQ(mkfifo(path.c_str(), 0644), 0);
      const std::string text = CsvText("gw.ra", 2, 0, 25, true, &expected, &tags);
      GatewayProcess gw(args, tmp.Sub("gw2.err"));
      FifoWriter fifo(path);
      ASSERT_TRUE(fifo.Open()) << gw.err();
      ASSERT_TRUE(fifo.Write(text));
      fifo.Close();
      EXPECT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
      err = gw.err();
      sent = 25;
      break;
    }
  }
  if (err.empty()) err = RunGatewayToEnd(args, tmp.Sub("gw2.err"));
  EXPECT_EQ(LastStatusValue(err, "resume_position"), resume) << err;
  EXPECT_EQ(LastStatusValue(err, "acked_samples"), sent) << err;
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), tags, kT0, kT0 + 100 * kSecond, &total);
  EXPECT_EQ(total, expected.size());
  EXPECT_TRUE(got == expected) << "got " << got.size() << " samples, expected " << expected.size()
                               << "\n"
                               << err;
}

INSTANTIATE_TEST_SUITE_P(SamePath, GatewayRerunTest,
                         ::testing::Values(Rerun::kOtherSize, Rerun::kSameSize, Rerun::kGrown,
                                           Rerun::kNowAFifo),
                         [](const auto& info) {
                           switch (info.param) {
                             case Rerun::kOtherSize:
                               return "OtherSize";
                             case Rerun::kSameSize:
                               return "SameSizeOtherContent";
                             case Rerun::kGrown:
                               return "Grown";
                             case Rerun::kNowAFifo:
                               return "NowAFifo";
                           }
                           return "";
                         });

// stdin never resumes: a second run on stdin sends every row it reads (the
// ones the first run delivered are stored once).
TEST(GatewayTest, StdinNeverResumes) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  const std::vector<std::string> args = CommonFlags(node.address(), tmp.Sub("queue"));
  SampleMap expected;
  std::vector<std::string> tags;
  const std::string text = CsvText("gw.si", 5, 0, 25, true, &expected, &tags);
  for (const std::string& input : {CsvText("gw.si", 5, 0, 10, true, nullptr, nullptr), text}) {
    GatewayProcess gw(args, tmp.Sub("gw.err"), {.stdin_pipe = true});
    gw.WriteStdin(input);
    gw.CloseStdin();
    ASSERT_EQ(gw.Wait(absl::Seconds(120)), 0) << gw.err();
    EXPECT_EQ(gw.LastStatus("resume_position"), 0) << gw.err();
  }
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), tags, kT0, kT0 + 100 * kSecond, &total);
  EXPECT_EQ(total, expected.size());
  EXPECT_TRUE(got == expected);
}

// Text numbers are doubles: a new tag fed 180 then 180.5 is a double tag and
// keeps both samples.
TEST(GatewayTest, TextNumbersMakeDoubleTags) {
  TempDir tmp;
  NodeProcess node(tmp.Sub("data"));
  ASSERT_TRUE(node.Start());
  GatewayProcess gw(CommonFlags(node.address(), tmp.Sub("queue")), tmp.Sub("gw.err"),
                    {.stdin_pipe = true});
  gw.WriteStdin(
      absl::StrCat("tag,time,value\ngw.num.a,", kT0, ",180\ngw.num.a,", kT0 + kSecond, ",180.5\n"));
  gw.CloseStdin();
  ASSERT_EQ(gw.Wait(absl::Seconds(60)), 0) << gw.err();
  EXPECT_EQ(gw.LastStatus("rejected_samples"), 0) << gw.err();
  SampleMap expected;
  v1::Value v;
  v.set_double_value(180.0);
  expected[Key("gw.num.a", kT0)] = v.SerializeAsString();
  v.set_double_value(180.5);
  expected[Key("gw.num.a", kT0 + kSecond)] = v.SerializeAsString();
  size_t total = 0;
  const SampleMap got = ReadBack(node.address(), {"gw.num.a"}, kT0, kT0 + 10 * kSecond, &total);
  EXPECT_EQ(total, 2u);
  EXPECT_TRUE(got == expected) << gw.err();
}

TEST(GatewayTest, HelpAndBadFlags) {
  testing::CommandResult help = testing::RunCommand({"historian-gateway", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--simulate-tags N"));
  testing::CommandResult bad = testing::RunCommand({"historian-gateway", "--csv", "x.csv"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("--queue_dir is required"));
}

}  // namespace
}  // namespace historian
