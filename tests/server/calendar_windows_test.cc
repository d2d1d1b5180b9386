// Aggregate with align CALENDAR through a real historiand: local days across
// DST changes, months, ISO weeks, hour windows against START, a zone 30
// minutes off UTC (rollups at the hour edges only) against a raw
// computation, the columns form and the time_zone errors.
#include <map>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "client/aggregate_windows.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

namespace v1 = ::historian::v1;
constexpr int64_t kSecond = 1000000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

absl::TimeZone Zone(const char* name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name << ": is tzdata installed?";
  return tz;
}

int64_t Local(absl::CivilSecond cs, absl::TimeZone tz) {
  return absl::ToUnixNanos(absl::FromCivil(cs, tz));
}

class CalendarWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Small chunks; Restart() seals the rest, so rollups serve whole hours.
    node_ = std::make_unique<testing::NodeProcess>(
        dir_.Sub("node"), std::vector<std::string>{"--chunk_max_samples=256"});
    ASSERT_TRUE(node_->Start());
    auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(channel);
    query_ = v1::Query::NewStub(channel);
  }

  // Samples of `tag` every `spacing` over [from, to); the value is a small
  // integer of the timestamp, so sums are exact in any order.
  void Write(const std::string& tag, int64_t from, int64_t to, int64_t spacing) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    auto flush = [&] {
      grpc::ClientContext ctx;
      v1::WriteAck ack;
      ASSERT_TRUE(ingest_->WriteBatch(&ctx, req, &ack).ok());
      ASSERT_EQ(ack.accepted_count(), static_cast<uint64_t>(s->samples_size()));
      s->clear_samples();
    };
    for (int64_t t = from; t < to; t += spacing) {
      auto* sample = s->add_samples();
      sample->set_timestamp_ns(t);
      const double v = static_cast<double>((t / spacing) % 97);
      sample->mutable_value()->set_double_value(v);
      model_[tag][t] = v;
      if (s->samples_size() == 20000) flush();
    }
    if (s->samples_size() > 0) flush();
  }

  // A graceful stop seals every head and writes its rollups.
  void Restart() {
    ASSERT_EQ(node_->Stop(), 0);
    ASSERT_TRUE(node_->Start());
    auto channel = grpc::CreateChannel(node_->address(), grpc::InsecureChannelCredentials());
    ingest_ = v1::Ingest::NewStub(channel);
    query_ = v1::Query::NewStub(channel);
  }

  v1::AggregateRequest Request(const std::string& tag, int64_t start, int64_t end) {
    v1::AggregateRequest req;
    req.add_tags(tag);
    req.set_start_ns(start);
    req.set_end_ns(end);
    req.set_align(v1::CALENDAR);
    for (auto f : {v1::COUNT, v1::SUM, v1::MIN, v1::MAX, v1::FIRST, v1::LAST}) {
      req.add_functions(f);
    }
    return req;
  }

  grpc::Status Aggregate(const v1::AggregateRequest& req, v1::AggregateResponse* resp) {
    grpc::ClientContext ctx;
    return query_->Aggregate(&ctx, req, resp);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::NodeProcess> node_;
  std::unique_ptr<v1::Ingest::Stub> ingest_;
  std::unique_ptr<v1::Query::Stub> query_;
  std::map<std::string, std::map<int64_t, double>> model_;
};

