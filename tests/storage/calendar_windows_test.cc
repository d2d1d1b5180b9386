// CalendarWindowStarts without a node: day windows across DST changes,
// month and week windows, fixed steps at epoch multiples, clipping to the
// request range, limits and the int64 bounds.
#include "storage/query/calendar_windows.h"

#include <cstdint>
#include <limits>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace historian::query {
namespace {

constexpr int64_t kHour = int64_t{3600} * 1000000000;
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

absl::TimeZone Zone(const char* name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name << ": is tzdata installed?";
  return tz;
}

int64_t Local(absl::CivilSecond cs, absl::TimeZone tz) {
  return absl::ToUnixNanos(absl::FromCivil(cs, tz));
}

TEST(CalendarWindowsTest, ChicagoDaysAcrossDstLast23And25Hours) {
  const absl::TimeZone tz = Zone("America/Chicago");
  for (auto [day, hours] :
       {std::pair{absl::CivilDay(2026, 3, 8), 23}, std::pair{absl::CivilDay(2026, 11, 1), 25},
        std::pair{absl::CivilDay(2026, 6, 1), 24}}) {
    const int64_t start = Local(day - 1, tz), end = Local(day + 2, tz);
    auto starts = CalendarWindowStarts(start, end, {CalendarUnit::kNanos, kNanosPerDay}, tz, 100);
    ASSERT_TRUE(starts.ok()) << starts.status();
    ASSERT_EQ(starts->size(), 3u);
    EXPECT_EQ((*starts)[1], Local(day, tz));
    EXPECT_EQ((*starts)[2] - (*starts)[1], hours * kHour) << day;
  }
}

TEST(CalendarWindowsTest, MonthsOfAYearInUtc) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const int64_t start = Local(absl::CivilDay(2028, 1, 1), utc);
  const int64_t end = Local(absl::CivilDay(2029, 1, 1), utc);
  auto starts = CalendarWindowStarts(start, end, {CalendarUnit::kMonth, 1}, utc, 100);
  ASSERT_TRUE(starts.ok()) << starts.status();
  ASSERT_EQ(starts->size(), 12u);
  const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};  // 2028: leap year
  for (size_t k = 0; k < 12; ++k) {
    const int64_t to = k + 1 < 12 ? (*starts)[k + 1] : end;
    EXPECT_EQ(to - (*starts)[k], days[k] * 24 * kHour) << "month " << k + 1;
  }
  // Quarters: 3 months counted from 1970-01.
  auto quarters = CalendarWindowStarts(start, end, {CalendarUnit::kMonth, 3}, utc, 100);
  ASSERT_TRUE(quarters.ok());
  ASSERT_EQ(quarters->size(), 4u);
  EXPECT_EQ((*quarters)[1], Local(absl::CivilDay(2028, 4, 1), utc));
}

TEST(CalendarWindowsTest, WeeksStartOnMondayAndFirstIsClipped) {
  const absl::TimeZone tz = Zone("Europe/Berlin");
  // Thursday 2026-11-05 12:00 to Wednesday 2026-11-25.
  const int64_t start = Local(absl::CivilSecond(2026, 11, 5, 12, 0, 0), tz);
  const int64_t end = Local(absl::CivilDay(2026, 11, 25), tz);
  auto starts = CalendarWindowStarts(start, end, {CalendarUnit::kWeek, 1}, tz, 100);
  ASSERT_TRUE(starts.ok()) << starts.status();
  ASSERT_EQ(starts->size(), 4u);
  EXPECT_EQ((*starts)[0], start);  // the week holding start, clipped to it
  for (size_t k = 1; k < starts->size(); ++k) {
    const absl::CivilSecond cs = absl::ToCivilSecond(absl::FromUnixNanos((*starts)[k]), tz);
    EXPECT_EQ(absl::GetWeekday(absl::CivilDay(cs)), absl::Weekday::monday);
    EXPECT_EQ(cs, absl::CivilSecond(absl::CivilDay(cs)));  // midnight
  }
}

TEST(CalendarWindowsTest, SubDayStepsFallOnEpochMultiples) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  auto starts =
      CalendarWindowStarts(10 * kHour + 5, 13 * kHour, {CalendarUnit::kNanos, kHour}, utc, 100);
  ASSERT_TRUE(starts.ok());
  EXPECT_EQ(*starts, (std::vector<int64_t>{10 * kHour + 5, 11 * kHour, 12 * kHour}));
  // Before the epoch too.
  auto before = CalendarWindowStarts(-kHour - 1, 0, {CalendarUnit::kNanos, kHour}, utc, 100);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, (std::vector<int64_t>{-kHour - 1, -kHour}));
}

TEST(CalendarWindowsTest, KolkataDaysStartAtLocalMidnight) {
  const absl::TimeZone tz = Zone("Asia/Kolkata");
  const int64_t start = Local(absl::CivilDay(2026, 1, 1), tz);
  auto starts = CalendarWindowStarts(start, start + 72 * kHour, {CalendarUnit::kDay, 1}, tz, 100);
  ASSERT_TRUE(starts.ok());
  ASSERT_EQ(starts->size(), 3u);
  EXPECT_EQ((*starts)[1] % kHour, kHour / 2);  // 18:30 UTC
}

TEST(CalendarWindowsTest, LimitsAndBounds) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  auto many = CalendarWindowStarts(kMin, kMax, {CalendarUnit::kNanos, 1}, utc, 1000000);
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(many.status().message().find("step_ns"), std::string::npos);
  auto days = CalendarWindowStarts(kMin, kMax, {CalendarUnit::kDay, 1}, utc, 1000);  // 213,504 days
  ASSERT_FALSE(days.ok());
  EXPECT_NE(days.status().message().find("step_count"), std::string::npos);
  // Refused before walking a million days.
  auto ages = CalendarWindowStarts(kMin, kMax, {CalendarUnit::kDay, 1}, utc, 100);
  ASSERT_FALSE(ages.ok());
  EXPECT_NE(ages.status().message().find("step_count"), std::string::npos);
  // The whole int64 range in few windows: exact at both ends.
  auto whole = CalendarWindowStarts(kMin, kMax, {CalendarUnit::kMonth, 12 * 1000}, utc, 10);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->front(), kMin);
  EXPECT_LT(whole->back(), kMax);
  auto fixed =
      CalendarWindowStarts(kMin, kMax, {CalendarUnit::kNanos, 50000 * kNanosPerDay}, utc, 10);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->front(), kMin);
  EXPECT_EQ(fixed->size(), 6u);  // 4.3 steps of 137 years, partial at both ends
  for (size_t k = 1; k < fixed->size(); ++k) EXPECT_LT((*fixed)[k - 1], (*fixed)[k]);
  // Hour windows at the top of the range: the last boundary below INT64_MAX.
  auto top = CalendarWindowStarts(kMax - 3 * kHour, kMax, {CalendarUnit::kNanos, kHour}, utc, 10);
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(top->size(), 4u);
  EXPECT_EQ(top->back(), kMax - kMax % kHour);
  EXPECT_FALSE(CalendarWindowStarts(5, 5, {CalendarUnit::kDay, 1}, utc, 10).ok());
  EXPECT_FALSE(CalendarWindowStarts(0, 5, {CalendarUnit::kNanos, 0}, utc, 10).ok());
  EXPECT_FALSE(CalendarWindowStarts(0, 5, {CalendarUnit::kNanos, kNanosPerDay + 1}, utc, 10).ok());
}

}  // namespace
}  // namespace historian::query
