// File: hybrid_clock.h
// HybridClock: the versions of this site's writes (engine/version.h).
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_HYBRID_CLOCK_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_HYBRID_CLOCK_H_

#include <algorithm>
#include <cstdint>

#include "storage/engine/version.h"

namespace historian {

// A hybrid logical clock in seconds: never goes back, even if the wall
// clock does, and never behind a version this site has seen (Observe).
// Not thread-safe: its owner's lock guards it (CommitLog: the store's mu).
class HybridClock {
 public:
  explicit HybridClock(uint8_t site_tag) : site_tag_(site_tag) {}

  // A version for a new write: the clock at `now_ns`, above `floor` (the
  // newest tombstone seen, also one stamped this second).
  Version Next(int64_t now_ns, Version floor) {
    Tick(now_ns);
    if (engine::MakeVersion(seconds_, site_tag_) <= floor) {
      seconds_ = engine::VersionSeconds(floor) + 1;
    }
    return engine::MakeVersion(seconds_, site_tag_);
  }
  // Moves the clock to `now_ns` (if later) and returns its version.
  Version Tick(int64_t now_ns) {
    const uint64_t wall =
        static_cast<uint64_t>(std::max<int64_t>(now_ns, 0) / engine::kNanosPerSecond);
    seconds_ = std::max(seconds_, wall);
    return engine::MakeVersion(seconds_, site_tag_);
  }
  // Moves the clock to the seconds of a version written or replayed here.
  void Observe(Version v) { seconds_ = std::max(seconds_, engine::VersionSeconds(v)); }

 private:
  const uint8_t site_tag_;
  uint64_t seconds_ = 0;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_HYBRID_CLOCK_H_
