#include "storage/engine/columns.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace historian::engine {

void AppendSamples(const codec::ChunkColumns& from, size_t begin, size_t end,
                   codec::ChunkColumns* to) {
  if (begin >= end) return;
  auto append = [&](const auto& src, auto* dst) {
    dst->insert(dst->end(), src.begin() + begin, src.begin() + end);
  };
  append(from.timestamps, &to->timestamps);
  append(from.qualities, &to->qualities);
  if (!from.versions.empty()) append(from.versions, &to->versions);
  switch (from.type) {
    case ValueType::kDouble:
      append(from.doubles, &to->doubles);
      break;
    case ValueType::kInt64:
      append(from.ints, &to->ints);
      break;
    case ValueType::kBool:
      append(from.bools, &to->bools);
      break;
    case ValueType::kString:
      append(from.strings, &to->strings);
      break;
    default:
      break;
  }
}

void AppendSample(const codec::ChunkColumns& from, size_t i, codec::ChunkColumns* to) {
  AppendSamples(from, i, i + 1, to);
}

bool IsStrictlyIncreasing(const codec::ChunkColumns& cols) {
  for (size_t i = 1; i < cols.timestamps.size(); ++i) {
    if (cols.timestamps[i] <= cols.timestamps[i - 1]) return false;
  }
  return true;
}

void Normalize(codec::ChunkColumns* cols) {
  if (IsStrictlyIncreasing(*cols)) return;
  std::vector<uint32_t> order(cols->size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return cols->timestamps[a] < cols->timestamps[b];
  });
  codec::ChunkColumns out;
  out.Reset(cols->type);
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    uint32_t winner = order[i];
    while (j < order.size() && cols->timestamps[order[j]] == cols->timestamps[order[i]]) {
      if (cols->versions[order[j]] >= cols->versions[winner]) winner = order[j];
      ++j;
    }
    AppendSample(*cols, winner, &out);
    i = j;
  }
  *cols = std::move(out);
}

void AppendRange(const codec::ChunkColumns& from, int64_t start, int64_t end,
                 codec::ChunkColumns* to, size_t max_samples) {
  const auto& ts = from.timestamps;
  size_t b = std::lower_bound(ts.begin(), ts.end(), start) - ts.begin();
  size_t e =
      std::max(b, static_cast<size_t>(std::lower_bound(ts.begin(), ts.end(), end) - ts.begin()));
  if (max_samples != 0 && e - b > max_samples) e = b + max_samples;
  AppendSamples(from, b, e, to);
}

void Truncate(size_t n, codec::ChunkColumns* cols) {
  if (cols->size() <= n) return;
  cols->timestamps.resize(n);
  cols->qualities.resize(n);
  cols->versions.resize(n);
  if (!cols->doubles.empty()) cols->doubles.resize(n);
  if (!cols->ints.empty()) cols->ints.resize(n);
  if (!cols->bools.empty()) cols->bools.resize(n);
  if (!cols->strings.empty()) cols->strings.resize(n);
}

}  // namespace historian::engine
