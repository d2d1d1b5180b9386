// Tests for client/time_parse.h: every accepted form of T and D, and errors.
#include "client/time_parse.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace historian::client {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;
// 2026-11-23T10:00:00Z
constexpr int64_t kT0 = 1795428000 * kSec;
constexpr int64_t kNow = kT0 + 123;

TEST(ParseTimestampTest, Rfc3339Utc) {
  EXPECT_EQ(*ParseTimestamp("2026-11-23T10:00:00Z"), kT0);
  EXPECT_EQ(*ParseTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseTimestamp("2026-11-23t10:00:00z"), kT0);
  EXPECT_EQ(*ParseTimestamp("2026-11-23 10:00:00Z"), kT0);
}

TEST(ParseTimestampTest, FractionalSeconds) {
  EXPECT_EQ(*ParseTimestamp("2026-11-23T10:00:00.5Z"), kT0 + 500'000'000);
  EXPECT_EQ(*ParseTimestamp("2026-11-23T10:00:00.000000001Z"), kT0 + 1);
  EXPECT_EQ(*ParseTimestamp("2026-11-23T10:00:00.123456789Z"), kT0 + 123456789);
}

TEST(ParseTimestampTest, Offsets) {
  EXPECT_EQ(*ParseTimestamp("2026-11-23T11:00:00+01:00"), kT0);
  EXPECT_EQ(*ParseTimestamp("2026-11-23T04:00:00-06:00"), kT0);
  EXPECT_EQ(*ParseTimestamp("2026-11-23T10:00:00+00:00"), kT0);
  EXPECT_EQ(*ParseTimestamp("2026-11-23T15:30:00.25+05:30"), kT0 + 250'000'000);
}

TEST(ParseTimestampTest, BeforeEpochAndLeapDay) {
  EXPECT_EQ(*ParseTimestamp("1969-12-31T23:59:59Z"), -kSec);
  EXPECT_EQ(*ParseTimestamp("1969-12-31T23:59:59.999999999Z"), -1);
  EXPECT_EQ(*ParseTimestamp("2024-03-01T00:00:00Z") - *ParseTimestamp("2024-02-29T00:00:00Z"),
            kDay);
  EXPECT_EQ(*ParseTimestamp("2000-02-29T00:00:00Z"), 951782400 * kSec);
}

TEST(ParseTimestampTest, IntegerNanoseconds) {
  EXPECT_EQ(*ParseTimestamp("1795428000000000000"), kT0);
  EXPECT_EQ(*ParseTimestamp("0"), 0);
  EXPECT_EQ(*ParseTimestamp("-5"), -5);
  EXPECT_EQ(*ParseTimestamp("9223372036854775807"), INT64_MAX);
}

TEST(ParseTimestampTest, Errors) {
  for (const char* bad :
       {"", "2026-11-23", "2026-11-23T10:00:00", "2026-11-23T10:00Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z", "2026-11-23T10:00:60Z", "2026-11-23T10:00:00.Z",
        "2026-11-23T10:00:00.1234567890Z", "2026-11-23T10:00:00+0100", "2026-11-23T10:00:00Zjunk",
        "yesterday", "12abc", "now", "-1h"}) {
    absl::StatusOr<int64_t> t = ParseTimestamp(bad);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseTimestamp("2026-11-23T10:00:00").status().message().find("time zone"),
            absl::string_view::npos);
}

