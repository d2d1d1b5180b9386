// Day records of hour rollups: compact encoding (rollup_day.h).
#include "storage/engine/rollup_day.h"

#include <bit>
#include <cmath>

#include "storage/engine/coding.h"

namespace historian::engine {
namespace {

constexpr uint8_t kDayFormat = 3;

// Hour cell flags.
constexpr uint64_t kNIsCount = 1 << 0;
constexpr uint64_t kQualitiesZero = 1 << 1;
constexpr uint64_t kCoveredToEnd = 1 << 2;
constexpr uint64_t kHasDelta = 1 << 3;
constexpr uint64_t kMinIsFirst = 1 << 4;
constexpr uint64_t kMaxIsFirst = 1 << 5;
constexpr uint64_t kMinIsLast = 1 << 6;
constexpr uint64_t kMaxIsLast = 1 << 7;
constexpr uint64_t kDeltaImplied = 1 << 8;
constexpr int kUnitShift = 9;      // 2 bits: index into kUnits
constexpr int kScaleShift = 11;    // 4 bits: 0 none, else decimal scale + 1
constexpr int kDecimalShift = 15;  // 5 bits: sum, mean, m2, integral, delta decimal
// Mean and integral (when not decimal) as a varint of their bits XOR those of
// a prediction from fields decoded before them: sum / n, mean * covered.
constexpr uint64_t kMeanXor = uint64_t{1} << 20;
constexpr uint64_t kIntegralXor = uint64_t{1} << 21;
constexpr uint64_t kKnownFlags = (uint64_t{1} << 22) - 1;

constexpr int64_t kUnits[] = {1, 1000, 1000000, 1000000000};
constexpr int kMaxScale = 14;
constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6, 1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14};

bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}
bool SamePoint(const RollupPoint& a, const RollupPoint& b) {
  return a.ts == b.ts && SameBits(a.value, b.value) && a.quality == b.quality;
}

// m with m / 10^s == v bit for bit, if there is one (|m| < 2^53).
bool ToDecimal(double v, int s, int64_t* m) {
  if (!std::isfinite(v)) return false;
  const double x = v * kPow10[s];
  if (!(std::fabs(x) < 9007199254740992.0)) return false;
  *m = std::llround(x);
  return SameBits(static_cast<double>(*m) / kPow10[s], v);
}
double FromDecimal(int64_t m, int s) { return static_cast<double>(m) / kPow10[s]; }

// a - b in wrapping arithmetic (times of an empty min/max are 0).
int64_t Diff(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t Add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

void PutDouble(double d, std::string* out) { PutFixed64(std::bit_cast<uint64_t>(d), out); }

// The predictions of kMeanXor and kIntegralXor (the same expression when
// encoding and decoding: bit for bit).
double PredictMean(double sum, uint64_t n) { return n == 0 ? 0.0 : sum / static_cast<double>(n); }
double PredictIntegral(double mean, int64_t covered) { return mean * static_cast<double>(covered); }
uint64_t XorBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) ^ std::bit_cast<uint64_t>(b);
}
// Whether a varint of x is shorter than 8 raw bytes.
bool ShortVarint(uint64_t x) { return x < (uint64_t{1} << 49); }

