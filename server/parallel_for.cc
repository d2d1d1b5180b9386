// File: parallel_for.cc
#include "server/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace historian::server {

int AvailableCores() { return std::max(1u, std::thread::hardware_concurrency()); }

absl::Status ParallelFor(size_t n, int max_threads, absl::FunctionRef<absl::Status(size_t)> fn) {
  const size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, max_threads)));
  std::vector<absl::Status> errors(n);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      errors[i] = fn(i);
      if (!errors[i].ok()) failed.store(true, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  for (absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace historian::server
