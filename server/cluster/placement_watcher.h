// File: placement_watcher.h
// PlacementWatcher: the etcd-backed ClusterView of a node (docs/cluster.md,
// "Nodes watch the placement"). Reads every key under /historian/<site>/
// (GetPrefix), then watches the prefix from that read's revision + 1, and
// keeps from what it sees: the current Placement (the `placement` key,
// revision = its mod revision, so every node reports the same one), and the
// members whose lease is alive (the `members/<id>` keys).
//
// Failure behaviour:
// - etcd down: the EtcdWatcher reconnects by itself; the last placement
//   stays and the node keeps serving with it. Alive members stay as last
//   seen (stale until etcd is back).
// - watch compacted (OUT_OF_RANGE) or cancelled by etcd: read the prefix
//   again and watch from there (counted in resyncs).
// - a bad placement value, or the placement key deleted: logged as an error
//   and ignored; the last good placement stays (never a partial one, never
//   none: a node without a placement would take every tag).
// - start-up: the constructor never blocks on etcd. The last placement seen
//   is cached in `cache_path` (written atomically on every change) and used
//   until etcd answers, so a node restarted while etcd is down serves as
//   before. Without a cache and without etcd the node has no placement
//   (owns every tag, like a cluster not yet initialised) and logs loudly
//   until etcd answers.
//
// Thread-safety: thread-safe. mu_ guards the placement, the members and the
// counters (taken after ClusterView's change lock); the background thread owns the EtcdWatcher;
// cache_mu_ serializes cache writes (taken without mu_).
#ifndef HISTORIAN_SERVER_CLUSTER_PLACEMENT_WATCHER_H_
#define HISTORIAN_SERVER_CLUSTER_PLACEMENT_WATCHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/cluster_view.h"
#include "server/cluster/etcd/etcd_client.h"

namespace historian::cluster {

struct PlacementWatcherOptions {
  std::string site;
  std::string self_id;
  // This node's advertised address: a placement naming another one for it
  // is logged (it would be routed to the wrong place).
  std::string self_address;
  // File holding the last placement seen ("" disables the cache).
  std::string cache_path;
  absl::Duration max_retry_backoff = absl::Seconds(2);
};

class PlacementWatcher final : public ClusterView {
 public:
  struct Stats {
    bool synced = false;             // etcd was read at least once
    int64_t placement_revision = 0;  // 0: no placement
    int64_t placement_updates = 0;   // placements applied (cache, reads, events)
    int64_t resyncs = 0;             // prefix reads after the first
    int64_t bad_values = 0;          // placement/config values refused
    int64_t members_alive = 0;
    absl::Status last_error;  // of the last read or watch failure
  };

  // Loads the cache and starts watching. `etcd` must outlive the watcher.
  PlacementWatcher(const EtcdClient* etcd, PlacementWatcherOptions options);
  ~PlacementWatcher() override;
  PlacementWatcher(const PlacementWatcher&) = delete;
  PlacementWatcher& operator=(const PlacementWatcher&) = delete;

  std::shared_ptr<const Placement> placement() const override ABSL_LOCKS_EXCLUDED(mu_);
  std::string self_id() const override { return options_.self_id; }
  std::vector<std::string> alive_members() const override ABSL_LOCKS_EXCLUDED(mu_);
  // From the last member record seen of it; true when none was seen.
  bool MemberTakesSlices(const std::string& id) const override ABSL_LOCKS_EXCLUDED(mu_);
  // OK before `historian cluster init` (etcd read, no cluster config key);
  // UNAVAILABLE while etcd was never read (and no cache), or while the site
  // is a cluster (its config key exists) but no valid placement was read.
  absl::Status NoPlacementStatus() const override ABSL_LOCKS_EXCLUDED(mu_);
  // Etcd was read since the start (the read's placement is installed
  // before this turns true).
  bool PlacementReadFromEtcd() const override ABSL_LOCKS_EXCLUDED(mu_);

  // Called (on the watcher's thread, after the placement cache is written)
  // each time a new placement is applied; it must not block. Replaces any
  // listener set before; empty: none.
  void SetPlacementListener(std::function<void()> listener) ABSL_LOCKS_EXCLUDED(listener_mu_);

