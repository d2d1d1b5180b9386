// The pure parts of the HTTP API: query parameters to request protos,
// output options, and the gRPC code -> HTTP status mapping.
#include "server/http/http_params.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "server/http/http_format.h"

namespace historian::server::http {
namespace {

constexpr int64_t kNow = int64_t{1767225600} * 1000000000;  // 2026-01-01T00:00:00Z
constexpr int64_t kHour = int64_t{3600} * 1000000000;

TEST(HttpParamsTest, RangeDefaultsToTheLastHourAndTakesEveryTimeForm) {
  auto r = PlotFromParams({{"tags", "a,b"}, {"tags", "c"}}, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tags_size(), 3);
  EXPECT_EQ(r->start_ns(), kNow - kHour);
  EXPECT_EQ(r->end_ns(), kNow);
  EXPECT_EQ(r->buckets(), 1000u);
  r = PlotFromParams({{"tags", "a"}, {"start", "-1d"}, {"end", "2026-01-01T01:00:00+01:00"}}, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->end_ns(), kNow);
  EXPECT_EQ(r->start_ns(), kNow - 24 * kHour);
  r = PlotFromParams({{"tags", "a"}, {"start_ns", "5"}, {"end", "1767225600000ms"}}, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->start_ns(), 5);
  EXPECT_EQ(r->end_ns(), kNow);
  // Only `end` given: the hour before it.
  r = PlotFromParams({{"tags", "a"}, {"end", "-1h"}}, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->start_ns(), kNow - 2 * kHour);
}

TEST(HttpParamsTest, AggregateMirrorsTheProtoWithCalendarWindowsByDefault) {
  auto r = AggregateFromParams({{"tags", "a"},
                                {"step", "15m"},
                                {"functions", "avg, TIME_WEIGHTED_AVG,twa,count"},
                                {"good_only", "true"},
                                {"max_gap_ns", "7"},
                                {"time_zone", "Europe/Berlin"}},
                               kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step_ns(), kHour / 4);
  ASSERT_EQ(r->functions_size(), 4);
  EXPECT_EQ(r->functions(1), v1::TIME_WEIGHTED_AVG);
  EXPECT_EQ(r->functions(2), v1::TIME_WEIGHTED_AVG);
  EXPECT_EQ(r->functions(3), v1::COUNT);
  EXPECT_TRUE(r->good_only());
  EXPECT_EQ(r->max_gap_ns(), 7);
  EXPECT_EQ(r->align(), v1::CALENDAR);
  EXPECT_EQ(r->time_zone(), "Europe/Berlin");
  r = AggregateFromParams(
      {{"tags", "a"}, {"step_unit", "month"}, {"step_count", "3"}, {"align", "START"}}, kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step_unit(), v1::MONTH);
  EXPECT_EQ(r->step_count(), 3);
  EXPECT_EQ(r->align(), v1::START);
  EXPECT_EQ(FunctionName(v1::TIME_WEIGHTED_AVG), "twa");
  EXPECT_EQ(FunctionName(v1::STDDEV), "stddev");
}

TEST(HttpParamsTest, BadParametersNameThemselves) {
  for (const Params& p : std::vector<Params>{{{"step", "fast"}},
                                             {{"step_ns", "1.5"}},
                                             {{"functions", "median"}},
                                             {{"good_only", "maybe"}},
                                             {{"align", "week"}},
                                             {{"step_unit", "year"}},
                                             {{"start", "yesterday"}}}) {
    auto r = AggregateFromParams(p, kNow);
    ASSERT_FALSE(r.ok()) << p.begin()->first;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(p.begin()->first), std::string::npos) << r.status();
  }
  EXPECT_FALSE(ReadFromParams({{"continuation_token", "!!"}}, kNow).ok());
  EXPECT_FALSE(ListTagsFromParams({{"page_size", "-1"}}).ok());
}

TEST(HttpParamsTest, TagsTakeGlobPagingAndAttributes) {
  auto r = ListTagsFromParams({{"glob", "us.*"},
                               {"page_size", "10"},
                               {"page_token", "us.b"},
                               {"attr", "asset=line3/press2"},
                               {"attr", "kind=a=b"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->glob(), "us.*");
  EXPECT_EQ(r->page_size(), 10u);
  EXPECT_EQ(r->page_token(), "us.b");
  EXPECT_EQ(r->attributes().at("asset"), "line3/press2");
  EXPECT_EQ(r->attributes().at("kind"), "a=b");
  EXPECT_FALSE(ListTagsFromParams({{"attr", "novalue"}}).ok());
}

TEST(HttpParamsTest, ReadLimitDefaultsToTheHttpCapAndTokensAreBase64Url) {
  auto r = ReadFromParams({{"tags", "a"}}, kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->limit(), kDefaultHttpReadLimit);
  r = ReadFromParams(
      {{"tags", "a"}, {"limit", "7"}, {"continuation_token", "AQID"}, {"include_bounds", "1"}},
      kNow);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->limit(), 7u);
  EXPECT_EQ(r->continuation_token(), std::string("\x01\x02\x03"));
  EXPECT_TRUE(r->include_bounds());
}

TEST(HttpParamsTest, OutputFromFormatTimeFormatAndAccept) {
  auto o = ParseOutput({}, "");
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->csv);
  EXPECT_FALSE(o->epoch_ms);
  EXPECT_TRUE(ParseOutput({}, "text/csv, */*")->csv);
  EXPECT_FALSE(ParseOutput({{"format", "json"}}, "text/csv")->csv);  // the parameter wins
  EXPECT_TRUE(ParseOutput({{"format", "csv"}}, "")->csv);
  EXPECT_TRUE(ParseOutput({{"time_format", "epoch_ms"}}, "")->epoch_ms);
  EXPECT_FALSE(ParseOutput({{"format", "xml"}}, "").ok());
  EXPECT_FALSE(ParseOutput({{"time_format", "ns"}}, "").ok());
}

TEST(HttpFormatTest, StatusMapping) {
  using C = absl::StatusCode;
  const std::vector<std::pair<C, int>> table = {{C::kOk, 200},
                                                {C::kInvalidArgument, 400},
                                                {C::kFailedPrecondition, 400},
                                                {C::kOutOfRange, 400},
                                                {C::kUnauthenticated, 401},
                                                {C::kPermissionDenied, 403},
                                                {C::kNotFound, 404},
                                                {C::kAlreadyExists, 409},
                                                {C::kAborted, 409},
                                                {C::kResourceExhausted, 429},
                                                {C::kCancelled, 499},
                                                {C::kUnimplemented, 501},
                                                {C::kUnavailable, 503},
                                                {C::kDeadlineExceeded, 504},
                                                {C::kInternal, 500},
                                                {C::kDataLoss, 500},
                                                {C::kUnknown, 500}};
  for (const auto& [code, status] : table) EXPECT_EQ(HttpStatusFor(code), status) << code;
  Body b = RenderError(absl::ResourceExhaustedError("too much"));
  EXPECT_EQ(b.content_type, "application/json");
  auto j = nlohmann::json::parse(b.text);
  EXPECT_EQ(j["code"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(j["message"], "too much");
}

TEST(HttpFormatTest, NonFiniteValuesAreNullAndEpochMsRoundsDown) {
  v1::PlotResponse r;
  auto* s = r.add_series();
  s->set_tag("a");
  auto* x = s->add_samples();
  x->set_timestamp_ns(-1);
  x->mutable_value()->set_double_value(std::numeric_limits<double>::quiet_NaN());
  auto j = nlohmann::json::parse(RenderPlot(r, {false, true}).text);
  EXPECT_TRUE(j["series"][0]["samples"][0]["value"].is_null());
  EXPECT_EQ(j["series"][0]["samples"][0]["time"], -1);
  j = nlohmann::json::parse(RenderPlot(r, {false, false}).text);
  EXPECT_EQ(j["series"][0]["samples"][0]["time"], "1969-12-31T23:59:59.999999999Z");
  EXPECT_EQ(RenderPlot(r, {true, false}).text,
            "tag,time,value,quality\na,1969-12-31T23:59:59.999999999Z,nan,0\n");
}

}  // namespace
}  // namespace historian::server::http
