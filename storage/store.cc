// Store: opening (the parts, in dependency order), recovery and the
// catalog. The write path is in store_write.cc, reads in store_read.cc;
// the group commit's apply in store_applier.cc, what the sealing and
// maintenance passes need in store_maintenance_host.cc.
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
#include "storage/engine/rocks_memory.h"
#include "storage/engine/version.h"
#include "storage/store_parts.h"

namespace historian {
namespace {

// The memory bounds (max_head_bytes, memtable_budget_bytes,
// block_cache_bytes) other than 0.
constexpr uint64_t kMinMemoryBound = uint64_t{1} << 20;
constexpr uint64_t kMaxMemoryBound = uint64_t{1} << 40;

}  // namespace

using engine::FromRocks;
using engine::TagInfo;

Store::Store(StoreOptions options) : options_(std::move(options)) {}

Store::~Store() {
  if (events_ != nullptr) events_->Stop();
  if (sealer_ != nullptr) sealer_->Stop();  // null when Open failed early
}

const StoreOptions& Store::options() const { return options_; }

absl::Status ValidateMemoryOptions(const StoreOptions& options) {
  const std::pair<const char*, uint64_t> bounds[] = {
      {"max_head_bytes", options.max_head_bytes},
      {"memtable_budget_bytes", options.memtable_budget_bytes},
      {"block_cache_bytes", options.block_cache_bytes}};
  for (const auto& [name, bytes] : bounds) {
    if (bytes != 0 && (bytes < kMinMemoryBound || bytes > kMaxMemoryBound)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": ", bytes, " is outside ", kMinMemoryBound, "..", kMaxMemoryBound,
                       " (1 MiB..1 TiB); 0 means no bound of ours (RocksDB's defaults)"));
    }
  }
  return absl::OkStatus();
}

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
  if (options.chunk_slow_max_samples == 0 ||
      options.chunk_slow_max_samples > kMergedChunkMaxSamples) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_slow_max_samples: must be 1..", kMergedChunkMaxSamples));
  }
  if (options.rollup_min_day_samples == 0) {
    return absl::InvalidArgumentError(
        "rollup_min_day_samples: must be at least 1 (1: every day with a rollup)");
  }
  RETURN_IF_ERROR(ValidateMemoryOptions(options));
  if (!options.now_ns) {
    options.now_ns = [] { return absl::GetCurrentTimeNanos(); };
  }
  if (!options.logger) options.logger = LogToStderr;
  std::unique_ptr<Store> store(new Store(std::move(options)));
  ASSIGN_OR_RETURN(
      store->db_, engine::RocksDb::Open(store->options_.path,
                                        engine::RocksDbMemory{store->options_.memtable_budget_bytes,
                                                              store->options_.block_cache_bytes},
                                        store->options_.logger, events::NewEventsMergeOperator()));
  store->MakeParts();
  {
    absl::MutexLock l(&store->mu_);
    PartsShareMu(store->mu_, *store->catalog_, *store->heads_);
    store->heads_->SetLimits(store->options_.max_head_bytes, store->options_.chunk_max_samples);
  }
  RETURN_IF_ERROR(store->LoadState());
  RETURN_IF_ERROR(store->LoadTombstones());
  RETURN_IF_ERROR(store->LoadClosedShards());
  RETURN_IF_ERROR(store->LoadCatalog());
  RETURN_IF_ERROR(store->LoadOverlaps());
  RETURN_IF_ERROR(store->CheckSpans());
  RETURN_IF_ERROR(store->events_->Load());
  store->events_->SetRulesAtOpen(store->ResolveRules(store->events_->Rules()));
  RETURN_IF_ERROR(store->ReplayLog());
  RETURN_IF_ERROR(store->own_log_->StartRestoreEpoch());
  RETURN_IF_ERROR(store->FinishShardDrops());
  {
    absl::MutexLock pass(&store->seal_mu_);
    StoreMaintenanceHost& host = *store->host_;
    host.seal_mu().AssertHeld();  // the same mutex
    RETURN_IF_ERROR(host.RecomputeDirtyRollups());
    RETURN_IF_ERROR(host.RunDuePurges());  // left by a crash
  }
  store->sealer_->Start();
  Store* s = store.get();
  store->events_->Start(events::EventsHooks{
      [s](std::vector<engine::EventWrite> w) { return s->SubmitEventWrites(std::move(w)); },
      [s](const std::vector<events::RuleRecord>& r) { return s->ResolveRules(r); }});
  return store;
}

