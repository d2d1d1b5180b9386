// Tests for client/cli/output.h: the table, csv and json renderings, and that
// csv output is exactly what import-csv reads back.
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "client/cli/output.h"
#include "client/csv.h"
#include "client/value_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

// 2026-11-23T10:00:00.500000000Z
constexpr int64_t kT = 1795428000'500000000;

v1::Sample MakeSample(int64_t ts, uint32_t quality = 0) {
  v1::Sample s;
  s.set_timestamp_ns(ts);
  s.set_quality(quality);
  return s;
}

TEST(OutputFormatTest, ParseAndDefault) {
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_FALSE(ParseOutputFormat("xml").ok());
  EXPECT_EQ(DefaultOutputFormat(true), OutputFormat::kTable);
  EXPECT_EQ(DefaultOutputFormat(false), OutputFormat::kCsv);
}

TEST(FormatValueTest, PerFormat) {
  v1::Value d, i, b, s, unset;
  d.set_double_value(1.0);
  i.set_int64_value(-3);
  b.set_bool_value(true);
  s.set_string_value("a \"q\",\n");
  EXPECT_EQ(FormatValue(d, OutputFormat::kTable), "1.0");
  EXPECT_EQ(FormatValue(d, OutputFormat::kCsv), "1.0");
  EXPECT_EQ(FormatValue(d, OutputFormat::kJson), "1.0");
  EXPECT_EQ(FormatValue(i, OutputFormat::kCsv), "-3");
  EXPECT_EQ(FormatValue(b, OutputFormat::kJson), "true");
  EXPECT_EQ(FormatValue(s, OutputFormat::kTable), "a \"q\",\n");
  EXPECT_EQ(FormatValue(s, OutputFormat::kCsv), "\"a \"\"q\"\",\n\"");
  EXPECT_EQ(FormatValue(s, OutputFormat::kJson), "\"a \\\"q\\\",\\n\"");
  EXPECT_EQ(FormatValue(unset, OutputFormat::kJson), "null");
  d.set_double_value(std::nan(""));
  EXPECT_EQ(FormatValue(d, OutputFormat::kJson), "\"NaN\"");
  EXPECT_EQ(FormatValue(d, OutputFormat::kCsv), "nan");
  d.set_double_value(-std::numeric_limits<double>::infinity());
  EXPECT_EQ(FormatValue(d, OutputFormat::kJson), "\"-Infinity\"");
}

TEST(FormatQualityTest, PerFormat) {
  EXPECT_EQ(FormatQuality(0, OutputFormat::kTable), "Good");
  EXPECT_EQ(FormatQuality(0x80000000u, OutputFormat::kTable), "0x80000000");
  EXPECT_EQ(FormatQuality(0x80000000u, OutputFormat::kCsv), "2147483648");
}

TEST(JsonStringTest, Escapes) { EXPECT_EQ(JsonString("a\\b\t\x01é"), "\"a\\\\b\\t\\u0001é\""); }

TEST(SampleWriterTest, Table) {
  std::ostringstream out;
  SampleWriter w(&out, OutputFormat::kTable, 5);
  v1::Sample s = MakeSample(kT);
  s.mutable_value()->set_double_value(21.4);
  w.Write("a.b", s);
  w.WriteMissing("c");
  EXPECT_EQ(out.str(),
            "TAG    TIME                            QUALITY     VALUE\n"
            "a.b    2026-11-23T10:00:00.500000000Z  Good        21.4\n"
            "c      -                               -           -\n");
}

TEST(SampleWriterTest, CsvIsTheImportFormat) {
  std::ostringstream out;
  SampleWriter w(&out, OutputFormat::kCsv, 0);
  v1::Sample s = MakeSample(kT, 192);
  s.mutable_value()->set_string_value("42");
  w.Write("x,y", s);
  s.mutable_value()->set_double_value(3.0);
  w.Write("t", s);
  w.WriteMissing("m");
  EXPECT_EQ(out.str(),
            "tag,time,value,quality\n"
            "\"x,y\",2026-11-23T10:00:00.500000000Z,\"42\",192\n"
            "t,2026-11-23T10:00:00.500000000Z,3.0,192\n"
            "m,,,\n");
}

