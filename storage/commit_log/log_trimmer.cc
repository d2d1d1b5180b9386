#include "storage/commit_log/log_trimmer.h"

#include <algorithm>
#include <memory>
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
    auto pos = trimmed_below_.find(origin);
    if (pos == trimmed_below_.end()) {
      // The first trim of an origin since open: entries below its first
      // live one were trimmed before a restart and are not counted again.
      ASSIGN_OR_RETURN(const uint64_t live, FirstLive(origin, below));
      pos = trimmed_below_.emplace(origin, live).first;
    }
    uint64_t& done = pos->second;
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

void LogTrimmer::PrepareForgetOrigin(const std::string& origin, rocksdb::WriteBatch* batch) const {
  batch->DeleteRange(db_->log(), engine::LogKey(origin, 0), engine::LogKey(origin, kForgotten));
}

void LogTrimmer::ForgetOrigin(const std::string& origin) {
  // Not counted in trimmed(): the entries of a dropped shard were not
  // trimmed, they went with it.
  trimmed_below_[origin] = kForgotten;
}

absl::StatusOr<uint64_t> LogTrimmer::FirstLive(const std::string& origin, uint64_t below) const {
  const std::string lower = engine::LogKey(origin, 0), upper = engine::LogKey(origin, below);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->log()));
  it->Seek(lower);
  if (!it->Valid()) {
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "find the first log entry"));
    return below;  // nothing left below the limit
  }
  std::string_view key_origin;
  uint64_t seq = 0;
  if (!engine::ParseLogKey(std::string_view(it->key().data(), it->key().size()), &key_origin,
                           &seq)) {
    return absl::DataLossError("log: malformed key");
  }
  return seq;
}

absl::StatusOr<uint64_t> LogTrimmer::DeadFileBytes() const {
  std::vector<std::string> keys;
  std::vector<rocksdb::Range> ranges;
  keys.reserve(2 * trimmed_below_.size());
  for (const auto& [origin, below] : trimmed_below_) {
    keys.push_back(engine::LogKey(origin, 0));
    keys.push_back(engine::LogKey(origin, below));
  }
  for (size_t i = 0; i < keys.size(); i += 2) ranges.emplace_back(keys[i], keys[i + 1]);
  if (ranges.empty()) return 0;
  rocksdb::SizeApproximationOptions o;
  o.include_memtables = false;
  o.include_files = true;
  std::vector<uint64_t> sizes(ranges.size());
  RETURN_IF_ERROR(engine::FromRocks(
      db_->db()->GetApproximateSizes(o, db_->log(), ranges.data(), static_cast<int>(ranges.size()),
                                     sizes.data()),
      "size the trimmed log"));
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  return total;
}

absl::Status LogTrimmer::MaybeReclaim() {
  if (reclaimed_below_ == trimmed_below_) return absl::OkStatus();
  ASSIGN_OR_RETURN(const uint64_t dead, DeadFileBytes());
  if (dead < reclaim_.min_bytes) return absl::OkStatus();
  if (dead < reclaim_.bytes) {
    uint64_t files = 0;
    if (!db_->db()->GetIntProperty(db_->log(), "rocksdb.live-sst-files-size", &files) ||
        dead < files / 2) {
      return absl::OkStatus();
    }
  }
  return Reclaim();
}

absl::Status LogTrimmer::Reclaim() {
  if (reclaimed_below_ == trimmed_below_) return absl::OkStatus();
  // The trims (and the seals before them) durable before their entries go.
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->FlushWAL(/*sync=*/true), "sync WAL"));
  for (const auto& [origin, below] : trimmed_below_) {
    if (reclaimed_below_[origin] == below) continue;
    // [0, below]: CompactRange's end is inclusive; entry `below` is live
    // and only rewritten.
    const std::string begin = engine::LogKey(origin, 0), end = engine::LogKey(origin, below);
    const rocksdb::Slice b(begin), e(end);
    rocksdb::CompactRangeOptions cro;
    cro.exclusive_manual_compaction = false;  // other column families keep compacting
    // The trimmed range usually sits in the bottommost level already.
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    RETURN_IF_ERROR(
        engine::FromRocks(db_->db()->CompactRange(cro, db_->log(), &b, &e), "reclaim the log"));
    reclaimed_below_[origin] = below;
  }
  for (auto it = trimmed_below_.begin(); it != trimmed_below_.end();) {
    if (it->second != kForgotten) {
      ++it;
      continue;
    }
    reclaimed_below_.erase(it->first);
    it = trimmed_below_.erase(it);
  }
  reclaims_.fetch_add(1);
  return absl::OkStatus();
}

}  // namespace historian
