// Store: opening, recovery and the catalog. The write path is in
// store_write.cc, reads in store_read.cc, sealing in store_seal.cc.
#include "storage/store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/core/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/catalog/glob.h"
#include "storage/catalog/tag_rules.h"
#include "storage/engine/column_families.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"
#include "storage/store_impl.h"

namespace historian {

using engine::FromRocks;
using engine::TagInfo;

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  {
    absl::MutexLock l(&impl_->stop_mu);
    impl_->stop = true;
  }
  if (impl_->sealer.joinable()) impl_->sealer.join();
}

const StoreOptions& Store::options() const { return impl_->options; }

absl::StatusOr<std::unique_ptr<Store>> Store::Open(StoreOptions options) {
  if (options.site.empty() || options.site.size() > 64 || options.site[0] == '~') {
    return absl::InvalidArgumentError("site: must be 1..64 bytes, not starting with '~'");
  }
  for (const std::string& peer : options.peers) {
    if (peer == options.site || peer.empty() || peer[0] == '~') {
      return absl::InvalidArgumentError(absl::StrCat("peers: bad peer site '", peer, "'"));
    }
    if ((engine::TagIdFromName(peer) & 0xff) == (engine::TagIdFromName(options.site) & 0xff)) {
      // Versions carry an 8-bit site tag as the last tie-break.
      return absl::InvalidArgumentError(
          absl::StrCat("peers: site ids '", peer, "' and '", options.site,
                       "' share the 8-bit site tag that breaks version ties; rename one"));
    }
  }
  if (options.chunk_max_samples == 0 || options.chunk_max_samples > codec::kMaxSamplesPerChunk) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_max_samples: must be 1..", codec::kMaxSamplesPerChunk));
  }
  if (!options.now_ns) {
    options.now_ns = [] { return absl::GetCurrentTimeNanos(); };
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->site_tag = static_cast<uint8_t>(engine::TagIdFromName(impl->options.site) & 0xff);
  ASSIGN_OR_RETURN(impl->db, engine::RocksDb::Open(impl->options.path));
  RETURN_IF_ERROR(impl->LoadState());
  RETURN_IF_ERROR(impl->LoadTombstones());
  RETURN_IF_ERROR(impl->LoadCatalog());
  RETURN_IF_ERROR(impl->LoadOverlaps());
  RETURN_IF_ERROR(impl->CheckSpans());
  RETURN_IF_ERROR(impl->ReplayLog());
  RETURN_IF_ERROR(impl->StartRestoreEpoch());
  {
    absl::MutexLock pass(&impl->seal_mu);
    RETURN_IF_ERROR(impl->RecomputeDirtyRollups());
    RETURN_IF_ERROR(impl->RunDuePurges());  // left by a crash
  }
  Impl* raw = impl.get();
  impl->sealer = std::thread([raw] { raw->SealerLoop(); });
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

absl::Status Store::Impl::CheckSchemaVersion() {
  rocksdb::DB* rdb = db->db();
  std::string version;
  rocksdb::Status s =
      rdb->Get(rocksdb::ReadOptions(), db->state(), engine::kSchemaVersionKey, &version);
  if (s.IsNotFound()) {  // a new dir, or one from before the key: schema 1
    return FromRocks(rdb->Put(rocksdb::WriteOptions(), db->state(), engine::kSchemaVersionKey,
                              engine::kSchemaVersion),
                     "write schema version");
  }
  RETURN_IF_ERROR(FromRocks(s, "read schema version"));
  if (version != engine::kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", options.path, ": ", engine::kSchemaVersionKey, " is \"",
                     absl::CHexEscape(version), "\"; this historiand knows only schema version ",
                     engine::kSchemaVersion, " (written by a newer version?)"));
  }
  return absl::OkStatus();
}

