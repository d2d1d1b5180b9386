#include "storage/commit_log/version_seen.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/key_format.h"

namespace historian {

absl::StatusOr<Version> ReadVersionSeen(engine::RocksDb* db) {
  std::string value;
  rocksdb::Status s =
      db->db()->Get(rocksdb::ReadOptions(), db->state(), engine::kVersionSeenKey, &value);
  if (s.IsNotFound()) return Version{0};
  if (!s.ok()) return engine::FromRocks(s, engine::kVersionSeenKey);
  if (value.size() != engine::kU64Size) {
    return absl::DataLossError(absl::StrCat("state ", engine::kVersionSeenKey, ": bad size"));
  }
  return engine::GetBigEndian64(value.data());
}

absl::Status RaiseVersionSeen(engine::RocksDb* db, Version seen, rocksdb::WriteBatch* batch) {
  ASSIGN_OR_RETURN(const Version stored, ReadVersionSeen(db));
  if (seen <= stored) return absl::OkStatus();
  std::string value;
  engine::PutBigEndian64(seen, &value);
  batch->Put(db->state(), engine::kVersionSeenKey, value);
  return absl::OkStatus();
}

}  // namespace historian