  // The etcd revision up to which every change under the prefix is applied
  // (placement installed): the last read's, or the last event's since.
  // 0 before the first read. A placement value refused as bad counts as
  // applied (the last good one stays, logged loudly).
  int64_t SeenThroughRevision() const ABSL_LOCKS_EXCLUDED(mu_);

  // How long member `id`'s key has been gone as this watcher saw it, once
  // it has applied every change up to etcd `revision` (waits up to
  // `timeout`: UNAVAILABLE after). Counted from the delete it saw, or from
  // its first read of etcd or the resync that found the key gone, so never
  // longer than the truth (never from before the last full read: a
  // member may have come and gone unseen). FAILED_PRECONDITION while the
  // key is there.
  absl::StatusOr<MemberAbsence> AbsenceOf(
      const std::string& id, int64_t revision, absl::Duration timeout,
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until etcd was read once; false after `timeout`.
  bool WaitForSync(absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // Applies `events` as if the watch had delivered them in one batch
  // (tests; only while nothing else applies changes, e.g. etcd unreachable).
  void TEST_OnEvents(const std::vector<EtcdEvent>& events) ABSL_LOCKS_EXCLUDED(mu_) {
    OnEvents(events);
  }

 private:
  void Run();
  // Reads the prefix and replaces the state; returns the read's revision.
  absl::StatusOr<int64_t> Resync() ABSL_LOCKS_EXCLUDED(mu_);
  void OnEvents(const std::vector<EtcdEvent>& events) ABSL_LOCKS_EXCLUDED(mu_);
  void OnWatchFailed(absl::Status reason) ABSL_LOCKS_EXCLUDED(mu_);
  // Decodes the placement value written at `mod_revision`: null (logged,
  // counted) when it is refused or is `current`'s revision.
  std::shared_ptr<const Placement> AcceptPlacement(const std::string& value, int64_t mod_revision,
                                                   const std::shared_ptr<const Placement>& current)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `next` the placement: the placement listeners run first
  // (ClusterView::ChangePlacement; `contiguous`: no revision since the
  // current one was skipped). Only the watcher's thread (and the
  // constructor) call it, so changes never interleave.
  void InstallPlacement(std::shared_ptr<const Placement> next, bool contiguous)
      ABSL_LOCKS_EXCLUDED(mu_);
  void ApplyConfig(const std::string& value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoadCache() ABSL_LOCKS_EXCLUDED(mu_);
  void WriteCache(const std::shared_ptr<const Placement>& placement) ABSL_LOCKS_EXCLUDED(mu_);
  bool SleepUnlessStopped(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  bool StoppedOrResyncNeeded() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || resync_needed_;
  }

  const EtcdClient* const etcd_;
  const PlacementWatcherOptions options_;
  const std::string prefix_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool resync_needed_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  int64_t seen_through_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // The cluster config key (written by `historian cluster init`) was seen.
  bool config_seen_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const Placement> placement_ ABSL_GUARDED_BY(mu_);
  // Alive members: id -> record (the members/ keys).
  absl::flat_hash_map<std::string, MemberRecord> members_ ABSL_GUARDED_BY(mu_);
  // Members whose key this watcher saw go (AbsenceOf): since when, and the
  // fence they published.
  struct Gone {
    std::chrono::steady_clock::time_point since;
    int64_t published_fence_ms = 0;
  };
  absl::flat_hash_map<std::string, Gone> gone_ ABSL_GUARDED_BY(mu_);
  // The last full read of the prefix: a member may have come and gone
  // unseen before it (a compacted watch), so no absence counts from
  // earlier.
  std::optional<std::chrono::steady_clock::time_point> last_read_at_ ABSL_GUARDED_BY(mu_);
  // write_slices of every member record seen (kept after its key goes).
  absl::flat_hash_map<std::string, bool> slices_seen_ ABSL_GUARDED_BY(mu_);
  // A member key `id` (with `record`, when it was alive) is gone now.
  void MarkGoneLocked(const std::string& id, const MemberRecord* record,
                      std::chrono::steady_clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t placement_updates_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reads_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bad_values_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);

  absl::Mutex cache_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // Taken without mu_.
  absl::Mutex listener_mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(listener_mu_);
  void NotifyListener() ABSL_LOCKS_EXCLUDED(listener_mu_);

  std::thread thread_;  // last: starts after every field above is set
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_PLACEMENT_WATCHER_H_
