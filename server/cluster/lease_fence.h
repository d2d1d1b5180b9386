// File: lease_fence.h
// LeaseFence: a move's source fencing itself once cut off from etcd
// (docs/cluster.md, "A source cut off from etcd").
//
// `fence-without-source` and `remove-node --lost` take a shard away from a
// member without its help, and both refuse while the member's key is in
// etcd. A member cut off from etcd (and from the node running the command)
// but not from its clients would go on storing writes of a shard it is
// handing over, lost once the command ran. So it stops first: its writes of
// such shards are refused (UNAVAILABLE, retried by writers, kept by the
// gateway) from the moment its lease may have expired in etcd, until it
// holds a lease again and its placement view has seen that registration
// (so it also saw every change made before it).
//
// The lease is counted as held until the earliest time etcd could expire
// it: the send time of the last keep-alive etcd answered (or of the grant)
// plus the TTL etcd gave, on the monotonic clock (etcd restarts the TTL on
// receipt, after we sent; a wall clock step cannot stretch it), less a
// margin for clock rates (kClockMargin). Membership
// reports registrations, renewals and losses; the write path asks.
//
// Thread-safety: thread-safe; mu_ guards the lease state. `view_revision`
// is called without mu_ held.
#ifndef HISTORIAN_SERVER_CLUSTER_LEASE_FENCE_H_
#define HISTORIAN_SERVER_CLUSTER_LEASE_FENCE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/placement.h"
#include "storage/store.h"

namespace historian::cluster {

class LeaseFence {
 public:
  using Clock = std::chrono::steady_clock;
  // Taken off the end: this machine's clock may run slower than etcd's.
  static constexpr Clock::duration kClockMargin = std::chrono::milliseconds(100);

  // `view_revision`: the etcd revision up to which the node's placement view
  // has applied every change (PlacementWatcher::SeenThroughRevision).
  explicit LeaseFence(std::function<int64_t()> view_revision);
  LeaseFence(const LeaseFence&) = delete;
  LeaseFence& operator=(const LeaseFence&) = delete;

  // The member key was written at etcd `revision` under lease `lease_id`,
  // which etcd keeps at least until `alive_until`.
  void Registered(int64_t lease_id, int64_t revision, Clock::time_point alive_until)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A keep-alive of `lease_id` was answered: etcd keeps it at least until
  // `alive_until`. Ignored for a lease other than the registered one.
  void Renewed(int64_t lease_id, Clock::time_point alive_until) ABSL_LOCKS_EXCLUDED(mu_);
  // etcd said the lease is gone (expired or revoked), or it was given up.
  void Lost(int64_t lease_id) ABSL_LOCKS_EXCLUDED(mu_);

  // OK while no other node can have fenced or reassigned a shard away from
  // this one without it: the lease is surely alive in etcd at `now` and the
  // placement view has seen its registration. UNAVAILABLE saying which of
  // the two fails otherwise.
  absl::Status CheckHeld(Clock::time_point now = Clock::now()) const ABSL_LOCKS_EXCLUDED(mu_);

  // OK unless `tag` is in a shard this member hands over while the lease
  // is not `held` (CheckHeld's answer): then UNAVAILABLE naming `what`
  // (the request), the tag and the shard. For requests that change one tag
  // here (the catalog's), before the change (with CheckHeld asked before
  // the request read the placement: a placement read after a passing
  // check is at least as new as the registration it holds) and again
  // after it (held may have ended meanwhile). Ingest goes through
  // WriteForwarder and IngestService.
  static absl::Status CheckTagChange(const absl::Status& held, const ClusterView& view,
                                     const Store* store, std::string_view what,
                                     std::string_view tag);

  // The shards member `self` hands over in `placement`: those with an
  // INITIALIZING move away from it, and those it holds a move ack of in
  // `store` (it served a copy: also when its view does not show the move).
  // A PENDING move has copied nothing; at FLIPPED it no longer stores them.
  static std::set<uint32_t> HandedOverShards(const Placement& placement, uint32_t self,
                                             const Store* store);
  // The first of `shards` that member view.self_id() hands over in the
  // view's placement (HandedOverShards); none (or no placement): nullopt.
  static std::optional<uint32_t> FirstHandedOver(const ClusterView& view, const Store* store,
                                                 const std::vector<uint32_t>& shards);
  // Cheap: whether HandedOverShards may be non-empty.
  static bool MayHandOver(const Placement& placement, uint32_t self, const Store* store);

 private:
  const std::function<int64_t()> view_revision_;

  mutable absl::Mutex mu_;
  int64_t lease_id_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none registered yet
  int64_t registered_revision_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point alive_until_ ABSL_GUARDED_BY(mu_) = Clock::time_point::min();
  std::string lost_reason_ ABSL_GUARDED_BY(mu_) = "not registered as a member yet";
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_LEASE_FENCE_H_
