// File: cluster_metrics.h
// The historian_cluster_* families of a node in a site cluster on /metrics
// (docs/cluster.md, "Metrics"): shards owned, placement revision, members
// alive, whether etcd answers, and the watcher's and membership's counters.
//
// Thread-safety: reads the thread-safe watcher and membership.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_METRICS_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_METRICS_H_

#include "server/cluster/membership.h"
#include "server/cluster/placement_watcher.h"
#include "server/metrics.h"

namespace historian::cluster {

// `membership` may be null (not registered yet: the node is starting).
void CollectClusterMetrics(const PlacementWatcher& watcher, const Membership* membership,
                           server::MetricsWriter* w);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_METRICS_H_
