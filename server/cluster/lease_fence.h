// File: lease_fence.h
// LeaseFence: a member fencing itself once cut off from etcd (docs/cluster.md,
// "A source cut off from etcd: the lease fence", "A member cut off for
// longer: the isolation write fence").
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
// A member without a lease for its isolation write fence (the
// --cluster_isolation_write_fence it publishes in its member record) or
// longer fences every shard it owns, not only those it hands over:
// `remove-node --lost` gives them away without it once its key has been
// gone that long (plus a margin), and a member cannot tell "etcd is down
// for everyone" from "I am cut off", so a shorter outage keeps the site
// recording (issue 20) and a longer one queues writes at the gateways.
// The stretch without a lease starts at the earliest time etcd could have
// expired it (or when etcd said it is gone, or at the start of the process
// for a member not registered yet) and lasts until a registration is held
// and seen by the placement view.
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
#include "absl/time/time.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/placement.h"
#include "storage/store.h"

namespace historian::cluster {

// When the view's placement no longer gives view.self_id() one of
// `shards` (it owned them when a write was admitted): which, and to whom;
// nullopt while it owns them all (or there is no placement). A shard of a
// FLIPPED move away from this member still counts as its own while
// `lease_held`: the store admitted the write before it closed the shard
// (Store::CloseShardToWrites refuses after), so the write is at or below
// the fence this member publishes and the new owner tails it before it
// opens the shard. Without the lease an admin's fence written without
// this member may end the move at any position (docs/cluster.md).
std::optional<std::string> ShardsNoLongerOwned(const ClusterView& view,
                                               const std::vector<uint32_t>& shards,
                                               bool lease_held);

class LeaseFence {
 public:
  using Clock = std::chrono::steady_clock;
  // Taken off the end: this machine's clock may run slower than etcd's.
  static constexpr Clock::duration kClockMargin = std::chrono::milliseconds(100);
  static constexpr Clock::duration kDefaultIsolationFence = std::chrono::seconds(60);

  // What Check() answers.
  struct LeaseCheck {
    absl::Status held;  // OK: held (CheckHeld)
    // Not held for `isolation_fence` or longer: every owned shard is fenced.
    bool isolated = false;
    Clock::duration isolation_fence{};
  };

  // `view_revision`: the etcd revision up to which the node's placement view
  // has applied every change (PlacementWatcher::SeenThroughRevision).
  // `isolation_fence`: see above (until the first registration, no wider
  // than the fence a previous run registered with, kept in `alive_file`:
  // a wider one is covered by the site's widest fence only once
  // registering raised it); `started`: when the process started.
  // `alive_file` ("" : none): where the latest time etcd keeps the lease
  // is kept (wall clock), so a member restarted while cut off counts its
  // stretch without a lease from before the restart (RestoredStretchStart).
  explicit LeaseFence(std::function<int64_t()> view_revision,
                      Clock::duration isolation_fence = kDefaultIsolationFence,
                      Clock::time_point started = Clock::now(), std::string alive_file = "");
  LeaseFence(const LeaseFence&) = delete;
  LeaseFence& operator=(const LeaseFence&) = delete;

  // The member key was written at etcd `revision` under lease `lease_id`,
  // which etcd keeps at least until `alive_until`.
  void Registered(int64_t lease_id, int64_t revision, Clock::time_point alive_until,
                  Clock::time_point now = Clock::now()) ABSL_LOCKS_EXCLUDED(mu_);
  // A keep-alive of `lease_id` was answered: etcd keeps it at least until
  // `alive_until`. Ignored for a lease other than the registered one.
  void Renewed(int64_t lease_id, Clock::time_point alive_until,
               Clock::time_point now = Clock::now()) ABSL_LOCKS_EXCLUDED(mu_);
  // etcd said the lease is gone (expired or revoked), or it was given up.
  void Lost(int64_t lease_id, Clock::time_point now = Clock::now()) ABSL_LOCKS_EXCLUDED(mu_);

