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
#include "historian/v1/catalog.pb.h"
#include "historian/v1/common.pb.h"
#include "historian/v1/ingest.pb.h"
#include "historian/v1/query.pb.h"

namespace historian::cli {

enum class OutputFormat { kTable, kCsv, kJson };

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

// Writes samples as rows: table `TAG TIME QUALITY VALUE` (time RFC 3339
// UTC), csv `tag,time,value,quality` (time in integer ns, the import-csv
// format), json `{"tag","time","time_ns","value","quality"}`.
class SampleWriter {
 public:
  // `out` is not owned. `tag_width` pads the tag column of tables.
  SampleWriter(std::ostream* out, OutputFormat format, size_t tag_width);

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
  bool header_done_ = false;
};

// Writes aggregate windows: one row per (tag, window) with the window start,
// sample count and one column per function (empty/`-`/null for NaN).
class AggregateWriter {
 public:
  // `functions` are the column names, in request order.
  AggregateWriter(std::ostream* out, OutputFormat format, std::vector<std::string> functions,
                  size_t tag_width);

  void Write(absl::string_view tag, const historian::v1::AggregateWindow& window);

 private:
  std::ostream* const out_;
  const OutputFormat format_;
  const std::vector<std::string> functions_;
  const size_t tag_width_;
  bool header_done_ = false;
};

// Writes catalog entries: table `NAME TYPE UNIT DESCRIPTION`, csv
// `name,type,unit,description,retention_ns,origin_site,attributes` (attributes
// as `k=v;k=v`, sorted), json every field.
class TagWriter {
 public:
  TagWriter(std::ostream* out, OutputFormat format);
  void Write(const historian::v1::Tag& tag);

 private:
  std::ostream* const out_;
  const OutputFormat format_;
  bool header_done_ = false;
};

// A write acknowledgement, newline-terminated: table `accepted N, rejected
// M` plus one line per rejected sample; csv
// `batch_sequence,accepted,rejected,duplicate` with a header; json one object.
std::string FormatAck(const historian::v1::WriteAck& ack, OutputFormat format);

}  // namespace historian::cli

#endif  // HISTORIAN_CLIENT_CLI_OUTPUT_H_
