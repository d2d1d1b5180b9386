// File: store.h
// Store: one node's storage. It owns the RocksDB database (column families of
// storage/engine/column_families.h), the tag catalog, the in-memory head (one
// open buffer per tag) and the background sealer that turns heads into
// compressed chunks.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(options));
//   ASSIGN_OR_RETURN(TagInfo tag, store->ResolveTagForWrite("a.b", ValueType::kDouble));
//   WriteInput in; in.series.push_back({tag.id, columns});
//   ASSIGN_OR_RETURN(WriteResult r, store->Write(std::move(in)));  // durable now
//
// Thread-safety: a Store is safe for concurrent use from any number of
// threads without external synchronisation. Concurrent writers are grouped
// into one RocksDB write (group commit).
#ifndef HISTORIAN_STORAGE_STORE_H_
#define HISTORIAN_STORAGE_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/log_entry.h"
#include "storage/engine/logger.h"
#include "storage/engine/rollup.h"
#include "storage/engine/tag_info.h"
#include "storage/own_log/own_log_batch.h"
#include "storage/own_log/restore_epoch.h"
#include "storage/shard_copy/closed_shards.h"
#include "storage/shard_copy/shard_copy.h"

namespace historian {

namespace events {
class RuleEvaluator;
}  // namespace events

struct StoreOptions {
  // Directory of the RocksDB database; created when missing.
  std::string path = "./data";
  // This node's site id (1..64 bytes). Fixed for the life of a data dir.
  std::string site = "local";
  // Create a tag on its first write, typed by the first value.
  // Default: true.
  bool implicit_tags = true;
  // fsync the log before a write is acknowledged. Default: true. With false a
  // machine crash (not a process crash) can lose acknowledged writes.
  bool sync_writes = true;
  // A head is sealed into a chunk when it holds this many samples; a tag
  // with more samples an hour is fast (its merged chunks span under an
  // hour). Default: 1024.
  uint32_t chunk_max_samples = 1024;
  // The merge pass joins a slow tag's chunks (at most chunk_max_samples an
  // hour) into chunks of up to this many samples however long they span,
  // up to chunk_max_duration. 1..16384. Default: 4096 (docs/storage.md,
  // "Chunk sizes").
  uint32_t chunk_slow_max_samples = 4096;
  // No chunk spans this much time or more. Seals and the overlap rewrite cut
  // chunks at an hour (or at this, when shorter); the merge pass joins a
  // slow tag's chunks up to chunk_slow_max_samples samples however long
  // that takes, up to this (and a quarter of the tag's retention). Default:
  // 30 days (docs/storage.md, "Chunk sizes").
  absl::Duration chunk_max_duration = absl::Hours(24 * 30);
  // An hour with fewer sealed samples than this gets no rollup record; queries
  // read its samples (docs/query.md, "Rollups"). 1: every hour with samples.
  uint64_t rollup_min_samples = engine::kDefaultRollupMinSamples;
  // A UTC day whose hour rollups hold fewer samples than this in total gets
  // no day record: its hours are read raw (docs/storage.md, "Rollups that
  // pay"). 1: every day with a rollup.
  uint64_t rollup_min_day_samples = engine::kDefaultRollupMinDaySamples;
  // A head older than this is sealed even when not full. Default: 10 minutes.
  absl::Duration head_max_age = absl::Minutes(10);
  // How often the sealer looks for heads to seal. Default: 1 second.
  absl::Duration seal_interval = absl::Seconds(1);
  // Batches remembered per client for deduplication. Default: 4096.
  uint32_t client_dedupe_window = 4096;
  // Site ids of the replication peers. Own log entries are kept until every
  // peer has applied them, within the retention limits below.
  std::vector<std::string> peers;
  // Own log entries are trimmed past these limits even if a peer has not
  // applied them; that peer then catches up by range sync.
  // Default: 1 GiB and 24 hours.
  uint64_t log_retention_bytes = uint64_t{1} << 30;
  absl::Duration log_retention_age = absl::Hours(24);
  // The seal passes give the trimmed log's disk space back once this many
  // of its bytes sit in SST files, or log_reclaim_min_bytes that are half
  // of the log's files (LogTrimmer::MaybeReclaim; Close and Compact always).
  uint64_t log_reclaim_bytes = uint64_t{32} << 20;
  uint64_t log_reclaim_min_bytes = uint64_t{1} << 20;
  // Memory bound of the heads (unsealed samples): the heap bytes their
  // buffers hold (closed encoded blocks, raw tails, the buffers' structs;
  // StoreStats::head_bytes, the same sum). Past it the sealer seals the
  // largest heads early and new writes wait (backpressure, nothing is
  // dropped). 0: no bound; else 1 MiB..1 TiB.
  // Default: 0 here (in-process users opt in); historiand's
  // --max_head_bytes defaults to 1 GiB.
  uint64_t max_head_bytes = 0;
  // RocksDB's memory (engine::RocksDbMemory): all memtables together, and
  // one block cache shared by every column family. 0: RocksDB's own
  // per-column-family limits; else at least 1 MiB. Defaults: 128 MiB, 32 MiB.
  uint64_t memtable_budget_bytes = uint64_t{128} << 20;
  uint64_t block_cache_bytes = uint64_t{32} << 20;
  // Alarm rules (docs/events.md): a rule's glob may cover at most this
  // many tags, and a node holds at most this many rules.
  uint32_t rule_max_tags = 1000;
  uint32_t max_rules = 10000;
  // Event changes the durable event feed keeps for Events.Subscribe and the
  // outlets (docs/events_outlets.md); a reader further behind is `lagged`.
  size_t event_feed_capacity = 65536;
  // Makes the alarm rule evaluator (storage/events/rule_evaluator.h) for
  // this site. Default: RuleEvaluator::Create when linked in, else none
  // (rules are stored and replicated, nothing is evaluated). Tests inject
  // their own.
  std::function<std::unique_ptr<events::RuleEvaluator>(const std::string& site)> rule_evaluator;
  // Wall clock in nanoseconds; tests inject their own.
  std::function<int64_t()> now_ns;
  // Tests only: asked before every chunk write (seals, merges, rewrites) of
  // a tag; a non-OK status fails that write as a failed RocksDB write of the
  // chunks would (ChunkStore::set_write_fault). Empty: never.
  std::function<absl::Status(TagId)> chunk_write_fault;

