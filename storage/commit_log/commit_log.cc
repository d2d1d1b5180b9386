#include "storage/commit_log/commit_log.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/key_format.h"

namespace historian {

namespace {
// Most writers merged into one group.
constexpr size_t kMaxGroupWriters = 64;

std::string U64(uint64_t v) {
  std::string s;
  engine::PutBigEndian64(v, &s);
  return s;
}
}  // namespace

CommitLog::CommitLog(absl::Mutex& mu, engine::RocksDb* db, CommitLogOptions options,
                     GroupApplier* applier)
    : mu_(mu),
      db_(db),
      options_(std::move(options)),
      applier_(applier),
      clock_(options_.site_tag),
      dedupe_(db, options_.client_dedupe_window) {}

absl::Status CommitLog::Load() {
  rocksdb::DB* rdb = db_->db();
  uint64_t seq = 1;
  {
    std::string v;
    rocksdb::Status st = rdb->Get(rocksdb::ReadOptions(), db_->state(), engine::kNextSeqKey, &v);
    if (!st.IsNotFound()) {
      RETURN_IF_ERROR(engine::FromRocks(st, engine::kNextSeqKey));
      if (v.size() != engine::kU64Size) {
        return absl::DataLossError(absl::StrCat("state ", engine::kNextSeqKey, ": bad size"));
      }
      seq = engine::GetBigEndian64(v.data());
    }
  }
  absl::MutexLock l(&mu_);
  next_seq_ = seq;
  // Cursors of other origins.
  std::unique_ptr<rocksdb::Iterator> it(rdb->NewIterator(rocksdb::ReadOptions(), db_->state()));
  const char* prefix = "cursor/";
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != engine::kU64Size) continue;
    applied_seq_[it->key().ToString().substr(std::strlen(prefix))] =
        engine::GetBigEndian64(it->value().data());
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load cursors"));
  std::string value;
  rocksdb::Status s = rdb->Get(rocksdb::ReadOptions(), db_->state(), engine::kSeqHolesKey, &value);
  if (s.ok()) {
    // Pairs of u64: [start, end).
    constexpr size_t kHoleSize = 2 * engine::kU64Size;
    if (value.size() % kHoleSize != 0) {
      return absl::DataLossError("state node/seq_holes: bad size");
    }
    for (size_t i = 0; i < value.size(); i += kHoleSize) {
      seq_holes_[engine::GetBigEndian64(value.data() + i)] =
          engine::GetBigEndian64(value.data() + i + engine::kU64Size);
    }
  } else if (!s.IsNotFound()) {
    return engine::FromRocks(s, "read node/seq_holes");
  }
  s = rdb->Get(rocksdb::ReadOptions(), db_->state(), engine::kClockFloorKey, &value);
  if (s.ok()) {
    if (value.size() != engine::kU64Size) {
      return absl::DataLossError(absl::StrCat("state ", engine::kClockFloorKey, ": bad size"));
    }
    clock_.Observe(engine::GetBigEndian64(value.data()));
  } else if (!s.IsNotFound()) {
    return engine::FromRocks(s, engine::kClockFloorKey);
  }
  return absl::OkStatus();
}

void CommitLog::NoteReplayed(const std::string& origin, uint64_t seq, Version version) {
  uint64_t& applied = applied_seq_[origin];
  applied = std::max(applied, seq);
  if (origin == options_.site) next_seq_ = std::max(next_seq_, seq + 1);
  clock_.Observe(version);
}

absl::Status CommitLog::SkipSequences(uint64_t gap, uint64_t* from, uint64_t* to) {
  *from = next_seq_;
  *to = next_seq_ + gap;
  seq_holes_[*from] = *to;
  std::string holes;
  for (const auto& [start, end] : seq_holes_) {
    engine::PutBigEndian64(start, &holes);
    engine::PutBigEndian64(end, &holes);
  }
  rocksdb::WriteBatch batch;
  batch.Put(db_->state(), engine::kSeqHolesKey, holes);
  batch.Put(db_->state(), engine::kNextSeqKey, U64(*to));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(wo, &batch), "start restore epoch"));
  next_seq_ = *to;
  return absl::OkStatus();
}

