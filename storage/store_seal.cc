// Store: sealing heads into chunks and trimming the log.
//
// A seal takes a tag's whole head, cuts it into chunks (at most
// chunk_max_samples samples and chunk_max_duration of time each), and writes
// the chunks together with "sealed/<tag><origin> = last sequence" in one
// WriteBatch. The log entries are deleted later, once no head holds a sample
// of theirs; replay after a crash skips what the sealed markers cover.
#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rollup.h"
#include "storage/store_impl.h"

namespace historian {

absl::Status Store::Impl::SealTag(TagId id, int64_t now) {
  TagState* t = nullptr;
  {
    absl::MutexLock l(&mu);
    t = FindTag(id);
    if (t == nullptr || t->sealing || !t->head) return absl::OkStatus();
    t->head->cols.Normalize();
    t->last_head_samples =
        static_cast<uint32_t>(std::min<size_t>(t->head->cols.size(), options.chunk_max_samples));
    t->sealing = std::move(t->head);
    t->rollup_dirty_min = std::min(t->rollup_dirty_min, t->sealing->cols.timestamps().front());
  }
  // Only this thread touches t->sealing until it is reset below; readers
  // only read it under mu.
  codec::ChunkColumns all;
  all.Reset(t->sealing->cols.type());
  t->sealing->cols.CopyAll(&all);
  const int64_t max_duration = absl::ToInt64Nanoseconds(options.chunk_max_duration);
  rocksdb::WriteBatch batch;
  int64_t span = 0;
  absl::Status status;
  codec::ChunkColumns piece;
  std::string bytes;
  for (size_t begin = 0; begin < all.size() && status.ok();) {
    size_t end = begin + 1;
    while (end < all.size() && end - begin < options.chunk_max_samples &&
           static_cast<uint64_t>(all.timestamps[end]) -
                   static_cast<uint64_t>(all.timestamps[begin]) <
               static_cast<uint64_t>(max_duration)) {
      ++end;
    }
    piece.Reset(all.type);
    engine::AppendSamples(all, begin, end, &piece);
    bytes.clear();
    status = codec::EncodeChunk(piece, &bytes);
    uint64_t chunk_id = next_chunk_id.fetch_add(1);
    batch.Put(db->chunks(), engine::ChunkKey(id, piece.timestamps.front(), chunk_id), bytes);
    span = std::max<int64_t>(span,
                             static_cast<int64_t>(static_cast<uint64_t>(piece.timestamps.back()) -
                                                  static_cast<uint64_t>(piece.timestamps.front())));
    begin = end;
  }
  for (const OriginSeqRange& r : t->sealing->seqs) {
    std::string v;
    engine::PutBigEndian64(r.max_seq, &v);
    batch.Put(db->state(), engine::SealedSeqKey(id, *r.origin), v);
  }
  int64_t old_span;
  {
    absl::MutexLock l(&mu);
    old_span = t->max_span;
  }
  if (span > old_span) {
    std::string v;
    engine::PutBigEndian64(static_cast<uint64_t>(span), &v);
    batch.Put(db->state(), engine::SpanKey(id), v);
  }
  std::string next;
  engine::PutBigEndian64(next_chunk_id.load(), &next);
  batch.Put(db->state(), engine::kNextChunkIdKey, next);
  // The rollups of these buckets are stale until RecomputeRollups ends; a
  // crash in between leaves this marker, and Open recomputes them.
  const int64_t min_ts = all.timestamps.front(), max_ts = all.timestamps.back();
  std::string dirty;
  engine::PutBigEndian64(engine::OrderedFromSigned(min_ts), &dirty);
  engine::PutBigEndian64(engine::OrderedFromSigned(max_ts), &dirty);
  batch.Put(db->state(), engine::RollupDirtyKey(id), dirty);
  // Late data: does an existing chunk meet [min_ts, max_ts]? Then the tag
  // is queued for the overlap rewrite.
  bool overlaps = false;
  if (status.ok()) {
    std::vector<codec::ChunkColumns> parts;
    std::vector<uint64_t> ids;
    absl::Status scan = ReadChunks(id, min_ts, max_ts == kMaxTimestamp ? max_ts : max_ts + 1,
                                   old_span, 1, &parts, &ids);
    overlaps = scan.ok() && !parts.empty();
  }
  if (overlaps) {
    // Kept with the chunks, so a restart (a stop seals) still rewrites it.
    absl::MutexLock l(&mu);
    batch.Put(db->state(), engine::OverlapKey(id),
              EncodeTimeRange(std::min(t->overlap_min, min_ts), std::max(t->overlap_max, max_ts)));
  }
  if (status.ok()) {
    // No fsync needed: the log still holds these samples until a later
    // (synced) trim, and RocksDB's WAL is ordered.
    status = engine::FromRocks(db->db()->Write(rocksdb::WriteOptions(), &batch), "write chunks");
  }

  absl::MutexLock l(&mu);
  if (status.ok()) {
    t->max_span = std::max(t->max_span, span);
    chunks_sealed.fetch_add(1);
    t->merge_from = std::min(t->merge_from, min_ts);
    tags_merge_due.insert(id);
    if (overlaps) NoteOverlap(id, min_ts, max_ts);
  }
  if (!status.ok()) {
    // Put the samples back in front of the head: nothing is lost, the next
    // pass retries.
    std::unique_ptr<HeadBuffer> merged = std::move(t->sealing);
    if (t->head) {
      merged->cols.Append(t->head->cols);
      for (const auto& r : t->head->seqs) {
        NoteOriginSeq(&merged->seqs, r.origin, r.min_seq);
        NoteOriginSeq(&merged->seqs, r.origin, r.max_seq);
      }
    }
    merged->started_ns = now;
    t->head = std::move(merged);
  }
  t->sealing.reset();
  if (!t->head) tags_in_memory.erase(id);
  if (!status.ok()) return status;
  mu.Unlock();
  absl::Status rollups = RecomputeRollups(id, min_ts, max_ts);
  mu.Lock();
  return rollups;
}

absl::Status Store::Impl::RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) {
  // Samples outside the accepted range (left by an older version) have no
  // rollups; their buckets would overflow the bucket arithmetic.
  min_ts = std::max(min_ts, kMinSampleTimestamp);
  max_ts = std::min(max_ts, kMaxSampleTimestamp);
  ValueType type;
  int64_t max_span;
  {
    absl::MutexLock l(&mu);
    TagState* t = FindTag(tag);
    if (t == nullptr) return absl::OkStatus();
    type = t->info.type;
    max_span = t->max_span;
  }
  rocksdb::WriteBatch batch;
  if (type != ValueType::kString && min_ts <= max_ts) {
    // Read the whole hours once: every width's buckets lie inside them.
    int64_t from = engine::BucketStart(min_ts, engine::kRollupHour);
    int64_t last_hour = engine::BucketStart(max_ts, engine::kRollupHour);
    int64_t to = last_hour > kMaxTimestamp - engine::kRollupHour ? kMaxTimestamp
                                                                 : last_hour + engine::kRollupHour;
    codec::ChunkColumns data;
    RETURN_IF_ERROR(ReadSealed(tag, from, to, max_span, &data));
    for (int64_t width : engine::kRollupWidths) {
      int64_t first = engine::BucketStart(min_ts, width);
      int64_t last = engine::BucketStart(max_ts, width);
      batch.DeleteRange(db->rollups(), engine::RollupKey(tag, width, first),
                        engine::RollupKey(tag, width, last) + std::string(1, '\xff'));
      const auto& ts = data.timestamps;
      size_t i = std::lower_bound(ts.begin(), ts.end(), first) - ts.begin();
      while (i < ts.size() && ts[i] <= last + (width - 1) && ts[i] >= first) {
        int64_t bucket = engine::BucketStart(ts[i], width);
        int64_t bucket_end = bucket > kMaxTimestamp - width ? kMaxTimestamp : bucket + width;
        size_t j = std::lower_bound(ts.begin() + i, ts.end(), bucket_end) - ts.begin();
        batch.Put(db->rollups(), engine::RollupKey(tag, width, bucket),
                  engine::EncodeRollup(engine::ComputeRollup(data, i, j, bucket_end)));
        i = j;
      }
    }
  }
  batch.Delete(db->state(), engine::RollupDirtyKey(tag));
  RETURN_IF_ERROR(
      engine::FromRocks(db->db()->Write(rocksdb::WriteOptions(), &batch), "write rollups"));
  absl::MutexLock l(&mu);
  if (TagState* t = FindTag(tag); t != nullptr && !t->sealing) {
    t->rollup_dirty_min = kMaxTimestamp;
  }
  return absl::OkStatus();
}