  // Tests only: called before each rollup rewrite (Rollups::Recompute and
  // AfterSeal); a non-OK status fails that rewrite (its dirty marker stays).
  std::function<absl::Status(TagId)> rollup_fault;
  // Tags per RocksDB write batch of DropShard (docs/cluster.md, "Dropping
  // a shard"). Default: 256. Tests lower it.
  uint32_t drop_shard_batch_tags = 256;
  // How long an own write of a shard a move's target closed before the
  // flip waits for the open before it is refused (Store::CloseShardToWrites
  // with ClosedWrites::kHold). A handover takes tens of milliseconds; a
  // source that is down holds it longer, and then the write is refused
  // UNAVAILABLE as before. Default: 1 s.
  absl::Duration handover_write_hold = absl::Seconds(1);
  // Tests only: asked before each batch of DropShard (shard, batch index
  // from 0); a non-OK status stops the drop there, as a kill -9 would, and
  // is returned. Empty: never.
  std::function<absl::Status(uint32_t shard, uint64_t batch)> drop_shard_fault;
  // Where the store writes its log lines, as LevelDB's info_log (see
  // storage/engine/logger.h). Default: "historian: <message>" on stderr.
  StoreLogger logger;
};

// Checks max_head_bytes, memtable_budget_bytes and block_cache_bytes: each
// 0 or 1 MiB..1 TiB. Errors: InvalidArgument naming the option and range.
absl::Status ValidateMemoryOptions(const StoreOptions& options);

struct WriteInput {
  // Deduplication key; empty client_id or batch_seq 0 disables it.
  std::string client_id;
  uint64_t batch_seq = 0;
  // Which slice of the batch this write is (a site cluster node's part,
  // routing::WritePartDigest): a write is a retry only of a write with the
  // same key and digest. 0: the key alone (a single node).
  uint64_t dedupe_digest = 0;
  // Samples per tag; REQUIRES: every tag id exists in the catalog and the
  // columns have the tag's value type.
  std::vector<engine::SeriesData> series;
};

struct WriteResult {
  uint64_t accepted = 0;
  bool duplicate = false;
};

struct ListTagsResult {
  std::vector<engine::TagInfo> tags;
  std::string next_page_token;  // empty at the end
  bool cancelled = false;       // `cancelled` said so; tags is partial
};

// Asked between slices of a catalog scan; true stops it. May be empty.
using CancelledFn = std::function<bool()>;

struct StoreStats {
  uint64_t own_sequence = 0;
  uint64_t own_log_entries = 0;
  uint64_t own_log_bytes = 0;
  uint64_t catalog_conflicts = 0;
  uint64_t tags = 0;
  uint64_t head_samples = 0;
  uint64_t head_tags = 0;  // tags with unsealed samples
  // Heap bytes of their head buffers (structs, encoded blocks, raw tails):
  // the figure --max_head_bytes bounds.
  uint64_t head_bytes = 0;
  uint64_t chunks_sealed = 0;
  uint64_t log_entries_trimmed = 0;
  uint64_t chunks_expired = 0;
  uint64_t chunks_rewritten = 0;
  uint64_t chunks_merged = 0;  // small chunks merged into bigger ones
  // Samples skipped because their timestamp is outside the accepted range
  // (kMinSampleTimestamp..kMaxSampleTimestamp), found in the log, in chunks
  // being rewritten or in entries from peers.
  uint64_t samples_out_of_range = 0;
  // Samples of peers' entries left out since open because their tag has no
  // definition here and they are not of an incarnation deleted here (their
  // versions are above its tombstone, or it has none): a tag of a shard
  // another member owns that no one could name (Store::UndefinedTags::kDrop).
  uint64_t samples_of_undefined_tags = 0;
  // Chunks a maintenance pass (retention, overlap rewrite, merge, purge)
  // skipped because they do not decode; each is logged and left in place.
  uint64_t corrupt_chunks_skipped = 0;
  // Memory by owner (issue 16), in bytes. The catalog: every tag's record,
  // its name and the name and id indexes (an estimate from sizes, not
  // malloc's count). RocksDB's: memtables of every column family
  // (rocksdb.cur-size-all-mem-tables), the block caches' usage and the part
  // of it pinned (each distinct cache once), and the SST readers' index and
  // filter memory outside the caches (rocksdb.estimate-table-readers-mem).
  uint64_t catalog_bytes = 0;
  uint64_t memtable_bytes = 0;
  uint64_t block_cache_bytes = 0;
  uint64_t block_cache_pinned_bytes = 0;
  uint64_t table_readers_bytes = 0;
  // Own writes waiting now for a shard a move hands over to this store
  // (ClosedWrites::kHold), and all that waited so far.
  uint64_t writes_held = 0;
  uint64_t writes_held_total = 0;
  // Shards closed to own writes now (Store::CloseShardToWrites).
  uint64_t closed_shards = 0;
};

struct PendingWrite;
// The parts behind Store (storage/*/): declared here, defined in their
// headers, so this header stays light.
namespace engine {
class RocksDb;
}  // namespace engine
template <typename Record>
class Catalog;
struct TagState;
class Head;
class TombstoneSet;
class CommitLog;
class OwnLog;
class ChunkStore;
class Rollups;
class Compactor;
class Sealer;
class StoreApplier;
class StoreMaintenanceHost;
class AppliedListener;

namespace events {
class EventsPart;
struct RuleRecord;
struct RuleSpec;
struct EventRecord;
struct EventFilter;
struct EventChanges;
}  // namespace events

class Store;

// A write that StartWrite queued; FinishWrite waits for it. Destroying an
// unfinished handle finishes it (the queue holds a pointer into it).
// Callers get handles from Store::StartWrite only; the constructors and
// TakeQueued() are for Store's code (PendingWrite is internal to storage/).
class WriteHandle {
 public:
  // A write whose result was known at start (refused, or a retry).
  explicit WriteHandle(absl::StatusOr<WriteResult> result);
  // A write queued in `store`'s commit log.
  WriteHandle(Store* store, std::unique_ptr<PendingWrite> queued);
  WriteHandle(WriteHandle&&) noexcept;
  WriteHandle& operator=(WriteHandle&&) = delete;
  ~WriteHandle();

  // The result when known at start; nullopt while queued.
  const std::optional<absl::StatusOr<WriteResult>>& result() const { return result_; }
  // Hands the queued write to the caller, who must complete it before
  // freeing it; the handle is then finished.
  std::unique_ptr<PendingWrite> TakeQueued();

 private:
  Store* store_ = nullptr;  // set while queued and unfinished
  std::unique_ptr<PendingWrite> pending_;
  std::optional<absl::StatusOr<WriteResult>> result_;
};

class Store {
 public:
  // Opens (creating when missing) the database at options.path, loads the
  // catalog and rebuilds the head from the log.
  // Errors: InvalidArgument for bad options; FailedPrecondition when the data
  // dir belongs to another site; the RocksDB error otherwise.
  static absl::StatusOr<std::unique_ptr<Store>> Open(StoreOptions options);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // Stops the sealer. Does not seal heads (the log keeps them durable); call
  // Close() first for a graceful shutdown.
  ~Store();

