// File: replication_filter.h
// What a node of a site cluster takes from another site (docs/cluster.md,
// "Between site clusters"): only the tags whose shard, in its own site's
// numbering, it owns. ShardSet is that ownership (from a PullRequest's or
// DigestRequest's ShardFilter, or from the local placement); FilterLogEntry
// cuts one entry of the sender's own log down to it, keeping its sequence.
//
// Who keeps what: every series of a remote entry goes to exactly one node
// of the pulling site (the owner of its tag's shard there), and every node
// of that site pulls every entry with its own cursor. So an entry holding
// tags of several local owners is applied, in parts, by each of them; a
// cursor only ever passes what its own node was sent in full.
//
// Thread-safety: ShardSet is an immutable value; the functions are pure
// apart from reading the store's catalog (thread-safe).
#ifndef HISTORIAN_SERVER_REPLICATION_FILTER_H_
#define HISTORIAN_SERVER_REPLICATION_FILTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "historian/v1/replication.pb.h"
#include "storage/store.h"

namespace historian::server {

class ShardSet {
 public:
  // Checks num_shards (1..kMaxClusterShards) and every shard (< num_shards,
  // each once); InvalidArgument names the field and the limit.
  static absl::StatusOr<ShardSet> FromProto(const v1::ShardFilter& proto);
  static absl::StatusOr<ShardSet> Create(uint32_t num_shards, std::vector<uint32_t> shards);

  v1::ShardFilter ToProto() const;
  uint32_t num_shards() const { return num_shards_; }
  const std::vector<uint32_t>& shards() const { return shards_; }
  bool OwnsShard(uint32_t shard) const { return shard < owned_.size() && owned_[shard]; }
  bool OwnsTag(std::string_view name) const;
  // Shards of `*this` not in `before` (all of them when the shard counts
  // differ): what a node must range-sync when its ownership grows.
  std::vector<uint32_t> GainedSince(const ShardSet& before) const;
  // True when every shard of `o` is in `*this` (false when the shard counts
  // differ).
  bool Contains(const ShardSet& o) const;
  // The shards in both (none when the shard counts differ); the result has
  // this set's shard count.
  ShardSet Intersect(const ShardSet& o) const;
  bool operator==(const ShardSet& o) const {
    return num_shards_ == o.num_shards_ && shards_ == o.shards_;
  }

  // "num_shards:s1,s2,..." and back (the file a node keeps its last
  // complete ownership in).
  std::string Encode() const;
  static absl::StatusOr<ShardSet> Decode(absl::string_view text);

 private:
  ShardSet(uint32_t num_shards, std::vector<uint32_t> shards);
  uint32_t num_shards_ = 0;
  std::vector<uint32_t> shards_;  // ascending
  std::vector<bool> owned_;
};

// Cuts `entry` (the storage log format) down to `filter`: series and catalog
// upserts of owned tags only (a series' name comes from the entry's own
// upserts, else the store's catalog; a series whose name is unknown, e.g.
// of a tag deleted since, is kept: the receiver drops samples of tags it
// does not hold), catalog deletes by name of owned tags; tombstones and
// event records all. Sets *changed when anything was cut (then `*out` holds
// the re-encoded entry, else it is untouched). DataLoss for corrupt bytes.
// `owned_cache` (may be null) remembers tag id -> owned across the entries
// of one stream (an id is a hash of its name, so the answer never changes).
using OwnedCache = absl::flat_hash_map<TagId, bool>;
absl::Status FilterLogEntry(const Store& store, const ShardSet& filter, std::string_view entry,
                            std::string* out, bool* changed, OwnedCache* owned_cache = nullptr);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLICATION_FILTER_H_
