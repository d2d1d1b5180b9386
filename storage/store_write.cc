// Store: the write path. Every change (samples, catalog changes, entries of
// other sites) is a log entry, committed by the CommitLog
// (storage/commit_log/); this file holds the store's side: validation,
// deadbands, versions, and the catalog steps of a group (GroupApplier).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/store_impl.h"

namespace historian {

absl::StatusOr<WriteResult> Store::Write(WriteInput input) {
  return FinishWrite(StartWrite(std::move(input)));
}

std::optional<absl::StatusOr<WriteResult>> Store::Impl::Enqueue(PendingWrite* w) {
  {
    absl::MutexLock l(&mu);
    if (closed)
      return absl::StatusOr<WriteResult>(absl::FailedPreconditionError("store is closed"));
    commit_log->mu().AssertHeld();  // the same mutex
    if (w->deduped()) {
      absl::StatusOr<std::optional<uint64_t>> seen = commit_log->BeginBatch(*w);
      if (!seen.ok()) return absl::StatusOr<WriteResult>(seen.status());
      if (seen->has_value()) {
        return absl::StatusOr<WriteResult>(WriteResult{**seen, /*duplicate=*/true});
      }
    }
    ApplyDeadbands(&w->entry.series);
    w->entry.version = NextVersion();
    for (auto& series : w->entry.series) {
      series.cols.versions.assign(series.cols.size(), w->entry.version);
    }
    // Queued in call order now; encoded outside the lock, so the streams
    // encode in parallel (chunk-coding a batch is a fifth of its cost).
    w->ready = false;
    commit_log->Queue(w);
  }
  engine::EncodeLogEntry(w->entry, &w->encoded);
  absl::MutexLock l(&mu);
  w->ready = true;  // a waiting leader sees it when mu is released
  return std::nullopt;
}

absl::StatusOr<WriteResult> Store::Impl::Complete(PendingWrite* w) {
  absl::MutexLock l(&mu);
  commit_log->mu().AssertHeld();  // the same mutex
  commit_log->AwaitWrite(w);
  commit_log->EndBatch(*w);
  if (!w->status.ok()) return w->status;
  return WriteResult{w->accepted, false};
}

WriteHandle::WriteHandle() = default;
WriteHandle::WriteHandle(WriteHandle&& other) noexcept
    : store_(other.store_), pending_(std::move(other.pending_)), result_(std::move(other.result_)) {
  other.store_ = nullptr;
}
WriteHandle::~WriteHandle() {
  if (store_ != nullptr && pending_ != nullptr)
    store_->impl_->Complete(pending_.get()).IgnoreError();
}

WriteHandle Store::StartWrite(WriteInput input) {
  WriteHandle h;
  h.pending_ = std::make_unique<PendingWrite>();
  PendingWrite& w = *h.pending_;
  w.origin = impl_->options.site;
  w.assign_seq = true;
  w.client_id = std::move(input.client_id);
  w.batch_seq = input.batch_seq;
  w.entry.series = std::move(input.series);
  w.accepted = w.entry.NumSamples();
  if (absl::Status s = CheckSampleTimestamps(w.entry.series); !s.ok()) {
    h.result_ = absl::StatusOr<WriteResult>(s);
    return h;
  }
  h.result_ = impl_->Enqueue(&w);
  if (!h.result_) h.store_ = this;
  return h;
}

absl::StatusOr<WriteResult> Store::FinishWrite(WriteHandle handle) {
  if (handle.result_) return *handle.result_;
  absl::StatusOr<WriteResult> r = impl_->Complete(handle.pending_.get());
  handle.store_ = nullptr;  // completed
  return r;
}

void Store::Impl::ApplyDeadbands(std::vector<engine::SeriesData>* series) {
  PartsShareMu();
  for (engine::SeriesData& s : *series) {
    TagState* t = FindTag(s.tag);
    if (t == nullptr || t->info.deadband <= 0) continue;
    heads.ApplyDeadband(*t, t->info.deadband, &s.cols);
  }
}

absl::Status Store::Impl::SubmitCatalog(engine::LogEntry entry) {
  PendingWrite w;
  w.origin = options.site;
  w.assign_seq = true;
  w.entry = std::move(entry);
  engine::EncodeLogEntry(w.entry, &w.encoded);
  absl::MutexLock l(&mu);
  if (closed) return absl::FailedPreconditionError("store is closed");
  commit_log->mu().AssertHeld();  // the same mutex
  commit_log->Submit(&w);
  return w.status;
}

absl::StatusOr<uint64_t> Store::ApplyReplicated(const std::string& origin, uint64_t seq,
                                                std::string_view entry) {
  if (origin == impl_->options.site || origin == kRepairOrigin) {
    return absl::InvalidArgumentError(absl::StrCat("origin: '", origin, "' is not a peer"));
  }
  PendingWrite w;
  w.origin = origin;
  w.seq = seq;
  w.encoded = std::string(entry);
  RETURN_IF_ERROR(engine::DecodeLogEntry(entry, &w.entry));
  w.accepted = w.entry.NumSamples();
  if (HasDeletes(w.entry)) {
    absl::MutexLock pass(&impl_->seal_mu);         // see Impl::SubmitTombstones
    RETURN_IF_ERROR(impl_->SubmitTombstones(&w));  // skips an entry applied before
    return w.skipped ? 0 : w.accepted;
  }
  absl::MutexLock l(&impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("store is closed");
  CommitLog& log = *impl_->commit_log;
  log.mu().AssertHeld();  // the same mutex
  if (seq <= log.AppliedSequence(origin)) return 0;
  log.Submit(&w);
  if (!w.status.ok()) return w.status;
  return w.skipped ? 0 : w.accepted;
}

absl::StatusOr<uint64_t> Store::ApplyRepair(const std::vector<engine::TagInfo>& tags,
                                            std::vector<engine::SeriesData> series) {
  PendingWrite w;
  w.origin = kRepairOrigin;
  w.assign_seq = true;
  // A peer of an older version may hold samples outside the range.
  impl_->DropOutOfRange(&series, "repair");
  absl::MutexLock l(&impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("store is closed");
  // Nothing of a deleted incarnation comes back by repair: neither its
  // catalog entry nor its samples (a peer that has not applied the
  // tombstone yet still offers them).
  for (const engine::TagInfo& info : tags) {
    if (info.version > impl_->TombstoneOf(info.id)) w.entry.catalog_upserts.push_back(info);
  }
  for (engine::SeriesData& s : series) {
    const bool known = impl_->FindTag(s.tag) != nullptr ||
                       std::any_of(w.entry.catalog_upserts.begin(), w.entry.catalog_upserts.end(),
                                   [&](const engine::TagInfo& info) { return info.id == s.tag; });
    if (!known) continue;
    codec::ChunkColumns kept;
    if (impl_->DropTombstoned(s.tag, s.cols, &kept)) s.cols = std::move(kept);
    if (s.cols.size() > 0) w.entry.series.push_back(std::move(s));
  }
  if (w.entry.series.empty() && w.entry.catalog_upserts.empty()) return 0;
  w.accepted = w.entry.NumSamples();
  // The entry's version only matters for the encoding: samples keep theirs.
  w.entry.version = impl_->NextVersion();
  impl_->mu.Unlock();
  engine::EncodeLogEntry(w.entry, &w.encoded);
  impl_->mu.Lock();
  impl_->commit_log->mu().AssertHeld();  // the same mutex
  impl_->commit_log->Submit(&w);
  if (!w.status.ok()) return w.status;
  return w.accepted;
}

void Store::Impl::PrepareCatalog(PendingWrite* w, rocksdb::WriteBatch* batch) {
  PrepareTombstones(w, batch);
  // Upserts, decided by the catalog (Catalog::PrepareUpserts): a deleted
  // incarnation (at or below its tombstone) is not created again.
  PartsShareMu();
  catalog.PrepareUpserts(
      &w->entry.catalog_upserts,
      [this](TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return TombstoneOf(id); }, batch,
      db->catalog());
}

void Store::Impl::ApplyCatalog(const PendingWrite& w) {
  ApplyDeletes(w);
  for (const engine::TagInfo& info : w.entry.catalog_upserts) {
    tombstones.NoteVersion(info.version);
    PartsShareMu();
    catalog.Upsert(info);
    compactor->mu().AssertHeld();  // the same mutex
    compactor->SetRetention(info.id, info.retention_ns > 0);
  }
}

void Store::Impl::PrepareGroupEntry(PendingWrite* w, rocksdb::WriteBatch* batch) {
  mu.AssertHeld();  // commit_log->mu()
  PrepareCatalog(w, batch);
}

void Store::Impl::ApplyGroupEntry(const PendingWrite& w, int64_t now_s) {
  mu.AssertHeld();  // commit_log->mu()
  ApplyCatalog(w);
  ApplyToHead(w.origin, w.seq, w.entry);
  if (w.origin == options.site) {
    own_log->mu().AssertHeld();  // the same mutex
    own_log->Append(w.seq, now_s, w.encoded.size(), w.entry.NumSamples());
  }
}

}  // namespace historian
