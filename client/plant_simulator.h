// File: plant_simulator.h
// PlantSimulator: a deterministic synthetic plant for the gateway's
// --simulate-tags mode and for tests. The mix of tags:
//   ~60% analog sensors quantised to their resolution (temperatures 0.1,
//        pressures 0.01, motor currents 0.1) with slow sine drift and noise;
//   ~20% setpoints (double) that change every few hours of plant time;
//   ~10% monotonic int64 counters;
//   ~10% bool states that flip every few minutes.
// Names carry the site: `mx.line3.press2.temp` (site, line, asset, signal).
// A sample is a pure function of (seed, tag index, tick), where tick k is at
// start_ns + k * period; so any tick can be regenerated after a restart.
//
// Thread-safety: immutable after construction; safe from any thread.
#ifndef HISTORIAN_CLIENT_PLANT_SIMULATOR_H_
#define HISTORIAN_CLIENT_PLANT_SIMULATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "historian/v1/common.pb.h"

namespace historian::client {

class PlantSimulator {
 public:
  enum class Kind { kAnalog, kSetpoint, kCounter, kState };

  // `rate_hz` samples per tag per second (> 0).
  PlantSimulator(absl::string_view site, size_t num_tags, uint64_t seed, double rate_hz);

  size_t num_tags() const { return tags_.size(); }
  const std::string& tag_name(size_t tag) const { return tags_[tag].name; }
  Kind kind(size_t tag) const { return tags_[tag].kind; }
  // Nanoseconds between ticks: round(1e9 / rate_hz), at least 1.
  int64_t period_ns() const { return period_ns_; }

  // The value of `tag` at `tick`.
  historian::v1::Value ValueAt(size_t tag, uint64_t tick) const;
  // The sample of `tag` at `tick` for a plant started at `start_ns`
  // (quality 0 = Good).
  historian::v1::Sample SampleAt(size_t tag, uint64_t tick, int64_t start_ns) const;

 private:
  struct Tag {
    std::string name;
    Kind kind = Kind::kAnalog;
    double resolution = 0.1;
    double base = 0;
    double amplitude = 0;
    double period_s = 3600;  // drift period, or hold time of setpoints/states
    double noise_steps = 1;
    double per_second = 1;  // counters
  };

  uint64_t Hash(uint64_t tag, uint64_t t, uint64_t salt) const;
  double Unit(uint64_t tag, uint64_t t, uint64_t salt) const;
  Tag MakeTag(absl::string_view site, size_t index) const;

  uint64_t seed_;
  int64_t period_ns_;
  double period_s_;
  std::vector<Tag> tags_;
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_PLANT_SIMULATOR_H_
