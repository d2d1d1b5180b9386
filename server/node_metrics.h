// File: node_metrics.h
// The node's gauges, read at scrape time: head tags and samples, own log,
// RocksDB figures per column family, write acceptance, and replication lag
// per peer (Replicator::Status()).
#ifndef HISTORIAN_SERVER_NODE_METRICS_H_
#define HISTORIAN_SERVER_NODE_METRICS_H_

#include "server/metrics.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "server/write_gate.h"
#include "storage/store.h"

namespace historian::server {

// Adds the collectors to `metrics`. Every pointer must outlive `metrics`'
// last Render; `replicator` and `gate` may be null.
// `replication` (may be null) adds what each peer has not taken of the own
// log.
void RegisterNodeMetrics(Metrics* metrics, Store* store, Replicator* replicator, WriteGate* gate,
                         const ReplicationService* replication = nullptr);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_NODE_METRICS_H_
