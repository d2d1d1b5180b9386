#include "storage/own_log/own_log.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/key_format.h"
#include "storage/engine/version.h"

namespace historian {
namespace {

// The first sequence at or after `seq` in no skipped range of `holes`
// (start -> end, exclusive; a restore epoch's, adjacent ones chain).
uint64_t PastSkipped(const std::map<uint64_t, uint64_t>& holes, uint64_t seq) {
  while (true) {
    auto it = holes.upper_bound(seq);
    if (it == holes.begin()) return seq;
    --it;
    if (seq >= it->second) return seq;
    seq = it->second;
  }
}

}  // namespace

OwnLog::OwnLog(absl::Mutex& mu, engine::RocksDb* db, OwnLogOptions options, CommitLog* log)
    : mu_(mu), db_(db), options_(std::move(options)), log_(log) {}

absl::Status OwnLog::LoadPeerAcks() {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->state()));
  absl::MutexLock l(&mu_);
  const char* prefix = "peer_acked/";
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != engine::kU64Size) continue;
    peer_acked_[it->key().ToString().substr(std::strlen(prefix))] =
        engine::GetBigEndian64(it->value().data());
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load cursors"));
  for (it->Seek(engine::kMoveAckPrefix);
       it->Valid() && it->key().starts_with(engine::kMoveAckPrefix); it->Next()) {
    uint32_t shard = 0;
    if (!engine::ParseShardKey({it->key().data(), it->key().size()}, engine::kMoveAckPrefix,
                               &shard) ||
        it->value().size() != engine::kU64Size) {
      continue;
    }
    move_acks_[shard] = engine::GetBigEndian64(it->value().data());
  }
  move_ack_count_.store(move_acks_.size(), std::memory_order_release);
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load move acks"));
  const std::string member_prefix(engine::kPeerMemberAckedPrefix);
  for (it->Seek(member_prefix); it->Valid() && it->key().starts_with(member_prefix); it->Next()) {
    if (it->value().size() != engine::kU64Size) continue;
    // <site>/<member>, for a configured peer site (the longest that
    // matches: a site name may hold '/' itself).
    const std::string rest = it->key().ToString().substr(member_prefix.size());
    const std::string* site = nullptr;
    for (const std::string& peer : options_.peers) {
      if (rest.size() > peer.size() && rest.compare(0, peer.size(), peer) == 0 &&
          rest[peer.size()] == '/' && (site == nullptr || peer.size() > site->size())) {
        site = &peer;
      }
    }
    if (site == nullptr) continue;  // not a peer any more
    member_acked_[*site][rest.substr(site->size() + 1)] =
        engine::GetBigEndian64(it->value().data());
  }
  return engine::FromRocks(it->status(), "load member acks");
}

absl::Status OwnLog::StartRestoreEpoch() {
  const std::filesystem::path marker = std::filesystem::path(options_.path) / kRestoreMarkerFile;
  std::error_code ec;
  if (!std::filesystem::exists(marker, ec)) return absl::OkStatus();
  absl::MutexLock l(&log_->mu());
  uint64_t from = 0, to = 0;
  RETURN_IF_ERROR(log_->SkipSequences(kRestoreSequenceGap, &from, &to));
  // A crash before the removal only skips another gap at the next open.
  std::filesystem::remove(marker, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("remove ", marker.string(), " after a restore: ", ec.message()));
  }
  options_.logger(LogSeverity::kWarning,
                  absl::StrCat("opened a restored backup: own log sequences ", from, "..", to - 1,
                               " are skipped so new writes never reuse numbers of writes made "
                               "after the backup; run `historian verify --peer <peer> --repair` "
                               "to fetch what the backup missed"));
  return absl::OkStatus();
}

