// StoreMaintenanceHost: what the Sealer and Compactor need of the rest of
// the store (see store_maintenance_host.h).
//
// A seal takes a tag's whole head, cuts it into chunks (at most
// chunk_max_samples samples and an hour of time each), and writes
// the chunks together with "sealed/<tag><origin> = last sequence" in one
// WriteBatch. The log entries are deleted later (TrimLog), once no head
// holds a sample of theirs; replay after a crash skips what the sealed
// markers cover.
#include "storage/store_maintenance_host.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "api/core/status_macros.h"
#include "storage/commit_log/version_seen.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"

namespace historian {

StoreMaintenanceHost::StoreMaintenanceHost(Parts parts, Options options)
    : mu_(parts.mu),
      seal_mu_(parts.seal_mu),
      db_(parts.db),
      catalog_(parts.catalog),
      heads_(parts.heads),
      tombstones_(parts.tombstones),
      commit_log_(parts.commit_log),
      own_log_(parts.own_log),
      chunks_(parts.chunks),
      rollups_(parts.rollups),
      config_{std::move(options.site), options.chunk_max_samples, options.head_max_age_ns},
      out_of_range_(std::move(options.logger)),
      log_trimmer_(parts.seal_mu, parts.db, options.sync_writes,
                   {options.log_reclaim_bytes, options.log_reclaim_min_bytes}) {}

// --- Catalog and heads ---

ChunkState* StoreMaintenanceHost::FindChunkState(TagId id, TagFacts* facts) {
  TagState* t = FindTag(id);
  if (t == nullptr) return nullptr;
  facts->type = t->type();
  facts->retention_ns = t->retention_ns();
  return &t->chunk;
}

void StoreMaintenanceHost::ForEachTag(absl::FunctionRef<void(TagId, ValueType)> fn) {
  PartsShareMu(mu_, catalog_, heads_);
  catalog_.ForEach([&](TagId id, const TagState& t) { fn(id, t.type()); });
}

void StoreMaintenanceHost::ForgetLatest(TagId id) {
  if (TagState* t = FindTag(id)) {
    PartsShareMu(mu_, catalog_, heads_);
    heads_.InvalidateLatest(*t);
  }
}

void StoreMaintenanceHost::HeadsDue(bool force, int64_t now, std::vector<TagId>* due) {
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, catalog_, heads_);
  // Over the memory budget (--max_head_bytes): the largest heads not due
  // yet are sealed too, early, until the pass takes out the excess bytes.
  const uint64_t excess = heads_.ExcessBytes();
  uint64_t taken = 0;
  std::vector<std::pair<size_t, TagId>> early;
  for (TagId id : heads_.tags_in_memory()) {
    const TagState* t = FindTag(id);
    if (t == nullptr) continue;
    if (heads_.SealDue(*t, force, config_.chunk_max_samples, now, config_.head_max_age_ns)) {
      due->push_back(id);
      taken += heads_.HeadBytes(*t);
    } else if (excess > 0 && heads_.HeadSamples(*t) > 0) {
      early.emplace_back(heads_.HeadBytes(*t), id);
    }
  }
  if (taken >= excess) return;
  std::sort(early.begin(), early.end(), std::greater<>());
  for (const auto& [bytes, id] : early) {
    if (taken >= excess) break;
    due->push_back(id);
    taken += bytes;
  }
}

ChunkState* StoreMaintenanceHost::BeginSeal(TagId id, codec::ChunkColumns* samples,
                                            rocksdb::WriteBatch* batch) {
  // What the seals before this one freed goes back to the OS now, not at
  // the end of the pass (the RSS would keep the heads' peak meanwhile).
  freed_trimmer_.MaybeTrim();
  TagState* t = nullptr;
  const HeadBuffer* sealing = nullptr;
  {
    absl::MutexLock l(&mu_);
    t = FindTag(id);
    if (t == nullptr) return nullptr;
    PartsShareMu(mu_, catalog_, heads_);
    sealing = heads_.StartSeal(*t, config_.chunk_max_samples);
    if (sealing == nullptr) return nullptr;
    t->chunk.rollup_dirty_min = std::min(t->chunk.rollup_dirty_min, sealing->cols.MinTimestamp());
  }
  // Only the sealing thread touches the sealing buffer until EndSeal;
  // readers only read it under mu.
  samples->Reset(sealing->cols.type());
  sealing->cols.CopyAll(samples);
  for (const OriginSeqRange& r : sealing->seqs) {
    std::string v;
    engine::PutBigEndian64(r.max_seq, &v);
    batch->Put(db_->state(), engine::SealedSeqKey(id, *r.origin), v);
  }
  return &t->chunk;
}

