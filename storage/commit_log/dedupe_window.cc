#include "storage/commit_log/dedupe_window.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/key_format.h"

namespace historian {

absl::Status DedupeWindow::LoadClient(const std::string& client) {
  if (clients_loaded_.contains(client)) return absl::OkStatus();
  std::string prefix = engine::ClientPrefix(client);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->state()));
  auto& batches = client_batches_[client];
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    // client/<id>\0<seq> (no digest) or client/<id>\0<seq><digest>.
    const size_t rest = it->key().size() - prefix.size();
    if ((rest != engine::kU64Size && rest != 2 * engine::kU64Size) ||
        it->value().size() != engine::kU64Size) {
      continue;
    }
    const char* at = it->key().data() + prefix.size();
    const uint64_t digest =
        rest == engine::kU64Size ? 0 : engine::GetBigEndian64(at + engine::kU64Size);
    batches[{engine::GetBigEndian64(at), digest}] = engine::GetBigEndian64(it->value().data());
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load client batches"));
  clients_loaded_.insert(client);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<uint64_t>> DedupeWindow::Begin(const std::string& client,
                                                            uint64_t batch_seq, uint64_t digest) {
  RETURN_IF_ERROR(LoadClient(client));
  auto& batches = client_batches_[client];
  // Only the same slice of the batch is a retry: another digest under the
  // same sequence is another part of it (docs/cluster.md), stored.
  auto seen = batches.find({batch_seq, digest});
  if (seen != batches.end()) return std::optional<uint64_t>(seen->second);
  // The window is by sequence distance: sequences within `window` of the
  // highest one seen are remembered; anything older cannot be told apart
  // from a retry, so it is refused rather than silently dropped.
  // (Written as a distance: batch_seq + window overflows near 2^64.)
  const uint64_t highest = batches.empty() ? 0 : batches.rbegin()->first.first;
  if (!batches.empty() && highest > batch_seq && highest - batch_seq >= window_) {
    return absl::FailedPreconditionError(
        absl::StrCat("batch_sequence: ", batch_seq, " is older than the dedupe window of ", window_,
                     " batches for client '", client, "' (highest ", highest,
                     "); it cannot be told from a retry"));
  }
  if (!in_flight_.insert(InFlightKey{client, batch_seq, digest}).second) {
    return absl::UnavailableError(absl::StrCat("batch_sequence: ", batch_seq, " of client '",
                                               client, "' is already being written; retry"));
  }
  return std::optional<uint64_t>();
}

void DedupeWindow::Prepare(const std::string& client, uint64_t batch_seq, uint64_t digest,
                           uint64_t accepted, rocksdb::WriteBatch* batch) const {
  std::string count;
  engine::PutBigEndian64(accepted, &count);
  batch->Put(db_->state(), engine::ClientBatchKey(client, batch_seq, digest), count);
  if (batch_seq > window_ && batch_seq % 64 == 0) {
    batch->DeleteRange(db_->state(), engine::ClientBatchKey(client, 0),
                       engine::ClientBatchKey(client, batch_seq - window_));
  }
}

void DedupeWindow::Record(const std::string& client, uint64_t batch_seq, uint64_t digest,
                          uint64_t accepted) {
  auto& batches = client_batches_[client];
  batches[{batch_seq, digest}] = accepted;
  const uint64_t highest = batches.rbegin()->first.first;
  while (batches.size() > 1 && highest - batches.begin()->first.first >= window_) {
    batches.erase(batches.begin());
  }
}

}  // namespace historian
