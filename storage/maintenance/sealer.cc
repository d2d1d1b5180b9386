// Sealer: sealing heads into chunks, and the sealer thread.
#include "storage/maintenance/sealer.h"

#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/key_format.h"

namespace historian {

Sealer::Sealer(absl::Mutex& mu, absl::Mutex& seal_mu, engine::RocksDb* db, ChunkStore* chunks,
               Rollups* rollups, Compactor* compactor, MaintenanceHost* host, Options options)
    : mu_(mu),
      seal_mu_(seal_mu),
      db_(db),
      chunks_(chunks),
      rollups_(rollups),
      compactor_(compactor),
      host_(host),
      options_(std::move(options)) {}

Sealer::~Sealer() { Stop(); }

void Sealer::Start() {
  thread_ = std::thread([this] {
    // Named for operators (top -H) and for the benches, which tell seal
    // work from request work by it.
    pthread_setname_np(pthread_self(), "hist-sealer");
    Loop();
  });
}

void Sealer::Wake() {
  absl::MutexLock l(&stop_mu_);
  wake_ = true;
}

void Sealer::Stop() {
  {
    absl::MutexLock l(&stop_mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status Sealer::SealTag(TagId id, int64_t now, bool* sealed) {
  codec::ChunkColumns all;
  rocksdb::WriteBatch batch;
  // Only this thread touches the tag's sealing buffer until EndSeal; readers
  // only read it under mu.
  ChunkState* chunk = host_->BeginSeal(id, &all, &batch);
  *sealed = chunk != nullptr;
  if (chunk == nullptr) return absl::OkStatus();
  int64_t span = 0;
  absl::Status status = chunks_->WriteChunks(id, all, &batch, &span);
  int64_t old_span;
  {
    absl::MutexLock l(&mu_);
    old_span = chunk->max_span;
  }
  // On the chunks before this seal's.
  if (status.ok()) rollups_->BeforeSeal(id, old_span, all);
  if (span > old_span) chunks_->PutSpan(id, old_span, span, &batch);
  // The rollups of these buckets are stale until RecomputeRollups ends; a
  // crash in between leaves this marker, and Open recomputes them.
  const int64_t min_ts = all.timestamps.front(), max_ts = all.timestamps.back();
  rollups_->MarkDirty(id, min_ts, max_ts, &batch, /*seal=*/true);
  // Late data: does an existing chunk meet [min_ts, max_ts]? Then the tag
  // is queued for the overlap rewrite.
  bool overlaps = false;
  if (status.ok()) {
    std::vector<codec::ChunkColumns> parts;
    std::vector<uint64_t> ids;
    absl::Status scan = chunks_->ReadChunks(
        id, min_ts, max_ts == kMaxTimestamp ? max_ts : max_ts + 1, old_span, 1, &parts, &ids);
    overlaps = scan.ok() && !parts.empty();
  }
  if (overlaps) {
    // Kept with the chunks, so a restart (a stop seals) still rewrites it.
    absl::MutexLock l(&mu_);
    batch.Put(db_->state(), engine::OverlapKey(id),
              EncodeTimeRange(std::min(chunk->overlap_min, min_ts),
                              std::max(chunk->overlap_max, max_ts)));
  }
  if (status.ok()) {
    // No fsync needed: the log still holds these samples until a later
    // (synced) trim, and RocksDB's WAL is ordered.
    status = engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "write chunks");
  }
  {
    absl::MutexLock l(&mu_);
    if (status.ok()) {
      chunk->max_span = std::max(chunk->max_span, span);
      chunks_->counters().sealed.fetch_add(1);
      compactor_->mu().AssertHeld();  // the same mutex
      compactor_->NoteSealed(id, chunk, min_ts);
      if (overlaps) compactor_->NoteOverlap(id, chunk, min_ts, max_ts);
    }
    // On failure the samples go back in front of the head: nothing is
    // lost, the next pass retries.
    host_->EndSeal(id, status.ok(), now);
  }
  if (!status.ok()) return status;
  return host_->RollupsAfterSeal(id, all);
}

void Sealer::RetryDirtyRollups() {
  if (absl::Status s = host_->RetryDirtyRollups(); !s.ok()) {
    options_.logger(LogSeverity::kError,
                    absl::StrCat("retrying failed rollup rewrites failed (their hours are read "
                                 "raw meanwhile): ",
                                 s.ToString()));
  }
}

absl::Status Sealer::SealPass(bool force, size_t* sealed) {
  if (absl::Status s = host_->RunDuePurges(); !s.ok()) {  // one that failed after a delete
    options_.logger(LogSeverity::kError,
                    absl::StrCat("purge of deleted samples failed: ", s.ToString()));
  }
  const int64_t now = options_.now_ns();
  std::vector<TagId> due;
  host_->HeadsDue(force, now, &due);
  absl::Status first_error;
  size_t count = 0;
  for (TagId id : due) {
    bool one = false;
    absl::Status s = SealTag(id, now, &one);
    count += one ? 1 : 0;
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  if (sealed != nullptr) *sealed = count;
  if (force) RetryDirtyRollups();
  RETURN_IF_ERROR(first_error);
  return host_->TrimLog();
}

void Sealer::Loop() {
  absl::Time last_trim = absl::Now();
  while (true) {
    {
      absl::MutexLock l(&stop_mu_);
      stop_mu_.AwaitWithTimeout(absl::Condition(this, &Sealer::StopOrWake), options_.seal_interval);
      if (stop_) return;
      wake_ = false;
    }
    absl::Status s;
    size_t sealed = 0;
    {
      absl::MutexLock pass(&seal_mu_);
      s = SealPass(/*force=*/false, &sealed);
    }
    if (!s.ok()) {
      options_.logger(LogSeverity::kError, absl::StrCat("seal pass failed: ", s.ToString()));
      if (options_.on_pass_failed) options_.on_pass_failed(s);
    } else if (sealed > 0 && host_->HeadsOverBudget()) {
      // Writes applied during the pass kept the heads over the bound: the
      // writers waiting for room need the next pass now, not at the tick.
      // (A pass that sealed nothing waits for the tick: no busy loop.)
      Wake();
    }
    // Sealed heads free their buffers in the middle of the heap (and of the
    // ingest threads' arenas), which glibc keeps mapped; hand whole free
    // pages back, at most once a tick (it walks every arena).
    if (const absl::Time now = absl::Now(); now - last_trim >= options_.seal_interval) {
      malloc_trim(0);
      last_trim = now;
    }
    {
      absl::MutexLock pass(&seal_mu_);
      compactor_->seal_mu().AssertHeld();  // the same mutex
      s = compactor_->OverlapPass();
      if (!s.ok()) {
        options_.logger(LogSeverity::kError,
                        absl::StrCat("overlap rewrite failed: ", s.ToString()));
      }
      if (compactor_->MinutePassesDue()) {
        s = compactor_->RetentionPass();
        if (!s.ok()) {
          options_.logger(LogSeverity::kError, absl::StrCat("retention failed: ", s.ToString()));
        }
        s = compactor_->MergePass(/*force=*/false);
        if (!s.ok()) {
          options_.logger(LogSeverity::kError, absl::StrCat("chunk merge failed: ", s.ToString()));
        }
        // Rollups a failed rewrite left dirty: retried once a minute (open
        // retries them too), so reads go back to rollups without a restart.
        RetryDirtyRollups();
      }
    }
  }
}

}  // namespace historian
