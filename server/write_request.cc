#include "server/write_request.h"

#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"

namespace historian::server {
namespace {

void Reject(uint32_t series, uint32_t sample, absl::StatusCode code, std::string reason,
            std::vector<v1::RejectedSample>* out) {
  v1::RejectedSample r;
  r.set_series_index(series);
  r.set_sample_index(sample);
  r.set_code(static_cast<int32_t>(code));
  r.set_reason(std::move(reason));
  out->push_back(std::move(r));
}

// Appends `s` to `cols` (of the tag's type), or returns why it cannot be.
absl::Status AppendValue(const v1::Sample& s, const engine::TagInfo& tag, const std::string& field,
                         codec::ChunkColumns* cols) {
  ValueType kind = ValueKind(s.value());
  if (kind == ValueType::kUnspecified) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".value: not set"));
  }
  if (s.timestamp_ns() == kMaxTimestamp) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".timestamp_ns: must be below ", kMaxTimestamp));
  }
  const v1::Value& v = s.value();
  bool int_into_double = kind == ValueType::kInt64 && tag.type == ValueType::kDouble;
  if (kind != tag.type && !int_into_double) {
    return absl::FailedPreconditionError(absl::StrCat(field, ".value: tag '", tag.name, "' is ",
                                                      engine::ValueTypeName(tag.type), ", got ",
                                                      engine::ValueTypeName(kind)));
  }
  switch (tag.type) {
    case ValueType::kDouble: {
      double d = int_into_double ? static_cast<double>(v.int64_value()) : v.double_value();
      if (int_into_double && static_cast<int64_t>(d) != v.int64_value()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".value: int64 ", v.int64_value(),
                                                       " is not exact as a double (tag '", tag.name,
                                                       "' is double)"));
      }
      cols->doubles.push_back(d);
      break;
    }
    case ValueType::kInt64:
      cols->ints.push_back(v.int64_value());
      break;
    case ValueType::kBool:
      cols->bools.push_back(v.bool_value() ? 1 : 0);
      break;
    case ValueType::kString:
      if (v.string_value().size() > codec::kMaxStringBytes) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".value: string of ", v.string_value().size(),
                         " bytes is over the limit of ", codec::kMaxStringBytes));
      }
      cols->strings.push_back(v.string_value());
      break;
    default:
      break;
  }
  cols->timestamps.push_back(s.timestamp_ns());
  cols->qualities.push_back(s.quality());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreparedWrite> PrepareWrite(const v1::WriteRequest& request, const Limits& limits,
                                           Store* store) {
  uint64_t total = 0;
  for (const auto& series : request.series()) total += series.samples_size();
  if (total > limits.max_samples_per_batch) {
    return absl::ResourceExhaustedError(
        absl::StrCat("series: batch has ", total, " samples, over the limit of ",
                     limits.max_samples_per_batch, " (--max_samples_per_batch)"));
  }
  if (request.client_id().size() > limits.max_client_id_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("client_id: ", request.client_id().size(),
                                                   " bytes, over the limit of ",
                                                   limits.max_client_id_bytes));
  }
  PreparedWrite out;
  out.input.client_id = request.client_id();
  out.input.batch_seq = request.batch_sequence();
  for (int i = 0; i < request.series_size(); ++i) {
    const v1::TagSamples& series = request.series(i);
    if (series.samples_size() == 0) continue;
    ValueType inferred = ValueType::kUnspecified;
    for (const auto& s : series.samples()) {
      if ((inferred = ValueKind(s.value())) != ValueType::kUnspecified) break;
    }
    absl::StatusOr<engine::TagInfo> tag = inferred == ValueType::kUnspecified
                                              ? store->GetTag(series.tag())
                                              : store->ResolveTagForWrite(series.tag(), inferred);
    if (!tag.ok()) {
      std::string reason = absl::StrCat("series[", i, "].tag: ", tag.status().message());
      for (int j = 0; j < series.samples_size(); ++j) {
        Reject(i, j, tag.status().code(), reason, &out.rejected);
      }
      continue;
    }
    engine::SeriesData data;
    data.tag = tag->id;
    data.cols.Reset(tag->type);
    for (int j = 0; j < series.samples_size(); ++j) {
      std::string field = absl::StrCat("series[", i, "].samples[", j, "]");
      absl::Status st = AppendValue(series.samples(j), *tag, field, &data.cols);
      if (!st.ok()) Reject(i, j, st.code(), std::string(st.message()), &out.rejected);
    }
    if (data.cols.size() > 0) out.input.series.push_back(std::move(data));
  }
  return out;
}

absl::StatusOr<StartedWrite> StartWrite(const v1::WriteRequest& request, const Limits& limits,
                                        Store* store) {
  absl::StatusOr<PreparedWrite> prepared = PrepareWrite(request, limits, store);
  if (!prepared.ok()) return prepared.status();
  return StartedWrite{request.batch_sequence(), std::move(prepared->rejected),
                      store->StartWrite(std::move(prepared->input))};
}

absl::StatusOr<v1::WriteAck> FinishWrite(StartedWrite started, Store* store) {
  v1::WriteAck ack;
  ack.set_batch_sequence(started.batch_sequence);
  for (auto& r : started.rejected) *ack.add_rejected() = std::move(r);
  absl::StatusOr<WriteResult> result = store->FinishWrite(std::move(started.handle));
  if (!result.ok()) return result.status();
  ack.set_accepted_count(result->accepted);
  ack.set_duplicate(result->duplicate);
  return ack;
}

absl::StatusOr<v1::WriteAck> HandleWrite(const v1::WriteRequest& request, const Limits& limits,
                                         Store* store) {
  absl::StatusOr<StartedWrite> started = StartWrite(request, limits, store);
  if (!started.ok()) return started.status();
  return FinishWrite(std::move(*started), store);
}

}  // namespace historian::server
