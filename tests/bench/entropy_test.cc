// Tests of the entropy floor (bench/entropy.h): known entropies of simple
// series, decimal scale detection, and the lossless fallback for values that
// are not decimal.
#include "bench/entropy.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace historian::bench {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(EntropyTest, ConstantSeriesCostsNothing) {
  const std::vector<double> v(1000, 42.5);
  const EntropyCost c = DoubleValuesFloor(v.data(), v.size());
  EXPECT_EQ(c.bits, 0);
  EXPECT_EQ(c.exceptions, 0u);
  const std::vector<int64_t> i(1000, -7);
  EXPECT_EQ(IntValuesFloor(i.data(), i.size()).bits, 0);
}

TEST(EntropyTest, SingleSampleCostsNothing) {
  const double v = 3.25;
  const int64_t t = 5;
  EXPECT_EQ(DoubleValuesFloor(&v, 1).bits, 0);
  EXPECT_EQ(TimestampsFloor(&t, 1).bits, 0);
}

TEST(EntropyTest, TwoEquallyLikelyDeltasCostOneBitEach) {
  // Deltas alternate +1, +3: 1 bit per delta, n - 1 deltas.
  std::vector<int64_t> v = {0};
  for (int i = 1; i < 1001; ++i) v.push_back(v.back() + (i % 2 ? 1 : 3));
  EXPECT_NEAR(IntValuesFloor(v.data(), v.size()).bits, 1000, 1e-9);
  // The same steps in tenths, as doubles: scale 1, same entropy.
  std::vector<double> d;
  for (int64_t x : v) d.push_back(static_cast<double>(x) / 10);
  const EntropyCost c = DoubleValuesFloor(d.data(), d.size());
  EXPECT_NEAR(c.bits, 1000, 1e-9);
  EXPECT_EQ(c.scale, 1);
  EXPECT_EQ(c.exceptions, 0u);
}

TEST(EntropyTest, KnownDistribution) {
  // Deltas 0 (half), 1 (quarter), 2 (quarter): 1.5 bits each.
  std::vector<uint64_t> s;
  for (int i = 0; i < 400; ++i) s.push_back(i % 2 ? 0 : (i % 4 ? 1 : 2));
  const EntropyCost c = SymbolsCost(&s);
  EXPECT_NEAR(c.bits, 600, 1e-9);
  // Alphabet: widths of zz(0), zz(1), zz(2) = 0, 2, 3, plus 6 bits each.
  // By width: widths 0 (half), 2, 3 (a quarter each) cost 1.5 bits, plus
  // 1 and 2 raw bits for the quarters and 6 bits a width: 918, more.
  EXPECT_NEAR(c.coder_bits, 600 + 0 + 2 + 3 + 18, 1e-9);
}

TEST(EntropyTest, DistinctSymbolsArePricedByTheirWidths) {
  // 1024 distinct 20-bit symbols: H0 is log2(1024) = 10 bits each, which no
  // decoder could use; the coder figure pays their 20 bits below the
  // leading one (all have width 21 after zig-zag: one width, 6 bits).
  std::vector<uint64_t> s;
  for (uint64_t i = 0; i < 1024; ++i) s.push_back((uint64_t{1} << 19) + i * 7);
  const EntropyCost c = SymbolsCost(&s);
  EXPECT_NEAR(c.bits, 1024 * 10, 1e-9);
  EXPECT_NEAR(c.coder_bits, 1024 * 20 + 6, 1e-9);
}

TEST(EntropyTest, DecimalScaleIsTheSmallestExactOne) {
  int64_t r = 0;
  EXPECT_EQ(MinDecimalScale(12.0, &r), 0);
  EXPECT_EQ(r, 12);
  EXPECT_EQ(MinDecimalScale(12.5, &r), 1);
  EXPECT_EQ(r, 125);
  EXPECT_EQ(MinDecimalScale(-0.01, &r), 2);
  EXPECT_EQ(r, -1);
  EXPECT_EQ(MinDecimalScale(73.96732207, &r), 8);
  EXPECT_EQ(r, 7396732207);
  EXPECT_EQ(MinDecimalScale(0.0, &r), 0);
  // 0.1 + 0.2 needs 17 digits; -0.0, NaN and infinities are never decimal.
  EXPECT_EQ(MinDecimalScale(0.1 + 0.2, &r), -1);
  EXPECT_EQ(MinDecimalScale(-0.0, &r), -1);
  EXPECT_EQ(MinDecimalScale(std::numeric_limits<double>::quiet_NaN(), &r), -1);
  EXPECT_EQ(MinDecimalScale(std::numeric_limits<double>::infinity(), &r), -1);
  EXPECT_EQ(MinDecimalScale(1e300, &r), -1);
}