void Store::MakeParts() {
  engine::RocksDb* db = db_.get();
  catalog_ = std::make_unique<Catalog<TagState>>(mu_);
  heads_ = std::make_unique<Head>(mu_);
  tombstones_ = std::make_unique<TombstoneSet>();
  chunk_store_ = std::make_unique<ChunkStore>(
      db, mu_,
      // Seals and the overlap rewrite cut at an hour (or less); only merges
      // grow a slow tag's chunks longer (docs/storage.md, "Chunk sizes").
      ChunkLimits{options_.chunk_max_samples,
                  absl::ToInt64Nanoseconds(std::min(options_.chunk_max_duration, absl::Hours(1)))},
      options_.logger);
  if (options_.chunk_write_fault) chunk_store_->set_write_fault(options_.chunk_write_fault);
  rollups_ = std::make_unique<Rollups>(
      db, chunk_store_.get(),
      RollupThresholds{options_.rollup_min_samples, options_.rollup_min_day_samples},
      options_.rollup_fault);
  CommitLogOptions log_options;
  log_options.site = options_.site;
  log_options.site_tag = engine::SiteTag(options_.site);
  log_options.sync_writes = options_.sync_writes;
  log_options.client_dedupe_window = options_.client_dedupe_window;
  log_options.now_ns = options_.now_ns;
  // The applier needs the log and the Compactor: set below.
  commit_log_ = std::make_unique<CommitLog>(mu_, db, std::move(log_options), /*applier=*/nullptr);
  OwnLogOptions own_options;
  own_options.path = options_.path;
  own_options.site = options_.site;
  own_options.peers = options_.peers;
  own_options.log_retention_bytes = options_.log_retention_bytes;
  own_options.log_retention_age = options_.log_retention_age;
  own_options.now_ns = options_.now_ns;
  own_options.logger = options_.logger;
  own_log_ = std::make_unique<OwnLog>(mu_, db, std::move(own_options), commit_log_.get());
  host_ = std::make_unique<StoreMaintenanceHost>(
      StoreMaintenanceHost::Parts{mu_, seal_mu_, db, *catalog_, *heads_, tombstones_.get(),
                                  *commit_log_, *own_log_, *chunk_store_, *rollups_},
      StoreMaintenanceHost::Options{options_.site, options_.chunk_max_samples,
                                    absl::ToInt64Nanoseconds(options_.head_max_age),
                                    options_.sync_writes, options_.logger,
                                    options_.log_reclaim_bytes, options_.log_reclaim_min_bytes});
  compactor_ = std::make_unique<Compactor>(
      mu_, seal_mu_, db, chunk_store_.get(), rollups_.get(), host_.get(), options_.now_ns,
      MergeLimits{options_.chunk_max_samples, options_.chunk_slow_max_samples,
                  absl::ToInt64Nanoseconds(options_.chunk_max_duration)});
  events_ = std::make_unique<events::EventsPart>(
      db, events::EventsPart::Options{
              .site = options_.site,
              .now_ns = options_.now_ns,
              .logger = options_.logger,
              .feed_capacity = std::max<size_t>(options_.event_feed_capacity, 1),
              .make_evaluator = options_.rule_evaluator});
  applier_ = std::make_unique<StoreApplier>(
      StoreApplier::Parts{mu_, db, *catalog_, *heads_, tombstones_.get(), *commit_log_, *own_log_,
                          *compactor_, host_->out_of_range(), *events_},
      options_.site, options_.now_ns);
  commit_log_->set_applier(applier_.get());
  sealer_ = std::make_unique<Sealer>(
      mu_, seal_mu_, db, chunk_store_.get(), rollups_.get(), compactor_.get(), host_.get(),
      Sealer::Options{options_.seal_interval, options_.now_ns, options_.logger,
                      // Writers held back by --max_head_bytes get this
                      // error (AwaitHeadRoom).
                      [this](const absl::Status& s) {
                        NoteSealPassFailed(absl::UnavailableError(s.ToString()));
                      }});
}

