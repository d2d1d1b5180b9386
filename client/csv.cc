// File: csv.cc
#include "client/csv.h"

#include <istream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "client/time_parse.h"
#include "client/value_text.h"

namespace historian::client {
namespace {

constexpr int kEof = std::char_traits<char>::eof();

}  // namespace

CsvReader::CsvReader(std::istream* in) : buf_(in->rdbuf()) {}

int CsvReader::Get() { return buf_ == nullptr ? kEof : buf_->sbumpc(); }
int CsvReader::Peek() { return buf_ == nullptr ? kEof : buf_->sgetc(); }

void CsvReader::SkipRestOfLine() {
  for (int c = Get(); c != kEof; c = Get()) {
    if (c == '\n') {
      ++line_;
      return;
    }
  }
}

absl::StatusOr<bool> CsvReader::Next(CsvRecord* record) {
  record->clear();
  if (Peek() == kEof) return false;
  record_line_ = line_;
  int64_t column = 1;
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("line ", line_, ", field ", column, ": ", what));
  };
  while (true) {
    CsvField field;
    int c = Get();
    if (c == '"') {
      field.quoted = true;
      const int64_t start_line = line_;
      while (true) {
        c = Get();
        if (c == kEof) {
          return absl::InvalidArgumentError(absl::StrCat("line ", start_line, ", field ", column,
                                                         ": quoted field is never closed"));
        }
        if (c == '"') {
          if (Peek() == '"') {
            Get();
            field.text.push_back('"');
            continue;
          }
          break;
        }
        if (c == '\n') ++line_;
        field.text.push_back(static_cast<char>(c));
      }
      c = Get();
      if (c == '\r' && Peek() == '\n') c = Get();
      if (c != ',' && c != '\n' && c != kEof) {
        absl::Status s = error("unexpected text after a closing quote");
        SkipRestOfLine();
        return s;
      }
    } else {
      while (c != ',' && c != '\n' && c != kEof) {
        if (c == '\r' && (Peek() == '\n' || Peek() == kEof)) {
          c = Get();
          break;
        }
        if (c == '"') {
          absl::Status s = error("quote inside an unquoted field (quote the whole field)");
          SkipRestOfLine();
          return s;
        }
        field.text.push_back(static_cast<char>(c));
        c = Get();
      }
    }
    record->push_back(std::move(field));
    if (c == ',') {
      ++column;
      continue;
    }
    if (c == '\n') ++line_;
    return true;
  }
}

std::string CsvEscape(absl::string_view field, bool force_quote) {
  const bool needs =
      force_quote || field.find_first_of(",\"\r\n") != field.npos ||
      (!field.empty() && (absl::ascii_isspace(field.front()) || absl::ascii_isspace(field.back())));
  if (!needs) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

ImportReader::ImportReader(std::istream* in) : csv_(in) {}

absl::Status ImportReader::ReadHeader() {
  absl::StatusOr<bool> more = csv_.Next(&record_);
  if (!more.ok()) return more.status();
  if (!*more) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty file: want a header line like ", kImportHeader));
  }
  // Skip a UTF-8 byte order mark.
  if (!record_.empty() && absl::StartsWith(record_[0].text, "\xEF\xBB\xBF")) {
    record_[0].text.erase(0, 3);
  }
  for (size_t i = 0; i < record_.size(); ++i) {
    const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(record_[i].text));
    int* slot = name == "tag"       ? &tag_col_
                : name == "time"    ? &time_col_
                : name == "value"   ? &value_col_
                : name == "quality" ? &quality_col_
                                    : nullptr;
    if (slot == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", csv_.record_line(), ": unknown column '", record_[i].text,
                       "' in header (want ", kImportHeader, ", quality optional)"));
    }
    if (*slot >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", csv_.record_line(), ": duplicate column '", name, "' in header"));
    }
    *slot = static_cast<int>(i);
  }
  if (tag_col_ < 0 || time_col_ < 0 || value_col_ < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "line ", csv_.record_line(),
        ": header must name the columns tag, time and value (quality optional), got '",
        absl::StrJoin(record_, ",",
                      [](std::string* out, const CsvField& f) { out->append(f.text); }),
        "'"));
  }
  columns_ = record_.size();
  return absl::OkStatus();
}

absl::Status ImportReader::RowError(int64_t line, absl::string_view column,
                                    absl::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", line, ": column ", column, ": ", message));
}

absl::StatusOr<bool> ImportReader::Next(ImportRow* row) {
  while (true) {
    absl::StatusOr<bool> more = csv_.Next(&record_);
    if (!more.ok() || !*more) return more;
    // Blank line.
    if (record_.size() == 1 && !record_[0].quoted &&
        absl::StripAsciiWhitespace(record_[0].text).empty()) {
      continue;
    }
    break;
  }
  const int64_t line = csv_.record_line();
  if (record_.size() != columns_) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line, ": expected ", columns_, " columns, got ", record_.size()));
  }
  for (CsvField& f : record_) {
    if (!f.quoted) absl::StripAsciiWhitespace(&f.text);
  }
  row->line = line;
  row->tag = std::move(record_[tag_col_].text);
  if (row->tag.empty()) return RowError(line, "tag", "empty tag name");

  absl::StatusOr<int64_t> ts = ParseTimestamp(record_[time_col_].text);
  if (!ts.ok()) return RowError(line, "time", ts.status().message());
  row->timestamp_ns = *ts;

  const CsvField& value = record_[value_col_];
  absl::StatusOr<historian::v1::Value> v = InferValue(value.text, value.quoted);
  if (!v.ok()) return RowError(line, "value", v.status().message());
  row->value = *std::move(v);
  row->value_text = value.text;
  row->value_quoted = value.quoted;

  row->quality = 0;
  if (quality_col_ >= 0) {
    absl::StatusOr<uint32_t> q = ParseQuality(record_[quality_col_].text);
    if (!q.ok()) return RowError(line, "quality", q.status().message());
    row->quality = *q;
  }
  return true;
}

}  // namespace historian::client
