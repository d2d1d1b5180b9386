// Store administration: online backup (RocksDB checkpoint), manual
// compaction, per-column-family properties and resuming after a background
// error.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/commit_log/sealed_markers.h"
#include "storage/engine/key_format.h"
#include "storage/store.h"
#include "storage/store_parts.h"

namespace historian {
namespace {

uint64_t IntProperty(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& name) {
  uint64_t v = 0;
  return db->GetIntProperty(cf, name, &v) ? v : 0;
}

}  // namespace

absl::Status Store::Backup(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("backup dir: empty");
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("backup dir ", dir, " already exists; give a new directory"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  absl::Status s =
      engine::FromRocks(rocksdb::Checkpoint::Create(db_->db(), &raw), "create checkpoint");
  if (!s.ok()) return s;
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: always flush memtables first, so the copy needs no
  // WAL replay beyond what RocksDB includes itself.
  RETURN_IF_ERROR(engine::FromRocks(checkpoint->CreateCheckpoint(dir, /*log_size_for_flush=*/0),
                                    absl::StrCat("checkpoint into ", dir)));
  // Marks the copy as a backup: opening it is a restore (OwnLog::StartRestoreEpoch).
  const std::string marker = (std::filesystem::path(dir) / kRestoreMarkerFile).string();
  std::ofstream out(marker);
  out << "A historian backup. The first node to open this directory skips "
         "own log sequences (a restore epoch) and removes this file.\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("write ", marker));
  // Durable before the backup is reported done: a restore without it could
  // reuse sequences.
  int fd = ::open(marker.c_str(), O_RDONLY);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  const bool synced = fd >= 0 && dir_fd >= 0 && ::fsync(fd) == 0 && ::fsync(dir_fd) == 0;
  if (fd >= 0) ::close(fd);
  if (dir_fd >= 0) ::close(dir_fd);
  if (!synced)
    return absl::InternalError(absl::StrCat("fsync ", marker, ": ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::StatusOr<std::string> Store::TwinMap() const {
  std::string value;
  rocksdb::Status s =
      db_->db()->Get(rocksdb::ReadOptions(), db_->state(), engine::kTwinMapKey, &value);
  if (s.IsNotFound()) return std::string();
  RETURN_IF_ERROR(engine::FromRocks(s, "read twin map"));
  return value;
}

absl::Status Store::SetTwinMap(const std::string& twin_map) {
  rocksdb::WriteOptions w;
  w.sync = true;
  rocksdb::DB* db = db_->db();
  return engine::FromRocks(twin_map.empty()
                               ? db->Delete(w, db_->state(), engine::kTwinMapKey)
                               : db->Put(w, db_->state(), engine::kTwinMapKey, twin_map),
                           "write twin map");
}

absl::Status Store::Compact() {
  {
    absl::MutexLock pass(&seal_mu_);
    // Every head sealed and the log trimmed first, so everything the store
    // holds is compacted below: a stop right after leaves no new chunks,
    // rollup or state rows, and no trimmed log entry, outside the compacted
    // files (issue 16: compact + stop within 1.2x of the quiet size).
    sealer_->seal_mu().AssertHeld();  // the same mutex
    if (absl::Status s = sealer_->SealPass(/*force=*/true); !s.ok()) {
      NoteSealPassFailed(s);
      return s;
    }
    Compactor& compactor = *compactor_;
    compactor.seal_mu().AssertHeld();  // the same mutex
    // Overlaps first (merges skip overlapping chunks); the forced merge scans
    // every chunk and queues overlaps no seal recorded, for a second round.
    RETURN_IF_ERROR(compactor.OverlapPass());
    RETURN_IF_ERROR(compactor.MergePass(/*force=*/true));
    const uint64_t rewritten = chunk_store_->counters().rewritten.load();
    RETURN_IF_ERROR(compactor.OverlapPass());
    if (chunk_store_->counters().rewritten.load() != rewritten) {
      RETURN_IF_ERROR(compactor.MergePass(/*force=*/true));
    }
    // The log is trimmed: the sealed/ markers below it go (sealed_markers.h).
    RETURN_IF_ERROR(DropReplayedSealedMarkers(*db_).status());
  }
  rocksdb::DB* db = db_->db();
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  // The events CF too: each clean stop flushes it into a file of its own.
  for (rocksdb::ColumnFamilyHandle* cf :
       {db_->catalog(), db_->log(), db_->chunks(), db_->rollups(), db_->state(), db_->events()}) {
    absl::Status s = engine::FromRocks(db->CompactRange(o, cf, nullptr, nullptr),
                                       absl::StrCat("compact ", cf->GetName()));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<Store::ColumnFamilyStats> Store::ColumnFamilyProperties() const {
  rocksdb::DB* db = db_->db();
  std::vector<ColumnFamilyStats> out;
  for (rocksdb::ColumnFamilyHandle* cf :
       {db_->catalog(), db_->log(), db_->chunks(), db_->rollups(), db_->state()}) {
    ColumnFamilyStats st;
    st.name = cf->GetName();
    st.sst_bytes = IntProperty(db, cf, "rocksdb.total-sst-files-size");
    st.live_sst_bytes = IntProperty(db, cf, "rocksdb.live-sst-files-size");
    st.pending_compaction_bytes = IntProperty(db, cf, "rocksdb.estimate-pending-compaction-bytes");
    st.memtable_bytes = IntProperty(db, cf, "rocksdb.cur-size-all-mem-tables");
    st.table_readers_bytes = IntProperty(db, cf, "rocksdb.estimate-table-readers-mem");
    st.estimated_keys = IntProperty(db, cf, "rocksdb.estimate-num-keys");
    std::map<std::string, std::string> cfstats;
    if (db->GetMapProperty(cf, "rocksdb.cfstats", &cfstats)) {
      uint64_t v = 0;
      if (auto it = cfstats.find("io_stalls.total_stop");
          it != cfstats.end() && absl::SimpleAtoi(it->second, &v)) {
        st.write_stops = v;
      }
      if (auto it = cfstats.find("io_stalls.total_slowdown");
          it != cfstats.end() && absl::SimpleAtoi(it->second, &v)) {
        st.write_slowdowns = v;
      }
    }
    out.push_back(std::move(st));
  }
  return out;
}

absl::Status Store::ResumeAfterError() {
  return engine::FromRocks(db_->db()->Resume(), "resume after storage error");
}

}  // namespace historian
