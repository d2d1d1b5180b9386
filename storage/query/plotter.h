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
#include "storage/engine/rollup.h"

namespace historian::query {

inline constexpr uint32_t kMaxPlotBuckets = 100000;

// Where plot buckets lie. Bucket k is [anchor + k*width, anchor + (k+1)*width)
// clipped to [start, end). The width is ceil((end - start) / buckets); when
// it is 2 hours or more it is rounded up to whole hours and the buckets are
// aligned to the hour (anchor = start rounded down to the hour), so every
// whole hour inside a bucket comes from rollups and only the two ends of the
// range read raw samples (unless the hour below start is below INT64_MIN,
// or the rounded width does not fit in 64 bits: then anchor = start and the
// width is not rounded). The width is up to 2^64 - 1 (one bucket over the
// whole int64 range).
struct PlotGrid {
  int64_t anchor;
  uint64_t width;
};
PlotGrid PlotGridFor(int64_t start, int64_t end, uint32_t buckets);

absl::Status ValidatePlotSpec(int64_t start, int64_t end, uint32_t buckets);

class Plotter {
 public:
  Plotter(int64_t start, int64_t end, uint32_t buckets, ValueType type);
  // Samples in [start, end), increasing across calls.
  void Add(const codec::ChunkColumns& cols);
  // A rollup bucket in place of its samples. REQUIRES: it lies inside one
  // plot bucket and comes in time order with the samples given to Add.
  void AddRollup(int64_t bucket_start, const engine::Rollup& r);
  // The chosen samples: timestamps, qualities and values; no versions.
  codec::ChunkColumns Finish();

 private:
  void Flush();
  // Makes one sample of the tag's type in *scratch_ from a rollup's figures.
  const codec::ChunkColumns& Sample(int64_t ts, double v, uint32_t q);
  void Consider(const codec::ChunkColumns& one, int64_t bucket);

  const int64_t start_;
  const int64_t end_;
  const PlotGrid grid_;
  const bool numeric_;
  codec::ChunkColumns out_;
  // The current bucket: its candidate samples (first, last, min, max).
  int64_t bucket_ = -1;  // -1: none yet
  codec::ChunkColumns first_, last_, min_, max_;
  codec::ChunkColumns scratch_;
};

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_PLOTTER_H_