  // Seals every head into chunks and stops background work. Writes after
  // Close() fail with FailedPrecondition.
  absl::Status Close();

  const StoreOptions& options() const;

  // --- Catalog ---
  // Errors: InvalidArgument (name, type), AlreadyExists, FailedPrecondition
  // on a tag id collision with another name.
  absl::StatusOr<engine::TagInfo> CreateTag(engine::TagInfo info);
  // Errors: NotFound.
  absl::StatusOr<engine::TagInfo> GetTag(std::string_view name) const;
  bool HasTag(std::string_view name) const;
  // Replaces unit, description, attributes and retention. Errors: NotFound,
  // FailedPrecondition when the value type would change.
  absl::StatusOr<engine::TagInfo> UpdateTag(const engine::TagInfo& info);
  // Removes the tag and everything it owns (samples, chunks, rollups, state)
  // and records a tombstone (tag id, version) that travels to the peers in
  // the log and, once the log is trimmed, in anti-entropy digests. Every
  // site keeps it for good and refuses that incarnation's samples from any
  // path; a tag created again under the name starts empty. Waits for a seal
  // pass under way. Errors: NotFound.
  absl::Status DeleteTag(std::string_view name);
  // Tags whose name matches `glob` (`*`, `?`; empty matches all) and whose
  // attributes include `attributes`, in name order, after `page_token`.
  // The catalog is scanned in slices under the catalog lock only (writes
  // never wait for a whole scan); `cancelled` is asked between slices.
  // `keep`, when given, must also accept the name (a cluster member lists
  // only the tags it owns).
  ListTagsResult ListTags(std::string_view glob,
                          const std::map<std::string, std::string>& attributes,
                          std::string_view page_token, size_t page_size,
                          const CancelledFn& cancelled = nullptr,
                          const std::function<bool(std::string_view)>& keep = nullptr) const;
  // The tag named `name`; when missing and implicit tags are on, creates it
  // with `inferred` type. Errors: NotFound (implicit tags off),
  // InvalidArgument (bad name).
  absl::StatusOr<engine::TagInfo> ResolveTagForWrite(std::string_view name, ValueType inferred);
  // Creates, in one catalog entry (one group commit), the tags of `wanted`
  // (name, inferred type) that do not exist yet, as ResolveTagForWrite would
  // one by one. Names that are invalid, typeless, taken or being created are
  // left for ResolveTagForWrite to report. A first batch naming 166 new tags
  // costs one fsync instead of 166. No-op when implicit tags are off.
  absl::Status CreateTagsForWrite(const std::vector<std::pair<std::string, ValueType>>& wanted);

  // --- Write ---
  // Makes the samples durable (per options.sync_writes) and visible to
  // reads, then returns. Errors: FailedPrecondition (closed, or batch_seq
  // older than the dedupe window), Unavailable (the same batch is in flight,
  // or storage refused the write; nothing was stored), InvalidArgument.
  absl::StatusOr<WriteResult> Write(WriteInput input);
  // Write in two steps, so one stream can have many batches in one group
  // commit: StartWrite validates and queues the batch (in call order) and
  // returns at once; FinishWrite waits until it is durable and applied.
  WriteHandle StartWrite(WriteInput input);
  absl::StatusOr<WriteResult> FinishWrite(WriteHandle handle);

  // --- Read ---
  // Replaces *out with the samples of `tag` in [start, end), ordered by time,
  // one per timestamp; the earliest min(max_samples, samples in the range)
  // (0: no limit). So a result shorter than max_samples means the range holds
  // no more: callers page with start = last timestamp + 1 and stop on a short
  // page (Query.Read does).
  // Errors: DataLoss naming the tag and chunk when a chunk is corrupt.
  absl::Status ReadRaw(TagId tag, int64_t start, int64_t end, size_t max_samples,
                       codec::ChunkColumns* out) const;
  // The samples ReadRaw would return, handed to `fn` in time order in one or
  // more pieces without materialising the range: a piece per chunk while
  // chunks and unsealed data do not overlap, one merged piece from the first
  // overlap on. Pieces have no versions. For scans that fold samples
  // (aggregates, plots); a piece is valid only during its call. The first
  // error of `fn` stops the scan and is returned. Errors: as ReadRaw.
  absl::Status ScanRaw(TagId tag, int64_t start, int64_t end,
                       absl::FunctionRef<absl::Status(const codec::ChunkColumns&)> fn) const;
  // Rollups of `tag` with bucket width `width` (engine::kRollupHour) for buckets starting in
  // [start, end), in time order; only buckets with at least rollup_min_samples sealed samples
  // (a bucket without one may hold samples: read it raw). Samples at or after
  // UnsealedFrom(tag) may be missing from them.
  absl::Status ReadRollups(TagId tag, int64_t width, int64_t start, int64_t end,
                           std::vector<std::pair<int64_t, engine::Rollup>>* out) const;
  // The earliest timestamp whose bucket the rollups may not cover yet
  // (samples in the head or being sealed); kMaxTimestamp when none.
  int64_t UnsealedFrom(TagId tag) const;
  // The newest sample of `tag` into *out (size 1), or an empty *out.
  absl::Status Latest(TagId tag, codec::ChunkColumns* out) const;
  // Latest for many tags at once: calls fn(i, sample) for tags[i] in order,
  // with a 1-sample (or empty) *sample. Cheaper than Latest per tag: one
  // lock for every cached value. Errors: NotFound for an unknown id.
  absl::Status LatestMany(const std::vector<TagId>& tags,
                          const std::function<void(size_t, const codec::ChunkColumns&)>& fn) const;
  // Names and ids of the tags matching `glob`, in name order, at most
  // `limit` (a light ListTags for fan-out queries). Scans as ListTags; when
  // `cancelled` stops it the result is partial (the caller asks again).
  // `keep`, when given, must also accept the name (counted after it).
  std::vector<std::pair<std::string, TagId>> MatchTags(
      std::string_view glob, size_t limit, const CancelledFn& cancelled = nullptr,
      const std::function<bool(std::string_view)>& keep = nullptr) const;
  // The twin-site tag prefix pair ("us.=mx.", see --twin_map), "" when none;
  // kept in the state column family, so it survives restarts.
  absl::StatusOr<std::string> TwinMap() const;
  // Stores it ("" removes it). Unavailable from storage.
  absl::Status SetTwinMap(const std::string& twin_map);
  // The last sample before `ts` (size 1), or empty.
  absl::Status Before(TagId tag, int64_t ts, codec::ChunkColumns* out) const;
  // Whether sample i of the columns counts (for BeforeMatching).
  using SampleFilter = std::function<bool(const codec::ChunkColumns&, size_t)>;
  // The last sample before `ts` that `keep` accepts (size 1), or empty;
  // Before when `keep` is empty. Looks back chunk by chunk as far as needed.
  absl::Status BeforeMatching(TagId tag, int64_t ts, const SampleFilter& keep,
                              codec::ChunkColumns* out) const;