TEST(SampleWriterTest, JsonLines) {
  std::ostringstream out;
  SampleWriter w(&out, OutputFormat::kJson, 0);
  v1::Sample s = MakeSample(kT);
  s.mutable_value()->set_int64_value(7);
  w.Write("t", s);
  w.WriteMissing("m");
  EXPECT_EQ(
      out.str(),
      "{\"tag\":\"t\",\"time\":\"2026-11-23T10:00:00.500000000Z\",\"time_ns\":1795428000500000000,"
      "\"value\":7,\"quality\":0}\n"
      "{\"tag\":\"m\",\"time\":null,\"time_ns\":null,\"value\":null,\"quality\":null}\n");
}

TEST(SampleWriterTest, CsvRoundTripsThroughImportReader) {
  std::vector<v1::Value> values(9);
  values[0].set_double_value(0.1 + 0.2);
  values[1].set_double_value(1.0);
  values[2].set_double_value(-0.0);
  values[3].set_double_value(1e300);
  values[4].set_int64_value(std::numeric_limits<int64_t>::min());
  values[5].set_bool_value(false);
  values[6].set_string_value("true");
  values[7].set_string_value("line\r\nbreak, \"quoted\"");
  values[8].set_string_value("");
  std::ostringstream out;
  SampleWriter w(&out, OutputFormat::kCsv, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    v1::Sample s = MakeSample(-static_cast<int64_t>(i), static_cast<uint32_t>(i));
    *s.mutable_value() = values[i];
    w.Write("tag/" + std::to_string(i), s);
  }
  std::istringstream in(out.str());
  client::ImportReader reader(&in);
  ASSERT_TRUE(reader.ReadHeader().ok());
  client::ImportRow row;
  for (size_t i = 0; i < values.size(); ++i) {
    absl::StatusOr<bool> more = reader.Next(&row);
    ASSERT_TRUE(more.ok()) << more.status();
    ASSERT_TRUE(*more);
    EXPECT_EQ(row.tag, "tag/" + std::to_string(i));
    EXPECT_EQ(row.timestamp_ns, -static_cast<int64_t>(i));
    EXPECT_EQ(row.quality, i);
    // Integer text reads as a double; the tag's type (int64 here) makes it exact again.
    absl::StatusOr<v1::Value> typed =
        client::CoerceValue(row.value, row.value_text, client::TypeOf(values[i]));
    ASSERT_TRUE(typed.ok()) << typed.status();
    EXPECT_EQ(typed->SerializeAsString(), values[i].SerializeAsString()) << i;
  }
  EXPECT_FALSE(*reader.Next(&row));
}

TEST(AggregateWriterTest, AllFormats) {
  v1::AggregateWindow w;
  w.set_start_ns(kT);
  w.set_count(3);
  w.add_values(2.5);
  w.add_values(std::nan(""));
  std::ostringstream table, csv, json;
  AggregateWriter(&table, OutputFormat::kTable, {"avg", "max"}, 1).Write("t", w);
  AggregateWriter(&csv, OutputFormat::kCsv, {"avg", "max"}, 1).Write("t", w);
  AggregateWriter(&json, OutputFormat::kJson, {"avg", "max"}, 1).Write("t", w);
  EXPECT_THAT(table.str(), ::testing::StartsWith("TAG  START"));
  EXPECT_THAT(table.str(), ::testing::HasSubstr("2026-11-23T10:00:00.500000000Z"));
  EXPECT_EQ(csv.str(), "tag,start,count,avg,max\nt,2026-11-23T10:00:00.500000000Z,3,2.5,\n");
  EXPECT_EQ(json.str(),
            "{\"tag\":\"t\",\"start\":\"2026-11-23T10:00:00.500000000Z\",\"start_ns\":"
            "1795428000500000000,"
            "\"count\":3,\"avg\":2.5,\"max\":null}\n");
}