absl::Status Store::Impl::LoadState() {
  rocksdb::DB* rdb = db->db();
  std::string value;
  rocksdb::Status s = rdb->Get(rocksdb::ReadOptions(), db->state(), engine::kSiteKey, &value);
  if (s.IsNotFound()) {
    RETURN_IF_ERROR(
        FromRocks(rdb->Put(rocksdb::WriteOptions(), db->state(), engine::kSiteKey, options.site),
                  "write site id"));
  } else if (!s.ok()) {
    return FromRocks(s, "read site id");
  } else if (value != options.site) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", options.path, " belongs to site '", value, "', not '", options.site, "'"));
  }
  RETURN_IF_ERROR(CheckSchemaVersion());
  auto read_u64 = [&](const char* key, uint64_t* out) -> absl::Status {
    std::string v;
    rocksdb::Status st = rdb->Get(rocksdb::ReadOptions(), db->state(), key, &v);
    if (st.IsNotFound()) return absl::OkStatus();
    RETURN_IF_ERROR(FromRocks(st, key));
    if (v.size() != 8) return absl::DataLossError(absl::StrCat("state ", key, ": bad size"));
    *out = engine::GetBigEndian64(v.data());
    return absl::OkStatus();
  };
  uint64_t next_chunk = 1, seq = 1;
  RETURN_IF_ERROR(read_u64(engine::kNextChunkIdKey, &next_chunk));
  RETURN_IF_ERROR(read_u64(engine::kNextSeqKey, &seq));
  next_chunk_id = next_chunk;
  absl::MutexLock l(&mu);
  next_seq = seq;
  // Cursors of other origins and what each peer has applied of ours.
  std::unique_ptr<rocksdb::Iterator> it(rdb->NewIterator(rocksdb::ReadOptions(), db->state()));
  for (const char* prefix : {"cursor/", "peer_acked/"}) {
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (it->value().size() != 8) continue;
      std::string name = it->key().ToString().substr(std::strlen(prefix));
      uint64_t v = engine::GetBigEndian64(it->value().data());
      if (prefix[0] == 'c') {
        applied_seq[name] = v;
      } else {
        peer_acked[name] = v;
      }
    }
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "load cursors"));
  s = rdb->Get(rocksdb::ReadOptions(), db->state(), engine::kSeqHolesKey, &value);
  if (s.ok()) {
    if (value.size() % 16 != 0) return absl::DataLossError("state node/seq_holes: bad size");
    for (size_t i = 0; i < value.size(); i += 16) {
      seq_holes[engine::GetBigEndian64(value.data() + i)] =
          engine::GetBigEndian64(value.data() + i + 8);
    }
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "read node/seq_holes");
  }
  return absl::OkStatus();
}

absl::Status Store::Impl::StartRestoreEpoch() {
  const std::filesystem::path marker = std::filesystem::path(options.path) / kRestoreMarkerFile;
  std::error_code ec;
  if (!std::filesystem::exists(marker, ec)) return absl::OkStatus();
  absl::MutexLock l(&mu);
  const uint64_t from = next_seq, to = next_seq + kRestoreSequenceGap;
  seq_holes[from] = to;
  std::string holes, next;
  for (const auto& [start, end] : seq_holes) {
    engine::PutBigEndian64(start, &holes);
    engine::PutBigEndian64(end, &holes);
  }
  engine::PutBigEndian64(to, &next);
  rocksdb::WriteBatch batch;
  batch.Put(db->state(), engine::kSeqHolesKey, holes);
  batch.Put(db->state(), engine::kNextSeqKey, next);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  RETURN_IF_ERROR(FromRocks(db->db()->Write(wo, &batch), "start restore epoch"));
  next_seq = to;
  // A crash before the removal only skips another gap at the next open.
  std::filesystem::remove(marker, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("remove ", marker.string(), " after a restore: ", ec.message()));
  }
  std::fprintf(stderr,
               "historiand: opened a restored backup: own log sequences %llu..%llu are skipped "
               "so new writes never reuse numbers of writes made after the backup; run "
               "`historian verify --peer <peer> --repair` to fetch what the backup missed\n",
               static_cast<unsigned long long>(from), static_cast<unsigned long long>(to - 1));
  return absl::OkStatus();
}

absl::Status Store::Impl::LoadCatalog() {
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->catalog()));
  absl::MutexLock l(&mu);
  PartsShareMu();
  RETURN_IF_ERROR(catalog.Load(it.get(), [&](TagState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::string span;
    if (db->db()
            ->Get(rocksdb::ReadOptions(), db->state(), engine::SpanKey(state.info.id), &span)
            .ok() &&
        span.size() == 8) {
      state.max_span = static_cast<int64_t>(engine::GetBigEndian64(span.data()));
    }
    max_version_seen = std::max(max_version_seen, state.info.version);
    if (state.info.retention_ns > 0) tags_with_retention.insert(state.info.id);
  }));
  return FromRocks(it->status(), "load catalog");
}

std::string EncodeTimeRange(int64_t min_ts, int64_t max_ts) {
  std::string v;
  engine::PutBigEndian64(engine::OrderedFromSigned(min_ts), &v);
  engine::PutBigEndian64(engine::OrderedFromSigned(max_ts), &v);
  return v;
}

