// File: wait_for.cc
#include "tests/testutil/wait_for.h"

#include "absl/time/clock.h"

namespace historian::testing {

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

}  // namespace historian::testing
