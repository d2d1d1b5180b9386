// Rollups: dirty markers, recompute from sealed chunks, reads.
#include "storage/rollups/rollups.h"

#include <algorithm>
#include <memory>
#include <string>

#include "api/core/status_macros.h"
#include "storage/engine/key_format.h"

namespace historian {

namespace {

// A rollup key: tag, width, bucket start (engine::RollupKey).
constexpr size_t kRollupKeySize = 24;

}  // namespace

void Rollups::MarkDirty(TagId tag, int64_t min_ts, int64_t max_ts,
                        rocksdb::WriteBatch* batch) const {
  batch->Put(db_->state(), engine::RollupDirtyKey(tag), EncodeTimeRange(min_ts, max_ts));
}

absl::Status Rollups::Recompute(TagId tag, ValueType type, int64_t max_span, int64_t min_ts,
                                int64_t max_ts) const {
  // Samples outside the accepted range (left by an older version) have no
  // rollups; their buckets would overflow the bucket arithmetic.
  min_ts = std::max(min_ts, kMinSampleTimestamp);
  max_ts = std::min(max_ts, kMaxSampleTimestamp);
  rocksdb::WriteBatch batch;
  if (type != ValueType::kString && min_ts <= max_ts) {
    // Read the whole hours once: every width's buckets lie inside them.
    int64_t from = engine::BucketStart(min_ts, engine::kRollupHour);
    int64_t last_hour = engine::BucketStart(max_ts, engine::kRollupHour);
    int64_t to = last_hour > kMaxTimestamp - engine::kRollupHour ? kMaxTimestamp
                                                                 : last_hour + engine::kRollupHour;
    codec::ChunkColumns data;
    RETURN_IF_ERROR(chunks_->ReadSealed(tag, from, to, max_span, &data));
    for (int64_t width : engine::kRollupWidths) {
      int64_t first = engine::BucketStart(min_ts, width);
      int64_t last = engine::BucketStart(max_ts, width);
      batch.DeleteRange(db_->rollups(), engine::RollupKey(tag, width, first),
                        engine::RollupKey(tag, width, last) + std::string(1, '\xff'));
      const auto& ts = data.timestamps;
      size_t i = std::lower_bound(ts.begin(), ts.end(), first) - ts.begin();
      while (i < ts.size() && ts[i] <= last + (width - 1) && ts[i] >= first) {
        int64_t bucket = engine::BucketStart(ts[i], width);
        int64_t bucket_end = bucket > kMaxTimestamp - width ? kMaxTimestamp : bucket + width;
        size_t j = std::lower_bound(ts.begin() + i, ts.end(), bucket_end) - ts.begin();
        batch.Put(db_->rollups(), engine::RollupKey(tag, width, bucket),
                  engine::EncodeRollup(engine::ComputeRollup(data, i, j, bucket_end)));
        i = j;
      }
    }
  }
  batch.Delete(db_->state(), engine::RollupDirtyKey(tag));
  return engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "write rollups");
}

absl::Status Rollups::LoadDirty(std::vector<Dirty>* out) const {
  return ForEachTimeRange(*db_, "rollup_dirty/", [&](TagId tag, int64_t min_ts, int64_t max_ts) {
    out->push_back({tag, min_ts, max_ts});
  });
}

absl::Status Rollups::Read(TagId tag, int64_t width, int64_t start, int64_t end,
                           std::vector<std::pair<int64_t, engine::Rollup>>* out) const {
  out->clear();
  if (start >= end) return absl::OkStatus();
  std::string lower = engine::RollupKey(tag, width, start);
  std::string upper = engine::RollupKey(tag, width, end);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->rollups()));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (it->key().size() != kRollupKeySize) continue;
    engine::RollupKeyParts key = engine::ParseRollupKey({it->key().data(), it->key().size()});
    ASSIGN_OR_RETURN(engine::Rollup r,
                     engine::DecodeRollup({it->value().data(), it->value().size()}));
    out->emplace_back(key.bucket_start, r);
  }
  return engine::FromRocks(it->status(), "scan rollups");
}

}  // namespace historian
