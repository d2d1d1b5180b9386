#include "storage/query/calendar_windows.h"

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "storage/query/window_math.h"

namespace historian::query {
namespace {

absl::Status TooMany(absl::string_view field, uint64_t max_windows) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": (end_ns - start_ns) / step gives over ",
                                                 max_windows, " windows, the limit"));
}

// Floor of a / b for b > 0.
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// The first instant of civil second `cs` in `zone`: where a DST change skips
// it (a midnight that does not exist), the instant of the change.
absl::Time LocalStart(absl::CivilSecond cs, absl::TimeZone zone) {
  const absl::TimeZone::TimeInfo ti = zone.At(cs);
  return ti.kind == absl::TimeZone::TimeInfo::SKIPPED ? ti.trans : ti.pre;
}

// Fixed steps: windows at multiples of `step` since the epoch.
absl::StatusOr<std::vector<int64_t>> FixedStarts(int64_t start, int64_t end, int64_t step,
                                                 uint64_t max_windows) {
  // First boundary after start, in 128 bits (it may pass INT64_MAX).
  absl::int128 first = absl::int128(start) / step * step;
  if (first > start) first -= step;
  first += step;
  uint64_t windows = 1;
  if (first < end) {
    const absl::int128 rest = absl::int128(end) - first;
    const absl::int128 more = rest / step + (rest % step != 0);
    if (more >= absl::int128(max_windows)) return TooMany("step_ns", max_windows);
    windows += static_cast<uint64_t>(more);
  }
  std::vector<int64_t> starts;
  starts.reserve(windows);
  starts.push_back(start);
  for (absl::int128 t = first; t < end; t += step) starts.push_back(static_cast<int64_t>(t));
  return starts;
}

// Day, week and month steps: local midnights.
absl::StatusOr<std::vector<int64_t>> CivilStarts(int64_t start, int64_t end, CalendarStep step,
                                                 absl::TimeZone zone, uint64_t max_windows) {
  const absl::string_view field = "step_count";
  // Refuse at once what is surely too many: no local day lasts 48 hours, so
  // a window is at most count * 48 h (days), 7 * 48 h (weeks), 62 * 48 h
  // (months) long.
  const uint64_t days_per = step.unit == CalendarUnit::kDay    ? 1
                            : step.unit == CalendarUnit::kWeek ? 7
                                                               : 62;
  const absl::uint128 longest = absl::uint128(days_per) * static_cast<uint64_t>(step.count) *
                                static_cast<uint64_t>(2 * kNanosPerDay);
  if (absl::uint128(Span(start, end)) / longest > max_windows) return TooMany(field, max_windows);
  const absl::Time end_t = absl::FromUnixNanos(end);
  const absl::CivilDay day(zone.At(absl::FromUnixNanos(start)).cs);
  // Each window's first civil second; `next(k)` is the k-th boundary after start.
  std::vector<int64_t> starts = {start};
  auto push_until_end = [&](auto boundary) -> absl::Status {
    for (int64_t k = 1;; ++k) {
      const absl::Time t = LocalStart(absl::CivilSecond(boundary(k)), zone);
      if (t >= end_t) return absl::OkStatus();
      if (starts.size() >= max_windows) return TooMany(field, max_windows);
      // start < t < end: fits in int64.
      starts.push_back(absl::ToUnixNanos(t));
    }
  };
  absl::Status s;
  switch (step.unit) {
    case CalendarUnit::kDay:
    case CalendarUnit::kWeek: {
      // Days are counted from 1970-01-01, weeks from Monday 1969-12-29.
      const int64_t n = step.unit == CalendarUnit::kDay ? step.count : 7 * step.count;
      const absl::CivilDay origin = step.unit == CalendarUnit::kDay ? absl::CivilDay(1970, 1, 1)
                                                                    : absl::CivilDay(1969, 12, 29);
      const absl::CivilDay first = origin + FloorDiv(day - origin, n) * n;
      s = push_until_end([&](int64_t k) { return first + k * n; });
      break;
    }
    case CalendarUnit::kMonth: {
      const absl::CivilMonth origin(1970, 1);
      const absl::CivilMonth month(day);
      const absl::CivilMonth first = origin + FloorDiv(month - origin, step.count) * step.count;
      s = push_until_end([&](int64_t k) { return first + k * step.count; });
      break;
    }
    case CalendarUnit::kNanos:
      break;
  }
  if (!s.ok()) return s;
  return starts;
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> CalendarWindowStarts(int64_t start, int64_t end,
                                                          CalendarStep step, absl::TimeZone zone,
                                                          uint64_t max_windows) {
  if (start >= end) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_ns: ", start, " must be below end_ns ", end));
  }
  if (step.unit == CalendarUnit::kNanos) {
    if (step.count <= 0) return absl::InvalidArgumentError("step_ns: must be > 0");
    // Whole days fall at local midnights; other steps of a day or more
    // have no calendar meaning.
    if (step.count >= kNanosPerDay) {
      if (step.count % kNanosPerDay != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("step_ns: ", step.count,
                         " is a day or more but not whole days; align CALENDAR needs whole days"));
      }
      return CivilStarts(start, end, {CalendarUnit::kDay, step.count / kNanosPerDay}, zone,
                         max_windows);
    }
    return FixedStarts(start, end, step.count, max_windows);
  }
  // Bounds the civil arithmetic: no step of a million years.
  if (step.count <= 0 || step.count > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("step_count: ", step.count, " must be in [1, 1000000]"));
  }
  return CivilStarts(start, end, step, zone, max_windows);
}

}  // namespace historian::query
