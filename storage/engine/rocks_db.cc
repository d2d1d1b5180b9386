#include "storage/engine/rocks_db.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/engine/column_families.h"
#include "storage/engine/rocks_info_log.h"

namespace historian::engine {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(std::string(what), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsNoSpace()) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

namespace {

// Debian's RocksDB computes CRC32C in software; xxHash64 block checksums
// are several times cheaper there and just as safe.
rocksdb::BlockBasedTableOptions TableOptions() {
  rocksdb::BlockBasedTableOptions t;
  t.checksum = rocksdb::kxxHash64;
  return t;
}

// Catalog, rollups and state: small rows (names, u64s, rollup cells) that
// compress well only over many of them. Their bottommost files (all of them
// once `historian compact` ran) use zstd over 16 KiB blocks: 25-35% smaller
// than Snappy over 4 KiB (issue 16, bench/README.md "Data dir overhead").
// Upper levels keep Snappy: flushes stay cheap.
rocksdb::ColumnFamilyOptions PlainOptions() {
  rocksdb::ColumnFamilyOptions o;
  o.bottommost_compression = rocksdb::kZSTD;
  o.bottommost_compression_opts.enabled = true;
  o.bottommost_compression_opts.level = 9;
  rocksdb::BlockBasedTableOptions t = TableOptions();
  t.block_size = 16 << 10;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

rocksdb::ColumnFamilyOptions ChunksOptions() {
  rocksdb::ColumnFamilyOptions o;
  // Chunks are already encoded column by column; zstd pays off only on cold
  // data, at the bottommost level.
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kZSTD;
  o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));  // tag id
  rocksdb::BlockBasedTableOptions t = TableOptions();
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = false;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.write_buffer_size = 64 << 20;
  return o;
}

rocksdb::ColumnFamilyOptions LogOptions() {
  rocksdb::ColumnFamilyOptions o;
  // Short-lived, written once and deleted by range: no compression, large
  // memtables (most entries are trimmed before they are flushed), and a
  // tolerant L0 so a burst of backfill does not stall writers.
  o.compression = rocksdb::kNoCompression;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(TableOptions()));
  o.write_buffer_size = 128 << 20;
  o.max_write_buffer_number = 4;
  o.level0_slowdown_writes_trigger = 40;
  o.level0_stop_writes_trigger = 64;
  return o;
}

// Points every column family's table factory at one block cache: the
// factories keep their own options otherwise.
void ShareBlockCache(const std::shared_ptr<rocksdb::Cache>& cache,
                     rocksdb::ColumnFamilyOptions* o) {
  auto* t = o->table_factory->GetOptions<rocksdb::BlockBasedTableOptions>();
  if (t == nullptr) return;
  rocksdb::BlockBasedTableOptions shared = *t;
  shared.block_cache = cache;
  o->table_factory.reset(rocksdb::NewBlockBasedTableFactory(shared));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDb>> RocksDb::Open(
    const std::string& path, const RocksDbMemory& memory, StoreLogger info_log,
    std::shared_ptr<rocksdb::MergeOperator> events_merge) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = 2;
  dbo.bytes_per_sync = 1 << 20;
  if (info_log) dbo.info_log = std::make_shared<RocksInfoLog>(std::move(info_log));
  // A WAL file goes only once every column family with data in it has
  // flushed; a column family written rarely (catalog, state) would keep
  // gigabytes of trimmed log entries alive in a long-running node. Past this
  // RocksDB flushes the column families that hold the oldest WAL file.
  dbo.max_total_wal_size = uint64_t{256} << 20;
  if (memory.memtable_budget_bytes != 0) {
    dbo.write_buffer_manager =
        std::make_shared<rocksdb::WriteBufferManager>(memory.memtable_budget_bytes);
  }
  rocksdb::ColumnFamilyOptions plain = PlainOptions();
  rocksdb::ColumnFamilyOptions log = LogOptions();
  rocksdb::ColumnFamilyOptions chunks = ChunksOptions();
  if (memory.block_cache_bytes != 0) {
    std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(memory.block_cache_bytes);
    for (rocksdb::ColumnFamilyOptions* o : {&plain, &log, &chunks}) ShareBlockCache(cache, o);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, plain},
      {kCatalogCf, plain},
      {kLogCf, log},
      {kChunksCf, chunks},
      {kRollupsCf, plain},
      {kStateCf, plain},
      {kEventsCf, plain},
  };
  cfs.back().options.merge_operator = std::move(events_merge);
  auto out = std::unique_ptr<RocksDb>(new RocksDb());
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, path, cfs, &out->handles_, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open database ", path));
  out->db_.reset(raw);
  out->path_ = path;
  return out;
}

RocksDb::~RocksDb() {
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles_.clear();
  if (db_ && db_->Close().ok()) RemoveOptionsFiles(path_);
}

// RocksDB writes an OPTIONS-<n> file (~28 KB: every option of every column
// family, as text) at each open and keeps the last two. Nothing reads them
// back: DB::Open takes its options from the code (Open above) and works
// without them, as on dirs written before RocksDB had them; they only
// document the options for tools such as `ldb`. After a clean close they
// are removed, so a quiet data dir does not carry 56 KB of them (issue 16:
// 0.37 B/sample on the NAB set). A crash leaves them, and RocksDB removes
// stale ones at the next open.
void RocksDb::RemoveOptionsFiles(const std::string& path) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("OPTIONS-", 0) != 0) continue;
    std::error_code ignored;  // best effort: a leftover file is harmless
    std::filesystem::remove(e.path(), ignored);
  }
}

}  // namespace historian::engine
