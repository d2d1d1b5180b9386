// Store: the write path. Every change (samples, catalog changes, entries of
// other sites) is a log entry, committed by the CommitLog
// (storage/commit_log/); this file holds the store's side: validation,
// deadbands, versions. The catalog steps of a group (GroupApplier) are
// StoreApplier's (store_applier.cc).
#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/engine/version.h"
#include "storage/store_parts.h"

namespace historian {
namespace {

// Definitions an own write restates at most (Store::PrepareOwnEntry): with
// the default limits a definition is at most about 20 KiB (a 4 KiB
// description, 16 KiB of attributes, its name), so an entry gains at most
// about 20 MiB, below the 64 MiB a puller takes in one message.
constexpr size_t kMaxRestatedPerEntry = 1024;

}  // namespace

absl::StatusOr<WriteResult> Store::Write(WriteInput input) {
  return FinishWrite(StartWrite(std::move(input)));
}

std::optional<absl::StatusOr<WriteResult>> Store::Enqueue(PendingWrite* w) {
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    PartsShareMu(mu_, *catalog_, *heads_);
    // Nothing is queued yet, so the waits hold back no other writer, and a
    // write refused here left nothing behind. A shard this store is taking
    // over holds its writes for a moment (it opens once the handover is
    // done); the check after the next wait decides.
    if (absl::Status open = AwaitShardsOpen(w->entry); !open.ok()) {
      return absl::StatusOr<WriteResult>(std::move(open));
    }
    if (absl::Status room = AwaitHeadRoom(); !room.ok()) {
      return absl::StatusOr<WriteResult>(std::move(room));
    }
    // A shard being handed over takes no own writes (a retry of a batch
    // stored before the close is refused too: it goes to the new owner).
    // After the wait (it lets go of mu): from here to the queue mu is held,
    // so a close either comes first or sees this write queued.
    if (absl::Status open = CheckShardsOpen(w->entry); !open.ok()) {
      return absl::StatusOr<WriteResult>(std::move(open));
    }
    if (w->deduped()) {
      absl::StatusOr<std::optional<uint64_t>> seen = commit_log_->BeginBatch(*w);
      if (!seen.ok()) return absl::StatusOr<WriteResult>(seen.status());
      if (seen->has_value()) {
        return absl::StatusOr<WriteResult>(WriteResult{**seen, /*duplicate=*/true});
      }
    }
    PrepareOwnEntry(w);
    w->entry.version = NextVersion();
    for (auto& series : w->entry.series) {
      series.cols.versions.assign(series.cols.size(), w->entry.version);
    }
    // Queued in call order now; encoded outside the lock, so the streams
    // encode in parallel (chunk-coding a batch is a fifth of its cost).
    w->ready = false;
    commit_log_->Queue(w);
  }
  engine::EncodeLogEntry(w->entry, &w->encoded);
  absl::MutexLock l(&mu_);
  w->ready = true;  // a waiting leader sees it when mu is released
  return std::nullopt;
}

absl::Status Store::AwaitHeadRoom() {
  PartsShareMu(mu_, *catalog_, *heads_);
  commit_log_->mu().AssertHeld();  // the same mutex
  host_->mu().AssertHeld();        // the same mutex
  if (heads_->TakeSealWanted()) sealer_->Wake();
  // The heads are over --max_head_bytes; the sealer (woken above) takes
  // them down, pass after pass while they stay over it, and the seal that
  // brings them back within it wakes this wait (Head::AwaitRoom): no
  // polling. A failed pass ends the wait (NoteSealPassFailed wakes it): the
  // seals may keep failing (a full disk, a RocksDB write error) and a
  // writer must not hang on them.
  while (heads_->OverBudget() && !commit_log_->closed()) {
    if (const absl::Status& failed = host_->seal_error(); !failed.ok()) {
      sealer_->Wake();  // the next pass retries; one that succeeds clears it
      return absl::UnavailableError(absl::StrCat(
          "the heads hold ", heads_->bytes(), " bytes of unsealed samples, at or over ",
          "--max_head_bytes (", options_.max_head_bytes, "), and the last seal pass failed: ",
          failed.message(), "; nothing of this write was stored, retry once sealing works again"));
    }
    sealer_->Wake();  // cheap when a pass is under way or due already
    heads_->AwaitRoom();
  }
  if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
  return absl::OkStatus();
}

