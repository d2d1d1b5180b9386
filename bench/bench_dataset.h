// File: bench_dataset.h
// DataSet: the end-to-end benchmark's plant data, a deterministic function of
// (seed, tags, rate, duration, start) built on client::PlantSimulator, so
// historian-bench (over gRPC) and the files it emits for other systems
// (bench_emit.h) hold exactly the same samples.
//
// Canonical order: blocks of `block_ticks` consecutive ticks; within a block,
// tags in index order; within a tag, ticks in time order.
//
//   DataSet data({.tags = 200, .duration_s = 600});
//   for (uint64_t b = 0; b < data.num_blocks(); ++b) { ... data.BlockTicks(b) ... }
//
// Thread-safety: immutable after construction; safe from any thread.
#ifndef HISTORIAN_BENCH_BENCH_DATASET_H_
#define HISTORIAN_BENCH_BENCH_DATASET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "client/plant_simulator.h"
#include "historian/v1/common.pb.h"
#include "historian/v1/ingest.pb.h"

namespace historian::bench {

struct DataSetOptions {
  size_t tags = 200;
  double rate_hz = 1;  // samples per tag per second
  int64_t duration_s = 600;
  uint64_t seed = 42;
  int64_t start_ns = 1'704'067'200LL * 1'000'000'000LL;  // 2024-01-01T00:00:00Z
  std::string site = "us";                               // tag name prefix
  uint64_t block_ticks = 60;
  bool columns = true;  // SampleColumns on the wire (false: one Sample each)
};

class DataSet {
 public:
  explicit DataSet(DataSetOptions options);

  const DataSetOptions& options() const { return options_; }
  const client::PlantSimulator& sim() const { return sim_; }
  size_t num_tags() const { return sim_.num_tags(); }
  const std::string& tag_name(size_t tag) const { return sim_.tag_name(tag); }
  uint64_t ticks() const { return ticks_; }
  uint64_t samples() const { return ticks_ * num_tags(); }
  int64_t period_ns() const { return sim_.period_ns(); }
  int64_t start_ns() const { return options_.start_ns; }
  // One past the last sample's timestamp.
  int64_t end_ns() const { return TimeAt(ticks_); }
  int64_t TimeAt(uint64_t tick) const {
    return options_.start_ns + static_cast<int64_t>(tick) * sim_.period_ns();
  }

  uint64_t num_blocks() const;
  // [first tick, one past the last tick) of block `b`.
  std::pair<uint64_t, uint64_t> BlockTicks(uint64_t block) const;

  // Tags with double values (analog sensors and setpoints), in index order:
  // the ones every system can average.
  std::vector<size_t> DoubleTags() const;
  bool IsDouble(size_t tag) const;

  // Appends the samples of `tag` for ticks [first, last) to *out, in the
  // columns form unless options().columns is false. REQUIRES: *out is empty.
  void AppendSamples(size_t tag, uint64_t first, uint64_t last,
                     historian::v1::TagSamples* out) const;

 private:
  DataSetOptions options_;
  client::PlantSimulator sim_;
  uint64_t ticks_;
};

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_DATASET_H_
