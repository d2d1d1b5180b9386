// File: cluster_admin.h
// ClusterAdmin: what the Cluster.Init and Cluster.Status RPCs do to the
// site's etcd (docs/cluster.md, "historian cluster"). The CLI reaches etcd
// only through a node: client/ never links the etcd client, and operators
// need no etcd address or credentials on their machine.
//
// EtcdClusterAdmin implements it on an EtcdClient.
//
// Thread-safety: thread-safe (stateless beyond the immutable client).
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_ADMIN_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_ADMIN_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "historian/v1/cluster.pb.h"
#include "server/cluster/cluster_view.h"

namespace historian::cluster {

class EtcdClient;

class ClusterAdmin {
 public:
  virtual ~ClusterAdmin() = default;
  // Writes the cluster config and a balanced placement over the members
  // registered now, in one transaction that only commits while neither
  // exists. `num_shards` 0: kDefaultClusterShards.
  virtual absl::StatusOr<v1::ClusterInitResponse> Init(uint32_t num_shards) const = 0;
  // The cluster as etcd holds it now.
  virtual absl::StatusOr<v1::ClusterStatusResponse> Status() const = 0;
  // Plan and write a membership change (docs/cluster.md, "Moving shards"):
  // the balanced placement with the node added / removed and its moves,
  // PENDING, in one Txn guarded by the placement key's mod revision.
  virtual absl::StatusOr<v1::PlacementChangeResponse> AddNode(
      const v1::AddNodeRequest& request) const = 0;
  virtual absl::StatusOr<v1::PlacementChangeResponse> RemoveNode(
      const v1::RemoveNodeRequest& request) const = 0;
  // Cancels PENDING moves (move_transitions.h CancelMove) in one Txn on the
  // placement's mod revision; FAILED_PRECONDITION when there is nothing to
  // cancel or a listed shard's move has started or does not exist.
  virtual absl::StatusOr<v1::PlacementChangeResponse> CancelMoves(
      const v1::CancelMovesRequest& request) const = 0;
  // Writes the fence of a FLIPPED move whose source holds no live
  // registration and does not answer at its address (docs/cluster.md, "A
  // source lost for good"), created only if absent. Errors as
  // Cluster.FenceWithoutSource's.
  virtual absl::StatusOr<v1::FenceWithoutSourceResponse> FenceWithoutSource(
      const v1::FenceWithoutSourceRequest& request) const = 0;
};

// Whether the member at `address` answers a call now: OK when it answered
// (any answer, a refusal too), the call's error when it did not within a
// short deadline. FenceWithoutSource refuses to fence for a source that
// answers: a node cut off from etcd loses its lease but goes on serving.
using MemberProbe = std::function<absl::Status(const std::string& address)>;

// How long member `id`'s key has been gone as this node saw it, once its
// view has seen etcd `revision` (PlacementWatcher::AbsenceOf).
using MemberAbsenceClock =
    std::function<absl::StatusOr<MemberAbsence>(const std::string& id, int64_t revision)>;

// What `remove-node --lost` waits beyond a member's isolation write fence
// after its key is gone: the member's clock may run slower than ours, and
// it stops at the earliest time etcd could expire its lease.
inline constexpr absl::Duration kLostRemovalMargin = absl::Seconds(2);

class EtcdClusterAdmin final : public ClusterAdmin {
 public:
  // `etcd` must outlive this object. `probe` null: no member is probed (a
  // source whose lease ran out counts as gone). `absence` null: a lost
  // member's key may have been gone for any time (no wait); otherwise
  // `remove-node --lost` waits until it has been gone for the largest of
  // `isolation_fence` (this node's), the member's published one and the
  // site's widest, plus kLostRemovalMargin (lease_fence.h).
  EtcdClusterAdmin(const EtcdClient* etcd, std::string site, std::string self_id,
                   MemberProbe probe = nullptr, MemberAbsenceClock absence = nullptr,
                   absl::Duration isolation_fence = absl::Seconds(60))
      : etcd_(etcd),
        site_(std::move(site)),
        self_id_(std::move(self_id)),
        probe_(std::move(probe)),
        absence_(std::move(absence)),
        isolation_fence_(isolation_fence) {}

  absl::StatusOr<v1::ClusterInitResponse> Init(uint32_t num_shards) const override;
  absl::StatusOr<v1::ClusterStatusResponse> Status() const override;
  absl::StatusOr<v1::PlacementChangeResponse> AddNode(
      const v1::AddNodeRequest& request) const override;
  absl::StatusOr<v1::PlacementChangeResponse> RemoveNode(
      const v1::RemoveNodeRequest& request) const override;
  absl::StatusOr<v1::PlacementChangeResponse> CancelMoves(
      const v1::CancelMovesRequest& request) const override;
  absl::StatusOr<v1::FenceWithoutSourceResponse> FenceWithoutSource(
      const v1::FenceWithoutSourceRequest& request) const override;

  // Test hook: runs after a change was planned and before its Txn, so a
  // test can commit a competing change in between (the race two operators
  // can lose). REQUIRES: set before any call; not changed while in use.
  void TEST_SetBeforeCommit(std::function<void()> hook) { before_commit_ = std::move(hook); }

 private:
  // How long a member's key must have been gone before `remove-node
  // --lost`: the largest of this node's isolation fence, the one the member
  // published (if this node saw its record) and the site's widest
  // (`site_fence`, SiteIsolationFenceKey), plus kLostRemovalMargin.
  absl::Duration LostRemovalWait(const MemberAbsence& absent, absl::Duration site_fence) const {
    return std::max({isolation_fence_, absent.published_fence, site_fence}) + kLostRemovalMargin;
  }
  // RemoveNode with `lost` (move_plan.h PlanRemoveLostMember).
  absl::StatusOr<v1::PlacementChangeResponse> RemoveLostNode(
      const v1::RemoveNodeRequest& request) const;

  const EtcdClient* const etcd_;
  const std::string site_;
  const std::string self_id_;
  const MemberProbe probe_;
  const MemberAbsenceClock absence_;
  const absl::Duration isolation_fence_;
  std::function<void()> before_commit_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_ADMIN_H_
