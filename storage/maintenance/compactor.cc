// Compactor: retention, the overlap rewrite and the merge pass.
#include "storage/maintenance/compactor.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"

namespace historian {

Compactor::Compactor(absl::Mutex& mu, absl::Mutex& seal_mu, engine::RocksDb* db, ChunkStore* chunks,
                     Rollups* rollups, MaintenanceHost* host, std::function<int64_t()> now_ns,
                     MergeLimits merge_limits)
    : mu_(mu),
      seal_mu_(seal_mu),
      db_(db),
      chunks_(chunks),
      rollups_(rollups),
      host_(host),
      now_ns_(std::move(now_ns)),
      merge_limits_(merge_limits) {}

void Compactor::SetRetention(TagId id, bool has_retention) {
  if (has_retention) {
    tags_with_retention_.insert(id);
  } else {
    tags_with_retention_.erase(id);
  }
}

void Compactor::ForgetTag(TagId id) {
  tags_overlapping_.erase(id);
  tags_merge_due_.erase(id);
  tags_with_retention_.erase(id);
  // Its open rollup hour counts samples that are gone: a tag made again
  // under the id must not add its own to them.
  rollups_->Forget(id);
}

void Compactor::NoteOverlap(TagId id, ChunkState* chunk, int64_t min_ts, int64_t max_ts) {
  chunk->NoteOverlap(min_ts, max_ts);
  tags_overlapping_.insert(id);
}

void Compactor::NoteSealed(TagId id, ChunkState* chunk, int64_t min_ts) {
  chunk->merge_from = std::min(chunk->merge_from, min_ts);
  tags_merge_due_.insert(id);
}

bool Compactor::MinutePassesDue() {
  const int64_t now = now_ns_();
  if (now - last_retention_ns_ < absl::ToInt64Nanoseconds(absl::Minutes(1))) return false;
  last_retention_ns_ = now;
  return true;
}

absl::Status Compactor::RetentionPass() {
  struct Due {
    TagId id;
    int64_t cutoff;
    int64_t max_span;
  };
  std::vector<Due> due;
  const int64_t now = now_ns_();
  {
    absl::MutexLock l(&mu_);
    for (TagId id : tags_with_retention_) {
      MaintenanceHost::TagFacts facts;
      const ChunkState* chunk = host_->FindChunkState(id, &facts);
      if (chunk == nullptr) continue;
      if (facts.retention_ns > 0 && now > kMinTimestamp + facts.retention_ns) {
        due.push_back({id, now - facts.retention_ns, chunk->max_span});
      }
    }
  }
  for (const Due& d : due) {
    // Chunks are ordered by min ts: only those starting before the cutoff
    // can have expired, and one has only if its max ts is before it too.
    std::string lower = engine::ChunkSeekKey(d.id, kMinTimestamp);
    std::string upper = engine::ChunkSeekKey(d.id, d.cutoff);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->chunks()));
    std::vector<std::pair<std::string, codec::ChunkSummary>> expired;
    // The earliest start of a chunk that stays (straddles the cutoff, or
    // overlaps one that stays).
    int64_t kept_from = kMaxTimestamp;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      absl::StatusOr<codec::ChunkSummary> summary =
          codec::SummarizeChunk({it->value().data(), it->value().size()});
      if (!summary.ok()) {
        // Left for an operator to see, not dropped (reads report it).
        chunks_->SkipCorrupt(d.id, {it->key().data(), it->key().size()}, summary.status(),
                             "retention pass");
        continue;
      }
      if (summary->max_timestamp >= d.cutoff) {
        kept_from = std::min(kept_from, summary->min_timestamp);
        continue;
      }
      expired.emplace_back(it->key().ToString(), *summary);
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan for retention"));
    // An expired chunk that overlaps one that stays stays too: it may hold
    // the newer version of a sample the other holds (late data not yet
    // rewritten by the overlap pass), and dropping it alone would bring the
    // older value back. Chunks come in min-ts order: newest first, one pass
    // reaches the fixpoint (a chunk seen earlier starts after every chunk
    // that lowers kept_from later, so it stays by the test below anyway).
    for (auto e = expired.rbegin(); e != expired.rend(); ++e) {
      if (e->second.max_timestamp >= kept_from) {
        kept_from = std::min(kept_from, e->second.min_timestamp);
      }
    }
    rocksdb::WriteBatch batch;
    uint64_t dropped = 0;
    int64_t dropped_min = kMaxTimestamp, dropped_max = kMinTimestamp;
    for (const auto& [key, summary] : expired) {
      if (summary.max_timestamp >= kept_from) continue;
      batch.Delete(db_->chunks(), key);
      dropped_min = std::min(dropped_min, summary.min_timestamp);
      dropped_max = std::max(dropped_max, summary.max_timestamp);
      ++dropped;
    }
    if (dropped == 0) continue;
    // Mark the rollups of the dropped range stale in the same batch, then
    // rewrite them from what remains (a chunk straddling the cutoff stays).
    rollups_->MarkDirty(d.id, dropped_min, dropped_max, &batch);
    {
      absl::MutexLock l(&mu_);
      MaintenanceHost::TagFacts facts;
      if (ChunkState* chunk = host_->FindChunkState(d.id, &facts)) {
        chunk->rollup_dirty_min = std::min(chunk->rollup_dirty_min, dropped_min);
        host_->ForgetLatest(d.id);  // the newest sample may have expired too
      }
    }
    RETURN_IF_ERROR(engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch),
                                      "drop expired chunks"));
    chunks_->counters().expired.fetch_add(dropped);
    RETURN_IF_ERROR(host_->RecomputeRollups(d.id, dropped_min, dropped_max));
  }
  return absl::OkStatus();
}