  // --- Replication ---
  // Applies entry `seq` of another site's own log durably together with the
  // cursor of that origin; a no-op when seq <= AppliedSequence(origin).
  // REQUIRES: entries of one origin arrive in sequence order.
  // Returns the entry's samples (0 for an entry applied before), also those
  // dropped here (of a tag deleted or undefined here): the replicator counts
  // received work in the units of the sender's lag (pending_samples counts
  // every sample of an entry), for its throttle and its samples_applied.
  // `undefined`: what becomes of the samples of a tag this node has no
  // definition of, neither held nor in the entry, and not of an incarnation
  // deleted here (versions above the tag's tombstone: a re-creation).
  // kDrop leaves them out: a tag of a shard another member owns, which
  // neither the sender's filter nor this node could name (deleted at the
  // sender since). kRefuse fails the entry instead (FailedPrecondition,
  // IsUndefinedTag; nothing applied, the cursor stays): the replicator asks
  // for it while a range sync of shards this node gained is pending, since
  // such a tag may be one of theirs whose definition entry its cursor
  // passed, cut, while another member owned the shard.
  // Errors: DataLoss for corrupt bytes, Unavailable from storage.
  enum class UndefinedTags { kDrop, kRefuse };
  absl::StatusOr<uint64_t> ApplyReplicated(const std::string& origin, uint64_t seq,
                                           std::string_view entry,
                                           UndefinedTags undefined = UndefinedTags::kDrop);
  // True for ApplyReplicated's refusal of samples of an undefined tag.
  static bool IsUndefinedTag(const absl::Status& status);
  // Highest sequence of `origin` applied here (0: none).
  uint64_t AppliedSequence(const std::string& origin) const;
  // Moves the cursor of `origin` to `seq` when a range sync has covered the
  // entries the peer no longer has.
  absl::Status AdvanceCursor(const std::string& origin, uint64_t seq);
  // Stores samples fetched from a peer by anti-entropy, each with its own
  // version (last-writer-wins merge); creates or updates `tags` first.
  // Tags and samples at or below a tombstone here are left out. Not shipped
  // to peers. Returns the samples stored.
  //
  // Ties (equal versions: one site's writes within one second) go to the
  // sample applied later. A repair is not in any log order, so `ties` says
  // which is later: kRepairWins when the peer's samples may reflect log
  // entries not applied here yet (the samples this site stamped are still
  // left to its own log order), kHeldWins when this node has applied every
  // entry the peer's samples reflect (docs/replication.md, "Repairs ahead
  // of the log").
  enum class RepairTies { kRepairWins, kHeldWins };
  absl::StatusOr<uint64_t> ApplyRepair(const std::vector<engine::TagInfo>& tags,
                                       std::vector<engine::SeriesData> series,
                                       RepairTies ties = RepairTies::kRepairWins);
  // Leaves out of `s` its samples in [start, end) that this store holds at
  // the same timestamp with a version as new or newer: the samples of a
  // replayed log entry that a repair applied here already reflects.
  absl::Status KeepHeldTies(engine::SeriesData* s, int64_t start, int64_t end) const;
  // The tombstones of deleted tags, by tag id (for anti-entropy digests).
  std::vector<engine::Tombstone> Tombstones() const;
  // Applies tombstones learned from a peer's digest (a range sync, after the
  // peer trimmed the log entries that carried them) as if they came in the
  // log: drops the deleted incarnations here. Not shipped to peers. Returns
  // how many were new here.
  absl::StatusOr<uint64_t> ApplyTombstones(std::vector<engine::Tombstone> tombstones);
  // Own entries with sequence >= from_seq, up to about max_bytes.
  absl::Status ReadOwnLog(uint64_t from_seq, size_t max_bytes, OwnLogBatch* out) const;
  // Waits until an own entry with sequence > seq exists, at most `timeout`.
  bool WaitForOwnEntry(uint64_t seq, absl::Duration timeout) const;
  // Records that `site` has applied own entries up to `seq`. Only sites in
  // options().peers are recorded (they hold the log back from trimming);
  // others are ignored, so a caller cannot make the node keep state for
  // made-up sites. The caller checks `seq` against OwnHeadSequence().
  void SetPeerAcked(const std::string& site, uint64_t seq);
  // Highest own sequence `site` acknowledged (kept across restarts; 0: none).
  uint64_t PeerAcked(const std::string& site) const;
  // The same per member of a peer site cluster (kept across restarts, so
  // the site's ack stays its slowest member's; docs/cluster.md). Only
  // sites in options().peers; only rises.
  void SetMemberAcked(const std::string& site, const std::string& member, uint64_t seq);
  // Member id -> ack of `site`'s members known here.
  std::map<std::string, uint64_t> MemberAcks(const std::string& site) const;
  // `members` have left `site`'s placement (the Replicator's rule,
  // docs/cluster.md "Member acks"): their acks are forgotten (their keys
  // deleted at the next seal pass or close that is written) and the site's
  // ack rises to the lowest of those left. Returns the members forgotten.
  std::vector<std::string> ForgetMemberAcks(const std::string& site,
                                            const std::set<std::string>& members);
  // Highest own log sequence written durably (0: none); peers may have
  // been sent entries up to it.
  uint64_t OwnHeadSequence() const;
  // Highest own log sequence applied to memory with every one before it
  // (at or below OwnHeadSequence: entries ship before they apply).
  uint64_t OwnAppliedSequence() const;