void EncodeHour(int64_t hour, const Rollup& r, std::string* out) {
  uint64_t flags = 0;
  if (r.n == r.count) flags |= kNIsCount;
  if ((r.first.quality | r.last.quality | r.min.quality | r.max.quality) == 0) {
    flags |= kQualitiesZero;
  }
  const int64_t hour_end = hour + kRollupHour;
  if (r.covered == Diff(hour_end, r.first.ts)) flags |= kCoveredToEnd;
  if (r.has_delta) flags |= kHasDelta;
  if (SamePoint(r.min, r.first)) {
    flags |= kMinIsFirst;
  } else if (SamePoint(r.min, r.last)) {
    flags |= kMinIsLast;
  }
  if (SamePoint(r.max, r.first)) {
    flags |= kMaxIsFirst;
  } else if (SamePoint(r.max, r.last)) {
    flags |= kMaxIsLast;
  }
  const bool min_stored = (flags & (kMinIsFirst | kMinIsLast)) == 0;
  const bool max_stored = (flags & (kMaxIsFirst | kMaxIsLast)) == 0;
  if (r.has_delta ? SameBits(r.delta, r.last.value - r.first.value) : SameBits(r.delta, 0.0)) {
    flags |= kDeltaImplied;
  }
  // Times, as offsets in the largest unit that divides all of them.
  int64_t times[5];
  int nt = 0;
  times[nt++] = Diff(r.first.ts, hour);
  times[nt++] = Diff(r.last.ts, r.first.ts);
  if (min_stored) times[nt++] = Diff(r.min.ts, r.first.ts);
  if (max_stored) times[nt++] = Diff(r.max.ts, r.first.ts);
  if ((flags & kCoveredToEnd) == 0) times[nt++] = r.covered;
  int unit = 3;
  for (; unit > 0; --unit) {
    bool divides = true;
    for (int k = 0; k < nt; ++k) divides &= times[k] % kUnits[unit] == 0;
    if (divides) break;
  }
  flags |= static_cast<uint64_t>(unit) << kUnitShift;
  // Sample values as decimals m / 10^s, at the smallest s that fits them all.
  int64_t m_first = 0, m_last = 0, m_min = 0, m_max = 0;
  int scale = 0;
  for (; scale <= kMaxScale; ++scale) {
    if (ToDecimal(r.first.value, scale, &m_first) && ToDecimal(r.last.value, scale, &m_last) &&
        (!min_stored || ToDecimal(r.min.value, scale, &m_min)) &&
        (!max_stored || ToDecimal(r.max.value, scale, &m_max))) {
      break;
    }
  }
  const bool decimal = scale <= kMaxScale;
  const bool delta_stored = (flags & kDeltaImplied) == 0;
  const double others[5] = {r.sum, r.mean, r.m2, r.integral, r.delta};
  int64_t m_others[5] = {};
  if (decimal) {
    flags |= static_cast<uint64_t>(scale + 1) << kScaleShift;
    for (int k = 0; k < 5; ++k) {
      if (k == 4 && !delta_stored) continue;
      if (ToDecimal(others[k], scale, &m_others[k])) flags |= uint64_t{1} << (kDecimalShift + k);
    }
  }
  const uint64_t mean_xor = XorBits(r.mean, PredictMean(r.sum, r.n));
  const uint64_t integral_xor = XorBits(r.integral, PredictIntegral(r.mean, r.covered));
  if ((flags & (uint64_t{1} << (kDecimalShift + 1))) == 0 && ShortVarint(mean_xor)) {
    flags |= kMeanXor;
  }
  if ((flags & (uint64_t{1} << (kDecimalShift + 3))) == 0 && ShortVarint(integral_xor)) {
    flags |= kIntegralXor;
  }
  PutVarint64(flags, out);
  PutVarint64(r.count, out);
  if ((flags & kNIsCount) == 0) PutVarint64(r.n, out);
  PutVarint64(static_cast<uint64_t>(times[0] / kUnits[unit]), out);
  PutVarint64(static_cast<uint64_t>(times[1] / kUnits[unit]), out);
  for (int k = 2; k < nt; ++k) PutVarint64(ZigZag(times[k] / kUnits[unit]), out);
  if ((flags & kQualitiesZero) == 0) {
    for (uint32_t q : {r.first.quality, r.last.quality, r.min.quality, r.max.quality}) {
      PutVarint64(q, out);
    }
  }
  if (decimal) {
    PutVarint64(ZigZag(m_first), out);
    PutVarint64(ZigZag(m_last - m_first), out);
    if (min_stored) PutVarint64(ZigZag(m_min - m_first), out);
    if (max_stored) PutVarint64(ZigZag(m_max - m_first), out);
  } else {
    PutDouble(r.first.value, out);
    PutDouble(r.last.value, out);
    if (min_stored) PutDouble(r.min.value, out);
    if (max_stored) PutDouble(r.max.value, out);
  }
  for (int k = 0; k < 5; ++k) {
    if (k == 4 && !delta_stored) continue;
    if (flags & (uint64_t{1} << (kDecimalShift + k))) {
      PutVarint64(ZigZag(m_others[k]), out);
    } else if (k == 1 && (flags & kMeanXor)) {
      PutVarint64(mean_xor, out);
    } else if (k == 3 && (flags & kIntegralXor)) {
      PutVarint64(integral_xor, out);
    } else {
      PutDouble(others[k], out);
    }
  }
}

bool GetDouble(Reader* rd, double* d) {
  uint64_t bits = 0;
  if (!rd->GetFixed64(&bits)) return false;
  *d = std::bit_cast<double>(bits);
  return true;
}
bool GetZigZag(Reader* rd, int64_t* v) {
  uint64_t u = 0;
  if (!rd->GetVarint64(&u)) return false;
  *v = UnZigZag(u);
  return true;
}