absl::Status Compactor::OverlapPass() {
  std::vector<std::pair<TagId, std::pair<int64_t, int64_t>>> due;
  {
    absl::MutexLock l(&mu_);
    for (TagId id : tags_overlapping_) {
      MaintenanceHost::TagFacts facts;
      ChunkState* t = host_->FindChunkState(id, &facts);
      if (t != nullptr && t->overlap_min <= t->overlap_max) {
        due.push_back({id, {t->overlap_min, t->overlap_max}});
        t->overlap_min = kMaxTimestamp;
        t->overlap_max = kMinTimestamp;
      }
    }
    tags_overlapping_.clear();
  }
  absl::Status first_error;
  for (const auto& [id, range] : due) {
    absl::Status s = RewriteOverlaps(id, range.first, range.second);
    if (s.ok()) continue;
    // Kept for the next pass (the overlap/ key stays too).
    absl::MutexLock l(&mu_);
    MaintenanceHost::TagFacts facts;
    if (ChunkState* t = host_->FindChunkState(id, &facts)) {
      NoteOverlap(id, t, range.first, range.second);
    }
    if (first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::Status Compactor::RewriteOverlaps(TagId id, int64_t lo, int64_t hi) {
  ValueType type;
  int64_t max_span;
  {
    absl::MutexLock l(&mu_);
    MaintenanceHost::TagFacts facts;
    const ChunkState* t = host_->FindChunkState(id, &facts);
    if (t == nullptr) return absl::OkStatus();
    type = facts.type;
    max_span = t->max_span;
  }
  // Every chunk that meets the range, widened until no chunk outside it
  // meets it: the rewritten pieces take new (higher) chunk ids, which
  // order equal versions, so a chunk left out that overlaps one taken in
  // would lose samples it used to win.
  // Decode exactly these chunks and merge them by the version rule in
  // application order (chunk ids grow with each seal).
  std::vector<std::pair<uint64_t, std::string>> old;  // (chunk id, key)
  std::map<uint64_t, codec::ChunkColumns> decoded;
  // Corrupt chunks met (by key; a widened scan meets them again), left for
  // an operator: counted and logged once per rewrite.
  std::map<std::string, absl::Status> corrupt;
  for (bool widened = true; widened;) {
    widened = false;
    old.clear();
    decoded.clear();
    std::string lower = engine::ChunkSeekKey(id, SaturatingSub(lo, max_span));
    std::string upper = engine::ChunkSeekKey(id, hi < kMaxTimestamp ? hi + 1 : hi);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->chunks()));
    int64_t new_lo = lo, new_hi = hi;
    for (it->Seek(lower); it->Valid(); it->Next()) {
      std::string_view bytes(it->value().data(), it->value().size());
      absl::StatusOr<codec::ChunkSummary> summary = codec::SummarizeChunk(bytes);
      if (!summary.ok()) {
        corrupt.emplace(it->key().ToString(), summary.status());
        continue;
      }
      if (summary->max_timestamp < lo) continue;
      codec::ChunkColumns cols;
      if (absl::Status st = codec::DecodeChunk(bytes, &cols); !st.ok()) {
        corrupt.emplace(it->key().ToString(), std::move(st));
        continue;
      }
      engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
      old.emplace_back(key.chunk_id, it->key().ToString());
      decoded[key.chunk_id] = std::move(cols);
      new_lo = std::min(new_lo, summary->min_timestamp);
      new_hi = std::max(new_hi, summary->max_timestamp);
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan overlapping chunks"));
    if (new_lo < lo || new_hi > hi) {
      lo = new_lo;
      hi = new_hi;
      widened = true;
    }
  }
  for (const auto& [key, why] : corrupt) chunks_->SkipCorrupt(id, key, why, "overlap rewrite");
  rocksdb::WriteBatch batch;
  batch.Delete(db_->state(), engine::OverlapKey(id));
  if (old.size() < 2) {  // nothing overlaps (any more)
    return engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "clear overlap");
  }
  codec::ChunkColumns merged;
  merged.Reset(type);
  for (const auto& [chunk_id, cols] : decoded) engine::AppendSamples(cols, 0, cols.size(), &merged);
  engine::Normalize(&merged);
  host_->DropOutOfRange(&merged, id, "overlap rewrite");
  for (const auto& [chunk_id, key] : old) batch.Delete(db_->chunks(), key);
  int64_t span = 0;
  RETURN_IF_ERROR(chunks_->WriteChunks(id, merged, &batch, &span));
  // A piece may span more than any chunk before (late data far from the
  // chunks it joins): the widest span grows, durably and before readers can
  // meet the piece, or reads seeking from start - span would miss it.
  WidenSpan(id, span, &batch);
  // One batch: readers see either the old chunks or the new ones.
  RETURN_IF_ERROR(
      engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "rewrite overlaps"));
  chunks_->counters().rewritten.fetch_add(old.size());
  {
    // The pieces are cut by the seal limits (an hour at most): the merge
    // pass joins them again where a slow tag's chunks spanned longer.
    absl::MutexLock l(&mu_);
    MaintenanceHost::TagFacts facts;
    if (ChunkState* t = host_->FindChunkState(id, &facts)) NoteSealed(id, t, lo);
  }
  return absl::OkStatus();
}

