// libFuzzer target: request validation. The bytes are parsed as a
// v1.WriteRequest (as gRPC would) and prepared against a real Store in a
// temporary directory: PrepareWrite must never crash, every sample is
// prepared for storage, listed as rejected or replaced by a later sample of
// the same tag and timestamp, and no (tag, timestamp) is prepared twice.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "historian/v1/ingest.pb.h"
#include "server/write_request.h"
#include "storage/store.h"

namespace {

historian::Store* TheStore() {
  static historian::Store* store = [] {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/wr-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    historian::StoreOptions options;
    options.path = tmpl;
    options.sync_writes = false;
    auto s = historian::Store::Open(options);
    if (!s.ok()) std::abort();
    return s->release();  // lives for the process
  }();
  return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  historian::v1::WriteRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  historian::server::Limits limits;
  limits.max_samples_per_batch = 1000;
  auto prepared = historian::server::PrepareWrite(request, limits, TheStore());
  if (!prepared.ok()) return 0;
  uint64_t total = 0, kept = 0;
  for (const auto& series : request.series()) {
    total += series.samples_size() + series.columns().timestamp_deltas_ns_size();
  }
  // One sample per (tag, timestamp) reaches the store.
  std::set<std::pair<historian::TagId, int64_t>> stored;
  for (const auto& series : prepared->input.series) {
    kept += series.cols.size();
    for (int64_t ts : series.cols.timestamps) {
      if (!stored.emplace(series.tag, ts).second) std::abort();
    }
  }
  if (kept + prepared->rejected.size() + prepared->repeated != total) std::abort();
  return 0;
}
