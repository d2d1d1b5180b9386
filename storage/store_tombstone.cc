// Store: deleting tags. A delete writes a tombstone (tag id, version) in a
// log entry of its own; peers apply it from the log, or from a digest after
// the log was trimmed (Store::ApplyTombstones). Every site keeps its
// tombstones for good (state CF `tombstone/<tag>`) and drops, from every
// path (its own log replay, peers' log entries, repairs), the samples of the
// tag at or below the tombstone's version: a tag created again under the
// same name (so the same id) shows only what was written after the delete.
// See docs/consistency.md, "Deleting a tag".
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/store_impl.h"

namespace historian {
namespace {

std::string U64(uint64_t v) {
  std::string s;
  engine::PutBigEndian64(v, &s);
  return s;
}

// Above every key of `tag` in the chunks and rollups CFs (24-byte keys that
// start with the tag id), also for the largest id: one byte longer than
// those keys, every byte after the id 0xff.
std::string TagKeysEnd(TagId tag) {
  return U64(tag) + std::string(engine::kChunkKeySize - engine::kU64Size + 1, '\xff');
}

}  // namespace

Version Store::Impl::TombstoneVersion() {
  commit_log->mu().AssertHeld();  // the same mutex
  return std::max(commit_log->ClockVersion(), tombstones.max_seen());
}

absl::Status Store::Impl::LoadTombstones() {
  TombstoneSet loaded;
  RETURN_IF_ERROR(loaded.Load(db.get()));
  absl::MutexLock l(&mu);
  tombstones = std::move(loaded);
  return absl::OkStatus();
}

void Store::Impl::PrepareTombstones(PendingWrite* w, rocksdb::WriteBatch* batch) {
  engine::LogEntry& entry = w->entry;
  // A delete by name (written by a node that predates tombstones) is a
  // tombstone of the name's id at the entry's version.
  for (const std::string& name : entry.catalog_deletes) {
    entry.tombstones.push_back({engine::TagIdFromName(name), entry.version});
  }
  entry.catalog_deletes.clear();
  std::vector<engine::Tombstone> fresh;
  for (const engine::Tombstone& t : entry.tombstones) {
    if (t.version <= TombstoneOf(t.tag)) continue;  // nothing more to drop
    if (std::any_of(fresh.begin(), fresh.end(), [&](const engine::Tombstone& f) {
          return f.tag == t.tag && f.version >= t.version;
        })) {
      continue;
    }
    fresh.push_back(t);
    batch->Put(db->state(), engine::TombstoneKey(t.tag), U64(t.version));
    const TagState* tag = FindTag(t.tag);
    if (tag != nullptr && tag->info.version > t.version) {
      // Created again since: only the covered samples go (PurgeTag).
      batch->Put(db->state(), engine::PurgeKey(t.tag), U64(t.version));
      continue;
    }
    // The whole tag goes: everything it owns. (Chunks and rollups also when
    // the tag is unknown here: nothing may survive under its id.)
    if (tag != nullptr) batch->Delete(db->catalog(), tag->info.name);
    batch->DeleteRange(db->chunks(), U64(t.tag), TagKeysEnd(t.tag));
    batch->DeleteRange(db->rollups(), U64(t.tag), TagKeysEnd(t.tag));
    batch->Delete(db->state(), engine::SpanKey(t.tag));
    batch->Delete(db->state(), engine::RollupDirtyKey(t.tag));
    batch->Delete(db->state(), engine::OverlapKey(t.tag));
    batch->Delete(db->state(), engine::PurgeKey(t.tag));
    // The log replay skips entries at or below these (the tombstone filters
    // them too; this also keeps them out of the new tag's head).
    commit_log->mu().AssertHeld();  // the same mutex
    for (const auto& [origin, seq] : commit_log->applied_seqs()) {
      batch->Put(db->state(), engine::SealedSeqKey(t.tag, origin), U64(seq));
    }
  }
  entry.tombstones = std::move(fresh);
}

void Store::Impl::ApplyDeletes(const PendingWrite& w) {
  for (const engine::Tombstone& t : w.entry.tombstones) {
    tombstones.Apply(t);
    TagState* tag = FindTag(t.tag);
    if (tag == nullptr) continue;
    if (tag->info.version <= t.version) {
      RemoveTagState(tag->info.name);
      continue;
    }
    // A newer incarnation: the covered samples leave its head now (no seal
    // holds a sealing buffer: the submitter holds seal_mu) and its chunks by
    // PurgeTag; the cached newest value may be one of them.
    PartsShareMu();
    heads.InvalidateLatest(*tag);
    heads.FilterHead(
        t.tag, *tag,
        [&](const codec::ChunkColumns& all, codec::ChunkColumns* kept)
            ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return DropTombstoned(t.tag, all, kept); });
    tombstones.QueuePurge(t);
  }
}