void Compactor::WidenSpan(TagId id, int64_t span, rocksdb::WriteBatch* batch) {
  absl::MutexLock l(&mu_);
  chunks_->mu().AssertHeld();  // the same mutex
  MaintenanceHost::TagFacts facts;
  if (ChunkState* t = host_->FindChunkState(id, &facts)) chunks_->WidenSpan(id, t, span, batch);
}

namespace {

// Most encoded bytes of the chunks merged into one (a merged chunk is no
// bigger than their sum): a read of a short range reads at most this much.
constexpr uint64_t kMergedChunkMaxBytes = 128 * 1024;
// A merged chunk spans this or more only while it holds at most
// MergeLimits::sparse_max_samples and averages at most
// MergeLimits::dense_samples_per_hour an hour: fast tags keep chunks of an
// hour (their widest span, and so how far back a read seeks, stays an hour),
// slow tags fill chunks by count. Also how long after a chunk ends a (not
// forced) merge waits for it: chunks still being sealed into are not
// rewritten.
constexpr int64_t kDenseChunkNs = int64_t{3600} * 1000000000;

uint64_t Span(int64_t from, int64_t to) {
  return static_cast<uint64_t>(to) - static_cast<uint64_t>(from);
}

// Whether `samples` samples spanning `span` ns may be one merged chunk as
// far as the hour rule goes (the caps on samples, bytes and span aside).
bool SlowEnough(const MergeLimits& limits, uint64_t samples, uint64_t span) {
  if (span < static_cast<uint64_t>(kDenseChunkNs)) return true;
  if (samples > limits.sparse_max_samples || samples > kMergedChunkMaxSamples) return false;
  // samples / span <= dense_samples_per_hour / hour, without overflow:
  // samples * hour is below 2^56 here.
  const uint64_t dense = std::max<uint64_t>(limits.dense_samples_per_hour, 1);
  return (samples * static_cast<uint64_t>(kDenseChunkNs) + dense - 1) / dense <= span;
}

}  // namespace

