// File: rocks_memory.h
// RocksMemory: what the RocksDB database holds in memory, by owner, read
// from its properties (StoreStats, issue 16).
#ifndef HISTORIAN_STORAGE_ENGINE_ROCKS_MEMORY_H_
#define HISTORIAN_STORAGE_ENGINE_ROCKS_MEMORY_H_

#include <cstdint>

#include "storage/engine/rocks_db.h"

namespace historian::engine {

struct RocksMemory {
  uint64_t memtable_bytes = 0;            // every CF's rocksdb.cur-size-all-mem-tables
  uint64_t block_cache_bytes = 0;         // each distinct block cache's usage, once
  uint64_t block_cache_pinned_bytes = 0;  // of that, pinned by readers
  uint64_t table_readers_bytes = 0;       // every CF's rocksdb.estimate-table-readers-mem
};

// Thread-safe (reads properties of the open database).
RocksMemory ReadRocksMemory(const RocksDb& db);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_ROCKS_MEMORY_H_
