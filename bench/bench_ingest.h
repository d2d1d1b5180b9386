// File: bench_ingest.h
// Ingest drivers of historian-bench, over the Ingest.Write bidi stream
// (client::Writer: pipelined batches, one ack per batch after fsync):
//   IngestDataSet  loads the whole DataSet as fast as the node acks, over N
//                  concurrent gateway streams; stream s owns the tags with
//                  index % N == s and sends them in canonical block order.
//   PacedLoad      a background load at a fixed sample rate (for the
//                  replication-lag measurement), replaying the plant's ticks.
//
// Thread-safety: IngestDataSet blocks its caller; PacedLoad runs its own
// thread and is stopped by Stop() or its destructor.
#ifndef HISTORIAN_BENCH_BENCH_INGEST_H_
#define HISTORIAN_BENCH_BENCH_INGEST_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/bench_dataset.h"

namespace historian::bench {

struct IngestOptions {
  std::string endpoint;
  int streams = 4;
  size_t batch_samples = 10000;  // most samples in one WriteRequest
  size_t max_in_flight = 16;     // unacked batches per stream (pipelining)
  // PacedLoad: ticks of each tag per batch (1: one tick of every tag, as a
  // live plant sends each second; more: blocks of a tag's ticks, as a
  // gateway batching a faster plant sends).
  uint64_t paced_block_ticks = 1;
  // The Writer sends each tag's samples straight to its site cluster owner
  // (client/writer.h, route_to_owners).
  bool route_to_owners = false;
};

struct IngestResult {
  uint64_t samples_sent = 0;
  uint64_t samples_acked = 0;  // accepted_count summed over acks
  uint64_t samples_rejected = 0;
  uint64_t batches = 0;
  uint64_t batches_failed = 0;
  double seconds = 0;  // first send to last ack
  double acked_per_second() const { return seconds > 0 ? samples_acked / seconds : 0; }
};

// Loads `data` and waits for every ack. INTERNAL when a batch failed or
// samples were rejected; the writer's error otherwise.
absl::StatusOr<IngestResult> IngestDataSet(const DataSet& data, const IngestOptions& options);

class PacedLoad {
 public:
  // Starts sending `rate` samples/s to options.endpoint (one stream).
  PacedLoad(const DataSet& data, IngestOptions options, double rate);
  ~PacedLoad();
  PacedLoad(const PacedLoad&) = delete;
  PacedLoad& operator=(const PacedLoad&) = delete;

  // Stops sending, waits for outstanding acks; returns what was sent.
  absl::StatusOr<IngestResult> Stop();

 private:
  void Run();

  const DataSet& data_;
  const IngestOptions options_;
  const double rate_;
  std::atomic<bool> stop_{false};
  absl::Status status_;
  IngestResult result_;
  std::thread thread_;
};

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_INGEST_H_
