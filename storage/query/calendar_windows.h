// File: calendar_windows.h
// Calendar-aligned aggregate windows (AggregateRequest.align CALENDAR): the
// starts of the windows over [start, end), each the start of a calendar
// window clipped to start. Steps under a day fall at multiples of the step
// since the Unix epoch; day, week (ISO, Monday) and month steps at local
// midnights of a time zone, so a DST day lasts 23 or 25 hours.
//
// All arithmetic is exact over the whole int64 range (as window_math.h).
// Pure and thread-safe.
#ifndef HISTORIAN_STORAGE_QUERY_CALENDAR_WINDOWS_H_
#define HISTORIAN_STORAGE_QUERY_CALENDAR_WINDOWS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace historian::query {

enum class CalendarUnit {
  kNanos,  // count is a fixed step in nanoseconds
  kDay,
  kWeek,
  kMonth,
};

struct CalendarStep {
  CalendarUnit unit = CalendarUnit::kNanos;
  int64_t count = 0;  // > 0
};

inline constexpr int64_t kNanosPerDay = int64_t{86400} * 1000000000;

// The window starts: the first is `start`, each later one a calendar
// boundary in (start, end), increasing. INVALID_ARGUMENT naming step_ns
// (or step_count) when the step is not positive or there would be more than
// max_windows windows; start_ns when start >= end.
absl::StatusOr<std::vector<int64_t>> CalendarWindowStarts(int64_t start, int64_t end,
                                                          CalendarStep step, absl::TimeZone zone,
                                                          uint64_t max_windows);

}  // namespace historian::query

#endif  // HISTORIAN_STORAGE_QUERY_CALENDAR_WINDOWS_H_
