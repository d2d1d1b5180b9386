// ChunkStore: reading chunks (range scans, decode, merge by the version
// rule).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/chunks/chunk_store.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"

namespace historian {

ChunkRange::ChunkRange(const engine::RocksDb& db, TagId tag, int64_t start, int64_t end,
                       int64_t max_span)
    : lower(engine::ChunkSeekKey(tag, SaturatingSub(start, max_span))),
      upper(engine::ChunkSeekKey(tag, end)),
      upper_slice(upper) {
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  ro.prefix_same_as_start = true;
  it.reset(db.db()->NewIterator(ro, db.chunks()));
}

namespace {

// Distinct timestamps in `parts` (each strictly increasing).
size_t CountDistinct(const std::vector<codec::ChunkColumns>& parts) {
  std::vector<int64_t> all;
  for (const codec::ChunkColumns& p : parts) {
    all.insert(all.end(), p.timestamps.begin(), p.timestamps.end());
  }
  std::sort(all.begin(), all.end());
  return static_cast<size_t>(std::unique(all.begin(), all.end()) - all.begin());
}

}  // namespace

absl::Status ChunkStore::ReadChunks(TagId tag, int64_t start, int64_t end, int64_t max_span,
                                    size_t max_samples, std::vector<codec::ChunkColumns>* parts,
                                    std::vector<uint64_t>* chunk_ids) const {
  ChunkRange range(*db_, tag, start, end, max_span);
  rocksdb::Iterator* it = range.it.get();
  size_t collected = 0;
  // Samples of `collected` known to repeat a timestamp (the merge keeps one
  // of each): a lower bound, exact after the last CountDistinct.
  size_t repeated = 0;
  bool overlapping = false;  // a part starts at or before an earlier part's end
  int64_t collected_max_ts = kMinTimestamp;
  codec::ChunkColumns decoded;
  for (it->Seek(range.lower); it->Valid(); it->Next()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
    // Chunks come in min-ts order: once enough distinct samples are collected
    // and this chunk starts after all of them, no later chunk can add earlier
    // ones. Overlapping chunks (late data, corrections) repeat timestamps, so
    // count distinct ones then: the page must hold max_samples after the merge.
    if (max_samples != 0 && collected - repeated >= max_samples && key.min_ts > collected_max_ts) {
      if (overlapping) repeated = collected - CountDistinct(*parts);
      if (collected - repeated >= max_samples) break;
    }
    std::string_view bytes(it->value().data(), it->value().size());
    absl::StatusOr<codec::ChunkSummary> summary = codec::SummarizeChunk(bytes);
    absl::Status st = summary.status();
    if (st.ok()) {
      if (summary->max_timestamp < start) continue;
      st = codec::DecodeChunk(bytes, &decoded);
    }
    if (!st.ok()) {
      return absl::DataLossError(absl::StrCat("tag id ", tag, ": chunk ", key.chunk_id, " (min ts ",
                                              key.min_ts, "): ", st.message()));
    }
    codec::ChunkColumns part;
    part.Reset(decoded.type);
    // The first max_samples of the chunk's range: the merge's first
    // max_samples hold no more of it (each chunk is strictly increasing).
    engine::AppendRange(decoded, start, end, &part, max_samples);
    if (part.size() == 0) continue;
    if (collected > 0 && part.timestamps.front() <= collected_max_ts) overlapping = true;
    collected += part.size();
    collected_max_ts = std::max(collected_max_ts, part.timestamps.back());
    parts->push_back(std::move(part));
    chunk_ids->push_back(key.chunk_id);
  }
  return engine::FromRocks(it->status(), "scan chunks");
}

void MergeParts(std::vector<codec::ChunkColumns>* parts, const std::vector<uint64_t>& chunk_ids,
                const codec::ChunkColumns* sealing, const codec::ChunkColumns* head,
                codec::ChunkColumns* out) {
  bool ordered = true;
  int64_t last = kMinTimestamp;
  bool any = false;
  auto check = [&](const codec::ChunkColumns& c) {
    if (c.size() == 0) return;
    if (any && c.timestamps.front() <= last) ordered = false;
    last = c.timestamps.back();
    any = true;
  };
  for (const auto& p : *parts) check(p);
  if (sealing) check(*sealing);
  if (head) check(*head);
  if (!ordered) {
    // Precedence on equal versions follows application order: older chunks
    // first (chunk ids grow with each seal), then sealing, then head.
    std::vector<size_t> order(parts->size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return chunk_ids[a] < chunk_ids[b]; });
    std::vector<codec::ChunkColumns> sorted;
    for (size_t i : order) sorted.push_back(std::move((*parts)[i]));
    *parts = std::move(sorted);
  }
  for (const auto& p : *parts) engine::AppendSamples(p, 0, p.size(), out);
  if (sealing) engine::AppendSamples(*sealing, 0, sealing->size(), out);
  if (head) engine::AppendSamples(*head, 0, head->size(), out);
  if (!ordered) engine::Normalize(out);
}

absl::Status ChunkStore::ReadSealed(TagId tag, int64_t start, int64_t end, int64_t max_span,
                                    codec::ChunkColumns* out) const {
  std::vector<codec::ChunkColumns> parts;
  std::vector<uint64_t> chunk_ids;
  RETURN_IF_ERROR(ReadChunks(tag, start, end, max_span, 0, &parts, &chunk_ids));
  out->Reset(out->type);
  if (!parts.empty()) out->Reset(parts[0].type);
  MergeParts(&parts, chunk_ids, nullptr, nullptr, out);
  return absl::OkStatus();
}

}  // namespace historian
