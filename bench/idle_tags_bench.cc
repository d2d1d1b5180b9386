// idle_tags_bench: what an idle tag costs in RSS (issue 16, goal 3).
// Creates N tags, writes one sample to each, seals every head, then
// measures the process's VmRSS growth (after malloc_trim) per tag, and the
// store's memory breakdown (StoreStats). Then closes the store, reopens it
// (a restarted node with N idle tags) and measures again, and once more
// after a full compaction. Leaves the data dir behind for a real-process
// measurement (bench/idle_tags_rss.sh).
//
//   idle_tags_bench --tags=1000000 --dir=/tmp/idle-tags
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "bench/proc_status.h"
#include "storage/allocator_tuning.h"
#include "storage/store.h"

ABSL_FLAG(int, tags, 100000, "Idle tags to create");
ABSL_FLAG(int, batch_tags, 1000, "Tags per creation and per write batch");
ABSL_FLAG(std::string, dir, "/tmp/historian-idle-tags", "Data dir (wiped first)");
ABSL_FLAG(bool, sync, false, "fsync each group commit");

namespace historian::bench {
namespace {

using Clock = std::chrono::steady_clock;

long RssKb() { return static_cast<long>(ProcStatusKb("/proc/self/status", "VmRSS:")); }

// Bytes malloc has handed out and not had back (live heap).
long HeapInUseKb() { return static_cast<long>(mallinfo2().uordblks / 1024); }

// RSS after giving freed heap pages back, so the figure is what is held.
long TrimmedRssKb() {
  malloc_trim(0);
  return RssKb();
}

void PrintStats(const char* when, const Store& store, long rss_delta_kb, int n) {
  const StoreStats s = store.Stats();
  const double per_tag = rss_delta_kb * 1024.0 / n;
  std::printf("%s: RSS +%.1f MB = %.0f bytes/idle tag\n", when, rss_delta_kb / 1024.0, per_tag);
  std::printf(
      "  store: tags=%llu catalog=%.1f MB (%.0f B/tag) head=%.1f MB (%llu tags) "
      "memtables=%.1f MB block_cache=%.1f MB (pinned %.1f MB) table_readers=%.1f MB\n",
      (unsigned long long)s.tags, s.catalog_bytes / 1e6,
      double(s.catalog_bytes) / std::max<uint64_t>(1, s.tags), s.head_bytes / 1e6,
      (unsigned long long)s.head_tags, s.memtable_bytes / 1e6, s.block_cache_bytes / 1e6,
      s.block_cache_pinned_bytes / 1e6, s.table_readers_bytes / 1e6);
  for (const Store::ColumnFamilyStats& cf : store.ColumnFamilyProperties()) {
    std::printf("  cf %-8s memtable=%.2f MB table_readers=%.2f MB sst=%.1f MB\n", cf.name.c_str(),
                cf.memtable_bytes / 1e6, cf.table_readers_bytes / 1e6, cf.sst_bytes / 1e6);
  }
}

int Run() {
  const int n = absl::GetFlag(FLAGS_tags), batch = absl::GetFlag(FLAGS_batch_tags);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  StoreOptions opts;
  opts.path = dir;
  opts.site = "us";
  opts.sync_writes = absl::GetFlag(FLAGS_sync);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(opts);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  const long rss0 = TrimmedRssKb();
  auto t0 = Clock::now();
  const int64_t ts = int64_t{1'700'000'000} * 1'000'000'000;
  for (int b = 0; b < n; b += batch) {
    std::vector<std::pair<std::string, ValueType>> wanted;
    for (int t = b; t < std::min(n, b + batch); ++t) {
      wanted.emplace_back(absl::StrCat("us.area", t % 100, ".line", t % 7, ".tag", t),
                          ValueType::kDouble);
    }
    if (absl::Status s = (*store)->CreateTagsForWrite(wanted); !s.ok()) {
      std::fprintf(stderr, "create: %s\n", s.ToString().c_str());
      return 1;
    }
    WriteInput in;
    for (const auto& [name, type] : wanted) {
      absl::StatusOr<engine::TagInfo> info = (*store)->GetTag(name);
      if (!info.ok()) return 1;
      engine::SeriesData sd;
      sd.tag = info->id;
      sd.cols.type = type;
      sd.cols.timestamps = {ts};
      sd.cols.doubles = {static_cast<double>(b)};
      sd.cols.qualities = {kQualityGood};
      sd.cols.versions = {0};
      in.series.push_back(std::move(sd));
    }
    if (absl::StatusOr<WriteResult> r = (*store)->Write(std::move(in)); !r.ok()) {
      std::fprintf(stderr, "write: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  auto t1 = Clock::now();
  const long rss_written = TrimmedRssKb();
  if (absl::Status s = (*store)->SealAll(); !s.ok()) {
    std::fprintf(stderr, "seal: %s\n", s.ToString().c_str());
    return 1;
  }
  const long rss_sealed = TrimmedRssKb();
  std::printf("tags=%d created+written in %.1f s\n", n,
              std::chrono::duration<double>(t1 - t0).count());
  std::printf("unsealed (1 sample each): RSS +%.1f MB = %.0f bytes/tag\n",
              (rss_written - rss0) / 1024.0, (rss_written - rss0) * 1024.0 / n);
  PrintStats("sealed, same process", **store, rss_sealed - rss0, n);
  if (absl::Status s = (*store)->Close(); !s.ok()) return 1;
  store->reset();

  // A restarted node: the baseline is an empty store opened the same way.
  const std::string empty_dir = dir + "-empty";
  std::filesystem::remove_all(empty_dir);
  long rss_empty, rss_reopened;
  {
    StoreOptions e = opts;
    e.path = empty_dir;
    const long before = TrimmedRssKb();
    absl::StatusOr<std::unique_ptr<Store>> empty = Store::Open(e);
    if (!empty.ok()) return 1;
    rss_empty = TrimmedRssKb() - before;
  }
  std::filesystem::remove_all(empty_dir);
  const long before = TrimmedRssKb();
  const long heap_before = HeapInUseKb();
  auto t2 = Clock::now();
  absl::StatusOr<std::unique_ptr<Store>> reopened = Store::Open(opts);
  if (!reopened.ok()) return 1;
  auto t3 = Clock::now();
  rss_reopened = TrimmedRssKb() - before;
  const long heap_reopened = HeapInUseKb() - heap_before;
  std::printf("reopen: %.2f s; an empty store costs %.1f MB\n",
              std::chrono::duration<double>(t3 - t2).count(), rss_empty / 1024.0);
  PrintStats("reopened (minus an empty store)", **reopened, rss_reopened - rss_empty, n);
  std::printf("  live heap (malloc in use) +%.1f MB = %.0f bytes/idle tag\n",
              heap_reopened / 1024.0, heap_reopened * 1024.0 / n);

  // After a full compaction (historian compact): what RocksDB keeps of the
  // burst (L0 files with the rollups' range deletions) is gone.
  if (absl::Status s = (*reopened)->Compact(); !s.ok()) return 1;
  if (absl::Status s = (*reopened)->Close(); !s.ok()) return 1;
  reopened->reset();
  const long before2 = TrimmedRssKb();
  reopened = Store::Open(opts);
  if (!reopened.ok()) return 1;
  PrintStats("compacted and reopened (minus an empty store)", **reopened,
             TrimmedRssKb() - before2 - rss_empty, n);
  // Without tearing the store down, so a heap profiler (heaptrack) reports
  // what the reopened store holds as not freed.
  std::fflush(stdout);
  _exit(0);
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  historian::TuneAllocatorForStore();  // as historiand runs the store
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Run();
}
