// File: bench_replication.h
// Replication lag between two nodes that peer both ways: while a PacedLoad
// writes to node A, a probe writes one sample of its own tag to A (unary
// WriteBatch, acked after fsync), then polls node B's Latest until that
// sample is readable there. Lag = readable at B - acked at A, per probe.
//
// Thread-safety: MeasureReplicationLag blocks its caller.
#ifndef HISTORIAN_BENCH_BENCH_REPLICATION_H_
#define HISTORIAN_BENCH_BENCH_REPLICATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/bench_dataset.h"
#include "bench/bench_ingest.h"
#include "bench/bench_latency.h"

namespace historian::bench {

struct ReplicationOptions {
  std::string endpoint_a, endpoint_b;
  double load_rate = 100000;  // samples/s written to A meanwhile
  absl::Duration duration = absl::Seconds(20);
  absl::Duration probe_interval = absl::Milliseconds(100);
  absl::Duration probe_timeout = absl::Seconds(30);
};

struct ReplicationResult {
  LatencySummary lag;
  int timeouts = 0;             // probes not readable at B within probe_timeout
  double load_acked_per_s = 0;  // the load A actually acked
};

absl::StatusOr<ReplicationResult> MeasureReplicationLag(const DataSet& data,
                                                        const IngestOptions& load,
                                                        const ReplicationOptions& options);

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_REPLICATION_H_