void Store::NoteSealPassFailed(const absl::Status& s) {
  absl::MutexLock l(&mu_);
  host_->mu().AssertHeld();  // the same mutex
  host_->NoteSealPassFailed(s);
  heads_->WakeWaiters();  // writers held back by the head bound get the error
}

absl::Status Store::CheckSchemaVersion() {
  rocksdb::DB* rdb = db_->db();
  std::string version;
  rocksdb::Status s =
      rdb->Get(rocksdb::ReadOptions(), db_->state(), engine::kSchemaVersionKey, &version);
  if (s.IsNotFound() || (s.ok() && version == engine::kSchemaVersionHourRollups)) {
    // A new dir, or one from before the key or before day records: schema 1.
    // Its hour rollup records become day records first (none in a new dir);
    // an interrupted migration runs again at the next open.
    RETURN_IF_ERROR(rollups_->MigrateHourRecords());
    return FromRocks(rdb->Put(rocksdb::WriteOptions(), db_->state(), engine::kSchemaVersionKey,
                              engine::kSchemaVersion),
                     "write schema version");
  }
  RETURN_IF_ERROR(FromRocks(s, "read schema version"));
  if (version == engine::kSchemaVersionDayRollups) {
    // Nothing to rewrite: its missing span/ keys meant 0 (no chunk wider),
    // which the implicit span of schema 3 covers.
    return FromRocks(rdb->Put(rocksdb::WriteOptions(), db_->state(), engine::kSchemaVersionKey,
                              engine::kSchemaVersion),
                     "write schema version");
  }
  if (version != engine::kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("data dir ", options_.path, ": ", engine::kSchemaVersionKey, " is \"",
                     absl::CHexEscape(version), "\"; this historiand knows only schema version ",
                     engine::kSchemaVersion, " (written by a newer version?)"));
  }
  return absl::OkStatus();
}

absl::Status Store::LoadState() {
  rocksdb::DB* rdb = db_->db();
  std::string value;
  rocksdb::Status s = rdb->Get(rocksdb::ReadOptions(), db_->state(), engine::kSiteKey, &value);
  if (s.IsNotFound()) {
    RETURN_IF_ERROR(
        FromRocks(rdb->Put(rocksdb::WriteOptions(), db_->state(), engine::kSiteKey, options_.site),
                  "write site id"));
  } else if (!s.ok()) {
    return FromRocks(s, "read site id");
  } else if (value != options_.site) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", options_.path, " belongs to site '", value, "', not '", options_.site, "'"));
  }
  RETURN_IF_ERROR(CheckSchemaVersion());
  auto read_u64 = [&](const char* key, uint64_t* out) -> absl::Status {
    std::string v;
    rocksdb::Status st = rdb->Get(rocksdb::ReadOptions(), db_->state(), key, &v);
    if (st.IsNotFound()) return absl::OkStatus();
    RETURN_IF_ERROR(FromRocks(st, key));
    if (v.size() != 8) return absl::DataLossError(absl::StrCat("state ", key, ": bad size"));
    *out = engine::GetBigEndian64(v.data());
    return absl::OkStatus();
  };
  uint64_t next_chunk = 1;
  RETURN_IF_ERROR(read_u64(engine::kNextChunkIdKey, &next_chunk));
  chunk_store_->set_next_chunk_id(next_chunk);
  // The next own sequence, cursors of other origins, restore holes.
  RETURN_IF_ERROR(commit_log_->Load());
  // What each peer has applied of ours.
  return own_log_->LoadPeerAcks();
}

