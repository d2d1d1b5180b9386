// File: shard_janitor.h
// ShardJanitor: drops a cluster node's data of the virtual shards it has no
// business holding (docs/cluster.md, "The janitor"), so orphaned data is
// never served or re-sent and a node re-added with an old data dir never
// resurrects data it no longer owns (M3DB issue 4103). It also clears the
// move acks (Store::SetMoveAck) of moves that left the placement.
//
// On each placement (at start, then on every change the placement watcher
// reports) it drops, with Store::DropShard, every shard this node holds
// tags of that the placement gives to another member and that is in no
// move from or to this node (Placement::moves(): PENDING, INITIALIZING or
// FLIPPED), and clears the move ack of every shard with no move from this
// node. It never runs without a placement (a single node, or a cluster
// node before `historian cluster init`), nor while this node is not a
// member of the placement (it owns nothing then, so it serves and sends
// nothing of what it holds; it drops once it is a member again). It opens
// a shard closed here to own writes once no move of it involves this node
// (a source's fence after its move; a move settled by `remove-node --lost`),
// on each pass and, while any shard is closed, every retry_interval.
//
//   ShardDropGate gate;           // shared with the ShardMover
//   ShardJanitor janitor(store, view, &gate);
//   janitor.Start();              // one pass now, on the current placement
//   watcher->SetPlacementListener([&] { janitor.OnPlacement(); });
//
// Thread-safety: thread-safe. Start() runs its pass on the caller's thread;
// later passes run on the janitor's own thread, one at a time.
#ifndef HISTORIAN_SERVER_CLUSTER_SHARD_JANITOR_H_
#define HISTORIAN_SERVER_CLUSTER_SHARD_JANITOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/placement.h"
#include "server/cluster/shard_drop_gate.h"

namespace historian {
class Store;
}  // namespace historian

namespace historian::cluster {

// What one pass does (pure: the rules above).
struct JanitorPlan {
  std::vector<uint32_t> drop;        // shards whose tags go
  std::vector<uint32_t> clear_acks;  // move acks that go
};
// Whether `placement` gives `shard` to another member and moves it neither
// from nor to `self_id` (false when `self_id` is no member): the janitor
// drops such a shard's data.
bool ShardIsOrphanHere(const Placement& placement, std::string_view self_id, uint32_t shard);
// `tags_by_shard`: shard -> tags held here (Store::TagCountsByShard);
// `move_acks`: shard -> position (Store::MoveAcks). Empty when `self_id` is
// no member of `placement`.
JanitorPlan PlanJanitor(const Placement& placement, std::string_view self_id,
                        const std::map<uint32_t, uint64_t>& tags_by_shard,
                        const std::map<uint32_t, uint64_t>& move_acks);

class ShardJanitor {
 public:
  struct Stats {
    int64_t passes = 0;          // passes run on a placement
    int64_t shards_dropped = 0;  // DropShard calls that succeeded
    int64_t tags_dropped = 0;    // their tags
    int64_t acks_cleared = 0;    // move acks cleared
    // Closed shards this node owns, opened with no move of them holding
    // them (a move rolled back, or settled by remove-node --lost).
    int64_t owned_shards_reopened = 0;
    int64_t done_revision = 0;  // placement revision of the last full pass
    absl::Status last_error;    // of the last pass that failed
  };

  // `store`, `view` and `gate` (shared with the node's ShardMover) must
  // outlive the janitor.
  ShardJanitor(Store* store, const ClusterView* view, ShardDropGate* gate,
               absl::Duration retry_interval = absl::Seconds(5));
  ~ShardJanitor();  // Stop()
  ShardJanitor(const ShardJanitor&) = delete;
  ShardJanitor& operator=(const ShardJanitor&) = delete;

  // Runs a pass on the current placement (if any) on this thread, then
  // starts the thread for later ones. Returns the pass's error (logged; the
  // thread retries it every retry_interval).
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  // The placement changed: a pass soon, on the janitor's thread. Never
  // blocks on a pass.
  void OnPlacement() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the thread (a pass under way finishes first).
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // One pass on `placement`, on this thread (Start and the thread use it).
  absl::Status RunPass(const Placement& placement) ABSL_LOCKS_EXCLUDED(mu_);
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Opens the closed shards no move involving this node holds closed.
  absl::Status ReopenClosedShards() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pass_mu_)
      ABSL_LOCKS_EXCLUDED(mu_);

  Store* const store_;
  const ClusterView* const view_;
  ShardDropGate* const gate_;
  const absl::Duration retry_interval_;
  // One pass at a time (Start's and the thread's).
  absl::Mutex pass_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SHARD_JANITOR_H_