TEST_F(CalendarWindowsTest, ChicagoDaysAcrossDstHave23And25Hours) {
  const absl::TimeZone tz = Zone("America/Chicago");
  const std::pair<absl::CivilDay, int> days[] = {{absl::CivilDay(2026, 3, 8), 1380},
                                                 {absl::CivilDay(2026, 11, 1), 1500}};
  for (auto [day, samples] : days) Write("chi", Local(day - 1, tz), Local(day + 2, tz), kMinute);
  Restart();  // whole hours from rollups
  for (auto [day, samples] : days) {
    const int64_t start = Local(day - 1, tz), end = Local(day + 2, tz);
    v1::AggregateRequest req = Request("chi", start, end);
    req.set_step_ns(kDay);
    req.set_time_zone("America/Chicago");
    v1::AggregateResponse resp;
    grpc::Status s = Aggregate(req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const auto& w = resp.series(0).windows();
    ASSERT_EQ(w.size(), 3);
    EXPECT_EQ(w[0].count(), 1440u);
    EXPECT_EQ(w[1].start_ns(), Local(day, tz));
    EXPECT_EQ(w[1].count(), static_cast<uint64_t>(samples)) << day;
    EXPECT_EQ(w[2].start_ns(), Local(day + 1, tz));
    EXPECT_EQ(w[2].count(), 1440u);
  }
}

TEST_F(CalendarWindowsTest, MonthsAndWeeksInUtc) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const int64_t start = Local(absl::CivilDay(2028, 1, 1), utc);
  const int64_t end = Local(absl::CivilDay(2029, 1, 1), utc);
  Write("year", start, end, kHour);
  v1::AggregateRequest req = Request("year", start, end);
  req.set_step_unit(v1::MONTH);
  v1::AggregateResponse resp;
  grpc::Status s = Aggregate(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const auto& months = resp.series(0).windows();
  ASSERT_EQ(months.size(), 12);
  const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int m = 0; m < 12; ++m) {
    EXPECT_EQ(months[m].start_ns(), Local(absl::CivilDay(2028, m + 1, 1), utc));
    EXPECT_EQ(months[m].count(), static_cast<uint64_t>(days[m] * 24)) << "month " << m + 1;
  }

  // Weeks from Saturday 2028-01-01: a clipped first week, then Mondays.
  req.set_step_unit(v1::WEEK);
  req.set_end_ns(Local(absl::CivilDay(2028, 3, 1), utc));
  resp.Clear();
  s = Aggregate(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const auto& weeks = resp.series(0).windows();
  ASSERT_EQ(weeks.size(), 10);
  EXPECT_EQ(weeks[0].start_ns(), start);
  EXPECT_EQ(weeks[0].count(), 48u);  // Saturday and Sunday
  for (int k = 1; k < weeks.size(); ++k) {
    const absl::CivilSecond cs = absl::ToCivilSecond(absl::FromUnixNanos(weeks[k].start_ns()), utc);
    EXPECT_EQ(absl::GetWeekday(absl::CivilDay(cs)), absl::Weekday::monday) << cs;
    EXPECT_EQ(cs.hour(), 0);
    if (k + 1 < weeks.size()) {
      EXPECT_EQ(weeks[k].count(), 7u * 24) << k;
    }
  }
  EXPECT_EQ(weeks[weeks.size() - 1].count(), 2u * 24);  // Monday and Tuesday 2028-02-28/29
}

TEST_F(CalendarWindowsTest, HourStepMatchesStartAlignedToTheHour) {
  const int64_t h0 = Local(absl::CivilSecond(2026, 6, 1, 0, 0, 0), absl::UTCTimeZone());
  Write("hour", h0, h0 + 10 * kHour, 7 * kSecond);
  v1::AggregateRequest cal = Request("hour", h0, h0 + 10 * kHour - 5 * kMinute);
  cal.set_step_ns(kHour);
  // Every function that looks across window edges too.
  for (auto f : {v1::AVG, v1::STDDEV, v1::TIME_WEIGHTED_AVG, v1::DELTA, v1::RATE}) {
    cal.add_functions(f);
  }
  v1::AggregateRequest start = cal;
  start.set_align(v1::START);
  v1::AggregateResponse a, b;
  ASSERT_TRUE(Aggregate(cal, &a).ok());
  ASSERT_TRUE(Aggregate(start, &b).ok());
  EXPECT_EQ(a.DebugString(), b.DebugString());
  ASSERT_EQ(a.series(0).windows_size(), 10);

  // Started 17 minutes into the hour: a clipped first window, then the
  // same windows as START from the next hour.
  cal.set_start_ns(h0 + 17 * kMinute);
  start.set_start_ns(h0 + kHour);
  a.Clear();
  b.Clear();
  ASSERT_TRUE(Aggregate(cal, &a).ok());
  ASSERT_TRUE(Aggregate(start, &b).ok());
  ASSERT_EQ(a.series(0).windows_size(), 10);
  EXPECT_EQ(a.series(0).windows(0).start_ns(), h0 + 17 * kMinute);
  EXPECT_EQ(a.series(0).windows(0).count(), 369u);  // k * 7 s in [1020 s, 3600 s): k = 146..514
  for (int k = 1; k < 10; ++k) {
    EXPECT_EQ(a.series(0).windows(k).DebugString(), b.series(0).windows(k - 1).DebugString());
  }
}

TEST_F(CalendarWindowsTest, KolkataDaysAgreeWithRawSamples) {
  const absl::TimeZone tz = Zone("Asia/Kolkata");
  // From 05:10 local on 2026-01-01 to 20:00 on 2026-01-05: both ends and
  // every midnight (18:30 UTC) cut a rollup hour.
  const int64_t start = Local(absl::CivilSecond(2026, 1, 1, 5, 10, 0), tz);
  const int64_t end = Local(absl::CivilSecond(2026, 1, 5, 20, 0, 0), tz);
  Write("kol", start - kDay, end + kDay, kMinute);
  Restart();  // seals every head and writes the hour rollups
  v1::AggregateRequest req = Request("kol", start, end);
  req.set_step_unit(v1::DAY);
  req.set_time_zone("Asia/Kolkata");
  v1::AggregateResponse resp;
  grpc::Status s = Aggregate(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // good_only reads raw samples only (no rollups); every sample is Good.
  v1::AggregateRequest raw_req = req;
  raw_req.set_good_only(true);
  v1::AggregateResponse raw;
  ASSERT_TRUE(Aggregate(raw_req, &raw).ok());
  EXPECT_EQ(resp.DebugString(), raw.DebugString());

  const auto& w = resp.series(0).windows();
  ASSERT_EQ(w.size(), 5);
  const std::map<int64_t, double>& m = model_["kol"];
  for (int k = 0; k < w.size(); ++k) {
    const int64_t from = w[k].start_ns();
    const int64_t to = k + 1 < w.size() ? w[k + 1].start_ns() : end;
    if (k > 0) {
      EXPECT_EQ(from, Local(absl::CivilDay(2026, 1, 1) + k, tz));
    }
    double sum = 0, lo = 1e9, hi = -1e9, first = 0, last = 0;
    uint64_t n = 0;
    for (auto it = m.lower_bound(from); it != m.end() && it->first < to; ++it) {
      if (n++ == 0) first = it->second;
      last = it->second;
      sum += it->second;
      lo = std::min(lo, it->second);
      hi = std::max(hi, it->second);
    }
    EXPECT_EQ(w[k].count(), n) << k;
    EXPECT_EQ(w[k].values(1), sum) << k;
    EXPECT_EQ(w[k].values(2), lo) << k;
    EXPECT_EQ(w[k].values(3), hi) << k;
    EXPECT_EQ(w[k].values(4), first) << k;
    EXPECT_EQ(w[k].values(5), last) << k;
  }
}

TEST_F(CalendarWindowsTest, ColumnsCarryWindowStarts) {
  const absl::TimeZone tz = Zone("America/Chicago");
  const int64_t start = Local(absl::CivilSecond(2026, 3, 7, 12, 0, 0), tz);
  const int64_t end = Local(absl::CivilDay(2026, 3, 10), tz);
  Write("col", start, end, 10 * kMinute);
  v1::AggregateRequest req = Request("col", start, end);
  req.set_step_ns(kDay);
  req.set_time_zone("America/Chicago");
  v1::AggregateResponse plain, cols;
  ASSERT_TRUE(Aggregate(req, &plain).ok());
  req.set_columns(true);
  ASSERT_TRUE(Aggregate(req, &cols).ok());
  ASSERT_EQ(cols.series(0).window_starts_size(), 3);
  google::protobuf::RepeatedPtrField<v1::AggregateWindow> scratch;
  auto windows = client::SeriesWindows(req, cols.series(0), &scratch);
  ASSERT_TRUE(windows.ok()) << windows.status();
  ASSERT_EQ((*windows)->size(), plain.series(0).windows_size());
  for (int k = 0; k < (*windows)->size(); ++k) {
    EXPECT_EQ((*windows)->Get(k).DebugString(), plain.series(0).windows(k).DebugString());
  }
}

TEST_F(CalendarWindowsTest, BadTimeZoneAndStepAreInvalidArgument) {
  Write("err", 0, 10 * kSecond, kSecond);
  v1::AggregateRequest req = Request("err", 0, kDay);
  req.set_step_ns(kDay);
  req.set_time_zone("Mars/Olympus_Mons");
  v1::AggregateResponse resp;
  grpc::Status s = Aggregate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("time_zone"), std::string::npos) << s.error_message();

  req.set_time_zone("");
  req.set_step_ns(36 * kHour);  // not whole days
  s = Aggregate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("step_ns"), std::string::npos) << s.error_message();

  req.set_align(v1::START);  // a zone means nothing to START windows
  req.set_time_zone("UTC");
  s = Aggregate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Calendar windows count against --max_query_cells like START ones.
  req.set_align(v1::CALENDAR);
  req.set_time_zone("");
  req.set_step_ns(kSecond);
  req.set_end_ns(900000 * kSecond);
  s = Aggregate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_message().find("--max_query_cells"), std::string::npos) << s.error_message();
}

}  // namespace
}  // namespace historian
