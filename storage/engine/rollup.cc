#include "storage/engine/rollup.h"

#include <bit>
#include <cmath>

#include "storage/engine/coding.h"

namespace historian::engine {
namespace {

double Numeric(const codec::ChunkColumns& c, size_t i) {
  switch (c.type) {
    case ValueType::kDouble:
      return c.doubles[i];
    case ValueType::kInt64:
      return static_cast<double>(c.ints[i]);
    case ValueType::kBool:
      return c.bools[i];
    default:
      return std::nan("");
  }
}

constexpr uint8_t kRollupFormat = 2;

void PutDouble(double d, std::string* out) { PutFixed64(std::bit_cast<uint64_t>(d), out); }
bool GetDouble(Reader* r, double* d) {
  uint64_t bits = 0;
  if (!r->GetFixed64(&bits)) return false;
  *d = std::bit_cast<double>(bits);
  return true;
}

}  // namespace

int64_t BucketStart(int64_t ts, int64_t width) {
  int64_t q = ts / width;
  if (ts % width != 0 && ts < 0) --q;  // floor for negative times
  return q * width;
}

Rollup ComputeRollup(const codec::ChunkColumns& cols, size_t begin, size_t end,
                     int64_t bucket_end) {
  Rollup r;
  r.first = {cols.timestamps[begin], Numeric(cols, begin), cols.qualities[begin]};
  r.last = {cols.timestamps[end - 1], Numeric(cols, end - 1), cols.qualities[end - 1]};
  for (size_t i = begin; i < end; ++i) {
    double v = Numeric(cols, i);
    ++r.count;
    if (!std::isnan(v)) {
      if (r.n == 0 || v < r.min.value) r.min = {cols.timestamps[i], v, cols.qualities[i]};
      if (r.n == 0 || v > r.max.value) r.max = {cols.timestamps[i], v, cols.qualities[i]};
      ++r.n;
      r.sum += v;
      double d = v - r.mean;
      r.mean += d / static_cast<double>(r.n);
      r.m2 += d * (v - r.mean);
    }
    int64_t until = i + 1 < end ? cols.timestamps[i + 1] : bucket_end;
    if (!std::isnan(v)) {
      r.integral += v * static_cast<double>(until - cols.timestamps[i]);
      r.covered += until - cols.timestamps[i];
    }
    if (i > begin) {
      double prev = Numeric(cols, i - 1);
      if (!std::isnan(v) && !std::isnan(prev)) {
        r.delta += v >= prev ? v - prev : v;
        r.has_delta = true;
      }
    }
  }
  return r;
}

std::string EncodeRollup(const Rollup& r) {
  std::string out(1, static_cast<char>(kRollupFormat));
  PutVarint64(r.count, &out);
  PutVarint64(r.n, &out);
  for (double d : {r.sum, r.mean, r.m2, r.min.value, r.max.value, r.first.value, r.last.value,
                   r.integral, r.delta}) {
    PutDouble(d, &out);
  }
  PutVarint64(ZigZag(r.first.ts), &out);
  PutVarint64(ZigZag(r.last.ts), &out);
  PutVarint64(static_cast<uint64_t>(r.covered), &out);
  out.push_back(r.has_delta ? 1 : 0);
  PutVarint64(ZigZag(r.min.ts), &out);
  PutVarint64(ZigZag(r.max.ts), &out);
  for (uint32_t q : {r.first.quality, r.last.quality, r.min.quality, r.max.quality}) {
    PutVarint64(q, &out);
  }
  return out;
}

absl::StatusOr<Rollup> DecodeRollup(std::string_view bytes) {
  Reader rd(bytes);
  Rollup r;
  uint8_t format = 0, has_delta = 0;
  uint64_t first = 0, last = 0, covered = 0;
  rd.GetByte(&format);
  rd.GetVarint64(&r.count);
  rd.GetVarint64(&r.n);
  for (double* d : {&r.sum, &r.mean, &r.m2, &r.min.value, &r.max.value, &r.first.value,
                    &r.last.value, &r.integral, &r.delta}) {
    GetDouble(&rd, d);
  }
  rd.GetVarint64(&first);
  rd.GetVarint64(&last);
  rd.GetVarint64(&covered);
  rd.GetByte(&has_delta);
  uint64_t min_ts = 0, max_ts = 0, q[4] = {};
  rd.GetVarint64(&min_ts);
  rd.GetVarint64(&max_ts);
  for (uint64_t& x : q) rd.GetVarint64(&x);
  r.min.ts = UnZigZag(min_ts);
  r.max.ts = UnZigZag(max_ts);
  r.first.quality = static_cast<uint32_t>(q[0]);
  r.last.quality = static_cast<uint32_t>(q[1]);
  r.min.quality = static_cast<uint32_t>(q[2]);
  r.max.quality = static_cast<uint32_t>(q[3]);
  if (!rd.ok() || !rd.done() || format != kRollupFormat) {
    return absl::DataLossError("rollup: truncated or corrupt record");
  }
  r.first.ts = UnZigZag(first);
  r.last.ts = UnZigZag(last);
  r.covered = static_cast<int64_t>(covered);
  r.has_delta = has_delta != 0;
  return r;
}

}  // namespace historian::engine