bool DecodeTimeRange(std::string_view value, int64_t* min_ts, int64_t* max_ts) {
  if (value.size() != 16) return false;
  *min_ts = engine::SignedFromOrdered(engine::GetBigEndian64(value.data()));
  *max_ts = engine::SignedFromOrdered(engine::GetBigEndian64(value.data() + 8));
  return true;
}

void Store::Impl::NoteOverlap(TagId id, int64_t min_ts, int64_t max_ts) {
  TagState* t = FindTag(id);
  if (t == nullptr) return;
  t->overlap_min = std::min(t->overlap_min, min_ts);
  t->overlap_max = std::max(t->overlap_max, max_ts);
  tags_overlapping.insert(id);
}

absl::Status Store::Impl::LoadOverlaps() {
  std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(rocksdb::ReadOptions(), db->state()));
  const std::string prefix = "overlap/";
  absl::MutexLock l(&mu);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    int64_t min_ts, max_ts;
    if (it->key().size() != prefix.size() + 8 ||
        !DecodeTimeRange({it->value().data(), it->value().size()}, &min_ts, &max_ts)) {
      continue;
    }
    // A deleted tag's range finds no tag, or no chunks to rewrite (the pass
    // then drops the key).
    NoteOverlap(engine::GetBigEndian64(it->key().data() + prefix.size()), min_ts, max_ts);
  }
  return FromRocks(it->status(), "load overlap ranges");
}

absl::Status Store::Impl::CheckSpans() {
  rocksdb::DB* rdb = db->db();
  std::string value;
  rocksdb::Status s =
      rdb->Get(rocksdb::ReadOptions(), db->state(), engine::kSpansCheckedKey, &value);
  if (s.ok()) return absl::OkStatus();
  if (!s.IsNotFound()) return FromRocks(s, "read node/spans_checked");
  // Data dirs of older versions may hold chunks, written by an overlap
  // rewrite, wider than the tag's recorded span: reads seeking from
  // start - span would miss them. Headers only, once.
  absl::flat_hash_map<TagId, int64_t> widest;
  std::unique_ptr<rocksdb::Iterator> it(rdb->NewIterator(rocksdb::ReadOptions(), db->chunks()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    absl::StatusOr<codec::ChunkSummary> summary =
        codec::SummarizeChunk({it->value().data(), it->value().size()});
    if (!summary.ok()) continue;  // left for an operator, as everywhere
    const uint64_t span = static_cast<uint64_t>(summary->max_timestamp) -
                          static_cast<uint64_t>(summary->min_timestamp);
    int64_t& w = widest[engine::ParseChunkKey({it->key().data(), it->key().size()}).tag];
    w = std::max(w, static_cast<int64_t>(std::min<uint64_t>(span, kMaxTimestamp)));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scan chunk spans"));
  rocksdb::WriteBatch batch;
  {
    absl::MutexLock l(&mu);
    for (const auto& [id, span] : widest) {
      TagState* t = FindTag(id);
      if (t == nullptr || span <= t->max_span) continue;
      t->max_span = span;
      std::string v;
      engine::PutBigEndian64(static_cast<uint64_t>(span), &v);
      batch.Put(db->state(), engine::SpanKey(id), v);
    }
  }
  batch.Put(db->state(), engine::kSpansCheckedKey, "1");
  return FromRocks(rdb->Write(rocksdb::WriteOptions(), &batch), "write chunk spans");
}

void Store::Impl::AddTagState(std::unique_ptr<TagState> state) {
  PartsShareMu();
  if (state->info.retention_ns > 0) tags_with_retention.insert(state->info.id);
  catalog.Add(std::move(state));
}

void Store::Impl::RemoveTagState(std::string_view name) {
  PartsShareMu();
  const TagState* t = catalog.Remove(name);
  if (t == nullptr) return;
  const TagId id = t->info.id;
  heads.Forget(id);
  tags_overlapping.erase(id);
  tags_merge_due.erase(id);
  tags_with_retention.erase(id);
}

absl::Status Store::Impl::ReplayLog() {
  // Every log entry not yet sealed for a tag goes back into that tag's head.
  // "sealed/<tag><origin>" holds the last sequence of origin sealed for tag.
  std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(rocksdb::ReadOptions(), db->log()));
  absl::flat_hash_map<std::string, uint64_t> sealed_cache;
  absl::MutexLock l(&mu);
  engine::LogEntry entry;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view origin_view;
    uint64_t seq = 0;
    std::string_view key(it->key().data(), it->key().size());
    if (!engine::ParseLogKey(key, &origin_view, &seq)) {
      return absl::DataLossError("log: malformed key");
    }
    std::string origin(origin_view);
    RETURN_IF_ERROR(
        engine::DecodeLogEntry(std::string_view(it->value().data(), it->value().size()), &entry));
    const uint64_t entry_samples = entry.NumSamples();
    // Drop the samples of tags already sealed past this entry.
    std::vector<engine::SeriesData> keep;
    for (auto& s : entry.series) {
      std::string skey = engine::SealedSeqKey(s.tag, origin);
      auto cached = sealed_cache.find(skey);
      uint64_t sealed = 0;
      if (cached != sealed_cache.end()) {
        sealed = cached->second;
      } else {
        std::string v;
        if (db->db()->Get(rocksdb::ReadOptions(), db->state(), skey, &v).ok() && v.size() == 8) {
          sealed = engine::GetBigEndian64(v.data());
        }
        sealed_cache[skey] = sealed;
      }
      if (seq > sealed) keep.push_back(std::move(s));
    }
    entry.series = std::move(keep);
    ApplyToHead(origin, seq, entry);
    if (origin == options.site) {
      next_seq = std::max(next_seq, seq + 1);
      own_cum_samples += entry_samples;
      own_log.push_back({seq, static_cast<int64_t>(entry.version >> 8), it->value().size(),
                         entry_samples, own_cum_samples});
      own_log_bytes += it->value().size();
    }
    last_version_seconds = std::max(last_version_seconds, entry.version >> 8);
  }
  return FromRocks(it->status(), "replay log");
}

