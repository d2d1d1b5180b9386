// File: bench_queries.h
// The benchmark queries, run against a loaded node over gRPC, each timed
// end to end (request to last byte) over repeated runs after one warm-up:
//   raw_1tag      Query.Read of one double tag over 1 h
//   avg_1tag      Query.Aggregate AVG, 1-minute windows, one tag over 1 h
//   avg_100tags   the same for 100 double tags in one request
//   latest_all    Query.Latest of every tag (glob "*")
// Tags and range come from MakeQuerySpec (bench_emit.h), which bench/compare.sh
// uses for the other systems.
//
// Thread-safety: RunQueries blocks its caller.
#ifndef HISTORIAN_BENCH_BENCH_QUERIES_H_
#define HISTORIAN_BENCH_BENCH_QUERIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_dataset.h"
#include "bench/bench_latency.h"
#include "client/historian_client.h"

namespace historian::bench {

struct QueryResult {
  std::string name;
  LatencySummary latency;
  uint64_t items = 0;  // samples, windows or values returned by one run
};

// `only`: names of the queries to run (raw_1tag, avg_1tag, avg_100tags,
// latest_all); empty runs all of them.
absl::StatusOr<std::vector<QueryResult>> RunQueries(const DataSet& data, client::Client& client,
                                                    int runs,
                                                    const std::vector<std::string>& only = {});

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_QUERIES_H_
