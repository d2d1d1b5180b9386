// Tests for client/csv.h: RFC 4180 records, escaping, and the import format
// with its line-numbered errors.
#include "client/csv.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace historian::client {
namespace {

namespace v1 = historian::v1;
using ::testing::HasSubstr;

// Reads every record (or the first error) of `text` as "a|b|c" strings,
// quoted fields marked with brackets: `[a]`.
std::vector<std::string> Records(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(&in);
  std::vector<std::string> out;
  CsvRecord record;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&record);
    if (!more.ok()) {
      out.push_back(absl::StrCat("ERROR ", more.status().message()));
      continue;
    }
    if (!*more) break;
    std::string s;
    for (size_t i = 0; i < record.size(); ++i) {
      if (i) s += "|";
      s += record[i].quoted ? "[" + record[i].text + "]" : record[i].text;
    }
    out.push_back(s);
  }
  return out;
}

TEST(CsvReaderTest, PlainFields) {
  EXPECT_THAT(Records("a,b,c\n1,2,3\n"), ::testing::ElementsAre("a|b|c", "1|2|3"));
  EXPECT_THAT(Records("a,b"), ::testing::ElementsAre("a|b"));  // no final newline
  EXPECT_THAT(Records("a,,\n"), ::testing::ElementsAre("a||"));
  EXPECT_THAT(Records(""), ::testing::ElementsAre());
}

TEST(CsvReaderTest, Crlf) {
  EXPECT_THAT(Records("a,b\r\n1,2\r\n"), ::testing::ElementsAre("a|b", "1|2"));
  EXPECT_THAT(Records("\"x\"\r\n\"y\"\r\n"), ::testing::ElementsAre("[x]", "[y]"));
}

TEST(CsvReaderTest, QuotedFields) {
  EXPECT_THAT(Records("\"a,b\",c\n"), ::testing::ElementsAre("[a,b]|c"));
  EXPECT_THAT(Records("\"say \"\"hi\"\"\"\n"), ::testing::ElementsAre("[say \"hi\"]"));
  EXPECT_THAT(Records("\"\",x\n"), ::testing::ElementsAre("[]|x"));
  EXPECT_THAT(Records("\"two\nlines\",x\nnext\n"),
              ::testing::ElementsAre("[two\nlines]|x", "next"));
}

TEST(CsvReaderTest, ErrorsNameLineAndFieldAndRecover) {
  EXPECT_THAT(Records("ok\nab\"c,d\nafter\n"),
              ::testing::ElementsAre("ok", HasSubstr("line 2, field 1: quote inside an unquoted"),
                                     "after"));
  EXPECT_THAT(Records("x,\"ab\"c\nafter\n"),
              ::testing::ElementsAre(HasSubstr("line 1, field 2: unexpected text after a closing"),
                                     "after"));
  EXPECT_THAT(Records("ok\n\"never closed\nmore\n"),
              ::testing::ElementsAre("ok", HasSubstr("line 2, field 1: quoted field is never")));
}

TEST(CsvReaderTest, RecordLineCountsEmbeddedNewlines) {
  std::istringstream in("h\n\"a\nb\"\nc\n");
  CsvReader reader(&in);
  CsvRecord r;
  ASSERT_TRUE(*reader.Next(&r));
  EXPECT_EQ(reader.record_line(), 1);
  ASSERT_TRUE(*reader.Next(&r));
  EXPECT_EQ(reader.record_line(), 2);
  ASSERT_TRUE(*reader.Next(&r));
  EXPECT_EQ(reader.record_line(), 4);
}

TEST(CsvEscapeTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvEscape("plain"), "plain");
  EXPECT_EQ(CsvEscape("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvEscape("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvEscape("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvEscape(" padded"), "\" padded\"");
  EXPECT_EQ(CsvEscape("42", true), "\"42\"");
  EXPECT_EQ(CsvEscape("", true), "\"\"");
}

TEST(CsvEscapeTest, RoundTripsThroughReader) {
  for (const std::string s : {"a", "a,b", "\"", "x\r\ny", " ", "", "\"\"\""}) {
    std::istringstream in(CsvEscape(s, true) + "\n");
    CsvReader reader(&in);
    CsvRecord r;
    ASSERT_TRUE(*reader.Next(&r));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].text, s);
  }
}

