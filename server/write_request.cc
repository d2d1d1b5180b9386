#include "server/write_request.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "server/proto_convert.h"
#include "storage/engine/columns.h"

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

// Tag errors that are the series' own (its name, its type, a setting) and
// stay so on a retry: the series is rejected, the rest of the batch stored.
bool SeriesAtFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound ||
         code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kAlreadyExists || code == absl::StatusCode::kOutOfRange;
}

// True when the double nearest `v` is exactly `v`. (2^63 is out of int64's
// range, so it is compared before converting back.)
bool ExactAsDouble(int64_t v) {
  const double d = static_cast<double>(v);
  return d < 9223372036854775808.0 && static_cast<int64_t>(d) == v;
}

// True when `d` is a whole number that an int64 holds and that came from one
// exactly (|d| <= 2^53): the gateway sends CSV numbers as doubles, so "42"
// must reach an int64 tag as 42. A fraction, NaN or a larger magnitude is not.
bool ExactAsInt64(double d) {
  constexpr double kMaxExact = 9007199254740992.0;  // 2^53
  return d >= -kMaxExact && d <= kMaxExact && d == static_cast<double>(static_cast<int64_t>(d));
}

// Why double `d` (at `field`) cannot go into int64 tag `tag`.
absl::Status NotIntegral(const std::string& field, double d, const std::string& tag) {
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": double ", d, " is not a whole number within +-2^53 (tag '", tag, "' is int64)"));
}

// The accepted timestamps, for error messages.
std::string TimestampRangeText() {
  return absl::StrCat("[", kMinSampleTimestamp, ", ", kMaxSampleTimestamp,
                      "] ns (1900-01-01T00:00:00Z up to 2100-01-01T00:00:00Z)");
}

// The field name of sample j of series i, for error messages only (built on
// the error path: the common path must not pay for formatting).
std::string SampleField(int i, int j) { return absl::StrCat("series[", i, "].samples[", j, "]"); }

