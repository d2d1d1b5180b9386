// Store: closing a virtual shard to own writes while a move hands it over
// (docs/cluster.md, "Moving shards", steps 5 and 6), and the fence the
// source publishes: the own log position every entry of the shard is at or
// below, and its hybrid clock.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/key_format.h"
#include "storage/engine/version.h"
#include "storage/store_parts.h"

namespace historian {

absl::Status Store::LoadClosedShards() {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->state()));
  shard_copy::ClosedShards loaded;
  for (it->Seek(engine::kShardClosedPrefix);
       it->Valid() && it->key().starts_with(engine::kShardClosedPrefix); it->Next()) {
    uint32_t shard = 0;
    if (!engine::ParseShardKey({it->key().data(), it->key().size()}, engine::kShardClosedPrefix,
                               &shard)) {
      return absl::DataLossError(
          absl::StrCat("state: bad closed shard key '", it->key().ToString(true), "'"));
    }
    ASSIGN_OR_RETURN(shard_copy::ClosedShard closed,
                     shard_copy::ClosedShards::Decode({it->value().data(), it->value().size()}));
    loaded.Set(shard, std::move(closed));
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load closed shards"));
  absl::MutexLock l(&mu_);
  closed_shards_ = std::move(loaded);
  ++closed_shards_epoch_;
  any_shard_closed_.store(!closed_shards_.empty(), std::memory_order_relaxed);
  return absl::OkStatus();
}

const shard_copy::ClosedShard* Store::FirstClosedShard(const engine::LogEntry& entry,
                                                       std::string_view* tag) const {
  if (closed_shards_.empty()) return nullptr;
  auto closed = [&](std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    *tag = name;
    return closed_shards_.ShardOfTag(name);
  };
  for (const engine::SeriesData& series : entry.series) {
    if (const TagState* t = FindTag(series.tag); t != nullptr) {
      if (auto* c = closed(t->name())) return c;
    }
  }
  for (const engine::TagInfo& info : entry.catalog_upserts) {
    if (auto* c = closed(info.name)) return c;
  }
  for (const std::string& name : entry.catalog_deletes) {
    if (auto* c = closed(name)) return c;
  }
  for (const engine::Tombstone& tombstone : entry.tombstones) {
    if (const TagState* t = FindTag(tombstone.tag); t != nullptr) {
      if (auto* c = closed(t->name())) return c;
    }
  }
  return nullptr;
}

absl::Status Store::CheckShardsOpen(const engine::LogEntry& entry) const {
  std::string_view tag;
  if (FirstClosedShard(entry, &tag) == nullptr) return absl::OkStatus();
  return closed_shards_.CheckTag(tag);
}

absl::Status Store::AwaitShardsOpen(const engine::LogEntry& entry) {
  commit_log_->mu().AssertHeld();  // the same mutex
  if (closed_shards_.empty()) return absl::OkStatus();
  // Only samples wait: they are stamped after it (Enqueue). A catalog
  // change or a delete carries a version stamped before it reaches here,
  // which could order below the source's fence after the open: refused at
  // once, as before (rare during a handover; the caller retries).
  const bool samples_only = entry.catalog_upserts.empty() && entry.catalog_deletes.empty() &&
                            entry.tombstones.empty() && entry.event_writes.empty();
  absl::Time deadline = absl::InfinitePast();
  for (;;) {
    std::string_view tag;
    const shard_copy::ClosedShard* closed = FirstClosedShard(entry, &tag);
    if (closed == nullptr || !closed->hold_writes || !samples_only || commit_log_->closed()) {
      break;
    }
    if (deadline == absl::InfinitePast()) {
      deadline = absl::Now() + options_.handover_write_hold;
      ++writes_held_;
      ++writes_held_total_;
    }
    const uint64_t seen = closed_shards_epoch_;
    auto changed = [this, seen] {
      mu_.AssertHeld();
      commit_log_->mu().AssertHeld();  // the same mutex
      return closed_shards_epoch_ != seen || commit_log_->closed();
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&changed), deadline)) break;
  }
  if (deadline != absl::InfinitePast()) --writes_held_;
  if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
  return CheckShardsOpen(entry);
}

