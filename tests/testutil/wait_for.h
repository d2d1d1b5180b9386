// File: wait_for.h
// WaitFor: polls a condition every 20 ms until it holds or a deadline
// passes. Tests wait for conditions with it, never for time.
//
// Thread-safety: thread-safe (no shared state).
#ifndef HISTORIAN_TESTS_TESTUTIL_WAIT_FOR_H_
#define HISTORIAN_TESTS_TESTUTIL_WAIT_FOR_H_

#include <functional>

#include "absl/time/time.h"

namespace historian::testing {

// True as soon as `condition` holds; false when `timeout` passed first.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_WAIT_FOR_H_