absl::Status Compactor::MergePass(bool force) {
  struct Due {
    TagId id;
    int64_t from;
    ValueType type;
    int64_t span_bound;
  };
  std::vector<Due> due;
  // The longest span of a merged chunk of a tag: --chunk_max_duration, and
  // a quarter of its retention (the retention pass drops whole chunks, so
  // expired samples stay at most that long), but never under an hour.
  auto span_bound = [&](int64_t retention_ns) {
    int64_t bound = merge_limits_.max_span_ns;
    if (retention_ns > 0) bound = std::min(bound, std::max(retention_ns / 4, kDenseChunkNs));
    return bound;
  };
  {
    absl::MutexLock l(&mu_);
    if (force) {
      host_->ForEachTag([&](TagId id, ValueType type) {
        due.push_back({id, kMinTimestamp, type, 0});
      });
      for (Due& d : due) {
        MaintenanceHost::TagFacts facts;
        if (host_->FindChunkState(d.id, &facts) != nullptr) {
          d.span_bound = span_bound(facts.retention_ns);
        }
      }
    } else {
      for (TagId id : tags_merge_due_) {
        MaintenanceHost::TagFacts facts;
        if (const ChunkState* t = host_->FindChunkState(id, &facts)) {
          due.push_back({id, t->merge_from, facts.type, span_bound(facts.retention_ns)});
        }
      }
    }
  }
  const int64_t delay = std::min(kDenseChunkNs, merge_limits_.max_span_ns);
  const int64_t cutoff = force ? kMaxTimestamp : SaturatingSub(now_ns_(), delay);
  for (const Due& d : due) {
    if (d.span_bound <= 0) continue;  // deleted meanwhile
    int64_t next_from = kMaxTimestamp;
    // From the chunks before `from` that a new chunk may join.
    int64_t from = d.from;
    if (!force) {
      ASSIGN_OR_RETURN(from, MergeStart(d.id, d.from, d.span_bound));
    }
    RETURN_IF_ERROR(MergeTagChunks(d.id, d.type, from, cutoff, d.span_bound, force, &next_from));
    absl::MutexLock l(&mu_);
    MaintenanceHost::TagFacts facts;
    ChunkState* t = host_->FindChunkState(d.id, &facts);
    if (t == nullptr) continue;
    // Seals run on this thread too, so merge_from has not moved meanwhile.
    t->merge_from = next_from;
    if (next_from == kMaxTimestamp) tags_merge_due_.erase(d.id);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Compactor::MergeStart(TagId id, int64_t from, int64_t span_bound) const {
  if (from == kMinTimestamp) return from;
  // Newest first: the chunks starting before `from`, as long as a run of
  // them and a chunk at `from` could still be one merged chunk.
  std::string lower = engine::ChunkSeekKey(id, kMinTimestamp);
  rocksdb::Slice lower_slice(lower);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->chunks()));
  int64_t start = from;
  uint64_t samples = 0;
  for (it->SeekForPrev(engine::ChunkSeekKey(id, from)); it->Valid(); it->Prev()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    const engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
    if (key.tag != id || key.min_ts >= from) continue;
    if (Span(key.min_ts, from) >= static_cast<uint64_t>(span_bound)) break;
    absl::StatusOr<codec::ChunkSummary> summary =
        codec::SummarizeChunk({it->value().data(), it->value().size()});
    if (!summary.ok()) break;  // the scan skips it and stops runs there
    samples += summary->count;
    // As far back as a run of slow chunks could reach (the span of a run
    // joining the chunk at `from` is not known here).
    if (Span(key.min_ts, from) >= static_cast<uint64_t>(kDenseChunkNs) &&
        samples > merge_limits_.sparse_max_samples) {
      break;
    }
    start = key.min_ts;
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan chunks before a merge"));
  return start;
}

absl::Status Compactor::MergeRun(TagId id, ValueType type, std::vector<MergeChunk>& run,
                                 size_t begin, size_t end, int64_t span_bound) {
  std::vector<const MergeChunk*> parts;
  for (size_t i = begin; i < end; ++i) parts.push_back(&run[i]);
  // Application order (chunk ids grow with each seal) decides equal
  // versions, as everywhere else.
  std::sort(parts.begin(), parts.end(),
            [](const MergeChunk* a, const MergeChunk* b) { return a->chunk_id < b->chunk_id; });
  codec::ChunkColumns merged, cols;
  merged.Reset(type);
  for (const MergeChunk* c : parts) {
    RETURN_IF_ERROR(codec::DecodeChunk(c->bytes, &cols));
    engine::AppendSamples(cols, 0, cols.size(), &merged);
  }
  engine::Normalize(&merged);
  host_->DropOutOfRange(&merged, id, "chunk merge");
  rocksdb::WriteBatch batch;
  for (const MergeChunk* c : parts) batch.Delete(db_->chunks(), c->key);
  if (merged.size() > 0) {
    // The run fits one chunk of these limits: no cut.
    int64_t span = 0;
    RETURN_IF_ERROR(
        chunks_->WriteChunks(id, merged, {kMergedChunkMaxSamples, span_bound}, &batch, &span));
    // The widest span grows before readers can meet the merged chunk.
    WidenSpan(id, span, &batch);
  }
  // One batch: readers see either the old chunks or the merged one.
  RETURN_IF_ERROR(
      engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "merge chunks"));
  chunks_->counters().merged.fetch_add(parts.size());
  return absl::OkStatus();
}

