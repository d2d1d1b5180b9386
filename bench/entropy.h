// File: entropy.h
// The entropy floor of one tag's series (issue 16, goal 1): the order-0
// empirical entropy of the first differences of its decimal-scaled integer
// values, and of its timestamps' deltas or delta-of-deltas (a regular clock
// costs zero). bench/entropy_floor.cc sums it over data sets; the model and
// its choices are explained there.
//
//   EntropyCost v = DoubleValuesFloor(values.data(), values.size());
//   EntropyCost t = TimestampsFloor(timestamps.data(), timestamps.size());
//   double bytes = (v.bits + t.bits) / 8;
//
// Every figure is in bits for the whole series. `bits` is n * H0 summed over
// the streams of the cheapest model: the floor as issue 16 defines it. H0
// ignores the price of the code table and is at most log2(n) bits a sample,
// so on a stream whose symbols are nearly all distinct (full-precision
// floats) it is far below anything a decoder can use. `coder_bits` is what a
// static per-tag order-0 coder would pay, per stream the cheaper of
//   H0 + the alphabet (each distinct symbol's zig-zag bit width + 6 bits), or
//   H0 of the symbols' bit widths + their bits below the leading one (each
//   width present costs 6 bits of table),
// an achievable figure to read beside the floor where the two differ.
//
// Thread-safety: free functions with no shared state; safe from any thread.
#ifndef HISTORIAN_BENCH_ENTROPY_H_
#define HISTORIAN_BENCH_ENTROPY_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace historian::bench {

// Largest decimal scale tried: 10^15 (as the chunk codec, kMaxDecimalScale).
inline constexpr int kMaxEntropyScale = 15;

struct EntropyCost {
  double bits = 0;        // n * H0, summed over the model's streams
  double coder_bits = 0;  // a static order-0 coder (see above)
  // Doubles: the decimal scale of the cheapest model (by `bits`), or -1 for
  // the IEEE bit-pattern model. 0 for ints, bools and timestamps.
  int scale = 0;
  // Doubles: values not exact at `scale` (each costs a correction symbol).
  size_t exceptions = 0;
};

// n * H0 of `symbols` (as distinct 64-bit values) and the coder figure.
// Sorts *symbols.
EntropyCost SymbolsCost(std::vector<uint64_t>* symbols);

// The smallest s in 0..kMaxEntropyScale with v == (double)r / 10^s bit for
// bit for an integer |r| < 2^53 (stored in *r), or -1 (NaN, infinities, -0.0,
// values needing more digits, e.g. 0.1 + 0.2 = 0.30000000000000004).
int MinDecimalScale(double v, int64_t* r);

// Values of one tag, n >= 1. Int64 (and bools as 0/1): the deltas.
EntropyCost IntValuesFloor(const int64_t* v, size_t n);
// Doubles: the decimal model at the scale the values need, and for tags
// that need more than 3 digits or have values that are not decimal, the
// cheapest (by coder_bits) of the decimal models at each scale a value of
// the tag needs (deltas of r[i] plus a correction stream bits(v[i]) -
// bits(r[i] / 10^s), zero where exact) and the IEEE model (deltas of the
// doubles' bit patterns, mapped to ordered integers). `bits` is the H0 of
// the chosen model.
EntropyCost DoubleValuesFloor(const double* v, size_t n);
// Timestamps of one tag (ns, increasing), n >= 1: the smaller of n * H0 of
// the deltas and of the delta-of-deltas. A regular clock costs 0.
EntropyCost TimestampsFloor(const int64_t* t, size_t n);

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_ENTROPY_H_
