#include "storage/engine/key_format.h"

namespace historian::engine {

void PutBigEndian64(uint64_t v, std::string* out) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, 8);
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string ChunkKey(TagId tag, int64_t min_ts, uint64_t chunk_id) {
  std::string key;
  key.reserve(kChunkKeySize);
  PutBigEndian64(tag, &key);
  PutBigEndian64(OrderedFromSigned(min_ts), &key);
  PutBigEndian64(chunk_id, &key);
  return key;
}

std::string ChunkSeekKey(TagId tag, int64_t min_ts) {
  std::string key;
  PutBigEndian64(tag, &key);
  PutBigEndian64(OrderedFromSigned(min_ts), &key);
  return key;
}

ChunkKeyParts ParseChunkKey(std::string_view key) {
  return {GetBigEndian64(key.data()), SignedFromOrdered(GetBigEndian64(key.data() + 8)),
          GetBigEndian64(key.data() + 16)};
}

std::string RollupKey(TagId tag, int64_t width, int64_t bucket_start) {
  std::string key;
  key.reserve(24);
  PutBigEndian64(tag, &key);
  PutBigEndian64(static_cast<uint64_t>(width), &key);
  PutBigEndian64(OrderedFromSigned(bucket_start), &key);
  return key;
}

RollupKeyParts ParseRollupKey(std::string_view key) {
  return {GetBigEndian64(key.data()), static_cast<int64_t>(GetBigEndian64(key.data() + 8)),
          SignedFromOrdered(GetBigEndian64(key.data() + 16))};
}

std::string RollupDirtyKey(TagId tag) {
  std::string key = "rollup_dirty/";
  PutBigEndian64(tag, &key);
  return key;
}

std::string TombstoneKey(TagId tag) {
  std::string key = kTombstonePrefix;
  PutBigEndian64(tag, &key);
  return key;
}

std::string PurgeKey(TagId tag) {
  std::string key = kPurgePrefix;
  PutBigEndian64(tag, &key);
  return key;
}

std::string LogPrefix(std::string_view origin_site) {
  std::string key;
  key.push_back(static_cast<char>(origin_site.size()));
  key.append(origin_site);
  return key;
}

std::string LogKey(std::string_view origin_site, uint64_t seq) {
  std::string key = LogPrefix(origin_site);
  PutBigEndian64(seq, &key);
  return key;
}

bool ParseLogKey(std::string_view key, std::string_view* origin_site, uint64_t* seq) {
  if (key.empty()) return false;
  size_t len = static_cast<uint8_t>(key[0]);
  if (key.size() != 1 + len + 8) return false;
  *origin_site = key.substr(1, len);
  *seq = GetBigEndian64(key.data() + 1 + len);
  return true;
}

std::string SealedSeqKey(TagId tag, std::string_view origin_site) {
  std::string key = kSealedPrefix;
  PutBigEndian64(tag, &key);
  key.append(origin_site);
  return key;
}

std::string OverlapKey(TagId tag) {
  std::string key = "overlap/";
  PutBigEndian64(tag, &key);
  return key;
}

namespace {
std::string ShardKey(std::string_view prefix, uint32_t shard) {
  std::string key(prefix);
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>(shard >> shift));
  return key;
}
}  // namespace

std::string ShardDropKey(uint32_t shard) { return ShardKey(kShardDropPrefix, shard); }
std::string MoveAckKey(uint32_t shard) { return ShardKey(kMoveAckPrefix, shard); }
std::string MoveMarkerKey(uint32_t shard) { return ShardKey(kMoveMarkerPrefix, shard); }
std::string ShardClosedKey(uint32_t shard) { return ShardKey(kShardClosedPrefix, shard); }

bool ParseShardKey(std::string_view key, std::string_view prefix, uint32_t* shard) {
  if (key.size() != prefix.size() + 4 || key.substr(0, prefix.size()) != prefix) return false;
  uint32_t v = 0;
  for (size_t i = prefix.size(); i < key.size(); ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  *shard = v;
  return true;
}

std::string SpanKey(TagId tag) {
  std::string key = "span/";
  PutBigEndian64(tag, &key);
  return key;
}

std::string ClientPrefix(std::string_view client_id) {
  std::string key = "client/";
  key.append(client_id);
  key.push_back('\0');
  return key;
}

std::string ClientBatchKey(std::string_view client_id, uint64_t batch_seq) {
  std::string key = ClientPrefix(client_id);
  PutBigEndian64(batch_seq, &key);
  return key;
}

std::string ClientBatchKey(std::string_view client_id, uint64_t batch_seq, uint64_t digest) {
  std::string key = ClientBatchKey(client_id, batch_seq);
  if (digest != 0) PutBigEndian64(digest, &key);
  return key;
}

std::string CursorKey(std::string_view origin_site) { return "cursor/" + std::string(origin_site); }

std::string PeerAckedKey(std::string_view peer_site) {
  return "peer_acked/" + std::string(peer_site);
}

std::string PeerMemberAckedKey(std::string_view peer_site, std::string_view member) {
  return std::string(kPeerMemberAckedPrefix) + std::string(peer_site) + "/" + std::string(member);
}

}  // namespace historian::engine