// Appends `s` (sample j of series i) to `cols` (of the tag's type), or returns
// why it cannot be.
absl::Status AppendValue(const v1::Sample& s, const engine::TagInfo& tag, int i, int j,
                         codec::ChunkColumns* cols) {
  ValueType kind = ValueKind(s.value());
  if (kind == ValueType::kUnspecified) {
    std::string field = SampleField(i, j);
    return absl::InvalidArgumentError(absl::StrCat(field, ".value: not set"));
  }
  if (!IsSampleTimestamp(s.timestamp_ns())) {
    std::string field = SampleField(i, j);
    return absl::InvalidArgumentError(absl::StrCat(field, ".timestamp_ns: ", s.timestamp_ns(),
                                                   " is outside ", TimestampRangeText()));
  }
  const v1::Value& v = s.value();
  bool int_into_double = kind == ValueType::kInt64 && tag.type == ValueType::kDouble;
  bool double_into_int = kind == ValueType::kDouble && tag.type == ValueType::kInt64;
  if (kind != tag.type && !int_into_double && !double_into_int) {
    std::string field = SampleField(i, j);
    return absl::FailedPreconditionError(absl::StrCat(field, ".value: tag '", tag.name, "' is ",
                                                      engine::ValueTypeName(tag.type), ", got ",
                                                      engine::ValueTypeName(kind)));
  }
  switch (tag.type) {
    case ValueType::kDouble: {
      double d = int_into_double ? static_cast<double>(v.int64_value()) : v.double_value();
      if (int_into_double && !ExactAsDouble(v.int64_value())) {
        std::string field = SampleField(i, j);
        return absl::InvalidArgumentError(absl::StrCat(field, ".value: int64 ", v.int64_value(),
                                                       " is not exact as a double (tag '", tag.name,
                                                       "' is double)"));
      }
      cols->doubles.push_back(d);
      break;
    }
    case ValueType::kInt64:
      if (double_into_int) {
        if (!ExactAsInt64(v.double_value())) {
          return NotIntegral(absl::StrCat(SampleField(i, j), ".value"), v.double_value(), tag.name);
        }
        cols->ints.push_back(static_cast<int64_t>(v.double_value()));
      } else {
        cols->ints.push_back(v.int64_value());
      }
      break;
    case ValueType::kBool:
      cols->bools.push_back(v.bool_value() ? 1 : 0);
      break;
    case ValueType::kString:
      if (v.string_value().size() > codec::kMaxStringBytes) {
        std::string field = SampleField(i, j);
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

// The value type of a columns form: the type of its one non-empty value
// column; kUnspecified when none or several are set.
ValueType ColumnsKind(const v1::SampleColumns& c) {
  ValueType kind = ValueType::kUnspecified;
  int set = 0;
  if (c.double_values_size() > 0) kind = ValueType::kDouble, ++set;
  if (c.int64_values_size() > 0) kind = ValueType::kInt64, ++set;
  if (c.bool_values_size() > 0) kind = ValueType::kBool, ++set;
  if (c.string_values_size() > 0) kind = ValueType::kString, ++set;
  return set == 1 ? kind : ValueType::kUnspecified;
}

// The columns of series i set no value column, or several.
absl::Status NoValueColumn(int i) {
  return absl::InvalidArgumentError(
      absl::StrCat("series[", i,
                   "].columns: exactly one value column must be set (double_values, "
                   "int64_values, bool_values or string_values)"));
}

// Why the columns of series i cannot be stored at all (shape errors and a
// type mismatch), or OK.
absl::Status CheckColumnsShape(const v1::SampleColumns& c, const engine::TagInfo& tag, int i) {
  const int n = c.timestamp_deltas_ns_size();
  ValueType kind = ColumnsKind(c);
  if (kind == ValueType::kUnspecified) return NoValueColumn(i);
  const int values = std::max({c.double_values_size(), c.int64_values_size(), c.bool_values_size(),
                               c.string_values_size()});
  if (values != n) {
    return absl::InvalidArgumentError(absl::StrCat("series[", i, "].columns.",
                                                   engine::ValueTypeName(kind), "_values: ", values,
                                                   " values for ", n, " timestamps"));
  }
  if (c.qualities_size() > 1 && c.qualities_size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("series[", i, "].columns.qualities: ", c.qualities_size(),
                     " entries; must be 0, 1 or one per sample (", n, ")"));
  }
  const bool convertible = (kind == ValueType::kInt64 && tag.type == ValueType::kDouble) ||
                           (kind == ValueType::kDouble && tag.type == ValueType::kInt64);
  if (kind != tag.type && !convertible) {
    return absl::FailedPreconditionError(absl::StrCat("series[", i, "].columns: tag '", tag.name,
                                                      "' is ", engine::ValueTypeName(tag.type),
                                                      ", got ", engine::ValueTypeName(kind)));
  }
  return absl::OkStatus();
}

// Appends the columns of series i to `cols` (of the tag's type); samples that
// cannot be stored are listed in `rejected` and skipped.
// REQUIRES: CheckColumnsShape(c, tag, i) is OK.
void AppendColumns(const v1::SampleColumns& c, const engine::TagInfo& tag, int i,
                   codec::ChunkColumns* cols, std::vector<v1::RejectedSample>* rejected) {
  const int n = c.timestamp_deltas_ns_size();
  const ValueType kind = ColumnsKind(c);
  // Unsigned sums: a hostile delta wraps instead of overflowing.
  uint64_t ts = 0;
  const uint32_t same_quality = c.qualities_size() == 1 ? c.qualities(0) : 0;
  const bool per_sample_quality = c.qualities_size() > 1;
  cols->timestamps.reserve(cols->timestamps.size() + n);
  cols->qualities.reserve(cols->qualities.size() + n);
  for (int j = 0; j < n; ++j) {
    ts += static_cast<uint64_t>(c.timestamp_deltas_ns(j));
    const int64_t t = static_cast<int64_t>(ts);
    if (!IsSampleTimestamp(t)) {
      Reject(i, j, absl::StatusCode::kInvalidArgument,
             absl::StrCat("series[", i, "].columns.timestamp_deltas_ns[", j, "]: timestamp ", t,
                          " is outside ", TimestampRangeText()),
             rejected);
      continue;
    }
    switch (tag.type) {
      case ValueType::kDouble:
        if (kind == ValueType::kInt64) {
          const int64_t v = c.int64_values(j);
          if (!ExactAsDouble(v)) {
            Reject(i, j, absl::StatusCode::kInvalidArgument,
                   absl::StrCat("series[", i, "].columns.int64_values[", j, "]: int64 ", v,
                                " is not exact as a double (tag '", tag.name, "' is double)"),
                   rejected);
            continue;
          }
          cols->doubles.push_back(static_cast<double>(v));
        } else {
          cols->doubles.push_back(c.double_values(j));
        }
        break;
      case ValueType::kInt64:
        if (kind == ValueType::kDouble) {
          const double d = c.double_values(j);
          if (!ExactAsInt64(d)) {
            Reject(i, j, absl::StatusCode::kInvalidArgument,
                   std::string(
                       NotIntegral(absl::StrCat("series[", i, "].columns.double_values[", j, "]"),
                                   d, tag.name)
                           .message()),
                   rejected);
            continue;
          }
          cols->ints.push_back(static_cast<int64_t>(d));
        } else {
          cols->ints.push_back(c.int64_values(j));
        }
        break;
      case ValueType::kBool:
        cols->bools.push_back(c.bool_values(j) ? 1 : 0);
        break;
      case ValueType::kString:
        if (c.string_values(j).size() > codec::kMaxStringBytes) {
          Reject(i, j, absl::StatusCode::kInvalidArgument,
                 absl::StrCat("series[", i, "].columns.string_values[", j, "]: string of ",
                              c.string_values(j).size(), " bytes is over the limit of ",
                              codec::kMaxStringBytes),
                 rejected);
          continue;
        }
        cols->strings.push_back(c.string_values(j));
        break;
      default:
        break;
    }
    cols->timestamps.push_back(t);
    cols->qualities.push_back(per_sample_quality ? c.qualities(j) : same_quality);
  }
}

// Keeps one sample per (tag, timestamp) of the batch: the last one in the
// request, as the store would resolve them (equal versions: later input
// wins), so accepted_count counts what is stored. Returns how many it dropped.
uint64_t DropRepeatedTimestamps(std::vector<engine::SeriesData>* series) {
  bool repeats = false;
  absl::flat_hash_set<TagId> tags;
  for (const engine::SeriesData& s : *series) {
    if (!tags.insert(s.tag).second || !engine::IsStrictlyIncreasing(s.cols)) repeats = true;
  }
  if (!repeats) return 0;  // the common case costs one pass
  absl::flat_hash_map<TagId, absl::flat_hash_set<int64_t>> seen;
  std::vector<std::vector<bool>> keep(series->size());
  for (size_t k = series->size(); k-- > 0;) {
    const engine::SeriesData& s = (*series)[k];
    absl::flat_hash_set<int64_t>& ts = seen[s.tag];
    keep[k].resize(s.cols.size());
    for (size_t n = s.cols.size(); n-- > 0;) keep[k][n] = ts.insert(s.cols.timestamps[n]).second;
  }
  uint64_t dropped = 0;
  for (size_t k = 0; k < series->size(); ++k) {
    codec::ChunkColumns& cols = (*series)[k].cols;
    const auto repeated = std::count(keep[k].begin(), keep[k].end(), false);
    if (repeated == 0) continue;
    dropped += static_cast<uint64_t>(repeated);
    codec::ChunkColumns kept;
    kept.Reset(cols.type);
    for (size_t n = 0; n < cols.size(); ++n) {
      if (keep[k][n]) engine::AppendSample(cols, n, &kept);
    }
    cols = std::move(kept);
  }
  series->erase(std::remove_if(series->begin(), series->end(),
                               [](const engine::SeriesData& s) { return s.cols.size() == 0; }),
                series->end());
  return dropped;
}

}  // namespace

// The value type of a series' first typed value (kUnspecified: none).
ValueType SeriesKind(const v1::TagSamples& series) {
  if (series.columns().timestamp_deltas_ns_size() > 0) return ColumnsKind(series.columns());
  for (const auto& s : series.samples()) {
    if (ValueType kind = ValueKind(s.value()); kind != ValueType::kUnspecified) return kind;
  }
  return ValueType::kUnspecified;
}

absl::Status ValidateBatch(const v1::WriteRequest& request, const Limits& limits) {
  uint64_t total = 0;
  for (const auto& series : request.series()) {
    total += series.samples_size() + series.columns().timestamp_deltas_ns_size();
  }
  if (total > limits.max_samples_per_batch) {
    return absl::ResourceExhaustedError(
        absl::StrCat("series: batch has ", total, " samples, over the limit of ",
                     limits.max_samples_per_batch, " (--max_samples_per_batch)"));
  }
  if (request.client_id().size() > limits.max_client_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("client_id: ", request.client_id().size(), " bytes, over the limit of ",
                     limits.max_client_id_bytes, " (--max_client_id_bytes)"));
  }
  // Shape errors that refuse the whole batch.
  for (int i = 0; i < request.series_size(); ++i) {
    const v1::TagSamples& series = request.series(i);
    const int column_samples = series.columns().timestamp_deltas_ns_size();
    if (series.samples_size() > 0 && column_samples > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("series[", i, "]: set samples or columns, not both"));
    }
    const v1::SampleColumns& c = series.columns();
    if (column_samples == 0 && c.double_values_size() + c.int64_values_size() +
                                       c.bool_values_size() + c.string_values_size() >
                                   0) {
      return absl::InvalidArgumentError(
          absl::StrCat("series[", i, "].columns: values without timestamp_deltas_ns"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PreparedWrite> PrepareWrite(const v1::WriteRequest& request, const Limits& limits,
                                           Store* store) {
  // Whole-batch errors first (a refused batch creates no tags); then the
  // batch's new tags are created together, in one catalog entry; the loop
  // below finds them (or says why one could not be created).
  if (absl::Status s = ValidateBatch(request, limits); !s.ok()) return s;
  std::vector<std::pair<std::string, ValueType>> missing;
  for (int i = 0; i < request.series_size(); ++i) {
    const v1::TagSamples& series = request.series(i);
    const ValueType kind = SeriesKind(series);
    if (kind != ValueType::kUnspecified && !store->HasTag(series.tag())) {
      // A new tag of a shard closed here (a site cluster handing it over)
      // can be created in a moment, not now: the batch is refused whole
      // before any tag is created, and its retry stores it whole.
      if (absl::Status open = store->CheckShardOpen(series.tag()); !open.ok()) {
        return absl::Status(open.code(), absl::StrCat("series[", i, "].tag: ", open.message()));
      }
      missing.emplace_back(series.tag(), kind);
    }
  }
  if (!missing.empty()) store->CreateTagsForWrite(missing).IgnoreError();  // reported per series
  PreparedWrite out;
  out.input.client_id = request.client_id();
  out.input.batch_seq = request.batch_sequence();
  for (int i = 0; i < request.series_size(); ++i) {
    const v1::TagSamples& series = request.series(i);
    const int column_samples = series.columns().timestamp_deltas_ns_size();
    const int count = series.samples_size() + column_samples;
    if (count == 0) continue;
    const ValueType inferred = SeriesKind(series);
    if (column_samples > 0 && inferred == ValueType::kUnspecified) {
      // Not a tag error (a new tag could not be typed from these columns
      // either): say what is wrong with the columns.
      const absl::Status shape = NoValueColumn(i);
      std::string reason(shape.message());
      for (int j = 0; j < count; ++j) Reject(i, j, shape.code(), reason, &out.rejected);
      continue;
    }
    absl::StatusOr<engine::TagInfo> tag = inferred == ValueType::kUnspecified
                                              ? store->GetTag(series.tag())
                                              : store->ResolveTagForWrite(series.tag(), inferred);
    if (!tag.ok()) {
      // The store names the field "tag" itself (ValidateTagName): name it
      // once, with the series' index.
      absl::string_view message = tag.status().message();
      absl::ConsumePrefix(&message, "tag: ");
      std::string reason = absl::StrCat("series[", i, "].tag: ", message);
      // Only the name or a setting refuses a series for good. Anything else
      // (storage, a shard closed since the check above) may pass on a retry:
      // the batch is refused whole, so that its sequence is not spent on a
      // batch that left this series out (the retry would be a duplicate).
      if (!SeriesAtFault(tag.status().code())) return absl::Status(tag.status().code(), reason);
      for (int j = 0; j < count; ++j) Reject(i, j, tag.status().code(), reason, &out.rejected);
      continue;
    }
    engine::SeriesData data;
    data.tag = tag->id;
    data.cols.Reset(tag->type);
    if (column_samples > 0) {
      absl::Status shape = CheckColumnsShape(series.columns(), *tag, i);
      if (!shape.ok()) {
        std::string reason(shape.message());
        for (int j = 0; j < count; ++j) Reject(i, j, shape.code(), reason, &out.rejected);
        continue;
      }
      AppendColumns(series.columns(), *tag, i, &data.cols, &out.rejected);
    }
    for (int j = 0; j < series.samples_size(); ++j) {
      absl::Status st = AppendValue(series.samples(j), *tag, i, j, &data.cols);
      if (!st.ok()) Reject(i, j, st.code(), std::string(st.message()), &out.rejected);
    }
    if (data.cols.size() > 0) out.input.series.push_back(std::move(data));
  }
  out.repeated = DropRepeatedTimestamps(&out.input.series);
  return out;
}

absl::StatusOr<StartedWrite> StartWrite(const v1::WriteRequest& request, const Limits& limits,
                                        Store* store, uint64_t dedupe_digest) {
  absl::StatusOr<PreparedWrite> prepared = PrepareWrite(request, limits, store);
  if (!prepared.ok()) return prepared.status();
  prepared->input.dedupe_digest = dedupe_digest;
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

}  // namespace historian::server
