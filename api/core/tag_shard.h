// File: tag_shard.h
// Which virtual shard of a site cluster a tag belongs to (docs/cluster.md,
// "Placement"): the one definition shared by nodes, the C++ client, the
// gateway and the CLI, so every router agrees. Pure and thread-safe.
//
// The function is part of the on-disk and on-wire contract: a cluster's data
// is placed by it, so it must never change. tag_shard_test pins its values.
#ifndef HISTORIAN_API_CORE_TAG_SHARD_H_
#define HISTORIAN_API_CORE_TAG_SHARD_H_

#include <cstdint>
#include <string_view>

namespace historian {

// The most virtual shards a site cluster may have (placement records one
// owner per shard; 65,536 keeps that record under a megabyte).
inline constexpr uint32_t kMaxClusterShards = 65536;

// MurmurHash3's fmix64 finalizer: every output bit depends on every input bit.
inline uint64_t Fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

// A stable 64-bit hash of a tag name: FNV-1a 64 over the bytes, then
// MurmurHash3's fmix64 finalizer. FNV-1a's multiply only carries upwards, so
// its low k bits depend only on the low k bits of each byte; with a
// power-of-two shard count the shard would ignore the rest of every
// character. The finalizer makes every bit depend on every byte.
inline uint64_t TagPlacementHash(std::string_view name) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;  // FNV-1a 64 prime
  }
  return Fmix64(h);
}

// The shard of `name` in a cluster of `num_shards` (1..kMaxClusterShards)
// virtual shards: hash mod num_shards.
inline uint32_t TagShard(std::string_view name, uint32_t num_shards) {
  return static_cast<uint32_t>(TagPlacementHash(name) % num_shards);
}

}  // namespace historian

#endif  // HISTORIAN_API_CORE_TAG_SHARD_H_
