#include "server/cluster/query_fanout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/cluster/cluster_view.h"
#include "server/metrics.h"
#include "server/rpc_env.h"

namespace historian::cluster {
namespace {

// Errors that are the caller's (bad request, unknown tag, over a limit, no
// right): passed on exactly as a single node words them.
bool IsCallersError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

void AddShard(uint32_t shard, std::vector<uint32_t>* shards) {
  auto it = std::lower_bound(shards->begin(), shards->end(), shard);
  if (it == shards->end() || *it != shard) shards->insert(it, shard);
}

}  // namespace

std::shared_ptr<const Placement> FanoutPlacement(const server::ServiceEnv& env,
                                                 const grpc::ServerContextBase& context) {
  if (env.cluster == nullptr || env.member_channels == nullptr) return nullptr;
  if (MemberChannels::IsForwarded(context)) return nullptr;
  return env.cluster->placement();
}

std::shared_ptr<const Placement> ReadFanoutPlacement(const server::ServiceEnv& env,
                                                     const grpc::ServerContextBase& context) {
  if (MemberChannels::AsksLocalData(context)) return nullptr;
  return FanoutPlacement(env, context);
}

absl::Status AskAgainOnPlacementChange(const ClusterView& view,
                                       std::shared_ptr<const Placement> first,
                                       const std::function<absl::Status(const Placement&)>& attempt,
                                       const std::function<bool()>& may_ask_again) {
  std::shared_ptr<const Placement> placement = std::move(first);
  for (int n = 1;; ++n) {
    absl::Status status = attempt(*placement);
    if (status.code() != absl::StatusCode::kAborted || n == kPlacementAttempts) return status;
    if (may_ask_again != nullptr && !may_ask_again()) return status;
    std::shared_ptr<const Placement> now = view.placement();
    if (now == nullptr || now == placement) return status;
    placement = std::move(now);
  }
}

std::vector<OwnerPart> PartsByOwner(const Placement& placement, std::string_view self_id,
                                    const google::protobuf::RepeatedPtrField<std::string>& tags) {
  const std::vector<PlacementMember>& members = placement.members();
  std::vector<int> part_of_member(members.size(), -1);
  std::vector<OwnerPart> parts;
  std::vector<size_t> member_of_part;
  for (int i = 0; i < tags.size(); ++i) {
    const uint32_t shard = placement.ShardOfTag(tags.Get(i));
    const PlacementMember& owner = placement.OwnerOfShard(shard);
    const size_t m = static_cast<size_t>(&owner - members.data());
    if (part_of_member[m] < 0) {
      part_of_member[m] = static_cast<int>(parts.size());
      OwnerPart part;
      part.member = owner;
      part.self = owner.id == self_id;
      parts.push_back(std::move(part));
      member_of_part.push_back(m);
    }
    OwnerPart& part = parts[static_cast<size_t>(part_of_member[m])];
    part.positions.push_back(i);
    AddShard(shard, &part.shards);
  }
  // Member order, so the parts do not depend on the order of the tags.
  std::vector<size_t> order(parts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return member_of_part[a] < member_of_part[b]; });
  std::vector<OwnerPart> sorted;
  sorted.reserve(parts.size());
  for (size_t i : order) sorted.push_back(std::move(parts[i]));
  return sorted;
}

std::vector<OwnerPart> PartsForAllOwners(
    const Placement& placement, std::string_view self_id,
    const google::protobuf::RepeatedPtrField<std::string>* tags) {
  std::vector<OwnerPart> by_tag;
  if (tags != nullptr) by_tag = PartsByOwner(placement, self_id, *tags);
  std::vector<OwnerPart> parts;
  for (const PlacementMember& m : placement.members()) {
    std::vector<uint32_t> shards = placement.ShardsOwnedBy(m.id);
    if (shards.empty()) continue;
    OwnerPart part;
    part.member = m;
    part.self = m.id == self_id;
    part.shards = std::move(shards);
    for (OwnerPart& t : by_tag) {
      if (t.member.id == m.id) part.positions = std::move(t.positions);
    }
    parts.push_back(std::move(part));
  }
  return parts;
}

void SelectTags(const google::protobuf::RepeatedPtrField<std::string>& tags, const OwnerPart& part,
                google::protobuf::RepeatedPtrField<std::string>* out) {
  out->Clear();
  out->Reserve(static_cast<int>(part.positions.size()));
  for (int i : part.positions) *out->Add() = tags.Get(i);
}

void CountParts(const server::ServiceEnv& env, std::string_view method,
                const std::vector<PartOutcome>& outcomes) {
  if (env.metrics == nullptr) return;
  for (const PartOutcome& o : outcomes) {
    const std::string labels =
        absl::StrCat(server::Label("method", method), ",",
                     server::Label("target", o.part->self ? "local" : "remote"), ",",
                     server::Label("code", absl::StatusCodeToString(o.status.code())));
    env.metrics->Add(kQueryPartsMetric, labels, 1);
  }
}

std::string ShardList(const std::vector<uint32_t>& shards, size_t max_listed) {
  if (shards.size() <= max_listed) return absl::StrJoin(shards, ", ");
  std::vector<uint32_t> head(shards.begin(), shards.begin() + static_cast<long>(max_listed));
  return absl::StrCat(absl::StrJoin(head, ", "), ", ... (", shards.size(), " shards)");
}

absl::Status CombineOutcomes(std::string_view method, const std::vector<PartOutcome>& outcomes,
                             const std::vector<std::string>& alive_members) {
  std::vector<std::string> unreachable;
  for (const PartOutcome& o : outcomes) {
    if (o.part->self || o.status.code() != absl::StatusCode::kUnavailable) continue;
    const bool alive = std::find(alive_members.begin(), alive_members.end(), o.part->member.id) !=
                       alive_members.end();
    unreachable.push_back(absl::StrCat(
        "member ", o.part->member.id, " at ", o.part->member.address, " (shards ",
        ShardList(o.part->shards), alive ? "" : "; lease not alive", "): ", o.status.message()));
  }
  if (!unreachable.empty()) {
    return absl::UnavailableError(
        absl::StrCat(std::string(method),
                     ": cannot reach the owner of every shard asked for; no partial answer: ",
                     absl::StrJoin(unreachable, "; ")));
  }
  // A remote part we cancelled because another failed says CANCELLED: the
  // other's error is the one to report.
  bool other_failure = false;
  for (const PartOutcome& o : outcomes) {
    other_failure |= !o.status.ok() && (o.part->self || !absl::IsCancelled(o.status));
  }
  const PartOutcome* first = nullptr;
  for (const PartOutcome& o : outcomes) {
    if (o.status.ok()) continue;
    if (other_failure && !o.part->self && absl::IsCancelled(o.status)) continue;
    const int pos = o.part->positions.empty() ? INT32_MAX : o.part->positions.front();
    const int best = first == nullptr || first->part->positions.empty()
                         ? INT32_MAX
                         : first->part->positions.front();
    if (first == nullptr || pos < best) first = &o;
  }
  if (first == nullptr) return absl::OkStatus();
  if (first->part->self || IsCallersError(first->status.code())) return first->status;
  return absl::Status(first->status.code(), absl::StrCat(first->status.message(), " (from member ",
                                                         first->part->member.id, " at ",
                                                         first->part->member.address, ")"));
}

}  // namespace historian::cluster