absl::Status CheckSampleTimestamps(const std::vector<engine::SeriesData>& series) {
  for (size_t i = 0; i < series.size(); ++i) {
    const std::vector<int64_t>& ts = series[i].cols.timestamps;
    for (size_t j = 0; j < ts.size(); ++j) {
      if (IsSampleTimestamp(ts[j])) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "series[", i, "].timestamps[", j, "]: ", ts[j], " is outside [", kMinSampleTimestamp,
          ", ", kMaxSampleTimestamp, "] ns (1900-01-01T00:00:00Z up to 2100-01-01T00:00:00Z)"));
    }
  }
  return absl::OkStatus();
}

size_t Store::Impl::DropOutOfRange(codec::ChunkColumns* cols, TagId tag, const char* where) {
  const std::vector<int64_t>& ts = cols->timestamps;
  if (std::all_of(ts.begin(), ts.end(), IsSampleTimestamp)) return 0;
  const int64_t example = *std::find_if_not(ts.begin(), ts.end(), IsSampleTimestamp);
  codec::ChunkColumns kept;
  kept.Reset(cols->type);
  for (size_t i = 0; i < cols->size(); ++i) {
    if (IsSampleTimestamp(cols->timestamps[i])) engine::AppendSample(*cols, i, &kept);
  }
  const size_t dropped = cols->size() - kept.size();
  *cols = std::move(kept);
  const uint64_t total = samples_out_of_range.fetch_add(dropped) + dropped;
  // Logged when the total reaches a power of two: visible, never a flood.
  if ((total & (total - 1)) == 0 || dropped >= total / 2) {
    std::fprintf(stderr,
                 "historian: skipped %zu sample(s) of tag id %llu with timestamps outside "
                 "[%lld, %lld] ns (%s; e.g. %lld); %llu skipped so far\n",
                 dropped, static_cast<unsigned long long>(tag),
                 static_cast<long long>(kMinSampleTimestamp),
                 static_cast<long long>(kMaxSampleTimestamp), where,
                 static_cast<long long>(example), static_cast<unsigned long long>(total));
  }
  return dropped;
}

void Store::Impl::DropOutOfRange(std::vector<engine::SeriesData>* series, const char* where) {
  for (engine::SeriesData& s : *series) DropOutOfRange(&s.cols, s.tag, where);
}

