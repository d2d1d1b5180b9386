// File: plant_data.h
// Deterministic synthetic plant telemetry for benchmarks: a mix of analog
// sensors (quantised, drifting, noisy), setpoints, counters and states, each
// a pure function of (seed, tag, time) so any window can be regenerated and
// consecutive windows continue each other.
//
//   PlantGenerator gen(/*seed=*/1, /*num_tags=*/1000);
//   codec::ChunkColumns cols;
//   gen.Fill(/*tag=*/7, /*t0_ns=*/gen.kDefaultStart, /*n=*/1024, &cols);
//
// Thread-safety: const methods only after construction; safe from any thread.
#ifndef HISTORIAN_BENCH_PLANT_DATA_H_
#define HISTORIAN_BENCH_PLANT_DATA_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"

namespace historian::bench {

struct TagProfile {
  enum class Kind : uint8_t {
    kAnalog,         // ~60%: quantised sensor with slow drift and noise
    kSetpoint,       // ~20%: changes every few hours
    kCounterInt,     // ~5%: monotonic int64 count
    kCounterDouble,  // ~5%: monotonic total at a decimal resolution
    kState,          // ~10%: bool that flips every few minutes
  };
  Kind kind = Kind::kAnalog;
  ValueType type = ValueType::kDouble;
  double resolution = 0.1;  // decimal step of reported values
  double base = 0;          // centre value
  double amplitude = 0;     // slow sine drift, in value units
  double period_s = 3600;   // drift or hold period
  double noise_steps = 1;   // white noise, in resolution steps (+/-)
  double rate = 1;          // counters: increase per second
  uint8_t site = 1;         // version site tag
  bool flaky = false;       // reports occasional bad-quality runs
};

inline const char* KindName(TagProfile::Kind k) {
  switch (k) {
    case TagProfile::Kind::kAnalog:
      return "analog";
    case TagProfile::Kind::kSetpoint:
      return "setpoint";
    case TagProfile::Kind::kCounterInt:
      return "counter_int";
    case TagProfile::Kind::kCounterDouble:
      return "counter_double";
    case TagProfile::Kind::kState:
      return "state";
  }
  return "?";
}

class PlantGenerator {
 public:
  static constexpr int64_t kSecond = 1'000'000'000;
  // 2024-01-01T00:00:00Z.
  static constexpr int64_t kDefaultStart = 1'704'067'200LL * kSecond;

  PlantGenerator(uint64_t seed, size_t num_tags) : seed_(seed) {
    profiles_.reserve(num_tags);
    for (size_t i = 0; i < num_tags; ++i) profiles_.push_back(MakeProfile(i));
  }

  size_t num_tags() const { return profiles_.size(); }
  const TagProfile& profile(size_t tag) const { return profiles_[tag]; }

  // Resets *cols to the tag's type and fills n samples at 1 Hz starting at
  // t0_ns (whole seconds recommended), with live-write versions.
  void Fill(size_t tag, int64_t t0_ns, size_t n, codec::ChunkColumns* cols) const {
    const TagProfile& p = profiles_[tag];
    cols->Reset(p.type);
    cols->timestamps.resize(n);
    cols->qualities.resize(n);
    cols->versions.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = t0_ns + static_cast<int64_t>(i) * kSecond;
      const int64_t sec = FloorDiv(t, kSecond);
      cols->timestamps[i] = t;
      // Ingest latency is well under a second; now and then a write lands in
      // the next second.
      const uint64_t late = Hash(tag, sec, 11) % 64 == 0 ? 1 : 0;
      cols->versions[i] = ((static_cast<uint64_t>(sec) + late) << 8) | p.site;
      cols->qualities[i] = p.flaky && Hash(tag, sec / 120, 13) % 50 == 0 ? kQualityBad : 0;
      switch (p.type) {
        case ValueType::kDouble:
          cols->doubles.push_back(DoubleAt(tag, p, sec));
          break;
        case ValueType::kInt64:
          cols->ints.push_back(CounterAt(tag, p, sec));
          break;
        case ValueType::kBool:
          cols->bools.push_back(Hash(tag, sec / int64_t(p.period_s), 17) & 1);
          break;
        default:
          cols->strings.emplace_back();
          break;
      }
    }
  }

