// File: time_parse.cc
#include "client/time_parse.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "api/core/status_macros.h"

namespace historian::client {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// A cursor over the RFC 3339 text.
class Scanner {
 public:
  explicit Scanner(absl::string_view s) : s_(s) {}
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  size_t pos() const { return pos_; }
  void skip() { ++pos_; }
  // Reads exactly `n` digits.
  bool Digits(int n, int64_t* out) {
    int64_t v = 0;
    for (int i = 0; i < n; ++i) {
      if (done() || !absl::ascii_isdigit(s_[pos_])) return false;
      v = v * 10 + (s_[pos_++] - '0');
    }
    *out = v;
    return true;
  }
  bool Expect(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

 private:
  absl::string_view s_;
  size_t pos_ = 0;
};

// What the parsers say they accept, after an error.
constexpr absl::string_view kTimestampForms =
    "want RFC 3339 like 2026-11-23T10:00:00Z or integer nanoseconds";
constexpr absl::string_view kCliTimeForms =
    "want RFC 3339 like 2026-11-23T10:00:00Z, or 1700000000s, ms, us, ns since the epoch";

absl::StatusOr<int64_t> ParseRfc3339(absl::string_view text,
                                     absl::string_view forms = kTimestampForms) {
  auto Rfc3339Error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid time '", text, "': ", what, " (", forms, ")"));
  };
  Scanner sc(text);
  int64_t year, month, day, hour, minute, second;
  if (!sc.Digits(4, &year) || !sc.Expect('-') || !sc.Digits(2, &month) || !sc.Expect('-') ||
      !sc.Digits(2, &day)) {
    return Rfc3339Error("bad date, want YYYY-MM-DD");
  }
  const char sep = sc.peek();
  if (sep != 'T' && sep != 't' && sep != ' ') {
    return Rfc3339Error("want 'T' between date and time");
  }
  sc.skip();
  if (!sc.Digits(2, &hour) || !sc.Expect(':') || !sc.Digits(2, &minute) || !sc.Expect(':') ||
      !sc.Digits(2, &second)) {
    return Rfc3339Error("bad time of day, want HH:MM:SS");
  }
  int64_t frac_ns = 0;
  if (sc.Expect('.')) {
    int digits = 0;
    while (absl::ascii_isdigit(sc.peek())) {
      if (++digits > 9) return Rfc3339Error("more than 9 fractional digits");
      frac_ns = frac_ns * 10 + (sc.peek() - '0');
      sc.skip();
    }
    if (digits == 0) return Rfc3339Error("no digits after '.'");
    for (int i = digits; i < 9; ++i) frac_ns *= 10;
  }
  int64_t offset_seconds = 0;
  const char zone = sc.peek();
  if (zone == 'Z' || zone == 'z') {
    sc.skip();
  } else if (zone == '+' || zone == '-') {
    sc.skip();
    int64_t oh, om;
    if (!sc.Digits(2, &oh) || !sc.Expect(':') || !sc.Digits(2, &om) || oh > 23 || om > 59) {
      return Rfc3339Error("bad UTC offset, want +HH:MM or -HH:MM");
    }
    offset_seconds = (oh * 3600 + om * 60) * (zone == '-' ? -1 : 1);
  } else {
    return Rfc3339Error("missing time zone, want 'Z' or an offset like +01:00");
  }
  if (!sc.done()) return Rfc3339Error("unexpected text after the time zone");
  if (month < 1 || month > 12) return Rfc3339Error("month out of range");
  if (day < 1 || day > DaysInMonth(year, static_cast<int>(month))) {
    return Rfc3339Error("day out of range");
  }
  if (hour > 23) return Rfc3339Error("hour out of range");
  if (minute > 59) return Rfc3339Error("minute out of range");
  if (second > 59) return Rfc3339Error("second out of range (leap seconds not supported)");

