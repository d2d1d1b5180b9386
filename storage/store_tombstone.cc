// Store: deleting tags. A delete writes a tombstone (tag id, version) in a
// log entry of its own; peers apply it from the log, or from a digest after
// the log was trimmed (Store::ApplyTombstones). Every site keeps its
// tombstones for good (state CF `tombstone/<tag>`) and drops, from every
// path (its own log replay, peers' log entries, repairs), the samples of the
// tag at or below the tombstone's version: a tag created again under the
// same name (so the same id) shows only what was written after the delete.
// See docs/consistency.md, "Deleting a tag". The tombstones go into the
// batch and memory by StoreApplier; the purges they leave are run by
// StoreMaintenanceHost.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/commit_log/version_seen.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/store_parts.h"

namespace historian {
Version Store::TombstoneVersion() {
  commit_log_->mu().AssertHeld();  // the same mutex
  return std::max(commit_log_->ClockVersion(), tombstones_->max_seen());
}

absl::Status Store::LoadTombstones() {
  TombstoneSet loaded;
  RETURN_IF_ERROR(loaded.Load(db_.get()));
  // Versions seen in log entries trimmed since, and in imported chunks:
  // a delete is stamped at or above them too.
  ASSIGN_OR_RETURN(const Version seen, ReadVersionSeen(db_.get()));
  loaded.NoteVersion(seen);
  absl::MutexLock l(&mu_);
  *tombstones_ = std::move(loaded);
  commit_log_->mu().AssertHeld();  // the same mutex
  commit_log_->ObserveVersion(seen);
  return absl::OkStatus();
}

absl::Status Store::SubmitTombstones(PendingWrite* w) {
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
    // DeleteTag checked before it let go of mu to encode: a close may have
    // come in between, and its fence must hold every own delete.
    if (w->origin == options_.site) RETURN_IF_ERROR(CheckShardsOpen(w->entry));
    commit_log_->Submit(w);
  }
  RETURN_IF_ERROR(w->status);
  host_->seal_mu().AssertHeld();  // the same mutex
  return host_->RunDuePurges();
}

// --- Public API ---

absl::Status Store::DeleteTag(std::string_view name) {
  absl::MutexLock pass(&seal_mu_);  // see Store::SubmitTombstones
  PendingWrite w;
  w.origin = options_.site;
  w.assign_seq = true;
  {
    absl::MutexLock l(&mu_);
    TagState* t = FindTagByName(name);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat("tag '", std::string(name), "' not found"));
    }
    RETURN_IF_ERROR(closed_shards_.CheckTag(name));
    w.entry.version = TombstoneVersion();
    w.entry.tombstones.push_back({t->id(), w.entry.version});
    // Writes stamped from now on outlive the tombstone.
    tombstones_->RaiseFloor(w.entry.version);
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  return SubmitTombstones(&w);
}

std::vector<engine::Tombstone> Store::Tombstones() const {
  absl::MutexLock l(&mu_);
  return tombstones_->Sorted();
}

absl::StatusOr<uint64_t> Store::ApplyTombstones(std::vector<engine::Tombstone> tombstones) {
  absl::MutexLock pass(&seal_mu_);  // see Store::SubmitTombstones
  PendingWrite w;
  w.origin = kRepairOrigin;
  w.assign_seq = true;
  {
    absl::MutexLock l(&mu_);
    for (const engine::Tombstone& t : tombstones) {
      if (t.version > tombstones_->Of(t.tag)) w.entry.tombstones.push_back(t);
    }
    if (w.entry.tombstones.empty()) return 0;
    // The entry's version only matters for the encoding: tombstones keep theirs.
    w.entry.version = NextVersion();
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  RETURN_IF_ERROR(SubmitTombstones(&w));
  return w.entry.tombstones.size();
}

}  // namespace historian
