#include "storage/engine/rocks_db.h"

#include "absl/strings/str_cat.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "storage/engine/column_families.h"

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

rocksdb::ColumnFamilyOptions ChunksOptions() {
  rocksdb::ColumnFamilyOptions o;
  // Chunks are already encoded column by column; zstd pays off only on cold
  // data, at the bottommost level.
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kZSTD;
  o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));  // tag id
  rocksdb::BlockBasedTableOptions t;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = false;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  o.write_buffer_size = 64 << 20;
  return o;
}

rocksdb::ColumnFamilyOptions LogOptions() {
  rocksdb::ColumnFamilyOptions o;
  // Short-lived, written once and deleted by range: no compression.
  o.compression = rocksdb::kNoCompression;
  o.write_buffer_size = 64 << 20;
  return o;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDb>> RocksDb::Open(const std::string& path) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = 2;
  dbo.bytes_per_sync = 1 << 20;
  rocksdb::ColumnFamilyOptions plain;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, plain},
      {kCatalogCf, plain},
      {kLogCf, LogOptions()},
      {kChunksCf, ChunksOptions()},
      {kRollupsCf, plain},
      {kStateCf, plain},
  };
  auto out = std::unique_ptr<RocksDb>(new RocksDb());
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(dbo, path, cfs, &out->handles_, &raw);
  if (!s.ok()) return FromRocks(s, absl::StrCat("open database ", path));
  out->db_.reset(raw);
  return out;
}

RocksDb::~RocksDb() {
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  handles_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

}  // namespace historian::engine
