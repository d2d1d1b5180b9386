// Store: opening, recovery and the catalog. The write path is in
// store_write.cc, reads in store_read.cc, sealing in store_seal.cc.
#include "storage/store.h"

#include <algorithm>
#include <cmath>
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
#include "storage/engine/version.h"
#include "storage/store_impl.h"

namespace historian {

using engine::FromRocks;
using engine::TagInfo;

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() { impl_->sealer->Stop(); }

const StoreOptions& Store::options() const { return impl_->options; }

absl::StatusOr<std::unique_ptr<Store>> Store::Open(StoreOptions options) {
  if (options.site.empty() || options.site.size() > 64 || options.site[0] == '~') {
    return absl::InvalidArgumentError("site: must be 1..64 bytes, not starting with '~'");
  }
  for (const std::string& peer : options.peers) {
    if (peer == options.site || peer.empty() || peer[0] == '~') {
      return absl::InvalidArgumentError(absl::StrCat("peers: bad peer site '", peer, "'"));
    }
    if (engine::SiteTag(peer) == engine::SiteTag(options.site)) {
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
  if (!options.logger) options.logger = LogToStderr;
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  ASSIGN_OR_RETURN(impl->db, engine::RocksDb::Open(impl->options.path));
  impl->chunk_store = std::make_unique<ChunkStore>(
      impl->db.get(), impl->mu,
      ChunkLimits{impl->options.chunk_max_samples,
                  absl::ToInt64Nanoseconds(impl->options.chunk_max_duration)},
      impl->options.logger);
  impl->rollups = std::make_unique<Rollups>(impl->db.get(), impl->chunk_store.get());
  impl->compactor =
      std::make_unique<Compactor>(impl->mu, impl->seal_mu, impl->db.get(), impl->chunk_store.get(),
                                  impl->rollups.get(), impl.get(), impl->options.now_ns);
  impl->sealer = std::make_unique<Sealer>(
      impl->mu, impl->seal_mu, impl->db.get(), impl->chunk_store.get(), impl->rollups.get(),
      impl->compactor.get(), impl.get(),
      Sealer::Options{impl->options.seal_interval, impl->options.now_ns, impl->options.logger});
  CommitLogOptions log_options;
  log_options.site = impl->options.site;
  log_options.site_tag = engine::SiteTag(impl->options.site);
  log_options.sync_writes = impl->options.sync_writes;
  log_options.client_dedupe_window = impl->options.client_dedupe_window;
  log_options.now_ns = impl->options.now_ns;
  impl->commit_log =
      std::make_unique<CommitLog>(impl->mu, impl->db.get(), std::move(log_options), impl.get());
  impl->log_trimmer =
      std::make_unique<LogTrimmer>(impl->seal_mu, impl->db.get(), impl->options.sync_writes);
  OwnLogOptions own_options;
  own_options.path = impl->options.path;
  own_options.site = impl->options.site;
  own_options.peers = impl->options.peers;
  own_options.log_retention_bytes = impl->options.log_retention_bytes;
  own_options.log_retention_age = impl->options.log_retention_age;
  own_options.now_ns = impl->options.now_ns;
  own_options.logger = impl->options.logger;
  impl->own_log = std::make_unique<OwnLog>(impl->mu, impl->db.get(), std::move(own_options),
                                           impl->commit_log.get());
  RETURN_IF_ERROR(impl->LoadState());
  RETURN_IF_ERROR(impl->LoadTombstones());
  RETURN_IF_ERROR(impl->LoadCatalog());
  RETURN_IF_ERROR(impl->LoadOverlaps());
  RETURN_IF_ERROR(impl->CheckSpans());
  RETURN_IF_ERROR(impl->ReplayLog());
  RETURN_IF_ERROR(impl->own_log->StartRestoreEpoch());
  {
    absl::MutexLock pass(&impl->seal_mu);
    RETURN_IF_ERROR(impl->RecomputeDirtyRollups());
    RETURN_IF_ERROR(impl->RunDuePurges());  // left by a crash
  }
  impl->sealer->Start();
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
  uint64_t next_chunk = 1;
  RETURN_IF_ERROR(read_u64(engine::kNextChunkIdKey, &next_chunk));
  chunk_store->set_next_chunk_id(next_chunk);
  // The next own sequence, cursors of other origins, restore holes.
  RETURN_IF_ERROR(commit_log->Load());
  // What each peer has applied of ours.
  return own_log->LoadPeerAcks();
}

absl::Status Store::Impl::LoadCatalog() {
  std::unique_ptr<rocksdb::Iterator> it(
      db->db()->NewIterator(rocksdb::ReadOptions(), db->catalog()));
  absl::MutexLock l(&mu);
  PartsShareMu();
  absl::Status spans;  // the first span/ key that could not be read
  RETURN_IF_ERROR(catalog.Load(it.get(), [&](TagState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    absl::StatusOr<int64_t> span = chunk_store->LoadSpan(state.info.id);
    if (span.ok()) {
      state.chunk.max_span = *span;
    } else if (spans.ok()) {
      spans = span.status();
    }
    tombstones.NoteVersion(state.info.version);
    if (state.info.retention_ns > 0) {
      compactor->mu().AssertHeld();  // the same mutex
      compactor->SetRetention(state.info.id, true);
    }
  }));
  RETURN_IF_ERROR(spans);
  return FromRocks(it->status(), "load catalog");
}

void Store::Impl::NoteOverlap(TagId id, int64_t min_ts, int64_t max_ts) {
  TagState* t = FindTag(id);
  if (t == nullptr) return;
  compactor->mu().AssertHeld();  // the same mutex
  compactor->NoteOverlap(id, &t->chunk, min_ts, max_ts);
}

absl::Status Store::Impl::LoadOverlaps() {
  absl::MutexLock l(&mu);
  // A deleted tag's range finds no tag, or no chunks to rewrite (the pass
  // then drops the key).
  return chunk_store->LoadOverlaps([&](TagId id, int64_t min_ts, int64_t max_ts) {
    mu.AssertHeld();
    NoteOverlap(id, min_ts, max_ts);
  });
}

absl::Status Store::Impl::CheckSpans() {
  return chunk_store->CheckSpans([&](TagId id) -> ChunkState* {
    mu.AssertHeld();  // CheckSpans calls this under chunk_store->mu(), which is mu
    TagState* t = FindTag(id);
    return t == nullptr ? nullptr : &t->chunk;
  });
}

void Store::Impl::AddTagState(std::unique_ptr<TagState> state) {
  PartsShareMu();
  compactor->mu().AssertHeld();  // the same mutex
  if (state->info.retention_ns > 0) compactor->SetRetention(state->info.id, true);
  catalog.Add(std::move(state));
}

void Store::Impl::RemoveTagState(std::string_view name) {
  PartsShareMu();
  const TagState* t = catalog.Remove(name);
  if (t == nullptr) return;
  const TagId id = t->info.id;
  heads.Forget(id);
  compactor->mu().AssertHeld();  // the same mutex
  compactor->ForgetTag(id);
}

absl::Status Store::Impl::ReplayLog() {
  // Every log entry not yet sealed for a tag goes back into that tag's head.
  // "sealed/<tag><origin>" holds the last sequence of origin sealed for tag.
  std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(rocksdb::ReadOptions(), db->log()));
  absl::flat_hash_map<std::string, uint64_t> sealed_cache;
  absl::MutexLock l(&mu);
  commit_log->mu().AssertHeld();  // the same mutex
  own_log->mu().AssertHeld();     // the same mutex
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
    commit_log->NoteReplayed(origin, seq, entry.version);
    if (origin == options.site) {
      own_log->Append(seq, static_cast<int64_t>(engine::VersionSeconds(entry.version)),
                      it->value().size(), entry_samples);
    }
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
    options.logger(
        LogSeverity::kWarning,
        absl::StrCat("skipped ", dropped, " sample(s) of tag id ", tag,
                     " with timestamps outside [", kMinSampleTimestamp, ", ", kMaxSampleTimestamp,
                     "] ns (", where, "; e.g. ", example, "); ", total, " skipped so far"));
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
  commit_log->mu().AssertHeld();  // the same mutex
  const std::string* origin_name = commit_log->InternOrigin(origin);
  tombstones.NoteVersion(entry.version);
  codec::ChunkColumns in_range, kept;
  for (const auto& series : entry.series) {
    if (origin == kRepairOrigin) {  // repaired samples keep their own versions
      for (Version v : series.cols.versions) tombstones.NoteVersion(v);
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
  // (The commit log moves the origin's applied sequence.)
}

Version Store::Impl::NextVersion() {
  commit_log->mu().AssertHeld();  // the same mutex
  // Above every tombstone seen, also one stamped this second.
  const Version v = commit_log->NextVersion(tombstones.floor());
  tombstones.NoteVersion(v);
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
  const ChunkCounters& chunks = impl_->chunk_store->counters();
  stats.chunks_sealed = chunks.sealed.load();
  stats.log_entries_trimmed = impl_->log_trimmed.load();
  stats.chunks_expired = chunks.expired.load();
  stats.chunks_rewritten = chunks.rewritten.load();
  stats.chunks_merged = chunks.merged.load();
  stats.corrupt_chunks_skipped = chunks.corrupt_skipped.load();
  stats.samples_out_of_range = impl_->samples_out_of_range.load();
  stats.own_sequence = impl_->NextSeq() - 1;
  impl_->own_log->mu().AssertHeld();  // the same mutex
  stats.own_log_entries = impl_->own_log->entries();
  stats.own_log_bytes = impl_->own_log->bytes();
  stats.catalog_conflicts = impl_->catalog.conflicts();
  return stats;
}

absl::Status Store::Close() {
  impl_->sealer->Stop();
  {
    absl::MutexLock l(&impl_->mu);
    // Wait for writers in flight, then refuse new ones.
    impl_->commit_log->mu().AssertHeld();  // the same mutex
    impl_->commit_log->DrainWriters();
    impl_->closed = true;
  }
  {
    absl::MutexLock pass(&impl_->seal_mu);
    impl_->sealer->seal_mu().AssertHeld();  // the same mutex
    RETURN_IF_ERROR(impl_->sealer->SealPass(/*force=*/true));
    RETURN_IF_ERROR(impl_->TrimLog());
  }
  return engine::FromRocks(impl_->db->db()->FlushWAL(/*sync=*/true), "flush WAL");
}

absl::Status Store::SealAll() {
  // The whole seal and trim under seal_mu: the sealer thread runs both too,
  // and TrimLog's cursors (trimmed_below) are seal_mu's.
  absl::MutexLock pass(&impl_->seal_mu);
  impl_->sealer->seal_mu().AssertHeld();  // the same mutex
  RETURN_IF_ERROR(impl_->sealer->SealPass(/*force=*/true));
  return impl_->TrimLog();
}

}  // namespace historian
