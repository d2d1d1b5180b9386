// File: float_codec.cc
// Decimal-scale detection with exceptions, and the Gorilla XOR fallback.
#include "storage/codec/float_codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <memory>
#include <string>
#include <vector>

#include "storage/codec/bit_stream.h"
#include "storage/codec/int_codec.h"

namespace historian::codec {
namespace {

constexpr uint8_t kDoubleDecimal = 0;
constexpr uint8_t kDoubleXor = 1;
// Decimal with the exceptions as a column: one zig-zagged bit distance per
// value (0 where exact), a packed sequence (so the entropy stage codes float
// residue that is a few ulps off most values in a byte or less).
constexpr uint8_t kDoubleDecimalCorrections = 2;
// Columns shorter than this keep the exception list.
constexpr size_t kMinCorrectionColumn = 64;

constexpr std::array<double, kMaxDecimalScale + 1> kPow10 = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

// |r| stays below 2^53 so every scaled integer is exact as a double and
// deltas never come close to wrapping.
constexpr double kScaledLimit = 9007199254740992.0;
constexpr int64_t kScaledLimitInt = int64_t{1} << 53;

// Cost model for picking the scale, in 1/100 bits: each extra decimal digit
// costs log2(10) bits a value; an exception costs about 80 bits.
constexpr uint64_t kDigitCost = 332;
constexpr uint64_t kExceptionCost = 8000;
// Exceptions this close to a decimal are rounding noise.
constexpr uint64_t kNoiseUlps = 64;

inline uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

// The decode of a scaled integer; the encoder checks this exact expression.
inline double Unscale(int64_t r, int s) {
  return s == 0 ? static_cast<double>(r) : static_cast<double>(r) / kPow10[s];
}

// Sets *r to the integer nearest v * 10^s; false when that is out of range
// (or v is NaN or infinite).
inline bool Nearest(double v, int s, int64_t* r) {
  const double x = v * kPow10[s];
  if (!(x > -kScaledLimit && x < kScaledLimit)) return false;
  // Any rounding works here: a wrong guess only fails the exactness check.
  *r = static_cast<int64_t>(x < 0 ? x - 0.5 : x + 0.5);
  return true;
}

// True when v == Unscale(*r, s) bit for bit.
inline bool ScaleExact(double v, int s, int64_t* r) {
  return Nearest(v, s, r) && Bits(Unscale(*r, s)) == Bits(v);
}

// An exception is stored as the distance, in units in the last place,
// from the decimal its integer decodes to: small for values like
// 1.7619999999999998 that are a rounding error away from a decimal.
inline uint64_t UlpDistance(double v, int64_t r, int s) {
  return ZigZag(Bits(v) - Bits(Unscale(r, s)));
}

constexpr uint8_t kNoScale = 0xFF;

constexpr int64_t kPow10Int[kMaxDecimalScale + 1] = {1,
                                                     10,
                                                     100,
                                                     1000,
                                                     10000,
                                                     100000,
                                                     1000000,
                                                     10000000,
                                                     100000000,
                                                     1000000000,
                                                     10000000000,
                                                     100000000000,
                                                     1000000000000,
                                                     10000000000000,
                                                     100000000000000,
                                                     1000000000000000};

// Returns false (and writes nothing) when too many values are not decimal
// for the decimal encoding to pay off. Sets *xor_may_win when the result is
// marginal enough that the caller should compare with XOR.
bool WriteDecimal(const double* v, size_t n, ByteWriter* w, bool* xor_may_win) {
  // Pass 1: one exactness test a value at the running scale `cur`; a value
  // that needs more digits searches upward, and once enough values did,
  // `cur` rises to the scale most of them needed. Keeps each value's integer and the scale it was
  // found at.
  auto ints = std::make_unique_for_overwrite<uint64_t[]>(n);
  auto found = std::make_unique_for_overwrite<uint8_t[]>(n);
  uint32_t hist[kMaxDecimalScale + 2] = {};
  const size_t max_none = n / 2;
  size_t none = 0, above = 0;
  const size_t raise_after = std::max<size_t>(4, n / 32);
  int cur = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t r;
    int m = cur;
    bool noise = false;
    if (!Nearest(v[i], cur, &r) || Bits(Unscale(r, cur)) != Bits(v[i])) {
      // Rounding noise around a decimal at this scale is an exception, not a
      // reason to look for more digits.
      noise = Nearest(v[i], cur, &r) && UlpDistance(v[i], r, cur) <= kNoiseUlps;
      m = noise ? kMaxDecimalScale + 1 : cur + 1;
      while (m <= kMaxDecimalScale && !ScaleExact(v[i], m, &r)) ++m;
    }
    ++hist[m];
    if (m > kMaxDecimalScale) {
      found[i] = kNoScale;
      // Rounding noise does not count: the correction column codes it in a
      // few bits (full-precision values give up early, to XOR).
      if (!noise && ++none > max_none) return false;
      continue;
    }
    ints[i] = static_cast<uint64_t>(r);
    found[i] = static_cast<uint8_t>(m);
    if (m > cur && ++above > raise_after) {
      // Many values need more digits: move to the most common such scale.
      int most = cur + 1;
      for (int s = cur + 2; s <= kMaxDecimalScale; ++s) most = hist[s] > hist[most] ? s : most;
      cur = most;
      above = 0;
    }
  }
  // Pick the scale by the cost model; values needing more become exceptions.
  int scale = 0;
  uint64_t best = ~uint64_t{0}, exceptions = n;
  for (int s = 0; s <= kMaxDecimalScale; ++s) {
    exceptions -= hist[s];
    const uint64_t cost = n * kDigitCost * s + exceptions * kExceptionCost;
    if (cost < best) {
      best = cost;
      scale = s;
    }
  }