// Reads an import file: rows as "line tag ts type:value quality", errors as
// "ERROR message".
std::vector<std::string> Import(const std::string& text, absl::Status* header = nullptr) {
  std::istringstream in(text);
  ImportReader reader(&in);
  std::vector<std::string> out;
  absl::Status h = reader.ReadHeader();
  if (header != nullptr) *header = h;
  if (!h.ok()) return out;
  ImportRow row;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&row);
    if (!more.ok()) {
      out.push_back(absl::StrCat("ERROR ", more.status().message()));
      continue;
    }
    if (!*more) break;
    std::string v;
    switch (row.value.kind_case()) {
      case v1::Value::kDoubleValue:
        v = absl::StrCat("d:", row.value.double_value());
        break;
      case v1::Value::kInt64Value:
        v = absl::StrCat("i:", row.value.int64_value());
        break;
      case v1::Value::kBoolValue:
        v = absl::StrCat("b:", row.value.bool_value() ? "true" : "false");
        break;
      default:
        v = absl::StrCat("s:", row.value.string_value());
    }
    out.push_back(
        absl::StrCat(row.line, " ", row.tag, " ", row.timestamp_ns, " ", v, " ", row.quality));
  }
  return out;
}

TEST(ImportReaderTest, TypesAndTimes) {
  EXPECT_THAT(
      Import("tag,time,value,quality\n"
             "a,2026-11-23T10:00:00Z,21.4,0\n"
             "b,1795428000000000001,42,192\n"
             "c,1,true,\n"
             "d,2,\"42\",0x80000000\n"
             "e,3,running,0\n"),
      ::testing::ElementsAre("2 a 1795428000000000000 d:21.4 0", "3 b 1795428000000000001 d:42 192",
                             "4 c 1 b:true 0", "5 d 2 s:42 2147483648", "6 e 3 s:running 0"));
}

TEST(ImportReaderTest, QualityOptionalColumnsAnyOrderCrlfBlankLinesSpaces) {
  EXPECT_THAT(Import("\xEF\xBB\xBFValue, Time ,TAG\r\n1.5,10,a\r\n\r\n 7 , 11 , b \r\n"),
              ::testing::ElementsAre("2 a 10 d:1.5 0", "4 b 11 d:7 0"));
}

TEST(ImportReaderTest, HeaderErrors) {
  absl::Status s;
  Import("", &s);
  EXPECT_THAT(s.message(), HasSubstr("empty file"));
  Import("tag,time\n", &s);
  EXPECT_THAT(s.message(), HasSubstr("line 1: header must name the columns tag, time and value"));
  Import("tag,time,value,unit\n", &s);
  EXPECT_THAT(s.message(), HasSubstr("unknown column 'unit'"));
  Import("tag,time,value,time\n", &s);
  EXPECT_THAT(s.message(), HasSubstr("duplicate column 'time'"));
  Import("a,2026-11-23T10:00:00Z,1\n", &s);  // data without a header
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImportReaderTest, RowErrorsNameLineAndColumnAndContinue) {
  EXPECT_THAT(
      Import("tag,time,value,quality\n"
             "a,1,1\n"                       // line 2: missing column
             "a,yesterday,1,0\n"             // line 3: bad time
             "a,2026-02-30T00:00:00Z,1,0\n"  // line 4: bad date
             "a,5,9223372036854775808,0\n"   // line 5: fine, a double
             "a,6,1e999,0\n"                 // line 6: double overflow
             "a,7,,0\n"                      // line 7: empty value
             "a,8,1,bad\n"                   // line 8: bad quality
             ",9,1,0\n"                      // line 9: empty tag
             "a,10,1,0,extra\n"              // line 10: extra column
             "a,11,\"x\"y,0\n"               // line 11: CSV syntax
             "a,12,1,0\n"),
      ::testing::ElementsAre(
          "ERROR line 2: expected 4 columns, got 3",
          HasSubstr("line 3: column time: invalid time 'yesterday'"),
          HasSubstr("line 4: column time: invalid time '2026-02-30T00:00:00Z': day out"),
          "5 a 5 d:9.22337e+18 0",
          HasSubstr("line 6: column value: number '1e999' is out of double range"),
          HasSubstr("line 7: column value: empty value"),
          HasSubstr("line 8: column quality: invalid quality 'bad'"),
          "ERROR line 9: column tag: empty tag name", "ERROR line 10: expected 4 columns, got 5",
          HasSubstr("line 11, field 3: unexpected text after a closing quote"), "12 a 12 d:1 0"));
}

TEST(ImportReaderTest, MultiLineQuotedValueKeepsLineNumbers) {
  EXPECT_THAT(
      Import("tag,time,value\na,1,\"x\ny\"\nb,2,zz\nc,bad,1\n"),
      ::testing::ElementsAre("2 a 1 s:x\ny 0", "4 b 2 s:zz 0", HasSubstr("line 5: column time")));
}

}  // namespace
}  // namespace historian::client
