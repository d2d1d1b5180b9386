// Tests for client/value_text.h: value inference, coercion, exact doubles,
// quality and type names.
#include "client/value_text.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace historian::client {
namespace {

namespace v1 = historian::v1;

v1::Value Infer(absl::string_view text, bool quoted = false) {
  absl::StatusOr<v1::Value> v = InferValue(text, quoted);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status();
  return v.ok() ? *v : v1::Value();
}

TEST(InferValueTest, Bool) {
  EXPECT_EQ(Infer("true").bool_value(), true);
  EXPECT_EQ(Infer("false").kind_case(), v1::Value::kBoolValue);
  EXPECT_EQ(Infer("TRUE").bool_value(), true);
  EXPECT_EQ(Infer("False").bool_value(), false);
}

// Integer text is a double too, so a new tag fed `180` then `180.5` is a
// double tag; int64 tags are created explicitly (see CoerceValue).
TEST(InferValueTest, IntegersAreDoubles) {
  EXPECT_EQ(Infer("180").kind_case(), v1::Value::kDoubleValue);
  EXPECT_EQ(Infer("180").double_value(), 180.0);
  EXPECT_EQ(Infer("-7").double_value(), -7.0);
  EXPECT_EQ(Infer("+7").double_value(), 7.0);
  EXPECT_EQ(Infer("0").kind_case(), v1::Value::kDoubleValue);
  EXPECT_EQ(Infer("9223372036854775808").double_value(), 9223372036854775808.0);
}

TEST(InferValueTest, Double) {
  EXPECT_EQ(Infer("21.4").double_value(), 21.4);
  EXPECT_EQ(Infer("-1e-3").double_value(), -1e-3);
  EXPECT_EQ(Infer("+2.5").double_value(), 2.5);
  EXPECT_EQ(Infer(".5").double_value(), 0.5);
  EXPECT_EQ(Infer("1e20").double_value(), 1e20);
  EXPECT_EQ(Infer("1.0").kind_case(), v1::Value::kDoubleValue);
  EXPECT_TRUE(std::isnan(Infer("nan").double_value()));
  EXPECT_EQ(Infer("inf").double_value(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(Infer("-inf").double_value(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(InferValue("1e999", false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(InferValueTest, String) {
  EXPECT_EQ(Infer("running").string_value(), "running");
  EXPECT_EQ(Infer("1.2.3").string_value(), "1.2.3");
  EXPECT_EQ(Infer("12abc").string_value(), "12abc");
  EXPECT_EQ(Infer("0x10").string_value(), "0x10");
  EXPECT_EQ(Infer("+-1").string_value(), "+-1");
  EXPECT_EQ(Infer("--1").string_value(), "--1");
  EXPECT_EQ(Infer("yes").string_value(), "yes");
}

TEST(InferValueTest, QuotedStaysString) {
  EXPECT_EQ(Infer("42", true).string_value(), "42");
  EXPECT_EQ(Infer("true", true).string_value(), "true");
  EXPECT_EQ(Infer("", true).kind_case(), v1::Value::kStringValue);
}

TEST(InferValueTest, EmptyUnquotedIsAnError) {
  EXPECT_EQ(InferValue("", false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CoerceValueTest, IntegerTextIntoInt64IsExact) {
  // 2^53 + 1 is not a double; the text is parsed again for an int64 tag.
  const char* big = "9007199254740993";
  EXPECT_EQ(CoerceValue(Infer(big), big, v1::VALUE_TYPE_INT64)->int64_value(), 9007199254740993);
  const char* min = "-9223372036854775808";
  EXPECT_EQ(CoerceValue(Infer(min), min, v1::VALUE_TYPE_INT64)->int64_value(),
            std::numeric_limits<int64_t>::min());
  absl::StatusOr<v1::Value> over =
      CoerceValue(Infer("9223372036854775808"), "9223372036854775808", v1::VALUE_TYPE_INT64);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().message().find("does not fit in int64"), absl::string_view::npos)
      << over.status();
}

TEST(CoerceValueTest, ToTagType) {
  v1::Value i;
  i.set_int64_value(42);
  EXPECT_EQ(CoerceValue(i, "42", v1::VALUE_TYPE_DOUBLE)->double_value(), 42.0);
  EXPECT_EQ(CoerceValue(i, "42", v1::VALUE_TYPE_STRING)->string_value(), "42");
  EXPECT_EQ(CoerceValue(i, "42", v1::VALUE_TYPE_INT64)->int64_value(), 42);
  EXPECT_EQ(CoerceValue(i, "42", v1::VALUE_TYPE_UNSPECIFIED)->int64_value(), 42);
  EXPECT_EQ(CoerceValue(Infer("3.0"), "3.0", v1::VALUE_TYPE_INT64)->int64_value(), 3);
  EXPECT_EQ(CoerceValue(Infer("true"), "true", v1::VALUE_TYPE_STRING)->string_value(), "true");
}

TEST(CoerceValueTest, LossyIsAnError) {
  absl::StatusOr<v1::Value> v = CoerceValue(Infer("1.5"), "1.5", v1::VALUE_TYPE_INT64);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.status().message(), "value '1.5' is double but the tag's type is int64");
  EXPECT_FALSE(CoerceValue(Infer("abc"), "abc", v1::VALUE_TYPE_DOUBLE).ok());
  EXPECT_FALSE(CoerceValue(Infer("1"), "1", v1::VALUE_TYPE_BOOL).ok());
  EXPECT_FALSE(CoerceValue(Infer("1e19"), "1e19", v1::VALUE_TYPE_INT64).ok());
  EXPECT_FALSE(CoerceValue(Infer("nan"), "nan", v1::VALUE_TYPE_INT64).ok());
}

TEST(FormatDoubleTest, ShortestExactAndStillADouble) {
  EXPECT_EQ(FormatDouble(21.4), "21.4");
  EXPECT_EQ(FormatDouble(1.0), "1.0");
  EXPECT_EQ(FormatDouble(-0.0), "-0.0");
  EXPECT_EQ(FormatDouble(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatDouble(1e20), "1e+20");
  EXPECT_EQ(FormatDouble(std::nan("")), "nan");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(FormatDoubleTest, RoundTripsThroughInference) {
  for (double d : {21.4, 1.0, -0.0, 0.1 + 0.2, 1e20, 5e-324, 1.7976931348623157e308,
                   123456789012345678.0, -3.14159, 2.5e-7}) {
    v1::Value v = Infer(FormatDouble(d));
    ASSERT_EQ(v.kind_case(), v1::Value::kDoubleValue) << d;
    EXPECT_EQ(std::signbit(v.double_value()), std::signbit(d));
    EXPECT_EQ(v.double_value(), d);
  }
}

TEST(ParseQualityTest, DecimalHexAndEmpty) {
  EXPECT_EQ(*ParseQuality(""), 0u);
  EXPECT_EQ(*ParseQuality("0"), 0u);
  EXPECT_EQ(*ParseQuality("192"), 192u);
  EXPECT_EQ(*ParseQuality("0x80000000"), 0x80000000u);
  EXPECT_EQ(*ParseQuality("0X40000000"), 0x40000000u);
  EXPECT_EQ(*ParseQuality("4294967295"), 0xFFFFFFFFu);
  for (const char* bad : {"-1", "4294967296", "0x", "0x1G", "good", "1.0", "0x100000000"}) {
    EXPECT_EQ(ParseQuality(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValueTypeNameTest, RoundTrips) {
  for (v1::ValueType t :
       {v1::VALUE_TYPE_DOUBLE, v1::VALUE_TYPE_INT64, v1::VALUE_TYPE_BOOL, v1::VALUE_TYPE_STRING}) {
    EXPECT_EQ(*ParseValueType(ValueTypeName(t)), t);
  }
  EXPECT_FALSE(ParseValueType("float").ok());
  EXPECT_EQ(TypeOf(v1::Value()), v1::VALUE_TYPE_UNSPECIFIED);
}

}  // namespace
}  // namespace historian::client
