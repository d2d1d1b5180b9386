// File: proto_convert.h
// Conversions between the public protobuf messages and storage types. The
// only place that sees both.
#ifndef HISTORIAN_SERVER_PROTO_CONVERT_H_
#define HISTORIAN_SERVER_PROTO_CONVERT_H_

#include "historian/v1/catalog.pb.h"
#include "historian/v1/common.pb.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/tag_info.h"

namespace historian::server {

engine::TagInfo TagFromProto(const v1::Tag& tag);
void TagToProto(const engine::TagInfo& info, v1::Tag* tag);

ValueType ValueTypeFromProto(v1::ValueType type);
v1::ValueType ValueTypeToProto(ValueType type);

// The value type a proto Value holds, or kUnspecified when unset.
ValueType ValueKind(const v1::Value& value);

// Sample `i` of `cols` into `*out`.
void SampleToProto(const codec::ChunkColumns& cols, size_t i, v1::Sample* out);
// Sets `out` (REQUIRES: empty) to the samples of `cols` in the columns form:
// timestamp deltas, the value column, qualities once when all are equal.
void ColumnsToProto(const codec::ChunkColumns& cols, v1::SampleColumns* out);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_PROTO_CONVERT_H_
