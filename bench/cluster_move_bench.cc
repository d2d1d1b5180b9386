// cluster_move_bench: ingest while shards move (issue 21; docs/cluster.md,
// "The mover"). A real etcd and four real historiand nodes (the tests'
// ClusterFixture, --shards shards, three placed); --preload samples over
// --tags tags loaded and compacted (the moves copy sealed data), then
// --writers threads send batches of --batch_tags tags x --batch_samples
// samples (unary Ingest.WriteBatch, round robin over the three placed
// nodes, which forward to the owners) for two windows of --window_batches
// batches each: one with no move, one started right after
// `historian cluster add-node` for the fourth node (the moves run while
// the window's batches go in). Prints the samples/s of each window, their
// ratio, and the moves' copy: bytes and the time from add-node to the last
// FinishMove. A batch refused during a handover (UNAVAILABLE) is retried
// and counted once; its wait is part of the window.
//
//   cluster_move_bench --shards=64 --preload=4000000 --tags=2000

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/cluster.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/metrics_text.h"

ABSL_FLAG(uint32_t, shards, 64, "the cluster's shards");
ABSL_FLAG(uint64_t, preload, 4000000, "samples loaded and compacted before the windows");
ABSL_FLAG(int, tags, 2000, "tags");
ABSL_FLAG(int, writers, 4, "writer threads");
ABSL_FLAG(int, batch_tags, 100, "tags a batch");
ABSL_FLAG(int, batch_samples, 50, "samples a tag in a batch");
ABSL_FLAG(int, window_batches, 600, "batches a window (all writers)");
ABSL_FLAG(std::string, dir, "/tmp/cluster_move_bench", "scratch directory (removed first)");
ABSL_FLAG(bool, four_members_from_start, false,
          "control run: place all four nodes at init and only measure the no-move window (the "
          "layout the moves end in, without a move)");

