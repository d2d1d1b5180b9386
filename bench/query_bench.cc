// query_bench: what analysts and trend screens ask, timed through gRPC
// against a real historiand (started here on 127.0.0.1 with a temp dir).
//
// Data: one tag of 1 year at 1 Hz (31.5M samples, a quantised drifting
// sensor), 100 tags of 1 day at 1 Hz, 10,000 tags with a current value.
// The node is restarted gracefully after loading, so heads are sealed and
// rollups written, as they are for any data older than a few minutes.
//
//   query_bench [--days=365] [--reps=20] [--historiand=build/server/historiand]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"

ABSL_FLAG(int, days, 365, "Days of 1 Hz data in the long tag");
ABSL_FLAG(int, reps, 20, "Repetitions of each query");
ABSL_FLAG(std::string, historiand, "", "historiand binary (default: next to this one)");
ABSL_FLAG(std::string, dir, "/tmp/historian-query-bench", "Data dir (wiped)");

namespace historian::bench {
namespace {

namespace v1 = ::historian::v1;
using Clock = std::chrono::steady_clock;
constexpr int64_t kS = 1000000000;
constexpr int64_t kStart = int64_t{1735689600} * kS;  // 2025-01-01T00:00:00Z

class Node {
 public:
  Node(std::string bin, std::string dir) : bin_(std::move(bin)), dir_(std::move(dir)) {}
  ~Node() { Stop(); }
  bool Start() {
    std::string port_file = dir_ + ".port";
    std::filesystem::remove(port_file);
    pid_ = fork();
    if (pid_ == 0) {
      std::string d = "--data_dir=" + dir_, p = "--port_file=" + port_file;
      execl(bin_.c_str(), bin_.c_str(), d.c_str(), "--listen=127.0.0.1:0", p.c_str(),
            "--metrics_listen=", "--max_read_samples=100000000", nullptr);
      _exit(127);
    }
    for (int i = 0; i < 6000; ++i) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        address_ = absl::StrCat("127.0.0.1:", port);
        auto ch = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
        return ch->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string& address() const { return address_; }

 private:
  std::string bin_, dir_, address_;
  pid_t pid_ = -1;
};

double SensorValue(int64_t i) {
  // 0.1-resolution temperature: daily cycle, slow drift, small noise.
  double v = 60 + 8 * std::sin(i * 2 * M_PI / 86400) + 3 * std::sin(i * 2 * M_PI / (86400 * 90)) +
             static_cast<double>((i * 2654435761u) % 5) * 0.1;
  return std::round(v * 10) / 10;
}

void Load(v1::Ingest::Stub* ingest, int days) {
  grpc::ClientContext ctx;
  auto stream = ingest->Write(&ctx);
  int in_flight = 0;
  uint64_t seq = 0;
  auto send = [&](v1::WriteRequest& req) {
    req.set_client_id("query-bench");
    req.set_batch_sequence(++seq);
    stream->Write(req);
    if (++in_flight > 8) {
      v1::WriteAck ack;
      stream->Read(&ack);
      --in_flight;
    }
    req.Clear();
  };
  v1::WriteRequest req;
  const int64_t n = int64_t{days} * 86400;
  for (int64_t i = 0; i < n; i += 50000) {
    auto* s = req.add_series();
    s->set_tag("bench.year");
    for (int64_t j = i; j < std::min(n, i + 50000); ++j) {
      auto* x = s->add_samples();
      x->set_timestamp_ns(kStart + j * kS);
      x->mutable_value()->set_double_value(SensorValue(j));
    }
    send(req);
  }
  for (int t = 0; t < 100; ++t) {
    for (int64_t i = 0; i < 86400; i += 43200) {
      auto* s = req.add_series();
      s->set_tag(absl::StrCat("bench.day.t", t));
      for (int64_t j = i; j < i + 43200; ++j) {
        auto* x = s->add_samples();
        x->set_timestamp_ns(kStart + j * kS);
        x->mutable_value()->set_double_value(SensorValue(j + t * 977));
      }
      send(req);
    }
  }
  for (int t = 0; t < 10000; ++t) {
    auto* s = req.add_series();
    s->set_tag(absl::StrCat("bench.now.t", t));
    auto* x = s->add_samples();
    x->set_timestamp_ns(kStart + t * kS);
    x->mutable_value()->set_double_value(t * 0.5);
    if (req.series_size() == 1000) send(req);
  }
  stream->WritesDone();
  v1::WriteAck ack;
  while (stream->Read(&ack)) {
  }
  grpc::Status st = stream->Finish();
  if (!st.ok()) std::fprintf(stderr, "load: %s\n", st.error_message().c_str());
}

struct Timing {
  double median_ms, p99_ms;
};

Timing Time(int reps, const std::function<void()>& fn) {
  fn();  // warm up (block cache, connections)
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

int Run(const char* argv0) {
  const int days = absl::GetFlag(FLAGS_days), reps = absl::GetFlag(FLAGS_reps);
  std::string bin = absl::GetFlag(FLAGS_historiand);
  if (bin.empty()) {
    bin = (std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / "server" /
           "historiand")
              .string();
  }
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  Node node(bin, dir);
  if (!node.Start()) {
    std::fprintf(stderr, "cannot start %s\n", bin.c_str());
    return 1;
  }
  auto load_start = Clock::now();
  {
    auto ch = grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials());
    Load(v1::Ingest::NewStub(ch).get(), days);
  }
  double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();
  node.Stop();  // graceful: seals every head, writes rollups
  if (!node.Start()) return 1;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  auto ch = grpc::CreateCustomChannel(node.address(), grpc::InsecureChannelCredentials(), args);
  auto query = v1::Query::NewStub(ch);
  const int64_t year_end = kStart + int64_t{days} * 86400 * kS;
  uint64_t samples = uint64_t(days) * 86400 + 100 * 86400 + 10000;
  std::printf("loaded %llu samples through gRPC in %.1f s (%.2f M samples/s)\n",
              (unsigned long long)samples, load_s, samples / load_s / 1e6);
  std::printf("%-52s %10s %10s %8s\n", "query", "median ms", "p99 ms", "target");
  auto report = [&](const char* name, Timing t, const char* target) {
    std::printf("%-52s %10.2f %10.2f %8s\n", name, t.median_ms, t.p99_ms, target);
  };
  auto aggregate = [&](std::vector<std::string> tags, int64_t from, int64_t to, int64_t step,
                       v1::AggregateFunction fn) {
    v1::AggregateRequest req;
    for (auto& t : tags) req.add_tags(t);
    req.set_start_ns(from);
    req.set_end_ns(to);
    req.set_step_ns(step);
    req.add_functions(fn);
    v1::AggregateResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = query->Aggregate(&ctx, req, &resp);
    if (!st.ok()) std::fprintf(stderr, "aggregate: %s\n", st.error_message().c_str());
  };
  report(absl::StrCat("1-day averages over ", days, " days (1 tag)").c_str(),
         Time(reps, [&] { aggregate({"bench.year"}, kStart, year_end, 86400 * kS, v1::AVG); }),
         "< 20");
  // Issue 16: one rollup per hour of the year (day records).
  report(absl::StrCat("1-hour averages over ", days, " days (1 tag)").c_str(),
         Time(reps, [&] { aggregate({"bench.year"}, kStart, year_end, 3600 * kS, v1::AVG); }), "-");
  report("1-minute time-weighted averages over 1 day (1 tag)",
         Time(reps,
              [&] {
                aggregate({"bench.year"}, kStart + 100 * 86400 * kS, kStart + 101 * 86400 * kS,
                          60 * kS, v1::TIME_WEIGHTED_AVG);
              }),
         "< 10");
  report(absl::StrCat("plot of ", days, " days at 2000 buckets (1 tag)").c_str(),
         Time(reps,
              [&] {
                v1::PlotRequest req;
                req.add_tags("bench.year");
                req.set_start_ns(kStart);
                req.set_end_ns(year_end);
                req.set_buckets(2000);
                v1::PlotResponse resp;
                grpc::ClientContext ctx;
                query->Plot(&ctx, req, &resp);
              }),
         "< 50");
  uint64_t raw_count = 0;
  Timing raw = Time(reps, [&] {
    v1::ReadRequest req;
    req.add_tags("bench.year");
    req.set_start_ns(kStart + 200 * 86400 * kS);
    req.set_end_ns(kStart + 201 * 86400 * kS);
    grpc::ClientContext ctx;
    auto reader = query->Read(&ctx, req);
    v1::ReadResponse resp;
    raw_count = 0;
    while (reader->Read(&resp)) raw_count += resp.samples_size();
    reader->Finish();
  });
  report(absl::StrCat("raw read of 1 day (", raw_count, " samples)").c_str(), raw, "-");
  report("latest of 10,000 tags (glob)",
         Time(reps,
              [&] {
                v1::LatestRequest req;
                req.set_glob("bench.now.*");
                v1::LatestResponse resp;
                grpc::ClientContext ctx;
                query->Latest(&ctx, req, &resp);
              }),
         "< 5");
  std::vector<std::string> hundred;
  for (int t = 0; t < 100; ++t) hundred.push_back(absl::StrCat("bench.day.t", t));
  report("1-minute averages over 1 day (100 tags)",
         Time(reps, [&] { aggregate(hundred, kStart, kStart + 86400 * kS, 60 * kS, v1::AVG); }),
         "-");
  report("1-minute averages over 1 hour (100 tags)",
         Time(reps, [&] { aggregate(hundred, kStart, kStart + 3600 * kS, 60 * kS, v1::AVG); }),
         "-");
  return 0;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Run(argv[0]);
}
