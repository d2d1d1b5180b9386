// File: cluster_view.h
// ClusterView: what the request paths of a node (write forwarding, query
// fan-out, cross-site replication, Cluster.Placement, /metrics) know of the
// site cluster: the placement they route by, who this node is in it, and
// which members are alive. The etcd-backed implementation (membership and
// placement watcher, docs/cluster.md) keeps it current; StaticClusterView
// holds a placement set by its owner (tests, tools).
//
// A null placement() means the node is not in a cluster: it owns every tag
// and never forwards or fans out.
//
// Thread-safety: implementations are thread-safe; placement() hands out an
// immutable snapshot that stays valid however long the caller keeps it.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_VIEW_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_VIEW_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/cluster/placement.h"

namespace historian::cluster {

class ClusterView {
 public:
  virtual ~ClusterView() = default;

  // The placement as last read; null when the node is not in a cluster.
  virtual std::shared_ptr<const Placement> placement() const = 0;
  // This node's member id (its --cluster_member_id); empty when not in a
  // cluster.
  virtual std::string self_id() const = 0;
  // Ids of the members whose etcd lease is alive.
  virtual std::vector<std::string> alive_members() const = 0;
  // Asked while placement() is null: UNAVAILABLE saying why there is no
  // placement (etcd not read since the node started and no cache; the site
  // is a cluster but no valid placement was read; `historian cluster init`
  // has not run): the node does not know which tags are its own and takes
  // no writes. OK only if a placement arrived meanwhile.
  virtual absl::Status NoPlacementStatus() const { return absl::OkStatus(); }

  // True when this node owns `tag` (always, outside a cluster).
  bool OwnsTag(std::string_view tag) const {
    std::shared_ptr<const Placement> p = placement();
    return p == nullptr || p->OwnerOfTag(tag).id == self_id();
  }
};

// A placement set by its owner. Every member counts as alive.
class StaticClusterView final : public ClusterView {
 public:
  StaticClusterView(std::string self_id, std::shared_ptr<const Placement> placement)
      : self_id_(std::move(self_id)), placement_(std::move(placement)) {}

  void Set(std::shared_ptr<const Placement> placement) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    placement_ = std::move(placement);
  }

  std::shared_ptr<const Placement> placement() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return placement_;
  }
  std::string self_id() const override { return self_id_; }
  std::vector<std::string> alive_members() const override ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::string> ids;
    std::shared_ptr<const Placement> p = placement();
    if (p != nullptr) {
      for (const PlacementMember& m : p->members()) ids.push_back(m.id);
    }
    return ids;
  }

 private:
  const std::string self_id_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Placement> placement_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_VIEW_H_
