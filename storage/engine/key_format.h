// File: key_format.h
// Byte layouts of RocksDB keys. Integers are big-endian and signed ones have
// their sign bit flipped, so byte order equals numeric order in scans.
#ifndef HISTORIAN_STORAGE_ENGINE_KEY_FORMAT_H_
#define HISTORIAN_STORAGE_ENGINE_KEY_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "api/core/types.h"

namespace historian::engine {

void PutBigEndian64(uint64_t v, std::string* out);
uint64_t GetBigEndian64(const char* p);
// Bytes of a u64 written by PutBigEndian64 (state CF values, id suffixes).
inline constexpr size_t kU64Size = 8;
inline uint64_t OrderedFromSigned(int64_t v) { return static_cast<uint64_t>(v) ^ (1ull << 63); }
inline int64_t SignedFromOrdered(uint64_t v) { return static_cast<int64_t>(v ^ (1ull << 63)); }

// chunks CF: tag id (8) | min timestamp (8, ordered) | chunk id (8).
inline constexpr size_t kChunkKeySize = 24;
std::string ChunkKey(TagId tag, int64_t min_ts, uint64_t chunk_id);
// The smallest key of `tag` whose min timestamp is >= min_ts.
std::string ChunkSeekKey(TagId tag, int64_t min_ts);
struct ChunkKeyParts {
  TagId tag;
  int64_t min_ts;
  uint64_t chunk_id;
};
// REQUIRES: key.size() == kChunkKeySize.
ChunkKeyParts ParseChunkKey(std::string_view key);

// rollups CF: tag id (8) | bucket width (8) | bucket start (8, ordered).
std::string RollupKey(TagId tag, int64_t width, int64_t bucket_start);
struct RollupKeyParts {
  TagId tag;
  int64_t width;
  int64_t bucket_start;
};
// REQUIRES: key.size() == 24.
RollupKeyParts ParseRollupKey(std::string_view key);

// log CF: origin site length (1) | origin site | sequence (8).
std::string LogKey(std::string_view origin_site, uint64_t seq);
// The prefix of every log key of `origin_site`.
std::string LogPrefix(std::string_view origin_site);
// Returns false when `key` is malformed.
bool ParseLogKey(std::string_view key, std::string_view* origin_site, uint64_t* seq);

// state CF keys.
std::string SealedSeqKey(TagId tag, std::string_view origin_site);  // -> u64 seq
inline constexpr char kSealedPrefix[] = "sealed/";
std::string SpanKey(TagId tag);  // -> i64 max chunk span
// Schema 3: a tag without a span/ key reads as this widest span (an upper
// bound: reads seek from start - span and skip chunks ending before start).
// A span in [kImplicitSpanFloor, kImplicitSpan] gets no key (the common
// 15-60 minute chunks of 1 Hz tags; a read then visits at most ~4x the chunks
// it needs before start); a narrower or wider one keeps its key. Lowering
// kImplicitSpan would make older dirs' missing keys too narrow: a format
// change (a new schema version).
inline constexpr int64_t kImplicitSpan = int64_t{3600} * 1'000'000'000;
inline constexpr int64_t kImplicitSpanFloor = kImplicitSpan / 4;
// Whether a widest span of `span` is written as a span/ key.
inline bool SpanNeedsKey(int64_t span) { return span < kImplicitSpanFloor || span > kImplicitSpan; }
std::string ClientBatchKey(std::string_view client_id, uint64_t batch_seq);  // -> u64 accepted
// A batch written with a dedupe digest (a site cluster node's part of a
// batch, docs/cluster.md "Routing writes"): ClientBatchKey + u64 BE digest
// (digest 0: ClientBatchKey itself). -> u64 accepted.
std::string ClientBatchKey(std::string_view client_id, uint64_t batch_seq, uint64_t digest);
std::string ClientPrefix(std::string_view client_id);
std::string CursorKey(std::string_view origin_site);   // -> u64 highest applied seq
std::string PeerAckedKey(std::string_view peer_site);  // -> u64 own seq the peer applied
std::string RollupDirtyKey(TagId tag);                 // -> i64 min ts, i64 max ts (BE)
// A member of a peer site cluster: peer_member_acked/<site>/<member> -> u64
// own seq that member applied.
inline constexpr std::string_view kPeerMemberAckedPrefix = "peer_member_acked/";
std::string PeerMemberAckedKey(std::string_view peer_site, std::string_view member);
// Time range where the tag's chunks overlap, waiting for the overlap rewrite
// (kept across restarts): i64 min ts, i64 max ts (ordered BE).
std::string OverlapKey(TagId tag);
// Present once every tag's span/ key covers its widest chunk (set by the
// one-time scan at open; older versions did not widen it at overlap
// rewrites).
inline constexpr char kSpansCheckedKey[] = "node/spans_checked";
// A deleted incarnation of `tag` -> u64 version (engine::Tombstone). Never
// trimmed: refuses that incarnation's samples from any path for good.
std::string TombstoneKey(TagId tag);
inline constexpr char kTombstonePrefix[] = "tombstone/";
// A tombstone that met a newer incarnation of `tag` here -> u64 version: its
// chunks still hold samples at or below it until the purge (redone at open).
std::string PurgeKey(TagId tag);
inline constexpr char kPurgePrefix[] = "purge/";
// Site cluster shard moves (docs/cluster.md, "Moving shards"). Shard
// numbers are 4 bytes big-endian after the prefix.
// A drop of virtual shard s under way -> u64 num_shards (Store::DropShard):
// written before the first tag goes, removed after the last; Open finishes
// a drop a crash interrupted.
inline constexpr char kShardDropPrefix[] = "shard_drop/";
std::string ShardDropKey(uint32_t shard);
// The move ack of shard s on the move's source -> u64 own log position P:
// own entries with sequence >= P are kept (Store::SetMoveAck).
inline constexpr char kMoveAckPrefix[] = "move_ack/";
std::string MoveAckKey(uint32_t shard);
// The target's marker of the move of shard s (source, P, cursor; written by
// the mover's copy and tail). A drop of s removes it.
inline constexpr char kMoveMarkerPrefix[] = "move/";
std::string MoveMarkerKey(uint32_t shard);
// A shard closed to own writes while a move hands it over -> u64
// num_shards and the reason (Store::CloseShardToWrites); removed by
// OpenShardToWrites and by a drop of the shard.
inline constexpr char kShardClosedPrefix[] = "shard_closed/";
std::string ShardClosedKey(uint32_t shard);
// The shard of a key made by the four functions above from `prefix`;
// false when `key` is not one.
bool ParseShardKey(std::string_view key, std::string_view prefix, uint32_t* shard);
inline constexpr char kNextSeqKey[] = "node/next_seq";
// u64 Version the hybrid clock never goes below (a shard move's target
// opened past the source's fence clock: Store::OpenShardToWrites).
inline constexpr char kClockFloorKey[] = "node/clock_floor";
// u64 Version: the highest version the store has seen, raised where the
// log entries that carried versions are trimmed and by shard imports
// (commit_log/version_seen.h); noted again at open.
inline constexpr char kVersionSeenKey[] = "node/version_seen";
inline constexpr char kNextChunkIdKey[] = "node/next_chunk_id";
inline constexpr char kSiteKey[] = "node/site";
// The data dir's schema; checked at open, which refuses any other value (a
// dir without the key predates it and is schema 1). Schema 2: rollups are
// day records (engine/rollup_day.h); a schema-1 dir is migrated at open.
// Schema 3: a missing span/ key means kImplicitSpan, not 0 (a schema-2
// binary would read such a tag's chunks from too late a start: it must
// refuse the dir); a schema-2 dir becomes schema 3 as it is (its missing
// keys meant 0, which kImplicitSpan covers).
inline constexpr char kSchemaVersionKey[] = "node/schema_version";
inline constexpr char kSchemaVersion[] = "3";
inline constexpr char kSchemaVersionDayRollups[] = "2";
inline constexpr char kSchemaVersionHourRollups[] = "1";
// The twin-site tag prefix pair, "us.=mx." (--twin_map); absent when none.
inline constexpr char kTwinMapKey[] = "node/twin_map";
// Own sequences never used (skipped at a restore): pairs of u64 BE
// [start, end), concatenated.
inline constexpr char kSeqHolesKey[] = "node/seq_holes";

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_KEY_FORMAT_H_