bool DecodeHour(int64_t hour, Reader* rd, Rollup* r) {
  uint64_t flags = 0;
  if (!rd->GetVarint64(&flags) || (flags & ~kKnownFlags) != 0) return false;
  if (!rd->GetVarint64(&r->count)) return false;
  r->n = r->count;
  if ((flags & kNIsCount) == 0 && !rd->GetVarint64(&r->n)) return false;
  const int64_t unit = kUnits[(flags >> kUnitShift) & 3];
  const bool min_stored = (flags & (kMinIsFirst | kMinIsLast)) == 0;
  const bool max_stored = (flags & (kMaxIsFirst | kMaxIsLast)) == 0;
  uint64_t first_off = 0, last_off = 0;
  if (!rd->GetVarint64(&first_off) || !rd->GetVarint64(&last_off)) return false;
  r->first.ts = Add(hour, static_cast<int64_t>(first_off * static_cast<uint64_t>(unit)));
  r->last.ts = Add(r->first.ts, static_cast<int64_t>(last_off * static_cast<uint64_t>(unit)));
  int64_t off = 0;
  if (min_stored) {
    if (!GetZigZag(rd, &off)) return false;
    r->min.ts = Add(r->first.ts, static_cast<int64_t>(static_cast<uint64_t>(off) * unit));
  }
  if (max_stored) {
    if (!GetZigZag(rd, &off)) return false;
    r->max.ts = Add(r->first.ts, static_cast<int64_t>(static_cast<uint64_t>(off) * unit));
  }
  if (flags & kCoveredToEnd) {
    r->covered = Diff(hour + kRollupHour, r->first.ts);
  } else {
    if (!GetZigZag(rd, &off)) return false;
    r->covered = static_cast<int64_t>(static_cast<uint64_t>(off) * unit);
  }
  if ((flags & kQualitiesZero) == 0) {
    uint64_t q[4];
    for (uint64_t& x : q) {
      if (!rd->GetVarint64(&x)) return false;
    }
    r->first.quality = static_cast<uint32_t>(q[0]);
    r->last.quality = static_cast<uint32_t>(q[1]);
    r->min.quality = static_cast<uint32_t>(q[2]);
    r->max.quality = static_cast<uint32_t>(q[3]);
  }
  const uint64_t scale_bits = (flags >> kScaleShift) & 15;
  if (scale_bits > kMaxScale + 1) return false;
  const int scale = static_cast<int>(scale_bits) - 1;
  if (scale >= 0) {
    int64_t m_first = 0, d = 0;
    if (!GetZigZag(rd, &m_first)) return false;
    r->first.value = FromDecimal(m_first, scale);
    if (!GetZigZag(rd, &d)) return false;
    r->last.value = FromDecimal(m_first + d, scale);
    if (min_stored) {
      if (!GetZigZag(rd, &d)) return false;
      r->min.value = FromDecimal(m_first + d, scale);
    }
    if (max_stored) {
      if (!GetZigZag(rd, &d)) return false;
      r->max.value = FromDecimal(m_first + d, scale);
    }
  } else {
    if (!GetDouble(rd, &r->first.value) || !GetDouble(rd, &r->last.value)) return false;
    if (min_stored && !GetDouble(rd, &r->min.value)) return false;
    if (max_stored && !GetDouble(rd, &r->max.value)) return false;
  }
  // The implied extremes: the whole point, quality included.
  if (flags & kMinIsFirst) r->min = r->first;
  if (flags & kMinIsLast) r->min = r->last;
  if (flags & kMaxIsFirst) r->max = r->first;
  if (flags & kMaxIsLast) r->max = r->last;
  r->has_delta = (flags & kHasDelta) != 0;
  double* others[5] = {&r->sum, &r->mean, &r->m2, &r->integral, &r->delta};
  for (int k = 0; k < 5; ++k) {
    if (k == 4 && (flags & kDeltaImplied)) {
      r->delta = r->has_delta ? r->last.value - r->first.value : 0.0;
      continue;
    }
    if (flags & (uint64_t{1} << (kDecimalShift + k))) {
      int64_t m = 0;
      if (scale < 0 || !GetZigZag(rd, &m)) return false;
      *others[k] = FromDecimal(m, scale);
    } else if ((k == 1 && (flags & kMeanXor)) || (k == 3 && (flags & kIntegralXor))) {
      uint64_t x = 0;
      if (!rd->GetVarint64(&x)) return false;
      const double predicted =
          k == 1 ? PredictMean(r->sum, r->n) : PredictIntegral(r->mean, r->covered);
      *others[k] = std::bit_cast<double>(std::bit_cast<uint64_t>(predicted) ^ x);
    } else if (!GetDouble(rd, others[k])) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string EncodeDayRollups(int64_t day_start, const std::vector<HourRollup>& hours) {
  std::string out(1, static_cast<char>(kDayFormat));
  uint64_t mask = 0;
  for (const auto& [hour, r] : hours) mask |= uint64_t{1} << ((hour - day_start) / kRollupHour);
  PutVarint64(mask, &out);
  for (const auto& [hour, r] : hours) EncodeHour(hour, r, &out);
  return out;
}

absl::Status DecodeDayRollups(int64_t day_start, std::string_view bytes,
                              std::vector<HourRollup>* out) {
  Reader rd(bytes);
  uint8_t format = 0;
  uint64_t mask = 0;
  bool ok = rd.GetByte(&format) && format == kDayFormat && rd.GetVarint64(&mask) && mask != 0 &&
            mask < (uint64_t{1} << 24);
  for (int h = 0; ok && h < 24; ++h) {
    if ((mask & (uint64_t{1} << h)) == 0) continue;
    const int64_t hour = day_start + h * kRollupHour;
    Rollup r;
    ok = DecodeHour(hour, &rd, &r);
    if (ok) out->emplace_back(hour, r);
  }
  if (!ok || !rd.ok() || !rd.done()) {
    return absl::DataLossError("rollup day record: truncated or corrupt");
  }
  return absl::OkStatus();
}

}  // namespace historian::engine
