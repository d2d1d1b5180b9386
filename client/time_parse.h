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
//   - every form ParseTimestamp accepts;
//   - `now`;
//   - a signed duration relative to now: `-1h`, `-30m`, `-15s`, `-7d`,
//     `-500ms`, `-1h30m`, `+10m`; also `now-1h`, `now+5m`.
// Relative forms need a unit; a bare signed integer is nanoseconds since the
// epoch.
absl::StatusOr<int64_t> ParseTime(absl::string_view text, int64_t now_ns);

// Parses a positive duration into nanoseconds: one or more
// <integer><unit> parts, units ns, us, ms, s, m, h, d (1d = 24h), e.g. `1m`,
// `1h30m`, `500ms`. Zero, negative and unit-less values are INVALID_ARGUMENT.
absl::StatusOr<int64_t> ParseDuration(absl::string_view text);

// Formats `ns` as RFC 3339 in UTC with the fractional seconds trimmed of
// trailing zeros: `2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.5Z`.
std::string FormatRfc3339(int64_t ns);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_TIME_PARSE_H_
