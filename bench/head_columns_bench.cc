// head_columns_bench: the cost of a tag's unsealed head (HeadColumns) on the
// plant data set: nanoseconds per appended sample (appends of `batch`
// samples per tag, round robin over tags, as the apply path does), heap
// bytes per sample once every tag holds `seconds` samples, and the read
// cost (CopyAll, CopyRange of the last minute) per sample. Single thread,
// no store: only the head.
//
//   head_columns_bench --tags=10000 --seconds=3600 --batch=10
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/plant_data.h"
#include "storage/engine/head_columns.h"

ABSL_FLAG(int, tags, 10000, "Tags");
ABSL_FLAG(int, seconds, 3600, "Samples per tag (1 Hz)");
ABSL_FLAG(int, batch, 10, "Samples per tag in one append");
ABSL_FLAG(bool, reserve, false, "Reserve `seconds` samples first (a tag's second head)");

namespace historian::bench {
namespace {

using Clock = std::chrono::steady_clock;

double NsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

int Main() {
  const size_t tags = absl::GetFlag(FLAGS_tags);
  const size_t seconds = absl::GetFlag(FLAGS_seconds);
  const size_t batch = absl::GetFlag(FLAGS_batch);
  PlantGenerator gen(42, tags);
  constexpr int64_t kT0 = int64_t{1'700'000'000} * 1'000'000'000;
  std::vector<engine::HeadColumns> heads;
  heads.reserve(tags);
  std::vector<codec::ChunkColumns> batches(tags);
  for (size_t t = 0; t < tags; ++t) {
    codec::ChunkColumns c;
    gen.Fill(t, kT0, 1, &c);
    heads.emplace_back(c.type);
    if (absl::GetFlag(FLAGS_reserve)) heads.back().Reserve(seconds);
  }
  double append_ns = 0;
  size_t samples = 0;
  for (size_t s = 0; s < seconds; s += batch) {
    const size_t n = std::min(batch, seconds - s);
    // Versions: one per write, seconds of a hybrid clock.
    const Version version = (Version{1'700'000'000} + s) << 8 | 1;
    for (size_t t = 0; t < tags; ++t) {
      gen.Fill(t, kT0 + static_cast<int64_t>(s) * 1'000'000'000, n, &batches[t]);
      batches[t].versions.assign(n, version);
    }
    const auto t0 = Clock::now();
    for (size_t t = 0; t < tags; ++t) heads[t].Append(batches[t], 0, n);
    append_ns += NsSince(t0);
    samples += n * tags;
  }
  size_t bytes = 0;
  for (const auto& h : heads) bytes += h.HeapBytes();
  codec::ChunkColumns out;
  auto t0 = Clock::now();
  size_t read = 0;
  for (const auto& h : heads) {
    out.Reset(h.type());
    h.CopyAll(&out);
    read += out.size();
  }
  const double copy_all_ns = NsSince(t0);
  t0 = Clock::now();
  size_t ranged = 0;
  const int64_t last_minute =
      kT0 + static_cast<int64_t>(seconds) * 1'000'000'000 - int64_t{60} * 1'000'000'000;
  for (const auto& h : heads) {
    out.Reset(h.type());
    h.CopyRange(last_minute, INT64_MAX, &out);
    ranged += out.size();
  }
  const double range_ns = NsSince(t0);
  std::printf(
      "tags=%zu seconds=%zu batch=%zu samples=%zu\n"
      "append_ns_per_sample=%.2f\nheap_bytes_per_sample=%.3f\nheap_bytes=%zu\n"
      "copy_all_ns_per_sample=%.2f\ncopy_range_last_minute_us_per_tag=%.3f (%zu samples)\n",
      tags, seconds, batch, samples, append_ns / samples, static_cast<double>(bytes) / samples,
      bytes, copy_all_ns / read, range_ns / 1000 / tags, ranged);
  return 0;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Main();
}