  // Pass 2: bring every integer to `scale`; exactness carries over when
  // multiplying by a power of ten (same real quotient, same rounding).
  // Exceptions keep their nearest integer (or the previous one).
  std::vector<uint32_t> exc, unplaced;
  int64_t prev = 0;
  bool have_prev = false;
  int reducible = scale;  // powers of ten dividing every exact integer
  for (size_t i = 0; i < n; ++i) {
    int64_t r = 0;
    bool placed, exact;
    if (found[i] <= scale) {
      r = static_cast<int64_t>(ints[i]);
      const int k = scale - found[i];
      placed = exact =
          k == 0 || (r > -kScaledLimitInt / kPow10Int[k] && r < kScaledLimitInt / kPow10Int[k]);
      if (k > 0 && placed) r *= kPow10Int[k];
    } else {
      placed = Nearest(v[i], scale, &r);
      const uint64_t ulps = placed ? UlpDistance(v[i], r, scale) : 0;
      exact = placed && ulps == 0;
      // A value far from any decimal (NaN, -0.0, 1/3) keeps the previous
      // integer so its neighbours' deltas stay small.
      placed = placed && ulps <= kNoiseUlps;
    }
    if (!exact) {
      exc.push_back(static_cast<uint32_t>(i));
      if (!placed) {
        r = prev;
        if (!have_prev) unplaced.push_back(static_cast<uint32_t>(i));
      }
      ints[i] = static_cast<uint64_t>(r);
      continue;
    }
    if (!have_prev) {
      // Leading exceptions without an integer repeat the first decimal.
      for (uint32_t k : unplaced) ints[k] = static_cast<uint64_t>(r);
      have_prev = true;
    }
    while (reducible > 0 && r % kPow10Int[reducible] != 0) --reducible;
    ints[i] = static_cast<uint64_t>(r);
    prev = r;
  }
  if (reducible > 0) {
    // Every exact integer is a multiple of 10^reducible: a smaller scale
    // decodes to the same doubles. Exceptions store their distance from
    // whatever their integer becomes.
    for (size_t i = 0; i < n; ++i) {
      ints[i] = static_cast<uint64_t>(static_cast<int64_t>(ints[i]) / kPow10Int[reducible]);
    }
    scale -= reducible;
  }
  *xor_may_win = exc.size() * 16 > n || scale >= 10;

  const size_t start = w->size();
  w->PutByte(kDoubleDecimal);
  w->PutByte(static_cast<uint8_t>(scale));
  WriteIntColumn(ints.get(), n, w);
  const size_t ints_end = w->size();
  w->PutVarint(exc.size());
  uint32_t next = 0;
  for (uint32_t pos : exc) {
    w->PutVarint(pos - next);
    w->PutVarint(UlpDistance(v[pos], static_cast<int64_t>(ints[pos]), scale));
    next = pos + 1;
  }
  if (exc.empty() || n < kMinCorrectionColumn) return true;
  // The same integers with a correction column instead, when smaller.
  auto corr = std::make_unique<uint64_t[]>(n);  // zero where exact
  for (uint32_t pos : exc) corr[pos] = UlpDistance(v[pos], static_cast<int64_t>(ints[pos]), scale);
  std::string col;
  ByteWriter cw(&col);
  WritePacked(corr.get(), n, &cw);
  if (col.size() < w->size() - ints_end) {
    (*w->buffer())[start] = static_cast<char>(kDoubleDecimalCorrections);
    w->buffer()->resize(ints_end);
    w->PutBytes(col.data(), col.size());
  }
  return true;
}

// Gorilla: '0' repeats the previous value; '10' + bits inside the previous
// leading/trailing-zero window; '11' + 6-bit leading zeros + 6-bit
// (significant bits - 1) + the significant bits.
void WriteXor(const double* v, size_t n, ByteWriter* w) {
  w->PutByte(kDoubleXor);
  BitWriter bw(w->buffer());
  uint64_t prev = Bits(v[0]);
  bw.Write(prev, 64);
  int lead = -1, trail = 0;  // no window yet
  for (size_t i = 1; i < n; ++i) {
    const uint64_t cur = Bits(v[i]);
    const uint64_t x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      bw.Write(0, 1);
      continue;
    }
    const int lz = std::countl_zero(x), tz = std::countr_zero(x);
    if (lead >= 0 && lz >= lead && tz >= trail) {
      bw.Write(0b01, 2);  // bits '1' then '0', LSB first
      bw.Write(x >> trail, 64 - lead - trail);
      continue;
    }
    const int sig = 64 - lz - tz;
    bw.Write(0b11, 2);
    bw.Write(static_cast<uint64_t>(lz), 6);
    bw.Write(static_cast<uint64_t>(sig - 1), 6);
    bw.Write(x >> tz, sig);
    lead = lz;
    trail = tz;
  }
  bw.Finish();
}

