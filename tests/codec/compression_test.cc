// File: compression_test.cc
// Size assertions that fail when an encoding regresses: regular clocks and
// constant values are nearly free, quantised sensors cost a few bits.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec/chunk_codec.h"
#include "tests/codec/codec_test_util.h"

namespace historian::codec {
namespace {

using testing::DoubleChunk;
using testing::IntChunk;
using testing::kSecond;
using testing::RegularTimes;
using testing::Rng;
using testing::RoundTrip;

constexpr size_t kN = 1024;

// Rounds to the shortest decimal at `res` the way a sensor driver would.
double Quantise(double v, double res) {
  const double inv = std::round(1 / res);
  return std::round(v * inv) / inv;
}

size_t Report(const char* what, const ChunkColumns& c) {
  const size_t bytes = RoundTrip(c);
  std::cout << what << ": " << bytes << " bytes, " << static_cast<double>(bytes) / c.size()
            << " bytes/sample\n";
  return bytes;
}

TEST(CompressionTest, ConstantValueRegularClockIsNearlyFree) {
  const size_t bytes =
      Report("constant 1s", DoubleChunk(RegularTimes(kN), std::vector<double>(kN, 21.4)));
  EXPECT_LT(bytes, 200u);
  EXPECT_LT(bytes, 48u);  // header + checksum + a few bytes a column
}

TEST(CompressionTest, QuantisedTemperatureRandomWalk) {
  Rng rng(3);
  std::vector<double> v(kN);
  double x = 215;  // tenths of a degree
  for (auto& d : v) {
    x += static_cast<int>(rng() % 3) - 1;
    d = x / 10;
  }
  const size_t bytes = Report("0.1 random walk", DoubleChunk(RegularTimes(kN), v));
  EXPECT_LT(static_cast<double>(bytes) / kN, 0.5);
  EXPECT_LT(static_cast<double>(bytes) / kN, 0.32);  // 2 bits a step plus overheads
}

TEST(CompressionTest, NoisySensorAtHundredths) {
  Rng rng(4);
  std::vector<double> v(kN);
  for (size_t i = 0; i < kN; ++i) {
    // +-1 count of noise: a good 0.01 bar pressure transmitter.
    double noise = std::uniform_real_distribution<double>(-0.01, 0.01)(rng);
    v[i] = Quantise(3.0 + 0.2 * std::sin(i / 300.0) + noise, 0.01);
  }
  const size_t bytes = Report("0.01 noisy", DoubleChunk(RegularTimes(kN), v));
  EXPECT_LT(static_cast<double>(bytes) / kN, 0.45);  // 2-3 bits of noise and drift a sample
}

TEST(CompressionTest, MostlyDecimalWithExceptions) {
  Rng rng(5);
  std::vector<double> v(kN);
  for (size_t i = 0; i < kN; ++i) v[i] = Quantise(50 + (rng() % 5) * 0.1, 0.1);
  v[10] = std::nan("1");
  v[500] = 1.0 / 3.0;
  v[900] = -0.0;
  const size_t bytes = Report("decimal + 3 exceptions", DoubleChunk(RegularTimes(kN), v));
  EXPECT_LT(bytes, kN * 3 / 8 + 96);  // 3 bits a sample, plus 3 raw exceptions
}

TEST(CompressionTest, FullPrecisionFallsBackToXor) {
  Rng rng(6);
  std::vector<double> v(kN);
  double x = 1000;
  for (auto& d : v) d = x += std::uniform_real_distribution<double>(-1, 1)(rng);
  const size_t bytes = Report("full precision walk", DoubleChunk(RegularTimes(kN), v));
  EXPECT_LT(bytes, kN * 8);  // never worse than raw
}

TEST(CompressionTest, CounterIsNearlyFreeAndResetCostsLittle) {
  std::vector<int64_t> v(kN);
  for (size_t i = 0; i < kN; ++i) v[i] = 1'000'000 + 3 * static_cast<int64_t>(i);
  const size_t steady = Report("int counter", IntChunk(RegularTimes(kN), v));
  EXPECT_LT(steady, 48u);
  for (size_t i = 600; i < kN; ++i) v[i] = 3 * static_cast<int64_t>(i - 600);
  const size_t reset = Report("int counter with reset", IntChunk(RegularTimes(kN), v));
  EXPECT_LT(reset, steady + 40);  // two patched exceptions, not a wide block
}

TEST(CompressionTest, SetpointChangingRarely) {
  std::vector<double> v(kN, 65.0);
  for (size_t i = 300; i < kN; ++i) v[i] = 72.5;
  for (size_t i = 800; i < kN; ++i) v[i] = 70.25;
  const size_t bytes = Report("setpoint", DoubleChunk(RegularTimes(kN), v));
  EXPECT_LT(bytes, 64u);
}

TEST(CompressionTest, BoolsAndQualitiesRunLength) {
  ChunkColumns c;
  c.type = ValueType::kBool;
  c.timestamps = RegularTimes(kN);
  for (size_t i = 0; i < kN; ++i) c.bools.push_back(i / 300 % 2);
  testing::FillLiveMeta(&c);
  for (size_t i = 100; i < 110; ++i) c.qualities[i] = kQualityBad;
  EXPECT_LT(Report("bool + bad quality run", c), 80u);
}

TEST(CompressionTest, VersionsCostWellUnderOneBit) {
  // Live writes where 1 in 20 lands in the next second, and a backfill with
  // one version.
  Rng rng(8);
  ChunkColumns live = DoubleChunk(RegularTimes(kN), std::vector<double>(kN, 1.0));
  for (size_t i = 0; i < kN; ++i) {
    const uint64_t late = rng() % 20 == 0;
    live.versions[i] = (static_cast<uint64_t>(live.timestamps[i] / kSecond + late) << 8) | 5;
  }
  ChunkColumns backfill = DoubleChunk(RegularTimes(kN), std::vector<double>(kN, 1.0));
  for (auto& ver : backfill.versions) ver = (uint64_t{1'900'000'000} << 8) | 5;
  const size_t base = RoundTrip(DoubleChunk(RegularTimes(kN), std::vector<double>(kN, 1.0)));
  const size_t live_bytes = Report("live versions, jitter", live);
  const size_t backfill_bytes = Report("backfill versions", backfill);
  EXPECT_LT(backfill_bytes, base + 8);
  EXPECT_LT(live_bytes, base + kN / 12);  // about a byte per late write
}

TEST(CompressionTest, JitteredMillisecondClock) {
  Rng rng(9);
  std::vector<int64_t> t(kN);
  for (size_t i = 0; i < kN; ++i) {
    t[i] = testing::kT0 + static_cast<int64_t>(i) * kSecond +
           static_cast<int64_t>(rng() % 4) * 1'000'000;
  }
  const size_t bytes = Report("ms jitter clock", DoubleChunk(t, std::vector<double>(kN, 1.0)));
  EXPECT_LT(bytes, kN * 4 / 8 + 64);  // ~3-4 bits a sample in milliseconds
}

}  // namespace
}  // namespace historian::codec
