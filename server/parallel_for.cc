// File: parallel_for.cc
#include "server/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace historian::server {
namespace {

// Helper threads kept for the life of the process: a thread started per
// call costs a clone and page faults, and its thread-local decode buffers
// die with it. One call uses the helpers at a time; a call that finds them
// busy runs on its own thread alone.
// Thread-safety: all methods may be called from any thread.
class HelperPool {
 public:
  explicit HelperPool(int helpers) {
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~HelperPool() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  HelperPool(const HelperPool&) = delete;
  HelperPool& operator=(const HelperPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }

  // Starts `work` on `helpers` pool threads if the pool is free (false:
  // another call holds it; nothing started). REQUIRES: Finish after the
  // caller's own share, `work` alive until then.
  bool TryStart(int helpers, const std::function<void()>* work) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (!claim_.TryLock()) return false;
    absl::MutexLock l(&mu_);
    work_ = work;
    wanted_ = helpers;
    ++generation_;
    return true;
  }

  // Waits until the helpers are done with the job and frees the pool.
  void Finish() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    {
      absl::MutexLock l(&mu_);
      auto done = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wanted_ == 0 && busy_ == 0; };
      mu_.Await(absl::Condition(&done));
      work_ = nullptr;
    }
    claim_.Unlock();
  }

 private:
  void Loop() {
    uint64_t seen = 0;
    while (true) {
      const std::function<void()>* work;
      {
        absl::MutexLock l(&mu_);
        auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || (generation_ != seen && wanted_ > 0);
        };
        mu_.Await(absl::Condition(&ready));
        if (stop_) return;
        seen = generation_;
        --wanted_;
        ++busy_;
        work = work_;
      }
      (*work)();
      absl::MutexLock l(&mu_);
      --busy_;
    }
  }

  absl::Mutex claim_;  // held from TryStart to Finish: one job at a time
  absl::Mutex mu_;
  const std::function<void()>* work_ ABSL_GUARDED_BY(mu_) = nullptr;
  int wanted_ ABSL_GUARDED_BY(mu_) = 0;  // helpers still to start on the job
  int busy_ ABSL_GUARDED_BY(mu_) = 0;    // helpers running it
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

HelperPool& Pool() {
  static HelperPool pool(std::max(0, AvailableCores() - 1));
  return pool;
}

}  // namespace

int AvailableCores() { return std::max(1u, std::thread::hardware_concurrency()); }

absl::Status ParallelFor(size_t n, int max_threads, absl::FunctionRef<absl::Status(size_t)> fn) {
  std::vector<absl::Status> errors(n);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  const std::function<void()> work = [&] {
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      errors[i] = fn(i);
      if (!errors[i].ok()) failed.store(true, std::memory_order_relaxed);
    }
  };
  HelperPool& pool = Pool();
  const int helpers = static_cast<int>(
      std::min<size_t>({n > 0 ? n - 1 : 0, static_cast<size_t>(std::max(0, max_threads - 1)),
                        static_cast<size_t>(pool.size())}));
  const bool pooled = helpers > 0 && pool.TryStart(helpers, &work);
  work();
  if (pooled) pool.Finish();
  for (absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace historian::server