absl::Status OwnLog::Read(uint64_t from_seq, size_t max_bytes, OwnLogBatch* out) const {
  out->records.clear();
  out->gap = false;
  std::map<uint64_t, uint64_t> holes;
  {
    absl::MutexLock l(&mu_);
    const uint64_t next_seq = NextSeq();
    out->head_seq = next_seq - 1;
    out->first_available = entries_.empty() ? next_seq : entries_.front().seq;
    if (!entries_.empty()) out->head_time_ns = entries_.back().time_s * engine::kNanosPerSecond;
    log_->mu().AssertHeld();  // the same mutex
    holes = log_->seq_holes();
    // Sequences a restore skipped are no gap: a peer at the start of the
    // skipped range (exactly at the backup's position) or inside it (it
    // applied writes the original node made after the backup) misses
    // nothing when the range ends at the first entry kept.
    if (from_seq < out->first_available && from_seq <= out->head_seq &&
        PastSkipped(holes, from_seq) < out->first_available) {
      out->gap = true;
      return absl::OkStatus();
    }
  }
  std::string prefix = engine::LogPrefix(options_.site);
  std::string upper = engine::LogKey(options_.site, UINT64_MAX);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->log()));
  size_t bytes = 0;
  uint64_t expect = from_seq;
  for (it->Seek(engine::LogKey(options_.site, from_seq)); it->Valid(); it->Next()) {
    std::string_view origin;
    uint64_t seq = 0;
    if (!engine::ParseLogKey({it->key().data(), it->key().size()}, &origin, &seq)) break;
    // Entries are written before they are applied; stop at the first hole
    // (a group still being written) so nothing is shipped out of order.
    // Sequences skipped at a restore are not a hole.
    if (seq != expect) {
      if (seq < expect || PastSkipped(holes, expect) < seq) break;
      expect = seq;
    }
    out->records.emplace_back(seq, it->value().ToString());
    bytes += it->value().size();
    ++expect;
    if (bytes >= max_bytes) break;
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "read own log"));
  absl::MutexLock l(&mu_);
  uint64_t last = out->records.empty() ? from_seq - 1 : out->records.back().first;
  // Samples of own entries up to and including `last`.
  uint64_t through = cum_samples_;
  if (!entries_.empty()) {
    if (last >= entries_.front().seq) {
      // Sequences may skip (a restore epoch): find the entry by number.
      auto at = std::upper_bound(entries_.begin(), entries_.end(), last,
                                 [](uint64_t s, const OwnLogEntry& e) { return s < e.seq; });
      through = std::prev(at)->cum_samples;
    } else {
      through = entries_.front().cum_samples - entries_.front().samples;
    }
  }
  out->pending_samples = cum_samples_ - through;
  return absl::OkStatus();
}

bool OwnLog::WaitForEntry(uint64_t seq, absl::Duration timeout, const bool* closed) const {
  absl::MutexLock l(&log_->mu());
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_->mu()) {
    return log_->next_seq() - 1 > seq || *closed;
  };
  log_->mu().AwaitWithTimeout(absl::Condition(&ready), timeout);
  return log_->next_seq() - 1 > seq;
}

void OwnLog::SetPeerAcked(const std::string& site, uint64_t seq) {
  const std::vector<std::string>& peers = options_.peers;
  if (std::find(peers.begin(), peers.end(), site) == peers.end()) return;
  absl::MutexLock l(&mu_);
  uint64_t& acked = peer_acked_[site];
  if (seq <= acked) return;
  acked = seq;
  ++acks_changed_;
}

void OwnLog::SetMemberAcked(const std::string& site, const std::string& member, uint64_t seq) {
  const std::vector<std::string>& peers = options_.peers;
  if (std::find(peers.begin(), peers.end(), site) == peers.end()) return;
  absl::MutexLock l(&mu_);
  auto& members = member_acked_[site];
  auto [it, added] = members.emplace(member, seq);
  if (!added) {
    if (seq <= it->second) return;
    it->second = seq;
  }
  ++acks_changed_;
}

std::map<std::string, uint64_t> OwnLog::MemberAcks(const std::string& site) const {
  absl::MutexLock l(&mu_);
  auto it = member_acked_.find(site);
  return it == member_acked_.end() ? std::map<std::string, uint64_t>() : it->second;
}

std::vector<std::string> OwnLog::ForgetMemberAcks(const std::string& site,
                                                  const std::set<std::string>& forget,
                                                  uint64_t* lowest) {
  std::vector<std::string> forgotten;
  *lowest = UINT64_MAX;
  absl::MutexLock l(&mu_);
  auto it = member_acked_.find(site);
  if (it == member_acked_.end()) return forgotten;
  for (auto m = it->second.begin(); m != it->second.end();) {
    if (forget.count(m->first) == 0) {
      *lowest = std::min(*lowest, m->second);
      ++m;
      continue;
    }
    forgotten.push_back(m->first);
    m = it->second.erase(m);
  }
  if (!forgotten.empty()) {
    ++acks_changed_;
    for (const std::string& member : forgotten) {
      member_acks_forgotten_.push_back({site, member, acks_changed_});
    }
  }
  return forgotten;
}

