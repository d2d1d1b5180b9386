#include "server/cluster/placement.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"

namespace historian::cluster {

std::string PlacementKey(std::string_view site) {
  return absl::StrCat("/historian/", std::string(site), "/placement");
}

std::string MembersPrefix(std::string_view site) {
  return absl::StrCat("/historian/", std::string(site), "/members/");
}

std::string MemberKey(std::string_view site, std::string_view member_id) {
  return absl::StrCat(MembersPrefix(site), std::string(member_id));
}

namespace {

absl::Status MoveError(size_t i, const ShardMove& m, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("placement: moves[", i, "] (shard ", m.shard, " ",
                                                 m.from, "->", m.to, "): ", std::string(what)));
}

// The moves agree with the members and owners: each names a valid shard
// once, two distinct members (the target not leaving), a known state, and
// the owner routing must use in that state (the source until the flip, the
// target after it); a leaving member owns only shards moving away; at most
// max_concurrent moves are INITIALIZING.
absl::Status ValidateMoves(const std::vector<PlacementMember>& members,
                           const std::vector<uint32_t>& shard_owner, const PlacementMoves& pm) {
  const size_t n = members.size();
  if (pm.moves.empty() && pm.max_concurrent != 0) {
    return absl::InvalidArgumentError(absl::StrCat("placement: max_concurrent_moves is ",
                                                   pm.max_concurrent, " with no moves, want 0"));
  }
  if (!pm.moves.empty() && (pm.max_concurrent == 0 || pm.max_concurrent > kMaxConcurrentMoves)) {
    return absl::InvalidArgumentError(absl::StrCat("placement: max_concurrent_moves is ",
                                                   pm.max_concurrent, " with ", pm.moves.size(),
                                                   " moves, want 1..", kMaxConcurrentMoves));
  }
  absl::flat_hash_map<uint32_t, size_t> seen;  // shard -> index in moves
  size_t initializing = 0;
  for (size_t i = 0; i < pm.moves.size(); ++i) {
    const ShardMove& m = pm.moves[i];
    if (m.shard >= shard_owner.size()) {
      return MoveError(
          i, m, absl::StrCat("shard is ", m.shard, ", want < num_shards = ", shard_owner.size()));
    }
    if (auto [it, inserted] = seen.emplace(m.shard, i); !inserted) {
      return MoveError(
          i, m, absl::StrCat("shard ", m.shard, " moves twice (also moves[", it->second, "])"));
    }
    if (m.from >= n || m.to >= n) {
      return MoveError(i, m, absl::StrCat("from/to is not a member index, want < ", n, " members"));
    }
    if (m.from == m.to) return MoveError(i, m, "from = to");
    if (members[m.to].leaving) {
      return MoveError(i, m,
                       absl::StrCat("to names member '", members[m.to].id, "', which is leaving"));
    }
    uint32_t want_owner = m.from;
    switch (m.state) {
      case ShardMoveState::kInitializing:
        ++initializing;
        [[fallthrough]];
      case ShardMoveState::kPending:
        break;
      case ShardMoveState::kFlipped:
        want_owner = m.to;
        break;
      default:
        return MoveError(i, m,
                         absl::StrCat("state is ", static_cast<int>(m.state),
                                      ", want PENDING, INITIALIZING or FLIPPED"));
    }
    if (shard_owner[m.shard] != want_owner) {
      return MoveError(
          i, m,
          absl::StrCat("shard_owner[", m.shard, "] = ", shard_owner[m.shard], " but a ",
                       std::string(ShardMoveStateName(m.state)), " move wants ", want_owner,
                       " (the source routes until the flip)"));
    }
  }
  if (initializing > pm.max_concurrent) {
    return absl::InvalidArgumentError(
        absl::StrCat("placement: moves: ", initializing,
                     " INITIALIZING, more than max_concurrent_moves = ", pm.max_concurrent));
  }
  for (size_t s = 0; s < shard_owner.size(); ++s) {
    if (!members[shard_owner[s]].leaving) continue;
    auto it = seen.find(static_cast<uint32_t>(s));
    if (it == seen.end() || pm.moves[it->second].from != shard_owner[s]) {
      return absl::InvalidArgumentError(
          absl::StrCat("placement: members[", shard_owner[s], "] '", members[shard_owner[s]].id,
                       "' is leaving but shard_owner[", s, "] has no move away from it"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ShardMoveStateName(ShardMoveState state) {
  switch (state) {
    case ShardMoveState::kPending:
      return "PENDING";
    case ShardMoveState::kInitializing:
      return "INITIALIZING";
    case ShardMoveState::kFlipped:
      return "FLIPPED";
  }
  return "UNKNOWN";
}

Placement::Placement(std::string site, std::vector<PlacementMember> members,
                     std::vector<uint32_t> shard_owner, int64_t revision, PlacementMoves moves,
                     uint64_t members_departed)
    : site_(std::move(site)),
      members_(std::move(members)),
      shard_owner_(std::move(shard_owner)),
      revision_(revision),
      moves_(std::move(moves)),
      members_departed_(members_departed) {}

absl::StatusOr<Placement> Placement::Create(std::string site, uint32_t num_shards,
                                            std::vector<PlacementMember> members,
                                            std::vector<uint32_t> shard_owner, int64_t revision,
                                            PlacementMoves moves, uint64_t members_departed) {
  if (site.empty()) return absl::InvalidArgumentError("placement: site is empty");
  if (num_shards == 0 || num_shards > kMaxClusterShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("placement: num_shards is ", num_shards, ", want 1..", kMaxClusterShards));
  }
  if (members.empty()) return absl::InvalidArgumentError("placement: members is empty");
  absl::flat_hash_set<std::string_view> ids, addresses;
  for (const PlacementMember& m : members) {
    if (m.id.empty() || m.address.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("placement: member '", m.id, "' at '",
                                                     m.address,
                                                     "': id and address must both be non-empty"));
    }
    if (!ids.insert(m.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("placement: member id '", m.id, "' twice"));
    }
    if (!addresses.insert(m.address).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("placement: member address '", m.address, "' twice"));
    }
  }
  if (shard_owner.size() != num_shards) {
    return absl::InvalidArgumentError(absl::StrCat("placement: shard_owner has ",
                                                   shard_owner.size(),
                                                   " entries, want num_shards = ", num_shards));
  }
  for (size_t s = 0; s < shard_owner.size(); ++s) {
    if (shard_owner[s] >= members.size()) {
      return absl::InvalidArgumentError(absl::StrCat("placement: shard_owner[", s,
                                                     "] = ", shard_owner[s], ", want < ",
                                                     members.size(), " members"));
    }
  }
  if (absl::Status s = ValidateMoves(members, shard_owner, moves); !s.ok()) return s;
  return Placement(std::move(site), std::move(members), std::move(shard_owner), revision,
                   std::move(moves), members_departed);
}

absl::StatusOr<Placement> Placement::Balanced(std::string site, uint32_t num_shards,
                                              std::vector<PlacementMember> members) {
  std::vector<uint32_t> owners(num_shards > kMaxClusterShards ? 0 : num_shards);
  for (size_t s = 0; s < owners.size() && !members.empty(); ++s) {
    owners[s] = static_cast<uint32_t>(s % members.size());
  }
  return Create(std::move(site), num_shards, std::move(members), std::move(owners), 0);
}

absl::StatusOr<Placement> Placement::FromProto(const v1::PlacementResponse& proto) {
  std::vector<PlacementMember> members;
  members.reserve(proto.members_size());
  for (const v1::ClusterMember& m : proto.members()) {
    members.push_back({m.id(), m.address(), m.leaving()});
  }
  std::vector<uint32_t> owners(proto.shard_owner().begin(), proto.shard_owner().end());
  PlacementMoves moves;
  moves.max_concurrent = proto.max_concurrent_moves();
  for (const v1::ShardMove& m : proto.moves()) {
    moves.moves.push_back(
        {m.shard(), m.from(), m.to(), static_cast<ShardMoveState>(m.state()), m.since_unix_ns()});
  }
  return Create(proto.site(), proto.num_shards(), std::move(members), std::move(owners),
                proto.revision(), std::move(moves), proto.members_departed());
}

absl::StatusOr<Placement> Placement::Decode(std::string_view bytes, int64_t revision) {
  v1::PlacementResponse proto;
  if (!proto.ParseFromString(std::string(bytes))) {
    return absl::DataLossError(
        absl::StrCat("placement: ", bytes.size(), " bytes in etcd do not parse as a placement"));
  }
  proto.set_revision(revision);
  absl::StatusOr<Placement> placement = FromProto(proto);
  if (!placement.ok()) {
    return absl::DataLossError(
        absl::StrCat("placement in etcd is invalid: ", placement.status().message()));
  }
  return placement;
}

v1::PlacementResponse Placement::ToProto(const std::vector<std::string>& alive) const {
  absl::flat_hash_set<std::string_view> alive_ids(alive.begin(), alive.end());
  v1::PlacementResponse proto;
  proto.set_site(site_);
  proto.set_num_shards(num_shards());
  proto.set_revision(revision_);
  for (const PlacementMember& m : members_) {
    v1::ClusterMember* out = proto.add_members();
    out->set_id(m.id);
    out->set_address(m.address);
    out->set_alive(alive_ids.contains(m.id));
    out->set_leaving(m.leaving);
  }
  proto.mutable_shard_owner()->Add(shard_owner_.begin(), shard_owner_.end());
  for (const ShardMove& m : moves_.moves) {
    v1::ShardMove* out = proto.add_moves();
    out->set_shard(m.shard);
    out->set_from(m.from);
    out->set_to(m.to);
    out->set_state(static_cast<v1::ShardMoveState>(m.state));
    out->set_since_unix_ns(m.since_unix_ns);
  }
  proto.set_max_concurrent_moves(moves_.max_concurrent);
  proto.set_members_departed(members_departed_);
  return proto;
}

std::string Placement::Encode() const {
  v1::PlacementResponse proto = ToProto({});
  proto.clear_revision();
  return proto.SerializeAsString();
}

uint32_t Placement::ShardOfTag(std::string_view tag) const { return TagShard(tag, num_shards()); }

const PlacementMember& Placement::OwnerOfShard(uint32_t shard) const {
  return members_[shard_owner_[shard]];
}

const PlacementMember& Placement::OwnerOfTag(std::string_view tag) const {
  return OwnerOfShard(ShardOfTag(tag));
}

const ShardMove* Placement::MoveOfShard(uint32_t shard) const {
  for (const ShardMove& m : moves_.moves) {
    if (m.shard == shard) return &m;
  }
  return nullptr;
}

int Placement::FindMember(std::string_view id_or_address) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].id == id_or_address) return static_cast<int>(i);
  }
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].address == id_or_address) return static_cast<int>(i);
  }
  return -1;
}

std::vector<uint32_t> Placement::ShardsOwnedBy(std::string_view member_id) const {
  std::vector<uint32_t> shards;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].id != member_id) continue;
    for (size_t s = 0; s < shard_owner_.size(); ++s) {
      if (shard_owner_[s] == i) shards.push_back(static_cast<uint32_t>(s));
    }
  }
  return shards;
}

}  // namespace historian::cluster