 private:
  static int64_t FloorDiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
  }

  // SplitMix64 of (seed, tag, t, salt).
  uint64_t Hash(uint64_t tag, int64_t t, uint64_t salt) const {
    uint64_t z = seed_ * 0x9E3779B97F4A7C15ULL + tag * 0xBF58476D1CE4E5B9ULL +
                 static_cast<uint64_t>(t) * 0x94D049BB133111EBULL + salt;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Unit(uint64_t tag, int64_t t, uint64_t salt) const {
    return static_cast<double>(Hash(tag, t, salt) >> 11) * 0x1.0p-53;
  }

  // Reports v at the profile's resolution as a driver would: the shortest
  // decimal with that many digits.
  static double Quantise(double v, double res) {
    const double inv = std::round(1 / res);
    return std::round(v * inv) / inv;
  }

  int64_t CounterAt(uint64_t tag, const TagProfile& p, int64_t sec) const {
    // Monotonic: t + 0.5 * u(t) is increasing in integer t.
    const double x = static_cast<double>(sec) + 0.5 * Unit(tag, sec, 19);
    return static_cast<int64_t>(std::floor(p.rate * x));
  }

  double DoubleAt(uint64_t tag, const TagProfile& p, int64_t sec) const {
    switch (p.kind) {
      case TagProfile::Kind::kSetpoint: {
        const int64_t hold = sec / static_cast<int64_t>(p.period_s);
        const double steps = std::floor(Unit(tag, hold, 23) * 20);
        return Quantise(p.base + steps * p.resolution * 5, p.resolution);
      }
      case TagProfile::Kind::kCounterDouble:
        return Quantise(static_cast<double>(CounterAt(tag, p, sec)) * p.resolution, p.resolution);
      default: {
        const double phase = Unit(tag, 0, 29) * 6.283185307179586;
        const double drift = p.amplitude * std::sin(6.283185307179586 * sec / p.period_s + phase);
        const double noise = (2 * Unit(tag, sec, 31) - 1) * p.noise_steps * p.resolution;
        return Quantise(p.base + drift + noise, p.resolution);
      }
    }
  }

  TagProfile MakeProfile(size_t tag) const {
    TagProfile p;
    const uint64_t h = Hash(tag, 0, 1);
    const unsigned bucket = h % 100;
    p.site = 1 + (h >> 8) % 2;
    p.flaky = (h >> 16) % 20 == 0;
    p.resolution = (h >> 24) % 2 ? 0.1 : 0.01;
    p.base = 10 + static_cast<double>((h >> 32) % 2000) / 10;
    p.period_s = 600 + static_cast<double>((h >> 40) % 86400);
    if (bucket < 60) {
      p.kind = TagProfile::Kind::kAnalog;
      p.amplitude = p.resolution * (5 + (h >> 48) % 200);
      p.noise_steps = 0.5 + static_cast<double>((h >> 56) % 5) / 2;  // 0.5 .. 2.5 steps
    } else if (bucket < 80) {
      p.kind = TagProfile::Kind::kSetpoint;
      p.period_s = 1800 + static_cast<double>((h >> 40) % (8 * 3600));
    } else if (bucket < 85) {
      p.kind = TagProfile::Kind::kCounterInt;
      p.type = ValueType::kInt64;
      p.rate = 1 + static_cast<double>((h >> 48) % 100);
    } else if (bucket < 90) {
      p.kind = TagProfile::Kind::kCounterDouble;
      p.rate = 1 + static_cast<double>((h >> 48) % 100);
    } else {
      p.kind = TagProfile::Kind::kState;
      p.type = ValueType::kBool;
      p.period_s = 60 + static_cast<double>((h >> 40) % 1800);
    }
    return p;
  }

  uint64_t seed_;
  std::vector<TagProfile> profiles_;
};

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_PLANT_DATA_H_
