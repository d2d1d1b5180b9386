// File: csv.h
// Streaming CSV (RFC 4180) reading and writing, and the import format
// `tag,time,value[,quality]` that `historian import-csv` reads and
// `historian export-csv` writes.
//
// Readers hold one record at a time, never the file. They are not
// thread-safe; use one per thread.
#ifndef HISTORIAN_CLIENT_CSV_H_
#define HISTORIAN_CLIENT_CSV_H_

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "historian/v1/common.pb.h"

namespace historian::client {

struct CsvField {
  std::string text;     // unescaped content
  bool quoted = false;  // the field was written in double quotes
};
using CsvRecord = std::vector<CsvField>;

// Reads RFC 4180 records: fields separated by `,`, records by LF or CRLF,
// quoted fields may hold `,`, line breaks and `""` (one quote).
class CsvReader {
 public:
  // `in` is not owned and must outlive the reader.
  explicit CsvReader(std::istream* in);

  // Reads the next record into *record. Returns false at the end of input.
  // A syntax error (a quote inside an unquoted field, text after a closing
  // quote, an unterminated quote) returns INVALID_ARGUMENT naming the line and
  // column; the rest of that line is skipped, so the caller may go on reading.
  absl::StatusOr<bool> Next(CsvRecord* record);

  // 1-based line on which the record last returned (or failed) started.
  int64_t record_line() const { return record_line_; }

 private:
  int Get();
  int Peek();
  void SkipRestOfLine();

  std::streambuf* buf_;
  int64_t line_ = 1;
  int64_t record_line_ = 0;
};

// Returns `field` as a CSV field: quoted (with `""` escapes) when
// `force_quote` or when it holds `,`, `"`, CR, LF or leading/trailing spaces.
std::string CsvEscape(absl::string_view field, bool force_quote = false);

// One sample row of the import format.
struct ImportRow {
  int64_t line = 0;  // 1-based line where the row starts
  std::string tag;
  int64_t timestamp_ns = 0;
  historian::v1::Value value;  // typed by InferValue
  std::string value_text;      // the value field as written (unescaped)
  bool value_quoted = false;
  uint32_t quality = 0;
};

// The header ExportCsv writes and ImportReader expects (any column order).
inline constexpr absl::string_view kImportHeader = "tag,time,value,quality";

// Reads the import format: a required header naming the columns `tag`,
// `time`, `value` and optionally `quality` (any order, any case); then one
// sample per row. `time` is RFC 3339 or integer nanoseconds; `value` is typed
// by InferValue; `quality` is decimal or 0x-hex (empty: 0). Blank lines are
// skipped; spaces around unquoted fields are ignored.
class ImportReader {
 public:
  // `in` is not owned and must outlive the reader.
  explicit ImportReader(std::istream* in);

  // Reads and checks the header. REQUIRES: called once, before Next().
  // INVALID_ARGUMENT for a missing, unknown or duplicate column.
  absl::Status ReadHeader();

  // Reads the next row into *row. Returns false at the end of input. A bad
  // row returns INVALID_ARGUMENT like "line 7: column time: ..."; the row is
  // skipped and reading may continue.
  absl::StatusOr<bool> Next(ImportRow* row);

 private:
  absl::Status RowError(int64_t line, absl::string_view column, absl::string_view message) const;

  CsvReader csv_;
  CsvRecord record_;
  int tag_col_ = -1;
  int time_col_ = -1;
  int value_col_ = -1;
  int quality_col_ = -1;
  size_t columns_ = 0;
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_CSV_H_