absl::Status Store::LoadCatalog() {
  // Read once: the catalog's blocks need not stay in the block cache.
  rocksdb::ReadOptions once;
  once.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(once, db_->catalog()));
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, *catalog_, *heads_);
  absl::Status spans;  // the first span/ key that could not be read
  RETURN_IF_ERROR(catalog_->Load(it.get(), [&](TagState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::StatusOr<int64_t> span = chunk_store_->LoadSpan(state.id());
    if (span.ok()) {
      state.chunk.max_span = *span;
    } else if (spans.ok()) {
      spans = span.status();
    }
    tombstones_->NoteVersion(state.version());
    if (state.retention_ns() > 0) {
      compactor_->mu().AssertHeld();  // the same mutex
      compactor_->SetRetention(state.id(), true);
    }
  }));
  RETURN_IF_ERROR(spans);
  return FromRocks(it->status(), "load catalog");
}

void Store::NoteOverlap(TagId id, int64_t min_ts, int64_t max_ts) {
  TagState* t = FindTag(id);
  if (t == nullptr) return;
  compactor_->mu().AssertHeld();  // the same mutex
  compactor_->NoteOverlap(id, &t->chunk, min_ts, max_ts);
}

absl::Status Store::LoadOverlaps() {
  absl::MutexLock l(&mu_);
  // A deleted tag's range finds no tag, or no chunks to rewrite (the pass
  // then drops the key).
  return chunk_store_->LoadOverlaps([&](TagId id, int64_t min_ts, int64_t max_ts) {
    mu_.AssertHeld();
    NoteOverlap(id, min_ts, max_ts);
  });
}

absl::Status Store::CheckSpans() {
  return chunk_store_->CheckSpans([&](TagId id) -> ChunkState* {
    mu_.AssertHeld();  // CheckSpans calls this under chunk_store_->mu(), which is mu
    TagState* t = FindTag(id);
    return t == nullptr ? nullptr : &t->chunk;
  });
}

absl::Status Store::ReplayLog() {
  // Every log entry not yet sealed for a tag goes back into that tag's head.
  // "sealed/<tag><origin>" holds the last sequence of origin sealed for tag.
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(rocksdb::ReadOptions(), db_->log()));
  absl::flat_hash_map<std::string, uint64_t> sealed_cache;
  absl::MutexLock l(&mu_);
  commit_log_->mu().AssertHeld();  // the same mutex
  own_log_->mu().AssertHeld();     // the same mutex
  applier_->mu().AssertHeld();     // the same mutex
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
        if (db_->db()->Get(rocksdb::ReadOptions(), db_->state(), skey, &v).ok() && v.size() == 8) {
          sealed = engine::GetBigEndian64(v.data());
        }
        sealed_cache[skey] = sealed;
      }
      if (seq > sealed) keep.push_back(std::move(s));
    }
    entry.series = std::move(keep);
    applier_->ApplyToHead(origin, seq, entry);
    commit_log_->NoteReplayed(origin, seq, entry.version);
    if (origin == options_.site) {
      own_log_->Append(seq, static_cast<int64_t>(engine::VersionSeconds(entry.version)),
                       it->value().size(), entry_samples);
    }
  }
  return FromRocks(it->status(), "replay log");
}

Version Store::NextVersion() { return NextVersionAbove(0); }

Version Store::NextVersionAbove(Version floor) {
  commit_log_->mu().AssertHeld();  // the same mutex
  // Above every tombstone seen, also one stamped this second.
  const Version v = commit_log_->NextVersion(std::max(tombstones_->floor(), floor));
  tombstones_->NoteVersion(v);
  return v;
}

// --- Catalog ---

absl::StatusOr<TagInfo> Store::CreateTag(TagInfo info) {
  RETURN_IF_ERROR(ValidateNewTag(info));
  info.id = engine::TagIdFromName(info.name);
  info.origin_site = options_.site;
  info.created_ns = NowNs();
  {
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    // One creation of a name at a time; a second waits and then finds it.
    RETURN_IF_ERROR(catalog_->Reserve(info));
    info.version = NextVersion();
  }
  engine::LogEntry entry;
  entry.version = info.version;
  entry.catalog_upserts.push_back(info);
  absl::Status s = SubmitCatalog(std::move(entry));
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, *catalog_, *heads_);
  catalog_->EndCreating({info});
  RETURN_IF_ERROR(s);
  return info;
}

bool Store::HasTag(std::string_view name) const { return catalog_->Has(name); }

