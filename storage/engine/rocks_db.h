// File: rocks_db.h
// RocksDb: owns a rocksdb::DB opened with the historian's column families,
// each tuned for its role. Handles are destroyed before the DB; after a
// clean close RocksDB's OPTIONS files are removed from the dir (nothing reads
// them; see RemoveOptionsFiles).
//
// Thread-safety: safe for concurrent use (rocksdb::DB is).
#ifndef HISTORIAN_STORAGE_ENGINE_ROCKS_DB_H_
#define HISTORIAN_STORAGE_ENGINE_ROCKS_DB_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/merge_operator.h"
#include "storage/engine/logger.h"

namespace historian::engine {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what);

// RocksDB's memory bounds (--memtable_budget_bytes, --block_cache_bytes).
struct RocksDbMemory {
  // Memtables of every column family together (a WriteBufferManager):
  // past it RocksDB flushes the largest. 0: each column family's own limits
  // only (up to ~1 GB together).
  uint64_t memtable_budget_bytes = uint64_t{128} << 20;
  // One LRU block cache shared by every column family (0: RocksDB's
  // default, 32 MB per table factory, three of them).
  uint64_t block_cache_bytes = uint64_t{32} << 20;
};

class RocksDb {
 public:
  // Opens or creates the database at `path` with every column family.
  // RocksDB's own warnings and errors go to `info_log` (RocksInfoLog); when
  // it is empty RocksDB keeps its LOG files in `path`. `events_merge` is
  // the events column family's merge operator (storage/events/); a data dir
  // from before that column family gets it created empty.
  static absl::StatusOr<std::unique_ptr<RocksDb>> Open(
      const std::string& path, const RocksDbMemory& memory = {}, StoreLogger info_log = {},
      std::shared_ptr<rocksdb::MergeOperator> events_merge = nullptr);
  ~RocksDb();
  RocksDb(const RocksDb&) = delete;
  RocksDb& operator=(const RocksDb&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* catalog() const { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* log() const { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* chunks() const { return handles_[3]; }
  rocksdb::ColumnFamilyHandle* rollups() const { return handles_[4]; }
  rocksdb::ColumnFamilyHandle* state() const { return handles_[5]; }
  rocksdb::ColumnFamilyHandle* events() const { return handles_[6]; }

 private:
  RocksDb() = default;
  static void RemoveOptionsFiles(const std::string& path);
  std::string path_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // [0] is "default"
};

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_ROCKS_DB_H_
