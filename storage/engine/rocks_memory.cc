#include "storage/engine/rocks_memory.h"

#include <vector>

#include "rocksdb/cache.h"
#include "rocksdb/table.h"

namespace historian::engine {

RocksMemory ReadRocksMemory(const RocksDb& db) {
  RocksMemory m;
  rocksdb::DB* d = db.db();
  std::vector<const rocksdb::Cache*> seen;
  for (rocksdb::ColumnFamilyHandle* cf :
       {d->DefaultColumnFamily(), db.catalog(), db.log(), db.chunks(), db.rollups(), db.state()}) {
    uint64_t v = 0;
    if (d->GetIntProperty(cf, "rocksdb.cur-size-all-mem-tables", &v)) m.memtable_bytes += v;
    if (d->GetIntProperty(cf, "rocksdb.estimate-table-readers-mem", &v)) m.table_readers_bytes += v;
    // Column families may share a table factory or a cache: count each
    // cache once.
    const rocksdb::Options options = d->GetOptions(cf);
    if (options.table_factory == nullptr) continue;
    const auto* table = options.table_factory->GetOptions<rocksdb::BlockBasedTableOptions>();
    if (table == nullptr || table->block_cache == nullptr) continue;
    const rocksdb::Cache* cache = table->block_cache.get();
    bool counted = false;
    for (const rocksdb::Cache* c : seen) counted = counted || c == cache;
    if (counted) continue;
    seen.push_back(cache);
    m.block_cache_bytes += cache->GetUsage();
    m.block_cache_pinned_bytes += cache->GetPinnedUsage();
  }
  return m;
}

}  // namespace historian::engine