absl::StatusOr<TagInfo> Store::GetTag(std::string_view name) const { return catalog_->Get(name); }

absl::StatusOr<TagInfo> Store::UpdateTag(const TagInfo& update) {
  RETURN_IF_ERROR(ValidateTagUpdate(update));
  TagInfo info;
  {
    absl::MutexLock l(&mu_);
    const TagState* t = FindTagByName(update.name);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat("tag '", update.name, "' not found"));
    }
    info = t->Info();
    RETURN_IF_ERROR(MergeTagUpdate(update, &info));
    info.version = NextVersion();
  }
  engine::LogEntry entry;
  entry.version = info.version;
  entry.catalog_upserts.push_back(info);
  RETURN_IF_ERROR(SubmitCatalog(std::move(entry)));
  return GetTag(info.name);
}

ListTagsResult Store::ListTags(std::string_view glob,
                               const std::map<std::string, std::string>& attributes,
                               std::string_view page_token, size_t page_size,
                               const CancelledFn& cancelled,
                               const std::function<bool(std::string_view)>& keep) const {
  ListTagsResult out;
  out.cancelled =
      catalog_->Scan(page_token, cancelled, [&](std::string_view name, const TagState& t) {
        if (!glob.empty() && !GlobMatch(glob, name)) return true;
        if (keep && !keep(name)) return true;
        TagInfo info = t.Info();
        bool attrs_ok = std::all_of(attributes.begin(), attributes.end(), [&](const auto& kv) {
          auto a = info.attributes.find(kv.first);
          return a != info.attributes.end() && a->second == kv.second;
        });
        if (!attrs_ok) return true;
        if (out.tags.size() == page_size) {
          out.next_page_token = out.tags.back().name;
          return false;
        }
        out.tags.push_back(std::move(info));
        return true;
      });
  return out;
}

absl::Status Store::CreateTagsForWrite(
    const std::vector<std::pair<std::string, ValueType>>& wanted) {
  if (!options_.implicit_tags) return absl::OkStatus();
  engine::LogEntry entry;
  {
    absl::MutexLock l(&mu_);
    PartsShareMu(mu_, *catalog_, *heads_);
    entry.version = NextVersion();
    for (const auto& [name, type] : wanted) {
      if (type == ValueType::kUnspecified || type > ValueType::kString) continue;
      if (!engine::ValidateTagName(name).ok()) continue;
      if (FindTagByName(name) != nullptr || catalog_->IsCreating(name)) continue;
      TagInfo info;
      info.name = name;
      info.type = type;
      info.id = engine::TagIdFromName(name);
      if (FindTag(info.id) != nullptr) continue;  // a clash, reported one by one
      info.origin_site = options_.site;
      info.created_ns = NowNs();
      info.version = entry.version;
      catalog_->BeginCreating(info.name);
      entry.catalog_upserts.push_back(std::move(info));
    }
  }
  if (entry.catalog_upserts.empty()) return absl::OkStatus();
  absl::Status s = SubmitCatalog(entry);
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, *catalog_, *heads_);
  catalog_->EndCreating(entry.catalog_upserts);
  return s;
}