void StoreMaintenanceHost::EndSeal(TagId id, bool sealed, int64_t now) {
  TagState* t = FindTag(id);
  if (t == nullptr) return;
  // On failure the samples go back in front of the head.
  PartsShareMu(mu_, catalog_, heads_);
  const uint64_t before = heads_.bytes();
  heads_.EndSeal(id, *t, sealed, now);  // wakes writers back within the bound
  if (before > heads_.bytes()) freed_trimmer_.NoteFreed(before - heads_.bytes());
}

bool StoreMaintenanceHost::HeadsOverBudget() {
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, catalog_, heads_);
  return heads_.OverBudget();
}

void StoreMaintenanceHost::NoteSealPassFailed(const absl::Status& why) {
  seal_error_ = why;
  if (seal_error_.ok()) seal_error_ = absl::UnknownError("seal pass failed");
}

// --- Rollups ---

absl::Status StoreMaintenanceHost::RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) {
  return RollupsFor(tag, [&](ValueType type, int64_t max_span) {
    return rollups_.Recompute(tag, type, max_span, min_ts, max_ts);
  });
}

absl::Status StoreMaintenanceHost::RollupsAfterSeal(TagId tag, const codec::ChunkColumns& sealed) {
  return RollupsFor(tag, [&](ValueType type, int64_t max_span) {
    return rollups_.AfterSeal(tag, type, max_span, sealed);
  });
}

absl::Status StoreMaintenanceHost::RollupsFor(
    TagId tag, absl::FunctionRef<absl::Status(ValueType, int64_t)> rewrite) {
  ValueType type;
  int64_t max_span;
  {
    absl::MutexLock l(&mu_);
    TagState* t = FindTag(tag);
    if (t == nullptr) return absl::OkStatus();
    type = t->type();
    max_span = t->chunk.max_span;
  }
  RETURN_IF_ERROR(rewrite(type, max_span));
  // What the rewrite did not cover (an earlier one failed) stays dirty.
  const int64_t dirty_from = rollups_.DirtyFrom(tag);
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, catalog_, heads_);
  if (TagState* t = FindTag(tag); t != nullptr && !heads_.SealUnderWay(*t)) {
    t->chunk.rollup_dirty_min = dirty_from;
  }
  return absl::OkStatus();
}

absl::Status StoreMaintenanceHost::RetryDirtyRollups() {
  // After a pass's seals every marker left is one a rewrite failed to clear
  // (or a purge's, whose rewrite failed): the same rewrite as at open.
  absl::Status first;
  for (const Rollups::Dirty& d : rollups_.DirtyRanges()) {
    absl::Status s = RecomputeRollups(d.tag, d.min_ts, d.max_ts);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::Status StoreMaintenanceHost::RecomputeDirtyRollups() {
  std::vector<Rollups::Dirty> dirty;
  RETURN_IF_ERROR(rollups_.LoadDirty(&dirty));
  for (const Rollups::Dirty& d : dirty)
    RETURN_IF_ERROR(RecomputeRollups(d.tag, d.min_ts, d.max_ts));
  return absl::OkStatus();
}

// --- Purges left by tombstones (docs/consistency.md) ---

absl::Status StoreMaintenanceHost::RunDuePurges() {
  while (true) {
    engine::Tombstone t;
    {
      absl::MutexLock l(&mu_);
      if (!tombstones_->TakePurge(&t)) return absl::OkStatus();
    }
    absl::Status s = PurgeTag(t.tag, t.version);
    if (!s.ok()) {
      absl::MutexLock l(&mu_);
      tombstones_->QueuePurge(t);  // the next seal pass retries
      return s;
    }
  }
}

absl::Status StoreMaintenanceHost::PurgeTag(TagId id, Version dead) {
  rocksdb::WriteBatch batch;
  batch.Delete(db_->state(), engine::PurgeKey(id));
  int64_t min_ts = kMaxTimestamp, max_ts = kMinTimestamp;
  {
    const std::string lower = U64Value(id), upper = TagKeysEnd(id);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->chunks()));
    codec::ChunkColumns cols, kept;
    std::string bytes;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      if (it->key().size() != engine::kChunkKeySize) continue;
      const engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
      // A corrupt chunk is left for an operator to see (reads report it).
      if (absl::Status st = codec::DecodeChunk({it->value().data(), it->value().size()}, &cols);
          !st.ok()) {
        chunks_.SkipCorrupt(id, {it->key().data(), it->key().size()}, st, "purge");
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
      batch.Delete(db_->chunks(), it->key());
      if (kept.size() == 0) continue;
      // The same chunk id: ids order equal versions (docs/storage.md).
      bytes.clear();
      RETURN_IF_ERROR(codec::EncodeChunk(kept, &bytes));
      batch.Put(db_->chunks(), engine::ChunkKey(id, kept.timestamps.front(), key.chunk_id), bytes);
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan chunks to purge"));
  }
  if (min_ts <= max_ts) {
    // Rollups of the purged range are stale until rewritten below; a crash
    // in between leaves the marker for Open.
    rollups_.MarkDirty(id, min_ts, max_ts, &batch);
    absl::MutexLock l(&mu_);
    if (TagState* t = FindTag(id)) {
      t->chunk.rollup_dirty_min = std::min(t->chunk.rollup_dirty_min, min_ts);
    }
  }
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch),
                                    "purge deleted samples"));
  if (min_ts > max_ts) return absl::OkStatus();
  return RecomputeRollups(id, min_ts, max_ts);
}

