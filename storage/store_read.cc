// Store: reads. A tag's samples live in three places: sealed chunks in
// RocksDB, the sealing buffer and the head. Reads copy the in-memory parts
// first, then scan chunks: a sample being sealed is always in memory or
// already in RocksDB (the chunk is written before the buffer is dropped), so
// nothing is missed; seeing it twice is harmless (same version, deduplicated).
#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/engine/rollup.h"
#include "storage/store_parts.h"

namespace historian {

absl::Status Store::CopyUnsealed(TagId tag, int64_t start, int64_t end, size_t max_samples,
                                 codec::ChunkColumns* sealing, codec::ChunkColumns* head,
                                 int64_t* max_span) const {
  absl::MutexLock l(&mu_);
  TagState* t = FindTag(tag);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat("tag id ", tag, " not found"));
  PartsShareMu(mu_, *catalog_, *heads_);
  heads_->CopyUnsealed(*t, t->type(), start, end, sealing, head, max_samples);
  *max_span = t->chunk.max_span;
  return absl::OkStatus();
}

int64_t Store::SpanNow(TagId tag, int64_t copied) const {
  absl::MutexLock l(&mu_);
  const TagState* t = FindTag(tag);
  return t == nullptr ? copied : std::max(copied, t->chunk.max_span);
}

namespace {

// Reads never return samples outside the accepted timestamp range (chunks of
// older versions may hold some): [start, end) is clipped to it.
void ClipToSampleRange(int64_t* start, int64_t* end) {
  *start = std::max(*start, kMinSampleTimestamp);
  *end = std::min(*end, kMaxSampleTimestamp + 1);
}

}  // namespace

absl::Status Store::ReadRaw(TagId tag, int64_t start, int64_t end, size_t max_samples,
                            codec::ChunkColumns* out) const {
  ClipToSampleRange(&start, &end);
  codec::ChunkColumns sealing, head;
  int64_t max_span = 0;
  // Each part is strictly increasing, so the first max_samples of the merge
  // are among the first max_samples of each: a page of a large head copies
  // only what it can return.
  RETURN_IF_ERROR(CopyUnsealed(tag, start, end, max_samples, &sealing, &head, &max_span));
  out->Reset(head.type);
  if (start >= end) return absl::OkStatus();
  std::vector<codec::ChunkColumns> parts;
  std::vector<uint64_t> chunk_ids;
  RETURN_IF_ERROR(
      chunk_store_->ReadChunks(tag, start, end, max_span, max_samples, &parts, &chunk_ids));
  // A merge widens the span in memory before its batch is written: when it
  // widened after CopyUnsealed, the read's view may hold the merged chunk
  // below where the read sought. Then again, from as far back as it is now.
  for (int64_t now = SpanNow(tag, max_span); now > max_span; now = SpanNow(tag, max_span)) {
    max_span = now;
    parts.clear();
    chunk_ids.clear();
    RETURN_IF_ERROR(
        chunk_store_->ReadChunks(tag, start, end, max_span, max_samples, &parts, &chunk_ids));
  }
  MergeParts(&parts, chunk_ids, &sealing, &head, out);
  if (max_samples != 0) engine::Truncate(max_samples, out);
  return absl::OkStatus();
}

namespace {

// Decode buffers reused by the scans of one thread: a 100-tag aggregate
// scans 100 tags, and fresh columns per tag cost more in malloc than the
// decoding. Capacity beyond kKeepSamples is given back after the scan.
struct ScanScratch {
  static constexpr size_t kKeepSamples = 1 << 16;
  bool in_use = false;  // a scan inside a scan's callback gets its own
  codec::ChunkColumns decoded;
  std::string held;
};
thread_local ScanScratch scan_scratch;

}  // namespace

