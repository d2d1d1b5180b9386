// File: cancellation.h
// CancellationProbe: asks whether a call's client has gone, cheaply enough
// to ask once per tag or page. ServerContext::IsCancelled() of the sync API
// polls the call's completion queue (a lock, a futex and tens of
// microseconds); a 100-tag aggregate asking per tag from two threads spent
// more time there than decoding its samples.
#ifndef HISTORIAN_SERVER_CANCELLATION_H_
#define HISTORIAN_SERVER_CANCELLATION_H_

#include <atomic>
#include <chrono>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"

namespace historian::server {

// Thread-safe: the workers of one call may share one probe. The context must
// outlive it.
class CancellationProbe {
 public:
  // Polls the context at most once per `interval`; a passed deadline counts
  // at once.
  explicit CancellationProbe(
      grpc::ServerContext* context,
      std::chrono::steady_clock::duration interval = std::chrono::milliseconds(2));

  // True once the client cancelled or the deadline passed; stays true.
  bool Cancelled();

 private:
  grpc::ServerContext* const context_;
  const std::chrono::steady_clock::duration interval_;
  const std::chrono::system_clock::time_point deadline_;
  std::atomic<bool> cancelled_{false};
  // Steady-clock ticks of the next allowed poll.
  std::atomic<int64_t> next_poll_;
  absl::Mutex poll_mu_;  // one poller at a time; IsCancelled is not re-entrant
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_CANCELLATION_H_