void Store::Impl::ApplyToHead(const std::string& origin, uint64_t seq,
                              const engine::LogEntry& entry) {
  PartsShareMu();
  int64_t now = NowNs();
  const std::string* origin_name = InternOrigin(origin);
  max_version_seen = std::max(max_version_seen, entry.version);
  codec::ChunkColumns in_range, kept;
  for (const auto& series : entry.series) {
    if (origin == kRepairOrigin) {  // repaired samples keep their own versions
      for (Version v : series.cols.versions) max_version_seen = std::max(max_version_seen, v);
    }
    TagState* tag = FindTag(series.tag);
    if (tag == nullptr || series.cols.type != tag->info.type || series.cols.size() == 0) continue;
    // Entries written before the timestamp range was checked (log replay),
    // or sent by a peer of an older version: their other samples still go in.
    const codec::ChunkColumns* cols = &series.cols;
    if (!std::all_of(cols->timestamps.begin(), cols->timestamps.end(), IsSampleTimestamp)) {
      in_range = series.cols;
      DropOutOfRange(&in_range, series.tag, "log entry");
      if (in_range.size() == 0) continue;
      cols = &in_range;
    }
    // A deleted incarnation's samples never come back: a late entry, a
    // repair, the log replay.
    if (DropTombstoned(series.tag, *cols, &kept)) {
      if (kept.size() == 0) continue;
      cols = &kept;
    }
    heads.Append(series.tag, *tag, tag->info.type, *cols, origin_name, seq, now);
  }
  uint64_t& applied = applied_seq[origin];
  applied = std::max(applied, seq);
}

Version Store::Impl::NextVersion() {
  // Hybrid logical clock in seconds: never goes back, even if the wall clock
  // does, and never behind a version this node has seen from a peer.
  uint64_t wall = static_cast<uint64_t>(std::max<int64_t>(NowNs(), 0) / 1000000000);
  last_version_seconds = std::max(last_version_seconds, wall);
  // Above every tombstone seen, also one stamped this second.
  if (((last_version_seconds << 8) | site_tag) <= version_floor) {
    last_version_seconds = (version_floor >> 8) + 1;
  }
  const Version v = (last_version_seconds << 8) | site_tag;
  max_version_seen = std::max(max_version_seen, v);
  return v;
}

// --- Catalog ---

absl::StatusOr<TagInfo> Store::CreateTag(TagInfo info) {
  RETURN_IF_ERROR(ValidateNewTag(info));
  info.id = engine::TagIdFromName(info.name);
  info.origin_site = impl_->options.site;
  info.created_ns = impl_->NowNs();
  {
    absl::MutexLock l(&impl_->mu);
    impl_->PartsShareMu();
    // One creation of a name at a time; a second waits and then finds it.
    RETURN_IF_ERROR(impl_->catalog.Reserve(info));
    info.version = impl_->NextVersion();
  }
  engine::LogEntry entry;
  entry.version = info.version;
  entry.catalog_upserts.push_back(info);
  absl::Status s = impl_->SubmitCatalog(std::move(entry));
  absl::MutexLock l(&impl_->mu);
  impl_->PartsShareMu();
  impl_->catalog.EndCreating({info});
  RETURN_IF_ERROR(s);
  return info;
}

bool Store::HasTag(std::string_view name) const { return impl_->catalog.Has(name); }

absl::StatusOr<TagInfo> Store::GetTag(std::string_view name) const {
  return impl_->catalog.Get(name);
}

absl::StatusOr<TagInfo> Store::UpdateTag(const TagInfo& update) {
  RETURN_IF_ERROR(ValidateTagUpdate(update));
  TagInfo info;
  {
    absl::MutexLock l(&impl_->mu);
    const TagState* t = impl_->FindTagByName(update.name);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat("tag '", update.name, "' not found"));
    }
    info = t->info;
    RETURN_IF_ERROR(MergeTagUpdate(update, &info));
    info.version = impl_->NextVersion();
  }
  engine::LogEntry entry;
  entry.version = info.version;
  entry.catalog_upserts.push_back(info);
  RETURN_IF_ERROR(impl_->SubmitCatalog(std::move(entry)));
  return GetTag(info.name);
}

ListTagsResult Store::ListTags(std::string_view glob,
                               const std::map<std::string, std::string>& attributes,
                               std::string_view page_token, size_t page_size,
                               const CancelledFn& cancelled) const {
  ListTagsResult out;
  out.cancelled =
      impl_->catalog.Scan(page_token, cancelled, [&](const std::string& name, const TagState& t) {
        if (!glob.empty() && !GlobMatch(glob, name)) return true;
        const TagInfo& info = t.info;
        bool attrs_ok = std::all_of(attributes.begin(), attributes.end(), [&](const auto& kv) {
          auto a = info.attributes.find(kv.first);
          return a != info.attributes.end() && a->second == kv.second;
        });
        if (!attrs_ok) return true;
        if (out.tags.size() == page_size) {
          out.next_page_token = out.tags.back().name;
          return false;
        }
        out.tags.push_back(info);
        return true;
      });
  return out;
}

