// subscribe_bench: what live subscriptions (Query.Subscribe, issue 19) cost
// ingest, against real historiand processes (a fresh node per phase):
//   base     ingest alone: the plant's --tags tags as fast as the node acks
//   subs     the same with --subscribers subscriptions of --tags_per_sub
//            distinct tags each, read as fast as they come; a probe writer
//            sends one sample a --probe_interval to a probe tag (value = send
//            time) that subscriber 0 also holds: publish -> subscriber
//            latency
//   stuck    the same ingest with one subscription of every tag that never
//            reads (its buffer overflows into `lagged`)
//   paced_base, paced
//            --paced_rate samples/s (one tick of every tag per batch, as a
//            live plant sends) for --paced_seconds, without and with the
//            subscribers and the probe: node CPU per second of ingest, and
//            the probe's latency when the node is not saturated
//   idle     the subscribers open, nothing written: node CPU over
//            --idle_seconds (push, not polling: should be ~0)
//   paced_toggle
//            one node under the paced load (and the probe) for the whole
//            phase; the subscribers open and close every
//            --toggle_seconds, --toggle_rounds times: node CPU per second in
//            each window without and with them. Adjacent windows of one
//            node share its heads, its compactions and the machine's
//            moment, which separate phases (a fresh node each) do not: on a
//            shared VM the paced phases' ingest alone varied by +-20 %
//            between runs, as much as the effect measured.
// Prints each phase's acked samples/s, the ratios, the latency percentiles
// (publish -> ack, the write path alone, and publish -> subscriber) and
// what the subscribers got (every sample of their tags, or lagged).
//
//   subscribe_bench --historiand build/server/historiand
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_dataset.h"
#include "bench/bench_ingest.h"
#include "bench/bench_node.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"

ABSL_FLAG(std::string, historiand, "build/server/historiand", "historiand binary");
ABSL_FLAG(std::string, work_dir, "/tmp/historian-subscribe-bench", "Data dirs (wiped)");
ABSL_FLAG(uint64_t, tags, 10000, "Tags in the plant");
ABSL_FLAG(int64_t, duration_s, 1000, "Plant seconds (one sample per tag per second)");
ABSL_FLAG(int32_t, subscribers, 100, "Subscriptions in the subs phase");
ABSL_FLAG(int32_t, tags_per_sub, 100, "Distinct tags per subscription");
ABSL_FLAG(int32_t, streams, 4, "Ingest streams");
ABSL_FLAG(absl::Duration, probe_interval, absl::Milliseconds(5), "Probe sample interval");
ABSL_FLAG(std::string, phases, "base,subs,stuck", "Phases to run, in order");
ABSL_FLAG(double, paced_rate, 1e6, "Samples/s in the paced phases");
ABSL_FLAG(int32_t, paced_seconds, 10, "Length of the paced phases");
ABSL_FLAG(uint64_t, paced_block_ticks, 1,
          "Paced phases: ticks of each tag per batch (1: one tick of every tag per batch)");
ABSL_FLAG(int32_t, idle_seconds, 10, "Length of the idle phase's CPU measurement");
ABSL_FLAG(int32_t, toggle_rounds, 10, "paced_toggle: windows without and with the subscribers");
ABSL_FLAG(int32_t, toggle_seconds, 10, "paced_toggle: length of each measured window");
ABSL_FLAG(int32_t, pin_node_cpu, -1,
          "paced_toggle: pin the node to this CPU and the bench to the next one "
          "(-1: no pinning), so the readers do not run on the node's core");

