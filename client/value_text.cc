// File: value_text.cc
#include "client/value_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace historian::client {
namespace {

using historian::v1::Value;
using historian::v1::ValueType;

bool IsIntegerLiteral(absl::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  return !s.empty() && s.find_first_not_of("0123456789") == s.npos;
}

}  // namespace

absl::StatusOr<Value> InferValue(absl::string_view text, bool quoted) {
  Value v;
  if (quoted) {
    v.set_string_value(std::string(text));
    return v;
  }
  if (text.empty()) {
    return absl::InvalidArgumentError("empty value (write \"\" for an empty string)");
  }
  if (absl::EqualsIgnoreCase(text, "true") || absl::EqualsIgnoreCase(text, "false")) {
    v.set_bool_value(absl::EqualsIgnoreCase(text, "true"));
    return v;
  }
  absl::string_view num = text;
  if (num[0] == '+') num.remove_prefix(1);
  // from_chars rejects a second sign, so "+-1" stays a string.
  double d;
  const auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), d);
  if (ptr == num.data() + num.size() && !num.empty() && !(num[0] == '-' && text[0] == '+')) {
    if (ec == std::errc::result_out_of_range) {
      return absl::InvalidArgumentError(absl::StrCat("number '", text, "' is out of double range"));
    }
    if (ec == std::errc()) {
      v.set_double_value(d);
      return v;
    }
  }
  v.set_string_value(std::string(text));
  return v;
}

absl::StatusOr<Value> CoerceValue(const Value& value, absl::string_view text, ValueType type) {
  const ValueType have = TypeOf(value);
  if (type == historian::v1::VALUE_TYPE_UNSPECIFIED || have == type) return value;
  Value out;
  if (type == historian::v1::VALUE_TYPE_STRING) {
    out.set_string_value(std::string(text));
    return out;
  }
  if (type == historian::v1::VALUE_TYPE_DOUBLE && have == historian::v1::VALUE_TYPE_INT64) {
    out.set_double_value(static_cast<double>(value.int64_value()));
    return out;
  }
  if (type == historian::v1::VALUE_TYPE_INT64 && have == historian::v1::VALUE_TYPE_DOUBLE &&
      IsIntegerLiteral(text)) {
    // From the text, not the double: 2^53 + 1 has no double.
    int64_t i;
    if (!absl::SimpleAtoi(text, &i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("integer '", text, "' does not fit in int64 (the tag's type)"));
    }
    out.set_int64_value(i);
    return out;
  }
  if (type == historian::v1::VALUE_TYPE_INT64 && have == historian::v1::VALUE_TYPE_DOUBLE) {
    const double d = value.double_value();
    // 2^63 is exactly representable; the int64 range is [-2^63, 2^63).
    if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
      out.set_int64_value(static_cast<int64_t>(d));
      return out;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("value '", text, "' is ", ValueTypeName(have),
                                                 " but the tag's type is ", ValueTypeName(type)));
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  std::string s(buf, ptr);
  if (s.find_first_of(".e") == s.npos) s += ".0";
  return s;
}

absl::StatusOr<uint32_t> ParseQuality(absl::string_view text) {
  if (text.empty()) return 0u;
  uint64_t q = 0;
  bool ok;
  if (absl::StartsWithIgnoreCase(text, "0x")) {
    const absl::string_view hex = text.substr(2);
    const auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), q, 16);
    ok = !hex.empty() && ec == std::errc() && ptr == hex.data() + hex.size();
  } else {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), q, 10);
    ok = ec == std::errc() && ptr == text.data() + text.size();
  }
  if (!ok || q > 0xFFFFFFFFull) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid quality '", text, "': want an unsigned 32-bit integer, e.g. 0 or 0x80000000"));
  }
  return static_cast<uint32_t>(q);
}

absl::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case historian::v1::VALUE_TYPE_DOUBLE:
      return "double";
    case historian::v1::VALUE_TYPE_INT64:
      return "int64";
    case historian::v1::VALUE_TYPE_BOOL:
      return "bool";
    case historian::v1::VALUE_TYPE_STRING:
      return "string";
    default:
      return "unspecified";
  }
}

absl::StatusOr<ValueType> ParseValueType(absl::string_view name) {
  for (ValueType t : {historian::v1::VALUE_TYPE_DOUBLE, historian::v1::VALUE_TYPE_INT64,
                      historian::v1::VALUE_TYPE_BOOL, historian::v1::VALUE_TYPE_STRING}) {
    if (absl::EqualsIgnoreCase(name, ValueTypeName(t))) return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown type '", name, "': want double, int64, bool or string"));
}

ValueType TypeOf(const Value& value) {
  switch (value.kind_case()) {
    case Value::kDoubleValue:
      return historian::v1::VALUE_TYPE_DOUBLE;
    case Value::kInt64Value:
      return historian::v1::VALUE_TYPE_INT64;
    case Value::kBoolValue:
      return historian::v1::VALUE_TYPE_BOOL;
    case Value::kStringValue:
      return historian::v1::VALUE_TYPE_STRING;
    default:
      return historian::v1::VALUE_TYPE_UNSPECIFIED;
  }
}

}  // namespace historian::client