TEST(EntropyTest, TagScaleIsTheLargestTheValuesNeed) {
  // Mostly whole numbers, one value in hundredths: scale 2, all exact.
  std::vector<double> v = {1, 2, 3, 4, 5.25, 6, 7};
  const EntropyCost c = DoubleValuesFloor(v.data(), v.size());
  EXPECT_EQ(c.scale, 2);
  EXPECT_EQ(c.exceptions, 0u);
  // Deltas 100 x4, 125, 75, 100 at scale 2: same as 1 x4 ... in any scale.
  const double p100 = 4.0 / 6, p1 = 1.0 / 6;
  EXPECT_NEAR(c.bits, 6 * -(p100 * std::log2(p100) + 2 * p1 * std::log2(p1)), 1e-9);
}

TEST(EntropyTest, NonDecimalValuesCostACorrection) {
  // A decimal ramp with float-sum residue in a few values: the decimal model
  // with corrections, far cheaper than the whole tag on bit patterns.
  std::vector<double> exact;
  for (int i = 0; i < 1000; ++i) exact.push_back(static_cast<double>(50000 + i) / 1000);
  const EntropyCost clean = DoubleValuesFloor(exact.data(), exact.size());
  EXPECT_EQ(clean.scale, 3);
  EXPECT_EQ(clean.bits, 0);  // constant step at scale 3
  std::vector<double> dirty = exact;
  dirty[100] = std::nextafter(dirty[100], 100.0);
  dirty[500] = std::nextafter(dirty[500], 0.0);
  const EntropyCost c = DoubleValuesFloor(dirty.data(), dirty.size());
  EXPECT_EQ(c.scale, 3);
  EXPECT_EQ(c.exceptions, 2u);
  EXPECT_GT(c.bits, 0);
  EXPECT_LT(c.bits, 40);  // two rare correction symbols among 1000 zeros
}

TEST(EntropyTest, FullPrecisionValuesArePricedByTheCoder) {
  // Random doubles in [0, 1): every delta distinct, so H0 is log2(n - 1)
  // bits a delta whatever the model, while a coder pays the ~52 bits.
  std::vector<double> v;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 1000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v.push_back(static_cast<double>(x >> 11) * 0x1.0p-53);
  }
  const EntropyCost c = DoubleValuesFloor(v.data(), v.size());
  EXPECT_LE(c.bits, 1000 * 2 * std::log2(1000.0) + 1e-6);
  EXPECT_GT(c.coder_bits, 1000 * 40);
}

TEST(EntropyTest, NonFiniteValuesStayLossless) {
  std::vector<double> v = {1.5, std::numeric_limits<double>::quiet_NaN(), 2.5, -0.0, 3.5};
  const EntropyCost c = DoubleValuesFloor(v.data(), v.size());
  EXPECT_GT(c.bits, 0);
  EXPECT_TRUE(std::isfinite(c.bits));
  EXPECT_GE(c.coder_bits, c.bits);
}

TEST(EntropyTest, RegularClockCostsNothing) {
  std::vector<int64_t> t;
  for (int i = 0; i < 3600; ++i) t.push_back(1'704'067'200 * kSecond + i * kSecond);
  EXPECT_EQ(TimestampsFloor(t.data(), t.size()).bits, 0);
}

TEST(EntropyTest, IrregularClockCostsItsDeltas) {
  // Deltas 1 s and 2 s alternating: 100 deltas at 1 bit each; the 99
  // delta-of-deltas (50 x +1 s, 49 x -1 s) cost a little less, and win.
  std::vector<int64_t> t = {0};
  for (int i = 1; i < 101; ++i) t.push_back(t.back() + (i % 2 ? 1 : 2) * kSecond);
  EXPECT_NEAR(TimestampsFloor(t.data(), t.size()).bits,
              -(50 * std::log2(50.0 / 99) + 49 * std::log2(49.0 / 99)), 1e-9);
  t.pop_back();  // 99 deltas (50 x 1 s, 49 x 2 s), 98 delta-of-deltas at 1 bit
  EXPECT_NEAR(TimestampsFloor(t.data(), t.size()).bits, 98, 1e-9);
  // A clock with one gap: the delta-of-deltas (two rare symbols) and the
  // deltas (one rare symbol) are both cheap; the smaller is taken.
  std::vector<int64_t> g;
  for (int i = 0; i < 1000; ++i) g.push_back((i < 500 ? i : i + 60) * 300 * kSecond);
  const double bits = TimestampsFloor(g.data(), g.size()).bits;
  const double p = 1.0 / 999;
  EXPECT_NEAR(bits, -(std::log2(p) + 998 * std::log2(1 - p)), 1e-6);
}

}  // namespace
}  // namespace historian::bench
