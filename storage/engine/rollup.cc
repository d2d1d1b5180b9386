#include "storage/engine/rollup.h"

#include <bit>
#include <cmath>

#include "absl/base/attributes.h"
#include "storage/engine/coding.h"

namespace historian::engine {
namespace {

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

namespace {

// RollupBuilder::Add on a Rollup the caller holds (AddToRollup keeps a copy
// in locals: stores into a builder could alias the double column it reads,
// which kept every field in memory between samples).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void AddSample(Rollup& r, int64_t ts, double v,
                                                   uint32_t quality) {
  if (r.count == 0) {
    r.first = {ts, v, quality};
  } else {
    // The previous sample holds until this one; the pair adds to delta.
    const double prev = r.last.value;
    if (!std::isnan(prev)) {
      r.integral += prev * static_cast<double>(ts - r.last.ts);
      r.covered += ts - r.last.ts;
    }
    if (!std::isnan(v) && !std::isnan(prev)) {
      r.delta += v >= prev ? v - prev : v;
      r.has_delta = true;
    }
  }
  ++r.count;
  if (!std::isnan(v)) {
    if (r.n == 0 || v < r.min.value) r.min = {ts, v, quality};
    if (r.n == 0 || v > r.max.value) r.max = {ts, v, quality};
    ++r.n;
    r.sum += v;
    double d = v - r.mean;
    r.mean += d / static_cast<double>(r.n);
    r.m2 += d * (v - r.mean);
  }
  r.last = {ts, v, quality};
}

}  // namespace

void RollupBuilder::Add(int64_t ts, double v, uint32_t quality) { AddSample(r_, ts, v, quality); }

Rollup RollupBuilder::Finish(int64_t bucket_end) const {
  Rollup r = r_;
  if (!std::isnan(r.last.value)) {
    r.integral += r.last.value * static_cast<double>(bucket_end - r.last.ts);
    r.covered += bucket_end - r.last.ts;
  }
  return r;
}

void AddToRollup(const codec::ChunkColumns& cols, size_t begin, size_t end, RollupBuilder* b) {
  const int64_t* ts = cols.timestamps.data();
  const uint32_t* q = cols.qualities.data();
  Rollup r = b->state();
  switch (cols.type) {
    case ValueType::kDouble: {
      const double* v = cols.doubles.data();
      for (size_t i = begin; i < end; ++i) AddSample(r, ts[i], v[i], q[i]);
      break;
    }
    case ValueType::kInt64:
      for (size_t i = begin; i < end; ++i)
        AddSample(r, ts[i], static_cast<double>(cols.ints[i]), q[i]);
      break;
    case ValueType::kBool:
      for (size_t i = begin; i < end; ++i) AddSample(r, ts[i], cols.bools[i], q[i]);
      break;
    default:
      for (size_t i = begin; i < end; ++i) AddSample(r, ts[i], std::nan(""), q[i]);
      break;
  }
  b->set_state(r);
}

Rollup ComputeRollup(const codec::ChunkColumns& cols, size_t begin, size_t end,
                     int64_t bucket_end) {
  RollupBuilder b;
  AddToRollup(cols, begin, end, &b);
  return b.Finish(bucket_end);
}

bool SameRollup(const Rollup& a, const Rollup& b) {
  auto same = [](double x, double y) {
    return std::bit_cast<uint64_t>(x) == std::bit_cast<uint64_t>(y);
  };
  auto same_point = [&](const RollupPoint& x, const RollupPoint& y) {
    return x.ts == y.ts && same(x.value, y.value) && x.quality == y.quality;
  };
  return a.count == b.count && a.n == b.n && same(a.sum, b.sum) && same(a.mean, b.mean) &&
         same(a.m2, b.m2) && same(a.integral, b.integral) && a.covered == b.covered &&
         same(a.delta, b.delta) && a.has_delta == b.has_delta && same_point(a.first, b.first) &&
         same_point(a.last, b.last) && same_point(a.min, b.min) && same_point(a.max, b.max);
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
