// File: status_line.h
// LastStatusValue: reads a number out of `historian-gateway`'s status lines
// (`historian-gateway: status key=value key=value ...` on stderr, see
// docs/gateway.md "Status and exit").
//
// Thread-safety: thread-safe (pure function).
#ifndef HISTORIAN_TESTS_TESTUTIL_STATUS_LINE_H_
#define HISTORIAN_TESTS_TESTUTIL_STATUS_LINE_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace historian::testing {

// The value of ` key=` in the last line of `text` that has it, or -1 when no
// line has it or the value is not an integer.
int64_t LastStatusValue(absl::string_view text, absl::string_view key);

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_STATUS_LINE_H_
