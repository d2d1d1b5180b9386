#include "server/cluster/named_tags_scope.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/member_channels.h"
#include "server/rpc_env.h"

namespace historian::cluster {

absl::StatusOr<NamedTagsScope> NamedTagsScope::Begin(const server::ServiceEnv& env,
                                                     const grpc::ServerContextBase& context,
                                                     std::string_view method,
                                                     absl::Span<const std::string_view> tags,
                                                     Access access) {
  NamedTagsScope scope;
  if (env.cluster == nullptr) return scope;
  if (access == Access::kRead && MemberChannels::AsksLocalData(context)) return scope;
  const bool forwarded = MemberChannels::IsForwarded(context);
  if (!forwarded && env.member_channels == nullptr) return scope;
  std::shared_ptr<const Placement> placement = env.cluster->placement();
  const std::string self = env.cluster->self_id();
  if (placement == nullptr) {
    // A sender split by a placement this node has not read, or this node
    // cannot tell yet whether the site has one: its data may not be the
    // owner's.
    if (forwarded || !env.cluster->PlacementReadFromEtcd()) {
      absl::Status why = env.cluster->NoPlacementStatus();
      return absl::UnavailableError(absl::StrCat(
          std::string(method), ": member '", self,
          "' has no placement yet, so it cannot tell which tags are its own",
          why.ok() ? std::string() : absl::StrCat(" (", std::string(why.message()), ")")));
    }
    return scope;  // the site has no placement yet: this node owns all it holds
  }
  for (size_t i = 0; i < tags.size(); ++i) {
    const uint32_t shard = placement->ShardOfTag(tags[i]);
    const PlacementMember& owner = placement->OwnerOfShard(shard);
    if (owner.id != self) {
      return absl::AbortedError(absl::StrCat(
          std::string(method), ": tags[", i, "] '", std::string(tags[i]), "' is in shard ", shard,
          ", which member '", owner.id, "' (", owner.address, ") owns in placement revision ",
          placement->revision(), ", not member '", self,
          "': the placement changed (the request was split by another); nothing was done here, "
          "ask again"));
    }
    scope.shards_.push_back(shard);
  }
  std::sort(scope.shards_.begin(), scope.shards_.end());
  scope.shards_.erase(std::unique(scope.shards_.begin(), scope.shards_.end()), scope.shards_.end());
  scope.view_ = env.cluster;
  scope.placement_ = std::move(placement);
  scope.self_ = self;
  scope.method_ = std::string(method);
  return scope;
}

absl::StatusOr<NamedTagsScope> NamedTagsScope::Begin(
    const server::ServiceEnv& env, const grpc::ServerContextBase& context, std::string_view method,
    const google::protobuf::RepeatedPtrField<std::string>& tags) {
  std::vector<std::string_view> names(tags.begin(), tags.end());
  return Begin(env, context, method, names, Access::kRead);
}

absl::Status NamedTagsScope::End() const {
  if (view_ == nullptr) return absl::OkStatus();
  std::shared_ptr<const Placement> now = view_->placement();
  if (now == placement_) return absl::OkStatus();
  for (uint32_t shard : shards_) {
    if (now != nullptr && now->num_shards() == placement_->num_shards() &&
        now->OwnerOfShard(shard).id == self_) {
      continue;
    }
    return absl::AbortedError(absl::StrCat(
        method_, ": the placement changed during the answer (member ", self_, ": revision ",
        placement_->revision(), " -> ", now != nullptr ? now->revision() : 0, ", shard ", shard,
        " is no longer this member's): its samples may be missing; ask again"));
  }
  return absl::OkStatus();
}

absl::Status RunNamedTagsPart(const server::ServiceEnv& env, const grpc::ServerContextBase& context,
                              std::string_view method,
                              const google::protobuf::RepeatedPtrField<std::string>& tags,
                              const std::function<absl::Status()>& part) {
  absl::StatusOr<NamedTagsScope> scope = NamedTagsScope::Begin(env, context, method, tags);
  if (!scope.ok()) return scope.status();
  absl::Status status = part();
  // A shard that left during the part explains its failure too (a tag the
  // janitor dropped under it reads NOT_FOUND).
  if (absl::Status end = scope->End(); !end.ok()) return end;
  return status;
}

}  // namespace historian::cluster
