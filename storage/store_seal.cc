// Store: sealing heads into chunks and trimming the log.
//
// A seal takes a tag's whole head, cuts it into chunks (at most
// chunk_max_samples samples and chunk_max_duration of time each), and writes
// the chunks together with "sealed/<tag><origin> = last sequence" in one
// WriteBatch. The log entries are deleted later, once no head holds a sample
// of theirs; replay after a crash skips what the sealed markers cover.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rollup.h"
#include "storage/store_impl.h"

namespace historian {

// --- MaintenanceHost ---

ChunkState* Store::Impl::FindChunkState(TagId id, TagFacts* facts) {
  TagState* t = FindTag(id);
  if (t == nullptr) return nullptr;
  facts->type = t->info.type;
  facts->retention_ns = t->info.retention_ns;
  return &t->chunk;
}

void Store::Impl::ForEachTag(absl::FunctionRef<void(TagId, ValueType)> fn) {
  PartsShareMu();
  catalog.ForEach([&](TagId id, const TagState& t) { fn(id, t.info.type); });
}

void Store::Impl::ForgetLatest(TagId id) {
  if (TagState* t = FindTag(id)) {
    PartsShareMu();
    heads.InvalidateLatest(*t);
  }
}

void Store::Impl::HeadsDue(bool force, int64_t now, std::vector<TagId>* due) {
  const int64_t max_age = absl::ToInt64Nanoseconds(options.head_max_age);
  absl::MutexLock l(&mu);
  PartsShareMu();
  for (TagId id : heads.tags_in_memory()) {
    const TagState* t = FindTag(id);
    if (t == nullptr) continue;
    if (heads.SealDue(*t, force, options.chunk_max_samples, now, max_age)) due->push_back(id);
  }
}

ChunkState* Store::Impl::BeginSeal(TagId id, codec::ChunkColumns* samples,
                                   rocksdb::WriteBatch* batch) {
  TagState* t = nullptr;
  const HeadBuffer* sealing = nullptr;
  {
    absl::MutexLock l(&mu);
    t = FindTag(id);
    if (t == nullptr) return nullptr;
    PartsShareMu();
    sealing = heads.StartSeal(*t, options.chunk_max_samples);
    if (sealing == nullptr) return nullptr;
    t->chunk.rollup_dirty_min =
        std::min(t->chunk.rollup_dirty_min, sealing->cols.timestamps().front());
  }
  // Only the sealing thread touches the sealing buffer until EndSeal;
  // readers only read it under mu.
  samples->Reset(sealing->cols.type());
  sealing->cols.CopyAll(samples);
  for (const OriginSeqRange& r : sealing->seqs) {
    std::string v;
    engine::PutBigEndian64(r.max_seq, &v);
    batch->Put(db->state(), engine::SealedSeqKey(id, *r.origin), v);
  }
  return &t->chunk;
}

void Store::Impl::EndSeal(TagId id, bool sealed, int64_t now) {
  TagState* t = FindTag(id);
  if (t == nullptr) return;
  // On failure the samples go back in front of the head.
  PartsShareMu();
  heads.EndSeal(id, *t, sealed, now);
}

absl::Status Store::Impl::RecomputeRollups(TagId tag, int64_t min_ts, int64_t max_ts) {
  ValueType type;
  int64_t max_span;
  {
    absl::MutexLock l(&mu);
    TagState* t = FindTag(tag);
    if (t == nullptr) return absl::OkStatus();
    type = t->info.type;
    max_span = t->chunk.max_span;
  }
  RETURN_IF_ERROR(rollups->Recompute(tag, type, max_span, min_ts, max_ts));
  absl::MutexLock l(&mu);
  PartsShareMu();
  if (TagState* t = FindTag(tag); t != nullptr && !heads.SealUnderWay(*t)) {
    t->chunk.rollup_dirty_min = kMaxTimestamp;
  }
  return absl::OkStatus();
}

absl::Status Store::Impl::RecomputeDirtyRollups() {
  std::vector<Rollups::Dirty> dirty;
  RETURN_IF_ERROR(rollups->LoadDirty(&dirty));
  for (const Rollups::Dirty& d : dirty)
    RETURN_IF_ERROR(RecomputeRollups(d.tag, d.min_ts, d.max_ts));
  return absl::OkStatus();
}

absl::Status Store::Impl::TrimLog() {
  std::map<std::string, uint64_t> limit;  // per origin: entries below may go
  rocksdb::WriteBatch batch;
  uint64_t acks = 0;  // OwnLog::Trim's mark for the acks in `batch`
  {
    absl::MutexLock l(&mu);
    commit_log->mu().AssertHeld();  // the same mutex
    commit_log->TrimLimits(&limit);
    PartsShareMu();
    for (TagId id : heads.tags_in_memory()) {
      if (const TagState* t = FindTag(id)) heads.LimitTrim(*t, &limit);
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

}  // namespace historian
