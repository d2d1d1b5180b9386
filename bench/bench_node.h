// File: bench_node.h
// NodeProcess: a `historiand` child process on 127.0.0.1 for historian-bench.
// Start() waits until the node serves; Stop() sends SIGTERM (the node seals
// its heads and closes RocksDB) and waits; the destructor SIGKILLs a node
// still running, so an error path never leaves a node behind.
//
// Also: process and directory measurements used by the benchmark.
//
// Thread-safety: not thread-safe; one thread drives a NodeProcess.
#ifndef HISTORIAN_BENCH_BENCH_NODE_H_
#define HISTORIAN_BENCH_BENCH_NODE_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace historian::bench {

struct NodeOptions {
  std::string binary;    // path of historiand
  std::string data_dir;  // --data_dir
  std::string site = "us";
  int port = 0;  // 0: the kernel picks one (read back from --port_file)
  std::vector<std::string> extra_flags;
  std::string log_path;  // stdout+stderr of the node; empty: <data_dir>.log
};

class NodeProcess {
 public:
  static absl::StatusOr<std::unique_ptr<NodeProcess>> Start(NodeOptions options);
  ~NodeProcess();
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  // SIGTERM, then waits up to `timeout_s`; INTERNAL unless it exits with 0.
  absl::Status Stop(int timeout_s = 600);

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  const NodeOptions& options() const { return options_; }

 private:
  explicit NodeProcess(NodeOptions options) : options_(std::move(options)) {}

  NodeOptions options_;
  pid_t pid_ = -1;
  std::string address_;
};

// VmHWM (peak resident set) of a live process, in KiB; 0 when unknown.
int64_t PeakRssKb(pid_t pid);
// User + system CPU seconds a live process has used so far (0 if unknown);
// pid 0 means this process.
double CpuSeconds(pid_t pid);
// CPU seconds so far of `pid`'s background threads, the ones that seal and
// compact (RocksDB's `rocksdb:*` pools and the store's `hist-sealer`); the
// rest of CpuSeconds is the request path. Counts live threads only (these
// live as long as the node).
double BackgroundCpuSeconds(pid_t pid);
// Pins every thread of `pid` (0: this process) to CPU `cpu`; threads they
// start later inherit it. False when a thread could not be pinned.
bool PinToCpu(pid_t pid, int cpu);
// Bytes allocated on disk to the regular files under `dir` (as `du`;
// sparse preallocated files count only their written blocks).
uint64_t DirBytes(const std::string& dir);
// A TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> PickFreePort();
// historiand next to this executable's build tree (<build>/server/historiand).
std::string DefaultHistoriandPath();

}  // namespace historian::bench

#endif  // HISTORIAN_BENCH_BENCH_NODE_H_
