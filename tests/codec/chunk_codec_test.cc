// File: chunk_codec_test.cc
// Round trips over every value type on random and adversarial inputs, and
// the rejections EncodeChunk promises.
#include "storage/codec/chunk_codec.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/codec/codec_test_util.h"

namespace historian::codec {
namespace {

using testing::DoubleChunk;
using testing::IntChunk;
using testing::kSecond;
using testing::kT0;
using testing::RegularTimes;
using testing::Rng;
using testing::RoundTrip;

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct TimeCase {
  const char* name;
  std::vector<int64_t> (*make)(size_t n, Rng& rng);
};

const TimeCase kTimeCases[] = {
    {"regular_1s", [](size_t n, Rng&) { return RegularTimes(n); }},
    {"regular_100ms", [](size_t n, Rng&) { return RegularTimes(n, kT0, kSecond / 10); }},
    {"jitter_ms",
     [](size_t n, Rng& rng) {
       std::vector<int64_t> t(n);
       for (size_t i = 0; i < n; ++i) {
         t[i] =
             kT0 + static_cast<int64_t>(i) * kSecond + static_cast<int64_t>(rng() % 200) * 1000000;
       }
       return t;
     }},
    {"random_gaps_ns",
     [](size_t n, Rng& rng) {
       std::vector<int64_t> t(n);
       int64_t x = kT0;
       for (auto& v : t) v = (x += 1 + static_cast<int64_t>(rng() % 10'000'000'000ULL));
       return t;
     }},
    {"pre_epoch",
     [](size_t n, Rng& rng) {
       std::vector<int64_t> t(n);
       for (size_t i = 0; i < n; ++i) t[i] = -kT0 + static_cast<int64_t>(i) * 1'300'000'000;
       return t;
     }},
    {"int64_limits",
     [](size_t n, Rng& rng) {
       std::vector<int64_t> t(n);
       for (size_t i = 0; i < n; ++i) t[i] = kI64Min + static_cast<int64_t>(i);
       if (n > 1) t[n - 1] = kI64Max;  // one delta of 2^64 - n
       if (n > 3) t[n - 2] = kI64Max - 1;
       return t;
     }},
    {"huge_jumps",
     [](size_t n, Rng& rng) {
       std::vector<int64_t> t(n);
       uint64_t room = static_cast<uint64_t>(kI64Max) / (n + 1);
       int64_t x = kI64Min;
       for (auto& v : t) v = (x += 1 + static_cast<int64_t>(rng() % room) * 2);
       return t;
     }},
};

struct DoubleCase {
  const char* name;
  double (*next)(size_t i, Rng& rng, double prev);
};

double Uniform(Rng& rng) { return std::uniform_real_distribution<double>(0, 1)(rng); }
double Quantise(double v, double res) { return std::round(v / res) * res; }

const DoubleCase kDoubleCases[] = {
    {"constant", [](size_t, Rng&, double) { return 21.5; }},
    {"zero", [](size_t, Rng&, double) { return 0.0; }},
    {"random_walk_full", [](size_t, Rng& rng, double p) { return p + Uniform(rng) - 0.5; }},
    {"quantised_0.1",
     [](size_t i, Rng& rng, double) {
       return Quantise(20 + 3 * std::sin(i / 200.0) + 0.3 * Uniform(rng), 0.1);
     }},
    {"quantised_0.01",
     [](size_t i, Rng& rng, double) { return Quantise(3 + 0.01 * i + 0.05 * Uniform(rng), 0.01); }},
    {"quantised_negative",
     [](size_t i, Rng& rng, double) { return Quantise(-40 + Uniform(rng), 0.001); }},
    {"counter_resets",
     [](size_t i, Rng& rng, double p) { return rng() % 300 == 0 ? 0.0 : p + (rng() % 5); }},
    {"full_precision", [](size_t, Rng& rng, double) { return Uniform(rng) * 1e6; }},
    {"random_bits", [](size_t, Rng& rng, double) { return std::bit_cast<double>(rng()); }},
    {"specials",
     [](size_t i, Rng& rng, double) {
       static const double kSpecials[] = {
           0.0,
           -0.0,
           kInf,
           -kInf,
           std::numeric_limits<double>::quiet_NaN(),
           std::bit_cast<double>(uint64_t{0x7FF0000000000001}),  // signalling NaN
           std::bit_cast<double>(uint64_t{0xFFF8DEADBEEF0001}),  // negative NaN, payload
           std::numeric_limits<double>::denorm_min(),
           -std::numeric_limits<double>::denorm_min(),
           2.2250738585072009e-308,  // largest denormal
           std::numeric_limits<double>::max(),
           std::numeric_limits<double>::lowest(),
           std::numeric_limits<double>::min(),
           9007199254740993.0,
           1e300,
           0.1,
           1.5};
       return kSpecials[rng() % std::size(kSpecials)];
     }},
    {"mixed_decimal_few_full",
     [](size_t i, Rng& rng, double) {
       if (i % 97 == 5) return Uniform(rng);
       if (i % 331 == 7) return std::numeric_limits<double>::quiet_NaN();
       if (i % 409 == 3) return -0.0;
       return Quantise(50 + 10 * Uniform(rng), 0.1);
     }},
    {"leading_exceptions",
     [](size_t i, Rng& rng, double) { return i < 3 ? Uniform(rng) : Quantise(Uniform(rng), 0.5); }},
    {"large_decimals",
     [](size_t i, Rng& rng, double) { return Quantise(8e15 * Uniform(rng), 1.0); }},
    {"many_digits", [](size_t i, Rng& rng, double) { return Quantise(Uniform(rng), 1e-12); }},
    // Noise around a moving level (the moving-average predictor and the
    // entropy stage), with specials that must survive as exceptions.
    {"analog_noise_specials",
     [](size_t i, Rng& rng, double) {
       if (i % 61 == 11) return std::bit_cast<double>(uint64_t{0x7FF8000000000000} | rng() >> 20);
       if (i % 89 == 3) return -0.0;
       if (i % 113 == 5) return std::numeric_limits<double>::denorm_min();
       if (i % 127 == 9) return i % 2 ? kInf : -kInf;
       return Quantise(80 + 5 * std::sin(static_cast<double>(i) / 300) + 0.4 * (Uniform(rng) - 0.5),
                       0.1);
     }},
    // A running float sum: most values are a few ulps off a decimal (the
    // correction column).
    {"float_sum_residue",
     [](size_t i, Rng& rng, double p) {
       return i == 0 ? 20.0 : p + 0.01 * static_cast<double>(static_cast<int>(rng() % 21) - 10);
     }},
    {"analog_noise",
     [](size_t i, Rng& rng, double) {
       return Quantise(5 + 0.5 * std::sin(static_cast<double>(i) / 900) + 0.03 * Uniform(rng),
                       0.01);
     }},
};

// Rounds the generated value to itself so -0.0 and NaN payloads survive.
std::vector<double> MakeDoubles(const DoubleCase& dc, size_t n, Rng& rng) {
  std::vector<double> v(n);
  double prev = 0;
  for (size_t i = 0; i < n; ++i) prev = v[i] = dc.next(i, rng, prev);
  return v;
}

const size_t kSizes[] = {1, 2, 3, 7, 127, 128, 129, 1000, 1024, 4099};

TEST(ChunkCodecTest, DoublesRoundTrip) {
  for (const DoubleCase& dc : kDoubleCases) {
    for (size_t n : kSizes) {
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        SCOPED_TRACE(::testing::Message() << dc.name << " n=" << n << " seed=" << seed);
        Rng rng(seed);
        RoundTrip(DoubleChunk(RegularTimes(n), MakeDoubles(dc, n, rng)));
      }
    }
  }
}

TEST(ChunkCodecTest, FloatResidueTakesTheCorrectionColumn) {
  // A running sum of hundredths: most values are an ulp or two off their
  // decimal. As a list each such exception costs two varints (>= 2 bytes);
  // the correction column codes it in a few bits.
  Rng rng(7);
  std::vector<double> v(1024);
  double p = 20;
  size_t off = 0;
  for (auto& x : v) {
    x = p += 0.01 * static_cast<double>(static_cast<int>(rng() % 21) - 10);
    off += x != std::round(x * 100) / 100;
  }
  ASSERT_GT(off, v.size() / 2);
  const size_t size = RoundTrip(DoubleChunk(RegularTimes(v.size()), v));
  std::printf("float residue: %zu of %zu off a decimal, %zu bytes\n", off, v.size(), size);
  EXPECT_LT(size, off * 2);
}

TEST(ChunkCodecTest, TimestampsRoundTrip) {
  for (const TimeCase& tc : kTimeCases) {
    for (size_t n : kSizes) {
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        SCOPED_TRACE(::testing::Message() << tc.name << " n=" << n << " seed=" << seed);
        Rng rng(seed);
        std::vector<int64_t> t = tc.make(n, rng);
        RoundTrip(DoubleChunk(t, MakeDoubles(kDoubleCases[3], n, rng)));
        std::vector<int64_t> ints(n);
        for (auto& x : ints) x = static_cast<int64_t>(rng());
        RoundTrip(IntChunk(t, ints));
      }
    }
  }
}

TEST(ChunkCodecTest, IntsRoundTrip) {
  struct IntCase {
    const char* name;
    int64_t (*next)(size_t i, Rng& rng, int64_t prev);
  };
  const IntCase cases[] = {
      {"constant", [](size_t, Rng&, int64_t) -> int64_t { return 42; }},
      {"counter", [](size_t, Rng& rng, int64_t p) -> int64_t { return p + 1 + rng() % 3; }},
      {"counter_resets",
       [](size_t, Rng& rng, int64_t p) -> int64_t { return rng() % 200 == 0 ? 0 : p + 7; }},
      {"random_walk",
       [](size_t, Rng& rng, int64_t p) -> int64_t {
         return p + static_cast<int64_t>(rng() % 21) - 10;
       }},
      {"extremes",
       [](size_t i, Rng& rng, int64_t) -> int64_t {
         const int64_t k[] = {kI64Min, kI64Max, 0, -1, 1, kI64Min + 1, kI64Max - 1};
         return k[rng() % 7];
       }},
      {"random_bits",
       [](size_t, Rng& rng, int64_t) -> int64_t { return static_cast<int64_t>(rng()); }},
      {"alternate_min_max",
       [](size_t i, Rng&, int64_t) -> int64_t { return i % 2 ? kI64Min : kI64Max; }},
      {"noisy_level_extremes",
       [](size_t i, Rng& rng, int64_t) -> int64_t {
         if (i % 151 == 7) return i % 2 ? kI64Min : kI64Max;
         return 1000 + static_cast<int64_t>(i / 50) + static_cast<int64_t>(rng() % 9);
       }},
      {"jittery_counter",
       [](size_t, Rng& rng, int64_t p) -> int64_t { return p + 10 + rng() % 5; }},
  };
  for (const IntCase& ic : cases) {
    for (size_t n : kSizes) {
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        SCOPED_TRACE(::testing::Message() << ic.name << " n=" << n << " seed=" << seed);
        Rng rng(seed);
        std::vector<int64_t> v(n);
        int64_t prev = 0;
        for (size_t i = 0; i < n; ++i) prev = v[i] = ic.next(i, rng, prev);
        RoundTrip(IntChunk(RegularTimes(n), v));
      }
    }
  }
}

TEST(ChunkCodecTest, BoolsRoundTrip) {
  for (int density : {0, 1, 5, 50, 100}) {
    for (size_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "toggle% " << density << " n=" << n);
      Rng rng(density + n);
      ChunkColumns c;
      c.type = ValueType::kBool;
      c.timestamps = RegularTimes(n);
      uint8_t b = 1;
      for (size_t i = 0; i < n; ++i) {
        if (static_cast<int>(rng() % 100) < density) b ^= 1;
        c.bools.push_back(b);
      }
      testing::FillLiveMeta(&c);
      RoundTrip(c);
    }
  }
}

