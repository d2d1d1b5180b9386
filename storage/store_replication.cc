// Store: what replication needs: cursors of other origins (CommitLog), and
// reading the own log for shipping, peers' acknowledgements and log
// retention (OwnLog).
#include <algorithm>
#include <iterator>
#include <map>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/key_format.h"
#include "storage/engine/version.h"
#include "storage/store_impl.h"

namespace historian {

uint64_t Store::AppliedSequence(const std::string& origin) const {
  absl::MutexLock l(&impl_->commit_log->mu());
  return impl_->commit_log->AppliedSequence(origin);
}

absl::Status Store::AdvanceCursor(const std::string& origin, uint64_t seq) {
  absl::MutexLock l(&impl_->commit_log->mu());
  return impl_->commit_log->AdvanceCursor(origin, seq);
}

absl::Status Store::ReadOwnLog(uint64_t from_seq, size_t max_bytes, OwnLogBatch* out) const {
  return impl_->own_log->Read(from_seq, max_bytes, out);
}

bool Store::WaitForOwnEntry(uint64_t seq, absl::Duration timeout) const {
  return impl_->own_log->WaitForEntry(seq, timeout, &impl_->closed);
}

uint64_t Store::OwnHeadSequence() const {
  absl::MutexLock l(&impl_->commit_log->mu());
  return impl_->commit_log->OwnHeadSequence();
}

void Store::SetPeerAcked(const std::string& site, uint64_t seq) {
  impl_->own_log->SetPeerAcked(site, seq);
}

uint64_t Store::PeerAcked(const std::string& site) const { return impl_->own_log->PeerAcked(site); }

}  // namespace historian
