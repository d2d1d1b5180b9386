// Store: background maintenance run by the sealer thread: retention (whole
// expired chunks dropped, never single samples) and the rewrite of
// overlapping chunks (late data) into one run of non-overlapping chunks.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rollup.h"
#include "storage/store_impl.h"

namespace historian {

absl::Status Store::ApplyRetention() {
  absl::MutexLock pass(&impl_->seal_mu);
  return impl_->RetentionPass();
}

absl::Status Store::CompactOverlaps() {
  absl::MutexLock pass(&impl_->seal_mu);
  return impl_->OverlapPass();
}

absl::Status Store::Impl::RetentionPass() {
  struct Due {
    TagId id;
    int64_t cutoff;
    int64_t max_span;
  };
  std::vector<Due> due;
  const int64_t now = NowNs();
  {
    absl::MutexLock l(&mu);
    for (const auto& [id, t] : tags_by_id) {
      if (t->info.retention_ns > 0 && now > kMinTimestamp + t->info.retention_ns) {
        due.push_back({id, now - t->info.retention_ns, t->max_span});
      }
    }
  }
  for (const Due& d : due) {
    // Chunks are ordered by min ts: only those starting before the cutoff
    // can have expired, and one has only if its max ts is before it too.
    std::string lower = engine::ChunkSeekKey(d.id, kMinTimestamp);
    std::string upper = engine::ChunkSeekKey(d.id, d.cutoff);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(ro, db->chunks()));
    rocksdb::WriteBatch batch;
    uint64_t dropped = 0;
    int64_t dropped_min = kMaxTimestamp, dropped_max = kMinTimestamp;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      absl::StatusOr<codec::ChunkSummary> summary =
          codec::SummarizeChunk({it->value().data(), it->value().size()});
      // A corrupt chunk is left for an operator to see, not silently dropped.
      if (!summary.ok() || summary->max_timestamp >= d.cutoff) continue;
      batch.Delete(db->chunks(), it->key());
      dropped_min = std::min(dropped_min, summary->min_timestamp);
      dropped_max = std::max(dropped_max, summary->max_timestamp);
      ++dropped;
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan for retention"));
    if (dropped == 0) continue;
    // Mark the rollups of the dropped range stale in the same batch, then
    // rewrite them from what remains (a chunk straddling the cutoff stays).
    std::string dirty;
    engine::PutBigEndian64(engine::OrderedFromSigned(dropped_min), &dirty);
    engine::PutBigEndian64(engine::OrderedFromSigned(dropped_max), &dirty);
    batch.Put(db->state(), engine::RollupDirtyKey(d.id), dirty);
    {
      absl::MutexLock l(&mu);
      if (TagState* t = FindTag(d.id)) {
        t->rollup_dirty_min = std::min(t->rollup_dirty_min, dropped_min);
        t->latest.reset();  // the newest sample may have expired too
        ++t->applies;
      }
    }
    RETURN_IF_ERROR(
        engine::FromRocks(db->db()->Write(rocksdb::WriteOptions(), &batch), "drop expired chunks"));
    chunks_expired.fetch_add(dropped);
    RETURN_IF_ERROR(RecomputeRollups(d.id, dropped_min, dropped_max));
  }
  return absl::OkStatus();
}

absl::Status Store::Impl::OverlapPass() {
  std::vector<std::pair<TagId, std::pair<int64_t, int64_t>>> due;
  int64_t max_span = 0;
  {
    absl::MutexLock l(&mu);
    for (TagId id : tags_overlapping) {
      TagState* t = FindTag(id);
      if (t != nullptr && t->overlap_min <= t->overlap_max) {
        due.push_back({id, {t->overlap_min, t->overlap_max}});
        t->overlap_min = kMaxTimestamp;
        t->overlap_max = kMinTimestamp;
      }
    }
    tags_overlapping.clear();
  }
  const int64_t max_duration = absl::ToInt64Nanoseconds(options.chunk_max_duration);
  for (auto& [id, range] : due) {
    ValueType type;
    {
      absl::MutexLock l(&mu);
      TagState* t = FindTag(id);
      if (t == nullptr) continue;
      type = t->info.type;
      max_span = t->max_span;
    }
    // Every chunk that meets the range.
    int64_t lo = range.first, hi = range.second;
    std::string lower =
        engine::ChunkSeekKey(id, lo > kMinTimestamp + max_span ? lo - max_span : kMinTimestamp);
    std::string upper = engine::ChunkSeekKey(id, hi < kMaxTimestamp ? hi + 1 : hi);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(ro, db->chunks()));
    // Decode exactly these chunks and merge them by the version rule in
    // application order (chunk ids grow with each seal).
    std::vector<std::pair<uint64_t, std::string>> old;  // (chunk id, key)
    std::map<uint64_t, codec::ChunkColumns> decoded;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      std::string_view bytes(it->value().data(), it->value().size());
      absl::StatusOr<codec::ChunkSummary> summary = codec::SummarizeChunk(bytes);
      if (!summary.ok() || summary->max_timestamp < lo) continue;
      codec::ChunkColumns cols;
      if (!codec::DecodeChunk(bytes, &cols).ok()) continue;  // left for an operator
      engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
      old.emplace_back(key.chunk_id, it->key().ToString());
      decoded[key.chunk_id] = std::move(cols);
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan overlapping chunks"));
    if (old.size() < 2) continue;
    codec::ChunkColumns merged;
    merged.Reset(type);
    for (const auto& [chunk_id, cols] : decoded)
      engine::AppendSamples(cols, 0, cols.size(), &merged);
    engine::Normalize(&merged);
    std::vector<std::string> old_keys;
    for (auto& [chunk_id, key] : old) old_keys.push_back(std::move(key));
    rocksdb::WriteBatch batch;
    for (const std::string& k : old_keys) batch.Delete(db->chunks(), k);
    codec::ChunkColumns piece;
    std::string bytes;
    for (size_t begin = 0; begin < merged.size();) {
      size_t end = begin + 1;
      while (end < merged.size() && end - begin < options.chunk_max_samples &&
             static_cast<uint64_t>(merged.timestamps[end]) -
                     static_cast<uint64_t>(merged.timestamps[begin]) <
                 static_cast<uint64_t>(max_duration)) {
        ++end;
      }
      piece.Reset(type);
      engine::AppendSamples(merged, begin, end, &piece);
      bytes.clear();
      RETURN_IF_ERROR(codec::EncodeChunk(piece, &bytes));
      batch.Put(db->chunks(),
                engine::ChunkKey(id, piece.timestamps.front(), next_chunk_id.fetch_add(1)), bytes);
      begin = end;
    }
    std::string next;
    engine::PutBigEndian64(next_chunk_id.load(), &next);
    batch.Put(db->state(), engine::kNextChunkIdKey, next);
    // One batch: readers see either the old chunks or the new ones.
    RETURN_IF_ERROR(
        engine::FromRocks(db->db()->Write(rocksdb::WriteOptions(), &batch), "rewrite overlaps"));
    chunks_rewritten.fetch_add(old_keys.size());
  }
  return absl::OkStatus();
}

}  // namespace historian
