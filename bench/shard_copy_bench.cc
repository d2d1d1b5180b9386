// shard_copy_bench: the copy of one virtual shard between two stores in
// process (issue 21, step 3 of a move; docs/cluster.md): store A gets
// --samples samples of plant-like data (one value a second, decimal
// values, --noisy or a slow random walk) over --tags tags of shard --shard (of --num_shards) and a
// tenth as many over other shards' tags, sealed and compacted; then shard s is exported from A and
// imported into an empty store B, pieces handed over in memory (no gRPC). Prints the stored bytes
// copied (chunks and rollups as stored), the piece bytes, samples, and the rates of the whole copy
// (export + import, wall clock), and of the export alone.
//
//   shard_copy_bench --samples=8000000 --tags=400 --dir=/tmp/scb
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "api/core/tag_shard.h"
#include "storage/store.h"

ABSL_FLAG(uint64_t, samples, 4000000, "samples in the copied shard");
ABSL_FLAG(uint32_t, tags, 400, "tags in the copied shard");
ABSL_FLAG(uint32_t, num_shards, 16, "virtual shards");
ABSL_FLAG(uint32_t, shard, 3, "the shard copied");
ABSL_FLAG(std::string, dir, "/tmp/shard_copy_bench", "scratch directory (removed first)");
ABSL_FLAG(uint32_t, piece_bytes, 1 << 20, "piece size");
ABSL_FLAG(bool, sync, false, "the target fsyncs each piece's batch (historiand's default)");
ABSL_FLAG(bool, noisy, true,
          "values: a random 0.1-resolution value in 0..1000 each second (about 2 stored "
          "bytes a sample); false: a slow random walk (about 0.35)");

namespace historian {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kT0 = int64_t{1767225600} * kSecond;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int Run() {
  const uint64_t samples = absl::GetFlag(FLAGS_samples);
  const uint32_t tags = absl::GetFlag(FLAGS_tags), n = absl::GetFlag(FLAGS_num_shards),
                 shard = absl::GetFlag(FLAGS_shard);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto open = [&](const std::string& name) {
    StoreOptions o;
    o.path = dir + "/" + name;
    o.site = "us";
    o.sync_writes = name == "b" && absl::GetFlag(FLAGS_sync);
    auto s = Store::Open(o);
    if (!s.ok()) {
      std::fprintf(stderr, "open %s: %s\n", name.c_str(), s.status().ToString().c_str());
      std::exit(1);
    }
    return std::move(*s);
  };
  std::unique_ptr<Store> a = open("a");
  // Tag names: `tags` of the shard, tags/10 of others.
  std::vector<std::string> mine, others;
  for (int i = 0; mine.size() < tags || others.size() < tags / 10; ++i) {
    std::string name = "bench.copy.t" + std::to_string(i) + ".pv";
    if (TagShard(name, n) == shard) {
      if (mine.size() < tags) mine.push_back(name);
    } else if (others.size() < tags / 10) {
      others.push_back(name);
    }
  }
  std::mt19937_64 rng(1);
  const bool noisy = absl::GetFlag(FLAGS_noisy);
  auto write = [&](const std::vector<std::string>& names, uint64_t per_tag) {
    const uint64_t kBatch = 3600;
    for (uint64_t from = 0; from < per_tag; from += kBatch) {
      WriteInput in;
      for (const std::string& name : names) {
        auto tag = a->ResolveTagForWrite(name, ValueType::kDouble);
        if (!tag.ok()) std::exit(2);
        engine::SeriesData s;
        s.tag = tag->id;
        s.cols.Reset(ValueType::kDouble);
        double v = 20 + static_cast<double>(rng() % 100) / 10;
        for (uint64_t j = from; j < std::min(per_tag, from + kBatch); ++j) {
          s.cols.timestamps.push_back(kT0 + static_cast<int64_t>(j) * kSecond);
          v = noisy ? static_cast<double>(rng() % 10000) / 10
                    : v + static_cast<double>(static_cast<int>(rng() % 5) - 2) / 10;
          s.cols.doubles.push_back(std::round(v * 10) / 10);
          s.cols.qualities.push_back(0);
        }
        in.series.push_back(std::move(s));
        if (in.series.size() == 50) {
          if (!a->Write(std::move(in)).ok()) std::exit(3);
          in = WriteInput();
        }
      }
      if (!in.series.empty() && !a->Write(std::move(in)).ok()) std::exit(3);
    }
  };
  auto t = std::chrono::steady_clock::now();
  write(mine, samples / tags);
  write(others, samples / tags);
  if (!a->Compact().ok()) std::exit(4);
  std::printf("load: %.1f s\n", Seconds(t));

  // Export alone (pieces dropped).
  t = std::chrono::steady_clock::now();
  auto only = a->ExportShard(n, shard, absl::GetFlag(FLAGS_piece_bytes),
                             [](std::string) { return absl::OkStatus(); });
  const double export_s = Seconds(t);
  if (!only.ok()) std::exit(5);

  std::unique_ptr<Store> b = open("b");
  shard_copy::MoveMarker marker;
  marker.source = "a";
  t = std::chrono::steady_clock::now();
  absl::Status imported;
  auto stats = a->ExportShard(n, shard, absl::GetFlag(FLAGS_piece_bytes), [&](std::string piece) {
    return b->ImportShardPiece(shard, piece, &marker);
  });
  const double copy_s = Seconds(t);
  if (!stats.ok() || !marker.complete) {
    std::fprintf(stderr, "copy: %s\n", stats.status().ToString().c_str());
    return 6;
  }
  codec::ChunkColumns probe;
  uint64_t copied = 0;
  for (const std::string& name : mine) {
    auto tag = b->GetTag(name);
    if (!tag.ok() || !b->ReadRaw(tag->id, kMinTimestamp, kMaxTimestamp, 0, &probe).ok()) return 7;
    copied += probe.size();
  }
  const double mb = static_cast<double>(stats->bytes) / 1e6;
  std::printf(
      "shard %u of %u: %u tags, %llu samples copied (checked at B), %llu chunks (%.1f MB "
      "stored), %llu rollup records, %llu pieces (%.1f MB)\n",
      shard, n, tags, static_cast<unsigned long long>(copied),
      static_cast<unsigned long long>(stats->chunks), static_cast<double>(stats->chunk_bytes) / 1e6,
      static_cast<unsigned long long>(stats->rollups),
      static_cast<unsigned long long>(stats->pieces), mb);
  std::printf("export alone: %.3f s, %.1f MB/s\n", export_s, mb / export_s);
  std::printf(
      "copy (export + import, target sync_writes %s): %.3f s, %.1f MB/s, %.2f M samples/s\n",
      absl::GetFlag(FLAGS_sync) ? "on" : "off", copy_s, mb / copy_s,
      static_cast<double>(copied) / copy_s / 1e6);
  if (!b->Close().ok() || !a->Close().ok()) return 8;
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return historian::Run();
}
