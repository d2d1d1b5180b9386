// File: placement.h
// A site cluster's placement (docs/cluster.md, "Placement"): its members and
// the owner of each of its fixed number of virtual shards, as stored in etcd
// under /historian/<site>/ and served to clients by Cluster.Placement.
//
// An immutable value: build it with Create or Balanced, share copies freely;
// every method is const and safe to call from any thread.
#ifndef HISTORIAN_SERVER_CLUSTER_PLACEMENT_H_
#define HISTORIAN_SERVER_CLUSTER_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "historian/v1/cluster.pb.h"

namespace historian::cluster {

// etcd keys of a site's cluster state. Sites never share an etcd, but the
// site in the prefix keeps a mistaken shared one from mixing two sites.
std::string PlacementKey(std::string_view site);   // /historian/<site>/placement
std::string MembersPrefix(std::string_view site);  // /historian/<site>/members/
std::string MemberKey(std::string_view site, std::string_view member_id);

struct PlacementMember {
  std::string id;        // the node's --cluster_member_id, unique in the site
  std::string address;   // host:port of its gRPC server
  bool leaving = false;  // being removed: its shards are all moving away
};

// A shard's move between members (docs/cluster.md, "Moving shards"); the
// values are v1::ShardMoveState's. A shard without a move is AVAILABLE at
// its owner.
enum class ShardMoveState : int {
  kPending = 1,       // planned; the source owns and serves it
  kInitializing = 2,  // the target copies and tails; the source (LEAVING) owns it
  kFlipped = 3,       // the target owns it; the source fences, then drops it
};
// "PENDING", "INITIALIZING", "FLIPPED".
std::string_view ShardMoveStateName(ShardMoveState state);

struct ShardMove {
  uint32_t shard = 0;
  uint32_t from = 0;  // index into members
  uint32_t to = 0;    // index into members
  ShardMoveState state = ShardMoveState::kPending;
  int64_t since_unix_ns = 0;  // when it entered `state`
};

// The moves of the placement change in progress; empty: none.
struct PlacementMoves {
  std::vector<ShardMove> moves;
  // Moves INITIALIZING at once, 1..kMaxConcurrentMoves; 0 iff no moves.
  uint32_t max_concurrent = 0;
};
inline constexpr uint32_t kMaxConcurrentMoves = 64;
inline constexpr uint32_t kDefaultConcurrentMoves = 2;

class Placement {
 public:
  // Checks every invariant a router relies on: a non-empty site,
  // 1..kMaxClusterShards shards, members with unique non-empty ids and
  // addresses, and exactly one valid owner per shard; and that the moves
  // agree with the owners (ValidateMoves in placement.cc). Errors name the
  // field.
  static absl::StatusOr<Placement> Create(std::string site, uint32_t num_shards,
                                          std::vector<PlacementMember> members,
                                          std::vector<uint32_t> shard_owner, int64_t revision,
                                          PlacementMoves moves = {}, uint64_t members_departed = 0);

  // The placement `historian cluster init` writes: shard s owned by member
  // s mod members.size(), so each member owns num_shards / N shards (±1).
  static absl::StatusOr<Placement> Balanced(std::string site, uint32_t num_shards,
                                            std::vector<PlacementMember> members);

  // From what etcd holds (the serialized PlacementResponse without liveness)
  // at `revision`; DataLoss names the key's problem when the bytes are bad.
  static absl::StatusOr<Placement> Decode(std::string_view bytes, int64_t revision);
  static absl::StatusOr<Placement> FromProto(const v1::PlacementResponse& proto);

  // What etcd stores: members and owners, no liveness, no revision (etcd
  // keeps the revision itself).
  std::string Encode() const;
  // The Cluster.Placement answer; `alive` lists the ids of members whose
  // lease is alive.
  v1::PlacementResponse ToProto(const std::vector<std::string>& alive) const;

  const std::string& site() const { return site_; }
  uint32_t num_shards() const { return static_cast<uint32_t>(shard_owner_.size()); }
  int64_t revision() const { return revision_; }
  const std::vector<PlacementMember>& members() const { return members_; }
  // Index of owner of each shard (the routing owner), num_shards() entries.
  const std::vector<uint32_t>& shard_owner() const { return shard_owner_; }
  const PlacementMoves& moves() const { return moves_; }
  // Members that left `members` since init (PlacementResponse.members_departed):
  // a change that removes one passes this plus the number removed, every
  // other change passes it on.
  uint64_t members_departed() const { return members_departed_; }
  bool has_moves() const { return !moves_.moves.empty(); }
  // The move of `shard`, or null when it is AVAILABLE at its owner.
  const ShardMove* MoveOfShard(uint32_t shard) const;
  // Index of the member `id_or_address` names (its id, else its address);
  // -1 when none.
  int FindMember(std::string_view id_or_address) const;

  uint32_t ShardOfTag(std::string_view tag) const;
  // `shard` < num_shards(). The routing owner: moves do not change it until
  // the flip (which rewrites shard_owner).
  const PlacementMember& OwnerOfShard(uint32_t shard) const;
  const PlacementMember& OwnerOfTag(std::string_view tag) const;
  // The shards `member_id` owns, ascending; empty for an unknown id.
  std::vector<uint32_t> ShardsOwnedBy(std::string_view member_id) const;

 private:
  Placement(std::string site, std::vector<PlacementMember> members,
            std::vector<uint32_t> shard_owner, int64_t revision, PlacementMoves moves,
            uint64_t members_departed);

  std::string site_;
  std::vector<PlacementMember> members_;
  std::vector<uint32_t> shard_owner_;  // index into members_, one per shard
  int64_t revision_ = 0;
  PlacementMoves moves_;
  uint64_t members_departed_ = 0;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_PLACEMENT_H_