absl::Status Store::CreateTagsForWrite(
    const std::vector<std::pair<std::string, ValueType>>& wanted) {
  if (!impl_->options.implicit_tags) return absl::OkStatus();
  engine::LogEntry entry;
  {
    absl::MutexLock l(&impl_->mu);
    impl_->PartsShareMu();
    entry.version = impl_->NextVersion();
    for (const auto& [name, type] : wanted) {
      if (type == ValueType::kUnspecified || type > ValueType::kString) continue;
      if (!engine::ValidateTagName(name).ok()) continue;
      if (impl_->FindTagByName(name) != nullptr || impl_->catalog.IsCreating(name)) continue;
      TagInfo info;
      info.name = name;
      info.type = type;
      info.id = engine::TagIdFromName(name);
      if (impl_->FindTag(info.id) != nullptr) continue;  // a clash, reported one by one
      info.origin_site = impl_->options.site;
      info.created_ns = impl_->NowNs();
      info.version = entry.version;
      impl_->catalog.BeginCreating(info.name);
      entry.catalog_upserts.push_back(std::move(info));
    }
  }
  if (entry.catalog_upserts.empty()) return absl::OkStatus();
  absl::Status s = impl_->SubmitCatalog(entry);
  absl::MutexLock l(&impl_->mu);
  impl_->PartsShareMu();
  impl_->catalog.EndCreating(entry.catalog_upserts);
  return s;
}

absl::StatusOr<TagInfo> Store::ResolveTagForWrite(std::string_view name, ValueType inferred) {
  if (TagInfo info; impl_->catalog.Lookup(name, &info)) return info;
  RETURN_IF_ERROR(engine::ValidateTagName(name));
  if (!impl_->options.implicit_tags) {
    return absl::NotFoundError(
        absl::StrCat("tag '", std::string(name),
                     "' not found and implicit tag creation is off (--implicit_tags=false)"));
  }
  TagInfo info;
  info.name = std::string(name);
  info.type = inferred;
  absl::StatusOr<TagInfo> created = CreateTag(std::move(info));
  if (absl::IsAlreadyExists(created.status())) return GetTag(name);  // lost a race
  return created;
}

StoreStats Store::Stats() const {
  StoreStats stats;
  absl::MutexLock l(&impl_->mu);
  impl_->PartsShareMu();
  stats.tags = impl_->catalog.size();
  // Only tags in memory hold buffers.
  HeadMemory memory;
  for (TagId id : impl_->heads.tags_in_memory()) {
    if (const TagState* t = impl_->FindTag(id)) impl_->heads.AddMemory(*t, &memory);
  }
  stats.head_samples = memory.samples;
  stats.head_bytes = memory.bytes;
  stats.head_tags = memory.tags;
  stats.chunks_sealed = impl_->chunks_sealed.load();
  stats.log_entries_trimmed = impl_->log_trimmed.load();
  stats.chunks_expired = impl_->chunks_expired.load();
  stats.chunks_rewritten = impl_->chunks_rewritten.load();
  stats.chunks_merged = impl_->chunks_merged.load();
  stats.samples_out_of_range = impl_->samples_out_of_range.load();
  stats.own_sequence = impl_->next_seq - 1;
  stats.own_log_entries = impl_->own_log.size();
  stats.own_log_bytes = impl_->own_log_bytes;
  stats.catalog_conflicts = impl_->catalog.conflicts();
  return stats;
}

absl::Status Store::Close() {
  {
    absl::MutexLock l(&impl_->stop_mu);
    impl_->stop = true;
  }
  if (impl_->sealer.joinable()) impl_->sealer.join();
  {
    absl::MutexLock l(&impl_->mu);
    // Wait for writers in flight, then refuse new ones.
    impl_->DrainWriters();
    impl_->closed = true;
  }
  {
    absl::MutexLock pass(&impl_->seal_mu);
    RETURN_IF_ERROR(impl_->SealPass(/*force=*/true));
    RETURN_IF_ERROR(impl_->TrimLog());
  }
  return engine::FromRocks(impl_->db->db()->FlushWAL(/*sync=*/true), "flush WAL");
}

absl::Status Store::SealAll() {
  // The whole seal and trim under seal_mu: the sealer thread runs both too,
  // and TrimLog's cursors (trimmed_below) are seal_mu's.
  absl::MutexLock pass(&impl_->seal_mu);
  RETURN_IF_ERROR(impl_->SealPass(/*force=*/true));
  return impl_->TrimLog();
}

}  // namespace historian