TEST(TagWriterTest, CsvAndJson) {
  v1::Tag tag;
  tag.set_name("line3.temp");
  tag.set_value_type(v1::VALUE_TYPE_DOUBLE);
  tag.set_unit("degC");
  tag.set_description("oil, hot");
  (*tag.mutable_attributes())["plc"] = "10.0.0.7";
  (*tag.mutable_attributes())["asset"] = "press2";
  std::ostringstream csv, json;
  TagWriter(&csv, OutputFormat::kCsv).Write(tag);
  TagWriter(&json, OutputFormat::kJson).Write(tag);
  EXPECT_EQ(csv.str(),
            "name,type,unit,description,retention_ns,deadband,origin_site,attributes,"
            "eng_low,eng_high,stale_after_ns\n"
            "line3.temp,double,degC,\"oil, hot\",0,0.0,,asset=press2;plc=10.0.0.7,,,0\n");
  EXPECT_EQ(
      json.str(),
      "{\"name\":\"line3.temp\",\"type\":\"double\",\"unit\":\"degC\",\"description\":\"oil, "
      "hot\",\"retention_ns\":0,\"deadband\":0.0,\"origin_site\":\"\",\"id\":0,\"created_ns\":0,"
      "\"eng_low\":null,\"eng_high\":null,\"stale_after_ns\":0,"
      "\"attributes\":{\"asset\":\"press2\",\"plc\":\"10.0.0.7\"}}\n");
}

// The instrument range and staleness: set ends shown, unset ones empty/null/-.
TEST(TagWriterTest, RangeAndStaleAfter) {
  v1::Tag tag;
  tag.set_name("t");
  tag.set_value_type(v1::VALUE_TYPE_DOUBLE);
  tag.set_eng_low(-10);
  tag.set_stale_after_ns(300000000000);
  std::ostringstream table, csv, json;
  TagWriter(&table, OutputFormat::kTable).Write(tag);
  TagWriter(&csv, OutputFormat::kCsv).Write(tag);
  TagWriter(&json, OutputFormat::kJson).Write(tag);
  EXPECT_THAT(table.str(), ::testing::HasSubstr("-10.0..-"));
  EXPECT_THAT(table.str(), ::testing::HasSubstr("300.0s"));
  EXPECT_THAT(csv.str(), ::testing::EndsWith(",-10.0,,300000000000\n"));
  EXPECT_THAT(
      json.str(),
      ::testing::HasSubstr("\"eng_low\":-10.0,\"eng_high\":null,\"stale_after_ns\":300000000000"));
}

TEST(FormatAckTest, AllFormats) {
  v1::WriteAck ack;
  ack.set_batch_sequence(4);
  ack.set_accepted_count(2);
  v1::RejectedSample* r = ack.add_rejected();
  r->set_series_index(0);
  r->set_sample_index(1);
  r->set_code(3);
  r->set_reason("value type mismatch");
  EXPECT_EQ(FormatAck(ack, OutputFormat::kTable),
            "accepted 2, rejected 1\n"
            "rejected series 0 sample 1: INVALID_ARGUMENT: value type mismatch\n");
  EXPECT_EQ(FormatAck(ack, OutputFormat::kCsv),
            "batch_sequence,accepted,rejected,duplicate\n4,2,1,false\n");
  EXPECT_EQ(FormatAck(ack, OutputFormat::kJson),
            "{\"batch_sequence\":4,\"accepted\":2,\"duplicate\":false,\"rejected\":[{\"series_"
            "index\":0,\"sample_index\":1,\"code\":3,\"reason\":\"value type mismatch\"}]}\n");
}

}  // namespace
}  // namespace historian::cli