  // --- Site cluster shards (storage/store_shards.cc; docs/cluster.md,
  // "Moving shards") ---
  // Virtual shard -> number of tags here, for every shard with a tag, when
  // the site has `num_shards` shards (api/core/tag_shard.h). Scans the
  // catalog in slices (never holds the store lock for the whole scan).
  // REQUIRES: num_shards > 0.
  std::map<uint32_t, uint64_t> TagCountsByShard(uint32_t num_shards) const;
  // Writes the catalog records of every tag of `shard` (as they are, at
  // their own versions) to this store's own log, in entries of at most
  // `per_entry` tags, also while the shard is closed to own writes. A
  // move's target calls it before it opens the shard: it got those tags by
  // copy, so its own log would otherwise hold their samples without their
  // definitions, and a peer site that pulls this log before the previous
  // owner's would skip those samples (it does not know the tags yet).
  // Receivers take a record at a version they hold as a no-op. Returns the
  // number of tags announced. REQUIRES: num_shards > 0.
  absl::StatusOr<uint64_t> AnnounceShardTags(uint32_t shard, uint32_t num_shards,
                                             size_t per_entry = 1024);
  // The same for the tags of `ids` (those still here): a move's target
  // announces its shard's tags before the flip, and at the open only the
  // ones its tail brought since, so the handover waits for no log write
  // when the tail brought none.
  absl::StatusOr<uint64_t> AnnounceTags(const std::vector<TagId>& ids, size_t per_entry = 1024);
  // Deletes every local trace of the tags whose TagShard(name, num_shards)
  // is `shard`: catalog entries, chunks, rollups, heads (memory; their log
  // entries are fenced off by sealed/ markers at the applied sequences, so
  // no replay brings them back, also for a tag created again later), span,
  // rollup-dirty, overlap and purge keys, and the shard's move/<shard>
  // marker. Kept: tombstones (a delete stays a fact everywhere: dropping one
  // could only let a deleted incarnation back in) and the log (its entries
  // were acknowledged writes; peers may still need them). Nothing goes to
  // the own log: this is a local change of ownership, never shipped to a
  // peer as a delete.
  // Crash safety: `shard_drop/<shard>` is written durably first and removed
  // last; each batch of tags goes in one RocksDB write, so a tag is either
  // whole or gone, never half dropped; Open finishes a drop a crash
  // interrupted before the store serves anything. Calling it again is a
  // no-op once done. Returns the number of tags dropped.
  // REQUIRES: the caller routes no writes of `shard` here meanwhile (the
  // node does not own it); a tag of the shard created during the drop is
  // dropped too (the drop repeats until a scan finds none).
  // Errors: InvalidArgument (shard >= num_shards or num_shards 0),
  // FailedPrecondition (closed), the RocksDB write's.
  absl::StatusOr<uint64_t> DropShard(uint32_t shard, uint32_t num_shards);
  // The move ack on a move's source (OwnLog::SetMoveAck): own log entries
  // with sequence >= position are kept for the move's target (within the
  // retention limits, as a peer's ack) until ClearMoveAck; kept across
  // restarts. To protect entries from P on, set it before taking the
  // snapshot at P (a seal pass may trim anything sealed otherwise).
  absl::Status SetMoveAck(uint32_t shard, uint64_t position);
  absl::Status ClearMoveAck(uint32_t shard);
  // Shard -> position of every move ack held.
  std::map<uint32_t, uint64_t> MoveAcks() const;
  // Any move ack held; cheap (no lock), for a check on every write.
  bool HasMoveAcks() const;
  // --- Moving shards (storage/store_shard_copy.cc; docs/cluster.md,
  // "Moving shards", step 3) ---
  // Exports everything this store holds of virtual shard `shard` of
  // `num_shards` (tags with TagShard(name, num_shards) == shard) as of one
  // RocksDB snapshot taken with no seal or maintenance pass under way and
  // the store's mutex held: tombstones, catalog entries, sealed chunks and
  // rollups as stored (versions inside), each tag's span/overlap/dirty
  // state and its unsealed samples (head and sealing buffer), and P, the
  // own log sequence applied at that instant: every own entry at or below
  // P is in the copy, every later one is not (tail from P + 1). Hands the
  // pieces (storage/shard_copy/shard_copy.h, about max_piece_bytes each) to
  // `sink` in order; a sink error stops the export and is returned. Writes
  // and seals go on meanwhile (they wait only for the capture of the heads).
  // Errors: InvalidArgument for num_shards outside 1..kMaxClusterShards or
  // shard >= num_shards; RocksDB's.
  absl::StatusOr<shard_copy::ExportStats> ExportShard(
      uint32_t num_shards, uint32_t shard, size_t max_piece_bytes,
      const std::function<absl::Status(std::string piece)>& sink);
  // Applies one piece of ExportShard's output, in order, in one WriteBatch
  // together with the marker move/<shard> (*marker advanced: position and
  // num_shards from the first piece's header, pieces/records/bytes, and
  // complete with the last piece). Catalog entries are merged as a peer's
  // (last writer wins; a deleted incarnation stays deleted), chunks and
  // rollups are stored with their keys and versions, unsealed samples as
  // new chunks (their rollups marked dirty). Tombstones are applied first,
  // in a write of their own. REQUIRES: pieces of one export, in order,
  // starting with a fresh marker (pieces == 0); the target holds nothing of
  // the shard it must not keep (the wipe of step 2). *marker is unchanged
  // when an error is returned. Errors: InvalidArgument (a piece out of
  // order, a header of another shard), DataLoss (malformed piece),
  // FailedPrecondition (closed), RocksDB's.
  absl::Status ImportShardPiece(uint32_t shard, std::string_view piece,
                                shard_copy::MoveMarker* marker);
  // The marker move/<shard>, nullopt when none. Errors: DataLoss, RocksDB's.
  absl::StatusOr<std::optional<shard_copy::MoveMarker>> ReadMoveMarker(uint32_t shard) const;

  // --- Handing a shard over (storage/store_shard_fence.cc; docs/cluster.md,
  // "Moving shards", steps 5 and 6) ---
  struct ShardFence {
    // Every own log entry holding anything of the shard has a sequence at
    // or below it.
    uint64_t position = 0;
    // The hybrid clock at the close: at or above every version stamped here.
    Version clock = 0;
  };
  // What a closed shard does with own writes of its tags.
  enum class ClosedWrites {
    // Refused at once: the source, after the flip (they belong to the new
    // owner).
    kRefuse,
    // Samples of known tags wait up to StoreOptions::handover_write_hold
    // for OpenShardToWrites, then are refused: the target, from before the
    // flip until it opens. Catalog changes (a new tag too) and deletes are
    // refused at once (their versions are stamped before they reach the
    // queue, and must order after the source's). Not kept across a restart
    // (refused at once until the open).
    kHold,
  };
  // Closes `shard` of `num_shards` to this store's own writes: from now on a
  // write, catalog change or delete of a tag of the shard is refused
  // UNAVAILABLE naming the tag, the shard and `reason` (replicated, repair
  // and copied entries still apply), at once or after a wait (`writes`). Durable first and kept
  // across restarts (and drops of the shard: a move's target wipes while closed) until
  // OpenShardToWrites. Writes admitted
  // before the close are committed before the fence's position is taken (an
  // empty own entry queued behind them; its sequence is the position).
  // Closing a closed shard again returns a new fence (at or above the old).
  // Errors: InvalidArgument (shard >= num_shards), FailedPrecondition
  // (closed store), RocksDB's.
  absl::StatusOr<ShardFence> CloseShardToWrites(uint32_t shard, uint32_t num_shards,
                                                std::string reason,
                                                ClosedWrites writes = ClosedWrites::kRefuse);
  // Opens `shard` to own writes again; first moves the hybrid clock a second
  // past `observed` (the previous owner's fence clock), so every version
  // stamped here afterwards orders after every version that owner stamped
  // (versions have a resolution of one second), and keeps that as the
  // clock's durable floor. `observed` 0: no floor. A shard not closed: OK.
  // Raising the floor is a read and a write: one caller at a time.
  absl::Status OpenShardToWrites(uint32_t shard, Version observed);
  // The shards closed now.
  std::map<uint32_t, shard_copy::ClosedShard> ClosedShards() const;
  // UNAVAILABLE (as a write's) when the shard of tag `name` is closed: the
  // query paths refuse it, since a closed shard's data here is incomplete
  // (the target before the source's fence) or stale (the source after it).
  absl::Status CheckShardOpen(std::string_view name) const;

