// StoreApplier: the store's steps of a group commit (see store_applier.h).
// Tombstones: docs/consistency.md, "Deleting a tag".
#include "storage/store_applier.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "storage/commit_log/move_origin.h"
#include "storage/engine/key_format.h"

namespace historian {

StoreApplier::StoreApplier(Parts parts, std::string site, std::function<int64_t()> now_ns)
    : mu_(parts.mu),
      db_(parts.db),
      catalog_(parts.catalog),
      heads_(parts.heads),
      tombstones_(parts.tombstones),
      commit_log_(parts.commit_log),
      own_log_(parts.own_log),
      compactor_(parts.compactor),
      site_(std::move(site)),
      now_ns_(std::move(now_ns)),
      out_of_range_(parts.out_of_range),
      events_(parts.events) {}

void StoreApplier::PrepareGroupEntry(PendingWrite* w, rocksdb::WriteBatch* batch) {
  mu_.AssertHeld();  // commit_log.mu()
  PrepareCatalog(w, batch);
  w->event_feed_position = events_.PrepareEntry(w->entry, batch);
}

void StoreApplier::ApplyGroupEntry(const PendingWrite& w, int64_t now_s) {
  mu_.AssertHeld();  // commit_log.mu()
  ApplyCatalog(w);
  events_.OnApplied(w.entry, w.event_feed_position);
  AppliedListener* listener = listener_.load(std::memory_order_acquire);
  uint64_t undefined = 0;
  if (listener == nullptr || w.origin == kRepairOrigin) {
    undefined = ApplyToHeadFor(w.origin, w.seq, w.entry, nullptr);
  } else {
    applied_.clear();
    applied_copies_.clear();
    undefined = ApplyToHeadFor(w.origin, w.seq, w.entry, &applied_);
    listener->OnApplied(w.origin, w.seq, applied_);
  }
  if (undefined > 0) undefined_tag_samples_.fetch_add(undefined);
  if (w.origin == site_) {
    own_log_.mu().AssertHeld();  // the same mutex
    own_log_.Append(w.seq, now_s, w.encoded.size(), w.entry.NumSamples());
  }
}

void StoreApplier::ApplyToHead(const std::string& origin, uint64_t seq,
                               const engine::LogEntry& entry) {
  ApplyToHeadFor(origin, seq, entry, nullptr);
}

uint64_t StoreApplier::ApplyToHeadFor(const std::string& origin, uint64_t seq,
                                      const engine::LogEntry& entry,
                                      std::vector<AppliedSeries>* applied) {
  PartsShareMu(mu_, catalog_, heads_);
  int64_t now = now_ns_();
  commit_log_.mu().AssertHeld();  // the same mutex
  const std::string* origin_name = commit_log_.InternOrigin(origin);
  tombstones_->NoteVersion(entry.version);
  codec::ChunkColumns in_range, kept;
  // One relaxed load when no rule watches a tag; else one lookup per series.
  const bool watching = events_.watching();
  uint64_t undefined = 0;
  for (const auto& series : entry.series) {
    if (origin == kRepairOrigin) {  // repaired samples keep their own versions
      for (Version v : series.cols.versions) tombstones_->NoteVersion(v);
    }
    TagState* tag = FindTag(series.tag);
    if (tag == nullptr) undefined += tombstones_->CountAbove(series.tag, series.cols);
    if (tag == nullptr || series.cols.type != tag->type() || series.cols.size() == 0) continue;
    // Entries written before the timestamp range was checked (log replay),
    // or sent by a peer of an older version: their other samples still go in.
    const codec::ChunkColumns* cols = &series.cols;
    if (!std::all_of(cols->timestamps.begin(), cols->timestamps.end(), IsSampleTimestamp)) {
      in_range = series.cols;
      out_of_range_.Drop(&in_range, series.tag, "log entry");
      if (in_range.size() == 0) continue;
      cols = &in_range;
    }
    // A deleted incarnation's samples never come back: a late entry, a
    // repair, the log replay.
    if (DropTombstoned(series.tag, *cols, &kept)) {
      if (kept.size() == 0) continue;
      cols = &kept;
    }
    heads_.Append(series.tag, *tag, tag->type(), *cols, origin_name, seq, now);
    if (applied != nullptr) {
      // in_range and kept are reused by the next series: keep a copy.
      if (cols != &series.cols) cols = &applied_copies_.emplace_back(*cols);
      applied->push_back({series.tag, tag->name(), cols});
    }

    // A move's tail is not evaluated here: its samples were the source's
    // own writes, evaluated by the source, which owned the shard until the
    // flip (this member raises alarms on the shard's tags from its own
    // writes after that; docs/cluster.md, "Alarm rules and events").
    if (watching && !MoveTailOriginShard(origin).has_value()) {
      events_.OnSeries(origin, seq, series.tag, tag->name(), *cols);
    }
  }
  // (The commit log moves the origin's applied sequence.)
  return undefined;
}

void StoreApplier::PrepareCatalog(PendingWrite* w, rocksdb::WriteBatch* batch) {
  PrepareTombstones(w, batch);
  // Upserts, decided by the catalog (Catalog::PrepareUpserts): a deleted
  // incarnation (at or below its tombstone) is not created again, and a
  // definition restated by a later entry never wins a tie. A repair's
  // entry version is only its encoding's: the repair decided its ties
  // already (Replicator::VerifyOwned takes the stamping site's).
  PartsShareMu(mu_, catalog_, heads_);
  catalog_.PrepareUpserts(
      &w->entry.catalog_upserts,
      [this](TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return tombstones_->Of(id); }, batch,
      db_->catalog(), w->origin == kRepairOrigin ? 0 : w->entry.version);
}

void StoreApplier::ApplyCatalog(const PendingWrite& w) {
  ApplyDeletes(w);
  for (const engine::TagInfo& info : w.entry.catalog_upserts) {
    tombstones_->NoteVersion(info.version);
    PartsShareMu(mu_, catalog_, heads_);
    catalog_.Upsert(info);
    compactor_.mu().AssertHeld();  // the same mutex
    compactor_.SetRetention(info.id, info.retention_ns > 0);
  }
}

void StoreApplier::RemoveTagState(std::string_view name) {
  PartsShareMu(mu_, catalog_, heads_);
  TagState* t = catalog_.Remove(name);
  if (t == nullptr) return;
  const TagId id = t->id();
  heads_.Forget(id, *t);
  compactor_.mu().AssertHeld();  // the same mutex
  compactor_.ForgetTag(id);
}

void StoreApplier::PrepareTombstones(PendingWrite* w, rocksdb::WriteBatch* batch) {
  engine::LogEntry& entry = w->entry;
  // A delete by name (written by a node that predates tombstones) is a
  // tombstone of the name's id at the entry's version.
  for (const std::string& name : entry.catalog_deletes) {
    entry.tombstones.push_back({engine::TagIdFromName(name), entry.version});
  }
  entry.catalog_deletes.clear();
  std::vector<engine::Tombstone> fresh;
  for (const engine::Tombstone& t : entry.tombstones) {
    if (t.version <= tombstones_->Of(t.tag)) continue;  // nothing more to drop
    if (std::any_of(fresh.begin(), fresh.end(), [&](const engine::Tombstone& f) {
          return f.tag == t.tag && f.version >= t.version;
        })) {
      continue;
    }
    fresh.push_back(t);
    batch->Put(db_->state(), engine::TombstoneKey(t.tag), U64Value(t.version));
    const TagState* tag = FindTag(t.tag);
    if (tag != nullptr && tag->version() > t.version) {
      // Created again since: only the covered samples go (the purge).
      batch->Put(db_->state(), engine::PurgeKey(t.tag), U64Value(t.version));
      continue;
    }
    // The whole tag goes: everything it owns. (Chunks and rollups also when
    // the tag is unknown here: nothing may survive under its id.)
    if (tag != nullptr)
      batch->Delete(db_->catalog(), rocksdb::Slice(tag->name().data(), tag->name().size()));
    batch->DeleteRange(db_->chunks(), U64Value(t.tag), TagKeysEnd(t.tag));
    batch->DeleteRange(db_->rollups(), U64Value(t.tag), TagKeysEnd(t.tag));
    batch->Delete(db_->state(), engine::SpanKey(t.tag));
    batch->Delete(db_->state(), engine::RollupDirtyKey(t.tag));
    batch->Delete(db_->state(), engine::OverlapKey(t.tag));
    batch->Delete(db_->state(), engine::PurgeKey(t.tag));
    // The log replay skips entries at or below these (the tombstone filters
    // them too; this also keeps them out of the new tag's head).
    commit_log_.mu().AssertHeld();  // the same mutex
    for (const auto& [origin, seq] : commit_log_.applied_seqs()) {
      batch->Put(db_->state(), engine::SealedSeqKey(t.tag, origin), U64Value(seq));
    }
  }
  entry.tombstones = std::move(fresh);
}

void StoreApplier::ApplyDeletes(const PendingWrite& w) {
  for (const engine::Tombstone& t : w.entry.tombstones) {
    tombstones_->Apply(t);
    TagState* tag = FindTag(t.tag);
    if (tag == nullptr) continue;
    if (tag->version() <= t.version) {
      RemoveTagState(tag->name());
      continue;
    }
    // A newer incarnation: the covered samples leave its head now (no seal
    // holds a sealing buffer: the submitter holds seal_mu) and its chunks by
    // the purge; the cached newest value may be one of them.
    PartsShareMu(mu_, catalog_, heads_);
    heads_.InvalidateLatest(*tag);
    heads_.FilterHead(
        t.tag, *tag,
        [&](const codec::ChunkColumns& all, codec::ChunkColumns* kept)
            ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return DropTombstoned(t.tag, all, kept); });
    tombstones_->QueuePurge(t);
  }
}

}  // namespace historian
