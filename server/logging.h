// File: logging.h
// A tiny structured logger for the node. Each record is one line on stderr:
//
//   2026-08-01T12:00:00.123456Z info replicator: range sync done peer=mx samples=12
//
// i.e. `timestamp level component: message key=value ...`. Values holding
// spaces, quotes or `=` are double-quoted with `"` and `\` escaped. Records
// below the level set by SetLogLevel() (flag --log_level) are dropped.
// Secrets (bearer tokens, keys) must never be passed as values.
//
//   Log(LogLevel::kInfo, "historiand", "listening", {{"address", addr}});
//
// Thread-safety: every function may be called concurrently; a record is
// written with one write(2), so lines never interleave.
#ifndef HISTORIAN_SERVER_LOGGING_H_
#define HISTORIAN_SERVER_LOGGING_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace historian::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning" (or "warn") and "error". InvalidArgument
// otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// One key=value field. The value is text; use absl::StrCat for numbers.
using LogField = std::pair<std::string_view, std::string>;

void Log(LogLevel level, std::string_view component, std::string_view message,
         std::initializer_list<LogField> fields = {});

// Formats a record without writing it (tests).
std::string FormatLogLine(int64_t unix_ns, LogLevel level, std::string_view component,
                          std::string_view message, std::initializer_list<LogField> fields);

inline void LogDebug(std::string_view component, std::string_view message,
                     std::initializer_list<LogField> fields = {}) {
  if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, component, message, fields);
}
inline void LogInfo(std::string_view component, std::string_view message,
                    std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, component, message, fields);
}
inline void LogWarning(std::string_view component, std::string_view message,
                       std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, component, message, fields);
}
inline void LogError(std::string_view component, std::string_view message,
                     std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, component, message, fields);
}

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_LOGGING_H_