absl::Status Store::ScanRaw(TagId tag, int64_t start, int64_t end,
                            absl::FunctionRef<absl::Status(const codec::ChunkColumns&)> fn) const {
  ClipToSampleRange(&start, &end);
  codec::ChunkColumns sealing, head;
  int64_t max_span = 0;
  RETURN_IF_ERROR(CopyUnsealed(tag, start, end, 0, &sealing, &head, &max_span));
  if (start >= end) return absl::OkStatus();
  // Unsealed samples not handed over yet: those at or after mem_from.
  int64_t mem_from = start;
  auto mem_min = [&] {
    int64_t m = kMaxTimestamp;
    for (const codec::ChunkColumns* c : {&sealing, &head}) {
      auto it = std::lower_bound(c->timestamps.begin(), c->timestamps.end(), mem_from);
      if (it != c->timestamps.end()) m = std::min(m, *it);
    }
    return m;
  };
  int64_t unsealed_min = mem_min();

  // Chunks come in min-ts order: a chunk overlaps an earlier one only if it
  // starts at or before the latest end seen so far, so each chunk is held
  // until the next key shows that. A chunk that overlaps nothing goes to fn
  // as decoded. A run of overlapping chunks (or chunks with unsealed samples
  // inside their span) is decoded with versions and merged as ReadRaw does,
  // with the unsealed samples up to the run's end, and handed over as one
  // piece.
  bool merging = false;
  std::vector<codec::ChunkColumns> parts;
  std::vector<uint64_t> chunk_ids;
  ScanScratch own_scratch;
  ScanScratch& scratch = scan_scratch.in_use ? own_scratch : scan_scratch;
  scratch.in_use = true;
  absl::Cleanup release = [&scratch] {
    scratch.in_use = false;
    if (scratch.decoded.timestamps.capacity() > ScanScratch::kKeepSamples) {
      scratch.decoded = codec::ChunkColumns();
    }
  };
  codec::ChunkColumns& decoded = scratch.decoded;
  std::string& held = scratch.held;  // bytes of the held chunk (the iterator moves on)
  codec::ChunkColumns clipped, merged, sealing_part, head_part;
  engine::ChunkKeyParts held_key{};
  codec::ChunkSummary held_summary;
  int64_t seen_hi = kMinTimestamp;  // latest max ts of the chunks seen
  // Merges the run with the unsealed samples in [mem_from, upto) and hands
  // the result over.
  auto flush_run = [&](int64_t upto) -> absl::Status {
    sealing_part.Reset(sealing.type);
    head_part.Reset(head.type);
    engine::AppendRange(sealing, mem_from, upto, &sealing_part);
    engine::AppendRange(head, mem_from, upto, &head_part);
    mem_from = upto;
    unsealed_min = mem_min();
    merged.Reset(head.type);
    MergeParts(&parts, chunk_ids, &sealing_part, &head_part, &merged);
    parts.clear();
    chunk_ids.clear();
    return merged.size() > 0 ? fn(merged) : absl::OkStatus();
  };
  auto take_held = [&](int64_t next_min_ts) -> absl::Status {
    const bool overlaps_next = next_min_ts <= seen_hi;
    if (overlaps_next || unsealed_min <= seen_hi) merging = true;
    codec::DecodeOptions options;
    options.verify_checksum = false;  // SummarizeChunk verified these bytes
    options.versions = merging;
    absl::Status st = codec::DecodeChunk(held, &decoded, options);
    if (!st.ok()) {
      return absl::DataLossError(absl::StrCat("tag id ", tag, ": chunk ", held_key.chunk_id,
                                              " (min ts ", held_key.min_ts, "): ", st.message()));
    }
    if (!merging) {
      if (held_summary.min_timestamp >= start && held_summary.max_timestamp < end) {
        return fn(decoded);
      }
      clipped.Reset(decoded.type);
      engine::AppendRange(decoded, start, end, &clipped);
      return clipped.size() > 0 ? fn(clipped) : absl::OkStatus();
    }
    codec::ChunkColumns part;
    part.Reset(decoded.type);
    engine::AppendRange(decoded, start, end, &part);
    if (part.size() > 0) {
      parts.push_back(std::move(part));
      chunk_ids.push_back(held_key.chunk_id);
    }
    if (overlaps_next) return absl::OkStatus();
    merging = false;  // the run ends with this chunk
    return flush_run(seen_hi < end ? seen_hi + 1 : end);
  };

  ChunkRange range(*db_, tag, start, end, max_span);
  // The iterator's view is fixed now: a merge that widened the span (in
  // memory, before its write) after CopyUnsealed and is in the view shows
  // in the span read now, so the seek goes back far enough for its chunk.
  range.lower = engine::ChunkSeekKey(tag, SaturatingSub(start, SpanNow(tag, max_span)));
  rocksdb::Iterator* it = range.it.get();
  bool holding = false;
  for (it->Seek(range.lower); it->Valid(); it->Next()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
    std::string_view bytes(it->value().data(), it->value().size());
    absl::StatusOr<codec::ChunkSummary> summary = codec::SummarizeChunk(bytes);
    if (!summary.ok()) {
      return absl::DataLossError(absl::StrCat("tag id ", tag, ": chunk ", key.chunk_id, " (min ts ",
                                              key.min_ts, "): ", summary.status().message()));
    }
    if (summary->max_timestamp < start) continue;
    if (holding) RETURN_IF_ERROR(take_held(key.min_ts));
    seen_hi = std::max(seen_hi, summary->max_timestamp);
    held.assign(bytes);
    held_key = key;
    held_summary = *summary;
    holding = true;
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan chunks"));
  if (holding) RETURN_IF_ERROR(take_held(kMaxTimestamp));
  // The unsealed samples after every chunk.
  return unsealed_min < end ? flush_run(end) : absl::OkStatus();
}

absl::Status Store::ReadRollups(TagId tag, int64_t width, int64_t start, int64_t end,
                                std::vector<std::pair<int64_t, engine::Rollup>>* out) const {
  return rollups_->Read(tag, width, start, end, out);
}

int64_t Store::UnsealedFrom(TagId tag) const {
  absl::MutexLock l(&mu_);
  TagState* t = FindTag(tag);
  if (t == nullptr) return kMaxTimestamp;
  PartsShareMu(mu_, *catalog_, *heads_);
  return heads_->UnsealedFrom(*t, t->chunk.rollup_dirty_min);
}

absl::Status Store::Latest(TagId tag, codec::ChunkColumns* out) const {
  int64_t from = kMinTimestamp;
  int64_t max_span = 0;
  uint32_t applies = 0;
  {
    absl::MutexLock l(&mu_);
    TagState* t = FindTag(tag);
    if (t == nullptr) return absl::NotFoundError(absl::StrCat("tag id ", tag, " not found"));
    PartsShareMu(mu_, *catalog_, *heads_);
    if (const codec::ChunkColumns* latest = heads_->CachedLatest(*t)) {
      *out = *latest;
      return absl::OkStatus();
    }
    max_span = t->chunk.max_span;
    applies = heads_->LatestTicket(*t);
  }
  // Not cached yet: the newest chunk by min ts bounds where the newest
  // sample can be.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->chunks()));
  // The newest chunk starting inside the accepted range: one an older
  // version stored past it (a sample after 2100) is never read.
  it->SeekForPrev(engine::ChunkSeekKey(tag, kMaxSampleTimestamp + 1));
  if (it->Valid() && it->key().size() == engine::kChunkKeySize) {
    engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
    if (key.tag == tag) from = SaturatingSub(key.min_ts, max_span);
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "seek newest chunk"));
  codec::ChunkColumns all;
  RETURN_IF_ERROR(ReadRaw(tag, from, kMaxTimestamp, 0, &all));
  out->Reset(all.type);
  if (all.size() > 0) engine::AppendSample(all, all.size() - 1, out);
  absl::MutexLock l(&mu_);
  TagState* t = FindTag(tag);
  // Cache it unless a write landed meanwhile (the next call looks again).
  PartsShareMu(mu_, *catalog_, *heads_);
  if (t != nullptr) heads_->CacheLatest(*t, applies, *out);
  return absl::OkStatus();
}

