// Store: the copy of one virtual shard to another store (issue 21,
// docs/cluster.md "Moving shards", step 3 "Copy as of P"). The export takes
// one consistent capture (seal_mu, then mu: no seal, merge, rewrite,
// retention or purge under way, no group applying) of the heads, the
// catalog, the tombstones, P and a RocksDB snapshot, then reads the chunks
// and rollups from the snapshot without any lock. The import applies each
// piece in one WriteBatch with the move/<s> marker. The byte format is
// storage/shard_copy/shard_copy.h.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "api/core/tag_shard.h"
#include "rocksdb/write_batch.h"
#include "storage/commit_log/version_seen.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/store_parts.h"

namespace historian {
namespace {

using shard_copy::PieceWriter;
using shard_copy::Record;
using shard_copy::RecordType;

// A tag of the shard as captured under the locks.
struct CapturedTag {
  engine::TagInfo info;
  codec::ChunkColumns unsealed;  // head and sealing buffer, merged
  int64_t max_span = 0;
  int64_t overlap_min = kMaxTimestamp, overlap_max = kMinTimestamp;
  int64_t dirty_min = kMaxTimestamp;  // in memory (a pass's failed rewrite)
  Version dead = 0;                   // the tag's tombstone here (0: none)
};

size_t SamplesPerRecord(ValueType type) {
  return type == ValueType::kString ? shard_copy::kStringSamplesPerRecord
                                    : shard_copy::kSamplesPerRecord;
}

// kSamples records of `cols` (strictly increasing), cut into bounded runs.
absl::Status AddSamples(TagId tag, const codec::ChunkColumns& cols, PieceWriter* w,
                        const std::function<absl::Status()>& maybe_flush) {
  const size_t per = SamplesPerRecord(cols.type);
  codec::ChunkColumns run;
  std::string bytes;
  for (size_t begin = 0; begin < cols.size(); begin += per) {
    run.Reset(cols.type);
    engine::AppendSamples(cols, begin, std::min(cols.size(), begin + per), &run);
    bytes.clear();
    RETURN_IF_ERROR(codec::EncodeChunk(run, &bytes));
    w->AddSamples(tag, bytes);
    RETURN_IF_ERROR(maybe_flush());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<shard_copy::ExportStats> Store::ExportShard(
    uint32_t num_shards, uint32_t shard, size_t max_piece_bytes,
    const std::function<absl::Status(std::string piece)>& sink) {
  if (num_shards == 0 || num_shards > kMaxClusterShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_shards: ", num_shards, " is outside 1..", kMaxClusterShards));
  }
  if (shard >= num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard: ", shard, " must be below num_shards (", num_shards, ")"));
  }
  if (max_piece_bytes == 0) max_piece_bytes = shard_copy::kDefaultPieceBytes;
  shard_copy::ExportStats stats;
  std::vector<CapturedTag> tags;
  std::vector<engine::Tombstone> tombstones;
  const rocksdb::Snapshot* snapshot = nullptr;
  Version version_bound = 0;
  {
    absl::MutexLock pass(&seal_mu_);
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
    stats.position = commit_log_->next_seq() - 1;
    version_bound = tombstones_->max_seen();  // every version applied here
    snapshot = db_->db()->GetSnapshot();
    std::set<TagId> other_shards;  // live tags of other shards
    codec::ChunkColumns sealing, head;
    catalog_->ForEach([&](TagId id, TagState& t) {
      // Called with the catalog's mutex held, which is mu_ (the analysis
      // cannot see through the lambda).
      mu_.AssertHeld();
      PartsShareMu(mu_, *catalog_, *heads_);
      if (t.deleted()) return;
      if (TagShard(t.name(), num_shards) != shard) {
        other_shards.insert(id);
        return;
      }
      CapturedTag& c = tags.emplace_back();
      c.info = t.Info();
      heads_->CopyUnsealed(t, t.type(), kMinTimestamp, kMaxTimestamp, &sealing, &head);
      c.unsealed.Reset(t.type());
      engine::AppendSamples(sealing, 0, sealing.size(), &c.unsealed);
      engine::AppendSamples(head, 0, head.size(), &c.unsealed);
      engine::Normalize(&c.unsealed);
      c.max_span = t.chunk.max_span;
      c.overlap_min = t.chunk.overlap_min;
      c.overlap_max = t.chunk.overlap_max;
      c.dirty_min = t.chunk.rollup_dirty_min;
      c.dead = tombstones_->Of(id);
    });
    // Tombstones of this shard's tags, and of tags unknown here (a deleted
    // tag's name is gone, so its shard is too; a tombstone is a fact every
    // site keeps for good, harmless where the tag never lived).
    for (const engine::Tombstone& t : tombstones_->Sorted()) {
      if (!other_shards.contains(t.tag)) tombstones.push_back(t);
    }
  }
  struct ReleaseSnapshot {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~ReleaseSnapshot() { db->ReleaseSnapshot(s); }
  } release{db_->db(), snapshot};
  std::sort(tags.begin(), tags.end(),
            [](const CapturedTag& a, const CapturedTag& b) { return a.info.id < b.info.id; });

  PieceWriter w;
  auto flush = [&]() -> absl::Status {
    stats.records += w.records();
    std::string piece = w.Take();
    stats.bytes += piece.size();
    ++stats.pieces;
    return sink(std::move(piece));
  };
  auto maybe_flush = [&]() -> absl::Status {
    return w.size() >= max_piece_bytes ? flush() : absl::OkStatus();
  };
  w.AddHeader({options_.site, stats.position, num_shards, shard, version_bound});
  for (const engine::Tombstone& t : tombstones) {
    w.AddTombstone(t.tag, t.version);
    ++stats.tombstones;
    RETURN_IF_ERROR(maybe_flush());
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.fill_cache = false;
  codec::ChunkColumns decoded, kept;
  for (const CapturedTag& c : tags) {
    const TagId id = c.info.id;
    w.AddTag(engine::EncodeTagInfo(c.info));
    ++stats.tags;
    RETURN_IF_ERROR(maybe_flush());
    const std::string lower = U64Value(id), upper = TagKeysEnd(id);
    const rocksdb::Slice upper_slice(upper);
    ro.iterate_upper_bound = &upper_slice;
    // Sealed chunks: as stored, unless they may hold a deleted
    // incarnation's samples (a purge not run yet) or are too big for a
    // piece; those go decoded, as samples.
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->chunks()));
    for (it->Seek(lower); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key(), v = it->value();
      if (c.dead == 0 && v.size() <= shard_copy::kMaxRawRecordBytes) {
        w.AddChunk(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()));
        ++stats.chunks;
        stats.chunk_bytes += v.size();
        RETURN_IF_ERROR(maybe_flush());
        continue;
      }
      RETURN_IF_ERROR(codec::DecodeChunk(std::string_view(v.data(), v.size()), &decoded));
      kept.Reset(decoded.type);
      for (size_t i = 0; i < decoded.size(); ++i) {
        if (decoded.versions[i] > c.dead) engine::AppendSample(decoded, i, &kept);
      }
      ++stats.rewritten_chunks;
      RETURN_IF_ERROR(AddSamples(id, kept, &w, maybe_flush));
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "shard export: chunks"));
    // Rollups: as stored, unless the chunks went as samples above (the
    // target then rewrites the rollups of their hours).
    it.reset(db_->db()->NewIterator(ro, db_->rollups()));
    for (it->Seek(lower); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key(), v = it->value();
      if (c.dead != 0) break;
      w.AddRollup(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()));
      ++stats.rollups;
      RETURN_IF_ERROR(maybe_flush());
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "shard export: rollups"));
    ro.iterate_upper_bound = nullptr;
    // Unsealed samples (possibly trimmed from the log already).
    RETURN_IF_ERROR(AddSamples(id, c.unsealed, &w, maybe_flush));
    stats.head_samples += c.unsealed.size();
    // The tag's chunk state: its widest span, overlaps waiting for the
    // rewrite, and rollups not rewritten yet (the durable marker at the
    // snapshot, widened by memory's bound).
    shard_copy::TagStateRecord s;
    s.tag = id;
    s.max_span = c.max_span;
    s.overlap_min = c.overlap_min;
    s.overlap_max = c.overlap_max;
    std::string dirty;
    rocksdb::Status got = db_->db()->Get(ro, db_->state(), engine::RollupDirtyKey(id), &dirty);
    if (got.ok()) {
      int64_t lo, hi;
      if (DecodeTimeRange(dirty, &lo, &hi)) {
        s.dirty_min = lo;
        s.dirty_max = hi;
      }
    } else if (!got.IsNotFound()) {
      return engine::FromRocks(got, "shard export: rollup dirty marker");
    }
    if (c.dirty_min != kMaxTimestamp) {  // a rewrite failed since the marker
      if (s.dirty_min > s.dirty_max) s.dirty_max = kMinSampleTimestamp;
      s.dirty_min = std::min(s.dirty_min, c.dirty_min);
      s.dirty_max = kMaxSampleTimestamp;
    }
    w.AddTagState(s);
    RETURN_IF_ERROR(maybe_flush());
  }
  w.AddEnd(stats.records + w.records() + 1);
  RETURN_IF_ERROR(flush());
  return stats;
}

