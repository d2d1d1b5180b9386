// Store: the write path. Every change (samples, catalog changes, entries of
// other sites) is a log entry. Writers queue up and encode their entry, and
// the front writer (the leader) writes the queue as one RocksDB WriteBatch
// with one fsync (group commit, as in LevelDB's DBImpl::Write). The commit is
// pipelined: once a group is durable the next leader writes the next group
// while this one is applied to memory, in write order; a writer is told
// "done" only after its group is applied, so an acked sample is readable.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/store_impl.h"

namespace historian {

namespace {
// Most writers merged into one group.
constexpr size_t kMaxGroupWriters = 64;

// True when `entry` deletes tags (tombstones, or deletes by name of older
// nodes).
bool HasDeletes(const engine::LogEntry& entry) {
  return !entry.tombstones.empty() || !entry.catalog_deletes.empty();
}

std::string U64(uint64_t v) {
  std::string s;
  engine::PutBigEndian64(v, &s);
  return s;
}
}  // namespace

absl::StatusOr<WriteResult> Store::Write(WriteInput input) {
  return FinishWrite(StartWrite(std::move(input)));
}

absl::Status Store::Impl::LoadClient(const std::string& client_id) {
  if (clients_loaded.contains(client_id)) return absl::OkStatus();
  std::string prefix = engine::ClientPrefix(client_id);
  std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(rocksdb::ReadOptions(), db->state()));
  auto& batches = client_batches[client_id];
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8 || it->value().size() != 8) continue;
    batches[engine::GetBigEndian64(it->key().data() + prefix.size())] =
        engine::GetBigEndian64(it->value().data());
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load client batches"));
  clients_loaded.insert(client_id);
  return absl::OkStatus();
}

void Store::Impl::Submit(PendingWrite* w) {
  writers.push_back(w);
  AwaitWrite(w);
}

// Waits (on mu's conditions: only the threads whose condition holds wake,
// no herd per group) until `finished` holds, leading a group whenever the
// queue front is encoded and nobody is building one.
template <typename Finished>
void Store::Impl::LeadUntil(Finished finished) {
  auto can_lead = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return CanLead(); };
  auto wake = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return finished() || can_lead(); };
  while (true) {
    mu.Await(absl::Condition(&wake));
    if (finished()) return;
    leading = true;
    LeadGroup();  // gives up `leading` once its batch is built
  }
}

void Store::Impl::AwaitWrite(PendingWrite* w) {
  LeadUntil([w] { return w->done; });
}

void Store::Impl::DrainWriters() {
  LeadUntil([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return writers.empty() && groups_in_flight == 0;
  });
}

std::optional<absl::StatusOr<WriteResult>> Store::Impl::Enqueue(PendingWrite* w) {
  bool dedupe = !w->client_id.empty() && w->batch_seq != 0;
  {
    absl::MutexLock l(&mu);
    if (closed)
      return absl::StatusOr<WriteResult>(absl::FailedPreconditionError("store is closed"));
    if (dedupe) {
      if (absl::Status s = LoadClient(w->client_id); !s.ok()) return absl::StatusOr<WriteResult>(s);
      auto& batches = client_batches[w->client_id];
      auto seen = batches.find(w->batch_seq);
      if (seen != batches.end()) {
        return absl::StatusOr<WriteResult>(WriteResult{seen->second, /*duplicate=*/true});
      }
      // The window is by sequence distance: sequences within `window` of the
      // highest one seen are remembered; anything older cannot be told apart
      // from a retry, so it is refused rather than silently dropped.
      // (Written as a distance: batch_seq + window overflows near 2^64.)
      if (!batches.empty() && batches.rbegin()->first > w->batch_seq &&
          batches.rbegin()->first - w->batch_seq >= options.client_dedupe_window) {
        return absl::StatusOr<WriteResult>(absl::FailedPreconditionError(absl::StrCat(
            "batch_sequence: ", w->batch_seq, " is older than the dedupe window of ",
            options.client_dedupe_window, " batches for client '", w->client_id, "' (highest ",
            batches.rbegin()->first, "); it cannot be told from a retry")));
      }
      if (!in_flight.insert({w->client_id, w->batch_seq}).second) {
        return absl::StatusOr<WriteResult>(absl::UnavailableError(
            absl::StrCat("batch_sequence: ", w->batch_seq, " of client '", w->client_id,
                         "' is already being written; retry")));
      }
    }
    ApplyDeadbands(&w->entry.series);
    w->entry.version = NextVersion();
    for (auto& series : w->entry.series) {
      series.cols.versions.assign(series.cols.size(), w->entry.version);
    }
    // Queued in call order now; encoded outside the lock, so the streams
    // encode in parallel (chunk-coding a batch is a fifth of its cost).
    w->ready = false;
    writers.push_back(w);
  }
  engine::EncodeLogEntry(w->entry, &w->encoded);
  absl::MutexLock l(&mu);
  w->ready = true;  // a waiting leader sees it when mu is released
  return std::nullopt;
}

