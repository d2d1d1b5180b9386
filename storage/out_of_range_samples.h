// File: out_of_range_samples.h (internal)
// OutOfRangeSamples: drops, counts and logs samples whose timestamps are
// outside [kMinSampleTimestamp, kMaxSampleTimestamp] (written by an older
// version, or sent by one).
#ifndef HISTORIAN_STORAGE_OUT_OF_RANGE_SAMPLES_H_
#define HISTORIAN_STORAGE_OUT_OF_RANGE_SAMPLES_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/logger.h"

namespace historian {

// InvalidArgument naming the first sample whose timestamp is outside
// [kMinSampleTimestamp, kMaxSampleTimestamp].
absl::Status CheckSampleTimestamps(const std::vector<engine::SeriesData>& series);

// Thread-safety: any thread (the count is atomic; the logger is the
// store's, callable from any thread).
class OutOfRangeSamples {
 public:
  explicit OutOfRangeSamples(StoreLogger logger) : logger_(std::move(logger)) {}

  // Removes the out-of-range samples from `cols`, counts them and logs them
  // (`where` says which path). Returns how many it removed.
  size_t Drop(codec::ChunkColumns* cols, TagId tag, const char* where);
  void Drop(std::vector<engine::SeriesData>* series, const char* where);
  // Samples dropped since open (StoreStats::samples_out_of_range).
  uint64_t count() const { return count_.load(); }

 private:
  const StoreLogger logger_;
  std::atomic<uint64_t> count_{0};
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_OUT_OF_RANGE_SAMPLES_H_
