// File: parallel_for.h
// ParallelFor: runs fn(0..n-1) on up to `max_threads` threads (the caller's
// included) and returns the error of the lowest failing index, or OK. Used to
// spread a many-tag query over the cores: each index must touch only its own
// output.
#ifndef HISTORIAN_SERVER_PARALLEL_FOR_H_
#define HISTORIAN_SERVER_PARALLEL_FOR_H_

#include <cstddef>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace historian::server {

// The helpers are a pool of AvailableCores() - 1 threads kept for the life
// of the process (their thread-local decode buffers stay warm); one call
// uses them at a time, and a call that finds them busy runs inline, as do
// max_threads <= 1 and n <= 1. Thread-safe.
absl::Status ParallelFor(size_t n, int max_threads, absl::FunctionRef<absl::Status(size_t)> fn);

// The cores this process may use (at least 1).
int AvailableCores();

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_PARALLEL_FOR_H_