absl::StatusOr<std::optional<shard_copy::MoveMarker>> Store::ReadMoveMarker(uint32_t shard) const {
  std::string value;
  rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), db_->state(),
                                     shard_copy::MoveMarkerKey(shard), &value);
  if (s.IsNotFound()) return std::optional<shard_copy::MoveMarker>();
  RETURN_IF_ERROR(engine::FromRocks(s, "read move marker"));
  ASSIGN_OR_RETURN(shard_copy::MoveMarker m, shard_copy::DecodeMoveMarker(value));
  return std::optional<shard_copy::MoveMarker>(std::move(m));
}

absl::Status Store::ImportShardPiece(uint32_t shard, std::string_view piece,
                                     shard_copy::MoveMarker* marker) {
  std::vector<Record> records;
  RETURN_IF_ERROR(shard_copy::ParsePiece(piece, &records));
  if (marker->complete) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard copy of shard ", shard, ": a piece after the last one"));
  }
  shard_copy::MoveMarker next = *marker;
  const bool first = marker->pieces == 0;
  Version header_bound = 0;  // the source's, from the first piece
  if (first != (!records.empty() && records.front().type == RecordType::kHeader)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard copy of shard ", shard,
        first ? ": the first piece does not start with the header" : ": a second header"));
  }
  if (first) {
    const shard_copy::Header& h = records.front().header;
    if (h.shard != shard) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard copy: the piece is of shard ", h.shard, ", not ", shard));
    }
    next.position = h.position;
    next.num_shards = h.num_shards;
    header_bound = h.version_bound;
  }
  // Tombstones first, in a write of their own (idempotent facts).
  std::vector<engine::Tombstone> tombstones;
  for (const Record& r : records) {
    if (r.type == RecordType::kTombstone) tombstones.push_back({r.tag, r.version});
    if (r.type == RecordType::kEnd) next.complete = true;
  }
  if (!tombstones.empty()) RETURN_IF_ERROR(ApplyTombstones(std::move(tombstones)).status());

  absl::MutexLock pass(&seal_mu_);  // no seal or maintenance pass meanwhile
  rocksdb::WriteBatch batch;
  std::vector<engine::TagInfo> upserts;
  // What memory takes after the write, per tag.
  struct TagChange {
    int64_t span = 0;
    int64_t overlap_min = kMaxTimestamp, overlap_max = kMinTimestamp;
    int64_t dirty_min = kMaxTimestamp;
    Version max_version = 0;
  };
  std::map<TagId, TagChange> changes;
  {
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
    for (const Record& r : records) {
      if (r.type != RecordType::kTag) continue;
      ASSIGN_OR_RETURN(engine::TagInfo info, engine::DecodeTagInfo(r.value));
      upserts.push_back(std::move(info));
    }
    catalog_->PrepareUpserts(
        &upserts,
        [this](TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return tombstones_->Of(id); }, &batch,
        db_->catalog());
    // The tags whose data is taken: known here (an earlier piece, or kept
    // by the catalog's rule) with the type the data has.
    auto type_of = [&](TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> std::optional<ValueType> {
      for (const engine::TagInfo& info : upserts) {
        if (info.id == id) return info.type;
      }
      const TagState* t = FindTag(id);
      if (t == nullptr) return std::nullopt;
      return t->type();
    };
    auto span_of = [&](TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> int64_t {
      const TagState* t = FindTag(id);
      return t == nullptr ? 0 : t->chunk.max_span;
    };
    uint64_t max_chunk_id = 0;
    codec::ChunkColumns decoded, kept;
    auto add_samples = [&](TagId id, const codec::ChunkColumns& all) -> absl::Status {
      mu_.AssertHeld();
      const codec::ChunkColumns* cols = &all;
      if (tombstones_->Drop(id, all, &kept)) cols = &kept;
      if (cols->size() == 0) return absl::OkStatus();
      int64_t span = 0;
      RETURN_IF_ERROR(chunk_store_->WriteChunks(id, *cols, &batch, &span));
      TagChange& ch = changes[id];
      ch.span = std::max(ch.span, span);
      const int64_t lo = cols->timestamps.front(), hi = cols->timestamps.back();
      // Unsealed samples may fall among sealed chunks: the overlap pass
      // joins them; their hours' rollups are rewritten from the chunks.
      ch.overlap_min = std::min(ch.overlap_min, lo);
      ch.overlap_max = std::max(ch.overlap_max, hi);
      ch.dirty_min = std::min(ch.dirty_min, lo);
      rollups_->MarkDirty(id, lo, hi, &batch);
      for (Version v : cols->versions) ch.max_version = std::max(ch.max_version, v);
      return absl::OkStatus();
    };
    // Chunk ids are kept (a retried copy overwrites the same keys), so this
    // store's next id goes above them before any chunk of its own is cut.
    for (const Record& r : records) {
      if (r.type == RecordType::kChunk) {
        max_chunk_id = std::max(max_chunk_id, engine::ParseChunkKey(r.key).chunk_id);
      }
    }
    if (max_chunk_id >= chunk_store_->next_chunk_id()) {
      chunk_store_->set_next_chunk_id(max_chunk_id + 1);
      batch.Put(db_->state(), engine::kNextChunkIdKey, U64Value(max_chunk_id + 1));
    }
    for (const Record& r : records) {
      switch (r.type) {
        case RecordType::kChunk: {
          const engine::ChunkKeyParts k = engine::ParseChunkKey(r.key);
          std::optional<ValueType> type = type_of(k.tag);
          if (!type.has_value()) continue;  // refused here (deleted, conflict)
          if (tombstones_->Of(k.tag) != 0) {
            RETURN_IF_ERROR(codec::DecodeChunk(r.value, &decoded));
            if (decoded.type != *type) continue;
            RETURN_IF_ERROR(add_samples(k.tag, decoded));
            continue;
          }
          // The checksum and the type, from the header (not decoded).
          ASSIGN_OR_RETURN(codec::ChunkSummary sum, codec::SummarizeChunk(r.value));
          if (sum.type != *type) continue;
          batch.Put(db_->chunks(), rocksdb::Slice(r.key.data(), r.key.size()),
                    rocksdb::Slice(r.value.data(), r.value.size()));
          break;
        }
        case RecordType::kRollup: {
          const engine::RollupKeyParts k = engine::ParseRollupKey(r.key);
          if (!type_of(k.tag).has_value()) continue;
          if (tombstones_->Of(k.tag) != 0) {
            // Rewritten from the kept chunks instead.
            TagChange& ch = changes[k.tag];
            ch.dirty_min = std::min(ch.dirty_min, k.bucket_start);
            rollups_->MarkDirty(k.tag, k.bucket_start, kMaxSampleTimestamp, &batch);
            continue;
          }
          batch.Put(db_->rollups(), rocksdb::Slice(r.key.data(), r.key.size()),
                    rocksdb::Slice(r.value.data(), r.value.size()));
          break;
        }
        case RecordType::kSamples: {
          std::optional<ValueType> type = type_of(r.tag);
          if (!type.has_value()) continue;
          RETURN_IF_ERROR(codec::DecodeChunk(r.value, &decoded));
          if (decoded.type != *type) continue;
          RETURN_IF_ERROR(add_samples(r.tag, decoded));
          break;
        }
        case RecordType::kTagState: {
          const shard_copy::TagStateRecord& s = r.state;
          if (!type_of(s.tag).has_value()) continue;
          TagChange& ch = changes[s.tag];
          ch.span = std::max(ch.span, s.max_span);
          if (s.overlap_min <= s.overlap_max) {
            ch.overlap_min = std::min(ch.overlap_min, s.overlap_min);
            ch.overlap_max = std::max(ch.overlap_max, s.overlap_max);
          }
          if (s.dirty_min <= s.dirty_max) {
            ch.dirty_min = std::min(ch.dirty_min, s.dirty_min);
            rollups_->MarkDirty(s.tag, s.dirty_min, s.dirty_max, &batch);
          }
          break;
        }
        default:
          break;
      }
    }
    // The spans and overlap ranges, durably (memory follows the write).
    for (const auto& [id, ch] : changes) {
      const int64_t old_span = span_of(id);
      if (ch.span > old_span) chunk_store_->PutSpan(id, old_span, ch.span, &batch);
      if (ch.overlap_min <= ch.overlap_max) {
        int64_t lo = ch.overlap_min, hi = ch.overlap_max;
        if (const TagState* t = FindTag(id);
            t != nullptr && t->chunk.overlap_min <= t->chunk.overlap_max) {
          lo = std::min(lo, t->chunk.overlap_min);
          hi = std::max(hi, t->chunk.overlap_max);
        }
        batch.Put(db_->state(), engine::OverlapKey(id), EncodeTimeRange(lo, hi));
      }
    }
    next.pieces += 1;
    next.records += records.size();
    next.bytes += piece.size();
    batch.Put(db_->state(), shard_copy::MoveMarkerKey(shard), shard_copy::EncodeMoveMarker(next));
  }
  // No log entry carries the imported versions (sealed chunks are not
  // decoded: the source's bound covers them): kept durably with them.
  Version imported = header_bound;
  for (const engine::TagInfo& info : upserts) imported = std::max(imported, info.version);
  for (const auto& [id, ch] : changes) imported = std::max(imported, ch.max_version);
  RETURN_IF_ERROR(RaiseVersionSeen(db_.get(), imported, &batch));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(wo, &batch), "shard import"));
  {
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    compactor_->mu().AssertHeld();  // the same mutex
    for (const engine::TagInfo& info : upserts) {
      tombstones_->NoteVersion(info.version);
      catalog_->Upsert(info);
      compactor_->SetRetention(info.id, info.retention_ns > 0);
    }
    for (const auto& [id, ch] : changes) {
      TagState* t = FindTag(id);
      if (t == nullptr) continue;
      t->chunk.max_span = std::max(t->chunk.max_span, ch.span);
      if (ch.overlap_min <= ch.overlap_max) {
        compactor_->NoteOverlap(id, &t->chunk, ch.overlap_min, ch.overlap_max);
      }
      t->chunk.rollup_dirty_min = std::min(t->chunk.rollup_dirty_min, ch.dirty_min);
      if (ch.max_version != 0) tombstones_->NoteVersion(ch.max_version);
    }
    tombstones_->NoteVersion(imported);
    commit_log_->mu().AssertHeld();  // the same mutex
    commit_log_->ObserveVersion(imported);
  }
  *marker = std::move(next);
  return absl::OkStatus();
}

}  // namespace historian