absl::StatusOr<Store::ShardFence> Store::CloseShardToWrites(uint32_t shard, uint32_t num_shards,
                                                            std::string reason,
                                                            ClosedWrites writes) {
  if (num_shards == 0 || shard >= num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard: ", shard, " is not below num_shards ", num_shards));
  }
  shard_copy::ClosedShard closed{num_shards, std::move(reason),
                                 /*hold_writes=*/writes == ClosedWrites::kHold};
  rocksdb::WriteOptions sync;
  sync.sync = true;
  // Durable before any write is refused: a restart keeps refusing.
  RETURN_IF_ERROR(
      engine::FromRocks(db_->db()->Put(sync, db_->state(), engine::ShardClosedKey(shard),
                                       shard_copy::ClosedShards::Encode(closed)),
                        "write closed shard"));
  PendingWrite barrier;
  barrier.origin = options_.site;
  barrier.assign_seq = true;
  ShardFence fence;
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
    closed_shards_.Set(shard, std::move(closed));
    ++closed_shards_epoch_;
    any_shard_closed_.store(true, std::memory_order_relaxed);
    // Every version stamped so far is at or below the clock now.
    fence.clock = commit_log_->ClockVersion();
    // The group commit numbers own entries in queue order: an empty entry
    // queued now comes after every write admitted before the close, and no
    // write of the shard is admitted after it.
    barrier.entry.version = fence.clock;
    engine::EncodeLogEntry(barrier.entry, &barrier.encoded);
    commit_log_->Submit(&barrier);
  }
  RETURN_IF_ERROR(barrier.status);
  fence.position = barrier.seq;
  // Every write of the shard admitted before the close is applied (and
  // evaluated) by now: the rules stop watching its tags here.
  events_->OnRuleScopeChanged();
  options_.logger(LogSeverity::kWarning,
                  absl::StrCat("shard ", shard, " of ", num_shards,
                               " closed to own writes at own log position ", fence.position));
  return fence;
}

absl::Status Store::OpenShardToWrites(uint32_t shard, Version observed) {
  // One second past the previous owner's clock: versions count seconds,
  // and a tie would let the older owner's sample win half the time. Kept
  // as the clock's floor (node/clock_floor), so a restart before this
  // store's own versions pass it never stamps below it.
  const Version floor = engine::MakeVersion(engine::VersionSeconds(observed) + 1, 0);
  std::string stored;
  rocksdb::Status got =
      db_->db()->Get(rocksdb::ReadOptions(), db_->state(), engine::kClockFloorKey, &stored);
  if (!got.ok() && !got.IsNotFound()) return engine::FromRocks(got, engine::kClockFloorKey);
  const Version old_floor =
      got.ok() && stored.size() == engine::kU64Size ? engine::GetBigEndian64(stored.data()) : 0;
  rocksdb::WriteBatch batch;
  // observed 0 (the janitor opening a shard that moved away) keeps the
  // floor as it is: only a move's target (one thread) raises it.
  if (observed != 0 && floor > old_floor) {
    batch.Put(db_->state(), engine::kClockFloorKey, U64Value(floor));
  }
  batch.Delete(db_->state(), engine::ShardClosedKey(shard));
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
    commit_log_->ObserveVersion(floor);
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(sync, &batch), "open closed shard"));
  absl::MutexLock l(&mu_);
  closed_shards_.Erase(shard);
  ++closed_shards_epoch_;  // wakes the writes held for it
  any_shard_closed_.store(!closed_shards_.empty(), std::memory_order_relaxed);
  events_->OnRuleScopeChanged();  // its tags are watched here from now
  return absl::OkStatus();
}

absl::Status Store::CheckShardOpen(std::string_view name) const {
  // Every tag of every query asks: no store lock while nothing is closed
  // (almost always). A close racing a query is ordered either way, as with
  // the lock.
  if (!any_shard_closed_.load(std::memory_order_relaxed)) return absl::OkStatus();
  absl::MutexLock l(&mu_);
  return closed_shards_.CheckTag(name);
}

std::map<uint32_t, shard_copy::ClosedShard> Store::ClosedShards() const {
  absl::MutexLock l(&mu_);
  return closed_shards_.all();
}

}  // namespace historian