absl::Status Compactor::FlushRun(TagId id, ValueType type, std::vector<MergeChunk>& run,
                                 size_t begin, size_t end, int64_t span_bound, bool force) {
  if (end - begin < 2) return absl::OkStatus();
  if (force) return MergeRun(id, type, run, begin, end, span_bound);
  // Tiered: merge the run when its smaller chunks hold at least half the
  // samples of the biggest; else leave the biggest and look at the chunks
  // before and after it. A chunk that keeps growing is rewritten only when
  // it grows by half, and small chunks merge among themselves meanwhile.
  size_t biggest = begin;
  uint64_t total = 0;
  for (size_t i = begin; i < end; ++i) {
    total += run[i].summary.count;
    if (run[i].summary.count > run[biggest].summary.count) biggest = i;
  }
  const uint64_t big = run[biggest].summary.count;
  if (2 * (total - big) >= big) return MergeRun(id, type, run, begin, end, span_bound);
  RETURN_IF_ERROR(FlushRun(id, type, run, begin, biggest, span_bound, force));
  return FlushRun(id, type, run, biggest + 1, end, span_bound, force);
}

absl::Status Compactor::MergeTagChunks(TagId id, ValueType type, int64_t from, int64_t cutoff,
                                       int64_t span_bound, bool force, int64_t* next_from) {
  std::vector<MergeChunk> run;
  uint64_t run_samples = 0, run_bytes = 0;
  auto flush = [&]() -> absl::Status {
    seal_mu_.AssertHeld();  // as in the caller: the analysis does not see into lambdas
    absl::Status s = FlushRun(id, type, run, 0, run.size(), span_bound, force);
    run.clear();
    run_samples = 0;
    run_bytes = 0;
    return s;
  };

  // Only chunks that overlap no other chunk join a run: a merged chunk takes
  // a new chunk id, and ids order equal versions, so merging a chunk that
  // another one overlaps could change which sample wins. Overlaps are the
  // overlap pass's work. A chunk is clean when it starts after every earlier
  // chunk ended and ends before the next one starts: each chunk is held
  // until the next key is seen.
  auto consider = [&](MergeChunk c, bool clean) -> absl::Status {
    if (c.summary.max_timestamp >= cutoff) {  // may still grow: a later pass
      *next_from = std::min(*next_from, c.summary.min_timestamp);
      return flush();
    }
    if (!clean) return flush();
    if (!run.empty()) {
      const uint64_t span = Span(run.front().summary.min_timestamp, c.summary.max_timestamp);
      const uint64_t samples = run_samples + c.summary.count;
      const bool fits = span < static_cast<uint64_t>(span_bound) &&
                        samples <= kMergedChunkMaxSamples &&
                        run_bytes + c.bytes.size() <= kMergedChunkMaxBytes &&
                        SlowEnough(merge_limits_, samples, span);
      if (!fits) RETURN_IF_ERROR(flush());
    }
    run_samples += c.summary.count;
    run_bytes += c.bytes.size();
    run.push_back(std::move(c));
    return absl::OkStatus();
  };
  int64_t max_span = 0;
  {
    absl::MutexLock l(&mu_);
    MaintenanceHost::TagFacts facts;
    if (const ChunkState* t = host_->FindChunkState(id, &facts)) max_span = t->max_span;
  }
  // From far enough back to see every chunk that may overlap one at `from`.
  std::string lower = engine::ChunkSeekKey(id, SaturatingSub(from, max_span));
  std::string upper = engine::ChunkSeekKey(id, kMaxTimestamp);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->chunks()));
  std::optional<MergeChunk> held;
  int64_t hi_before = kMinTimestamp;  // latest end of the chunks before `held`
  // As hi_before, over the readable chunks only: overlaps found here (left by
  // a version that lost them at a restart) go to the overlap pass.
  int64_t hi_readable = kMinTimestamp;
  int64_t overlap_min = kMaxTimestamp, overlap_max = kMinTimestamp;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    std::string_view bytes(it->value().data(), it->value().size());
    absl::StatusOr<codec::ChunkSummary> summary = codec::SummarizeChunk(bytes);
    if (!summary.ok()) {
      // Left for an operator to see. Its span is unknown: nothing after it
      // is merged in this pass.
      chunks_->SkipCorrupt(id, {it->key().data(), it->key().size()}, summary.status(),
                           "chunk merge");
      RETURN_IF_ERROR(flush());
      held.reset();
      hi_before = kMaxTimestamp;
      continue;
    }
    if (summary->min_timestamp <= hi_readable) {
      overlap_min = std::min(overlap_min, summary->min_timestamp);
      overlap_max = std::max(overlap_max, std::min(summary->max_timestamp, hi_readable));
    }
    hi_readable = std::max(hi_readable, summary->max_timestamp);
    if (held) {
      const bool clean = held->summary.min_timestamp > hi_before &&
                         summary->min_timestamp > held->summary.max_timestamp;
      hi_before = std::max(hi_before, held->summary.max_timestamp);
      const bool before_from = held->summary.max_timestamp < from;
      if (before_from) {
        RETURN_IF_ERROR(flush());  // context only
      } else {
        RETURN_IF_ERROR(consider(std::move(*held), clean));
      }
    }
    engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
    held = MergeChunk{it->key().ToString(), key.chunk_id, *summary, std::string(bytes)};
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan chunks to merge"));
  if (held) {
    const bool clean = held->summary.min_timestamp > hi_before;
    RETURN_IF_ERROR(consider(std::move(*held), clean));
  }
  if (overlap_min <= overlap_max) {
    absl::MutexLock l(&mu_);
    MaintenanceHost::TagFacts facts;
    if (ChunkState* t = host_->FindChunkState(id, &facts)) {
      NoteOverlap(id, t, overlap_min, overlap_max);
    }
  }
  return flush();
}

}  // namespace historian
