// The client's columns builder: round trips through ColumnsToSamples, the
// fall back to per-sample form on mixed kinds, and quality shortening.
#include "client/sample_columns.h"

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace historian::client {
namespace {

v1::Sample MakeSample(int64_t ts, double v, uint32_t q = 0) {
  v1::Sample s;
  s.set_timestamp_ns(ts);
  s.mutable_value()->set_double_value(v);
  s.set_quality(q);
  return s;
}

std::vector<v1::Sample> Unpack(const v1::TagSamples& series) {
  google::protobuf::RepeatedPtrField<v1::Sample> out;
  if (series.samples_size() > 0) return {series.samples().begin(), series.samples().end()};
  ColumnsToSamples(series.columns(), &out);
  return {out.begin(), out.end()};
}

TEST(SampleColumnsTest, RandomDoublesRoundTripThroughColumns) {
  std::mt19937_64 rng(7);
  v1::TagSamples series;
  std::vector<v1::Sample> want;
  int64_t last = 0;
  const int64_t extremes[] = {std::numeric_limits<int64_t>::min(), -1, 0,
                              std::numeric_limits<int64_t>::max() - 1};
  for (int i = 0; i < 1000; ++i) {
    int64_t ts = i % 97 == 0 ? extremes[(i / 97) % 4] : static_cast<int64_t>(rng());
    double v = std::bit_cast<double>(rng());  // NaN payloads and denormals too
    v1::Sample s = MakeSample(ts, v, i % 3 == 0 ? 0x40000000u : 0);
    want.push_back(s);
    AppendSample(s, &last, &series);
  }
  FinishSeries(&series);
  ASSERT_EQ(series.samples_size(), 0);
  ASSERT_EQ(series.columns().timestamp_deltas_ns_size(), 1000);
  std::vector<v1::Sample> got = Unpack(series);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].timestamp_ns(), want[i].timestamp_ns()) << i;
    EXPECT_EQ(std::bit_cast<uint64_t>(got[i].value().double_value()),
              std::bit_cast<uint64_t>(want[i].value().double_value()))
        << i;
    EXPECT_EQ(got[i].quality(), want[i].quality()) << i;
  }
}

TEST(SampleColumnsTest, MixedKindsFallBackToSamplesKeepingOrder) {
  v1::TagSamples series;
  int64_t last = 0;
  AppendSample(MakeSample(1, 1.0), &last, &series);
  AppendSample(MakeSample(2, 2.0, 5), &last, &series);
  v1::Sample text;
  text.set_timestamp_ns(3);
  text.mutable_value()->set_string_value("x");
  AppendSample(text, &last, &series);
  v1::Sample unset;
  unset.set_timestamp_ns(4);
  AppendSample(unset, &last, &series);
  FinishSeries(&series);
  EXPECT_FALSE(series.has_columns());
  ASSERT_EQ(series.samples_size(), 4);
  EXPECT_EQ(series.samples(1).timestamp_ns(), 2);
  EXPECT_EQ(series.samples(1).quality(), 5u);
  EXPECT_EQ(series.samples(2).value().string_value(), "x");
  EXPECT_EQ(series.samples(3).value().kind_case(), v1::Value::KIND_NOT_SET);
}

TEST(SampleColumnsTest, EqualQualitiesShrinkToOneOrNone) {
  v1::TagSamples good, uncertain, mixed;
  int64_t a = 0, b = 0, c = 0;
  for (int i = 0; i < 5; ++i) {
    AppendSample(MakeSample(i, i), &a, &good);
    AppendSample(MakeSample(i, i, 0x40000000u), &b, &uncertain);
    AppendSample(MakeSample(i, i, i == 4 ? 1u : 0u), &c, &mixed);
  }
  FinishSeries(&good);
  FinishSeries(&uncertain);
  FinishSeries(&mixed);
  EXPECT_EQ(good.columns().qualities_size(), 0);
  ASSERT_EQ(uncertain.columns().qualities_size(), 1);
  EXPECT_EQ(Unpack(uncertain)[3].quality(), 0x40000000u);
  EXPECT_EQ(mixed.columns().qualities_size(), 5);
  EXPECT_EQ(Unpack(mixed)[4].quality(), 1u);
}

}  // namespace
}  // namespace historian::client
