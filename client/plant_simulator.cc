// File: plant_simulator.cc
#include "client/plant_simulator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace historian::client {
namespace {

constexpr double kTwoPi = 6.283185307179586;

double Quantise(double v, double resolution) {
  const double inv = std::round(1 / resolution);
  return std::round(v * inv) / inv;
}

}  // namespace

PlantSimulator::PlantSimulator(absl::string_view site, size_t num_tags, uint64_t seed,
                               double rate_hz)
    : seed_(seed),
      period_ns_(std::max<int64_t>(1, std::llround(1e9 / rate_hz))),
      period_s_(static_cast<double>(period_ns_) / 1e9) {
  tags_.reserve(num_tags);
  for (size_t i = 0; i < num_tags; ++i) tags_.push_back(MakeTag(site, i));
}

uint64_t PlantSimulator::Hash(uint64_t tag, uint64_t t, uint64_t salt) const {
  // SplitMix64 of (seed, tag, t, salt).
  uint64_t z = seed_ * 0x9E3779B97F4A7C15ULL + tag * 0xBF58476D1CE4E5B9ULL +
               t * 0x94D049BB133111EBULL + salt;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double PlantSimulator::Unit(uint64_t tag, uint64_t t, uint64_t salt) const {
  return static_cast<double>(Hash(tag, t, salt) >> 11) * 0x1.0p-53;
}

PlantSimulator::Tag PlantSimulator::MakeTag(absl::string_view site, size_t index) const {
  Tag t;
  const unsigned bucket = Hash(index, 0, 1) % 100;
  const double u = Unit(index, 0, 2);
  const std::string prefix = absl::StrCat(site, ".line", 1 + index % 8, ".");
  if (bucket < 60) {
    t.kind = Kind::kAnalog;
    t.period_s = 1800 + 7200 * u;
    switch (index % 3) {
      case 0:  // temperature, degC
        t.name = absl::StrCat(prefix, "press", index, ".temp");
        t.resolution = 0.1;
        t.base = 40 + 80 * u;
        t.amplitude = 5;
        t.noise_steps = 2;
        break;
      case 1:  // pressure, bar
        t.name = absl::StrCat(prefix, "pump", index, ".pressure");
        t.resolution = 0.01;
        t.base = 2 + 8 * u;
        t.amplitude = 0.5;
        t.noise_steps = 3;
        break;
      default:  // motor current, A
        t.name = absl::StrCat(prefix, "motor", index, ".current");
        t.resolution = 0.1;
        t.base = 10 + 40 * u;
        t.amplitude = 3;
        t.noise_steps = 4;
        break;
    }
  } else if (bucket < 80) {
    t.kind = Kind::kSetpoint;
    t.name = absl::StrCat(prefix, "tic", index, ".sp");
    t.resolution = 0.5;
    t.base = 50 + 100 * u;
    t.period_s = 3600 * (2 + 6 * u);
  } else if (bucket < 90) {
    t.kind = Kind::kCounter;
    t.name = absl::StrCat(prefix, "conv", index, ".count");
    t.per_second = 0.5 + 20 * u;
  } else {
    t.kind = Kind::kState;
    t.name = absl::StrCat(prefix, "motor", index, ".running");
    t.period_s = 60 + 600 * u;
  }
  return t;
}

historian::v1::Value PlantSimulator::ValueAt(size_t tag, uint64_t tick) const {
  const Tag& t = tags_[tag];
  const double seconds = static_cast<double>(tick) * period_s_;
  historian::v1::Value v;
  switch (t.kind) {
    case Kind::kAnalog: {
      const double phase = Unit(tag, 0, 29) * kTwoPi;
      const double drift = t.amplitude * std::sin(kTwoPi * seconds / t.period_s + phase);
      const double noise = (2 * Unit(tag, tick, 31) - 1) * t.noise_steps * t.resolution;
      v.set_double_value(Quantise(t.base + drift + noise, t.resolution));
      break;
    }
    case Kind::kSetpoint: {
      const auto hold = static_cast<uint64_t>(seconds / t.period_s);
      const double steps = std::floor(Unit(tag, hold, 23) * 20);
      v.set_double_value(Quantise(t.base + steps * t.resolution, t.resolution));
      break;
    }
    case Kind::kCounter: {
      // tick + 0.5 * u(tick) grows with tick, so the count never decreases.
      const double x = (static_cast<double>(tick) + 0.5 * Unit(tag, tick, 19)) * period_s_;
      v.set_int64_value(static_cast<int64_t>(std::floor(t.per_second * x)));
      break;
    }
    case Kind::kState: {
      const auto hold = static_cast<uint64_t>(seconds / t.period_s);
      v.set_bool_value((Hash(tag, hold, 17) & 1) != 0);
      break;
    }
  }
  return v;
}

historian::v1::Sample PlantSimulator::SampleAt(size_t tag, uint64_t tick, int64_t start_ns) const {
  historian::v1::Sample s;
  s.set_timestamp_ns(start_ns + static_cast<int64_t>(tick) * period_ns_);
  *s.mutable_value() = ValueAt(tag, tick);
  return s;
}

}  // namespace historian::client
