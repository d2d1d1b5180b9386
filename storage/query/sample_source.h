// File: sample_source.h
// SampleSource: what the query planner (planner.h, tag_queries.h) reads of
// one tag's stored samples: raw samples of a range a piece at a time, rollup
// buckets, where unsealed data begins, and the samples just outside a
// range. StoreSampleSource (store_sample_source.h) reads them from a Store;
// tests give a fake.
//
// The calls are made per range, per rollup segment or per edge, never per
// sample: a raw scan hands its samples over a piece (a chunk's worth) at a
// time, without copying them.
//
// Thread-safety: an implementation must allow concurrent calls (Aggregate
// runs one tag per core over one source).
#ifndef HISTORIAN_STORAGE_QUERY_SAMPLE_SOURCE_H_
#define HISTORIAN_STORAGE_QUERY_SAMPLE_SOURCE_H_

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/rollup.h"

namespace historian::query {

class SampleSource {
 public:
  // Whether sample i of the columns counts (for BeforeMatching).
  using SampleFilter = std::function<bool(const codec::ChunkColumns&, size_t)>;
  using PieceFn = absl::FunctionRef<absl::Status(const codec::ChunkColumns&)>;

  virtual ~SampleSource() = default;

  // The samples of `tag` in [start, end), one per timestamp, handed to `fn`
  // in time order in one or more pieces (no versions); a piece is valid only
  // during its call. The first error of `fn` stops the scan and is returned.
  virtual absl::Status ScanRaw(TagId tag, int64_t start, int64_t end, PieceFn fn) const = 0;
  // The rollups of `tag` with bucket width `width` for buckets starting in
  // [start, end), in time order. A bucket without one may still hold sealed
  // samples (too few to pay for a rollup): the caller reads it raw.
  // Samples at or after UnsealedFrom(tag) may be missing from them.
  virtual absl::Status ReadRollups(TagId tag, int64_t width, int64_t start, int64_t end,
                                   std::vector<std::pair<int64_t, engine::Rollup>>* out) const = 0;
  // The earliest timestamp whose bucket the rollups may not cover yet
  // (samples not sealed, or rollups not recomputed); kMaxTimestamp when none.
  virtual int64_t UnsealedFrom(TagId tag) const = 0;
  // The last sample before `ts` (size 1), or an empty *out.
  virtual absl::Status Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const = 0;
  // The last sample before `ts` that `keep` accepts (size 1), or an empty
  // *out; as Before when `keep` is empty.
  virtual absl::Status BeforeMatching(TagId tag, int64_t ts, const SampleFilter& keep,
                                      codec::ChunkColumns* out) const = 0;
  // The first sample at or after `ts` (size 1), or an empty *out.
  virtual absl::Status AtOrAfter(TagId tag, int64_t ts, codec::ChunkColumns* out) const = 0;
};

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_SAMPLE_SOURCE_H_
