// File: value_text.h
// Text <-> historian.v1.Value: the typing rules shared by `historian write`
// and CSV import, and the exact double printing CSV export relies on.
//
// All functions are pure and thread-safe.
#ifndef HISTORIAN_CLIENT_VALUE_TEXT_H_
#define HISTORIAN_CLIENT_VALUE_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "historian/v1/common.pb.h"

namespace historian::client {

// Infers a typed value from text:
//   - `quoted` (a quoted CSV field) -> string, whatever it holds;
//   - `true` / `false` (any case) -> bool;
//   - any number (`180`, `21.4`, `-1e-3`, `.5`, `nan`, `inf`, `-inf`) ->
//     double, integers included, so a new tag fed `180` then `180.5` is a
//     double tag (int64 tags are created explicitly; CoerceValue converts
//     integer text for them); INVALID_ARGUMENT when its magnitude overflows a
//     double;
//   - anything else -> string. Empty unquoted text is INVALID_ARGUMENT (quote
//     it, `""`, to write an empty string).
absl::StatusOr<historian::v1::Value> InferValue(absl::string_view text, bool quoted);

// Adapts an inferred value to a tag's known type, where that is lossless:
// int64 -> double (exact up to 2^53), integer text -> int64 (parsed from
// `text`, so exact in the whole int64 range), another integral double ->
// int64, and any value -> string (using the original `text`). Returns `value` unchanged when
// it already has `type` or `type` is VALUE_TYPE_UNSPECIFIED; otherwise
// INVALID_ARGUMENT ("value '1.5' is a double but tag type is int64").
absl::StatusOr<historian::v1::Value> CoerceValue(const historian::v1::Value& value,
                                                 absl::string_view text,
                                                 historian::v1::ValueType type);

// The shortest text that parses back to exactly `d` and that InferValue types
// as a double again: `1.0`, `21.4`, `1e+20`, `-0.0`, `nan`, `inf`, `-inf`.
std::string FormatDouble(double d);

// Parses a quality: decimal (`0`, `2147483648`) or hex (`0x80000000`); empty
// means 0 (Good). INVALID_ARGUMENT unless it fits in uint32.
absl::StatusOr<uint32_t> ParseQuality(absl::string_view text);

// `double`, `int64`, `bool`, `string` (and `unspecified`).
absl::string_view ValueTypeName(historian::v1::ValueType type);

// Inverse of ValueTypeName for the four concrete types.
absl::StatusOr<historian::v1::ValueType> ParseValueType(absl::string_view name);

// The type of a set value, VALUE_TYPE_UNSPECIFIED when unset.
historian::v1::ValueType TypeOf(const historian::v1::Value& value);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_VALUE_TEXT_H_
