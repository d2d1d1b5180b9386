#include "storage/engine/rocks_info_log.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

namespace historian::engine {

RocksInfoLog::RocksInfoLog(StoreLogger hook)
    : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), hook_(std::move(hook)) {}

void RocksInfoLog::Logv(const char* format, va_list ap) {
  Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
}

void RocksInfoLog::Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) {
  if (level < GetInfoLogLevel() || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
  char buffer[1024];
  va_list copy;
  va_copy(copy, ap);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, copy);
  va_end(copy);
  if (n < 0) return;
  std::string line = "rocksdb: ";
  line.append(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof buffer - 1));
  hook_(level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? LogSeverity::kError : LogSeverity::kWarning,
        line);
}

}  // namespace historian::engine
