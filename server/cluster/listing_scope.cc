#include "server/cluster/listing_scope.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/subscribe_token.h"
#include "server/rpc_env.h"

namespace historian::cluster {
namespace {

uint64_t DigestOf(const Placement& placement, std::string_view member) {
  return OwnedShardsDigest(placement, member, std::nullopt);
}

absl::Status Changed(std::string_view method, std::string_view self, int64_t from_revision,
                     int64_t to_revision, std::string_view what) {
  return absl::AbortedError(absl::StrCat(std::string(method), ": the placement changed (member ",
                                         std::string(self), ": revision ", from_revision, " -> ",
                                         to_revision, ", ", std::string(what), "); ask again"));
}

}  // namespace

absl::StatusOr<ListingScope> ListingScope::Begin(const server::ServiceEnv& env,
                                                 const grpc::ServerContextBase& context,
                                                 std::string_view method) {
  ListingScope scope;
  scope.method_ = std::string(method);
  // Not in a cluster, or asked for this node's data as stored: every tag.
  if (env.cluster == nullptr || MemberChannels::AsksLocalData(context)) return scope;
  const auto& metadata = context.client_metadata();
  const auto chosen = metadata.find(kOwnedShardsMetadataKey);
  std::shared_ptr<const Placement> placement = env.cluster->placement();
  if (placement == nullptr) {
    // Asked by a coordinator that split by a placement, or not knowing yet
    // whether the site has one (etcd not read since the start, no cache):
    // what this node holds may be a part of the site's tags, or more.
    if (chosen != metadata.end() || !env.cluster->PlacementReadFromEtcd()) {
      absl::Status why = env.cluster->NoPlacementStatus();
      return absl::UnavailableError(absl::StrCat(
          std::string(method), ": member '", env.cluster->self_id(),
          "' has no placement yet, so it cannot tell which tags are its own",
          why.ok() ? std::string() : absl::StrCat(" (", std::string(why.message()), ")")));
    }
    return scope;  // the site has no placement yet: this node owns all it holds
  }
  scope.view_ = env.cluster;
  scope.self_ = env.cluster->self_id();
  scope.digest_ = DigestOf(*placement, scope.self_);
  if (chosen != metadata.end()) {
    int64_t revision = 0;
    uint64_t digest = 0;
    const std::string_view value(chosen->second.data(), chosen->second.size());
    if (!ParseOwnedShardsValue(value, &revision, &digest)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kOwnedShardsMetadataKey, ": not <revision>:<hex digest>"));
    }
    if (digest != scope.digest_) {
      return Changed(method, scope.self_, revision, placement->revision(),
                     "the coordinator split the query by a placement giving this member other "
                     "shards");
    }
  }
  // A shard this member answers for while it is handed over here: its data
  // may lack tags the tail has not brought yet.
  for (const auto& [shard, closed] : env.store->ClosedShards()) {
    if (shard < placement->num_shards() && placement->OwnerOfShard(shard).id == scope.self_) {
      return absl::UnavailableError(absl::StrCat(std::string(method), ": shard ", shard, " of ",
                                                 closed.num_shards, ": ", closed.reason,
                                                 "; retry"));
    }
  }
  scope.placement_ = std::move(placement);
  return scope;
}

absl::Status ListingScope::End() const {
  if (view_ == nullptr) return absl::OkStatus();
  std::shared_ptr<const Placement> now = view_->placement();
  if (now != nullptr && DigestOf(*now, self_) == digest_) return absl::OkStatus();
  return Changed(method_, self_, placement_->revision(), now != nullptr ? now->revision() : 0,
                 "its shards changed during the scan");
}

void AddListingPartScope(const Placement& placement, std::string_view member,
                         grpc::ClientContext* call) {
  call->AddMetadata(kOwnedShardsMetadataKey,
                    OwnedShardsValue(placement.revision(), DigestOf(placement, member)));
}

absl::Status RunOwnListingPart(const ClusterView& view, const Placement& chosen,
                               std::string_view method, const std::function<absl::Status()>& part) {
  const std::string self = view.self_id();
  const uint64_t chosen_digest = DigestOf(chosen, self);
  auto check = [&]() -> absl::Status {
    std::shared_ptr<const Placement> now = view.placement();
    if (now != nullptr && DigestOf(*now, self) == chosen_digest) return absl::OkStatus();
    return Changed(method, self, chosen.revision(), now != nullptr ? now->revision() : 0,
                   "the query was split by a placement giving this node other shards");
  };
  if (absl::Status s = check(); !s.ok()) return s;
  if (absl::Status s = part(); !s.ok()) return s;
  return check();
}

}  // namespace historian::cluster