absl::StatusOr<WriteResult> Store::Impl::Complete(PendingWrite* w) {
  absl::MutexLock l(&mu);
  AwaitWrite(w);
  if (!w->client_id.empty() && w->batch_seq != 0) in_flight.erase({w->client_id, w->batch_seq});
  if (!w->status.ok()) return w->status;
  return WriteResult{w->accepted, false};
}

WriteHandle::WriteHandle() = default;
WriteHandle::WriteHandle(WriteHandle&& other) noexcept
    : store_(other.store_), pending_(std::move(other.pending_)), result_(std::move(other.result_)) {
  other.store_ = nullptr;
}
WriteHandle::~WriteHandle() {
  if (store_ != nullptr && pending_ != nullptr)
    store_->impl_->Complete(pending_.get()).IgnoreError();
}

WriteHandle Store::StartWrite(WriteInput input) {
  WriteHandle h;
  h.pending_ = std::make_unique<PendingWrite>();
  PendingWrite& w = *h.pending_;
  w.origin = impl_->options.site;
  w.assign_seq = true;
  w.client_id = std::move(input.client_id);
  w.batch_seq = input.batch_seq;
  w.entry.series = std::move(input.series);
  w.accepted = w.entry.NumSamples();
  if (absl::Status s = CheckSampleTimestamps(w.entry.series); !s.ok()) {
    h.result_ = absl::StatusOr<WriteResult>(s);
    return h;
  }
  h.result_ = impl_->Enqueue(&w);
  if (!h.result_) h.store_ = this;
  return h;
}

absl::StatusOr<WriteResult> Store::FinishWrite(WriteHandle handle) {
  if (handle.result_) return *handle.result_;
  absl::StatusOr<WriteResult> r = impl_->Complete(handle.pending_.get());
  handle.store_ = nullptr;  // completed
  return r;
}

void Store::Impl::ApplyDeadbands(std::vector<engine::SeriesData>* series) {
  PartsShareMu();
  for (engine::SeriesData& s : *series) {
    TagState* t = FindTag(s.tag);
    if (t == nullptr || t->info.deadband <= 0) continue;
    heads.ApplyDeadband(*t, t->info.deadband, &s.cols);
  }
}

absl::Status Store::Impl::SubmitCatalog(engine::LogEntry entry) {
  PendingWrite w;
  w.origin = options.site;
  w.assign_seq = true;
  w.entry = std::move(entry);
  engine::EncodeLogEntry(w.entry, &w.encoded);
  absl::MutexLock l(&mu);
  if (closed) return absl::FailedPreconditionError("store is closed");
  Submit(&w);
  return w.status;
}