absl::StatusOr<WriteResult> Store::Complete(PendingWrite* w) {
  absl::MutexLock l(&mu_);
  commit_log_->mu().AssertHeld();  // the same mutex
  commit_log_->AwaitWrite(w);
  commit_log_->EndBatch(*w);
  if (!w->status.ok()) {
    // Not in the log: the next write of these tags restates them again.
    for (TagId id : w->restated) foreign_tags_restated_.erase(id);
    return w->status;
  }
  return WriteResult{w->accepted, false};
}

WriteHandle::WriteHandle(absl::StatusOr<WriteResult> result) : result_(std::move(result)) {}
WriteHandle::WriteHandle(Store* store, std::unique_ptr<PendingWrite> queued)
    : store_(store), pending_(std::move(queued)) {}
WriteHandle::WriteHandle(WriteHandle&& other) noexcept
    : store_(other.store_), pending_(std::move(other.pending_)), result_(std::move(other.result_)) {
  other.store_ = nullptr;
}
WriteHandle::~WriteHandle() {
  // Moves this handle into FinishWrite, which completes the queued write.
  if (store_ != nullptr && pending_ != nullptr) store_->FinishWrite(std::move(*this)).IgnoreError();
}
std::unique_ptr<PendingWrite> WriteHandle::TakeQueued() {
  store_ = nullptr;
  return std::move(pending_);
}

WriteHandle Store::StartWrite(WriteInput input) {
  auto pending = std::make_unique<PendingWrite>();
  PendingWrite& w = *pending;
  w.origin = options_.site;
  w.assign_seq = true;
  w.client_id = std::move(input.client_id);
  w.batch_seq = input.batch_seq;
  w.dedupe_digest = input.dedupe_digest;
  w.entry.series = std::move(input.series);
  w.accepted = w.entry.NumSamples();
  if (absl::Status s = CheckSampleTimestamps(w.entry.series); !s.ok()) {
    return WriteHandle(absl::StatusOr<WriteResult>(s));
  }
  if (std::optional<absl::StatusOr<WriteResult>> done = Enqueue(&w)) {
    return WriteHandle(*std::move(done));  // not queued
  }
  return WriteHandle(this, std::move(pending));
}

absl::StatusOr<WriteResult> Store::FinishWrite(WriteHandle handle) {
  if (handle.result()) return *handle.result();
  std::unique_ptr<PendingWrite> w = handle.TakeQueued();
  return Complete(w.get());
}

void Store::PrepareOwnEntry(PendingWrite* w) {
  PartsShareMu(mu_, *catalog_, *heads_);
  for (engine::SeriesData& s : w->entry.series) {
    TagState* t = FindTag(s.tag);
    if (t == nullptr) continue;
    // Each definition restated once (a later write queues after this one),
    // at most kMaxRestatedPerEntry an entry (the rest in the next writes of
    // those tags: an entry stays far below a puller's message limit). The
    // catalog here ignores it (a definition restated never wins a tie); a
    // puller that has the tag does too.
    if (!t->MadeAt(options_.site) && w->restated.size() < kMaxRestatedPerEntry) {
      auto [it, added] = foreign_tags_restated_.try_emplace(s.tag, t->version());
      if (added || it->second < t->version()) {
        it->second = t->version();
        w->entry.catalog_upserts.push_back(t->Info());
        w->restated.push_back(s.tag);
      }
    }
    if (t->exception_deadband() <= 0) continue;
    heads_->ApplyDeadband(*t, t->exception_deadband(), &s.cols);
  }
}

absl::Status Store::SubmitCatalog(engine::LogEntry entry, bool check_open) {
  PendingWrite w;
  w.origin = options_.site;
  w.assign_seq = true;
  w.entry = std::move(entry);
  engine::EncodeLogEntry(w.entry, &w.encoded);
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
    // Refused at once, never held: the entry's versions are stamped already.
    if (check_open) RETURN_IF_ERROR(CheckShardsOpen(w.entry));
    commit_log_->Submit(&w);
  }
  // A created tag a rule covers is watched before its first sample (which
  // the caller writes after this returns); at once when no rule covers it.
  if (w.status.ok()) events_->AwaitRulesResolved();
  return w.status;
}

