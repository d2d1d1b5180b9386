#include "server/cluster/shard_drop_gate.h"

namespace historian::cluster {

absl::Status ShardDropGate::Run(const std::function<absl::Status()>& fn) {
  {
    absl::MutexLock count(&count_mu_);
    if (running_) ++waits_;
  }
  absl::MutexLock l(&mu_);
  {
    absl::MutexLock count(&count_mu_);
    running_ = true;
  }
  absl::Status status = fn();
  absl::MutexLock count(&count_mu_);
  running_ = false;
  return status;
}

uint64_t ShardDropGate::waits() const {
  absl::MutexLock count(&count_mu_);
  return waits_;
}

}  // namespace historian::cluster