  // --- Live subscriptions (storage/store_subscriptions.cc) ---
  // Tells `listener` of every entry applied from now on (null: nobody);
  // see storage/applied_listener.h. `listener` must outlive its use.
  void SetAppliedListener(AppliedListener* listener);
  // Per origin (this site included), the highest sequence applied to
  // memory: where a subscription that starts now begins.
  std::map<std::string, uint64_t> AppliedSequences() const;
  // Entries of `origin`'s log (this site's or another's) with sequence >=
  // from_seq, up to about max_bytes, in sequence order. out->gap is set when
  // entries from from_seq on that were applied here are no longer in the
  // log (trimmed); out->head_seq is the origin's applied sequence.
  absl::Status ReadLog(const std::string& origin, uint64_t from_seq, size_t max_bytes,
                       OwnLogBatch* out) const;
  // The name of tag `id`. Errors: NotFound.
  absl::StatusOr<std::string> TagName(TagId id) const;

  // Drops every chunk of a tag with a retention whose samples are all older
  // than now - retention, with their rollups (whole chunks, never single
  // samples). Runs in the background every minute; public for tests/admin.
  absl::Status ApplyRetention();
  // Rewrites chunks that overlap in time (late data sealed over older
  // chunks) into non-overlapping ones. Runs in the background after seals.
  absl::Status CompactOverlaps();
  // The background merge pass (not forced, as the sealer runs it every
  // minute): joins small adjacent chunks that ended over an hour ago, by
  // the tiered rule (storage/maintenance/compactor.h). For tests.
  absl::Status MergeChunks();

  // Seals every head now (tests and graceful shutdown).
  absl::Status SealAll();
  StoreStats Stats() const;

  // --- Administration (storage/store_admin.cc) ---
  // Writes a consistent online copy of the database into `dir` (a RocksDB
  // checkpoint: memtables are flushed, SST files hard-linked when `dir` is on
  // the same filesystem, copied otherwise). `dir` must not exist; its parent
  // must. The copy opens as a normal data dir of the same site (restore =
  // start historiand with --data_dir on it, or copy it back).
  // Errors: AlreadyExists, InvalidArgument (empty dir), Unavailable (I/O).
  absl::Status Backup(const std::string& dir);
  // Seals every head (trimming the log), merges and rewrites chunks, then
  // compacts every column family over its whole key range (blocking).
  absl::Status Compact();
  // RocksDB figures of one column family.
  struct ColumnFamilyStats {
    std::string name;
    uint64_t sst_bytes = 0;                 // rocksdb.total-sst-files-size
    uint64_t live_sst_bytes = 0;            // rocksdb.live-sst-files-size
    uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes
    uint64_t memtable_bytes = 0;            // rocksdb.cur-size-all-mem-tables
    uint64_t table_readers_bytes = 0;       // rocksdb.estimate-table-readers-mem
    uint64_t estimated_keys = 0;            // rocksdb.estimate-num-keys
    uint64_t write_stops = 0;               // cfstats io_stalls.total_stop
    uint64_t write_slowdowns = 0;           // cfstats io_stalls.total_slowdown
  };
  std::vector<ColumnFamilyStats> ColumnFamilyProperties() const;
  // After a background error (e.g. the disk filled up) RocksDB refuses every
  // write until resumed: retries DB::Resume(). OK when writes are accepted
  // again (also when there was no error); Unavailable while the cause
  // persists.
  absl::Status ResumeAfterError();

