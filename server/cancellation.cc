// File: cancellation.cc
#include "server/cancellation.h"

namespace historian::server {

CancellationProbe::CancellationProbe(grpc::ServerContext* context,
                                     std::chrono::steady_clock::duration interval)
    : context_(context),
      interval_(interval),
      deadline_(context->deadline()),
      next_poll_(std::chrono::steady_clock::now().time_since_epoch().count()) {}

bool CancellationProbe::Cancelled() {
  if (cancelled_.load(std::memory_order_relaxed)) return true;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::system_clock::now() >= deadline_) {
    cancelled_.store(true, std::memory_order_relaxed);
    return true;
  }
  int64_t due = next_poll_.load(std::memory_order_relaxed);
  if (now.time_since_epoch().count() < due) return false;
  // Another worker is polling already: its answer is as fresh as ours.
  if (!poll_mu_.TryLock()) return false;
  next_poll_.store((now + interval_).time_since_epoch().count(), std::memory_order_relaxed);
  if (context_->IsCancelled()) cancelled_.store(true, std::memory_order_relaxed);
  poll_mu_.Unlock();
  return cancelled_.load(std::memory_order_relaxed);
}

}  // namespace historian::server
