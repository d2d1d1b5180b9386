// File: output.cc
#include "client/cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/csv.h"
#include "client/time_parse.h"
#include "client/value_text.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;
using client::CsvEscape;
using client::FormatDouble;

constexpr size_t kQualityWidth = 10;

// The width of the time column of tables: the longest time in `style`
// (2026-11-23T10:00:00.123456789Z, or +01:00 instead of Z, or -ns).
size_t TimeWidth(const TimeStyle& style) {
  return std::max(style.Format(INT64_MIN).size(), style.Format(INT64_MAX).size());
}

// A time as a JSON value: a string for RFC 3339, else a number.
std::string JsonTime(int64_t ns, const TimeStyle& style) {
  const std::string t = style.Format(ns);
  return style.format == client::TimeFormat::kRfc3339 ? JsonString(t) : t;
}

std::string Pad(absl::string_view s, size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

std::string JsonDouble(double d) {
  if (std::isnan(d)) return "\"NaN\"";
  if (std::isinf(d)) return d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  return FormatDouble(d);
}

// An aggregate result: NaN means "no data".
std::string FormatAggregate(double d, OutputFormat format) {
  if (std::isnan(d)) {
    return format == OutputFormat::kJson ? "null" : format == OutputFormat::kTable ? "-" : "";
  }
  return format == OutputFormat::kJson ? JsonDouble(d) : FormatDouble(d);
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "csv") return OutputFormat::kCsv;
  if (name == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format '", name, "': want table, csv or json"));
}

OutputFormat DefaultOutputFormat(bool stdout_is_terminal) {
  return stdout_is_terminal ? OutputFormat::kTable : OutputFormat::kCsv;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string FormatValue(const v1::Value& value, OutputFormat format) {
  switch (value.kind_case()) {
    case v1::Value::kDoubleValue:
      return format == OutputFormat::kJson ? JsonDouble(value.double_value())
                                           : FormatDouble(value.double_value());
    case v1::Value::kInt64Value:
      return absl::StrCat(value.int64_value());
    case v1::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case v1::Value::kStringValue:
      switch (format) {
        case OutputFormat::kTable:
          return value.string_value();
        case OutputFormat::kCsv:
          return CsvEscape(value.string_value(), /*force_quote=*/true);
        case OutputFormat::kJson:
          return JsonString(value.string_value());
      }
      break;
    default:
      break;
  }
  return format == OutputFormat::kJson ? "null" : "";
}

std::string FormatQuality(uint32_t quality, OutputFormat format) {
  if (format != OutputFormat::kTable) return absl::StrCat(quality);
  if (quality == 0) return "Good";
  return absl::StrFormat("0x%08X", quality);
}

SampleWriter::SampleWriter(std::ostream* out, OutputFormat format, size_t tag_width,
                           TimeStyle time_style)
    : out_(out),
      format_(format),
      tag_width_(std::max<size_t>(tag_width, 3)),
      time_style_(time_style),
      time_width_(TimeWidth(time_style)) {}

void SampleWriter::WriteHeader() {
  if (header_done_) return;
  header_done_ = true;
  if (format_ == OutputFormat::kTable) {
    *out_ << Pad("TAG", tag_width_) << "  " << Pad("TIME", time_width_) << "  "
          << Pad("QUALITY", kQualityWidth) << "  VALUE\n";
  } else if (format_ == OutputFormat::kCsv) {
    *out_ << client::kImportHeader << '\n';
  }
}

void SampleWriter::Write(absl::string_view tag, const v1::Sample& sample) {
  WriteHeader();
  const std::string value = FormatValue(sample.value(), format_);
  switch (format_) {
    case OutputFormat::kTable:
      *out_ << Pad(tag, tag_width_) << "  "
            << Pad(time_style_.Format(sample.timestamp_ns()), time_width_) << "  "
            << Pad(FormatQuality(sample.quality(), format_), kQualityWidth) << "  " << value
            << '\n';
      break;
    case OutputFormat::kCsv:
      *out_ << CsvEscape(tag) << ',' << time_style_.Format(sample.timestamp_ns()) << ',' << value
            << ',' << sample.quality() << '\n';
      break;
    case OutputFormat::kJson:
      *out_ << "{\"tag\":" << JsonString(tag)
            << ",\"time\":" << JsonTime(sample.timestamp_ns(), time_style_)
            << ",\"time_ns\":" << sample.timestamp_ns() << ",\"value\":" << value
            << ",\"quality\":" << sample.quality() << "}\n";
      break;
  }
}

void SampleWriter::WriteMissing(absl::string_view tag) {
  WriteHeader();
  switch (format_) {
    case OutputFormat::kTable:
      *out_ << Pad(tag, tag_width_) << "  " << Pad("-", time_width_) << "  "
            << Pad("-", kQualityWidth) << "  -\n";
      break;
    case OutputFormat::kCsv:
      *out_ << CsvEscape(tag) << ",,,\n";
      break;
    case OutputFormat::kJson:
      *out_ << "{\"tag\":" << JsonString(tag) << ",\"time\":null,\"time_ns\":null,\"value\":null,"
            << "\"quality\":null}\n";
      break;
  }
}

AggregateWriter::AggregateWriter(std::ostream* out, OutputFormat format,
                                 std::vector<std::string> functions, size_t tag_width,
                                 TimeStyle time_style)
    : out_(out),
      format_(format),
      functions_(std::move(functions)),
      tag_width_(std::max<size_t>(tag_width, 3)),
      time_style_(time_style),
      time_width_(TimeWidth(time_style)) {}

void AggregateWriter::Write(absl::string_view tag, const v1::AggregateWindow& window) {
  constexpr size_t kValueWidth = 22;
  // The count column already holds what a `count` function returns.
  auto own_column = [&](size_t i) { return functions_[i] != "count"; };
  if (!header_done_) {
    header_done_ = true;
    if (format_ == OutputFormat::kTable) {
      *out_ << Pad("TAG", tag_width_) << "  " << Pad("START", time_width_) << "  "
            << Pad("COUNT", 10);
      for (size_t i = 0; i < functions_.size(); ++i) {
        if (own_column(i)) *out_ << "  " << Pad(functions_[i], kValueWidth);
      }
      *out_ << '\n';
    } else if (format_ == OutputFormat::kCsv) {
      *out_ << "tag,start,count";
      for (size_t i = 0; i < functions_.size(); ++i) {
        if (own_column(i)) *out_ << ',' << CsvEscape(functions_[i]);
      }
      *out_ << '\n';
    }
  }
  switch (format_) {
    case OutputFormat::kTable:
      *out_ << Pad(tag, tag_width_) << "  "
            << Pad(time_style_.Format(window.start_ns()), time_width_) << "  "
            << Pad(absl::StrCat(window.count()), 10);
      for (size_t i = 0; i < functions_.size(); ++i) {
        if (!own_column(i)) continue;
        const double d = i < static_cast<size_t>(window.values_size()) ? window.values(i) : NAN;
        *out_ << "  " << Pad(FormatAggregate(d, format_), kValueWidth);
      }
      *out_ << '\n';
      break;
    case OutputFormat::kCsv:
      *out_ << CsvEscape(tag) << ',' << time_style_.Format(window.start_ns()) << ','
            << window.count();
      for (size_t i = 0; i < functions_.size(); ++i) {
        if (!own_column(i)) continue;
        const double d = i < static_cast<size_t>(window.values_size()) ? window.values(i) : NAN;
        *out_ << ',' << FormatAggregate(d, format_);
      }
      *out_ << '\n';
      break;
    case OutputFormat::kJson:
      *out_ << "{\"tag\":" << JsonString(tag)
            << ",\"start\":" << JsonTime(window.start_ns(), time_style_)
            << ",\"start_ns\":" << window.start_ns() << ",\"count\":" << window.count();
      for (size_t i = 0; i < functions_.size(); ++i) {
        if (!own_column(i)) continue;
        const double d = i < static_cast<size_t>(window.values_size()) ? window.values(i) : NAN;
        *out_ << ',' << JsonString(functions_[i]) << ':' << FormatAggregate(d, format_);
      }
      *out_ << "}\n";
      break;
  }
}

TagWriter::TagWriter(std::ostream* out, OutputFormat format) : out_(out), format_(format) {}

void TagWriter::Write(const v1::Tag& tag) {
  std::vector<std::pair<std::string, std::string>> attrs(tag.attributes().begin(),
                                                         tag.attributes().end());
  std::sort(attrs.begin(), attrs.end());
  const absl::string_view type = client::ValueTypeName(tag.value_type());
  // Unset range ends: empty in CSV, null in JSON, "-" in the table.
  const std::string low = tag.has_eng_low() ? FormatDouble(tag.eng_low()) : "";
  const std::string high = tag.has_eng_high() ? FormatDouble(tag.eng_high()) : "";
  switch (format_) {
    case OutputFormat::kTable: {
      if (!header_done_) {
        *out_ << Pad("NAME", 40) << "  " << Pad("TYPE", 8) << "  " << Pad("UNIT", 10) << "  "
              << Pad("RANGE", 16) << "  " << Pad("STALE_AFTER", 12) << "  DESCRIPTION\n";
      }
      const std::string range =
          tag.has_eng_low() || tag.has_eng_high()
              ? absl::StrCat(low.empty() ? "-" : low, "..", high.empty() ? "-" : high)
              : "-";
      const std::string stale = tag.stale_after_ns() == 0
                                    ? "never"
                                    : absl::StrCat(FormatDouble(tag.stale_after_ns() / 1e9), "s");
      *out_ << Pad(tag.name(), 40) << "  " << Pad(type, 8) << "  " << Pad(tag.unit(), 10) << "  "
            << Pad(range, 16) << "  " << Pad(stale, 12) << "  " << tag.description() << '\n';
      break;
    }
    case OutputFormat::kCsv:
      if (!header_done_) {
        *out_ << "name,type,unit,description,retention_ns,deadband,origin_site,attributes,"
                 "eng_low,eng_high,stale_after_ns\n";
      }
      *out_ << CsvEscape(tag.name()) << ',' << type << ',' << CsvEscape(tag.unit()) << ','
            << CsvEscape(tag.description()) << ',' << tag.retention_ns() << ','
            << FormatDouble(tag.deadband()) << ',' << CsvEscape(tag.origin_site()) << ','
            << CsvEscape(absl::StrJoin(attrs, ";", absl::PairFormatter("="))) << ',' << low << ','
            << high << ',' << tag.stale_after_ns() << '\n';
      break;
    case OutputFormat::kJson: {
      *out_ << "{\"name\":" << JsonString(tag.name()) << ",\"type\":\"" << type
            << "\",\"unit\":" << JsonString(tag.unit())
            << ",\"description\":" << JsonString(tag.description())
            << ",\"retention_ns\":" << tag.retention_ns()
            << ",\"deadband\":" << JsonDouble(tag.deadband())
            << ",\"origin_site\":" << JsonString(tag.origin_site()) << ",\"id\":" << tag.id()
            << ",\"created_ns\":" << tag.created_ns()
            << ",\"eng_low\":" << (tag.has_eng_low() ? JsonDouble(tag.eng_low()) : "null")
            << ",\"eng_high\":" << (tag.has_eng_high() ? JsonDouble(tag.eng_high()) : "null")
            << ",\"stale_after_ns\":" << tag.stale_after_ns() << ",\"attributes\":{";
      for (size_t i = 0; i < attrs.size(); ++i) {
        *out_ << (i ? "," : "") << JsonString(attrs[i].first) << ':' << JsonString(attrs[i].second);
      }
      *out_ << "}}\n";
      break;
    }
  }
  header_done_ = true;
}

namespace {

using google::protobuf::FieldDescriptor;

std::string FieldJson(const google::protobuf::Message& m, const FieldDescriptor* f, int index) {
  const google::protobuf::Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return JsonDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return JsonDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return JsonString((rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name());
    case FieldDescriptor::CPPTYPE_STRING:
      return JsonString(rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return MessageJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
  }
  return "null";
}

}  // namespace

std::string MessageJson(const google::protobuf::Message& message) {
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  std::string out = "{";
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    absl::StrAppend(&out, i ? "," : "", JsonString(f->name()), ":");
    if (!f->is_repeated()) {
      absl::StrAppend(&out, FieldJson(message, f, 0));
      continue;
    }
    out += "[";
    const int n = message.GetReflection()->FieldSize(message, f);
    for (int j = 0; j < n; ++j) absl::StrAppend(&out, j ? "," : "", FieldJson(message, f, j));
    out += "]";
  }
  return out + "}";
}

std::string FormatAck(const v1::WriteAck& ack, OutputFormat format) {
  switch (format) {
    case OutputFormat::kTable: {
      std::string out =
          absl::StrCat("accepted ", ack.accepted_count(), ", rejected ", ack.rejected_size(),
                       ack.duplicate() ? " (duplicate)" : "", "\n");
      for (const v1::RejectedSample& r : ack.rejected()) {
        absl::StrAppend(&out, "rejected series ", r.series_index(), " sample ", r.sample_index(),
                        ": ", absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code())),
                        ": ", r.reason(), "\n");
      }
      return out;
    }
    case OutputFormat::kCsv:
      return absl::StrCat("batch_sequence,accepted,rejected,duplicate\n", ack.batch_sequence(), ",",
                          ack.accepted_count(), ",", ack.rejected_size(), ",",
                          ack.duplicate() ? "true" : "false", "\n");
    case OutputFormat::kJson: {
      std::string out = absl::StrCat(
          "{\"batch_sequence\":", ack.batch_sequence(), ",\"accepted\":", ack.accepted_count(),
          ",\"duplicate\":", ack.duplicate() ? "true" : "false", ",\"rejected\":[");
      for (int i = 0; i < ack.rejected_size(); ++i) {
        const v1::RejectedSample& r = ack.rejected(i);
        absl::StrAppend(&out, i ? "," : "", "{\"series_index\":", r.series_index(),
                        ",\"sample_index\":", r.sample_index(), ",\"code\":", r.code(),
                        ",\"reason\":", JsonString(r.reason()), "}");
      }
      return out + "]}\n";
    }
  }
  return "";
}

}  // namespace historian::cli