void OwnLog::AcksSaved(uint64_t acks) {
  acks_saved_ = std::max(acks_saved_, acks);
  // The deletes that batch held are durable; a member forgotten after Trim
  // built it (a higher mark) is still due.
  std::erase_if(member_acks_forgotten_, [acks](const ForgottenAck& f) { return f.mark <= acks; });
}

uint64_t OwnLog::PeerAcked(const std::string& site) const {
  absl::MutexLock l(&mu_);
  auto it = peer_acked_.find(site);
  return it == peer_acked_.end() ? 0 : it->second;
}

absl::Status OwnLog::SetMoveAck(uint32_t shard, uint64_t position) {
  absl::MutexLock serial(&move_ack_mu_);
  rocksdb::WriteOptions wo;
  wo.sync = true;  // rare; a lost ack would let the log go under the move
  std::string v;
  engine::PutBigEndian64(position, &v);
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Put(wo, db_->state(), engine::MoveAckKey(shard), v),
                                    "write move ack"));
  absl::MutexLock l(&mu_);
  move_acks_[shard] = position;
  move_ack_count_.store(move_acks_.size(), std::memory_order_release);
  return absl::OkStatus();
}

absl::Status OwnLog::ClearMoveAck(uint32_t shard) {
  absl::MutexLock serial(&move_ack_mu_);
  {
    absl::MutexLock l(&mu_);
    if (move_acks_.find(shard) == move_acks_.end()) return absl::OkStatus();
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Delete(wo, db_->state(), engine::MoveAckKey(shard)),
                                    "clear move ack"));
  absl::MutexLock l(&mu_);
  move_acks_.erase(shard);
  move_ack_count_.store(move_acks_.size(), std::memory_order_release);
  return absl::OkStatus();
}

std::map<uint32_t, uint64_t> OwnLog::MoveAcks() const {
  absl::MutexLock l(&mu_);
  return move_acks_;
}

uint64_t OwnLog::TrimLimit() const {
  // Keep what a configured peer has not applied yet, and what a shard
  // move's target still tails from this log...
  uint64_t limit = UINT64_MAX;
  for (const std::string& peer : options_.peers) {
    auto it = peer_acked_.find(peer);
    limit = std::min(limit, it == peer_acked_.end() ? 0 : it->second);
  }
  for (const auto& [shard, position] : move_acks_) {
    limit = std::min(limit, position == 0 ? 0 : position - 1);
  }
  // ...unless the log is over its size or age limit: then that peer will
  // catch up by range sync.
  const int64_t oldest_allowed = options_.now_ns() / engine::kNanosPerSecond -
                                 absl::ToInt64Seconds(options_.log_retention_age);
  uint64_t bytes = bytes_;
  for (const OwnLogEntry& e : entries_) {
    if (bytes <= options_.log_retention_bytes && e.time_s >= oldest_allowed) break;
    limit = std::max<uint64_t>(limit == UINT64_MAX ? 0 : limit, e.seq);
    bytes -= e.bytes;
  }
  return limit;
}

void OwnLog::Trim(uint64_t* own_below, rocksdb::WriteBatch* batch, uint64_t* acks) {
  // Own entries also wait for the peers (within the retention limits).
  const uint64_t peers_done = TrimLimit();
  if (peers_done != UINT64_MAX) *own_below = std::min(*own_below, peers_done + 1);
  while (!entries_.empty() && entries_.front().seq < *own_below) {
    bytes_ -= entries_.front().bytes;
    entries_.pop_front();
  }
  *acks = 0;
  if (acks_changed_ == acks_saved_) return;
  *acks = acks_changed_;
  for (const auto& [peer, seq] : peer_acked_) {
    std::string v;
    engine::PutBigEndian64(seq, &v);
    batch->Put(db_->state(), engine::PeerAckedKey(peer), v);
  }
  // Deletes first: a member forgotten and back since puts its key again.
  // Kept until AcksSaved: a batch that is never written (a failed pass)
  // must not lose them.
  for (const ForgottenAck& f : member_acks_forgotten_) {
    batch->Delete(db_->state(), engine::PeerMemberAckedKey(f.site, f.member));
  }
  for (const auto& [site, members] : member_acked_) {
    for (const auto& [member, seq] : members) {
      std::string v;
      engine::PutBigEndian64(seq, &v);
      batch->Put(db_->state(), engine::PeerMemberAckedKey(site, member), v);
    }
  }
}

}  // namespace historian