// --- The log trim ---

absl::Status StoreMaintenanceHost::TrimLog() {
  std::map<std::string, uint64_t> limit;  // per origin: entries below may go
  rocksdb::WriteBatch batch;
  uint64_t acks = 0;  // OwnLog::Trim's mark for the acks in `batch`
  Version seen = 0;
  {
    absl::MutexLock l(&mu_);
    // Called only after every seal of a pass succeeded (Sealer::SealPass,
    // Store::SealAll, Store::Close): writers held back by --max_head_bytes
    // wait for the sealer again instead of failing.
    seal_error_ = absl::OkStatus();
    commit_log_.mu().AssertHeld();  // the same mutex
    commit_log_.TrimLimits(&limit);
    PartsShareMu(mu_, catalog_, heads_);
    for (TagId id : heads_.tags_in_memory()) {
      if (const TagState* t = FindTag(id)) heads_.LimitTrim(*t, &limit);
    }
    // Own entries also wait for the peers (within the retention limits);
    // the peers' acks that changed are saved with the trim, written even
    // when nothing is trimmed (a lagging peer holds the log back).
    own_log_.mu().AssertHeld();  // the same mutex
    own_log_.Trim(&limit[config_.site], &batch, &acks);
    // The versions of the entries this trim deletes are not replayed at the
    // next open: kept with the trim (every version applied so far, own
    // writes' included).
    seen = tombstones_->max_seen();
  }
  log_trimmer_.seal_mu().AssertHeld();  // the same mutex
  RETURN_IF_ERROR(RaiseVersionSeen(db_, seen, &batch));
  RETURN_IF_ERROR(log_trimmer_.Trim(limit, &batch).status());
  if (acks != 0) {
    absl::MutexLock l(&mu_);
    own_log_.mu().AssertHeld();  // the same mutex
    own_log_.AcksSaved(acks);
  }
  return log_trimmer_.MaybeReclaim();
}

absl::StatusOr<std::vector<std::string>> StoreMaintenanceHost::ForgetOrigins(
    absl::FunctionRef<bool(const std::string&)> which, rocksdb::WriteBatch* batch) {
  std::vector<std::string> origins;
  log_trimmer_.seal_mu().AssertHeld();  // the same mutex
  absl::MutexLock l(&mu_);
  commit_log_.mu().AssertHeld();  // the same mutex
  for (const auto& [origin, seq] : commit_log_.applied_seqs()) {
    if (which(origin)) origins.push_back(origin);
  }
  for (const std::string& origin : origins) {
    RETURN_IF_ERROR(commit_log_.PrepareForgetOrigin(origin, batch));
    log_trimmer_.PrepareForgetOrigin(origin, batch);
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(sync, batch), "forget origins"));
  for (const std::string& origin : origins) {
    commit_log_.ForgetOrigin(origin);
    log_trimmer_.ForgetOrigin(origin);
  }
  return origins;
}

absl::Status StoreMaintenanceHost::ReclaimLog() {
  log_trimmer_.seal_mu().AssertHeld();  // the same mutex
  return log_trimmer_.Reclaim();
}

}  // namespace historian