bool ReadDecimal(ByteReader* r, size_t n, bool correction_column, double* out) {
  uint8_t scale;
  if (!r->GetByte(&scale) || scale > kMaxDecimalScale) return false;
  // The integers go through a buffer kept per thread: a chunk is decoded per
  // tag and query, and a fresh zeroed vector each time costs a malloc, a
  // memset and (for large ones) a consolidation of the heap. At most 8 MB
  // (kMaxSamplesPerChunk integers).
  thread_local std::vector<uint64_t> scratch;
  if (scratch.size() < n) scratch.resize(n);
  uint64_t* ints = scratch.data();
  if (!ReadIntColumn(r, n, ints)) return false;
  if (scale == 0) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(static_cast<int64_t>(ints[i]));
  } else {
    const double p = kPow10[scale];
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(static_cast<int64_t>(ints[i])) / p;
  }
  if (correction_column) {
    // The integers are consumed: their buffer takes the corrections.
    if (!ReadPacked(r, n, ints)) return false;
    for (size_t i = 0; i < n; ++i) {
      out[i] = std::bit_cast<double>(Bits(out[i]) + UnZigZag(ints[i]));
    }
    return true;
  }
  uint64_t num_exc;
  if (!r->GetVarint(&num_exc) || num_exc > n) return false;
  uint64_t next = 0;
  for (uint64_t k = 0; k < num_exc; ++k) {
    uint64_t gap, ulps;
    if (!r->GetVarint(&gap) || gap >= n - next || !r->GetVarint(&ulps)) return false;
    const uint64_t pos = next + gap;
    out[pos] = std::bit_cast<double>(Bits(out[pos]) + UnZigZag(ulps));
    next = pos + 1;
  }
  return true;
}

bool ReadXor(ByteReader* r, size_t n, double* out) {
  BitReader br(r->pos(), r->remaining());
  uint64_t prev;
  if (!br.Read(64, &prev)) return false;
  out[0] = std::bit_cast<double>(prev);
  int trail = 0, sig = 0;  // sig == 0: no window yet
  for (size_t i = 1; i < n; ++i) {
    uint64_t bit, x;
    if (!br.Read(1, &bit)) return false;
    if (bit) {
      if (!br.Read(1, &bit)) return false;
      if (bit) {
        uint64_t lz, sig_minus_1;
        if (!br.Read(6, &lz) || !br.Read(6, &sig_minus_1)) return false;
        sig = static_cast<int>(sig_minus_1) + 1;
        if (static_cast<int>(lz) + sig > 64) return false;
        trail = 64 - static_cast<int>(lz) - sig;
      } else if (sig == 0) {
        return false;
      }
      if (!br.Read(sig, &x)) return false;
      prev ^= x << trail;
    }
    out[i] = std::bit_cast<double>(prev);
  }
  const uint8_t* consumed;
  return r->GetBytes(br.BytesConsumed(), &consumed);
}

}  // namespace

void WriteDoubles(const double* v, size_t n, ByteWriter* w) {
  std::string decimal;
  ByteWriter dw(&decimal);
  bool xor_may_win = false;
  if (!WriteDecimal(v, n, &dw, &xor_may_win)) {
    WriteXor(v, n, w);
    return;
  }
  if (xor_may_win) {
    std::string x;
    ByteWriter xw(&x);
    WriteXor(v, n, &xw);
    if (x.size() < decimal.size()) {
      w->PutBytes(x.data(), x.size());
      return;
    }
  }
  w->PutBytes(decimal.data(), decimal.size());
}

bool ReadDoubles(ByteReader* r, size_t n, double* out) {
  uint8_t mode;
  if (!r->GetByte(&mode)) return false;
  if (mode == kDoubleDecimal || mode == kDoubleDecimalCorrections) {
    return ReadDecimal(r, n, mode == kDoubleDecimalCorrections, out);
  }
  if (mode == kDoubleXor) return ReadXor(r, n, out);
  return false;
}

}  // namespace historian::codec
