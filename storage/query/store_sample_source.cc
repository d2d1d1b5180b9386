// File: store_sample_source.cc
#include "storage/query/store_sample_source.h"

namespace historian::query {

absl::Status StoreSampleSource::ScanRaw(TagId tag, int64_t start, int64_t end, PieceFn fn) const {
  return store_->ScanRaw(tag, start, end, fn);
}

absl::Status StoreSampleSource::ReadRollups(
    TagId tag, int64_t width, int64_t start, int64_t end,
    std::vector<std::pair<int64_t, engine::Rollup>>* out) const {
  return store_->ReadRollups(tag, width, start, end, out);
}

int64_t StoreSampleSource::UnsealedFrom(TagId tag) const { return store_->UnsealedFrom(tag); }

absl::Status StoreSampleSource::Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const {
  return store_->Before(tag, ts, out);
}

absl::Status StoreSampleSource::BeforeMatching(TagId tag, int64_t ts, const SampleFilter& keep,
                                               codec::ChunkColumns* out) const {
  return store_->BeforeMatching(tag, ts, keep, out);
}

absl::Status StoreSampleSource::AtOrAfter(TagId tag, int64_t ts, codec::ChunkColumns* out) const {
  return store_->ReadRaw(tag, ts, kMaxTimestamp, 1, out);
}

}  // namespace historian::query
