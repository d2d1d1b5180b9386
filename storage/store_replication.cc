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
#include "storage/store_parts.h"

namespace historian {

uint64_t Store::AppliedSequence(const std::string& origin) const {
  absl::MutexLock l(&commit_log_->mu());
  return commit_log_->AppliedSequence(origin);
}

absl::Status Store::AdvanceCursor(const std::string& origin, uint64_t seq) {
  absl::MutexLock l(&commit_log_->mu());
  return commit_log_->AdvanceCursor(origin, seq);
}

absl::Status Store::ReadOwnLog(uint64_t from_seq, size_t max_bytes, OwnLogBatch* out) const {
  return own_log_->Read(from_seq, max_bytes, out);
}

bool Store::WaitForOwnEntry(uint64_t seq, absl::Duration timeout) const {
  return own_log_->WaitForEntry(seq, timeout, commit_log_->closed_flag());
}

uint64_t Store::OwnAppliedSequence() const {
  absl::MutexLock l(&commit_log_->mu());
  return commit_log_->next_seq() - 1;
}

uint64_t Store::OwnHeadSequence() const {
  absl::MutexLock l(&commit_log_->mu());
  return commit_log_->OwnHeadSequence();
}

void Store::SetPeerAcked(const std::string& site, uint64_t seq) {
  own_log_->SetPeerAcked(site, seq);
}

uint64_t Store::PeerAcked(const std::string& site) const { return own_log_->PeerAcked(site); }

void Store::SetMemberAcked(const std::string& site, const std::string& member, uint64_t seq) {
  own_log_->SetMemberAcked(site, member, seq);
}

std::map<std::string, uint64_t> Store::MemberAcks(const std::string& site) const {
  return own_log_->MemberAcks(site);
}

std::vector<std::string> Store::ForgetMemberAcks(const std::string& site,
                                                 const std::set<std::string>& members) {
  uint64_t lowest = UINT64_MAX;
  std::vector<std::string> forgotten = own_log_->ForgetMemberAcks(site, members, &lowest);
  // The members left have all applied up to `lowest`: the log is theirs
  // to hold back (only rises).
  if (!forgotten.empty() && lowest != UINT64_MAX) own_log_->SetPeerAcked(site, lowest);
  return forgotten;
}

}  // namespace historian
