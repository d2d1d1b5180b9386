// File: backoff.cc
#include "client/backoff.h"

#include <algorithm>
#include <cmath>

namespace historian::client {

Backoff::Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {}

absl::Duration Backoff::Next() {
  const double base = absl::ToDoubleSeconds(options_.initial) *
                      std::pow(options_.multiplier, std::min(attempt_, 60));
  const double capped = std::min(base, absl::ToDoubleSeconds(options_.max));
  if (attempt_ < 1000) ++attempt_;
  std::uniform_real_distribution<double> dist(1 - options_.jitter, 1 + options_.jitter);
  const double jittered = std::min(capped * dist(rng_), absl::ToDoubleSeconds(options_.max));
  return absl::Seconds(std::max(jittered, 0.0));
}

}  // namespace historian::client
