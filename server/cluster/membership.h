// File: membership.h
// Membership: keeps this node registered as a member of its site cluster
// (docs/cluster.md, "Membership"): the key /historian/<site>/members/<id>
// holding its MemberRecord, attached to an etcd lease kept alive by a
// LeaseKeeper (every TTL/3). A dead node's key disappears after its TTL.
//
// A background thread registers at once and again whenever the keeper
// reports the lease lost (expired, revoked, or etcd unreachable for a whole
// TTL), with a new lease, retrying with backoff (200 ms doubling to
// max_retry_backoff) and logging every failed attempt while etcd is down.
// The node keeps serving meanwhile: the placement, not the lease, says who
// owns a shard.
//
// Before each registration it raises the site's widest isolation write
// fence (cluster_keys.h) to its own, so `remove-node --lost` on any node
// waits out this member's fence once its key is gone.
//
// Two nodes must never share a member id. A key already held by a live
// lease and naming another address is refused (logged, retried: a node
// restarted on a new address gets its id back once the old lease expires);
// one naming our own address is taken over (a restart within the TTL).
//
// Destroying the Membership stops the keeper and revokes the lease (best
// effort, 1 s), so a cleanly stopped node shows dead at once.
//
// Thread-safety: thread-safe. mu_ guards the stop flag, the lost flag and
// the counters; the keeper lives on the background thread.
#ifndef HISTORIAN_SERVER_CLUSTER_MEMBERSHIP_H_
#define HISTORIAN_SERVER_CLUSTER_MEMBERSHIP_H_

#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/lease_fence.h"

namespace historian::cluster {

struct MembershipOptions {
  std::string site;
  std::string member_id;
  MemberRecord record;
  // Requested lease TTL; etcd may raise it to its minimum.
  int64_t lease_ttl_seconds = 10;
  absl::Duration max_retry_backoff = absl::Seconds(5);
  // Told of every registration, renewal and loss (null: none); must
  // outlive the Membership.
  LeaseFence* fence = nullptr;
};

class Membership {
 public:
  // Starts registering. `etcd` must outlive the Membership.
  Membership(const EtcdClient* etcd, MembershipOptions options);
  ~Membership();
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // The member key is written under a lease being kept.
  bool registered() const ABSL_LOCKS_EXCLUDED(mu_);
  // The lease of the current registration; 0 when not registered.
  int64_t lease_id() const ABSL_LOCKS_EXCLUDED(mu_);
  // Successful registrations (1 + re-registrations after a lost lease).
  int64_t registrations() const ABSL_LOCKS_EXCLUDED(mu_);
  // Why the last attempt failed or the last lease was lost (OK: none yet).
  absl::Status last_error() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();
  struct Registration {
    EtcdLease lease;
    int64_t revision = 0;  // etcd's, of the member key's write
  };
  // One registration attempt: the key written under a new lease.
  absl::StatusOr<Registration> Register(int64_t previous_lease) const;
  bool SleepUnlessStopped(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  bool StoppedOrLost() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || lost_; }
  void RevokeQuickly(int64_t lease_id) const;

  const EtcdClient* const etcd_;
  const MembershipOptions options_;
  const std::string key_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Bumped per registration; a keeper reports loss only for its own.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
  int64_t lease_id_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t registrations_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: starts after every field above is set
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_MEMBERSHIP_H_
