// File: logger.h
// The storage log hook (StoreOptions::logger), as LevelDB's info_log: every
// part of the store writes its log lines through one of these, so the node
// can route them into its own logger. Header only.
#ifndef HISTORIAN_STORAGE_ENGINE_LOGGER_H_
#define HISTORIAN_STORAGE_ENGINE_LOGGER_H_

#include <functional>
#include <string_view>

namespace historian {

enum class LogSeverity { kInfo, kWarning, kError };

// One log line (no trailing newline). Called from any thread, also with the
// store's locks held: it must not call back into the store.
using StoreLogger = std::function<void(LogSeverity, std::string_view)>;

// The default: "historian: <message>" on stderr, as one write.
void LogToStderr(LogSeverity severity, std::string_view message);

}  // namespace historian

#endif  // HISTORIAN_STORAGE_ENGINE_LOGGER_H_