absl::StatusOr<uint64_t> Store::ApplyReplicated(const std::string& origin, uint64_t seq,
                                                std::string_view entry) {
  if (origin == impl_->options.site || origin == kRepairOrigin) {
    return absl::InvalidArgumentError(absl::StrCat("origin: '", origin, "' is not a peer"));
  }
  PendingWrite w;
  w.origin = origin;
  w.seq = seq;
  w.encoded = std::string(entry);
  RETURN_IF_ERROR(engine::DecodeLogEntry(entry, &w.entry));
  w.accepted = w.entry.NumSamples();
  if (HasDeletes(w.entry)) {
    absl::MutexLock pass(&impl_->seal_mu);         // see Impl::SubmitTombstones
    RETURN_IF_ERROR(impl_->SubmitTombstones(&w));  // skips an entry applied before
    return w.skipped ? 0 : w.accepted;
  }
  absl::MutexLock l(&impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("store is closed");
  auto applied = impl_->applied_seq.find(origin);
  if (applied != impl_->applied_seq.end() && seq <= applied->second) return 0;
  impl_->Submit(&w);
  if (!w.status.ok()) return w.status;
  return w.skipped ? 0 : w.accepted;
}

absl::StatusOr<uint64_t> Store::ApplyRepair(const std::vector<engine::TagInfo>& tags,
                                            std::vector<engine::SeriesData> series) {
  PendingWrite w;
  w.origin = kRepairOrigin;
  w.assign_seq = true;
  // A peer of an older version may hold samples outside the range.
  impl_->DropOutOfRange(&series, "repair");
  absl::MutexLock l(&impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("store is closed");
  // Nothing of a deleted incarnation comes back by repair: neither its
  // catalog entry nor its samples (a peer that has not applied the
  // tombstone yet still offers them).
  for (const engine::TagInfo& info : tags) {
    if (info.version > impl_->TombstoneOf(info.id)) w.entry.catalog_upserts.push_back(info);
  }
  for (engine::SeriesData& s : series) {
    const bool known = impl_->FindTag(s.tag) != nullptr ||
                       std::any_of(w.entry.catalog_upserts.begin(), w.entry.catalog_upserts.end(),
                                   [&](const engine::TagInfo& info) { return info.id == s.tag; });
    if (!known) continue;
    codec::ChunkColumns kept;
    if (impl_->DropTombstoned(s.tag, s.cols, &kept)) s.cols = std::move(kept);
    if (s.cols.size() > 0) w.entry.series.push_back(std::move(s));
  }
  if (w.entry.series.empty() && w.entry.catalog_upserts.empty()) return 0;
  w.accepted = w.entry.NumSamples();
  // The entry's version only matters for the encoding: samples keep theirs.
  w.entry.version = impl_->NextVersion();
  impl_->mu.Unlock();
  engine::EncodeLogEntry(w.entry, &w.encoded);
  impl_->mu.Lock();
  impl_->Submit(&w);
  if (!w.status.ok()) return w.status;
  return w.accepted;
}

void Store::Impl::PrepareCatalog(PendingWrite* w, rocksdb::WriteBatch* batch) {
  PrepareTombstones(w, batch);
  // Upserts, decided by the catalog (Catalog::PrepareUpserts): a deleted
  // incarnation (at or below its tombstone) is not created again.
  PartsShareMu();
  catalog.PrepareUpserts(
      &w->entry.catalog_upserts,
      [this](TagId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return TombstoneOf(id); }, batch,
      db->catalog());
}

void Store::Impl::ApplyCatalog(const PendingWrite& w) {
  ApplyDeletes(w);
  for (const engine::TagInfo& info : w.entry.catalog_upserts) {
    max_version_seen = std::max(max_version_seen, info.version);
    PartsShareMu();
    catalog.Upsert(info);
    if (info.retention_ns > 0) {
      tags_with_retention.insert(info.id);
    } else {
      tags_with_retention.erase(info.id);
    }
  }
}

void Store::Impl::LeadGroup() {
  // The encoded writers at the queue front.
  std::vector<PendingWrite*> group;
  bool catalog = false;
  while (!writers.empty() && writers.front()->ready && group.size() < kMaxGroupWriters) {
    PendingWrite* p = writers.front();
    // A delete is a group of its own: the catalog changes after it are
    // decided against the catalog without the tag.
    const bool deletes = HasDeletes(p->entry);
    if (deletes && !group.empty()) break;
    writers.pop_front();
    catalog |= !p->entry.catalog_upserts.empty() || deletes;
    group.push_back(p);
    if (deletes) break;
  }
  ++groups_in_flight;
  // Catalog changes are checked against the catalog in memory: every built
  // group must be applied first.
  if (catalog) {
    auto all_applied = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return applied_ticket == build_ticket;
    };
    mu.Await(absl::Condition(&all_applied));
  }
  const uint64_t first_own = std::max(next_seq, reserved_seq);
  uint64_t own_seq = first_own;
  std::map<std::string, uint64_t> cursor;  // other origins: highest seq in group
  rocksdb::WriteBatch batch;
  for (PendingWrite* p : group) {
    if (p->origin == options.site) {
      p->seq = own_seq++;
    } else {
      auto it = cursor.find(p->origin);
      if (it == cursor.end()) {
        uint64_t base = applied_seq[p->origin];
        if (auto r = reserved_cursor.find(p->origin); r != reserved_cursor.end()) {
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
    if (!p->entry.catalog_upserts.empty() || HasDeletes(p->entry)) PrepareCatalog(p, &batch);
    batch.Put(db->log(), engine::LogKey(p->origin, p->seq), p->encoded);
    if (!p->client_id.empty() && p->batch_seq != 0) {
      batch.Put(db->state(), engine::ClientBatchKey(p->client_id, p->batch_seq), U64(p->accepted));
      if (p->batch_seq > options.client_dedupe_window && p->batch_seq % 64 == 0) {
        batch.DeleteRange(
            db->state(), engine::ClientBatchKey(p->client_id, 0),
            engine::ClientBatchKey(p->client_id, p->batch_seq - options.client_dedupe_window));
      }
    }
  }
  if (own_seq != first_own) batch.Put(db->state(), engine::kNextSeqKey, U64(own_seq));
  // The cursor of each other origin moves in the same batch as its entries:
  // a crash never applies an entry twice or skips one.
  for (const auto& [origin, seq] : cursor)
    batch.Put(db->state(), engine::CursorKey(origin), U64(seq));
  reserved_seq = own_seq;
  for (const auto& [origin, seq] : cursor) reserved_cursor[origin] = seq;
  const uint64_t ticket = ++build_ticket;
  uint64_t epoch;
  {
    absl::MutexLock w(&write_mu);
    epoch = failure_epoch;
  }
  // The next leader may build while this group writes.
  leading = false;
  mu.Unlock();

  // Write, in build order (a later group's batch must never be durable
  // without an earlier one's: it continues its numbers).
  write_mu.Lock();
  auto turn = [&]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu) { return written_ticket == ticket - 1; };
  write_mu.Await(absl::Condition(&turn));
  const bool earlier_failed = epoch != failure_epoch;
  write_mu.Unlock();
  absl::Status status;
  if (earlier_failed) {
    status = absl::UnavailableError("an earlier write of this group commit failed");
  } else {
    rocksdb::WriteOptions wo;
    wo.sync = options.sync_writes;
    status = engine::FromRocks(db->db()->Write(wo, &batch), "write log");
  }
  if (!status.ok() && !earlier_failed) {
    // The numbers this group (and groups built on it) took are free again.
    mu.Lock();
    absl::MutexLock w(&write_mu);
    reserved_seq = durable_seq;
    reserved_cursor = durable_cursor;
    ++failure_epoch;
    written_ticket = ticket;
  } else {
    {
      absl::MutexLock w(&write_mu);
      if (status.ok()) {
        durable_seq = own_seq;
        for (const auto& [origin, seq] : cursor) durable_cursor[origin] = seq;
      }
      written_ticket = ticket;
    }
    mu.Lock();
  }

  // Apply, in build order.
  auto my_turn = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return applied_ticket == ticket - 1; };
  mu.Await(absl::Condition(&my_turn));
  if (status.ok()) {
    next_seq = std::max(next_seq, own_seq);
    int64_t now_s = NowNs() / 1000000000;
    for (PendingWrite* p : group) {
      if (p->skipped) continue;
      ApplyCatalog(*p);
      ApplyToHead(p->origin, p->seq, p->entry);
      last_version_seconds = std::max(last_version_seconds, p->entry.version >> 8);
      if (p->origin == options.site) {
        own_cum_samples += p->entry.NumSamples();
        own_log.push_back(
            {p->seq, now_s, p->encoded.size(), p->entry.NumSamples(), own_cum_samples});
        own_log_bytes += p->encoded.size();
      }
      if (!p->client_id.empty() && p->batch_seq != 0) {
        auto& batches = client_batches[p->client_id];
        batches[p->batch_seq] = p->accepted;
        uint64_t highest = batches.rbegin()->first;
        while (batches.size() > 1 &&
               highest - batches.begin()->first >= options.client_dedupe_window) {
          batches.erase(batches.begin());
        }
      }
      // Let a waiting leader build the next group (everything queued during
      // this group's write) so its write overlaps the rest of this apply.
      if (CanLead()) {
        mu.Unlock();
        mu.Lock();
      }
    }
  } else {
    status = absl::UnavailableError(
        absl::StrCat("storage refused the write, nothing was stored: ", status.message()));
  }
  applied_ticket = ticket;
  --groups_in_flight;
  for (PendingWrite* p : group) {
    p->status = status;
    p->done = true;
  }
}

}  // namespace historian
