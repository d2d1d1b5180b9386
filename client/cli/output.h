// File: output.h
// How the CLI prints results: `table` for people, `csv` (the import format,
// timestamps as integer nanoseconds) for pipes, `json` as JSON Lines (one
// object per line). Writers stream row by row and hold nothing but the row
// being printed.
//
// Not thread-safe: use one writer per output stream.
#ifndef HISTORIAN_CLIENT_CLI_OUTPUT_H_
#define HISTORIAN_CLIENT_CLI_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/time_parse.h"
#include "google/protobuf/message.h"
#include "historian/v1/catalog.pb.h"
#include "historian/v1/common.pb.h"
#include "historian/v1/ingest.pb.h"
#include "historian/v1/query.pb.h"

namespace historian::cli {

enum class OutputFormat { kTable, kCsv, kJson };

// How times are printed (--time_format, --tz): RFC 3339 with 9 fractional
// digits in UTC by default.
struct TimeStyle {
  client::TimeFormat format = client::TimeFormat::kRfc3339;
  absl::TimeZone zone = absl::UTCTimeZone();

  std::string Format(int64_t ns) const { return client::FormatTime(ns, format, zone); }
};

// `table`, `csv` or `json`.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// table on a terminal, csv otherwise (piped or redirected).
OutputFormat DefaultOutputFormat(bool stdout_is_terminal);

// A JSON string literal, quotes included; control characters are escaped,
// other bytes (UTF-8) pass through.
std::string JsonString(absl::string_view s);

// One value as text in `format`:
//   table: plain text (`21.4`, `42`, `true`, `hello`);
//   csv:   a CSV field import-csv reads back to the same value and type:
//          strings always quoted, doubles always with `.` or `e` (`1.0`);
//   json:  a JSON literal; NaN and infinities as "NaN", "Infinity",
//          "-Infinity"; an unset value as null.
std::string FormatValue(const historian::v1::Value& value, OutputFormat format);

// table: `Good` for 0, else `0x80000000` style hex; csv and json: decimal.
std::string FormatQuality(uint32_t quality, OutputFormat format);

// Writes samples as rows: table `TAG TIME QUALITY VALUE`, csv
// `tag,time,value,quality` (the import-csv format when the time style is
// rfc3339 or ns), json `{"tag","time","time_ns","value","quality"}` ("time" a
// string for rfc3339, a number for ns and ms). Times are in `time_style`.
class SampleWriter {
 public:
  // `out` is not owned. `tag_width` pads the tag column of tables.
  SampleWriter(std::ostream* out, OutputFormat format, size_t tag_width,
               TimeStyle time_style = TimeStyle());

  void Write(absl::string_view tag, const historian::v1::Sample& sample);
  // A tag without any sample (Latest): table `-`, csv empty fields, json
  // `"value":null`.
  void WriteMissing(absl::string_view tag);
  // Writes the header line (table, csv) unless already written; the first
  // Write does it too.
  void WriteHeader();

 private:
  std::ostream* const out_;
  const OutputFormat format_;
  const size_t tag_width_;
  const TimeStyle time_style_;
  const size_t time_width_;
  bool header_done_ = false;
};

// Writes aggregate windows: one row per (tag, window) with the window start,
// sample count and one column per function (empty/`-`/null for NaN). A
// `count` function gets no column of its own: the count column is it.
class AggregateWriter {
 public:
  // `functions` are the names of the window's values, in request order.
  AggregateWriter(std::ostream* out, OutputFormat format, std::vector<std::string> functions,
                  size_t tag_width, TimeStyle time_style = TimeStyle());

  void Write(absl::string_view tag, const historian::v1::AggregateWindow& window);

 private:
  std::ostream* const out_;
  const OutputFormat format_;
  const std::vector<std::string> functions_;
  const size_t tag_width_;
  const TimeStyle time_style_;
  const size_t time_width_;
  bool header_done_ = false;
};

// Writes catalog entries: table `NAME TYPE UNIT DESCRIPTION`, csv
// `name,type,unit,description,retention_ns,deadband,origin_site,attributes`
// (attributes as `k=v;k=v`, sorted), json every field.
class TagWriter {
 public:
  TagWriter(std::ostream* out, OutputFormat format);
  void Write(const historian::v1::Tag& tag);

 private:
  std::ostream* const out_;
  const OutputFormat format_;
  bool header_done_ = false;
};

// `message` as one JSON object (no newline): every field in declaration
// order, unset scalars included, with proto field names; 64-bit integers as
// JSON numbers, enums by name, doubles as FormatValue's json form.
std::string MessageJson(const google::protobuf::Message& message);

// A write acknowledgement, newline-terminated: table `accepted N, rejected
// M` plus one line per rejected sample; csv
// `batch_sequence,accepted,rejected,duplicate` with a header; json one object.
std::string FormatAck(const historian::v1::WriteAck& ack, OutputFormat format);

}  // namespace historian::cli

#endif  // HISTORIAN_CLIENT_CLI_OUTPUT_H_