  const int64_t seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  // Borrow a second for negative times so the minimum int64 stays reachable.
  const bool borrow = seconds < 0 && frac_ns > 0;
  int64_t ns;
  if (__builtin_mul_overflow(seconds + (borrow ? 1 : 0), kNanosPerSecond, &ns) ||
      __builtin_add_overflow(ns, borrow ? frac_ns - kNanosPerSecond : frac_ns, &ns)) {
    return absl::OutOfRangeError(absl::StrCat(
        "time '", text, "' is outside the range of int64 nanoseconds (1677-09-21..2262-04-11)"));
  }
  return ns;
}

// Parses a signed or unsigned decimal integer filling the whole text.
bool ParseInteger(absl::string_view text, int64_t* out, bool* overflow) {
  *overflow = false;
  size_t i = 0;
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    i = 1;
  }
  if (i == text.size()) return false;
  int64_t v = 0;
  for (; i < text.size(); ++i) {
    if (!absl::ascii_isdigit(text[i])) return false;
    const int d = text[i] - '0';
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, negative ? -d : d, &v)) {
      *overflow = true;
      return false;
    }
  }
  *out = v;
  return true;
}

// The nanoseconds in one `unit`, or 0 for an unknown unit.
int64_t UnitScale(absl::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us") return 1'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "s") return kNanosPerSecond;
  if (unit == "m") return 60 * kNanosPerSecond;
  if (unit == "h") return 3600 * kNanosPerSecond;
  if (unit == "d") return 86400 * kNanosPerSecond;
  return 0;
}

// Parses "<number><unit>..." into nanoseconds; zero is allowed here. A number
// is digits with an optional fraction (`1.5h`) that must come to whole ns.
absl::StatusOr<int64_t> ParseUnits(absl::string_view text, absl::string_view original) {
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid duration '", original, "': ", what,
        " (want e.g. 500ms, 15s, 30m, 1h30m, 1.5h, 7d; units ns, us, ms, s, m, h, d)"));
  };
  if (text.empty()) return error("empty");
  // 128 bits: 18 fraction digits times a day in ns still fit.
  constexpr int kMaxFractionDigits = 18;
  __int128 total = 0;
  size_t i = 0;
  while (i < text.size()) {
    __int128 whole = 0;
    size_t digits = 0;
    for (; i < text.size() && absl::ascii_isdigit(text[i]); ++i, ++digits) {
      whole = whole * 10 + (text[i] - '0');
      if (whole > INT64_MAX) return error("too large");
    }
    if (digits == 0) return error("expected a number");
    __int128 fraction = 0;
    __int128 denominator = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      int fraction_digits = 0;
      for (; i < text.size() && absl::ascii_isdigit(text[i]); ++i) {
        if (++fraction_digits > kMaxFractionDigits) return error("too many fractional digits");
        fraction = fraction * 10 + (text[i] - '0');
        denominator *= 10;
      }
      if (fraction_digits == 0) return error("expected digits after '.'");
    }
    const size_t unit_start = i;
    while (i < text.size() && absl::ascii_isalpha(text[i])) ++i;
    const absl::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) return error("missing unit");
    const int64_t scale = UnitScale(unit);
    if (scale == 0) return error(absl::StrCat("unknown unit '", unit, "'"));
    if (fraction * scale % denominator != 0) return error("a fraction finer than 1ns");
    total += whole * scale + fraction * scale / denominator;
    if (total > INT64_MAX) return error("too large");
  }
  return static_cast<int64_t>(total);
}

// `<digits>(s|ms|us|ns)`: time since the epoch. Returns nullopt when `text`
// has another form.
std::optional<absl::StatusOr<int64_t>> ParseEpochWithUnit(absl::string_view text) {
  const size_t digits_end = text.find_first_not_of("0123456789");
  if (digits_end == 0 || digits_end == absl::string_view::npos) return std::nullopt;
  const absl::string_view unit = text.substr(digits_end);
  if (unit != "s" && unit != "ms" && unit != "us" && unit != "ns") return std::nullopt;
  __int128 v = 0;
  for (char c : text.substr(0, digits_end)) {
    v = v * 10 + (c - '0');
    if (v > INT64_MAX) break;
  }
  v *= UnitScale(unit);
  if (v > INT64_MAX) {
    return absl::StatusOr<int64_t>(absl::OutOfRangeError(
        absl::StrCat("time '", text, "' is outside the range of int64 nanoseconds")));
  }
  return absl::StatusOr<int64_t>(static_cast<int64_t>(v));
}

}  // namespace

