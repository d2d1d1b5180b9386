// File: rocks_info_log.h
// RocksInfoLog: RocksDB's info log (rocksdb::Logger) forwarded to the
// store's log hook (StoreLogger) at warning level and above, instead of the
// LOG / LOG.old.* files RocksDB otherwise keeps in the data dir (one more
// every restart, 0.1-0.3 MB each: a fifth of a small node's data on disk).
// Its info-level chatter (flushes, compactions) is dropped.
//
// Thread-safety: any thread, as rocksdb::Logger requires; the hook must be
// callable from any thread (StoreLogger's contract).
#ifndef HISTORIAN_STORAGE_ENGINE_ROCKS_INFO_LOG_H_
#define HISTORIAN_STORAGE_ENGINE_ROCKS_INFO_LOG_H_

#include <cstdarg>

#include "rocksdb/env.h"
#include "storage/engine/logger.h"

namespace historian::engine {

class RocksInfoLog : public rocksdb::Logger {
 public:
  explicit RocksInfoLog(StoreLogger hook);

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override;

 private:
  const StoreLogger hook_;
};

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_ROCKS_INFO_LOG_H_
