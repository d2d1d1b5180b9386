// File: sample_columns.cc
#include "client/sample_columns.h"

#include <utility>

namespace historian::client {
namespace {

using historian::v1::SampleColumns;
using historian::v1::Value;

// The value case held by the columns (kKindNotSet when empty).
Value::KindCase ColumnsCase(const SampleColumns& c) {
  if (c.double_values_size() > 0) return Value::kDoubleValue;
  if (c.int64_values_size() > 0) return Value::kInt64Value;
  if (c.bool_values_size() > 0) return Value::kBoolValue;
  if (c.string_values_size() > 0) return Value::kStringValue;
  return Value::KIND_NOT_SET;
}

// Appends the value; false when it does not fit the columns' kind.
bool AppendValue(Value* value, SampleColumns* c) {
  const Value::KindCase held = ColumnsCase(*c);
  if (value->kind_case() == Value::KIND_NOT_SET) return false;
  if (held != Value::KIND_NOT_SET && held != value->kind_case()) return false;
  switch (value->kind_case()) {
    case Value::kDoubleValue:
      c->add_double_values(value->double_value());
      return true;
    case Value::kInt64Value:
      c->add_int64_values(value->int64_value());
      return true;
    case Value::kBoolValue:
      c->add_bool_values(value->bool_value());
      return true;
    case Value::kStringValue:
      c->add_string_values(std::move(*value->mutable_string_value()));
      return true;
    default:
      return false;
  }
}

}  // namespace

void ColumnsToSamples(const SampleColumns& c,
                      google::protobuf::RepeatedPtrField<historian::v1::Sample>* out) {
  const Value::KindCase kind = ColumnsCase(c);
  uint64_t ts = 0;  // unsigned: deltas wrap rather than overflow
  for (int j = 0; j < c.timestamp_deltas_ns_size(); ++j) {
    ts += static_cast<uint64_t>(c.timestamp_deltas_ns(j));
    historian::v1::Sample* s = out->Add();
    s->set_timestamp_ns(static_cast<int64_t>(ts));
    if (c.qualities_size() == 1) {
      s->set_quality(c.qualities(0));
    } else if (j < c.qualities_size()) {
      s->set_quality(c.qualities(j));
    }
    Value* v = s->mutable_value();
    switch (kind) {
      case Value::kDoubleValue:
        if (j < c.double_values_size()) v->set_double_value(c.double_values(j));
        break;
      case Value::kInt64Value:
        if (j < c.int64_values_size()) v->set_int64_value(c.int64_values(j));
        break;
      case Value::kBoolValue:
        if (j < c.bool_values_size()) v->set_bool_value(c.bool_values(j));
        break;
      case Value::kStringValue:
        if (j < c.string_values_size()) v->set_string_value(c.string_values(j));
        break;
      default:
        break;
    }
  }
}

void AppendSample(historian::v1::Sample sample, int64_t* last_timestamp_ns,
                  historian::v1::TagSamples* series) {
  if (series->samples_size() == 0) {
    SampleColumns* c = series->mutable_columns();
    const int n = c->timestamp_deltas_ns_size();
    if (AppendValue(sample.mutable_value(), c)) {
      // Unsigned difference: wraps instead of overflowing; the node sums the
      // same way.
      c->add_timestamp_deltas_ns(static_cast<int64_t>(static_cast<uint64_t>(sample.timestamp_ns()) -
                                                      static_cast<uint64_t>(*last_timestamp_ns)));
      c->add_qualities(sample.quality());
      *last_timestamp_ns = sample.timestamp_ns();
      return;
    }
    if (n > 0) ColumnsToSamples(*c, series->mutable_samples());
    series->clear_columns();
  }
  *last_timestamp_ns = sample.timestamp_ns();
  *series->add_samples() = std::move(sample);
}

const google::protobuf::RepeatedPtrField<historian::v1::Sample>& ResponseSamples(
    const historian::v1::ReadResponse& response,
    google::protobuf::RepeatedPtrField<historian::v1::Sample>* scratch) {
  if (!response.has_columns()) return response.samples();
  scratch->Clear();
  ColumnsToSamples(response.columns(), scratch);
  return *scratch;
}

void FinishSeries(historian::v1::TagSamples* series) {
  if (!series->has_columns()) return;
  SampleColumns* c = series->mutable_columns();
  const int n = c->qualities_size();
  if (n <= 1) return;
  for (int j = 1; j < n; ++j) {
    if (c->qualities(j) != c->qualities(0)) return;
  }
  const uint32_t q = c->qualities(0);
  c->clear_qualities();
  if (q != 0) c->add_qualities(q);
}

}  // namespace historian::client
