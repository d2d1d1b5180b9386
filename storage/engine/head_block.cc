// File: head_block.cc
#include "storage/engine/head_block.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "storage/codec/coding.h"

namespace historian::engine::head_block {
namespace {

using codec::UnZigZag;
using codec::VarintLength;
using codec::ZigZag;

constexpr uint8_t kDeltas = 0;
constexpr uint8_t kDodRuns = 1;
constexpr uint8_t kXorDoubles = 0xFF;
constexpr int kMaxScale = 15;
constexpr double kPow10[kMaxScale + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

inline uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

inline const uint8_t* GetVarint(const uint8_t* p, uint64_t* v) {
  uint64_t r = *p & 0x7F;
  int shift = 7;
  while (*p++ & 0x80) {
    r |= static_cast<uint64_t>(*p & 0x7F) << shift;
    shift += 7;
  }
  *v = r;
  return p;
}

// Calls run(count, dod) for the delta-of-delta runs of x[2..n).
template <typename F>
void ForEachDodRun(const uint64_t* x, size_t n, F run) {
  uint64_t d = x[1] - x[0];
  uint64_t cur = 0;
  size_t len = 0;
  for (size_t i = 2; i < n; ++i) {
    const uint64_t di = x[i] - x[i - 1];
    const uint64_t dod = di - d;
    d = di;
    if (len > 0 && dod == cur) {
      ++len;
      continue;
    }
    if (len > 0) run(len, cur);
    cur = dod;
    len = 1;
  }
  if (len > 0) run(len, cur);
}

uint8_t* PutInts(const uint64_t* x, size_t n, uint8_t* p) {
  size_t delta_bytes = 0;
  uint64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    delta_bytes += VarintLength(ZigZag(x[i] - prev));
    prev = x[i];
  }
  size_t dod_bytes = delta_bytes;  // mode 1 needs n >= 2
  if (n >= 2) {
    dod_bytes = VarintLength(ZigZag(x[0])) + VarintLength(ZigZag(x[1] - x[0]));
    ForEachDodRun(x, n, [&](size_t len, uint64_t dod) {
      dod_bytes += VarintLength(len) + VarintLength(ZigZag(dod));
    });
  }
  if (dod_bytes < delta_bytes) {
    *p++ = kDodRuns;
    p = PutVarint(p, ZigZag(x[0]));
    p = PutVarint(p, ZigZag(x[1] - x[0]));
    ForEachDodRun(x, n, [&](size_t len, uint64_t dod) {
      p = PutVarint(p, len);
      p = PutVarint(p, ZigZag(dod));
    });
    return p;
  }
  *p++ = kDeltas;
  prev = 0;
  for (size_t i = 0; i < n; ++i) {
    p = PutVarint(p, ZigZag(x[i] - prev));
    prev = x[i];
  }
  return p;
}

template <typename T>
const uint8_t* GetInts(const uint8_t* p, size_t n, T* out) {
  const uint8_t mode = *p++;
  uint64_t v;
  if (mode == kDeltas) {
    uint64_t prev = 0;
    for (size_t i = 0; i < n; ++i) {
      p = GetVarint(p, &v);
      prev += UnZigZag(v);
      out[i] = static_cast<T>(prev);
    }
    return p;
  }
  p = GetVarint(p, &v);
  uint64_t x = UnZigZag(v);
  out[0] = static_cast<T>(x);
  if (n == 1) return p;
  p = GetVarint(p, &v);
  uint64_t d = UnZigZag(v);
  x += d;
  out[1] = static_cast<T>(x);
  size_t i = 2;
  while (i < n) {
    uint64_t len;
    p = GetVarint(p, &len);
    p = GetVarint(p, &v);
    const uint64_t dod = UnZigZag(v);
    for (const size_t stop = i + len; i < stop; ++i) {
      d += dod;
      x += d;
      out[i] = static_cast<T>(x);
    }
  }
  return p;
}

// *r = v * 10^s when that integer divided by 10^s gives v back bit for bit
// (the decoder's expression). NaN, infinities, -0 and huge values fail.
inline bool DecimalAt(double v, int s, uint64_t* r) {
  const double m = v * kPow10[s];
  if (!(std::fabs(m) < 9007199254740992.0)) return false;  // 2^53: exact
  const int64_t k = std::llround(m);
  if (std::bit_cast<uint64_t>(static_cast<double>(k) / kPow10[s]) != std::bit_cast<uint64_t>(v)) {
    return false;
  }
  *r = static_cast<uint64_t>(k);
  return true;
}

// The smallest scale at which every value is a decimal, with the integers
// in r; -1 when there is none.
int FindScale(const uint64_t* bits, size_t n, uint64_t* r) {
  int s = 0;
  while (s <= kMaxScale && !DecimalAt(std::bit_cast<double>(bits[0]), s, &r[0])) ++s;
  if (s > kMaxScale) return -1;
  for (size_t i = 1; i < n; ++i) {
    if (DecimalAt(std::bit_cast<double>(bits[i]), s, &r[i])) continue;
    // A finer scale: every value so far must hold at it too (rare).
    bool found = false;
    while (!found && ++s <= kMaxScale) {
      found = true;
      for (size_t j = 0; j <= i && found; ++j) {
        found = DecimalAt(std::bit_cast<double>(bits[j]), s, &r[j]);
      }
    }
    if (!found) return -1;
  }
  return s;
}

uint8_t* PutDoubles(const uint64_t* bits, size_t n, uint8_t* p) {
  uint64_t r[kSamples];
  const int s = FindScale(bits, n, r);
  if (s >= 0) {
    *p++ = static_cast<uint8_t>(s);
    return PutInts(r, n, p);
  }
  *p++ = kXorDoubles;
  uint64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t x = bits[i] ^ prev;
    prev = bits[i];
    const int zero_bytes = std::countr_zero(x) / 8;  // 8 when x == 0
    *p++ = static_cast<uint8_t>(zero_bytes);
    if (zero_bytes < 8) p = PutVarint(p, x >> (8 * zero_bytes));
  }
  return p;
}

const uint8_t* GetDoubles(const uint8_t* p, size_t n, double* out) {
  const uint8_t mode = *p++;
  if (mode != kXorDoubles) {
    uint64_t r[kSamples];
    p = GetInts(p, n, r);
    for (size_t i = 0; i < n; ++i) {
      out[i] = static_cast<double>(static_cast<int64_t>(r[i])) / kPow10[mode];
    }
    return p;
  }
  uint64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    const int zero_bytes = *p++;
    uint64_t x = 0;
    if (zero_bytes < 8) {
      p = GetVarint(p, &x);
      x <<= 8 * zero_bytes;
    }
    prev ^= x;
    out[i] = std::bit_cast<double>(prev);
  }
  return p;
}

