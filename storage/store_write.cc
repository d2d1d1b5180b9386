// Store: the write path. Writers encode their batch, queue up, and the front
// writer (the leader) writes the whole queue as one RocksDB WriteBatch with
// one fsync, applies it to the heads in sequence order and wakes the others
// (group commit, as in LevelDB's DBImpl::Write).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/key_format.h"
#include "storage/store_impl.h"

namespace historian {

namespace {
// Most writers merged into one group.
constexpr size_t kMaxGroupWriters = 64;
}  // namespace

absl::StatusOr<WriteResult> Store::Write(WriteInput input) { return impl_->Write(std::move(input)); }

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

absl::StatusOr<WriteResult> Store::Impl::Write(WriteInput input) {
  PendingWrite w;
  w.client_id = std::move(input.client_id);
  w.batch_seq = input.batch_seq;
  for (const auto& s : input.series) w.accepted += s.cols.size();
  w.entry.series = std::move(input.series);
  bool dedupe = !w.client_id.empty() && w.batch_seq != 0;

  absl::MutexLock l(&mu);
  if (closed) return absl::FailedPreconditionError("store is closed");
  if (dedupe) {
    RETURN_IF_ERROR(LoadClient(w.client_id));
    auto& batches = client_batches[w.client_id];
    auto seen = batches.find(w.batch_seq);
    if (seen != batches.end()) return WriteResult{seen->second, /*duplicate=*/true};
    // The window is by sequence distance: sequences within `window` of the
    // highest one seen are remembered; anything older cannot be told apart
    // from a retry, so it is refused rather than silently dropped.
    if (!batches.empty() && w.batch_seq + options.client_dedupe_window <= batches.rbegin()->first) {
      return absl::FailedPreconditionError(absl::StrCat(
          "batch_sequence: ", w.batch_seq, " is older than the dedupe window of ",
          options.client_dedupe_window, " batches for client '", w.client_id, "' (highest ",
          batches.rbegin()->first, "); it cannot be told from a retry"));
    }
    if (!in_flight.insert({w.client_id, w.batch_seq}).second) {
      return absl::UnavailableError(absl::StrCat("batch_sequence: ", w.batch_seq,
                                                 " of client '", w.client_id,
                                                 "' is already being written; retry"));
    }
  }
  // Each writer encodes its own entry without the lock, so encoding runs in
  // parallel and the leader only concatenates.
  w.entry.version = NextVersion();
  mu.Unlock();
  for (auto& series : w.entry.series) {
    series.cols.versions.assign(series.cols.size(), w.entry.version);
  }
  engine::EncodeLogEntry(w.entry, &w.encoded);
  mu.Lock();

  writers.push_back(&w);
  while (!w.done && &w != writers.front()) writers_cv.Wait(&mu);
  if (!w.done) LeadGroup(&w);
  if (dedupe) in_flight.erase({w.client_id, w.batch_seq});
  if (!w.status.ok()) return w.status;
  return WriteResult{w.accepted, false};
}

void Store::Impl::LeadGroup(PendingWrite* leader) {
  std::vector<PendingWrite*> group;
  for (PendingWrite* p : writers) {
    if (group.size() == kMaxGroupWriters) break;
    group.push_back(p);
  }
  uint64_t first_seq = next_seq;
  rocksdb::WriteBatch batch;
  uint64_t seq = first_seq;
  for (PendingWrite* p : group) {
    batch.Put(db->log(), engine::LogKey(options.site, seq++), p->encoded);
    if (!p->client_id.empty() && p->batch_seq != 0) {
      std::string count;
      engine::PutBigEndian64(p->accepted, &count);
      batch.Put(db->state(), engine::ClientBatchKey(p->client_id, p->batch_seq), count);
      if (p->batch_seq > options.client_dedupe_window && p->batch_seq % 64 == 0) {
        batch.DeleteRange(db->state(), engine::ClientBatchKey(p->client_id, 0),
                          engine::ClientBatchKey(p->client_id,
                                                 p->batch_seq - options.client_dedupe_window));
      }
    }
  }
  std::string next;
  engine::PutBigEndian64(seq, &next);
  batch.Put(db->state(), engine::kNextSeqKey, next);

  // Only the leader writes; followers wait on the condition variable, so
  // releasing the mutex here lets new writers queue behind this group.
  mu.Unlock();
  rocksdb::WriteOptions wo;
  wo.sync = options.sync_writes;
  absl::Status status = engine::FromRocks(db->db()->Write(wo, &batch), "write log");
  mu.Lock();

  if (status.ok()) {
    next_seq = seq;
    seq = first_seq;
    for (PendingWrite* p : group) {
      ApplyToHead(options.site, seq++, p->entry);
      if (!p->client_id.empty() && p->batch_seq != 0) {
        auto& batches = client_batches[p->client_id];
        batches[p->batch_seq] = p->accepted;
        uint64_t highest = batches.rbegin()->first;
        while (batches.begin()->first + options.client_dedupe_window <= highest) {
          batches.erase(batches.begin());
        }
      }
    }
  } else {
    status = absl::UnavailableError(
        absl::StrCat("storage refused the write, nothing was stored: ", status.message()));
  }
  for (PendingWrite* p : group) {
    p->status = status;
    p->done = true;
    writers.pop_front();
  }
  writers_cv.SignalAll();
}

}  // namespace historian
