#include "storage/commit_log/sealed_markers.h"

#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/key_format.h"

namespace historian {
namespace {

// Deletes per write batch.
constexpr int kBatchDeletes = 4096;

// The sequence of the first log entry of `origin`, or the largest u64 when
// it has none.
absl::StatusOr<uint64_t> FirstLogSeq(const engine::RocksDb& db, const std::string& origin) {
  const std::string prefix = engine::LogPrefix(origin);
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), db.log()));
  it->Seek(engine::LogKey(origin, 0));
  if (!it->Valid() || !it->key().starts_with(prefix)) {
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "find the first log entry"));
    return std::numeric_limits<uint64_t>::max();
  }
  std::string_view key_origin;
  uint64_t seq = 0;
  if (!engine::ParseLogKey({it->key().data(), it->key().size()}, &key_origin, &seq) ||
      key_origin != origin) {
    return absl::DataLossError("log: malformed key");
  }
  return seq;
}

}  // namespace

absl::StatusOr<uint64_t> DropReplayedSealedMarkers(const engine::RocksDb& db) {
  const std::string_view prefix = engine::kSealedPrefix;
  std::map<std::string, uint64_t, std::less<>> first_live;  // per origin, read once
  rocksdb::WriteBatch batch;
  uint64_t dropped = 0;
  auto flush = [&]() -> absl::Status {
    if (batch.Count() == 0) return absl::OkStatus();
    RETURN_IF_ERROR(
        engine::FromRocks(db.db()->Write(rocksdb::WriteOptions(), &batch), "drop sealed markers"));
    dropped += batch.Count();
    batch.Clear();
    return absl::OkStatus();
  };
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), db.state()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    // A marker we cannot read is left alone (the replay reads it as it is).
    if (key.size() < prefix.size() + engine::kU64Size || it->value().size() != engine::kU64Size) {
      continue;
    }
    const std::string_view origin = key.substr(prefix.size() + engine::kU64Size);
    auto live = first_live.find(origin);
    if (live == first_live.end()) {
      ASSIGN_OR_RETURN(const uint64_t first, FirstLogSeq(db, std::string(origin)));
      live = first_live.emplace(std::string(origin), first).first;
    }
    if (engine::GetBigEndian64(it->value().data()) >= live->second) continue;
    batch.Delete(db.state(), it->key());
    if (batch.Count() >= kBatchDeletes) RETURN_IF_ERROR(flush());
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan sealed markers"));
  RETURN_IF_ERROR(flush());
  return dropped;
}

}  // namespace historian
