// File: plotter.h
// Plotter: decimation for trend displays. [start, end) is cut into N
// buckets of equal width (the last may be shorter); each bucket keeps its
// first, last, minimum and maximum samples (NaN never a min/max; bool and
// string: first and last only), each sample once, in time order. A trend of
// any length is drawn from at most 4N samples that keep every spike.
//
// Thread-safety: not thread-safe; one instance per query.
#ifndef HISTORIAN_STORAGE_QUERY_PLOTTER_H_
#define HISTORIAN_STORAGE_QUERY_PLOTTER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "storage/codec/chunk_codec.h"

namespace historian::query {

inline constexpr uint32_t kMaxPlotBuckets = 100000;

absl::Status ValidatePlotSpec(int64_t start, int64_t end, uint32_t buckets);

class Plotter {
 public:
  Plotter(int64_t start, int64_t end, uint32_t buckets, ValueType type);
  // Samples in [start, end), increasing across calls.
  void Add(const codec::ChunkColumns& cols);
  codec::ChunkColumns Finish();

 private:
  void Flush();

  const int64_t start_;
  const int64_t end_;
  const uint64_t width_;
  const bool numeric_;
  codec::ChunkColumns out_;
  // The current bucket: its candidate samples (first, last, min, max).
  int64_t bucket_ = -1;
  codec::ChunkColumns first_, last_, min_, max_;
};

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_PLOTTER_H_