absl::Status Store::Impl::SubmitTombstones(PendingWrite* w) {
  {
    absl::MutexLock l(&mu);
    if (closed) return absl::FailedPreconditionError("store is closed");
    commit_log->mu().AssertHeld();  // the same mutex
    commit_log->Submit(w);
  }
  RETURN_IF_ERROR(w->status);
  return RunDuePurges();
}

absl::Status Store::Impl::RunDuePurges() {
  while (true) {
    engine::Tombstone t;
    {
      absl::MutexLock l(&mu);
      if (!tombstones.TakePurge(&t)) return absl::OkStatus();
    }
    absl::Status s = PurgeTag(t.tag, t.version);
    if (!s.ok()) {
      absl::MutexLock l(&mu);
      tombstones.QueuePurge(t);  // the next seal pass retries
      return s;
    }
  }
}

absl::Status Store::Impl::PurgeTag(TagId id, Version dead) {
  rocksdb::WriteBatch batch;
  batch.Delete(db->state(), engine::PurgeKey(id));
  int64_t min_ts = kMaxTimestamp, max_ts = kMinTimestamp;
  {
    const std::string lower = U64(id), upper = TagKeysEnd(id);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(ro, db->chunks()));
    codec::ChunkColumns cols, kept;
    std::string bytes;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      if (it->key().size() != engine::kChunkKeySize) continue;
      const engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
      // A corrupt chunk is left for an operator to see (reads report it).
      if (absl::Status st = codec::DecodeChunk({it->value().data(), it->value().size()}, &cols);
          !st.ok()) {
        chunk_store->SkipCorrupt(id, {it->key().data(), it->key().size()}, st, "purge");
        continue;
      }
      if (std::none_of(cols.versions.begin(), cols.versions.end(),
                       [&](Version v) { return v <= dead; })) {
        continue;
      }
      kept.Reset(cols.type);
      for (size_t i = 0; i < cols.size(); ++i) {
        if (cols.versions[i] > dead) engine::AppendSample(cols, i, &kept);
      }
      min_ts = std::min(min_ts, cols.timestamps.front());
      max_ts = std::max(max_ts, cols.timestamps.back());
      batch.Delete(db->chunks(), it->key());
      if (kept.size() == 0) continue;
      // The same chunk id: ids order equal versions (docs/storage.md).
      bytes.clear();
      RETURN_IF_ERROR(codec::EncodeChunk(kept, &bytes));
      batch.Put(db->chunks(), engine::ChunkKey(id, kept.timestamps.front(), key.chunk_id), bytes);
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan chunks to purge"));
  }
  if (min_ts <= max_ts) {
    // Rollups of the purged range are stale until rewritten below; a crash
    // in between leaves the marker for Open.
    rollups->MarkDirty(id, min_ts, max_ts, &batch);
    absl::MutexLock l(&mu);
    if (TagState* t = FindTag(id)) {
      t->chunk.rollup_dirty_min = std::min(t->chunk.rollup_dirty_min, min_ts);
    }
  }
  RETURN_IF_ERROR(
      engine::FromRocks(db->db()->Write(rocksdb::WriteOptions(), &batch), "purge deleted samples"));
  if (min_ts > max_ts) return absl::OkStatus();
  return RecomputeRollups(id, min_ts, max_ts);
}

// --- Public API ---

absl::Status Store::DeleteTag(std::string_view name) {
  absl::MutexLock pass(&impl_->seal_mu);  // see Impl::SubmitTombstones
  PendingWrite w;
  w.origin = impl_->options.site;
  w.assign_seq = true;
  {
    absl::MutexLock l(&impl_->mu);
    TagState* t = impl_->FindTagByName(name);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat("tag '", std::string(name), "' not found"));
    }
    w.entry.version = impl_->TombstoneVersion();
    w.entry.tombstones.push_back({t->info.id, w.entry.version});
    // Writes stamped from now on outlive the tombstone.
    impl_->tombstones.RaiseFloor(w.entry.version);
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  return impl_->SubmitTombstones(&w);
}

std::vector<engine::Tombstone> Store::Tombstones() const {
  absl::MutexLock l(&impl_->mu);
  return impl_->tombstones.Sorted();
}

absl::StatusOr<uint64_t> Store::ApplyTombstones(std::vector<engine::Tombstone> tombstones) {
  absl::MutexLock pass(&impl_->seal_mu);  // see Impl::SubmitTombstones
  PendingWrite w;
  w.origin = kRepairOrigin;
  w.assign_seq = true;
  {
    absl::MutexLock l(&impl_->mu);
    for (const engine::Tombstone& t : tombstones) {
      if (t.version > impl_->TombstoneOf(t.tag)) w.entry.tombstones.push_back(t);
    }
    if (w.entry.tombstones.empty()) return 0;
    // The entry's version only matters for the encoding: tombstones keep theirs.
    w.entry.version = impl_->NextVersion();
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  RETURN_IF_ERROR(impl_->SubmitTombstones(&w));
  return w.entry.tombstones.size();
}

}  // namespace historian
