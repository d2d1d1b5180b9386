// File: entropy.cc
#include "bench/entropy.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace historian::bench {
namespace {

constexpr double kTwo53 = 9007199254740992.0;

constexpr double kPow10[kMaxEntropyScale + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

uint64_t ZigZag(uint64_t v) { return (v << 1) ^ (0 - (v >> 63)); }
int BitWidth(uint64_t v) { return 64 - std::countl_zero(v); }

void Add(const EntropyCost& c, EntropyCost* sum) {
  sum->bits += c.bits;
  sum->coder_bits += c.coder_bits;
}

// First differences (modulo 2^64) of x[0..n).
std::vector<uint64_t> Deltas(const uint64_t* x, size_t n) {
  std::vector<uint64_t> d;
  if (n > 1) d.reserve(n - 1);
  for (size_t i = 1; i < n; ++i) d.push_back(x[i] - x[i - 1]);
  return d;
}

// Doubles' bit patterns as integers in the order of their values (negative
// values flipped), so a slowly moving series has small differences.
uint64_t OrderedBits(double v) {
  const uint64_t b = std::bit_cast<uint64_t>(v);
  return (b >> 63) ? ~b : b | (uint64_t{1} << 63);
}

// The decimal model at scale s: r[i] (exact where the value is decimal at s,
// else the nearest integer to v * 10^s, else the previous r) and the
// correction stream bits(v) - bits(r / 10^s).
EntropyCost DecimalModel(const double* v, const int64_t* min_r, const int* min_s, size_t n, int s) {
  const double p = kPow10[s];
  std::vector<uint64_t> r(n), corr(n);
  size_t exceptions = 0;
  int64_t prev = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t ri = prev;
    bool exact = false;
    if (min_s[i] >= 0 && min_s[i] <= s) {
      // Same real quotient at a larger scale, so the same double, while the
      // integer stays exact in a double.
      __int128 up = min_r[i];
      for (int k = min_s[i]; k < s; ++k) up *= 10;
      if (up < static_cast<__int128>(kTwo53) && up > -static_cast<__int128>(kTwo53)) {
        ri = static_cast<int64_t>(up);
        exact = true;
      }
    }
    if (!exact && std::isfinite(v[i]) && std::fabs(v[i] * p) < kTwo53) ri = std::llround(v[i] * p);
    const double back = static_cast<double>(ri) / p;
    corr[i] = std::bit_cast<uint64_t>(v[i]) - std::bit_cast<uint64_t>(back);
    exceptions += corr[i] != 0;
    r[i] = static_cast<uint64_t>(ri);
    prev = ri;
  }
  std::vector<uint64_t> d = Deltas(r.data(), n);
  EntropyCost cost = SymbolsCost(&d);
  if (exceptions > 0) Add(SymbolsCost(&corr), &cost);
  cost.scale = s;
  cost.exceptions = exceptions;
  return cost;
}

}  // namespace

EntropyCost SymbolsCost(std::vector<uint64_t>* symbols) {
  EntropyCost cost;
  const size_t n = symbols->size();
  if (n == 0) return cost;
  std::sort(symbols->begin(), symbols->end());
  const double total = static_cast<double>(n);
  double alphabet = 0, raw = 0;
  double widths[65] = {};
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && (*symbols)[j] == (*symbols)[i]) ++j;
    const double c = static_cast<double>(j - i);
    const int w = BitWidth(ZigZag((*symbols)[i]));
    cost.bits += c * std::log2(total / c);
    alphabet += w + 6;
    widths[w] += c;
    raw += c * std::max(0, w - 1);
    i = j;
  }
  double by_width = raw;
  for (double c : widths) {
    if (c > 0) by_width += c * std::log2(total / c) + 6;
  }
  cost.coder_bits = std::min(cost.bits + alphabet, by_width);
  return cost;
}

int MinDecimalScale(double v, int64_t* r) {
  if (!std::isfinite(v)) return -1;
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  for (int s = 0; s <= kMaxEntropyScale; ++s) {
    const double x = v * kPow10[s];
    if (!(std::fabs(x) < kTwo53)) return -1;  // larger scales only grow
    const int64_t r0 = std::llround(x);
    for (int64_t c = r0 - 1; c <= r0 + 1; ++c) {
      if (c <= -static_cast<int64_t>(kTwo53) || c >= static_cast<int64_t>(kTwo53)) continue;
      if (std::bit_cast<uint64_t>(static_cast<double>(c) / kPow10[s]) == bits) {
        *r = c;
        return s;
      }
    }
  }
  return -1;
}

EntropyCost IntValuesFloor(const int64_t* v, size_t n) {
  std::vector<uint64_t> d = Deltas(reinterpret_cast<const uint64_t*>(v), n);
  return SymbolsCost(&d);
}

EntropyCost DoubleValuesFloor(const double* v, size_t n) {
  std::vector<int64_t> min_r(n, 0);
  std::vector<int> min_s(n);
  bool all_decimal = true;
  int max_s = 0;
  bool used[kMaxEntropyScale + 1] = {};
  for (size_t i = 0; i < n; ++i) {
    min_s[i] = MinDecimalScale(v[i], &min_r[i]);
    if (min_s[i] < 0) {
      all_decimal = false;
    } else {
      used[min_s[i]] = true;
      max_s = std::max(max_s, min_s[i]);
    }
  }
  if (all_decimal && max_s <= 3) {
    return DecimalModel(v, min_r.data(), min_s.data(), n, max_s);
  }
  // Candidates: the IEEE model and the decimal model at every scale a value
  // needs, chosen by what a coder would pay (H0 alone favours degenerate
  // models: it is blind to the width of the numbers and saturates at
  // log2(n) on streams of distinct corrections).
  std::vector<uint64_t> ordered(n);
  for (size_t i = 0; i < n; ++i) ordered[i] = OrderedBits(v[i]);
  std::vector<uint64_t> d = Deltas(ordered.data(), n);
  EntropyCost best = SymbolsCost(&d);
  best.scale = -1;
  best.exceptions = 0;
  for (int s = 0; s <= kMaxEntropyScale; ++s) {
    if (!used[s] && !(s == 0 && max_s == 0)) continue;
    const EntropyCost c = DecimalModel(v, min_r.data(), min_s.data(), n, s);
    if (c.coder_bits < best.coder_bits) best = c;
  }
  return best;
}

EntropyCost TimestampsFloor(const int64_t* t, size_t n) {
  std::vector<uint64_t> d = Deltas(reinterpret_cast<const uint64_t*>(t), n);
  std::vector<uint64_t> dd = Deltas(d.data(), d.size());
  const EntropyCost a = SymbolsCost(&d);  // sorts d: dd was taken first
  const EntropyCost b = SymbolsCost(&dd);
  EntropyCost best = a.bits <= b.bits ? a : b;
  best.coder_bits = std::min(a.coder_bits, b.coder_bits);
  return best;
}

}  // namespace historian::bench