uint64_t CommitLog::OwnHeadSequence() const {
  // Entries are shipped once durable, before they are applied (next_seq).
  absl::MutexLock w(&write_mu_);
  return std::max(next_seq_, written_.durable_seq) - 1;
}

absl::Status CommitLog::AdvanceCursor(const std::string& origin, uint64_t seq) {
  uint64_t& applied = applied_seq_[origin];
  if (seq <= applied) return absl::OkStatus();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_writes;
  RETURN_IF_ERROR(engine::FromRocks(
      db_->db()->Put(wo, db_->state(), engine::CursorKey(origin), U64(seq)), "move cursor"));
  applied = seq;
  return absl::OkStatus();
}

absl::Status CommitLog::PrepareForgetOrigin(const std::string& origin,
                                            rocksdb::WriteBatch* batch) const {
  const uint64_t applied = AppliedSequence(origin);
  auto reserved = pipe_.reserved_cursor.find(origin);
  bool queued = reserved != pipe_.reserved_cursor.end() && reserved->second > applied;
  for (const PendingWrite* w : writers_) queued |= w->origin == origin;
  if (queued) {
    return absl::FailedPreconditionError(
        absl::StrCat("origin '", origin, "' still has writes on their way: not forgotten"));
  }
  batch->Delete(db_->state(), engine::CursorKey(origin));
  return absl::OkStatus();
}

void CommitLog::ForgetOrigin(const std::string& origin) {
  applied_seq_.erase(origin);
  pipe_.reserved_cursor.erase(origin);
  absl::MutexLock w(&write_mu_);
  written_.durable_cursor.erase(origin);
}

void CommitLog::TrimLimits(std::map<std::string, uint64_t>* limit) const {
  for (const auto& [origin, seq] : applied_seq_) (*limit)[origin] = seq + 1;
  (*limit)[options_.site] = next_seq_;
}

// Waits (on mu's conditions: only the threads whose condition holds wake,
// no herd per group) until `finished` holds, leading a group whenever the
// queue front is encoded and nobody is building one.
template <typename Finished>
void CommitLog::LeadUntil(Finished finished) {
  auto can_lead = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return CanLead(); };
  auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished() || can_lead(); };
  while (true) {
    mu_.Await(absl::Condition(&wake));
    if (finished()) return;
    pipe_.leading = true;
    LeadGroup();  // gives up `leading` once its batch is built
  }
}

void CommitLog::AwaitWrite(PendingWrite* w) {
  LeadUntil([w] { return w->done; });
}

void CommitLog::DrainWriters() {
  LeadUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return writers_.empty() && pipe_.groups_in_flight == 0;
  });
}