namespace historian {
namespace {

constexpr int64_t kT0 = 1795428000000000000;  // 2026-11-23T10:00:00Z
constexpr int64_t kSecond = 1000000000;

std::shared_ptr<grpc::Channel> Channel(const std::string& a) {
  return grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
}

double Metric(int port, const std::string& name) {
  return testing::MetricValue(testing::ScrapeMetrics(port), name).value_or(-1);
}

// Batch `k` (0-based): tags [k*batch_tags % tags, ...), samples from
// `first_second` on; every (tag, second) once over a run.
v1::WriteRequest MakeBatch(uint64_t k, int64_t first_second) {
  const int tags = absl::GetFlag(FLAGS_tags), per_batch = absl::GetFlag(FLAGS_batch_tags);
  const int samples = absl::GetFlag(FLAGS_batch_samples);
  const uint64_t groups = static_cast<uint64_t>(tags / per_batch);
  const int64_t round = static_cast<int64_t>(k / groups);
  const int first_tag = static_cast<int>(k % groups) * per_batch;
  v1::WriteRequest batch;
  batch.set_client_id("move-bench");
  batch.set_batch_sequence(k + 1 + static_cast<uint64_t>(first_second) * 1000);
  for (int t = first_tag; t < first_tag + per_batch; ++t) {
    v1::TagSamples* series = batch.add_series();
    series->set_tag(absl::StrCat("bench.move.t", t, ".pv"));
    for (int j = 0; j < samples; ++j) {
      v1::Sample* s = series->add_samples();
      s->set_timestamp_ns(kT0 + (first_second + round * samples + j) * kSecond);
      s->mutable_value()->set_double_value(static_cast<double>((t * 31 + j) % 1000) / 10);
    }
  }
  return batch;
}

// Batches refused (UNAVAILABLE, ABORTED) and sent again, over the run, and
// how many of them each refusal message (digits as '#') caused.
std::atomic<uint64_t> retries{0};
absl::Mutex refusals_mu;
std::map<std::string, uint64_t> refusals ABSL_GUARDED_BY(refusals_mu);

void CountRefusal(const std::string& message) {
  std::string shape = message;
  for (char& c : shape) {
    if (c >= '0' && c <= '9') c = '#';
  }
  absl::MutexLock l(&refusals_mu);
  ++refusals[shape];
}
// Each batch's time from its first send to its ack (retries included), in
// the last Window: stalls show as a tail, a slower node as a shift.
absl::Mutex latencies_mu;
std::vector<double> latencies_ms ABSL_GUARDED_BY(latencies_mu);

void PrintLatencies(const char* label) {
  absl::MutexLock l(&latencies_mu);
  std::vector<double>& v = latencies_ms;
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  double over_20ms = 0;
  for (double x : v) over_20ms += x > 20 ? x : 0;
  std::printf(
      "%s batch latency ms: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f; %.2f s in batches over 20 ms\n",
      label, v[v.size() / 2], v[v.size() * 9 / 10], v[v.size() * 99 / 100], v.back(),
      over_20ms / 1000);
  v.clear();
}

// Sends `n` batches from `writers` threads; returns the seconds it took, or
// -1 when a batch failed for good.
double Window(const std::vector<std::string>& nodes, uint64_t first_batch, uint64_t n,
              int64_t first_second) {
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < absl::GetFlag(FLAGS_writers); ++w) {
    threads.emplace_back([&, w] {
      std::vector<std::unique_ptr<v1::Ingest::Stub>> stubs;
      for (const std::string& a : nodes) stubs.push_back(v1::Ingest::NewStub(Channel(a)));
      for (uint64_t i; (i = next.fetch_add(1)) < n && !failed;) {
        const v1::WriteRequest batch = MakeBatch(first_batch + i, first_second);
        const auto sent = std::chrono::steady_clock::now();
        for (int attempt = 0;; ++attempt) {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          v1::WriteAck ack;
          grpc::Status s = stubs[(i + attempt + w) % stubs.size()]->WriteBatch(&ctx, batch, &ack);
          if (s.ok()) {
            absl::MutexLock l(&latencies_mu);
            latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
                    .count());
            break;
          }
          if ((s.error_code() != grpc::StatusCode::UNAVAILABLE &&
               s.error_code() != grpc::StatusCode::ABORTED) ||
              attempt > 2000) {
            std::fprintf(stderr, "write: %s\n", s.error_message().c_str());
            failed = true;
            return;
          }
          retries.fetch_add(1);
          CountRefusal(s.error_message());
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failed) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  testing::ClusterFixtureOptions options;
  options.nodes = 4;
  const bool control = absl::GetFlag(FLAGS_four_members_from_start);
  options.placed_nodes = control ? 4 : 3;
  options.num_shards = absl::GetFlag(FLAGS_shards);
  testing::ClusterFixture cluster(dir + "/cluster", options);
  if (!cluster.Start()) return 1;
  const std::vector<std::string> nodes = {cluster.address(0), cluster.address(1),
                                          cluster.address(2)};
  const uint64_t per_batch = static_cast<uint64_t>(absl::GetFlag(FLAGS_batch_tags)) *
                             static_cast<uint64_t>(absl::GetFlag(FLAGS_batch_samples));
  const uint64_t preload_batches = absl::GetFlag(FLAGS_preload) / per_batch;
  auto t = std::chrono::steady_clock::now();
  if (Window(nodes, 0, preload_batches, 0) < 0) return 2;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    v1::CompactRequest request;
    v1::CompactResponse response;
    if (!v1::Admin::NewStub(Channel(nodes[i]))->Compact(&ctx, request, &response).ok()) return 3;
  }
  std::printf("preload and compact: %.1f s, %llu samples over %d tags, %u shards\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(),
              static_cast<unsigned long long>(preload_batches * per_batch),
              absl::GetFlag(FLAGS_tags), absl::GetFlag(FLAGS_shards));
  const uint64_t n = static_cast<uint64_t>(absl::GetFlag(FLAGS_window_batches));
  {
    absl::MutexLock l(&latencies_mu);
    latencies_ms.clear();  // the preload's
  }
  const double quiet = Window(nodes, preload_batches, n, 10000000);
  if (quiet < 0) return 4;
  const double quiet_rate = static_cast<double>(n * per_batch) / quiet;
  std::printf("no move:     %llu samples in %.2f s: %.0f samples/s\n",
              static_cast<unsigned long long>(n * per_batch), quiet, quiet_rate);

  PrintLatencies("no move:    ");
  if (control) return 0;
  const uint64_t quiet_retries = retries.load();
  const auto add_start = std::chrono::steady_clock::now();
  testing::CommandResult add = cluster.Cli(0, {"cluster", "add-node", cluster.address(3)});
  if (add.exit_code != 0) {
    std::fprintf(stderr, "add-node: %s%s\n", add.out.c_str(), add.err.c_str());
    return 5;
  }
  // The moving window: batches go in while the moves run; it ends when the
  // moves are done (whole windows of n batches until then).
  uint64_t moving_batches = 0;
  double moving_secs = 0;
  double moves_done_secs = -1;
  for (int w = 0; moves_done_secs < 0; ++w) {
    const double secs = Window(nodes, preload_batches + n * (w + 1), n, 20000000 + w * 1000000);
    if (secs < 0) return 6;
    moving_batches += n;
    moving_secs += secs;
    v1::PlacementResponse p;
    if (cluster.Placement(0, &p).ok() && p.moves_size() == 0 && p.members_size() == 4) {
      moves_done_secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - add_start).count();
    }
    if (w > 200) return 7;
  }
  PrintLatencies("during move:");
  const double moving_rate = static_cast<double>(moving_batches * per_batch) / moving_secs;
  std::printf("during move: %llu samples in %.2f s: %.0f samples/s; ratio %.2f\n",
              static_cast<unsigned long long>(moving_batches * per_batch), moving_secs, moving_rate,
              moving_rate / quiet_rate);
  const double copied =
      Metric(cluster.metrics_port(3), "historian_cluster_move_bytes_copied_total");
  const double finished = Metric(cluster.metrics_port(3), "historian_cluster_moves_finished_total");
  std::printf("moves: %.0f finished, %.1f MB copied, add-node to the last finish %.2f s\n",
              finished, copied / 1e6, moves_done_secs);
  // Refused batches cost a retry; held ones wait at the new owner instead.
  std::printf("during the moves: %llu batches retried, %.0f writes held at the new owner\n",
              static_cast<unsigned long long>(retries.load() - quiet_retries),
              Metric(cluster.metrics_port(3), "historian_handover_writes_held_total"));
  {
    absl::MutexLock l(&refusals_mu);
    for (const auto& [shape, count] : refusals) {
      std::printf("  refused %llu x: %s\n", static_cast<unsigned long long>(count), shape.c_str());
    }
  }
  // The same window once the moves are done: the four-member layout
  // without a move (each batch now has one more owner to forward to, on
  // the same two cores), so the moves' own cost is the second ratio.
  double closed = 0;
  for (int i = 0; i < 4; ++i) closed += Metric(cluster.metrics_port(i), "historian_closed_shards");
  if (closed != 0) {
    std::fprintf(stderr, "%.0f shards still closed after the moves\n", closed);
    return 9;
  }
  const double after = Window(nodes, preload_batches + moving_batches + n, n, 90000000);
  if (after < 0) return 8;
  const double after_rate = static_cast<double>(n * per_batch) / after;
  PrintLatencies("after:      ");
  std::printf("after:       %llu samples in %.2f s: %.0f samples/s; during/after %.2f\n",
              static_cast<unsigned long long>(n * per_batch), after, after_rate,
              moving_rate / after_rate);
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rc = historian::Run();
  // HISTORIAN_KEEP_TEST_DIRS=1 keeps the nodes' logs, as in the tests.
  const char* keep = std::getenv("HISTORIAN_KEEP_TEST_DIRS");
  if (!(keep && *keep == '1')) std::filesystem::remove_all(absl::GetFlag(FLAGS_dir));
  return rc;
}
