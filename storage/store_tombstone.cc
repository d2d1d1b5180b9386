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
// start with the tag id), also for the largest id.
std::string TagKeysEnd(TagId tag) { return U64(tag) + std::string(17, '\xff'); }

}  // namespace

Version Store::Impl::TombstoneVersion() {
  const uint64_t wall = static_cast<uint64_t>(std::max<int64_t>(NowNs(), 0) / 1000000000);
  last_version_seconds = std::max(last_version_seconds, wall);
  return std::max((last_version_seconds << 8) | site_tag, max_version_seen);
}

absl::Status Store::Impl::LoadTombstones() {
  std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(rocksdb::ReadOptions(), db->state()));
  // Calls fn(tombstone) for each key with `prefix` (tag id -> version).
  auto scan = [&](std::string_view prefix, auto fn) -> absl::Status {
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
         it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
         it->Next()) {
      if (it->key().size() != prefix.size() + 8 || it->value().size() != 8) {
        return absl::DataLossError(
            absl::StrCat("state ", std::string(prefix), ": bad key or value size"));
      }
      fn(engine::Tombstone{engine::GetBigEndian64(it->key().data() + prefix.size()),
                           engine::GetBigEndian64(it->value().data())});
    }
    return engine::FromRocks(it->status(), "load tombstones");
  };
  // Collected first and applied under mu below: the analysis cannot see mu
  // held inside the callbacks.
  std::vector<engine::Tombstone> found, purges;
  auto into = [](std::vector<engine::Tombstone>* v) {
    return [v](const engine::Tombstone& t) { v->push_back(t); };
  };
  RETURN_IF_ERROR(scan(engine::kTombstonePrefix, into(&found)));
  RETURN_IF_ERROR(scan(engine::kPurgePrefix, into(&purges)));
  absl::MutexLock l(&mu);
  for (const engine::Tombstone& t : found) {
    tombstones[t.tag] = t.version;
    version_floor = std::max(version_floor, t.version);
    max_version_seen = std::max(max_version_seen, t.version);
  }
  purges_due.insert(purges_due.end(), purges.begin(), purges.end());
  return absl::OkStatus();
}

bool Store::Impl::DropTombstoned(TagId tag, const codec::ChunkColumns& in,
                                 codec::ChunkColumns* kept) const {
  const Version dead = TombstoneOf(tag);
  if (dead == 0 || in.versions.size() != in.size()) return false;
  if (std::none_of(in.versions.begin(), in.versions.end(), [&](Version v) { return v <= dead; })) {
    return false;
  }
  kept->Reset(in.type);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in.versions[i] > dead) engine::AppendSample(in, i, kept);
  }
  return true;
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
    for (const auto& [origin, seq] : applied_seq) {
      batch->Put(db->state(), engine::SealedSeqKey(t.tag, origin), U64(seq));
    }
  }
  entry.tombstones = std::move(fresh);
}

void Store::Impl::ApplyDeletes(const PendingWrite& w) {
  for (const engine::Tombstone& t : w.entry.tombstones) {
    Version& known = tombstones[t.tag];
    known = std::max(known, t.version);
    version_floor = std::max(version_floor, t.version);
    max_version_seen = std::max(max_version_seen, t.version);
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
    purges_due.push_back(t);
  }
}

absl::Status Store::Impl::SubmitTombstones(PendingWrite* w) {
  {
    absl::MutexLock l(&mu);
    if (closed) return absl::FailedPreconditionError("store is closed");
    Submit(w);
  }
  RETURN_IF_ERROR(w->status);
  return RunDuePurges();
}

absl::Status Store::Impl::RunDuePurges() {
  while (true) {
    engine::Tombstone t;
    {
      absl::MutexLock l(&mu);
      if (purges_due.empty()) return absl::OkStatus();
      t = purges_due.back();
      purges_due.pop_back();
    }
    absl::Status s = PurgeTag(t.tag, t.version);
    if (!s.ok()) {
      absl::MutexLock l(&mu);
      purges_due.push_back(t);  // the next seal pass retries
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
      if (!codec::DecodeChunk({it->value().data(), it->value().size()}, &cols).ok()) continue;
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
    std::string dirty;
    engine::PutBigEndian64(engine::OrderedFromSigned(min_ts), &dirty);
    engine::PutBigEndian64(engine::OrderedFromSigned(max_ts), &dirty);
    batch.Put(db->state(), engine::RollupDirtyKey(id), dirty);
    absl::MutexLock l(&mu);
    if (TagState* t = FindTag(id)) t->rollup_dirty_min = std::min(t->rollup_dirty_min, min_ts);
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
    impl_->version_floor = std::max(impl_->version_floor, w.entry.version);
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  return impl_->SubmitTombstones(&w);
}

std::vector<engine::Tombstone> Store::Tombstones() const {
  std::vector<engine::Tombstone> out;
  absl::MutexLock l(&impl_->mu);
  out.reserve(impl_->tombstones.size());
  for (const auto& [tag, version] : impl_->tombstones) out.push_back({tag, version});
  std::sort(out.begin(), out.end(),
            [](const engine::Tombstone& a, const engine::Tombstone& b) { return a.tag < b.tag; });
  return out;
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
