// File: store_sample_source.h
// StoreSampleSource: the SampleSource of a Store (each call is one Store
// call; see store.h for the errors).
//
// Thread-safety: thread-safe (the Store is); holds no state of its own.
#ifndef HISTORIAN_STORAGE_QUERY_STORE_SAMPLE_SOURCE_H_
#define HISTORIAN_STORAGE_QUERY_STORE_SAMPLE_SOURCE_H_

#include "storage/query/sample_source.h"
#include "storage/store.h"

namespace historian::query {

class StoreSampleSource final : public SampleSource {
 public:
  // `store` must outlive the source.
  explicit StoreSampleSource(const Store* store) : store_(store) {}

  absl::Status ScanRaw(TagId tag, int64_t start, int64_t end, PieceFn fn) const override;
  absl::Status ReadRollups(TagId tag, int64_t width, int64_t start, int64_t end,
                           std::vector<std::pair<int64_t, engine::Rollup>>* out) const override;
  int64_t UnsealedFrom(TagId tag) const override;
  absl::Status Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const override;
  absl::Status BeforeMatching(TagId tag, int64_t ts, const SampleFilter& keep,
                              codec::ChunkColumns* out) const override;
  absl::Status AtOrAfter(TagId tag, int64_t ts, codec::ChunkColumns* out) const override;

 private:
  const Store* const store_;
};

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_STORE_SAMPLE_SOURCE_H_