absl::StatusOr<uint64_t> Store::ApplyReplicated(const std::string& origin, uint64_t seq,
                                                std::string_view entry, UndefinedTags undefined) {
  if (origin == options_.site || origin == kRepairOrigin) {
    return absl::InvalidArgumentError(absl::StrCat("origin: '", origin, "' is not a peer"));
  }
  PendingWrite w;
  w.origin = origin;
  w.seq = seq;
  w.encoded = std::string(entry);
  RETURN_IF_ERROR(engine::DecodeLogEntry(entry, &w.entry));
  w.accepted = w.entry.NumSamples();
  if (HasDeletes(w.entry)) {
    absl::MutexLock pass(&seal_mu_);        // see Store::SubmitTombstones
    RETURN_IF_ERROR(SubmitTombstones(&w));  // skips an entry applied before
    return w.skipped ? 0 : w.accepted;
  }
  {
    absl::MutexLock l(&mu_);
    CommitLog& log = *commit_log_;
    log.mu().AssertHeld();  // the same mutex
    if (log.closed()) return absl::FailedPreconditionError("store is closed");
    if (seq <= log.AppliedSequence(origin)) return 0;
    // The peer's entries go into the heads as local writes do: within
    // --max_head_bytes. The puller waits (the peer keeps its log), or gets
    // Unavailable while seals fail and retries later.
    RETURN_IF_ERROR(AwaitHeadRoom());
    if (seq <= log.AppliedSequence(origin)) return 0;  // applied while waiting
    if (undefined == UndefinedTags::kRefuse) {
      RETURN_IF_ERROR(CheckSeriesDefined(origin, seq, w.entry));
    }
    log.Submit(&w);
    if (!w.status.ok()) return w.status;
  }
  // As for own tags (SubmitCatalog): the peer's next entries may hold the
  // new tag's first samples.
  if (!w.skipped && !w.entry.catalog_upserts.empty()) events_->AwaitRulesResolved();
  return w.skipped ? 0 : w.accepted;
}

namespace {

constexpr char kUndefinedTagPayload[] = "historian.dev/undefined-tag";

}  // namespace

bool Store::IsUndefinedTag(const absl::Status& status) {
  return absl::IsFailedPrecondition(status) && status.GetPayload(kUndefinedTagPayload).has_value();
}

absl::Status Store::CheckSeriesDefined(const std::string& origin, uint64_t seq,
                                       const engine::LogEntry& entry) const {
  for (const engine::SeriesData& series : entry.series) {
    if (FindTag(series.tag) != nullptr) continue;
    // A tag deleted here: its deleted incarnation's samples are dropped as
    // they should be; a newer one's (a re-creation cut) are undefined.
    const size_t undefined = tombstones_->CountAbove(series.tag, series.cols);
    if (undefined == 0) continue;
    if (std::any_of(entry.catalog_upserts.begin(), entry.catalog_upserts.end(),
                    [&](const engine::TagInfo& info) { return info.id == series.tag; })) {
      continue;
    }
    absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
        "entry ", seq, " of '", origin, "' holds ", undefined, " samples of tag id ", series.tag,
        tombstones_->Of(series.tag) != 0 ? " newer than its deletion here" : "",
        ", which this node has no definition of (its definition may be in an entry of that "
        "log the cursor passed, cut while another member owned the tag's shard: a range sync "
        "of the shards this node gained brings it); nothing of the entry was applied"));
    refused.SetPayload(kUndefinedTagPayload, absl::Cord(origin));
    return refused;
  }
  return absl::OkStatus();
}

namespace {

// Keeps the samples of `cols` at or after `horizon`.
void DropOlderThan(int64_t horizon, codec::ChunkColumns* cols) {
  if (cols->size() == 0) return;
  if (std::all_of(cols->timestamps.begin(), cols->timestamps.end(),
                  [&](int64_t ts) { return ts >= horizon; })) {
    return;
  }
  codec::ChunkColumns kept;
  kept.Reset(cols->type);
  for (size_t i = 0; i < cols->size(); ++i) {
    if (cols->timestamps[i] >= horizon) engine::AppendSamples(*cols, i, i + 1, &kept);
  }
  *cols = std::move(kept);
}

}  // namespace

