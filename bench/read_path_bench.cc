// read_path_bench: the engine's cost of reading and aggregating many tags,
// without gRPC, on one thread, from an existing data dir (a copy: the store
// is opened read-write).
//
//   read_path_bench --dir=/tmp/copy --site=us --tags_file=many.txt
//       --start_ns=... --end_ns=... [--reps=50]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "storage/query/aggregator.h"
#include "storage/store.h"

ABSL_FLAG(std::string, dir, "", "Data dir (opened read-write: use a copy)");
ABSL_FLAG(std::string, site, "us", "Site of the data dir");
ABSL_FLAG(std::string, tags_file, "", "Tag names, whitespace separated");
ABSL_FLAG(int64_t, start_ns, 0, "Range start");
ABSL_FLAG(int64_t, end_ns, 0, "Range end");
ABSL_FLAG(int64_t, step_ns, 60'000'000'000, "Window");
ABSL_FLAG(int, reps, 50, "Repetitions");

int main(int argc, char** argv) {
  using namespace historian;
  absl::ParseCommandLine(argc, argv);
  StoreOptions o;
  o.path = absl::GetFlag(FLAGS_dir);
  o.site = absl::GetFlag(FLAGS_site);
  auto store = Store::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  std::vector<engine::TagInfo> tags;
  std::ifstream in(absl::GetFlag(FLAGS_tags_file));
  for (std::string name; in >> name;) tags.push_back(*(*store)->GetTag(name));
  const int64_t start = absl::GetFlag(FLAGS_start_ns), end = absl::GetFlag(FLAGS_end_ns);
  query::AggregateSpec spec;
  spec.start = start;
  spec.end = end;
  spec.step = absl::GetFlag(FLAGS_step_ns);
  spec.functions = {query::AggFn::kAvg};
  auto scan = [&] {
    size_t samples = 0;
    const int reps = absl::GetFlag(FLAGS_reps);
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) {
      for (const auto& tag : tags) {
        query::Aggregator agg(spec, tag.type);
        absl::Status s = (*store)->ScanRaw(tag.id, start, end, [&](const codec::ChunkColumns& c) {
          samples += c.size();
          agg.Add(c);
          return absl::OkStatus();
        });
        if (!s.ok()) return;
        agg.Finish();
      }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-10s %8.3f ms per pass of %zu tags, %6.2f ns/sample\n", "scan+agg",
                s * 1e3 / reps, tags.size(), s * 1e9 / samples);
  };
  auto run = [&](bool aggregate) {
    size_t samples = 0;
    const int reps = absl::GetFlag(FLAGS_reps);
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) {
      for (const auto& tag : tags) {
        codec::ChunkColumns page;
        if (!(*store)->ReadRaw(tag.id, start, end, 65536, &page).ok()) return;
        samples += page.size();
        if (aggregate) {
          query::Aggregator agg(spec, tag.type);
          agg.Add(page);
          agg.Finish();
        }
      }
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-10s %8.3f ms per pass of %zu tags, %6.2f ns/sample\n",
                aggregate ? "read+agg" : "read", s * 1e3 / reps, tags.size(), s * 1e9 / samples);
  };
  run(false);
  run(true);
  scan();
  run(false);
  run(true);
  scan();
  return 0;
}
