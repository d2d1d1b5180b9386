// Store: what replication needs: reading the own log for shipping, cursors
// of other origins, peers' acknowledgements and log retention.
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
  out->records.clear();
  out->gap = false;
  {
    absl::MutexLock l(&impl_->mu);
    const uint64_t next_seq = impl_->NextSeq();
    out->head_seq = next_seq - 1;
    out->first_available = impl_->own_log.empty() ? next_seq : impl_->own_log.front().seq;
    if (!impl_->own_log.empty())
      out->head_time_ns = impl_->own_log.back().time_s * engine::kNanosPerSecond;
    if (from_seq < out->first_available && from_seq <= out->head_seq) {
      out->gap = true;
      return absl::OkStatus();
    }
  }
  std::map<uint64_t, uint64_t> holes;
  {
    absl::MutexLock l(&impl_->commit_log->mu());
    holes = impl_->commit_log->seq_holes();
  }
  // True when every sequence in [from, to) lies in a skipped range.
  auto skipped = [&](uint64_t from, uint64_t to) {
    auto it = holes.upper_bound(from);
    if (it == holes.begin()) return false;
    --it;
    return it->first <= from && to <= it->second;
  };
  std::string prefix = engine::LogPrefix(impl_->options.site);
  std::string upper = engine::LogKey(impl_->options.site, UINT64_MAX);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->db()->NewIterator(ro, impl_->db->log()));
  size_t bytes = 0;
  uint64_t expect = from_seq;
  for (it->Seek(engine::LogKey(impl_->options.site, from_seq)); it->Valid(); it->Next()) {
    std::string_view origin;
    uint64_t seq = 0;
    if (!engine::ParseLogKey({it->key().data(), it->key().size()}, &origin, &seq)) break;
    // Entries are written before they are applied; stop at the first hole
    // (a group still being written) so nothing is shipped out of order.
    // Sequences skipped at a restore are not a hole.
    if (seq != expect) {
      if (seq < expect || !skipped(expect, seq)) break;
      expect = seq;
    }
    out->records.emplace_back(seq, it->value().ToString());
    bytes += it->value().size();
    ++expect;
    if (bytes >= max_bytes) break;
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "read own log"));
  absl::MutexLock l(&impl_->mu);
  uint64_t last = out->records.empty() ? from_seq - 1 : out->records.back().first;
  // Samples of own entries up to and including `last`.
  uint64_t through = impl_->own_cum_samples;
  if (!impl_->own_log.empty()) {
    if (last >= impl_->own_log.front().seq) {
      // Sequences may skip (a restore epoch): find the entry by number.
      auto at = std::upper_bound(impl_->own_log.begin(), impl_->own_log.end(), last,
                                 [](uint64_t s, const OwnLogEntry& e) { return s < e.seq; });
      through = std::prev(at)->cum_samples;
    } else {
      through = impl_->own_log.front().cum_samples - impl_->own_log.front().samples;
    }
  }
  out->pending_samples = impl_->own_cum_samples - through;
  return absl::OkStatus();
}

bool Store::WaitForOwnEntry(uint64_t seq, absl::Duration timeout) const {
  absl::MutexLock l(&impl_->mu);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
    return impl_->NextSeq() - 1 > seq || impl_->closed;
  };
  impl_->mu.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return impl_->NextSeq() - 1 > seq;
}

uint64_t Store::OwnHeadSequence() const {
  absl::MutexLock l(&impl_->commit_log->mu());
  return impl_->commit_log->OwnHeadSequence();
}

void Store::SetPeerAcked(const std::string& site, uint64_t seq) {
  const std::vector<std::string>& peers = impl_->options.peers;
  if (std::find(peers.begin(), peers.end(), site) == peers.end()) return;
  absl::MutexLock l(&impl_->mu);
  uint64_t& acked = impl_->peer_acked[site];
  acked = std::max(acked, seq);
}

uint64_t Store::PeerAcked(const std::string& site) const {
  absl::MutexLock l(&impl_->mu);
  auto it = impl_->peer_acked.find(site);
  return it == impl_->peer_acked.end() ? 0 : it->second;
}

uint64_t Store::Impl::OwnTrimLimit() {
  // Keep what a configured peer has not applied yet...
  uint64_t limit = UINT64_MAX;
  for (const std::string& peer : options.peers) {
    auto it = peer_acked.find(peer);
    limit = std::min(limit, it == peer_acked.end() ? 0 : it->second);
  }
  // ...unless the log is over its size or age limit: then that peer will
  // catch up by range sync.
  const int64_t oldest_allowed =
      NowNs() / engine::kNanosPerSecond - absl::ToInt64Seconds(options.log_retention_age);
  uint64_t bytes = own_log_bytes;
  for (const OwnLogEntry& e : own_log) {
    if (bytes <= options.log_retention_bytes && e.time_s >= oldest_allowed) break;
    limit = std::max<uint64_t>(limit == UINT64_MAX ? 0 : limit, e.seq);
    bytes -= e.bytes;
  }
  return limit;
}

}  // namespace historian