namespace historian::bench {
namespace {

namespace v1 = ::historian::v1;

int64_t NowNs() { return absl::ToUnixNanos(absl::Now()); }

// One subscription read by a thread, counting samples; subscriber 0 also
// records the probe's latencies.
class Reader {
 public:
  Reader(const std::string& address, v1::SubscribeRequest request, bool probe)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(v1::Query::NewStub(channel_)),
        probe_(probe) {
    request.set_columns(true);
    reader_ = stub_->Subscribe(&ctx_, request);
    thread_ = std::thread([this] {
      v1::SubscribeResponse r;
      while (reader_->Read(&r)) {
        const int64_t now = NowNs();
        started_ = true;
        if (r.has_lagged()) lagged_ = true;
        for (const auto& b : r.batches()) {
          if (probe_ && b.tag() == "probe") {
            std::lock_guard<std::mutex> l(mu_);
            for (double v : b.columns().double_values()) {
              latencies_ms_.push_back((now - static_cast<int64_t>(v)) / 1e6);
            }
            continue;
          }
          samples_ += b.columns().timestamp_deltas_ns_size();
        }
      }
      reader_->Finish();
    });
  }
  ~Reader() {
    ctx_.TryCancel();
    thread_.join();
  }
  bool started() const { return started_; }
  uint64_t samples() const { return samples_; }
  bool lagged() const { return lagged_; }
  std::vector<double> latencies() {
    std::lock_guard<std::mutex> l(mu_);
    return latencies_ms_;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Query::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  const bool probe_;
  std::atomic<bool> started_{false};
  std::atomic<uint64_t> samples_{0};
  std::atomic<bool> lagged_{false};
  std::mutex mu_;
  std::vector<double> latencies_ms_;
  std::thread thread_;
};

// Writes one probe sample (value: its send time) per interval until stopped.
class Probe {
 public:
  Probe(const std::string& address, absl::Duration interval)
      : stub_(
            v1::Ingest::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    thread_ = std::thread([this, interval] {
      int64_t ts = 1;
      while (!stop_) {
        v1::WriteRequest req;
        auto* s = req.add_series();
        s->set_tag("probe");
        auto* sample = s->add_samples();
        sample->set_timestamp_ns(ts++);
        sample->mutable_value()->set_double_value(static_cast<double>(NowNs()));
        v1::WriteAck ack;
        grpc::ClientContext ctx;
        const int64_t sent = static_cast<int64_t>(sample->value().double_value());
        if (stub_->WriteBatch(&ctx, req, &ack).ok()) {
          std::lock_guard<std::mutex> l(mu_);
          ack_ms_.push_back((NowNs() - sent) / 1e6);
        }
        absl::SleepFor(interval);
      }
    });
  }
  ~Probe() {
    stop_ = true;
    thread_.join();
  }
  // Publish -> ack latencies (the write path alone), ms.
  std::vector<double> ack_latencies() {
    std::lock_guard<std::mutex> l(mu_);
    return ack_ms_;
  }

