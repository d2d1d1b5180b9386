#include "server/cluster/placement.h"

#include <utility>

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

Placement::Placement(std::string site, std::vector<PlacementMember> members,
                     std::vector<uint32_t> shard_owner, int64_t revision)
    : site_(std::move(site)),
      members_(std::move(members)),
      shard_owner_(std::move(shard_owner)),
      revision_(revision) {}

absl::StatusOr<Placement> Placement::Create(std::string site, uint32_t num_shards,
                                            std::vector<PlacementMember> members,
                                            std::vector<uint32_t> shard_owner, int64_t revision) {
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
  return Placement(std::move(site), std::move(members), std::move(shard_owner), revision);
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
  for (const v1::ClusterMember& m : proto.members()) members.push_back({m.id(), m.address()});
  std::vector<uint32_t> owners(proto.shard_owner().begin(), proto.shard_owner().end());
  return Create(proto.site(), proto.num_shards(), std::move(members), std::move(owners),
                proto.revision());
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
  }
  proto.mutable_shard_owner()->Add(shard_owner_.begin(), shard_owner_.end());
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
