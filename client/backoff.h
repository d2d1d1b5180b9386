// File: backoff.h
// Backoff: bounded exponential backoff with jitter for reconnects. The n-th
// delay is min(initial * multiplier^n, max) scaled by a random factor in
// [1 - jitter, 1 + jitter] (and never above max).
//
// Thread-safety: not thread-safe; one reconnect loop owns it.
#ifndef HISTORIAN_CLIENT_BACKOFF_H_
#define HISTORIAN_CLIENT_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace historian::client {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(100);
  absl::Duration max = absl::Seconds(10);
  double multiplier = 2.0;
  double jitter = 0.2;  // in [0, 1)
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options, uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows with each call.
  absl::Duration Next();
  // Back to `initial` (after a success).
  void Reset() { attempt_ = 0; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_BACKOFF_H_
