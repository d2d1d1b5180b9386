// File: metric_value.cc
#include "client/sparkplug/metric_value.h"

#include <limits>

namespace historian::sparkplug {

namespace v1 = historian::v1;

std::optional<v1::ValueType> HistorianType(uint32_t datatype) {
  switch (datatype) {
    case kInt8:
    case kInt16:
    case kInt32:
    case kInt64:
    case kUInt8:
    case kUInt16:
    case kUInt32:
    case kUInt64:
    case kDateTime:
      return v1::VALUE_TYPE_INT64;
    case kFloat:
    case kDouble:
      return v1::VALUE_TYPE_DOUBLE;
    case kBoolean:
      return v1::VALUE_TYPE_BOOL;
    case kString:
    case kText:
    case kUuid:
      return v1::VALUE_TYPE_STRING;
    default:
      return std::nullopt;
  }
}

v1::Value ZeroValue(v1::ValueType type) {
  v1::Value v;
  switch (type) {
    case v1::VALUE_TYPE_INT64:
      v.set_int64_value(0);
      break;
    case v1::VALUE_TYPE_BOOL:
      v.set_bool_value(false);
      break;
    case v1::VALUE_TYPE_STRING:
      v.set_string_value("");
      break;
    default:
      v.set_double_value(0);
      break;
  }
  return v;
}

namespace {

// The integer carried by int_value or long_value (senders differ on which
// one holds 32-bit types).
std::optional<uint64_t> RawInteger(const Payload::Metric& m) {
  if (m.value_case() == Payload::Metric::kIntValue) return m.int_value();
  if (m.value_case() == Payload::Metric::kLongValue) return m.long_value();
  return std::nullopt;
}

}  // namespace

DecodedValue DecodeValue(const Payload::Metric& m, uint32_t datatype) {
  DecodedValue out;
  const std::optional<v1::ValueType> type = HistorianType(datatype);
  if (!type.has_value()) {
    out.outcome = ValueOutcome::kUnsupported;
    return out;
  }
  if (m.is_null() || m.value_case() == Payload::Metric::VALUE_NOT_SET) {
    out.value = ZeroValue(*type);
    out.quality = kQualityBad;
    return out;
  }
  switch (datatype) {
    case kInt8:
    case kInt16:
    case kInt32:
    case kInt64:
    case kUInt8:
    case kUInt16:
    case kUInt32:
    case kUInt64:
    case kDateTime: {
      const std::optional<uint64_t> raw = RawInteger(m);
      if (!raw.has_value()) break;
      int64_t v = 0;
      // Signed types are two's complement in their width: take those bits.
      switch (datatype) {
        case kInt8:
          v = static_cast<int8_t>(static_cast<uint8_t>(*raw));
          break;
        case kInt16:
          v = static_cast<int16_t>(static_cast<uint16_t>(*raw));
          break;
        case kInt32:
          v = static_cast<int32_t>(static_cast<uint32_t>(*raw));
          break;
        case kInt64:
          v = static_cast<int64_t>(*raw);
          break;
        case kUInt8:
          v = static_cast<uint8_t>(*raw);
          break;
        case kUInt16:
          v = static_cast<uint16_t>(*raw);
          break;
        case kUInt32:
          v = static_cast<uint32_t>(*raw);
          break;
        default:  // UInt64, DateTime
          if (*raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            out.value = ZeroValue(v1::VALUE_TYPE_INT64);
            out.quality = kQualityBadOutOfRange;
            return out;
          }
          v = static_cast<int64_t>(*raw);
      }
      out.value.set_int64_value(v);
      return out;
    }
    case kFloat:
    case kDouble:
      if (m.value_case() == Payload::Metric::kFloatValue) {
        out.value.set_double_value(m.float_value());
        return out;
      }
      if (m.value_case() == Payload::Metric::kDoubleValue) {
        out.value.set_double_value(m.double_value());
        return out;
      }
      break;
    case kBoolean:
      if (m.value_case() == Payload::Metric::kBooleanValue) {
        out.value.set_bool_value(m.boolean_value());
        return out;
      }
      break;
    default:  // String, Text, UUID
      if (m.value_case() == Payload::Metric::kStringValue) {
        out.value.set_string_value(m.string_value());
        return out;
      }
      break;
  }
  out.outcome = ValueOutcome::kWrongType;
  return out;
}

}  // namespace historian::sparkplug
