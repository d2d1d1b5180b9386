// File: time_parse.h
// Parsing and printing of times and durations for the CLI and CSV import.
//
// Timestamps are int64 nanoseconds since the Unix epoch (UTC), so every
// representable time lies in [1677-09-21T00:12:43.145224192Z,
// 2262-04-11T23:47:16.854775807Z]; anything outside is OUT_OF_RANGE.
//
// All functions are pure and thread-safe.
#ifndef HISTORIAN_CLIENT_TIME_PARSE_H_
#define HISTORIAN_CLIENT_TIME_PARSE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace historian::client {

// Parses an absolute timestamp, the form CSV files use:
//   - RFC 3339: `2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.123456789+01:00`
//     (`T` may be `t` or a space, `Z` may be `z`; 1..9 fractional digits;
//     no leap second 60);
//   - an integer number of nanoseconds since the epoch: `1795428000000000000`.
// Returns INVALID_ARGUMENT naming what is wrong, OUT_OF_RANGE when the time
// does not fit in int64 nanoseconds.
absl::StatusOr<int64_t> ParseTimestamp(absl::string_view text);

// Parses a time as given on the command line, relative to `now_ns`:
//   - RFC 3339 (see ParseTimestamp);
//   - time since the epoch with a unit: `1700000000s`, `1700000000000ms`,
//     `...us`, `...ns`;
//   - `now`;
//   - a signed duration relative to now: `-1h`, `-30m`, `-15s`, `-7d`,
//     `-500ms`, `-1h30m`, `-1.5h`, `+10m`; also `now-1h`, `now+5m`.
// A bare number (`-5`, `1700000000`) is INVALID_ARGUMENT: its unit and
// whether it is relative cannot be guessed.
absl::StatusOr<int64_t> ParseTime(absl::string_view text, int64_t now_ns);

// Parses a positive duration into nanoseconds: one or more <number><unit>
// parts, units ns, us, ms, s, m, h, d (1d = 24h), e.g. `1m`, `1h30m`,
// `500ms`, `1.5h`. A fraction must come to whole nanoseconds. Zero, negative
// and unit-less values are INVALID_ARGUMENT.
absl::StatusOr<int64_t> ParseDuration(absl::string_view text);

// Formats `ns` as RFC 3339 in UTC with the fractional seconds trimmed of
// trailing zeros: `2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.5Z`.
std::string FormatRfc3339(int64_t ns);

// How the CLI prints times.
enum class TimeFormat {
  kRfc3339,  // `2026-11-23T10:00:00.000000000Z`: always 9 fractional digits
  kNanos,    // integer nanoseconds since the epoch
  kMillis,   // integer milliseconds since the epoch (rounded down)
};

// `rfc3339`, `ns` or `ms`.
absl::StatusOr<TimeFormat> ParseTimeFormat(absl::string_view name);

// Formats `ns` in `format`. kRfc3339 writes the local time of `zone` with its
// UTC offset (`2026-11-23T11:00:00.000000000+01:00`), or `Z` when `zone` is
// UTC (also when the zone's offset then had seconds, as local mean time before
// ~1900 did); every form parses back to exactly `ns` (ParseTimestamp).
std::string FormatTime(int64_t ns, TimeFormat format, absl::TimeZone zone);

// Loads an IANA time zone (`Europe/Berlin`, `UTC`) from the system's tzdata.
// INVALID_ARGUMENT "unknown time zone 'X'" when it is not there.
absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_TIME_PARSE_H_
