// Store: the site cluster's shard operations (docs/cluster.md, "Moving
// shards"): dropping every local trace of a virtual shard (the mover's
// steps 2 and 7 and the janitor) and the move ack that keeps the own log
// for a move's target.
//
// A drop is local: it writes nothing to the own log (no tombstone, no
// catalog delete), so no peer site ever applies it as a delete. It is
// crash-safe by a durable marker (shard_drop/<s>, written first, removed
// last, finished by Open) and by one RocksDB write per batch of whole tags.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "api/core/tag_shard.h"
#include "rocksdb/write_batch.h"
#include "storage/commit_log/move_origin.h"
#include "storage/engine/key_format.h"
#include "storage/store_parts.h"

namespace historian {
namespace {

struct ShardTag {
  std::string name;
  TagId id;
};

absl::Status CheckShard(uint32_t shard, uint32_t num_shards) {
  if (num_shards == 0) {
    return absl::InvalidArgumentError("num_shards: must be at least 1");
  }
  if (shard >= num_shards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard: ", shard, " is not below num_shards ", num_shards));
  }
  return absl::OkStatus();
}

}  // namespace

std::map<uint32_t, uint64_t> Store::TagCountsByShard(uint32_t num_shards) const {
  std::map<uint32_t, uint64_t> counts;
  if (num_shards == 0) return counts;
  catalog_->Scan("", nullptr, [&](std::string_view name, const TagState&) {
    ++counts[TagShard(name, num_shards)];
    return true;
  });
  return counts;
}

absl::StatusOr<uint64_t> Store::AnnounceShardTags(uint32_t shard, uint32_t num_shards,
                                                  size_t per_entry) {
  RETURN_IF_ERROR(CheckShard(shard, num_shards));
  std::vector<engine::TagInfo> infos;
  catalog_->Scan("", nullptr, [&](std::string_view name, const TagState& t) {
    if (TagShard(name, num_shards) == shard) infos.push_back(t.Info());
    return true;
  });
  return AnnounceTagInfos(std::move(infos), per_entry);
}

absl::StatusOr<uint64_t> Store::AnnounceTags(const std::vector<TagId>& ids, size_t per_entry) {
  std::vector<engine::TagInfo> infos;
  {
    absl::MutexLock l(&mu_);
    for (TagId id : ids) {
      // Gone since (a delete the same tail brought): nothing to announce.
      if (const TagState* t = FindTag(id); t != nullptr) infos.push_back(t->Info());
    }
  }
  return AnnounceTagInfos(std::move(infos), per_entry);
}

absl::StatusOr<uint64_t> Store::AnnounceTagInfos(std::vector<engine::TagInfo> infos,
                                                 size_t per_entry) {
  per_entry = std::max<size_t>(per_entry, 1);
  for (size_t i = 0; i < infos.size(); i += per_entry) {
    engine::LogEntry entry;
    {
      absl::MutexLock l(&mu_);
      PartsShareMu(mu_, *catalog_, *heads_);
      entry.version = NextVersion();
    }
    const size_t end = std::min(infos.size(), i + per_entry);
    entry.catalog_upserts.assign(infos.begin() + static_cast<ptrdiff_t>(i),
                                 infos.begin() + static_cast<ptrdiff_t>(end));
    RETURN_IF_ERROR(SubmitCatalog(std::move(entry), /*check_open=*/false));
  }
  return infos.size();
}

absl::StatusOr<uint64_t> Store::DropShard(uint32_t shard, uint32_t num_shards) {
  RETURN_IF_ERROR(CheckShard(shard, num_shards));
  {
    absl::MutexLock l(&mu_);
    commit_log_->mu().AssertHeld();  // the same mutex
    if (commit_log_->closed()) return absl::FailedPreconditionError("store is closed");
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  // Durable before the first tag goes: a crash mid-drop is finished at Open.
  RETURN_IF_ERROR(engine::FromRocks(
      db_->db()->Put(sync, db_->state(), engine::ShardDropKey(shard), U64Value(num_shards)),
      "write shard drop marker"));
  uint64_t dropped = 0, batch = 0;
  while (true) {
    ASSIGN_OR_RETURN(uint64_t n, DropShardPass(shard, num_shards, &batch));
    if (n == 0) break;
    dropped += n;
  }
  // Last, with the markers: the shard's move origins (their cursors and
  // log entries), which nothing applies under again (a new copy takes a
  // new origin). No tag of the shard is left to need them.
  rocksdb::WriteBatch done;
  done.Delete(db_->state(), engine::MoveMarkerKey(shard));
  done.Delete(db_->state(), engine::ShardDropKey(shard));
  std::vector<std::string> forgotten;
  {
    absl::MutexLock pass(&seal_mu_);
    host_->seal_mu().AssertHeld();  // the same mutex
    ASSIGN_OR_RETURN(forgotten, host_->ForgetOrigins(
                                    [shard](const std::string& origin) {
                                      return MoveTailOriginShard(origin) == shard;
                                    },
                                    &done));
  }
  {
    absl::MutexLock l(&mu_);
    applier_->mu().AssertHeld();  // the same mutex
    applier_->NoteOriginsForgotten(forgotten);
  }
  options_.logger(LogSeverity::kWarning,
                  absl::StrCat("dropped shard ", shard, " of ", num_shards, ": ", dropped,
                               " tag(s) and their chunks, rollups and heads, ", forgotten.size(),
                               " move origin(s)"));
  return dropped;
}

absl::StatusOr<uint64_t> Store::DropShardPass(uint32_t shard, uint32_t num_shards,
                                              uint64_t* batch) {
  std::vector<ShardTag> tags;
  catalog_->Scan("", nullptr, [&](std::string_view name, const TagState& t) {
    if (TagShard(name, num_shards) == shard) tags.push_back({std::string(name), t.id()});
    return true;
  });
  const size_t per_batch = std::max<uint32_t>(options_.drop_shard_batch_tags, 1);
  uint64_t dropped = 0;
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  for (size_t begin = 0; begin < tags.size(); begin += per_batch) {
    if (options_.drop_shard_fault) RETURN_IF_ERROR(options_.drop_shard_fault(shard, *batch));
    ++*batch;
    const size_t end = std::min(tags.size(), begin + per_batch);
    // No seal, merge, overlap rewrite, retention or purge pass holds these
    // tags' chunks or sealing buffers meanwhile (it would write them back).
    absl::MutexLock pass(&seal_mu_);
    // Under mu_ from the batch to the memory: no write lands in a head
    // between the two (writes of a tag gone from the catalog are skipped).
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    commit_log_->mu().AssertHeld();  // the same mutex
    rocksdb::WriteBatch wb;
    std::vector<const ShardTag*> here;
    for (size_t i = begin; i < end; ++i) {
      const ShardTag& tag = tags[i];
      const TagState* t = FindTagByName(tag.name);
      if (t == nullptr) continue;  // deleted meanwhile
      here.push_back(&tag);
      wb.Delete(db_->catalog(), rocksdb::Slice(tag.name.data(), tag.name.size()));
      wb.DeleteRange(db_->chunks(), U64Value(tag.id), TagKeysEnd(tag.id));
      wb.DeleteRange(db_->rollups(), U64Value(tag.id), TagKeysEnd(tag.id));
      wb.Delete(db_->state(), engine::SpanKey(tag.id));
      wb.Delete(db_->state(), engine::RollupDirtyKey(tag.id));
      wb.Delete(db_->state(), engine::OverlapKey(tag.id));
      wb.Delete(db_->state(), engine::PurgeKey(tag.id));
      // The head's samples live in the log: the replay skips entries at or
      // below these, so they stay out also of a tag created again here
      // (copied back by a later move).
      // (Own entries durable but not applied yet count too.)
      for (const auto& [origin, seq] : commit_log_->applied_seqs()) {
        // A move origin holds one shard's tags only: another shard's never
        // has this tag, and this shard's goes whole at the end of the drop
        // (a crash before that: the replay finds no tag for its entries).
        if (const std::optional<uint32_t> moved = MoveTailOriginShard(origin)) {
          if (*moved == shard) wb.Delete(db_->state(), engine::SealedSeqKey(tag.id, origin));
          continue;
        }
        const uint64_t fence =
            origin == options_.site ? std::max(seq, commit_log_->OwnHeadSequence()) : seq;
        wb.Put(db_->state(), engine::SealedSeqKey(tag.id, origin), U64Value(fence));
      }
      if (commit_log_->applied_seqs().count(options_.site) == 0) {
        wb.Put(db_->state(), engine::SealedSeqKey(tag.id, options_.site),
               U64Value(commit_log_->OwnHeadSequence()));
      }
    }
    if (here.empty()) continue;
    RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(wo, &wb), "drop shard tags"));
    for (const ShardTag* tag : here) {
      TagState* t = catalog_->Remove(tag->name);
      if (t == nullptr) continue;
      heads_->Forget(tag->id, *t);
      compactor_->mu().AssertHeld();  // the same mutex
      compactor_->ForgetTag(tag->id);
      ++dropped;
    }
    // The rules stop watching the tags gone (a stale rule would raise on
    // each, the samples going to their new owner) and their alarms raised
    // here clear.
    events_->OnRuleScopeChanged();
  }
  return dropped;
}

