// File: shard_drop_gate.h
// ShardDropGate: keeps the janitor's drop of a shard apart from the start of
// a move of it to this node (docs/cluster.md, "The janitor"). The janitor
// plans a pass on one placement and then drops shard after shard, each for
// up to seconds; meanwhile a later placement may move one of them here,
// and the mover's copy would be dropped with the stale data. So:
//
//   the janitor:  gate.Run([&] { if (still orphaned in view->placement()) DropShard(s); });
//   the mover:    gate.Run([&] { wipe the shard; start the move in etcd; });
//
// A move starts only on a placement the node's view already shows, and
// views only go forward: a drop that holds the gate first ends before the
// move's wipe, and a check after the start sees the move and skips.
//
// Thread-safety: thread-safe; mu_ is held while `fn` runs.
#ifndef HISTORIAN_SERVER_CLUSTER_SHARD_DROP_GATE_H_
#define HISTORIAN_SERVER_CLUSTER_SHARD_DROP_GATE_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace historian::cluster {

class ShardDropGate {
 public:
  // Runs `fn` alone: no other Run's `fn` runs meanwhile.
  absl::Status Run(const std::function<absl::Status()>& fn) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs that found another one under way and waited for it (tests).
  uint64_t waits() const ABSL_LOCKS_EXCLUDED(count_mu_);

 private:
  absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(count_mu_);
  mutable absl::Mutex count_mu_;
  bool running_ ABSL_GUARDED_BY(count_mu_) = false;  // an `fn` runs
  uint64_t waits_ ABSL_GUARDED_BY(count_mu_) = 0;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SHARD_DROP_GATE_H_