absl::StatusOr<TagInfo> Store::ResolveTagForWrite(std::string_view name, ValueType inferred) {
  if (TagInfo info; catalog_->Lookup(name, &info)) return info;
  RETURN_IF_ERROR(engine::ValidateTagName(name));
  if (!options_.implicit_tags) {
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
  const engine::RocksMemory rocks = engine::ReadRocksMemory(*db_);  // not under mu_
  stats.memtable_bytes = rocks.memtable_bytes;
  stats.block_cache_bytes = rocks.block_cache_bytes;
  stats.block_cache_pinned_bytes = rocks.block_cache_pinned_bytes;
  stats.table_readers_bytes = rocks.table_readers_bytes;
  absl::MutexLock l(&mu_);
  PartsShareMu(mu_, *catalog_, *heads_);
  stats.tags = catalog_->size();
  // Only tags in memory hold buffers.
  HeadMemory memory;
  for (TagId id : heads_->tags_in_memory()) {
    if (const TagState* t = FindTag(id)) heads_->AddMemory(*t, &memory);
  }
  stats.head_samples = memory.samples;
  // The running sum the bound (--max_head_bytes) is checked against; the
  // walk above adds up the same buffers (head_test checks they agree).
  stats.head_bytes = heads_->bytes();
  stats.head_tags = memory.tags;
  const ChunkCounters& chunks = chunk_store_->counters();
  stats.chunks_sealed = chunks.sealed.load();
  stats.log_entries_trimmed = host_->log_trimmed();
  stats.chunks_expired = chunks.expired.load();
  stats.chunks_rewritten = chunks.rewritten.load();
  stats.chunks_merged = chunks.merged.load();
  stats.corrupt_chunks_skipped = chunks.corrupt_skipped.load();
  stats.samples_out_of_range = host_->out_of_range().count();
  stats.samples_of_undefined_tags = applier_->undefined_tag_samples();
  stats.writes_held = writes_held_;
  stats.writes_held_total = writes_held_total_;
  stats.closed_shards = closed_shards_.all().size();
  commit_log_->mu().AssertHeld();  // the same mutex
  stats.own_sequence = commit_log_->next_seq() - 1;
  own_log_->mu().AssertHeld();  // the same mutex
  stats.own_log_entries = own_log_->entries();
  stats.own_log_bytes = own_log_->bytes();
  stats.catalog_conflicts = catalog_->conflicts();
  stats.catalog_bytes = catalog_->MemoryBytes();
  return stats;
}

absl::Status Store::Close() {
  events_->Stop();  // stores its last transitions and the evaluator's state
  sealer_->Stop();
  {
    absl::MutexLock l(&mu_);
    // Wait for writers in flight, then refuse new ones.
    commit_log_->mu().AssertHeld();  // the same mutex
    commit_log_->DrainWriters();
    commit_log_->MarkClosed();
    heads_->WakeWaiters();  // writers held back by the head bound
  }
  {
    absl::MutexLock pass(&seal_mu_);
    sealer_->seal_mu().AssertHeld();  // the same mutex
    if (absl::Status s = sealer_->SealPass(/*force=*/true); !s.ok()) {
      NoteSealPassFailed(s);
      return s;
    }
    host_->seal_mu().AssertHeld();  // the same mutex
    RETURN_IF_ERROR(host_->TrimLog());
    RETURN_IF_ERROR(engine::FromRocks(db_->db()->FlushWAL(/*sync=*/true), "flush WAL"));
    // Everything is durable; now the disk space of the trimmed log (in SST
    // files and in the WAL) goes, so a stopped node holds no dead log. A
    // failure here loses nothing: the next open or compaction retries.
    if (absl::Status s = ReclaimAtClose(); !s.ok()) {
      options_.logger(LogSeverity::kWarning,
                      absl::StrCat("reclaiming the trimmed log at close failed: ", s.ToString()));
    }
  }
  return absl::OkStatus();
}

absl::Status Store::ReclaimAtClose() {
  host_->seal_mu().AssertHeld();  // the same mutex
  RETURN_IF_ERROR(host_->ReclaimLog());
  // Every memtable flushed: no WAL file is needed any more, so RocksDB
  // deletes them (they hold every log entry written since the oldest
  // unflushed memtable), and the next open replays nothing.
  rocksdb::FlushOptions fo;
  fo.allow_write_stall = true;
  return engine::FromRocks(db_->db()->Flush(fo, {db_->catalog(), db_->log(), db_->chunks(),
                                                 db_->rollups(), db_->state(), db_->events()}),
                           "flush memtables");
}

absl::Status Store::SealAll() {
  // The whole seal and trim under seal_mu: the sealer thread runs both too,
  // and TrimLog's cursors (trimmed_below) are seal_mu's.
  absl::MutexLock pass(&seal_mu_);
  sealer_->seal_mu().AssertHeld();  // the same mutex
  if (absl::Status s = sealer_->SealPass(/*force=*/true); !s.ok()) {
    NoteSealPassFailed(s);
    return s;
  }
  host_->seal_mu().AssertHeld();  // the same mutex
  return host_->TrimLog();
}

}  // namespace historian
