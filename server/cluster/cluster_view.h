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
// Placement changes are pushed to listeners (AddPlacementListener) before
// placement() returns the new placement, so a listener can stop what must
// not run under the new one (a Subscribe part whose owners changed) before
// any request is routed by it. ChangeGuard holds changes off meanwhile.
//
// Thread-safety: implementations are thread-safe; placement() hands out an
// immutable snapshot that stays valid however long the caller keeps it.
// Lock order: change_mu_ before an implementation's own mutex.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_VIEW_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_VIEW_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/cluster/placement.h"

namespace historian::cluster {

// How long a member's key has been gone from etcd as one node saw it, and
// the isolation write fence it last published (lease_fence.h); a zero
// fence: not seen (the member registered before this node read etcd, or
// is older).
struct MemberAbsence {
  absl::Duration gone_for;
  absl::Duration published_fence;
};

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
  // True once placement() is at least as new as a read of etcd made since
  // this process started (false while it is only the cache of an earlier
  // run, which may predate changes this node acted on before a restart).
  virtual bool PlacementReadFromEtcd() const { return true; }
  // Whether member `id` stores each slice of a batch apart
  // (WriteRequest.slice): false when the last member record seen of it
  // does not say so (an older version); true when none was seen (a member
  // of an older version that this node never saw is not caught).
  virtual bool MemberTakesSlices(const std::string& id) const { return true; }
  // MemberTakesSlices of every member of the placement (true without one).
  bool EveryMemberTakesSlices() const {
    const std::shared_ptr<const Placement> p = placement();
    if (p == nullptr) return true;
    for (const PlacementMember& m : p->members()) {
      if (!MemberTakesSlices(m.id)) return false;
    }
    return true;
  }

  // True when this node owns `tag` (always, outside a cluster).
  bool OwnsTag(std::string_view tag) const {
    std::shared_ptr<const Placement> p = placement();
    return p == nullptr || p->OwnerOfTag(tag).id == self_id();
  }

  // Called with the placement in force (`before`, null: none) and the one
  // replacing it (`after`), before placement() returns `after`, on the
  // thread installing it, one change at a time. `contiguous`: every
  // placement revision between the two was passed to the listeners (false
  // after a re-read that may have skipped some: an owner may have moved
  // away and back meanwhile). A listener must not block, add or remove
  // listeners, take a ChangeGuard or finish a gRPC call (its OnDone may
  // remove a listener); placement() still returns `before` while it runs.
  using PlacementListener =
      std::function<void(const std::shared_ptr<const Placement>& before,
                         const std::shared_ptr<const Placement>& after, bool contiguous)>;
  // Returns the id to remove it with.
  uint64_t AddPlacementListener(PlacementListener listener) const ABSL_LOCKS_EXCLUDED(change_mu_) {
    absl::MutexLock l(&change_mu_);
    listeners_[++last_listener_] = std::move(listener);
    return last_listener_;
  }
  // Once it returns, the listener is not running and never runs again.
  void RemovePlacementListener(uint64_t id) const ABSL_LOCKS_EXCLUDED(change_mu_) {
    absl::MutexLock l(&change_mu_);
    listeners_.erase(id);
  }

  // Holds placement changes off while it lives (a shared lock): placement()
  // stays what it was when the guard was taken, and a change's listeners
  // run after the guard ends. Not reentrant; never held across a wait.
  // The wall time (Unix ns) at which `p` became placement() here; 0 when
  // `p` is not the current placement (or none was recorded).
  int64_t InstalledAtNs(const std::shared_ptr<const Placement>& p) const
      ABSL_LOCKS_EXCLUDED(installed_mu_) {
    absl::MutexLock l(&installed_mu_);
    return p != nullptr && p == installed_ ? installed_ns_ : 0;
  }

  class ChangeGuard {
   public:
    explicit ChangeGuard(const ClusterView& view) : lock_(&view.change_mu_) {}

   private:
    absl::ReaderMutexLock lock_;
  };

 protected:
  // For implementations: runs the listeners with placement() as `before`
  // (read under the change lock), then `install` (after which placement()
  // returns `after`), under the change lock; records when.
  void ChangePlacement(const std::shared_ptr<const Placement>& after, bool contiguous,
                       const std::function<void()>& install) const ABSL_LOCKS_EXCLUDED(change_mu_) {
    absl::MutexLock l(&change_mu_);
    const std::shared_ptr<const Placement> before = placement();
    for (const auto& [id, listener] : listeners_) listener(before, after, contiguous);
    install();
    RecordInstalled(after);
  }
  // For implementations: `p` became placement() now (without listeners: a
  // constructor's).
  void RecordInstalled(const std::shared_ptr<const Placement>& p) const
      ABSL_LOCKS_EXCLUDED(installed_mu_) {
    absl::MutexLock l(&installed_mu_);
    installed_ = p;
    installed_ns_ = absl::ToUnixNanos(absl::Now());
  }

 private:
  mutable absl::Mutex change_mu_;
  mutable uint64_t last_listener_ ABSL_GUARDED_BY(change_mu_) = 0;
  mutable std::map<uint64_t, PlacementListener> listeners_ ABSL_GUARDED_BY(change_mu_);
  mutable absl::Mutex installed_mu_ ABSL_ACQUIRED_AFTER(change_mu_);
  mutable std::shared_ptr<const Placement> installed_ ABSL_GUARDED_BY(installed_mu_);
  mutable int64_t installed_ns_ ABSL_GUARDED_BY(installed_mu_) = 0;
};

// A placement set by its owner. Every member counts as alive.
class StaticClusterView final : public ClusterView {
 public:
  StaticClusterView(std::string self_id, std::shared_ptr<const Placement> placement)
      : self_id_(std::move(self_id)), placement_(std::move(placement)) {
    RecordInstalled(placement_);
  }

  // Listeners run first (ClusterView::AddPlacementListener); every change
  // is contiguous.
  void Set(std::shared_ptr<const Placement> placement) ABSL_LOCKS_EXCLUDED(mu_) {
    ChangePlacement(placement, /*contiguous=*/true, [&] {
      absl::MutexLock l(&mu_);
      placement_ = std::move(placement);
    });
  }

  std::shared_ptr<const Placement> placement() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return placement_;
  }
  std::string self_id() const override { return self_id_; }
  bool PlacementReadFromEtcd() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return read_from_etcd_;
  }
  // Tests: as if the placement came from an earlier run's cache (false).
  void SetReadFromEtcd(bool read) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    read_from_etcd_ = read;
  }
  std::vector<std::string> alive_members() const override ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::string> ids;
    std::shared_ptr<const Placement> p = placement();
    if (p != nullptr) {
      for (const PlacementMember& m : p->members()) ids.push_back(m.id);
    }
    return ids;
  }
  bool MemberTakesSlices(const std::string& id) const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return without_slices_.count(id) == 0;
  }
  // Tests: member `id` as a node of an older version (no write slices).
  void SetWithoutSlices(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    without_slices_.insert(id);
  }

 private:
  const std::string self_id_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Placement> placement_ ABSL_GUARDED_BY(mu_);
  bool read_from_etcd_ ABSL_GUARDED_BY(mu_) = true;
  std::set<std::string> without_slices_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_VIEW_H_