 private:
  std::unique_ptr<v1::Ingest::Stub> stub_;
  std::mutex mu_;
  std::vector<double> ack_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

// Opens `subs` subscriptions of `per_sub` distinct tags each (subscriber 0
// also holds the probe tag) and waits until every one has answered.
std::vector<std::unique_ptr<Reader>> OpenReaders(const std::string& address, const DataSet& data,
                                                 int subs, int per_sub) {
  std::vector<std::unique_ptr<Reader>> readers;
  for (int s = 0; s < subs; ++s) {
    v1::SubscribeRequest req;
    for (int t = 0; t < per_sub; ++t) {
      // Wraps around: with --subscribers x --tags_per_sub > --tags the
      // subscriptions overlap (a tag held by several).
      const size_t tag = (static_cast<size_t>(s) * per_sub + t) % data.num_tags();
      req.add_tags(data.tag_name(tag));
    }
    if (s == 0) req.add_tags("probe");
    readers.push_back(std::make_unique<Reader>(address, req, s == 0));
  }
  for (auto& r : readers) {
    while (!r->started()) absl::SleepFor(absl::Milliseconds(5));
  }
  return readers;
}

uint64_t SamplesGot(const std::vector<std::unique_ptr<Reader>>& readers) {
  uint64_t n = 0;
  for (const auto& r : readers) n += r->samples();
  return n;
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

// The paced_toggle phase (above) on a started node.
int RunToggle(const NodeProcess& node, const DataSet& data, int subs, int per_sub) {
  const std::string address = node.address();
  if (const int cpu = absl::GetFlag(FLAGS_pin_node_cpu); cpu >= 0) {
    const int bench_cpu =
        cpu + 1 < static_cast<int>(std::thread::hardware_concurrency()) ? cpu + 1 : 0;
    if (!PinToCpu(node.pid(), cpu) || !PinToCpu(0, bench_cpu)) {
      std::fprintf(stderr, "cannot pin the node to CPU %d and the bench to CPU %d\n", cpu,
                   bench_cpu);
      return 1;
    }
    std::printf("node pinned to CPU %d, the bench to CPU %d\n", cpu, bench_cpu);
  }
  PacedLoad load(data,
                 {.endpoint = address, .paced_block_ticks = absl::GetFlag(FLAGS_paced_block_ticks)},
                 absl::GetFlag(FLAGS_paced_rate));
  // The probe writes in every window, with and without the subscribers:
  // its unary writes (each a group commit of its own, with its fsync) are
  // not the subscriptions' cost.
  Probe probe(address, absl::GetFlag(FLAGS_probe_interval));
  absl::SleepFor(absl::Seconds(2));  // the tags are created
  const int rounds = absl::GetFlag(FLAGS_toggle_rounds);
  const int secs = absl::GetFlag(FLAGS_toggle_seconds);
  // A window's node CPU per second, all of it and the request path's (all
  // but the seal and compaction threads, whose work is the same with or
  // without subscribers but lands in whichever window it happens to).
  struct Window {
    double all = 0;
    double request_path = 0;
  };
  auto node_cpu_per_s = [&] {
    // Wall-clock bounds of the window, to cut a profile taken with
    // `perf record -k CLOCK_REALTIME` (perf report --time START,END).
    std::printf("window %.6f", absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
    const double cpu0 = CpuSeconds(node.pid());
    const double background0 = BackgroundCpuSeconds(node.pid());
    absl::SleepFor(absl::Seconds(secs));
    const double all = CpuSeconds(node.pid()) - cpu0;
    const double background = BackgroundCpuSeconds(node.pid()) - background0;
    std::printf(",%.6f\n", absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
    return Window{all / secs, (all - background) / secs};
  };
  std::vector<Window> without, with;
  std::vector<double> shares;
  std::vector<double> latencies;
  uint64_t delivered = 0;
  for (int round = 0; round < rounds; ++round) {
    without.push_back(node_cpu_per_s());
    {
      std::vector<std::unique_ptr<Reader>> readers = OpenReaders(address, data, subs, per_sub);
      absl::SleepFor(absl::Seconds(1));  // the subscriptions' start settles
      const uint64_t got0 = SamplesGot(readers);
      with.push_back(node_cpu_per_s());
      delivered += SamplesGot(readers) - got0;
      std::vector<double> lat = readers[0]->latencies();
      latencies.insert(latencies.end(), lat.begin(), lat.end());
    }
    absl::SleepFor(absl::Seconds(1));  // the streams' end settles
    // The subscriptions' extra on the request path, of all ingest's CPU.
    shares.push_back((with.back().request_path - without.back().request_path) / without.back().all);
    std::printf(
        "toggle round %d: node CPU s per s without %.3f (request path %.3f), with %.3f (%.3f): "
        "share %.3f\n",
        round, without.back().all, without.back().request_path, with.back().all,
        with.back().request_path, shares.back());
  }
  absl::StatusOr<IngestResult> r = load.Stop();
  if (!r.ok()) {
    std::fprintf(stderr, "paced ingest: %s\n", r.status().ToString().c_str());
    return 1;
  }
  Window sum_without, sum_with;
  for (const Window& w : without) {
    sum_without.all += w.all;
    sum_without.request_path += w.request_path;
  }
  for (const Window& w : with) {
    sum_with.all += w.all;
    sum_with.request_path += w.request_path;
  }
  std::printf(
      "paced_toggle %.0f samples/s paced (%.0f acked/s over the run), %d rounds of %d s: "
      "node CPU s per s without %.3f (request path %.3f), with %.3f (%.3f); subscriptions' "
      "share (request path extra / all without): %.3f of the sums, median of the rounds %.3f; "
      "all CPU with / without - 1: %.3f; subscribers got %.0f samples/s while open; "
      "publish->subscriber over %zu: p50 %.2f ms, p99 %.2f ms\n",
      absl::GetFlag(FLAGS_paced_rate), r->acked_per_second(), rounds, secs,
      sum_without.all / rounds, sum_without.request_path / rounds, sum_with.all / rounds,
      sum_with.request_path / rounds,
      (sum_with.request_path - sum_without.request_path) / sum_without.all, Median(shares),
      sum_with.all / sum_without.all - 1,
      static_cast<double>(delivered) / (static_cast<double>(rounds) * secs), latencies.size(),
      Percentile(latencies, 0.5), Percentile(latencies, 0.99));
  return 0;
}

struct PhaseResult {
  double acked_per_s = 0;
  double node_cpu_s = 0;
};

int Run() {
  const std::string work = absl::GetFlag(FLAGS_work_dir);
  std::system(absl::StrCat("rm -rf '", work, "' && mkdir -p '", work, "'").c_str());
  DataSet data({.tags = absl::GetFlag(FLAGS_tags), .duration_s = absl::GetFlag(FLAGS_duration_s)});
  std::printf("plant: %zu tags, %llu samples\n", data.num_tags(),
              static_cast<unsigned long long>(data.samples()));
  const int subs = absl::GetFlag(FLAGS_subscribers);
  const int per_sub = absl::GetFlag(FLAGS_tags_per_sub);
  double base = 0;
  for (const std::string& phase :
       std::vector<std::string>(absl::StrSplit(absl::GetFlag(FLAGS_phases), ','))) {
    NodeOptions opts;
    opts.binary = absl::GetFlag(FLAGS_historiand);
    opts.data_dir = absl::StrCat(work, "/", phase);
    absl::StatusOr<std::unique_ptr<NodeProcess>> node = NodeProcess::Start(opts);
    if (!node.ok()) {
      std::fprintf(stderr, "start: %s\n", node.status().ToString().c_str());
      return 1;
    }
    const std::string address = (*node)->address();
    std::vector<std::unique_ptr<Reader>> readers;
    std::unique_ptr<Probe> probe;
    uint64_t expected_per_reader = 0;
    if (phase == "paced_toggle") {
      const int rc = RunToggle(**node, data, subs, per_sub);
      if (absl::Status s = (*node)->Stop(); !s.ok()) {
        std::fprintf(stderr, "stop: %s\n", s.ToString().c_str());
      }
      std::system(absl::StrCat("rm -rf '", opts.data_dir, "'").c_str());
      if (rc != 0) return rc;
      continue;
    }
    const bool with_subs = phase == "subs" || phase == "paced" || phase == "idle";
    if (with_subs) {
      readers = OpenReaders(address, data, subs, per_sub);
      expected_per_reader = static_cast<uint64_t>(per_sub) * data.ticks();
    }
    // The stuck subscriber: its own channel, never read.
    std::shared_ptr<grpc::Channel> stuck_channel;
    std::unique_ptr<v1::Query::Stub> stuck_stub;
    grpc::ClientContext stuck_ctx;
    std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> stuck;
    if (phase == "stuck") {
      stuck_channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      stuck_stub = v1::Query::NewStub(stuck_channel);
      v1::SubscribeRequest req;
      req.set_glob("*");
      stuck = stuck_stub->Subscribe(&stuck_ctx, req);
      v1::SubscribeResponse first;
      stuck->Read(&first);  // live from here; never read again
    }
    if (phase == "subs" || phase.rfind("paced", 0) == 0)
      probe = std::make_unique<Probe>(address, absl::GetFlag(FLAGS_probe_interval));
    if (phase == "idle") {
      absl::SleepFor(absl::Seconds(1));  // the subscriptions' start settles
      const double cpu0 = CpuSeconds((*node)->pid());
      const int secs = absl::GetFlag(FLAGS_idle_seconds);
      absl::SleepFor(absl::Seconds(secs));
      const double cpu = CpuSeconds((*node)->pid()) - cpu0;
      std::printf("idle   %d subscriptions open, nothing written: node CPU %.3f s over %d s\n",
                  subs, cpu, secs);
    } else if (phase.rfind("paced", 0) == 0) {
      // Let the load settle (tags created) before measuring.
      PacedLoad load(
          data, {.endpoint = address, .paced_block_ticks = absl::GetFlag(FLAGS_paced_block_ticks)},
          absl::GetFlag(FLAGS_paced_rate));
      absl::SleepFor(absl::Seconds(2));
      const uint64_t got0 = [&] {
        uint64_t n = 0;
        for (auto& rd : readers) n += rd->samples();
        return n;
      }();
      const double cpu0 = CpuSeconds((*node)->pid());
      const int secs = absl::GetFlag(FLAGS_paced_seconds);
      absl::SleepFor(absl::Seconds(secs));
      const double cpu = CpuSeconds((*node)->pid()) - cpu0;
      uint64_t got = 0;
      for (auto& rd : readers) got += rd->samples();
      absl::StatusOr<IngestResult> r = load.Stop();
      std::vector<double> ack = probe->ack_latencies();
      probe.reset();
      if (!r.ok()) {
        std::fprintf(stderr, "paced ingest: %s\n", r.status().ToString().c_str());
        return 1;
      }
      std::printf(
          "%-10s %.0f samples/s paced (%.0f acked/s over the run): node CPU %.3f s per s; "
          "subscribers got %.0f samples/s; probe publish->ack over %zu: p50 %.2f ms, p99 %.2f "
          "ms",
          phase.c_str(), absl::GetFlag(FLAGS_paced_rate), r->acked_per_second(), cpu / secs,
          static_cast<double>(got - got0) / secs, ack.size(), Percentile(ack, 0.5),
          Percentile(ack, 0.99));
      if (!readers.empty()) {
        std::vector<double> lat = readers[0]->latencies();
        std::printf("; publish->subscriber over %zu: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                    lat.size(), Percentile(lat, 0.5), Percentile(lat, 0.99), Percentile(lat, 1.0));
      }
      std::printf("\n");
    }
    if (phase == "idle" || phase.rfind("paced", 0) == 0) {
      readers.clear();
      if (absl::Status s = (*node)->Stop(); !s.ok()) {
        std::fprintf(stderr, "stop: %s\n", s.ToString().c_str());
      }
      std::system(absl::StrCat("rm -rf '", opts.data_dir, "'").c_str());
      continue;
    }
    const double cpu0 = CpuSeconds((*node)->pid());
    absl::StatusOr<IngestResult> r =
        IngestDataSet(data, {.endpoint = address, .streams = absl::GetFlag(FLAGS_streams)});
    const double cpu = CpuSeconds((*node)->pid()) - cpu0;
    std::vector<double> ack;
    if (probe) ack = probe->ack_latencies();
    probe.reset();
    if (!r.ok()) {
      std::fprintf(stderr, "ingest: %s\n", r.status().ToString().c_str());
      return 1;
    }
    std::printf("%-6s %10.0f samples/s acked (%.2f s, node CPU %.1f s)", phase.c_str(),
                r->acked_per_second(), r->seconds, cpu);
    if (phase == "base") base = r->acked_per_second();
    if (base > 0 && phase != "base") std::printf("  = %.3f of base", r->acked_per_second() / base);
    std::printf("\n");
    if (phase == "subs") {
      // Wait (bounded) for the subscribers to drain, then count.
      const absl::Time deadline = absl::Now() + absl::Seconds(120);
      auto all_in = [&] {
        for (auto& rd : readers) {
          if (!rd->lagged() && rd->samples() < expected_per_reader) return false;
        }
        return true;
      };
      while (!all_in() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
      int complete = 0, lagged = 0;
      for (auto& rd : readers) {
        complete += rd->samples() == expected_per_reader;
        lagged += rd->lagged();
      }
      std::vector<double> lat = readers[0]->latencies();
      std::printf(
          "       subscribers: %d of %d got every sample of their tags, %d lagged; probe "
          "publish->subscriber over %zu samples: p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
          "publish->ack p50 %.2f ms, p99 %.2f ms\n",
          complete, subs, lagged, lat.size(), Percentile(lat, 0.5), Percentile(lat, 0.99),
          Percentile(lat, 1.0), Percentile(ack, 0.5), Percentile(ack, 0.99));
    }
    readers.clear();
    if (stuck) {
      stuck_ctx.TryCancel();
      stuck->Finish();
    }
    if (absl::Status s = (*node)->Stop(); !s.ok()) {
      std::fprintf(stderr, "stop: %s\n", s.ToString().c_str());
    }
    std::system(absl::StrCat("rm -rf '", opts.data_dir, "'").c_str());
  }
  return 0;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Run();
}
