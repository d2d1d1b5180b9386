// File: etcd_watcher.h
// EtcdWatcher: watches every key under a prefix from a revision, on a
// background thread, delivering events in revision order until destroyed.
//
// Reconnects: when the Watch stream breaks (etcd restarted, member down),
// the watcher opens a new one on the next endpoint (backoff 100 ms doubling
// to options.max_reconnect_backoff) from the last delivered revision + 1,
// so no event is missed and none is delivered twice.
//
// Compaction: if etcd no longer has the revision to start or resume from
// (compacted), events in between are gone. The watcher does not skip them:
// it stops and reports OUT_OF_RANGE through `on_failed` and status(),
// naming the compact revision; the owner reads the prefix again
// (EtcdClient::GetPrefix) and starts a new watch from that read's
// revision + 1. Any other cancel by etcd is reported and ends the watch too.
//
// Thread-safety: thread-safe. mu_ guards the stop flag, the open stream's
// context (so the destructor can cancel it), the resume revision, status_
// the last stream error and the counters. Handlers run on the watcher's thread, one at a time,
// without mu_ held; they must not destroy the watcher.
#ifndef HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_WATCHER_H_
#define HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_WATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/cluster/etcd/etcd_endpoints.h"
#include "server/cluster/etcd/etcd_types.h"

namespace historian::cluster {

struct EtcdWatchHandlers {
  // Events in revision order; one call holds whole revisions (the writes of
  // one transaction are never split across calls).
  std::function<void(const std::vector<EtcdEvent>&)> on_events;
  // At most once, when the watch ends for good (compaction, cancel by etcd).
  std::function<void(absl::Status)> on_failed;
};

class EtcdWatcher {
 public:
  // `start_revision` 0: from the store's revision when the watch is created.
  EtcdWatcher(std::shared_ptr<const EtcdEndpoints> endpoints, std::string prefix,
              int64_t start_revision, EtcdWatchHandlers handlers);
  ~EtcdWatcher();
  EtcdWatcher(const EtcdWatcher&) = delete;
  EtcdWatcher& operator=(const EtcdWatcher&) = delete;

  // OK while watching or reconnecting; the reason once the watch ended.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);
  // The revision the next stream would start from (0: not yet known).
  int64_t next_revision() const ABSL_LOCKS_EXCLUDED(mu_);
  // Streams opened after the first (reconnects).
  int64_t reconnects() const ABSL_LOCKS_EXCLUDED(mu_);
  // Watches etcd confirmed (created); reconnects() + 1 once connected.
  int64_t streams_created() const ABSL_LOCKS_EXCLUDED(mu_);
  // Why the last stream broke (OK before any break), naming the endpoint.
  absl::Status last_stream_error() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();
  // One stream on endpoint `index` until it breaks or the watcher stops.
  // Returns the stream's error (OK when stopped); sets *ended when etcd
  // ended the watch for good (the reason is already reported).
  absl::Status RunStream(size_t index, bool* ended) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits `d` or until stopped; true when stopped.
  bool SleepUnlessStopped(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  void Fail(absl::Status reason) ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<const EtcdEndpoints> endpoints_;
  const std::string prefix_;
  const EtcdWatchHandlers handlers_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t next_revision_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  absl::Status last_stream_error_ ABSL_GUARDED_BY(mu_);
  int64_t streams_opened_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t streams_created_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;  // last: starts after every field above is set
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_WATCHER_H_
