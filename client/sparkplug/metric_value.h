// File: metric_value.h
// Sparkplug B datatypes and the value of one metric as a historian value.
//
//   Int8..Int64, UInt8..UInt64, DateTime (ms) -> int64
//   Float, Double                              -> double
//   Boolean                                    -> bool
//   String, Text, UUID                         -> string
//   everything else (arrays, DataSet, Bytes, File, Template, ...) unsupported
//
// A UInt64 above 2^63-1 and an `is_null` metric are Bad samples (with the
// type's zero as value, so the tag keeps its type).
#ifndef HISTORIAN_CLIENT_SPARKPLUG_METRIC_VALUE_H_
#define HISTORIAN_CLIENT_SPARKPLUG_METRIC_VALUE_H_

#include <cstdint>
#include <optional>

#include "client/sparkplug/sparkplug_b.pb.h"
#include "historian/v1/common.pb.h"

namespace historian::sparkplug {

// Sparkplug 3.0 DataType enum (payload chapter).
enum DataType : uint32_t {
  kUnknown = 0,
  kInt8 = 1,
  kInt16 = 2,
  kInt32 = 3,
  kInt64 = 4,
  kUInt8 = 5,
  kUInt16 = 6,
  kUInt32 = 7,
  kUInt64 = 8,
  kFloat = 9,
  kDouble = 10,
  kBoolean = 11,
  kString = 12,
  kDateTime = 13,
  kText = 14,
  kUuid = 15,
  kDataSet = 16,
  kBytes = 17,
  kFile = 18,
  kTemplate = 19,
};

// OPC UA status codes used for samples (Sample.quality).
inline constexpr uint32_t kQualityGood = 0;
inline constexpr uint32_t kQualityBad = 0x80000000u;
inline constexpr uint32_t kQualityBadOutOfRange = 0x803C0000u;
inline constexpr uint32_t kQualityBadNotConnected = 0x808A0000u;

// The historian type of a Sparkplug datatype; nullopt when unsupported.
std::optional<historian::v1::ValueType> HistorianType(uint32_t datatype);

// The zero of a historian type (the value carried by Bad samples).
historian::v1::Value ZeroValue(historian::v1::ValueType type);

enum class ValueOutcome {
  kOk,           // value and quality set (quality may be Bad: null, UInt64 overflow)
  kUnsupported,  // a datatype the historian does not store
  kWrongType,    // the value field does not fit the datatype
};

struct DecodedValue {
  ValueOutcome outcome = ValueOutcome::kOk;
  historian::v1::Value value;
  uint32_t quality = kQualityGood;
};

// Decodes `metric`'s value as `datatype` (the BIRTH's, since DATA may omit
// it).
DecodedValue DecodeValue(const Payload::Metric& metric, uint32_t datatype);

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_METRIC_VALUE_H_
