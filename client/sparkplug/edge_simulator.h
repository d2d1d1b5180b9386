// File: edge_simulator.h
// EdgeSimulator: Sparkplug B edge nodes publishing a small plant to an MQTT
// broker, for demos, tests and benchmarks (`historian-sparkplug-sim`).
//
// Each node has its own MQTT connection whose will is its NDEATH (with the
// connection's bdSeq), publishes NBIRTH and a DBIRTH per device (names,
// aliases, datatypes, engUnit/engLow/engHigh/Description properties), then
// DDATA by alias with seq 0..255, answers a `Node Control/Rebirth` NCMD
// with new BIRTHs, and publishes its NDEATH before a clean disconnect.
// With a host id it honours that primary host's STATE: no BIRTH before the
// host is online; while it is offline DDATA is buffered (bounded), and sent
// with is_historical once it is online again.
//
// The plant: presses (Pressure Float bar, Strokes UInt64 counter, Running
// Boolean), ovens (Zone1/Zone2 Temp Double degC, Setpoint Double, Door
// Boolean, Mode String), counters (Count Int64, Rejects Int32) and
// conveyors (Speed Float, Running Boolean). With `metrics_per_device` > 0
// every device has that many Double metrics instead (benchmarks).
//
// Thread-safety: Run() on one thread; Paho callbacks set atomics (stop_ and
// each node's); stats() from any thread: stats_mu_ guards stats_, a copy
// Run() publishes after every tick.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_EDGE_SIMULATOR_H_
#define HISTORIAN_CLIENT_SPARKPLUG_EDGE_SIMULATOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace historian::sparkplug {

struct EdgeSimOptions {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string group = "plant1";
  std::string node_prefix = "edge";  // edge1, edge2, ...
  int nodes = 1;
  int devices = 4;
  int metrics_per_device = 0;  // 0: the plant's metrics
  // DDATA per device per second; 0: as fast as possible.
  double rate = 1;
  absl::Duration duration = absl::ZeroDuration();  // 0: until stopped
  uint64_t max_messages = 0;                       // DDATA in total; 0: no limit
  std::string host_id;  // honour this primary host's STATE (empty: do not wait)
  int qos = 0;
  size_t buffer_max = 100000;  // DDATA buffered while the host is offline
  uint64_t seed = 1;
};

struct EdgeSimStats {
  uint64_t messages = 0;  // DDATA published
  uint64_t metrics = 0;   // metrics in them
  uint64_t births = 0;
  uint64_t buffered = 0;  // DDATA held while the host was offline
  uint64_t dropped = 0;   // over buffer_max
};

class EdgeSimulator {
 public:
  explicit EdgeSimulator(EdgeSimOptions options);
  ~EdgeSimulator();
  // Runs until the duration/max_messages is reached or Stop(); publishes
  // each node's NDEATH and disconnects.
  absl::Status Run();
  void Stop() { stop_ = true; }
  EdgeSimStats stats() const;

 private:
  class Node;
  const EdgeSimOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Node>> nodes_;
  mutable absl::Mutex stats_mu_;
  EdgeSimStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_EDGE_SIMULATOR_H_