void CommitLog::LeadGroup() {
  // The encoded writers at the queue front.
  std::vector<PendingWrite*> group;
  bool catalog = false;
  while (!writers_.empty() && writers_.front()->ready && group.size() < kMaxGroupWriters) {
    PendingWrite* p = writers_.front();
    // A delete is a group of its own: the catalog changes after it are
    // decided against the catalog without the tag.
    const bool deletes = HasDeletes(p->entry);
    if (deletes && !group.empty()) break;
    writers_.pop_front();
    catalog |= !p->entry.catalog_upserts.empty() || deletes;
    group.push_back(p);
    if (deletes) break;
  }
  ++pipe_.groups_in_flight;
  // Catalog changes are checked against the catalog in memory: every built
  // group must be applied first.
  if (catalog) {
    auto all_applied = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return pipe_.applied_ticket == pipe_.build_ticket;
    };
    mu_.Await(absl::Condition(&all_applied));
  }
  const uint64_t first_own = std::max(next_seq_, pipe_.reserved_seq);
  uint64_t own_seq = first_own;
  std::map<std::string, uint64_t> cursor;  // other origins: highest seq in group
  rocksdb::WriteBatch batch;
  for (PendingWrite* p : group) {
    if (p->origin == options_.site) {
      p->seq = own_seq++;
    } else {
      auto it = cursor.find(p->origin);
      if (it == cursor.end()) {
        uint64_t base = applied_seq_[p->origin];
        if (auto r = pipe_.reserved_cursor.find(p->origin); r != pipe_.reserved_cursor.end()) {
          base = std::max(base, r->second);
        }
        it = cursor.emplace(p->origin, base).first;
      }
      uint64_t& c = it->second;
      if (p->assign_seq) p->seq = c + 1;
      if (p->seq <= c) {
        p->skipped = true;  // a replication entry applied (or on its way) already
        continue;
      }
      c = p->seq;
    }
    if (!p->entry.catalog_upserts.empty() || HasDeletes(p->entry) ||
        !p->entry.event_writes.empty()) {
      applier_->PrepareGroupEntry(p, &batch);
    }
    batch.Put(db_->log(), engine::LogKey(p->origin, p->seq), p->encoded);
    if (p->deduped()) {
      dedupe_.Prepare(p->client_id, p->batch_seq, p->dedupe_digest, p->accepted, &batch);
    }
  }
  if (own_seq != first_own) batch.Put(db_->state(), engine::kNextSeqKey, U64(own_seq));
  // The cursor of each other origin moves in the same batch as its entries:
  // a crash never applies an entry twice or skips one.
  for (const auto& [origin, seq] : cursor)
    batch.Put(db_->state(), engine::CursorKey(origin), U64(seq));
  pipe_.reserved_seq = own_seq;
  for (const auto& [origin, seq] : cursor) pipe_.reserved_cursor[origin] = seq;
  const uint64_t ticket = ++pipe_.build_ticket;
  uint64_t epoch;
  {
    absl::MutexLock w(&write_mu_);
    epoch = written_.failure_epoch;
  }
  // The next leader may build while this group writes.
  pipe_.leading = false;
  mu_.Unlock();

  // Write, in build order (a later group's batch must never be durable
  // without an earlier one's: it continues its numbers).
  write_mu_.Lock();
  auto turn = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return written_.written_ticket == ticket - 1;
  };
  write_mu_.Await(absl::Condition(&turn));
  const bool earlier_failed = epoch != written_.failure_epoch;
  write_mu_.Unlock();
  absl::Status status;
  if (earlier_failed) {
    status = absl::UnavailableError("an earlier write of this group commit failed");
  } else {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync_writes;
    status = engine::FromRocks(db_->db()->Write(wo, &batch), "write log");
  }
  if (!status.ok() && !earlier_failed) {
    // The numbers this group (and groups built on it) took are free again.
    mu_.Lock();
    absl::MutexLock w(&write_mu_);
    pipe_.reserved_seq = written_.durable_seq;
    pipe_.reserved_cursor = written_.durable_cursor;
    ++written_.failure_epoch;
    written_.written_ticket = ticket;
  } else {
    {
      absl::MutexLock w(&write_mu_);
      if (status.ok()) {
        written_.durable_seq = own_seq;
        for (const auto& [origin, seq] : cursor) written_.durable_cursor[origin] = seq;
      }
      written_.written_ticket = ticket;
    }
    mu_.Lock();
  }

  // Apply, in build order.
  auto my_turn = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return pipe_.applied_ticket == ticket - 1;
  };
  mu_.Await(absl::Condition(&my_turn));
  if (status.ok()) {
    // next_seq_ rises with each own entry applied (not before: the apply
    // lets go of mu between entries, and a reader of next_seq_ - 1, the
    // shard copy's P, must find every entry up to it in memory). The next
    // group's numbers come from reserved_seq meanwhile.
    const int64_t now_s = options_.now_ns() / engine::kNanosPerSecond;
    for (PendingWrite* p : group) {
      if (p->skipped) continue;
      applier_->ApplyGroupEntry(*p, now_s);
      if (p->origin == options_.site) next_seq_ = std::max(next_seq_, p->seq + 1);
      uint64_t& applied = applied_seq_[p->origin];
      applied = std::max(applied, p->seq);
      clock_.Observe(p->entry.version);
      if (p->deduped()) dedupe_.Record(p->client_id, p->batch_seq, p->dedupe_digest, p->accepted);
      // Let a waiting leader build the next group (everything queued during
      // this group's write) so its write overlaps the rest of this apply.
      if (CanLead()) {
        mu_.Unlock();
        mu_.Lock();
      }
    }
  } else {
    status = absl::UnavailableError(
        absl::StrCat("storage refused the write, nothing was stored: ", status.message()));
  }
  pipe_.applied_ticket = ticket;
  --pipe_.groups_in_flight;
  for (PendingWrite* p : group) {
    p->status = status;
    p->done = true;
  }
}

}  // namespace historian
