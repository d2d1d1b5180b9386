#include "server/cluster/cluster_admin.h"

#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/core/tag_shard.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/placement.h"

namespace historian::cluster {
namespace {

std::string CreatedText(int64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(unix_ns), absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<v1::ClusterInitResponse> EtcdClusterAdmin::Init(uint32_t num_shards) const {
  if (num_shards == 0) num_shards = kDefaultClusterShards;
  if (num_shards > kMaxClusterShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_shards: ", num_shards, " is outside 1..", kMaxClusterShards));
  }
  const std::string members_prefix = MembersPrefix(site_);
  absl::StatusOr<EtcdRange> registered = etcd_->GetPrefix(members_prefix);
  if (!registered.ok()) return registered.status();
  std::vector<PlacementMember> members;
  std::vector<std::string> ids;
  for (const EtcdKeyValue& kv : registered->kvs) {  // sorted by key, so by id
    absl::StatusOr<MemberRecord> record = DecodeMemberRecord(kv.value);
    if (!record.ok()) {
      return absl::DataLossError(absl::StrCat(kv.key, ": ", record.status().message()));
    }
    members.push_back({kv.key.substr(members_prefix.size()), record->address});
    ids.push_back(members.back().id);
  }
  if (members.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no member is registered under ", members_prefix,
                     ": start the site's nodes with --cluster_etcd first"));
  }
  absl::StatusOr<Placement> placement = Placement::Balanced(site_, num_shards, std::move(members));
  if (!placement.ok()) return placement.status();
  ClusterConfig config;
  config.num_shards = num_shards;
  config.format_version = kClusterFormatVersion;
  config.created_unix_ns = absl::GetCurrentTimeNanos();
  const std::string config_key = ClusterConfigKey(site_);
  const std::string placement_key = PlacementKey(site_);
  absl::StatusOr<EtcdTxnOutcome> outcome =
      etcd_->Txn({EtcdCompare::Absent(config_key), EtcdCompare::Absent(placement_key)},
                 {EtcdWrite::Put(config_key, EncodeClusterConfig(config)),
                  EtcdWrite::Put(placement_key, placement->Encode())});
  if (!outcome.ok()) return outcome.status();
  if (!outcome->committed) {
    for (const EtcdKeyValue& kv : outcome->current) {
      if (kv.key != config_key) continue;
      absl::StatusOr<ClusterConfig> existing = DecodeClusterConfig(kv.value);
      if (existing.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("site '", site_, "' is already a cluster: ", config_key,
                         " holds num_shards=", existing->num_shards, " (created ",
                         CreatedText(existing->created_unix_ns), "); init runs once per site"));
      }
      return absl::FailedPreconditionError(
          absl::StrCat("site '", site_, "' is already a cluster: ", config_key,
                       " exists (unreadable: ", existing.status().message(), ")"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("site '", site_, "' already has a placement (", placement_key,
                     ") but no cluster config; init refuses to replace it"));
  }
  absl::StatusOr<Placement> written =
      Placement::Decode(placement->Encode(), outcome->revision);  // with its revision
  if (!written.ok()) return written.status();
  v1::ClusterInitResponse response;
  *response.mutable_placement() = written->ToProto(ids);
  response.set_created_unix_ns(config.created_unix_ns);
  return response;
}

absl::StatusOr<v1::ClusterStatusResponse> EtcdClusterAdmin::Status() const {
  absl::StatusOr<EtcdRange> range = etcd_->GetPrefix(SitePrefix(site_));
  if (!range.ok()) return range.status();
  v1::ClusterStatusResponse response;
  response.set_site(site_);
  response.set_answered_by(self_id_);
  response.set_etcd_revision(range->revision);
  const std::string members_prefix = MembersPrefix(site_);
  std::map<std::string, std::pair<EtcdKeyValue, MemberRecord>> registered;
  std::optional<Placement> placement;
  absl::Duration widest_isolation_fence;  // SiteIsolationFenceKey; 0: absent
  for (const EtcdKeyValue& kv : range->kvs) {
    if (kv.key == SiteIsolationFenceKey(site_)) {
      absl::StatusOr<int64_t> widest_ms = DecodeSiteIsolationFence(kv.key, kv.value);
      if (!widest_ms.ok()) return widest_ms.status();
      widest_isolation_fence = absl::Milliseconds(*widest_ms);
    } else if (kv.key == ClusterConfigKey(site_)) {
      absl::StatusOr<ClusterConfig> config = DecodeClusterConfig(kv.value);
      if (!config.ok())
        return absl::DataLossError(absl::StrCat(kv.key, ": ", config.status().message()));
      response.set_format_version(config->format_version);
      response.set_created_unix_ns(config->created_unix_ns);
    } else if (kv.key == PlacementKey(site_)) {
      absl::StatusOr<Placement> p = Placement::Decode(kv.value, kv.mod_revision);
      if (!p.ok()) return p.status();
      placement = *std::move(p);
    } else if (absl::StartsWith(kv.key, members_prefix)) {
      absl::StatusOr<MemberRecord> record = DecodeMemberRecord(kv.value);
      registered[kv.key.substr(members_prefix.size())] = {kv,
                                                          record.ok() ? *record : MemberRecord{}};
    }
  }
  auto fill = [&](v1::ClusterMemberStatus* m, const std::string& id) {
    m->set_lease_ttl_seconds(-1);
    m->set_lease_granted_ttl_seconds(-1);
    m->set_gone_seconds(-1);
    auto it = registered.find(id);
    if (it == registered.end()) {
      if (absence_ == nullptr) return;
      absl::StatusOr<MemberAbsence> absent = absence_(id, range->revision);
      if (!absent.ok()) return;  // registered meanwhile, or this node's view lags
      m->set_gone_seconds(absl::ToInt64Seconds(absent->gone_for));
      m->set_lost_removal_in_seconds(std::max<int64_t>(
          0, absl::ToInt64Seconds(
                 absl::Ceil(LostRemovalWait(*absent, widest_isolation_fence) - absent->gone_for,
                            absl::Seconds(1)))));
      return;
    }
    m->set_alive(true);
    m->set_lease_id(it->second.first.lease);
    if (it->second.first.lease != 0) {
      // Unknown (-1) when etcd does not say; the listing still stands.
      absl::StatusOr<EtcdLeaseInfo> info = etcd_->LeaseTimeToLive(it->second.first.lease);
      if (info.ok()) {
        m->set_lease_ttl_seconds(info->ttl_seconds);
        m->set_lease_granted_ttl_seconds(info->granted_ttl_seconds);
      }
    }
    m->set_registered_address(it->second.second.address);
    m->set_start_unix_ns(it->second.second.start_unix_ns);
    registered.erase(it);
  };
  if (placement.has_value()) {
    response.set_num_shards(placement->num_shards());
    response.set_placement_revision(placement->revision());
    for (const PlacementMember& pm : placement->members()) {
      v1::ClusterMemberStatus* m = response.add_members();
      m->set_id(pm.id);
      m->set_address(pm.address);
      m->set_in_placement(true);
      m->set_shards_owned(static_cast<uint32_t>(placement->ShardsOwnedBy(pm.id).size()));
      m->set_leaving(pm.leaving);
      fill(m, pm.id);
    }
    response.set_max_concurrent_moves(placement->moves().max_concurrent);
    // The targets' reports (a failed read leaves the progress unknown).
    std::map<uint32_t, MoveProgress> progress;
    if (placement->has_moves()) {
      absl::StatusOr<EtcdRange> keys = etcd_->GetPrefix(MovesPrefix(site_));
      for (const EtcdKeyValue& kv : keys.ok() ? keys->kvs : std::vector<EtcdKeyValue>{}) {
        uint32_t shard = 0;
        const std::string rest = kv.key.substr(MovesPrefix(site_).size());
        const size_t slash = rest.find('/');
        if (slash == std::string::npos || rest.substr(slash) != "/progress" ||
            !absl::SimpleAtoi(rest.substr(0, slash), &shard)) {
          continue;
        }
        absl::StatusOr<MoveProgress> p = DecodeMoveProgress(kv.value);
        if (p.ok()) progress[shard] = *std::move(p);
      }
    }
    for (const ShardMove& mv : placement->moves().moves) {
      v1::ShardMoveStatus* out = response.add_moves();
      out->set_shard(mv.shard);
      out->set_from_id(placement->members()[mv.from].id);
      out->set_to_id(placement->members()[mv.to].id);
      out->set_state(static_cast<v1::ShardMoveState>(mv.state));
      out->set_since_unix_ns(mv.since_unix_ns);
      // Progress as the target's mover reported it (a report of an earlier
      // move of the shard, to another member, is not this one's).
      auto p = progress.find(mv.shard);
      const bool ours = p != progress.end() && p->second.to == placement->members()[mv.to].id &&
                        mv.state != ShardMoveState::kPending;
      out->set_bytes_copied(ours ? p->second.bytes_copied : 0);
      out->set_bytes_total(ours ? p->second.bytes_total : -1);
      out->set_log_entries_behind(ours ? p->second.entries_behind : -1);
      out->set_eta_seconds(ours ? p->second.eta_seconds : -1);
      if (ours) out->set_step(p->second.step);
    }
  }
  std::vector<std::string> unplaced;
  for (const auto& [id, entry] : registered) unplaced.push_back(id);
  for (const std::string& id : unplaced) {
    v1::ClusterMemberStatus* m = response.add_members();
    m->set_id(id);
    m->set_address(registered[id].second.address);
    fill(m, id);
  }
  return response;
}

}  // namespace historian::cluster
