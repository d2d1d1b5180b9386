// Store: what live subscriptions need (server/subscriptions/): the applied
// listener, where the origins' logs stand, and reads of any origin's log
// for a subscriber's catch-up after a reconnect.
#include <memory>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/iterator.h"
#include "storage/engine/key_format.h"
#include "storage/store_parts.h"

namespace historian {

void Store::SetAppliedListener(AppliedListener* listener) { applier_->SetListener(listener); }

std::map<std::string, uint64_t> Store::AppliedSequences() const {
  absl::MutexLock l(&commit_log_->mu());
  std::map<std::string, uint64_t> out = commit_log_->applied_seqs();
  out.erase(kRepairOrigin);
  uint64_t& own = out[options_.site];
  own = std::max(own, commit_log_->next_seq() - 1);
  return out;
}

absl::Status Store::ReadLog(const std::string& origin, uint64_t from_seq, size_t max_bytes,
                            OwnLogBatch* out) const {
  if (origin == options_.site) return own_log_->Read(from_seq, max_bytes, out);
  out->records.clear();
  out->gap = false;
  out->pending_samples = 0;
  out->head_time_ns = 0;
  out->head_seq = AppliedSequence(origin);
  out->first_available = from_seq;
  if (from_seq > out->head_seq) return absl::OkStatus();  // nothing applied from there on
  // Another origin's entries stay in the log until their samples are sealed
  // (CommitLog::TrimLimits), and they are kept in sequence order, so a
  // missing first entry means it was trimmed (or skipped by a range sync:
  // reported as a gap too, never as nothing missed).
  std::string upper = engine::LogKey(origin, out->head_seq + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->log()));
  size_t bytes = 0;
  uint64_t expect = from_seq;
  for (it->Seek(engine::LogKey(origin, from_seq)); it->Valid(); it->Next()) {
    std::string_view key_origin;
    uint64_t seq = 0;
    if (!engine::ParseLogKey({it->key().data(), it->key().size()}, &key_origin, &seq) ||
        key_origin != origin) {
      break;
    }
    if (seq != expect) {
      if (out->records.empty()) {
        out->gap = true;
        out->first_available = seq;
        return absl::OkStatus();
      }
      break;  // read the rest from `expect` next time
    }
    out->records.emplace_back(seq, it->value().ToString());
    bytes += it->value().size();
    ++expect;
    if (bytes >= max_bytes) break;
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "read log"));
  if (out->records.empty()) {
    out->gap = true;  // applied entries from from_seq on, none left
    out->first_available = out->head_seq + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Store::TagName(TagId id) const {
  absl::MutexLock l(&mu_);
  TagState* t = FindTag(id);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat("tag id ", id, " not found"));
  return std::string(t->name());
}

}  // namespace historian
