// File: lease_keeper.h
// LeaseKeeper: keeps one etcd lease alive from a background thread, on a
// LeaseKeepAlive stream to the preferred endpoint (failing over to the next
// one), sending a keep-alive every TTL/3 as etcd's own client does.
//
// The lease counts as lost, reported once through `on_lost` and status(),
// when etcd answers a keep-alive with TTL 0 (expired or revoked: NOT_FOUND),
// or when no keep-alive was answered for a whole TTL (UNAVAILABLE: others
// may already have seen it expire). The keeper stops after a loss. A stream
// never blocks past the lease's deadline: each one is opened with the
// deadline at which the lease would be lost.
//
// `on_renewed` (optional) runs after each answered keep-alive, with the
// earliest time etcd may expire the lease now: that keep-alive's send time
// plus the TTL etcd answered (monotonic clock; LeaseFence).
//
// Destroying the keeper stops the keep-alives; it does not revoke the lease
// (EtcdClient::RevokeLease does), which then expires after its TTL.
//
// Thread-safety: thread-safe. mu_ guards the stop flag, the context of the
// open stream (so the destructor can cancel it), status_ and the counters.
// `on_lost` and `on_renewed` run on the keeper's thread without mu_ held;
// they must not destroy the keeper.
#ifndef HISTORIAN_SERVER_CLUSTER_ETCD_LEASE_KEEPER_H_
#define HISTORIAN_SERVER_CLUSTER_ETCD_LEASE_KEEPER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cluster/etcd/etcd_endpoints.h"
#include "server/cluster/etcd/etcd_types.h"

namespace historian::cluster {

class LeaseKeeper {
 public:
  // Starts keeping `lease` (just granted: its TTL runs from now) alive.
  LeaseKeeper(std::shared_ptr<const EtcdEndpoints> endpoints, EtcdLease lease,
              std::function<void(absl::Status)> on_lost,
              std::function<void(std::chrono::steady_clock::time_point)> on_renewed = {});
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  int64_t lease_id() const { return lease_.id; }
  // OK while the lease is kept; the reason once it is lost.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);
  // Keep-alives etcd answered with a positive TTL.
  int64_t renewals() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();
  // One stream on endpoint `index`: keep-alives until it fails, the stream's
  // deadline passes or the keeper stops. Returns the stream's error (OK when
  // stopped); sets *lost when etcd said the lease is gone.
  absl::Status RunStream(size_t index, bool* lost) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits `d` or until stopped; true when stopped.
  bool SleepUnlessStopped(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  void Lose(absl::Status reason) ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<const EtcdEndpoints> endpoints_;
  const EtcdLease lease_;
  const std::function<void(absl::Status)> on_lost_;
  const std::function<void(std::chrono::steady_clock::time_point)> on_renewed_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  int64_t renewals_ ABSL_GUARDED_BY(mu_) = 0;
  // When the lease expires unless renewed first (as far as we know).
  absl::Time expires_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // last: starts after every field above is set
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_ETCD_LEASE_KEEPER_H_
