// sparkplug_latency_probe: publish -> readable-at-the-node latency of
// Sparkplug data recorded by historian-gateway (bench/sparkplug_bench.sh).
// Polls Latest of one tag every --poll. historian-sparkplug-sim stamps DDATA
// with its publish time (ms) and publishes the tag every --period; when the
// latest timestamp moves from L to T, every sample in (L, T] (one per period)
// has just become readable: latency = now - its timestamp. So every sample
// counts, not only the last of each batch. Prints p50/p90/p99/max. The poll
// period bounds the error (it adds up to one period).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "client/historian_client.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7400", "node address");
ABSL_FLAG(std::string, tag, "", "tag to watch");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(20), "how long to watch");
ABSL_FLAG(absl::Duration, poll, absl::Milliseconds(2), "poll period");
ABSL_FLAG(absl::Duration, period, absl::Milliseconds(20), "the tag's publish period");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  historian::client::ClientOptions options;
  options.endpoints = {absl::GetFlag(FLAGS_server)};
  auto client = historian::client::Client::Connect(options);
  if (!client.ok()) return 1;
  historian::v1::LatestRequest request;
  request.add_tags(absl::GetFlag(FLAGS_tag));
  std::vector<double> ms;
  int64_t last = 0;
  const absl::Time end = absl::Now() + absl::GetFlag(FLAGS_duration);
  while (absl::Now() < end) {
    auto r = (*client)->Latest(request);
    const absl::Time now = absl::Now();
    if (r.ok() && r->values_size() == 1 && r->values(0).has_sample()) {
      const int64_t ts = r->values(0).sample().timestamp_ns();
      if (ts > last) {
        const int64_t period = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_period));
        // Timestamps are the publisher's ms: allow 1 ms of rounding.
        for (int64_t t = ts; last != 0 && t > last + 1000000; t -= period) {
          ms.push_back(absl::ToDoubleMilliseconds(now - absl::FromUnixNanos(t)));
        }
        last = ts;
      }
    }
    absl::SleepFor(absl::GetFlag(FLAGS_poll));
  }
  if (ms.empty()) {
    std::printf("latency: no samples seen\n");
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
  std::printf("latency_ms n=%zu p50=%.1f p90=%.1f p99=%.1f max=%.1f\n", ms.size(), pct(0.5),
              pct(0.9), pct(0.99), ms.back());
  return 0;
}
