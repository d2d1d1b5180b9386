#include "server/cluster/cluster_metrics.h"

#include <memory>

namespace historian::cluster {

void CollectClusterMetrics(const PlacementWatcher& watcher, const Membership* membership,
                           server::MetricsWriter* w) {
  const std::shared_ptr<const Placement> placement = watcher.placement();
  const PlacementWatcher::Stats stats = watcher.stats();
  auto gauge = [w](const char* name, const char* help, double value) {
    w->Family(name, "gauge", help);
    w->Sample(name, "", value);
  };
  auto counter = [w](const char* name, const char* help, double value) {
    w->Family(name, "counter", help);
    w->Sample(name, "", value);
  };
  gauge("historian_cluster_shards", "Virtual shards of the site cluster (0: no placement yet)",
        placement != nullptr ? placement->num_shards() : 0);
  gauge("historian_cluster_owned_shards", "Shards the placement gives this node",
        placement != nullptr
            ? static_cast<double>(placement->ShardsOwnedBy(watcher.self_id()).size())
            : 0);
  gauge("historian_cluster_placement_revision",
        "etcd mod revision of the placement this node routes by (0: none)",
        static_cast<double>(stats.placement_revision));
  gauge("historian_cluster_members", "Members in the placement",
        placement != nullptr ? static_cast<double>(placement->members().size()) : 0);
  gauge("historian_cluster_members_alive",
        "Members holding a live etcd lease, as this node last saw (stale while etcd is down)",
        static_cast<double>(stats.members_alive));
  gauge("historian_cluster_etcd_reachable",
        "1 while this member's lease is kept (etcd answered a keep-alive within the lease TTL)",
        membership != nullptr && membership->registered() ? 1 : 0);
  gauge("historian_cluster_synced", "1 once the placement was read from etcd (0: cache or none)",
        stats.synced ? 1 : 0);
  counter("historian_cluster_placement_updates_total",
          "Placements applied (cache, etcd reads, watch events)",
          static_cast<double>(stats.placement_updates));
  counter("historian_cluster_resyncs_total",
          "Times the cluster prefix was read again (watch compacted or cancelled)",
          static_cast<double>(stats.resyncs));
  counter("historian_cluster_bad_values_total",
          "Placement or cluster config values refused (logged; the last good placement stays)",
          static_cast<double>(stats.bad_values));
  counter("historian_cluster_registrations_total",
          "Times this member registered (1 + re-registrations after a lost lease)",
          membership != nullptr ? static_cast<double>(membership->registrations()) : 0);
}

}  // namespace historian::cluster