absl::Status Store::Impl::RecomputeDirtyRollups() {
  std::vector<std::tuple<TagId, int64_t, int64_t>> dirty;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->db()->NewIterator(rocksdb::ReadOptions(), db->state()));
    const std::string prefix = "rollup_dirty/";
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->key().size() != prefix.size() + 8 || it->value().size() != 16) continue;
      dirty.emplace_back(engine::GetBigEndian64(it->key().data() + prefix.size()),
                         engine::SignedFromOrdered(engine::GetBigEndian64(it->value().data())),
                         engine::SignedFromOrdered(engine::GetBigEndian64(it->value().data() + 8)));
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan rollup markers"));
  }
  for (auto [tag, min_ts, max_ts] : dirty) RETURN_IF_ERROR(RecomputeRollups(tag, min_ts, max_ts));
  return absl::OkStatus();
}

absl::Status Store::Impl::SealPass(bool force) {
  if (absl::Status s = RunDuePurges(); !s.ok()) {  // one that failed after a delete
    std::fprintf(stderr, "historian: purge of deleted samples failed: %s\n", s.ToString().c_str());
  }
  const int64_t now = NowNs();
  const int64_t max_age = absl::ToInt64Nanoseconds(options.head_max_age);
  std::vector<TagId> due;
  {
    absl::MutexLock l(&mu);
    for (TagId id : tags_in_memory) {
      const TagState* t = FindTag(id);
      if (t == nullptr || !t->head) continue;
      size_t n = t->head->cols.size();
      if (force || n >= options.chunk_max_samples || now - t->head->started_ns >= max_age) {
        due.push_back(id);
      }
    }
  }
  absl::Status first_error;
  for (TagId id : due) {
    absl::Status s = SealTag(id, now);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  RETURN_IF_ERROR(first_error);
  return TrimLog();
}

absl::Status Store::Impl::TrimLog() {
  std::map<std::string, uint64_t> limit;  // per origin: entries below may go
  rocksdb::WriteBatch batch;
  uint64_t acks = 0;  // OwnLog::Trim's mark for the acks in `batch`
  {
    absl::MutexLock l(&mu);
    commit_log->mu().AssertHeld();  // the same mutex
    commit_log->TrimLimits(&limit);
    for (TagId id : tags_in_memory) {
      const TagState* t = FindTag(id);
      if (t == nullptr) continue;
      for (const HeadBuffer* buffer : {t->head.get(), t->sealing.get()}) {
        if (buffer == nullptr) continue;
        for (const OriginSeqRange& r : buffer->seqs) {
          auto it = limit.find(*r.origin);
          if (it != limit.end()) it->second = std::min(it->second, r.min_seq);
        }
      }
    }
    // Own entries also wait for the peers (within the retention limits);
    // the peers' acks that changed are saved with the trim, written even
    // when nothing is trimmed (a lagging peer holds the log back).
    own_log->mu().AssertHeld();  // the same mutex
    own_log->Trim(&limit[options.site], &batch, &acks);
  }
  log_trimmer->seal_mu().AssertHeld();  // the same mutex
  ASSIGN_OR_RETURN(const uint64_t trimmed, log_trimmer->Trim(limit, &batch));
  if (acks != 0) {
    absl::MutexLock l(&mu);
    own_log->mu().AssertHeld();  // the same mutex
    own_log->AcksSaved(acks);
  }
  if (trimmed == 0) return absl::OkStatus();
  log_trimmed.fetch_add(trimmed);
  return log_trimmer->MaybeCompact(trimmed);
}

void Store::Impl::SealerLoop() {
  while (true) {
    {
      absl::MutexLock l(&stop_mu);
      stop_mu.AwaitWithTimeout(absl::Condition(&stop), options.seal_interval);
      if (stop) return;
    }
    absl::Status s;
    {
      absl::MutexLock pass(&seal_mu);
      s = SealPass(/*force=*/false);
    }
    if (!s.ok()) std::fprintf(stderr, "historian: seal pass failed: %s\n", s.ToString().c_str());
    {
      absl::MutexLock pass(&seal_mu);
      s = OverlapPass();
      if (!s.ok())
        std::fprintf(stderr, "historian: overlap rewrite failed: %s\n", s.ToString().c_str());
      if (NowNs() - last_retention_ns >= absl::ToInt64Nanoseconds(absl::Minutes(1))) {
        last_retention_ns = NowNs();
        s = RetentionPass();
        if (!s.ok())
          std::fprintf(stderr, "historian: retention failed: %s\n", s.ToString().c_str());
        s = MergePass(/*force=*/false);
        if (!s.ok())
          std::fprintf(stderr, "historian: chunk merge failed: %s\n", s.ToString().c_str());
      }
    }
  }
}

}  // namespace historian