  // --- Alarm rules and events (storage/store_events.cc, docs/events.md) ---
  // Creates (`create`; AlreadyExists when the name is taken) or replaces
  // (NotFound when missing) a rule, after checking it against the catalog:
  // InvalidArgument for an unknown tag or a glob matching none, a string
  // tag, a limit rule without a limit or eng range, a rate rule without a
  // window, a stale rule on a tag without stale_after_ns, a twin rule
  // without a twin map or home site; ResourceExhausted for a glob over
  // rule_max_tags tags or more than max_rules rules. The rule travels to
  // the peers in the log.
  absl::StatusOr<events::RuleRecord> PutRule(events::RuleRecord rule, bool create);
  // Errors: NotFound.
  absl::Status DeleteRule(std::string_view name);
  // PutRule in two steps, for a site cluster (server/cluster/cluster_rules.h),
  // where etcd holds the site's rules: the checks and a version, then the
  // record stored.
  struct RuleCheck {
    bool create = false;
    // The tags the rule covers as their owners reported them (name ->
    // info), checked instead of this store's catalog; whether the name is
    // taken is then the caller's check (etcd). Null: this store's catalog
    // and rules.
    const std::map<std::string, engine::TagInfo>* catalog = nullptr;
    // The version is above this one (the site's newest record of the name)
    // and above every record of the name held here.
    Version floor = 0;
  };
  absl::StatusOr<events::RuleRecord> PrepareRule(events::RuleRecord rule, const RuleCheck& check);
  // A deletion record of live rule `name` (NotFound when none), versioned
  // as PrepareRule does.
  absl::StatusOr<events::RuleRecord> PrepareRuleDeletion(std::string_view name, Version floor);
  // A version for a record of rule `name` above `floor` and above every
  // record of that name held here.
  Version StampRuleVersion(std::string_view name, Version floor) ABSL_LOCKS_EXCLUDED(mu_);
  // Stores `rule` (PrepareRule's, or another member's record) through the
  // log unless this node holds it or a newer record of its name, then waits
  // until the evaluator reflects it.
  absl::Status ApplyRule(const events::RuleRecord& rule);
  // The same for several, in few log entries and one wait.
  absl::Status ApplyRules(const std::vector<events::RuleRecord>& rules);
  // The record of rule `name` held here, deleted or not; nullopt when none.
  std::optional<events::RuleRecord> FindRule(std::string_view name) const;
  // Every rule by name; deleted ones only with `include_deleted`.
  std::vector<events::RuleRecord> ListRules(bool include_deleted = false) const;
  // Which catalog tags the rules watch (a site cluster: those of the shards
  // this member owns, or hands over, and holds open to writes, so a tag
  // being moved in is not watched before the shard opens here: no stale
  // alarm on a tag whose samples still go to the source). Null: every tag.
  // `scope` may take the store's and other locks: it is never called with
  // one held. Call RescopeRules whenever its answers change. Returns once
  // no resolve uses the scope it replaces (set null before what a scope
  // captured goes).
  void SetRuleScope(std::function<bool(std::string_view tag)> scope)
      ABSL_LOCKS_EXCLUDED(rule_scope_mu_);
  // The rules are resolved again (the scope's answers changed).
  void RescopeRules();
  // Rule records applied since open (any origin), and a wait for more
  // (EventsPart::RuleChanges).
  uint64_t RuleChanges() const;
  uint64_t WaitRuleChange(uint64_t seen, absl::Duration timeout) const;
  // Records an acknowledgement by `user` (travels to the peers; the
  // earliest ack wins everywhere). Errors: NotFound for an unknown event.
  absl::StatusOr<events::EventRecord> AckEvent(uint64_t id, std::string_view user,
                                               std::string_view comment);
  absl::StatusOr<events::EventRecord> GetEvent(uint64_t id) const;
  absl::StatusOr<std::vector<events::EventRecord>> ListEvents(
      const events::EventFilter& filter) const;
  // The feed of changed events (Events.Subscribe).
  uint64_t EventFeedHead() const;
  // Anti-entropy of events (docs/events.md): every rule and event record in
  // key order, canonically encoded (EventsPart::ForEachRecord)...
  absl::Status ForEachEventRecord(
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // ...and a peer's records merged here: rule and event records only
  // (InvalidArgument for any other key or an undecodable value), written as
  // merge operands through this node's own log, so they reach every peer
  // too (merging is idempotent). Returns how many were written.
  absl::StatusOr<uint64_t> MergeEventRecords(std::vector<engine::EventWrite> records);
  events::EventChanges WaitEventChanges(uint64_t after, absl::Duration timeout) const;
  // Ends every WaitEventChanges, now and later, with `closed` (node stop).
  void CloseEventFeed();

 private:
  explicit Store(StoreOptions options);

  // --- Open and recovery (store.cc) ---
  // Makes the parts, in dependency order, over the open `db_`.
  void MakeParts();
  absl::Status LoadState();
  // FailedPrecondition naming kSchemaVersionKey and its value when the data
  // dir's schema is neither engine::kSchemaVersion nor 1 (or absent), which
  // it migrates (Rollups::MigrateHourRecords) and then marks as
  // kSchemaVersion.
  absl::Status CheckSchemaVersion();
  absl::Status LoadCatalog();
  // Overlap ranges kept by seals before a restart (overlap/ keys). After
  // LoadCatalog.
  absl::Status LoadOverlaps();
  // Once per data dir (kSpansCheckedKey): widens each tag's span/ key to its
  // widest chunk. After LoadCatalog.
  absl::Status CheckSpans();
  // Records that `id` has overlapping chunks in [min_ts, max_ts], for the
  // overlap pass.
  void NoteOverlap(TagId id, int64_t min_ts, int64_t max_ts) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tombstones and pending purges from the state CF.
  absl::Status LoadTombstones();
  absl::Status ReplayLog();
  // The shards closed to own writes (shard_closed/ keys), before any write.
  absl::Status LoadClosedShards();
  // UNAVAILABLE when `entry` (an own write, catalog change or delete about
  // to be queued) touches a tag of a closed shard.
  absl::Status CheckShardsOpen(const engine::LogEntry& entry) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The first closed shard `entry` touches, and in `tag` the tag that
  // touches it; nullptr when none.
  const shard_copy::ClosedShard* FirstClosedShard(const engine::LogEntry& entry,
                                                  std::string_view* tag) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // As CheckShardsOpen, but an entry of samples only, of a shard closed
  // with ClosedWrites::kHold, first waits (letting go of mu_) until its
  // shards change or the hold runs out. FailedPrecondition when the store
  // closed meanwhile. The caller checks again after any later wait of its
  // own.
  absl::Status AwaitShardsOpen(const engine::LogEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes the drops a crash interrupted (shard_drop/ keys). After
  // ReplayLog, before the sealer starts.
  absl::Status FinishShardDrops();
  // One pass of DropShard over the tags of `shard` found by one catalog
  // scan; returns how many it dropped.
  absl::StatusOr<uint64_t> DropShardPass(uint32_t shard, uint32_t num_shards, uint64_t* batch);
  // Close's last step: the trimmed log's disk space back, every memtable
  // flushed (no WAL left to replay).
  absl::Status ReclaimAtClose() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);

  // --- Shared steps (defined where used) ---
  int64_t NowNs() const { return options_.now_ns(); }
  // A version for a new write or catalog change: the hybrid clock, above
  // the tombstones' floor.
  Version NextVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same, above `floor` too.
  Version NextVersionAbove(Version floor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Leaves out of `s` the samples `considered` picks that are held here at
  // the same timestamp with a version as new or newer.
  absl::Status DropHeldTies(
      engine::SeriesData* s,
      absl::FunctionRef<bool(const codec::ChunkColumns&, size_t)> considered) const;
  // ApplyRepair's first step: leaves out of `s` the samples this site
  // stamped that it holds as new or newer (store_write.cc says why).
  absl::Status KeepOwnCorrections(engine::SeriesData* s) const;
  // The version of a local delete: the hybrid clock, and at least every
  // version seen (tombstones' max_seen()).
  Version TombstoneVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // (storage/store_parts.h) The tag of `id`; null when unknown.
  TagState* FindTag(TagId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK unless a series of `entry` (entry `seq` of `origin`) is of a tag
  // with no definition here, none in the entry, and no tombstone here
  // (ApplyReplicated's FailedPrecondition).
  absl::Status CheckSeriesDefined(const std::string& origin, uint64_t seq,
                                  const engine::LogEntry& entry) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // REQUIRES: mu_ or the catalog's catalog_mu() held.
  TagState* FindTagByName(std::string_view name) const;
  // Checks dedupe, stamps the version, encodes and queues `w`. Returns a
  // result when the batch is done already (a retry) or refused.
  std::optional<absl::StatusOr<WriteResult>> Enqueue(PendingWrite* w);
  absl::StatusOr<WriteResult> Complete(PendingWrite* w);
  // Backpressure of --max_head_bytes (Enqueue, ApplyReplicated,
  // ApplyRepair): waits while the heads are over the budget, for the sealer
  // to take them down. Errors: Unavailable (nothing written, retry later)
  // naming --max_head_bytes, the head bytes and the last seal error when a
  // seal pass has failed since the last one that succeeded and the heads
  // are still over the budget (sealing may never catch up: a full disk, a
  // RocksDB write error); FailedPrecondition once the store is closed.
  absl::Status AwaitHeadRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the error of a seal pass run outside the sealer thread
  // (SealAll, Close); the sealer thread's go through its logger.
  void NoteSealPassFailed(const absl::Status& s) ABSL_LOCKS_EXCLUDED(mu_);
  // For an own write about to be queued: applies the tags' deadbands to
  // its series in place, and restates in it the definition of each tag
  // another site made that this store writes for the first time since it
  // opened (foreign_tags_restated_), so a third site pulling this log has
  // the definition before the samples whatever its link to the tag's site
  // does (docs/replication.md, "Tags of another site's making").
  void PrepareOwnEntry(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submits own event records (merge operands) in one log entry.
  absl::Status SubmitEventWrites(std::vector<engine::EventWrite> writes);
  // The evaluator's rules for `rules` (EventsHooks::resolve).
  std::vector<events::RuleSpec> ResolveRules(const std::vector<events::RuleRecord>& rules) const;
  // Submits one own catalog change. `check_open`: refused while a tag's
  // shard is closed to own writes (false: AnnounceShardTags's records,
  // which change nothing).
  absl::Status SubmitCatalog(engine::LogEntry entry, bool check_open = true);
  // AnnounceShardTags's and AnnounceTags's records, `per_entry` a log entry.
  absl::StatusOr<uint64_t> AnnounceTagInfos(std::vector<engine::TagInfo> infos, size_t per_entry);
  // Submits `w` (an entry carrying tombstones) and runs the purges it
  // queued. Every tombstone is applied this way, holding seal_mu_, so no
  // seal, merge, overlap rewrite or retention pass holds the tag's chunks
  // meanwhile and writes them back after the delete.
  absl::Status SubmitTombstones(PendingWrite* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(seal_mu_);
  // Copies the unsealed samples of `tag` in [start, end) (sealing buffer and
  // head, both reset to the tag's type; the first max_samples of each, 0:
  // all) and the tag's widest chunk span. Takes mu_. Errors: NotFound for an
  // unknown tag.
  absl::Status CopyUnsealed(TagId tag, int64_t start, int64_t end, size_t max_samples,
                            codec::ChunkColumns* sealing, codec::ChunkColumns* head,
                            int64_t* max_span) const;
  // The widest chunk span of `tag` now, at least `copied` (a read's copy):
  // after a read's chunk view is fixed, a wider one than its copy means a
  // merge wrote a wider chunk meanwhile (chunks.max_span widens before).
  int64_t SpanNow(TagId tag, int64_t copied) const ABSL_LOCKS_EXCLUDED(mu_);

  // --- State: the parts (docs/storage.md, "Structure") ---
  // Declared in construction order; destroyed in reverse (the sealer thread
  // first). Locks (docs/storage.md, "Threads and locks"): seal_mu_ before
  // mu_; mu_ before the catalog's catalog_mu and the commit log's write_mu.
  const StoreOptions options_;
  std::unique_ptr<engine::RocksDb> db_;
  // The store-wide mutex: the parts guarded by it (catalog, heads, commit
  // log, own log, chunk store, maintenance sets) are given it and say so
  // (their mu()).
  mutable absl::Mutex mu_;
  // Guards rule_scope_, held (shared) while ResolveRules calls it: taken
  // before mu_ (the scope may take it), never with mu_ held.
  mutable absl::Mutex rule_scope_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::function<bool(std::string_view tag)> rule_scope_ ABSL_GUARDED_BY(rule_scope_mu_);
  // One seal or maintenance pass at a time: the sealer thread's passes, and
  // SealAll, Close, Compact, ApplyRetention, CompactOverlaps and tombstone
  // submissions from other threads. The passes take mu_ for short looks at
  // the catalog and heads.
  absl::Mutex seal_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The tags (storage/catalog/catalog.h): its indexes change under mu_ and
  // its own catalog_mu both; name lookups take only catalog_mu. Tag states
  // are never freed while the store is open (a deleted tag is marked and
  // kept in the catalog's graveyard).
  std::unique_ptr<Catalog<TagState>> catalog_;
  // The tags' unsealed samples, newest samples and deadbands, under mu_.
  std::unique_ptr<Head> heads_;
  // Deleted tag incarnations, the version floor, the highest version seen
  // and the purges due (docs/consistency.md).
  std::unique_ptr<TombstoneSet> tombstones_ ABSL_PT_GUARDED_BY(mu_);
  // Chunk keys, ids, spans, reads and the one chunk writer.
  std::unique_ptr<ChunkStore> chunk_store_;
  // Dirty markers, recompute and reads of the rollups.
  std::unique_ptr<Rollups> rollups_;
  // Group commit, sequences, hybrid clock, dedupe window, the closed flag.
  std::unique_ptr<CommitLog> commit_log_;
  // The own-log index, peers' acks, reads for shipping.
  std::unique_ptr<OwnLog> own_log_;
  // The background passes' host (seals, rollups, purges, the log trim).
  std::unique_ptr<StoreMaintenanceHost> host_;
  std::unique_ptr<Compactor> compactor_;
  // Alarm rules and events (storage/events/), with its own lock and thread.
  std::unique_ptr<events::EventsPart> events_;
  // The commit log's steps of a group that are the store's.
  std::unique_ptr<StoreApplier> applier_;
  // Shards closed to own writes while a move hands them over.
  shard_copy::ClosedShards closed_shards_ ABSL_GUARDED_BY(mu_);
  // !closed_shards_.empty(), for the query paths' check without mu_.
  std::atomic<bool> any_shard_closed_{false};
  // Bumped at every change of closed_shards_: what a held write waits for.
  uint64_t closed_shards_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writes_held_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writes_held_total_ ABSL_GUARDED_BY(mu_) = 0;
  // Tags of another site's making whose definition an own write restated
  // since open (PrepareOwnEntry), with the definition's version (a newer
  // one, e.g. the tag deleted and made again, is restated again); a write
  // that failed takes its back out.
  absl::flat_hash_map<TagId, Version> foreign_tags_restated_ ABSL_GUARDED_BY(mu_);
  // The sealer thread (stopped first by ~Store).
  std::unique_ptr<Sealer> sealer_;
};

// True when `name` matches `glob` (`*` any run, `?` one character).
// O(|glob| * |name|) at worst (never exponential); callers bound |glob|.
bool GlobMatch(std::string_view glob, std::string_view name);

}  // namespace historian

#endif  // HISTORIAN_STORAGE_STORE_H_