// Leaves out of `s` the samples `considered` picks that this store holds at
// the same timestamp with a version as new or newer. Read without the
// store's lock: a write here meanwhile only raises the version held.
absl::Status Store::DropHeldTies(
    engine::SeriesData* s,
    absl::FunctionRef<bool(const codec::ChunkColumns&, size_t)> considered) const {
  const codec::ChunkColumns& cols = s->cols;
  if (cols.versions.size() != cols.size()) return absl::OkStatus();  // none to compare
  int64_t first = INT64_MAX, last = INT64_MIN;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (!considered(cols, i)) continue;
    first = std::min(first, cols.timestamps[i]);
    last = std::max(last, cols.timestamps[i]);
  }
  if (first > last) return absl::OkStatus();  // none considered
  codec::ChunkColumns held;
  absl::Status read = ReadRaw(s->tag, first, last == INT64_MAX ? last : last + 1, 0, &held);
  if (absl::IsNotFound(read)) return absl::OkStatus();  // not held here: the apply decides
  RETURN_IF_ERROR(read);
  if (held.size() == 0) return absl::OkStatus();
  absl::flat_hash_map<int64_t, Version> held_version;
  for (size_t i = 0; i < held.size(); ++i) held_version[held.timestamps[i]] = held.versions[i];
  codec::ChunkColumns kept;
  kept.Reset(cols.type);
  for (size_t i = 0; i < cols.size(); ++i) {
    auto it = held_version.find(cols.timestamps[i]);
    const bool held_wins =
        it != held_version.end() && it->second >= cols.versions[i] && considered(cols, i);
    if (!held_wins) engine::AppendSamples(cols, i, i + 1, &kept);
  }
  s->cols = std::move(kept);
  return absl::OkStatus();
}

// Versions have a resolution of one second, so a correction made here within
// the second of the original carries the same version, and this site's log
// order (the later wins) is what decides it; a repair has no order, and a
// peer that has not pulled the correction yet offers the original. (A
// sample this site stamped in the past and lost is not written again within
// that second.)
absl::Status Store::KeepOwnCorrections(engine::SeriesData* s) const {
  const uint8_t own = engine::SiteTag(options_.site);
  return DropHeldTies(s, [own](const codec::ChunkColumns& cols, size_t i) {
    return engine::VersionSiteTag(cols.versions[i]) == own;
  });
}

absl::Status Store::KeepHeldTies(engine::SeriesData* s, int64_t start, int64_t end) const {
  return DropHeldTies(s, [start, end](const codec::ChunkColumns& cols, size_t i) {
    return cols.timestamps[i] >= start && cols.timestamps[i] < end;
  });
}

absl::StatusOr<uint64_t> Store::ApplyRepair(const std::vector<engine::TagInfo>& tags,
                                            std::vector<engine::SeriesData> series,
                                            RepairTies ties) {
  for (engine::SeriesData& s : series) {
    RETURN_IF_ERROR(ties == RepairTies::kHeldWins ? KeepHeldTies(&s, kMinTimestamp, kMaxTimestamp)
                                                  : KeepOwnCorrections(&s));
  }
  PendingWrite w;
  w.origin = kRepairOrigin;
  w.assign_seq = true;
  // A peer of an older version may hold samples outside the range.
  host_->out_of_range().Drop(&series, "repair");
  absl::MutexLock l(&mu_);
  commit_log_->mu().AssertHeld();    // the same mutex
  RETURN_IF_ERROR(AwaitHeadRoom());  // as writes: within --max_head_bytes
  // Nothing of a deleted incarnation comes back by repair: neither its
  // catalog entry nor its samples (a peer that has not applied the
  // tombstone yet still offers them).
  for (const engine::TagInfo& info : tags) {
    if (info.version > tombstones_->Of(info.id)) w.entry.catalog_upserts.push_back(info);
  }
  const int64_t now = NowNs();
  for (engine::SeriesData& s : series) {
    const TagState* held = FindTag(s.tag);
    auto upsert = std::find_if(w.entry.catalog_upserts.begin(), w.entry.catalog_upserts.end(),
                               [&](const engine::TagInfo& info) { return info.id == s.tag; });
    if (held == nullptr && upsert == w.entry.catalog_upserts.end()) continue;
    codec::ChunkColumns kept;
    if (tombstones_->Drop(s.tag, s.cols, &kept)) s.cols = std::move(kept);
    // Samples past the tag's retention: this site's retention dropped them
    // (each site drops whole chunks on its own schedule, so the peer may
    // still hold them); a repair never brings them back.
    const int64_t retention =
        upsert != w.entry.catalog_upserts.end() ? upsert->retention_ns : held->retention_ns();
    if (retention > 0) DropOlderThan(now - retention, &s.cols);
    if (s.cols.size() > 0) w.entry.series.push_back(std::move(s));
  }
  if (w.entry.series.empty() && w.entry.catalog_upserts.empty()) return 0;
  w.accepted = w.entry.NumSamples();
  // The entry's version only matters for the encoding: samples keep theirs.
  w.entry.version = NextVersion();
  mu_.Unlock();
  engine::EncodeLogEntry(w.entry, &w.encoded);
  mu_.Lock();
  commit_log_->mu().AssertHeld();  // the same mutex
  commit_log_->Submit(&w);
  if (!w.status.ok()) return w.status;
  return w.accepted;
}

}  // namespace historian
