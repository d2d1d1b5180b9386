#include "storage/commit_log/log_trimmer.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "api/core/status_macros.h"
#include "storage/engine/key_format.h"

namespace historian {

absl::StatusOr<uint64_t> LogTrimmer::Trim(const std::map<std::string, uint64_t>& limit,
                                          rocksdb::WriteBatch* batch) {
  uint64_t trimmed = 0;
  std::vector<std::pair<std::string, std::string>> ranges;
  for (const auto& [origin, below] : limit) {
    uint64_t& done = trimmed_below_[origin];
    if (below <= done) continue;
    ranges.emplace_back(engine::LogKey(origin, done), engine::LogKey(origin, below));
    batch->DeleteRange(db_->log(), ranges.back().first, ranges.back().second);
    trimmed += below - std::max<uint64_t>(done, 1);
    done = below;
  }
  if (trimmed == 0 && batch->Count() == 0) return 0;
  rocksdb::WriteOptions wo;
  wo.sync = sync_writes_;
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(wo, batch), "trim log"));
  if (trimmed != 0) trimmed_total_.fetch_add(trimmed);
  return trimmed;
}

absl::Status LogTrimmer::MaybeCompact(uint64_t trimmed) {
  trimmed_since_compaction_ += trimmed;
  if (trimmed_since_compaction_ < kLogCompactionEntries) return absl::OkStatus();
  trimmed_since_compaction_ = 0;
  for (const auto& [origin, below] : trimmed_below_) {
    std::string begin = engine::LogKey(origin, 0), end = engine::LogKey(origin, below);
    rocksdb::Slice b(begin), e(end);
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    RETURN_IF_ERROR(
        engine::FromRocks(db_->db()->CompactRange(cro, db_->log(), &b, &e), "compact log"));
  }
  return absl::OkStatus();
}

}  // namespace historian
