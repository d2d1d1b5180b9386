#include "server/proto_convert.h"

#include <algorithm>

namespace historian::server {

ValueType ValueTypeFromProto(v1::ValueType type) {
  switch (type) {
    case v1::VALUE_TYPE_DOUBLE:
      return ValueType::kDouble;
    case v1::VALUE_TYPE_INT64:
      return ValueType::kInt64;
    case v1::VALUE_TYPE_BOOL:
      return ValueType::kBool;
    case v1::VALUE_TYPE_STRING:
      return ValueType::kString;
    default:
      return ValueType::kUnspecified;
  }
}

v1::ValueType ValueTypeToProto(ValueType type) {
  return static_cast<v1::ValueType>(static_cast<int>(type));
}

engine::TagInfo TagFromProto(const v1::Tag& tag) {
  engine::TagInfo info;
  info.name = tag.name();
  info.type = ValueTypeFromProto(tag.value_type());
  info.unit = tag.unit();
  info.description = tag.description();
  info.attributes.insert(tag.attributes().begin(), tag.attributes().end());
  info.retention_ns = tag.retention_ns();
  info.deadband = tag.deadband();
  if (tag.has_eng_low()) info.eng_low = tag.eng_low();
  if (tag.has_eng_high()) info.eng_high = tag.eng_high();
  info.stale_after_ns = tag.stale_after_ns();
  return info;
}

void TagToProto(const engine::TagInfo& info, v1::Tag* tag) {
  tag->set_name(info.name);
  tag->set_value_type(ValueTypeToProto(info.type));
  tag->set_unit(info.unit);
  tag->set_description(info.description);
  tag->set_origin_site(info.origin_site);
  for (const auto& [k, v] : info.attributes) (*tag->mutable_attributes())[k] = v;
  tag->set_retention_ns(info.retention_ns);
  tag->set_deadband(info.deadband);
  if (info.eng_low) tag->set_eng_low(*info.eng_low);
  if (info.eng_high) tag->set_eng_high(*info.eng_high);
  tag->set_stale_after_ns(info.stale_after_ns);
  tag->set_id(info.id);
  tag->set_created_ns(info.created_ns);
}

ValueType ValueKind(const v1::Value& value) {
  switch (value.kind_case()) {
    case v1::Value::kDoubleValue:
      return ValueType::kDouble;
    case v1::Value::kInt64Value:
      return ValueType::kInt64;
    case v1::Value::kBoolValue:
      return ValueType::kBool;
    case v1::Value::kStringValue:
      return ValueType::kString;
    default:
      return ValueType::kUnspecified;
  }
}

void SampleToProto(const codec::ChunkColumns& cols, size_t i, v1::Sample* out) {
  out->set_timestamp_ns(cols.timestamps[i]);
  out->set_quality(cols.qualities[i]);
  v1::Value* v = out->mutable_value();
  switch (cols.type) {
    case ValueType::kDouble:
      v->set_double_value(cols.doubles[i]);
      break;
    case ValueType::kInt64:
      v->set_int64_value(cols.ints[i]);
      break;
    case ValueType::kBool:
      v->set_bool_value(cols.bools[i] != 0);
      break;
    case ValueType::kString:
      v->set_string_value(cols.strings[i]);
      break;
    default:
      break;
  }
}

void ColumnsToProto(const codec::ChunkColumns& cols, v1::SampleColumns* out) {
  const int n = static_cast<int>(cols.size());
  if (n == 0) return;
  uint64_t prev = 0;  // unsigned: deltas wrap instead of overflowing
  auto* deltas = out->mutable_timestamp_deltas_ns();
  deltas->Reserve(n);
  for (int64_t ts : cols.timestamps) {
    deltas->AddAlreadyReserved(static_cast<int64_t>(static_cast<uint64_t>(ts) - prev));
    prev = static_cast<uint64_t>(ts);
  }
  switch (cols.type) {
    case ValueType::kDouble:
      out->mutable_double_values()->Add(cols.doubles.begin(), cols.doubles.end());
      break;
    case ValueType::kInt64:
      out->mutable_int64_values()->Add(cols.ints.begin(), cols.ints.end());
      break;
    case ValueType::kBool:
      for (uint8_t b : cols.bools) out->add_bool_values(b != 0);
      break;
    case ValueType::kString:
      for (const std::string& s : cols.strings) out->add_string_values(s);
      break;
    default:
      break;
  }
  // Qualities: none when every sample is Good, one when all are equal, else
  // one per sample.
  const uint32_t first = cols.qualities[0];
  if (std::all_of(cols.qualities.begin(), cols.qualities.end(),
                  [&](uint32_t q) { return q == first; })) {
    if (first != 0) out->add_qualities(first);
  } else {
    out->mutable_qualities()->Add(cols.qualities.begin(), cols.qualities.end());
  }
}

}  // namespace historian::server