  // OK while no other node can have fenced or reassigned a shard away from
  // this one without it: the lease is surely alive in etcd at `now` and the
  // placement view has seen its registration. UNAVAILABLE saying which of
  // the two fails otherwise.
  absl::Status CheckHeld(Clock::time_point now = Clock::now()) const ABSL_LOCKS_EXCLUDED(mu_) {
    return Check(now).held;
  }
  // CheckHeld's answer, and whether the member is isolated (see above).
  LeaseCheck Check(Clock::time_point now = Clock::now()) const ABSL_LOCKS_EXCLUDED(mu_);

  // OK unless `tag` is in a shard this member fences under `lease`
  // (Check's answer; FencedShards): then UNAVAILABLE naming `what`
  // (the request), the tag and the shard. For requests that change one tag
  // here (the catalog's), before the change (with CheckHeld asked before
  // the request read the placement: a placement read after a passing
  // check is at least as new as the registration it holds) and again
  // after it (held may have ended meanwhile). Ingest goes through
  // WriteForwarder and IngestService.
  static absl::Status CheckTagChange(const LeaseCheck& lease, const ClusterView& view,
                                     const Store* store, std::string_view what,
                                     std::string_view tag);

  // The shards member `self` hands over in `placement`: those with an
  // INITIALIZING move away from it, and those it holds a move ack of in
  // `store` (it served a copy: also when its view does not show the move).
  // A PENDING move has copied nothing; at FLIPPED it no longer stores them.
  static std::set<uint32_t> HandedOverShards(const Placement& placement, uint32_t self,
                                             const Store* store);
  // The shards member `self` fences while its lease is not held: those it
  // hands over, and, when `isolated`, every shard it owns too.
  static std::set<uint32_t> FencedShards(const Placement& placement, uint32_t self,
                                         const Store* store, bool isolated);
  // When one of `shards` is fenced by member view.self_id() in the view's
  // placement under `lease` (FencedShards): FencedBecause of the first;
  // none, a held lease or no placement: nullopt.
  static std::optional<std::string> FirstFenced(const LeaseCheck& lease, const ClusterView& view,
                                                const Store* store,
                                                const std::vector<uint32_t>& shards);
  // Cheap: whether FencedShards may be non-empty.
  static bool MayFence(const Placement& placement, uint32_t self, const Store* store,
                       bool isolated);
  // Why `shard` is fenced under `lease` (not held), for error messages:
  // "is in shard S, which this member ..., and <why the lease is not held>".
  static std::string FencedBecause(const LeaseCheck& lease, const Placement& placement,
                                   uint32_t self, const Store* store, uint32_t shard);

  // Where a process started at `started` (steady) at wall time `wall_now`
  // begins its stretch without a lease: at the lease's end that
  // `alive_file` holds (written by an earlier run) when that is earlier,
  // else at `started`.
  static Clock::time_point RestoredStretchStart(const std::string& alive_file,
                                                Clock::time_point started, absl::Time wall_now);
  // The isolation fence an earlier run registered with, kept in
  // `alive_file` beside the lease's end; nullopt: none (no file, or one
  // from before the fence was kept there).
  static std::optional<Clock::duration> RestoredFence(const std::string& alive_file);

 private:
  // When the open stretch without a lease began, counting an expiry not
  // folded in yet; nullopt: none open.
  std::optional<Clock::time_point> StretchSinceLocked(Clock::time_point now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps `alive_until` (steady, at `now`) in alive_file_ as wall time.
  void SaveAliveUntil(Clock::time_point alive_until, Clock::time_point now) const;

  const std::function<int64_t()> view_revision_;
  const Clock::duration isolation_fence_;
  const std::string alive_file_;

  mutable absl::Mutex mu_;
  // The fence in force: isolation_fence_ once registered; before, no wider
  // than the one the previous run registered with.
  Clock::duration fence_ ABSL_GUARDED_BY(mu_);
  int64_t lease_id_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none registered yet
  int64_t registered_revision_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point alive_until_ ABSL_GUARDED_BY(mu_) = Clock::time_point::min();
  std::string lost_reason_ ABSL_GUARDED_BY(mu_) = "not registered as a member yet";
  // The start of the stretch without a lease that no held registration
  // seen by the view has closed yet (an expiry not reported is folded in
  // at the next event); nullopt: none open. Closed by Check or Renewed.
  mutable std::optional<Clock::time_point> stretch_since_ ABSL_GUARDED_BY(mu_);
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_LEASE_FENCE_H_