template <typename T>
void Grow(std::vector<T>* v, size_t n) {
  v->resize(v->size() + n);
}

}  // namespace

std::string_view Encode(const RawSamples& in) {
  const size_t n = in.n;
  size_t bound = 64 * n + 64;  // every column's worst case, strings aside
  if (in.type == ValueType::kString) {
    for (size_t i = 0; i < n; ++i) bound += in.strings[i].size();
  }
  thread_local std::string scratch;
  // A block of long strings may have grown it to ~260 KiB: not kept for
  // the blocks of numbers after it.
  if (scratch.size() > (size_t{64} << 10) && bound <= (size_t{8} << 10))
    std::string().swap(scratch);
  if (scratch.size() < bound) scratch.resize(bound);
  uint8_t* const begin = reinterpret_cast<uint8_t*>(scratch.data());
  uint8_t* p = begin;
  p = PutInts(reinterpret_cast<const uint64_t*>(in.timestamps), n, p);
  switch (in.type) {
    case ValueType::kDouble:
      p = PutDoubles(in.words, n, p);
      break;
    case ValueType::kString:
      for (size_t i = 0; i < n; ++i) {
        const std::string& s = in.strings[i];
        p = PutVarint(p, s.size());
        std::memcpy(p, s.data(), s.size());
        p += s.size();
      }
      break;
    default:  // int64, bool
      p = PutInts(in.words, n, p);
      break;
  }
  if (in.qualities == nullptr) {
    *p++ = 0;
  } else {
    *p++ = 1;
    for (size_t i = 0; i < n;) {
      size_t j = i + 1;
      while (j < n && in.qualities[j] == in.qualities[i]) ++j;
      p = PutVarint(p, j - i);
      p = PutVarint(p, in.qualities[i]);
      i = j;
    }
  }
  p = PutInts(in.versions, n, p);
  return std::string_view(scratch.data(), static_cast<size_t>(p - begin));
}

const uint8_t* Decode(ValueType type, const uint8_t* p, size_t n, codec::ChunkColumns* to) {
  const size_t at = to->timestamps.size();
  Grow(&to->timestamps, n);
  p = GetInts(p, n, to->timestamps.data() + at);
  uint64_t v;
  switch (type) {
    case ValueType::kDouble:
      Grow(&to->doubles, n);
      p = GetDoubles(p, n, to->doubles.data() + at);
      break;
    case ValueType::kInt64:
      Grow(&to->ints, n);
      p = GetInts(p, n, to->ints.data() + at);
      break;
    case ValueType::kBool:
      Grow(&to->bools, n);
      p = GetInts(p, n, to->bools.data() + at);
      break;
    case ValueType::kString:
      for (size_t i = 0; i < n; ++i) {
        p = GetVarint(p, &v);
        to->strings.emplace_back(reinterpret_cast<const char*>(p), v);
        p += v;
      }
      break;
    default:
      break;
  }
  Grow(&to->qualities, n);
  uint32_t* q = to->qualities.data() + at;
  if (*p++ == 0) {
    std::memset(q, 0, n * sizeof(uint32_t));
  } else {
    for (size_t i = 0; i < n;) {
      uint64_t len;
      p = GetVarint(p, &len);
      p = GetVarint(p, &v);
      for (const size_t stop = i + len; i < stop; ++i) q[i] = static_cast<uint32_t>(v);
    }
  }
  Grow(&to->versions, n);
  return GetInts(p, n, to->versions.data() + at);
}

}  // namespace historian::engine::head_block
