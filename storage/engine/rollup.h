// File: rollup.h
// Rollup: the aggregate of one tag's sealed samples in one time bucket (1 min
// or 1 h), stored in the `rollups` column family so long-range aggregates
// read one small record per bucket instead of every sample.
//
// It holds what lets a query combine buckets exactly like raw samples
// (docs/query.md): counts, sums, Welford mean/M2, min/max, first/last with
// their timestamps, and the pieces of the step (time-weighted) integral and
// of the counter delta that lie inside the bucket. `integral` and `covered`
// assume no max_gap and that the bucket's last value holds until the bucket
// end; the value carried in from before the first sample is the query's job.
#ifndef HISTORIAN_STORAGE_ENGINE_ROLLUP_H_
#define HISTORIAN_STORAGE_ENGINE_ROLLUP_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/codec/chunk_codec.h"

namespace historian::engine {

// Rollup resolutions, by their bucket width.
inline constexpr int64_t kRollupHour = int64_t{3600} * 1000000000;
// The widths stored, widest first. Only hour rollups: finer ones cost more
// disk than reading the raw samples costs time (bench/README.md, "Measurements
// behind design choices").
inline constexpr int64_t kRollupWidths[] = {kRollupHour};
// Hours with fewer sealed samples than this get no rollup: a query reads
// their samples instead, which costs about what reading a record costs
// (bench/README.md, "Rollups that pay (issue 16)").
inline constexpr uint64_t kDefaultRollupMinSamples = 32;
// A UTC day whose hour rollups hold fewer samples than this in total gets no
// day record: its hours are read raw, which for so few samples costs about
// what reading the record costs, and the record would cost 4-9% of the
// day's chunk bytes (bench/README.md, "Short set bytes (d1, 2026-12-01)").
inline constexpr uint64_t kDefaultRollupMinDaySamples = 2048;

// One sample a rollup remembers: its time, value and quality.
struct RollupPoint {
  int64_t ts = 0;
  double value = 0;
  uint32_t quality = 0;
};

struct Rollup {
  uint64_t count = 0;  // samples
  uint64_t n = 0;      // non-NaN values
  double sum = 0, mean = 0, m2 = 0;
  double integral = 0;  // value x ns from first.ts to bucket end (NaN holds nothing)
  int64_t covered = 0;  // ns covered by non-NaN holds in that span
  double delta = 0;     // counter increase over pairs inside the bucket
  bool has_delta = false;
  // The first and last samples, and the first occurrences of the minimum and
  // maximum values (NaN excluded; all zero when n == 0). Plot decimation
  // uses their times and qualities.
  RollupPoint first, last, min, max;
};

// Builds the rollup of one bucket from its samples in time order, one at a
// time, so a seal can continue an hour from the samples it seals instead of
// decoding the hour's chunks again (storage/rollups/). Finish gives exactly
// (bit for bit) what ComputeRollup gives for the same samples: every sum is
// taken in the same order. Only the hold of the last sample added is left
// out of integral/covered until Finish, because it ends at the bucket end.
//
// Thread-safety: a value type; no shared state.
class RollupBuilder {
 public:
  // REQUIRES: ts greater than every ts added before.
  void Add(int64_t ts, double value, uint32_t quality);
  // The rollup of the samples added, the last one holding until bucket_end.
  // REQUIRES: count() > 0.
  Rollup Finish(int64_t bucket_end) const;
  uint64_t count() const { return r_.count; }
  int64_t last_ts() const { return r_.last.ts; }
  // The sums so far, without the last sample's hold (for AddToRollup).
  const Rollup& state() const { return r_; }
  void set_state(const Rollup& r) { r_ = r; }

 private:
  Rollup r_;  // integral and covered without the last sample's hold
};

// Aggregates samples [begin, end) of `cols` (strictly increasing, all inside
// [bucket_start, bucket_end), numeric type). REQUIRES: begin < end.
Rollup ComputeRollup(const codec::ChunkColumns& cols, size_t begin, size_t end, int64_t bucket_end);
// Adds samples [begin, end) of `cols` (numeric type) to *b, in order.
void AddToRollup(const codec::ChunkColumns& cols, size_t begin, size_t end, RollupBuilder* b);

// Whether a and b are the same, every double bit for bit.
bool SameRollup(const Rollup& a, const Rollup& b);

std::string EncodeRollup(const Rollup& r);
absl::StatusOr<Rollup> DecodeRollup(std::string_view bytes);

// The bucket of width `width` that contains ts (epoch aligned).
int64_t BucketStart(int64_t ts, int64_t width);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_ROLLUP_H_