TEST(ParseTimestampTest, OutOfRange) {
  EXPECT_EQ(ParseTimestamp("2300-01-01T00:00:00Z").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ParseTimestamp("1600-01-01T00:00:00Z").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ParseTimestamp("9223372036854775808").status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ParseTimeTest, AbsoluteFormsPassThrough) {
  EXPECT_EQ(*ParseTime("2026-11-23T10:00:00Z", kNow), kT0);
}

TEST(ParseTimeTest, EpochNeedsAUnit) {
  EXPECT_EQ(*ParseTime("1795428000s", kNow), kT0);
  EXPECT_EQ(*ParseTime("1795428000000ms", kNow), kT0);
  EXPECT_EQ(*ParseTime("1795428000000000us", kNow), kT0);
  EXPECT_EQ(*ParseTime("1795428000000000000ns", kNow), kT0);
  EXPECT_EQ(*ParseTime("0s", kNow), 0);
  // A bare number is ambiguous (seconds? ns? ago?): refused with the forms to use.
  for (const char* bare : {"-5", "5", "1795428000000000000", "+5", "0"}) {
    absl::StatusOr<int64_t> t = ParseTime(bare, kNow);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bare;
    EXPECT_NE(t.status().message().find("a number needs a unit"), absl::string_view::npos)
        << t.status();
    EXPECT_NE(t.status().message().find("1700000000s"), absl::string_view::npos) << t.status();
  }
  EXPECT_EQ(ParseTime("99999999999999999999s", kNow).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(ParseTime("5h", kNow).ok());  // epoch only in s, ms, us, ns
}

TEST(ParseTimeTest, Now) { EXPECT_EQ(*ParseTime("now", kNow), kNow); }

TEST(ParseTimeTest, Relative) {
  EXPECT_EQ(*ParseTime("-1h", kNow), kNow - kHour);
  EXPECT_EQ(*ParseTime("-30m", kNow), kNow - 30 * kMin);
  EXPECT_EQ(*ParseTime("-15s", kNow), kNow - 15 * kSec);
  EXPECT_EQ(*ParseTime("-7d", kNow), kNow - 7 * kDay);
  EXPECT_EQ(*ParseTime("-500ms", kNow), kNow - 500'000'000);
  EXPECT_EQ(*ParseTime("-1h30m", kNow), kNow - kHour - 30 * kMin);
  EXPECT_EQ(*ParseTime("-1d2h3m4s5ms6us7ns", kNow),
            kNow - (kDay + 2 * kHour + 3 * kMin + 4 * kSec + 5'000'000 + 6'000 + 7));
  EXPECT_EQ(*ParseTime("+10m", kNow), kNow + 10 * kMin);
  EXPECT_EQ(*ParseTime("now-1h", kNow), kNow - kHour);
  EXPECT_EQ(*ParseTime("now+5m", kNow), kNow + 5 * kMin);
  EXPECT_EQ(*ParseTime("-1.5h", kNow), kNow - 90 * kMin);
}

TEST(ParseTimeTest, Errors) {
  for (const char* bad :
       {"", "-", "-1", "-h", "-1x", "-1h-", "-1.h", "nowish", "now-", "now-5", "1h", "--1h"}) {
    absl::StatusOr<int64_t> t = ParseTime(bad, kNow);
    EXPECT_FALSE(t.ok()) << bad;
  }
  EXPECT_EQ(ParseTime("-99999999d", kNow).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTime("+106000d", kNow).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(*ParseDuration("1ns"), 1);
  EXPECT_EQ(*ParseDuration("1us"), 1'000);
  EXPECT_EQ(*ParseDuration("500ms"), 500'000'000);
  EXPECT_EQ(*ParseDuration("15s"), 15 * kSec);
  EXPECT_EQ(*ParseDuration("1m"), kMin);
  EXPECT_EQ(*ParseDuration("1h"), kHour);
  EXPECT_EQ(*ParseDuration("1d"), kDay);
  EXPECT_EQ(*ParseDuration("1h30m"), kHour + 30 * kMin);
  EXPECT_EQ(*ParseDuration("90s"), 90 * kSec);
}

TEST(ParseDurationTest, Fractions) {
  EXPECT_EQ(*ParseDuration("1.5h"), 90 * kMin);
  EXPECT_EQ(*ParseDuration("0.5s"), 500'000'000);
  EXPECT_EQ(*ParseDuration("1.25m30s"), 105 * kSec);
  EXPECT_EQ(*ParseDuration("0.000000001s"), 1);
  EXPECT_EQ(*ParseDuration("2.0d"), 2 * kDay);
  absl::StatusOr<int64_t> fine = ParseDuration("1.5ns");
  EXPECT_EQ(fine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fine.status().message().find("finer than 1ns"), absl::string_view::npos)
      << fine.status();
  for (const char* bad : {"1.h", ".5h", "1..5h", "1.5", "0.0000000001s"}) {
    EXPECT_EQ(ParseDuration(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseDurationTest, Errors) {
  for (const char* bad : {"", "0s", "0", "10", "-1m", "+1m", "1x", "m", "1h 30m", "1H",
                          "99999999999999999999s", "200000d"}) {
    absl::StatusOr<int64_t> d = ParseDuration(bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseDuration("5x").status().message().find("unknown unit 'x'"),
            absl::string_view::npos);
  EXPECT_NE(ParseDuration("5").status().message().find("missing unit"), absl::string_view::npos);
}

TEST(FormatRfc3339Test, TrimsFraction) {
  EXPECT_EQ(FormatRfc3339(kT0), "2026-11-23T10:00:00Z");
  EXPECT_EQ(FormatRfc3339(kT0 + 500'000'000), "2026-11-23T10:00:00.5Z");
  EXPECT_EQ(FormatRfc3339(kT0 + 1), "2026-11-23T10:00:00.000000001Z");
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999999999Z");
}

TEST(FormatRfc3339Test, RoundTrips) {
  for (int64_t t : {kT0, kT0 + 1, kT0 + 123456789, int64_t{-1}, INT64_MAX, INT64_MIN}) {
    EXPECT_EQ(*ParseTimestamp(FormatRfc3339(t)), t) << t;
  }
}

TEST(FormatTimeTest, FixedDigitsZonesAndUnits) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_EQ(FormatTime(kT0, TimeFormat::kRfc3339, utc), "2026-11-23T10:00:00.000000000Z");
  EXPECT_EQ(FormatTime(kT0 + 500'000'000, TimeFormat::kRfc3339, utc),
            "2026-11-23T10:00:00.500000000Z");
  EXPECT_EQ(FormatTime(-1, TimeFormat::kRfc3339, utc), "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(FormatTime(kT0 + 1, TimeFormat::kNanos, utc), "1795428000000000001");
  EXPECT_EQ(FormatTime(kT0 + 1'999'999, TimeFormat::kMillis, utc), "1795428000001");
  EXPECT_EQ(FormatTime(-1, TimeFormat::kMillis, utc), "-1");  // floor, not toward zero
  absl::StatusOr<absl::TimeZone> berlin = LoadZone("Europe/Berlin");
  ASSERT_TRUE(berlin.ok()) << berlin.status();
  EXPECT_EQ(FormatTime(kT0, TimeFormat::kRfc3339, *berlin), "2026-11-23T11:00:00.000000000+01:00");
  // Summer time: +02:00.
  EXPECT_EQ(FormatTime(*ParseTimestamp("2026-07-01T10:00:00Z"), TimeFormat::kRfc3339, *berlin),
            "2026-07-01T12:00:00.000000000+02:00");
  for (int64_t t : {kT0, kT0 + 123456789, int64_t{-1}, INT64_MAX, INT64_MIN}) {
    EXPECT_EQ(*ParseTimestamp(FormatTime(t, TimeFormat::kRfc3339, *berlin)), t) << t;
  }
  EXPECT_EQ(LoadZone("Nowhere/Bogus").status().message(), "unknown time zone 'Nowhere/Bogus'");
  EXPECT_EQ(*ParseTimeFormat("ms"), TimeFormat::kMillis);
  EXPECT_FALSE(ParseTimeFormat("us").ok());
}

}  // namespace
}  // namespace historian::client