absl::Status Store::FinishShardDrops() {
  std::vector<std::pair<uint32_t, uint32_t>> due;  // shard, num_shards
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(rocksdb::ReadOptions(), db_->state()));
    for (it->Seek(engine::kShardDropPrefix);
         it->Valid() && it->key().starts_with(engine::kShardDropPrefix); it->Next()) {
      uint32_t shard = 0;
      if (!engine::ParseShardKey({it->key().data(), it->key().size()}, engine::kShardDropPrefix,
                                 &shard) ||
          it->value().size() != engine::kU64Size) {
        return absl::DataLossError(
            absl::StrCat("state: bad shard drop key or value at '", it->key().ToString(true), "'"));
      }
      const uint64_t num_shards = engine::GetBigEndian64(it->value().data());
      if (num_shards == 0 || num_shards > UINT32_MAX || shard >= num_shards) {
        return absl::DataLossError(
            absl::StrCat("state: shard drop of shard ", shard, " names num_shards ", num_shards));
      }
      due.emplace_back(shard, static_cast<uint32_t>(num_shards));
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "load shard drops"));
  }
  for (const auto& [shard, num_shards] : due) {
    options_.logger(LogSeverity::kWarning,
                    absl::StrCat("finishing the drop of shard ", shard, " of ", num_shards,
                                 " that a restart interrupted"));
    RETURN_IF_ERROR(DropShard(shard, num_shards).status());
  }
  return absl::OkStatus();
}

absl::Status Store::SetMoveAck(uint32_t shard, uint64_t position) {
  return own_log_->SetMoveAck(shard, position);
}

absl::Status Store::ClearMoveAck(uint32_t shard) { return own_log_->ClearMoveAck(shard); }

std::map<uint32_t, uint64_t> Store::MoveAcks() const { return own_log_->MoveAcks(); }

bool Store::HasMoveAcks() const { return own_log_->HasMoveAcks(); }

}  // namespace historian
