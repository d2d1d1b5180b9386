// File: bench_replication.cc
#include "bench/bench_replication.h"

#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/historian_client.h"

namespace historian::bench {
namespace {

constexpr char kProbeTag[] = "bench.replication.probe";

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const std::string& endpoint) {
  client::ClientOptions o;
  o.endpoints = {endpoint};
  o.timeout = absl::Seconds(30);
  return client::Client::Connect(o);
}

// Whether B can read the probe sample at `ts`.
absl::StatusOr<bool> Visible(client::Client& b, int64_t ts) {
  historian::v1::LatestRequest req;
  req.add_tags(kProbeTag);
  absl::StatusOr<historian::v1::LatestResponse> resp = b.Latest(req);
  if (absl::IsNotFound(resp.status())) return false;  // tag not replicated yet
  if (!resp.ok()) return resp.status();
  for (const auto& v : resp->values()) {
    if (v.has_sample() && v.sample().timestamp_ns() >= ts) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<ReplicationResult> MeasureReplicationLag(const DataSet& data,
                                                        const IngestOptions& load,
                                                        const ReplicationOptions& options) {
  absl::StatusOr<std::unique_ptr<client::Client>> a = Connect(options.endpoint_a);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::unique_ptr<client::Client>> b = Connect(options.endpoint_b);
  if (!b.ok()) return b.status();

  IngestOptions load_options = load;
  load_options.endpoint = options.endpoint_a;
  PacedLoad paced(data, load_options, options.load_rate);

  ReplicationResult result;
  LatencyRecorder lag;
  const auto end = std::chrono::steady_clock::now() + absl::ToChronoSeconds(options.duration);
  // Probe timestamps: after everything in the data set, increasing.
  int64_t ts = data.end_ns() + 1'000'000'000LL * 86400;
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    historian::v1::WriteRequest req;
    historian::v1::TagSamples* series = req.add_series();
    series->set_tag(kProbeTag);
    historian::v1::Sample* s = series->add_samples();
    ts += 1'000'000'000LL;
    s->set_timestamp_ns(ts);
    s->mutable_value()->set_double_value(i);
    absl::StatusOr<historian::v1::WriteAck> ack = (*a)->WriteBatch(req);
    if (!ack.ok()) return ack.status();
    Stopwatch since_ack;
    bool seen = false;
    while (since_ack.Seconds() < absl::ToDoubleSeconds(options.probe_timeout)) {
      absl::StatusOr<bool> v = Visible(**b, ts);
      if (!v.ok()) return v.status();
      if (*v) {
        seen = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (seen) {
      lag.Add(since_ack.Millis());
    } else {
      result.timeouts++;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(options.probe_interval));
  }
  absl::StatusOr<IngestResult> loaded = paced.Stop();
  if (!loaded.ok()) return loaded.status();
  result.lag = lag.Summary();
  result.load_acked_per_s = loaded->acked_per_second();
  return result;
}

}  // namespace historian::bench
