// File: bench_dataset.cc
#include "bench/bench_dataset.h"

#include <algorithm>
#include <cmath>

#include "client/sample_columns.h"

namespace historian::bench {

DataSet::DataSet(DataSetOptions options)
    : options_(std::move(options)),
      sim_(options_.site, options_.tags, options_.seed, options_.rate_hz),
      ticks_(static_cast<uint64_t>(
          std::max<double>(0, std::llround(options_.duration_s * options_.rate_hz)))) {
  options_.block_ticks = std::max<uint64_t>(1, options_.block_ticks);
}

uint64_t DataSet::num_blocks() const {
  return (ticks_ + options_.block_ticks - 1) / options_.block_ticks;
}

std::pair<uint64_t, uint64_t> DataSet::BlockTicks(uint64_t block) const {
  const uint64_t first = block * options_.block_ticks;
  return {first, std::min(ticks_, first + options_.block_ticks)};
}

bool DataSet::IsDouble(size_t tag) const {
  const auto kind = sim_.kind(tag);
  return kind == client::PlantSimulator::Kind::kAnalog ||
         kind == client::PlantSimulator::Kind::kSetpoint;
}

std::vector<size_t> DataSet::DoubleTags() const {
  std::vector<size_t> out;
  for (size_t t = 0; t < num_tags(); ++t) {
    if (IsDouble(t)) out.push_back(t);
  }
  return out;
}

void DataSet::AppendSamples(size_t tag, uint64_t first, uint64_t last,
                            historian::v1::TagSamples* out) const {
  if (!options_.columns) {
    out->mutable_samples()->Reserve(out->samples_size() + static_cast<int>(last - first));
    for (uint64_t k = first; k < last; ++k) {
      historian::v1::Sample* s = out->add_samples();
      s->set_timestamp_ns(TimeAt(k));
      *s->mutable_value() = sim_.ValueAt(tag, k);
    }
    return;
  }
  // The client library's columns form, as the Writer sends it.
  int64_t last_ts = 0;
  for (uint64_t k = first; k < last; ++k) {
    historian::v1::Sample s;
    s.set_timestamp_ns(TimeAt(k));
    *s.mutable_value() = sim_.ValueAt(tag, k);
    client::AppendSample(std::move(s), &last_ts, out);
  }
  client::FinishSeries(out);
}

}  // namespace historian::bench