TEST(ChunkCodecTest, StringsRoundTrip) {
  const std::string long_string(kMaxStringBytes, 'x');
  std::string binary(300, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  for (int variant = 0; variant < 5; ++variant) {
    for (size_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "variant " << variant << " n=" << n);
      Rng rng(variant * 1000 + n);
      ChunkColumns c;
      c.type = ValueType::kString;
      c.timestamps = RegularTimes(n);
      for (size_t i = 0; i < n; ++i) {
        switch (variant) {
          case 0:
            c.strings.push_back("");
            break;
          case 1:
            c.strings.push_back(rng() % 50 ? "RUNNING" : "STOPPED");
            break;
          case 2:
            c.strings.push_back(std::to_string(rng()));
            break;
          case 3:
            c.strings.push_back(i % 3 ? long_string : "");
            break;
          default:
            c.strings.push_back(binary.substr(0, rng() % binary.size()));
            break;
        }
      }
      testing::FillLiveMeta(&c);
      RoundTrip(c);
    }
  }
}

TEST(ChunkCodecTest, QualitiesAndVersionsRoundTrip) {
  for (int variant = 0; variant < 6; ++variant) {
    for (size_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "variant " << variant << " n=" << n);
      Rng rng(variant * 7919 + n);
      ChunkColumns c = DoubleChunk(RegularTimes(n, -5 * kSecond), std::vector<double>(n, 1.25));
      for (size_t i = 0; i < n; ++i) {
        const int64_t sec = c.timestamps[i] / kSecond;
        switch (variant) {
          case 0:  // backfill: one version for the whole chunk
            c.versions[i] = (uint64_t{1'800'000'000} << 8) | 3;
            break;
          case 1:  // live with jittered latency, sites alternating rarely
            c.versions[i] = (static_cast<uint64_t>(sec + rng() % 3) << 8) | (i / 100 % 2 ? 1 : 9);
            c.qualities[i] = rng() % 100 == 0 ? kQualityBad : kQualityGood;
            break;
          case 2:  // anything goes
            c.versions[i] = rng();
            c.qualities[i] = static_cast<uint32_t>(rng());
            break;
          case 3:
            c.versions[i] = i % 2 ? ~uint64_t{0} : 0;
            c.qualities[i] = i % 2 ? UINT32_MAX : 0;
            break;
          case 4:  // versions far from the timestamps, negative seconds
            c.versions[i] = static_cast<uint64_t>(sec - 1000) << 8;
            c.qualities[i] = static_cast<uint32_t>(i % 5);
            break;
          default:
            c.versions[i] = (static_cast<uint64_t>(sec) << 8) | static_cast<uint8_t>(rng());
            c.qualities[i] = 0x40000000u | static_cast<uint32_t>(i / 10);
            break;
        }
      }
      RoundTrip(c);
    }
  }
}

TEST(ChunkCodecTest, LargestChunk) {
  const size_t n = kMaxSamplesPerChunk;
  Rng rng(5);
  std::vector<double> v(n);
  double x = 100;
  for (auto& d : v) d = x = Quantise(x + (static_cast<int>(rng() % 3) - 1) * 0.1, 0.1);
  RoundTrip(DoubleChunk(RegularTimes(n), v));

  ChunkColumns too_big = DoubleChunk(RegularTimes(n + 1), std::vector<double>(n + 1, 0.0));
  std::string out;
  EXPECT_TRUE(absl::IsInvalidArgument(EncodeChunk(too_big, &out)));
}

TEST(ChunkCodecTest, RejectsInvalidColumns) {
  auto expect_invalid = [](const ChunkColumns& c, const char* why) {
    std::string out = "keep";
    absl::Status s = EncodeChunk(c, &out);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << why << ": " << s;
    EXPECT_EQ(out, "keep") << why;
  };
  const ChunkColumns good = DoubleChunk(RegularTimes(10), std::vector<double>(10, 1.0));
  ChunkColumns c = good;
  c.timestamps[5] = c.timestamps[4];
  expect_invalid(c, "equal timestamps");
  c = good;
  c.timestamps[5] = c.timestamps[4] - 1;
  expect_invalid(c, "decreasing timestamps");
  c = good;
  c.timestamps.assign(10, kT0);
  expect_invalid(c, "all-equal timestamps");
  c = good;
  c.doubles.pop_back();
  expect_invalid(c, "short values");
  c = good;
  c.qualities.push_back(0);
  expect_invalid(c, "long qualities");
  c = good;
  c.versions.clear();
  expect_invalid(c, "no versions");
  c = good;
  c.ints.assign(10, 1);
  expect_invalid(c, "extra value column");
  c = good;
  c.type = ValueType::kInt64;
  expect_invalid(c, "type/column mismatch");
  c = good;
  c.type = ValueType::kUnspecified;
  expect_invalid(c, "unspecified type");
  expect_invalid(ChunkColumns(), "empty");

  ChunkColumns b;
  b.type = ValueType::kBool;
  b.timestamps = RegularTimes(3);
  b.bools = {0, 2, 1};
  testing::FillLiveMeta(&b);
  expect_invalid(b, "bool 2");

  ChunkColumns s;
  s.type = ValueType::kString;
  s.timestamps = RegularTimes(2);
  s.strings = {"ok", std::string(kMaxStringBytes + 1, 'a')};
  testing::FillLiveMeta(&s);
  expect_invalid(s, "long string");
}

TEST(ChunkCodecTest, ResetKeepsTypeAndEmptiesColumns) {
  ChunkColumns c = DoubleChunk(RegularTimes(4), std::vector<double>(4, 2.0));
  c.Reset(ValueType::kBool);
  EXPECT_EQ(c.type, ValueType::kBool);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(c.doubles.empty() && c.qualities.empty() && c.versions.empty());
  c.timestamps = {1};
  c.Clear();
  EXPECT_EQ(c.type, ValueType::kBool);
  EXPECT_EQ(c.size(), 0u);
}

}  // namespace
}  // namespace historian::codec