absl::StatusOr<int64_t> ParseTimestamp(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty time");
  int64_t ns;
  bool overflow;
  if (ParseInteger(text, &ns, &overflow)) return ns;
  if (overflow) {
    return absl::OutOfRangeError(
        absl::StrCat("time '", text, "' is outside the range of int64 nanoseconds"));
  }
  return ParseRfc3339(text);
}

absl::StatusOr<int64_t> ParseTime(absl::string_view text, int64_t now_ns) {
  absl::string_view rest = text;
  const bool has_now = absl::ConsumePrefix(&rest, "now");
  if (has_now && rest.empty()) return now_ns;
  absl::string_view unsigned_part = rest;
  if (!has_now && !rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    unsigned_part.remove_prefix(1);
  }
  if (!has_now && !unsigned_part.empty() &&
      unsigned_part.find_first_not_of("0123456789") == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid time '", text,
        "': a number needs a unit: 1700000000s, 1700000000000ms or 1700000000000000000ns since "
        "the epoch, -5m relative to now, or RFC 3339 (ISO 8601) like 2026-11-23T10:00:00Z"));
  }
  if (!has_now) {
    if (auto epoch = ParseEpochWithUnit(text); epoch.has_value()) return *std::move(epoch);
  }
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    const bool negative = rest[0] == '-';
    const absl::string_view units = rest.substr(1);
    ASSIGN_OR_RETURN(int64_t delta, ParseUnits(units, text));
    int64_t t;
    if (negative ? __builtin_sub_overflow(now_ns, delta, &t)
                 : __builtin_add_overflow(now_ns, delta, &t)) {
      return absl::OutOfRangeError(
          absl::StrCat("time '", text, "' is outside the range of int64 nanoseconds"));
    }
    return t;
  }
  if (has_now) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid time '", text, "': want now, now-1h or now+5m"));
  }
  if (text.empty()) return absl::InvalidArgumentError("empty time");
  return ParseRfc3339(text, kCliTimeForms);
}

absl::StatusOr<int64_t> ParseDuration(absl::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid duration '", text, "': must be positive, without a sign"));
  }
  ASSIGN_OR_RETURN(int64_t ns, ParseUnits(text, text));
  if (ns <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid duration '", text, "': must be > 0"));
  }
  return ns;
}

std::string FormatRfc3339(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

absl::StatusOr<TimeFormat> ParseTimeFormat(absl::string_view name) {
  if (name == "rfc3339") return TimeFormat::kRfc3339;
  if (name == "ns") return TimeFormat::kNanos;
  if (name == "ms") return TimeFormat::kMillis;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown time format '", name, "': want rfc3339, ns or ms"));
}

std::string FormatTime(int64_t ns, TimeFormat format, absl::TimeZone zone) {
  switch (format) {
    case TimeFormat::kNanos:
      return absl::StrCat(ns);
    case TimeFormat::kMillis: {
      constexpr int64_t kNanosPerMilli = 1'000'000;
      int64_t ms = ns / kNanosPerMilli;
      if (ns % kNanosPerMilli < 0) --ms;  // round down, also before 1970
      return absl::StrCat(ms);
    }
    case TimeFormat::kRfc3339:
      break;
  }
  const absl::Time t = absl::FromUnixNanos(ns);
  // RFC 3339 offsets have no seconds; local mean time before ~1900 has them
  // (Berlin: +00:53:28), so such times are printed in UTC.
  if (zone == absl::UTCTimeZone() || zone.At(t).offset % 60 != 0) {
    return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E9SZ", t, absl::UTCTimeZone());
  }
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E9S%Ez", t, zone);
}

absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name) {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone '", name, "'"));
  }
  return zone;
}

}  // namespace historian::client