absl::Status Store::LatestMany(
    const std::vector<TagId>& tags,
    const std::function<void(size_t, const codec::ChunkColumns&)>& fn) const {
  std::vector<size_t> missing;
  {
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    for (size_t i = 0; i < tags.size(); ++i) {
      TagState* t = FindTag(tags[i]);
      if (t == nullptr) return absl::NotFoundError(absl::StrCat("tag id ", tags[i], " not found"));
      const codec::ChunkColumns* latest = heads_->CachedLatest(*t);
      if (latest == nullptr) {
        missing.push_back(i);
        continue;
      }
      fn(i, *latest);
    }
  }
  // The rest are looked up (and cached) one by one.
  codec::ChunkColumns one;
  for (size_t i : missing) {
    RETURN_IF_ERROR(Latest(tags[i], &one));
    fn(i, one);
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, TagId>> Store::MatchTags(
    std::string_view glob, size_t limit, const CancelledFn& cancelled,
    const std::function<bool(std::string_view)>& keep) const {
  std::vector<std::pair<std::string, TagId>> out;
  catalog_->Scan("", cancelled, [&](std::string_view name, const TagState& t) {
    if (out.size() == limit) return false;
    if ((glob.empty() || GlobMatch(glob, name)) && (!keep || keep(name))) {
      out.emplace_back(name, t.id());
    }
    return true;
  });
  return out;
}

absl::Status Store::Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const {
  return BeforeMatching(tag, ts, nullptr, out);
}

absl::Status Store::BeforeMatching(TagId tag, int64_t ts, const SampleFilter& keep,
                                   codec::ChunkColumns* out) const {
  bool typed = false;
  // Each round reads [from, ts) and looks back through it; when nothing
  // there is kept, the next round looks before `from`.
  while (true) {
    // The newest sample before ts is in the newest chunk that starts before
    // ts, in a chunk overlapping it (within the tag's widest span), or in
    // memory.
    int64_t from = kMaxTimestamp;
    int64_t max_span = 0;
    {
      absl::MutexLock l(&mu_);
      TagState* t = FindTag(tag);
      if (t == nullptr) return absl::NotFoundError(absl::StrCat("tag id ", tag, " not found"));
      max_span = t->chunk.max_span;
      PartsShareMu(mu_, *catalog_, *heads_);
      from = heads_->UnsealedBefore(*t, ts);
    }
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(rocksdb::ReadOptions(), db_->chunks()));
    it->SeekForPrev(engine::ChunkSeekKey(tag, ts));
    if (it->Valid() && it->key().size() == engine::kChunkKeySize) {
      engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
      if (key.tag == tag && key.min_ts < ts) from = SaturatingSub(key.min_ts, max_span);
    }
    RETURN_IF_ERROR(engine::FromRocks(it->status(), "seek chunk before"));
    codec::ChunkColumns part;
    if (from < ts) {
      RETURN_IF_ERROR(ReadRaw(tag, from, ts, 0, &part));
    } else if (!typed) {
      RETURN_IF_ERROR(ReadRaw(tag, ts, ts, 0, &part));  // just the type
    }
    if (!typed) {
      out->Reset(part.type);
      typed = true;
    }
    for (size_t i = part.size(); i-- > 0;) {
      if (!keep || keep(part, i)) {
        engine::AppendSample(part, i, out);
        return absl::OkStatus();
      }
    }
    if (from >= ts || part.size() == 0) return absl::OkStatus();
    ts = part.timestamps.front();  // every sample in [that, ts) was looked at
  }
}

}  // namespace historian
