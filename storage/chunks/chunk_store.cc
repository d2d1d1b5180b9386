// ChunkStore: writing chunks, span keys and the checks at open.
#include "storage/chunks/chunk_store.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"

namespace historian {

std::string EncodeTimeRange(int64_t min_ts, int64_t max_ts) {
  std::string v;
  engine::PutBigEndian64(engine::OrderedFromSigned(min_ts), &v);
  engine::PutBigEndian64(engine::OrderedFromSigned(max_ts), &v);
  return v;
}

bool DecodeTimeRange(std::string_view value, int64_t* min_ts, int64_t* max_ts) {
  if (value.size() != 16) return false;
  *min_ts = engine::SignedFromOrdered(engine::GetBigEndian64(value.data()));
  *max_ts = engine::SignedFromOrdered(engine::GetBigEndian64(value.data() + 8));
  return true;
}

ChunkStore::ChunkStore(engine::RocksDb* db, absl::Mutex& mu, ChunkLimits limits, StoreLogger log)
    : db_(db), mu_(mu), limits_(limits), log_(std::move(log)) {}

absl::Status ChunkStore::WriteChunks(TagId tag, const codec::ChunkColumns& samples,
                                     const ChunkLimits& limits, rocksdb::WriteBatch* batch,
                                     int64_t* span) {
  *span = 0;
  if (samples.size() == 0) return absl::OkStatus();
  if (write_fault_) RETURN_IF_ERROR(write_fault_(tag));
  codec::ChunkColumns piece;
  std::string bytes;
  for (size_t begin = 0; begin < samples.size();) {
    size_t end = begin + 1;
    while (end < samples.size() && end - begin < limits.max_samples &&
           static_cast<uint64_t>(samples.timestamps[end]) -
                   static_cast<uint64_t>(samples.timestamps[begin]) <
               static_cast<uint64_t>(limits.max_duration_ns)) {
      ++end;
    }
    piece.Reset(samples.type);
    engine::AppendSamples(samples, begin, end, &piece);
    bytes.clear();
    RETURN_IF_ERROR(codec::EncodeChunk(piece, &bytes));
    batch->Put(db_->chunks(),
               engine::ChunkKey(tag, piece.timestamps.front(), next_chunk_id_.fetch_add(1)), bytes);
    *span = std::max(*span, static_cast<int64_t>(static_cast<uint64_t>(piece.timestamps.back()) -
                                                 static_cast<uint64_t>(piece.timestamps.front())));
    begin = end;
  }
  std::string next;
  engine::PutBigEndian64(next_chunk_id_.load(), &next);
  batch->Put(db_->state(), engine::kNextChunkIdKey, next);
  return absl::OkStatus();
}

void ChunkStore::PutSpan(TagId tag, int64_t old_span, int64_t span,
                         rocksdb::WriteBatch* batch) const {
  if (engine::SpanNeedsKey(span)) {
    std::string v;
    engine::PutBigEndian64(static_cast<uint64_t>(span), &v);
    batch->Put(db_->state(), engine::SpanKey(tag), v);
  } else if (old_span > 0) {
    // A key written for a narrower span would now be too narrow: without
    // one the tag reads as kImplicitSpan, which covers `span`.
    batch->Delete(db_->state(), engine::SpanKey(tag));
  }
}

void ChunkStore::WidenSpan(TagId tag, ChunkState* state, int64_t span,
                           rocksdb::WriteBatch* batch) const {
  // The key goes with every batch that writes a chunk this wide, also when
  // memory already holds the span: the batch that widened memory may have
  // failed (a full disk), and a restart would then load a narrower span
  // than the chunk a retry writes, and reads would miss it.
  const int64_t widest = std::max(span, state->max_span);
  PutSpan(tag, /*old_span=*/std::max<int64_t>(state->max_span, 1), widest, batch);
  state->max_span = widest;
}

void ChunkStore::SkipCorrupt(TagId tag, std::string_view chunk_key, const absl::Status& why,
                             const char* where) {
  const uint64_t total = counters_.corrupt_skipped.fetch_add(1) + 1;
  std::string chunk = "?";
  if (chunk_key.size() == engine::kChunkKeySize) {
    const engine::ChunkKeyParts key = engine::ParseChunkKey(chunk_key);
    chunk = absl::StrCat(key.chunk_id, " (min ts ", key.min_ts, ")");
  }
  log_(LogSeverity::kError,
       absl::StrCat("skipped corrupt chunk ", chunk, " of tag id ", tag, " in the ", where, ": ",
                    why.message(), "; left for an operator (", total, " skipped so far)"));
}

absl::StatusOr<int64_t> ChunkStore::LoadSpan(TagId tag) const {
  std::string span;
  rocksdb::Status s =
      db_->db()->Get(rocksdb::ReadOptions(), db_->state(), engine::SpanKey(tag), &span);
  if (s.IsNotFound()) return engine::kImplicitSpan;  // schema 3 (key_format.h)
  RETURN_IF_ERROR(engine::FromRocks(s, absl::StrCat("read span of tag id ", tag)));
  if (span.size() != 8) {
    // A span too small would hide samples from reads: never guess.
    return absl::DataLossError(
        absl::StrCat("state span/ of tag id ", tag, ": ", span.size(), " bytes, not 8"));
  }
  return static_cast<int64_t>(engine::GetBigEndian64(span.data()));
}

absl::Status ForEachTimeRange(const engine::RocksDb& db, const std::string& prefix,
                              absl::FunctionRef<void(TagId, int64_t, int64_t)> note) {
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(rocksdb::ReadOptions(), db.state()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    if (it->key().size() != prefix.size() + engine::kU64Size) {
      return absl::DataLossError(absl::StrCat("state key '", absl::CEscape(it->key().ToString()),
                                              "': ", it->key().size(), " bytes, not ",
                                              prefix.size() + engine::kU64Size));
    }
    const TagId tag = engine::GetBigEndian64(it->key().data() + prefix.size());
    int64_t min_ts, max_ts;
    if (!DecodeTimeRange({it->value().data(), it->value().size()}, &min_ts, &max_ts)) {
      return absl::DataLossError(absl::StrCat("state ", prefix, " of tag id ", tag, ": ",
                                              it->value().size(), " bytes, not 16"));
    }
    note(tag, min_ts, max_ts);
  }
  return engine::FromRocks(it->status(), absl::StrCat("scan state ", prefix));
}

absl::Status ChunkStore::LoadOverlaps(absl::FunctionRef<void(TagId, int64_t, int64_t)> note) const {
  return ForEachTimeRange(*db_, "overlap/", note);
}

absl::Status ChunkStore::CheckSpans(absl::FunctionRef<ChunkState*(TagId)> find) {
  rocksdb::DB* rdb = db_->db();
  std::string value;
  rocksdb::Status s =
      rdb->Get(rocksdb::ReadOptions(), db_->state(), engine::kSpansCheckedKey, &value);
  if (s.ok()) return absl::OkStatus();
  if (!s.IsNotFound()) return engine::FromRocks(s, "read node/spans_checked");
  // Data dirs of older versions may hold chunks, written by an overlap
  // rewrite, wider than the tag's recorded span: reads seeking from
  // start - span would miss them. Headers only, once.
  absl::flat_hash_map<TagId, int64_t> widest;
  std::unique_ptr<rocksdb::Iterator> it(rdb->NewIterator(rocksdb::ReadOptions(), db_->chunks()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    absl::StatusOr<codec::ChunkSummary> summary =
        codec::SummarizeChunk({it->value().data(), it->value().size()});
    if (!summary.ok()) continue;  // left for an operator, as everywhere
    const uint64_t span = static_cast<uint64_t>(summary->max_timestamp) -
                          static_cast<uint64_t>(summary->min_timestamp);
    int64_t& w = widest[engine::ParseChunkKey({it->key().data(), it->key().size()}).tag];
    w = std::max(w, static_cast<int64_t>(std::min<uint64_t>(span, kMaxTimestamp)));
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan chunk spans"));
  rocksdb::WriteBatch batch;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [id, span] : widest) {
      ChunkState* t = find(id);
      if (t == nullptr) continue;
      WidenSpan(id, t, span, &batch);
    }
  }
  batch.Put(db_->state(), engine::kSpansCheckedKey, "1");
  return engine::FromRocks(rdb->Write(rocksdb::WriteOptions(), &batch), "write chunk spans");
}

}  // namespace historian
